//! The DevMate-compatible API, `/v2/…` (seeds 000 and 001, `shared/reference/devmate-v2.md`): what a
//! former DevMate vendor's store and scripts call, answered from licensd's own records. Bodies are
//! `{"data": …}` in and out, lists add `"meta": {"total": N}`, errors are `{"errors": [{"title", "detail"}]}`
//! with DevMate's texts, times are UNIX seconds. The store does the mapping (`licensd_store::devmate`). The
//! handlers' paths are relative to [`PREFIX`], which [`surface`] is nested under.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use licensd_core::access::Action;
use licensd_core::devmate::{DevmateCustomer, DevmateLicense};
use licensd_core::model::{CustomerInput, normalize_email};
use licensd_store::StoreError;
use licensd_store::devmate::{self as store, CreateLicenseError};
use licensd_store::tokens::Authenticated;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

// ---------------------------------------------------------------------------------------------
// Errors

/// One entry of DevMate's error body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DevmateErrorObject {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// DevMate's error body: `{"errors": [{"title": "...", "detail": "..."}]}` (401 has no `detail`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DevmateErrorBody {
    pub errors: Vec<DevmateErrorObject>,
}

/// An error of the `/v2` surface: a status and DevMate's title and detail.
#[derive(Debug, Clone)]
pub struct V2Error {
    pub status: StatusCode,
    pub title: String,
    pub detail: Option<String>,
}

type V2Result<T> = Result<T, V2Error>;

impl V2Error {
    fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        V2Error { status, title: title.into(), detail: Some(detail.into()) }
    }

    /// DevMate's 401, exactly: no detail.
    pub fn unauthorized() -> Self {
        V2Error { status: StatusCode::UNAUTHORIZED, title: "Unauthorized".into(), detail: None }
    }

    /// `Invalid field "x".` with a detail: DevMate's 400.
    fn field(field: &str, detail: impl Into<String>) -> Self {
        V2Error::new(StatusCode::BAD_REQUEST, format!("Invalid field \"{field}\"."), detail)
    }

    fn empty(field: &str) -> Self {
        V2Error::field(field, format!("Mandatory parameter \"{field}\" is empty."))
    }

    fn wrong(field: &str, why: impl std::fmt::Display) -> Self {
        V2Error::field(field, format!("Wrong \"{field}\" parameter given. {why}"))
    }

    fn parameter(param: &str, detail: impl Into<String>) -> Self {
        V2Error::new(StatusCode::BAD_REQUEST, format!("Invalid parameter \"{param}\"."), detail)
    }

    /// DevMate's 404 (its reset endpoint's wording: the title really is "Server error.").
    fn not_found(what: &str, value: &str) -> Self {
        V2Error::new(
            StatusCode::NOT_FOUND,
            "Server error.",
            format!("Resource with provided {what} {value:?} does not exist."),
        )
    }

    /// For paths and methods the `/v2` surface does not have.
    pub fn no_route() -> Self {
        V2Error::new(StatusCode::NOT_FOUND, "Not found.", "No such method in the DevMate API v2.")
    }

    fn email_invalid() -> Self {
        V2Error::field("email", "Mandatory parameter \"email\" is empty or incorrect.")
    }

    fn email_taken() -> Self {
        V2Error::new(StatusCode::CONFLICT, "Invalid field \"email\".", "This email already exists.")
    }
}

/// A method a `/v2` path does not take: `405` with an empty body, as DevMate answered (its reset endpoint's
/// documented 405, and "customer ID is empty" for `PUT /v2/customers/`). The router adds `Allow`.
pub fn method_not_allowed() -> Response {
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let body = DevmateErrorBody { errors: vec![DevmateErrorObject { title: self.title, detail: self.detail }] };
        (self.status, Json(body)).into_response()
    }
}

/// Bad input found by the shared extractors (size, media type, UTF-8, JSON syntax), in DevMate's shape.
impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        V2Error::new(e.status, format!("{}.", e.error.title), e.error.detail)
    }
}

/// A domain field name as DevMate names it.
fn devmate_field(field: &str) -> &str {
    match field {
        "company_name" => "company",
        f => f,
    }
}

