//! Prometheus metrics: requests by method, route and status, a latency histogram, SQL statements by route, the
//! database pool and its errors; what the client API decided (activations, checks, deactivations, trials and
//! consumption by code, refusals by route and code); rate-limit refusals; signing-key refresh failures;
//! `licensd_build_info`; and the process (CPU, memory, open files, start time, from `/proc/self` on Linux).
//!
//! Every label value is a route template, a status, one of a few methods, or a code from a fixed list
//! (compile-time strings: nothing a request sends ever becomes a label), so the number of series is bounded.
//! `/metrics` answers the classic text format (`text/plain; version=0.0.4`) unless `Accept` asks for
//! OpenMetrics (as Prometheus does).

use std::cell::Cell;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use licensd_store::StoreError;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// One of [`method_label`]'s few values: a label taken from the request as sent would let anyone add series.
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodRouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    route: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A counter per code, the expected codes made at zero up front (so `rate()` sees their first increment and
/// dashboards show them before they happen) and kept as handles: counting is a short scan of a few static
/// strings and one atomic add, with no map lookup or lock on the request path. A code outside the list (a
/// refusal this operation was not expected to answer) still counts, through the family.
struct ByCode {
    family: Family<CodeLabels, Counter>,
    known: Vec<(&'static str, Counter)>,
}

impl ByCode {
    fn new(codes: &[&'static str]) -> Self {
        let family = Family::<CodeLabels, Counter>::default();
        let known = codes.iter().map(|&code| (code, family.get_or_create_owned(&CodeLabels { code }))).collect();
        ByCode { family, known }
    }

    fn inc(&self, code: &'static str) {
        match self.known.iter().find(|(c, _)| *c == code) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                self.family.get_or_create(&CodeLabels { code }).inc();
            }
        }
    }
}

/// Codes the license gate answers (`core::client_api::admit`) and an unknown key.
const GATE: [&str; 5] = ["NOT_FOUND", "PRODUCT_MISMATCH", "DISABLED", "REFUNDED", "EXPIRED"];

/// What the client API decided, by code: the answer's `code`, except that a success is split in two where the
/// API answers one code for both (`ACTIVATED` 201 or 200; `TRIAL` 201 or 200).
pub mod codes {
    // The answers' own codes; `ACTIVATED` counts only a new activation slot or floating seat here.
    pub use licensd_core::client_api::answer::{ACTIVATED, CONSUMED, DEACTIVATED, VALID};
    /// The device already held its activation (answered `ACTIVATED` with `200`).
    pub const ALREADY_ACTIVE: &str = "ALREADY_ACTIVE";
    /// `trial` started a new trial (answered `TRIAL` with `201`).
    pub const STARTED: &str = "STARTED";
    /// `trial` returned this device's existing trial (answered `TRIAL` with `200`).
    pub const RESUMED: &str = "RESUMED";
    /// A client API error answer that carried no code of licensd's (none is known to exist).
    pub const OTHER: &str = "OTHER";
}

/// The code of an error answer, put on the response by [`crate::error::ApiError`] and the client API's
/// refusals, read by [`track`] to count client API refusals by code. Always one of the fixed codes.
#[derive(Clone, Copy, Debug)]
pub struct ErrorCode(pub &'static str);

/// Marks an error answer of the client API (put on each by [`crate::client_api::sign`], not on successes,
/// which need no allocation for it): [`track`] counts them by route and code, whatever path they answered.
#[derive(Clone, Copy, Debug)]
pub struct ClientApiError;

/// The kind of a database failure, for `licensd_db_errors_total`: `unavailable` (cannot be reached, or no
/// connection came free in time: `503`), `busy` (SQLite's lock held too long: `503`), `error` (any other
/// database failure: `500`). `None` for what is not a database failure (a refusal, a conflict, bad input).
pub fn db_error_kind(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::Config(_)
        | StoreError::NoDatabase(_)
        | StoreError::Unreachable(_)
        | StoreError::Corrupt(_)
        | StoreError::Db(_)
        | StoreError::Sqlite(_)
        | StoreError::Commit(_) => {}
        _ => return None,
    }
    Some(if e.is_busy() {
        "busy"
    } else if matches!(e, StoreError::Unreachable(_))
        || matches!(e, StoreError::Db(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)))
    {
        "unavailable"
    } else {
        "error"
    })
}

