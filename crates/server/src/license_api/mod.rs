//! LicenseSpring's License API v4 (`/api/v4/…`), so that applications built on LicenseSpring's own SDKs run
//! against licensd by changing only their API domain, keys and public key (issue 15, docs/licensespring.md).
//!
//! The same licenses, limits and transactions as the client API (`store::client_api`): only the wire
//! differs. Requests are authenticated by [`auth`] (HMAC over `Date`, or an OAuth access token); success
//! answers are JSON written as JavaScript writes it ([`licensd_core::js_json`]) and signed over those bytes
//! with the RSA key (`LicenseSignature`); activate and check answers also carry the v1 `license_signature`.
//! Both signatures are cached ([`Signatures`]): PKCS#1 v1.5 is deterministic, so a cached signature is the
//! one a new computation would give. Refusals are `4xx` `{status, code, message}` with LicenseSpring's codes,
//! never `5xx` (the SDKs take a `5xx` for "offline" and fall back to their grace period).

pub mod auth;
pub mod license;
pub mod offline;

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use licensd_core::client_api::Refusal;
use licensd_core::model::Product;
use licensd_core::time::now_ms;
use licensd_store::StoreError;
use licensd_store::client_api::{self as transactions, ClientReq, Outcome};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use auth::Caller;

/// Where the License API is served.
pub const PREFIX: &str = "/api/v4";

/// The route of `trial_key`, which the client API's stricter per-address trial limit covers.
pub const TRIAL_PATH: &str = "/api/v4/trial_key";

/// The header LicenseSpring's SDKs verify a response with.
pub const SIGNATURE_HEADER: &str = "licensesignature";

/// A License API refusal: `{status, code, message}` with the status it is sent with.
#[derive(Debug)]
pub struct LsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl LsError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        LsError { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        LsError { status: StatusCode::UNAUTHORIZED, code, message: message.into() }
    }

    fn missing(field: &str) -> Self {
        LsError::bad("missing_parameters", format!("{field} is required"))
    }

    fn invalid(field: &str, why: &str) -> Self {
        LsError::bad("validation_error", format!("{field}: {why}"))
    }
}

/// Marks a response already in the License API's shape (the [`reshape`] layer leaves it be).
#[derive(Clone, Copy)]
pub(crate) struct Shaped;

impl IntoResponse for LsError {
    fn into_response(self) -> Response {
        let body = json!({"status": self.status.as_u16(), "code": self.code, "message": self.message});
        let mut res = (self.status, axum::Json(body)).into_response();
        res.extensions_mut().insert(Shaped);
        res.extensions_mut().insert(crate::metrics::ErrorCode(self.code));
        res
    }
}

/// LicenseSpring's code for each of licensd's refusals (all `400`, as LicenseSpring answers them).
pub fn refusal(r: &Refusal, is_trial: bool) -> LsError {
    let code = match r {
        Refusal::NotFound | Refusal::ProductMismatch => "license_not_found",
        Refusal::Disabled | Refusal::Refunded => "license_not_enabled",
        Refusal::Expired if is_trial => "trial_expired",
        Refusal::Expired => "license_expired",
        Refusal::NotActivated => "device_not_found",
        Refusal::TooManyActivations { .. } => "license_activated_max_times",
        Refusal::NoSeat { .. } => "no_available_floating_slots",
        Refusal::TransferLimit { .. } => "license_max_transfers_reached",
        Refusal::ConsumptionLimit { .. } => "not_enough_consumptions",
        Refusal::FeatureNotFound => "unsupported_product_feature",
        Refusal::BorrowNotAllowed => "borrowing_not_allowed",
        Refusal::NoTrial => "trial_not_allowed",
        Refusal::NoSuchProduct => "unknown_product",
        Refusal::FileOutstanding { .. } => "offline_license_outstanding",
    };
    LsError::bad(code, r.detail())
}

impl From<StoreError> for LsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(r) => refusal(&r, false),
            e => ApiError::from(e).into(),
        }
    }
}

impl From<ApiError> for LsError {
    fn from(e: ApiError) -> Self {
        let code = match e.error.code {
            "INVALID_FIELD" | "INVALID_PARAMETER" | "INVALID_BODY" => "validation_error",
            "MISSING_FIELD" => "missing_parameters",
            "MALFORMED_JSON" | "INVALID_UTF8" | "BAD_BODY" => "invalid_json",
            "NOT_FOUND" => "not_found",
            "INTERNAL" => "internal_error",
            other => lower(other),
        };
        LsError { status: e.status, code, message: e.error.detail }
    }
}

/// The lower-case spelling of one of [`ApiError::CODES`] (a static string, for the response's code).
fn lower(code: &str) -> &'static str {
    static LOWER: std::sync::LazyLock<Vec<(&'static str, &'static str)>> = std::sync::LazyLock::new(|| {
        ApiError::CODES.iter().map(|(c, _)| (*c, &*Box::leak(c.to_ascii_lowercase().into_boxed_str()))).collect()
    });
    LOWER.iter().find(|(c, _)| *c == code).map_or("error", |(_, l)| l)
}

