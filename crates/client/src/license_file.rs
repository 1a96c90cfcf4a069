//! Offline license files: verified with no network.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::types::{Feature, License, unix_time};
use crate::{ClockGuard, Error, KeySet};

/// The first line of a license file.
pub const FILE_BEGIN: &str = "-----BEGIN LICENSE FILE-----";
/// The last line of a license file.
pub const FILE_END: &str = "-----END LICENSE FILE-----";

/// How far the clock may be behind a file's `issued_at` (or the last time seen) before it counts as
/// set back.
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The armour's content: `{"enc", "sig", "alg", "kid"}`.
#[derive(Deserialize)]
struct Envelope {
    enc: String,
    sig: String,
    alg: String,
    kid: Option<String>,
}

/// The signed payload. Unknown fields are ignored; the fields verification relies on are required.
#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    license_key: String,
    #[serde(default)]
    product: String,
    hardware_id: Option<String>,
    #[serde(default)]
    is_trial: Option<bool>,
    #[serde(default)]
    features: Option<Vec<Feature>>,
    issued_at: i64,
    expires_at: i64,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    license: Option<License>,
}

/// A license file whose signature, product, device, expiry and clock were verified.
///
/// A license file is what an application keeps to run with no network: the server signs it for one
/// device (`POST license-file`, `borrow`, or `offline-activate` for an air-gapped machine), and the
/// application verifies it locally with the server's public key:
///
/// ```text
/// -----BEGIN LICENSE FILE-----
/// <base64 of {"enc": base64(payload JSON), "sig": base64(Ed25519 signature of enc's bytes),
///             "alg": "ed25519", "kid": key id}, wrapped at 64 columns>
/// -----END LICENSE FILE-----
/// ```
///
/// Verification, in order: the signature with the trusted key `kid` names ([`Error::BadSignature`]),
/// the payload's `product` against the application's product ([`Error::WrongProduct`]: one licensd
/// server signs the files of every product of the vendor, so a file of another product, a free trial
/// say, must not unlock this one), the payload's `hardware_id` against this machine's
/// ([`Error::WrongDevice`]), a trial file where trials are refused ([`Error::Trial`], see
/// [`Verifier::refuse_trial`]), `expires_at` against the clock ([`Error::Expired`]), and a clock more than
/// five minutes behind `issued_at` or behind the latest time the application has seen
/// ([`Error::ClockSetBack`], see [`ClockGuard`]). Anything that does not parse is [`Error::Malformed`].
///
/// ```no_run
/// # fn main() -> Result<(), licensd_client::Error> {
/// let text = std::fs::read_to_string("license.lic").map_err(|e| licensd_client::Error::Malformed(e.to_string()))?;
/// let file = licensd_client::LicenseFile::verify(&text, "BASE64-PUBLIC-KEY=", "machine-fingerprint", "myapp")?;
/// if file.has_feature("export-pdf") { /* … */ }
/// # Ok(()) }
/// ```
///
/// Only [`LicenseFile::verify`] and its variants make one, so holding a `LicenseFile` means it
/// verified.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LicenseFile {
    /// The license key.
    pub license_key: String,
    /// The product's short code.
    pub product: String,
    /// The machine the file was issued for (equal to the verified hardware id).
    pub hardware_id: String,
    /// Whether the file carries a trial license (an application may refuse those offline:
    /// [`Verifier::refuse_trial`]).
    pub is_trial: bool,
    /// The features the license grants (`code`, `feature_type`, `max_consumption`).
    pub features: Vec<Feature>,
    /// When the server issued the file, UNIX seconds.
    pub issued_at: i64,
    /// When the file stops verifying, UNIX seconds.
    pub expires_at: i64,
    /// The id of the key that signed the file.
    pub key_id: String,
    /// The license object as it was when the file was issued.
    pub license: License,
}

/// Finds the armour and returns the base64 between its lines, whitespace removed.
fn unarmour(text: &str) -> Result<String, Error> {
    let start = text.find(FILE_BEGIN).ok_or_else(|| Error::Malformed(format!("no \"{FILE_BEGIN}\" line")))?;
    let rest = &text[start + FILE_BEGIN.len()..];
    let end = rest.find(FILE_END).ok_or_else(|| Error::Malformed(format!("no \"{FILE_END}\" line")))?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    if body.is_empty() {
        return Err(Error::Malformed("the license file is empty".into()));
    }
    Ok(body)
}

