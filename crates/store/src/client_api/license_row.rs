//! The license row as the client API reads and locks it: its columns, the key lookup in two passes, and the
//! device joined to it.

use super::*;

/// The license columns the client API reads: its terms (`store::terms`), its counters, its product.
pub(super) static LICENSE_COLS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "l.id, l.license_key, l.refunded, l.times_activated, l.transfer_count, l.total_consumptions, \
         l.consumptions_counted_at, l.time_activated, p.short_code, (SELECT COUNT(*) FROM license_features lf WHERE lf.license_id = l.id) AS n_features, {}",
        crate::terms::select_list("l")
    )
});

pub(super) const DEVICE_COLS: &str = concat!(
    "d.id, d.hardware_id, d.hostname, d.os, d.app_version, d.time_activated, ",
    device_last_check!(),
    " AS last_check, d.lease_expires_at, d.borrowed_until"
);

pub(super) const DEVICE_LAST_CHECK: &str = device_last_check!();

/// The license row as the client logic needs it.
pub(super) struct Lic {
    pub(super) id: i64,
    pub(super) license_key: String,
    pub(super) refunded: bool,
    pub(super) times_activated: i64,
    pub(super) transfer_count: i64,
    /// The license's own counter as it stands now (`0` when its reset period began since it was last added to).
    pub(super) total_consumptions: i64,
    /// When the license was first activated; `None`: never.
    pub(super) time_activated: Option<i64>,
    pub(super) product: String,
    /// How many feature entitlements the license has (their rows are read only when there are some).
    pub(super) n_features: i64,
    pub(super) terms: LicenseTerms,
}

impl Lic {
    pub(super) fn from_row(r: &Row) -> Result<Lic, StoreError> {
        let terms = crate::terms::read(r)?;
        Ok(Lic {
            id: r.get("id")?,
            license_key: r.get::<Option<String>>("license_key")?.unwrap_or_default(),
            refunded: r.get("refunded")?,
            times_activated: r.get("times_activated")?,
            transfer_count: r.get("transfer_count")?,
            total_consumptions: licensd_core::model::consumptions_at(
                r.get("total_consumptions")?,
                r.get("consumptions_counted_at")?,
                terms.reset_consumption,
                terms.consumption_period,
                now_ms(),
            ),
            time_activated: r.get("time_activated")?,
            product: r.get("short_code")?,
            n_features: r.get("n_features")?,
            terms,
        })
    }

    pub(super) fn admit(&self, product: &str, now: i64) -> Result<(), StoreError> {
        let gate = Gate {
            product: &self.product,
            requested_product: product,
            enabled: self.terms.enabled,
            refunded: self.refunded,
            expires_at: self.terms.expires_at,
        };
        admit(gate, now).map_err(StoreError::Refused)
    }

    pub(super) fn lease_ms(&self) -> i64 {
        self.terms.floating_timeout * 60_000
    }
}

pub(super) fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

pub(super) fn device_from_row(r: &Row) -> Result<ClientDevice, StoreError> {
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

/// The license a typed key names (`list::push_key_pass`): the key as typed, trimmed, in one probe of the unique
/// index; only when no license has it, a key that folds case and differs from it only in case (the lowest id, should
/// several: `ACME-…` and `acme-…` of two templates). `select` ends in `WHERE`; `FOR UPDATE OF l` on PostgreSQL
/// when `lock`.
pub(super) async fn by_key(
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
pub(super) async fn lock_with_device(
    tx: &mut Tx,
    key: &str,
    hw: &str,
) -> Result<(Lic, Option<ClientDevice>), StoreError> {
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
pub(super) fn joined_device(r: &Row) -> Result<Option<ClientDevice>, StoreError> {
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
pub(super) async fn lock(tx: &mut Tx, key: &str) -> Result<Lic, StoreError> {
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

pub(super) async fn reload(tx: &mut Tx, id: i64) -> Result<Lic, StoreError> {
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

pub(super) async fn active_device(
    e: &mut impl Exec,
    license_id: i64,
    hw: &str,
) -> Result<Option<ClientDevice>, StoreError> {
    let q = query(format!(
        "SELECT {DEVICE_COLS} FROM devices d WHERE d.license_id = ? AND d.hardware_id = ? AND d.deactivated_at IS NULL"
    ))
    .bind(license_id)
    .bind(hw);
    e.fetch_optional(q).await?.as_ref().map(device_from_row).transpose()
}

pub(super) async fn device_by_id(e: &mut impl Exec, id: i64) -> Result<ClientDevice, StoreError> {
    device_from_row(&e.fetch_one(query(format!("SELECT {DEVICE_COLS} FROM devices d WHERE d.id = ?")).bind(id)).await?)
}
