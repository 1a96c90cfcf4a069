//! Orders: what a store records after a purchase, created with their customer and licenses in one
//! transaction (all or nothing).

use licensd_core::model::{Order, OrderInput, OrderLicense, OrderUpdate};
use licensd_core::status::{StatusFacts, license_status};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Columns, Db, Exec, Row, Tx, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::{Scope, push_in_list};

const COLS: &str = "o.id, o.store_id, o.customer_id, o.customer_account_id, o.campaign, o.reference, o.is_test, o.metadata, o.created_at, o.updated_at";

fn from_row(r: &Row) -> Result<Order, StoreError> {
    Ok(Order {
        id: r.get("id")?,
        store_id: r.get("store_id")?,
        customer: r.get("customer_id")?,
        customer_account: r.get("customer_account_id")?,
        campaign: r.get("campaign")?,
        reference: r.get("reference")?,
        is_test: r.get("is_test")?,
        licenses: Vec::new(),
        metadata: r.json("metadata")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

/// Fills in the licenses of several orders with one query (a manager sees only its products' licenses).
async fn attach_licenses(e: &mut impl Exec, scope: &Scope, os: &mut [Order]) -> Result<(), StoreError> {
    if os.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = os.iter().map(|o| o.id).collect();
    let mut q = query(
        "SELECT l.id, l.order_id, l.license_key, l.product_id, l.enabled, l.refunded, l.expires_at, l.times_activated \
         FROM licenses l WHERE l.order_id",
    );
    push_in_list(&mut q, &ids);
    scope.restrict(&mut q, "l.product_id");
    q.push(" ORDER BY l.id");
    let now = now_ms();
    for r in e.fetch_all(q).await? {
        let oid: i64 = r.get("order_id")?;
        if let Some(o) = os.iter_mut().find(|o| o.id == oid) {
            let facts = StatusFacts {
                enabled: r.get("enabled")?,
                refunded: r.get("refunded")?,
                expires_at: r.get("expires_at")?,
                times_activated: r.get("times_activated")?,
            };
            o.licenses.push(OrderLicense {
                id: r.get("id")?,
                license_key: r.get("license_key")?,
                product: r.get("product_id")?,
                status: license_status(facts, now),
            });
        }
    }
    Ok(())
}

static FIELDS: &[Field] = &[
    Field::new("id", "o.id", Kind::Int).sortable(),
    Field::new("store_id", "o.store_id", Kind::Text).sortable().trigram("orders_fts", "store_id", "o.id"),
    Field::new("customer", "o.customer_id", Kind::Int),
    Field::new("customer__email", "c.email", Kind::Text)
        .related("EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND {})")
        .email("c.email_norm"),
    Field::new("customer_account", "o.customer_account_id", Kind::Int),
    Field::new("campaign", "o.campaign", Kind::Text),
    Field::new("reference", "o.reference", Kind::Text),
    Field::new("is_test", "o.is_test", Kind::Bool),
    Field::new("created_at", "o.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "o.updated_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "o.id", search: &[] };

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<Order>), StoreError> {
    let mut from = query("FROM orders o WHERE 1 = 1");
    scope.restrict_owner(&mut from, "order_id", "o");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    let mut os = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    attach_licenses(&mut &*db, scope, &mut os).await?;
    Ok((n, os))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<Order, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM orders o WHERE o.id = ?")).bind(id);
    scope.restrict_owner(&mut q, "order_id", "o");
    let mut o = [from_row(&e.fetch_one(q).await?)?];
    attach_licenses(e, scope, &mut o).await?;
    let [o] = o;
    Ok(o)
}

/// Checks that a referenced order exists and is visible, naming the body field when not.
pub(crate) async fn require(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<(), StoreError> {
    match get(e, scope, id).await {
        Err(StoreError::NotFound) => Err(StoreError::invalid("order", format!("no order with id {id}"))),
        other => other.map(|_| ()),
    }
}

/// Creates the order, its customer (found by email or created) and its licenses, all or nothing.
pub async fn create(db: &Db, scope: &Scope, mut i: OrderInput) -> Result<Order, StoreError> {
    i.validate()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    crate::accounts::require(&mut tx, scope, i.customer_account).await?;
    let customer_id = match &i.customer {
        Some(r) => Some(crate::customers::resolve_in(&mut tx, scope, "customer", r).await?.id),
        None => None,
    };
    let row = OrderRow {
        store_id: i.store_id.as_deref(),
        customer: customer_id,
        customer_account: i.customer_account,
        campaign: &i.campaign,
        reference: &i.reference,
        is_test: i.is_test,
        metadata: &i.metadata,
    };
    let row = row.columns().set("created_by", scope.token_id).set("created_at", now).set("updated_at", now);
    let id = tx.insert(row.insert_into("orders")).await?;
    for (n, l) in i.licenses.iter().enumerate() {
        crate::licenses::create_in(&mut tx, scope, l, Some(id), customer_id).await.map_err(|e| prefix(n, e))?;
    }
    let o = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::created("order", id, None, &o).at(now)).await?;
    tx.commit().await?;
    Ok(o)
}

fn prefix(n: usize, e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid { field, message } => {
            StoreError::Invalid { field: format!("licenses[{n}].{field}"), message }
        }
        StoreError::Domain(licensd_core::Error::Invalid { field, message }) => {
            StoreError::Invalid { field: format!("licenses[{n}].{field}"), message }
        }
        StoreError::Conflict { field, message } => {
            StoreError::Conflict { field: format!("licenses[{n}].{field}"), message }
        }
        e => e,
    }
}

pub async fn update(db: &Db, scope: &Scope, id: i64, i: &OrderUpdate) -> Result<Order, StoreError> {
    i.validate()?;
    let mut tx = db.begin().await?;
    // Locked: the row is written whole, merged from what this transaction reads (no concurrent change is lost).
    tx.lock_row("orders", id).await?;
    let before = get(&mut tx, scope, id).await?;
    let customer = match i.customer {
        Some(Some(c)) => {
            crate::customers::resolve_in(&mut tx, scope, "customer", &licensd_core::model::CustomerRef::Id(c)).await?;
            Some(c)
        }
        Some(None) => None,
        None => before.customer,
    };
    if let Some(a) = i.customer_account {
        crate::accounts::require(&mut tx, scope, a).await?;
    }
    update_row(&mut tx, id, i, &before, customer).await?;
    let after = get(&mut tx, scope, id).await?;
    events::record(&mut tx, scope, NewEvent::updated("order", id, None, &before, &after)).await?;
    tx.commit().await?;
    Ok(after)
}

async fn update_row(
    tx: &mut Tx,
    id: i64,
    i: &OrderUpdate,
    before: &Order,
    customer: Option<i64>,
) -> Result<(), StoreError> {
    let row = OrderRow {
        store_id: i.store_id.as_ref().unwrap_or(&before.store_id).as_deref(),
        customer,
        customer_account: i.customer_account.unwrap_or(before.customer_account),
        campaign: i.campaign.as_ref().unwrap_or(&before.campaign),
        reference: i.reference.as_ref().unwrap_or(&before.reference),
        is_test: i.is_test.unwrap_or(before.is_test),
        metadata: i.metadata.as_ref().unwrap_or(&before.metadata),
    };
    tx.execute(row.columns().set("updated_at", now_ms()).update("orders", id)).await?;
    Ok(())
}

/// What an order's create and update both write: the values of [`OrderInput`] (the customer resolved to its
/// id) or of an [`OrderUpdate`] over the stored order (`created_by`, `created_at` and `updated_at` are theirs).
struct OrderRow<'a> {
    store_id: Option<&'a str>,
    customer: Option<i64>,
    customer_account: Option<i64>,
    campaign: &'a str,
    reference: &'a str,
    is_test: bool,
    metadata: &'a serde_json::Value,
}

impl OrderRow<'_> {
    /// Each column next to its value.
    fn columns(&self) -> Columns {
        Columns::new()
            .set("store_id", self.store_id)
            .set("customer_id", self.customer)
            .set("customer_account_id", self.customer_account)
            .set("campaign", self.campaign)
            .set("reference", self.reference)
            .set("is_test", self.is_test)
            .set("metadata", self.metadata.to_string())
    }
}

/// Deletes an order that holds no licenses.
pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    let why = "the order still holds licenses; delete or move those first";
    tx.refuse_if_used(id, &[("licenses", "order_id")], why).await?;
    tx.execute(query("DELETE FROM orders WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("order", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}
