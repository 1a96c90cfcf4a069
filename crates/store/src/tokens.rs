//! API tokens: created and changed by the CLI and the dashboard, looked up by hash on every management request.
//!
//! A token has a role (`core::access` says what each may do), the products it is limited to (or every
//! product), an optional expiry, a description and a last-used time. Names are unique among the tokens not
//! revoked (a partial unique index), so an event's actor and time name exactly one token.
//!
//! The `*_as` functions are the same changes made by a person (the dashboard) or the command line (`licensd
//! token`, as the actor `cli`): they also record `api_token.created`, `api_token.updated` and
//! `api_token.revoked` events with that actor, in the change's transaction. The secret is never in an event.
//! The others record nothing; they are for setting up tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use licensd_core::access::{Action, Denied};
use licensd_core::model::{ApiToken, ProductLimit, Role};
use licensd_core::time::{Timestamp, format_iso, now_ms};

use crate::db::{Db, Exec, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind as FieldKind, ListParams, Spec};
use crate::scope::Scope;

/// A token as authentication resolves it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Sees every product; otherwise only `product_ids`.
    pub all_products: bool,
    pub product_ids: Vec<i64>,
    /// As the database last recorded it (see [`LastUses`]).
    pub last_used_at: Option<i64>,
}

impl Authenticated {
    /// The scope to act in, once the permission table allows every one of `actions` to this token's role:
    /// the only way from a token to the store, so no route acts without naming what it does.
    pub fn scope_for(&self, actions: &[Action]) -> Result<Scope, Denied> {
        licensd_core::access::check(self.role, actions)?;
        Ok(Scope {
            actor: self.name.clone(),
            token_id: Some(self.id),
            products: if self.all_products { None } else { Some(Arc::from(self.product_ids.as_slice())) },
            role: self.role,
        })
    }
}

/// What a presented secret is.
#[derive(Debug, Clone)]
pub enum Presented {
    /// A live token.
    Valid(Authenticated),
    /// A token whose expiry has passed (at that time).
    Expired(Timestamp),
    /// No token has this secret, or it was revoked.
    Unknown,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// Short codes; empty for every product (admin, support, read-only).
    pub products: Vec<String>,
    pub description: String,
    pub expires_at: Option<i64>,
}

impl NewToken {
    /// A token with this name, role and products, no description and no expiry.
    pub fn new(name: &str, role: Role, products: &[String]) -> NewToken {
        NewToken {
            name: name.to_string(),
            role,
            products: products.to_vec(),
            description: String::new(),
            expires_at: None,
        }
    }
}

/// The products a token is limited to, as a change gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Products {
    /// Every product (admin, support, read-only).
    All,
    /// Only these short codes.
    Only(Vec<String>),
}

/// A change to a token: each `Some` field is set.
#[derive(Debug, Clone, Default)]
pub struct TokenChange {
    pub products: Option<Products>,
    pub description: Option<String>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<i64>>,
}

const DESCRIPTION_MAX: usize = 1000;

