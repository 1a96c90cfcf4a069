//! `licensd import licensespring FILE`: the licenses of LicenseSpring's List Licenses pages ([`super::export`])
//! into licensd, with what they embed.
//!
//! - **Licenses keep LicenseSpring's id** (its SDKs send it back as `license_id`), their key, limits, dates and
//!   counters as LicenseSpring reported them (`times_activated` even though the devices are not in the pages).
//! - **Products** are found by the id an earlier import recorded, then by short code (by name when the page
//!   gives no short code), else created (the short code from the page, else made from the name, with a
//!   warning). **Features** likewise by `(product, code)`.
//! - **Customers** are found by the id an earlier import recorded, then by email (a customer licensd had already
//!   is used as it is), else created. **Orders** by recorded id, then by `order_store_id`, else created.
//! - Every record brought in is remembered in `licensespring_records` with a digest of what the file said, so a
//!   second run of the same file changes nothing, and a newer export updates a license or customer only if
//!   licensd has not changed it since the import wrote it (its `updated_at` is the one recorded then): an
//!   activation or an edit in licensd is never undone by an older LicenseSpring view.
//!
//! Licenses are applied in batches of [`BATCH`], one transaction a batch and a savepoint a license: a license the
//! database refuses (its key held by another license, an invalid value) is skipped whole, with the reason.

use licensd_core::keys::{is_weak, validate_key};
use licensd_core::model::{
    AuthorizationMethod, ConsumptionPeriod, CustomerInput, FeatureInput, FeatureType, LabelInput,
    LicenseCustomFieldInput, LicenseTerms, LicenseType, ProductInput, Role, normalize_email,
};
use licensd_core::status::{StatusFacts, license_status};
use licensd_core::time::{CalendarDuration, now_ms, parse_datetime};
use serde_json::{Value, json};

use super::IMPORT_ACTOR;
use super::export::{ExportLicense, Format, LsCustomer, LsFeatureRef, LsLicense, LsLicenseFeature};
use crate::db::{Db, Dialect, Tx, query};
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::scope::Scope;

/// Licenses per transaction.
pub const BATCH: usize = 100;

/// The largest consumption limit licensd takes: what "unlimited" becomes.
const UNLIMITED_CONSUMPTIONS: i64 = i64::MAX / 4;

/// Why a license was not imported.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    /// The license is skipped, for this reason.
    #[error("{0}")]
    Record(String),
    /// The database failed: the import stops.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field, message } => ImportError::Record(format!("{field}: {message}")),
            StoreError::Invalid { field, message } => ImportError::Record(format!("{field}: {message}")),
            StoreError::Domain(licensd_core::Error::Invalid { field, message }) => {
                ImportError::Record(format!("{field}: {message}"))
            }
            StoreError::State(m) | StoreError::InUse(m) => ImportError::Record(m),
            e => ImportError::Store(e),
        }
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError::Record(message.into()))
}

/// What became of a record the import met before or brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New in licensd.
    Created,
    /// Imported before; the file says something else now, and licensd had not changed it since: brought up to date.
    Updated,
    /// Imported before with what the file says: nothing written.
    Unchanged,
    /// Imported before, the file says something else, but licensd changed it since: left as licensd has it.
    Kept,
    /// A customer licensd had already (same email): used as it is.
    Matched,
}

/// What one license of the file changed.
#[derive(Debug, Clone)]
pub struct Applied {
    pub license: Outcome,
    pub license_id: i64,
    pub customer: Option<Outcome>,
    pub order_created: bool,
    pub products_created: u64,
    pub features_created: u64,
    /// Facts licensd could not keep as given.
    pub warnings: Vec<String>,
    /// The key is under [`licensd_core::keys::WEAK_KEY_BITS`] bits: guessable.
    pub weak_key: bool,
}

impl Applied {
    fn new(id: i64) -> Self {
        Applied {
            license: Outcome::Unchanged,
            license_id: id,
            customer: None,
            order_created: false,
            products_created: 0,
            features_created: 0,
            warnings: Vec::new(),
            weak_key: false,
        }
    }
}

/// Moves the licenses' identity sequence (PostgreSQL) past `max`, never backwards, so licenses licensd numbers
/// itself follow the imported ones, as SQLite numbers them anyway; the table is locked against inserts meanwhile.
pub async fn advance_license_ids(db: &Db, max: i64) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres || max <= 0 {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    tx.execute(query("LOCK TABLE licenses IN EXCLUSIVE MODE")).await?;
    let seq: Option<String> =
        tx.fetch_one(query("SELECT pg_get_serial_sequence('licenses', 'id') AS s")).await?.get("s")?;
    if let Some(seq) = seq {
        let row = tx
            .fetch_one(query(format!(
                "SELECT s.last_value, s.is_called, (SELECT COALESCE(MAX(id), 0) FROM licenses) AS max_id FROM {seq} s"
            )))
            .await?;
        let last: i64 = row.get("last_value")?;
        let next = if row.get::<bool>("is_called")? { last + 1 } else { last };
        let want = next.max(row.get::<i64>("max_id")? + 1).max(max.saturating_add(1));
        if want > next {
            tx.execute(query("SELECT setval(CAST(? AS regclass), ?, false)").bind(seq.as_str()).bind(want)).await?;
        }
    }
    tx.commit().await
}

/// What an earlier import recorded of a LicenseSpring record.
struct Mark {
    local_id: i64,
    digest: String,
    local_updated_at: Option<i64>,
}

