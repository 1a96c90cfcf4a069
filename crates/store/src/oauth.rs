//! OAuth clients of LicenseSpring's License API v4 (issue 15, the client credentials grant), and the access
//! tokens issued to them. An application configured with a client id and secret asks the token endpoint for
//! an access token, then sends `Authorization: Bearer <token>` instead of an HMAC signature; its offline
//! request files are HMAC'd with the client secret, so the server keeps the secret, sealed under
//! `LICENSD_SECRET` as API keys' shared keys are ([`crate::credentials`]).
//!
//! Clients are made by `licensd oauth-client create`, `POST /api/v1/oauth-clients` and the dashboard, each
//! recorded as `oauth_client.created` / `oauth_client.revoked`. Access tokens are kept only as their
//! SHA-256, refused after their expiry or once their client is revoked (revoking deletes them), and swept
//! when expired ([`sweep_oauth_tokens`], hourly in `serve`). Every lookup reads the database.

use std::time::Duration;

use licensd_core::model::{CredentialInput, OauthClient, OauthClientCreated};
use licensd_core::time::{Timestamp, now_ms};

use crate::credentials::{self, Cred, Credential, Kind, Secret};
use crate::db::{Db, query};
use crate::error::StoreError;
use crate::list::{Field, Kind as FieldKind, ListParams, Spec};
use crate::scope::Scope;

pub use crate::credentials::Revoked;

pub(crate) static KIND: Kind = Kind {
    table: "oauth_clients",
    products: "oauth_client_products",
    fk: "oauth_client_id",
    public: "client_id",
    secret: "client_secret",
    resource: "oauth_client",
    what: "OAuth client",
    secret_name: "secret",
    new_public: licensd_core::credentials::client_id,
    new_secret: licensd_core::credentials::client_secret,
    on_revoke: &["DELETE FROM oauth_tokens WHERE oauth_client_id = ?"],
};