impl From<StoreError> for V2Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => V2Error::new(StatusCode::NOT_FOUND, "Server error.", "Resource does not exist."),
            StoreError::Conflict { field, .. } if field == "email" => V2Error::email_taken(),
            StoreError::Conflict { field, .. } => {
                let f = devmate_field(&field);
                V2Error::new(
                    StatusCode::CONFLICT,
                    format!("Invalid field \"{f}\"."),
                    format!("This {f} already exists."),
                )
            }
            StoreError::Invalid { field, message }
            | StoreError::Domain(licensd_core::Error::Invalid { field, message }) => {
                let f = devmate_field(&field).to_string();
                V2Error::wrong(&f, format!("It {message}."))
            }
            StoreError::InUse(m) | StoreError::State(m) => V2Error::new(StatusCode::CONFLICT, "Conflict.", m),
            e => ApiError::from(e).into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extractors

/// A token, as DevMate sent it (`Authorization: Token T`, also `Token:T`), or any scheme licensd accepts. As on
/// `/api/v1`, it yields a scope only through [`V2Auth::permit`] (the permission table of `core::access`).
pub struct V2Auth(pub Authenticated);

impl FromRequestParts<AppState> for V2Auth {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, V2Error> {
        match crate::extract::authenticate(parts, state).await? {
            Ok(a) => Ok(V2Auth(a)),
            // DevMate's 401 has no detail; an expired token gets one, saying so.
            Err(crate::extract::NoToken::Expired(at)) => Err(V2Error {
                status: StatusCode::UNAUTHORIZED,
                title: "Unauthorized".into(),
                detail: Some(format!("Token expired at {}.", licensd_core::time::format_iso(at.0))),
            }),
            Err(_) => Err(V2Error::unauthorized()),
        }
    }
}

impl V2Auth {
    /// The scope to act in once the permission table allows `actions`: else `403` in DevMate's shape, with the
    /// same detail as on `/api/v1`.
    pub fn permit(&self, actions: &[Action]) -> V2Result<licensd_store::Scope> {
        self.0.scope_for(actions).map_err(|d| V2Error::new(StatusCode::FORBIDDEN, "Forbidden.", d.detail("token")))
    }
}

/// The `data` object of a request body. JSON as DevMate documents it; a form body (`data[email]=…`, what
/// form-posting clients send) is read too, its values being strings.
pub struct V2Body {
    data: Map<String, Value>,
    form: bool,
}

impl<S: Send + Sync> FromRequest<S> for V2Body {
    type Rejection = V2Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self, V2Error> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        let bytes = crate::extract::read_body(req).await?;
        let starts_json = bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[');
        if form_type && !starts_json && !bytes.iter().all(u8::is_ascii_whitespace) {
            if std::str::from_utf8(&bytes).is_err() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_UTF8",
                    "Invalid UTF-8",
                    "the request body is not valid UTF-8",
                )
                .into());
            }
            let mut data = Map::new();
            let pairs = crate::extract::form_pairs(&bytes).map_err(|e| {
                let name = e.param.strip_prefix("data[").and_then(|r| r.strip_suffix(']')).unwrap_or(&e.param);
                V2Error::wrong(name, "It is not valid UTF-8.")
            })?;
            for (k, v) in pairs {
                if let Some(name) = k.strip_prefix("data[").and_then(|r| r.strip_suffix(']')) {
                    if name.contains('\0') || v.contains('\0') {
                        return Err(V2Error::wrong(name, NO_NUL));
                    }
                    data.insert(name.to_string(), Value::String(v));
                }
            }
            if data.is_empty() {
                return Err(V2Error::empty("data"));
            }
            return Ok(V2Body { data, form: true });
        }
        let body: Map<String, Value> = crate::extract::parse_json(&bytes)?;
        match body.get("data") {
            None | Some(Value::Null) => Err(V2Error::empty("data")),
            Some(Value::Object(o)) => Ok(V2Body { data: o.clone(), form: false }),
            Some(_) => Err(V2Error::wrong("data", "It must be an object.")),
        }
    }
}

impl V2Body {
    /// An integer field; `None` when absent or null. Form values may be numeric strings.
    fn int(&self, name: &str) -> V2Result<Option<i64>> {
        match self.data.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::String(s)) if self.form && s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if self.form => {
                s.trim().parse().map(Some).map_err(|_| V2Error::wrong(name, "It must be an integer."))
            }
            Some(_) => Err(V2Error::wrong(name, "It must be an integer.")),
        }
    }

    /// A string field; `None` when absent or null.
    fn string(&self, name: &str) -> V2Result<Option<String>> {
        match self.data.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(V2Error::wrong(name, "It must be a string.")),
        }
    }
}