const DB_ERROR_KINDS: [&str; 3] = ["unavailable", "busy", "error"];

tokio::task_local! {
    /// Database failures a request met, by kind (indexes of [`DB_ERROR_KINDS`]), noted where a store error
    /// becomes an answer ([`note_db_error`]) and added to the app's counters by [`track`].
    static DB_ERRORS: Cell<[u32; 3]>;
}

/// Notes a database failure of the request being served (called where store errors become answers). Outside a
/// request (the command line) it does nothing.
pub fn note_db_error(e: &StoreError) {
    let Some(kind) = db_error_kind(e) else { return };
    let Some(i) = DB_ERROR_KINDS.iter().position(|k| *k == kind) else { return };
    let _ = DB_ERRORS.try_with(|c| {
        let mut n = c.get();
        n[i] = n[i].saturating_add(1);
        c.set(n);
    });
}

/// The registry and the handles the middleware and handlers update. One per app, so tests do not share counters.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodRouteLabels, Histogram>,
    statements: Family<RouteLabels, Counter>,
    pool_size: Gauge,
    pool_idle: Gauge,
    db_up: Gauge,
    db_errors: Family<KindLabels, Counter>,
    key_refresh_failures: Counter,
    rate_limited: Family<LimitLabels, Counter>,
    activations: ByCode,
    checks: ByCode,
    deactivations: ByCode,
    trials: ByCode,
    consumptions: ByCode,
    consumed: Counter,
    refusals: Family<RefusalLabels, Counter>,
    /// The decision counters' totals as last written to the daily table ([`Metrics::daily_deltas`]).
    daily_written: std::sync::Mutex<std::collections::HashMap<(&'static str, &'static str), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        // The process metrics keep their conventional unprefixed names (`process_cpu_seconds_total`, …), as
        // every Prometheus client library writes them, so existing dashboards and alerts apply.
        root.register_collector(Box::new(ProcessCollector::new()));
        let registry = root.sub_registry_with_prefix("licensd");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<MethodRouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        });
        let statements = Family::<RouteLabels, Counter>::default();
        let (pool_size, pool_idle, db_up) = (Gauge::default(), Gauge::default(), Gauge::default());
        let db_errors = Family::<KindLabels, Counter>::default();
        for kind in DB_ERROR_KINDS {
            db_errors.get_or_create_owned(&KindLabels { kind });
        }
        let key_refresh_failures = Counter::default();
        let rate_limited = Family::<LimitLabels, Counter>::default();
        for limit in ["client_ip", "client_key", "trial", "token"] {
            rate_limited.get_or_create_owned(&LimitLabels { limit });
        }
        use codes::*;
        let activations = ByCode::new(&[
            ACTIVATED,
            ALREADY_ACTIVE,
            GATE[0],
            GATE[1],
            GATE[2],
            GATE[3],
            GATE[4],
            "TOO_MANY_ACTIVATIONS",
            "NO_SEAT",
        ]);
        let checks = ByCode::new(&[VALID, GATE[0], GATE[1], GATE[2], GATE[3], GATE[4], "NOT_ACTIVATED", "NO_SEAT"]);
        let deactivations = ByCode::new(&[
            DEACTIVATED,
            "NOT_FOUND",
            "PRODUCT_MISMATCH",
            "NOT_ACTIVATED",
            "TRANSFER_LIMIT",
            "LICENSE_FILE_OUTSTANDING",
        ]);
        let trials = ByCode::new(&[STARTED, RESUMED, "NOT_FOUND", "NO_TRIAL"]);
        let consumptions = ByCode::new(&[
            CONSUMED,
            GATE[0],
            GATE[1],
            GATE[2],
            GATE[3],
            GATE[4],
            "NOT_ACTIVATED",
            "FEATURE_NOT_FOUND",
            "CONSUMPTION_LIMIT",
        ]);
        let consumed = Counter::default();
        let refusals = Family::<RefusalLabels, Counter>::default();

        registry.register(
            "build",
            "licensd's version (always 1)",
            Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION") }),
        );
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by method and route",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "db_statements",
            "SQL statements sent by requests, by route (divide by http_requests for statements per request)",
            statements.clone(),
        );
        registry.register("db_pool_connections", "Open database connections", pool_size.clone());
        registry.register("db_pool_idle_connections", "Idle database connections", pool_idle.clone());
        registry.register(
            "db_up",
            "1 when the database answered a round trip at this scrape (within 1 s), else 0",
            db_up.clone(),
        );
        registry.register(
            "db_errors",
            "Failed database operations of requests and background work, by kind: unavailable (unreachable or no \
             connection free in time: 503), busy (SQLite lock: 503), error (500)",
            db_errors.clone(),
        );
        registry.register(
            "signing_key_refresh_failures",
            "Failures to re-read the active signing key (every 30 s; a rotation does not reach this instance \
             while they last)",
            key_refresh_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with 429 by a rate limit of this instance: client_ip, client_key, trial, token",
            rate_limited.clone(),
        );
        registry.register(
            "client_activations",
            "Client API activations (activate, offline-activate) by code: ACTIVATED (a new slot or seat), \
             ALREADY_ACTIVE (the device held one), or the refusal",
            activations.family.clone(),
        );
        registry.register(
            "client_checks",
            "Client API checks by result code (VALID or why not; check always answers 200)",
            checks.family.clone(),
        );
        registry.register(
            "client_deactivations",
            "Client API deactivations (deactivate, offline-deactivate) by code: DEACTIVATED or the refusal",
            deactivations.family.clone(),
        );
        registry.register(
            "client_trials",
            "Client API trials by code: STARTED (a new trial), RESUMED (the device's existing trial), or the refusal",
            trials.family.clone(),
        );
        registry.register(
            "client_consumptions",
            "Client API consumption requests by code: CONSUMED or the refusal",
            consumptions.family.clone(),
        );
        registry.register(
            "client_consumed_units",
            "Units of consumption recorded through the client API (the sum of accepted consumptions)",
            consumed.clone(),
        );
        registry.register(
            "client_refusals",
            "Client API error answers (every status but 2xx) by route and code: refusals, bad input, rate limits, \
             unavailability",
            refusals.clone(),
        );
        Metrics {
            registry: root,
            requests,
            latency,
            statements,
            pool_size,
            pool_idle,
            db_up,
            db_errors,
            key_refresh_failures,
            rate_limited,
            activations,
            checks,
            deactivations,
            trials,
            consumptions,
            consumed,
            refusals,
            daily_written: Default::default(),
        }
    }
}