type LsResult = Result<Response, LsError>;

/// The RSA signatures of this server, cached: the `LicenseSignature` of each recent body and the v1
/// `license_signature` of each recent (hardware id, identity, validity). Keys are SHA-256 of the key id and the
/// signed bytes, so a rotation never serves an old key's signature.
pub struct Signatures {
    bodies: quick_cache::sync::Cache<[u8; 32], Arc<str>>,
    v1: quick_cache::sync::Cache<[u8; 32], Arc<str>>,
}

/// How many body signatures are kept (a hot device's check answer is the same until something changes).
pub const BODY_CACHE: usize = 16_384;
/// How many v1 signatures are kept: one per active device (about 400 bytes each).
pub const V1_CACHE: usize = 131_072;

impl Default for Signatures {
    fn default() -> Self {
        Signatures { bodies: quick_cache::sync::Cache::new(BODY_CACHE), v1: quick_cache::sync::Cache::new(V1_CACHE) }
    }
}

fn cache_key(key_id: &str, msg: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(key_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(msg);
    ctx.finish().as_ref().try_into().unwrap_or([0; 32])
}

impl Signatures {
    /// The `LicenseSignature` of these bytes (also `license_signature_v2`, over an answer's own text).
    pub fn body(&self, s: &AppState, msg: &[u8]) -> Arc<str> {
        Signatures::sign(&self.bodies, s, msg)
    }

    fn sign(cache: &quick_cache::sync::Cache<[u8; 32], Arc<str>>, s: &AppState, msg: &[u8]) -> Arc<str> {
        let key = s.rsa_key();
        let k = cache_key(&key.key_id, msg);
        if let Some(sig) = cache.get(&k) {
            return sig;
        }
        let sig: Arc<str> = key.sign_base64(msg).into();
        cache.insert(k, sig.clone());
        sig
    }
}

/// A signed answer: `v` written as JavaScript writes it, `LicenseSignature` over those bytes.
fn signed(s: &AppState, v: &Value) -> Response {
    let body = licensd_core::js_json::to_vec(v);
    let sig = s.license_api.body(s, &body);
    let mut res =
        (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], Bytes::from(body))
            .into_response();
    if let Ok(h) = HeaderValue::from_str(&sig) {
        res.headers_mut().insert(SIGNATURE_HEADER, h);
    }
    res
}

/// The v1 `license_signature` for this device, identity and validity (cached).
fn v1_signature(s: &AppState, hardware_id: &str, identity: &str, validity: Option<i64>) -> Arc<str> {
    Signatures::sign(&s.license_api.v1, s, license::v1_message(hardware_id, identity, validity).as_bytes())
}

/// A plain-text answer (`license_deactivated`, `password_changed`): LicenseSpring's SDKs compare its text.
fn text(t: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], t).into_response()
}

/// A request's arguments: the query string of a `GET`, the JSON object of a `POST`. Lenient in types as the
/// SDKs are (`license_id` is a number in Node's bodies and a string in queries; booleans are `"true"` in
/// queries); unknown fields are ignored, as LicenseSpring ignores them.
pub struct Args(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Args {
    type Rejection = LsError;

    async fn from_request(req: Request, _: &S) -> Result<Self, LsError> {
        if req.method() == Method::GET {
            let mut map = Map::new();
            let pairs =
                crate::extract::form_pairs(req.uri().query().unwrap_or_default().as_bytes()).map_err(ApiError::from)?;
            for (k, v) in pairs {
                if v.contains('\0') {
                    return Err(LsError::invalid(&k, "must not contain NUL characters"));
                }
                map.insert(k, Value::String(v));
            }
            return Ok(Args(map));
        }
        let bytes = crate::extract::read_body(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Args(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Args(map)),
            Ok(_) => Err(LsError::bad("invalid_json", "the body must be a JSON object")),
            Err(e) => Err(LsError::bad("invalid_json", format!("the body is not JSON: {e}"))),
        }
    }
}

impl Args {
    /// A text argument, if given (numbers are taken as their text).
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, LsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(LsError::invalid(name, "must be a string")),
        }
    }

    pub fn str(&self, name: &str) -> Result<String, LsError> {
        self.opt_str(name)?.filter(|v| !v.is_empty()).ok_or_else(|| LsError::missing(name))
    }

    /// An integer argument (a JSON number or its decimal text), if given.
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, LsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| LsError::invalid(name, "must be an integer")),
            Some(Value::String(v)) if v.is_empty() => Ok(None),
            Some(Value::String(v)) => {
                v.trim().parse().map(Some).map_err(|_| LsError::invalid(name, "must be an integer"))
            }
            Some(_) => Err(LsError::invalid(name, "must be an integer")),
        }
    }

    /// A boolean argument (`true`/`false`, as JSON or as text), if given.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, LsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(v)) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(Some(true)),
            Some(Value::String(v)) if v.eq_ignore_ascii_case("false") || v == "0" || v.is_empty() => Ok(Some(false)),
            Some(_) => Err(LsError::invalid(name, "must be true or false")),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// What a license request names: product, device, key (or the license user who signed in), and the license id
