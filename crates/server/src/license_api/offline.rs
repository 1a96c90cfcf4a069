//! Offline activation and deactivation as LicenseSpring's SDKs do them (docs/licensespring.md, "Offline"):
//! the application writes a request file (base64 of `{"request": R, "signature": S}`, `S` an HMAC of the
//! text of `R` with its shared key), someone carries it to a connected machine that posts it here, and the
//! answer (activation) goes back as the `.lic` file the SDK loads.
//!
//! A request file may be posted long after it was written, so the `date` inside it is not held to the
//! 15-minute window of the request's own `Date`. Activation is the same activation as online, limits
//! included; deactivation frees the slot at once, as LicenseSpring does (the SDK marks its local license
//! inactive before it writes the file).

use aws_lc_rs::hmac;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use base64::Engine;
use licensd_store::StoreError;
use licensd_store::client_api as transactions;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::auth::{Caller, FileKey};
use super::{Args, LsError, LsResult, identity, license, refused, signed, text, v1_signature};
use crate::AppState;

/// A request file's envelope; `request` kept as its exact text, which is what `signature` covers.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    request: &'a RawValue,
    signature: String,
}

/// What a request file's body holds once its envelope is checked.
struct RequestFile {
    args: Args,
    request_id: Option<String>,
}

/// The keys a file of this kind may be HMAC'd with: the shared key (API keys), the client secret (OAuth);
/// the Python SDK HMACs its OAuth deactivation files with the client id (a defect of the SDK, accepted).
async fn file_keys(s: &AppState, caller: &Caller, deactivation: bool) -> Result<Vec<Vec<u8>>, LsError> {
    Ok(match caller.file_key.as_ref() {
        FileKey::Shared(k) => vec![k.expose().to_vec()],
        FileKey::Client(id) => {
            let mut keys = Vec::new();
            if let Some((_, secret)) = licensd_store::oauth::oauth_client(&s.db, id, s.secret()).await? {
                keys.push(secret.expose().to_vec());
            }
            if deactivation {
                keys.push(id.as_bytes().to_vec());
            }
            keys
        }
    })
}

async fn read_file(s: &AppState, caller: &Caller, body: &[u8], kind: &str) -> Result<RequestFile, LsError> {
    let body = std::str::from_utf8(body).map_err(|_| LsError::bad("invalid_json", "the request file is not text"))?;
    let compact: String = body.split_ascii_whitespace().collect();
    if compact.is_empty() {
        return Err(LsError::bad("missing_content", "the body must be the content of an offline request file"));
    }
    let bad = |why: &str| LsError::bad("invalid_offline_request", why.to_string());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| bad("the request file is not base64"))?;
    let envelope: Envelope<'_> =
        serde_json::from_slice(&raw).map_err(|_| bad("the request file does not hold {\"request\", \"signature\"}"))?;
    let sent = base64::engine::general_purpose::STANDARD.decode(envelope.signature.trim()).unwrap_or_default();
    let text = envelope.request.get().as_bytes();
    let keys = file_keys(s, caller, kind == "deactivation").await?;
    if !keys.iter().any(|k| hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, k), text, &sent).is_ok()) {
        return Err(LsError::unauthorized(
            "signature_mismatch",
            "the request file's signature does not match the key this request is authenticated with",
        ));
    }
    let map: Map<String, Value> =
        serde_json::from_str(envelope.request.get()).map_err(|_| bad("the request is not a JSON object"))?;
    if map.get("request").and_then(Value::as_str) != Some(kind) {
        return Err(bad(&format!("this is not an {kind} request file")));
    }
    let request_id = map.get("request_id").and_then(Value::as_str).map(str::to_string);
    Ok(RequestFile { args: Args(map), request_id })
}

/// `POST activate_offline`: the `.lic` answer for an activation request file: the license object with the
/// file's `hardware_id` and `request_id`, `license_signature` (v1) and `license_signature_v2` over the answer
/// without either signature, and `offline_signature` (Node's check of the `date`).
pub async fn activate_offline(State(s): State<AppState>, Extension(c): Extension<Caller>, body: Bytes) -> LsResult {
    let file = read_file(&s, &c, &body, "activation").await?;
    let id = identity(&s, &c, &file.args, super::Login::Password).await?;
    let o = transactions::activate(&s.db, &id.req).await.map_err(|e| {
        if let StoreError::Refused(r) = &e {
            s.metrics.activation(r.code());
        }
        refused(e)
    })?;
    id.matches(&o)?;
    s.metrics.activation(if o.created {
        crate::metrics::codes::ACTIVATED
    } else {
        crate::metrics::codes::ALREADY_ACTIVE
    });
    let p = super::product_row(&s, &id.req.product).await?;
    let mut v = license::object(&o, &p, true);
    let date = httpdate(licensd_core::time::now_ms());
    let api_key = file.args.opt_str("api_key")?.or(file.args.opt_str("client_id")?).unwrap_or_default();
    let offline_signature = match file_keys(&s, &c, false).await?.first() {
        Some(k) => {
            let msg = format!("licenseSpring\ndate: {date}\n{}\n{}\n{api_key}", id.req.license_key, id.req.hardware_id);
            base64::engine::general_purpose::STANDARD
                .encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k), msg.as_bytes()).as_ref())
        }
        None => String::new(),
    };
    if let Some(m) = v.as_object_mut() {
        m.insert("hardware_id".into(), Value::String(id.req.hardware_id.clone()));
        m.insert("request_id".into(), file.request_id.map_or(Value::Null, Value::String));
        m.insert("date".into(), Value::String(date));
        m.insert("offline_signature".into(), Value::String(offline_signature));
        m.insert("variables".into(), Value::Array(Vec::new()));
    }
    let v2 = s.license_api.body(&s, &licensd_core::js_json::to_vec(&v));
    let v1 = v1_signature(&s, &id.req.hardware_id, id.signed_identity(), o.expires_at);
    if let Some(m) = v.as_object_mut() {
        m.insert("license_signature".into(), Value::String(v1.to_string()));
        m.insert("license_signature_v2".into(), Value::String(v2.to_string()));
    }
    Ok(signed(&s, &v))
}

/// `POST deactivate_offline`: frees the slot a deactivation request file names (the text
/// `license_deactivated`).
pub async fn deactivate_offline(State(s): State<AppState>, Extension(c): Extension<Caller>, body: Bytes) -> LsResult {
    let file = read_file(&s, &c, &body, "deactivation").await?;
    let id = identity(&s, &c, &file.args, super::Login::Name).await?;
    let o = transactions::deactivate(&s.db, &id.req).await.map_err(|e| {
        if let StoreError::Refused(r) = &e {
            s.metrics.deactivation(r.code());
        }
        refused(e)
    })?;
    id.matches(&o)?;
    s.metrics.deactivation(crate::metrics::codes::DEACTIVATED);
    Ok(text("license_deactivated"))
}

/// `Tue, 01 Dec 2026 18:54:27 GMT` (RFC 7231's IMF-fixdate).
pub fn httpdate(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(super::httpdate(1_796_151_267_000), "Tue, 01 Dec 2026 18:54:27 GMT");
    }
}
