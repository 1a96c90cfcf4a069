//! Customer accounts: companies that own customers and orders.

use licensd_core::model::{CustomerAccount, CustomerAccountInput};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Columns, Db, Exec, Row, Tx, query};
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
    Field::new("email", "a.email", Kind::Text).email_lower(),
    Field::new("reference", "a.reference", Kind::Text),
    Field::new("created_at", "a.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "a.updated_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "a.id", search: &[] };

/// A manager sees an account one of whose customers or orders holds a license of its products, or one it
/// created.
fn scoped(scope: &Scope, q: &mut crate::db::Query) {
    if let Some(products) = &scope.products {
        q.push(
            " AND (EXISTS (SELECT 1 FROM customers sc JOIN licenses sl ON sl.customer_id = sc.id \
             WHERE sc.customer_account_id = a.id AND sl.product_id",
        );
        crate::scope::push_in_list(q, products);
        q.push(") OR EXISTS (SELECT 1 FROM orders so JOIN licenses sl ON sl.order_id = so.id WHERE so.customer_account_id = a.id AND sl.product_id");
        crate::scope::push_in_list(q, products);
        q.push(") OR a.created_by = ").push_bind(scope.token_id.unwrap_or(-1)).push(")");
    }
}

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<CustomerAccount>), StoreError> {
    let mut from = query("FROM customer_accounts a WHERE 1 = 1");
    scoped(scope, &mut from);
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    Ok((n, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<CustomerAccount, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM customer_accounts a WHERE a.id = ?")).bind(id);
    scoped(scope, &mut q);
    from_row(&e.fetch_one(q).await?)
}

/// Checks that a referenced customer account exists and is visible to `scope`, naming the body field when not.
pub(crate) async fn require(tx: &mut Tx, scope: &Scope, id: Option<i64>) -> Result<(), StoreError> {
    let Some(id) = id else { return Ok(()) };
    match get(tx, scope, id).await {
        Err(StoreError::NotFound) => {
            Err(StoreError::invalid("customer_account", format!("no customer account with id {id}")))
        }
        other => other.map(drop),
    }
}

/// What an account's create and update both write, each column next to its value (`created_by`, `created_at`
/// and `updated_at` are theirs).
fn columns(i: &CustomerAccountInput) -> Columns {
    Columns::new()
        .set("name", &i.name)
        .set("code", &i.code)
        .set("description", &i.description)
        .set("phone", &i.phone)
        .set("address", &i.address)
        .set("email", &i.email)
        .set("reference", &i.reference)
}

pub async fn create(db: &Db, scope: &Scope, i: CustomerAccountInput) -> Result<CustomerAccount, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let row = columns(&i).set("created_by", scope.token_id).set("created_at", now).set("updated_at", now);
    let id = tx.insert(row.insert_into("customer_accounts")).await?;
    let a = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("customer_account", id, None, &a).at(now)).await?;
    tx.commit().await?;
    Ok(a)
}

/// Changes an account: `edit` makes the input from the account as this transaction reads it, its row locked
/// until the commit, so no concurrent change is lost.
pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&CustomerAccount) -> Result<CustomerAccountInput, E> + Send,
) -> Result<CustomerAccount, E> {
    let mut tx = db.begin().await?;
    tx.lock_row("customer_accounts", id).await?;
    let before = get(&mut tx, scope, id).await?;
    let i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    tx.execute(columns(&i).set("updated_at", now_ms()).update("customer_accounts", id)).await?;
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
