//! The management API, `/api/v1/…`: products, features, license templates, customers, orders, licenses,
//! devices, events and the signing keys' public halves. Conventions follow LicenseSpring's management API
//! (seed 002). The handlers' paths are relative to [`PREFIX`], which [`surface`] is nested under.

pub mod accounts;
pub mod api_keys;
pub mod customers;
pub mod devices;
pub mod events;
pub mod license_users;
pub mod licenses;
pub mod orders;
pub mod products;
pub mod signing_keys;
pub mod templates;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::ApiError;

/// Parameters every list accepts (plus each resource's filters; see its allow-list).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListDoc {
    /// Page size; default 20, capped at 100.
    limit: Option<i64>,
    /// Index of the first result.
    offset: Option<i64>,
    /// `field` ascending or `-field` descending (`ordering` is a synonym).
    order_by: Option<String>,
}

/// `401` and `503`, which every management operation can answer besides its own outcomes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Common {
    /// No token, or an unknown or revoked one.
    #[response(status = 401)]
    Unauthorized(crate::error::ErrorBody),
    /// The database cannot be reached, or another process held SQLite's write lock for 10 s; try again.
    #[response(status = 503)]
    Unavailable(crate::error::ErrorBody),
}

/// What reading a JSON body can answer, besides the operation's own outcomes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// The body is not UTF-8, not JSON or not an object, holds a NUL, or a field is missing, unknown or invalid
    /// (`source.pointer` names it).
    #[response(status = 400)]
    BadRequest(crate::error::ErrorBody),
    /// The body is over 1 MiB.
    #[response(status = 413)]
    TooLarge(crate::error::ErrorBody),
    /// The body is not sent as JSON (`Content-Type`).
    #[response(status = 415)]
    UnsupportedMediaType(crate::error::ErrorBody),
}

/// An optional note recorded with an action in the license's history.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub note: String,
}

/// The path the management API is nested under.
pub const PREFIX: &str = "/api/v1";

/// The management API as a surface: its routes behind the per-token rate limit and the request deadline, and
/// the error envelope's `404` and `405` for the paths and methods it does not have.
pub fn surface(state: &AppState) -> OpenApiRouter<AppState> {
    use axum::middleware::from_fn_with_state as mw;
    let mut routes = router()
        .layer(mw(state.clone(), crate::limits::management))
        .layer(mw(state.clone(), crate::front_door::deadline));
    crate::document_permission_table(routes.get_openapi_mut());
    crate::surface(routes, || async { ApiError::no_route() }, || async { ApiError::method_not_allowed() })
}

/// The routes of the management API, relative to [`PREFIX`].
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(products::router())
        .merge(api_keys::router())
        .merge(templates::router())
        .merge(accounts::router())
        .merge(customers::router())
        .merge(orders::router())
        .merge(licenses::router())
        .merge(license_users::router())
        .merge(devices::router())
        .merge(events::router())
        .merge(signing_keys::router())
}

