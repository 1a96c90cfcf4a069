//! `licensd import devmate`: a DevMate export (customers with their licenses) into licensd, keeping
//! DevMate's ids for customers, licenses, license types, products and activations, so what a store kept
//! of them stays valid.
//!
//! Records are imported in batches. For each batch, what the database already holds is read in a few
//! queries; each record is then decided in memory (new, already there, or refused because it collides
//! with a different record) and nothing of a refused record is written, so each record is all or nothing.
//! The batch's new rows go in as multi-row INSERTs in one transaction. Should the database still refuse
//! something (another writer got there first), the batch is rolled back and redone record by record, each
//! in its own savepoint. Records already in the database (same id with the same email or key, or recorded
//! in `devmate_records` by an earlier import) are left exactly as they are, so a re-run changes nothing.

use std::collections::{HashMap, HashSet};

use licensd_core::devmate::{
    DevmateCustomer, DevmateLicense, DevmateProduct, ExportRecord, HistoryType, IMPORT_ACTOR, max_activations,
    status_code, status_of_code,
};
use licensd_core::model::{LicenseType, Role};
use licensd_core::status::{LicenseStatus, StatusFacts, license_status};
use licensd_core::time::now_ms;
use serde_json::json;

use crate::db::{Db, Dialect, Query, Tx, Value, query};
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
    /// Licenses of the record (created or already there) whose activation key is below
    /// [`licensd_core::keys::WEAK_KEY_BITS`]: guessable, so the import reports them.
    pub weak_keys: Vec<i64>,
}

/// The highest DevMate ids of a file, so identity sequences can be moved past them before import and
/// licensd's own numbering never lands on an id a later record brings.
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

/// Records applied per transaction (each in its own savepoint when a batch is redone record by record).
pub const BATCH: usize = 250;

/// The first pass over a file's records: each one read and checked, and the highest ids of those that are valid.
#[derive(Debug, Default)]
pub struct Checked {
    pub max: MaxIds,
    /// The records that cannot be imported (their index in the file's records) and why, in file order.
    pub invalid: Vec<(usize, String)>,
}

/// Reads every record of a file ([`ExportRecord::parse`]) without keeping what it read: a large file's
/// customers are read again batch by batch as they are applied.
pub fn check(records: &[ExportRecord<'_>]) -> Checked {
    let mut c = Checked::default();
    for (i, r) in records.iter().enumerate() {
        match r.parse() {
            Ok(customer) => c.max.add(&customer),
            Err(e) => c.invalid.push((i, e)),
        }
    }
    c
}

/// What became of one valid record of a file applied by [`Lenient`].
#[derive(Debug)]
pub struct Outcome {
    /// The record's index in the file's records.
    pub index: usize,
    pub customer_id: i64,
    /// What it changed, or why it was skipped.
    pub result: Result<Applied, String>,
}

/// Applies a file's valid records batch by batch, skipping those the database refuses (each whole): what
/// `licensd import devmate` does without `--strict`, and the dashboard's import. The caller moves the identity
/// sequences ([`advance_sequences`]) before the first batch and after the last, and reports each batch's
/// outcomes as they come.
pub struct Lenient<'f, 'a> {
    records: &'f [ExportRecord<'a>],
    valid: Vec<usize>,
    next: usize,
    importer: Importer,
}

impl<'f, 'a> Lenient<'f, 'a> {
    /// The records of `checked`'s file that it found valid, applied with `multi_row` (see [`Importer::multi_row`]).
    pub fn new(records: &'f [ExportRecord<'a>], checked: &Checked, multi_row: bool) -> Self {
        let invalid: HashSet<usize> = checked.invalid.iter().map(|(i, _)| *i).collect();
        let valid = (0..records.len()).filter(|i| !invalid.contains(i)).collect();
        let mut importer = Importer::new(checked.max);
        importer.multi_row = multi_row;
        Lenient { records, valid, next: 0, importer }
    }

    /// Applies the next [`BATCH`] valid records, in one transaction; `None` once every one is applied. A database
    /// failure stops the import there (what earlier batches applied stays).
    pub async fn next_batch(&mut self, db: &Db) -> Result<Option<Vec<Outcome>>, StoreError> {
        let Some(chunk) = self.valid.get(self.next..(self.next + BATCH).min(self.valid.len())) else {
            return Ok(None);
        };
        if chunk.is_empty() {
            return Ok(None);
        }
        self.next += chunk.len();
        let mut out = Vec::with_capacity(chunk.len());
        let mut parsed = Vec::with_capacity(chunk.len());
        for &i in chunk {
            // Checked already; a record that no longer reads would be a bug, and is skipped as refused.
            match self.records[i].parse() {
                Ok(c) => parsed.push((i, c)),
                Err(e) => out.push(Outcome { index: i, customer_id: 0, result: Err(e) }),
            }
        }
        let refs: Vec<&DevmateCustomer> = parsed.iter().map(|(_, c)| c).collect();
        let results = self.importer.apply_batch(db, &refs).await?;
        for ((i, c), result) in parsed.iter().zip(results) {
            out.push(Outcome { index: *i, customer_id: c.id, result });
        }
        out.sort_by_key(|o| o.index);
        Ok(Some(out))
    }
}

