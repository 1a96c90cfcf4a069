//! What the application sends and what the server answers.
//!
//! Response types decode leniently, for forward compatibility: unknown fields are ignored, and a
//! missing (or `null`) field takes its default, so an SDK keeps working against a newer server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

/// Decodes a field that may be `null` as its default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// UNIX seconds as a [`SystemTime`] (times before 1970 clamp to the epoch).
pub(crate) fn unix_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// A [`SystemTime`] as UNIX seconds (times before 1970 clamp to 0).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Who is asking: the fields every license call carries (`activate`, `check`, `deactivate`,
/// `consumption`, `license-file`, `borrow`) and that an air-gapped request code holds.
///
/// The SDK adds a fresh random `nonce` to each call itself.
///
/// ```
/// let req = licensd_client::LicenseRequest::new("ABCD-EFGH-IJKL-MNOP", "machine-fingerprint", "myapp")
///     .hostname("build-box")
///     .os(std::env::consts::OS)
///     .app_version("2.1.0");
/// assert_eq!(req.product, "myapp");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRequest {
    /// The license key the customer typed.
    pub license_key: String,
    /// This machine's fingerprint, 1–256 characters. The application decides how to compute it; it
    /// must be stable across runs.
    pub hardware_id: String,
    /// The product's short code.
    pub product: String,
    /// Recorded on the device, optional (at most 255 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hostname: Option<String>,
    /// Recorded on the device, optional (at most 255 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub os: Option<String>,
    /// Recorded on the device, optional (at most 255 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app_version: Option<String>,
}

impl LicenseRequest {
    /// A request for `license_key` on the machine `hardware_id`, for the product `product` (its short
    /// code).
    pub fn new(license_key: impl Into<String>, hardware_id: impl Into<String>, product: impl Into<String>) -> Self {
        LicenseRequest {
            license_key: license_key.into(),
            hardware_id: hardware_id.into(),
            product: product.into(),
            ..Default::default()
        }
    }

    /// Sets the host name recorded on the device.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets the operating system recorded on the device.
    pub fn os(mut self, os: impl Into<String>) -> Self {
        self.os = Some(os.into());
        self
    }

    /// Sets the application version recorded on the device.
    pub fn app_version(mut self, app_version: impl Into<String>) -> Self {
        self.app_version = Some(app_version.into());
        self
    }
}

/// A feature of a license (the `features` entries of the license object and of license files).
///
/// License files carry only `code`, `feature_type` and `max_consumption`; the other fields are then
/// their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Feature {
    /// The feature's code, e.g. `export-pdf`.
    #[serde(deserialize_with = "nullable")]
    pub code: String,
    /// Its display name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// `activation` or `consumption`.
    #[serde(deserialize_with = "nullable")]
    pub feature_type: String,
    /// For consumption features: how many uses are included.
    #[serde(deserialize_with = "nullable")]
    pub max_consumption: i64,
    /// For consumption features: how many uses were recorded.
    #[serde(deserialize_with = "nullable")]
    pub total_consumptions: i64,
    /// Whether consumption may go past `max_consumption`.
    #[serde(deserialize_with = "nullable")]
    pub allow_overages: bool,
    /// How far past `max_consumption` consumption may go.
    #[serde(deserialize_with = "nullable")]
    pub max_overages: i64,
    /// When the feature stops being granted (`YYYY-MM-DD`), if ever.
    pub expiry_date: Option<String>,
}

