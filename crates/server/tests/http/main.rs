//! Black-box tests of the HTTP surfaces: the real server, real databases (SQLite always, PostgreSQL when
//! `LICENSD_TEST_POSTGRES` names a server).
//!
//! If you're adding something new, find the module below whose line says it holds that kind of test and add
//! yours there; start a module only for a concern none of them covers, and give it its line here. A test is
//! an `async fn name(app: TestApp)` named by the behaviour it shows, listed in its module's
//! `backend_tests!(…)`. The macro makes two tests of it, `name::sqlite` and `name::postgres`: each starts the
//! real application on a random port over a fresh database of that backend (`common::TestApp::spawn`) and
//! passes it in. Without `LICENSD_TEST_POSTGRES` the PostgreSQL one passes without running; under `CI` the
//! variable is required. A test that needs the server configured (rate limits, proxies, a public URL) goes
//! through `TestApp::spawn_with`, as the macros of `front_door.rs` and `metrics.rs` do. Talk HTTP
//! (`app.call`, `app.get`, `app.post`, …), assert real values (`common::assert_error` for the envelope), and
//! read the database (`app.count`) only to prove that a refusal wrote nothing. A new HTTP surface gets a
//! module of its own, as `/v2` has `devmate.rs`, and its prefix in
//! `auth_and_ops::each_surface_answers_what_it_lacks_in_its_own_shape`. Run one test on both backends with
//! `cargo test -p licensd-server --test http -- NAME`.

// The harness: `TestApp` (the server over a fresh database), `backend_tests!`, request helpers, `assert_error`.
mod common;

// LicenseSpring-style API keys and OAuth clients (`/api/v1/api-keys`, `/oauth-clients`): secrets once, lookups, admins.
mod api_keys;
// Tokens and auth schemes, `/healthz`, `/openapi.json` naming every endpoint, and routing every surface shares.
mod auth_and_ops;
// Bad bodies and parameters on `/api/v1`: the envelope with the right status, the field named, nothing written.
mod bad_input;
// Products, features and license templates: create, read, list (pages, ordering), update, delete, uniqueness.
mod catalog;
// The client API's decisions: every code, limits under concurrency (two instances too), seats, files, signatures.
mod client;
// What the SDK may trust (issue 11): answers bound to request and status, files that never outlast a seat.
mod client_trust;
// Customers (labels, unique emails) and orders created with their customer and licenses.
mod customers_orders;
// The web dashboard as a browser speaks it: sign-in, cookie, lockout, CSRF, scope and role on every page.
mod dashboard;
// The dashboard's Keys and access (admins): tokens' secrets shown once, public keys and rotation, users, invitations.
mod dashboard_access;
// The dashboard's catalog: products, features and templates through its forms, as the API then sees them.
mod dashboard_catalog;
// The dashboard's edit forms against each other: a form loaded before someone else's save is refused, as typed.
mod dashboard_edits;
// The dashboard's Import: a DevMate export uploaded, applied in the background, its progress and per-record report.
mod dashboard_import;
// The dashboard on more rows than it shows: searches counted up to 100, lists 10,000 past the page, kept home counts.
mod dashboard_scale;
// The DevMate API `/v2`: the seeds replayed, DevMate's error texts and shape, its filters, scoping, bad input.
mod devmate;
// Finding records as people type them (issue 12): filter suggestions, emails, keys, `?search=`, docs/filters.md.
mod finding;
// The front door, on configured servers: rate limits, pagination links' origin, capped offsets, metric labels.
mod front_door;
// The bounded history embedded in a license (`/api/v1`) and a customer (`/v2`), and where the rest pages.
mod history;
// Adversarial query strings, paths and forms (huge lists, long patterns, NUL, bad UTF-8): a `400`, never a `500`.
mod hostile_input;
// LicenseSpring's License API v4 (`/api/v4`): HMAC and OAuth requests, signed JS-canonical answers, the same
// licenses and limits as the client API, offline request files, refusals in LicenseSpring's shape.
mod license_api;
// Licenses: issue, read, change, the vendor's actions (disable, enable, refund, reset) and their history.
mod licenses;
// `/metrics` after real requests: client API decisions and refusals by code, rate limits, database errors.
mod metrics;
// `/openapi.json` documents every status the shared extractors can answer (schemathesis' rules, by rule).
mod openapi;
// The permission table through the server: every role against every action; token expiry, last use, products.
mod roles;
// A manager token sees and changes only its products' records, on `/api/v1` and `/v2`.
mod scoping;
// Each license filter of seed 002 selects the matching license; customer accounts and license users.
mod search;
// Property tests of the lists (random query strings: a page or a clean `400`) and the statements a page costs.
mod search_props;
// `/api/v1/signing-keys`: both kinds listed (RSA as PEM, verifying the server's signatures), rotation per kind.
mod signing_keys;
