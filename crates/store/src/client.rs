//! The client API's decisions, each in one transaction that locks the license row: activation slots,
//! floating seats, transfers and consumption never go over their limits, whatever the concurrency and
//! however many instances share the database.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use licensd_core::client::{ClientDevice, ClientFeature, ClientLicense, Gate, Refusal, admit};
use licensd_core::decide;
use licensd_core::model::{LicenseInput, LicenseTerms, TemplateRef};
use licensd_core::status::{StatusFacts, license_status};
use licensd_core::time::{DAY_MS, format_date, now_ms};

use crate::db::{Db, Exec, Point, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::scope::Scope;

/// What an application says about itself with each request.
#[derive(Debug, Clone, Default)]
pub struct ClientReq {
    pub license_key: String,
    pub hardware_id: String,
    pub product: String,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub app_version: Option<String>,
}

/// A license with the device the request is about.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub license: ClientLicense,
    pub device: Option<ClientDevice>,
    /// `true` when a new activation (or seat, or trial) was created.
    pub created: bool,
    /// Internal ids, for the server's bookkeeping.
    pub license_id: i64,
    pub expires_at: Option<i64>,
    pub license_file_ttl_days: i64,
    /// When this request grants an offline license file: until when it verifies (UTC ms), as recorded on
    /// the device (`file_expires_at`).
    pub file_until: Option<i64>,
    /// When the store granted that file (UTC ms): its `issued_at`, so that `expires_at - issued_at` is the
    /// granted lifetime however long the answer takes to sign.
    pub file_issued: Option<i64>,
}

fn refuse<T>(r: Refusal) -> Result<T, StoreError> {
    Err(StoreError::Refused(r))
}

fn client_scope() -> Scope {
    Scope { actor: "client".into(), token_id: None, products: None, role: licensd_core::model::Role::Admin }
}

/// The license columns the client API reads: its terms (`store::terms`), its counters, its product.
static LICENSE_COLS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "l.id, l.license_key, l.refunded, l.times_activated, l.transfer_count, l.total_consumptions, l.time_activated, \
         p.short_code, (SELECT COUNT(*) FROM license_features lf WHERE lf.license_id = l.id) AS n_features, {}",
        crate::terms::select_list("l")
    )
});

const DEVICE_COLS: &str = concat!(
    "d.id, d.hardware_id, d.hostname, d.os, d.app_version, d.time_activated, ",
    device_last_check!(),
    " AS last_check, d.lease_expires_at, d.borrowed_until"
);

const DEVICE_LAST_CHECK: &str = device_last_check!();

/// The license row as the client logic needs it.
struct Lic {
    id: i64,
    license_key: String,
    refunded: bool,
    times_activated: i64,
    transfer_count: i64,
    total_consumptions: i64,
    product: String,
    /// How many feature entitlements the license has (their rows are read only when there are some).
    n_features: i64,
    terms: LicenseTerms,
}

impl Lic {
    fn from_row(r: &Row) -> Result<Lic, StoreError> {
        Ok(Lic {
            id: r.get("id")?,
            license_key: r.get::<Option<String>>("license_key")?.unwrap_or_default(),
            refunded: r.get("refunded")?,
            times_activated: r.get("times_activated")?,
            transfer_count: r.get("transfer_count")?,
            total_consumptions: r.get("total_consumptions")?,
            product: r.get("short_code")?,
            n_features: r.get("n_features")?,
            terms: crate::terms::read(r)?,
        })
    }

    fn admit(&self, product: &str, now: i64) -> Result<(), StoreError> {
        let gate = Gate {
            product: &self.product,
            requested_product: product,
            enabled: self.terms.enabled,
            refunded: self.refunded,
            expires_at: self.terms.expires_at,
        };
        admit(gate, now).map_err(StoreError::Refused)
    }

    fn lease_ms(&self) -> i64 {
        self.terms.floating_timeout * 60_000
    }
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn device_from_row(r: &Row) -> Result<ClientDevice, StoreError> {
    Ok(ClientDevice {
        id: r.get("id")?,
        hardware_id: r.get("hardware_id")?,
        hostname: r.get("hostname")?,
        os: r.get("os")?,
        app_version: r.get("app_version")?,
        time_activated: secs(r.get("time_activated")?),
        last_check: r.get::<Option<i64>>("last_check")?.map(secs),
        lease_expires_at: r.get::<Option<i64>>("lease_expires_at")?.map(secs),
        borrowed_until: r.get::<Option<i64>>("borrowed_until")?.map(secs),
    })
}

async fn features(e: &mut impl Exec, license_id: i64) -> Result<Vec<ClientFeature>, StoreError> {
    let rows = e
        .fetch_all(
            query(
                "SELECT f.code, f.name, f.feature_type, lf.max_consumption, lf.total_consumptions, lf.allow_overages, \
                 lf.max_overages, lf.expires_at FROM license_features lf JOIN product_features f ON f.id = lf.feature_id \
                 WHERE lf.license_id = ? ORDER BY f.code",
            )
            .bind(license_id),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ClientFeature {
                code: r.get("code")?,
                name: r.get("name")?,
                feature_type: r.get_enum("feature_type")?,
                max_consumption: r.get("max_consumption")?,
                total_consumptions: r.get("total_consumptions")?,
                allow_overages: r.get("allow_overages")?,
                max_overages: r.get("max_overages")?,
                expiry_date: r.get::<Option<i64>>("expires_at")?.map(format_date),
            })
        })
        .collect()
}

