//! Rate limits: token buckets (GCRA, from `governor`) per client address and per license key on the client API,
//! a stricter one per address for `trial`, and one per token on the management APIs (`/api/v1`, `/v2`). A request
//! over a limit answers `429` with `Retry-After` and the error envelope (code `RATE_LIMITED`); on the client API
//! it is bound to the request and signed like every client answer (so it echoes the request's `nonce`).
//!
//! Limits are kept in memory, per instance: N instances behind a load balancer allow N times the rate. Each
//! bucket map holds only keys seen within their refill time ([`Limits::housekeeping`], every few seconds), so
//! memory is bounded by the request rate, not by how many keys or addresses exist. Keys and tokens are stored as
//! keyed 64-bit hashes: fixed size, and no secret stays in memory.

use std::cell::Cell;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::AppState;
use crate::error::ApiError;

/// One limit as configured: `off`, or `N/s`, `N/min`, `N/h` with an optional `,burst=B` (the burst defaults to
/// N: a full period's worth may come at once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limit(Option<(Quota, String)>);

impl std::str::FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Limit(None));
        }
        let bad = || format!("{s:?} is not a rate: write N/s, N/min or N/h, optionally with ,burst=B (or off)");
        let (rate, burst) = match text.split_once(',') {
            Some((r, b)) => (r.trim(), Some(b.trim().strip_prefix("burst=").ok_or_else(bad)?)),
            None => (text, None),
        };
        let (n, unit) = rate.split_once('/').ok_or_else(bad)?;
        let n: NonZeroU32 = n.trim().parse().map_err(|_| bad())?;
        let quota = match unit.trim() {
            "s" | "sec" | "second" => Quota::per_second(n),
            "m" | "min" | "minute" => Quota::per_minute(n),
            "h" | "hour" => Quota::per_hour(n),
            _ => return Err(bad()),
        };
        let quota = match burst {
            Some(b) => quota.allow_burst(b.parse().map_err(|_| bad())?),
            None => quota,
        };
        Ok(Limit(Some((quota, text.to_string()))))
    }
}

impl Limit {
    /// No limit.
    pub fn off() -> Self {
        Limit(None)
    }

    fn limiter<K: std::hash::Hash + Eq + Clone>(&self) -> Option<Bucket<K>> {
        self.0.as_ref().map(|(q, text)| Bucket { map: RateLimiter::keyed(*q), text: text.clone() })
    }
}

/// Every limit of one server. The library default is all `off` (tests fire bursts at one key); `licensd serve`
/// applies [`RateLimits::recommended`] unless told otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Client API requests (other than `trial`) per client address.
    pub client_ip: Limit,
    /// Client API requests per license key (counted once the body is read and the key is known).
    pub client_key: Limit,
    /// `POST /api/v1/client/trial` per client address: each new one writes a license, a device and events.
    pub trial_ip: Limit,
    /// Management requests (`/api/v1`, `/v2`) per token; per client address for requests without one.
    pub token: Limit,
}

impl RateLimits {
    /// `licensd serve`'s defaults (the README's flags table says the same).
    pub fn recommended() -> Self {
        let parse = |s: &str| s.parse::<Limit>().unwrap_or_default();
        RateLimits {
            client_ip: parse(DEFAULT_CLIENT_IP),
            client_key: parse(DEFAULT_CLIENT_KEY),
            trial_ip: parse(DEFAULT_TRIAL_IP),
            token: parse(DEFAULT_TOKEN),
        }
    }
}

pub const DEFAULT_CLIENT_IP: &str = "20/s,burst=200";
pub const DEFAULT_CLIENT_KEY: &str = "10/s,burst=100";
pub const DEFAULT_TRIAL_IP: &str = "60/h,burst=10";
pub const DEFAULT_TOKEN: &str = "100/s,burst=500";

struct Bucket<K: std::hash::Hash + Eq + Clone> {
    map: DefaultKeyedRateLimiter<K>,
    /// The limit as configured, for messages.
    text: String,
}