impl Metrics {
    /// What the client API's decision counters gained since [`Metrics::daily_written`] last recorded: `(kind,
    /// code, gain, total)` for each known code that gained, read from the counters `/metrics` shows (nothing is
    /// added on a request's path). Codes outside a counter's known list count in `/metrics` only.
    pub fn daily_deltas(&self) -> Vec<(&'static str, &'static str, u64, u64)> {
        let written = self.daily_written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kinds = [
            ("activation", &self.activations),
            ("check", &self.checks),
            ("deactivation", &self.deactivations),
            ("trial", &self.trials),
            ("consumption", &self.consumptions),
        ];
        let mut out = Vec::new();
        for (kind, by) in kinds {
            for (code, counter) in &by.known {
                let total = counter.get();
                let before = written.get(&(kind, *code)).copied().unwrap_or(0);
                if total > before {
                    out.push((kind, *code, total - before, total));
                }
            }
        }
        out
    }

    /// Records that the totals of `deltas` are written to the daily table.
    pub fn daily_written(&self, deltas: &[(&'static str, &'static str, u64, u64)]) {
        let mut written = self.daily_written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (kind, code, _, total) in deltas {
            written.insert((kind, code), *total);
        }
    }

    /// An `activate` or `offline-activate` outcome ([`codes::ACTIVATED`], [`codes::ALREADY_ACTIVE`] or a refusal).
    pub fn activation(&self, code: &'static str) {
        self.activations.inc(code);
    }

    /// A `check` verdict: [`codes::VALID`] or the refusal's code.
    pub fn check(&self, code: &'static str) {
        self.checks.inc(code);
    }

    /// A `deactivate` or `offline-deactivate` outcome.
    pub fn deactivation(&self, code: &'static str) {
        self.deactivations.inc(code);
    }

    /// A `trial` outcome ([`codes::STARTED`], [`codes::RESUMED`] or a refusal).
    pub fn trial(&self, code: &'static str) {
        self.trials.inc(code);
    }

