//! `/api/v1/devices/`: the machines holding activations, and deactivation from the vendor's side.

use axum::Json;
use axum::extract::State;
use licensd_core::model::Device;
use licensd_store::devices;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, IdPath, Page, RawParams};

#[utoipa::path(get, path = "/devices", tag = "devices", operation_id = "list_devices", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<Device>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<Device>>> {
    let p = q.list(&devices::SPEC)?;
    let (n, rows) = devices::list(&s.db, &auth.read()?, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

#[utoipa::path(get, path = "/devices/{id}", tag = "devices", operation_id = "get_devices", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = Device), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<Device>> {
    Ok(Json(devices::get(&mut &s.db, &auth.read()?, id).await?))
}

/// Frees the device's activation, giving its slot back to the license.
#[utoipa::path(post, path = "/devices/{id}/deactivate", tag = "devices", operation_id = "deactivate_devices", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = Device), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "The device holds no activation", body = ErrorBody)),
    security(("token" = [])))]
pub async fn deactivate(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<Device>> {
    Ok(Json(devices::deactivate(&s.db, &auth.permit(&[licensd_core::access::Action::DeactivateDevice])?, id).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get)).routes(routes!(deactivate))
}
