//! Devices: the machines holding activations of licenses.

use licensd_core::model::Device;
use licensd_core::time::{Timestamp, now_ms};

use crate::db::{Db, Exec, Row, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{Field, Kind, ListParams, Search, SearchScope, Spec};
use crate::scope::Scope;

const COLS: &str = concat!(
    "d.id, d.license_id, d.hardware_id, d.hostname, d.os, d.app_version, d.time_activated, ",
    device_last_check!(),
    " AS last_check, d.deactivated_at"
);

fn from_row(r: &Row) -> Result<Device, StoreError> {
    let deactivated_at: Option<i64> = r.get("deactivated_at")?;
    Ok(Device {
        id: r.get("id")?,
        license: r.get("license_id")?,
        hardware_id: r.get("hardware_id")?,
        hostname: r.get("hostname")?,
        os: r.get("os")?,
        app_version: r.get("app_version")?,
        active: deactivated_at.is_none(),
        time_activated: Timestamp(r.get("time_activated")?),
        last_check: r.get::<Option<i64>>("last_check")?.map(Timestamp),
        deactivated_at: deactivated_at.map(Timestamp),
    })
}

static FIELDS: &[Field] = &[
    Field::new("id", "d.id", Kind::Int).sortable(),
    Field::new("license", "d.license_id", Kind::Int),
    Field::new("hardware_id", "d.hardware_id", Kind::Text).trigram("devices_fts", "hardware_id", "d.id"),
    Field::new("hostname", "d.hostname", Kind::Text).sortable().trigram("devices_fts", "hostname", "d.id"),
    Field::new("os", "d.os", Kind::Text).trigram("devices_fts", "os", "d.id"),
    Field::new("app_version", "d.app_version", Kind::Text),
    Field::new("active", "(d.deactivated_at IS NULL)", Kind::Bool)
        .predicate("d.deactivated_at IS NULL", "d.deactivated_at IS NOT NULL"),
    Field::new("time_activated", "d.time_activated", Kind::Time).sortable(),
    Field::new("last_check", device_last_check!(), Kind::Time).sortable(),
    Field::new("license__license_key", "l.license_key", Kind::Text)
        .related("d.license_id IN (SELECT l.id FROM licenses l WHERE {})")
        .trigram("licenses_fts", "license_key", "l.id")
        .trigram_key("d.license_id")
        .key(),
    Field::new("license__customer__email", "c.email", Kind::Text)
        .related("d.license_id IN (SELECT l.id FROM licenses l JOIN customers c ON c.id = l.customer_id WHERE {})")
        .trigram("customers_fts", "email", "c.id")
        .email("c.email_norm"),
];

/// The devices whose license's customer matches a `?search=` branch.
const DEVICE_CUSTOMER: &str = "SELECT d.id FROM devices d JOIN licenses l ON l.id = d.license_id \
     JOIN customers c ON c.id = l.customer_id WHERE {}";

/// `?search=`: the device's hardware id, and its license's key, customer and invoice (the list is scoped by
/// the device's license, so every branch is).
static SEARCH: &[Search] = &[
    Search {
        doc: "hardware_id",
        select: "SELECT d.id FROM devices d WHERE {}",
        expr: "d.hardware_id",
        trigram: ("devices_fts", "hardware_id", "d.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the license_key of its license",
        select: "SELECT d.id FROM devices d JOIN licenses l ON l.id = d.license_id WHERE {}",
        expr: "l.license_key",
        trigram: ("licenses_fts", "license_key", "l.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the email of its license's customer",
        select: DEVICE_CUSTOMER,
        expr: "c.email",
        trigram: ("customers_fts", "email", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the name (`first_name last_name`) of its license's customer",
        select: DEVICE_CUSTOMER,
        expr: "(c.first_name || ' ' || c.last_name)",
        trigram: ("customers_fts", "name", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the company_name of its license's customer",
        select: DEVICE_CUSTOMER,
        expr: "c.company_name",
        trigram: ("customers_fts", "company_name", "c.id"),
        scope: SearchScope::Listed,
    },
    Search {
        doc: "the store_id (invoice) of its license's order",
        select: "SELECT d.id FROM devices d JOIN licenses l ON l.id = d.license_id JOIN orders o ON o.id = l.order_id WHERE {}",
        expr: "o.store_id",
        trigram: ("orders_fts", "store_id", "o.id"),
        scope: SearchScope::Listed,
    },
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "d.id", search: SEARCH };

fn scoped(scope: &Scope, q: &mut crate::db::Query) {
    if scope.products.is_some() {
        q.push(" AND EXISTS (SELECT 1 FROM licenses sl WHERE sl.id = d.license_id");
        scope.restrict(q, "sl.product_id");
        q.push(")");
    }
}

pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<Device>), StoreError> {
    let mut from = query("FROM devices d WHERE 1 = 1");
    scoped(scope, &mut from);
    params.push_search(&mut from, db.dialect(), &SPEC, scope);
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    Ok((n, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

pub async fn get(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<Device, StoreError> {
    let mut q = query(format!("SELECT {COLS} FROM devices d WHERE d.id = ?")).bind(id);
    scoped(scope, &mut q);
    from_row(&e.fetch_one(q).await?)
}

/// Frees a device's activation (the vendor's side of deactivation).
pub async fn deactivate(db: &Db, scope: &Scope, id: i64) -> Result<Device, StoreError> {
    let mut tx = db.begin().await?;
    let before = get(&mut tx, scope, id).await?;
    if !before.active {
        return Err(StoreError::State("the device holds no activation".into()));
    }
    let mut lock = query("SELECT id FROM licenses WHERE id = ?").bind(before.license);
    lock.push(tx.for_update());
    tx.fetch_one(lock).await?;
    let now = now_ms();
    tx.execute(query("UPDATE devices SET deactivated_at = ? WHERE id = ?").bind(now).bind(id)).await?;
    tx.execute(
        query("UPDATE licenses SET times_activated = times_activated - 1, updated_at = ? WHERE id = ? AND times_activated > 0")
            .bind(now)
            .bind(before.license),
    )
    .await?;
    let after = get(&mut tx, scope, id).await?;
    let mut e = NewEvent::updated("device", id, Some(before.license), &before, &after);
    e.action = "device.deactivated".into();
    events::record(&mut tx, scope, e).await?;
    tx.commit().await?;
    Ok(after)
}