/// the SDK echoes once it knows it.
pub struct Identity {
    pub req: ClientReq,
    pub license_id: Option<i64>,
    /// User-based: the license user, whose email is the identity the v1 signature covers.
    pub user: Option<licensd_store::license_users::Login>,
    /// The `username` as sent (the v1 signature covers it up to its first `|`).
    pub username: Option<String>,
}

impl Identity {
    /// Refuses an answer about another license than the `license_id` the application sent.
    fn matches(&self, o: &Outcome) -> Result<(), LsError> {
        match self.license_id {
            Some(id) if id != o.license_id => {
                Err(LsError::bad("license_not_found", "license_id is not the id of the license with this key"))
            }
            _ => Ok(()),
        }
    }

    /// What the v1 `license_signature` names the license by: the key, or the user's `username` up to its
    /// first `|`.
    fn signed_identity(&self) -> &str {
        match &self.username {
            Some(u) => u.split('|').next().unwrap_or_default(),
            None => &self.req.license_key,
        }
    }
}

/// Whether a request must prove the user's password (activations) or only name the user (every later call).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Password,
    Name,
}

/// The identity block of a request (product, hardware id, license key or license user, device data), checked
/// as the client API checks its own, and allowed for this caller.
pub async fn identity(s: &AppState, caller: &Caller, a: &Args, login: Login) -> Result<Identity, LsError> {
    let product = a.str("product")?;
    caller.allow(&product)?;
    let hardware_id = a.opt_str("hardware_id")?.filter(|h| !h.is_empty());
    let Some(hardware_id) = hardware_id else {
        return Err(LsError::bad("missing_hardware_id", "hardware_id is required"));
    };
    let username = a.opt_str("username")?.filter(|u| !u.is_empty());
    let (license_key, user) = match (a.opt_str("license_key")?.filter(|k| !k.is_empty()), &username) {
        (Some(k), _) => (k, None),
        (None, Some(name)) => {
            let password = a.opt_str("password")?;
            if login == Login::Password && password.is_none() {
                return Err(LsError::missing("password"));
            }
            let password = if login == Login::Password { password } else { None };
            if name.chars().count() > 320 || password.as_ref().is_some_and(|p| p.chars().count() > 256) {
                return Err(LsError::bad("invalid_credentials", "wrong username or password"));
            }
            let email = name.split('|').next().unwrap_or_default();
            match licensd_store::license_users::login(&s.db, &product, email, password.as_deref()).await? {
                Some(u) => (u.license_key.clone(), Some(u)),
                None if login == Login::Password => {
                    return Err(LsError::bad("invalid_credentials", "wrong username or password"));
                }
                None => {
                    return Err(LsError::bad(
                        "license_not_found",
                        "no license of this product is assigned to this user",
                    ));
                }
            }
        }
        (None, None) => return Err(LsError::bad("license_key_required", "license_key (or username) is required")),
    };
    let hostname = a.opt_str("hostname")?;
    let os = a.opt_str("os_ver")?;
    let app_version = a.opt_str("app_ver")?;
    let req = crate::client_api::client_req(license_key, hardware_id, product, hostname, os, app_version, &None)?;
    let username = user.as_ref().and(username);
    Ok(Identity { req, license_id: a.opt_i64("license_id")?, user, username })
}

/// The product of a request, as the license object shows it.
async fn product_row(s: &AppState, short_code: &str) -> Result<Product, LsError> {
    let scope = licensd_store::Scope::system();
    match licensd_store::products::get_by_short_code(&mut &s.db, &scope, short_code).await {
        Err(StoreError::NotFound) => Err(LsError::bad("unknown_product", "no product has this short code")),
        other => Ok(other?),
    }
}

/// The activate/check answer: the license object, its v1 signature, the device's variables.
async fn license_answer(s: &AppState, id: &Identity, o: &Outcome) -> LsResult {
    id.matches(o)?;
    let p = product_row(s, &id.req.product).await?;
    let mut v = license::object(o, &p, true);
    let sig = v1_signature(s, &id.req.hardware_id, id.signed_identity(), o.expires_at);
    if let Some(m) = v.as_object_mut() {
        if o.license.is_floating_cloud {
            let n = licensd_store::licenses::floating_in_use(&s.db, o.license_id).await?;
            m.insert("floating_in_use_devices".into(), json!(n));
        }
        if let Some(u) = &id.user {
            m.insert("license_key".into(), Value::Null);
            m.insert("user".into(), license::user(u, o.license.max_activations, o.license.times_activated));
        }
        m.insert("license_signature".into(), Value::String(sig.to_string()));
    }
    Ok(signed(s, &v))
}