/// Verifies license files with every option: made by [`LicenseFile::verifier`].
///
/// ```no_run
/// # fn main() -> Result<(), licensd_client::Error> {
/// # let text = String::new();
/// use licensd_client::{ClockGuard, FileTimeStore, KeySet, LicenseFile};
/// let keys = KeySet::from_public_key("BASE64-PUBLIC-KEY=")?;
/// let file = LicenseFile::verifier(&keys)
///     .product("myapp")
///     .hardware_id("machine-fingerprint")
///     .refuse_trial()
///     .clock(ClockGuard::new(FileTimeStore::new("/var/lib/myapp/clock")))
///     .verify(&text)?;
/// # let _ = file; Ok(()) }
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct Verifier<'a> {
    keys: &'a KeySet,
    product: Option<String>,
    hardware_id: Option<String>,
    refuse_trial: bool,
    now: Option<SystemTime>,
    clock: Option<ClockGuard>,
    last_seen: Option<SystemTime>,
}

impl Verifier<'_> {
    /// The product (short code) the file must be for. Applications always set it.
    pub fn product(mut self, product: impl Into<String>) -> Self {
        self.product = Some(product.into());
        self
    }

    /// The machine the file must be for. Applications always set it.
    pub fn hardware_id(mut self, hardware_id: impl Into<String>) -> Self {
        self.hardware_id = Some(hardware_id.into());
        self
    }

    /// Refuses trial files ([`Error::Trial`]): for an application that runs trials online only.
    pub fn refuse_trial(mut self) -> Self {
        self.refuse_trial = true;
        self
    }

    /// Verifies at `now` instead of the system clock (the clock guard, if any, still applies).
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Checks the clock against this guard's latest time seen, and records this verification in it.
    pub fn clock(mut self, guard: ClockGuard) -> Self {
        self.clock = Some(guard);
        self
    }

    /// Also refuses a clock more than five minutes behind `last_seen` (a time the application kept).
    pub fn last_seen(mut self, last_seen: SystemTime) -> Self {
        self.last_seen = Some(last_seen);
        self
    }

    /// Verifies `text`.
    pub fn verify(&self, text: &str) -> Result<LicenseFile, Error> {
        let now = self.now.unwrap_or_else(SystemTime::now);
        let file = LicenseFile::verify_inner(
            text,
            self.keys,
            self.product.as_deref(),
            self.hardware_id.as_deref(),
            now,
            self.last_seen,
        )?;
        if self.refuse_trial && file.is_trial {
            return Err(Error::Trial);
        }
        if let Some(guard) = &self.clock {
            guard.check(now)?;
            guard.observe(now.max(file.issued_at_time()));
        }
        Ok(file)
    }
}

impl LicenseFile {
    /// Verifies `text` with the server's `public_key` (base64 of its 32 bytes) for this machine's
    /// `hardware_id` and the application's `product` (its short code), against the system clock and the
    /// default [`ClockGuard`] of the key (a small file in the user's data directory keeping the latest
    /// time seen, so a clock set back is refused even after the file's `issued_at`).
    pub fn verify(text: &str, public_key: &str, hardware_id: &str, product: &str) -> Result<LicenseFile, Error> {
        let keys = KeySet::from_public_key(public_key)?;
        let guard = ClockGuard::default_for(&crate::key_id(public_key)?);
        LicenseFile::verifier(&keys).product(product).hardware_id(hardware_id).clock(guard).verify(text)
    }

    /// As [`LicenseFile::verify`], at the time `now` instead of the system clock, and with no clock guard
    /// (for tests and tools; applications use [`LicenseFile::verify`] or a [`Verifier`] with a guard).
    pub fn verify_at(
        text: &str,
        public_key: &str,
        hardware_id: &str,
        product: &str,
        now: SystemTime,
    ) -> Result<LicenseFile, Error> {
        LicenseFile::verify_with(text, &KeySet::from_public_key(public_key)?, hardware_id, product, now, None)
    }

