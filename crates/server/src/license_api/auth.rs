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