/// Activates the request's device (online or from an offline file), counted in the client API's metrics.
async fn activate(s: &AppState, id: &Identity) -> Result<Outcome, LsError> {
    let o = transactions::activate(&s.db, &id.req).await.map_err(|e| {
        if let StoreError::Refused(r) = &e {
            s.metrics.activation(r.code());
        }
        LsError::from(e)
    })?;
    id.matches(&o)?;
    s.metrics.activation(if o.created {
        crate::metrics::codes::ACTIVATED
    } else {
        crate::metrics::codes::ALREADY_ACTIVE
    });
    Ok(o)
}

/// Frees the request's device (a deactivation, a floating release, an offline deactivation file).
async fn deactivate(s: &AppState, id: &Identity) -> Result<Outcome, LsError> {
    let o = transactions::deactivate(&s.db, &id.req).await.map_err(|e| {
        if let StoreError::Refused(r) = &e {
            s.metrics.deactivation(r.code());
        }
        LsError::from(e)
    })?;
    id.matches(&o)?;
    s.metrics.deactivation(crate::metrics::codes::DEACTIVATED);
    Ok(o)
}

/// `POST activate_license`: activates the license on the device (an active device is answered again, not
/// counted again).
pub async fn activate_license(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Password).await?;
    let vars = variables_arg(&a)?.filter(|v| !v.is_empty());
    let o = activate(&s, &id).await?;
    if let Some(vars) = vars {
        transactions::set_variables(&s.db, &id.req, &vars).await.map_err(device_refusal)?;
    }
    license_answer(&s, &id, &o).await
}

/// `GET check_license`: the license on an active device; a device that holds no activation is
/// `device_not_found`.
pub async fn check_license(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let r = transactions::check(&s.db, &id.req).await.map_err(LsError::from)?;
    if let Some((device, license)) = r.checked_device {
        s.last_checks.note(device, license, now_ms());
    }
    let is_trial = r.outcome.as_ref().is_some_and(|o| o.license.is_trial);
    s.metrics.check(r.refusal.as_ref().map_or(licensd_core::client_api::answer::VALID, Refusal::code));
    if let Some(x) = &r.refusal {
        return Err(refusal(x, is_trial));
    }
    let Some(o) = r.outcome else { return Err(LsError::bad("license_not_found", "no license has this key")) };
    license_answer(&s, &id, &o).await
}

/// `POST deactivate_license`: frees the device's activation; answers the text `license_deactivated`.
pub async fn deactivate_license(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    deactivate(&s, &id).await?;
    Ok(text("license_deactivated"))
}

/// The consumption counters of an answer (`add_consumption`).
fn consumption_answer(o: &Outcome) -> Value {
    let (l, t) = (&o.license, &o.terms);
    json!({
        "id": o.license_id,
        "max_consumptions": l.max_consumptions,
        "allow_unlimited_consumptions": l.max_consumptions == 0,
        "allow_negative_consumptions": false,
        "allow_overages": l.allow_overages,
        "max_overages": l.max_overages,
        "reset_consumption": t.reset_consumption,
        "consumption_period": t.consumption_period,
        "total_consumptions": l.total_consumptions,
        "company": {"id": 1},
    })
}

fn consumptions(a: &Args) -> Result<i64, LsError> {
    let n = a.opt_i64("consumptions")?.unwrap_or(1);
    if n < 0 {
        return Err(LsError::bad(
            "negative_consumptions_not_allowed",
            "consumptions must not be negative: this server never lowers a counter",
        ));
    }
    if !(1..=1_000_000_000).contains(&n) {
        return Err(LsError::invalid("consumptions", "must be between 1 and 1000000000"));
    }
    Ok(n)
}

/// `POST add_consumption`: adds to the license's consumption counter, within its limit (and overages).
pub async fn add_consumption(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let n = consumptions(&a)?;
    let (o, _) = transactions::consume(&s.db, &id.req, None, n).await.map_err(LsError::from)?;
    id.matches(&o)?;
    s.metrics.consumption(crate::metrics::codes::CONSUMED, n.unsigned_abs());
    Ok(signed(&s, &consumption_answer(&o)))
}

/// `POST add_feature_consumption`: adds to one feature's counter.
pub async fn add_feature_consumption(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let code = a.str("feature")?;
    let n = consumptions(&a)?;
    let (o, _) = transactions::consume(&s.db, &id.req, Some(&code), n).await.map_err(|e| match e {
        StoreError::Refused(Refusal::ConsumptionLimit { .. }) => {
            LsError::bad("feature_not_enough_consumptions", "the feature's consumption limit would be exceeded")
        }
        e => LsError::from(e),
    })?;
    id.matches(&o)?;
    s.metrics.consumption(crate::metrics::codes::CONSUMED, n.unsigned_abs());
    let Some(f) = o.license.features.iter().find(|f| f.code == code) else {
        return Err(LsError::bad("unsupported_product_feature", "the license has no such feature"));
    };
    let mut v = license::feature(f, o.license_id);
    if let Some(m) = v.as_object_mut() {
        m.insert("max_consumptions".into(), json!(f.max_consumption));
        m.insert("company".into(), json!({"id": 1}));
    }
    Ok(signed(&s, &v))
}

