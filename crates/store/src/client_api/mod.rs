//! The client API's decisions, each in one transaction that locks the license row: activation slots,
//! floating seats, transfers and consumption never go over their limits, whatever the concurrency and
//! however many instances share the database.

mod devices;
mod feature_seats;
mod last_checks;
mod license_row;
mod variables;

use devices::*;
pub use feature_seats::{FeatureUse, release_feature, use_feature};
pub use last_checks::LastChecks;
use last_checks::*;
use license_row::*;
pub use variables::{DeviceVariable, MAX_NAME, MAX_VALUE, MAX_VARIABLES, set_variables, variables};

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use licensd_core::client_api::decide;
use licensd_core::client_api::{ClientDevice, ClientFeature, ClientLicense, Gate, Refusal, admit};
use licensd_core::model::{LicenseInput, LicenseTerms, TemplateRef};
use licensd_core::status::{StatusFacts, license_status};
use licensd_core::time::{DAY_MS, format_date, now_ms};

use crate::db::{Db, Exec, Point, Row, Tx, query};
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
    /// Every term of the license (what LicenseSpring's License API reports beyond [`ClientLicense`]).
    pub terms: LicenseTerms,
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

async fn features(e: &mut impl Exec, license_id: i64) -> Result<Vec<ClientFeature>, StoreError> {
    use crate::licenses::{FEATURE_COLS, FEATURE_FROM, feature_from_row};
    static SELECT: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {FEATURE_COLS} {FEATURE_FROM} WHERE lf.license_id = ? ORDER BY f.code"));
    let q = query(SELECT.as_str()).bind(license_id);
    e.fetch_all(q).await?.iter().map(|r| feature_from_row(r).map(ClientFeature::from)).collect()
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
        terms: l.terms.clone(),
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
            at: None,
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
            at: None,
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