/// Actors the audit log records for work done without a token: the client API, the command line, internal
/// work and the DevMate import. A token of one of these names would make its events indistinguishable.
pub const RESERVED_ACTORS: &[&str] =
    &["client", "cli", "system", licensd_core::devmate::IMPORT_ACTOR, crate::licensespring::IMPORT_ACTOR];

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.trim() != name {
        return Err(StoreError::invalid("name", "must be 1 to 200 characters, without spaces around it"));
    }
    if RESERVED_ACTORS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return Err(StoreError::invalid(
            "name",
            format!(
                "{name:?} is what the audit log records for work done without a token ({}); choose another name",
                RESERVED_ACTORS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn check_description(d: &str) -> Result<(), StoreError> {
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(StoreError::invalid("description", format!("must be at most {DESCRIPTION_MAX} characters")));
    }
    Ok(())
}

fn check_expiry(at: Option<i64>, now: i64) -> Result<(), StoreError> {
    match at {
        Some(t) if t <= now => {
            Err(StoreError::invalid("expires_at", format!("{} is not in the future; give a later time", format_iso(t))))
        }
        _ => Ok(()),
    }
}

/// Checks `products` against what `role` allows: none for an admin, at least one for a manager.
fn check_products(role: Role, products: &Products) -> Result<(), StoreError> {
    match (role.product_limit(), products) {
        (ProductLimit::Never, Products::Only(_)) => Err(StoreError::invalid(
            "product",
            "an admin token sees every product; give --product only to manager, support and read-only tokens",
        )),
        (ProductLimit::Always, Products::All) => {
            Err(StoreError::invalid("product", "a manager token needs at least one --product SHORT_CODE"))
        }
        (_, Products::Only(codes)) if codes.is_empty() => Err(StoreError::invalid(
            "product",
            "give at least one --product SHORT_CODE (or, for support and read-only tokens, every product)",
        )),
        _ => Ok(()),
    }
}

/// The short codes of every product, for the message naming an unknown one.
pub(crate) async fn known_codes(e: &mut impl Exec) -> Result<String, StoreError> {
    let rows = e.fetch_all(query("SELECT short_code FROM products ORDER BY short_code")).await?;
    let codes: Vec<String> = rows.iter().map(|r| r.get("short_code")).collect::<Result<_, _>>()?;
    Ok(if codes.is_empty() {
        "there are no products yet (create one first: POST /api/v1/products/)".into()
    } else {
        format!("products are: {}", codes.join(", "))
    })
}

/// Replaces the token's products with `codes`, each of which must exist.
async fn set_products(tx: &mut Tx, id: i64, codes: &[String]) -> Result<(), StoreError> {
    tx.execute(query("DELETE FROM api_token_products WHERE token_id = ?").bind(id)).await?;
    for code in codes {
        let Some(row) =
            tx.fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code.as_str())).await?
        else {
            let known = known_codes(tx).await?;
            return Err(StoreError::invalid("product", format!("no product with short_code {code:?}; {known}")));
        };
        let pid: i64 = row.get("id")?;
        tx.execute(
            query(
                "INSERT INTO api_token_products (token_id, product_id) VALUES (?, ?) \
                 ON CONFLICT (token_id, product_id) DO NOTHING",
            )
            .bind(id)
            .bind(pid),
        )
        .await?;
    }
    Ok(())
}

/// The `409` for a name another live token has, naming that token.
async fn name_taken(db: &Db, name: &str) -> StoreError {
    let other = db
        .fetch_optional(query("SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL").bind(name))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.get::<i64>("id").ok());
    let which = other.map(|id| format!(" (id {id})")).unwrap_or_default();
    StoreError::Conflict {
        field: "name".into(),
        message: format!(
            "a token named {name:?} exists{which}; names are unique among tokens not revoked (they are the actor \
             in the audit log): choose another name, or revoke that token first"
        ),
    }
}

/// Creates a token with this name, role and products; see [`create_token`].
pub async fn create(db: &Db, name: &str, role: Role, products: &[String]) -> Result<(ApiToken, String), StoreError> {
    create_token(db, &NewToken::new(name, role, products)).await
}

/// Creates a token and returns it with its secret, which is never stored.
pub async fn create_token(db: &Db, t: &NewToken) -> Result<(ApiToken, String), StoreError> {
    create_recorded(db, t, None).await
}

/// [`create_token`], by a person: recorded as `api_token.created` with `by` as the actor.
pub async fn create_token_as(db: &Db, by: &Scope, t: &NewToken) -> Result<(ApiToken, String), StoreError> {
    create_recorded(db, t, Some(by)).await
}

/// The resource type of tokens' events.
const RESOURCE: &str = "api_token";

async fn create_recorded(db: &Db, t: &NewToken, by: Option<&Scope>) -> Result<(ApiToken, String), StoreError> {
    if t.name.starts_with(USER_TOKEN_PREFIX) {
        return Err(StoreError::invalid(
            "name",
            format!("names beginning with {USER_TOKEN_PREFIX:?} are the dashboard users' own; choose another name"),
        ));
    }
    let mut tx = db.begin().await?;
    let (id, secret) = match insert(&mut tx, t, Kind::Api).await {
        Err(StoreError::Conflict { field, .. }) if field == "name" => {
            drop(tx);
            return Err(name_taken(db, &t.name).await);
        }
        other => other?,
    };
    let token = get(&mut tx, id).await?;
    if let Some(by) = by {
        events::record(&mut tx, by, NewEvent::created(RESOURCE, id, None, &token).at(token.created_at.0)).await?;
    }
    tx.commit().await?;
    Ok((token, secret))
}

/// What a row of `api_tokens` is: a token someone presents, or the identity of a dashboard user
/// (`store::users`), whose secret nobody holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Api,
    User,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::User => "user",
        }
    }
}

/// The name of a dashboard user's token: this prefix and the user's email.
pub const USER_TOKEN_PREFIX: &str = "user:";