    /// A `consumption` outcome, with the units recorded when it was accepted.
    pub fn consumption(&self, code: &'static str, units: u64) {
        self.consumptions.inc(code);
        self.consumed.inc_by(units);
    }

    /// A request refused by a rate limit: `client_ip`, `client_key`, `trial` or `token`.
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabels { limit }).inc();
    }

    /// A failed database operation outside a request (background work), counted if it is a database failure.
    pub fn db_error(&self, e: &StoreError) {
        if let Some(kind) = db_error_kind(e) {
            self.db_errors.get_or_create(&KindLabels { kind }).inc();
        }
    }

    /// A database failure of a kind known without a [`StoreError`] (`/healthz` timing out: `unavailable`).
    pub fn db_error_of_kind(&self, kind: &'static str) {
        self.db_errors.get_or_create(&KindLabels { kind }).inc();
    }

    /// The background re-read of the signing key failed.
    pub fn key_refresh_failed(&self) {
        self.key_refresh_failures.inc();
    }

    /// The metrics in the classic text format (`text/plain; version=0.0.4`) or, with `openmetrics`, in
    /// OpenMetrics text.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        Ok(out)
    }
}

/// Who made a request, for its access-log line: `token:NAME` (management APIs) or `key:ABCDE…` (the first
/// characters of a client API license key, never the whole key). Set by whoever learns it, read by [`track`].
#[derive(Clone, Default)]
pub struct Who(std::sync::Arc<std::sync::OnceLock<String>>);

impl Who {
    /// Records who made the request (the first to say wins).
    pub fn set(&self, who: String) {
        let _ = self.0.set(who);
    }

    /// A license key as the log shows it: its first five characters.
    pub fn key(license_key: &str) -> String {
        let head: String = license_key.trim().chars().take(5).collect();
        format!("key:{head}…")
    }
}

/// Middleware: counts and times every request under its route template (never its concrete path,
/// which would put ids, and keys, into label values), and counts the client API's error answers by code.
pub async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // A catch-all route (`/api/v1/client/{*rest}`) is a surface's answer for a path it lacks: unmatched.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
        .filter(|p| !p.contains("{*"))
        .unwrap_or("unmatched")
        .to_string();
    let method = method_label(req.method());
    let start = Instant::now();
    // The access log's address and who, only when the access log is on (benchmarks and quiet setups run at
    // `warn`): the slot is an allocation per request on every path, the hottest included.
    let logged = tracing::enabled!(target: "licensd::access", tracing::Level::INFO).then(|| {
        let who = Who::default();
        req.extensions_mut().insert(who.clone());
        (state.http.client_ip(req.headers(), req.extensions()), who)
    });
    let counted = DB_ERRORS.scope(Cell::new([0; 3]), async move {
        let out = licensd_store::db::count_statements(next.run(req)).await;
        (out, DB_ERRORS.with(Cell::get))
    });
    let ((res, statements), db_errors) = counted.await;
    let elapsed = start.elapsed();
    // The access log: one line per request at `info` (`LICENSD_LOG=info,licensd::access=off` silences it).
    // The route template, never the path or query: those can carry license keys.
    if let Some((client_ip, who)) = logged {
        tracing::info!(
            target: "licensd::access",
            method = %method,
            route = %route,
            status = res.status().as_u16(),
            ms = format_args!("{:.1}", elapsed.as_secs_f64() * 1000.0),
            client = %client_ip,
            who = %who.0.get().map_or("-", String::as_str),
            "request"
        );
    }
    let m = &state.metrics;
    for (kind, n) in DB_ERROR_KINDS.into_iter().zip(db_errors) {
        if n > 0 {
            m.db_errors.get_or_create(&KindLabels { kind }).inc_by(u64::from(n));
        }
    }
    if res.extensions().get::<ClientApiError>().is_some() {
        let code = res.extensions().get::<ErrorCode>().map_or(codes::OTHER, |c| c.0);
        m.refusals.get_or_create(&RefusalLabels { route: route.clone(), code }).inc();
    }
    m.statements.get_or_create(&RouteLabels { route: route.clone() }).inc_by(statements);
    m.requests.get_or_create(&RequestLabels { method, route: route.clone(), status: res.status().as_u16() }).inc();
    m.latency.get_or_create(&MethodRouteLabels { method, route }).observe(elapsed.as_secs_f64());
    res
}

