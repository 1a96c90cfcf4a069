//! Customers and their labels.

use licensd_core::model::{Customer, CustomerInput, CustomerLabel, CustomerRef, LabelInput};
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Columns, Db, Exec, Row, Tx, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Search, SearchScope, Spec};
use crate::scope::{Scope, push_in_list};

pub(crate) const COLS: &str = "c.id, c.email, c.first_name, c.last_name, c.company_name, c.phone, c.reference, c.address, \
     c.postcode, c.city, c.country, c.state, c.note, c.customer_account_id, c.metadata, c.created_at, c.updated_at";

pub(crate) fn from_row(r: &Row) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: r.get("id")?,
        email: r.get("email")?,
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        company_name: r.get("company_name")?,
        phone: r.get("phone")?,
        reference: r.get("reference")?,
        address: r.get("address")?,
        postcode: r.get("postcode")?,
        city: r.get("city")?,
        country: r.get("country")?,
        state: r.get("state")?,
        note: r.get("note")?,
        labels: Vec::new(),
        customer_account: r.get("customer_account_id")?,
        metadata: r.json("metadata")?,
        created_at: Timestamp(r.get("created_at")?),
        updated_at: Timestamp(r.get("updated_at")?),
    })
}

/// Fills in the labels of several customers with one query.
pub(crate) async fn attach_labels(e: &mut impl Exec, cs: &mut [Customer]) -> Result<(), StoreError> {
    if cs.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = cs.iter().map(|c| c.id).collect();
    let mut q = query(
        "SELECT cl.id, cl.customer_id, l.id AS label_id, l.label, l.color FROM customer_labels cl \
         JOIN labels l ON l.id = cl.label_id WHERE cl.customer_id",
    );
    push_in_list(&mut q, &ids);
    q.push(" ORDER BY cl.id");
    for r in e.fetch_all(q).await? {
        let cid: i64 = r.get("customer_id")?;
        if let Some(c) = cs.iter_mut().find(|c| c.id == cid) {
            c.labels.push(CustomerLabel {
                id: r.get("id")?,
                label_id: r.get("label_id")?,
                label: r.get("label")?,
                color: r.get("color")?,
            });
        }
    }
    Ok(())
}

/// Customers by id, with labels, in no particular order.
pub(crate) async fn by_ids(e: &mut impl Exec, ids: &[i64]) -> Result<Vec<Customer>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = query(format!("SELECT {COLS} FROM customers c WHERE c.id"));
    push_in_list(&mut q, ids);
    let mut cs = e.fetch_all(q).await?.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    attach_labels(e, &mut cs).await?;
    Ok(cs)
}