/// Inserts a token of this kind with its products; returns its id and secret.
pub(crate) async fn insert(tx: &mut Tx, t: &NewToken, kind: Kind) -> Result<(i64, String), StoreError> {
    check_name(&t.name)?;
    check_description(&t.description)?;
    let products = if t.products.is_empty() { Products::All } else { Products::Only(t.products.clone()) };
    check_products(t.role, &products)?;
    let now = now_ms();
    check_expiry(t.expires_at, now)?;
    let secret = licensd_core::token::generate();
    let id = tx
        .insert(
            query(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, description, expires_at, all_products, kind) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(t.name.as_str())
            .bind(t.role.as_str())
            .bind(licensd_core::token::hash(&secret))
            .bind(now)
            .bind(t.description.as_str())
            .bind(t.expires_at)
            .bind(products == Products::All)
            .bind(kind.as_str()),
        )
        .await?;
    if let Products::Only(codes) = &products {
        set_products(tx, id, codes).await?;
    }
    Ok((id, secret))
}

/// Refuses a dashboard user's token where an API token is meant (`token revoke`, a token's PATCH): it is
/// changed through its user.
async fn require_api(e: &mut impl Exec, id: i64) -> Result<(), StoreError> {
    let row = e.fetch_one(query("SELECT kind FROM api_tokens WHERE id = ?").bind(id)).await?;
    if row.get::<String>("kind")? != Kind::Api.as_str() { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Changes a token's products, description or expiry. A revoked token is not changed (`409`).
pub async fn update(db: &Db, id: i64, change: &TokenChange) -> Result<ApiToken, StoreError> {
    update_recorded(db, id, change, None).await
}

/// [`update`], by a person: recorded as `api_token.updated` (what changed) with `by` as the actor.
pub async fn update_as(db: &Db, by: &Scope, id: i64, change: &TokenChange) -> Result<ApiToken, StoreError> {
    update_recorded(db, id, change, Some(by)).await
}

async fn update_recorded(db: &Db, id: i64, change: &TokenChange, by: Option<&Scope>) -> Result<ApiToken, StoreError> {
    if let Some(d) = &change.description {
        check_description(d)?;
    }
    if let Some(at) = change.expires_at {
        check_expiry(at, now_ms())?;
    }
    let mut tx = db.begin().await?;
    require_api(&mut tx, id).await?;
    let current = get(&mut tx, id).await?;
    if let Some(at) = current.revoked_at {
        return Err(StoreError::State(format!(
            "token {} (id {id}) was revoked at {}; a revoked token stays revoked: create a new one",
            current.name,
            format_iso(at.0)
        )));
    }
    if let Some(products) = &change.products {
        check_products(current.role, products)?;
        match products {
            Products::All => {
                tx.execute(query("DELETE FROM api_token_products WHERE token_id = ?").bind(id)).await?;
            }
            Products::Only(codes) => set_products(&mut tx, id, codes).await?,
        }
        tx.execute(
            query("UPDATE api_tokens SET all_products = ? WHERE id = ?").bind(*products == Products::All).bind(id),
        )
        .await?;
    }
    if let Some(d) = &change.description {
        tx.execute(query("UPDATE api_tokens SET description = ? WHERE id = ?").bind(d.as_str()).bind(id)).await?;
    }
    if let Some(at) = change.expires_at {
        tx.execute(query("UPDATE api_tokens SET expires_at = ? WHERE id = ?").bind(at).bind(id)).await?;
    }
    let token = get(&mut tx, id).await?;
    if let Some(by) = by {
        events::record(&mut tx, by, NewEvent::updated(RESOURCE, id, None, &current, &token)).await?;
    }
    tx.commit().await?;
    Ok(token)
}

const COLUMNS: &str = "id, name, role, created_at, revoked_at, description, expires_at, last_used_at, all_products";

fn from_row(r: &Row, products: Vec<String>) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: r.get("id")?,
        name: r.get("name")?,
        role: r.get_enum("role")?,
        products,
        all_products: r.get("all_products")?,
        description: r.get("description")?,
        created_at: Timestamp(r.get("created_at")?),
        expires_at: r.get::<Option<i64>>("expires_at")?.map(Timestamp),
        last_used_at: r.get::<Option<i64>>("last_used_at")?.map(Timestamp),
        revoked_at: r.get::<Option<i64>>("revoked_at")?.map(Timestamp),
    })
}

