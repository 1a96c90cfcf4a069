//! The front door: how connections are accepted and served, before any router sees a request.
//!
//! - Every connection is served by hyper with a timer, so a request head must arrive within the header
//!   timeout (hyper starts that clock when the connection is ready for a request: on connect and after each
//!   response, so it is the keep-alive idle timeout too); a handler gets the request timeout; a body that
//!   stalls between chunks gets the body timeout.
//! - Connections are capped by a semaphore around `accept`: over the cap, new connections wait in the
//!   kernel's listen queue until a slot frees (never refused by licensd itself). The cap is kept below the
//!   process's open-file limit, so accepting never fails with "too many open files".
//! - Graceful shutdown has a deadline: idle connections close at once, requests in flight get the shutdown
//!   timeout, then whatever is left is dropped.
//! - The requests hyper refuses itself (a malformed request line or header, a URI over 64 KiB, too many or
//!   too large headers) are answered with the JSON error envelope instead of hyper's empty body.
//! - Which address a request comes from (`--trust-proxy`) and which origin pagination links name
//!   (`--public-url`).

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

use crate::AppState;
use crate::error::{ApiError, ErrorBody, ErrorObject};

/// How connections and requests are bounded, and how a request's origin is told. One per server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// A request head (request line and headers) must be complete this long after the connection is ready
    /// for it: after connecting, and after the previous response (so this is the keep-alive idle timeout too).
    pub header_timeout: Duration,
    /// A handler (body read included) must answer within this, or the request answers `503 TIMEOUT`.
    pub request_timeout: Duration,
    /// The longest pause between two chunks of a request body (`408 REQUEST_TIMEOUT`).
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen queue. Kept below the open-file limit.
    pub max_connections: usize,
    /// After SIGINT/SIGTERM, requests in flight get this long; then the server exits anyway.
    pub shutdown_timeout: Duration,
    /// The origin (and optional path prefix) pagination links start with, e.g. `https://licensing.example.com`.
    pub public_url: Option<PublicUrl>,
    /// Proxies whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are believed.
    pub trust_proxy: TrustedProxies,
    /// Where `/metrics` is served instead of the main port, when set (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for HttpConfig {
    /// The values `licensd serve` documents as its defaults.
    fn default() -> Self {
        HttpConfig {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_timeout: Duration::from_secs(10),
            public_url: None,
            trust_proxy: TrustedProxies::default(),
            metrics_listen: None,
        }
    }
}

/// hyper's read buffer bound: a request head larger than this is refused (`431`). Above the 64 KiB URI limit, so
/// a long URI is told as such; 128 KiB per connection keeps the worst case at `max_connections` × 128 KiB.
const MAX_HEAD_BUFFER: usize = 128 * 1024;

/// A validated `--public-url`: `http` or `https`, a host, an optional path prefix; no query, no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl std::str::FromStr for PublicUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let uri: axum::http::Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(format!("{s:?} must start with http:// or https://")),
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("{s:?} has no host"));
        };
        if !valid_host(authority.as_str()) {
            return Err(format!("{s:?}: {authority} is not a host[:port]"));
        }
        if uri.query().is_some() || s.contains('#') {
            return Err(format!("{s:?} must not have a query or fragment"));
        }
        let scheme = uri.scheme_str().unwrap_or("http");
        let path = uri.path().trim_end_matches('/');
        Ok(PublicUrl(format!("{scheme}://{authority}{path}")))
    }
}

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `--trust-proxy`: the address ranges of reverse proxies in front of licensd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl std::str::FromStr for TrustedProxies {
    type Err = String;

    /// `10.0.0.0/8,192.168.1.7,::1`: CIDR ranges or single addresses, comma-separated.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = match part.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => part
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("{part:?} is not an address or CIDR range"))?,
            };
            nets.push(net.trunc());
        }
        Ok(TrustedProxies(nets))
    }
}

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, what a dual-stack socket reports) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The socket peer of a request (inserted per connection by [`serve_connections`]).
fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| canonical(c.0.ip()))
}

impl HttpConfig {
    /// Whether the request came through a trusted proxy (so its forwarded headers may be believed).
    fn via_trusted_proxy(&self, extensions: &axum::http::Extensions) -> bool {
        !self.trust_proxy.is_empty() && peer(extensions).is_some_and(|p| self.trust_proxy.contains(p))
    }