async fn outcome(
    e: &mut impl Exec,
    l: &Lic,
    device: Option<ClientDevice>,
    created: bool,
    now: i64,
) -> Result<Outcome, StoreError> {
    let facts = StatusFacts {
        enabled: l.terms.enabled,
        refunded: l.refunded,
        expires_at: l.terms.expires_at,
        times_activated: l.times_activated,
    };
    let license = ClientLicense {
        license_key: l.license_key.clone(),
        product: l.product.clone(),
        status: license_status(facts, now),
        enabled: l.terms.enabled,
        license_type: l.terms.license_type,
        is_trial: l.terms.is_trial,
        validity_period: l.terms.expires_at.map(format_date),
        expires_at: l.terms.expires_at.map(secs),
        maintenance_period: l.terms.maintenance_until.map(format_date),
        max_activations: l.terms.max_activations,
        times_activated: l.times_activated,
        is_floating_cloud: l.terms.is_floating_cloud,
        floating_users: l.terms.floating_users,
        floating_timeout: l.terms.floating_timeout,
        can_borrow: l.terms.can_borrow,
        max_borrow_time: l.terms.max_borrow_time,
        max_transfers: l.terms.max_transfers,
        transfer_count: l.transfer_count,
        max_consumptions: l.terms.max_consumptions,
        total_consumptions: l.total_consumptions,
        allow_overages: l.terms.allow_overages,
        max_overages: l.terms.max_overages,
        features: if l.n_features > 0 { features(e, l.id).await? } else { Vec::new() },
        metadata: l.terms.metadata.clone(),
    };
    Ok(Outcome {
        license,
        device,
        created,
        license_id: l.id,
        expires_at: l.terms.expires_at,
        license_file_ttl_days: l.terms.license_file_ttl_days,
        file_until: None,
        file_issued: None,
    })
}

/// An answer for a device that holds no activation of the license: its state, but none of what it grants
/// (metadata, features), so a guessed or leaked key reveals no more than whether it exists.
fn unentitled(mut o: Outcome) -> Outcome {
    o.license.metadata = serde_json::Value::Object(serde_json::Map::new());
    o.license.features.clear();
    o
}

/// The license a typed key names (`list::push_key_pass`): the key as typed, trimmed, in one probe of the unique
/// index; only when no license has it, a key that folds case and differs from it only in case (the lowest id, should
/// several: `ACME-…` and `acme-…` of two templates). `select` ends in `WHERE`; `FOR UPDATE OF l` on PostgreSQL
/// when `lock`.
async fn by_key(
    e: &mut impl Exec,
    select: &'static str,
    binds: &[&str],
    key: &str,
    lock: bool,
) -> Result<Option<Row>, StoreError> {
    for exact in [true, false] {
        let mut q = query(select);
        for b in binds {
            q = q.bind(*b);
        }
        q.push(" ");
        crate::list::push_key_pass(&mut q, e.dialect(), "l.license_key", key, exact);
        if !exact {
            q.push(" ORDER BY l.id LIMIT 1");
        }
        if lock {
            // Only the license row: locking the product too would serialise every activation of a product.
            q.push(&e.dialect().for_update_of("l"));
        }
        if let Some(r) = e.fetch_optional(q).await? {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Reads and locks the license with this key, with this hardware id's active device, in one statement.
async fn lock_with_device(tx: &mut Tx, key: &str, hw: &str) -> Result<(Lic, Option<ClientDevice>), StoreError> {
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {cols}, d.id AS device_id, d.hardware_id, d.hostname, d.os, d.app_version, \
             d.time_activated AS device_time_activated, {DEVICE_LAST_CHECK} AS last_check, \
             d.lease_expires_at, d.borrowed_until FROM licenses l JOIN products p ON p.id = l.product_id \
             LEFT JOIN devices d ON d.license_id = l.id AND d.hardware_id = ? AND d.deactivated_at IS NULL WHERE",
            cols = LICENSE_COLS.as_str()
        )
    });
    let Some(r) = by_key(tx, &SELECT, &[hw], key, true).await? else { return refuse(Refusal::NotFound) };
    Ok((Lic::from_row(&r)?, joined_device(&r)?))
}