async fn mark_of(tx: &mut Tx, kind: &str, ls_id: i64) -> Result<Option<Mark>, StoreError> {
    let row = tx
        .fetch_optional(
            query("SELECT local_id, digest, local_updated_at FROM licensespring_records WHERE kind = ? AND ls_id = ?")
                .bind(kind)
                .bind(ls_id),
        )
        .await?;
    row.map(|r| {
        Ok(Mark {
            local_id: r.get("local_id")?,
            digest: r.get("digest")?,
            local_updated_at: r.get("local_updated_at")?,
        })
    })
    .transpose()
}

async fn remember(
    tx: &mut Tx,
    kind: &str,
    ls_id: i64,
    local_id: i64,
    digest: &str,
    local_updated_at: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        query(
            "INSERT INTO licensespring_records (kind, ls_id, local_id, digest, local_updated_at, imported_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, ls_id) DO UPDATE SET local_id = excluded.local_id, \
             digest = excluded.digest, local_updated_at = excluded.local_updated_at, imported_at = excluded.imported_at",
        )
        .bind(kind)
        .bind(ls_id)
        .bind(local_id)
        .bind(digest)
        .bind(local_updated_at)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// The SHA-256 of a value's JSON (object keys in one order: the same value, the same digest).
fn digest(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    licensd_core::token::sha256_hex(sorted(v).to_string().as_bytes())
}

/// A timestamp or date of the file, or `None`; one that is neither refuses the license.
fn time_of(field: &str, v: &Option<String>) -> Result<Option<i64>, ImportError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => match parse_datetime(s) {
            Some(t) => Ok(Some(t)),
            None => refuse(format!("{field}: {s:?} is not a date or an RFC 3339 timestamp")),
        },
    }
}

/// `v` when within `min..=max`; the license is refused otherwise.
fn within(field: &str, v: i64, min: i64, max: i64) -> Result<i64, ImportError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        refuse(format!("{field}: {v} is outside what licensd takes ({min} to {max})"))
    }
}

fn text(v: &Option<String>) -> String {
    v.as_deref().unwrap_or_default().to_string()
}

/// LicenseSpring's consumption periods (its docs spell the last one `annualy` too).
fn period(v: &Option<String>, field: &str, warnings: &mut Vec<String>) -> Option<ConsumptionPeriod> {
    let s = v.as_deref()?.trim().to_ascii_lowercase();
    match s.as_str() {
        "" => None,
        "annualy" | "yearly" => Some(ConsumptionPeriod::Annually),
        s => ConsumptionPeriod::parse(s).or_else(|| {
            warnings
                .push(format!("{field} {s:?} is not one licensd knows (daily, weekly, monthly, annually): left out"));
            None
        }),
    }
}

fn duration(v: &Option<String>, field: &str, warnings: &mut Vec<String>) -> Option<CalendarDuration> {
    let s = v.as_deref()?.trim();
    if s.is_empty() {
        return None;
    }
    CalendarDuration::parse(s).or_else(|| {
        warnings.push(format!("{field} {s:?} is not a duration licensd reads ({}): left out", CalendarDuration::FORMS));
        None
    })
}

/// LicenseSpring's `disabled_user`, as text: an email or id, or an object's email or id.
fn who(v: &Option<Value>) -> Option<String> {
    match v.as_ref()? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(format!("licensespring user {n}")),
        Value::Object(o) => ["email", "true_email", "username", "id"].iter().find_map(|k| match o.get(*k)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(format!("licensespring user {n}")),
            _ => None,
        }),
        _ => None,
    }
}

/// A custom field entry of a license: its name, its value and the product's default, whichever shape it has.
fn custom_field(v: &Value) -> Option<(String, Option<String>, Option<String>)> {
    let as_text = |v: Option<&Value>| match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let inner = v.get("product_custom_field").filter(|p| p.is_object());
    let name = as_text(v.get("name")).or_else(|| as_text(inner?.get("name")))?;
    let value = as_text(v.get("value"));
    let default = as_text(v.get("default_value")).or_else(|| as_text(inner.and_then(|p| p.get("default_value"))));
    Some((name, value, default))
}

/// A short code made from a product's name: lower-case ASCII letters and digits joined by `-`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.truncate(56);
    out.trim_end_matches('-').to_string()
}

/// The license terms, counters and dates of a LicenseSpring license, as licensd stores them.
struct Planned {
    terms: LicenseTerms,
    key: Option<String>,
    times_activated: i64,
    transfer_count: i64,
    total_consumptions: i64,
    time_activated: Option<i64>,
    time_disabled: Option<i64>,
    disabled_by: Option<String>,
    created_at: i64,
    changed_at: i64,
    last_check: Option<i64>,
}

