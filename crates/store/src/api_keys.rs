//! LicenseSpring-style API keys (issue 15): what an application built on LicenseSpring's SDKs authenticates
//! its License API v4 requests with. The API key is public (`apiKey="…"` in every request's `Authorization`
//! header); its shared key signs each request (HMAC-SHA256 over the `Date` header) and the application's
//! offline request files, so the server keeps it, sealed under `LICENSD_SECRET` (see
//! [`crate::credentials`]). A key answers for every product, or only for the products it was limited to.
//!
//! Made by `licensd api-key create`, `POST /api/v1/api-keys` and the dashboard's Keys and access, each
//! recorded as `api_key.created` / `api_key.revoked` with the actor. [`lookup`] is what the License API's
//! authentication asks on every request: it reads the database each time, so a key works, or stops working,
//! at once.

use licensd_core::model::{ApiKey, ApiKeyCreated, CredentialInput};

use crate::credentials::{self, Cred, Credential, Kind, Secret};
use crate::db::Db;
use crate::error::StoreError;
use crate::list::{Field, Kind as FieldKind, ListParams, Spec};
use crate::scope::Scope;

pub use crate::credentials::Revoked;

pub(crate) static KIND: Kind = Kind {
    table: "api_keys",
    products: "api_key_products",
    fk: "api_key_id",
    public: "api_key",
    secret: "shared_key",
    resource: "api_key",
    what: "API key",
    secret_name: "shared key",
    new_public: licensd_core::credentials::api_key,
    new_secret: licensd_core::credentials::shared_key,
    on_revoke: &[],
};

impl Credential for ApiKey {
    const KIND: &'static Kind = &KIND;
    fn from_cred(c: Cred) -> Self {
        ApiKey {
            id: c.id,
            api_key: c.public,
            name: c.name,
            products: c.products,
            all_products: c.all_products,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

static FIELDS: &[Field] = &[
    Field::new("id", "k.id", FieldKind::Int).sortable(),
    Field::new("api_key", "k.api_key", FieldKind::Text),
    Field::new("name", "k.name", FieldKind::Text).sortable(),
    Field::new("created_at", "k.created_at", FieldKind::Time).sortable(),
    Field::new("revoked_at", "k.revoked_at", FieldKind::Time).sortable(),
];
/// What a page of API keys may be filtered and sorted by (the list language of `store::list`).
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "k.id", search: &[] };

/// Creates an API key limited to `input.products` (none: every product), its shared key sealed under
/// `secret` (`LICENSD_SECRET`; plaintext without one); recorded as `api_key.created` with `by` as the actor.
/// The answer holds the shared key, which is never shown again.
pub async fn create_as(
    db: &Db,
    by: &Scope,
    input: &CredentialInput,
    secret: Option<&str>,
) -> Result<ApiKeyCreated, StoreError> {
    let (key, shared) = credentials::create_as::<ApiKey>(db, by, input, secret).await?;
    Ok(ApiKeyCreated { key, shared_key: shared.to_string() })
}

/// Every API key (revoked ones too), oldest first, without shared keys.
pub async fn list(db: &Db) -> Result<Vec<ApiKey>, StoreError> {
    credentials::list(db).await
}

/// A page of API keys, filtered and sorted by [`SPEC`].
pub async fn page(db: &Db, params: &ListParams) -> Result<(i64, Vec<ApiKey>), StoreError> {
    credentials::page(db, &SPEC, params).await
}

/// One API key by id.
pub async fn get(db: &Db, id: i64) -> Result<ApiKey, StoreError> {
    credentials::get(&mut &*db, id).await
}

/// The id of the key with this API key (revoked ones too); `NotFound` when none has it.
pub async fn id_of(db: &Db, api_key: &str) -> Result<i64, StoreError> {
    credentials::id_of(db, &KIND, api_key).await
}

/// Revokes an API key: every request with it is refused from then on. Revoking a revoked key changes nothing
/// and says so (`already`); recorded as `api_key.revoked` with `by` as the actor.
pub async fn revoke_as(db: &Db, by: &Scope, id: i64) -> Result<Revoked<ApiKey>, StoreError> {
    credentials::revoke_as(db, by, id).await
}

/// The live API key an application presents, with its shared key opened under `secret` (`LICENSD_SECRET`):
/// `None` when no key has it, or it was revoked. One indexed statement; no cache, so a new or revoked key
/// counts at the next request. The key's `products` (empty with `all_products`) are the short codes it
/// answers for.
pub async fn lookup(db: &Db, api_key: &str, secret: Option<&str>) -> Result<Option<(ApiKey, Secret)>, StoreError> {
    credentials::lookup(db, api_key, secret).await
}
