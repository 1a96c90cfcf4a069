//! `/api/v1/api-keys` and `/api/v1/oauth-clients`: the credentials applications built on LicenseSpring's
//! SDKs use on the License API v4 (API keys with their shared keys, OAuth clients with their secrets), as
//! `licensd api-key` and `licensd oauth-client` manage them, for a dashboard or a script. Admins only
//! (`manage tokens`), reading included. A secret is in the answer to the `POST` that made it, never again;
//! it is stored sealed under `LICENSD_SECRET` (`store::credentials`). Lookups read the database on every
//! request, so a key made or revoked here counts at once, on every instance.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use licensd_core::access::Action;
use licensd_core::model::{ApiKey, ApiKeyCreated, CredentialInput, OauthClient, OauthClientCreated};
use licensd_store::{api_keys, oauth};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, IdPath, Page, RawBody, RawParams, parse_json};

/// Creates an API key, limited to `products` (short codes) or answering for every product. The answer holds
/// its `shared_key`, shown this once: store it now. Recorded as `api_key.created`.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", operation_id = "create_api_keys", request_body = CredentialInput,
    responses((status = 201, description = "Created; `shared_key` is in this answer only", body = ApiKeyCreated), crate::api::Common, crate::api::BodyErrors,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages API keys", body = ErrorBody),
              (status = 409, description = "A key not revoked has this name", body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_key(
    State(s): State<AppState>,
    auth: Auth,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let scope = auth.permit(&[Action::ManageTokens])?;
    let i: CredentialInput = parse_json(&body)?;
    let made = api_keys::create_as(&s.db, &scope, &i, s.secret.as_deref()).await?;
    tracing::info!(api_key = made.key.id, "API key created over the management API");
    Ok((StatusCode::CREATED, Json(made)))
}

/// Every API key, revoked ones too (filter `revoked_at__isnull=true` for the live ones), never with its
/// shared key.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", operation_id = "list_api_keys", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<ApiKey>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody),
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages API keys", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list_keys(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<ApiKey>>> {
    auth.permit(&[Action::ManageTokens])?;
    let p = q.list(&api_keys::SPEC)?;
    let (n, rows) = api_keys::page(&s.db, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", operation_id = "get_api_keys", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = ApiKey), crate::api::Common,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages API keys", body = ErrorBody),
              (status = 404, description = "No such API key", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get_key(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<ApiKey>> {
    auth.permit(&[Action::ManageTokens])?;
    Ok(Json(api_keys::get(&s.db, id).await?))
}

/// Revokes an API key: every License API request with it is refused from now on. Revoking a revoked key
/// changes nothing (`204` again). Recorded as `api_key.revoked`.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", operation_id = "revoke_api_keys", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"), crate::api::Common,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages API keys", body = ErrorBody),
              (status = 404, description = "No such API key", body = ErrorBody)),
    security(("token" = [])))]
pub async fn revoke_key(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let scope = auth.permit(&[Action::ManageTokens])?;
    let r = api_keys::revoke_as(&s.db, &scope, id).await?;
    if !r.already {
        tracing::info!(api_key = id, "API key revoked over the management API");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an OAuth client (client credentials grant), limited to `products` (short codes) or answering for
/// every product. The answer holds its `client_secret`, shown this once: store it now. Recorded as
/// `oauth_client.created`.
#[utoipa::path(post, path = "/oauth-clients", tag = "oauth-clients", operation_id = "create_oauth_clients", request_body = CredentialInput,
    responses((status = 201, description = "Created; `client_secret` is in this answer only", body = OauthClientCreated), crate::api::Common, crate::api::BodyErrors,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages OAuth clients", body = ErrorBody),
              (status = 409, description = "A client not revoked has this name", body = ErrorBody)),
    security(("token" = [])))]
pub async fn create_client(
    State(s): State<AppState>,
    auth: Auth,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<OauthClientCreated>)> {
    let scope = auth.permit(&[Action::ManageTokens])?;
    let i: CredentialInput = parse_json(&body)?;
    let made = oauth::create_as(&s.db, &scope, &i, s.secret.as_deref()).await?;
    tracing::info!(oauth_client = made.client.id, "OAuth client created over the management API");
    Ok((StatusCode::CREATED, Json(made)))
}

/// Every OAuth client, revoked ones too (filter `revoked_at__isnull=true` for the live ones), never with its
/// secret.
#[utoipa::path(get, path = "/oauth-clients", tag = "oauth-clients", operation_id = "list_oauth_clients", params(crate::api::ListDoc),
    responses((status = 200, description = "OK", body = Page<OauthClient>), crate::api::Common,
              (status = 400, description = "A parameter is unknown or malformed, or over a bound (`source.parameter` names it)", body = ErrorBody),
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages OAuth clients", body = ErrorBody)),
    security(("token" = [])))]
pub async fn list_clients(State(s): State<AppState>, auth: Auth, q: RawParams) -> ApiResult<Json<Page<OauthClient>>> {
    auth.permit(&[Action::ManageTokens])?;
    let p = q.list(&oauth::SPEC)?;
    let (n, rows) = oauth::page(&s.db, &p).await?;
    Ok(Json(q.page(n, rows, &p)))
}

#[utoipa::path(get, path = "/oauth-clients/{id}", tag = "oauth-clients", operation_id = "get_oauth_clients", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = OauthClient), crate::api::Common,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages OAuth clients", body = ErrorBody),
              (status = 404, description = "No such OAuth client", body = ErrorBody)),
    security(("token" = [])))]
pub async fn get_client(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<Json<OauthClient>> {
    auth.permit(&[Action::ManageTokens])?;
    Ok(Json(oauth::get(&s.db, id).await?))
}

/// Revokes an OAuth client: the token endpoint refuses it and every access token issued to it stops working
/// now. Revoking a revoked client changes nothing (`204` again). Recorded as `oauth_client.revoked`.
#[utoipa::path(delete, path = "/oauth-clients/{id}", tag = "oauth-clients", operation_id = "revoke_oauth_clients", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"), crate::api::Common,
              (status = 403, description = "FORBIDDEN_ROLE: only an admin token manages OAuth clients", body = ErrorBody),
              (status = 404, description = "No such OAuth client", body = ErrorBody)),
    security(("token" = [])))]
pub async fn revoke_client(State(s): State<AppState>, auth: Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let scope = auth.permit(&[Action::ManageTokens])?;
    let r = oauth::revoke_as(&s.db, &scope, id).await?;
    if !r.already {
        tracing::info!(oauth_client = id, "OAuth client revoked over the management API");
    }
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, revoke_key))
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, revoke_client))
}