/// The CRUD handlers of a resource whose PATCH is a merge re-validated as a create.
macro_rules! crud {
    (
        tag: $tag:literal, path: $path:literal, item: $item:literal,
        record: $rec:ty, input: $inp:ty, store: $($store:ident)::+,
        list: $list:ident, create: $create:ident, get: $get:ident, update: $update:ident, delete: $delete:ident,
        spec: $spec:path, admin_writes: $admin:expr
    ) => {
        #[allow(unused_imports)]
        use crate::extract::Page;
        use licensd_core::access::Action;

        #[utoipa::path(get, path = $path, tag = $tag, operation_id = concat!("list_", $tag), params(crate::api::ListDoc),
            responses((status = 200, description = "OK", body = Page<$rec>), crate::api::Common,
                      (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = crate::error::ErrorBody)),
            security(("token" = [])))]
        pub async fn list(
            axum::extract::State(s): axum::extract::State<crate::AppState>,
            auth: crate::extract::Auth,
            q: crate::extract::RawParams,
        ) -> crate::error::ApiResult<axum::Json<crate::extract::Page<$rec>>> {
            let p = q.list(&$spec)?;
            let (n, rows) = $($store)::+::$list(&s.db, &auth.read()?, &p).await?;
            Ok(axum::Json(q.page(n, rows, &p)))
        }

        #[utoipa::path(post, path = $path, tag = $tag, operation_id = concat!("create_", $tag), request_body = $inp,
            responses((status = 201, description = "Created", body = $rec), crate::api::Common, crate::api::BodyErrors,
                      (status = 403, description = "The token's role may not do this (`FORBIDDEN_ROLE`; `FORBIDDEN` for the catalog, which needs an admin token)", body = crate::error::ErrorBody), (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = crate::error::ErrorBody)),
            security(("token" = [])))]
        pub async fn create(
            axum::extract::State(s): axum::extract::State<crate::AppState>,
            auth: crate::extract::Auth,
            crate::extract::RawBody(body): crate::extract::RawBody,
        ) -> crate::error::ApiResult<(axum::http::StatusCode, axum::Json<$rec>)> {
            let scope = auth.permit(&[if $admin { Action::Catalog } else { Action::Create }])?;
            let i: $inp = crate::extract::parse_json(&body)?;
            let r = $($store)::+::$create(&s.db, &scope, i).await?;
            Ok((axum::http::StatusCode::CREATED, axum::Json(r)))
        }

        #[utoipa::path(get, path = $item, tag = $tag, operation_id = concat!("get_", $tag), params(("id" = i64, Path)),
            responses((status = 200, description = "OK", body = $rec), crate::api::Common, (status = 404, description = "No such record, or not visible to this token", body = crate::error::ErrorBody)),
            security(("token" = [])))]
        pub async fn get(
            axum::extract::State(s): axum::extract::State<crate::AppState>,
            auth: crate::extract::Auth,
            crate::extract::IdPath(id): crate::extract::IdPath,
        ) -> crate::error::ApiResult<axum::Json<$rec>> {
            Ok(axum::Json($($store)::+::$get(&mut &s.db, &auth.read()?, id).await?))
        }

        /// Changes the fields given; the result is validated as a whole, as on create.
        #[utoipa::path(patch, path = $item, tag = $tag, operation_id = concat!("update_", $tag), params(("id" = i64, Path)), request_body = $inp,
            responses((status = 200, description = "OK", body = $rec), crate::api::Common, crate::api::BodyErrors,
                      (status = 403, description = "The token's role may not do this (`FORBIDDEN_ROLE`; `FORBIDDEN` for the catalog, which needs an admin token)", body = crate::error::ErrorBody), (status = 404, description = "No such record, or not visible to this token", body = crate::error::ErrorBody),
                      (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = crate::error::ErrorBody)),
            security(("token" = [])))]
        pub async fn update(
            axum::extract::State(s): axum::extract::State<crate::AppState>,
            auth: crate::extract::Auth,
            crate::extract::IdPath(id): crate::extract::IdPath,
            crate::extract::RawBody(body): crate::extract::RawBody,
        ) -> crate::error::ApiResult<axum::Json<$rec>> {
            let scope = if $admin { auth.permit(&[Action::Catalog])? } else { auth.permit_edit(&body)? };
            let r = $($store)::+::$update(&s.db, &scope, id, |cur: &$rec| {
                crate::extract::merge_patch(&<$inp>::from(cur), &body)
            })
            .await?;
            Ok(axum::Json(r))
        }

        #[utoipa::path(delete, path = $item, tag = $tag, operation_id = concat!("delete_", $tag), params(("id" = i64, Path)),
            responses((status = 204, description = "Deleted"), crate::api::Common, (status = 403, description = "The token's role may not do this (`FORBIDDEN_ROLE`; `FORBIDDEN` for the catalog, which needs an admin token)", body = crate::error::ErrorBody),
                      (status = 404, description = "No such record, or not visible to this token", body = crate::error::ErrorBody), (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = crate::error::ErrorBody)),
            security(("token" = [])))]
        pub async fn delete(
            axum::extract::State(s): axum::extract::State<crate::AppState>,
            auth: crate::extract::Auth,
            crate::extract::IdPath(id): crate::extract::IdPath,
        ) -> crate::error::ApiResult<axum::http::StatusCode> {
            let scope = auth.permit(&[if $admin { Action::Catalog } else { Action::Delete }])?;
            $($store)::+::$delete(&s.db, &scope, id).await?;
            Ok(axum::http::StatusCode::NO_CONTENT)
        }
    };
}
pub(crate) use crud;
