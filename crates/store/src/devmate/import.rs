//! `licensd import devmate`: a DevMate export (customers with their licenses) into licensd, keeping
//! DevMate's ids for customers, licenses, license types, products and activations, so what a store kept
//! of them stays valid.
//!
//! Each customer record is all or nothing (a savepoint inside a batch transaction, or one transaction for
//! the whole file in strict mode). Records already in the database are recognised (by id, and by email or
//! key, or because an earlier import recorded them in `devmate_records`) and left exactly as they are, so
//! a re-run changes nothing. A record that would collide with a different record is refused with the
//! reason, and the rest goes on.

use std::collections::{HashMap, HashSet};

use licensd_core::devmate::{
    DevmateCustomer, DevmateLicense, DevmateProduct, HistoryType, IMPORT_ACTOR, max_activations,
};
use licensd_core::model::LicenseType;
use licensd_core::time::now_ms;
use serde_json::json;

use crate::db::{Db, Dialect, Tx, Value, query};
use crate::error::StoreError;
use crate::scope::Scope;

/// Why a record was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The record conflicts with what the database holds; it is skipped (or refuses a strict import).
    #[error("{0}")]
    Record(String),
    /// The database failed: the import stops.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        match e {
            // A unique index refused a row this record needed: a collision with another record.
            StoreError::Conflict { field, .. } => {
                ImportError::Record(format!("another record already holds this {field}"))
            }
            StoreError::Invalid { field, message } => ImportError::Record(format!("{field}: {message}")),
            e => ImportError::Store(e),
        }
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError::Record(message.into()))
}

/// What one record changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub customer_created: bool,
    pub licenses_created: u64,
    pub licenses_present: u64,
    pub products_created: u64,
    pub license_types_created: u64,
    /// Facts licensd could not keep as given (e.g. a status it derives differently).
    pub warnings: Vec<String>,
}

/// Imports records, remembering which products and license types it has already checked.
pub struct Importer {
    now: i64,
    scope: Scope,
    products: HashSet<i64>,
    types: HashMap<i64, Vec<i64>>,
    pending_products: HashSet<i64>,
    pending_types: HashMap<i64, Vec<i64>>,
}

impl Default for Importer {
    fn default() -> Self {
        Importer {
            now: now_ms(),
            scope: Scope { actor: IMPORT_ACTOR.into(), token_id: None, products: None },
            products: HashSet::new(),
            types: HashMap::new(),
            pending_products: HashSet::new(),
            pending_types: HashMap::new(),
        }
    }
}

/// The highest DevMate ids of a file, so identity sequences can be moved past them before import.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxIds {
    pub customer: i64,
    pub license: i64,
    pub product: i64,
    pub license_type: i64,
    pub activation: i64,
}

impl MaxIds {
    pub fn add(&mut self, c: &DevmateCustomer) {
        self.customer = self.customer.max(c.id);
        for l in c.licenses.iter().flatten() {
            self.license = self.license.max(l.id);
            self.license_type = self.license_type.max(l.license_type_id);
            for p in &l.products {
                self.product = self.product.max(p.id);
            }
            for h in &l.history {
                self.activation = self.activation.max(h.activation_id().unwrap_or(0));
            }
        }
    }
}

/// PostgreSQL: moves each identity sequence past both the table's ids and `max`'s, never backwards, so rows
/// licensd numbers itself never collide with DevMate's. SQLite numbers new rows after the highest id anyway.
pub async fn advance_sequences(db: &Db, max: &MaxIds) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    for (table, file_max) in [
        ("customers", max.customer),
        ("licenses", max.license),
        ("products", max.product),
        ("license_templates", max.license_type),
        ("devices", max.activation),
        ("orders", 0),
        ("events", 0),
    ] {
        let seq: Option<String> =
            db.fetch_one(query(format!("SELECT pg_get_serial_sequence('{table}', 'id') AS s"))).await?.get("s")?;
        let Some(seq) = seq else { continue };
        let row = db
            .fetch_one(query(format!(
                "SELECT s.last_value, s.is_called, (SELECT COALESCE(MAX(id), 0) FROM {table}) AS max_id FROM {seq} s"
            )))
            .await?;
        let last: i64 = row.get("last_value")?;
        let next = if row.get::<bool>("is_called")? { last + 1 } else { last };
        let want = next.max(row.get::<i64>("max_id")? + 1).max(file_max + 1);
        if want > next {
            db.execute(query("SELECT setval(CAST(? AS regclass), ?, false)").bind(seq.as_str()).bind(want)).await?;
        }
    }
    Ok(())
}

