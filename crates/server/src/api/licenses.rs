//! `/api/v1/licenses/` and the vendor's actions on a license: disable (DevMate "block"), enable,
//! refund, reset (frees every activation).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use licensd_core::access::Action;
use licensd_core::model::{License, LicenseInput};
use licensd_store::licenses;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::ActionBody;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, IdPath, Page, RawBody, RawParams, parse_json};

#[utoipa::path(get, path = "/licenses", tag = "licenses", operation_id = "list_licenses", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<License>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<License>>> {
    let p = q.list(&licenses::SPEC)?;
    let (n, rows) = licenses::list(&s.db, &auth.read()?, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

/// Issues a license: terms come from `license_template`, overridden by any field given here.
#[utoipa::path(post, path = "/licenses", tag = "licenses", operation_id = "create_licenses", request_body = LicenseInput,
    responses((status = 201, description = "Created", body = License), crate::api::Common, crate::api::BodyErrors, (status = 403, description = "A manager may not change an existing label's colour", body = ErrorBody), (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = ErrorBody)),
    security(("token" = [])))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<License>)> {
    let scope = auth.permit(&[Action::Create])?;
    let i: LicenseInput = parse_json(&body)?;
    Ok((StatusCode::CREATED, Json(licenses::create(&s.db, &scope, &i).await?)))
}

/// A license with its history.
#[utoipa::path(get, path = "/licenses/{id}", tag = "licenses", operation_id = "get_licenses", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = License), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<License>> {
    Ok(Json(licenses::get(&mut &s.db, &auth.read()?, id).await?))
}

/// Changes terms, key, customer, order, note or metadata; product and template are fixed at issue.
#[utoipa::path(patch, path = "/licenses/{id}", tag = "licenses", operation_id = "update_licenses", params(("id" = i64, Path)), request_body = LicenseInput,
    responses((status = 200, description = "OK", body = License), crate::api::Common, crate::api::BodyErrors, (status = 403, description = "A manager may not change an existing label's colour", body = ErrorBody), (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = ErrorBody)),
    security(("token" = [])))]
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    RawBody(body): RawBody,
) -> ApiResult<Json<License>> {
    // What the change may be depends on its fields: a support token edits `note`, `metadata` and `enabled`.
    let scope = auth.permit_edit(&body)?;
    let i: LicenseInput = parse_json(&body)?;
    Ok(Json(licenses::update(&s.db, &scope, id, &i).await?))
}

#[utoipa::path(delete, path = "/licenses/{id}", tag = "licenses", operation_id = "delete_licenses", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn delete(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    licenses::delete(&s.db, &auth.permit(&[Action::Delete])?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn act(s: AppState, auth: Auth, id: i64, body: RawBody, action: licenses::Action) -> ApiResult<Json<License>> {
    let scope = auth.permit(&[match action {
        licenses::Action::Disable | licenses::Action::Enable => Action::DisableEnable,
        licenses::Action::Refund => Action::Refund,
        licenses::Action::Reset => Action::ResetActivations,
    }])?;
    let note = if body.0.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        parse_json::<ActionBody>(&body.0)?
    };
    Ok(Json(licenses::act(&s.db, &scope, id, action, &note.note).await?))
}

/// Disables the license (DevMate "blocked", status 4): activations and checks are refused.
#[utoipa::path(post, path = "/licenses/{id}/disable", tag = "licenses", operation_id = "disable_licenses", params(("id" = i64, Path)),
    request_body(content = Option<ActionBody>, description = "optional note for the history"),
    responses((status = 200, description = "OK", body = License), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "Not possible in the license's state", body = ErrorBody)),
    security(("token" = [])))]
pub async fn disable(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    body: RawBody,
) -> ApiResult<Json<License>> {
    act(s, auth, id, body, licenses::Action::Disable).await
}

/// Enables a disabled license again.
#[utoipa::path(post, path = "/licenses/{id}/enable", tag = "licenses", operation_id = "enable_licenses", params(("id" = i64, Path)),
    request_body(content = Option<ActionBody>, description = "optional note for the history"),
    responses((status = 200, description = "OK", body = License), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "Not possible in the license's state", body = ErrorBody)),
    security(("token" = [])))]
pub async fn enable(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    body: RawBody,
) -> ApiResult<Json<License>> {
    act(s, auth, id, body, licenses::Action::Enable).await
}

/// Marks the license refunded (status 5): refused for good.
#[utoipa::path(post, path = "/licenses/{id}/refund", tag = "licenses", operation_id = "refund_licenses", params(("id" = i64, Path)),
    request_body(content = Option<ActionBody>, description = "optional note for the history"),
    responses((status = 200, description = "OK", body = License), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "Not possible in the license's state", body = ErrorBody)),
    security(("token" = [])))]
pub async fn refund(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    body: RawBody,
) -> ApiResult<Json<License>> {
    act(s, auth, id, body, licenses::Action::Refund).await
}

/// Frees every activation of the license.
#[utoipa::path(post, path = "/licenses/{id}/reset", tag = "licenses", operation_id = "reset_licenses", params(("id" = i64, Path)),
    request_body(content = Option<ActionBody>, description = "optional note for the history"),
    responses((status = 200, description = "OK", body = License), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn reset(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    body: RawBody,
) -> ApiResult<Json<License>> {
    act(s, auth, id, body, licenses::Action::Reset).await
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AssignedUser {
    message: &'static str,
    license_user: licensd_core::model::LicenseUser,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Message {
    message: &'static str,
}

/// Assigns the license to a user (found by email, or created), as LicenseSpring's `assign_user`.
#[utoipa::path(post, path = "/licenses/{id}/assign_user", tag = "licenses", operation_id = "assign_user_licenses",
    params(("id" = i64, Path)), request_body = licensd_core::model::AssignUserInput,
    responses((status = 200, description = "OK", body = AssignedUser), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = ErrorBody)),
    security(("token" = [])))]
pub async fn assign_user(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    RawBody(body): RawBody,
) -> ApiResult<Json<AssignedUser>> {
    let scope = auth.permit(&[Action::Edit])?;
    let i: licensd_core::model::AssignUserInput = parse_json(&body)?;
    let user = licensd_store::license_users::assign(&s.db, &scope, id, &i).await?;
    Ok(Json(AssignedUser { message: "License assigned.", license_user: user }))
}

/// Takes a user off the license (`license_user_id` or `license_user_email`).
#[utoipa::path(post, path = "/licenses/{id}/unassign_user", tag = "licenses", operation_id = "unassign_user_licenses",
    params(("id" = i64, Path)), request_body = licensd_core::model::UnassignUserInput,
    responses((status = 200, description = "OK", body = Message), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = ErrorBody)),
    security(("token" = [])))]
pub async fn unassign_user(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    RawBody(body): RawBody,
) -> ApiResult<Json<Message>> {
    let scope = auth.permit(&[Action::Edit])?;
    let i: licensd_core::model::UnassignUserInput = parse_json(&body)?;
    licensd_store::license_users::unassign(&s.db, &scope, id, i.license_user_id, i.license_user_email.as_deref())
        .await?;
    Ok(Json(Message { message: "License unassigned." }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(refund))
        .routes(routes!(reset))
        .routes(routes!(assign_user))
        .routes(routes!(unassign_user))
}