pub(crate) async fn products_of(e: &mut impl Exec, id: i64) -> Result<Vec<String>, StoreError> {
    let rows = e
        .fetch_all(
            query(
                "SELECT p.short_code FROM api_token_products tp JOIN products p ON p.id = tp.product_id \
                 WHERE tp.token_id = ? ORDER BY p.short_code",
            )
            .bind(id),
        )
        .await?;
    rows.iter().map(|r| r.get("short_code")).collect()
}

pub async fn get(e: &mut impl Exec, id: i64) -> Result<ApiToken, StoreError> {
    let row = e.fetch_one(query(format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?")).bind(id)).await?;
    let products = products_of(e, id).await?;
    from_row(&row, products)
}

/// Every token, oldest first, with its products (two statements).
pub async fn list(db: &Db) -> Result<Vec<ApiToken>, StoreError> {
    let rows = db.fetch_all(query(format!("SELECT {COLUMNS} FROM api_tokens WHERE kind = 'api' ORDER BY id"))).await?;
    let links = db
        .fetch_all(query(
            "SELECT tp.token_id, p.short_code FROM api_token_products tp JOIN products p ON p.id = tp.product_id \
             ORDER BY tp.token_id, p.short_code",
        ))
        .await?;
    let mut products: HashMap<i64, Vec<String>> = HashMap::new();
    for l in &links {
        products.entry(l.get("token_id")?).or_default().push(l.get("short_code")?);
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            from_row(r, products.remove(&id).unwrap_or_default())
        })
        .collect()
}

static FIELDS: &[Field] = &[
    Field::new("id", "t.id", FieldKind::Int).sortable(),
    Field::new("name", "t.name", FieldKind::Text).sortable(),
    Field::new("role", "t.role", FieldKind::Text),
    Field::new("created_at", "t.created_at", FieldKind::Time).sortable(),
    Field::new("expires_at", "t.expires_at", FieldKind::Time).sortable(),
    Field::new("last_used_at", "t.last_used_at", FieldKind::Time).sortable(),
    Field::new("revoked_at", "t.revoked_at", FieldKind::Time).sortable(),
];
/// What a page of tokens may be filtered and sorted by (the list language of `store::list`).
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "t.id", search: &[] };

/// A page of API tokens (never dashboard users' own), with their products: three statements whatever the page
/// size (count, page, the page's products).
pub async fn page(db: &Db, params: &ListParams) -> Result<(i64, Vec<ApiToken>), StoreError> {
    let from = query("FROM api_tokens t WHERE t.kind = 'api'");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLUMNS, &from).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get("id")).collect::<Result<_, _>>()?;
    let mut products: HashMap<i64, Vec<String>> = HashMap::new();
    if !ids.is_empty() {
        let mut q = query(
            "SELECT tp.token_id, p.short_code FROM api_token_products tp JOIN products p ON p.id = tp.product_id \
             WHERE tp.token_id",
        );
        crate::scope::push_in_list(&mut q, &ids);
        q.push(" ORDER BY tp.token_id, p.short_code");
        for l in &db.fetch_all(q).await? {
            products.entry(l.get("token_id")?).or_default().push(l.get("short_code")?);
        }
    }
    let tokens = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            from_row(r, products.remove(&id).unwrap_or_default())
        })
        .collect::<Result<_, _>>()?;
    Ok((n, tokens))
}

/// An API token by id (`NotFound` for a dashboard user's own).
pub async fn get_api(db: &Db, id: i64) -> Result<ApiToken, StoreError> {
    require_api(&mut &*db, id).await?;
    get(&mut &*db, id).await
}

/// What [`revoke`] did.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub token: ApiToken,
    /// It had been revoked before (at `token.revoked_at`); nothing changed.
    pub already: bool,
}

/// Revokes a token; it stops working at once (every request looks it up). Revoking a revoked token
/// changes nothing and says so.
pub async fn revoke(db: &Db, id: i64) -> Result<Revoked, StoreError> {
    revoke_recorded(db, id, None).await
}

/// [`revoke`], by a person: recorded as `api_token.revoked` with `by` as the actor (nothing when it was
/// revoked already).
pub async fn revoke_as(db: &Db, by: &Scope, id: i64) -> Result<Revoked, StoreError> {
    revoke_recorded(db, id, Some(by)).await
}