impl<K: std::hash::Hash + Eq + Clone> Bucket<K> {
    /// `Err(wait)` when `key` is over its limit.
    fn check(&self, key: &K) -> Result<(), Duration> {
        self.map.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn housekeeping(&self) {
        self.map.retain_recent();
        self.map.shrink_to_fit();
    }
}

/// The live buckets.
pub struct Limits {
    client_ip: Option<Bucket<IpAddr>>,
    client_key: Option<Bucket<u64>>,
    trial_ip: Option<Bucket<IpAddr>>,
    token: Option<Bucket<u64>>,
    /// Keys of the hashes keys and tokens are stored as, random per process.
    hasher: std::collections::hash_map::RandomState,
}

impl Limits {
    pub fn new(config: &RateLimits) -> Self {
        Limits {
            client_ip: config.client_ip.limiter(),
            client_key: config.client_key.limiter(),
            trial_ip: config.trial_ip.limiter(),
            token: config.token.limiter(),
            hasher: Default::default(),
        }
    }

    /// Forgets keys whose buckets are full again (they would start afresh anyway), and gives the memory back.
    pub fn housekeeping(&self) {
        self.client_ip.as_ref().map(Bucket::housekeeping);
        self.client_key.as_ref().map(Bucket::housekeeping);
        self.trial_ip.as_ref().map(Bucket::housekeeping);
        self.token.as_ref().map(Bucket::housekeeping);
    }

    /// The per-key limit of the client API, for a caller that has the state at hand (the handlers reach it through
    /// [`client_key`]).
    pub fn client_key(&self, license_key: &str) -> Result<(), ApiError> {
        self.check_client_key(license_key).map_err(|(e, _)| e)
    }

    fn check_client_key(&self, license_key: &str) -> Result<(), (ApiError, Duration)> {
        let Some(b) = &self.client_key else { return Ok(()) };
        b.check(&self.hasher.hash_one(license_key))
            .map_err(|wait| (rate_limited(wait, format!("this license key made more than {} requests", b.text)), wait))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(&RateLimits::default())
    }
}

/// What a client address is counted as: IPv4 as is, IPv6 by its /64 (one subscriber's prefix; a host can pick any
/// address inside it).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Whole seconds to wait, rounded up (`Retry-After` takes seconds), at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn rate_limited(wait: Duration, what: String) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "Too many requests",
        format!("{what}; retry after {} s (see Retry-After). Limits are per licensd instance.", retry_after_secs(wait)),
    )
}

fn with_retry_after(mut res: Response, wait: Duration) -> Response {
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
    res
}

/// The route of `trial` (compared with the matched route: inside the client API's nested router the request's
/// own path no longer holds the prefix).
const TRIAL_PATH: &str = "/api/v1/client/trial";

/// What a client request's handler may consult: the per-key limit, and what it refused (for `Retry-After`).
struct ClientScope {
    limits: Arc<Limits>,
    refused: Cell<Option<Duration>>,
}

tokio::task_local! {
    static CLIENT: ClientScope;
}

/// The per-key limit of the client API, checked where the handlers have read the key (`client_api::client_req`).
/// `Err` is the `429` to answer; the [`client`] middleware adds `Retry-After`, and the signing middleware binds it
/// to the request (nonce included) like every client answer. Outside a client request (the CLI's offline
/// activation) there is no limit.
pub fn client_key(license_key: &str) -> Result<(), ApiError> {
    CLIENT
        .try_with(|scope| {
            let Err((error, wait)) = scope.limits.check_client_key(license_key) else { return Ok(()) };
            scope.refused.set(Some(wait));
            Err(error)
        })
        .unwrap_or(Ok(()))
}

