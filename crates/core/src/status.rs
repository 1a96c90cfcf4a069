//! A license's status, derived from its facts rather than stored, so it can never disagree with them
//! (an expiry date passing changes the status without anyone writing to the database).

use serde::Serialize;

string_enum! {
    /// License status; the discriminants are DevMate's numbers, which its v2 API shows as `status`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
    pub enum LicenseStatus {
        /// Issued and never activated, or every activation freed again.
        Inactive = 1 => "inactive",
        /// At least one device holds an activation.
        Active = 2 => "active",
        /// Past its validity period.
        Expired = 3 => "expired",
        /// Disabled by the vendor (DevMate: "blocked").
        Disabled = 4 => "disabled",
        /// Refunded: permanently refused.
        Refunded = 5 => "refunded",
    }
}

/// The facts a status is derived from.
#[derive(Debug, Clone, Copy)]
pub struct StatusFacts {
    pub enabled: bool,
    pub refunded: bool,
    pub expires_at: Option<i64>,
    pub times_activated: i64,
}

/// Refunded beats disabled beats expired beats active: the strongest refusal is the one shown.
pub fn license_status(f: StatusFacts, now_ms: i64) -> LicenseStatus {
    if f.refunded {
        LicenseStatus::Refunded
    } else if !f.enabled {
        LicenseStatus::Disabled
    } else if f.expires_at.is_some_and(|e| e <= now_ms) {
        LicenseStatus::Expired
    } else if f.times_activated > 0 {
        LicenseStatus::Active
    } else {
        LicenseStatus::Inactive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> StatusFacts {
        StatusFacts { enabled: true, refunded: false, expires_at: None, times_activated: 0 }
    }

    #[test]
    fn precedence_is_refunded_disabled_expired_active() {
        assert_eq!(license_status(facts(), 10), LicenseStatus::Inactive);
        assert_eq!(license_status(StatusFacts { times_activated: 1, ..facts() }, 10), LicenseStatus::Active);
        let expired = StatusFacts { times_activated: 1, expires_at: Some(10), ..facts() };
        assert_eq!(license_status(expired, 10), LicenseStatus::Expired);
        assert_eq!(license_status(expired, 9), LicenseStatus::Active);
        let disabled = StatusFacts { enabled: false, ..expired };
        assert_eq!(license_status(disabled, 10), LicenseStatus::Disabled);
        assert_eq!(license_status(StatusFacts { refunded: true, ..disabled }, 10), LicenseStatus::Refunded);
    }
}