/// The device columns of a license row joined with its device (`device_id` null when there is none).
fn joined_device(r: &Row) -> Result<Option<ClientDevice>, StoreError> {
    let Some(id) = r.get::<Option<i64>>("device_id")? else { return Ok(None) };
    Ok(Some(ClientDevice {
        id,
        hardware_id: r.get("hardware_id")?,
        hostname: r.get("hostname")?,
        os: r.get("os")?,
        app_version: r.get("app_version")?,
        time_activated: secs(r.get("device_time_activated")?),
        last_check: r.get::<Option<i64>>("last_check")?.map(secs),
        lease_expires_at: r.get::<Option<i64>>("lease_expires_at")?.map(secs),
        borrowed_until: r.get::<Option<i64>>("borrowed_until")?.map(secs),
    }))
}

/// Reads and locks the license with this key for the rest of the transaction.
async fn lock(tx: &mut Tx, key: &str) -> Result<Lic, StoreError> {
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {cols} FROM licenses l JOIN products p ON p.id = l.product_id WHERE",
            cols = LICENSE_COLS.as_str()
        )
    });
    match by_key(tx, &SELECT, &[], key, true).await? {
        Some(r) => Lic::from_row(&r),
        None => refuse(Refusal::NotFound),
    }
}

async fn reload(tx: &mut Tx, id: i64) -> Result<Lic, StoreError> {
    let r = tx
        .fetch_one(
            query(format!(
                "SELECT {cols} FROM licenses l JOIN products p ON p.id = l.product_id WHERE l.id = ?",
                cols = LICENSE_COLS.as_str()
            ))
            .bind(id),
        )
        .await?;
    Lic::from_row(&r)
}

async fn active_device(e: &mut impl Exec, license_id: i64, hw: &str) -> Result<Option<ClientDevice>, StoreError> {
    let q = query(format!(
        "SELECT {DEVICE_COLS} FROM devices d WHERE d.license_id = ? AND d.hardware_id = ? AND d.deactivated_at IS NULL"
    ))
    .bind(license_id)
    .bind(hw);
    e.fetch_optional(q).await?.as_ref().map(device_from_row).transpose()
}

async fn device_by_id(e: &mut impl Exec, id: i64) -> Result<ClientDevice, StoreError> {
    device_from_row(&e.fetch_one(query(format!("SELECT {DEVICE_COLS} FROM devices d WHERE d.id = ?")).bind(id)).await?)
}

/// Ends the activations of floating devices whose lease (and any borrowing) lapsed, freeing their seats;
/// `true` when it ended any.
async fn reap_lapsed(tx: &mut Tx, l: &Lic, now: i64) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            query(
                "UPDATE devices SET deactivated_at = lease_expires_at WHERE license_id = ? AND deactivated_at IS NULL \
                 AND lease_expires_at <= ? AND (borrowed_until IS NULL OR borrowed_until <= ?)",
            )
            .bind(l.id)
            .bind(now)
            .bind(now),
        )
        .await?;
    if n > 0 {
        tx.execute(
            query(format!(
                "UPDATE licenses SET times_activated = {}(times_activated - ?, 0) WHERE id = ?",
                tx.dialect().greatest()
            ))
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .bind(l.id),
        )
        .await?;
    }
    Ok(n > 0)
}

/// Live floating seats of a license, not counting `except_device`.
async fn live_seats(tx: &mut Tx, license_id: i64, except_device: Option<i64>, now: i64) -> Result<i64, StoreError> {
    let row = tx
        .fetch_one(
            query(
                "SELECT COUNT(*) AS n FROM devices WHERE license_id = ? AND deactivated_at IS NULL \
                 AND (lease_expires_at > ? OR borrowed_until > ?) AND id <> ?",
            )
            .bind(license_id)
            .bind(now)
            .bind(now)
            .bind(except_device.unwrap_or(-1)),
        )
        .await?;
    row.get("n")
}

