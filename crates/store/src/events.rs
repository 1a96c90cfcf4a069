//! The audit log: every state change, with actor and before/after. A license's history is its events.

use licensd_core::model::Event;
use licensd_core::time::{Timestamp, now_ms};
use serde_json::Value;

use crate::db::{Db, Exec, Query, Row, Tx, query};
use crate::error::StoreError;
use crate::list::{Field, Kind, ListParams, Spec};
use crate::scope::Scope;

/// A change about to be recorded.
pub struct NewEvent<'a> {
    pub action: String,
    pub resource_type: &'a str,
    pub resource_id: i64,
    pub license_id: Option<i64>,
    pub note: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// When it happened, in ms; `None` is now. A record's `*.created` event takes the record's own `created_at`,
    /// so its history never says it was made apart from itself (DevMate shows both, in seconds).
    pub at: Option<i64>,
}

/// How many events a license's representation embeds (`GET /api/v1/licenses/{id}`, DevMate's `history`):
/// the latest ones. The whole history is paged at `/api/v1/events/?license=`.
pub const HISTORY_LIMIT: i64 = 50;

/// Records an event inside the transaction that made the change, so the log never disagrees with the data.
/// An event of a license carries the license's product, so who may see it, and whose history it is, never
/// depends on whoever holds that license id later (the license must still exist: record before deleting).
pub async fn record(tx: &mut Tx, scope: &Scope, e: NewEvent<'_>) -> Result<(), StoreError> {
    tx.execute(
        query(
            "INSERT INTO events (action, actor, resource_type, resource_id, license_id, product_id, note, before_json, \
             after_json, created_at) VALUES (?, ?, ?, ?, ?, (SELECT product_id FROM licenses WHERE id = ?), ?, ?, ?, ?)",
        )
        .bind(e.action.as_str())
        .bind(scope.actor.as_str())
        .bind(e.resource_type)
        .bind(e.resource_id)
        .bind(e.license_id)
        .bind(e.license_id)
        .bind(e.note)
        .bind(e.before.map(|v| v.to_string()))
        .bind(e.after.map(|v| v.to_string()))
        .bind(e.at.unwrap_or_else(now_ms)),
    )
    .await?;
    Ok(())
}

const COLS: &str = "e.id, e.action, e.actor, e.resource_type, e.resource_id, e.license_id, e.product_id, e.note, e.before_json, \
     e.after_json, e.created_at";

fn from_row(r: &Row) -> Result<Event, StoreError> {
    let json = |col: &str| -> Result<Option<Value>, StoreError> {
        let s: Option<String> = r.get(col)?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))).transpose()
    };
    Ok(Event {
        id: r.get("id")?,
        action: r.get("action")?,
        actor: r.get("actor")?,
        resource_type: r.get("resource_type")?,
        resource_id: r.get("resource_id")?,
        license: r.get("license_id")?,
        product: r.get("product_id")?,
        note: r.get("note")?,
        before: json("before_json")?,
        after: json("after_json")?,
        created_at: Timestamp(r.get("created_at")?),
    })
}

/// The latest `limit` events of a license of `product_id`, oldest of them first, and how many it has in all.
/// Events of another product under the same id (an id SQLite reused before migration 11) are not its history.
pub async fn for_license(
    e: &mut impl Exec,
    license_id: i64,
    product_id: i64,
    limit: i64,
) -> Result<(Vec<Event>, i64), StoreError> {
    let total: i64 = e
        .fetch_one(
            query("SELECT COUNT(*) AS n FROM events e WHERE e.license_id = ? AND e.product_id = ?")
                .bind(license_id)
                .bind(product_id),
        )
        .await?
        .get("n")?;
    let rows = e
        .fetch_all(
            query(format!(
                "SELECT {COLS} FROM events e WHERE e.license_id = ? AND e.product_id = ? ORDER BY e.id DESC LIMIT ?"
            ))
            .bind(license_id)
            .bind(product_id)
            .bind(limit),
        )
        .await?;
    let mut events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    events.reverse();
    Ok((events, total))
}

