//! DevMate's Public API v2 over licensd's own records: customers with their licenses, products and history
//! as DevMate showed them, its customer filters, and its writes (a license for a customer, resetting the
//! first activation). Nothing here keeps data of its own: a license made through `/v2` is the same row
//! `/api/v1` shows. [`import`] brings a DevMate export in and writes it back out.

pub mod import;
pub mod runs;

use std::collections::HashMap;

use licensd_core::devmate::{
    DevmateCustomer, DevmateLicense, DevmateProduct, HistoryRecord, HistoryType, IMPORT_ACTOR, activations_total, secs,
    status_code, stored_history,
};
use licensd_core::model::{LicenseInput, LicenseType, TemplateRef};
use licensd_core::status::{StatusFacts, license_status};
use licensd_core::time::now_ms;
use serde_json::{Value, json};

use crate::db::{Db, Dialect, Exec, Query, Row, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::list::{MAX_FILTERS, MAX_PATTERN_CHARS, ParamError};
use crate::scope::{Scope, push_in_list};

const CUSTOMER_COLS: &str =
    "c.id, c.email, c.first_name, c.last_name, c.company_name, c.phone, c.address, c.note, c.created_at";

/// The most customers one list page may ask for (DevMate documents no maximum; a silent cap would make a
/// script paging by its own `limit` skip customers, so more is refused instead).
pub const MAX_LIMIT: i64 = 1000;

/// Rows per `IN (…)` list, well under both backends' parameter limits.
const CHUNK: usize = 1000;

fn customer_from_row(r: &Row) -> Result<DevmateCustomer, StoreError> {
    Ok(DevmateCustomer {
        id: r.get("id")?,
        email: r.get::<Option<String>>("email")?.unwrap_or_default(),
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        company: r.get("company_name")?,
        phone: r.get("phone")?,
        address: r.get("address")?,
        note: r.get("note")?,
        date_added: secs(r.get("created_at")?),
        licenses: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Filters

/// What a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A column of the customer, with the FTS5 trigram table (SQLite) that serves substring search on it.
    Column(&'static str, Option<(&'static str, &'static str)>),
    Key,
    Identifier,
    ActivationId,
    OrderId,
    Invoice,
}

/// One of seed 000's filters: Extended (case-insensitive contains) or Exact.
#[derive(Debug)]
struct FilterDef {
    name: &'static str,
    extended: bool,
    integer: bool,
    target: Target,
}

const fn f(name: &'static str, extended: bool, integer: bool, target: Target) -> FilterDef {
    FilterDef { name, extended, integer, target }
}

/// Seed 000's table, to the letter; `license_key` is the Ruby gem's spelling of `key`.
static FILTERS: &[FilterDef] = &[
    f("email", true, false, Target::Column("c.email", Some(("customers_fts", "email")))),
    f("first_name", true, false, Target::Column("c.first_name", None)),
    f("last_name", true, false, Target::Column("c.last_name", None)),
    f("company", true, false, Target::Column("c.company_name", Some(("customers_fts", "company_name")))),
    f("phone", true, false, Target::Column("c.phone", None)),
    f("address", true, false, Target::Column("c.address", None)),
    f("key", false, false, Target::Key),
    f("license_key", false, false, Target::Key),
    f("identifier", true, false, Target::Identifier),
    f("order_id", false, true, Target::OrderId),
    f("activation_id", false, true, Target::ActivationId),
    f("invoice", true, false, Target::Invoice),
];

/// The names `filter[NAME]` accepts.
pub fn filter_names() -> Vec<&'static str> {
    FILTERS.iter().map(|f| f.name).collect()
}

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    def: &'static FilterDef,
    text: String,
    int: i64,
}

/// Parses `filter[NAME]=value` pairs (given as `(NAME, value)`); an unknown name or a bad value is a
/// [`ParamError`] naming the parameter. The bounds are `/api/v1`'s ([`MAX_FILTERS`], [`MAX_PATTERN_CHARS`]), for the same reasons: SQLite's
/// expression depth and pattern length, PostgreSQL's planning time.
pub fn parse_filters(pairs: &[(String, String)]) -> Result<Vec<Filter>, ParamError> {
    let mut out = Vec::with_capacity(pairs.len().min(MAX_FILTERS));
    for (name, value) in pairs {
        let param = format!("filter[{name}]");
        let wrong = |why: String| ParamError {
            param: param.clone(),
            message: format!("Wrong \"{name}\" parameter given. {why}"),
        };
        // Neither backend keeps a NUL in text (PostgreSQL refuses it outright).
        if name.contains('\0') || value.contains('\0') {
            return Err(wrong("It must not contain NUL characters.".into()));
        }
        if out.len() == MAX_FILTERS {
            return Err(wrong(format!("A request takes at most {MAX_FILTERS} filters.")));
        }
        let def = FILTERS.iter().find(|f| f.name == name).ok_or_else(|| ParamError {
            param: param.clone(),
            message: format!("Unknown filter \"{name}\". Filters: {}.", filter_names().join(", ")),
        })?;
        // An email or a key is looked for without the whitespace a paste brings along.
        let value =
            if matches!(def.target, Target::Key) || def.name == "email" { value.trim() } else { value.as_str() };
        if value.is_empty() {
            return Err(wrong("It is empty.".into()));
        }
        if def.extended && value.chars().nth(MAX_PATTERN_CHARS).is_some() {
            return Err(wrong(format!("It takes at most {MAX_PATTERN_CHARS} characters.")));
        }
        let int = if def.integer {
            value.trim().parse::<i64>().map_err(|_| ParamError {
                param: param.clone(),
                message: format!("Wrong \"{name}\" parameter given. {value:?} is not an integer."),
            })?
        } else {
            0
        };
        out.push(Filter { def, text: value.to_string(), int });
    }
    Ok(out)
}

/// Appends ` AND …` for each filter. Filters on licenses, devices and orders look only at what the scope
/// may see, so a manager cannot find a customer through another product's key.
fn push_filters(q: &mut Query, dialect: Dialect, scope: &Scope, filters: &[Filter]) {
    for f in filters {
        q.push(" AND ");
        match f.def.target {
            Target::Column(expr, fts) if f.def.extended => {
                crate::sql::push_contains_indexed(q, dialect, expr, fts, "c.id", &f.text)
            }
            Target::Column(expr, _) => {
                q.push(expr).push(" = ").push_bind(f.text.as_str());
            }
            Target::Key => {
                // As the client API matches a typed key: trimmed, and whatever the case for keys that fold case.
                q.push("c.id IN (SELECT l.customer_id FROM licenses l WHERE (");
                crate::list::push_key_pass(q, dialect, "l.license_key", &f.text, true);
                q.push(" OR ");
                crate::list::push_key_pass(q, dialect, "l.license_key", &f.text, false);
                q.push(")");
                scope.restrict(q, "l.product_id");
                q.push(")");
            }
            Target::Identifier | Target::ActivationId => {
                q.push("c.id IN (SELECT l.customer_id FROM licenses l JOIN devices d ON d.license_id = l.id WHERE ");
                if f.def.target == Target::Identifier {
                    crate::sql::push_contains_indexed(
                        q,
                        dialect,
                        "d.hardware_id",
                        Some(("devices_fts", "hardware_id")),
                        "d.id",
                        &f.text,
                    );
                } else {
                    q.push("d.id = ").push_bind(f.int);
                }
                scope.restrict(q, "l.product_id");
                q.push(")");
            }
            Target::OrderId | Target::Invoice => {
                // DevMate kept the invoice on the license: match the orders of the customer's licenses, and the
                // customer's own orders.
                let cond = |q: &mut Query| {
                    if f.def.target == Target::OrderId {
                        q.push("o.id = ").push_bind(f.int);
                    } else {
                        crate::sql::push_contains_indexed(
                            q,
                            dialect,
                            "o.store_id",
                            Some(("orders_fts", "store_id")),
                            "o.id",
                            &f.text,
                        );
                    }
                };
                q.push("(c.id IN (SELECT l.customer_id FROM licenses l JOIN orders o ON o.id = l.order_id WHERE ");
                cond(q);
                scope.restrict(q, "l.product_id");
                q.push(") OR c.id IN (SELECT o.customer_id FROM orders o WHERE ");
                cond(q);
                scope.restrict_owner(q, "order_id", "o");
                q.push("))");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// `GET /v2/customers`: the number of matches before paging, and one page ordered by id.
pub async fn list_customers(
    db: &Db,
    scope: &Scope,
    filters: &[Filter],
    limit: i64,
    offset: i64,
    with_licenses: bool,
) -> Result<(i64, Vec<DevmateCustomer>), StoreError> {
    let mut from = query("FROM customers c WHERE 1 = 1");
    scope.restrict_owner(&mut from, "customer_id", "c");
    push_filters(&mut from, db.dialect(), scope, filters);
    let count = Query { sql: format!("SELECT COUNT(*) AS n {}", from.sql).into(), args: from.args.clone() };
    let total: i64 = db.fetch_one(count).await?.get("n")?;
    let mut page = Query { sql: format!("SELECT {CUSTOMER_COLS} {}", from.sql).into(), args: from.args };
    page.push(" ORDER BY c.id LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
    let mut cs = db.fetch_all(page).await?.iter().map(customer_from_row).collect::<Result<Vec<_>, _>>()?;
    if with_licenses {
        attach_licenses(&mut &*db, scope, &mut cs, Some(events::HISTORY_LIMIT)).await?;
    }
    Ok((total, cs))
}

/// `GET /v2/customers/{id}`: the customer with licenses, products and history.
pub async fn customer(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<DevmateCustomer, StoreError> {
    let mut q = query(format!("SELECT {CUSTOMER_COLS} FROM customers c WHERE c.id = ?")).bind(id);
    scope.restrict_owner(&mut q, "customer_id", "c");
    let mut c = [customer_from_row(&e.fetch_one(q).await?)?];
    attach_licenses(e, scope, &mut c, Some(events::HISTORY_LIMIT)).await?;
    let [c] = c;
    Ok(c)
}

/// Every customer after `after_id` (by id), with licenses and their whole history: the pages of an export.
pub async fn customers_after(db: &Db, after_id: i64, limit: i64) -> Result<Vec<DevmateCustomer>, StoreError> {
    let q = query(format!("SELECT {CUSTOMER_COLS} FROM customers c WHERE c.id > ? ORDER BY c.id LIMIT ?"))
        .bind(after_id)
        .bind(limit);
    let mut cs = db.fetch_all(q).await?.iter().map(customer_from_row).collect::<Result<Vec<_>, _>>()?;
    attach_licenses(&mut &*db, &Scope::system(), &mut cs, None).await?;
    Ok(cs)
}

/// Fills in the licenses of several customers (those the scope may see), each with its latest `cap` history
/// records (`None`: all): a fixed number of queries per thousand customers, whatever their licenses and
/// history.
async fn attach_licenses(
    e: &mut impl Exec,
    scope: &Scope,
    cs: &mut [DevmateCustomer],
    cap: Option<i64>,
) -> Result<(), StoreError> {
    for c in cs.iter_mut() {
        c.licenses = Some(Vec::new());
    }
    for chunk in cs.chunks_mut(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|c| c.id).collect();
        let mut q = query(format!("{LICENSE_SELECT} WHERE l.customer_id"));
        push_in_list(&mut q, &ids);
        scope.restrict(&mut q, "l.product_id");
        q.push(" ORDER BY l.id");
        for (customer_id, l) in licenses_from(e, q, cap).await? {
            if let Some(c) = chunk.iter_mut().find(|c| c.id == customer_id) {
                c.licenses.get_or_insert_with(Vec::new).push(l);
            }
        }
    }
    Ok(())
}

/// One license in DevMate's shape.
pub async fn license(e: &mut impl Exec, scope: &Scope, id: i64) -> Result<DevmateLicense, StoreError> {
    let mut q = query(format!("{LICENSE_SELECT} WHERE l.id = ?")).bind(id);
    scope.restrict(&mut q, "l.product_id");
    licenses_from(e, q, Some(events::HISTORY_LIMIT)).await?.pop().map(|(_, l)| l).ok_or(StoreError::NotFound)
}

const LICENSE_SELECT: &str = "SELECT l.id, l.customer_id, l.license_key, l.product_id, l.template_id, l.enabled, l.refunded, \
     l.expires_at, l.times_activated, l.max_activations, l.license_type, l.created_at, t.name AS template_name, \
     o.store_id, o.campaign, p.product_name, p.bundle_id, p.use_offline_license \
     FROM licenses l JOIN products p ON p.id = l.product_id LEFT JOIN license_templates t ON t.id = l.template_id \
     LEFT JOIN orders o ON o.id = l.order_id";

/// Runs a [`LICENSE_SELECT`] and completes its licenses with their products and latest `cap` history records:
/// three queries.
async fn licenses_from(
    e: &mut impl Exec,
    q: Query,
    cap: Option<i64>,
) -> Result<Vec<(i64, DevmateLicense)>, StoreError> {
    let rows = e.fetch_all(q).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut out = Vec::with_capacity(rows.len());
    let mut template_ids = Vec::new();
    for r in &rows {
        let license_type: LicenseType = r.get_enum("license_type")?;
        let template: Option<i64> = r.get("template_id")?;
        template_ids.extend(template);
        let facts = StatusFacts {
            enabled: r.get("enabled")?,
            refunded: r.get("refunded")?,
            expires_at: r.get("expires_at")?,
            times_activated: r.get("times_activated")?,
        };
        let l = DevmateLicense {
            license_type_name: r.get::<Option<String>>("template_name")?.unwrap_or_default(),
            license_type_id: template.unwrap_or(0),
            invoice: r.get::<Option<String>>("store_id")?.unwrap_or_default(),
            campaign: r.get::<Option<String>>("campaign")?.unwrap_or_default(),
            date_created: secs(r.get("created_at")?),
            activations_used: facts.times_activated,
            id: r.get("id")?,
            expiration_date: facts.expires_at.map(secs),
            products: vec![DevmateProduct {
                id: r.get("product_id")?,
                name: r.get("product_name")?,
                bundle_id: r.get("bundle_id")?,
                use_offline_license: r.get("use_offline_license")?,
            }],
            is_subscription: license_type == LicenseType::Subscription,
            status: status_code(license_status(facts, now)),
            activations_total: activations_total(r.get("max_activations")?),
            activation_key: r.get::<Option<String>>("license_key")?.unwrap_or_default(),
            history: Vec::new(),
            history_count: None,
        };
        out.push((r.get::<Option<i64>>("customer_id")?.unwrap_or(0), l, template));
    }
    template_ids.sort_unstable();
    template_ids.dedup();
    let bundles = type_products(e, &template_ids).await?;
    let license_ids: Vec<i64> = out.iter().map(|(_, l, _)| l.id).collect();
    let mut history = history_of(e, &license_ids, cap).await?;
    Ok(out
        .into_iter()
        .map(|(cid, mut l, template)| {
            if let Some(ps) = template.and_then(|t| bundles.get(&t)) {
                l.products.clone_from(ps);
            }
            if let Some((records, total)) = history.remove(&l.id) {
                l.history_count = (usize::try_from(total).unwrap_or(usize::MAX) > records.len()).then_some(total);
                l.history = records;
            }
            (cid, l)
        })
        .collect())
}

/// The products of license types that cover more than one (imported DevMate bundles), by template.
async fn type_products(
    e: &mut impl Exec,
    template_ids: &[i64],
) -> Result<HashMap<i64, Vec<DevmateProduct>>, StoreError> {
    let mut out: HashMap<i64, Vec<DevmateProduct>> = HashMap::new();
    for chunk in template_ids.chunks(CHUNK) {
        let mut q = query(
            "SELECT dp.template_id, p.id, p.product_name, p.bundle_id, p.use_offline_license \
             FROM devmate_license_type_products dp JOIN products p ON p.id = dp.product_id WHERE dp.template_id",
        );
        push_in_list(&mut q, chunk);
        q.push(" ORDER BY dp.template_id, dp.position");
        for r in e.fetch_all(q).await? {
            out.entry(r.get("template_id")?).or_default().push(DevmateProduct {
                id: r.get("id")?,
                name: r.get("product_name")?,
                bundle_id: r.get("bundle_id")?,
                use_offline_license: r.get("use_offline_license")?,
            });
        }
    }
    Ok(out)
}

/// Licenses' history in DevMate's terms, oldest first: the events DevMate has a kind for, the latest `cap` of
/// them per license (`None`: all), with how many there are in all. Only events of the license's own product
/// are its history (an id SQLite reused before migration 11 once named another product's license). Imported
/// records come back as they were given (with `deactivated` brought up to date); licensd's own events are
/// described with the documented keys, and activations also with their device.
async fn history_of(
    e: &mut impl Exec,
    license_ids: &[i64],
    cap: Option<i64>,
) -> Result<HashMap<i64, (Vec<HistoryRecord>, i64)>, StoreError> {
    let mut out: HashMap<i64, (Vec<HistoryRecord>, i64)> = HashMap::new();
    for chunk in license_ids.chunks(CHUNK) {
        // The window numbers each license's events newest first, so the cap keeps the latest; only the kept
        // rows are joined for their JSON and device.
        let mut q = query(
            "SELECT e.id, e.action, e.license_id, e.note, e.created_at, w.total, \
             CASE WHEN e.actor = ? THEN e.after_json END AS devmate_json, \
             d.id AS device_id, d.license_id AS device_license_id, d.hardware_id, d.hostname, d.deactivated_at \
             FROM (SELECT e2.id, ROW_NUMBER() OVER (PARTITION BY e2.license_id ORDER BY e2.id DESC) AS rn, \
                   COUNT(*) OVER (PARTITION BY e2.license_id) AS total \
                   FROM events e2 JOIN licenses hl ON hl.id = e2.license_id AND hl.product_id = e2.product_id \
                   WHERE e2.license_id",
        )
        .bind(IMPORT_ACTOR);
        push_in_list(&mut q, chunk);
        q.push(" AND e2.action IN (");
        for (i, a) in HistoryType::ACTIONS.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_bind(*a);
        }
        q.push(
            ")) w JOIN events e ON e.id = w.id \
             LEFT JOIN devices d ON e.resource_type = 'device' AND d.id = e.resource_id WHERE w.rn <= ",
        );
        q.push_bind(cap.unwrap_or(i64::MAX));
        q.push(" ORDER BY e.license_id, e.id");
        for r in e.fetch_all(q).await? {
            let license_id: i64 = r.get("license_id")?;
            let action: String = r.get("action")?;
            let Some(kind) = HistoryType::of_action(&action) else { continue };
            let device = match r.get::<Option<i64>>("device_id")? {
                Some(id) if r.get::<i64>("device_license_id")? == license_id => Some((
                    id,
                    r.get::<String>("hardware_id")?,
                    r.get::<String>("hostname")?,
                    r.get::<Option<i64>>("deactivated_at")?.is_some(),
                )),
                _ => None,
            };
            let record = match r.get::<Option<String>>("devmate_json")? {
                Some(text) => {
                    let v: Value = serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("devmate history: {e}")))?;
                    let mut h = stored_history(&v["devmate"])
                        .map_err(|e| StoreError::Corrupt(format!("devmate history: {e}")))?;
                    if let Some((_, _, _, deactivated)) = device
                        && (deactivated || h.extra.contains_key("deactivated"))
                    {
                        h.extra.insert("deactivated".into(), json!(i64::from(deactivated)));
                    }
                    h
                }
                None => {
                    let mut h = HistoryRecord::plain(kind, "", r.get("created_at")?);
                    if kind == HistoryType::Activation {
                        if let Some((id, hw, host, deactivated)) = device {
                            h.extra.insert("activation_id".into(), json!(id));
                            h.extra.insert("activation_name".into(), json!(host));
                            h.extra.insert("identifiers".into(), json!(hw));
                            h.extra.insert("deactivated".into(), json!(i64::from(deactivated)));
                        }
                    } else {
                        h.note = r.get("note")?;
                    }
                    h
                }
            };
            let entry = out.entry(license_id).or_default();
            entry.0.push(record);
            entry.1 = r.get("total")?;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Why `POST /v2/customers/{id}/licenses` was refused.
#[derive(Debug, thiserror::Error)]
pub enum CreateLicenseError {
    #[error("no such customer")]
    NoCustomer,
    #[error("no such license type")]
    NoLicenseType,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a license of a license type (template) to a customer, exactly as `POST /api/v1/licenses` would,
/// and returns it in DevMate's shape.
pub async fn create_license(
    db: &Db,
    scope: &Scope,
    customer_id: i64,
    license_type_id: i64,
) -> Result<DevmateLicense, CreateLicenseError> {
    let mut tx = db.begin().await?;
    match crate::customers::get(&mut tx, scope, customer_id).await {
        Err(StoreError::NotFound) => return Err(CreateLicenseError::NoCustomer),
        other => other?,
    };
    match crate::templates::get(&mut tx, scope, license_type_id).await {
        Err(StoreError::NotFound) => return Err(CreateLicenseError::NoLicenseType),
        other => other?,
    };
    let input = LicenseInput { license_template: Some(TemplateRef::Id(license_type_id)), ..Default::default() };
    let id = crate::licenses::create_in(&mut tx, scope, &input, None, Some(customer_id)).await?;
    let l = license(&mut tx, scope, id).await?;
    tx.commit().await?;
    Ok(l)
}

/// `POST /v2/licenses/{key}/reset_first_activation`: frees the oldest activation still held. `Ok(false)`
/// when there is none to free (nothing is written); `NotFound` for a key the scope cannot see.
pub async fn reset_first_activation(db: &Db, scope: &Scope, key: &str) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let id = crate::licenses::id_by_key(&mut tx, scope, key).await?;
    let mut q = query("SELECT l.id, l.times_activated FROM licenses l WHERE l.id = ?").bind(id);
    q.push(tx.for_update());
    let row = tx.fetch_one(q).await?;
    let used: i64 = row.get("times_activated")?;
    let device = tx
        .fetch_optional(
            query(
                "SELECT id, hardware_id FROM devices WHERE license_id = ? AND deactivated_at IS NULL \
                 ORDER BY time_activated, id LIMIT 1",
            )
            .bind(id),
        )
        .await?;
    if device.is_none() && used == 0 {
        return Ok(false);
    }
    let now = now_ms();
    let mut after = json!({"times_activated": (used - 1).max(0)});
    let (resource_type, resource_id) = match &device {
        Some(d) => {
            let did: i64 = d.get("id")?;
            tx.execute(query("UPDATE devices SET deactivated_at = ? WHERE id = ?").bind(now).bind(did)).await?;
            after["device"] = json!(did);
            after["hardware_id"] = json!(d.get::<String>("hardware_id")?);
            ("device", did)
        }
        None => ("license", id),
    };
    tx.execute(
        query("UPDATE licenses SET times_activated = times_activated - 1, updated_at = ? WHERE id = ? AND times_activated > 0")
            .bind(now)
            .bind(id),
    )
    .await?;
    events::record(
        &mut tx,
        scope,
        NewEvent {
            action: "license.reset_first_activation".into(),
            resource_type,
            resource_id,
            license_id: Some(id),
            note: "",
            before: Some(json!({"times_activated": used})),
            after: Some(after),
            at: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