/// The method as a label: the seven methods licensd's routes use, else `other` (HTTP allows any token as a method).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    let known = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    known.into_iter().find(|(k, _)| k == m).map_or("other", |(_, label)| label)
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Whether `Accept` prefers OpenMetrics: `application/openmetrics-text` with a quality above zero and at least
/// that of the classic format (`text/plain`, `text/*` or `*/*`). Prometheus asks for OpenMetrics first; a
/// browser, curl or a client without `Accept` gets the classic text.
pub fn wants_openmetrics(headers: &HeaderMap) -> bool {
    let (mut openmetrics, mut classic) = (0.0f32, 0.0f32);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => classic = classic.max(q),
                _ => {}
            }
        }
    }
    openmetrics > 0.0 && openmetrics >= classic
}

/// `GET /metrics` in the classic text format (as [`render_for`] answers a request without `Accept`).
pub async fn render(state: State<AppState>) -> Response {
    render_for(state, HeaderMap::new()).await
}

/// `GET /metrics`: the classic text format, or OpenMetrics when `Accept` prefers it ([`wants_openmetrics`]).
pub async fn render_for(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let stats = state.db.pool_stats();
    state.metrics.pool_size.set(i64::from(stats.size));
    state.metrics.pool_idle.set(i64::try_from(stats.idle).unwrap_or(i64::MAX));
    let up = matches!(tokio::time::timeout(std::time::Duration::from_secs(1), state.db.ping()).await, Ok(Ok(())));
    state.metrics.db_up.set(i64::from(up));
    let openmetrics = wants_openmetrics(&headers);
    let Ok(out) = state.metrics.encode(openmetrics) else {
        return crate::error::ApiError::internal().into_response();
    };
    let content_type = HeaderValue::from_static(if openmetrics { OPENMETRICS } else { CLASSIC });
    ([(header::CONTENT_TYPE, content_type), (header::VARY, HeaderValue::from_static("accept"))], out).into_response()
}

/// The process's own metrics, read from `/proc/self` at each scrape (Linux; nothing elsewhere), under the names
/// the Prometheus client libraries use: `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads`,
/// `process_start_time_seconds`.
#[derive(Debug)]
struct ProcessCollector {
    /// Clock ticks per second of `/proc/self/stat`'s times (`AT_CLKTCK`; 100 on every Linux licensd runs on).
    ticks: f64,
    /// UNIX seconds at which the process started (boot time plus the process's start in ticks).
    start_time: Option<f64>,
}

impl ProcessCollector {
    fn new() -> Self {
        let ticks = clock_ticks().unwrap_or(100) as f64;
        let start_time = (|| {
            let stat = ProcStat::read()?;
            let boot = std::fs::read_to_string("/proc/stat")
                .ok()?
                .lines()
                .find_map(|l| l.strip_prefix("btime "))?
                .trim()
                .parse::<f64>()
                .ok()?;
            Some(boot + stat.start_ticks as f64 / ticks)
        })();
        ProcessCollector { ticks, start_time }
    }
}

/// `AT_CLKTCK` from the auxiliary vector the kernel gave the process (what `sysconf(_SC_CLK_TCK)` answers),
/// read from `/proc/self/auxv`: pairs of native-endian machine words, `(type, value)`, ending with type 0.
fn clock_ticks() -> Option<u64> {
    const AT_CLKTCK: u64 = 17;
    const WORD: usize = std::mem::size_of::<usize>();
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    let word = |b: &[u8]| -> Option<u64> {
        let mut w = [0u8; WORD];
        w.copy_from_slice(b.get(..WORD)?);
        Some(usize::from_ne_bytes(w) as u64)
    };
    auxv.chunks_exact(2 * WORD).map_while(|pair| Some((word(pair)?, word(&pair[WORD..])?))).find_map(|(kind, value)| {
        match kind {
            AT_CLKTCK if value > 0 => Some(value),
            _ => None,
        }
    })
}

/// The fields of `/proc/self/stat` licensd reports.
struct ProcStat {
    utime: u64,
    stime: u64,
    threads: u64,
    start_ticks: u64,
    vsize: u64,
}