fn plan(l: &LsLicense, now: i64, w: &mut Vec<String>) -> Result<Planned, ImportError> {
    let mut t = LicenseTerms::from_template(None, now);
    let status = l.status.as_deref().map(str::to_ascii_lowercase);
    t.enabled = l.enabled.unwrap_or(status.as_deref() != Some("disabled"));
    t.license_type = match l.license_type.as_deref().map(str::trim) {
        None | Some("") => LicenseType::Perpetual,
        Some(s) => LicenseType::parse(s).map_or_else(
            || refuse(format!("license_type {s:?} is not one of perpetual, time-limited, subscription, consumption")),
            Ok,
        )?,
    };
    t.max_activations = if l.allow_unlimited_activations == Some(true) {
        None
    } else {
        Some(within("max_activations", l.max_activations.unwrap_or(1), 0, 1_000_000_000)?)
    };
    let time_activated = time_of("time_activated", &l.time_activated)?;
    t.valid_duration = duration(&l.valid_duration, "valid_duration", w);
    t.expires_at = time_of("validity_period", &l.validity_period)?;
    if t.expires_at.is_none()
        && let (Some(d), Some(at)) = (t.valid_duration, time_activated)
    {
        t.expires_at = Some(d.after(at));
    }
    if l.enable_maintenance_period != Some(false) {
        t.maintenance_duration = duration(&l.maintenance_duration, "maintenance_duration", w);
        t.maintenance_until = time_of("maintenance_period", &l.maintenance_period)?;
        if t.maintenance_until.is_none()
            && let (Some(d), Some(at)) = (t.maintenance_duration, time_activated)
        {
            t.maintenance_until = Some(d.after(at));
        }
    }
    t.is_trial = l.is_trial.unwrap_or(false);
    t.trial_days = within("trial_days", l.trial_days.unwrap_or(0), 0, 36_530)?;
    t.is_floating_cloud = l.is_floating_cloud.unwrap_or(false);
    t.floating_users = within("floating_users", l.floating_users.unwrap_or(0), 0, 1_000_000)?;
    if t.is_floating_cloud && t.floating_users < 1 {
        w.push("a floating license with no floating_users: imported with 1 seat".into());
        t.floating_users = 1;
    }
    if l.is_floating == Some(true) {
        w.push(
            "is_floating (LicenseSpring's on-premises floating server) is not kept: licensd has no such server; \
             its floating licenses are is_floating_cloud"
                .into(),
        );
    }
    if let Some(m) = l.floating_timeout {
        t.floating_timeout = within("floating_timeout", m, 1, 60 * 24 * 365)?;
    }
    let mut transfer_count = l.transfer_count.unwrap_or(0).max(0);
    t.max_transfers = match l.max_transfers.unwrap_or(0) {
        n if n < 0 => {
            // LicenseSpring's "no transfers"; licensd's lowest limit is one transfer, used up.
            transfer_count = transfer_count.max(1);
            w.push(format!(
                "max_transfers {n} (no transfers) is kept as max_transfers 1 with transfer_count {transfer_count}: \
                 deactivating refuses as LicenseSpring did"
            ));
            1
        }
        n => within("max_transfers", n, 0, 1_000_000)?,
    };
    t.prevent_vm = l.prevent_vm.unwrap_or(false);
    t.can_borrow = l.can_borrow.unwrap_or(false);
    t.max_borrow_time = within("max_borrow_time", l.max_borrow_time.unwrap_or(0), 0, 24 * 365)?;
    t.max_consumptions = if l.allow_unlimited_consumptions == Some(true) {
        w.push(format!("unlimited consumptions are kept as max_consumptions {UNLIMITED_CONSUMPTIONS}"));
        UNLIMITED_CONSUMPTIONS
    } else {
        within("max_consumptions", l.max_consumptions.unwrap_or(0), 0, UNLIMITED_CONSUMPTIONS)?
    };
    t.allow_overages = l.allow_overages.unwrap_or(false);
    t.max_overages = within("max_overages", l.max_overages.unwrap_or(0), 0, UNLIMITED_CONSUMPTIONS)?;
    if t.allow_overages && t.max_overages == 0 {
        // LicenseSpring: overages allowed with max_overages 0 is unlimited overages; licensd's 0 is none.
        w.push(format!("unlimited overages (max_overages 0) are kept as max_overages {UNLIMITED_CONSUMPTIONS}"));
        t.max_overages = UNLIMITED_CONSUMPTIONS;
    }
    t.consumption_period = period(&l.consumption_period, "consumption_period", w);
    t.reset_consumption = l.reset_consumption.unwrap_or(false);
    if t.reset_consumption && t.consumption_period.is_none() {
        w.push("reset_consumption without a consumption_period is not kept (nothing would say when)".into());
        t.reset_consumption = false;
    }
    t.max_license_users = within("max_license_users", l.max_license_users.unwrap_or(0), 0, 1_000_000)?;
    t.is_air_gapped = l.is_air_gapped.unwrap_or(false);
    t.is_hardware_key_auth = l.is_hardware_key_auth.unwrap_or(false);
    t.subscription_id = l.subscription_id.clone().filter(|s| !s.is_empty());
    t.note = l.note.clone();
    if let Some(n) = &t.note
        && n.chars().count() > 10_000
    {
        return refuse("note: longer than the 10000 characters licensd keeps");
    }
    t.metadata = match &l.metadata {
        None | Some(Value::Null) => json!({}),
        Some(m @ Value::Object(_)) => m.clone(),
        Some(other) => {
            w.push(format!("metadata is not a JSON object ({other}): kept as {{\"licensespring_metadata\": …}}"));
            json!({ "licensespring_metadata": other })
        }
    };
    let key = l.license_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(str::to_string);
    if let Some(k) = &key {
        validate_key(k).map_err(|e| ImportError::Record(e.to_string()))?;
    }
    let times_activated = l.times_activated.unwrap_or(0).max(0);
    let created_at = time_of("created_at", &l.created_at)?.unwrap_or(now);
    let time_disabled = if t.enabled { None } else { Some(time_of("time_disabled", &l.time_disabled)?.unwrap_or(now)) };
    let disabled_by = if t.enabled { None } else { who(&l.disabled_user) };
    let total_consumptions = l.total_consumptions.unwrap_or(0).max(0);
    // The status LicenseSpring showed against the one licensd derives from the same facts.
    if let Some(s) = &status {
        let facts = StatusFacts { enabled: t.enabled, refunded: false, expires_at: t.expires_at, times_activated };
        let derived = license_status(facts, now);
        if derived.as_str() != s {
            w.push(format!(
                "status {s:?} at LicenseSpring; licensd derives {:?} from its enabled flag, validity and activations",
                derived.as_str()
            ));
        }
    }
    Ok(Planned {
        terms: t,
        key,
        times_activated,
        transfer_count,
        total_consumptions,
        time_activated,
        time_disabled,
        disabled_by,
        created_at,
        changed_at: time_of("updated_at", &l.updated_at)?.unwrap_or(now),
        last_check: time_of("last_check", &l.last_check)?,
    })
}