/// PostgreSQL: moves each identity sequence past both the table's ids and `max`'s, never backwards, so rows
/// licensd numbers itself never collide with DevMate's. Each table is locked against inserts for the instant
/// this takes, so a server running meanwhile cannot slip an id in between. SQLite numbers new rows after the
/// highest id anyway.
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
    ] {
        let mut tx = db.begin().await?;
        tx.execute(query(format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))).await?;
        let seq: Option<String> =
            tx.fetch_one(query(format!("SELECT pg_get_serial_sequence('{table}', 'id') AS s"))).await?.get("s")?;
        let Some(seq) = seq else { continue };
        let row = tx
            .fetch_one(query(format!(
                "SELECT s.last_value, s.is_called, (SELECT COALESCE(MAX(id), 0) FROM {table}) AS max_id FROM {seq} s"
            )))
            .await?;
        let last: i64 = row.get("last_value")?;
        let next = if row.get::<bool>("is_called")? { last + 1 } else { last };
        let want = next.max(row.get::<i64>("max_id")? + 1).max(file_max + 1);
        if want > next {
            tx.execute(query("SELECT setval(CAST(? AS regclass), ?, false)").bind(seq.as_str()).bind(want)).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// What the database holds of a batch's ids, keys and invoices, plus what the batch has added so far.
#[derive(Default)]
struct Known {
    /// Customer id → its lower-cased email.
    customers: HashMap<i64, Option<String>>,
    emails: HashMap<String, i64>,
    /// License id → its key and customer.
    licenses: HashMap<i64, (Option<String>, Option<i64>)>,
    keys: HashMap<String, i64>,
    /// Device id → its license.
    devices: HashMap<i64, i64>,
    /// Invoice → (order id, campaign).
    orders: HashMap<String, (i64, String)>,
}

/// Ids for new rows that DevMate has none for (orders, activations without an id).
struct Ids {
    orders: Vec<i64>,
    next_order: i64,
    next_device: i64,
}

/// A license type a record needs created (as a license template with DevMate's id).
struct NewType {
    id: i64,
    name: String,
    subscription: bool,
    max_activations: Option<i64>,
    products: Vec<i64>,
}

/// The rows one record adds, and what they add to [`Known`].
#[derive(Default)]
struct Plan {
    applied: Applied,
    customers: Vec<Vec<Value>>,
    marks: Vec<Vec<Value>>,
    orders: Vec<Vec<Value>>,
    licenses: Vec<Vec<Value>>,
    devices: Vec<Vec<Value>>,
    events: Vec<Vec<Value>>,
    new_customer: Option<(i64, Option<String>)>,
    new_licenses: Vec<(i64, Option<String>, i64)>,
    new_devices: Vec<(i64, i64)>,
    new_orders: Vec<(String, i64, String)>,
    new_products: Vec<DevmateProduct>,
    new_types: Vec<NewType>,
}

impl Plan {
    fn extend(&mut self, o: Plan) {
        self.new_products.extend(o.new_products);
        self.new_types.extend(o.new_types);
        self.customers.extend(o.customers);
        self.marks.extend(o.marks);
        self.orders.extend(o.orders);
        self.licenses.extend(o.licenses);
        self.devices.extend(o.devices);
        self.events.extend(o.events);
    }
}

impl Known {
    fn add(&mut self, p: &Plan) {
        if let Some((id, norm)) = &p.new_customer {
            self.customers.insert(*id, norm.clone());
            if let Some(n) = norm {
                self.emails.insert(n.clone(), *id);
            }
        }
        for (id, key, customer) in &p.new_licenses {
            self.licenses.insert(*id, (key.clone(), Some(*customer)));
            if let Some(k) = key {
                self.keys.insert(k.clone(), *id);
            }
        }
        for (id, license) in &p.new_devices {
            self.devices.insert(*id, *license);
        }
        for (invoice, id, campaign) in &p.new_orders {
            self.orders.insert(invoice.clone(), (*id, campaign.clone()));
        }
    }
}

/// Imports records, remembering which products and license types it has already checked.
pub struct Importer {
    now: i64,
    scope: Scope,
    max: MaxIds,
    /// `false` writes every batch record by record (each in a savepoint), as after a refused batch.
    pub multi_row: bool,
    products: HashSet<i64>,
    types: HashMap<i64, Vec<i64>>,
    batch_products: HashSet<i64>,
    batch_types: HashMap<i64, Vec<i64>>,
}

const CUSTOMER_COLS: &str =
    "id, email, email_norm, first_name, last_name, company_name, phone, address, note, created_at, updated_at";
const LICENSE_COLS: &str = "id, license_key, product_id, template_id, customer_id, order_id, enabled, refunded, \
     license_type, max_activations, times_activated, expires_at, time_activated, time_disabled, created_at, updated_at";
const ORDER_COLS: &str = "id, store_id, customer_id, campaign, created_at, updated_at";
const DEVICE_COLS: &str = "id, license_id, hardware_id, hostname, time_activated, deactivated_at";
const EVENT_COLS: &str = "action, actor, resource_type, resource_id, license_id, note, after_json, created_at";
const MARK_COLS: &str = "kind, id, imported_at";

/// `INSERT INTO table (cols) VALUES (…), (…)` in statements of at most ~4,000 parameters.
async fn insert_rows(tx: &mut Tx, table: &str, cols: &str, rows: &[Vec<Value>]) -> Result<(), StoreError> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(()) };
    for chunk in rows.chunks((4000 / width.max(1)).max(1)) {
        let mut q = query(format!("INSERT INTO {table} ({cols}) VALUES"));
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
    Ok(())
}

