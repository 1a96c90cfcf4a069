//! `/api/v1/license-users/`: the people user-based licenses are assigned to (read-only here; assign through
//! `POST /api/v1/licenses/{id}/assign_user/`).

use axum::Json;
use axum::extract::State;
use licensd_core::model::LicenseUser;
use licensd_store::license_users;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, IdPath, Page, RawParams};

#[utoipa::path(get, path = "/license-users", tag = "license-users", operation_id = "list_license_users", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<LicenseUser>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<LicenseUser>>> {
    let scope = auth.read()?;
    let p = q.list(license_users::spec_for(&scope))?;
    let (n, rows) = license_users::list(&s.db, &scope, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

#[utoipa::path(get, path = "/license-users/{id}", tag = "license-users", operation_id = "get_license_users", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = LicenseUser), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<LicenseUser>> {
    Ok(Json(license_users::get(&mut &s.db, &auth.read()?, id).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get))
}