async fn insert_device(
    tx: &mut Tx,
    l: &mut Lic,
    req: &ClientReq,
    lease: Option<i64>,
    now: i64,
) -> Result<ClientDevice, StoreError> {
    let id = tx
        .insert(
            query(
                "INSERT INTO devices (license_id, hardware_id, hostname, os, app_version, time_activated, lease_expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(l.id)
            .bind(req.hardware_id.as_str())
            .bind(req.hostname.clone().unwrap_or_default())
            .bind(req.os.clone().unwrap_or_default())
            .bind(req.app_version.clone().unwrap_or_default())
            .bind(now)
            .bind(lease),
        )
        .await?;
    tx.execute(record_check(tx.dialect(), Checked::Device, id, now)).await?;
    tx.execute(
        query("UPDATE licenses SET times_activated = times_activated + 1, time_activated = COALESCE(time_activated, ?), updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(now)
            .bind(l.id),
    )
    .await?;
    events::record(
        tx,
        &client_scope(),
        NewEvent {
            action: "license.activated".into(),
            resource_type: "device",
            resource_id: id,
            license_id: Some(l.id),
            note: &req.hardware_id,
            before: None,
            after: Some(serde_json::json!({"hardware_id": req.hardware_id, "hostname": req.hostname, "os": req.os})),
        },
    )
    .await?;
    l.times_activated += 1;
    Ok(ClientDevice {
        id,
        hardware_id: req.hardware_id.clone(),
        hostname: req.hostname.clone().unwrap_or_default(),
        os: req.os.clone().unwrap_or_default(),
        app_version: req.app_version.clone().unwrap_or_default(),
        time_activated: secs(now),
        last_check: Some(secs(now)),
        lease_expires_at: lease.map(secs),
        borrowed_until: None,
    })
}

/// Refreshes what the device reports about itself and, for floating licenses, its lease.
async fn touch_device(
    tx: &mut Tx,
    d: &mut ClientDevice,
    req: &ClientReq,
    lease: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        query(
            "UPDATE devices SET hostname = COALESCE(?, hostname), os = COALESCE(?, os), app_version = COALESCE(?, app_version), \
             lease_expires_at = COALESCE(?, lease_expires_at) WHERE id = ?",
        )
        .bind(req.hostname.clone())
        .bind(req.os.clone())
        .bind(req.app_version.clone())
        .bind(lease)
        .bind(d.id),
    )
    .await?;
    tx.execute(record_check(tx.dialect(), Checked::Device, d.id, now)).await?;
    for (field, v) in [(&mut d.hostname, &req.hostname), (&mut d.os, &req.os), (&mut d.app_version, &req.app_version)] {
        if let Some(v) = v {
            field.clone_from(v);
        }
    }
    d.last_check = Some(secs(now));
    if let Some(lease) = lease {
        d.lease_expires_at = Some(secs(lease));
    }
    Ok(())
}

/// Activates inside a transaction already holding the license lock (shared by activate, trial, borrow
/// and offline activation).
/// `l` is updated in memory to what the transaction wrote, so no re-read is needed; `existing` is this
/// hardware id's active device as read with the lock.
async fn activate_locked(
    tx: &mut Tx,
    l: &mut Lic,
    existing: Option<ClientDevice>,
    req: &ClientReq,
    now: i64,
) -> Result<(ClientDevice, bool), StoreError> {
    if l.terms.is_floating_cloud {
        let mut existing = existing;
        if reap_lapsed(tx, l, now).await? {
            *l = reload(tx, l.id).await?;
            existing = active_device(tx, l.id, &req.hardware_id).await?;
        }
        let lease = now + l.lease_ms();
        let others = live_seats(tx, l.id, existing.as_ref().map(|d| d.id), now).await?;
        decide::seat(l.terms.floating_users, others).map_err(StoreError::Refused)?;
        return match existing {
            Some(mut d) => {
                touch_device(tx, &mut d, req, Some(lease), now).await?;
                Ok((d, false))
            }
            None => Ok((insert_device(tx, l, req, Some(lease), now).await?, true)),
        };
    }
    if let Some(mut d) = existing {
        touch_device(tx, &mut d, req, None, now).await?;
        return Ok((d, false));
    }
    decide::activation_slot(l.terms.max_activations, l.times_activated).map_err(StoreError::Refused)?;
    Ok((insert_device(tx, l, req, None, now).await?, true))
}

/// `POST activate`: a new activation (`created`), or the existing one of this hardware id.
pub async fn activate(db: &Db, req: &ClientReq) -> Result<Outcome, StoreError> {
    activate_with(db, req, false).await
}

/// `POST offline-activate`: an activation and the license file that carries it to the air-gapped
/// machine, recorded on the device in the same transaction ([`Outcome::file_until`]).
pub async fn offline_activate(db: &Db, req: &ClientReq) -> Result<Outcome, StoreError> {
    activate_with(db, req, true).await
}

async fn activate_with(db: &Db, req: &ClientReq, file: bool) -> Result<Outcome, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (mut l, existing) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    let (device, created) = activate_locked(&mut tx, &mut l, existing, req, now).await?;
    let mut out = outcome(&mut tx, &l, Some(device), created, now).await?;
    if file {
        grant_file(&mut tx, &mut out, now).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Until when a license file issued `now` verifies (UTC ms): the license's `license_file_ttl_days`, never
/// past the license's own expiry; a floating seat's file never outlives its lease or borrowing.
pub fn file_expiry(o: &Outcome, now: i64) -> i64 {
    let ttl_end = now.saturating_add(o.license_file_ttl_days.saturating_mul(DAY_MS));
    let mut expires = o.expires_at.map_or(ttl_end, |e| e.min(ttl_end));
    if o.license.is_floating_cloud {
        let held = o.device.as_ref().and_then(|d| d.lease_expires_at.max(d.borrowed_until)).map_or(now, |t| t * 1000);
        expires = expires.min(held);
    }
    expires
}

/// Records on the outcome's device that a license file valid until [`file_expiry`] is out: the device
/// cannot be deactivated by the client API before then (a slot is never freed while the old machine
/// keeps working offline).
async fn grant_file(tx: &mut Tx, o: &mut Outcome, now: i64) -> Result<(), StoreError> {
    let Some(device) = o.device.as_ref() else { return refuse(Refusal::NotActivated) };
    let until = file_expiry(o, now);
    if until <= now {
        // A floating seat whose lease lapsed (not yet reaped): there is nothing to carry offline.
        return refuse(Refusal::NotActivated);
    }
    tx.execute(
        query(
            "UPDATE devices SET file_expires_at = CASE WHEN file_expires_at IS NULL OR file_expires_at < ? THEN ? \
             ELSE file_expires_at END WHERE id = ?",
        )
        .bind(until)
        .bind(until)
        .bind(device.id),
    )
    .await?;
    o.file_until = Some(until);
    o.file_issued = Some(now);
    Ok(())
}

/// The result of a check: valid, or the refusal with whatever is known.
pub struct CheckResult {
    pub refusal: Option<Refusal>,
    pub outcome: Option<Outcome>,
    /// The device to record a `last_check` for (node-locked checks record it in batches).
    pub checked_device: Option<(i64, i64)>,
}

/// `POST check`. Node-locked: read-only (the `last_check` write is left to a batch). Floating: renews the
/// lease in a transaction, re-acquiring a lapsed one while a seat is free.
pub async fn check(db: &Db, req: &ClientReq) -> Result<CheckResult, StoreError> {
    let now = now_ms();
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {cols}, d.id AS device_id, d.hardware_id, d.hostname, d.os, d.app_version, d.time_activated AS device_time_activated, \
             NULL AS last_check, d.lease_expires_at, d.borrowed_until FROM licenses l JOIN products p ON p.id = l.product_id \
             LEFT JOIN devices d ON d.license_id = l.id AND d.hardware_id = ? AND d.deactivated_at IS NULL WHERE",
            cols = LICENSE_COLS.as_str()
        )
    });
    // Index lookups only: the point-read path (no hand-off to a database thread on SQLite).
    let mut e = Point(db);
    let Some(row) = by_key(&mut e, &SELECT, &[req.hardware_id.as_str()], &req.license_key, false).await? else {
        return Ok(CheckResult { refusal: Some(Refusal::NotFound), outcome: None, checked_device: None });
    };
    let l = Lic::from_row(&row)?;
    let device_id: Option<i64> = row.get("device_id")?;
    if let Err(StoreError::Refused(r)) = l.admit(&req.product, now) {
        let out = match r {
            Refusal::ProductMismatch => None,
            _ if device_id.is_none() => Some(unentitled(outcome(&mut e, &l, None, false, now).await?)),
            _ => Some(outcome(&mut e, &l, None, false, now).await?),
        };
        return Ok(CheckResult { refusal: Some(r), outcome: out, checked_device: None });
    }
    if l.terms.is_floating_cloud {
        return check_floating(db, req, now).await;
    }
    match device_id {
        None => Ok(CheckResult {
            refusal: Some(Refusal::NotActivated),
            outcome: Some(unentitled(outcome(&mut e, &l, None, false, now).await?)),
            checked_device: None,
        }),
        Some(d) => {
            let mut device = joined_device(&row)?.ok_or(StoreError::NotFound)?;
            device.last_check = Some(secs(now));
            Ok(CheckResult {
                refusal: None,
                outcome: Some(outcome(&mut e, &l, Some(device), false, now).await?),
                checked_device: Some((d, l.id)),
            })
        }
    }
}