/// Reads `SELECT … WHERE col IN (…)` in chunks.
async fn fetch_in<T: Clone + Into<Value>>(
    tx: &mut Tx,
    select: &str,
    values: &[T],
) -> Result<Vec<crate::db::Row>, StoreError> {
    let mut out = Vec::new();
    for chunk in values.chunks(500) {
        let mut q: Query = query(format!("{select} IN ("));
        for (i, v) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_bind(v.clone());
        }
        q.push(")");
        out.extend(tx.fetch_all(q).await?);
    }
    Ok(out)
}

impl Importer {
    /// An importer for a file whose highest ids are `max`.
    pub fn new(max: MaxIds) -> Self {
        Importer {
            now: now_ms(),
            scope: Scope { actor: IMPORT_ACTOR.into(), token_id: None, products: None, role: Role::Admin },
            max,
            multi_row: true,
            products: HashSet::new(),
            types: HashMap::new(),
            batch_products: HashSet::new(),
            batch_types: HashMap::new(),
        }
    }

    /// Imports a batch in one transaction and returns each record's outcome, in order. A database failure
    /// rolls the batch back and is returned.
    pub async fn apply_batch(
        &mut self,
        db: &Db,
        records: &[&DevmateCustomer],
    ) -> Result<Vec<Result<Applied, String>>, StoreError> {
        if self.multi_row {
            let mut tx = db.begin().await?;
            match self.batch_in(&mut tx, records, false).await {
                Ok(out) => {
                    tx.commit().await?;
                    self.committed();
                    return Ok(out.into_iter().map(|r| r.map_err(|(_, m)| m)).collect());
                }
                // Something the batch reads did not foresee (another writer's row): redo it record by record.
                Err(ImportError::Record(_)) => self.rolled_back(),
                Err(ImportError::Store(e)) => {
                    self.rolled_back();
                    return Err(e);
                }
            }
        }
        let mut tx = db.begin().await?;
        let mut out = Vec::with_capacity(records.len());
        for c in records {
            tx.execute(query("SAVEPOINT devmate_record")).await?;
            let pending = (self.batch_products.clone(), self.batch_types.clone());
            let r = async {
                let mut known = self.prefetch(&mut tx, &[c]).await?;
                let mut ids = self.ids(&mut tx, &[c]).await?;
                let plan = self.plan(&mut tx, &known, &mut ids, c).await?;
                known.add(&plan);
                self.accept(&plan);
                let a = plan.applied.clone();
                self.write(&mut tx, plan).await?;
                Ok::<_, ImportError>(a)
            }
            .await;
            match r {
                Ok(a) => {
                    tx.execute(query("RELEASE SAVEPOINT devmate_record")).await?;
                    out.push(Ok(a));
                }
                Err(ImportError::Record(m)) => {
                    tx.execute(query("ROLLBACK TO SAVEPOINT devmate_record")).await?;
                    tx.execute(query("RELEASE SAVEPOINT devmate_record")).await?;
                    (self.batch_products, self.batch_types) = pending;
                    out.push(Err(m));
                }
                Err(ImportError::Store(e)) => {
                    self.rolled_back();
                    return Err(e);
                }
            }
        }
        tx.commit().await?;
        self.committed();
        Ok(out)
    }