/// Neither backend keeps a NUL in text, and PostgreSQL refuses one in a statement with an error.
const NO_NUL: &str = "It must not contain NUL characters.";

/// A path parameter as text; `400` naming it when it holds a NUL or its escapes are not UTF-8, and empty
/// when the path has none.
fn path_text(p: &Result<Path<String>, PathRejection>, param: &str) -> V2Result<String> {
    use axum::extract::path::ErrorKind;
    match p {
        Ok(Path(s)) if s.contains('\0') => {
            Err(V2Error::parameter(param, format!("Wrong \"{param}\" parameter given. {NO_NUL}")))
        }
        Ok(Path(s)) => Ok(s.clone()),
        Err(PathRejection::FailedToDeserializePathParams(e))
            if matches!(e.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
        {
            Err(V2Error::parameter(param, format!("Wrong \"{param}\" parameter given. It is not valid UTF-8.")))
        }
        Err(_) => Ok(String::new()),
    }
}

/// A path id DevMate sends as an integer; the raw text when it is not one.
fn path_id(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(raw.to_string()),
    }
}

/// DevMate's page size when a list is sent no `limit`.
const DEFAULT_LIMIT: i64 = 10;

/// The query of a `/v2` list (`GET /v2/customers`), read as DevMate did: `limit` (default 10, at most
/// [`store::MAX_LIMIT`]), `offset`, `with=licenses`, and `filter[NAME]=value` pairs (several combine), compiled
/// by the store (`store::parse_filters`). Anything else, a value out of range, a NUL or bytes that are not UTF-8
/// is a `400` naming the parameter, in DevMate's shape; `/api/v1`'s lists read theirs with
/// [`crate::extract::RawParams`].
pub struct V2ListParams {
    pub limit: i64,
    pub offset: i64,
    pub with_licenses: bool,
    pub filters: Vec<store::Filter>,
}

impl<S: Send + Sync> FromRequestParts<S> for V2ListParams {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> V2Result<Self> {
        let mut q = V2ListParams { limit: DEFAULT_LIMIT, offset: 0, with_licenses: false, filters: Vec::new() };
        let mut filters = Vec::new();
        let pairs = crate::extract::form_pairs(parts.uri.query().unwrap_or_default().as_bytes()).map_err(|e| {
            V2Error::parameter(&e.param, format!("Wrong \"{}\" parameter given. It is not valid UTF-8.", e.param))
        })?;
        for (k, v) in pairs {
            if k.contains('\0') || v.contains('\0') {
                return Err(V2Error::parameter(&k, format!("Wrong \"{k}\" parameter given. {NO_NUL}")));
            }
            match k.as_str() {
                "limit" => {
                    q.limit =
                        v.trim().parse().ok().filter(|n| (1..=store::MAX_LIMIT).contains(n)).ok_or_else(|| {
                            V2Error::parameter(
                                "limit",
                                format!(
                                    "Wrong \"limit\" parameter given. It must be an integer from 1 to {}.",
                                    store::MAX_LIMIT
                                ),
                            )
                        })?;
                }
                "offset" => {
                    q.offset = v.trim().parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
                        V2Error::parameter("offset", "Wrong \"offset\" parameter given. It must be an integer from 0.")
                    })?;
                }
                "with" => match v.as_str() {
                    "licenses" => q.with_licenses = true,
                    "" => {}
                    other => {
                        return Err(V2Error::parameter(
                            "with",
                            format!("Wrong \"with\" parameter given. {other:?} is not \"licenses\"."),
                        ));
                    }
                },
                key => match key.strip_prefix("filter[").and_then(|r| r.strip_suffix(']')) {
                    Some(name) => filters.push((name.to_string(), v)),
                    None => {
                        return Err(V2Error::parameter(
                            key,
                            format!("Unknown parameter {key:?}. Parameters: filter[NAME], limit, offset, with."),
                        ));
                    }
                },
            }
        }
        q.filters = store::parse_filters(&filters).map_err(|e| V2Error::parameter(&e.param, e.message))?;
        Ok(q)
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies (for the OpenAPI document; the handlers read bodies field by field to answer as DevMate did)

