//! The client API's vocabulary: what an application is told about its license and device, and every
//! named reason a request is refused. Codes are a public interface (docs/client-api.md).

use serde::Serialize;
use serde_json::Value;

use crate::model::{FeatureType, LicenseType};
use crate::status::LicenseStatus;

/// Why a client request was refused; each has a stable code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    ProductMismatch,
    Disabled,
    Refunded,
    Expired,
    NotActivated,
    TooManyActivations {
        max: i64,
    },
    NoSeat {
        seats: i64,
    },
    TransferLimit {
        max: i64,
    },
    ConsumptionLimit {
        limit: i64,
        total: i64,
    },
    FeatureNotFound,
    BorrowNotAllowed,
    NoTrial,
    NoSuchProduct,
    /// The device holds a license file (or a borrowed seat) valid until `until` (UNIX seconds): it keeps
    /// its slot until then, or until the vendor frees it.
    FileOutstanding {
        until: i64,
    },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound | Refusal::NoSuchProduct => "NOT_FOUND",
            Refusal::ProductMismatch => "PRODUCT_MISMATCH",
            Refusal::Disabled => "DISABLED",
            Refusal::Refunded => "REFUNDED",
            Refusal::Expired => "EXPIRED",
            Refusal::NotActivated => "NOT_ACTIVATED",
            Refusal::TooManyActivations { .. } => "TOO_MANY_ACTIVATIONS",
            Refusal::NoSeat { .. } => "NO_SEAT",
            Refusal::TransferLimit { .. } => "TRANSFER_LIMIT",
            Refusal::ConsumptionLimit { .. } => "CONSUMPTION_LIMIT",
            Refusal::FeatureNotFound => "FEATURE_NOT_FOUND",
            Refusal::BorrowNotAllowed => "BORROW_NOT_ALLOWED",
            Refusal::NoTrial => "NO_TRIAL",
            Refusal::FileOutstanding { .. } => "LICENSE_FILE_OUTSTANDING",
        }
    }

    /// The HTTP status of the refusal when it is an error response (everything but `check`).
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NotFound
            | Refusal::NoSuchProduct
            | Refusal::FeatureNotFound
            | Refusal::NoTrial
            | Refusal::NotActivated => 404,
            Refusal::ProductMismatch
            | Refusal::Disabled
            | Refusal::Refunded
            | Refusal::Expired
            | Refusal::BorrowNotAllowed => 403,
            Refusal::TooManyActivations { .. }
            | Refusal::NoSeat { .. }
            | Refusal::TransferLimit { .. }
            | Refusal::ConsumptionLimit { .. }
            | Refusal::FileOutstanding { .. } => 409,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Refusal::NotFound | Refusal::NoSuchProduct => "Not found",
            Refusal::ProductMismatch => "Product mismatch",
            Refusal::Disabled => "License disabled",
            Refusal::Refunded => "License refunded",
            Refusal::Expired => "License expired",
            Refusal::NotActivated => "Not activated",
            Refusal::TooManyActivations { .. } => "Too many activations",
            Refusal::NoSeat { .. } => "No seat",
            Refusal::TransferLimit { .. } => "Transfer limit",
            Refusal::ConsumptionLimit { .. } => "Consumption limit",
            Refusal::FeatureNotFound => "Feature not found",
            Refusal::BorrowNotAllowed => "Borrowing not allowed",
            Refusal::NoTrial => "No trial",
            Refusal::FileOutstanding { .. } => "License file outstanding",
        }
    }

    /// A sentence for the end user or the vendor's support.
    pub fn detail(&self) -> String {
        match self {
            Refusal::NotFound => "no license has this key".into(),
            Refusal::NoSuchProduct => "no product has this short code".into(),
            Refusal::ProductMismatch => "the license key belongs to another product".into(),
            Refusal::Disabled => "the license is disabled".into(),
            Refusal::Refunded => "the license was refunded".into(),
            Refusal::Expired => "the license has expired".into(),
            Refusal::NotActivated => "this device holds no activation of the license".into(),
            Refusal::TooManyActivations { max } => format!("all {max} activations of the license are in use"),
            Refusal::NoSeat { seats } => format!("all {seats} floating seats are in use"),
            Refusal::TransferLimit { max } => format!("the license may move between devices {max} times, and has"),
            Refusal::ConsumptionLimit { limit, total } => {
                format!("the consumption would exceed the limit of {limit} (used so far: {total}); nothing was added")
            }
            Refusal::FeatureNotFound => "the license has no such feature".into(),
            Refusal::BorrowNotAllowed => "the license does not allow borrowing a seat".into(),
            Refusal::NoTrial => {
                "the product offers no trial: its vendor gives it one with a license template with is_trial: true \
                 (POST /api/v1/license-templates)"
                    .into()
            }
            Refusal::FileOutstanding { until } => format!(
                "this device holds an offline license file (or a borrowed seat) valid until {until} (UNIX seconds); \
                 it keeps its activation until then, or until the vendor frees it"
            ),
        }
    }
}

