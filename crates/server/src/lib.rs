//! licensd's HTTP surfaces on one port: the management API (`/api/v1/…`), the DevMate-compatible API
//! (`/v2/…`), the client API (`/api/v1/client/…`), operations (`/healthz`, `/metrics`, `/openapi.json`). Handlers are thin: they parse and authorize, the store decides and persists.

pub mod api;
pub mod client_api;
pub mod dashboard;
pub mod devmate;
pub mod error;
pub mod extract;
pub mod front_door;
pub mod license_api;
pub mod limits;
pub mod metrics;
mod ops;
pub mod reference;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use licensd_core::rsa::RsaKey;
use licensd_core::signing::KeyPair;
use licensd_store::Db;
use licensd_store::client_api::LastChecks;
use licensd_store::tokens::LastUses;
use tower::{Layer, ServiceExt as _};
use tower_http::normalize_path::NormalizePathLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::extract::OriginalPath;

/// What every handler shares: one pointer, so that each middleware and handler that takes the state clones
/// one reference count, not one per field (the client API's hot path passes through several).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub db: Db,
    pub metrics: Arc<metrics::Metrics>,
    /// The active signing key; refreshed from the database so a rotation reaches every instance.
    keys: Arc<RwLock<Arc<KeyPair>>>,
    /// The active RSA key (LicenseSpring's License API v4), refreshed with the Ed25519 one.
    rsa: Arc<RwLock<Arc<RsaKey>>>,
    /// The size of RSA keys this server makes (`--rsa-bits`): its first, and rotations that name none.
    pub rsa_bits: u32,
    /// `LICENSD_SECRET`, which encrypts the signing key at rest.
    secret: Option<Arc<str>>,
    pub last_checks: Arc<LastChecks>,
    /// Tokens' last-used times waiting to be written (at most once a minute per token).
    pub last_uses: Arc<LastUses>,
    /// Timeouts, the connection cap, trusted proxies and the public URL ([`AppState::with_http`]).
    pub http: Arc<front_door::HttpConfig>,
    /// Rate limits; none unless [`AppState::with_rate_limits`] sets them.
    pub limits: Arc<limits::Limits>,
    /// The dashboard home page's license counts, per scope, a few seconds old at most ([`dashboard::Tallies`]).
    pub tallies: Arc<dashboard::Tallies>,
    /// The License API's cached RSA signatures ([`license_api::Signatures`]).
    pub license_api: Arc<license_api::Signatures>,
}

impl AppState {
    /// Loads (or on first start creates) the signing keys, a new RSA key being of
    /// [`licensd_core::rsa::DEFAULT_RSA_BITS`].
    pub async fn load(db: Db, secret: Option<String>) -> Result<Self, licensd_store::StoreError> {
        AppState::load_with(db, secret, licensd_core::rsa::DEFAULT_RSA_BITS).await
    }

    /// Loads (or on first start creates) the Ed25519 and the RSA signing key, a new RSA key (this one, and
    /// rotations that name no size) being of `rsa_bits` (2048, 3072 or 4096).
    pub async fn load_with(db: Db, secret: Option<String>, rsa_bits: u32) -> Result<Self, licensd_store::StoreError> {
        let (key, rsa) = licensd_store::keys::ensure(&db, secret.as_deref(), rsa_bits).await?;
        Ok(AppState(Arc::new(Shared {
            db,
            metrics: Arc::new(metrics::Metrics::default()),
            keys: Arc::new(RwLock::new(Arc::new(key))),
            rsa: Arc::new(RwLock::new(Arc::new(rsa))),
            rsa_bits,
            secret: secret.map(Arc::from),
            last_checks: Arc::new(LastChecks::default()),
            last_uses: Arc::new(LastUses::default()),
            http: Arc::new(front_door::HttpConfig::default()),
            limits: Arc::new(limits::Limits::default()),
            tallies: Arc::new(dashboard::Tallies::default()),
            license_api: Arc::new(license_api::Signatures::default()),
        })))
    }

    /// Serves with these timeouts, connection cap, trusted proxies and public URL.
    pub fn with_http(mut self, http: front_door::HttpConfig) -> Self {
        Arc::make_mut(&mut self.0).http = Arc::new(http);
        self
    }

    /// Applies these rate limits (the library default has none: `licensd serve` sets its documented defaults).
    pub fn with_rate_limits(mut self, limits: &limits::RateLimits) -> Self {
        Arc::make_mut(&mut self.0).limits = Arc::new(limits::Limits::new(limits));
        self
    }