/// The client API's guard, run by the signing middleware around the rest of the app (so refusals are bound and
/// signed, and the hottest path has one layer less): the per-address limit (`trial` has its own, stricter one)
/// before `answer`; the per-key limit inside it, through [`client_key`]; and the request deadline
/// ([`crate::front_door::within_deadline`]).
pub async fn client<F>(s: &AppState, req: Request, answer: impl FnOnce(Request) -> F) -> Response
where
    F: Future<Output = Response>,
{
    let limits = s.limits.clone();
    let trial = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == TRIAL_PATH || p.as_str() == crate::license_api::TRIAL_PATH);
    let by_address = if trial { &limits.trial_ip } else { &limits.client_ip };
    if let Some(b) = by_address {
        let ip = address_key(s.http.client_ip(req.headers(), req.extensions()));
        if let Err(wait) = b.check(&ip) {
            s.metrics.rate_limited(if trial { "trial" } else { "client_ip" });
            let what = if trial { "trials" } else { "client requests" };
            let error = rate_limited(wait, format!("this address made more than {} {what}", b.text));
            return with_retry_after(error.into_response(), wait);
        }
    }
    // A trial has no license key (its handler passes a placeholder), so only the address limit applies.
    if trial || limits.client_key.is_none() {
        return crate::front_door::within_deadline(s, answer(req)).await;
    }
    let fut = CLIENT.scope(ClientScope { limits, refused: Cell::new(None) }, answer(req));
    tokio::pin!(fut);
    let res = crate::front_door::within_deadline(s, fut.as_mut()).await;
    match fut.as_mut().take_value().and_then(|scope| scope.refused.get()) {
        Some(wait) if res.status() == StatusCode::TOO_MANY_REQUESTS => {
            s.metrics.rate_limited("client_key");
            with_retry_after(res, wait)
        }
        _ => res,
    }
}

/// The bucket a management request counts against: its token (by hash), or its address when it has none.
fn management_key(s: &AppState, req: Request) -> (u64, Request) {
    let (parts, body) = req.into_parts();
    let key = match crate::extract::bearer(&parts) {
        Some(secret) => s.limits.hasher.hash_one(("token", secret)),
        None => s.limits.hasher.hash_one(("address", address_key(s.http.client_ip(&parts.headers, &parts.extensions)))),
    };
    (key, Request::from_parts(parts, body))
}

/// Middleware of `/api/v1` (not the client API): the per-token limit, in the error envelope.
pub async fn management(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(b) = &s.limits.token else { return next.run(req).await };
    let (key, req) = management_key(&s, req);
    match b.check(&key) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            s.metrics.rate_limited("token");
            with_retry_after(
                rate_limited(wait, format!("this token made more than {} requests", b.text)).into_response(),
                wait,
            )
        }
    }
}

/// Middleware of `/v2`: the per-token limit, in DevMate's error shape.
pub async fn devmate(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(b) = &s.limits.token else { return next.run(req).await };
    let (key, req) = management_key(&s, req);
    match b.check(&key) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            s.metrics.rate_limited("token");
            let e = rate_limited(wait, format!("this token made more than {} requests", b.text));
            let v2 = crate::devmate::V2Error {
                status: e.status,
                title: "Too many requests.".into(),
                detail: Some(e.error.detail),
            };
            with_retry_after(v2.into_response(), wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units_bursts_and_off() {
        assert_eq!("off".parse::<Limit>().unwrap(), Limit::off());
        let l: Limit = "20/s,burst=200".parse().unwrap();
        let (q, _) = l.0.unwrap();
        assert_eq!(q.burst_size().get(), 200);
        assert_eq!(q.replenish_interval(), Duration::from_millis(50));
        let (q, _) = "60/h".parse::<Limit>().unwrap().0.unwrap();
        assert_eq!((q.burst_size().get(), q.replenish_interval()), (60, Duration::from_secs(60)));
        for bad in ["", "0/s", "10", "10/day", "10/s,b=3", "10/s,burst=0", "x/s"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad}");
        }
        assert_ne!(RateLimits::recommended(), RateLimits::default(), "the documented defaults parse");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(address_key("10.1.2.3".parse().unwrap()).to_string(), "10.1.2.3");
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
