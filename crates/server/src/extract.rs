//! Request extractors that answer bad input with the error envelope: JSON bodies (size, UTF-8,
//! syntax, types, unknown fields, each naming the field), ids in paths, list parameters, and tokens.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use licensd_store::list::{ListParams, Spec};
use licensd_store::tokens::Authenticated;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// The `413` for a body over [`MAX_BODY`].
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "Payload too large",
        format!("the request body is over {MAX_BODY} bytes"),
    )
}

/// Reads a whole body, refusing one over [`MAX_BODY`] and a non-JSON content type.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or_default().trim();
        // DevMate's documented curl calls send JSON under curl's default form type, so that is read as JSON too.
        let json_like = mime == "application/json"
            || mime.ends_with("+json")
            || mime == "text/plain"
            || mime == "application/x-www-form-urlencoded"
            || mime.is_empty();
        if !json_like {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type",
                format!("send JSON (Content-Type: application/json), not {mime}"),
            ));
        }
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(body_error)
}

/// What a body that could not be read answers: `413` over [`MAX_BODY`], `408` when it stalled or was not complete
/// in time (the front door's [`crate::front_door::BodyTimeout`]), else `400`.
pub fn body_error(e: axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.to_string().contains("length limit") {
            return too_large();
        }
        if let Some(t) = s.downcast_ref::<crate::front_door::BodyTimeout>() {
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "Request timeout", t.to_string());
        }
        source = s.source();
    }
    ApiError::new(StatusCode::BAD_REQUEST, "BAD_BODY", "Unreadable body", e.to_string())
}

fn malformed(detail: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_JSON", "Malformed JSON", detail)
}

/// Maps a deserialization failure to the error naming the field at fault.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.inner();
    if matches!(inner.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof) {
        return malformed(format!("the body is not valid JSON: {inner}"));
    }
    // serde's messages carry " at line L column C" for text input; the pointer says where instead.
    let msg = inner.to_string();
    let msg = msg.split(" at line ").next().unwrap_or_default().to_string();
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let field = if path == "." { name.to_string() } else { format!("{path}.{name}") };
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "MISSING_FIELD",
            format!("Missing field \"{field}\""),
            format!("{field} is required"),
        )
        .with_pointer(&field);
    }
    if msg.starts_with("unknown field `") {
        let name = msg.trim_start_matches("unknown field `").split('`').next().unwrap_or_default();
        // The path already ends at the unknown key.
        let field = if path == "." { name.to_string() } else { path.clone() };
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "UNKNOWN_FIELD",
            format!("Unknown field \"{field}\""),
            msg.clone(),
        )
        .with_pointer(&field);
    }
    if path == "." {
        return ApiError::new(StatusCode::BAD_REQUEST, "INVALID_BODY", "Invalid body", msg);
    }
    ApiError::invalid(&path, msg)
}

/// Parses a JSON body into `T`, with errors that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_UTF8",
            "Invalid UTF-8",
            "the request body is not valid UTF-8",
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed("the request body is empty; send a JSON object".into()));
    }
    // Syntax first, so a broken document is reported as such rather than as its first wrong field.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| malformed(format!("the body is not valid JSON: {e}")))?;
    if holds_nul(bytes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "Invalid body",
            "text must not contain NUL characters (\\u0000)",
        ));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            "Invalid body",
            "the body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes)).map_err(field_error)
}

/// Whether a JSON text carries a NUL character, which it can only write as the escape `\u0000`; neither
/// backend keeps one in text (PostgreSQL refuses it outright).
fn holds_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Applies a JSON merge of `patch` onto `current` (the record's writable fields) and re-reads the
/// whole as `I`, so a PATCH is validated exactly as a create.
pub fn merge_patch<I: Serialize + DeserializeOwned>(current: &I, patch: &[u8]) -> Result<I, ApiError> {
    let patch: serde_json::Map<String, serde_json::Value> = parse_json(patch)?;
    let mut value = serde_json::to_value(current).map_err(|_| ApiError::internal())?;
    if let Some(obj) = value.as_object_mut() {
        obj.extend(patch);
    }
    serde_path_to_error::deserialize(value).map_err(field_error)
}

/// A JSON body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A raw body, size- and type-checked (for PATCH merges and optional bodies).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        read_body(req).await.map(RawBody)
    }
}