impl Credential for OauthClient {
    const KIND: &'static Kind = &KIND;
    fn from_cred(c: Cred) -> Self {
        OauthClient {
            id: c.id,
            client_id: c.public,
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
    Field::new("client_id", "k.client_id", FieldKind::Text),
    Field::new("name", "k.name", FieldKind::Text).sortable(),
    Field::new("created_at", "k.created_at", FieldKind::Time).sortable(),
    Field::new("revoked_at", "k.revoked_at", FieldKind::Time).sortable(),
];
/// What a page of OAuth clients may be filtered and sorted by (the list language of `store::list`).
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "k.id", search: &[] };

/// Creates an OAuth client limited to `input.products` (none: every product), its secret sealed under
/// `secret` (`LICENSD_SECRET`; plaintext without one); recorded as `oauth_client.created` with `by` as the
/// actor. The answer holds the client secret, which is never shown again.
pub async fn create_as(
    db: &Db,
    by: &Scope,
    input: &CredentialInput,
    secret: Option<&str>,
) -> Result<OauthClientCreated, StoreError> {
    let (client, plain) = credentials::create_as::<OauthClient>(db, by, input, secret).await?;
    Ok(OauthClientCreated { client, client_secret: plain.to_string() })
}

/// Every OAuth client (revoked ones too), oldest first, without secrets.
pub async fn list(db: &Db) -> Result<Vec<OauthClient>, StoreError> {
    credentials::list(db).await
}

/// A page of OAuth clients, filtered and sorted by [`SPEC`].
pub async fn page(db: &Db, params: &ListParams) -> Result<(i64, Vec<OauthClient>), StoreError> {
    credentials::page(db, &SPEC, params).await
}

/// One OAuth client by id.
pub async fn get(db: &Db, id: i64) -> Result<OauthClient, StoreError> {
    credentials::get(&mut &*db, id).await
}

/// The id of the client with this client id (revoked ones too); `NotFound` when none has it.
pub async fn id_of(db: &Db, client_id: &str) -> Result<i64, StoreError> {
    credentials::id_of(db, &KIND, client_id).await
}

/// Revokes an OAuth client: the token endpoint refuses it and every access token issued to it is refused (and
/// deleted) at once. Revoking a revoked client changes nothing and says so; recorded as
/// `oauth_client.revoked` with `by` as the actor.
pub async fn revoke_as(db: &Db, by: &Scope, id: i64) -> Result<Revoked<OauthClient>, StoreError> {
    credentials::revoke_as(db, by, id).await
}

/// The live OAuth client of this client id, with its secret opened under `secret` (`LICENSD_SECRET`): `None`
/// when no client has it, or it was revoked. One indexed statement, no cache.
pub async fn oauth_client(
    db: &Db,
    client_id: &str,
    secret: Option<&str>,
) -> Result<Option<(OauthClient, Secret)>, StoreError> {
    credentials::lookup(db, client_id, secret).await
}

/// The live OAuth client whose id and secret these are (the token endpoint's check; the secret compared in
/// constant time); `None` for an unknown or revoked client or a wrong secret.
pub async fn authenticate(
    db: &Db,
    client_id: &str,
    client_secret: &str,
    secret: Option<&str>,
) -> Result<Option<OauthClient>, StoreError> {
    Ok(oauth_client(db, client_id, secret).await?.and_then(|(client, stored)| {
        licensd_core::credentials::constant_time_eq(stored.expose(), client_secret.as_bytes()).then_some(client)
    }))
}

/// The longest lifetime of an access token: a day (LicenseSpring's own last 480 seconds).
pub const TOKEN_TTL_MAX: Duration = Duration::from_secs(86_400);

/// Issues an access token to `client` for `ttl` (1 second to [`TOKEN_TTL_MAX`]): the token, shown to the
/// client only, and its lifetime in seconds (`expires_in`). Only its SHA-256 is stored. `NotFound` when the
/// client was revoked meanwhile.
pub async fn issue_oauth_token(db: &Db, client: &OauthClient, ttl: Duration) -> Result<(String, i64), StoreError> {
    let secs = i64::try_from(ttl.min(TOKEN_TTL_MAX).as_secs()).unwrap_or(1).max(1);
    let token = licensd_core::credentials::access_token();
    let now = now_ms();
    let n = db
        .execute(
            query(
                "INSERT INTO oauth_tokens (token_hash, oauth_client_id, created_at, expires_at) \
                 SELECT ?, id, ?, ? FROM oauth_clients WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(licensd_core::token::hash(&token))
            .bind(now)
            .bind(now + secs * 1000)
            .bind(client.id),
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok((token, secs))
}

/// The client an access token was issued to: `None` when no token has this secret, it expired, or its client
/// was revoked. One indexed statement (the client and its products joined). An application on OAuth HMACs its
/// offline request files with the client secret: [`oauth_client`] with the client's `client_id` gives it.
pub async fn oauth_token(db: &Db, token: &str) -> Result<Option<OauthClient>, StoreError> {
    if token.is_empty() || token.len() > 200 || token.contains('\0') {
        return Ok(None);
    }
    let rows = db
        .point_read(
            query(
                "SELECT c.id, c.client_id, c.name, c.all_products, c.created_at, c.revoked_at, p.short_code \
                 FROM oauth_tokens t JOIN oauth_clients c ON c.id = t.oauth_client_id \
                 LEFT JOIN oauth_client_products cp ON cp.oauth_client_id = c.id \
                 LEFT JOIN products p ON p.id = cp.product_id \
                 WHERE t.token_hash = ? AND t.expires_at > ? AND c.revoked_at IS NULL",
            )
            .bind(licensd_core::token::hash(token))
            .bind(now_ms()),
        )
        .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let mut products = Vec::new();
    for r in &rows {
        if let Some(code) = r.get::<Option<String>>("short_code")? {
            products.push(code);
        }
    }
    products.sort();
    Ok(Some(OauthClient {
        id: first.get("id")?,
        client_id: first.get("client_id")?,
        name: first.get("name")?,
        products,
        all_products: first.get("all_products")?,
        created_at: Timestamp(first.get("created_at")?),
        revoked_at: None,
    }))
}

/// Deletes expired access tokens (`serve` runs it hourly; an expired token is refused whether or not it is
/// kept, so this only keeps the table small). Returns how many.
pub async fn sweep_oauth_tokens(db: &Db) -> Result<u64, StoreError> {
    db.execute(query("DELETE FROM oauth_tokens WHERE expires_at <= ?").bind(now_ms())).await
}
