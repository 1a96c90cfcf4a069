//! Errors to responses, in one place: `{"errors":[{"code","title","detail","source"?}]}` with a stable
//! machine `code` and the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use licensd_store::{ParamError, StoreError};
use serde::Serialize;

/// Where in the request the fault is: a JSON pointer into the body, or a query parameter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Pointer(String),
    Parameter(String),
}

/// One entry of the error envelope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    pub code: &'static str,
    pub title: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The error envelope every surface answers with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub errors: Vec<ErrorObject>,
}

/// An API error: a status and one error object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: ErrorObject,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError { status, error: ErrorObject { code, title: title.into(), detail: detail.into(), source: None } }
    }

    pub fn with_pointer(mut self, field: &str) -> Self {
        self.error.source = Some(Source::Pointer(json_pointer(field)));
        self
    }

    pub fn with_parameter(mut self, param: &str) -> Self {
        self.error.source = Some(Source::Parameter(param.to_string()));
        self
    }

    pub fn unauthorized(detail: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized", detail)
    }

    pub fn forbidden(detail: &str) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found", detail)
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("Invalid field \"{field}\""),
            format!("{field}: {message}"),
        )
        .with_pointer(field)
    }

    /// A path no route has: the envelope's `404` (`/api/v1`, the client API, and paths outside every surface).
    pub fn no_route() -> Self {
        ApiError::not_found("no such path; see /openapi.json")
    }

    /// A method a path does not take: the envelope's `405` (the router adds `Allow`).
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed",
            "this path does not take that method",
        )
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal server error",
            "the server failed to handle the request; it is logged",
        )
    }
}

/// `licenses[0].customer.email` → `/licenses/0/customer/email`.
fn json_pointer(field: &str) -> String {
    let mut out = String::new();
    for part in field.split(['.', '[']) {
        let part = part.trim_end_matches(']');
        if !part.is_empty() {
            out.push('/');
            out.push_str(&part.replace('~', "~0").replace('/', "~1"));
        }
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = crate::metrics::ErrorCode(self.error.code);
        let mut res = (self.status, axum::Json(ErrorBody { errors: vec![self.error] })).into_response();
        res.extensions_mut().insert(code);
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("no such record, or not visible to this token"),
            StoreError::Conflict { field, message } => {
                ApiError::new(StatusCode::CONFLICT, "CONFLICT", "Conflict", format!("{field}: {message}"))
                    .with_pointer(&field)
            }
            StoreError::Invalid { field, message } => ApiError::invalid(&field, message),
            StoreError::Domain(licensd_core::Error::Invalid { field, message }) => ApiError::invalid(&field, message),
            StoreError::Refused(r) => ApiError::new(
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::FORBIDDEN),
                r.code(),
                r.title(),
                r.detail(),
            ),
            StoreError::Forbidden { field, message } => {
                ApiError::forbidden(&format!("{field}: {message}")).with_pointer(&field)
            }
            StoreError::InUse(m) => ApiError::new(StatusCode::CONFLICT, "IN_USE", "Still in use", m),
            StoreError::State(m) => {
                ApiError::new(StatusCode::CONFLICT, "INVALID_STATE", "Not possible in this state", m)
            }
            e @ (StoreError::Config(_)
            | StoreError::NoDatabase(_)
            | StoreError::Unreachable(_)
            | StoreError::Corrupt(_)
            | StoreError::Db(_)
            | StoreError::Sqlite(_)
            | StoreError::Commit(_)) => {
                tracing::error!(error = %e, "store failure");
                crate::metrics::note_db_error(&e);
                if e.is_busy()
                    || matches!(&e, StoreError::Unreachable(_))
                    || matches!(&e, StoreError::Db(sqlx_err) if is_unavailable(sqlx_err))
                {
                    return ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "UNAVAILABLE",
                        "Database unavailable",
                        "the database cannot be reached; try again shortly",
                    );
                }
                ApiError::internal()
            }
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            format!("Invalid parameter \"{}\"", e.param),
            format!("{}: {}", e.param, e.message),
        )
        .with_parameter(&e.param)
    }
}

impl From<licensd_core::Error> for ApiError {
    fn from(e: licensd_core::Error) -> Self {
        StoreError::Domain(e).into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pointers_follow_rfc_6901() {
        assert_eq!(super::json_pointer("licenses[0].customer.email"), "/licenses/0/customer/email");
        assert_eq!(super::json_pointer("a/b"), "/a~1b");
    }
}
