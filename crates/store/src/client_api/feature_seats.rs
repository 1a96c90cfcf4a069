//! Floating features (LicenseSpring's floating cloud features): seats per license of a feature, taken by a
//! device's feature check and given back by its release, decided with the license row locked so that no
//! more devices than `floating_users` hold a feature at once, whatever the concurrency and the instances.

use super::*;

/// A device's use of a feature: the feature, how many devices hold it now, and until when this one does.
#[derive(Debug, Clone)]
pub struct FeatureUse {
    pub license_id: i64,
    pub feature: ClientFeature,
    /// Devices holding the (floating) feature now, this one included.
    pub in_use: i64,
    /// Until when this device's seat is held (UTC ms; floating features only).
    pub held_until: Option<i64>,
    pub borrowed_until: Option<i64>,
}

/// The license feature with this code, with its id (`FeatureNotFound` when the license has none).
async fn feature_of(tx: &mut Tx, license_id: i64, code: &str) -> Result<ClientFeature, StoreError> {
    use crate::licenses::{FEATURE_COLS, FEATURE_FROM, feature_from_row};
    static SELECT: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {FEATURE_COLS} {FEATURE_FROM} WHERE lf.license_id = ? AND f.code = ?"));
    let row = tx.fetch_optional(query(SELECT.as_str()).bind(license_id).bind(code)).await?;
    match row {
        Some(r) => Ok(ClientFeature::from(feature_from_row(&r)?)),
        None => refuse(Refusal::FeatureNotFound),
    }
}

/// Seats of a feature held now by active devices other than `device_id`.
async fn held_by_others(tx: &mut Tx, license_feature: i64, device_id: i64, now: i64) -> Result<i64, StoreError> {
    let r = tx
        .fetch_one(
            query(
                "SELECT COUNT(*) AS n FROM feature_seats s JOIN devices d ON d.id = s.device_id \
                 WHERE s.license_feature_id = ? AND s.device_id <> ? AND d.deactivated_at IS NULL \
                 AND (s.lease_expires_at > ? OR s.borrowed_until > ?)",
            )
            .bind(license_feature)
            .bind(device_id)
            .bind(now)
            .bind(now),
        )
        .await?;
    r.get("n")
}

/// `check_license_feature` (and `floating/feature_borrow` with `borrow_until`): the request's active device
/// uses the feature; a floating feature takes (or renews) a seat, refused with `NoSeat` when every seat is
/// held by other devices. Borrowing needs a license that allows it, for at most its `max_borrow_time` hours.
pub async fn use_feature(
    db: &Db,
    req: &ClientReq,
    code: &str,
    borrow_until: Option<i64>,
) -> Result<FeatureUse, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (l, device) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    let Some(device) = device else { return refuse(Refusal::NotActivated) };
    let feature = feature_of(&mut tx, l.id, code).await?;
    if !feature.is_floating_cloud {
        if borrow_until.is_some() {
            return refuse(Refusal::BorrowNotAllowed);
        }
        tx.commit().await?;
        return Ok(FeatureUse { license_id: l.id, feature, in_use: 0, held_until: None, borrowed_until: None });
    }
    if let Some(until) = borrow_until {
        let hours = (until - now + 3_599_999) / 3_600_000;
        if !l.terms.can_borrow {
            return refuse(Refusal::BorrowNotAllowed);
        }
        if !(1..=l.terms.max_borrow_time).contains(&hours) {
            return Err(StoreError::invalid(
                "borrowed_until",
                format!("at most {} hours ahead (the license's max_borrow_time)", l.terms.max_borrow_time),
            ));
        }
    }
    let others = held_by_others(&mut tx, feature.id, device.id, now).await?;
    decide::seat(feature.floating_users, others).map_err(StoreError::Refused)?;
    let lease = now + feature.floating_timeout * 60_000;
    let existing = tx
        .fetch_optional(
            query("SELECT borrowed_until FROM feature_seats WHERE license_feature_id = ? AND device_id = ?")
                .bind(feature.id)
                .bind(device.id),
        )
        .await?;
    let kept_borrow = match &existing {
        Some(r) => r.get::<Option<i64>>("borrowed_until")?.filter(|b| *b > now),
        None => None,
    };
    let borrowed = borrow_until.or(kept_borrow);
    if existing.is_some() {
        tx.execute(
            query("UPDATE feature_seats SET lease_expires_at = ?, borrowed_until = ? WHERE license_feature_id = ? AND device_id = ?")
                .bind(lease)
                .bind(borrowed)
                .bind(feature.id)
                .bind(device.id),
        )
        .await?;
    } else {
        tx.execute(
            query("INSERT INTO feature_seats (license_feature_id, device_id, lease_expires_at, borrowed_until) VALUES (?, ?, ?, ?)")
                .bind(feature.id)
                .bind(device.id)
                .bind(lease)
                .bind(borrowed),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(FeatureUse {
        license_id: l.id,
        feature,
        in_use: others + 1,
        held_until: Some(lease.max(borrowed.unwrap_or(0))),
        borrowed_until: borrowed,
    })
}

/// `floating/feature_release`: the device gives its seat of the feature back (a borrowed seat too).
pub async fn release_feature(db: &Db, req: &ClientReq, code: &str) -> Result<FeatureUse, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (l, device) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    let Some(device) = device else { return refuse(Refusal::NotActivated) };
    let feature = feature_of(&mut tx, l.id, code).await?;
    tx.execute(
        query("DELETE FROM feature_seats WHERE license_feature_id = ? AND device_id = ?")
            .bind(feature.id)
            .bind(device.id),
    )
    .await?;
    let in_use = held_by_others(&mut tx, feature.id, device.id, now).await?;
    tx.commit().await?;
    Ok(FeatureUse { license_id: l.id, feature, in_use, held_until: None, borrowed_until: None })
}
