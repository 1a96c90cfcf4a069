//! Device variables (LicenseSpring's License API v4): name/value pairs an application records on an active
//! device of a license, and reads back. Written with the license row locked, like every client decision.

use super::*;

/// One variable of a device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceVariable {
    pub id: i64,
    pub device_id: i64,
    pub variable: String,
    pub value: String,
    /// UTC ms.
    pub created_at: i64,
}

/// How many variables a device may hold, and how long a name and a value may be (characters).
pub const MAX_VARIABLES: usize = 100;
pub const MAX_NAME: usize = 64;
pub const MAX_VALUE: usize = 1024;

async fn of_device(e: &mut impl Exec, device_id: i64) -> Result<Vec<DeviceVariable>, StoreError> {
    let q =
        query("SELECT id, device_id, name, value, created_at FROM device_variables WHERE device_id = ? ORDER BY name")
            .bind(device_id);
    e.fetch_all(q)
        .await?
        .iter()
        .map(|r| {
            Ok(DeviceVariable {
                id: r.get("id")?,
                device_id: r.get("device_id")?,
                variable: r.get("name")?,
                value: r.get("value")?,
                created_at: r.get("created_at")?,
            })
        })
        .collect()
}

/// Records `vars` (name, value) on the request's active device, a name given again taking the new value;
/// answers every variable of the device. Refused like a check (`NotActivated` for a device without an
/// activation); a device may hold at most [`MAX_VARIABLES`].
pub async fn set_variables(
    db: &Db,
    req: &ClientReq,
    vars: &[(String, String)],
) -> Result<Vec<DeviceVariable>, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (l, device) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    let Some(device) = device else { return refuse(Refusal::NotActivated) };
    for (name, value) in vars {
        tx.execute(
            query(
                "INSERT INTO device_variables (device_id, name, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(device.id)
            .bind(name.as_str())
            .bind(value.as_str())
            .bind(now)
            .bind(now),
        )
        .await?;
    }
    let all = of_device(&mut tx, device.id).await?;
    if all.len() > MAX_VARIABLES {
        return Err(StoreError::State(format!("a device holds at most {MAX_VARIABLES} variables")));
    }
    tx.commit().await?;
    Ok(all)
}

/// Every variable of the request's active device (refused like a check).
pub async fn variables(db: &Db, req: &ClientReq) -> Result<Vec<DeviceVariable>, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (l, device) = lock_with_device(&mut tx, &req.license_key, &req.hardware_id).await?;
    l.admit(&req.product, now)?;
    let Some(device) = device else { return refuse(Refusal::NotActivated) };
    let all = of_device(&mut tx, device.id).await?;
    tx.commit().await?;
    Ok(all)
}