/// A LicenseSpring customer as licensd's customer input (what is compared between imports).
fn customer_input(c: &LsCustomer, w: &mut Vec<String>) -> CustomerInput {
    let email =
        c.email.as_deref().map(str::trim).filter(|e| !e.is_empty()).and_then(|e| match normalize_email("email", e) {
            Ok(e) => e,
            Err(_) => {
                w.push(format!("customer #{}: {e:?} is not an email address; the customer is kept without one", c.id));
                None
            }
        });
    CustomerInput {
        email,
        first_name: text(&c.first_name),
        last_name: text(&c.last_name),
        company_name: text(&c.company_name),
        phone: text(&c.phone),
        reference: text(&c.reference),
        address: text(&c.address),
        postcode: text(&c.postcode),
        city: text(&c.city),
        country: text(&c.country),
        state: text(&c.state),
        note: String::new(),
        labels: c
            .labels
            .iter()
            .map(|l| LabelInput::Full { label: l.label.clone(), color: l.color.clone().filter(|c| !c.is_empty()) })
            .collect(),
        customer_account: None,
        metadata: match &c.metadata {
            Some(m @ Value::Object(_)) => m.clone(),
            _ => json!({}),
        },
    }
}

/// Imports licenses batch by batch.
pub struct Importer {
    scope: Scope,
    now: i64,
    format: Format,
}

impl Importer {
    /// An importer for a file read as `format` (for the positions in messages).
    pub fn new(format: Format) -> Self {
        Importer {
            scope: Scope { actor: IMPORT_ACTOR.into(), token_id: None, products: None, role: Role::Admin },
            now: now_ms(),
            format,
        }
    }

