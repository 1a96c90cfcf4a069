//! What API keys ([`crate::api_keys`]) and OAuth clients ([`crate::oauth`]) share: both are a public
//! identifier, a name, a secret the server must be able to read again, the products they answer for, and a
//! creation and revocation time, in tables of the same shape (migration 23). The code is written once here
//! over a [`Kind`] that names the table and its columns.
//!
//! The secret (a shared key, a client secret) keys HMAC-SHA256: the server recomputes signatures with it, so
//! unlike a token it cannot be kept as a hash. It is sealed at rest exactly as the signing keys are
//! (`keys::seal_bytes`: Argon2id of `LICENSD_SECRET` with a salt of the row's own, XChaCha20-Poly1305, the
//! format in the row's `kdf` column), with `<resource>:<public identifier>` as associated data, so a sealed
//! secret moved to another row does not open. Without a secret it is stored in plaintext (`kdf` `none`),
//! which `serve` warns about at start and [`encrypt_all`] (`licensd key encrypt`, and `serve` at start once
//! a secret is set) seals later.
//!
//! Lookups read the database every time (one indexed statement): a key made or revoked while servers run
//! works, or stops working, at their next request. Opening a sealed secret costs one Argon2id derivation per
//! row and process (the derived key is kept, `keys`' cache) and then an AEAD open of 43 bytes.

use std::collections::HashMap;

use licensd_core::model::CredentialInput;
use licensd_core::time::{Timestamp, now_ms};
use zeroize::Zeroizing;

use crate::db::{Db, Exec, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::keys::{self, Kdf, Resealed, Sealed};
use crate::list::ListParams;
use crate::scope::Scope;

/// A table of credentials and what differs between the two kinds.
pub(crate) struct Kind {
    /// `api_keys`.
    pub table: &'static str,
    /// `api_key_products`, and its column naming the credential.
    pub products: &'static str,
    pub fk: &'static str,
    /// The column of the public identifier (`api_key`, `client_id`).
    pub public: &'static str,
    /// The column of the sealed secret (`shared_key`, `client_secret`).
    pub secret: &'static str,
    /// The events' `resource_type`, and the associated data's prefix.
    pub resource: &'static str,
    /// What messages call one (`API key`).
    pub what: &'static str,
    /// What messages call its secret (`shared key`).
    pub secret_name: &'static str,
    pub new_public: fn() -> String,
    pub new_secret: fn() -> String,
    /// Statements run with the credential's id when it is revoked, in the revocation's transaction.
    pub on_revoke: &'static [&'static str],
}

/// A credential of either kind, as its table holds it (the secret aside).
#[derive(Debug, Clone)]
pub(crate) struct Cred {
    pub id: i64,
    pub public: String,
    pub name: String,
    pub products: Vec<String>,
    pub all_products: bool,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The public type of a kind (`ApiKey`, `OauthClient`), made from its row.
pub(crate) trait Credential: serde::Serialize + Sized {
    const KIND: &'static Kind;
    fn from_cred(c: Cred) -> Self;
}

/// A credential's secret as the server holds it: the bytes HMAC is keyed with (the UTF-8 of the shared key
/// or client secret), wiped when dropped and never printed (`Debug` shows `Secret(…)`).
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// The bytes, for HMAC or a constant-time comparison; never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The associated data a row's secret is sealed with.
fn sealed_for(kind: &Kind, public: &str) -> String {
    format!("{}:{public}", kind.resource)
}

/// The longest public identifier a lookup reads the database for: licensd's are 36 characters, so anything
/// much longer (or holding a NUL, which PostgreSQL refuses in text) names nothing.
const PUBLIC_MAX: usize = 200;

fn columns(kind: &Kind) -> String {
    format!("k.id, k.{} AS public, k.name, k.all_products, k.created_at, k.revoked_at", kind.public)
}

fn from_row(r: &Row, products: Vec<String>) -> Result<Cred, StoreError> {
    Ok(Cred {
        id: r.get("id")?,
        public: r.get("public")?,
        name: r.get("name")?,
        products,
        all_products: r.get("all_products")?,
        created_at: Timestamp(r.get("created_at")?),
        revoked_at: r.get::<Option<i64>>("revoked_at")?.map(Timestamp),
    })
}

/// The products of the credentials with these ids (all of them with `None`), by id, each list sorted.
async fn products_of(db: &Db, kind: &Kind, ids: Option<&[i64]>) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    let mut q = query(format!(
        "SELECT kp.{fk} AS cred, p.short_code FROM {products} kp JOIN products p ON p.id = kp.product_id",
        fk = kind.fk,
        products = kind.products
    ));
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        q.push(&format!(" WHERE kp.{}", kind.fk));
        crate::scope::push_in_list(&mut q, ids);
    }
    q.push(" ORDER BY cred, p.short_code");
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for r in &db.fetch_all(q).await? {
        out.entry(r.get("cred")?).or_default().push(r.get("short_code")?);
    }
    Ok(out)
}