/// The license object, as the application sees it (no customer data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct License {
    /// The license key.
    #[serde(deserialize_with = "nullable")]
    pub license_key: String,
    /// The product's short code.
    #[serde(deserialize_with = "nullable")]
    pub product: String,
    /// `inactive`, `active`, `expired`, `disabled` or `refunded`.
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    /// `false` when the vendor disabled the license.
    #[serde(deserialize_with = "nullable")]
    pub enabled: bool,
    /// The license type, e.g. `perpetual`, `time-limited`, `subscription`.
    #[serde(deserialize_with = "nullable")]
    pub license_type: String,
    /// `true` for a trial license.
    #[serde(deserialize_with = "nullable")]
    pub is_trial: bool,
    /// `YYYY-MM-DD` the license is valid until, if limited.
    pub validity_period: Option<String>,
    /// UNIX seconds the license expires at, if limited.
    pub expires_at: Option<i64>,
    /// The end of the maintenance period, if any.
    pub maintenance_period: Option<String>,
    /// How many devices may hold an activation; `None` is unlimited.
    pub max_activations: Option<i64>,
    /// How many devices hold an activation.
    #[serde(deserialize_with = "nullable")]
    pub times_activated: i64,
    /// `true` for a floating (concurrent-seat) license.
    #[serde(deserialize_with = "nullable")]
    pub is_floating_cloud: bool,
    /// Floating: how many seats may be leased at once.
    #[serde(deserialize_with = "nullable")]
    pub floating_users: i64,
    /// Floating: how many minutes a seat lease lasts after the last `activate`/`check`.
    #[serde(deserialize_with = "nullable")]
    pub floating_timeout: i64,
    /// Floating: whether a seat may be borrowed for offline use.
    #[serde(deserialize_with = "nullable")]
    pub can_borrow: bool,
    /// Floating: the longest borrow, in hours.
    #[serde(deserialize_with = "nullable")]
    pub max_borrow_time: i64,
    /// How many times the license may move to another device (`0`: unlimited).
    #[serde(deserialize_with = "nullable")]
    pub max_transfers: i64,
    /// How many times it moved.
    #[serde(deserialize_with = "nullable")]
    pub transfer_count: i64,
    /// How many consumptions the license includes.
    #[serde(deserialize_with = "nullable")]
    pub max_consumptions: i64,
    /// How many consumptions were recorded.
    #[serde(deserialize_with = "nullable")]
    pub total_consumptions: i64,
    /// Whether consumption may go past `max_consumptions`.
    #[serde(deserialize_with = "nullable")]
    pub allow_overages: bool,
    /// How far past `max_consumptions` consumption may go.
    #[serde(deserialize_with = "nullable")]
    pub max_overages: i64,
    /// The features the license grants.
    #[serde(deserialize_with = "nullable")]
    pub features: Vec<Feature>,
    /// The vendor's metadata (any JSON).
    pub metadata: serde_json::Value,
}

impl License {
    /// The feature with this code, if the license grants it.
    pub fn feature(&self, code: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.code == code)
    }

    /// [`License::expires_at`] as a [`SystemTime`].
    pub fn expires_at_time(&self) -> Option<SystemTime> {
        self.expires_at.map(unix_time)
    }
}

/// The device object: one machine's activation of a license. Times are UNIX seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Device {
    /// The server's id for the activation.
    #[serde(deserialize_with = "nullable")]
    pub id: i64,
    /// The machine's fingerprint.
    #[serde(deserialize_with = "nullable")]
    pub hardware_id: String,
    /// As the application reported it.
    #[serde(deserialize_with = "nullable")]
    pub hostname: String,
    /// As the application reported it.
    #[serde(deserialize_with = "nullable")]
    pub os: String,
    /// As the application reported it.
    #[serde(deserialize_with = "nullable")]
    pub app_version: String,
    /// When the device was activated.
    #[serde(deserialize_with = "nullable")]
    pub time_activated: i64,
    /// When the device last checked, if ever.
    pub last_check: Option<i64>,
    /// Floating: when the seat lease ends unless renewed.
    pub lease_expires_at: Option<i64>,
    /// Floating: when a borrowed seat returns.
    pub borrowed_until: Option<i64>,
}

/// The answer to `activate`, `deactivate`, `trial` and `offline_deactivate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LicenseResponse {
    /// `ACTIVATED`, `DEACTIVATED` or `TRIAL`.
    #[serde(deserialize_with = "nullable")]
    pub code: String,
    /// The license after the call.
    #[serde(deserialize_with = "nullable")]
    pub license: License,
    /// This machine's device after the call.
    pub device: Option<Device>,
    /// The server's clock, UNIX seconds.
    #[serde(deserialize_with = "nullable")]
    pub timestamp: i64,
    /// `true` when the call created something (HTTP `201`: a new activation, seat or trial);
    /// `false` when the device was already active.
    #[serde(skip)]
    pub created: bool,
}

