//! licensd's HTTP surfaces on one port: the management API (`/api/v1/…`), operations (`/healthz`,
//! `/metrics`, `/openapi.json`). Handlers are thin: they parse and authorize, the store decides and persists.

pub mod api;
pub mod error;
pub mod extract;
pub mod metrics;
mod ops;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use licensd_store::Db;
use tower::{Layer, ServiceExt as _};
use tower_http::normalize_path::NormalizePathLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::extract::OriginalPath;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(db: Db) -> Self {
        AppState {
            db,
            metrics: Arc::new(metrics::Metrics::default()),
        }
    }
}

/// Server configuration: one typed struct, filled from flags and environment by the CLI.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://…`, a file path, or `postgres://…`.
    pub db: String,
    pub listen: SocketAddr,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "licensd", description = "Self-hosted software licensing server: management API, DevMate v2 API, client API."),
    modifiers(&SecurityAddon),
    tags(
        (name = "products"), (name = "product-features"), (name = "license-templates"), (name = "customers"),
        (name = "orders"), (name = "licenses"), (name = "devices"), (name = "events"), (name = "operations")
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

/// The router and the OpenAPI document generated from its handlers.
pub fn app(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::router())
        .merge(ops::router())
        .split_for_parts();
    let doc = Arc::new(openapi.clone());
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::not_found("no such path; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
                "this path does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request| {
                // The path only: query strings can carry license keys.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state);
    (router, openapi)
}

/// The app as a service: trailing slashes are trimmed before routing (`/api/v1/products/` and
/// `/api/v1/products` are one path), and the original path is kept for pagination links.
pub fn service(
    state: AppState,
) -> axum::routing::IntoMakeService<
    impl tower::Service<
        Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send,
> {
    let (router, _) = app(state);
    let normalized = NormalizePathLayer::trim_trailing_slash().layer(router);
    let svc = normalized.map_request(|mut req: Request| {
        let p = req.uri().path().to_string();
        req.extensions_mut().insert(OriginalPath(p));
        req
    });
    axum::ServiceExt::<Request>::into_make_service(svc)
}

/// Binds, reports the bound address, and serves until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, service(state))
        .with_graceful_shutdown(shutdown)
        .await
}
