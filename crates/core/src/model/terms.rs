//! License terms: what a template plus overrides resolve to.

use super::*;

/// Every stored term of a license: what a template plus overrides resolve to.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseTerms {
    pub enabled: bool,
    pub license_type: LicenseType,
    pub max_activations: Option<i64>,
    pub expires_at: Option<i64>,
    pub maintenance_until: Option<i64>,
    pub is_trial: bool,
    pub trial_days: i64,
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    pub floating_timeout: i64,
    pub max_transfers: i64,
    pub prevent_vm: bool,
    pub can_borrow: bool,
    pub max_borrow_time: i64,
    pub max_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub is_air_gapped: bool,
    pub is_hardware_key_auth: bool,
    pub subscription_id: Option<String>,
    pub license_file_ttl_days: i64,
    pub note: Option<String>,
    pub metadata: Value,
}

impl LicenseTerms {
    /// The terms a template gives a license issued at `now`.
    pub fn from_template(t: Option<&LicenseTemplate>, now: i64) -> Self {
        match t {
            None => LicenseTerms {
                enabled: true,
                license_type: LicenseType::Perpetual,
                max_activations: Some(1),
                expires_at: None,
                maintenance_until: None,
                is_trial: false,
                trial_days: 0,
                is_floating_cloud: false,
                floating_users: 0,
                floating_timeout: default_floating_timeout(),
                max_transfers: 0,
                prevent_vm: false,
                can_borrow: false,
                max_borrow_time: 0,
                max_consumptions: 0,
                allow_overages: false,
                max_overages: 0,
                is_air_gapped: false,
                is_hardware_key_auth: false,
                subscription_id: None,
                license_file_ttl_days: default_ttl_days(),
                note: None,
                metadata: empty_object(),
            },
            Some(t) => {
                let days = if t.is_trial && t.trial_days > 0 { Some(t.trial_days) } else { t.validity_period_days };
                LicenseTerms {
                    enabled: true,
                    license_type: t.license_type,
                    max_activations: t.max_activations,
                    expires_at: days.map(|d| now + d * crate::time::DAY_MS),
                    maintenance_until: t.maintenance_duration_days.map(|d| now + d * crate::time::DAY_MS),
                    is_trial: t.is_trial,
                    trial_days: t.trial_days,
                    is_floating_cloud: t.is_floating_cloud,
                    floating_users: t.floating_users,
                    floating_timeout: t.floating_timeout,
                    max_transfers: t.max_transfers,
                    prevent_vm: t.prevent_vm,
                    can_borrow: t.can_borrow,
                    max_borrow_time: t.max_borrow_time,
                    max_consumptions: t.max_consumptions,
                    allow_overages: t.allow_overages,
                    max_overages: t.max_overages,
                    is_air_gapped: false,
                    is_hardware_key_auth: false,
                    subscription_id: None,
                    license_file_ttl_days: t.license_file_ttl_days,
                    note: None,
                    metadata: empty_object(),
                }
            }
        }
    }

    /// Applies the overrides an input carries, then checks the result as a whole.
    pub fn apply(&mut self, i: &LicenseInput) -> Result<()> {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = i.$f.clone() { self.$f = v; } )* };
        }
        set!(
            enabled,
            license_type,
            max_activations,
            is_trial,
            trial_days,
            is_floating_cloud,
            floating_users,
            floating_timeout,
            max_transfers,
            prevent_vm,
            can_borrow,
            max_borrow_time,
            max_consumptions,
            allow_overages,
            max_overages,
            is_air_gapped,
            is_hardware_key_auth,
            subscription_id,
            license_file_ttl_days,
            note,
            metadata
        );
        if let Some(v) = i.validity_period {
            self.expires_at = v.map(|d| d.0);
        }
        if let Some(v) = i.maintenance_period {
            self.maintenance_until = v.map(|d| d.0);
        }
        if self.is_floating_cloud && self.floating_users < 1 {
            return Err(Error::invalid("floating_users", "a floating license needs at least one seat"));
        }
        if self.license_type == LicenseType::TimeLimited && self.expires_at.is_none() {
            return Err(Error::invalid("validity_period", "a time-limited license needs a validity period"));
        }
        Ok(())
    }
}