    /// Applies licenses in one transaction, each in a savepoint: its outcome, or why it was skipped (prefixed
    /// with its position in the file). A database failure rolls the batch back and is returned.
    pub async fn apply_batch(
        &mut self,
        db: &Db,
        batch: &[&ExportLicense],
    ) -> Result<Vec<Result<Applied, String>>, StoreError> {
        let mut tx = db.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for x in batch {
            tx.execute(query("SAVEPOINT licensespring_license")).await?;
            let mut a = Applied::new(x.license.id);
            match self.apply(&mut tx, x, &mut a).await {
                Ok(()) => {
                    tx.execute(query("RELEASE SAVEPOINT licensespring_license")).await?;
                    out.push(Ok(a));
                }
                Err(ImportError::Record(m)) => {
                    tx.execute(query("ROLLBACK TO SAVEPOINT licensespring_license")).await?;
                    tx.execute(query("RELEASE SAVEPOINT licensespring_license")).await?;
                    out.push(Err(format!("{}: license #{}: {m}", x.position(self.format), x.license.id)));
                }
                Err(ImportError::Store(e)) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn apply(&self, tx: &mut Tx, x: &ExportLicense, a: &mut Applied) -> Result<(), ImportError> {
        let l = &x.license;
        // What the license's values lose on the way in is told when they are written (created or updated), not
        // on every run that leaves the license as it is.
        let mut lost = Vec::new();
        let mut w = Vec::new();
        let planned = plan(l, self.now, &mut lost)?;
        a.weak_key = planned.key.as_deref().is_some_and(is_weak);
        let product = self.product(tx, l, a, &mut w).await?;
        let customer = match &l.customer {
            Some(c) => Some(self.customer(tx, c, a, &mut w).await?),
            None => None,
        };
        let order = self.order(tx, l, customer, planned.created_at, a).await?;
        self.license(tx, x, &planned, product, customer, order, a, &mut w).await?;
        if matches!(a.license, Outcome::Created | Outcome::Updated) {
            lost.append(&mut w);
            w = lost;
        }
        a.warnings = w.into_iter().map(|m| format!("{}: license #{}: {m}", x.position(self.format), l.id)).collect();
        Ok(())
    }

    /// The licensd product of the license's LicenseSpring product, created when missing.
    async fn product(
        &self,
        tx: &mut Tx,
        l: &LsLicense,
        a: &mut Applied,
        w: &mut Vec<String>,
    ) -> Result<i64, ImportError> {
        let p = &l.product;
        if let Some(m) = mark_of(tx, "product", p.id).await?
            && tx.fetch_optional(query("SELECT id FROM products WHERE id = ?").bind(m.local_id)).await?.is_some()
        {
            return Ok(m.local_id);
        }
        let given = [&p.short_code, &p.product_short_code, &l.product_short_code]
            .into_iter()
            .find_map(|c| c.as_deref().map(str::trim).filter(|c| !c.is_empty()))
            .map(str::to_string);
        if let Some(code) = &given
            && let Some(r) =
                tx.fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code.as_str())).await?
        {
            let id: i64 = r.get("id")?;
            remember(tx, "product", p.id, id, "", None, self.now).await?;
            return Ok(id);
        }
        let name = p
            .product_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or(given.clone())
            .unwrap_or_else(|| format!("LicenseSpring product {}", p.id));
        if given.is_none() {
            // No short code in the page (seed 002's shows none): a product made beforehand under the same name,
            // with the code the applications send, is the one.
            let same =
                tx.fetch_all(query("SELECT id FROM products WHERE product_name = ?").bind(name.as_str())).await?;
            if let [r] = same.as_slice() {
                let id: i64 = r.get("id")?;
                remember(tx, "product", p.id, id, "", None, self.now).await?;
                return Ok(id);
            }
        }
        let short_code = match &given {
            Some(code) => code.clone(),
            None => {
                let base =
                    Some(slug(&name)).filter(|s| !s.is_empty()).unwrap_or_else(|| format!("ls-product-{}", p.id));
                let mut code = base.clone();
                for n in 2.. {
                    if tx
                        .fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code.as_str()))
                        .await?
                        .is_none()
                    {
                        break;
                    }
                    code = format!("{base}-{n}");
                }
                w.push(format!(
                    "product #{} ({name:?}) came without a short code: created as {code:?}; if your applications send \
                     another product code, change it (PATCH /api/v1/products/{{id}}/ with short_code)",
                    p.id
                ));
                code
            }
        };
        let authorization_method = match p.authorization_method.as_deref() {
            Some("user") => AuthorizationMethod::User,
            Some(_) => AuthorizationMethod::LicenseKey,
            None if l.license_key.is_none() && !l.license_users.is_empty() => AuthorizationMethod::User,
            None => AuthorizationMethod::LicenseKey,
        };
        let input = ProductInput {
            product_name: name.chars().take(200).collect(),
            short_code,
            bundle_id: String::new(),
            use_offline_license: false,
            authorization_method,
            is_bundle: false,
            custom_fields: None,
            metadata: json!({ "licensespring_product_id": p.id }),
        };
        let created = crate::products::create_in(tx, &self.scope, &input).await.map_err(|e| prefixed("product.", e))?;
        remember(tx, "product", p.id, created.id, "", None, self.now).await?;
        a.products_created += 1;
        Ok(created.id)
    }

    /// The licensd feature of a license's LicenseSpring product feature, created when missing.
    async fn feature(
        &self,
        tx: &mut Tx,
        product: i64,
        f: &LsFeatureRef,
        a: &mut Applied,
        w: &mut Vec<String>,
    ) -> Result<(i64, Option<(i64, bool, i64)>), ImportError> {
        let (ls_id, full) = match f {
            LsFeatureRef::Id(id) => (*id, None),
            LsFeatureRef::Full(pf) => (pf.id, Some(pf)),
        };
        let defaults = |pf: &super::export::LsProductFeature| {
            (pf.max_consumption.unwrap_or(0), pf.allow_overages.unwrap_or(false), pf.max_overages.unwrap_or(0))
        };
        if let Some(m) = mark_of(tx, "feature", ls_id).await?
            && tx
                .fetch_optional(
                    query("SELECT id FROM product_features WHERE id = ? AND product_id = ?")
                        .bind(m.local_id)
                        .bind(product),
                )
                .await?
                .is_some()
        {
            return Ok((m.local_id, full.map(defaults)));
        }
        let Some(pf) = full else {
            return refuse(format!(
                "product feature #{ls_id} is given by id only, and no earlier import brought it in: export the licenses \
                 with their product_feature objects"
            ));
        };
        let existing = tx
            .fetch_optional(
                query("SELECT id FROM product_features WHERE product_id = ? AND code = ?")
                    .bind(product)
                    .bind(pf.code.as_str()),
            )
            .await?;
        let id = match existing {
            Some(r) => r.get("id")?,
            None => {
                let feature_type = match pf.feature_type.as_deref() {
                    Some("consumption") => FeatureType::Consumption,
                    None | Some("activation") => FeatureType::Activation,
                    Some(other) => {
                        w.push(format!("feature {:?}: feature_type {other:?} is imported as activation", pf.code));
                        FeatureType::Activation
                    }
                };
                let input = FeatureInput {
                    product,
                    code: pf.code.clone(),
                    name: pf.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| pf.code.clone()),
                    feature_type,
                    max_consumption: pf.max_consumption.unwrap_or(0).max(0),
                    allow_overages: pf.allow_overages.unwrap_or(false),
                    max_overages: pf.max_overages.unwrap_or(0).max(0),
                    reset_consumption: pf.reset_consumption.unwrap_or(false),
                    consumption_period: period(
                        &pf.consumption_period,
                        &format!("feature {:?}: consumption_period", pf.code),
                        w,
                    ),
                    is_floating_cloud: pf.is_floating_cloud.unwrap_or(false),
                    floating_users: pf.floating_users.unwrap_or(0).max(i64::from(pf.is_floating_cloud == Some(true))),
                    floating_timeout: pf
                        .floating_timeout
                        .unwrap_or_else(licensd_core::model::default_feature_floating_timeout),
                    metadata: match &pf.metadata {
                        Some(m @ Value::Object(_)) => m.clone(),
                        _ => json!({}),
                    },
                };
                let f = crate::products::create_feature_in(tx, &self.scope, &input)
                    .await
                    .map_err(|e| prefixed(&format!("feature {:?}: ", pf.code), e))?;
                a.features_created += 1;
                f.id
            }
        };
        remember(tx, "feature", ls_id, id, "", None, self.now).await?;
        Ok((id, Some(defaults(pf))))
    }

    /// The licensd customer of a LicenseSpring customer: recorded, matched by email, or created.
    async fn customer(
        &self,
        tx: &mut Tx,
        c: &LsCustomer,
        a: &mut Applied,
        w: &mut Vec<String>,
    ) -> Result<i64, ImportError> {
        let mut input = customer_input(c, w);
        input.validate().map_err(|e| prefixed("customer.", StoreError::from(e)))?;
        let d = digest(&serde_json::to_value(&input).unwrap_or(Value::Null));
        if let Some(m) = mark_of(tx, "customer", c.id).await?
            && let Some(r) =
                tx.fetch_optional(query("SELECT updated_at FROM customers WHERE id = ?").bind(m.local_id)).await?
        {
            let updated_at: i64 = r.get("updated_at")?;
            let outcome = if m.digest == d {
                Outcome::Unchanged
            } else if m.local_updated_at == Some(updated_at) {
                let before = crate::customers::get(tx, &self.scope, m.local_id).await?;
                let after = crate::customers::update_in(tx, &self.scope, &before, &input)
                    .await
                    .map_err(|e| prefixed("customer.", e))?;
                remember(tx, "customer", c.id, m.local_id, &d, Some(after.updated_at.0), self.now).await?;
                Outcome::Updated
            } else {
                if m.local_updated_at.is_some() {
                    w.push(format!(
                        "customer #{}: changed in licensd since it was imported; left as licensd has it",
                        m.local_id
                    ));
                }
                Outcome::Kept
            };
            a.customer = Some(outcome);
            return Ok(m.local_id);
        }
        if let Some(email) = &input.email
            && let Some(r) = tx
                .fetch_optional(query("SELECT id FROM customers WHERE email_norm = ?").bind(email.to_lowercase()))
                .await?
        {
            // licensd's own customer: used as it is, and never updated by a later import.
            let id: i64 = r.get("id")?;
            remember(tx, "customer", c.id, id, &d, None, self.now).await?;
            a.customer = Some(Outcome::Matched);
            return Ok(id);
        }
        let created =
            crate::customers::create_in(tx, &self.scope, &input).await.map_err(|e| prefixed("customer.", e))?;
        remember(tx, "customer", c.id, created.id, &d, Some(created.updated_at.0), self.now).await?;
        a.customer = Some(Outcome::Created);
        Ok(created.id)
    }

    /// The licensd order of the license's LicenseSpring order (`order`, `order_store_id`), created when missing.
    async fn order(
        &self,
        tx: &mut Tx,
        l: &LsLicense,
        customer: Option<i64>,
        created_at: i64,
        a: &mut Applied,
    ) -> Result<Option<i64>, ImportError> {
        let store_id = l.order_store_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if l.order.is_none() && store_id.is_none() {
            return Ok(None);
        }
        if let Some(ls) = l.order
            && let Some(m) = mark_of(tx, "order", ls).await?
            && tx.fetch_optional(query("SELECT id FROM orders WHERE id = ?").bind(m.local_id)).await?.is_some()
        {
            return Ok(Some(m.local_id));
        }
        if let Some(s) = store_id {
            if s.chars().count() > 255 || s.chars().any(char::is_control) {
                return refuse("order_store_id: longer than 255 characters, or holds control characters");
            }
            if let Some(r) = tx.fetch_optional(query("SELECT id FROM orders WHERE store_id = ?").bind(s)).await? {
                let id: i64 = r.get("id")?;
                if let Some(ls) = l.order {
                    remember(tx, "order", ls, id, "", None, self.now).await?;
                }
                return Ok(Some(id));
            }
        }
        let id = tx
            .insert(
                query(
                    "INSERT INTO orders (store_id, customer_id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(store_id)
                .bind(customer)
                .bind(json!({ "licensespring_order_id": l.order }).to_string())
                .bind(created_at)
                .bind(self.now),
            )
            .await?;
        let o = crate::orders::get(tx, &self.scope, id).await?;
        events::record(tx, &self.scope, NewEvent::created("order", id, None, &o).at(self.now)).await?;
        if let Some(ls) = l.order {
            remember(tx, "order", ls, id, "", None, self.now).await?;
        }
        a.order_created = true;
        Ok(Some(id))
    }

    #[allow(clippy::too_many_arguments)]
    async fn license(
        &self,
        tx: &mut Tx,
        x: &ExportLicense,
        p: &Planned,
        product: i64,
        customer: Option<i64>,
        order: Option<i64>,
        a: &mut Applied,
        w: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let l = &x.license;
        // What the file says of the license itself: its customer by LicenseSpring's id (the customer has its own).
        let mut own = x.raw.clone();
        if let Some(o) = own.as_object_mut() {
            o.remove("customer");
            o.insert("customer_id".into(), json!(l.customer.as_ref().map(|c| c.id)));
        }
        let d = digest(&own);
        if let Some(m) = mark_of(tx, "license", l.id).await?
            && let Some(r) = tx
                .fetch_optional(query("SELECT product_id, updated_at FROM licenses WHERE id = ?").bind(m.local_id))
                .await?
        {
            a.license_id = m.local_id;
            let updated_at: i64 = r.get("updated_at")?;
            if m.digest == d {
                a.license = Outcome::Unchanged;
            } else if m.local_updated_at == Some(updated_at) {
                if r.get::<i64>("product_id")? != product {
                    w.push(
                        "LicenseSpring shows it under another product now; it stays on its product in licensd".into(),
                    );
                }
                let before = crate::licenses::load(tx, &[m.local_id]).await?.pop().ok_or(StoreError::NotFound)?;
                self.write_license(tx, l, p, m.local_id, None, customer, order, a, w).await?;
                let after = crate::licenses::load(tx, &[m.local_id]).await?.pop().ok_or(StoreError::NotFound)?;
                let mut e = NewEvent::updated("license", m.local_id, Some(m.local_id), &before, &after);
                e.note = "updated from LicenseSpring";
                events::record(tx, &self.scope, e.at(self.now)).await?;
                remember(tx, "license", l.id, m.local_id, &d, Some(self.now), self.now).await?;
                a.license = Outcome::Updated;
            } else {
                w.push(
                    "changed in licensd since it was imported (activations, consumption or an edit); left as licensd \
                     has it"
                        .into(),
                );
                a.license = Outcome::Kept;
            }
            return Ok(());
        }
        if let Some(k) = &p.key
            && let Some(r) =
                tx.fetch_optional(query("SELECT id FROM licenses WHERE license_key = ?").bind(k.as_str())).await?
        {
            return refuse(format!(
                "its key belongs to license #{} already, which no import brought from this LicenseSpring license",
                r.get::<i64>("id")?
            ));
        }
        if tx.fetch_optional(query("SELECT id FROM licenses WHERE id = ?").bind(l.id)).await?.is_some() {
            return refuse(format!(
                "license #{} is another license in licensd; LicenseSpring's SDKs send this id back (license_id), so \
                 the import keeps it and cannot take another",
                l.id
            ));
        }
        self.write_license(tx, l, p, l.id, Some(product), customer, order, a, w).await?;
        let after = crate::licenses::load(tx, &[l.id]).await?.pop().ok_or(StoreError::NotFound)?;
        let mut e = NewEvent::created("license", l.id, Some(l.id), &after);
        e.action = "license.imported".into();
        e.note = "imported from LicenseSpring";
        events::record(tx, &self.scope, e.at(self.now)).await?;
        remember(tx, "license", l.id, l.id, &d, Some(self.now), self.now).await?;
        a.license = Outcome::Created;
        Ok(())
    }

    /// Inserts (`product` given) or updates the license row with its features, users, custom fields and last check.
    #[allow(clippy::too_many_arguments)]
    async fn write_license(
        &self,
        tx: &mut Tx,
        l: &LsLicense,
        p: &Planned,
        id: i64,
        product: Option<i64>,
        customer: Option<i64>,
        order: Option<i64>,
        a: &mut Applied,
        w: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let new = product.is_some();
        const EXTRA: &[&str] = &[
            "license_key",
            "customer_id",
            "order_id",
            "order_item",
            "times_activated",
            "transfer_count",
            "total_consumptions",
            "consumptions_counted_at",
            "time_activated",
            "time_disabled",
            "disabled_by",
            "updated_at",
            "terms_changed_at",
        ];
        let bind_extra = |q: crate::db::Query| {
            q.bind(p.key.clone())
                .bind(customer)
                .bind(order)
                .bind(l.order_item)
                .bind(p.times_activated)
                .bind(p.transfer_count)
                .bind(p.total_consumptions)
                .bind(self.now)
                .bind(p.time_activated)
                .bind(p.time_disabled)
                .bind(p.disabled_by.clone())
                .bind(self.now)
                .bind(p.changed_at)
        };
        let product_id = match product {
            Some(product) => {
                let cols = format!(
                    "{}, {}, id, product_id, refunded, created_at",
                    crate::terms::select_list(""),
                    EXTRA.join(", ")
                );
                let n = crate::terms::COLUMNS.len() + EXTRA.len() + 4;
                let sql = format!("INSERT INTO licenses ({cols}) VALUES ({})", vec!["?"; n].join(", "));
                let q = bind_extra(crate::terms::bind(query(sql), &p.terms))
                    .bind(id)
                    .bind(product)
                    .bind(false)
                    .bind(p.created_at);
                tx.execute(q).await?;
                product
            }
            None => {
                let sql = format!(
                    "UPDATE licenses SET {}, {} WHERE id = ?",
                    crate::terms::assignments(),
                    crate::terms::assignments_of(EXTRA)
                );
                tx.execute(bind_extra(crate::terms::bind(query(sql), &p.terms)).bind(id)).await?;
                tx.fetch_one(query("SELECT product_id FROM licenses WHERE id = ?").bind(id)).await?.get("product_id")?
            }
        };
        if let Some(at) = p.last_check {
            tx.execute(
                query(format!(
                    "INSERT INTO license_checks (license_id, last_check) VALUES (?, ?) ON CONFLICT (license_id) \
                     DO UPDATE SET last_check = {}(license_checks.last_check, excluded.last_check)",
                    tx.dialect().greatest()
                ))
                .bind(id)
                .bind(at),
            )
            .await?;
        }
        // Features: the file's, replacing what an earlier import wrote.
        if !new {
            tx.execute(query("DELETE FROM license_features WHERE license_id = ?").bind(id)).await?;
        }
        let mut done: Vec<i64> = Vec::new();
        for lf in &l.product_features {
            self.license_feature(tx, id, product_id, lf, &mut done, a, w).await?;
        }
        // Users: the file's, replacing the links an earlier import wrote.
        if !new {
            tx.execute(query("DELETE FROM license_license_users WHERE license_id = ?").bind(id)).await?;
        }
        for u in &l.license_users {
            let raw = u.true_email.as_deref().or(u.email.as_deref()).unwrap_or_default();
            // LicenseSpring's `email` may carry a `|suffix`; `true_email` is the address.
            let raw = raw.split('|').next().unwrap_or_default();
            let Ok(Some(email)) = normalize_email("email", raw) else {
                w.push(format!("license user {raw:?} has no email address licensd reads: not assigned"));
                continue;
            };
            let norm = email.to_lowercase();
            let existing = tx
                .fetch_optional(query("SELECT id FROM license_users WHERE email_norm = ?").bind(norm.as_str()))
                .await?;
            let user: i64 = match existing {
                Some(r) => r.get("id")?,
                None => {
                    tx.insert(
                        query(
                            "INSERT INTO license_users (true_email, email_norm, first_name, last_name, phone_number, \
                             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        )
                        .bind(email.as_str())
                        .bind(norm.as_str())
                        .bind(text(&u.first_name).chars().take(255).collect::<String>())
                        .bind(text(&u.last_name).chars().take(255).collect::<String>())
                        .bind(text(&u.phone_number).chars().take(255).collect::<String>())
                        .bind(self.now)
                        .bind(self.now),
                    )
                    .await?
                }
            };
            tx.execute(
                query(
                    "INSERT INTO license_license_users (license_id, license_user_id, is_manager, user_group, created_at) \
                     SELECT ?, ?, ?, '', ? WHERE NOT EXISTS (SELECT 1 FROM license_license_users WHERE license_id = ? \
                     AND license_user_id = ?)",
                )
                .bind(id)
                .bind(user)
                .bind(u.is_manager.unwrap_or(false))
                .bind(self.now)
                .bind(id)
                .bind(user),
            )
            .await?;
        }
        // Custom fields: the product gets each field the license names; the license keeps its values.
        let mut values: Vec<LicenseCustomFieldInput> = Vec::new();
        for v in &l.product_custom_fields {
            let Some((name, value, default)) = custom_field(v) else {
                w.push(format!("a product custom field without a name is left out: {v}"));
                continue;
            };
            if name.trim().is_empty() || name.chars().count() > 100 || values.iter().any(|f| f.name == name) {
                w.push(format!("product custom field {name:?} is left out (empty, too long, or named twice)"));
                continue;
            }
            let exists = tx
                .fetch_optional(
                    query("SELECT id FROM product_custom_fields WHERE product_id = ? AND name = ?")
                        .bind(product_id)
                        .bind(name.as_str()),
                )
                .await?
                .is_some();
            if !exists {
                tx.execute(
                    query(
                        "INSERT INTO product_custom_fields (product_id, name, default_value, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(product_id)
                    .bind(name.as_str())
                    .bind(default.clone().unwrap_or_default().chars().take(10_000).collect::<String>())
                    .bind(self.now)
                    .bind(self.now),
                )
                .await?;
            }
            if let Some(value) = value {
                values.push(LicenseCustomFieldInput { name, value: value.chars().take(10_000).collect() });
            }
        }
        if !new || !values.is_empty() {
            crate::licenses::set_custom_fields(tx, id, product_id, &values).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn license_feature(
        &self,
        tx: &mut Tx,
        license: i64,
        product: i64,
        lf: &LsLicenseFeature,
        done: &mut Vec<i64>,
        a: &mut Applied,
        w: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let (feature, defaults) = self.feature(tx, product, &lf.product_feature, a, w).await?;
        if done.contains(&feature) {
            return Ok(());
        }
        done.push(feature);
        let (max_c, allow, max_o) = defaults.unwrap_or((0, false, 0));
        let expires = time_of("product_features.expiry_date", &lf.expiry_date)?;
        tx.execute(
            query(
                "INSERT INTO license_features (license_id, feature_id, max_consumption, total_consumptions, \
                 allow_overages, max_overages, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(license)
            .bind(feature)
            .bind(within(
                "product_features.max_consumption",
                lf.max_consumption.unwrap_or(max_c),
                0,
                UNLIMITED_CONSUMPTIONS,
            )?)
            .bind(lf.total_consumptions.unwrap_or(0).max(0))
            .bind(lf.allow_overages.unwrap_or(allow))
            .bind(within("product_features.max_overages", lf.max_overages.unwrap_or(max_o), 0, UNLIMITED_CONSUMPTIONS)?)
            .bind(expires),
        )
        .await?;
        Ok(())
    }
}

fn prefixed(prefix: &str, e: StoreError) -> ImportError {
    match ImportError::from(e) {
        ImportError::Record(m) => ImportError::Record(format!("{prefix}{m}")),
        e => e,
    }
}