static FIELDS: &[Field] = &[
    Field::new("id", "e.id", Kind::Int).sortable(),
    Field::new("action", "e.action", Kind::Text).sortable(),
    Field::new("actor", "e.actor", Kind::Text),
    Field::new("resource_type", "e.resource_type", Kind::Text),
    Field::new("resource_id", "e.resource_id", Kind::Int),
    Field::new("license", "e.license_id", Kind::Int),
    Field::new("product", "e.product_id", Kind::Int),
    Field::new("created_at", "e.created_at", Kind::Time).sortable(),
];
pub static SPEC: Spec = Spec { fields: FIELDS, id_expr: "e.id", search: &[] };

/// Lists events; a manager sees only those of its products' licenses (by the product the event carries, not
/// by whichever license holds the id now).
pub async fn list(db: &Db, scope: &Scope, params: &ListParams) -> Result<(i64, Vec<Event>), StoreError> {
    let mut from = query("FROM events e WHERE 1 = 1");
    scope.restrict(&mut from, "e.product_id");
    let (n, rows) = crate::list::page(db, &SPEC, params, COLS, &from).await?;
    Ok((n, rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

pub async fn get(db: &Db, scope: &Scope, id: i64) -> Result<Event, StoreError> {
    let mut q: Query = query(format!("SELECT {COLS} FROM events e WHERE e.id = ?")).bind(id);
    scope.restrict(&mut q, "e.product_id");
    from_row(&db.fetch_one(q).await?)
}

impl<'a> NewEvent<'a> {
    /// The same event, happened at `at` (the time, in ms, the change wrote into its record).
    pub fn at(self, at: i64) -> Self {
        NewEvent { at: Some(at), ..self }
    }

    fn snapshot(v: &impl serde::Serialize) -> Option<Value> {
        serde_json::to_value(v).ok()
    }

    /// `<type>.created` with the new record.
    pub fn created(resource_type: &'a str, id: i64, license_id: Option<i64>, after: &impl serde::Serialize) -> Self {
        NewEvent {
            action: format!("{resource_type}.created"),
            resource_type,
            resource_id: id,
            license_id,
            note: "",
            before: None,
            after: Self::snapshot(after),
            at: None,
        }
    }

    /// `<type>.updated` with the fields that changed: `before` holds their old values, `after` their new ones.
    pub fn updated(
        resource_type: &'a str,
        id: i64,
        license_id: Option<i64>,
        before: &impl serde::Serialize,
        after: &impl serde::Serialize,
    ) -> Self {
        let (before, after) = diff(before, after);
        NewEvent {
            action: format!("{resource_type}.updated"),
            resource_type,
            resource_id: id,
            license_id,
            note: "",
            before,
            after,
            at: None,
        }
    }

    /// `<type>.<what>` (revoked, disabled, invited, …) of a record that belongs to no license: what it was, if
    /// that says something, and what it is now.
    pub fn changed(resource_type: &'a str, what: &str, id: i64, before: Option<Value>, after: Value) -> Self {
        NewEvent {
            action: format!("{resource_type}.{what}"),
            resource_type,
            resource_id: id,
            license_id: None,
            note: "",
            before,
            after: Some(after),
            at: None,
        }
    }

    /// `<type>.deleted` with the record as it was.
    pub fn deleted(resource_type: &'a str, id: i64, license_id: Option<i64>, before: &impl serde::Serialize) -> Self {
        NewEvent {
            action: format!("{resource_type}.deleted"),
            resource_type,
            resource_id: id,
            license_id,
            note: "",
            before: Self::snapshot(before),
            after: None,
            at: None,
        }
    }
}

/// Only what changed between two records, as an event's `before` and `after`: the top-level fields whose values
/// differ, their old values and their new ones (a nested value, such as `metadata`, whole). An edit of a note
/// records the note, not two copies of the license (first-day friction V6).
pub fn diff(before: &impl serde::Serialize, after: &impl serde::Serialize) -> (Option<Value>, Option<Value>) {
    match (NewEvent::snapshot(before), NewEvent::snapshot(after)) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            // A field one side leaves out (serialized only when set) reads as null on that side.
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            let (mut old, mut new) = (serde_json::Map::new(), serde_json::Map::new());
            for k in keys.into_iter().filter(|k| b.get(*k) != a.get(*k)) {
                old.insert(k.clone(), b.get(k).cloned().unwrap_or(Value::Null));
                new.insert(k.clone(), a.get(k).cloned().unwrap_or(Value::Null));
            }
            (Some(Value::Object(old)), Some(Value::Object(new)))
        }
        (b, a) => (b, a),
    }
}