/// `GET product_details`: the product, whether it offers a trial and for how many days (its trial template).
pub async fn product_details(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let code = a.str("product")?;
    c.allow(&code)?;
    let p = product_row(&s, &code).await?;
    let trial = licensd_store::templates::trial_of(&s.db, p.id).await?;
    let mut v = license::product_details(&p, trial.as_ref().is_some_and(|t| t.prevent_vm));
    if let Some(m) = v.as_object_mut() {
        m.insert("allow_trial".into(), json!(trial.is_some()));
        m.insert("trial_days".into(), json!(trial.as_ref().map_or(0, |t| t.trial_days)));
        m.insert("floating_timeout".into(), json!(trial.as_ref().map_or(0, |t| t.floating_timeout)));
        m.insert("allow_overages".into(), json!(false));
        m.insert("max_overages".into(), json!(0));
        m.insert("company".into(), json!({"id": 1}));
        if a.opt_bool("include_latest_version")?.unwrap_or(false) {
            m.insert("latest_version".into(), Value::Null);
        }
        if a.opt_bool("include_custom_fields")?.unwrap_or(false) {
            m.insert("custom_fields".into(), json!([]));
        }
    }
    Ok(signed(&s, &v))
}

/// `GET trial_key`: a key from the product's trial template for this device (the same key when the device
/// asks again); the application then activates it.
pub async fn trial_key(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let product = a.str("product")?;
    c.allow(&product)?;
    let Some(hardware_id) = a.opt_str("hardware_id")?.filter(|h| !h.is_empty()) else {
        return Err(LsError::bad("missing_hardware_id", "hardware_id is required"));
    };
    let email = a.opt_str("email")?.filter(|e| !e.is_empty());
    if let Some(e) = &email {
        licensd_core::model::normalize_email("email", e).map_err(ApiError::from)?;
    }
    let req = crate::client_api::client_req("trial".into(), hardware_id, product.clone(), None, None, None, &None)?;
    let o = transactions::trial(&s.db, &product, &req, email.as_deref()).await.map_err(|e| {
        if let StoreError::Refused(r) = &e {
            s.metrics.trial(r.code());
        }
        LsError::from(e)
    })?;
    s.metrics.trial(if o.created { crate::metrics::codes::STARTED } else { crate::metrics::codes::RESUMED });
    let l = &o.license;
    let v = json!({
        "id": o.license_id,
        "license": l.license_key,
        "license_key": l.license_key,
        "is_trial": true,
        "license_type": l.license_type,
        "trial_days": o.terms.trial_days,
        "validity_period": o.expires_at.map(license::iso_ms),
        "max_activations": l.max_activations.unwrap_or(0),
        "allow_unlimited_activations": l.max_activations.is_none(),
    });
    Ok(signed(&s, &v))
}

/// An ISO 8601 date-time as UNIX ms: RFC 3339 (`2026-12-01T20:00:00Z`, fractions and offsets allowed), or
/// one without an offset, taken as UTC.
pub fn parse_iso(v: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(v, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{v}Z"), &Rfc3339))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `POST floating/borrow`: takes the device's floating seat offline until `borrowed_until` (at most the
/// license's `max_borrow_time` hours ahead).
pub async fn floating_borrow(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Password).await?;
    let until = a.str("borrowed_until")?;
    let Some(until) = parse_iso(&until).filter(|u| *u > now_ms()) else {
        return Err(LsError::bad("borrow_until_not_valid", "borrowed_until must be a date-time in the future"));
    };
    let hours = (until - now_ms() + 3_599_999) / 3_600_000;
    let o = transactions::borrow(&s.db, &id.req, hours).await.map_err(|e| match e {
        StoreError::Refused(Refusal::BorrowNotAllowed) => refusal(&Refusal::BorrowNotAllowed, false),
        StoreError::Domain(e) => {
            LsError::bad("borrow_until_not_valid", format!("borrowed_until is too far ahead: {e} hours, rounded up"))
        }
        e => LsError::from(e),
    })?;
    id.matches(&o)?;
    let borrowed = o.device.as_ref().and_then(|d| d.borrowed_until).map(|s| s * 1000);
    let v = json!({
        "borrowed_until": borrowed.map(license::iso_ms),
        "max_borrow_time": o.license.max_borrow_time,
        "device_id": o.device.as_ref().map(|d| d.id),
        "license_id": o.license_id,
        "company": {"id": 1},
    });
    Ok(signed(&s, &v))
}

/// `POST floating/release`: gives the device's floating seat back (the text `license_released`).
pub async fn floating_release(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    deactivate(&s, &id).await?;
    Ok(text("license_released"))
}

/// The `variables` object of a request as (name, value) pairs, values as text; `None` when not given.
fn variables_arg(a: &Args) -> Result<Option<Vec<(String, String)>>, LsError> {
    use transactions::{MAX_NAME, MAX_VALUE, MAX_VARIABLES};
    let vars = match a.get("variables") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(LsError::invalid("variables", "must be an object of names and values")),
    };
    if vars.len() > MAX_VARIABLES {
        return Err(LsError::invalid("variables", &format!("a device holds at most {MAX_VARIABLES} variables")));
    }
    let mut out = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        let value = match value {
            Value::String(v) => v.clone(),
            Value::Null => String::new(),
            v => v.to_string(),
        };
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(LsError::invalid("variables", &format!("a name must be 1 to {MAX_NAME} characters")));
        }
        if value.chars().count() > MAX_VALUE || value.contains('\0') {
            return Err(LsError::invalid("variables", &format!("a value must be at most {MAX_VALUE} characters")));
        }
        out.push((name.clone(), value));
    }
    Ok(Some(out))
}

