//! Request extractors that answer bad input with the error envelope: JSON bodies (size, UTF-8,
//! syntax, types, unknown fields, each naming the field), ids in paths, list parameters, and tokens.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use licensd_core::access::{Action, Denied};
use licensd_core::time::Timestamp;
use licensd_store::list::{ListParams, Spec};
use licensd_store::tokens::{Authenticated, Presented};
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
        // A body somewhat over the limit is read (and dropped) before the 413, so that the client, still
        // sending it, reads the answer rather than a connection closed under it; a far larger one is not.
        if declared.is_some_and(|n| n <= DRAIN_MAX) {
            drain(req.into_body()).await;
        }
        return Err(too_large());
    }
    let mut body = req.into_body();
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    use http_body_util::BodyExt as _;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > MAX_BODY {
                drain(body).await;
                return Err(too_large());
            }
            out.extend_from_slice(data);
        }
    }
    Ok(Bytes::from(out))
}

/// How much of a body over [`MAX_BODY`] is read and dropped before the `413` (see [`read_body`]).
const DRAIN_MAX: usize = 4 * MAX_BODY;

/// Reads and drops what is left of a body, up to [`DRAIN_MAX`] bytes, or until it stalls or fails.
async fn drain(mut body: axum::body::Body) {
    use http_body_util::BodyExt as _;
    let mut n = 0usize;
    while n <= DRAIN_MAX {
        match body.frame().await {
            Some(Ok(frame)) => n += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// What a body that could not be read answers: `413` over [`MAX_BODY`], `408` when it stalled or was not complete
/// in time (the front door's [`crate::front_door::BodyTimeout`]), else `400`. Each is told by the type of an error
/// in the chain: `axum::body::to_bytes` reads through `http_body_util::Limited`, whose `LengthLimitError` sits
/// under axum's error (as axum-core's own `FailedToBufferBody` finds it).
pub fn body_error(e: axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
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
        let pairs = form_pairs(query.as_bytes())?;
        // Links name the configured public URL, or what trusted proxies and a well-formed Host say (L5).
        let origin = state.http.link_origin(parts)?;
        let path = parts.extensions.get::<OriginalPath>().map_or(parts.uri.path(), |p| p.0.as_str());
        Ok(RawParams { pairs, base: format!("{origin}{path}") })
    }
}

/// The largest `offset` a list accepts: far past any real page, and small enough that offset + limit never
/// overflows.
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// A parameter of a query string or form body whose percent-decoded bytes are not UTF-8.
#[derive(Debug)]
pub struct NotUtf8 {
    /// The parameter's name, with any bytes that are not UTF-8 shown as U+FFFD, to say which it was.
    pub param: String,
}

/// A query parameter's fault, as every other one: `INVALID_PARAMETER` naming it.
impl From<NotUtf8> for ApiError {
    fn from(e: NotUtf8) -> Self {
        licensd_store::ParamError { message: "is not valid UTF-8 once percent-decoded".into(), param: e.param }.into()
    }
}

/// Splits `application/x-www-form-urlencoded` text (a query string, a form body) into decoded pairs as
/// `form_urlencoded::parse` does (`&`-separated, `+` is a space, `%XX` escapes), except that a name or value
/// whose bytes are not UTF-8 is refused: the lossy decoding replaced them with U+FFFD and searched for that.
pub fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, NotUtf8> {
    /// The decoded text, or (when it is not UTF-8) its lossy form.
    fn decode(part: &[u8]) -> Result<String, String> {
        let plus_as_space: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
        String::from_utf8(bytes).map_err(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
    let mut out = Vec::new();
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let name = decode(name).map_err(|lossy| NotUtf8 { param: lossy })?;
        let value = decode(value).map_err(|_| NotUtf8 { param: name.clone() })?;
        out.push((name, value));
    }
    Ok(out)
}

/// A query string of text parameters read into `T` (its fields `String` or `Option<String>`), strictly: a
/// parameter that is not UTF-8, holds a NUL, is given twice or does not fit `T` is a `400 INVALID_PARAMETER`
/// naming it, in the error envelope (axum's `Query` answers plain text, and lets a NUL reach the database).
pub struct TextQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for TextQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let bad = |param: &str, message: &str| -> ApiError {
            licensd_store::ParamError { param: param.to_string(), message: message.to_string() }.into()
        };
        let mut map = serde_json::Map::new();
        for (k, v) in form_pairs(parts.uri.query().unwrap_or_default().as_bytes())? {
            if k.contains('\0') || v.contains('\0') {
                return Err(bad(&k, "must not contain NUL characters"));
            }
            if map.insert(k.clone(), serde_json::Value::String(v)).is_some() {
                return Err(bad(&k, "is given more than once"));
            }
        }
        let value = serde_json::Value::Object(map);
        serde_path_to_error::deserialize(value).map(TextQuery).map_err(|e| {
            let param = e.path().to_string();
            let param = if param == "." { "query".to_string() } else { param };
            bad(&param, &e.inner().to_string())
        })
    }
}

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

/// An authenticated token: `Authorization: Bearer T`, `Token T` or `Api-Key T`. It yields a store scope only
/// through [`Auth::permit`], which asks the permission table (`core::access`): no route reaches the store
/// without naming what it does.
pub struct Auth(pub Authenticated);

/// The secret from an `Authorization` header, whichever of the accepted schemes carries it.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, secret) = value.split_once([' ', ':'])?;
    let ok = ["bearer", "token", "api-key"].iter().any(|s| scheme.eq_ignore_ascii_case(s));
    let secret = secret.trim();
    (ok && !secret.is_empty()).then_some(secret)
}