/// The server's verdict on `check`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CheckResult {
    /// `true` only when `code` is `VALID`.
    #[serde(deserialize_with = "nullable")]
    pub valid: bool,
    /// `VALID`, `NOT_FOUND`, `PRODUCT_MISMATCH`, `DISABLED`, `REFUNDED`, `EXPIRED`, `NOT_ACTIVATED`
    /// or `NO_SEAT`.
    #[serde(deserialize_with = "nullable")]
    pub code: String,
    /// A human-readable explanation.
    #[serde(deserialize_with = "nullable")]
    pub detail: String,
    /// The license, when the key names one.
    pub license: Option<License>,
    /// This machine's device, when it holds an activation.
    pub device: Option<Device>,
    /// The server's clock, UNIX seconds.
    #[serde(deserialize_with = "nullable")]
    pub timestamp: i64,
}

/// The answer to `consumption`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ConsumptionResult {
    /// `CONSUMED`.
    #[serde(deserialize_with = "nullable")]
    pub code: String,
    /// The license after the call (its counters included).
    #[serde(deserialize_with = "nullable")]
    pub license: License,
    /// The feature consumed, when the call named one.
    pub feature: Option<Feature>,
    /// The server's clock, UNIX seconds.
    #[serde(deserialize_with = "nullable")]
    pub timestamp: i64,
}

/// The answer to `borrow`: the seat is held offline, with a license file for that time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BorrowResult {
    /// `BORROWED`.
    #[serde(deserialize_with = "nullable")]
    pub code: String,
    /// The license.
    #[serde(deserialize_with = "nullable")]
    pub license: License,
    /// This machine's device; `borrowed_until` says until when the seat is held.
    pub device: Option<Device>,
    /// The signed license file, valid until the borrow ends (verify it with
    /// [`LicenseFile::verify`](crate::LicenseFile::verify)).
    #[serde(deserialize_with = "nullable")]
    pub license_file: String,
    /// The server's clock, UNIX seconds.
    #[serde(deserialize_with = "nullable")]
    pub timestamp: i64,
}

/// The answer to `public-key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PublicKeyInfo {
    /// `ed25519`.
    #[serde(deserialize_with = "nullable")]
    pub alg: String,
    /// The key's id, as in `Licensd-Key-Id` and license files' `kid`.
    #[serde(deserialize_with = "nullable")]
    pub key_id: String,
    /// Base64 of the 32 public-key bytes.
    #[serde(deserialize_with = "nullable")]
    pub public_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_decode_leniently() {
        let body = r#"{"code":"ACTIVATED","nonce":"n","timestamp":5,"something_new":[1,2],
            "license":{"license_key":"K","product":"p","status":"active","max_activations":null,
                       "floating_timeout":null,"features":[{"code":"f","feature_type":"activation","extra":1}]},
            "device":{"id":3,"hardware_id":"hw","hostname":"h","last_check":null}}"#;
        let r: LicenseResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.code, "ACTIVATED");
        assert_eq!(r.license.license_key, "K");
        assert_eq!(r.license.max_activations, None);
        assert_eq!(r.license.floating_timeout, 0);
        assert_eq!(r.license.feature("f").map(|f| f.feature_type.as_str()), Some("activation"));
        assert_eq!(r.device.as_ref().map(|d| d.id), Some(3));
        assert_eq!(r.timestamp, 5);
        let c: CheckResult = serde_json::from_str(r#"{"valid":false,"code":"NOT_FOUND","detail":"no"}"#).unwrap();
        assert!(!c.valid && c.license.is_none());
    }

    #[test]
    fn requests_serialize_without_absent_options() {
        let r = LicenseRequest::new("K", "hw", "p").os("linux");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v, serde_json::json!({"license_key":"K","hardware_id":"hw","product":"p","os":"linux"}));
    }

    #[test]
    fn unix_times_convert_both_ways() {
        assert_eq!(unix_secs(unix_time(1_764_048_000)), 1_764_048_000);
        assert_eq!(unix_time(-5), UNIX_EPOCH);
    }
}