    /// The address the request comes from: the socket peer, or, when that is a trusted proxy, the last hop of
    /// `X-Forwarded-For` that is not one (what the outermost trusted proxy saw; hops further left are the
    /// client's own claims).
    pub fn client_ip(&self, headers: &HeaderMap, extensions: &axum::http::Extensions) -> IpAddr {
        let Some(peer) = peer(extensions) else {
            return IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        };
        if self.trust_proxy.is_empty() || !self.trust_proxy.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        for hop in hops.iter().rev().flat_map(|v| v.rsplit(',')) {
            let Some(ip) = parse_hop(hop.trim()) else {
                // A trusted proxy writes addresses; anything else is not one of theirs: stop at the last good hop.
                break;
            };
            client = ip;
            if !self.trust_proxy.contains(ip) {
                break;
            }
        }
        client
    }

    /// `scheme://host[:port]` (plus the public URL's path prefix) for absolute links in list pages: the
    /// configured public URL; else `http`/`https` and the host from a trusted proxy's `X-Forwarded-Proto` and
    /// `X-Forwarded-Host`; else `http` and the `Host` header, which must be a host[:port].
    pub fn link_origin(&self, parts: &Parts) -> Result<String, ApiError> {
        if let Some(u) = &self.public_url {
            return Ok(u.0.clone());
        }
        let trusted = self.via_trusted_proxy(&parts.extensions);
        let forwarded = |name: &str| {
            trusted.then(|| parts.headers.get(name)?.to_str().ok()?.split(',').next().map(str::trim)).flatten()
        };
        let scheme = match forwarded("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let (host, name) = match forwarded("x-forwarded-host").filter(|h| valid_host(h)) {
            Some(h) => (Some(h), "X-Forwarded-Host"),
            None => (
                parts
                    .headers
                    .get(header::HOST)
                    .map(|h| h.to_str().unwrap_or("\u{0}"))
                    .or(parts.uri.authority().map(|a| a.as_str())),
                "Host",
            ),
        };
        let host = host.unwrap_or("localhost");
        if !valid_host(host) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_HEADER",
                format!("Invalid header \"{name}\""),
                format!("{name} must be a host name or address with an optional port, as links are built from it"),
            ));
        }
        Ok(format!("{scheme}://{host}"))
    }
}

/// One `X-Forwarded-For` hop: an address, or an `address:port` / `[v6]:port` some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical)
}

/// `host[:port]`: a DNS name or IPv4 address (letters, digits, `-`, `.`), or a bracketed IPv6 address; a port
/// of 1–65535. Nothing else can reach a link: no scheme, userinfo, path or whitespace.
pub fn valid_host(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['-', '.']);
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    host_ok && port_ok
}

/// Middleware for `/api/v1` and the client API: a handler that does not answer within the request timeout
/// answers `503 TIMEOUT` in the error envelope (its future is dropped, so its transaction rolls back).
pub async fn deadline(State(s): State<AppState>, req: Request, next: Next) -> Response {
    within_deadline(&s, next.run(req)).await
}

/// `answer` within the request timeout, or the `503 TIMEOUT` error (for middleware that does more than the
/// deadline: the client API's, which saves a layer on its hot path).
pub async fn within_deadline(s: &AppState, answer: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(s.http.request_timeout, answer).await {
        Ok(res) => res,
        Err(_) => timeout_error(s.http.request_timeout).into_response(),
    }
}

/// [`deadline`] for `/v2`, in DevMate's error shape.
pub async fn deadline_v2(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(s.http.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            let e = timeout_error(s.http.request_timeout);
            crate::devmate::V2Error { status: e.status, title: "Server error.".into(), detail: Some(e.error.detail) }
                .into_response()
        }
    }
}

fn timeout_error(t: Duration) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "TIMEOUT",
        "Request timed out",
        format!("the request was not answered within {} s; try again", t.as_secs_f64()),
    )
}

/// The open-file limit leaves room for what is not a client connection: database files and connections, the
/// listeners, logs. Half the limit at most, so a small limit still serves some connections.
fn connection_budget(wanted: usize) -> usize {
    // Raising the soft limit to the hard one costs nothing and is what servers need (Go does it at start).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) if soft != rlimit::INFINITY => {
            let soft = usize::try_from(soft).unwrap_or(usize::MAX);
            let reserve = (soft / 2).min(128);
            let budget = soft.saturating_sub(reserve).max(1);
            if budget < wanted {
                tracing::warn!(
                    max_connections = wanted,
                    open_file_limit = soft,
                    serving = budget,
                    "the open-file limit is below --max-connections; serving fewer connections at once"
                );
            }
            budget.min(wanted)
        }
        _ => wanted,
    }
}

/// The whole app as one cloneable service (what each connection serves).
pub(crate) type App = tower::util::BoxCloneService<Request, Response, Infallible>;

