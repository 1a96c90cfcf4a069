//! The client API, `/api/v1/client/…`: what applications call with a license key (docs/client-api.md).
//! Every response, refusals included, is signed over its exact body bytes. The handlers' paths are full paths
//! under [`PREFIX`]: [`surface`] is merged into the app, not nested (see there why).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use licensd_core::client_api::{ClientDevice, ClientLicense, Refusal, answer};
use licensd_core::time::now_ms;
use licensd_store::StoreError;
use licensd_store::client_api::{self as transactions, ClientReq, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;

pub const SIGNATURE_HEADER: &str = "licensd-signature";
pub const KEY_ID_HEADER: &str = "licensd-key-id";

/// Writes a license request's struct: the fields every license request carries, then its own. serde cannot
/// combine `#[serde(flatten)]` with `deny_unknown_fields` (serde-rs/serde#1600), and an unknown field must stay a
/// `400`, so the common fields are repeated by this macro rather than flattened from one struct.
macro_rules! license_request {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub license_key: String,
            pub hardware_id: String,
            /// The product's short code.
            pub product: String,
            pub hostname: Option<String>,
            pub os: Option<String>,
            pub app_version: Option<String>,
            /// Echoed in the response, so a replayed answer is detectable.
            pub nonce: Option<String>,
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $name {
            /// The license request it carries, checked; its nonce and its own fields stay.
            fn take(&mut self) -> Result<ClientReq, ApiError> {
                use std::mem::take;
                client_req(
                    take(&mut self.license_key),
                    take(&mut self.hardware_id),
                    take(&mut self.product),
                    self.hostname.take(),
                    self.os.take(),
                    self.app_version.take(),
                    &self.nonce,
                )
            }
        }
    };
}

license_request!(
    /// `POST activate`, `check` and `deactivate`: the fields every license request carries.
    LicenseRequest {}
);

license_request!(
    /// `POST consumption`.
    ConsumptionRequest {
        /// A feature code; without it the license's own counter is used.
        feature: Option<String>,
        consumptions: i64,
    }
);

license_request!(
    /// `POST borrow`.
    BorrowRequest { borrow_hours: i64 }
);

/// `POST trial`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialRequest {
    pub product: String,
    pub hardware_id: String,
    pub email: Option<String>,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub app_version: Option<String>,
    pub nonce: Option<String>,
}

/// `POST offline-activate` and `offline-deactivate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineRequest {
    /// The request code the SDK wrote on the air-gapped machine.
    pub request: String,
}

fn check_len(field: &str, v: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(char::is_control) {
        return Err(ApiError::invalid(field, format!("must be {min} to {max} characters, without control characters")));
    }
    Ok(())
}

pub(crate) fn client_req(
    license_key: String,
    hardware_id: String,
    product: String,
    hostname: Option<String>,
    os: Option<String>,
    app_version: Option<String>,
    nonce: &Option<String>,
) -> Result<ClientReq, ApiError> {
    // The key a person typed: looked up without surrounding whitespace (and whatever its case, for the keys
    // that fold case: `licensd_core::keys::matches`).
    let license_key = match licensd_core::keys::typed(&license_key) {
        t if t.len() == license_key.len() => license_key,
        t => t.to_string(),
    };
    check_len("license_key", &license_key, 1, 256)?;
    check_len("hardware_id", &hardware_id, 1, 256)?;
    check_len("product", &product, 1, 64)?;
    for (f, v) in [("hostname", &hostname), ("os", &os), ("app_version", &app_version)] {
        if let Some(v) = v {
            check_len(f, v, 0, 255)?;
        }
    }
    if let Some(n) = nonce {
        check_len("nonce", n, 1, 128)?;
    }
    // One bucket for every spelling of a key that may name the same license (no copy for the usual upper case).
    if license_key.bytes().any(|b| b.is_ascii_lowercase()) {
        crate::limits::client_key(&license_key.to_ascii_uppercase())?;
    } else {
        crate::limits::client_key(&license_key)?;
    }
    Ok(ClientReq { license_key, hardware_id, product, hostname, os, app_version })
}

