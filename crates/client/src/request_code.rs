//! Air-gapped machines: request codes carried to a connected machine.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::types::unix_secs;
use crate::{Error, LicenseRequest};

/// What a request code asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// Activate the license on the air-gapped machine; the answer is a license file
    /// (`POST offline-activate`).
    Activate,
    /// Free the air-gapped machine's activation (`POST offline-deactivate`).
    Deactivate,
}

/// The content of a request code: `{"v": 1, "type", "license_key", "product", "hardware_id",
/// "hostname", "os", "app_version", "issued_at"}`, written as base64url (no padding) of that JSON.
///
/// An air-gapped machine writes one with [`offline_request_code`]; the user carries it to a connected
/// machine, where [`Client::offline_activate`](crate::Client::offline_activate) (or the vendor's
/// `licensd license offline-activate`) turns it into a license file to carry back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestCode {
    /// The format version, `1`.
    pub v: u32,
    /// `activate` or `deactivate`.
    #[serde(rename = "type")]
    pub kind: RequestKind,
    /// The license key.
    pub license_key: String,
    /// The product's short code.
    pub product: String,
    /// The air-gapped machine's fingerprint.
    pub hardware_id: String,
    /// Recorded on the device, if given.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Recorded on the device, if given.
    #[serde(default)]
    pub os: Option<String>,
    /// Recorded on the device, if given.
    #[serde(default)]
    pub app_version: Option<String>,
    /// When the code was written, UNIX seconds.
    pub issued_at: i64,
}

impl RequestCode {
    /// The request code for `request`, written at `issued_at`.
    pub fn new(request: &LicenseRequest, kind: RequestKind, issued_at: SystemTime) -> RequestCode {
        RequestCode {
            v: 1,
            kind,
            license_key: request.license_key.clone(),
            product: request.product.clone(),
            hardware_id: request.hardware_id.clone(),
            hostname: request.hostname.clone(),
            os: request.os.clone(),
            app_version: request.app_version.clone(),
            issued_at: unix_secs(issued_at),
        }
    }

    /// The code as text: base64url, no padding, of the JSON.
    pub fn encode(&self) -> String {
        // Serializing strings and integers cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a code written by [`RequestCode::encode`] (surrounding whitespace and `=` padding are
    /// tolerated).
    pub fn decode(code: &str) -> Result<RequestCode, Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(code.trim().trim_end_matches('='))
            .map_err(|_| Error::Malformed("the request code is not base64url".into()))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Malformed(format!("the request code does not decode: {e}")))
    }
}

/// Writes the request code an air-gapped machine shows its user (issued now): base64url (no
/// padding) of `{"v": 1, "type": "activate" | "deactivate", "license_key", "product", "hardware_id",
/// "hostname", "os", "app_version", "issued_at"}`. No network is used.
///
/// ```
/// use licensd_client::{LicenseRequest, RequestKind, offline_request_code};
/// let req = LicenseRequest::new("ABCD-EFGH", "air-gapped-box", "myapp");
/// let code = offline_request_code(&req, RequestKind::Activate);
/// assert!(!code.contains('=') && !code.contains('+') && !code.contains('/'));
/// ```
pub fn offline_request_code(request: &LicenseRequest, kind: RequestKind) -> String {
    RequestCode::new(request, kind, SystemTime::now()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::unix_time;
    use serde_json::{Value, json};

    #[test]
    fn a_code_is_base64url_of_the_documented_json() {
        let req = LicenseRequest::new("KEY-1", "hw/+?", "app").hostname("box").os("linux").app_version("1.0");
        let code = RequestCode::new(&req, RequestKind::Activate, unix_time(1_764_048_000)).encode();
        let json = URL_SAFE_NO_PAD.decode(&code).unwrap();
        // The fields in the documented order.
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"v":1,"type":"activate","license_key":"KEY-1","product":"app","hardware_id":"hw/+?","hostname":"box","os":"linux","app_version":"1.0","issued_at":1764048000}"#
        );
        assert_eq!(RequestCode::decode(&code).unwrap(), RequestCode::decode(&format!(" {code}==\n")).unwrap());
        let back = RequestCode::decode(&code).unwrap();
        assert_eq!(
            (back.kind, back.hardware_id.as_str(), back.issued_at),
            (RequestKind::Activate, "hw/+?", 1_764_048_000)
        );
    }

    #[test]
    fn absent_options_are_null_and_issued_at_is_now() {
        let req = LicenseRequest::new("K", "hw", "p");
        let code = offline_request_code(&req, RequestKind::Deactivate);
        let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&code).unwrap()).unwrap();
        let now = unix_secs(SystemTime::now());
        let issued = v["issued_at"].as_i64().unwrap();
        assert!((now - 5..=now).contains(&issued));
        assert_eq!(
            v,
            json!({"v": 1, "type": "deactivate", "license_key": "K", "product": "p", "hardware_id": "hw",
                   "hostname": null, "os": null, "app_version": null, "issued_at": issued})
        );
    }

    #[test]
    fn garbage_codes_are_malformed() {
        for c in ["", "!!!", &URL_SAFE_NO_PAD.encode("{}"), &URL_SAFE_NO_PAD.encode(r#"{"v":1,"type":"x"}"#)] {
            assert!(matches!(RequestCode::decode(c), Err(Error::Malformed(_))), "{c}");
        }
    }
}