/// One credential by id.
pub(crate) async fn get<T: Credential>(e: &mut impl Exec, id: i64) -> Result<T, StoreError> {
    Ok(T::from_cred(get_cred(e, T::KIND, id).await?))
}

async fn get_cred(e: &mut impl Exec, kind: &Kind, id: i64) -> Result<Cred, StoreError> {
    let row =
        e.fetch_one(query(format!("SELECT {} FROM {} k WHERE k.id = ?", columns(kind), kind.table)).bind(id)).await?;
    let rows = e
        .fetch_all(
            query(format!(
                "SELECT p.short_code FROM {} kp JOIN products p ON p.id = kp.product_id WHERE kp.{} = ? \
                 ORDER BY p.short_code",
                kind.products, kind.fk
            ))
            .bind(id),
        )
        .await?;
    let products = rows.iter().map(|r| r.get("short_code")).collect::<Result<_, _>>()?;
    from_row(&row, products)
}

/// Every credential of a kind, oldest first, with its products (two statements).
pub(crate) async fn list<T: Credential>(db: &Db) -> Result<Vec<T>, StoreError> {
    let kind = T::KIND;
    let rows = db.fetch_all(query(format!("SELECT {} FROM {} k ORDER BY k.id", columns(kind), kind.table))).await?;
    let mut products = products_of(db, kind, None).await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            Ok(T::from_cred(from_row(r, products.remove(&id).unwrap_or_default())?))
        })
        .collect()
}

/// A page of credentials of a kind with their products: three statements whatever the page size.
pub(crate) async fn page<T: Credential>(
    db: &Db,
    spec: &'static crate::list::Spec,
    params: &ListParams,
) -> Result<(i64, Vec<T>), StoreError> {
    let kind = T::KIND;
    let from = query(format!("FROM {} k WHERE k.id > 0", kind.table));
    let (n, rows) = crate::list::page(db, spec, params, &columns(kind), &from).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get("id")).collect::<Result<_, _>>()?;
    let mut products = products_of(db, kind, Some(&ids)).await?;
    let out = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            Ok(T::from_cred(from_row(r, products.remove(&id).unwrap_or_default())?))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((n, out))
}

/// The id of the credential with this public identifier (revoked ones too).
pub(crate) async fn id_of(db: &Db, kind: &Kind, public: &str) -> Result<i64, StoreError> {
    if public.len() > PUBLIC_MAX || public.contains('\0') {
        return Err(StoreError::NotFound);
    }
    let row =
        db.fetch_one(query(format!("SELECT id FROM {} WHERE {} = ?", kind.table, kind.public)).bind(public)).await?;
    row.get("id")
}

/// The `409` for a name another live credential has, naming it.
async fn name_taken(db: &Db, kind: &Kind, name: &str) -> StoreError {
    let other = db
        .fetch_optional(
            query(format!("SELECT id FROM {} WHERE name = ? AND revoked_at IS NULL", kind.table)).bind(name),
        )
        .await
        .ok()
        .flatten()
        .and_then(|r| r.get::<i64>("id").ok());
    let which = other.map(|id| format!(" (id {id})")).unwrap_or_default();
    StoreError::Conflict {
        field: "name".into(),
        message: format!(
            "an {what} named {name:?} exists{which}; names are unique among those not revoked: choose another \
             name, or revoke that one first",
            what = kind.what
        ),
    }
}

/// Links the credential to the products of these short codes, each of which must exist.
async fn set_products(tx: &mut Tx, kind: &Kind, id: i64, codes: &[String]) -> Result<(), StoreError> {
    for code in codes {
        let Some(row) =
            tx.fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code.as_str())).await?
        else {
            let known = crate::tokens::known_codes(tx).await?;
            return Err(StoreError::invalid("products", format!("no product with short_code {code:?}; {known}")));
        };
        let pid: i64 = row.get("id")?;
        tx.execute(
            query(format!(
                "INSERT INTO {products} ({fk}, product_id) VALUES (?, ?) ON CONFLICT ({fk}, product_id) DO NOTHING",
                products = kind.products,
                fk = kind.fk
            ))
            .bind(id)
            .bind(pid),
        )
        .await?;
    }
    Ok(())
}

