//! The web dashboard: server-rendered HTML (maud) at `/` and `/ui/…`, for vendors and support staff.
//!
//! A person signs in with an email and a password (`store::users`); the session is a cookie holding a 256-bit
//! secret (stored hashed), `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` when the dashboard is served
//! over HTTPS (`--public-url https://…`, or `X-Forwarded-Proto: https` from a trusted proxy). Every form carries
//! the session's CSRF token and every POST checks it (and, when the browser sends one, that `Origin` is this
//! site); a POST without a valid token is refused with `403` and changes nothing.
//!
//! Every page acts through the person's [`Scope`] and the permission table (`core::access`), with the same store
//! functions as the management API: the dashboard has no path to the data of its own. Pages set a strict
//! Content Security Policy: scripts, styles and images from this server only, nothing inline, no frames.

mod access;
mod catalog;
mod customers;
mod import;
mod layout;
mod lists;
mod pages;
mod tally;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use licensd_core::access::Action;
use licensd_store::users::Session;
use licensd_store::{Scope, StoreError};
use maud::Markup;

use crate::AppState;
use crate::extract::{OriginalPath, form_pairs};
pub use tally::Tallies;

/// Where the dashboard's pages live (the home page is `/`).
pub const PREFIX: &str = "/ui";
/// The session cookie's name.
pub const COOKIE: &str = "licensd_session";
/// The largest form body a page posts.
const FORM_LIMIT: usize = 64 * 1024;

/// The dashboard's routes: `/` and everything under [`PREFIX`], with their security headers.
pub fn router() -> Router<AppState> {
    let sign_in = Arc::new(SignInLimiter::new());
    let ui = Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/search", get(pages::search))
        .route("/licenses", get(lists::licenses_page))
        .route("/activity", get(lists::activity))
        .route("/licenses/{id}", get(pages::license))
        .route("/licenses/{id}/act", post(pages::license_act))
        .route("/customers/{id}", get(customers::customer))
        .route("/customers/{id}/edit", post(customers::customer_edit))
        .route("/issue", get(customers::issue_form).post(customers::issue))
        .route("/access", get(access::tokens_list).post(access::create_token))
        .route("/access/tokens/{id}", get(access::token).post(access::token_act))
        .route("/access/keys", get(access::keys_page).post(access::rotate))
        .route("/access/users", get(access::users_list).post(access::create_user))
        .route("/access/users/{id}", post(access::user_act))
        .route("/invite/{secret}", get(access::invitation).post(access::accept_invitation))
        .route("/assets/{file}", get(assets))
        .merge(catalog::routes())
        .merge(import::routes())
        .fallback(|p: MaybePerson| async move { not_found(p.0.as_ref()) })
        .method_not_allowed_fallback(|| async {
            page_error(StatusCode::METHOD_NOT_ALLOWED, "This page does not take that method.")
        });
    Router::new()
        .route("/", get(pages::home))
        .nest(PREFIX, ui)
        .layer(axum::Extension(sign_in))
        .layer(axum::middleware::from_fn(headers))
}