static FIELDS: &[Field] = &[
    Field::new("id", "c.id", Kind::Int).sortable(),
    Field::new("email", "c.email", Kind::Text).sortable().trigram("customers_fts", "email", "c.id").email("c.email_norm"),
    Field::new("first_name", "c.first_name", Kind::Text).sortable(),
    Field::new("last_name", "c.last_name", Kind::Text).sortable(),
    Field::new("name", "(c.first_name || ' ' || c.last_name)", Kind::Text).trigram("customers_fts", "name", "c.id"),
    Field::new("company_name", "c.company_name", Kind::Text).sortable().trigram("customers_fts", "company_name", "c.id"),
    Field::new("phone", "c.phone", Kind::Text),
    Field::new("reference", "c.reference", Kind::Text).trigram("customers_fts", "reference", "c.id"),
    Field::new("city", "c.city", Kind::Text),
    Field::new("country", "c.country", Kind::Text),
    Field::new("customer_account", "c.customer_account_id", Kind::Int),
    Field::new("customer_account__name", "ca.name", Kind::Text)
        .related("EXISTS (SELECT 1 FROM customer_accounts ca WHERE ca.id = c.customer_account_id AND {})"),
    Field::new("customer_account__code", "ca.code", Kind::Text)
        .related("EXISTS (SELECT 1 FROM customer_accounts ca WHERE ca.id = c.customer_account_id AND {})"),
    Field::new("label", "lb.label", Kind::Text).related(
        "EXISTS (SELECT 1 FROM customer_labels clb JOIN labels lb ON lb.id = clb.label_id WHERE clb.customer_id = c.id AND {})",
    ),
    Field::new("created_at", "c.created_at", Kind::Time).sortable(),
    Field::new("updated_at", "c.updated_at", Kind::Time).sortable(),
];
/// `?search=`: the customer's own email and names, and the keys, devices and invoices of the licenses a
/// token may see (a manager does not find a customer through another product's key).
static SEARCH: &[Search] = &[
    Search {
        doc: "email",
        select: "SELECT c.id FROM customers c WHERE {}",
        expr: "c.email",
        trigram: ("customers_fts", "email", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "name (`first_name last_name`)",
        select: "SELECT c.id FROM customers c WHERE {}",
        expr: "(c.first_name || ' ' || c.last_name)",
        trigram: ("customers_fts", "name", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "company_name",
        select: "SELECT c.id FROM customers c WHERE {}",
        expr: "c.company_name",
        trigram: ("customers_fts", "company_name", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the license_key of one of their licenses",
        select: "SELECT l.customer_id FROM licenses l WHERE {}",
        expr: "l.license_key",
        trigram: ("licenses_fts", "license_key", "l.id"),
        scope: SearchScope::Product("l.product_id"),
    },
    Search {
        doc: "the hardware_id of a device of one of their licenses",
        select: "SELECT l.customer_id FROM licenses l JOIN devices d ON d.license_id = l.id WHERE {}",
        expr: "d.hardware_id",
        trigram: ("devices_fts", "hardware_id", "d.id"),
        scope: SearchScope::Product("l.product_id"),
    },
    Search {
        doc: "the store_id (invoice) of the order of one of their licenses",
        select: "SELECT l.customer_id FROM licenses l JOIN orders o ON o.id = l.order_id WHERE {}",
        expr: "o.store_id",
        trigram: ("orders_fts", "store_id", "o.id"),
        scope: SearchScope::Product("l.product_id"),
    },
    Search {
        doc: "the store_id (invoice) of one of their orders",
        select: "SELECT o.customer_id FROM orders o WHERE {}",
        expr: "o.store_id",
        trigram: ("orders_fts", "store_id", "o.id"),
        scope: SearchScope::Order("o"),
    },
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "c.id", search: SEARCH };

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<Customer>), StoreError> {
    let mut from = query("FROM customers c WHERE 1 = 1");
    scope.restrict_owner(&mut from, "customer_id", "c");
    params.push_search(&mut from, db.dialect(), &SPEC, scope);
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    let mut cs = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    attach_labels(&mut &*db, &mut cs).await?;
    Ok((n, cs))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<Customer, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM customers c WHERE c.id = ?")).bind(id);
    scope.restrict_owner(&mut q, "customer_id", "c");
    let mut c = [from_row(&e.fetch_one(q).await?)?];
    attach_labels(e, &mut c).await?;
    let [c] = c;
    Ok(c)
}

/// Replaces a customer's labels, creating labels that do not exist yet.
///
/// Labels are shared by name across the whole instance (a label means the same to every team), so a colour
/// given for an existing label would change it on every customer carrying it, other products' included.
/// Only an admin token recolours an existing label; a manager uses it as it is (naming it, or giving its
/// current colour) and gives a colour only to a label it creates. `color` has been validated already.
async fn set_labels(tx: &mut Tx, scope: &Scope, id: i64, i: &CustomerInput) -> Result<(), StoreError> {
    tx.execute(query("DELETE FROM customer_labels WHERE customer_id = ?").bind(id)).await?;
    for (n, l) in i.labels.iter().enumerate() {
        let label_id = label_id(tx, scope, n, l).await?;
        tx.execute(
            query(
                "INSERT INTO customer_labels (customer_id, label_id) SELECT ?, ? WHERE NOT EXISTS \
                   (SELECT 1 FROM customer_labels WHERE customer_id = ? AND label_id = ?)",
            )
            .bind(id)
            .bind(label_id)
            .bind(id)
            .bind(label_id),
        )
        .await?;
    }
    Ok(())
}

/// The id of the label `l` names, created when it does not exist yet (with `l`'s colour), its colour changed when
/// `l` gives another one and the token may ([`set_labels`]). Writers creating the same new label at once agree on
/// one row: on PostgreSQL the later inserts wait for the first and do nothing, then find its row (each statement
/// reads what is committed when it starts).
async fn label_id(tx: &mut Tx, scope: &Scope, n: usize, l: &LabelInput) -> Result<i64, StoreError> {
    for _ in 0..3 {
        let existing = tx.fetch_optional(query("SELECT id, color FROM labels WHERE label = ?").bind(l.name())).await?;
        if let Some(r) = existing {
            let current: String = r.get("color")?;
            match l.color() {
                Some(color) if !color.eq_ignore_ascii_case(&current) => {
                    if !scope.is_admin() {
                        return Err(StoreError::Forbidden {
                            field: format!("labels[{n}].color"),
                            message: "the colour of an existing label (shared by every product) is changed by an \
                                      admin token only; give the label without a colour"
                                .into(),
                        });
                    }
                    tx.execute(query("UPDATE labels SET color = ? WHERE id = ?").bind(color).bind(r.get::<i64>("id")?))
                        .await?;
                }
                _ => {}
            }
            return r.get("id");
        }
        let created = tx
            .fetch_optional(
                query("INSERT INTO labels (label, color) VALUES (?, ?) ON CONFLICT (label) DO NOTHING RETURNING id")
                    .bind(l.name())
                    .bind(l.color().unwrap_or("")),
            )
            .await?;
        if let Some(r) = created {
            return r.get("id");
        }
    }
    Err(StoreError::State(format!("the label {:?} could not be created; try again", l.name())))
}

fn email_norm(i: &CustomerInput) -> Option<String> {
    i.email.as_ref().map(|e| e.to_lowercase())
}

/// What a customer's create and update both write, each column next to its value (`created_by`, `created_at`
/// and `updated_at` are theirs; labels are rows of their own, [`set_labels`]).
fn columns(i: &CustomerInput) -> Columns {
    Columns::new()
        .set("email", i.email.as_deref())
        .set("email_norm", email_norm(i))
        .set("first_name", &i.first_name)
        .set("last_name", &i.last_name)
        .set("company_name", &i.company_name)
        .set("phone", &i.phone)
        .set("reference", &i.reference)
        .set("address", &i.address)
        .set("postcode", &i.postcode)
        .set("city", &i.city)
        .set("country", &i.country)
        .set("state", &i.state)
        .set("note", &i.note)
        .set("metadata", i.metadata.to_string())
        .set("customer_account_id", i.customer_account)
}

/// Creates a customer inside a transaction (shared by the customer, order and license endpoints).
pub async fn create_in(tx: &mut Tx, scope: &Scope, i: &CustomerInput) -> Result<Customer, StoreError> {
    crate::accounts::require(tx, scope, i.customer_account).await?;
    let now = now_ms();
    let row = columns(i).set("created_by", scope.token_id).set("created_at", now).set("updated_at", now);
    let id = tx.insert(row.insert_into("customers")).await?;
    set_labels(tx, scope, id, i).await?;
    let c = get(tx, scope, id).await?;
    events::record(tx, scope, NewEvent::created("customer", id, None, &c).at(now)).await?;
    Ok(c)
}

pub async fn create(db: &Db, scope: &Scope, mut i: CustomerInput) -> Result<Customer, StoreError> {
    i.validate()?;
    let mut tx = db.begin().await?;
    let c = create_in(&mut tx, scope, &i).await?;
    tx.commit().await?;
    Ok(c)
}

/// Resolves a customer reference inside a transaction: an id must exist and be visible; a body is
/// matched by email (case-insensitively) among the customers the scope may see, or created.
///
/// An email that belongs to a customer the scope may not see (another product's) is not a match: creating
/// the new customer then answers the email's unique violation (409 `email`), as a plain create would, and
/// nothing of the hidden record is read, returned or linked.
pub async fn resolve_in(tx: &mut Tx, scope: &Scope, field: &str, r: &CustomerRef) -> Result<Customer, StoreError> {
    match r {
        CustomerRef::Id(id) => match get(tx, scope, *id).await {
            Err(StoreError::NotFound) => Err(StoreError::invalid(field, format!("no customer with id {id}"))),
            other => other,
        },
        CustomerRef::New(input) => {
            let mut input = input.as_ref().clone();
            input.validate().map_err(|e| match e {
                licensd_core::Error::Invalid { field: f, message } => {
                    StoreError::invalid(format!("{field}.{f}"), message)
                }
            })?;
            if let Some(norm) = email_norm(&input) {
                let mut q = query("SELECT c.id FROM customers c WHERE c.email_norm = ?").bind(norm);
                scope.restrict_owner(&mut q, "customer_id", "c");
                if let Some(row) = tx.fetch_optional(q).await? {
                    return get(tx, scope, row.get("id")?).await;
                }
            }
            create_in(tx, scope, &input).await
        }
    }
}

/// Changes a customer. `edit` makes the input from the customer as this transaction reads it, its row locked until the
/// commit: a merge (PATCH) or a check that it is unchanged since a form showed it sees the latest, and no concurrent
/// change is lost.
pub async fn update<E: From<StoreError>>(
    db: &Db,
    scope: &Scope,
    id: i64,
    edit: impl FnOnce(&Customer) -> Result<CustomerInput, E> + Send,
) -> Result<Customer, E> {
    let mut tx = db.begin().await?;
    tx.lock_row("customers", id).await?;
    let before = get(&mut tx, scope, id).await?;
    let mut i = edit(&before)?;
    i.validate().map_err(StoreError::from)?;
    let after = update_in(&mut tx, scope, &before, &i).await?;
    tx.commit().await?;
    Ok(after)
}

/// Writes a validated change of a customer read as `before` inside the caller's transaction, with its event.
pub(crate) async fn update_in(
    tx: &mut Tx,
    scope: &Scope,
    before: &Customer,
    i: &CustomerInput,
) -> Result<Customer, StoreError> {
    let id = before.id;
    crate::accounts::require(tx, scope, i.customer_account).await?;
    tx.execute(columns(i).set("updated_at", now_ms()).update("customers", id)).await?;
    set_labels(tx, scope, id, i).await?;
    let after = get(tx, scope, id).await?;
    events::record(tx, scope, NewEvent::updated("customer", id, None, before, &after)).await?;
    Ok(after)
}

/// Deletes a customer who has no licenses or orders.
pub async fn delete(db: &Db, scope: &Scope, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    let why = "the customer still has licenses or orders; delete or reassign those first";
    tx.refuse_if_used(id, &[("licenses", "customer_id"), ("orders", "customer_id")], why).await?;
    tx.execute(query("DELETE FROM customers WHERE id = ?").bind(id)).await?;
    events::record(&mut tx, scope, NewEvent::deleted("customer", id, None, &before)).await?;
    tx.commit().await?;
    Ok(())
}