/// Creates a credential of a kind under `secret` (`LICENSD_SECRET`; plaintext without one), recorded as
/// `<resource>.created` with `by` as the actor; returns it with its secret, which is shown this once.
pub(crate) async fn create_as<T: Credential>(
    db: &Db,
    by: &Scope,
    input: &CredentialInput,
    secret: Option<&str>,
) -> Result<(T, Zeroizing<String>), StoreError> {
    let kind = T::KIND;
    input.validate()?;
    let mut codes: Vec<String> = Vec::new();
    for c in &input.products {
        if !codes.contains(c) {
            codes.push(c.clone());
        }
    }
    let public = (kind.new_public)();
    let plain = Zeroizing::new((kind.new_secret)());
    // Before the transaction: a first seal under a secret derives a key (tens of milliseconds), which must not
    // hold SQLite's write turn.
    let sealed = keys::seal_bytes(plain.as_bytes(), &sealed_for(kind, &public), secret)?;
    let mut tx = db.begin().await?;
    let inserted = tx
        .insert(
            query(format!(
                "INSERT INTO {} ({}, name, {}, kdf, kdf_salt, kdf_params, all_products, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                kind.table, kind.public, kind.secret
            ))
            .bind(public.as_str())
            .bind(input.name.as_str())
            .bind(sealed.secret)
            .bind(sealed.kdf.as_str())
            .bind(sealed.salt)
            .bind(sealed.params)
            .bind(codes.is_empty())
            .bind(now_ms()),
        )
        .await;
    let id = match inserted {
        Err(StoreError::Conflict { field, .. }) if field == "name" => {
            drop(tx);
            return Err(name_taken(db, kind, &input.name).await);
        }
        other => other?,
    };
    set_products(&mut tx, kind, id, &codes).await?;
    let cred = get_cred(&mut tx, kind, id).await?;
    let created_at = cred.created_at.0;
    let made = T::from_cred(cred);
    events::record(&mut tx, by, NewEvent::created(kind.resource, id, None, &made).at(created_at)).await?;
    tx.commit().await?;
    Ok((made, plain))
}

/// What [`revoke_as`] did.
#[derive(Debug, Clone)]
pub struct Revoked<T> {
    /// The credential afterwards.
    pub revoked: T,
    /// It had been revoked before; nothing changed.
    pub already: bool,
}

/// Revokes a credential: lookups stop returning it at once. Recorded as `<resource>.revoked` with `by` as the
/// actor (nothing when it was revoked already).
pub(crate) async fn revoke_as<T: Credential>(db: &Db, by: &Scope, id: i64) -> Result<Revoked<T>, StoreError> {
    let kind = T::KIND;
    let mut tx = db.begin().await?;
    let now = now_ms();
    let n = tx
        .execute(
            query(format!("UPDATE {} SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", kind.table))
                .bind(now)
                .bind(id),
        )
        .await?;
    let revoked: T = get(&mut tx, id).await?;
    if n == 1 {
        for sql in kind.on_revoke {
            tx.execute(query(*sql).bind(id)).await?;
        }
        let e = NewEvent::changed(
            kind.resource,
            "revoked",
            id,
            Some(serde_json::json!({"revoked_at": null})),
            serde_json::json!({"revoked_at": Timestamp(now)}),
        );
        events::record(&mut tx, by, e).await?;
    }
    tx.commit().await?;
    Ok(Revoked { revoked, already: n == 0 })
}

/// A live credential by its public identifier, with its secret opened under `secret`; `None` when none has
/// it or it was revoked. One indexed statement (the products joined), read where a point read costs least.
pub(crate) async fn lookup<T: Credential>(
    db: &Db,
    public: &str,
    secret: Option<&str>,
) -> Result<Option<(T, Secret)>, StoreError> {
    let kind = T::KIND;
    if public.is_empty() || public.len() > PUBLIC_MAX || public.contains('\0') {
        return Ok(None);
    }
    let rows = db
        .point_read(
            query(format!(
                "SELECT {cols}, k.{secret} AS secret, k.kdf, k.kdf_salt, k.kdf_params, p.short_code \
                 FROM {table} k LEFT JOIN {products} kp ON kp.{fk} = k.id LEFT JOIN products p ON p.id = kp.product_id \
                 WHERE k.{public} = ? AND k.revoked_at IS NULL",
                cols = columns(kind),
                secret = kind.secret,
                table = kind.table,
                products = kind.products,
                fk = kind.fk,
                public = kind.public
            ))
            .bind(public),
        )
        .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let mut products: Vec<String> = rows
        .iter()
        .map(|r| r.get::<Option<String>>("short_code"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    products.sort();
    let cred = from_row(first, products)?;
    let sealed = Sealed {
        secret: first.get("secret")?,
        kdf: first.get_enum("kdf")?,
        salt: first.get("kdf_salt")?,
        params: first.get("kdf_params")?,
    };
    let opened = open(kind, &cred, &sealed, secret)?;
    Ok(Some((T::from_cred(cred), opened)))
}

/// Opens a row's secret, with messages that name the credential rather than a signing key.
fn open(kind: &Kind, cred: &Cred, sealed: &Sealed, secret: Option<&str>) -> Result<Secret, StoreError> {
    let which = format!("the {} of {} {} (id {})", kind.secret_name, kind.what, cred.name, cred.id);
    let opened = keys::open_bytes(sealed, &sealed_for(kind, &cred.public), secret).map_err(|e| match e {
        StoreError::Config(_) if secret.is_none() => {
            StoreError::Config(format!("{which} is encrypted: set LICENSD_SECRET to the value it was sealed with"))
        }
        StoreError::Config(_) => {
            StoreError::Config(format!("LICENSD_SECRET does not open {which} (another secret, or the row was altered)"))
        }
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{which}: {m}")),
        other => other,
    })?;
    // What licensd writes is printable ASCII (the SDKs key HMAC with the text): anything else is a damaged
    // row (say, a sealed value whose format was changed to plaintext), not a secret to sign with.
    if opened.is_empty() || !opened.iter().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Corrupt(format!("{which} is not what licensd stored")));
    }
    Ok(Secret(opened))
}

