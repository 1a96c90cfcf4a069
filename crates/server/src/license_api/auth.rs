//! Who is calling the License API: an application signing with an API key and its shared key (HMAC-SHA256
//! over the `Date` header, as LicenseSpring's SDKs sign), or one holding an OAuth access token (client
//! credentials). Refusals use LicenseSpring's codes (docs/licensespring.md, "Authentication").

use std::sync::Arc;

use aws_lc_rs::hmac;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use licensd_core::time::now_ms;
use licensd_store::credentials::Secret;

use super::LsError;
use crate::AppState;

/// How far a request's `Date` may be from the server's clock, either way (LicenseSpring: 15 minutes).
pub const DATE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The application a request is from, as its credentials say.
#[derive(Clone)]
pub struct Caller {
    /// The products it answers for; `None`: every product.
    products: Option<Arc<[String]>>,
    /// What HMACs its offline request files: the API key's shared key, or the OAuth client's secret.
    pub file_key: Arc<FileKey>,
}

/// The key an application's offline request files are signed with.
pub enum FileKey {
    Shared(Secret),
    /// An OAuth client: its secret is read when a file comes (`oauth::oauth_client`).
    Client(String),
}

impl Caller {
    /// Refuses a product the key (or client) was not made for.
    pub fn allow(&self, product: &str) -> Result<(), LsError> {
        match &self.products {
            Some(p) if !p.iter().any(|c| c == product) => Err(LsError::bad(
                "api_key_product_not_allowed",
                format!("this API key may not be used for the product {product:?}"),
            )),
            _ => Ok(()),
        }
    }
}

fn products(all: bool, products: Vec<String>) -> Option<Arc<[String]>> {
    (!all).then(|| products.into())
}

/// The `Authorization` header's parameters (`algorithm="hmac-sha256",headers="date",signature="…",apiKey="…"`):
/// names in any case and order, spaces around `,` and `=` allowed, values quoted or not.
fn hmac_params(v: &str) -> Option<[Option<&str>; 4]> {
    let mut out = [None; 4];
    for part in v.split(',') {
        let (name, value) = part.split_once('=')?;
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        let at = match name.trim().to_ascii_lowercase().as_str() {
            "algorithm" => 0,
            "headers" => 1,
            "signature" => 2,
            "apikey" => 3,
            _ => continue,
        };
        out[at] = Some(value);
    }
    Some(out)
}

/// The `Date` header as UNIX ms (RFC 7231's IMF-fixdate, which is RFC 2822's form in GMT).
fn date_ms(headers: &HeaderMap) -> Result<(i64, &str), LsError> {
    let Some(v) = headers.get(header::DATE) else {
        return Err(LsError::bad("missing_headers", "the Date header is required (it is what the request signs)"));
    };
    let v = v.to_str().map_err(|_| LsError::bad("date_header_diff", "the Date header is not text"))?;
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).map_err(|_| {
        LsError::bad("date_header_diff", "the Date header is not a date like \"Tue, 01 Dec 2026 18:54:27 GMT\"")
    })?;
    Ok((i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX), v))
}

/// The signature an application sends for this `Date` with this shared key: base64 HMAC-SHA256 of
/// `licenseSpring\ndate: <Date>`.
pub fn request_signature(shared_key: &[u8], date: &str) -> String {
    use base64::Engine;
    let key = hmac::Key::new(hmac::HMAC_SHA256, shared_key);
    let tag = hmac::sign(&key, format!("licenseSpring\ndate: {date}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

async fn authenticate(s: &AppState, headers: &HeaderMap) -> Result<Caller, LsError> {
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Err(LsError::bad("missing_headers", "the Authorization header is required"));
    };
    let auth = auth.to_str().map_err(|_| LsError::bad("authorization_invalid_headers", "Authorization is not text"))?;
    if let Some(token) = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")) {
        let client = licensd_store::oauth::oauth_token(&s.db, token.trim()).await?;
        let Some(client) = client else {
            return Err(LsError::unauthorized(
                "oauth_token_expired",
                "the access token is unknown, expired or revoked: ask the token endpoint for a new one",
            ));
        };
        return Ok(Caller {
            products: products(client.all_products, client.products),
            file_key: Arc::new(FileKey::Client(client.client_id)),
        });
    }
    let Some([algorithm, signed_headers, signature, api_key]) = hmac_params(auth) else {
        return Err(LsError::bad("authorization_missing_params", "Authorization is not a list of name=\"value\""));
    };
    let (Some(algorithm), Some(signed_headers), Some(signature), Some(api_key)) =
        (algorithm, signed_headers, signature, api_key)
    else {
        return Err(LsError::bad(
            "authorization_missing_params",
            "Authorization needs algorithm, headers, signature and apiKey",
        ));
    };
    if !algorithm.eq_ignore_ascii_case("hmac-sha256") {
        return Err(LsError::bad("hmac_required", "the algorithm must be hmac-sha256"));
    }
    if !signed_headers.eq_ignore_ascii_case("date") {
        return Err(LsError::bad("authorization_invalid_headers", "the signed headers must be \"date\""));
    }
    let (at, date) = date_ms(headers)?;
    if (at - now_ms()).abs() > DATE_WINDOW_MS {
        return Err(LsError::bad(
            "date_header_diff",
            "the Date header is more than 15 minutes from the server's clock: check the device's clock",
        ));
    }
    if api_key.is_empty() || api_key.len() > 128 {
        return Err(LsError::bad("invalid_api_key", "no API key has this value"));
    }
    let Some((key, shared)) = licensd_store::api_keys::lookup(&s.db, api_key, s.secret()).await? else {
        // A revoked key says so (one more read, only on this path).
        return Err(match licensd_store::api_keys::id_of(&s.db, api_key).await {
            Ok(_) => LsError::bad("revoked_api_key", "this API key was revoked"),
            Err(_) => LsError::bad("invalid_api_key", "no API key has this value"),
        });
    };
    let hkey = hmac::Key::new(hmac::HMAC_SHA256, shared.expose());
    let sent = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(signature).unwrap_or_default()
    };
    if hmac::verify(&hkey, format!("licenseSpring\ndate: {date}").as_bytes(), &sent).is_err() {
        return Err(LsError::unauthorized(
            "signature_mismatch",
            "the request signature does not match: check the shared key the application is configured with",
        ));
    }
    Ok(Caller { products: products(key.all_products, key.products), file_key: Arc::new(FileKey::Shared(shared)) })
}