/// `{"data": customer}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerData {
    pub data: DevmateCustomer,
}

/// `{"data": license}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LicenseData {
    pub data: DevmateLicense,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListMeta {
    /// Matches before `limit` and `offset`.
    pub total: i64,
}

/// `{"data": [customer…], "meta": {"total": N}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerList {
    pub data: Vec<DevmateCustomer>,
    pub meta: ListMeta,
}

/// The fields of a customer a store may send (create: `email` is mandatory; update: only those given change).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CustomerFields {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    /// `notes` is accepted too (DevMate's v1.0 docs).
    note: Option<String>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CustomerRequest {
    data: CustomerFields,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LicenseFields {
    /// The license type (licensd: license template) id.
    license_type_id: i64,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LicenseRequest {
    data: LicenseFields,
}

/// `401` and `503`, which every `/v2` operation can answer, in DevMate's shape.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum V2Common {
    /// No token, or an unknown or revoked one: `{"errors": [{"title": "Unauthorized"}]}`.
    #[response(status = 401)]
    Unauthorized(DevmateErrorBody),
    /// The database cannot be reached, or another process held SQLite's write lock for 10 s; try again.
    #[response(status = 503)]
    Unavailable(DevmateErrorBody),
}

/// What reading a `/v2` body (JSON, or a `data[NAME]=…` form) can answer besides the operation's own outcomes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum V2BodyErrors {
    /// The body is not UTF-8, not JSON, has no `data` object, holds a NUL, or a field is wrong.
    #[response(status = 400)]
    BadRequest(DevmateErrorBody),
    /// The body is over 1 MiB.
    #[response(status = 413)]
    TooLarge(DevmateErrorBody),
    /// The body is neither JSON nor a form.
    #[response(status = 415)]
    UnsupportedMediaType(DevmateErrorBody),
}

/// Query parameters of `GET /v2/customers`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParamsDoc {
    /// Page size, default 10, at most 1000.
    limit: Option<i64>,
    offset: Option<i64>,
    /// `licenses`: include each customer's licenses.
    with: Option<String>,
    /// `filter[email]`, `filter[first_name]`, `filter[last_name]`, `filter[company]`, `filter[phone]`,
    /// `filter[address]`, `filter[identifier]`, `filter[invoice]` (case-insensitive contains); `filter[key]`,
    /// `filter[order_id]`, `filter[activation_id]` (exact).
    #[param(rename = "filter[NAME]")]
    filter: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Customers, filtered (`filter[NAME]=value`, several combine), paged (`limit`, default 10; `offset`), with
/// `meta.total` counting every match; `with=licenses` adds each customer's licenses.
#[utoipa::path(get, path = "/customers", tag = "devmate", operation_id = "devmate_list_customers", params(ListParamsDoc),
    responses((status = 200, description = "OK", body = CustomerList), V2Common,
              (status = 400, description = "A parameter is unknown, malformed or over a bound, or holds a NUL or invalid UTF-8", body = DevmateErrorBody)),
    security(("devmate_token" = [])))]
pub async fn list_customers(State(s): State<AppState>, auth: V2Auth, q: V2ListParams) -> V2Result<Json<CustomerList>> {
    let scope = auth.permit(&[Action::Read])?;
    let (total, data) = store::list_customers(&s.db, &scope, &q.filters, q.limit, q.offset, q.with_licenses).await?;
    Ok(Json(CustomerList { data, meta: ListMeta { total } }))
}

/// One customer with licenses, each with its products and history.
#[utoipa::path(get, path = "/customers/{customer_id}", tag = "devmate", operation_id = "devmate_get_customer",
    params(("customer_id" = i64, Path)),
    responses((status = 200, description = "OK", body = CustomerData), V2Common, (status = 404, description = "No such customer or key, or not visible to this token", body = DevmateErrorBody),
              (status = 400, description = "The path holds a NUL or invalid UTF-8", body = DevmateErrorBody)),
    security(("devmate_token" = [])))]