/// The headers of every dashboard answer: the Content Security Policy, no framing, no sniffing, no caching of
/// pages (they hold customers' data), no referrer beyond this site.
async fn headers(req: Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/ui/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The stylesheet and script, compiled into the binary (nothing is fetched from elsewhere: air-gapped works).
async fn assets(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static str, &'static str) = match file.as_str() {
        "dashboard.css" => (include_str!("../../assets/dashboard.css"), "text/css; charset=utf-8"),
        "dashboard.js" => (include_str!("../../assets/dashboard.js"), "text/javascript; charset=utf-8"),
        _ => return page_error(StatusCode::NOT_FOUND, "No such file.").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// Sign-in attempts per client address: 10 a minute, whatever the emails (each account also locks itself
/// after repeated failures: `store::users`).
pub(crate) struct SignInLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl SignInLimiter {
    fn new() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        SignInLimiter(RateLimiter::keyed(quota))
    }

    pub(crate) fn check(&self, ip: IpAddr) -> bool {
        self.0.check_key(&ip).is_ok()
    }
}

/// The signed-in person of a request, from the session cookie.
pub struct Person {
    pub session: Session,
    /// The browser reached this server over HTTPS (so cookies are set `Secure`).
    pub https: bool,
}

impl Person {
    /// The scope to act in, once the permission table allows every one of `actions` to the person's role.
    pub fn permit(&self, actions: &[Action]) -> Result<Scope, PageError> {
        licensd_core::access::check(self.session.role, actions)
            .map(|()| self.session.scope())
            .map_err(|d| page_error(StatusCode::FORBIDDEN, &d.detail("account")))
    }

    pub fn read(&self) -> Result<Scope, PageError> {
        self.permit(&[Action::Read])
    }

    /// Whether the person's role may take `action` (to show only the buttons that work).
    pub fn may(&self, action: Action) -> bool {
        licensd_core::access::allows(self.session.role, action)
    }
}

/// The secret the session cookie carries, if any.
fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// Whether the browser reached this server over HTTPS: the public URL says so, or a trusted proxy does.
fn is_https(s: &AppState, parts: &Parts) -> bool {
    s.http.link_origin(parts).is_ok_and(|o| o.starts_with("https://"))
}

async fn person_of(parts: &Parts, s: &AppState) -> Result<Option<Person>, PageError> {
    let Some(secret) = cookie_secret(&parts.headers) else { return Ok(None) };
    match licensd_store::users::session(&s.db, secret).await {
        Ok(Some(session)) => Ok(Some(Person { session, https: is_https(s, parts) })),
        Ok(None) => Ok(None),
        Err(e) => Err(store_error(e)),
    }
}

impl FromRequestParts<AppState> for Person {
    type Rejection = PageError;

    /// A signed-in person, or a redirect to the sign-in page (which comes back here afterwards).
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, PageError> {
        match person_of(parts, s).await? {
            Some(p) => Ok(p),
            None if parts.method == Method::GET => {
                // The path as the browser asked for it (inside `/ui`'s nested router the prefix is stripped).
                let path = parts.extensions.get::<OriginalPath>().map_or(parts.uri.path(), |p| p.0.as_str());
                let back = match parts.uri.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path.to_string(),
                };
                let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
                Err(Redirect::to(&format!("{PREFIX}/login?next={next}")).into_response().into())
            }
            None => Err(page_error(StatusCode::UNAUTHORIZED, "Your session has ended. Sign in again.")),
        }
    }
}

/// The signed-in person, if any (pages that work either way: sign-in, not-found).
pub struct MaybePerson(pub Option<Person>);

impl FromRequestParts<AppState> for MaybePerson {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, PageError> {
        person_of(parts, s).await.map(MaybePerson)
    }
}

/// A posted form: its fields, once its CSRF token matched the session's (and `Origin`, when sent, is this site).
pub struct Posted {
    pub person: Person,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    pub fn get(&self, name: &str) -> &str {
        self.fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The `version` an edit form carries ([`version_of`] of what it showed), or a `400` for a form without one.
    pub fn version(&self) -> Result<&str, PageError> {
        match self.get(VERSION) {
            "" => Err(page_error(
                StatusCode::BAD_REQUEST,
                "This form does not say which version of the record it edits (it may be from an older page). \
                 Nothing was changed; reload the page and try again.",
            )),
            v => Ok(v),
        }
    }
}

/// The hidden field of an edit form holding the version of what it showed.
pub const VERSION: &str = "version";

/// The version of what an edit form shows: a fingerprint (SHA-256 of its JSON, 128 bits in hex) of the values
/// the form edits, as the page read them. The save sends it back and is applied only if the record, as the
/// store's transaction reads it (its row locked), still has it ([`unchanged`]): an edit made meanwhile by
/// someone else is never overwritten unseen. A fingerprint of the values rather than `updated_at`: client
/// traffic (activations, consumption) moves a license's `updated_at` without touching its note or limits, and
/// two writes in one millisecond share a time.
pub fn version_of(shown: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(shown).unwrap_or_default();
    let mut hex = licensd_core::token::sha256_hex(json.as_bytes());
    hex.truncate(32);
    hex
}

/// An edit form's save that the store did not make: the record changed since the form showed it, or the store
/// refused the change.
pub enum NotSaved {
    Stale,
    Store(StoreError),
}

impl From<StoreError> for NotSaved {
    fn from(e: StoreError) -> Self {
        NotSaved::Store(e)
    }
}

/// Inside an edit closure: whether the record as the transaction reads it is still what the form showed.
pub fn unchanged(posted_version: &str, current: &impl serde::Serialize) -> Result<(), NotSaved> {
    if same_token(posted_version, &version_of(current)) { Ok(()) } else { Err(NotSaved::Stale) }
}

/// Text as a box holds it, whatever line endings a browser sent (it posts a textarea's with CR LF): to tell
/// whether what was typed differs from what a record holds now.
pub fn same_text(s: &str) -> String {
    s.replace("\r\n", "\n").trim().to_string()
}

/// What a page says when an edit was refused as stale (`409`), above the form that keeps what was typed.
pub const CHANGED: &str = "Not saved: this record was changed by someone else since you opened it. Its current \
     values are shown (\"Now:\" under each box that differs from what you typed), and what you typed is kept in the \
     form: check it and save again.";

/// Whether the `Origin` a browser sent (if any) is this server, as the `Host` header names it.
fn same_origin(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN) else { return true };
    let Some(host) = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let origin = origin.to_str().unwrap_or_default();
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
}