    /// `LICENSD_SECRET`, which seals signing keys and credentials at rest.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// The key that signs now.
    pub fn key(&self) -> Arc<KeyPair> {
        self.keys.read().map(|k| k.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The RSA key that signs now (LicenseSpring's License API v4).
    pub fn rsa_key(&self) -> Arc<RsaKey> {
        self.rsa.read().map(|k| k.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `msg` with the active RSA key, in standard base64: what
    /// LicenseSpring's SDKs verify (the `LicenseSignature` header, `license_signature` fields). PKCS#1 v1.5 is
    /// deterministic, so a caller may cache it for identical bytes and the same key id.
    pub fn sign_rsa(&self, msg: &[u8]) -> String {
        self.rsa_key().sign_base64(msg)
    }

    /// Adds what the client API decided since the last write to the daily totals (`store::stats`), which the
    /// dashboard's home page charts. A failed write is retried with the next one (nothing is lost but on a crash).
    pub async fn write_daily(&self) {
        let deltas = self.metrics.daily_deltas();
        if deltas.is_empty() {
            return;
        }
        let counts: Vec<(&str, &str, i64)> =
            deltas.iter().map(|(k, c, d, _)| (*k, *c, i64::try_from(*d).unwrap_or(i64::MAX))).collect();
        match licensd_store::stats::add_client_daily(&self.db, licensd_core::time::now_ms(), &counts).await {
            Ok(()) => self.metrics.daily_written(&deltas),
            Err(e) => {
                tracing::warn!(error = %e, "could not record the client API's daily totals");
                self.metrics.db_error(&e);
            }
        }
    }

    /// Re-reads the active keys, Ed25519 and RSA (after `licensd key rotate` on any instance); a failure is
    /// counted in `licensd_signing_key_refresh_failures_total` (and `licensd_db_errors_total` when the database
    /// failed).
    pub async fn refresh_key(&self) -> Result<(), licensd_store::StoreError> {
        let read = async {
            let key = licensd_store::keys::active(&self.db, self.secret.as_deref()).await?;
            let rsa = licensd_store::keys::active_rsa(&self.db, self.secret.as_deref()).await?;
            Ok::<_, licensd_store::StoreError>((key, rsa))
        };
        let (key, rsa) = match read.await {
            Ok(keys) => keys,
            Err(e) => {
                self.metrics.key_refresh_failed();
                self.metrics.db_error(&e);
                return Err(e);
            }
        };
        if key.key_id != self.key().key_id {
            tracing::info!(key_id = %key.key_id, "signing key rotated");
            if let Ok(mut k) = self.keys.write() {
                *k = Arc::new(key);
            }
        }
        // None only if the row was removed by hand: keep signing with the key held.
        if let Some(rsa) = rsa
            && rsa.key_id != self.rsa_key().key_id
        {
            tracing::info!(key_id = %rsa.key_id, bits = rsa.bits(), "RSA signing key rotated");
            if let Ok(mut k) = self.rsa.write() {
                *k = Arc::new(rsa);
            }
        }
        Ok(())
    }

    /// A signed license file for an outcome with a device, valid until the store recorded (`file_until`).
    pub fn license_file(&self, o: &licensd_store::client_api::Outcome) -> String {
        let key = self.key();
        let payload = licensd_store::client_api::license_file_payload(o, &key.key_id, licensd_core::time::now_ms());
        licensd_core::signing::license_file(&payload, &key)
    }
}

/// Server configuration: one typed struct, filled from flags and environment by the CLI.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://…`, a file path, or `postgres://…`.
    pub db: String,
    pub listen: SocketAddr,
    /// Timeouts, limits, proxies, public URL, metrics address.
    pub http: front_door::HttpConfig,
    pub rate_limits: limits::RateLimits,
    /// PostgreSQL's `statement_timeout` for the server's connections.
    pub statement_timeout: Duration,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "licensd", description = "Self-hosted software licensing server: management API, DevMate v2 API, client API."),
    modifiers(&SecurityAddon),
    tags(
        (name = "products"), (name = "product-features"),
        (name = "product-versions", description = "Released versions and their installation files (LicenseSpring's; the License API v4's versions and installation_file)"), (name = "license-templates"), (name = "customers"),
        (name = "orders"), (name = "licenses"), (name = "devices"), (name = "events"),
        (name = "api-keys", description = "LicenseSpring-style API keys and shared keys, for the License API v4 (admins)"),
        (name = "oauth-clients", description = "OAuth clients (client credentials), for the License API v4 (admins)"),
        (name = "signing-keys", description = "The public halves of the signing keys (Ed25519: client API and license files; RSA: LicenseSpring's License API v4) and their rotation"),
        (name = "client"), (name = "operations"),
        (name = "devmate", description = "DevMate Public API v2 compatibility (`/v2`)")
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "devmate_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <token>` (DevMate) or `Api-Key <token>` (LicenseSpring), same tokens as Bearer",
            ))),
        );
    }
}