fn variable_list(vars: &[transactions::DeviceVariable]) -> Value {
    vars.iter()
        .map(|v| {
            json!({
                "id": v.id,
                "device_id": v.device_id,
                "variable": v.variable,
                "value": v.value,
                "created_at": license::iso_ms(v.created_at),
            })
        })
        .collect()
}

fn device_refusal(e: StoreError) -> LsError {
    match e {
        StoreError::State(m) => LsError::invalid("variables", &m),
        e => LsError::from(e),
    }
}

/// `POST track_device_variables`: records the device's variables; answers all of them.
pub async fn track_device_variables(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let vars = variables_arg(&a)?.unwrap_or_default();
    let all = transactions::set_variables(&s.db, &id.req, &vars).await.map_err(device_refusal)?;
    Ok(signed(&s, &variable_list(&all)))
}

/// `GET get_device_variables`: the device's variables.
pub async fn get_device_variables(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let all = transactions::variables(&s.db, &id.req).await.map_err(device_refusal)?;
    Ok(signed(&s, &variable_list(&all)))
}

/// The answer about a device's use of a feature (`check_license_feature`, feature borrow).
fn feature_use(u: &transactions::FeatureUse) -> Value {
    let mut v = license::feature(&u.feature, u.license_id);
    if let Some(m) = v.as_object_mut() {
        m.insert("floating_in_use_devices".into(), json!(u.in_use));
        if u.feature.is_floating_cloud {
            m.insert("floating_end_date".into(), u.held_until.map_or(Value::Null, |t| license::iso_ms(t).into()));
        }
        if let Some(b) = u.borrowed_until {
            m.insert("borrowed_until".into(), license::iso_ms(b).into());
        }
    }
    v
}

fn feature_refusal(e: StoreError) -> LsError {
    match e {
        StoreError::Refused(Refusal::NoSeat { seats }) => {
            LsError::bad("no_available_floating_slots", format!("all {seats} floating seats of the feature are in use"))
        }
        StoreError::Refused(Refusal::BorrowNotAllowed) => LsError::bad(
            "borrowing_not_allowed",
            "the feature is not floating, or the license does not allow borrowing",
        ),
        StoreError::Domain(e) => LsError::bad("borrow_until_not_valid", e.to_string()),
        e => LsError::from(e),
    }
}

/// `GET check_license_feature`: the device uses the feature; a floating feature takes (or renews) a seat.
pub async fn check_license_feature(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let code = a.str("feature")?;
    let u = transactions::use_feature(&s.db, &id.req, &code, None).await.map_err(feature_refusal)?;
    Ok(signed(&s, &feature_use(&u)))
}

/// `POST floating/feature_borrow`: holds the device's seat of a floating feature until `borrowed_until`.
pub async fn feature_borrow(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let code = a.str("feature")?;
    let until = a.str("borrowed_until")?;
    let Some(until) = parse_iso(&until).filter(|u| *u > now_ms()) else {
        return Err(LsError::bad("borrow_until_not_valid", "borrowed_until must be a date-time in the future"));
    };
    let u = transactions::use_feature(&s.db, &id.req, &code, Some(until)).await.map_err(feature_refusal)?;
    Ok(signed(&s, &feature_use(&u)))
}

/// `POST floating/feature_release`: gives the device's seat of the feature back (the text `feature_released`).
pub async fn feature_release(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let code = a.str("feature")?;
    transactions::release_feature(&s.db, &id.req, &code).await.map_err(feature_refusal)?;
    Ok(text("feature_released"))
}

