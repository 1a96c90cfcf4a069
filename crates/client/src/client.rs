//! The online client: calls to `/api/v1/client/…`, each answer's signature and nonce verified.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::floating::FloatingSeat;
use crate::license_file::CLOCK_TOLERANCE;
use crate::types::{
    BorrowResult, CheckResult, ConsumptionResult, Device, License, LicenseRequest, LicenseResponse, PublicKeyInfo,
};
use crate::{ClockGuard, Error, KeySet, LicenseFile};

/// The header carrying base64 of the Ed25519 signature of the exact response body.
pub const SIGNATURE_HEADER: &str = "licensd-signature";
/// The header naming the key that signed the response.
pub const KEY_ID_HEADER: &str = "licensd-key-id";
/// The request timeout when none is set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body the client reads.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Configures a [`Client`]; made by [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// # fn main() -> Result<(), licensd_client::Error> {
/// # let key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/// # let old_key = key;
/// let client = licensd_client::Client::builder("https://licenses.example.com", key)
///     .trust_key(old_key) // still verify what the previous key signed
///     .timeout(Duration::from_secs(10))
///     .grace_period(Duration::from_secs(3 * 24 * 3600))
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    public_key: String,
    extra_keys: Vec<(Option<String>, String)>,
    timeout: Duration,
    grace_period: Duration,
    heartbeat_interval: Option<Duration>,
    http: Option<reqwest::Client>,
    clock: Option<ClockGuard>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("grace_period", &self.grace_period)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Also trusts `public_key` (base64 of 32 bytes) under the key id the server derives for it:
    /// responses and license files signed by it verify too. Use it across a key rotation.
    pub fn trust_key(mut self, public_key: impl Into<String>) -> Self {
        self.extra_keys.push((None, public_key.into()));
        self
    }

    /// Also trusts `public_key` (base64 of 32 bytes) under an explicit `key_id`, as `licensd key show`
    /// or `GET public-key` print it.
    pub fn trust_key_with_id(mut self, key_id: impl Into<String>, public_key: impl Into<String>) -> Self {
        self.extra_keys.push((Some(key_id.into()), public_key.into()));
        self
    }

    /// How long one request may take, connecting included ([`DEFAULT_TIMEOUT`] unless set). A request
    /// that takes longer fails with [`Error::Transport`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long after the last valid check [`Client::check`] still answers
    /// [`CheckOutcome::Grace`] when the server cannot be reached. Zero (the default) disables grace.
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// How often a [`FloatingSeat`] renews its lease. Unless set, half the license's
    /// `floating_timeout` (five minutes when the license has none).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = Some(interval);
        self
    }

    /// Keeps the latest time seen in this guard instead of the default one
    /// ([`ClockGuard::default_for`] the first trusted key: a small file in the user's data directory).
    /// The grace period ends when the clock is set back behind it ([`Error::ClockSetBack`]).
    pub fn clock_guard(mut self, guard: ClockGuard) -> Self {
        self.clock = Some(guard);
        self
    }

    /// Uses this `reqwest` client (for a proxy, TLS settings, a user agent, …) instead of a default
    /// one. The [`timeout`](ClientBuilder::timeout) still applies to each request.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the configuration and makes the client.
    ///
    /// Fails with [`Error::Config`] when the base URL is not an `http`/`https` URL or a key is not
    /// base64 of 32 bytes.
    pub fn build(self) -> Result<Client, Error> {
        let url = reqwest::Url::parse(self.base_url.trim())
            .map_err(|e| Error::Config(format!("the base URL \"{}\" does not parse: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(format!(
                "the base URL \"{}\" must be http or https, without a query or fragment",
                self.base_url
            )));
        }
        let base = url.as_str().trim_end_matches('/').to_string();
        let mut keys = KeySet::new();
        let primary = keys.insert_key(&self.public_key)?;
        for (id, key) in &self.extra_keys {
            match id {
                Some(id) => keys.insert(id.clone(), key)?,
                None => {
                    keys.insert_key(key)?;
                }
            }
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .connect_timeout(self.timeout)
                .build()
                .map_err(|e| Error::Config(format!("the HTTP client could not be made: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                keys,
                timeout: self.timeout,
                grace_period: self.grace_period,
                heartbeat_interval: self.heartbeat_interval,
                last_valid: Mutex::new(None),
                clock: self.clock.unwrap_or_else(|| ClockGuard::default_for(&primary)),
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    base: String,
    keys: KeySet,
    timeout: Duration,
    grace_period: Duration,
    heartbeat_interval: Option<Duration>,
    last_valid: Mutex<Option<SystemTime>>,
    clock: ClockGuard,
}

/// A licensd client: the application's side of the client API (`/api/v1/client/…`).
///
/// Every answer is verified before it is believed: its `Licensd-Signature` must be an Ed25519
/// signature of the exact body bytes by the trusted key `Licensd-Key-Id` names
/// ([`Error::BadSignature`] otherwise), and a JSON answer must echo the random nonce the SDK put in
/// the request ([`Error::Replayed`] otherwise). Refusals are verified the same way and come back as
/// [`Error::Refused`].
///
/// Cloning is cheap and clones share their state (the time of the last valid check, see
/// [`Client::check`]): keep one client per license.
///
/// Plain `http://` works out of the box (every answer is signed, so a forged server is detected even
/// without TLS, but the license key travels in the clear). For `https://`, enable a TLS feature of
/// `reqwest` 0.13 in the application (for example `reqwest = { version = "0.13", default-features =
/// false, features = ["native-tls"] }`): Cargo unifies features, so this client uses it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("keys", &self.inner.keys)
            .field("timeout", &self.inner.timeout)
            .field("grace_period", &self.inner.grace_period)
            .finish_non_exhaustive()
    }
}

/// What [`Client::check`] found.
// `Online` is much larger than `Grace`, but one outcome per check does not make boxing worth the
// clumsier matching for applications.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CheckOutcome {
    /// The server answered (authentically). Its verdict is in [`CheckResult::valid`] and
    /// [`CheckResult::code`]: `VALID`, or why not (`EXPIRED`, `NOT_ACTIVATED`, `NO_SEAT`, …).
    Online(CheckResult),
    /// The server could not be reached (`error` says how), but the last valid check was within the
    /// grace period: the application may go on until `grace_ends_at`.
    Grace {
        /// When the last valid check happened.
        last_valid_at: SystemTime,
        /// When the grace period ends (`last_valid_at` plus the grace period).
        grace_ends_at: SystemTime,
        /// Why the server could not answer (an [`Error::is_unreachable`] error).
        error: Error,
    },
}

