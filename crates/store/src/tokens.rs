//! API tokens: created by the CLI, looked up by hash on every management request.

use std::sync::Arc;

use licensd_core::model::{ApiToken, Role};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Db, Exec, Row, query};
use crate::error::StoreError;
use crate::scope::Scope;

/// A token as authentication resolves it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub product_ids: Vec<i64>,
}

impl Authenticated {
    pub fn scope(&self) -> Scope {
        Scope {
            actor: self.name.clone(),
            token_id: Some(self.id),
            products: match self.role {
                Role::Admin => None,
                Role::Manager => Some(Arc::from(self.product_ids.as_slice())),
            },
        }
    }
}

/// Creates a token and returns it with its secret, which is never stored.
pub async fn create(db: &Db, name: &str, role: Role, products: &[String]) -> Result<(ApiToken, String), StoreError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(StoreError::invalid("name", "must be 1 to 200 characters"));
    }
    if role == Role::Admin && !products.is_empty() {
        return Err(StoreError::invalid(
            "product",
            "an admin token sees every product; give --product only to managers",
        ));
    }
    if role == Role::Manager && products.is_empty() {
        return Err(StoreError::invalid("product", "a manager token needs at least one --product SHORT_CODE"));
    }
    let secret = licensd_core::token::generate();
    let mut tx = db.begin().await?;
    let id = tx
        .insert(
            query("INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)")
                .bind(name)
                .bind(role.as_str())
                .bind(licensd_core::token::hash(&secret))
                .bind(now_ms()),
        )
        .await?;
    for code in products {
        let row = tx
            .fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code.as_str()))
            .await?
            .ok_or_else(|| StoreError::invalid("product", format!("no product with short_code {code:?}")))?;
        let pid: i64 = row.get("id")?;
        tx.execute(query("INSERT INTO api_token_products (token_id, product_id) VALUES (?, ?)").bind(id).bind(pid))
            .await?;
    }
    let token = get(&mut tx, id).await?;
    tx.commit().await?;
    Ok((token, secret))
}

fn from_row(r: &Row, products: Vec<String>) -> Result<ApiToken, StoreError> {
    let role: String = r.get("role")?;
    Ok(ApiToken {
        id: r.get("id")?,
        name: r.get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("token role {role:?}")))?,
        products,
        created_at: Timestamp(r.get("created_at")?),
        revoked_at: r.get::<Option<i64>>("revoked_at")?.map(Timestamp),
    })
}

async fn products_of(e: &mut impl Exec, id: i64) -> Result<Vec<String>, StoreError> {
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
    let row = e
        .fetch_one(query("SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE id = ?").bind(id))
        .await?;
    let products = products_of(e, id).await?;
    from_row(&row, products)
}

pub async fn list(db: &Db) -> Result<Vec<ApiToken>, StoreError> {
    let rows = db.fetch_all(query("SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY id")).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.get("id")?;
        out.push(from_row(r, products_of(&mut &*db, id).await?)?);
    }
    Ok(out)
}

/// Revokes a token; it stops working at once (every request looks it up).
pub async fn revoke(db: &Db, id: i64) -> Result<ApiToken, StoreError> {
    let n = db
        .execute(
            query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(now_ms()).bind(id),
        )
        .await?;
    let token = get(&mut &*db, id).await?;
    if n == 0 && token.revoked_at.is_none() {
        return Err(StoreError::NotFound);
    }
    Ok(token)
}

/// Resolves a presented secret; `None` for an unknown or revoked one.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Option<Authenticated>, StoreError> {
    let rows = db
        .fetch_all(
            query(
                "SELECT t.id, t.name, t.role, tp.product_id FROM api_tokens t \
                 LEFT JOIN api_token_products tp ON tp.token_id = t.id \
                 WHERE t.token_hash = ? AND t.revoked_at IS NULL",
            )
            .bind(licensd_core::token::hash(secret)),
        )
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let role: String = first.get("role")?;
    let mut auth = Authenticated {
        id: first.get("id")?,
        name: first.get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("token role {role:?}")))?,
        product_ids: Vec::new(),
    };
    for r in &rows {
        if let Some(p) = r.get::<Option<i64>>("product_id")? {
            auth.product_ids.push(p);
        }
    }
    Ok(Some(auth))
}