/// A client API failure: a named refusal (with nonce and timestamp) or malformed input.
pub enum ClientError {
    Refused(Refusal, Option<String>),
    Api(ApiError),
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        ClientError::Api(e)
    }
}

/// The code a store refusal answers, for the client API's business counters (`None`: not a refusal).
fn refusal_code(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::Refused(r) => Some(r.code()),
        _ => None,
    }
}

fn from_store(e: StoreError, nonce: &Option<String>) -> ClientError {
    match e {
        StoreError::Refused(r) => ClientError::Refused(r, nonce.clone()),
        e => ClientError::Api(e.into()),
    }
}

fn timestamp() -> i64 {
    now_ms() / 1000
}

impl IntoResponse for ClientError {
    fn into_response(self) -> Response {
        match self {
            ClientError::Api(e) => e.into_response(),
            ClientError::Refused(r, nonce) => {
                let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::FORBIDDEN);
                let body = json!({
                    "errors": [{"code": r.code(), "title": r.title(), "detail": r.detail()}],
                    "code": r.code(),
                    "nonce": nonce,
                    "timestamp": timestamp(),
                });
                let mut res = (status, axum::Json(body)).into_response();
                res.extensions_mut().insert(crate::metrics::ErrorCode(r.code()));
                res
            }
        }
    }
}

type ClientResult = Result<Response, ClientError>;

fn ok(status: StatusCode, code: &str, o: &Outcome, nonce: Option<String>, extra: Value) -> Response {
    let mut body = json!({"code": code, "license": o.license, "nonce": nonce, "timestamp": timestamp()});
    if let Some(d) = &o.device {
        body["device"] = json!(d);
    }
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    (status, axum::Json(body)).into_response()
}

/// An activation's outcome for `licensd_client_activations_total`: a new slot or seat, or one the device held.
fn activation_code(o: &Outcome) -> &'static str {
    if o.created { crate::metrics::codes::ACTIVATED } else { crate::metrics::codes::ALREADY_ACTIVE }
}

fn created_or_ok(o: &Outcome) -> StatusCode {
    if o.created { StatusCode::CREATED } else { StatusCode::OK }
}