impl Importer {
    /// Applies records in one transaction, each in its own savepoint: a refused record leaves no trace and
    /// the others go on. Returns each record's outcome in order; a database failure rolls the batch back.
    pub async fn apply_batch(
        &mut self,
        db: &Db,
        records: &[&DevmateCustomer],
    ) -> Result<Vec<Result<Applied, String>>, StoreError> {
        let mut tx = db.begin().await?;
        let mut out = Vec::with_capacity(records.len());
        let mut batch_products = HashSet::new();
        let mut batch_types = HashMap::new();
        for c in records {
            tx.execute(query("SAVEPOINT devmate_record")).await?;
            match self.apply_in(&mut tx, c).await {
                Ok(a) => {
                    tx.execute(query("RELEASE SAVEPOINT devmate_record")).await?;
                    batch_products.extend(self.pending_products.drain());
                    batch_types.extend(self.pending_types.drain());
                    out.push(Ok(a));
                }
                Err(ImportError::Record(m)) => {
                    tx.execute(query("ROLLBACK TO SAVEPOINT devmate_record")).await?;
                    tx.execute(query("RELEASE SAVEPOINT devmate_record")).await?;
                    self.pending_products.clear();
                    self.pending_types.clear();
                    out.push(Err(m));
                }
                Err(ImportError::Store(e)) => {
                    self.pending_products.clear();
                    self.pending_types.clear();
                    return Err(e);
                }
            }
        }
        tx.commit().await?;
        self.products.extend(batch_products);
        self.types.extend(batch_types);
        Ok(out)
    }

    /// Applies one record inside the caller's transaction (strict mode: one transaction for the whole file).
    /// What it created is remembered once [`Importer::committed`] is called after the commit.
    pub async fn apply(&mut self, tx: &mut Tx, c: &DevmateCustomer) -> Result<Applied, ImportError> {
        self.apply_in(tx, c).await
    }

    /// Tells the importer that the transaction holding its records committed.
    pub fn committed(&mut self) {
        self.products.extend(self.pending_products.drain());
        self.types.extend(self.pending_types.drain());
    }

    async fn marked(tx: &mut Tx, kind: &str, id: i64) -> Result<bool, StoreError> {
        Ok(tx
            .fetch_optional(query("SELECT id FROM devmate_records WHERE kind = ? AND id = ?").bind(kind).bind(id))
            .await?
            .is_some())
    }

    async fn mark(&self, tx: &mut Tx, kind: &str, id: i64) -> Result<(), StoreError> {
        tx.execute(
            query("INSERT INTO devmate_records (kind, id, imported_at) VALUES (?, ?, ?)")
                .bind(kind)
                .bind(id)
                .bind(self.now),
        )
        .await?;
        Ok(())
    }