    /// Strict mode: imports a batch inside the caller's transaction (one for the whole file). The first
    /// refused record is returned with its index; the caller rolls everything back.
    pub async fn apply_strict(
        &mut self,
        tx: &mut Tx,
        records: &[&DevmateCustomer],
    ) -> Result<Result<Vec<Applied>, (Option<usize>, String)>, StoreError> {
        match self.batch_in(tx, records, true).await {
            Ok(out) => Ok(Ok(out.into_iter().filter_map(Result::ok).collect())),
            Err(ImportError::Record(m)) => {
                // Strict batches stop at the first refusal, whose message starts with its index; a refusal
                // from the database while writing the batch has none.
                Ok(Err(match m.split_once('\u{0}') {
                    Some((i, m)) => (i.parse().ok(), m.to_string()),
                    None => (None, m),
                }))
            }
            Err(ImportError::Store(e)) => Err(e),
        }
    }

    /// Tells the importer that the transaction holding its records committed.
    pub fn committed(&mut self) {
        self.products.extend(self.batch_products.drain());
        self.types.extend(self.batch_types.drain());
    }

    /// Remembers the products and license types an accepted record brings (written with it).
    fn accept(&mut self, p: &Plan) {
        self.batch_products.extend(p.new_products.iter().map(|x| x.id));
        self.batch_types.extend(p.new_types.iter().map(|t| (t.id, t.products.clone())));
    }

    fn rolled_back(&mut self) {
        self.batch_products.clear();
        self.batch_types.clear();
    }

    /// Plans every record of a batch, then writes the rows of those accepted with multi-row INSERTs. With
    /// `stop`, the first refusal ends the batch (as `Record("index\0message")`).
    async fn batch_in(
        &mut self,
        tx: &mut Tx,
        records: &[&DevmateCustomer],
        stop: bool,
    ) -> Result<Vec<Result<Applied, (usize, String)>>, ImportError> {
        let mut known = self.prefetch(tx, records).await?;
        let mut ids = self.ids(tx, records).await?;
        let mut all = Plan::default();
        let mut out = Vec::with_capacity(records.len());
        for (i, c) in records.iter().enumerate() {
            match self.plan(tx, &known, &mut ids, c).await {
                Ok(p) => {
                    known.add(&p);
                    self.accept(&p);
                    out.push(Ok(p.applied.clone()));
                    all.extend(p);
                }
                Err(ImportError::Record(m)) if stop => return Err(ImportError::Record(format!("{i}\u{0}{m}"))),
                Err(ImportError::Record(m)) => out.push(Err((i, m))),
                Err(e) => return Err(e),
            }
        }
        self.write(tx, all).await?;
        Ok(out)
    }

    /// Reads what the database holds of the batch's customer ids and emails, license ids and keys,
    /// activation ids and invoices: a handful of queries per batch.
    async fn prefetch(&self, tx: &mut Tx, records: &[&DevmateCustomer]) -> Result<Known, StoreError> {
        if tx.dialect() == Dialect::Postgres {
            // `license_key IN (…hundreds of keys…)` (and `store_id IN`): PostgreSQL underestimates the trigram GIN
            // index on these columns for equality and takes it over the unique btree, seconds per batch and
            // growing with the table (docs/benchmarks.md, "Figures behind code comments"). GIN is only reachable
            // through bitmap scans; without them the choice is the btree or a scan.
            tx.execute(query("SET LOCAL enable_bitmapscan = off")).await?;
        }
        let mut k = Known::default();
        let ids: Vec<i64> = records.iter().map(|c| c.id).collect();
        let emails: Vec<String> =
            records.iter().filter(|c| !c.email.is_empty()).map(|c| c.email.to_lowercase()).collect();
        let licenses: Vec<&DevmateLicense> = records.iter().flat_map(|c| c.licenses.iter().flatten()).collect();
        let license_ids: Vec<i64> = licenses.iter().map(|l| l.id).collect();
        let keys: Vec<String> =
            licenses.iter().filter(|l| !l.activation_key.is_empty()).map(|l| l.activation_key.clone()).collect();
        let devices: Vec<i64> =
            licenses.iter().flat_map(|l| l.history.iter().filter_map(|h| h.activation_id())).collect();
        let invoices: Vec<String> =
            licenses.iter().filter(|l| !l.invoice.is_empty()).map(|l| l.invoice.clone()).collect();
        let mut rows = fetch_in(tx, "SELECT id, email_norm FROM customers WHERE id", &ids).await?;
        rows.extend(fetch_in(tx, "SELECT id, email_norm FROM customers WHERE email_norm", &emails).await?);
        for r in rows {
            let id: i64 = r.get("id")?;
            let norm: Option<String> = r.get("email_norm")?;
            if let Some(n) = &norm {
                k.emails.insert(n.clone(), id);
            }
            k.customers.insert(id, norm);
        }
        let mut rows = fetch_in(tx, "SELECT id, license_key, customer_id FROM licenses WHERE id", &license_ids).await?;
        rows.extend(fetch_in(tx, "SELECT id, license_key, customer_id FROM licenses WHERE license_key", &keys).await?);
        for r in rows {
            let id: i64 = r.get("id")?;
            let key: Option<String> = r.get("license_key")?;
            if let Some(key) = &key {
                k.keys.insert(key.clone(), id);
            }
            k.licenses.insert(id, (key, r.get("customer_id")?));
        }
        for r in fetch_in(tx, "SELECT id, license_id FROM devices WHERE id", &devices).await? {
            k.devices.insert(r.get("id")?, r.get("license_id")?);
        }
        for r in fetch_in(tx, "SELECT id, store_id, campaign FROM orders WHERE store_id", &invoices).await? {
            k.orders.insert(r.get("store_id")?, (r.get("id")?, r.get("campaign")?));
        }
        Ok(k)
    }

