//! Device bookkeeping inside a license's transaction: activations inserted and touched, floating leases
//! reaped, live seats counted.

use super::*;

/// Ends the activations of floating devices whose lease (and any borrowing) lapsed, freeing their seats;
/// `true` when it ended any.
pub(super) async fn reap_lapsed(tx: &mut Tx, l: &Lic, now: i64) -> Result<bool, StoreError> {
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
pub(super) async fn live_seats(
    tx: &mut Tx,
    license_id: i64,
    except_device: Option<i64>,
    now: i64,
) -> Result<i64, StoreError> {
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

pub(super) async fn insert_device(
    tx: &mut Tx,
    l: &mut Lic,
    req: &ClientReq,
    lease: Option<i64>,
    now: i64,
) -> Result<ClientDevice, StoreError> {
    insert_device_counted(tx, l, req, lease, now, true).await
}

/// [`insert_device`], counting the activation in `times_activated` or not (`counted` false: the device takes an
/// activation the license already counts, one imported without its device).
pub(super) async fn insert_device_counted(
    tx: &mut Tx,
    l: &mut Lic,
    req: &ClientReq,
    lease: Option<i64>,
    now: i64,
    counted: bool,
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
    if l.time_activated.is_none() {
        // The first activation: durations counted from it (LicenseSpring's valid_duration, maintenance_duration)
        // become dates.
        l.terms.first_activation(now);
        l.time_activated = Some(now);
    }
    tx.execute(
        query(
            "UPDATE licenses SET times_activated = times_activated + ?, time_activated = COALESCE(time_activated, ?), \
             expires_at = ?, maintenance_until = ?, updated_at = ? WHERE id = ?",
        )
        .bind(i64::from(counted))
        .bind(now)
        .bind(l.terms.expires_at)
        .bind(l.terms.maintenance_until)
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
            at: None,
        },
    )
    .await?;
    l.times_activated += i64::from(counted);
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
pub(super) async fn touch_device(
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