    /// One customer record, inside the caller's transaction.
    async fn apply_in(&mut self, tx: &mut Tx, c: &DevmateCustomer) -> Result<Applied, ImportError> {
        let mut applied = Applied::default();
        let email = (!c.email.is_empty()).then(|| c.email.clone());
        let email_norm = email.as_ref().map(|e| e.to_lowercase());
        let rows = tx
            .fetch_all(
                query("SELECT id, email, email_norm FROM customers WHERE id = ? OR email_norm = ?")
                    .bind(c.id)
                    .bind(email_norm.clone()),
            )
            .await?;
        let mut same = None;
        for r in &rows {
            let id: i64 = r.get("id")?;
            if id == c.id {
                same = Some(r.get::<Option<String>>("email_norm")?);
            } else {
                return refuse(format!("email {:?} belongs to customer #{id} already", c.email));
            }
        }
        let mut events: Vec<Vec<Value>> = Vec::new();
        match same {
            Some(norm) => {
                if norm != email_norm && !Self::marked(tx, "customer", c.id).await? {
                    return refuse(format!(
                        "customer #{} exists already with another email ({}); not merging two customers",
                        c.id,
                        norm.unwrap_or_default()
                    ));
                }
            }
            None => {
                tx.execute(
                    query(
                        "INSERT INTO customers (id, email, email_norm, first_name, last_name, company_name, phone, address, note, \
                         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(c.id)
                    .bind(email.clone())
                    .bind(email_norm.clone())
                    .bind(c.first_name.as_str())
                    .bind(c.last_name.as_str())
                    .bind(c.company.as_str())
                    .bind(c.phone.as_str())
                    .bind(c.address.as_str())
                    .bind(c.note.as_str())
                    .bind(c.date_added * 1000)
                    .bind(self.now),
                )
                .await?;
                self.mark(tx, "customer", c.id).await?;
                let after = DevmateCustomer { licenses: None, ..c.clone() };
                events.push(self.event("customer.imported", "customer", c.id, None, "", Some(json!(after)), self.now));
                applied.customer_created = true;
            }
        }
        for (i, l) in c.licenses.iter().flatten().enumerate() {
            self.apply_license(tx, c.id, l, &mut applied, &mut events).await.map_err(|e| match e {
                ImportError::Record(m) => ImportError::Record(format!("licenses[{i}] (license #{}): {m}", l.id)),
                e => e,
            })?;
        }
        for chunk in events.chunks(200) {
            let mut q = query(
                "INSERT INTO events (action, actor, resource_type, resource_id, license_id, note, after_json, created_at) VALUES",
            );
            for (i, row) in chunk.iter().enumerate() {
                q.push(if i == 0 { " (" } else { ", (" });
                for (j, v) in row.iter().enumerate() {
                    if j > 0 {
                        q.push(", ");
                    }
                    q.push_bind(v.clone());
                }
                q.push(")");
            }
            tx.execute(q).await?;
        }
        Ok(applied)
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: i64,
        license_id: Option<i64>,
        note: &str,
        after: Option<serde_json::Value>,
        at: i64,
    ) -> Vec<Value> {
        vec![
            Value::from(action),
            Value::from(self.scope.actor.as_str()),
            Value::from(resource_type),
            Value::from(resource_id),
            Value::from(license_id),
            Value::from(note),
            Value::from(after.map(|a| a.to_string())),
            Value::from(at),
        ]
    }

    async fn apply_license(
        &mut self,
        tx: &mut Tx,
        customer_id: i64,
        l: &DevmateLicense,
        applied: &mut Applied,
        events: &mut Vec<Vec<Value>>,
    ) -> Result<(), ImportError> {
        let key = (!l.activation_key.is_empty()).then(|| l.activation_key.clone());
        let rows = tx
            .fetch_all(
                query("SELECT id, license_key, customer_id FROM licenses WHERE id = ? OR license_key = ?")
                    .bind(l.id)
                    .bind(key.clone()),
            )
            .await?;
        // At most two rows: the one with this id, and another holding this key.
        if let Some(r) = rows.first() {
            let id: i64 = r.get("id")?;
            let k: Option<String> = r.get("license_key")?;
            if id != l.id || rows.len() > 1 {
                let holder = if id != l.id { id } else { rows[1].get("id")? };
                return refuse(format!("activation key {:?} belongs to license #{holder} already", l.activation_key));
            }
            if k != key {
                return refuse("a license with this id exists already with another activation key");
            }
            let owner: Option<i64> = r.get("customer_id")?;
            if owner != Some(customer_id) {
                applied.warnings.push(format!(
                    "license #{} is already in the database, held by customer #{}; left there",
                    l.id,
                    owner.unwrap_or(0)
                ));
            }
            applied.licenses_present += 1;
            return Ok(());
        }
        for p in &l.products {
            self.ensure_product(tx, p, applied).await?;
        }
        let product_ids: Vec<i64> = l.products.iter().map(|p| p.id).collect();
        let template = self.ensure_type(tx, l, &product_ids, applied).await?;
        let order = self.order_for(tx, customer_id, l).await?;

        let now = self.now;
        let status = l.status;
        let activations: Vec<i64> =
            l.history.iter().filter(|h| h.kind == HistoryType::Activation as i64).map(|h| h.timestamp * 1000).collect();
        let expires_at = l.expiration_date.map(|s| s * 1000);
        let license_type = if l.is_subscription {
            LicenseType::Subscription
        } else if expires_at.is_some() {
            LicenseType::TimeLimited
        } else {
            LicenseType::Perpetual
        };
        let time_disabled = (status == 4).then(|| {
            l.history.iter().rev().find(|h| h.kind == HistoryType::Blocked as i64).map_or(now, |h| h.timestamp * 1000)
        });
        let time_activated = activations.first().copied().or((l.activations_used > 0).then_some(l.date_created * 1000));
        let derived = match status {
            4 | 5 => status,
            _ if expires_at.is_some_and(|e| e <= now) => 3,
            _ if l.activations_used > 0 => 2,
            _ => 1,
        };
        if derived != status {
            applied.warnings.push(format!(
                "license #{}: status {status} does not follow from its expiration date and activations; licensd derives status {derived}",
                l.id
            ));
        }
        tx.execute(
            query(
                "INSERT INTO licenses (id, license_key, product_id, template_id, customer_id, order_id, enabled, refunded, license_type, \
                 max_activations, times_activated, expires_at, time_activated, time_disabled, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(l.id)
            .bind(key)
            .bind(product_ids[0])
            .bind(template)
            .bind(customer_id)
            .bind(order)
            .bind(status != 4)
            .bind(status == 5)
            .bind(license_type.as_str())
            .bind(max_activations(l.activations_total))
            .bind(l.activations_used)
            .bind(expires_at)
            .bind(time_activated)
            .bind(time_disabled)
            .bind(l.date_created * 1000)
            .bind(now),
        )
        .await?;

        // Activation records become devices (DevMate's activation id is the device id), so filter[identifier],
        // filter[activation_id] and reset_first_activation find them.
        let mut devices: HashSet<i64> = HashSet::new();
        let mut active: HashSet<&str> = HashSet::new();
        for h in &l.history {
            let at = h.timestamp * 1000;
            let kind = HistoryType::from_code(h.kind).unwrap_or(HistoryType::Created);
            let mut resource = ("license", l.id);
            if kind == HistoryType::Activation {
                let hw = h.identifiers().unwrap_or("");
                let deactivated = h.deactivated();
                let duplicate =
                    h.activation_id().is_some_and(|a| devices.contains(&a)) || (!deactivated && active.contains(hw));
                if !duplicate {
                    let name = h.extra.get("activation_name").and_then(|v| v.as_str()).unwrap_or("");
                    let mut q = query("INSERT INTO devices (");
                    if let Some(a) = h.activation_id() {
                        if let Some(r) =
                            tx.fetch_optional(query("SELECT license_id FROM devices WHERE id = ?").bind(a)).await?
                        {
                            return refuse(format!(
                                "activation #{a} exists already (on license #{})",
                                r.get::<i64>("license_id")?
                            ));
                        }
                        q.push("id, ");
                    }
                    q.push("license_id, hardware_id, hostname, time_activated, deactivated_at) VALUES (");
                    if let Some(a) = h.activation_id() {
                        q.push_bind(a).push(", ");
                    }
                    q.push_bind(l.id).push(", ").push_bind(hw).push(", ").push_bind(name).push(", ");
                    q.push_bind(at).push(", ").push_bind(deactivated.then_some(now)).push(")");
                    let id = tx.insert(q).await?;
                    devices.insert(id);
                    if !deactivated {
                        active.insert(hw);
                    }
                    resource = ("device", id);
                }
            }
            events.push(self.event(
                kind.action(),
                resource.0,
                resource.1,
                Some(l.id),
                &h.note,
                Some(json!({"devmate": h})),
                at,
            ));
        }
        applied.licenses_created += 1;
        Ok(())
    }

    /// A product with DevMate's id: the one already there (imported before, or with the same bundle id), or
    /// a new one.
    async fn ensure_product(
        &mut self,
        tx: &mut Tx,
        p: &DevmateProduct,
        applied: &mut Applied,
    ) -> Result<(), ImportError> {
        if self.products.contains(&p.id) || self.pending_products.contains(&p.id) {
            return Ok(());
        }
        let row =
            tx.fetch_optional(query("SELECT product_name, bundle_id FROM products WHERE id = ?").bind(p.id)).await?;
        if let Some(r) = row {
            let bundle: String = r.get("bundle_id")?;
            let name: String = r.get("product_name")?;
            let same = if p.bundle_id.is_empty() && bundle.is_empty() { name == p.name } else { bundle == p.bundle_id };
            if !same && !Self::marked(tx, "product", p.id).await? {
                return refuse(format!(
                    "product #{} exists already as {name:?} ({bundle}), not {:?} ({})",
                    p.id, p.name, p.bundle_id
                ));
            }
        } else {
            let short_code = self.short_code(tx, p).await?;
            tx.execute(
                query(
                    "INSERT INTO products (id, product_name, short_code, bundle_id, use_offline_license, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(p.id)
                .bind(p.name.as_str())
                .bind(short_code.as_str())
                .bind(p.bundle_id.as_str())
                .bind(p.use_offline_license)
                .bind(self.now)
                .bind(self.now),
            )
            .await?;
            self.mark(tx, "product", p.id).await?;
            crate::events::record(
                tx,
                &self.scope,
                crate::events::NewEvent::created(
                    "product",
                    p.id,
                    None,
                    &json!({"devmate": p, "short_code": short_code}),
                ),
            )
            .await?;
            applied.products_created += 1;
        }
        self.pending_products.insert(p.id);
        Ok(())
    }

    /// The short code (what applications send as `product`): the bundle id when it is a valid, free code.
    async fn short_code(&self, tx: &mut Tx, p: &DevmateProduct) -> Result<String, StoreError> {
        let valid = |c: &str| {
            !c.is_empty()
                && c.len() <= 64
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        for code in [p.bundle_id.clone(), format!("devmate-{}", p.id), format!("devmate-product-{}", p.id)] {
            if valid(&code)
                && tx
                    .fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code.as_str()))
                    .await?
                    .is_none()
            {
                return Ok(code);
            }
        }
        Err(StoreError::Conflict { field: "short_code".into(), message: format!("devmate-{} is taken", p.id) })
    }

    /// The license type as a template with DevMate's id (`None` for licenses without one), checking that it
    /// covers the products this license lists.
    async fn ensure_type(
        &mut self,
        tx: &mut Tx,
        l: &DevmateLicense,
        product_ids: &[i64],
        applied: &mut Applied,
    ) -> Result<Option<i64>, ImportError> {
        let id = l.license_type_id;
        if id == 0 {
            if product_ids.len() > 1 {
                return refuse("a license without a license type can cover one product only");
            }
            return Ok(None);
        }
        let known = match self.types.get(&id).or(self.pending_types.get(&id)) {
            Some(ps) => Some(ps.clone()),
            None => {
                let row = tx
                    .fetch_optional(query("SELECT product_id, code, name FROM license_templates WHERE id = ?").bind(id))
                    .await?;
                match row {
                    None => None,
                    Some(r) => {
                        let code: String = r.get("code")?;
                        let name: String = r.get("name")?;
                        if code != format!("devmate-{id}")
                            && name != l.license_type_name
                            && !Self::marked(tx, "license_type", id).await?
                        {
                            return refuse(format!(
                                "license type #{id} would be license template #{id} ({name:?}), which is another template"
                            ));
                        }
                        let mut ps: Vec<i64> = Vec::new();
                        for r in tx
                            .fetch_all(
                                query(
                                    "SELECT product_id FROM devmate_license_type_products WHERE template_id = ? ORDER BY position",
                                )
                                .bind(id),
                            )
                            .await?
                        {
                            ps.push(r.get("product_id")?);
                        }
                        if ps.is_empty() {
                            ps.push(r.get("product_id")?);
                        }
                        Some(ps)
                    }
                }
            }
        };
        match known {
            Some(ps) => {
                if ps != product_ids {
                    return refuse(format!(
                        "it lists products {product_ids:?}, but license type #{id} covers products {ps:?}"
                    ));
                }
                self.pending_types.entry(id).or_insert(ps);
            }
            None => {
                let kind = if l.is_subscription { LicenseType::Subscription } else { LicenseType::Perpetual };
                tx.execute(
                    query(
                        "INSERT INTO license_templates (id, product_id, name, code, license_type, max_activations, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(id)
                    .bind(product_ids[0])
                    .bind(l.license_type_name.as_str())
                    .bind(format!("devmate-{id}"))
                    .bind(kind.as_str())
                    .bind(max_activations(l.activations_total))
                    .bind(self.now)
                    .bind(self.now),
                )
                .await?;
                if product_ids.len() > 1 {
                    for (pos, p) in product_ids.iter().enumerate() {
                        tx.execute(
                            query("INSERT INTO devmate_license_type_products (template_id, product_id, position) VALUES (?, ?, ?)")
                                .bind(id)
                                .bind(*p)
                                .bind(i64::try_from(pos).unwrap_or(0)),
                        )
                        .await?;
                    }
                }
                self.mark(tx, "license_type", id).await?;
                crate::events::record(
                    tx,
                    &self.scope,
                    crate::events::NewEvent::created(
                        "license_template",
                        id,
                        None,
                        &json!({"devmate": {"license_type_id": id, "license_type_name": l.license_type_name, "products": product_ids}}),
                    ),
                )
                .await?;
                applied.license_types_created += 1;
                self.pending_types.insert(id, product_ids.to_vec());
            }
        }
        Ok(Some(id))
    }

    /// The order a license's invoice (and campaign) names: found by invoice, or created for the customer.
    async fn order_for(&self, tx: &mut Tx, customer_id: i64, l: &DevmateLicense) -> Result<Option<i64>, ImportError> {
        if l.invoice.is_empty() && l.campaign.is_empty() {
            return Ok(None);
        }
        if !l.invoice.is_empty()
            && let Some(r) = tx
                .fetch_optional(query("SELECT id, campaign FROM orders WHERE store_id = ?").bind(l.invoice.as_str()))
                .await?
        {
            let campaign: String = r.get("campaign")?;
            let id: i64 = r.get("id")?;
            if campaign != l.campaign {
                return refuse(format!(
                    "invoice {:?} is order #{id} with campaign {campaign:?}, but this license says campaign {:?}",
                    l.invoice, l.campaign
                ));
            }
            return Ok(Some(id));
        }
        let id = tx
            .insert(
                query("INSERT INTO orders (store_id, customer_id, campaign, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
                    .bind((!l.invoice.is_empty()).then_some(l.invoice.as_str()))
                    .bind(customer_id)
                    .bind(l.campaign.as_str())
                    .bind(l.date_created * 1000)
                    .bind(self.now),
            )
            .await?;
        Ok(Some(id))
    }
}
