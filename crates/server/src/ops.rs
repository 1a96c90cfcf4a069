//! Operations: `/healthz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ErrorBody;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// `200 {"status":"ok"}` after a real database round trip; `503` when the database does not answer.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "OK", body = Health), (status = 503, description = "The database did not answer", body = ErrorBody)))]
pub async fn healthz(State(s): State<AppState>) -> Result<Json<Health>, crate::error::ApiError> {
    // Within a second either way: a load balancer's health check gives up after a few.
    match tokio::time::timeout(std::time::Duration::from_secs(1), s.db.ping()).await {
        Ok(Ok(())) => Ok(Json(Health { status: "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            s.metrics.db_error(&e);
            Err(unavailable())
        }
        Err(_) => {
            s.metrics.db_error_of_kind("unavailable");
            Err(unavailable())
        }
    }
}

fn unavailable() -> crate::error::ApiError {
    crate::error::ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "Database unavailable",
        "the database did not answer",
    )
}

/// Prometheus metrics: the classic text format, or OpenMetrics when `Accept` prefers it (as Prometheus does).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format (version 0.0.4), or OpenMetrics text when Accept prefers application/openmetrics-text", content(
    (String = "text/plain"),
    (String = "application/openmetrics-text")
))))]
pub async fn metrics(state: State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    crate::metrics::render_for(state, headers).await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(metrics))
}