impl CheckOutcome {
    /// `true` when the application may run: the server said `VALID`, or the grace period holds.
    pub fn is_valid(&self) -> bool {
        match self {
            CheckOutcome::Online(r) => r.valid,
            CheckOutcome::Grace { .. } => true,
        }
    }

    /// The server's answer, when it answered.
    pub fn result(&self) -> Option<&CheckResult> {
        match self {
            CheckOutcome::Online(r) => Some(r),
            CheckOutcome::Grace { .. } => None,
        }
    }
}

/// A verified response: its status, body, and the body as JSON when it is JSON (then its binding to the
/// request was checked too).
struct Signed {
    status: u16,
    body: Vec<u8>,
    json: Option<Value>,
}

impl Signed {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A fresh nonce: 16 random bytes in hex.
fn new_nonce() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The JSON body of a license call: the request's fields, the nonce and any extra fields.
fn request_body(req: &LicenseRequest, nonce: &str, extra: Value) -> Result<Value, Error> {
    let mut body = serde_json::to_value(req).map_err(|e| Error::Malformed(format!("the request: {e}")))?;
    if let Some(o) = body.as_object_mut() {
        o.insert("nonce".into(), Value::String(nonce.into()));
        if let Value::Object(extra) = extra {
            o.extend(extra);
        }
    }
    Ok(body)
}

/// Lower-case hex of the SHA-256 of `bytes`, as the server's `request_sha256`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that a signed JSON answer is bound to this request: its signed `status` is the HTTP status
/// and its `request_sha256` the hash of the exact body sent (docs/client-api.md, "Binding").
fn check_binding(v: &Value, status: u16, sent_sha256: &str) -> Result<(), Error> {
    if v.get("status").and_then(Value::as_u64) != Some(u64::from(status)) {
        return Err(Error::Mismatched(format!("the signed status is {}, the HTTP status {status}", v["status"])));
    }
    if v.get("request_sha256").and_then(Value::as_str) != Some(sent_sha256) {
        return Err(Error::Mismatched("the answer's request_sha256 is not the hash of the request sent".into()));
    }
    Ok(())
}

/// Whether the key a server's answer names is the key asked about, as the server matches a typed key (the
/// server's `licensd_core::keys::matches`): the same without surrounding whitespace, or, for a key with no
/// lower-case letter after its first `-` (every key licensd issues), the same but for the case of ASCII letters,
/// dashes and whitespace.
pub(crate) fn key_matches(stored: &str, asked: &str) -> bool {
    let asked = asked.trim();
    let tail = stored.split_once('-').map_or(stored, |(_, t)| t);
    let canonical = |k: &str| {
        k.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect::<String>()
    };
    stored == asked || (!tail.bytes().any(|b| b.is_ascii_lowercase()) && canonical(stored) == canonical(asked))
}

/// Refuses an answer whose license or device is not the one asked about (`required`: an answer that
/// grants something must name both).
fn about(
    license_key: Option<&str>,
    product: &str,
    hardware_id: &str,
    license: Option<&License>,
    device: Option<&Device>,
    required: bool,
) -> Result<(), Error> {
    if required && (license.is_none() || device.is_none()) {
        return Err(Error::Mismatched("the answer grants a license without naming the license and device".into()));
    }
    if let Some(l) = license {
        if license_key.is_some_and(|k| !key_matches(&l.license_key, k)) {
            return Err(Error::Mismatched("the answer is about another license key".into()));
        }
        if l.product != product {
            return Err(Error::Mismatched(format!("the answer is about the product \"{}\"", l.product)));
        }
    }
    if device.is_some_and(|d| d.hardware_id != hardware_id) {
        return Err(Error::Mismatched("the answer is about another device".into()));
    }
    Ok(())
}

/// The refusal a verified non-2xx response carries.
fn refusal(signed: &Signed, nonce: Option<&str>) -> Error {
    let Some(v) = &signed.json else {
        if signed.status >= 500 {
            return Error::Unavailable { status: signed.status };
        }
        return Error::Malformed(format!("HTTP {} without the error envelope", signed.status));
    };
    // A refusal that echoes another request's nonce is a replay. One without a nonce (a request the
    // server could not read far enough to find it) is taken as it is: a refusal grants nothing.
    if let (Some(sent), Some(got)) = (nonce, v.get("nonce").and_then(Value::as_str))
        && sent != got
    {
        return Error::Replayed;
    }
    let first = v.get("errors").and_then(|e| e.get(0));
    let field = |o: Option<&Value>, k: &str| o.and_then(|o| o.get(k)).and_then(Value::as_str).map(str::to_string);
    let code =
        field(Some(v), "code").or_else(|| field(first, "code")).unwrap_or_else(|| format!("HTTP_{}", signed.status));
    let detail = field(first, "detail").or_else(|| field(first, "title")).unwrap_or_default();
    Error::Refused { status: signed.status, code, detail }
}

/// Decodes a verified JSON response: a refusal, a replay, or the expected type.
fn decode<T: DeserializeOwned>(signed: &Signed, nonce: Option<&str>) -> Result<T, Error> {
    if !signed.is_success() {
        return Err(refusal(signed, nonce));
    }
    let v = signed.json.clone().ok_or_else(|| Error::Malformed("the response is not JSON".into()))?;
    if let Some(sent) = nonce
        && v.get("nonce").and_then(Value::as_str) != Some(sent)
    {
        return Err(Error::Replayed);
    }
    serde_json::from_value(v).map_err(|e| Error::Malformed(format!("the response is not the expected JSON: {e}")))
}

/// Decodes a verified text response (a license file), or its refusal.
fn text(signed: Signed, nonce: Option<&str>) -> Result<String, Error> {
    if !signed.is_success() {
        return Err(refusal(&signed, nonce));
    }
    String::from_utf8(signed.body).map_err(|_| Error::Malformed("the license file is not UTF-8".into()))
}

impl Client {
    /// A client for the licensd server at `base_url` (its root, e.g. `https://licenses.example.com`;
    /// the SDK adds `/api/v1/client/…`) that trusts the server's `public_key` (base64 of the 32
    /// bytes, as `licensd key show` prints it). Default settings: see [`Client::builder`].
    pub fn new(base_url: &str, public_key: &str) -> Result<Client, Error> {
        Client::builder(base_url, public_key).build()
    }