/// Why a request carries no usable token.
#[derive(Debug, Clone)]
pub enum NoToken {
    /// No `Authorization` header in an accepted scheme.
    Missing,
    /// No token has this secret, or it was revoked.
    Unknown,
    /// The token expired at this time.
    Expired(Timestamp),
}

/// Resolves the request's token for `/api/v1` and `/v2` alike, and notes its use (written at most once a
/// minute per token, [`licensd_store::tokens::LastUses`]).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Result<Authenticated, NoToken>, ApiError> {
    let Some(secret) = bearer(parts) else { return Ok(Err(NoToken::Missing)) };
    Ok(match licensd_store::tokens::authenticate(&state.db, secret).await? {
        Presented::Valid(a) => {
            state.last_uses.note(a.id, a.last_used_at, licensd_core::time::now_ms());
            if let Some(who) = parts.extensions.get::<crate::metrics::Who>() {
                who.set(format!("token:{}", a.name));
            }
            Ok(a)
        }
        Presented::Expired(at) => Err(NoToken::Expired(at)),
        Presented::Unknown => Err(NoToken::Unknown),
    })
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Ok(a) => Ok(Auth(a)),
            Err(NoToken::Missing) => Err(ApiError::unauthorized(
                "send a token: Authorization: Bearer <token> (Token and Api-Key schemes are accepted too)",
            )),
            Err(NoToken::Unknown) => Err(ApiError::unauthorized("the token is unknown or revoked")),
            Err(NoToken::Expired(at)) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "TOKEN_EXPIRED",
                "Token expired",
                format!(
                    "the token expired at {}; extend it (licensd token update ID --expires-in 90d) or create another",
                    licensd_core::time::format_iso(at.0)
                ),
            )),
        }
    }
}

/// The `403` of a refusal of the permission table: `FORBIDDEN_ROLE` naming the role and what it may do (the
/// catalog's refusal keeps the code it always had, `FORBIDDEN`).
pub fn denied(d: Denied) -> ApiError {
    let code = if d.action == Action::Catalog { "FORBIDDEN" } else { "FORBIDDEN_ROLE" };
    ApiError::new(StatusCode::FORBIDDEN, code, "Forbidden", d.detail("token"))
}

impl Auth {
    /// The scope to act in, once the permission table allows every one of `actions` to this token's role.
    pub fn permit(&self, actions: &[Action]) -> Result<licensd_store::Scope, ApiError> {
        self.0.scope_for(actions).map_err(denied)
    }

    /// [`Auth::permit`] for reading.
    pub fn read(&self) -> Result<licensd_store::Scope, ApiError> {
        self.permit(&[Action::Read])
    }

    /// [`Auth::permit`] for a change of the top-level fields of a JSON body (`note` alone is
    /// [`Action::EditNotes`], `metadata` [`Action::EditMetadata`], `enabled` [`Action::DisableEnable`], any
    /// other field [`Action::Edit`]). A body that is not a JSON object counts as no field, and is refused as
    /// bad input afterwards.
    pub fn permit_edit(&self, body: &[u8]) -> Result<licensd_store::Scope, ApiError> {
        self.permit(&edit_actions(body))
    }
}

/// The actions a change of the top-level fields of a JSON body takes.
pub fn edit_actions(body: &[u8]) -> Vec<Action> {
    let fields: Vec<String> = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .map(|m| m.into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    Action::for_fields(fields.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::{form_pairs, holds_nul};

    #[test]
    fn form_pairs_decode_as_form_urlencoded_does_for_utf8() {
        for input in ["a=1&b=x+y&&c&=v&d=%C3%A5%2B", "k=%2", "k=%zz&x==", "", "&&", "%EF%BF%BD=1"] {
            let lossy: Vec<(String, String)> = form_urlencoded::parse(input.as_bytes()).into_owned().collect();
            assert_eq!(form_pairs(input.as_bytes()).unwrap(), lossy, "{input}");
        }
    }

    #[test]
    fn form_pairs_refuse_bytes_that_are_not_utf8_naming_the_parameter() {
        assert_eq!(form_pairs(b"a=1&email=%ff").unwrap_err().param, "email");
        assert_eq!(form_pairs(b"x=%C3").unwrap_err().param, "x");
        assert_eq!(form_pairs(b"%ffa=1").unwrap_err().param, "\u{fffd}a");
        assert_eq!(form_pairs(b"n=%ED%A0%80").unwrap_err().param, "n", "a UTF-16 surrogate is not UTF-8");
    }

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