pub async fn get_customer(
    State(s): State<AppState>,
    auth: V2Auth,
    id: Result<Path<String>, PathRejection>,
) -> V2Result<Json<CustomerData>> {
    let scope = auth.permit(&[Action::Read])?;
    let id = path_id(&path_text(&id, "customer_id")?).map_err(|raw| V2Error::not_found("id", &raw))?;
    match store::customer(&mut &s.db, &scope, id).await {
        Err(StoreError::NotFound) => Err(V2Error::not_found("id", &id.to_string())),
        other => Ok(Json(CustomerData { data: other? })),
    }
}

/// The text fields a body gives, checked; `email` must be a real address when given.
struct Given {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    note: Option<String>,
}

fn given(b: &V2Body) -> V2Result<Given> {
    let email = match b.string("email")? {
        Some(e) => Some(normalize_email("email", &e).ok().flatten().ok_or_else(V2Error::email_invalid)?),
        None => None,
    };
    Ok(Given {
        email,
        first_name: b.string("first_name")?,
        last_name: b.string("last_name")?,
        company: b.string("company")?,
        phone: b.string("phone")?,
        address: b.string("address")?,
        note: match b.string("note")? {
            Some(n) => Some(n),
            None => b.string("notes")?,
        },
    })
}

fn apply(i: &mut CustomerInput, g: Given) {
    for (field, v) in [
        (&mut i.first_name, g.first_name),
        (&mut i.last_name, g.last_name),
        (&mut i.company_name, g.company),
        (&mut i.phone, g.phone),
        (&mut i.address, g.address),
        (&mut i.note, g.note),
    ] {
        if let Some(v) = v {
            *field = v;
        }
    }
    if let Some(e) = g.email {
        i.email = Some(e);
    }
}

/// Creates a customer (`email` mandatory and unique).
#[utoipa::path(post, path = "/customers", tag = "devmate", operation_id = "devmate_create_customer", request_body = CustomerRequest,
    responses((status = 201, description = "Created", body = CustomerData), V2Common, V2BodyErrors, (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = DevmateErrorBody)),
    security(("devmate_token" = [])))]
pub async fn create_customer(
    State(s): State<AppState>,
    auth: V2Auth,
    body: V2Body,
) -> V2Result<(StatusCode, Json<CustomerData>)> {
    let scope = auth.permit(&[Action::Create])?;
    let g = given(&body)?;
    if g.email.is_none() {
        return Err(V2Error::email_invalid());
    }
    let mut i = CustomerInput::default();
    apply(&mut i, g);
    let c = licensd_store::customers::create(&s.db, &scope, i).await?;
    Ok((StatusCode::CREATED, Json(CustomerData { data: DevmateCustomer::from_model(&c) })))
}

/// Changes the fields given (`note` or `notes`); the others, and read-only keys such as `id`, are left alone.
#[utoipa::path(put, path = "/customers/{customer_id}", tag = "devmate", operation_id = "devmate_update_customer",
    params(("customer_id" = i64, Path)), request_body = CustomerRequest,
    responses((status = 200, description = "OK", body = CustomerData), V2Common, V2BodyErrors, (status = 404, description = "No such customer or key, or not visible to this token", body = DevmateErrorBody),
              (status = 405, description = "empty body"), (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = DevmateErrorBody)),
    security(("devmate_token" = [])))]
pub async fn update_customer(
    State(s): State<AppState>,
    auth: V2Auth,
    id: Result<Path<String>, PathRejection>,
    body: V2Body,
) -> V2Result<Json<CustomerData>> {
    // A support token may change `note` (or `notes`) alone.
    let scope = auth.permit(&Action::for_fields(body.data.keys().map(String::as_str)))?;
    let id = path_id(&path_text(&id, "customer_id")?).map_err(|raw| V2Error::not_found("id", &raw))?;
    let g = given(&body)?;
    let r = licensd_store::customers::update(&s.db, &scope, id, |cur| {
        let mut i = CustomerInput::from(cur);
        apply(&mut i, g);
        Ok::<_, StoreError>(i)
    })
    .await;
    match r {
        Err(StoreError::NotFound) => Err(V2Error::not_found("id", &id.to_string())),
        other => Ok(Json(CustomerData { data: DevmateCustomer::from_model(&other?) })),
    }
}