/// Serves `listener` (the app, or `/metrics` alone) until `shutdown` flips, then drains with the deadline.
pub(crate) async fn serve_connections(
    app: App,
    listener: TcpListener,
    config: Arc<HttpConfig>,
    slots: Arc<tokio::sync::Semaphore>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or memory: the peer stays in the queue; try again shortly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (app, config, shutdown) = (app.clone(), config.clone(), shutdown.clone());
        conns.spawn(async move {
            serve_connection(stream, peer, app, &config, shutdown).await;
            drop(permit);
        });
    }
    drop(listener);
    // Every connection task watches the same flag: idle ones close now, busy ones after their response.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(config.shutdown_timeout, drain).await.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "requests still in flight after the shutdown timeout; closing their connections"
        );
        conns.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: App,
    config: &HttpConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (stall, deadline) = (config.body_timeout, config.request_timeout);
    let svc = tower::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
        let mut req = req.map(|b| Body::new(GuardedBody::new(b, stall, deadline)));
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    // http1_only: the protocol-sniffing phase of `auto` reads without a timer, which a silent connection would
    // sit in for ever.
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(Refusals::new(stream)), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => log_connection_end(r),
        () = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            log_connection_end(conn.await);
        }
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

fn log_connection_end(r: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Why a request body could not be read in time (found by [`crate::extract::body_error`] in a body error's
/// sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyTimeout {
    /// No data for longer than the body timeout.
    Stalled(Duration),
    /// Data kept coming, but the whole body was not there within the request timeout.
    Deadline(Duration),
}

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyTimeout::Stalled(t) => write!(f, "the request body stalled for longer than {} s", t.as_secs_f64()),
            BodyTimeout::Deadline(t) => write!(f, "the request body was not complete within {} s", t.as_secs_f64()),
        }
    }
}

impl std::error::Error for BodyTimeout {}

pin_project_lite::pin_project! {
    /// A request body with two clocks: a pause between chunks longer than the body timeout, or a body not complete
    /// within the request timeout of its request's arrival, ends it with a [`BodyTimeout`]. Whoever reads it (the
    /// signing middleware, an extractor) gets the error, so a trickling body is bounded wherever it is read.
    struct GuardedBody<B> {
        #[pin]
        inner: B,
        #[pin]
        stall: tokio::time::Sleep,
        stall_for: Duration,
        #[pin]
        deadline: tokio::time::Sleep,
        deadline_after: Duration,
    }
}

impl<B> GuardedBody<B> {
    fn new(inner: B, stall_for: Duration, deadline_after: Duration) -> Self {
        // Timers register only when first polled: a body that is already buffered never touches them.
        GuardedBody {
            inner,
            stall: tokio::time::sleep(stall_for),
            stall_for,
            deadline: tokio::time::sleep(deadline_after),
            deadline_after,
        }
    }
}

impl<B> http_body::Body for GuardedBody<B>
where
    B: http_body::Body<Data = axum::body::Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            let next = tokio::time::Instant::now() + *this.stall_for;
            this.stall.as_mut().reset(next);
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if this.deadline.poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout::Deadline(*this.deadline_after)))));
        }
        if this.stall.poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout::Stalled(*this.stall_for)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves only `/metrics` (and `/healthz`, for probes on the same address): the `--metrics-listen` port.
pub(crate) fn metrics_app(state: AppState) -> App {
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(crate::metrics::render_for))
        .route("/healthz", axum::routing::get(crate::ops::healthz))
        .fallback(|| async { ApiError::not_found("this address serves /metrics and /healthz only").into_response() })
        .with_state(state);
    tower::util::BoxCloneService::new(router)
}

pub(crate) fn connection_slots(config: &HttpConfig) -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(connection_budget(config.max_connections.max(1))))
}