/// Constant-time equality of two tokens (the CSRF check must not tell how much of a guess was right).
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF refusal: `403`, nothing changed.
fn csrf_refused() -> PageError {
    page_error(
        StatusCode::FORBIDDEN,
        "This form could not be verified (its security token is missing or out of date). Nothing was changed; \
         reload the page and try again.",
    )
}

impl axum::extract::FromRequest<AppState> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let person = Person::from_request_parts(&mut parts, s).await?;
        if !same_origin(&parts) {
            return Err(csrf_refused());
        }
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| page_error(StatusCode::PAYLOAD_TOO_LARGE, "The form was too large."))?;
        let fields = form_pairs(&bytes).map_err(|_| page_error(StatusCode::BAD_REQUEST, "The form was not UTF-8."))?;
        let given = fields.iter().find(|(k, _)| k == "csrf").map_or("", |(_, v)| v.as_str());
        if !same_token(given, &person.session.csrf) {
            return Err(csrf_refused());
        }
        Ok(Posted { person, fields })
    }
}

/// A page answering an error, in the dashboard's own layout.
pub fn page_error(status: StatusCode, message: &str) -> PageError {
    PageError(Box::new(
        (status, layout::bare(status.canonical_reason().unwrap_or("Error"), layout::error_box(message)))
            .into_response(),
    ))
}

/// A page that answers instead of the one asked for: an error, or a redirect to sign in. Boxed: a `Response`
/// is large, and most results are not errors.
pub struct PageError(Box<Response>);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for PageError {
    fn from(r: Response) -> Self {
        PageError(Box::new(r))
    }
}

fn not_found(person: Option<&Person>) -> PageError {
    let body = layout::error_box("There is no such page, or it is not visible to you.");
    match person {
        Some(p) => (StatusCode::NOT_FOUND, layout::page(p, "Not found", body)).into_response().into(),
        None => (StatusCode::NOT_FOUND, layout::bare("Not found", body)).into_response().into(),
    }
}

/// A store failure as a page: not found / not visible is `404`, a rule refusing the change `400`/`409`,
/// the database unreachable `503`; anything else `500` without its detail (logged).
pub fn store_error(e: StoreError) -> PageError {
    match e {
        StoreError::NotFound => {
            page_error(StatusCode::NOT_FOUND, "There is no such record, or it is not visible to you.")
        }
        StoreError::State(m) | StoreError::InUse(m) => page_error(StatusCode::CONFLICT, &m),
        StoreError::Invalid { field, message } | StoreError::Conflict { field, message } => {
            page_error(StatusCode::BAD_REQUEST, &format!("{field}: {message}"))
        }
        StoreError::Domain(licensd_core::Error::Invalid { field, message }) => {
            page_error(StatusCode::BAD_REQUEST, &format!("{field}: {message}"))
        }
        StoreError::Forbidden { message, .. } => page_error(StatusCode::FORBIDDEN, &message),
        e => {
            let api: crate::error::ApiError = e.into();
            let status = api.status;
            if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
                page_error(status, "Something went wrong on the server; it has been logged.")
            } else {
                page_error(status, "The database did not answer in time. Try again in a moment.")
            }
        }
    }
}

/// An HTML answer with a status.
pub fn html(status: StatusCode, m: Markup) -> Response {
    (status, m).into_response()
}

/// The `Set-Cookie` of a new session (or, with `None`, of its removal).
fn session_cookie(secret: Option<&str>, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let v = match secret {
        Some(s) => format!(
            "{COOKIE}={s}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            licensd_store::users::SESSION_MAX_MS / 1000
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A redirect after a POST (see-other, so the browser GETs the target).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Keeps a `next` target on this site: a path of ours, never another origin (`//evil`, `https://…`).
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && !next.contains(['\r', '\n']) {
        next
    } else {
        "/"
    }
}

/// Body of a dashboard response.
pub type Page = Result<Response, PageError>;