async fn check_floating(db: &Db, req: &ClientReq, now: i64) -> Result<CheckResult, StoreError> {
    let mut tx = db.begin().await?;
    let mut l = lock(&mut tx, &req.license_key).await?;
    if reap_lapsed(&mut tx, &l, now).await? {
        l = reload(&mut tx, l.id).await?;
    }
    let device = match active_device(&mut tx, l.id, &req.hardware_id).await? {
        Some(mut d) => {
            touch_device(&mut tx, &mut d, req, Some(now + l.lease_ms()), now).await?;
            d
        }
        None => {
            let held_before = tx
                .fetch_optional(
                    query("SELECT id FROM devices WHERE license_id = ? AND hardware_id = ?")
                        .bind(l.id)
                        .bind(req.hardware_id.as_str()),
                )
                .await?
                .is_some();
            if !held_before {
                let out = unentitled(outcome(&mut tx, &l, None, false, now).await?);
                tx.commit().await?;
                return Ok(CheckResult {
                    refusal: Some(Refusal::NotActivated),
                    outcome: Some(out),
                    checked_device: None,
                });
            }
            match activate_locked(&mut tx, &mut l, None, req, now).await {
                Ok((d, _)) => d,
                Err(StoreError::Refused(r)) => {
                    let out = unentitled(outcome(&mut tx, &l, None, false, now).await?);
                    tx.commit().await?;
                    return Ok(CheckResult { refusal: Some(r), outcome: Some(out), checked_device: None });
                }
                Err(e) => return Err(e),
            }
        }
    };
    tx.execute(record_check(tx.dialect(), Checked::License, l.id, now)).await?;
    let out = outcome(&mut tx, &l, Some(device), false, now).await?;
    tx.commit().await?;
    Ok(CheckResult { refusal: None, outcome: Some(out), checked_device: None })
}

