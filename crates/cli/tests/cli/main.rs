//! Black-box tests of the `licensd` binary: its commands run as an operator runs them, `licensd serve` as a
//! process of its own over real databases (SQLite always, PostgreSQL when `LICENSD_TEST_POSTGRES` names a
//! server), and the files of `deploy/` and README held to what the binary does.
//!
//! If you're adding something new, find the module below whose line says it holds that kind of test and add
//! yours there; start a module only for a concern none of them covers, and give it its line here. Drive the
//! binary through `common`: `run(&[…])` or the builder `licensd(&[…])` (environment, stdin, `umask`) for a
//! command, `serve(db)….start()` for a server (`Server`: its URL, log, metrics address, `stop`),
//! `get`/`post`/`request(…).send()` for HTTP, `temp_dir`, `sqlite`, `databases(name)` (migrated, one per
//! backend) and `admin_token` for what a test stands on. The tests share this one process and run on
//! parallel threads, so a test never changes the process's environment or working directory (set them on the
//! command) and never picks a fixed port or file name. A case for both backends loops over `databases(name)`,
//! or is a `fn(db: &str)` made into two tests by `sqlite_and_postgres!`. Tools a test needs are found with
//! `tool` and, when missing, skipped with `skipped_without`, which fails under `CI`. Run one test with
//! `cargo test -p licensd --test cli -- NAME`.

// The harness: the `licensd` command builder, `Server`, temporary directories and databases, HTTP, tools.
mod common;

// `api-key` and `oauth-client` (LicenseSpring-style credentials) beside a running server, on both backends.
mod api_keys;
// The dashboard in a real browser (Chromium, Playwright for Python): a support shift, on both backends.
mod browser;

// `deploy/` and the operations docs against the binary: variables, flags, config keys, metrics, their tools.
mod deploy;
// `import devmate` and `export devmate`: round trips through `/v2`, bad records, both write modes.
mod devmate_import;
// `import licensespring`: LicenseSpring's List Licenses pages in, as the API then shows them; re-runs, bad files.
mod licensespring_import;
// The everyday commands (`product`, `template`, `license`, `customer`, `events`) and what the API then says.
mod everyday;
// The front door over raw TCP: slowloris, connection caps, timeouts, shutdown, hyper's refusals, rate limits.
mod front_door;
// What licensd leaves on disk: file modes, durability, signing keys sealed under `LICENSD_SECRET`, weak keys.
mod keys_at_rest;
// LicenseSpring's official Python SDK (skipped without it, except under CI) against a real `licensd serve`:
// its License API v4 as an unchanged application uses it, on both backends.
mod licensespring_sdk;
// The served `/openapi.json` against openapi-spec-validator (skipped without it, except under CI).
mod openapi_validator;
// README's walk-through with curl, run as written.
mod readme;
// The RSA key of LicenseSpring's API: made by `migrate`/`serve`, only read by `key show --rsa`, rotated by
// flag, its PEM verifying the server's signatures with OpenSSL.
mod rsa_keys;
// schemathesis against a real `licensd serve` (skipped without it, except under CI).
mod schemathesis;
// The start-up contract: `serve` flags, environment and config file, migrations, logs, backups, key files.
mod startup;
// `token create|list|update|revoke` against a running server; `token`, `user` and `key rotate` in the audit log.
mod tokens;