/// Issues a license of a license type to the customer: `201` with the license (status 1, a new key, one
/// "created" history record).
#[utoipa::path(post, path = "/customers/{customer_id}/licenses", tag = "devmate", operation_id = "devmate_create_license",
    params(("customer_id" = i64, Path)), request_body = LicenseRequest,
    responses((status = 201, description = "Created", body = LicenseData), V2Common, V2BodyErrors),
    security(("devmate_token" = [])))]
pub async fn create_license(
    State(s): State<AppState>,
    auth: V2Auth,
    id: Result<Path<String>, PathRejection>,
    body: V2Body,
) -> V2Result<(StatusCode, Json<LicenseData>)> {
    let scope = auth.permit(&[Action::Create])?;
    let customer_id = match path_id(&path_text(&id, "customer_id")?) {
        Ok(n) => n,
        Err(raw) if raw.is_empty() => return Err(V2Error::empty("customer_id")),
        Err(raw) => return Err(V2Error::wrong("customer_id", format!("Customer #{raw} not found."))),
    };
    let type_id = body.int("license_type_id")?.ok_or_else(|| V2Error::empty("license_type_id"))?;
    match store::create_license(&s.db, &scope, customer_id, type_id).await {
        Ok(l) => Ok((StatusCode::CREATED, Json(LicenseData { data: l }))),
        Err(CreateLicenseError::NoCustomer) => {
            Err(V2Error::wrong("customer_id", format!("Customer #{customer_id} not found.")))
        }
        Err(CreateLicenseError::NoLicenseType) => {
            Err(V2Error::wrong("license_type_id", format!("License type #{type_id} not found.")))
        }
        Err(CreateLicenseError::Store(e)) => Err(e.into()),
    }
}

/// `POST /v2/customers//licenses`: DevMate's "customer id is empty".
pub async fn create_license_without_customer(auth: V2Auth) -> V2Error {
    match auth.permit(&[Action::Create]) {
        Ok(_) => V2Error::empty("customer_id"),
        Err(e) => e,
    }
}

/// Frees the oldest activation the key holds: `200` with an empty body.
#[utoipa::path(post, path = "/licenses/{activation_key}/reset_first_activation", tag = "devmate",
    operation_id = "devmate_reset_first_activation", params(("activation_key" = String, Path)),
    responses((status = 200, description = "empty body"), V2Common, (status = 404, description = "No such customer or key, or not visible to this token", body = DevmateErrorBody),
              (status = 400, description = "The path holds a NUL or invalid UTF-8", body = DevmateErrorBody),
              (status = 405, description = "empty body"), (status = 409, description = "A unique field is taken, or the record is in use or in a state that does not allow this", body = DevmateErrorBody)),
    security(("devmate_token" = [])))]
pub async fn reset_first_activation(
    State(s): State<AppState>,
    auth: V2Auth,
    key: Result<Path<String>, PathRejection>,
) -> V2Result<StatusCode> {
    let scope = auth.permit(&[Action::ResetActivations])?;
    let key = path_text(&key, "activation_key")?;
    match store::reset_first_activation(&s.db, &scope, &key).await {
        Ok(true) => Ok(StatusCode::OK),
        Ok(false) => Err(V2Error::new(
            StatusCode::CONFLICT,
            "Conflict.",
            format!("Activation key {key:?} has no activation to reset."),
        )),
        Err(StoreError::NotFound) => Err(V2Error::not_found("key", &key)),
        Err(e) => Err(e.into()),
    }
}

/// The path the DevMate-compatible API is nested under.
pub const PREFIX: &str = "/v2";

/// The DevMate-compatible API as a surface: its routes behind the per-token rate limit and the request
/// deadline (both in DevMate's error shape), DevMate's `404` for a path it does not have and its empty `405`
/// for a method a path does not take.
pub fn surface(state: &AppState) -> OpenApiRouter<AppState> {
    use axum::middleware::from_fn_with_state as mw;
    let mut routes = router()
        .layer(mw(state.clone(), crate::limits::devmate))
        .layer(mw(state.clone(), crate::front_door::deadline_v2));
    crate::document_permission_table(routes.get_openapi_mut());
    crate::surface(routes, || async { V2Error::no_route() }, || async { method_not_allowed() })
}

/// The routes of the DevMate-compatible API, relative to [`PREFIX`].
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(create_license))
        .routes(routes!(reset_first_activation))
        .route("/customers//licenses", axum::routing::post(create_license_without_customer))
}