/// The router and the OpenAPI document generated from its handlers. Each HTTP surface is nested under its
/// prefix and owns what it answers there: its routes, its layers (rate limits, deadline, signing) and its
/// answers for a path or method it does not have, in its own error shape ([`surface`]). Paths outside every
/// surface, and the operations endpoints, answer in the error envelope.
pub fn app(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let ops = if state.http.metrics_listen.is_some() {
        // `/metrics` is on its own address (`--metrics-listen`), not on the public port.
        OpenApiRouter::new().routes(utoipa_axum::routes!(ops::healthz))
    } else {
        ops::router()
    };
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(api::PREFIX, api::surface(&state))
        .nest(devmate::PREFIX, devmate::surface(&state))
        .merge(client_api::surface(&state))
        .merge(ops)
        .split_for_parts();
    reference::document(&mut openapi, &state.http);
    let doc = Arc::new(openapi.clone());
    let router = router
        .merge(license_api::surface(&state))
        .merge(dashboard::router())
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The path only: query strings can carry license keys. DevMate's reset path carries one too. At
            // `debug`: at the default `info` the access line says the same, and the span cost 5.6% of a
            // `check`'s instructions (docs/benchmarks.md, "what the access log costs").
            tracing::debug_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()))
        }))
        .with_state(state);
    (router, openapi)
}

/// Makes `routes` (paths relative to the surface's prefix, its layers already applied) an HTTP surface, for
/// [`OpenApiRouter::nest`] under that prefix: `not_found` answers a path under the prefix that no route has,
/// `method_not_allowed` a method one of its paths does not take (axum adds `Allow`), both in the surface's
/// own error shape. They are set after the layers given, so they pass through none of them (a layer applied
/// afterwards, like the client API's signing, covers them too). Nested, they replace the app's fallbacks for
/// the prefix (axum: "If the nested router has its own fallback then the outer fallback will not be
/// inherited"), so no shared fallback asks which surface a path belongs to.
///
/// Every operation of a surface is documented with the front door's answers ([`document_front_door`]).
pub(crate) fn surface<N, TN, M, TM>(
    routes: OpenApiRouter<AppState>,
    not_found: N,
    method_not_allowed: M,
) -> OpenApiRouter<AppState>
where
    N: axum::handler::Handler<TN, AppState>,
    M: axum::handler::Handler<TM, AppState>,
    TN: 'static,
    TM: 'static,
{
    let (router, mut doc) = routes.split_for_parts();
    document_front_door(&mut doc);
    let mut surface = OpenApiRouter::from(router.fallback(not_found).method_not_allowed_fallback(method_not_allowed));
    *surface.get_openapi_mut() = doc;
    surface
}

/// Adds the answers of the front door to every operation of a surface: `429` (rate limits), `503` (request
/// timeout) and `408` (a stalled body) where there is a body.
pub(crate) fn document_front_door(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Response};
    for item in openapi.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            let mut add = |status: &str, text: &str| {
                op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(Response::new(text)));
            };
            add("429", "RATE_LIMITED: a rate limit of this instance was reached; Retry-After says when to retry");
            add(
                "503",
                "TIMEOUT: not answered within the request timeout (or UNAVAILABLE: the database is unreachable)",
            );
            if op.request_body.is_some() {
                add("408", "REQUEST_TIMEOUT: the request body stalled for longer than the body timeout");
            }
        }
    }
}

/// Adds `403` to every write of a surface whose tokens ask the permission table (`core::access`): support and
/// read-only tokens, and the catalog for all but admins, may be refused.
pub(crate) fn document_permission_table(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Response};
    for item in openapi.paths.paths.values_mut() {
        for op in [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten() {
            op.responses.responses.entry("403".to_string()).or_insert_with(|| {
                RefOr::T(Response::new(
                    "FORBIDDEN_ROLE: the token's role may not do this (FORBIDDEN for the catalog, which needs an \
                     admin token); the detail names the role and what it may do",
                ))
            });
        }
    }
}

/// A request path fit for logs: the activation key in `/v2/licenses/{key}/…` is a credential of the client
/// API, and the secret of a dashboard invitation (`/ui/invite/{secret}`) one of a person, so each is replaced
/// by its placeholder.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.starts_with("/ui/invite/") {
        return "/ui/invite/{secret}".into();
    }
    match path.strip_prefix("/v2/licenses/") {
        Some(rest) => {
            let tail = rest.split_once('/').map(|(_, t)| t).unwrap_or_default();
            format!("/v2/licenses/{{activation_key}}/{tail}").into()
        }
        None => path.into(),
    }
}

