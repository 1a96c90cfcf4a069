//! Customer accounts: companies that own customers and orders.

use licensd_core::model::{CustomerAccount, CustomerAccountInput};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Db, Exec, Row, Tx, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::Scope;

const COLS: &str =
    "a.id, a.name, a.code, a.description, a.phone, a.address, a.email, a.reference, a.created_at, a.updated_at";

fn from_row(r: &Row) -> Result<CustomerAccount, StoreError> {
    Ok(CustomerAccount {
        id: r.get("id")?,
        name: r.get("name")?,
        code: r.get("code")?,
        description: r.get("description")?,
        phone: r.get("phone")?,
        address: r.get("address")?,
        email: r.get("email")?,
        reference: r.get("reference")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

static FIELDS: &[Field] = &[
    Field::new("id", "a.id", Kind::Int).sortable(),
    Field::new("name", "a.name", Kind::Text).sortable(),
    Field::new("code", "a.code", Kind::Text).sortable(),
    Field::new("description", "a.description", Kind::Text),
    Field::new("phone", "a.phone", Kind::Text),
    Field::new("address", "a.address", Kind::Text),
    Field::new("email", "a.email", Kind::Text),
    Field::new("reference", "a.reference", Kind::Text),
    Field::new("created_at", "a.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "a.updated_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "a.id" };

pub async fn list(db: &Db, _scope: &Scope, params: &ListParams) -> Result<(i64, Vec<CustomerAccount>), StoreError> {
    let from = query("FROM customer_accounts a WHERE 1 = 1");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    Ok((n, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

pub async fn get(e: &mut impl Exec, _scope: &Scope, id: i64) -> Result<CustomerAccount, StoreError> {
    from_row(&e.fetch_one(query(format!("SELECT {COLS} FROM customer_accounts a WHERE a.id = ?")).bind(id)).await?)
}

/// Checks that a referenced customer account exists, naming the body field when not.
pub(crate) async fn require(tx: &mut Tx, id: Option<i64>) -> Result<(), StoreError> {
    if let Some(id) = id
        && tx.fetch_optional(query("SELECT id FROM customer_accounts WHERE id = ?").bind(id)).await?.is_none()
    {
        return Err(StoreError::invalid("customer_account", format!("no customer account with id {id}")));
    }
    Ok(())
}

fn bind(q: crate::db::Query, i: &CustomerAccountInput) -> crate::db::Query {
    q.bind(&i.name).bind(&i.code).bind(&i.description).bind(&i.phone).bind(&i.address).bind(&i.email).bind(&i.reference)
}

pub async fn create(db: &Db, scope: &Scope, i: CustomerAccountInput) -> Result<CustomerAccount, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let q = bind(
        query(
            "INSERT INTO customer_accounts (name, code, description, phone, address, email, reference, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ),
        &i,
    )
    .bind(now)
    .bind(now);
    let id = tx.insert(q).await?;
    let a = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("customer_account", id, None, &a)).await?;
    tx.commit().await?;
    Ok(a)
}

pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&CustomerAccount) -> Result<CustomerAccountInput, E> + Send,
) -> Result<CustomerAccount, E> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    let q = bind(
        query(
            "UPDATE customer_accounts SET name = ?, code = ?, description = ?, phone = ?, address = ?, email = ?, reference = ?, \
             updated_at = ? WHERE id = ?",
        ),
        &i,
    )
    .bind(now_ms())
    .bind(id);
    tx.execute(q).await?;
    let after = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("customer_account", id, None, &before, &after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes an account; its customers and orders stay, without an account.
pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    tx.execute(query("UPDATE customers SET customer_account_id = NULL WHERE customer_account_id = ?").bind(id)).await?;
    tx.execute(query("UPDATE orders SET customer_account_id = NULL WHERE customer_account_id = ?").bind(id)).await?;
    tx.execute(query("DELETE FROM customer_accounts WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("customer_account", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}
