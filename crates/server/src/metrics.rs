//! Prometheus metrics: requests by route and status, a latency histogram, SQL statements by route, and the
//! database pool.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

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

/// The registry and the handles the middleware updates. One per app, so tests do not share counters.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    statements: Family<RouteLabels, Counter>,
    pool_size: Gauge,
    pool_idle: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("licensd");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        });
        let statements = Family::<RouteLabels, Counter>::default();
        let pool_size = Gauge::default();
        let pool_idle = Gauge::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register(
            "db_statements",
            "SQL statements sent by requests, by route (divide by http_requests for statements per request)",
            statements.clone(),
        );
        registry.register("db_pool_connections", "Open database connections", pool_size.clone());
        registry.register("db_pool_idle_connections", "Idle database connections", pool_idle.clone());
        Metrics { registry, requests, latency, statements, pool_size, pool_idle }
    }
}

/// Middleware: counts and times every request under its route template (never its concrete path,
/// which would put ids, and keys, into label values).
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

pub async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = method_label(req.method());
    let start = Instant::now();
    let client = state.http.client_ip(req.headers(), req.extensions());
    let who = Who::default();
    req.extensions_mut().insert(who.clone());
    let (res, statements) = licensd_store::db::count_statements(next.run(req)).await;
    let elapsed = start.elapsed();
    // The access log: one line per request at `info` (`LICENSD_LOG=info,licensd::access=off` silences it).
    // The route template, never the path or query: those can carry license keys.
    tracing::info!(
        target: "licensd::access",
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        ms = format_args!("{:.1}", elapsed.as_secs_f64() * 1000.0),
        client = %client,
        who = %who.0.get().map_or("-", String::as_str),
        "request"
    );
    let m = &state.metrics;
    m.statements.get_or_create(&RouteLabels { route: route.clone() }).inc_by(statements);
    m.requests.get_or_create(&RequestLabels { method, route: route.clone(), status: res.status().as_u16() }).inc();
    m.latency.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
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

/// `GET /metrics`: Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Response {
    let stats = state.db.pool_stats();
    state.metrics.pool_size.set(i64::from(stats.size));
    state.metrics.pool_idle.set(i64::try_from(stats.idle).unwrap_or(i64::MAX));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &state.metrics.registry).is_err() {
        return crate::error::ApiError::internal().into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], out)
        .into_response()
}