/// Facts about a license that decide whether a client may use it.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub product: &'a str,
    pub requested_product: &'a str,
    pub enabled: bool,
    pub refunded: bool,
    pub expires_at: Option<i64>,
}

/// Refuses a license for another product, a refunded, disabled or expired one, in that order.
pub fn admit(g: Gate<'_>, now_ms: i64) -> Result<(), Refusal> {
    if g.product != g.requested_product {
        Err(Refusal::ProductMismatch)
    } else if g.refunded {
        Err(Refusal::Refunded)
    } else if !g.enabled {
        Err(Refusal::Disabled)
    } else if g.expires_at.is_some_and(|e| e <= now_ms) {
        Err(Refusal::Expired)
    } else {
        Ok(())
    }
}

/// A feature as the application sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientFeature {
    pub code: String,
    pub name: String,
    pub feature_type: FeatureType,
    pub max_consumption: i64,
    pub total_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub expiry_date: Option<String>,
}

/// A license as the application sees it (no customer data).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientLicense {
    pub license_key: String,
    pub product: String,
    pub status: LicenseStatus,
    pub enabled: bool,
    pub license_type: LicenseType,
    pub is_trial: bool,
    pub validity_period: Option<String>,
    /// UNIX seconds.
    pub expires_at: Option<i64>,
    pub maintenance_period: Option<String>,
    pub max_activations: Option<i64>,
    pub times_activated: i64,
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    pub floating_timeout: i64,
    pub can_borrow: bool,
    pub max_borrow_time: i64,
    pub max_transfers: i64,
    pub transfer_count: i64,
    pub max_consumptions: i64,
    pub total_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub features: Vec<ClientFeature>,
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// A device as the application sees it; times in UNIX seconds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientDevice {
    pub id: i64,
    pub hardware_id: String,
    pub hostname: String,
    pub os: String,
    pub app_version: String,
    pub time_activated: i64,
    pub last_check: Option<i64>,
    pub lease_expires_at: Option<i64>,
    pub borrowed_until: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_order_and_codes() {
        let g = Gate { product: "a", requested_product: "a", enabled: true, refunded: false, expires_at: None };
        assert_eq!(admit(g, 5), Ok(()));
        assert_eq!(admit(Gate { requested_product: "b", refunded: true, ..g }, 5), Err(Refusal::ProductMismatch));
        assert_eq!(admit(Gate { refunded: true, enabled: false, ..g }, 5), Err(Refusal::Refunded));
        assert_eq!(admit(Gate { enabled: false, expires_at: Some(1), ..g }, 5), Err(Refusal::Disabled));
        assert_eq!(admit(Gate { expires_at: Some(5), ..g }, 5), Err(Refusal::Expired));
        assert_eq!(Refusal::TooManyActivations { max: 5 }.status(), 409);
        assert_eq!(Refusal::NotFound.status(), 404);
        assert_eq!(Refusal::Disabled.code(), "DISABLED");
    }
}