/// Middleware of every License API path but `oauth_url` and the token endpoint: the caller, as an extension.
pub async fn require(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    match authenticate(&s, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The path of the token endpoint (client credentials).
pub const TOKEN_PATH: &str = "/api/v4/oauth/token";

/// How long an access token lives (LicenseSpring's own live 480 seconds; the SDKs renew a token shortly before
/// `expires_in` ends, so a longer life only means fewer renewals).
pub const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// `GET oauth_url`: where to get an access token (what the Python SDK asks before its first request): the
/// token endpoint on this server, at its public URL (`--public-url`) or the request's own origin.
pub async fn oauth_url(State(s): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    match s.http.link_origin(&parts) {
        Ok(origin) => super::signed(&s, &serde_json::json!({"url": format!("{origin}{TOKEN_PATH}")})),
        Err(e) => LsError::from(e).into_response(),
    }
}

/// An OAuth error of the token endpoint, as RFC 6749 §5.2 writes it (`{error, error_description}`).
fn oauth_error(status: axum::http::StatusCode, error: &'static str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut res = (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
    res.extensions_mut().insert(super::Shaped);
    res
}

/// `POST oauth/token`: an access token for an OAuth client's credentials (`grant_type=client_credentials`,
/// `client_id`, `client_secret` in the form, or the id and secret as HTTP Basic credentials).
pub async fn token(State(s): State<AppState>, req: Request) -> Response {
    use axum::http::StatusCode;
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (id, secret) = text.split_once(':')?;
            Some((id.to_string(), secret.to_string()))
        });
    let body = match crate::extract::read_body(req).await {
        Ok(b) => b,
        Err(e) => return oauth_error(e.status, "invalid_request", &e.error.detail),
    };
    let Ok(pairs) = crate::extract::form_pairs(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the form is not UTF-8");
    };
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if field("grant_type").as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type must be client_credentials");
    }
    let (Some(id), Some(secret)) = (
        field("client_id").or_else(|| basic.as_ref().map(|b| b.0.clone())),
        field("client_secret").or_else(|| basic.as_ref().map(|b| b.1.clone())),
    ) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "client_id and client_secret are required");
    };
    if id.len() > 128 || secret.len() > 256 {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
    }
    let client = match licensd_store::oauth::authenticate(&s.db, &id, &secret, s.secret()).await {
        Ok(Some(c)) => c,
        Ok(None) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret"),
        Err(e) => return LsError::from(e).into_response(),
    };
    match licensd_store::oauth::issue_oauth_token(&s.db, &client, TOKEN_TTL).await {
        Ok((token, expires_in)) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "access_token": token,
                "expires_in": expires_in,
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "profile email",
            })),
        )
            .into_response(),
        Err(licensd_store::StoreError::NotFound) => {
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "the client was revoked")
        }
        Err(e) => LsError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_in_both_sdks_spellings() {
        let py = r#"algorithm="hmac-sha256",headers="date",signature="c2ln+/==",apiKey="k-1""#;
        assert_eq!(hmac_params(py), Some([Some("hmac-sha256"), Some("date"), Some("c2ln+/=="), Some("k-1")]));
        let node = r#"algorithm="hmac-sha256", headers="date", signature="x", apikey="k""#;
        assert_eq!(hmac_params(node).unwrap()[3], Some("k"));
        assert_eq!(hmac_params("garbage"), None);
    }

    #[test]
    fn the_signature_is_the_sdks() {
        // Python: base64.b64encode(hmac.new(b"shared", b"licenseSpring\ndate: Tue, 01 Dec 2026 18:54:27 GMT",
        // hashlib.sha256).digest())
        assert_eq!(
            request_signature(b"shared", "Tue, 01 Dec 2026 18:54:27 GMT"),
            "TnPP7fNSFge4Cl3IzVZz8c6vks/f3Wd5R3Hq0/aHqjQ="
        );
    }

    #[test]
    fn dates_as_both_sdks_write_them() {
        let mut h = HeaderMap::new();
        h.insert(header::DATE, "Tue, 01 Dec 2026 18:54:27 GMT".parse().unwrap());
        assert_eq!(date_ms(&h).unwrap().0, 1_796_151_267_000);
    }
}