/// The socket with hyper's automatic refusals replaced: when hyper cannot parse a request head it writes a bare
/// `400`, `414` or `431` with an empty body and `connection: close`, and closes. Those heads are recognised as
/// they are written (licensd's own error responses always carry a JSON body, so an empty one is hyper's) and
/// replaced with the same status carrying the error envelope.
struct Refusals<S> {
    inner: S,
    /// A replacement response still being written, and how much of it is out.
    pending: Option<(&'static [u8], usize)>,
}

impl<S> Refusals<S> {
    fn new(inner: S) -> Self {
        Refusals { inner, pending: None }
    }
}

/// hyper's automatic responses (`hyper::proto::h1::role::Server::on_error`) and what replaces each.
static REFUSALS: LazyLock<Vec<(&'static [u8], Vec<u8>)>> = LazyLock::new(|| {
    [
        (
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            "Malformed request",
            "the request line or a header is not valid HTTP/1.1".to_string(),
        ),
        (
            &b"HTTP/1.1 414 URI Too Long\r\n"[..],
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            "URI too long",
            "the request target is over 65534 bytes".to_string(),
        ),
        (
            &b"HTTP/1.1 431 Request Header Fields Too Large\r\n"[..],
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
            "Request header fields too large",
            format!("the request has more than 100 header fields, or its head is over {} KiB", MAX_HEAD_BUFFER / 1024),
        ),
    ]
    .into_iter()
    .map(|(head, status, code, title, detail)| {
        let body = serde_json::to_vec(&ErrorBody {
            errors: vec![ErrorObject { code, title: title.into(), detail, source: None }],
        })
        .unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        (head, out)
    })
    .collect()
});

/// The replacement for `buf` if it is one of hyper's automatic refusals.
fn replacement(buf: &[u8]) -> Option<&'static [u8]> {
    if buf.len() > 256 || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (_, out) = REFUSALS.iter().find(|(head, _)| buf.starts_with(head))?;
    let lower = buf.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    (has(b"\r\ncontent-length: 0\r\n") && has(b"\r\nconnection: close\r\n") && !has(b"content-type"))
        .then_some(out.as_slice())
}

impl<S: AsyncWrite + Unpin> Refusals<S> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = self.pending {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending = (done + n < bytes.len()).then_some((bytes, done + n));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Refusals<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Refusals<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(out) = replacement(buf) {
            self.pending = Some((out, 0));
            // Taken as written; the replacement goes out here or on the flush that follows.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (non_empty.next(), non_empty.next())
            && let Some(out) = replacement(only)
        {
            self.pending = Some((out, 0));
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(only.len()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_host_and_port_only() {
        for ok in ["example.com", "example.com:8080", "127.0.0.1:1", "[::1]", "[::1]:443", "localhost"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example/x",
            "a@b",
            "javascript:alert(1)//",
            "x:0",
            "x:65536",
            "x:",
            "[::1",
            "[nope]:80",
            "a b",
            "-x",
            "x:80:80",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn public_urls_are_http_or_https_origins_with_an_optional_prefix() {
        assert_eq!("https://lic.example.com/".parse::<PublicUrl>().unwrap().as_str(), "https://lic.example.com");
        assert_eq!("http://h:8080/licensd/".parse::<PublicUrl>().unwrap().as_str(), "http://h:8080/licensd");
        for bad in ["javascript:alert(1)", "ftp://x", "https://x/?a=1", "lic.example.com", "https://u@x"] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_last_hop_a_trusted_proxy_did_not_add() {
        let mut c = HttpConfig { trust_proxy: "10.0.0.0/8, 127.0.0.1".parse().unwrap(), ..HttpConfig::default() };
        let ip = |peer: &str, xff: &[&str], c: &HttpConfig| {
            let mut ext = axum::http::Extensions::new();
            ext.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 1)));
            let mut h = HeaderMap::new();
            for v in xff {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            c.client_ip(&h, &ext).to_string()
        };
        assert_eq!(ip("127.0.0.1", &["6.6.6.6, 1.2.3.4, 10.1.1.1"], &c), "1.2.3.4");
        assert_eq!(ip("127.0.0.1", &["6.6.6.6", "1.2.3.4"], &c), "1.2.3.4");
        assert_eq!(ip("127.0.0.1", &["garbage, 10.0.0.2"], &c), "10.0.0.2");
        assert_eq!(ip("127.0.0.1", &[], &c), "127.0.0.1");
        assert_eq!(ip("9.9.9.9", &["1.2.3.4"], &c), "9.9.9.9", "an untrusted peer's header is ignored");
        assert_eq!(ip("::ffff:127.0.0.1", &["[2001:db8::1]:4711"], &c), "2001:db8::1");
        c.trust_proxy = TrustedProxies::default();
        assert_eq!(ip("127.0.0.1", &["1.2.3.4"], &c), "127.0.0.1");
    }

    #[test]
    fn only_hypers_empty_refusals_are_replaced() {
        let hyper414 = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 20:31:50 GMT\r\n\r\n";
        let out = replacement(hyper414).expect("replaced");
        let text = std::str::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(
            text.ends_with(
                r#""code":"URI_TOO_LONG","title":"URI too long","detail":"the request target is over 65534 bytes"}]}"#
            ),
            "{text}"
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ours).is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