impl ProcStat {
    fn read() -> Option<ProcStat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so fields are counted after the last
        // `)`; the first after it is field 3 (state).
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        Some(ProcStat {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
        })
    }
}

/// `VmRSS` of `/proc/self/status`, in bytes (it is given in kB: no page size needed).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim();
    kb.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::TypedMetric as _;
        fn gauge(
            encoder: &mut DescriptorEncoder,
            name: &str,
            help: &str,
            unit: Option<&Unit>,
            value: f64,
        ) -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, unit, ConstGauge::<f64>::TYPE)?)
        }
        if let Some(stat) = ProcStat::read() {
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / self.ticks);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent, in seconds.",
                Some(&Unit::Seconds),
                ConstCounter::<f64>::TYPE,
            )?)?;
            gauge(
                &mut encoder,
                "process_virtual_memory",
                "Virtual memory size, in bytes.",
                Some(&Unit::Bytes),
                stat.vsize as f64,
            )?;
            gauge(&mut encoder, "process_threads", "Number of OS threads.", None, stat.threads as f64)?;
        }
        if let Some(rss) = resident_bytes() {
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident memory size, in bytes.",
                Some(&Unit::Bytes),
                rss as f64,
            )?;
        }
        if let Some(n) = open_fds() {
            // `read_dir` holds one descriptor of its own while it counts.
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                n.saturating_sub(1) as f64,
            )?;
        }
        if let Ok((soft, _)) = rlimit::Resource::NOFILE.get() {
            gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors.", None, soft as f64)?;
        }
        if let Some(start) = self.start_time {
            gauge(
                &mut encoder,
                "process_start_time",
                "Start time of the process since the UNIX epoch, in seconds.",
                Some(&Unit::Seconds),
                start,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn openmetrics_only_when_accept_prefers_it() {
        assert!(!wants_openmetrics(&HeaderMap::new()));
        assert!(!wants_openmetrics(&accept("*/*")));
        assert!(!wants_openmetrics(&accept("text/plain")));
        assert!(wants_openmetrics(&accept("application/openmetrics-text")));
        // What Prometheus 2.x and 3.x send.
        assert!(wants_openmetrics(&accept(
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        )));
        assert!(!wants_openmetrics(&accept("text/plain;version=0.0.4,application/openmetrics-text;q=0.5")));
        assert!(!wants_openmetrics(&accept("application/openmetrics-text;q=0")));
    }

    #[test]
    fn classic_text_types_counters_by_their_sample_names_and_has_no_eof() {
        let m = Metrics::default();
        m.check(codes::VALID);
        let classic = m.encode(false).unwrap();
        assert!(classic.contains("# TYPE licensd_client_checks_total counter\n"), "{classic}");
        assert!(classic.contains("licensd_client_checks_total{code=\"VALID\"} 1\n"), "{classic}");
        assert!(classic.contains("# TYPE licensd_build_info gauge\n"), "{classic}");
        assert!(!classic.contains("# EOF"), "{classic}");
        let om = m.encode(true).unwrap();
        assert!(om.contains("# TYPE licensd_client_checks counter\n"), "{om}");
        assert!(om.trim_end().ends_with("# EOF"), "{om}");
    }

    #[test]
    fn codes_outside_the_expected_lists_still_count() {
        let m = Metrics::default();
        m.trial("PRODUCT_MISMATCH");
        m.trial(codes::STARTED);
        let text = m.encode(false).unwrap();
        assert!(text.contains("licensd_client_trials_total{code=\"PRODUCT_MISMATCH\"} 1\n"), "{text}");
        assert!(text.contains("licensd_client_trials_total{code=\"STARTED\"} 1\n"), "{text}");
        assert!(text.contains("licensd_client_trials_total{code=\"NO_TRIAL\"} 0\n"), "{text}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_read_from_proc() {
        // Enough CPU time to show at the clock's 10 ms resolution.
        let busy = Instant::now();
        let mut x = 0u64;
        while busy.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let text = Metrics::default().encode(false).unwrap();
        let value = |name: &str| -> f64 {
            let prefix = format!("{name} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("{name}: {text}"))
                .parse()
                .unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_cpu_seconds_total") > 0.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(start <= now + 1.0 && start > now - 24.0 * 3600.0, "{start} vs {now}");
        assert_eq!(clock_ticks(), Some(100), "USER_HZ on Linux");
    }
}