    /// Verifies `text` with any of the trusted `keys` (the one its `kid` names), for `hardware_id` and
    /// `product`, at the time `now`.
    ///
    /// `last_seen` is the latest time the application saw before (for example the time of its last
    /// successful verification, kept on disk): a `now` more than five minutes before it also means the
    /// clock was set back ([`Error::ClockSetBack`]). The application should then store
    /// `max(last_seen, now)`; a [`Verifier`] with a [`ClockGuard`] does that for it.
    pub fn verify_with(
        text: &str,
        keys: &KeySet,
        hardware_id: &str,
        product: &str,
        now: SystemTime,
        last_seen: Option<SystemTime>,
    ) -> Result<LicenseFile, Error> {
        Self::verify_inner(text, keys, Some(product), Some(hardware_id), now, last_seen)
    }

    /// A [`Verifier`] with the trusted `keys`, for every option: product, device, trials, time, clock
    /// guard. Without [`Verifier::product`] or [`Verifier::hardware_id`] it accepts any product or device
    /// (for vendors' tools that inspect a customer's file, like `licensd verify`).
    pub fn verifier(keys: &KeySet) -> Verifier<'_> {
        Verifier {
            keys,
            product: None,
            hardware_id: None,
            refuse_trial: false,
            now: None,
            clock: None,
            last_seen: None,
        }
    }

    /// Verifies signature, expiry and clock but not the device or the product: for vendors' tools that
    /// inspect a customer's file (`licensd verify`). Applications use [`LicenseFile::verify`], which binds
    /// the file to their product and machine.
    pub fn verify_any_device(text: &str, keys: &KeySet, now: SystemTime) -> Result<LicenseFile, Error> {
        Self::verify_inner(text, keys, None, None, now, None)
    }

    fn verify_inner(
        text: &str,
        keys: &KeySet,
        product: Option<&str>,
        hardware_id: Option<&str>,
        now: SystemTime,
        last_seen: Option<SystemTime>,
    ) -> Result<LicenseFile, Error> {
        let armoured = unarmour(text)?;
        let envelope = STANDARD
            .decode(armoured.as_bytes())
            .map_err(|_| Error::Malformed("the license file's body is not base64".into()))?;
        let envelope: Envelope = serde_json::from_slice(&envelope)
            .map_err(|e| Error::Malformed(format!("the license file's envelope is not the expected JSON: {e}")))?;
        if envelope.alg != "ed25519" {
            return Err(Error::Malformed(format!("unsupported signature algorithm \"{}\"", envelope.alg)));
        }
        let kid = envelope.kid.ok_or_else(|| Error::Malformed("the license file names no key (kid)".into()))?;
        keys.verify(&kid, envelope.enc.as_bytes(), &envelope.sig)?;

        let payload = STANDARD
            .decode(envelope.enc.as_bytes())
            .map_err(|_| Error::Malformed("the license file's payload is not base64".into()))?;
        let p: Payload = serde_json::from_slice(&payload)
            .map_err(|e| Error::Malformed(format!("the license file's payload is not the expected JSON: {e}")))?;

        if let Some(product) = product
            && p.product != product
        {
            return Err(Error::WrongProduct { expected: product.to_string(), found: p.product });
        }
        if let Some(hw) = hardware_id
            && p.hardware_id.as_deref() != Some(hw)
        {
            return Err(Error::WrongDevice);
        }
        if now >= unix_time(p.expires_at) {
            return Err(Error::Expired);
        }
        let behind = |t: SystemTime| now.checked_add(CLOCK_TOLERANCE).is_some_and(|n| n < t);
        if behind(unix_time(p.issued_at)) || last_seen.is_some_and(behind) {
            return Err(Error::ClockSetBack);
        }

        let license = p.license.unwrap_or_default();
        Ok(LicenseFile {
            license_key: p.license_key,
            product: p.product,
            hardware_id: p.hardware_id.unwrap_or_default(),
            // Files written before the top-level flag carry it in the license object only.
            is_trial: p.is_trial.unwrap_or(license.is_trial),
            features: p.features.unwrap_or_default(),
            issued_at: p.issued_at,
            expires_at: p.expires_at,
            key_id: p.key_id.unwrap_or(kid),
            license,
        })
    }

    /// `true` when the file grants the feature `code`.
    pub fn has_feature(&self, code: &str) -> bool {
        self.features.iter().any(|f| f.code == code)
    }

    /// [`LicenseFile::issued_at`] as a [`SystemTime`].
    pub fn issued_at_time(&self) -> SystemTime {
        unix_time(self.issued_at)
    }

    /// [`LicenseFile::expires_at`] as a [`SystemTime`].
    pub fn expires_at_time(&self) -> SystemTime {
        unix_time(self.expires_at)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::tests::TestKey;
    use crate::types::unix_secs;
    use serde_json::{Value, json};

    const HW: &str = "hw-1234";

    pub(crate) fn payload(issued_at: i64, expires_at: i64) -> Value {
        json!({
            "license_key": "AAAA-BBBB-CCCC-DDDD",
            "product": "app",
            "hardware_id": HW,
            "features": [{"code": "pdf", "feature_type": "activation", "max_consumption": 0}],
            "issued_at": issued_at,
            "expires_at": expires_at,
            "key_id": "kid",
            "license": {"license_key": "AAAA-BBBB-CCCC-DDDD", "product": "app", "status": "active", "enabled": true},
        })
    }

    fn armour(envelope: &Value, newline: &str) -> String {
        let body = STANDARD.encode(envelope.to_string());
        let mut out = format!("{FILE_BEGIN}{newline}");
        for chunk in body.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push_str(newline);
        }
        out.push_str(FILE_END);
        out.push_str(newline);
        out
    }

    fn envelope(key: &TestKey, payload: &Value) -> Value {
        let enc = STANDARD.encode(payload.to_string());
        json!({"enc": enc, "sig": key.sign(enc.as_bytes()), "alg": "ed25519", "kid": key.id})
    }

    /// A license file as the server writes it.
    pub(crate) fn make_file(key: &TestKey, payload: &Value) -> String {
        armour(&envelope(key, payload), "\n")
    }

    fn now() -> SystemTime {
        SystemTime::now()
    }

    /// [`LicenseFile::verify`] for product `app` without the default clock guard's file.
    fn verify(text: &str, public_key: &str, hw: &str) -> Result<LicenseFile, Error> {
        LicenseFile::verify_at(text, public_key, hw, "app", now())
    }

    #[test]
    fn another_products_file_is_refused() {
        let k = TestKey::new();
        let file = make_file(&k, &valid_payload());
        let r = LicenseFile::verify_at(&file, &k.public, HW, "other-app", now());
        assert!(
            matches!(&r, Err(Error::WrongProduct { expected, found }) if expected == "other-app" && found == "app"),
            "{r:?}"
        );
        // A vendor's tool that inspects any file still reads it.
        let keys = KeySet::from_public_key(&k.public).unwrap();
        assert_eq!(LicenseFile::verifier(&keys).verify(&file).unwrap().product, "app");
    }

    #[test]
    fn a_trial_file_is_marked_and_can_be_refused() {
        let k = TestKey::new();
        let keys = KeySet::from_public_key(&k.public).unwrap();
        let mut p = valid_payload();
        p["is_trial"] = json!(true);
        let file = make_file(&k, &p);
        let v = LicenseFile::verifier(&keys).product("app").hardware_id(HW);
        assert!(v.verify(&file).unwrap().is_trial);
        assert!(matches!(v.clone().refuse_trial().verify(&file), Err(Error::Trial)));
        // Without the top-level flag (older files), the license object's says it.
        let mut p = valid_payload();
        p["license"]["is_trial"] = json!(true);
        assert!(v.refuse_trial().verify(&make_file(&k, &p)).is_err());
        assert!(!verify(&make_file(&k, &valid_payload()), &k.public, HW).unwrap().is_trial);
    }

    #[test]
    fn the_clock_guard_refuses_a_clock_set_back_after_a_verification() {
        let k = TestKey::new();
        let keys = KeySet::from_public_key(&k.public).unwrap();
        let issued = 1_764_048_000;
        let file = make_file(&k, &payload(issued, issued + 30 * 86_400));
        let guard = ClockGuard::in_memory();
        let v = LicenseFile::verifier(&keys).product("app").hardware_id(HW).clock(guard.clone());
        // Day 10: fine, and remembered.
        v.clone().at(unix_time(issued + 10 * 86_400)).verify(&file).unwrap();
        // The clock held back at day 2 would pass the issued_at check alone; the guard refuses it.
        let r = v.clone().at(unix_time(issued + 2 * 86_400)).verify(&file);
        assert!(matches!(r, Err(Error::ClockSetBack)), "{r:?}");
        assert!(LicenseFile::verify_at(&file, &k.public, HW, "app", unix_time(issued + 2 * 86_400)).is_ok());
        v.at(unix_time(issued + 11 * 86_400)).verify(&file).unwrap();
        assert_eq!(guard.latest(), Some(unix_time(issued + 11 * 86_400)));
    }

    fn valid_payload() -> Value {
        let t = unix_secs(now());
        payload(t - 60, t + 30 * 86_400)
    }

    #[test]
    fn a_valid_file_verifies() {
        let k = TestKey::new();
        let f = verify(&make_file(&k, &valid_payload()), &k.public, HW).unwrap();
        assert_eq!(f.license_key, "AAAA-BBBB-CCCC-DDDD");
        assert_eq!(f.product, "app");
        assert_eq!(f.hardware_id, HW);
        assert!(f.has_feature("pdf") && !f.has_feature("nope"));
        assert_eq!(f.key_id, "kid");
        assert_eq!(f.license.status, "active");
        assert!(f.expires_at_time() > f.issued_at_time());
    }

    #[test]
    fn a_tampered_enc_is_a_bad_signature() {
        let k = TestKey::new();
        let mut env = envelope(&k, &valid_payload());
        let enc = env["enc"].as_str().unwrap().to_string();
        // Change one character of the payload's base64: the signature no longer matches.
        let i = enc.len() / 2;
        let c = if &enc[i..=i] == "A" { "B" } else { "A" };
        env["enc"] = json!(format!("{}{}{}", &enc[..i], c, &enc[i + 1..]));
        let r = verify(&armour(&env, "\n"), &k.public, HW);
        assert!(matches!(r, Err(Error::BadSignature)), "{r:?}");
    }

    #[test]
    fn a_tampered_payload_is_a_bad_signature() {
        let k = TestKey::new();
        let mut env = envelope(&k, &valid_payload());
        // Re-encode a payload with a later expiry under the old signature.
        let mut p = valid_payload();
        p["expires_at"] = json!(i64::MAX / 2);
        env["enc"] = json!(STANDARD.encode(p.to_string()));
        assert!(matches!(verify(&armour(&env, "\n"), &k.public, HW), Err(Error::BadSignature)));
    }

    #[test]
    fn a_tampered_sig_is_a_bad_signature() {
        let k = TestKey::new();
        let mut env = envelope(&k, &valid_payload());
        let mut sig = STANDARD.decode(env["sig"].as_str().unwrap()).unwrap();
        sig[10] ^= 1;
        env["sig"] = json!(STANDARD.encode(&sig));
        assert!(matches!(verify(&armour(&env, "\n"), &k.public, HW), Err(Error::BadSignature)));
        // A sig that no longer decodes is a bad signature too.
        env["sig"] = json!("!!!!");
        assert!(matches!(verify(&armour(&env, "\n"), &k.public, HW), Err(Error::BadSignature)));
    }

    #[test]
    fn another_key_or_an_unknown_kid_is_a_bad_signature() {
        let k = TestKey::new();
        let other = TestKey::new();
        let file = make_file(&other, &valid_payload());
        assert!(matches!(verify(&file, &k.public, HW), Err(Error::BadSignature)));
        let mut env = envelope(&k, &valid_payload());
        env["kid"] = json!("ffffffffffffffff");
        assert!(matches!(verify(&armour(&env, "\n"), &k.public, HW), Err(Error::BadSignature)));
    }

    #[test]
    fn any_trusted_key_verifies_by_kid() {
        let old = TestKey::new();
        let new = TestKey::new();
        let mut keys = KeySet::from_public_key(&old.public).unwrap();
        keys.insert_key(&new.public).unwrap();
        for k in [&old, &new] {
            LicenseFile::verify_with(&make_file(k, &valid_payload()), &keys, HW, "app", now(), None).unwrap();
        }
    }

    #[test]
    fn another_hardware_id_is_the_wrong_device() {
        let k = TestKey::new();
        let r = verify(&make_file(&k, &valid_payload()), &k.public, "hw-other");
        assert!(matches!(r, Err(Error::WrongDevice)));
        let mut p = valid_payload();
        p["hardware_id"] = Value::Null;
        assert!(matches!(verify(&make_file(&k, &p), &k.public, HW), Err(Error::WrongDevice)));
    }

    #[test]
    fn a_file_past_expires_at_is_expired() {
        let k = TestKey::new();
        let t = unix_secs(now());
        let file = make_file(&k, &payload(t - 10 * 86_400, t - 1));
        assert!(matches!(verify(&file, &k.public, HW), Err(Error::Expired)));
        // It verified while it was current.
        LicenseFile::verify_at(&file, &k.public, HW, "app", unix_time(t - 5 * 86_400)).unwrap();
        // Exactly at expires_at it is expired.
        assert!(matches!(LicenseFile::verify_at(&file, &k.public, HW, "app", unix_time(t - 1)), Err(Error::Expired)));
    }

    #[test]
    fn a_clock_set_back_is_refused() {
        let k = TestKey::new();
        let issued = 1_764_048_000;
        let file = make_file(&k, &payload(issued, issued + 30 * 86_400));
        // Within five minutes of issued_at: clocks drift, that is fine.
        LicenseFile::verify_at(&file, &k.public, HW, "app", unix_time(issued - 299)).unwrap();
        let r = LicenseFile::verify_at(&file, &k.public, HW, "app", unix_time(issued - 301));
        assert!(matches!(r, Err(Error::ClockSetBack)), "{r:?}");
        let r = LicenseFile::verify_at(&file, &k.public, HW, "app", unix_time(issued - 86_400));
        assert!(matches!(r, Err(Error::ClockSetBack)));
    }

    #[test]
    fn a_clock_behind_last_seen_is_refused() {
        let k = TestKey::new();
        let keys = KeySet::from_public_key(&k.public).unwrap();
        let issued = 1_764_048_000;
        let file = make_file(&k, &payload(issued, issued + 30 * 86_400));
        let seen = unix_time(issued + 10 * 86_400);
        let ok = LicenseFile::verify_with(&file, &keys, HW, "app", unix_time(issued + 10 * 86_400 - 60), Some(seen));
        assert!(ok.is_ok());
        let r = LicenseFile::verify_with(&file, &keys, HW, "app", unix_time(issued + 86_400), Some(seen));
        assert!(matches!(r, Err(Error::ClockSetBack)));
    }

    #[test]
    fn crlf_and_surrounding_whitespace_are_tolerated() {
        let k = TestKey::new();
        let env = envelope(&k, &valid_payload());
        let text = format!("\r\n  \t{}  \r\n\r\n", armour(&env, "\r\n"));
        verify(&text, &k.public, HW).unwrap();
        // Re-wrapped at another width, or pasted in a mail between other lines.
        let body = STANDARD.encode(env.to_string());
        let rewrapped: Vec<String> =
            body.as_bytes().chunks(76).map(|c| format!("  {}  ", std::str::from_utf8(c).unwrap())).collect();
        let text = format!("Your license:\n{FILE_BEGIN}\n{}\n{FILE_END}\nThanks!", rewrapped.join("\n"));
        verify(&text, &k.public, HW).unwrap();
    }

    #[test]
    fn garbage_is_malformed() {
        let k = TestKey::new();
        let not_json = format!("{FILE_BEGIN}\n{}\n{FILE_END}\n", STANDARD.encode("not json"));
        let other_alg = armour(&json!({"enc": "e30=", "sig": "", "alg": "rsa", "kid": k.id}), "\n");
        let no_kid = armour(&json!({"enc": "e30=", "sig": "", "alg": "ed25519"}), "\n");
        let unsigned_payload = {
            let enc = STANDARD.encode("{\"hardware_id\": 5}");
            armour(&json!({"enc": enc, "sig": k.sign(enc.as_bytes()), "alg": "ed25519", "kid": k.id}), "\n")
        };
        for text in [
            "",
            "hello",
            FILE_BEGIN,
            &format!("{FILE_BEGIN}\n{FILE_END}"),
            &format!("{FILE_END}\nAAAA\n{FILE_BEGIN}"),
            &format!("{FILE_BEGIN}\n!!not base64!!\n{FILE_END}"),
            &not_json,
            &other_alg,
            &no_kid,
            &unsigned_payload,
        ] {
            let r = verify(text, &k.public, HW);
            assert!(matches!(r, Err(Error::Malformed(_))), "{text:?}: {r:?}");
        }
    }

    #[test]
    fn a_bad_public_key_is_a_config_error() {
        let k = TestKey::new();
        let r = verify(&make_file(&k, &valid_payload()), "nope", HW);
        assert!(matches!(r, Err(Error::Config(_))));
    }
}
