//! `/api/v1/orders/`: what a store posts after a purchase. An order with its customer and licenses is
//! created in one transaction, all or nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use licensd_core::access::Action;
use licensd_core::model::{Order, OrderInput, OrderUpdate};
use licensd_store::orders;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, IdPath, Page, RawBody, RawParams, parse_json};

#[utoipa::path(get, path = "/orders", tag = "orders", operation_id = "list_orders", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<Order>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<Order>>> {
    let p = q.list(&orders::SPEC)?;
    let (n, rows) = orders::list(&s.db, &auth.read()?, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

/// Creates an order; `customer` is an id or a customer body (matched by email among the customers this token
/// may see, else created; `409` on `email` when another product's customer has it), and `licenses` are issued
/// into it. `403`: a manager gave an existing label another colour.
#[utoipa::path(post, path = "/orders", tag = "orders", operation_id = "create_orders", request_body = OrderInput,
    responses((status = 201, description = "Created", body = Order), crate::api::Common, crate::api::BodyErrors, (status = 403, description = "A manager may not change an existing label's colour", body = ErrorBody), (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = ErrorBody)),
    security(("token" = [])))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let scope = auth.permit(&[Action::Create])?;
    let i: OrderInput = parse_json(&body)?;
    Ok((StatusCode::CREATED, Json(orders::create(&s.db, &scope, i).await?)))
}

#[utoipa::path(get, path = "/orders/{id}", tag = "orders", operation_id = "get_orders", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = Order), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<Order>> {
    Ok(Json(orders::get(&mut &s.db, &auth.read()?, id).await?))
}

#[utoipa::path(patch, path = "/orders/{id}", tag = "orders", operation_id = "update_orders", params(("id" = i64, Path)), request_body = OrderUpdate,
    responses((status = 200, description = "OK", body = Order), crate::api::Common, crate::api::BodyErrors, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = ErrorBody)),
    security(("token" = [])))]
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    RawBody(body): RawBody,
) -> ApiResult<Json<Order>> {
    let scope = auth.permit_edit(&body)?;
    let i: OrderUpdate = parse_json(&body)?;
    Ok(Json(orders::update(&s.db, &scope, id, &i).await?))
}

#[utoipa::path(delete, path = "/orders/{id}", tag = "orders", operation_id = "delete_orders", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = ErrorBody),
              (status = 409, description = "The order still holds licenses", body = ErrorBody)),
    security(("token" = [])))]
pub async fn delete(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    orders::delete(&s.db, &auth.permit(&[Action::Delete])?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, update, delete))
}