async fn revoke_recorded(db: &Db, id: i64, by: Option<&Scope>) -> Result<Revoked, StoreError> {
    let mut tx = db.begin().await?;
    require_api(&mut tx, id).await?;
    let n = tx
        .execute(
            query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(now_ms()).bind(id),
        )
        .await?;
    let token = get(&mut tx, id).await?;
    if let Some(by) = by
        && n == 1
    {
        let e = NewEvent::changed(
            RESOURCE,
            "revoked",
            id,
            Some(serde_json::json!({"revoked_at": null})),
            serde_json::json!({"revoked_at": token.revoked_at}),
        );
        events::record(&mut tx, by, e).await?;
    }
    tx.commit().await?;
    Ok(Revoked { token, already: n == 0 })
}

/// Resolves a presented secret.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Presented, StoreError> {
    let rows = db
        .fetch_all(
            query(
                "SELECT t.id, t.name, t.role, t.all_products, t.expires_at, t.last_used_at, tp.product_id \
                 FROM api_tokens t LEFT JOIN api_token_products tp ON tp.token_id = t.id \
                 WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.kind = 'api'",
            )
            .bind(licensd_core::token::hash(secret)),
        )
        .await?;
    let Some(first) = rows.first() else {
        return Ok(Presented::Unknown);
    };
    if let Some(at) = first.get::<Option<i64>>("expires_at")?
        && at <= now_ms()
    {
        return Ok(Presented::Expired(Timestamp(at)));
    }
    let mut auth = Authenticated {
        id: first.get("id")?,
        name: first.get("name")?,
        role: first.get_enum("role")?,
        all_products: first.get("all_products")?,
        product_ids: Vec::new(),
        last_used_at: first.get("last_used_at")?,
    };
    for r in &rows {
        if let Some(p) = r.get::<Option<i64>>("product_id")? {
            auth.product_ids.push(p);
        }
    }
    Ok(Presented::Valid(auth))
}

/// How often a token's last-used time is written at most: a token used all day costs one write a minute.
pub const LAST_USED_EVERY_MS: i64 = 60_000;

/// Last-used times waiting to be written, so a request costs no write: a token's time is noted at most once
/// per [`LAST_USED_EVERY_MS`] (measured from what this instance noted and what the database holds, so
/// several instances do not each write it every minute), and [`LastUses::flush`] writes the notes in one
/// transaction, every second in `serve` and at shutdown (as `client::LastChecks` does for checks).
#[derive(Debug, Default)]
pub struct LastUses {
    /// Per token: the time last noted here, and whether it still waits to be written.
    noted: Mutex<HashMap<i64, (i64, bool)>>,
}

impl LastUses {
    /// Notes that `token` was used at `now`, given the time the database holds; returns whether it was
    /// noted (at most once per [`LAST_USED_EVERY_MS`]).
    pub fn note(&self, token: i64, stored: Option<i64>, now: i64) -> bool {
        let Ok(mut noted) = self.noted.lock() else { return false };
        let here = noted.get(&token).map(|(at, _)| *at);
        let latest = here.max(stored);
        if latest.is_some_and(|at| now - at < LAST_USED_EVERY_MS) {
            return false;
        }
        noted.insert(token, (now, true));
        true
    }

    /// Writes every pending time; returns how many.
    pub async fn flush(&self, db: &Db) -> Result<usize, StoreError> {
        let pending: Vec<(i64, i64)> = match self.noted.lock() {
            Ok(mut noted) => noted
                .iter_mut()
                .filter(|(_, (_, pending))| *pending)
                .map(|(id, (at, pending))| {
                    *pending = false;
                    (*id, *at)
                })
                .collect(),
            Err(_) => return Ok(0),
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let mut tx = db.begin().await?;
        for (id, at) in &pending {
            tx.execute(
                query(
                    "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                )
                .bind(*at)
                .bind(*id)
                .bind(*at),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(pending.len())
    }
}

#[cfg(test)]
mod tests {
    use super::{LAST_USED_EVERY_MS, LastUses};

    #[test]
    fn a_token_is_noted_at_most_once_a_minute() {
        let uses = LastUses::default();
        let t0 = 1_000_000;
        assert!(uses.note(1, None, t0), "first use");
        assert!(!uses.note(1, None, t0 + 1), "again at once");
        assert!(!uses.note(1, Some(t0), t0 + LAST_USED_EVERY_MS - 1), "within the minute");
        assert!(uses.note(1, Some(t0), t0 + LAST_USED_EVERY_MS), "a minute later");
        assert!(uses.note(2, None, t0 + 5), "tokens are counted apart");
        // Another instance wrote a recent time: this one does not write it again.
        assert!(!uses.note(3, Some(t0), t0 + 10));
        assert!(uses.note(3, Some(t0), t0 + LAST_USED_EVERY_MS + 10));
    }
}