/// The app as a service: trailing slashes are trimmed before routing (`/api/v1/products/` and
/// `/api/v1/products` are one path), and the original path is kept for pagination links.
pub fn service(
    state: AppState,
) -> axum::routing::IntoMakeService<
    impl tower::Service<Request, Response = axum::response::Response, Error = std::convert::Infallible, Future: Send>
    + Clone
    + Send,
> {
    axum::ServiceExt::<Request>::into_make_service(app_service(state))
}

/// [`service`] before it is made a make-service: what each connection serves.
fn app_service(
    state: AppState,
) -> impl tower::Service<Request, Response = axum::response::Response, Error = std::convert::Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let (router, _) = app(state);
    let normalized = NormalizePathLayer::trim_trailing_slash().layer(router);
    normalized.map_request(|mut req: Request| {
        let p = req.uri().path().to_string();
        req.extensions_mut().insert(OriginalPath(p));
        req
    })
}

/// Serves until `shutdown` resolves; in-flight requests finish (within the shutdown timeout), then pending
/// `last_check` times are written. In the background it writes `last_check` times and checkpoints SQLite's log
/// every second, and picks up key rotations.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_metrics(state, listener, None, shutdown).await
}

/// [`serve`], with `/metrics` on a listener of its own (`--metrics-listen`; the main port then does not serve it).
pub async fn serve_with_metrics(
    state: AppState,
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let bg = state.clone();
    // The home page's counts for people who see every product, made once at start so that the first view
    // after a start or an upgrade does not wait for them (later ones are refreshed as they are viewed).
    {
        let (tallies, db) = (state.tallies.clone(), state.db.clone());
        tokio::spawn(async move {
            if let Err(e) = tallies.get(&db, &licensd_store::Scope::system()).await {
                tracing::warn!(error = %e, "could not count licenses for the dashboard's home page");
            }
        });
    }
    let background = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            bg.db.probe().await;
            if let Err(e) = bg.last_checks.flush(&bg.db).await {
                tracing::warn!(error = %e, "could not record last_check times");
                bg.metrics.db_error(&e);
            }
            if let Err(e) = bg.last_uses.flush(&bg.db).await {
                tracing::warn!(error = %e, "could not record tokens' last-used times");
            }
            if let Err(e) = bg.db.checkpoint().await {
                tracing::warn!(error = %e, "could not checkpoint the write-ahead log");
                bg.metrics.db_error(&e);
            }
            n += 1;
            if n.is_multiple_of(10) {
                bg.limits.housekeeping();
                bg.write_daily().await;
            }
            if n.is_multiple_of(3600)
                && let Err(e) = licensd_store::users::sweep_sessions(&bg.db).await
            {
                tracing::warn!(error = %e, "could not delete ended dashboard sessions");
            }
            if n.is_multiple_of(3600)
                && let Err(e) = licensd_store::oauth::sweep_oauth_tokens(&bg.db).await
            {
                tracing::warn!(error = %e, "could not delete expired OAuth access tokens");
            }
            if n.is_multiple_of(30)
                && let Err(e) = bg.refresh_key().await
            {
                tracing::warn!(error = %e, "could not refresh the signing key");
            }
        }
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slots = front_door::connection_slots(&state.http);
    let main = front_door::serve_connections(
        tower::util::BoxCloneService::new(app_service(state.clone())),
        listener,
        state.http.clone(),
        slots.clone(),
        stopped.clone(),
    );
    let ops = metrics.map(|l| {
        tokio::spawn(front_door::serve_connections(
            front_door::metrics_app(state.clone()),
            l,
            state.http.clone(),
            slots,
            stopped,
        ))
    });
    let main = tokio::spawn(main);
    shutdown.await;
    let _ = stop.send(true);
    let _ = main.await;
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    background.abort();
    if let Err(e) = state.last_checks.flush(&state.db).await {
        tracing::warn!(error = %e, "could not record last_check times at shutdown");
    }
    if let Err(e) = state.last_uses.flush(&state.db).await {
        tracing::warn!(error = %e, "could not record tokens' last-used times at shutdown");
    }
    state.write_daily().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn activation_keys_in_devmate_paths_stay_out_of_logs() {
        assert_eq!(
            super::loggable_path("/v2/licenses/id593311373237odr/reset_first_activation"),
            "/v2/licenses/{activation_key}/reset_first_activation"
        );
        assert_eq!(super::loggable_path("/v2/licenses/secret"), "/v2/licenses/{activation_key}/");
        assert_eq!(super::loggable_path("/v2/customers/45"), "/v2/customers/45");
        assert_eq!(super::loggable_path("/ui/invite/lsd_abc"), "/ui/invite/{secret}");
    }
}