/// `POST deactivate`: frees the device's slot (floating: its seat). Node-locked deactivations count as
/// transfers against `max_transfers`.
pub async fn deactivate(db: &Db, req: &ClientReq) -> Result<Outcome, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let l = lock(&mut tx, &req.license_key).await?;
    if l.product != req.product {
        return refuse(Refusal::ProductMismatch);
    }
    let Some(d) = active_device(&mut tx, l.id, &req.hardware_id).await? else {
        return refuse(Refusal::NotActivated);
    };
    let held =
        tx.fetch_one(query("SELECT file_expires_at, borrowed_until FROM devices WHERE id = ?").bind(d.id)).await?;
    let held_until = held.get::<Option<i64>>("file_expires_at")?.max(held.get::<Option<i64>>("borrowed_until")?);
    let facts = decide::Deactivation {
        floating: l.terms.is_floating_cloud,
        max_transfers: l.terms.max_transfers,
        transfer_count: l.transfer_count,
        held_until,
    };
    let transfer = i64::from(decide::deactivation(facts, now).map_err(StoreError::Refused)?);
    tx.execute(query("UPDATE devices SET deactivated_at = ? WHERE id = ?").bind(now).bind(d.id)).await?;
    tx.execute(
        query(format!(
            "UPDATE licenses SET times_activated = {}(times_activated - 1, 0), transfer_count = transfer_count + ?, \
                 updated_at = ? WHERE id = ?",
            tx.dialect().greatest()
        ))
        .bind(transfer)
        .bind(now)
        .bind(l.id),
    )
    .await?;
    events::record(
        &mut tx,
        &client_scope(),
        NewEvent {
            action: "license.deactivated".into(),
            resource_type: "device",
            resource_id: d.id,
            license_id: Some(l.id),
            note: &req.hardware_id,
            before: None,
            after: None,
        },
    )
    .await?;
    let l = reload(&mut tx, l.id).await?;
    let device = device_by_id(&mut tx, d.id).await?;
    let out = outcome(&mut tx, &l, Some(device), false, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// `POST consumption`: adds `n` to the license's or a feature's counter, refusing (and adding nothing)
/// beyond the limit plus allowed overages.
pub async fn consume(
    db: &Db,
    req: &ClientReq,
    feature: Option<&str>,
    n: i64,
) -> Result<(Outcome, Option<ClientFeature>), StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let l = lock(&mut tx, &req.license_key).await?;
    l.admit(&req.product, now)?;
    if active_device(&mut tx, l.id, &req.hardware_id).await?.is_none() {
        return refuse(Refusal::NotActivated);
    }
    let note = format!("{}+{n}", feature.unwrap_or("license"));
    match feature {
        Some(code) => {
            let row = tx
                .fetch_optional(
                    query(
                        "SELECT lf.id, lf.max_consumption, lf.total_consumptions, lf.allow_overages, lf.max_overages \
                         FROM license_features lf JOIN product_features f ON f.id = lf.feature_id WHERE lf.license_id = ? AND f.code = ?",
                    )
                    .bind(l.id)
                    .bind(code),
                )
                .await?;
            let Some(row) = row else { return refuse(Refusal::FeatureNotFound) };
            decide::consume(
                decide::Counter {
                    max: row.get("max_consumption")?,
                    total: row.get("total_consumptions")?,
                    allow_overages: row.get("allow_overages")?,
                    max_overages: row.get("max_overages")?,
                },
                n,
            )
            .map_err(StoreError::Refused)?;
            tx.execute(
                query("UPDATE license_features SET total_consumptions = total_consumptions + ? WHERE id = ?")
                    .bind(n)
                    .bind(row.get::<i64>("id")?),
            )
            .await?;
        }
        None => {
            decide::consume(
                decide::Counter {
                    max: l.terms.max_consumptions,
                    total: l.total_consumptions,
                    allow_overages: l.terms.allow_overages,
                    max_overages: l.terms.max_overages,
                },
                n,
            )
            .map_err(StoreError::Refused)?;
            tx.execute(
                query("UPDATE licenses SET total_consumptions = total_consumptions + ?, updated_at = ? WHERE id = ?")
                    .bind(n)
                    .bind(now)
                    .bind(l.id),
            )
            .await?;
        }
    }
    events::record(
        &mut tx,
        &client_scope(),
        NewEvent {
            action: "license.consumed".into(),
            resource_type: "license",
            resource_id: l.id,
            license_id: Some(l.id),
            note: &note,
            before: None,
            after: None,
        },
    )
    .await?;
    let l = reload(&mut tx, l.id).await?;
    let out = outcome(&mut tx, &l, None, false, now).await?;
    let f = feature.and_then(|code| out.license.features.iter().find(|f| f.code == code).cloned());
    tx.commit().await?;
    Ok((out, f))
}