/// The `{id}` of a path, which must be an integer.
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found("no such path"))?;
        raw.parse::<i64>()
            .map(IdPath)
            .map_err(|_| ApiError::not_found(format!("{raw:?} is not an id (ids are integers)")))
    }
}

/// The query string as ordered pairs, plus what is needed to build absolute `next`/`previous` links.
pub struct RawParams {
    pub pairs: Vec<(String, String)>,
    base: String,
}

impl FromRequestParts<AppState> for RawParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        // Links name the configured public URL, or what trusted proxies and a well-formed Host say (L5).
        let origin = state.http.link_origin(parts)?;
        let path = parts.extensions.get::<OriginalPath>().map_or(parts.uri.path(), |p| p.0.as_str());
        Ok(RawParams { pairs, base: format!("{origin}{path}") })
    }
}

/// The largest `offset` a list accepts: far past any real page, and small enough that offset + limit never
/// overflows.
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// The request path as the client sent it, before trailing-slash normalisation (for links).
#[derive(Clone)]
pub struct OriginalPath(pub String);

/// A page of a list, shaped as seed 002 shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

impl RawParams {
    /// Parses the parameters against a resource's allow-list; `offset` may be at most [`MAX_OFFSET`].
    pub fn list(&self, spec: &'static Spec) -> Result<ListParams, ApiError> {
        let p = licensd_store::list::parse(spec, &self.pairs, &[])?;
        if p.offset > MAX_OFFSET {
            return Err(licensd_store::ParamError {
                param: "offset".into(),
                message: format!("must be at most {MAX_OFFSET}"),
            }
            .into());
        }
        Ok(p)
    }

    /// The absolute URL of this list at another offset, keeping every other parameter.
    fn link(&self, offset: i64) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if k != "offset" {
                ser.append_pair(k, v);
            }
        }
        if offset > 0 {
            ser.append_pair("offset", &offset.to_string());
        }
        let q = ser.finish();
        if q.is_empty() { self.base.clone() } else { format!("{}?{q}", self.base) }
    }

    pub fn page<T>(&self, count: i64, results: Vec<T>, p: &ListParams) -> Page<T> {
        // Never wraps: an offset past i64's range has no next page (I1).
        let next = p.offset.checked_add(p.limit).filter(|n| *n < count).map(|n| self.link(n));
        let previous = (p.offset > 0).then(|| self.link(p.offset.saturating_sub(p.limit).max(0)));
        Page { count, next, previous, results }
    }
}

/// An authenticated token: `Authorization: Bearer T`, `Token T` or `Api-Key T`.
pub struct Auth(pub Authenticated);

/// The secret from an `Authorization` header, whichever of the accepted schemes carries it.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, secret) = value.split_once([' ', ':'])?;
    let ok = ["bearer", "token", "api-key"].iter().any(|s| scheme.eq_ignore_ascii_case(s));
    let secret = secret.trim();
    (ok && !secret.is_empty()).then_some(secret)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(secret) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "send a token: Authorization: Bearer <token> (Token and Api-Key schemes are accepted too)",
            ));
        };
        match licensd_store::tokens::authenticate(&state.db, secret).await? {
            Some(a) => Ok(Auth(a)),
            None => Err(ApiError::unauthorized("the token is unknown or revoked")),
        }
    }
}

impl Auth {
    pub fn scope(&self) -> licensd_store::Scope {
        self.0.scope()
    }

    /// Refuses a manager token where only an admin may act.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == licensd_core::model::Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holds_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(holds_nul(br#"{"name": "a\u0000b"}"#));
        assert!(holds_nul(br#"{"a\u0000": 1}"#));
        assert!(holds_nul(br#"{"name": "\\\u0000"}"#));
        assert!(!holds_nul(br#"{"name": "\\u0000"}"#));
        assert!(!holds_nul(br#"{"name": "\u0001 \n \"u0000"}"#));
        assert!(!holds_nul(br#"{"name": "plain"}"#));
    }
}
