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
    /// Every code the error envelope answers with outside the client API's refusals ([`Refusal`]), with
    /// its status. The codes are written where each error is made; a test holds this list to those sources
    /// and to `docs/client-api.md`, so a code added, renamed or dropped shows here.
    ///
    /// [`Refusal`]: licensd_core::client_api::Refusal
    pub const CODES: &'static [(&'static str, u16)] = &[
        ("INVALID_FIELD", 400),
        ("MISSING_FIELD", 400),
        ("UNKNOWN_FIELD", 400),
        ("INVALID_BODY", 400),
        ("MALFORMED_JSON", 400),
        ("INVALID_UTF8", 400),
        ("BAD_BODY", 400),
        ("INVALID_PARAMETER", 400),
        ("INVALID_HEADER", 400),
        ("INVALID_REQUEST_CODE", 400),
        ("MALFORMED_REQUEST", 400),
        ("UNAUTHORIZED", 401),
        ("TOKEN_EXPIRED", 401),
        ("FORBIDDEN", 403),
        ("FORBIDDEN_ROLE", 403),
        ("NOT_FOUND", 404),
        ("METHOD_NOT_ALLOWED", 405),
        ("REQUEST_TIMEOUT", 408),
        ("CONFLICT", 409),
        ("IN_USE", 409),
        ("INVALID_STATE", 409),
        ("PAYLOAD_TOO_LARGE", 413),
        ("URI_TOO_LONG", 414),
        ("UNSUPPORTED_MEDIA_TYPE", 415),
        ("RATE_LIMITED", 429),
        ("HEADERS_TOO_LARGE", 431),
        ("INTERNAL", 500),
        ("UNAVAILABLE", 503),
        ("TIMEOUT", 503),
    ];

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
    use std::collections::BTreeSet;
    use std::path::Path;

    use axum::http::StatusCode;
    use licensd_core::client_api::{Refusal, answer};

    use super::ApiError;

    #[test]
    fn pointers_follow_rfc_6901() {
        assert_eq!(super::json_pointer("licenses[0].customer.email"), "/licenses/0/customer/email");
        assert_eq!(super::json_pointer("a/b"), "/a~1b");
    }

    fn is_code(s: &str) -> bool {
        s.len() > 2
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    /// Every `.rs` file under `dir`, with its text.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let name = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&path).display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    /// `BAD_REQUEST` → 400: `http`'s reason phrases are the constants' names in words.
    fn status_named(name: &str) -> u16 {
        (100..600)
            .find(|&n| {
                StatusCode::from_u16(n)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|r| r.to_uppercase().replace(' ', "_"))
                    == Some(name.to_string())
            })
            .unwrap_or_else(|| panic!("no status is named {name}"))
    }

    #[test]
    fn api_error_codes_are_the_ones_the_sources_answer() {
        let mut files = Vec::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        let mut made = BTreeSet::new();
        let mut literals = BTreeSet::new();
        for (path, text) in &mut files {
            // What the server answers, not what its tests send (test modules end each file).
            text.truncate(text.find("#[cfg(test)]").unwrap_or(text.len()));
            if path.ends_with("error.rs") {
                // Not the list itself.
                let start = text.find("pub const CODES").unwrap();
                let end = start + text[start..].find("];").unwrap();
                text.replace_range(start..end, "");
            }
            for piece in text.split('"').skip(1).step_by(2) {
                literals.insert(piece.to_string());
            }
            // `StatusCode::NAME, "CODE"`: how every error with a literal code is made.
            for (i, _) in text.match_indices("StatusCode::") {
                let rest = &text[i + "StatusCode::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                let after = rest[name.len()..].trim_start();
                let Some(after) = after.strip_prefix(',') else { continue };
                let Some(after) = after.trim_start().strip_prefix('"') else { continue };
                let code = &after[..after.find('"').unwrap()];
                if is_code(code) {
                    made.insert((code.to_string(), status_named(&name), path.clone()));
                }
            }
        }
        for (code, status, path) in &made {
            assert!(
                ApiError::CODES.contains(&(code.as_str(), *status)),
                "{path} answers {status} {code}, not in ApiError::CODES"
            );
        }
        for (code, _) in ApiError::CODES {
            assert!(literals.contains(*code), "ApiError::CODES lists {code}, which no source answers");
        }
        let unique: BTreeSet<&str> = ApiError::CODES.iter().map(|(c, _)| *c).collect();
        assert_eq!(unique.len(), ApiError::CODES.len(), "a code listed twice");
    }

    const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    /// The codes `docs/client-api.md` names: bare ones in its tables (`NO_SEAT`), those with a status
    /// anywhere (`409 NO_SEAT`), and those of its JSON examples (`"code":"ACTIVATED"`).
    fn documented() -> (BTreeSet<String>, BTreeSet<(u16, String)>) {
        let doc =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/client-api.md")).unwrap();
        let (mut codes, mut with_status) = (BTreeSet::new(), BTreeSet::new());
        for line in doc.lines() {
            for span in line.split('`').skip(1).step_by(2) {
                if let Some((n, code)) = span.split_once(' ')
                    && let Ok(n) = n.parse::<u16>()
                    && is_code(code)
                {
                    with_status.insert((n, code.to_string()));
                    codes.insert(code.to_string());
                } else if line.starts_with('|') && is_code(span) && !METHODS.contains(&span) {
                    codes.insert(span.to_string());
                }
            }
            for piece in line.split("\"code\"").skip(1) {
                let value = piece.trim_start_matches([':', ' ']).trim_start_matches('"');
                let value: String = value.chars().take_while(|c| *c != '"').collect();
                if is_code(&value) {
                    codes.insert(value);
                }
            }
        }
        (codes, with_status)
    }

    #[test]
    fn the_client_api_docs_list_every_refusal_and_only_real_codes() {
        let (codes, with_status) = documented();
        for r in Refusal::ALL {
            assert!(codes.contains(r.code()), "docs/client-api.md does not list {}", r.code());
        }
        for a in answer::ALL {
            assert!(codes.contains(a), "docs/client-api.md does not list {a}");
        }
        for code in &codes {
            let real = Refusal::ALL.iter().any(|r| r.code() == code)
                || answer::ALL.contains(&code.as_str())
                || ApiError::CODES.iter().any(|(c, _)| c == code);
            assert!(real, "docs/client-api.md lists {code}, which no answer carries");
        }
        for (status, code) in &with_status {
            let right = Refusal::ALL.iter().any(|r| r.code() == code && r.status() == *status)
                || ApiError::CODES.contains(&(code.as_str(), *status));
            assert!(right, "docs/client-api.md says {status} {code}, the server answers otherwise");
        }
        // The refusal the doc shows is one the server writes, word for word but for its numbers.
        let doc =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/client-api.md")).unwrap();
        let example = doc.split("```json\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
        let example: serde_json::Value = serde_json::from_str(example).unwrap();
        let numberless = |s: &str| s.split(|c: char| c.is_ascii_digit()).collect::<String>();
        let e = &example["errors"][0];
        assert!(
            Refusal::ALL.iter().any(|r| e["code"] == r.code()
                && e["title"] == r.title()
                && e["detail"].as_str().map(numberless) == Some(numberless(&r.detail()))),
            "docs/client-api.md's example refusal is not one the server writes: {e}"
        );
        // Spot checks that the reading finds what the tables hold.
        assert!(with_status.contains(&(409, "TOO_MANY_ACTIVATIONS".to_string())));
        assert!(codes.contains("NO_SEAT") && codes.contains("ACTIVATED") && codes.contains("VALID"));
    }
}