/// How the secrets of one kind are stored: labels (`API key <name> (id N)`) of the live rows kept in plaintext.
pub(crate) async fn unsealed(db: &Db, kind: &Kind) -> Result<Vec<String>, StoreError> {
    let rows = db
        .fetch_all(
            query(format!("SELECT id, name FROM {} WHERE kdf = ? AND revoked_at IS NULL ORDER BY id", kind.table))
                .bind(Kdf::None.as_str()),
        )
        .await?;
    rows.iter()
        .map(|r| Ok(format!("{} {} (id {})", kind.what, r.get::<String>("name")?, r.get::<i64>("id")?)))
        .collect()
}

/// Seals every secret of a kind (revoked rows too) that is not `argon2id-v1` yet under `secret`, as
/// `keys::encrypt_all` does for signing keys: idempotent, each row rewritten only if it is still what was
/// read, in a transaction of its own. Labels are `<resource>:<public identifier>`.
pub(crate) async fn encrypt_all(db: &Db, kind: &Kind, secret: &str, out: &mut Resealed) -> Result<(), StoreError> {
    let rows = db
        .fetch_all(query(format!(
            "SELECT {cols}, k.{secret} AS secret, k.kdf, k.kdf_salt, k.kdf_params FROM {table} k ORDER BY k.id",
            cols = columns(kind),
            secret = kind.secret,
            table = kind.table
        )))
        .await?;
    for row in &rows {
        let cred = from_row(row, Vec::new())?;
        let label = sealed_for(kind, &cred.public);
        let old = Sealed {
            secret: row.get("secret")?,
            kdf: row.get_enum("kdf")?,
            salt: row.get("kdf_salt")?,
            params: row.get("kdf_params")?,
        };
        if old.kdf == Kdf::Argon2idV1 {
            out.unchanged.push(label);
            continue;
        }
        let plain = match open(kind, &cred, &old, Some(secret)) {
            Ok(p) => p,
            Err(e) => {
                out.failed.push((label, e.to_string()));
                continue;
            }
        };
        let new = keys::seal_bytes(plain.expose(), &label, Some(secret))?;
        let mut tx = db.begin().await?;
        let n = tx
            .execute(
                query(format!(
                    "UPDATE {table} SET {secret} = ?, kdf = ?, kdf_salt = ?, kdf_params = ? \
                     WHERE id = ? AND kdf = ? AND {secret} = ?",
                    table = kind.table,
                    secret = kind.secret
                ))
                .bind(new.secret)
                .bind(new.kdf.as_str())
                .bind(new.salt)
                .bind(new.params)
                .bind(cred.id)
                .bind(old.kdf.as_str())
                .bind(old.secret),
            )
            .await?;
        tx.commit().await?;
        if n == 1 {
            out.resealed.push((label, old.kdf));
        } else {
            out.unchanged.push(label);
        }
    }
    Ok(())
}

/// Seals the API keys' shared keys and the OAuth clients' secrets under `secret` ([`encrypt_all`] of both
/// kinds): what `licensd key encrypt` and `serve` at start do besides sealing the signing keys.
pub async fn seal_all(db: &Db, secret: &str) -> Result<Resealed, StoreError> {
    let mut out = Resealed::default();
    encrypt_all(db, &crate::api_keys::KIND, secret, &mut out).await?;
    encrypt_all(db, &crate::oauth::KIND, secret, &mut out).await?;
    Ok(out)
}

/// The live API keys and OAuth clients whose secrets are stored in plaintext, as labels
/// (`API key <name> (id N)`), for `serve`'s warning at start.
pub async fn unsealed_all(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut out = unsealed(db, &crate::api_keys::KIND).await?;
    out.extend(unsealed(db, &crate::oauth::KIND).await?);
    Ok(out)
}