    /// A [`ClientBuilder`] for more settings: more trusted keys, the timeout, the grace period.
    pub fn builder(base_url: impl Into<String>, public_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            public_key: public_key.into(),
            extra_keys: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            grace_period: Duration::ZERO,
            heartbeat_interval: None,
            http: None,
            clock: None,
        }
    }

    /// The keys this client trusts, to verify license files with
    /// ([`LicenseFile::verify_with`](crate::LicenseFile::verify_with)).
    pub fn trusted_keys(&self) -> &KeySet {
        &self.inner.keys
    }

    /// The grace period ([`ClientBuilder::grace_period`]).
    pub fn grace_period(&self) -> Duration {
        self.inner.grace_period
    }

    /// When this client last saw the license valid (a `VALID` check, an activation or a trial), if it
    /// did. An application that wants the grace period to outlive the process stores this and gives
    /// it back with [`Client::set_last_valid_check`] on the next start.
    pub fn last_valid_check(&self) -> Option<SystemTime> {
        *self.inner.last_valid.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the time of the last valid check (for example one the application stored on disk).
    pub fn set_last_valid_check(&self, at: SystemTime) {
        *self.inner.last_valid.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    /// Forgets the last valid check: no grace period until the next valid one.
    pub fn clear_last_valid_check(&self) {
        *self.inner.last_valid.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub(crate) fn heartbeat_interval(&self) -> Option<Duration> {
        self.inner.heartbeat_interval
    }

    /// The guard keeping the latest time this client has seen ([`ClientBuilder::clock_guard`]).
    pub fn clock_guard(&self) -> &ClockGuard {
        &self.inner.clock
    }

    /// Sends one request and verifies the response's signature.
    async fn send(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
        nonce: Option<&str>,
    ) -> Result<Signed, Error> {
        let url = format!("{}/api/v1/client/{endpoint}", self.inner.base);
        let mut rb = self.inner.http.request(method, url).timeout(self.inner.timeout);
        if !query.is_empty() {
            rb = rb.query(query);
        }
        let sent = body.map(Value::to_string).unwrap_or_default();
        let sent_sha256 = sha256_hex(sent.as_bytes());
        if body.is_some() {
            rb = rb.header(CONTENT_TYPE, "application/json").body(sent);
        }
        let mut res = rb.send().await.map_err(Error::Transport)?;
        let status = res.status().as_u16();
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (signature, key_id) = (header(SIGNATURE_HEADER), header(KEY_ID_HEADER));
        let is_json = header(CONTENT_TYPE.as_str()).is_some_and(|ct| ct.starts_with("application/json"));
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(Error::Transport)? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(Error::Malformed(format!("the response is larger than {MAX_BODY} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let verified = match (&signature, &key_id) {
            (Some(sig), Some(kid)) => self.inner.keys.verify(kid, &bytes, sig),
            _ => Err(Error::BadSignature),
        };
        match verified {
            Ok(()) if is_json => {
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Malformed(format!("the response is not JSON: {e}")))?;
                // A nonce of another request first: that is a replay, whatever else differs.
                if let Some(sent) = nonce {
                    let got = v.get("nonce").and_then(Value::as_str);
                    if got.is_some_and(|g| g != sent) || (got.is_none() && (200..300).contains(&status)) {
                        return Err(Error::Replayed);
                    }
                }
                check_binding(&v, status, &sent_sha256)?;
                // The server's signed clock: time seen, for the clock-rollback defence.
                if let Some(t) = v.get("timestamp").and_then(Value::as_i64) {
                    self.inner.clock.observe(crate::types::unix_time(t).max(SystemTime::now()));
                }
                Ok(Signed { status, body: bytes, json: Some(v) })
            }
            Ok(()) => Ok(Signed { status, body: bytes, json: None }),
            // A proxy's (or a dying server's) unsigned 5xx: unavailable, which grants nothing.
            Err(_) if status >= 500 => Err(Error::Unavailable { status }),
            Err(e) => Err(e),
        }
    }

    /// A `POST` of a license request (with a fresh nonce and `extra` fields), verified; returns the
    /// response and the nonce sent.
    async fn post_license(
        &self,
        endpoint: &str,
        req: &LicenseRequest,
        extra: Value,
    ) -> Result<(Signed, String), Error> {
        let nonce = new_nonce()?;
        let body = request_body(req, &nonce, extra)?;
        Ok((self.send(Method::POST, endpoint, Some(&body), &[], Some(&nonce)).await?, nonce))
    }

    fn note_valid(&self) {
        self.set_last_valid_check(SystemTime::now());
    }

    /// Activates the license on this machine (`POST activate`); for a floating license, checks out a
    /// seat lease (see [`Client::checkout`] to keep it renewed).
    ///
    /// [`LicenseResponse::created`] is `false` when this `hardware_id` was already active (no second
    /// activation is used). Refusals: `NOT_FOUND`, `PRODUCT_MISMATCH`, `DISABLED`, `REFUNDED`,
    /// `EXPIRED`, `TOO_MANY_ACTIVATIONS`, `NO_SEAT` (as [`Error::Refused`]).
    pub async fn activate(&self, req: &LicenseRequest) -> Result<LicenseResponse, Error> {
        let (signed, nonce) = self.post_license("activate", req, Value::Null).await?;
        let mut r: LicenseResponse = decode(&signed, Some(&nonce))?;
        about(Some(&req.license_key), &req.product, &req.hardware_id, Some(&r.license), r.device.as_ref(), true)?;
        r.created = signed.status == 201;
        self.note_valid();
        Ok(r)
    }

    /// Asks the server whether the license is valid on this machine (`POST check`), with no grace
    /// period: an unreachable server is an error. Renews a floating seat's lease.
    ///
    /// A `VALID` answer records the time for the grace period; any other answer forgets it.
    pub async fn check_online(&self, req: &LicenseRequest) -> Result<CheckResult, Error> {
        let (signed, nonce) = self.post_license("check", req, Value::Null).await?;
        let r: CheckResult = decode(&signed, Some(&nonce))?;
        about(Some(&req.license_key), &req.product, &req.hardware_id, r.license.as_ref(), r.device.as_ref(), r.valid)?;
        if r.valid {
            self.note_valid();
        } else {
            self.clear_last_valid_check();
        }
        Ok(r)
    }

    /// Checks the license on this machine (`POST check`), with the grace period.
    ///
    /// - The server answered: [`CheckOutcome::Online`] with its verdict (`valid` is `false` for an
    ///   expired, disabled, unknown… license: that is an answer, not an error).
    /// - The server could not be reached ([`Error::is_unreachable`]: connection refused, timeout, a
    ///   5xx) and the last valid check by this client (or the time given to
    ///   [`Client::set_last_valid_check`]) is less than the grace period ago:
    ///   [`CheckOutcome::Grace`]. Without a grace period, or past it, or when the clock is more than
    ///   five minutes behind that last valid check: the error.
    /// - A forged, altered or replayed answer is always an error ([`Error::BadSignature`],
    ///   [`Error::Replayed`]), never a grace period.
    pub async fn check(&self, req: &LicenseRequest) -> Result<CheckOutcome, Error> {
        match self.check_online(req).await {
            Ok(r) => Ok(CheckOutcome::Online(r)),
            Err(error) if error.is_unreachable() => match self.grace_at(SystemTime::now()) {
                Some((last_valid_at, grace_ends_at)) => Ok(CheckOutcome::Grace { last_valid_at, grace_ends_at, error }),
                None => Err(error),
            },
            Err(e) => Err(e),
        }
    }

    /// The last valid check and the end of its grace, when `now` is within it.
    fn grace_at(&self, now: SystemTime) -> Option<(SystemTime, SystemTime)> {
        if self.inner.grace_period.is_zero() {
            return None;
        }
        let last = self.last_valid_check()?;
        let ends = last.checked_add(self.inner.grace_period)?;
        // Behind the last valid check, or behind the latest time ever seen (kept across runs).
        let clock_set_back =
            now.checked_add(CLOCK_TOLERANCE).is_some_and(|n| n < last) || self.inner.clock.check(now).is_err();
        (now < ends && !clock_set_back).then_some((last, ends))
    }

    /// Frees this machine's activation (`POST deactivate`); for a floating license, releases the
    /// seat. Forgets the last valid check.
    ///
    /// Refusals: `NOT_FOUND`, `PRODUCT_MISMATCH`, `NOT_ACTIVATED`, `TRANSFER_LIMIT`.
    pub async fn deactivate(&self, req: &LicenseRequest) -> Result<LicenseResponse, Error> {
        let (signed, nonce) = self.post_license("deactivate", req, Value::Null).await?;
        let r: LicenseResponse = decode(&signed, Some(&nonce))?;
        about(Some(&req.license_key), &req.product, &req.hardware_id, Some(&r.license), r.device.as_ref(), false)?;
        self.clear_last_valid_check();
        Ok(r)
    }

    /// Starts (or resumes) this machine's trial of `product` (its short code) (`POST trial`): a trial
    /// license from the product's trial template, activated here. The same call again answers the
    /// same license ([`LicenseResponse::created`] `false`).
    ///
    /// Refusals: `NOT_FOUND` (no such product), `NO_TRIAL` (the product offers none).
    pub async fn trial(&self, product: &str, hardware_id: &str, email: Option<&str>) -> Result<LicenseResponse, Error> {
        let nonce = new_nonce()?;
        let mut body = json!({"product": product, "hardware_id": hardware_id, "nonce": nonce});
        if let (Some(email), Some(o)) = (email, body.as_object_mut()) {
            o.insert("email".into(), Value::String(email.into()));
        }
        let signed = self.send(Method::POST, "trial", Some(&body), &[], Some(&nonce)).await?;
        let mut r: LicenseResponse = decode(&signed, Some(&nonce))?;
        about(None, product, hardware_id, Some(&r.license), r.device.as_ref(), true)?;
        r.created = signed.status == 201;
        self.note_valid();
        Ok(r)
    }

    /// Records `consumptions` (≥ 1) uses of the license, or of its consumption feature `feature`
    /// (`POST consumption`).
    ///
    /// Refusals: those of `check`, and `CONSUMPTION_LIMIT` (nothing was added), `FEATURE_NOT_FOUND`,
    /// `NOT_ACTIVATED`.
    pub async fn consume(
        &self,
        req: &LicenseRequest,
        feature: Option<&str>,
        consumptions: i64,
    ) -> Result<ConsumptionResult, Error> {
        let mut extra = Map::new();
        extra.insert("consumptions".into(), json!(consumptions));
        if let Some(f) = feature {
            extra.insert("feature".into(), Value::String(f.into()));
        }
        let (signed, nonce) = self.post_license("consumption", req, Value::Object(extra)).await?;
        let r: ConsumptionResult = decode(&signed, Some(&nonce))?;
        about(Some(&req.license_key), &req.product, &req.hardware_id, Some(&r.license), None, false)?;
        Ok(r)
    }

    /// Fetches the signed license file for this (active) machine (`POST license-file`), to keep for
    /// offline use and verify with [`LicenseFile::verify`](crate::LicenseFile::verify).
    ///
    /// The file's text carries no nonce (a replayed file is still bound to its device and expiry);
    /// a refusal (`NOT_ACTIVATED`, …) is verified as usual.
    pub async fn license_file(&self, req: &LicenseRequest) -> Result<String, Error> {
        let (signed, nonce) = self.post_license("license-file", req, Value::Null).await?;
        let file = text(signed, Some(&nonce))?;
        self.file_about(&file, Some(&req.license_key), &req.product, &req.hardware_id)?;
        Ok(file)
    }

    /// Borrows this machine's floating seat for `hours` (at most the license's `max_borrow_time`)
    /// (`POST borrow`): the seat is held with no renewal until `device.borrowed_until`, and
    /// [`BorrowResult::license_file`] lets the application run offline until then.
    ///
    /// Refusals: those of `activate`, and `BORROW_NOT_ALLOWED`.
    pub async fn borrow(&self, req: &LicenseRequest, hours: i64) -> Result<BorrowResult, Error> {
        let (signed, nonce) = self.post_license("borrow", req, json!({"borrow_hours": hours})).await?;
        let r: BorrowResult = decode(&signed, Some(&nonce))?;
        about(Some(&req.license_key), &req.product, &req.hardware_id, Some(&r.license), r.device.as_ref(), true)?;
        self.file_about(&r.license_file, Some(&req.license_key), &req.product, &req.hardware_id)?;
        Ok(r)
    }

    /// On a connected machine: turns an air-gapped machine's activation request code (see
    /// [`offline_request_code`](crate::offline_request_code)) into its license file
    /// (`POST offline-activate`), to carry back.
    ///
    /// This endpoint takes no nonce, so the answer cannot be checked for replay (the file is bound
    /// to the air-gapped machine's hardware id anyway). Refusals: those of `activate`, and
    /// `INVALID_REQUEST_CODE`.
    pub async fn offline_activate(&self, request_code: &str) -> Result<String, Error> {
        let signed =
            self.send(Method::POST, "offline-activate", Some(&json!({"request": request_code})), &[], None).await?;
        text(signed, None)
    }

    /// On a connected machine: frees the activation an air-gapped machine held, from its
    /// deactivation request code (`POST offline-deactivate`). No nonce, as for
    /// [`Client::offline_activate`].
    pub async fn offline_deactivate(&self, request_code: &str) -> Result<LicenseResponse, Error> {
        let signed =
            self.send(Method::POST, "offline-deactivate", Some(&json!({"request": request_code})), &[], None).await?;
        decode(&signed, None)
    }

    /// The server's active public key (`GET public-key`).
    ///
    /// The answer is verified like every other, so it must be signed by a key this client already
    /// trusts: this confirms a key, it cannot introduce one (a new key after `licensd key rotate`
    /// reaches applications with an update that ships it, see [`ClientBuilder::trust_key`]).
    pub async fn public_key(&self) -> Result<PublicKeyInfo, Error> {
        let signed = self.send(Method::GET, "public-key", None, &[], None).await?;
        decode(&signed, None)
    }

    /// An older public key by its id (`GET public-key?key_id=…`); verified as for
    /// [`Client::public_key`]. Refusal: `NOT_FOUND`.
    pub async fn public_key_by_id(&self, key_id: &str) -> Result<PublicKeyInfo, Error> {
        let signed = self.send(Method::GET, "public-key", None, &[("key_id", key_id)], None).await?;
        decode(&signed, None)
    }

    /// Checks out a floating seat (`activate`) and keeps it: the returned [`FloatingSeat`] renews
    /// the lease with a `check` in the background every half `floating_timeout` (or
    /// [`ClientBuilder::heartbeat_interval`]), until it is released or dropped.
    ///
    /// Needs a tokio runtime ([`Error::Config`] otherwise).
    pub async fn checkout(&self, req: &LicenseRequest) -> Result<FloatingSeat, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("a floating seat needs a tokio runtime to renew its lease".into()))?;
        let activation = self.activate(req).await?;
        Ok(FloatingSeat::start(self.clone(), req.clone(), activation, &runtime))
    }

    /// Refuses a license file fetched online that is not for the license, product and device asked about.
    fn file_about(&self, file: &str, license_key: Option<&str>, product: &str, hardware_id: &str) -> Result<(), Error> {
        let f = LicenseFile::verifier(&self.inner.keys).verify(file)?;
        if license_key.is_some_and(|k| !key_matches(&f.license_key, k))
            || f.product != product
            || f.hardware_id != hardware_id
        {
            return Err(Error::Mismatched("the license file is for another license, product or device".into()));
        }
        Ok(())
    }

    /// When grace ends for a check at `now` (for tests).
    #[cfg(test)]
    pub(crate) fn grace_ends(&self, now: SystemTime) -> Option<SystemTime> {
        self.grace_at(now).map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::TestKey;
    use crate::mock::{Mock, Reply};
    use std::sync::Arc;

    #[test]
    fn answers_name_the_key_asked_about_as_the_server_matches_it() {
        assert!(key_matches("ACME-7H3KQ-2HPRZ", " acme-7h3kq-2hprz\n"));
        assert!(key_matches("acme-7H3KQ-2HPRZ", "ACME-7h3kq-2HPRZ"), "a prefix of any case");
        assert!(key_matches("id593311373237odr", "id593311373237odr "));
        assert!(!key_matches("id593311373237odr", "ID593311373237ODR"), "lower-case letters of its own");
        assert!(!key_matches("ACME-7H3KQ-2HPRZ", "ACME-7H3KQ-2HPRX"));
        assert!(key_matches("ACME-7H3KQ-2HPRZ", "ACME7H3KQ2HPRZ"), "dashes left out");
        assert!(key_matches("ACME-7H3KQ-2HPRZ", "acme 7h3kq 2hprz"), "spaces for dashes");
        assert!(!key_matches("acme-7h3kq", "ACME7H3KQ"), "keys that do not fold case keep their dashes");
    }

    fn req() -> LicenseRequest {
        LicenseRequest::new("AAAA-BBBB", "hw-1", "app").hostname("box")
    }

    fn license(floating_timeout: i64) -> Value {
        json!({"license_key": "AAAA-BBBB", "product": "app", "status": "active", "enabled": true,
               "license_type": "perpetual", "max_activations": 3, "times_activated": 1,
               "floating_timeout": floating_timeout, "features": [], "metadata": {}})
    }

    fn device() -> Value {
        json!({"id": 7, "hardware_id": "hw-1", "hostname": "box", "os": "", "app_version": "",
               "time_activated": 1764048000, "last_check": null, "lease_expires_at": null, "borrowed_until": null})
    }

    /// A server that answers like licensd, signing with `key`.
    fn server(key: Arc<TestKey>) -> Mock {
        Mock::start(move |path, body| {
            let nonce = body.get("nonce").cloned().unwrap_or(Value::Null);
            let (status, v) = match path {
                "/api/v1/client/activate" => (
                    201,
                    json!({"code": "ACTIVATED", "license": license(30), "device": device(), "nonce": nonce, "timestamp": 1}),
                ),
                "/api/v1/client/check" => {
                    let valid = body["license_key"] == "AAAA-BBBB";
                    let code = if valid { "VALID" } else { "NOT_FOUND" };
                    let mut v = json!({"valid": valid, "code": code, "detail": "d", "nonce": nonce, "timestamp": 1});
                    if valid {
                        v["license"] = license(30);
                        v["device"] = device();
                    }
                    (200, v)
                }
                "/api/v1/client/deactivate" => (
                    200,
                    json!({"code": "DEACTIVATED", "license": license(30), "device": device(), "nonce": nonce, "timestamp": 1}),
                ),
                "/api/v1/client/consumption" => (
                    409,
                    json!({"errors": [{"code": "CONSUMPTION_LIMIT", "title": "t", "detail": "all used"}],
                           "code": "CONSUMPTION_LIMIT", "nonce": nonce, "timestamp": 1}),
                ),
                "/api/v1/client/license-file" => {
                    let now = crate::types::unix_secs(SystemTime::now());
                    let mut p = crate::license_file::tests::payload(now - 60, now + 86_400);
                    p["license_key"] = json!("AAAA-BBBB");
                    p["hardware_id"] = json!(body["hardware_id"]);
                    return Reply::signed(&key, 200, &crate::license_file::tests::make_file(&key, &p));
                }
                "/api/v1/client/public-key" => {
                    (200, json!({"alg": "ed25519", "key_id": key.id, "public_key": key.public}))
                }
                _ => (404, json!({"errors": [{"code": "NOT_FOUND", "title": "Not found", "detail": path}]})),
            };
            Reply::bound(&key, status, v)
        })
    }

    fn client(mock: &Mock, key: &TestKey) -> Client {
        Client::builder(&mock.url, &key.public)
            .timeout(Duration::from_secs(5))
            .clock_guard(ClockGuard::in_memory())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_genuine_answer_to_another_request_is_mismatched() {
        let key = Arc::new(TestKey::new());
        // A relay that keeps the application's nonce but asks about its own license: the server's genuine,
        // signed answer carries the hash of the relay's body, not of the application's.
        let k = key.clone();
        let relay = Mock::start(move |_, b| {
            let nonce = b["nonce"].clone();
            let body = json!({"valid": true, "code": "VALID", "detail": "d", "license": license(30), "device": device(),
                "nonce": nonce, "timestamp": 1, "status": 200,
                "request_sha256": "0000000000000000000000000000000000000000000000000000000000000000",
                "request": {"license_key": "TRIAL-KEY", "product": "other", "hardware_id": "relay"}});
            Reply::signed(&k, 200, &body.to_string())
        });
        let c = client(&relay, &key);
        c.set_last_valid_check(SystemTime::now());
        assert!(matches!(c.check_online(&req()).await, Err(Error::Mismatched(_))));
        // Hostile, so no grace period either.
        assert!(matches!(c.check(&req()).await, Err(Error::Mismatched(_))));

        // An answer without a binding at all (an older or forged server) is refused the same way.
        let k = key.clone();
        let unbound = Mock::start(move |_, b| {
            let body = json!({"valid": true, "code": "VALID", "detail": "d", "nonce": b["nonce"], "timestamp": 1});
            Reply::signed(&k, 200, &body.to_string())
        });
        assert!(matches!(client(&unbound, &key).check_online(&req()).await, Err(Error::Mismatched(_))));
    }

    #[tokio::test]
    async fn a_changed_http_status_is_mismatched() {
        let key = Arc::new(TestKey::new());
        // The signed body says 200 (already active); a man in the middle turns the status into 201.
        let k = key.clone();
        let flipped = Mock::start(move |_, b| {
            let sha = sha256_hex(b.to_string().as_bytes());
            let body = json!({"code": "ACTIVATED", "license": license(30), "device": device(), "nonce": b["nonce"],
                "timestamp": 1, "status": 200, "request_sha256": sha});
            Reply::signed(&k, 201, &body.to_string())
        });
        let r = client(&flipped, &key).activate(&req()).await;
        assert!(matches!(r, Err(Error::Mismatched(_))), "{r:?}");
    }

    #[tokio::test]
    async fn an_answer_about_another_license_product_or_device_is_mismatched() {
        let key = Arc::new(TestKey::new());
        for (field, value) in [("license_key", "OTHER-KEY"), ("product", "other"), ("hardware_id", "hw-other")] {
            let k = key.clone();
            let mock = Mock::start(move |_, b| {
                let (mut l, mut d) = (license(30), device());
                if field == "hardware_id" {
                    d[field] = json!(value);
                } else {
                    l[field] = json!(value);
                }
                Reply::bound(
                    &k,
                    201,
                    json!({"code": "ACTIVATED", "license": l, "device": d, "nonce": b["nonce"], "timestamp": 1}),
                )
            });
            let r = client(&mock, &key).activate(&req()).await;
            assert!(matches!(r, Err(Error::Mismatched(_))), "{field}: {r:?}");
        }
        // VALID without naming the license and device grants nothing.
        let k = key.clone();
        let bare = Mock::start(move |_, b| {
            Reply::bound(
                &k,
                200,
                json!({"valid": true, "code": "VALID", "detail": "d", "nonce": b["nonce"], "timestamp": 1}),
            )
        });
        assert!(matches!(client(&bare, &key).check_online(&req()).await, Err(Error::Mismatched(_))));
    }

    #[tokio::test]
    async fn the_server_clock_is_remembered_and_a_clock_behind_it_ends_grace() {
        let key = Arc::new(TestKey::new());
        let ahead = crate::types::unix_secs(SystemTime::now()) + 86_400;
        let k = key.clone();
        let mock = Mock::start(move |_, b| {
            Reply::bound(
                &k,
                200,
                json!({"valid": true, "code": "VALID", "detail": "d", "license": license(30),
                "device": device(), "nonce": b["nonce"], "timestamp": ahead}),
            )
        });
        let c = Client::builder(&mock.url, &key.public)
            .grace_period(Duration::from_secs(7 * 86_400))
            .clock_guard(ClockGuard::in_memory())
            .build()
            .unwrap();
        assert!(c.check_online(&req()).await.unwrap().valid);
        assert_eq!(c.clock_guard().latest(), Some(crate::types::unix_time(ahead)));
        // The last valid check was "now", but the server said it is a day later: a clock at "now" is set back.
        c.set_last_valid_check(SystemTime::now());
        assert_eq!(c.grace_ends(SystemTime::now()), None);
        assert!(c.grace_ends(crate::types::unix_time(ahead)).is_some());
    }

    #[tokio::test]
    async fn activate_check_and_deactivate_verify_and_decode() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone());
        let c = client(&mock, &key);
        let a = c.activate(&req()).await.unwrap();
        assert!(a.created);
        assert_eq!((a.code.as_str(), a.license.max_activations), ("ACTIVATED", Some(3)));
        assert_eq!(a.device.as_ref().map(|d| d.id), Some(7));
        let r = c.check(&req()).await.unwrap();
        assert!(r.is_valid() && r.result().is_some_and(|r| r.code == "VALID"));
        assert!(c.last_valid_check().is_some());
        let d = c.deactivate(&req()).await.unwrap();
        assert_eq!(d.code, "DEACTIVATED");
        assert!(c.last_valid_check().is_none());

        // What went over the wire: the documented fields and a fresh 32-hex-digit nonce each call.
        let calls = mock.calls();
        assert_eq!(calls.len(), 3);
        let nonces: Vec<&str> = calls.iter().map(|(_, b)| b["nonce"].as_str().unwrap()).collect();
        assert!(nonces.iter().all(|n| n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit())));
        assert!(nonces[0] != nonces[1] && nonces[1] != nonces[2]);
        assert_eq!(calls[0].1["hostname"], "box");
        assert!(calls[0].1.get("os").is_none());
    }

    #[tokio::test]
    async fn an_invalid_check_is_an_answer_and_forgets_the_last_valid_check() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone());
        let c = client(&mock, &key);
        c.set_last_valid_check(SystemTime::now());
        let r = c.check(&LicenseRequest::new("WRONG", "hw-1", "app")).await.unwrap();
        assert!(!r.is_valid());
        assert_eq!(r.result().map(|r| r.code.as_str()), Some("NOT_FOUND"));
        assert!(c.last_valid_check().is_none());
    }

    #[tokio::test]
    async fn refusals_are_verified_and_typed() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone());
        let c = client(&mock, &key);
        match c.consume(&req(), Some("pdf"), 2).await {
            Err(Error::Refused { status, code, detail }) => {
                assert_eq!((status, code.as_str(), detail.as_str()), (409, "CONSUMPTION_LIMIT", "all used"));
            }
            other => panic!("{other:?}"),
        }
        let sent = &mock.calls()[0].1;
        assert_eq!((sent["feature"].as_str(), sent["consumptions"].as_i64()), (Some("pdf"), Some(2)));
        // A refusal without a nonce (e.g. the 404 of an unknown path) is still a verified refusal.
        let e = c.borrow(&req(), 4).await.unwrap_err();
        assert_eq!(e.code(), Some("NOT_FOUND"));
    }

    #[tokio::test]
    async fn text_and_key_endpoints() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone());
        let c = client(&mock, &key);
        assert!(c.license_file(&req()).await.unwrap().starts_with("-----BEGIN LICENSE FILE-----"));
        let k = c.public_key().await.unwrap();
        assert_eq!(
            (k.alg.as_str(), k.key_id.as_str(), k.public_key.as_str()),
            ("ed25519", key.id.as_str(), key.public.as_str())
        );
        c.public_key_by_id("abc").await.unwrap();
        assert_eq!(mock.calls().last().map(|(p, _)| p.as_str()), Some("/api/v1/client/public-key?key_id=abc"));
    }

    #[tokio::test]
    async fn a_forged_or_unsigned_response_is_a_bad_signature() {
        let real = TestKey::new();
        let forger = Arc::new(TestKey::new());
        let mock = server(forger.clone());
        let c = client(&mock, &real);
        assert!(matches!(c.activate(&req()).await, Err(Error::BadSignature)));
        assert!(matches!(c.check(&req()).await, Err(Error::BadSignature)));
        // A forged refusal is a bad signature too, not a refusal.
        assert!(matches!(c.consume(&req(), None, 1).await, Err(Error::BadSignature)));

        let unsigned = Mock::start(|_, _| Reply::new(200, r#"{"valid":true,"code":"VALID"}"#, &[]));
        let c = client(&unsigned, &real);
        assert!(matches!(c.check_online(&req()).await, Err(Error::BadSignature)));

        // Signed by the trusted key, but the header names a key id it is not trusted under.
        let key = Arc::new(TestKey::new());
        let k2 = key.clone();
        let wrong_kid = Mock::start(move |_, b| {
            let body = json!({"valid": true, "code": "VALID", "nonce": b["nonce"]}).to_string();
            Reply::new(
                200,
                &body,
                &[(SIGNATURE_HEADER, &k2.sign(body.as_bytes())), (KEY_ID_HEADER, "0000000000000000")],
            )
        });
        assert!(matches!(client(&wrong_kid, &key).check_online(&req()).await, Err(Error::BadSignature)));
    }

    #[tokio::test]
    async fn an_altered_body_is_a_bad_signature() {
        let key = Arc::new(TestKey::new());
        let k2 = key.clone();
        let mock = Mock::start(move |_, b| {
            let body = json!({"valid": false, "code": "EXPIRED", "nonce": b["nonce"]}).to_string();
            let sig = k2.sign(body.as_bytes());
            let altered = body.replace("false", "true ").replace("EXPIRED", "VALID");
            Reply::new(200, &altered, &[(SIGNATURE_HEADER, &sig), (KEY_ID_HEADER, &k2.id)])
        });
        assert!(matches!(client(&mock, &key).check(&req()).await, Err(Error::BadSignature)));
    }

    #[tokio::test]
    async fn a_replayed_response_is_refused() {
        let key = Arc::new(TestKey::new());
        let k2 = key.clone();
        // A genuine answer recorded for another request, played back.
        let mock = Mock::start(move |_, _| {
            let body = json!({"valid": true, "code": "VALID", "nonce": "00112233445566778899aabbccddeeff"});
            Reply::signed(&k2, 200, &body.to_string())
        });
        let c = client(&mock, &key);
        assert!(matches!(c.check(&req()).await, Err(Error::Replayed)));
        assert!(matches!(c.activate(&req()).await, Err(Error::Replayed)));
        // A replay never opens the grace period.
        c.set_last_valid_check(SystemTime::now());
        assert!(matches!(c.check(&req()).await, Err(Error::Replayed)));

        let k3 = key.clone();
        let no_nonce = Mock::start(move |_, _| Reply::signed(&k3, 200, r#"{"valid":true,"code":"VALID"}"#));
        assert!(matches!(client(&no_nonce, &key).check(&req()).await, Err(Error::Replayed)));

        let k4 = key.clone();
        let replayed_refusal = Mock::start(move |_, _| {
            let body = json!({"errors": [{"code": "DISABLED", "detail": "x"}], "code": "DISABLED", "nonce": "other"});
            Reply::signed(&k4, 403, &body.to_string())
        });
        assert!(matches!(client(&replayed_refusal, &key).activate(&req()).await, Err(Error::Replayed)));
    }

    #[tokio::test]
    async fn a_rotated_key_verifies_when_trusted() {
        let old = TestKey::new();
        let new = Arc::new(TestKey::new());
        let mock = server(new.clone());
        let only_old = client(&mock, &old);
        assert!(matches!(only_old.check_online(&req()).await, Err(Error::BadSignature)));
        let both = Client::builder(&mock.url, &old.public).trust_key(&new.public).build().unwrap();
        assert!(both.check_online(&req()).await.unwrap().valid);
        let by_id = Client::builder(&mock.url, &old.public).trust_key_with_id(&new.id, &new.public).build().unwrap();
        assert!(by_id.check_online(&req()).await.unwrap().valid);
    }

    /// A URL on which nothing listens.
    async fn closed_url() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transport_error_without_grace() {
        let key = TestKey::new();
        let c = Client::new(&closed_url().await, &key.public).unwrap();
        let e = c.check(&req()).await.unwrap_err();
        assert!(matches!(e, Error::Transport(_)) && e.is_unreachable(), "{e:?}");
        // A grace period alone does not help: there was no valid check.
        let c =
            Client::builder(closed_url().await, &key.public).grace_period(Duration::from_secs(3600)).build().unwrap();
        assert!(matches!(c.check(&req()).await, Err(Error::Transport(_))));
    }

    #[tokio::test]
    async fn an_unreachable_server_within_the_grace_period_is_grace() {
        let key = TestKey::new();
        let day = Duration::from_secs(86_400);
        let c = Client::builder(closed_url().await, &key.public)
            .grace_period(day)
            .clock_guard(ClockGuard::in_memory())
            .build()
            .unwrap();
        let last = SystemTime::now() - Duration::from_secs(3600);
        c.set_last_valid_check(last);
        match c.check(&req()).await.unwrap() {
            CheckOutcome::Grace { last_valid_at, grace_ends_at, error } => {
                assert_eq!((last_valid_at, grace_ends_at), (last, last + day));
                assert!(matches!(error, Error::Transport(_)));
            }
            other => panic!("{other:?}"),
        }
        // Past the grace period: the transport error.
        c.set_last_valid_check(SystemTime::now() - 2 * day);
        assert!(matches!(c.check(&req()).await, Err(Error::Transport(_))));
        // A clock set back before the last valid check: no grace either.
        let now = SystemTime::now();
        c.set_last_valid_check(now);
        assert_eq!(c.grace_ends(now - Duration::from_secs(299)), Some(now + day));
        assert_eq!(c.grace_ends(now - Duration::from_secs(3600)), None);
    }

    #[tokio::test]
    async fn a_valid_check_then_an_outage_is_grace() {
        let key = Arc::new(TestKey::new());
        let mock = server(key.clone());
        let c = Client::builder(&mock.url, &key.public)
            .grace_period(Duration::from_secs(60))
            .clock_guard(ClockGuard::in_memory())
            .build()
            .unwrap();
        assert!(matches!(c.check(&req()).await.unwrap(), CheckOutcome::Online(_)));
        // The server goes down (a proxy answers 503, unsigned).
        let down = Mock::start(|_, _| Reply::new(503, "<html>Service Unavailable</html>", &[]));
        let c2 = Client::builder(&down.url, &key.public)
            .grace_period(Duration::from_secs(60))
            .clock_guard(ClockGuard::in_memory())
            .build()
            .unwrap();
        assert!(matches!(c2.check(&req()).await, Err(Error::Unavailable { status: 503 })));
        c2.set_last_valid_check(c.last_valid_check().unwrap());
        assert!(matches!(
            c2.check(&req()).await.unwrap(),
            CheckOutcome::Grace { error: Error::Unavailable { .. }, .. }
        ));
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let key = TestKey::new();
        let slow = Mock::start_slow(Duration::from_secs(5));
        let c = Client::builder(&slow.url, &key.public).timeout(Duration::from_millis(200)).build().unwrap();
        match c.check_online(&req()).await {
            Err(Error::Transport(e)) => assert!(e.is_timeout(), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_configuration_is_refused() {
        let key = TestKey::new();
        for url in ["", "not a url", "ftp://x", "http://x/?q=1"] {
            assert!(matches!(Client::new(url, &key.public), Err(Error::Config(_))), "{url}");
        }
        assert!(matches!(Client::new("http://x", "nope"), Err(Error::Config(_))));
        assert!(matches!(Client::builder("http://x", &key.public).trust_key("AAAA").build(), Err(Error::Config(_))));
        let c = Client::new("http://licenses.example.com/prefix/", &key.public).unwrap();
        assert_eq!(c.inner.base, "http://licenses.example.com/prefix");
        assert!(c.trusted_keys().contains(&key.id));
    }

    #[test]
    fn nonces_are_fresh_hex() {
        let a = new_nonce().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_nonce().unwrap());
    }
}