/// `POST borrow`: takes a floating seat offline until `now + hours`.
pub async fn borrow(db: &Db, req: &ClientReq, hours: i64) -> Result<Outcome, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (mut l, existing) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    decide::borrow(l.terms.is_floating_cloud, l.terms.can_borrow, hours, l.terms.max_borrow_time).map_err(
        |e| match e {
            decide::BorrowRefused::Refusal(r) => StoreError::Refused(r),
            decide::BorrowRefused::Invalid(e) => StoreError::Domain(e),
        },
    )?;
    let (mut device, _) = activate_locked(&mut tx, &mut l, existing, req, now).await?;
    let until = now + hours * 3_600_000;
    let lease = until.max(now + l.lease_ms());
    tx.execute(
        query("UPDATE devices SET borrowed_until = ?, lease_expires_at = ? WHERE id = ?")
            .bind(until)
            .bind(lease)
            .bind(device.id),
    )
    .await?;
    device.borrowed_until = Some(secs(until));
    device.lease_expires_at = Some(secs(lease));
    let mut out = outcome(&mut tx, &l, Some(device), false, now).await?;
    grant_file(&mut tx, &mut out, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// `POST license-file`: the license and active device for a license file, refused as a check would be,
/// and the file's expiry recorded on the device ([`file_expiry`], [`Outcome::file_until`]).
pub async fn for_license_file(db: &Db, req: &ClientReq) -> Result<Outcome, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (l, device) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    let Some(device) = device else { return refuse(Refusal::NotActivated) };
    let mut out = outcome(&mut tx, &l, Some(device), false, now).await?;
    grant_file(&mut tx, &mut out, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// `POST trial`: one trial license per device and product, from the product's trial template, activated
/// on the device. The same device asking again gets the same license (`created` false).
pub async fn trial(db: &Db, product: &str, req: &ClientReq, email: Option<&str>) -> Result<Outcome, StoreError> {
    let prow = db.fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(product)).await?;
    let Some(prow) = prow else { return refuse(Refusal::NoSuchProduct) };
    let product_id: i64 = prow.get("id")?;
    let trow = db
        .fetch_optional(
            query("SELECT id FROM license_templates WHERE product_id = ? AND is_trial = ? ORDER BY id LIMIT 1")
                .bind(product_id)
                .bind(true),
        )
        .await?;
    let Some(trow) = trow else { return refuse(Refusal::NoTrial) };
    let template_id: i64 = trow.get("id")?;
    // A concurrent first trial for the same device loses on the unique index and then finds the winner's.
    for _ in 0..3 {
        match trial_once(db, product_id, template_id, req, email).await {
            Err(StoreError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(StoreError::State("the trial could not be started; try again".into()))
}

async fn trial_once(
    db: &Db,
    product_id: i64,
    template_id: i64,
    req: &ClientReq,
    email: Option<&str>,
) -> Result<Outcome, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let existing = tx
        .fetch_optional(
            query("SELECT license_id FROM trials WHERE product_id = ? AND hardware_id = ?")
                .bind(product_id)
                .bind(req.hardware_id.as_str()),
        )
        .await?;
    let (license_id, created) = match existing {
        Some(r) => (r.get::<i64>("license_id")?, false),
        None => {
            let scope = client_scope();
            // Anyone may call `trial` with any address, so the address is only recorded on the trial (the
            // license's `trial_email`): it never finds, creates or links a customer (security review H1).
            let email = match email {
                Some(e) => licensd_core::model::normalize_email("email", e)?,
                None => None,
            };
            let input = LicenseInput { license_template: Some(TemplateRef::Id(template_id)), ..Default::default() };
            let id = crate::licenses::create_in(&mut tx, &scope, &input, None, None).await?;
            tx.execute(
                query(
                    "INSERT INTO trials (product_id, hardware_id, license_id, created_at, email) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(product_id)
                .bind(req.hardware_id.as_str())
                .bind(id)
                .bind(now)
                .bind(email),
            )
            .await?;
            (id, true)
        }
    };
    let key: String = tx
        .fetch_one(query("SELECT license_key FROM licenses WHERE id = ?").bind(license_id))
        .await?
        .get("license_key")?;
    let (mut l, existing) = lock_with_device(&mut tx, &key, &req.hardware_id).await?;
    if !created {
        l.admit(&l.product.clone(), now)?;
    }
    let (device, _) = activate_locked(&mut tx, &mut l, existing, req, now).await?;
    let out = outcome(&mut tx, &l, Some(device), created, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// The payload of an offline license file for an outcome with a device, issued when the store granted it
/// ([`Outcome::file_issued`]), else at `now` (UTC ms). It verifies until the time the store recorded for it
/// ([`Outcome::file_until`]), else [`file_expiry`].
pub fn license_file_payload(o: &Outcome, key_id: &str, now: i64) -> serde_json::Value {
    let now = o.file_issued.unwrap_or(now);
    let expires = o.file_until.unwrap_or_else(|| file_expiry(o, now));
    let features: Vec<serde_json::Value> = o
        .license
        .features
        .iter()
        .map(|f| serde_json::json!({"code": f.code, "feature_type": f.feature_type, "max_consumption": f.max_consumption}))
        .collect();
    serde_json::json!({
        "license_key": o.license.license_key,
        "product": o.license.product,
        "hardware_id": o.device.as_ref().map(|d| d.hardware_id.clone()),
        "is_trial": o.license.is_trial,
        "is_floating_cloud": o.license.is_floating_cloud,
        "features": features,
        "issued_at": secs(now),
        "expires_at": secs(expires),
        "key_id": key_id,
        "license": o.license,
    })
}

/// `last_check` times of node-locked checks, written in batches: a write per check would cost more than
/// the check itself.
#[derive(Default)]
pub struct LastChecks {
    pending: Mutex<HashMap<i64, (i64, i64)>>,
}

impl LastChecks {
    /// Notes that `device` of `license` was checked at `at`.
    pub fn note(&self, device: i64, license: i64, at: i64) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(device, (license, at));
        }
    }

    /// Writes every pending time, in chunks of [`LAST_CHECK_CHUNK`] devices, each chunk its own short
    /// transaction so activations waiting for the write lock are not held up long. On SQLite the rows are
    /// written in id order through one prepared statement per table, off the async worker (the statements
    /// run on the calling thread, and a chunk takes a few milliseconds that checks must not wait for); on
    /// PostgreSQL with one set-based statement per table. A device or license deleted meanwhile is skipped.
    pub async fn flush(&self, db: &Db) -> Result<usize, StoreError> {
        let mut batch: Vec<(i64, (i64, i64))> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(0),
        };
        batch.sort_unstable_by_key(|(device, _)| *device);
        for chunk in batch.chunks(LAST_CHECK_CHUNK) {
            let devices: Vec<(i64, i64)> = chunk.iter().map(|(d, (_, at))| (*d, *at)).collect();
            let mut licenses: HashMap<i64, i64> = HashMap::new();
            for (_, (l, at)) in chunk {
                let t = licenses.entry(*l).or_insert(*at);
                *t = (*t).max(*at);
            }
            let mut licenses: Vec<(i64, i64)> = licenses.into_iter().collect();
            licenses.sort_unstable();
            let mut tx = db.begin().await?;
            match &tx {
                crate::db::Tx::Sqlite(w) => crate::writer::off_worker(|| {
                    w.with(|c| {
                        for (checked, rows) in [(Checked::Device, &devices), (Checked::License, &licenses)] {
                            let (table, key, parent) = checked.names();
                            let mut st = c.prepare_cached(&format!(
                                "INSERT INTO {table} ({key}, last_check) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM {parent} WHERE id = ?1) \
                                 ON CONFLICT ({key}) DO UPDATE SET last_check = max(last_check, excluded.last_check)"
                            ))?;
                            for (id, at) in rows.iter() {
                                st.execute((id, at))?;
                            }
                        }
                        Ok(())
                    })
                })?,
                crate::db::Tx::Pg(_) => {
                    tx.execute(record_checks_pg(Checked::Device, &devices)).await?;
                    tx.execute(record_checks_pg(Checked::License, &licenses)).await?;
                }
            }
            tx.commit().await?;
        }
        Ok(batch.len())
    }
}

/// Devices per `last_check` transaction.
const LAST_CHECK_CHUNK: usize = 500;

/// What a `last_check` time belongs to. The times live in narrow tables of their own (migration 9):
/// they are written at the rate of checks.
#[derive(Clone, Copy)]
enum Checked {
    Device,
    License,
}

impl Checked {
    /// The table, its key column, and the table the key refers to.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Checked::Device => ("device_checks", "device_id", "devices"),
            Checked::License => ("license_checks", "license_id", "licenses"),
        }
    }
}

/// Records `at` as the last check of one device or license, never moving its time back.
fn record_check(dialect: crate::db::Dialect, checked: Checked, id: i64, at: i64) -> crate::db::Query {
    let (table, key, _) = checked.names();
    let greatest = dialect.greatest();
    query(format!(
        "INSERT INTO {table} ({key}, last_check) VALUES (?, ?) \
         ON CONFLICT ({key}) DO UPDATE SET last_check = {greatest}({table}.last_check, excluded.last_check)"
    ))
    .bind(id)
    .bind(at)
}

/// PostgreSQL: records the last checks of many devices or licenses (distinct ids) in one statement, never
/// moving a time back, skipping ids whose row is gone.
fn record_checks_pg(checked: Checked, rows: &[(i64, i64)]) -> crate::db::Query {
    let (table, key, parent) = checked.names();
    let mut q = query(format!("INSERT INTO {table} ({key}, last_check) SELECT v.id, v.t FROM (VALUES"));
    for (i, (id, at)) in rows.iter().enumerate() {
        q.push(if i == 0 { " (" } else { ", (" }).push_bind(*id).push("::BIGINT, ").push_bind(*at).push("::BIGINT)");
    }
    q.push(&format!(
        ") AS v(id, t) JOIN {parent} x ON x.id = v.id \
         ON CONFLICT ({key}) DO UPDATE SET last_check = {greatest}({table}.last_check, excluded.last_check)",
        greatest = crate::db::Dialect::Postgres.greatest()
    ));
    q
}
