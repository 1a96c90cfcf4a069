//! The license object of LicenseSpring's License API (activate, check and offline answers), built from the
//! same outcome the client API answers with, each field mapped by meaning (docs/licensespring.md, "The license
//! object"). `is_floating` is LicenseSpring's on-premises floating server, which licensd is not: always
//! `false`; licensd's floating licenses are `is_floating_cloud`.

use licensd_core::client_api::ClientFeature;
use licensd_core::model::{FeatureType, LicenseType, Product};
use licensd_core::time::now_ms;
use licensd_store::client_api::Outcome;
use serde_json::{Value, json};

/// `2026-12-15T00:00:00.000Z`: the form LicenseSpring's SDKs sign `validity_period` in (`toISOString`), so
/// the raw and the normalised text coincide and no client time zone moves it.
pub fn iso_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&f).unwrap_or_default()
}

fn opt_iso(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(iso_ms(ms)))
}

/// The `product_details` object (also `GET product_details`' core).
pub fn product_details(p: &Product, prevent_vm: bool) -> Value {
    json!({
        "product_id": p.id,
        "product_name": p.product_name,
        "short_code": p.short_code,
        "authorization_method": p.authorization_method,
        "metadata": p.metadata,
        "prevent_vm": prevent_vm,
    })
}

/// A feature as LicenseSpring's SDKs read it (`product_features[]`, `check_license_feature`).
pub fn feature(f: &ClientFeature, license_id: i64) -> Value {
    let consumption = f.feature_type == FeatureType::Consumption;
    let mut v = json!({
        "id": f.id,
        "license_id": license_id,
        "code": f.code,
        "name": f.name,
        "feature_type": f.feature_type,
        "expiry_date": f.expiry_date.as_deref().map(|d| format!("{d}T00:00:00.000Z")),
        "metadata": {},
        "is_floating": false,
        "is_floating_cloud": f.is_floating_cloud,
    });
    if f.is_floating_cloud {
        let m = v.as_object_mut().expect("an object");
        m.insert("floating_users".into(), json!(f.floating_users));
        m.insert("floating_timeout".into(), json!(f.floating_timeout));
    }
    if consumption {
        let m = v.as_object_mut().expect("an object");
        m.insert("max_consumption".into(), json!(f.max_consumption));
        m.insert("total_consumptions".into(), json!(f.total_consumptions));
        m.insert("allow_unlimited_consumptions".into(), json!(false));
        m.insert("allow_overages".into(), json!(f.allow_overages));
        m.insert("max_overages".into(), json!(f.max_overages));
        m.insert("allow_negative_consumptions".into(), json!(false));
        m.insert("reset_consumption".into(), json!(false));
        m.insert("consumption_period".into(), Value::Null);
    }
    v
}

/// The license object for an outcome: `active` says whether the device holds the license now (true on
/// activate and check answers).
pub fn object(o: &Outcome, product: &Product, active: bool) -> Value {
    let l = &o.license;
    let t = &o.terms;
    let now = now_ms();
    let device = o.device.as_ref();
    let borrowed_until = device.and_then(|d| d.borrowed_until).map(|s| s * 1000);
    let mut v = json!({
        "id": o.license_id,
        "license_key": l.license_key,
        "license_type": l.license_type,
        "license_template_id": Value::Null,
        "max_activations": l.max_activations.unwrap_or(0),
        "allow_unlimited_activations": l.max_activations.is_none(),
        "times_activated": l.times_activated,
        "validity_period": opt_iso(o.expires_at),
        "is_expired": o.expires_at.is_some_and(|e| e <= now),
        "license_enabled": l.enabled,
        "license_active": active,
        "is_trial": l.is_trial,
        "trial_days": t.trial_days,
        "prevent_vm": t.prevent_vm,
        "is_floating": false,
        "is_floating_cloud": l.is_floating_cloud,
        "floating_users": l.floating_users,
        "floating_timeout": l.floating_timeout,
        "floating_in_use_devices": 0,
        "can_borrow": l.can_borrow,
        "max_borrow_time": l.max_borrow_time,
        "is_borrowed": borrowed_until.is_some_and(|b| b > now),
        "borrowed_until": opt_iso(borrowed_until),
        "max_transfers": l.max_transfers,
        "transfer_count": l.transfer_count,
        "max_consumptions": l.max_consumptions,
        "total_consumptions": l.total_consumptions,
        "allow_unlimited_consumptions": l.license_type == LicenseType::Consumption && l.max_consumptions == 0,
        "allow_overages": l.allow_overages,
        "max_overages": l.max_overages,
    });
    let more = json!({
        "allow_negative_consumptions": false,
        "reset_consumption": t.reset_consumption,
        "consumption_period": t.consumption_period,
        "allow_grace_period": false,
        "grace_period": 0,
        "start_date": Value::Null,
        "maintenance_period": opt_iso(t.maintenance_until),
        "enable_maintenance_period": t.maintenance_until.is_some(),
        "is_air_gapped": t.is_air_gapped,
        "is_hardware_key_auth": t.is_hardware_key_auth,
        "max_license_users": t.max_license_users,
        "device_id": device.map(|d| d.id),
        "metadata": l.metadata,
        "company": {"id": 1},
        "product_details": product_details(product, t.prevent_vm),
        "product_features": l.features.iter().map(|f| feature(f, o.license_id)).collect::<Vec<_>>(),
        "custom_fields": [],
    });
    if let (Some(m), Value::Object(more)) = (v.as_object_mut(), more) {
        m.extend(more);
    }
    v
}

/// The `user` object of a user-based answer.
pub fn user(u: &licensd_store::license_users::Login, license_max: Option<i64>, times_activated: i64) -> Value {
    let max = u.max_activations.or(license_max);
    json!({
        "id": u.user.id,
        "email": u.user.email,
        "first_name": u.user.first_name,
        "last_name": u.user.last_name,
        "phone_number": u.user.phone_number,
        "is_initial_password": u.is_initial_password,
        "max_activations": max.unwrap_or(0),
        "allow_unlimited_activations": max.is_none(),
        "total_activations": times_activated,
    })
}

/// The message of the v1 `license_signature`: `lower(hardware_id#identity#validity)`, the validity in the
/// `toISOString` form (empty without one).
pub fn v1_message(hardware_id: &str, identity: &str, validity: Option<i64>) -> String {
    let validity = validity.map(iso_ms).unwrap_or_default();
    format!("{hardware_id}#{identity}#{validity}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_in_to_iso_string_form() {
        assert_eq!(iso_ms(1_796_169_600_000), "2026-12-02T00:00:00.000Z");
        assert_eq!(iso_ms(1_796_151_267_042), "2026-12-01T18:54:27.042Z");
        assert_eq!(v1_message("HW-A", "KEY-1", Some(1_796_169_600_000)), "hw-a#key-1#2026-12-02t00:00:00.000z");
        assert_eq!(v1_message("HW", "K", None), "hw#k#");
    }
}