    /// Ids for the batch's new orders (at most one per license), and where new activations without an id start.
    async fn ids(&self, tx: &mut Tx, records: &[&DevmateCustomer]) -> Result<Ids, StoreError> {
        let wanted = records
            .iter()
            .flat_map(|c| c.licenses.iter().flatten())
            .filter(|l| !l.invoice.is_empty() || !l.campaign.is_empty())
            .count();
        match tx.dialect() {
            Dialect::Postgres => {
                let mut orders = Vec::with_capacity(wanted);
                if wanted > 0 {
                    for r in tx
                        .fetch_all(
                            query(
                                "SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS id FROM generate_series(1, ?)",
                            )
                            .bind(i64::try_from(wanted).unwrap_or(0)),
                        )
                        .await?
                    {
                        orders.push(r.get("id")?);
                    }
                }
                // Activations without an id are rare: numbered one by one from the sequence (already past
                // every id of the file).
                Ok(Ids { orders, next_order: 0, next_device: 0 })
            }
            Dialect::Sqlite => {
                // After the highest id the table holds or ever handed out (AUTOINCREMENT's sequence: an id
                // freed by a deletion is never reused, its events still name it); the batch holds the write
                // lock, so these stay free.
                let next = |table: &'static str| {
                    query(format!(
                        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), \
                         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)) AS n"
                    ))
                };
                let order: i64 = tx.fetch_one(next("orders")).await?.get("n")?;
                let device: i64 = tx.fetch_one(next("devices")).await?.get("n")?;
                Ok(Ids { orders: Vec::new(), next_order: order + 1, next_device: device.max(self.max.activation) + 1 })
            }
        }
    }

    async fn order_id(tx: &mut Tx, ids: &mut Ids) -> Result<i64, StoreError> {
        if tx.dialect() == Dialect::Sqlite {
            ids.next_order += 1;
            return Ok(ids.next_order - 1);
        }
        match ids.orders.pop() {
            Some(id) => Ok(id),
            None => {
                tx.fetch_one(query("SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS id")).await?.get("id")
            }
        }
    }

    async fn device_id(tx: &mut Tx, ids: &mut Ids) -> Result<i64, StoreError> {
        if tx.dialect() == Dialect::Sqlite {
            ids.next_device += 1;
            return Ok(ids.next_device - 1);
        }
        tx.fetch_one(query("SELECT nextval(pg_get_serial_sequence('devices', 'id')) AS id")).await?.get("id")
    }

    async fn marked(tx: &mut Tx, kind: &str, id: i64) -> Result<bool, StoreError> {
        Ok(tx
            .fetch_optional(query("SELECT id FROM devmate_records WHERE kind = ? AND id = ?").bind(kind).bind(id))
            .await?
            .is_some())
    }

    fn mark(&self, kind: &str, id: i64) -> Vec<Value> {
        vec![Value::from(kind), Value::from(id), Value::from(self.now)]
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: i64,
        license_id: Option<i64>,
        note: &str,
        after: serde_json::Value,
        at: i64,
    ) -> Vec<Value> {
        vec![
            Value::from(action),
            Value::from(self.scope.actor.as_str()),
            Value::from(resource_type),
            Value::from(resource_id),
            Value::from(license_id),
            Value::from(note),
            Value::from(after.to_string()),
            Value::from(at),
        ]
    }

    /// Writes planned rows, parents before children.
    async fn write(&self, tx: &mut Tx, p: Plan) -> Result<(), StoreError> {
        for prod in &p.new_products {
            self.create_product(tx, prod).await?;
        }
        for t in &p.new_types {
            self.create_type(tx, t).await?;
        }
        insert_rows(tx, "customers", CUSTOMER_COLS, &p.customers).await?;
        insert_rows(tx, "devmate_records", MARK_COLS, &p.marks).await?;
        insert_rows(tx, "orders", ORDER_COLS, &p.orders).await?;
        insert_rows(tx, "licenses", LICENSE_COLS, &p.licenses).await?;
        insert_rows(tx, "devices", DEVICE_COLS, &p.devices).await?;
        insert_rows(tx, "events", EVENT_COLS, &p.events).await
    }

    /// Decides one record against what is known: its rows to write, or why it is refused. Nothing is
    /// written for a refused record; products and license types it needs are created (in the caller's
    /// transaction) only once the record is accepted.
    async fn plan(
        &mut self,
        tx: &mut Tx,
        known: &Known,
        ids: &mut Ids,
        c: &DevmateCustomer,
    ) -> Result<Plan, ImportError> {
        let mut p = Plan::default();
        let email = (!c.email.is_empty()).then(|| c.email.clone());
        let norm = email.as_ref().map(|e| e.to_lowercase());
        if let Some(owner) = norm.as_ref().and_then(|n| known.emails.get(n))
            && *owner != c.id
        {
            return refuse(format!("email {:?} belongs to customer #{owner} already", c.email));
        }
        match known.customers.get(&c.id) {
            Some(existing) => {
                if *existing != norm && !Self::marked(tx, "customer", c.id).await? {
                    return refuse(format!(
                        "customer #{} exists already with another email ({}); not merging two customers",
                        c.id,
                        existing.clone().unwrap_or_default()
                    ));
                }
            }
            None => {
                p.customers.push(vec![
                    Value::from(c.id),
                    Value::from(email.clone()),
                    Value::from(norm.clone()),
                    Value::from(c.first_name.as_str()),
                    Value::from(c.last_name.as_str()),
                    Value::from(c.company.as_str()),
                    Value::from(c.phone.as_str()),
                    Value::from(c.address.as_str()),
                    Value::from(c.note.as_str()),
                    Value::from(c.date_added * 1000),
                    Value::from(self.now),
                ]);
                p.marks.push(self.mark("customer", c.id));
                let after = DevmateCustomer { licenses: None, ..c.clone() };
                p.events.push(self.event("customer.imported", "customer", c.id, None, "", json!(after), self.now));
                p.new_customer = Some((c.id, norm));
                p.applied.customer_created = true;
            }
        }
        for (i, l) in c.licenses.iter().flatten().enumerate() {
            self.plan_license(tx, known, ids, c.id, l, &mut p).await.map_err(|e| match e {
                ImportError::Record(m) => ImportError::Record(format!("licenses[{i}] (license #{}): {m}", l.id)),
                e => e,
            })?;
        }
        Ok(p)
    }

    async fn plan_license(
        &mut self,
        tx: &mut Tx,
        known: &Known,
        ids: &mut Ids,
        customer_id: i64,
        l: &DevmateLicense,
        p: &mut Plan,
    ) -> Result<(), ImportError> {
        let key = (!l.activation_key.is_empty()).then(|| l.activation_key.clone());
        if key.as_deref().is_some_and(licensd_core::keys::is_weak) {
            p.applied.weak_keys.push(l.id);
        }
        let holder = key.as_ref().and_then(|k| {
            known.keys.get(k).copied().or(p.new_licenses.iter().find(|(_, nk, _)| nk.as_ref() == Some(k)).map(|x| x.0))
        });
        if let Some(h) = holder
            && h != l.id
        {
            return refuse(format!("activation key {:?} belongs to license #{h} already", l.activation_key));
        }
        if let Some((k, owner)) = known.licenses.get(&l.id) {
            if *k != key {
                return refuse("a license with this id exists already with another activation key");
            }
            if *owner != Some(customer_id) {
                p.applied.warnings.push(format!(
                    "license #{} is already in the database, held by customer #{}; left there",
                    l.id,
                    owner.unwrap_or(0)
                ));
            }
            p.applied.licenses_present += 1;
            return Ok(());
        }

        for prod in &l.products {
            self.check_product(tx, prod, p).await?;
        }
        let product_ids: Vec<i64> = l.products.iter().map(|x| x.id).collect();
        let template = self.check_type(tx, l, &product_ids, p).await?;
        let order = self.plan_order(tx, known, ids, customer_id, l, p).await?;

        let now = self.now;
        let Some(status) = status_of_code(l.status) else {
            return refuse(format!("status must be 1 to 5, not {}", l.status));
        };
        let expires_at = l.expiration_date.map(|s| s * 1000);
        let license_type = if l.is_subscription {
            LicenseType::Subscription
        } else if expires_at.is_some() {
            LicenseType::TimeLimited
        } else {
            LicenseType::Perpetual
        };
        let (enabled, refunded) = (status != LicenseStatus::Disabled, status == LicenseStatus::Refunded);
        let time_disabled = (!enabled).then(|| {
            l.history.iter().rev().find(|h| h.kind == HistoryType::Blocked as i64).map_or(now, |h| h.timestamp * 1000)
        });
        let first_activation =
            l.history.iter().find(|h| h.kind == HistoryType::Activation as i64).map(|h| h.timestamp * 1000);
        let time_activated = first_activation.or((l.activations_used > 0).then_some(l.date_created * 1000));
        // Blocked and refunded are stored; the other statuses follow from the facts, as for every license.
        let derived =
            license_status(StatusFacts { enabled, refunded, expires_at, times_activated: l.activations_used }, now);
        if derived != status {
            p.applied.warnings.push(format!(
                "license #{}: status {} does not follow from its expiration date and activations; licensd derives status {}",
                l.id,
                l.status,
                status_code(derived)
            ));
        }
        p.licenses.push(vec![
            Value::from(l.id),
            Value::from(key.clone()),
            Value::from(product_ids[0]),
            Value::from(template),
            Value::from(customer_id),
            Value::from(order),
            Value::from(enabled),
            Value::from(refunded),
            Value::from(license_type.as_str()),
            Value::from(max_activations(l.activations_total)),
            Value::from(l.activations_used),
            Value::from(expires_at),
            Value::from(time_activated),
            Value::from(time_disabled),
            Value::from(l.date_created * 1000),
            Value::from(now),
        ]);
        p.new_licenses.push((l.id, key, customer_id));

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
                    let id = match h.activation_id() {
                        Some(a) => {
                            let elsewhere =
                                known.devices.get(&a).copied().or(p.new_devices.iter().find(|d| d.0 == a).map(|d| d.1));
                            if let Some(other) = elsewhere {
                                return refuse(format!("activation #{a} exists already (on license #{other})"));
                            }
                            a
                        }
                        None => Self::device_id(tx, ids).await?,
                    };
                    let name = h.extra.get("activation_name").and_then(|v| v.as_str()).unwrap_or("");
                    p.devices.push(vec![
                        Value::from(id),
                        Value::from(l.id),
                        Value::from(hw),
                        Value::from(name),
                        Value::from(at),
                        Value::from(deactivated.then_some(now)),
                    ]);
                    p.new_devices.push((id, l.id));
                    devices.insert(id);
                    if !deactivated {
                        active.insert(hw);
                    }
                    resource = ("device", id);
                }
            }
            p.events.push(self.event(
                kind.action(),
                resource.0,
                resource.1,
                Some(l.id),
                &h.note,
                json!({"devmate": h}),
                at,
            ));
        }
        p.applied.licenses_created += 1;
        Ok(())
    }

    /// Checks that the product's id is free or already this product; a free one is planned for creation.
    async fn check_product(&mut self, tx: &mut Tx, prod: &DevmateProduct, p: &mut Plan) -> Result<(), ImportError> {
        if self.products.contains(&prod.id)
            || self.batch_products.contains(&prod.id)
            || p.new_products.iter().any(|x| x.id == prod.id)
        {
            return Ok(());
        }
        let row =
            tx.fetch_optional(query("SELECT product_name, bundle_id FROM products WHERE id = ?").bind(prod.id)).await?;
        let Some(r) = row else {
            p.new_products.push(prod.clone());
            p.applied.products_created += 1;
            return Ok(());
        };
        let bundle: String = r.get("bundle_id")?;
        let name: String = r.get("product_name")?;
        let same =
            if prod.bundle_id.is_empty() && bundle.is_empty() { name == prod.name } else { bundle == prod.bundle_id };
        if !same && !Self::marked(tx, "product", prod.id).await? {
            return refuse(format!(
                "product #{} exists already as {name:?} ({bundle}), not {:?} ({})",
                prod.id, prod.name, prod.bundle_id
            ));
        }
        // It is in the database: later records need not look again.
        self.batch_products.insert(prod.id);
        Ok(())
    }

    async fn create_product(&self, tx: &mut Tx, prod: &DevmateProduct) -> Result<(), StoreError> {
        let short_code = self.short_code(tx, prod).await?;
        tx.execute(
            query(
                "INSERT INTO products (id, product_name, short_code, bundle_id, use_offline_license, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(prod.id)
            .bind(prod.name.as_str())
            .bind(short_code.as_str())
            .bind(prod.bundle_id.as_str())
            .bind(prod.use_offline_license)
            .bind(self.now)
            .bind(self.now),
        )
        .await?;
        insert_rows(tx, "devmate_records", MARK_COLS, &[self.mark("product", prod.id)]).await?;
        crate::events::record(
            tx,
            &self.scope,
            crate::events::NewEvent::created(
                "product",
                prod.id,
                None,
                &json!({"devmate": prod, "short_code": short_code}),
            ),
        )
        .await
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
    /// covers the products this license lists; a new one is planned for creation.
    async fn check_type(
        &mut self,
        tx: &mut Tx,
        l: &DevmateLicense,
        product_ids: &[i64],
        p: &mut Plan,
    ) -> Result<Option<i64>, ImportError> {
        let id = l.license_type_id;
        if id == 0 {
            if product_ids.len() > 1 {
                return refuse("a license without a license type can cover one product only");
            }
            return Ok(None);
        }
        let planned = p.new_types.iter().find(|t| t.id == id).map(|t| t.products.clone());
        let known = match self.types.get(&id).or(self.batch_types.get(&id)).cloned().or(planned) {
            Some(ps) => Some(ps),
            None => match tx
                .fetch_optional(query("SELECT product_id, code, name FROM license_templates WHERE id = ?").bind(id))
                .await?
            {
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
                            query("SELECT product_id FROM devmate_license_type_products WHERE template_id = ? ORDER BY position")
                                .bind(id),
                        )
                        .await?
                    {
                        ps.push(r.get("product_id")?);
                    }
                    if ps.is_empty() {
                        ps.push(r.get("product_id")?);
                    }
                    self.batch_types.insert(id, ps.clone());
                    Some(ps)
                }
            },
        };
        match known {
            Some(ps) if ps != product_ids => {
                refuse(format!("it lists products {product_ids:?}, but license type #{id} covers products {ps:?}"))
            }
            Some(_) => Ok(Some(id)),
            None => {
                p.new_types.push(NewType {
                    id,
                    name: l.license_type_name.clone(),
                    subscription: l.is_subscription,
                    max_activations: max_activations(l.activations_total),
                    products: product_ids.to_vec(),
                });
                p.applied.license_types_created += 1;
                Ok(Some(id))
            }
        }
    }

    async fn create_type(&self, tx: &mut Tx, t: &NewType) -> Result<(), StoreError> {
        let kind = if t.subscription { LicenseType::Subscription } else { LicenseType::Perpetual };
        tx.execute(
            query(
                "INSERT INTO license_templates (id, product_id, name, code, license_type, max_activations, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(t.id)
            .bind(t.products[0])
            .bind(t.name.as_str())
            .bind(format!("devmate-{}", t.id))
            .bind(kind.as_str())
            .bind(t.max_activations)
            .bind(self.now)
            .bind(self.now),
        )
        .await?;
        if t.products.len() > 1 {
            let rows: Vec<Vec<Value>> = t
                .products
                .iter()
                .enumerate()
                .map(|(pos, p)| vec![Value::from(t.id), Value::from(*p), Value::from(i64::try_from(pos).unwrap_or(0))])
                .collect();
            insert_rows(tx, "devmate_license_type_products", "template_id, product_id, position", &rows).await?;
        }
        insert_rows(tx, "devmate_records", MARK_COLS, &[self.mark("license_type", t.id)]).await?;
        crate::events::record(
            tx,
            &self.scope,
            crate::events::NewEvent::created(
                "license_template",
                t.id,
                None,
                &json!({"devmate": {"license_type_id": t.id, "license_type_name": t.name, "products": t.products}}),
            ),
        )
        .await
    }

    /// The order a license's invoice (and campaign) names: found by invoice, or a new one for the customer.
    async fn plan_order(
        &self,
        tx: &mut Tx,
        known: &Known,
        ids: &mut Ids,
        customer_id: i64,
        l: &DevmateLicense,
        p: &mut Plan,
    ) -> Result<Option<i64>, ImportError> {
        if l.invoice.is_empty() && l.campaign.is_empty() {
            return Ok(None);
        }
        if !l.invoice.is_empty() {
            let found = known.orders.get(&l.invoice).cloned().or(p
                .new_orders
                .iter()
                .find(|o| o.0 == l.invoice)
                .map(|o| (o.1, o.2.clone())));
            if let Some((id, campaign)) = found {
                if campaign != l.campaign {
                    return refuse(format!(
                        "invoice {:?} is order #{id} with campaign {campaign:?}, but this license says campaign {:?}",
                        l.invoice, l.campaign
                    ));
                }
                return Ok(Some(id));
            }
        }
        let id = Self::order_id(tx, ids).await?;
        p.orders.push(vec![
            Value::from(id),
            Value::from((!l.invoice.is_empty()).then_some(l.invoice.as_str())),
            Value::from(customer_id),
            Value::from(l.campaign.as_str()),
            Value::from(l.date_created * 1000),
            Value::from(self.now),
        ]);
        if !l.invoice.is_empty() {
            p.new_orders.push((l.invoice.clone(), id, l.campaign.clone()));
        }
        Ok(Some(id))
    }
}
