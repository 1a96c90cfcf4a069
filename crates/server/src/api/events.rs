//! `/api/v1/events/`: the audit log.

use axum::Json;
use axum::extract::State;
use licensd_core::model::Event;
use licensd_store::events;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, IdPath, Page, RawParams};

#[utoipa::path(get, path = "/events", tag = "events", operation_id = "list_events", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<Event>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<Event>>> {
    let p = q.list(&events::SPEC)?;
    let (n, rows) = events::list(&s.db, &auth.read()?, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

#[utoipa::path(get, path = "/events/{id}", tag = "events", operation_id = "get_events", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = Event), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<Event>> {
    Ok(Json(events::get(&s.db, &auth.read()?, id).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get))
}