/// `POST change_password`: a license user changes their password (the text `password_changed`).
pub async fn change_password(State(s): State<AppState>, a: Args) -> LsResult {
    let (username, old, new) = (a.str("username")?, a.str("password")?, a.str("new_password")?);
    if username.chars().count() > 320 || old.chars().count() > 256 {
        return Err(LsError::bad("invalid_credentials", "wrong username or password"));
    }
    let email = username.split('|').next().unwrap_or_default();
    match licensd_store::license_users::change_password(&s.db, email, &old, &new).await {
        Ok(true) => Ok(text("password_changed")),
        Ok(false) => Err(LsError::bad("invalid_credentials", "wrong username or password")),
        Err(StoreError::Domain(e)) => Err(LsError::bad("validation_error", e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// `GET customer_license_users`: the users of a customer's licenses of a product.
pub async fn customer_license_users(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let product = a.str("product")?;
    c.allow(&product)?;
    let customer = a.str("customer")?;
    if customer.chars().count() > 320 {
        return Err(LsError::invalid("customer", "must be an email address"));
    }
    let users = licensd_store::license_users::of_customer(&s.db, &product, &customer).await?;
    let users: Vec<Value> = users
        .iter()
        .map(|(license_id, u, initial, max)| {
            json!({
                "id": u.id,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "phone_number": u.phone_number,
                "is_active": u.is_active,
                "is_initial_password": initial,
                "initial_password": Value::Null,
                "license_id": license_id,
                "max_activations": max.unwrap_or(0),
                "allow_unlimited_activations": max.is_none(),
            })
        })
        .collect();
    Ok(signed(&s, &json!({"company": {"id": 1}, "customer": {"email": customer}, "users": users})))
}

/// `GET user_licenses`: the licenses of a product a user (username and password) is assigned to.
pub async fn user_licenses(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let product = a.str("product")?;
    c.allow(&product)?;
    let (username, password) = (a.str("username")?, a.str("password")?);
    if username.chars().count() > 320 || password.chars().count() > 256 {
        return Err(LsError::bad("invalid_credentials", "wrong username or password"));
    }
    let email = username.split('|').next().unwrap_or_default();
    let Some(login) = licensd_store::license_users::login(&s.db, &product, email, Some(&password)).await? else {
        return Err(LsError::bad("invalid_credentials", "wrong username or password"));
    };
    let scope = licensd_store::Scope::system();
    let l = licensd_store::licenses::get(&mut &s.db, &scope, login.license_id).await?;
    let p = product_row(&s, &product).await?;
    let license = json!({
        "id": l.id,
        "license_key": Value::Null,
        "license_type": l.license_type,
        "max_activations": l.max_activations.unwrap_or(0),
        "times_activated": l.times_activated,
        "validity_period": l.validity_period.map(|d| license::iso_ms(d.0)),
        "is_trial": l.is_trial,
        "license_enabled": l.enabled,
        "license_active": l.times_activated > 0,
        "is_floating": false,
        "is_floating_cloud": l.is_floating_cloud,
        "product_details": license::product_details(&p, l.prevent_vm),
    });
    let user = license::user(&login, l.max_activations, l.times_activated);
    Ok(signed(&s, &json!([{"license": license, "user": user}])))
}

/// The product of a request whose device holds an active license (`versions`, `installation_file`).
async fn active_product(s: &AppState, id: &Identity) -> Result<Product, LsError> {
    let r = transactions::check(&s.db, &id.req).await.map_err(LsError::from)?;
    match (&r.refusal, &r.outcome) {
        (None, Some(o)) => id.matches(o)?,
        (Some(Refusal::NotFound | Refusal::ProductMismatch), _) | (None, None) => {
            return Err(LsError::bad("license_not_found", "no license has this key"));
        }
        (Some(x), _) => {
            return Err(LsError::bad(
                "active_license_required",
                format!("an active license is required: {}", x.detail()),
            ));
        }
    }
    product_row(s, &id.req.product).await
}

/// The `env` and `channel` arguments, checked.
fn env_channel(a: &Args) -> Result<(Option<String>, Option<String>), LsError> {
    let env = a.opt_str("env")?.filter(|e| !e.is_empty());
    if let Some(e) = &env
        && !licensd_core::model::ENVIRONMENTS.contains(&e.as_str())
    {
        return Err(LsError::invalid("env", "must be win, win32, win64, mac, linux, linux32 or linux64"));
    }
    let channel = a.opt_str("channel")?.filter(|c| !c.is_empty());
    if channel.as_ref().is_some_and(|c| c.chars().count() > 64) {
        return Err(LsError::invalid("channel", "must be at most 64 characters"));
    }
    Ok((env, channel))
}

/// `GET versions`: the product's versions for this environment and channel, newest first.
pub async fn versions(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let (env, channel) = env_channel(&a)?;
    let p = active_product(&s, &id).await?;
    let list = licensd_store::versions::of_product(&s.db, p.id, env.as_deref(), channel.as_deref()).await?;
    let v: Vec<Value> = list
        .iter()
        .map(|v| json!({"version": v.version, "release_date": v.release_date.map(|d| license::iso_ms(d.0))}))
        .collect();
    Ok(signed(&s, &Value::Array(v)))
}

/// `GET installation_file`: the installation file of `version` (the newest without one) for this environment and
/// channel; `version_not_found` when there is none.
pub async fn installation_file(State(s): State<AppState>, Extension(c): Extension<Caller>, a: Args) -> LsResult {
    let id = identity(&s, &c, &a, Login::Name).await?;
    let (env, channel) = env_channel(&a)?;
    let wanted = a.opt_str("version")?.filter(|v| !v.is_empty());
    let p = active_product(&s, &id).await?;
    let list = licensd_store::versions::of_product(&s.db, p.id, env.as_deref(), channel.as_deref()).await?;
    let Some(v) = list.iter().find(|v| wanted.as_ref().is_none_or(|w| *w == v.version)) else {
        return Err(LsError::bad(
            "version_not_found",
            "the product has no such version for this environment and channel",
        ));
    };
    Ok(signed(
        &s,
        &json!({
            "id": v.id,
            "version": v.version,
            "installation_file": v.installation_file,
            "release_date": v.release_date.map(|d| license::iso_ms(d.0)),
            "hash_md5": v.hash_md5,
            "environment": v.environment,
            "eula_link": v.eula_link,
            "release_notes_link": v.release_notes_link,
            "size": v.size,
            "requires_version": v.requires_version,
            "channel": v.channel,
            "company": {"id": 1},
        }),
    ))
}

/// `GET /api/v4`: what answers here (LicenseSpring's SDKs only probe the domain root).
async fn index() -> Response {
    axum::Json(json!({"api": "LicenseSpring License API v4, served by licensd", "docs": "docs/licensespring.md"}))
        .into_response()
}

/// Re-shapes the answers the License API's own handlers did not make (a path it does not have, a method, a
/// body over the limit, a rate limit, a deadline) into `{status, code, message}`, keeping their status.
async fn reshape(State(s): State<AppState>, req: Request, next: axum::middleware::Next) -> Response {
    let res = crate::limits::client(&s, req, |req| next.run(req)).await;
    if res.status().is_success() || res.extensions().get::<Shaped>().is_some() {
        return res;
    }
    let status = res.status();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let e = &v["errors"][0];
    let code = e["code"].as_str().unwrap_or("error");
    let message = e["detail"].as_str().unwrap_or_else(|| status.canonical_reason().unwrap_or("error")).to_string();
    let mut out = LsError::from(ApiError::new(status, lower_code(code), "", message)).into_response();
    // Keep what the front door said beside the body (Retry-After, Allow).
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The static code of an envelope's code text (one of [`ApiError::CODES`]).
fn lower_code(code: &str) -> &'static str {
    ApiError::CODES.iter().find(|(c, _)| *c == code).map_or("ERROR", |(c, _)| c)
}

/// The License API's routes, at their full paths, behind [`auth::require`] but for the OAuth discovery and
/// token endpoints; every answer in its shape ([`reshape`]).
pub fn surface(state: &AppState) -> axum::Router<AppState> {
    let p = |name: &str| format!("{PREFIX}/{name}");
    let authed = axum::Router::new()
        .route(&p("activate_license"), post(activate_license))
        .route(&p("check_license"), get(check_license))
        .route(&p("deactivate_license"), post(deactivate_license))
        .route(&p("add_consumption"), post(add_consumption))
        .route(&p("add_feature_consumption"), post(add_feature_consumption))
        .route(&p("product_details"), get(product_details))
        .route(&p("trial_key"), get(trial_key))
        .route(&p("floating/borrow"), post(floating_borrow))
        .route(&p("floating/release"), post(floating_release))
        .route(&p("check_license_feature"), get(check_license_feature))
        .route(&p("floating/feature_borrow"), post(feature_borrow))
        .route(&p("floating/feature_release"), post(feature_release))
        .route(&p("versions"), get(versions))
        .route(&p("installation_file"), get(installation_file))
        .route(&p("change_password"), post(change_password))
        .route(&p("customer_license_users"), get(customer_license_users))
        .route(&p("user_licenses"), get(user_licenses))
        .route(&p("track_device_variables"), post(track_device_variables))
        .route(&p("get_device_variables"), get(get_device_variables))
        .route(&p("activate_offline"), post(offline::activate_offline))
        .route(&p("deactivate_offline"), post(offline::deactivate_offline))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require));
    let not_found =
        || async { LsError { status: StatusCode::NOT_FOUND, code: "not_found", message: "no such path".into() } };
    axum::Router::new()
        .route(PREFIX, get(index))
        .route(&p("oauth_url"), get(auth::oauth_url))
        .route(auth::TOKEN_PATH, post(auth::token))
        .merge(authed)
        .route(&format!("{PREFIX}/{{*rest}}"), axum::routing::any(not_found))
        .method_not_allowed_fallback(|| async {
            LsError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "method not allowed".into(),
            }
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), reshape))
}