/// Activates the license on this device (or checks out a floating seat).
#[utoipa::path(post, path = "/api/v1/client/activate", tag = "client", operation_id = "client_activate", request_body = LicenseRequest,
    responses((status = 201, description = "Activated"), (status = 200, description = "Already active on this device"), crate::api::BodyErrors, (status = 403, description = "Refused: another product's key, or the license is disabled, refunded or expired", body = ErrorBody), (status = 404, description = "No license has this key", body = ErrorBody), (status = 409, description = "No activation slot or floating seat is left", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn activate(State(s): State<AppState>, JsonBody(mut body): JsonBody<LicenseRequest>) -> ClientResult {
    let (req, nonce) = (body.take()?, body.nonce);
    let o = transactions::activate(&s.db, &req).await.map_err(|e| {
        if let Some(c) = refusal_code(&e) {
            s.metrics.activation(c);
        }
        from_store(e, &nonce)
    })?;
    s.metrics.activation(activation_code(&o));
    Ok(ok(created_or_ok(&o), answer::ACTIVATED, &o, nonce, json!({})))
}

/// Validates the license on this device; always `200` with `valid` and a `code`.
#[utoipa::path(post, path = "/api/v1/client/check", tag = "client", operation_id = "client_check", request_body = LicenseRequest,
    responses((status = 200, description = "The verdict: valid, code, detail, license, device"), crate::api::BodyErrors, (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn check(State(s): State<AppState>, JsonBody(mut body): JsonBody<LicenseRequest>) -> ClientResult {
    let (req, nonce) = (body.take()?, body.nonce);
    let r = transactions::check(&s.db, &req).await.map_err(|e| from_store(e, &nonce))?;
    if let Some((device, license)) = r.checked_device {
        s.last_checks.note(device, license, now_ms());
    }
    let (valid, code, detail) = match &r.refusal {
        None => (true, answer::VALID, "the license is valid on this device".to_string()),
        Some(x) => (false, x.code(), x.detail()),
    };
    s.metrics.check(code);
    let body = CheckBody {
        valid,
        code,
        detail,
        license: r.outcome.as_ref().map(|o| &o.license),
        device: r.outcome.as_ref().and_then(|o| o.device.as_ref()),
        nonce,
        timestamp: timestamp(),
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// The body of `check`, serialised straight from the outcome (the hottest response: no JSON tree).
#[derive(Serialize)]
struct CheckBody<'a> {
    valid: bool,
    code: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    license: Option<&'a ClientLicense>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a ClientDevice>,
    nonce: Option<String>,
    timestamp: i64,
}

/// Frees this device's activation (floating: releases its seat).
#[utoipa::path(post, path = "/api/v1/client/deactivate", tag = "client", operation_id = "client_deactivate", request_body = LicenseRequest,
    responses((status = 200, description = "Deactivated"), crate::api::BodyErrors, (status = 403, description = "Refused: another product's key", body = ErrorBody), (status = 404, description = "No license has this key, or it is not activated on this device", body = ErrorBody), (status = 409, description = "The transfer limit is reached, or a license file for this device is still valid (LICENSE_FILE_OUTSTANDING)", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn deactivate(State(s): State<AppState>, JsonBody(mut body): JsonBody<LicenseRequest>) -> ClientResult {
    let (req, nonce) = (body.take()?, body.nonce);
    let o = transactions::deactivate(&s.db, &req).await.map_err(|e| {
        if let Some(c) = refusal_code(&e) {
            s.metrics.deactivation(c);
        }
        from_store(e, &nonce)
    })?;
    s.metrics.deactivation(crate::metrics::codes::DEACTIVATED);
    Ok(ok(StatusCode::OK, answer::DEACTIVATED, &o, nonce, json!({})))
}

/// Records consumption of the license or of one of its features.
#[utoipa::path(post, path = "/api/v1/client/consumption", tag = "client", operation_id = "client_consumption", request_body = ConsumptionRequest,
    responses((status = 200, description = "Consumed"), crate::api::BodyErrors, (status = 403, description = "Refused: another product's key, or the license is disabled, refunded or expired", body = ErrorBody), (status = 404, description = "No license has this key, no such feature, or not activated on this device", body = ErrorBody), (status = 409, description = "The consumption limit is reached", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn consumption(State(s): State<AppState>, JsonBody(mut b): JsonBody<ConsumptionRequest>) -> ClientResult {
    let req = b.take()?;
    if !(1..=1_000_000_000).contains(&b.consumptions) {
        return Err(ApiError::invalid("consumptions", "must be between 1 and 1000000000").into());
    }
    let (o, feature) = transactions::consume(&s.db, &req, b.feature.as_deref(), b.consumptions).await.map_err(|e| {
        if let Some(c) = refusal_code(&e) {
            s.metrics.consumption(c, 0);
        }
        from_store(e, &b.nonce)
    })?;
    s.metrics.consumption(crate::metrics::codes::CONSUMED, b.consumptions.unsigned_abs());
    let extra = match feature {
        Some(f) => json!({"feature": f}),
        None => json!({}),
    };
    Ok(ok(StatusCode::OK, answer::CONSUMED, &o, b.nonce, extra))
}

/// Takes a floating seat offline for up to `max_borrow_time` hours, with a license file for that time.
#[utoipa::path(post, path = "/api/v1/client/borrow", tag = "client", operation_id = "client_borrow", request_body = BorrowRequest,
    responses((status = 200, description = "Borrowed, with a license file until borrowed_until"), crate::api::BodyErrors, (status = 403, description = "Refused: borrowing is not allowed, another product's key, or the license is disabled, refunded or expired", body = ErrorBody), (status = 404, description = "No license has this key, or it is not activated on this device", body = ErrorBody), (status = 409, description = "No floating seat is left", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn borrow(State(s): State<AppState>, JsonBody(mut b): JsonBody<BorrowRequest>) -> ClientResult {
    let req = b.take()?;
    let o = transactions::borrow(&s.db, &req, b.borrow_hours).await.map_err(|e| from_store(e, &b.nonce))?;
    let file = s.license_file(&o);
    Ok(ok(StatusCode::OK, answer::BORROWED, &o, b.nonce, json!({"license_file": file})))
}

/// Starts (or resumes) this device's trial of a product.
#[utoipa::path(post, path = "/api/v1/client/trial", tag = "client", operation_id = "client_trial", request_body = TrialRequest,
    responses((status = 201, description = "Trial started"), (status = 200, description = "This device's existing trial"), crate::api::BodyErrors, (status = 404, description = "No such product, or it has no trial template", body = ErrorBody), (status = 409, description = "The trial could not be started; try again", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn trial(State(s): State<AppState>, JsonBody(b): JsonBody<TrialRequest>) -> ClientResult {
    let req = client_req("trial".into(), b.hardware_id, b.product.clone(), b.hostname, b.os, b.app_version, &b.nonce)?;
    if let Some(e) = &b.email {
        licensd_core::model::normalize_email("email", e).map_err(ApiError::from)?;
    }
    let o = transactions::trial(&s.db, &b.product, &req, b.email.as_deref()).await.map_err(|e| {
        if let Some(c) = refusal_code(&e) {
            s.metrics.trial(c);
        }
        from_store(e, &b.nonce)
    })?;
    s.metrics.trial(if o.created { crate::metrics::codes::STARTED } else { crate::metrics::codes::RESUMED });
    Ok(ok(created_or_ok(&o), answer::TRIAL, &o, b.nonce, json!({})))
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The signed offline license file for this active device.
#[utoipa::path(post, path = "/api/v1/client/license-file", tag = "client", operation_id = "client_license_file", request_body = LicenseRequest,
    responses((status = 200, content_type = "text/plain", description = "The license file"), crate::api::BodyErrors, (status = 403, description = "Refused: another product's key, or the license is disabled, refunded or expired", body = ErrorBody), (status = 404, description = "No license has this key, or it is not activated on this device", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn license_file(State(s): State<AppState>, JsonBody(mut body): JsonBody<LicenseRequest>) -> ClientResult {
    let (req, nonce) = (body.take()?, body.nonce);
    let o = transactions::for_license_file(&s.db, &req).await.map_err(|e| from_store(e, &nonce))?;
    Ok(text(s.license_file(&o)))
}

/// An air-gapped machine's request code, as the SDK writes it.
#[derive(Debug, Deserialize)]
struct RequestCode {
    #[serde(rename = "type")]
    kind: String,
    license_key: String,
    product: String,
    hardware_id: String,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    app_version: Option<String>,
}

/// Decodes a request code of the given kind (`activate` or `deactivate`).
pub fn decode_request_code(code: &str, kind: &str) -> Result<ClientReq, ApiError> {
    let bad = |why: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST_CODE", "Invalid request code", why.to_string())
            .with_pointer("request")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(code.trim().trim_end_matches('='))
        .map_err(|_| bad("the request code is not base64url"))?;
    let rc: RequestCode =
        serde_json::from_slice(&bytes).map_err(|e| bad(&format!("the request code does not hold a request: {e}")))?;
    if rc.kind != kind {
        return Err(bad(&format!("this is a {} request code, not {kind}", rc.kind)));
    }
    client_req(rc.license_key, rc.hardware_id, rc.product, rc.hostname, rc.os, rc.app_version, &None)
}

/// Turns an air-gapped machine's activation request code into its license file.
#[utoipa::path(post, path = "/api/v1/client/offline-activate", tag = "client", operation_id = "client_offline_activate", request_body = OfflineRequest,
    responses((status = 200, content_type = "text/plain", description = "The license file"), crate::api::BodyErrors, (status = 403, description = "Refused: another product's key, or the license is disabled, refunded or expired", body = ErrorBody), (status = 404, description = "No license has this key", body = ErrorBody), (status = 409, description = "No activation slot or floating seat is left", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn offline_activate(State(s): State<AppState>, JsonBody(b): JsonBody<OfflineRequest>) -> ClientResult {
    let req = decode_request_code(&b.request, "activate")?;
    let o = transactions::offline_activate(&s.db, &req).await.map_err(|e| {
        if let Some(c) = refusal_code(&e) {
            s.metrics.activation(c);
        }
        from_store(e, &None)
    })?;
    s.metrics.activation(activation_code(&o));
    Ok(text(s.license_file(&o)))
}

/// Frees the slot an air-gapped machine held, from its deactivation request code.
#[utoipa::path(post, path = "/api/v1/client/offline-deactivate", tag = "client", operation_id = "client_offline_deactivate", request_body = OfflineRequest,
    responses((status = 200, description = "Deactivated"), crate::api::BodyErrors, (status = 403, description = "Refused: another product's key", body = ErrorBody), (status = 404, description = "No license has this key, or it is not activated on this device", body = ErrorBody), (status = 409, description = "The transfer limit is reached, or the machine's license file is still valid (LICENSE_FILE_OUTSTANDING)", body = ErrorBody), (status = 408, description = "The request body did not arrive in time", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn offline_deactivate(State(s): State<AppState>, JsonBody(b): JsonBody<OfflineRequest>) -> ClientResult {
    let req = decode_request_code(&b.request, "deactivate")?;
    let o = transactions::deactivate(&s.db, &req).await.map_err(|e| {
        if let Some(c) = refusal_code(&e) {
            s.metrics.deactivation(c);
        }
        from_store(e, &None)
    })?;
    s.metrics.deactivation(crate::metrics::codes::DEACTIVATED);
    Ok(ok(StatusCode::OK, answer::DEACTIVATED, &o, None, json!({})))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// An older key's id; the active key when absent.
    key_id: Option<String>,
}

/// The public key that verifies responses and license files.
#[utoipa::path(get, path = "/api/v1/client/public-key", tag = "client", operation_id = "client_public_key", params(KeyQuery),
    responses((status = 200, description = "{alg, key_id, public_key}"), (status = 400, description = "key_id holds a NUL or invalid UTF-8, or is given twice", body = ErrorBody), (status = 404, description = "No key has this key_id", body = ErrorBody), (status = 429, description = "Rate limited (per client address and per license key); see Retry-After", body = ErrorBody), (status = 503, description = "The database did not answer, or the request timed out", body = ErrorBody)))]
pub async fn public_key(
    State(s): State<AppState>,
    crate::extract::TextQuery(q): crate::extract::TextQuery<KeyQuery>,
) -> Result<Response, ApiError> {
    let (key_id, public_key) = match q.key_id {
        None => {
            let k = s.key();
            (k.key_id.clone(), k.public_base64())
        }
        Some(id) => {
            let k = match licensd_store::keys::public_key(&s.db, &id).await {
                // The client API takes no token: say what is missing, not "visible to this token".
                Err(licensd_store::StoreError::NotFound) => {
                    return Err(ApiError::not_found("no signing key has this key_id (GET without it: the active key)"));
                }
                other => other?,
            };
            (k.key_id, k.public_key)
        }
    };
    Ok(axum::Json(json!({"alg": "ed25519", "key_id": key_id, "public_key": public_key})).into_response())
}

/// The path the client API is nested under: every answer under it is bound to its request and signed.
pub const PREFIX: &str = "/api/v1/client";

/// What the signing middleware reads of a request body to bind the answer to it. Lenient on purpose: a
/// body that is not a JSON object, or whose fields have the wrong types, binds by its hash alone.
#[derive(Default, Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    license_key: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    product: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    hardware_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    nonce: Option<std::borrow::Cow<'a, str>>,
}

/// The longest request field echoed back; longer ones are bound by `request_sha256` only.
const MAX_ECHO: usize = 512;

/// The request an answer is about, inside the signed bytes: an answer cannot be replayed for another key,
/// product, device or body, and its HTTP status cannot be changed (docs/client-api.md, "Binding").
#[derive(Serialize)]
struct Binding<'a> {
    status: u16,
    request_sha256: Option<String>,
    request: Echo<'a>,
}

#[derive(Serialize)]
struct Echo<'a> {
    license_key: Option<&'a str>,
    product: Option<&'a str>,
    hardware_id: Option<&'a str>,
}

/// Adds the binding to a JSON answer. Successes are spliced (the handler's bytes are kept, the binding
/// appended before the closing brace: the hottest path stays free of a re-parse); errors are re-read so
/// that the request's nonce, the top-level `code` and `timestamp` are there even when the request was
/// refused before a handler read it (a malformed field, `405`, `413`, `429`).
fn bind(body: Bytes, status: StatusCode, probe: &Probe<'_>, request_sha256: Option<String>) -> Bytes {
    fn echo<'a>(v: &'a Option<std::borrow::Cow<'_, str>>) -> Option<&'a str> {
        v.as_deref().filter(|v| v.len() <= MAX_ECHO)
    }
    let binding = Binding {
        status: status.as_u16(),
        request_sha256,
        request: Echo {
            license_key: echo(&probe.license_key),
            product: echo(&probe.product),
            hardware_id: echo(&probe.hardware_id),
        },
    };
    if status.is_success() {
        let trimmed = body.trim_ascii_end();
        if trimmed.first() == Some(&b'{') && trimmed.last() == Some(&b'}') {
            // The answer's members, then the binding's object written over the closing brace: its own `{`
            // becomes the `,` between them (or is dropped after an empty object).
            let head = &trimmed[..trimmed.len() - 1];
            let empty = head.trim_ascii_end() == b"{";
            let mut out = Vec::with_capacity(trimmed.len() + 256);
            out.extend_from_slice(if empty { b"" } else { head });
            let at = out.len();
            if serde_json::to_writer(&mut out, &binding).is_err() {
                return body;
            }
            if !empty {
                out[at] = b',';
            }
            return Bytes::from(out);
        }
        return body;
    }
    let mut v: serde_json::Map<String, Value> = serde_json::from_slice(&body).unwrap_or_default();
    if !v.contains_key("code") {
        let code = v.get("errors").and_then(|e| e.get(0)).and_then(|e| e.get("code")).cloned();
        v.insert("code".into(), code.unwrap_or_else(|| Value::String(format!("HTTP_{}", status.as_u16()))));
    }
    if v.get("nonce").is_none_or(Value::is_null) {
        v.insert("nonce".into(), json!(echo(&probe.nonce).filter(|n| n.len() <= 128)));
    }
    v.entry("timestamp").or_insert_with(|| json!(timestamp()));
    if let Ok(Value::Object(b)) = serde_json::to_value(&binding) {
        v.extend(b);
    }
    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body)
}

/// Middleware over the whole client API ([`surface`]): every answer under [`PREFIX`] (refusals, `400`s,
/// unknown paths, `405`s, `413`s and `429`s included) is bound to its request ([`bind`]) and signed over its
/// exact body bytes with the active key; the client API's rate limits and deadline ([`crate::limits::client`])
/// apply inside it.
pub async fn sign(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let who = parts.extensions.get::<crate::metrics::Who>().cloned();
    let (res, probe_src, request_sha256) = match axum::body::to_bytes(body, crate::extract::MAX_BODY).await {
        Ok(bytes) => {
            let sha = licensd_core::token::sha256_hex(&bytes);
            let req = Request::from_parts(parts, Body::from(bytes.clone()));
            let res = crate::limits::client(&s, req, |req| next.run(req)).await;
            (res, bytes, Some(sha))
        }
        Err(e) => (crate::extract::body_error(e).into_response(), Bytes::new(), None),
    };
    let probe: Probe<'_> = serde_json::from_slice(&probe_src).unwrap_or_default();
    if let (Some(who), Some(key)) = (who, probe.license_key.as_deref()) {
        who.set(crate::metrics::Who::key(key));
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        let mut res = ApiError::internal().into_response();
        res.extensions_mut().insert(crate::metrics::ClientApiError);
        return res;
    };
    let json = parts.headers.get(header::CONTENT_TYPE).is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    let bytes = if json || !parts.status.is_success() {
        if !json {
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        parts.headers.remove(header::CONTENT_LENGTH);
        bind(bytes, parts.status, &probe, request_sha256)
    } else {
        bytes
    };
    let key: Arc<licensd_core::signing::KeyPair> = s.key();
    if let (Ok(sig), Ok(kid)) = (HeaderValue::from_str(&key.sign_base64(&bytes)), HeaderValue::from_str(&key.key_id)) {
        parts.headers.insert(SIGNATURE_HEADER, sig);
        parts.headers.insert(KEY_ID_HEADER, kid);
    }
    if !parts.status.is_success() {
        parts.extensions.insert(crate::metrics::ClientApiError);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The client API as a surface: its routes and the error envelope's `404` and `405` for the paths and methods
/// it does not have, every answer signed by [`sign`] (which applies the client API's rate limits and deadline).
pub fn surface(state: &AppState) -> OpenApiRouter<AppState> {
    let (router, mut doc) = router().split_for_parts();
    crate::document_front_door(&mut doc);
    // Merged at full paths, not nested: the same answers for what it lacks (a catch-all route under the prefix and
    // a method fallback of its own, both inside the signing layer), without a second router level per request
    // (`nest` cost `check` about 10,000 instructions, 2%: docs/benchmarks.md, issue 13).
    let not_found = || async { ApiError::no_route() };
    let router = router
        .route(PREFIX, axum::routing::any(not_found))
        .route(&format!("{PREFIX}/{{*rest}}"), axum::routing::any(not_found))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), sign));
    let mut surface = OpenApiRouter::from(router);
    *surface.get_openapi_mut() = doc;
    surface
}

/// The routes of the client API (at their full paths, under [`PREFIX`]).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(activate))
        .routes(routes!(check))
        .routes(routes!(deactivate))
        .routes(routes!(consumption))
        .routes(routes!(borrow))
        .routes(routes!(trial))
        .routes(routes!(license_file))
        .routes(routes!(offline_activate))
        .routes(routes!(offline_deactivate))
        .routes(routes!(public_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(body: &str, status: StatusCode) -> Value {
        let probe = Probe { license_key: Some("K".into()), product: Some("p".into()), ..Probe::default() };
        serde_json::from_slice(&bind(Bytes::from(body.to_string()), status, &probe, Some("ab".into()))).unwrap()
    }

    #[test]
    fn successes_are_spliced_and_stay_one_json_object() {
        let want = json!({"status": 200, "request_sha256": "ab", "request": {"license_key": "K", "product": "p", "hardware_id": null}});
        assert_eq!(bound("{}", StatusCode::OK), want);
        assert_eq!(bound("{ }\n", StatusCode::OK), want);
        let v = bound("{\"valid\":true,\"nested\":{\"a\":[1]}} ", StatusCode::OK);
        assert_eq!(v["valid"], true);
        assert_eq!(v["nested"]["a"][0], 1);
        assert_eq!(v["request"]["license_key"], "K");
    }

    #[test]
    fn errors_gain_a_code_a_timestamp_and_the_binding() {
        let v = bound(r#"{"errors":[{"code":"NOPE"}]}"#, StatusCode::NOT_FOUND);
        assert_eq!((v["code"].as_str(), v["status"].as_u64()), (Some("NOPE"), Some(404)));
        assert!(v["timestamp"].as_i64().is_some());
        let v = bound("not json", StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(v["code"], "HTTP_405");
    }
}
