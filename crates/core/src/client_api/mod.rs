//! The client API's vocabulary: what an application is told about its license and device, and every
//! named reason a request is refused. Codes are a public interface (docs/client-api.md).

pub mod decide;

use serde::Serialize;
use serde_json::Value;

use crate::model::{FeatureType, LicenseType};
use crate::status::LicenseStatus;

/// Declares [`Refusal`], one row per variant: `Variant { fields } => (status, "CODE", "Title", "detail")`.
/// The detail is a format string that may name the variant's fields (numbers, `i64`). Several variants may
/// share a code (`NOT_FOUND` for a key and for a product), each with its own detail.
macro_rules! refusals {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $($field:ident),+ })? => ($status:literal, $code:literal, $title:literal, $detail:literal)
    ),+ $(,)?) => {
        /// Why a client request was refused; each has a stable code and HTTP status.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Refusal {
            $( $(#[$doc])* $variant $({ $($field: i64),+ })?, )+
        }

        impl Refusal {
            /// Every refusal (its numbers zero), in declaration order: the list of codes with their statuses.
            pub const ALL: &'static [Refusal] = &[$( Refusal::$variant $({ $($field: 0),+ })? ),+];

            /// The stable machine code (`TOO_MANY_ACTIVATIONS`).
            pub fn code(&self) -> &'static str {
                match self {
                    $( Refusal::$variant { .. } => $code, )+
                }
            }

            /// The HTTP status of the refusal when it is an error response (everything but `check`).
            pub fn status(&self) -> u16 {
                match self {
                    $( Refusal::$variant { .. } => $status, )+
                }
            }

            /// A short title for the error envelope.
            pub fn title(&self) -> &'static str {
                match self {
                    $( Refusal::$variant { .. } => $title, )+
                }
            }

            /// A sentence for the end user or the vendor's support.
            pub fn detail(&self) -> String {
                match self {
                    $( Refusal::$variant { $($($field),+)? } => format!($detail), )+
                }
            }
        }
    };
}

refusals! {
    NotFound => (404, "NOT_FOUND", "Not found", "no license has this key"),
    ProductMismatch => (403, "PRODUCT_MISMATCH", "Product mismatch", "the license key belongs to another product"),
    Disabled => (403, "DISABLED", "License disabled", "the license is disabled"),
    Refunded => (403, "REFUNDED", "License refunded", "the license was refunded"),
    Expired => (403, "EXPIRED", "License expired", "the license has expired"),
    NotActivated => (404, "NOT_ACTIVATED", "Not activated", "this device holds no activation of the license"),
    TooManyActivations { max } => (409, "TOO_MANY_ACTIVATIONS", "Too many activations",
        "all {max} activations of the license are in use"),
    NoSeat { seats } => (409, "NO_SEAT", "No seat", "all {seats} floating seats are in use"),
    TransferLimit { max } => (409, "TRANSFER_LIMIT", "Transfer limit",
        "the license may move between devices {max} times, and has"),
    ConsumptionLimit { limit, total } => (409, "CONSUMPTION_LIMIT", "Consumption limit",
        "the consumption would exceed the limit of {limit} (used so far: {total}); nothing was added"),
    FeatureNotFound => (404, "FEATURE_NOT_FOUND", "Feature not found", "the license has no such feature"),
    BorrowNotAllowed => (403, "BORROW_NOT_ALLOWED", "Borrowing not allowed",
        "the license does not allow borrowing a seat"),
    NoTrial => (404, "NO_TRIAL", "No trial",
        "the product offers no trial: its vendor gives it one with a license template with is_trial: true \
         (POST /api/v1/license-templates)"),
    NoSuchProduct => (404, "NOT_FOUND", "Not found", "no product has this short code"),
    /// The device holds a license file (or a borrowed seat) valid until `until` (UNIX seconds): it keeps
    /// its slot until then, or until the vendor frees it.
    FileOutstanding { until } => (409, "LICENSE_FILE_OUTSTANDING", "License file outstanding",
        "this device holds an offline license file (or a borrowed seat) valid until {until} (UNIX seconds); \
         it keeps its activation until then, or until the vendor frees it"),
}

/// The `code` of each success answer of the client API (a refusal answers its [`Refusal::code`]).
pub mod answer {
    /// `check` found the license valid on the device.
    pub const VALID: &str = "VALID";
    /// `activate` and `offline-activate`: the device holds an activation (new, or one it held).
    pub const ACTIVATED: &str = "ACTIVATED";
    /// `deactivate` and `offline-deactivate` freed the device's slot.
    pub const DEACTIVATED: &str = "DEACTIVATED";
    /// `borrow` holds the seat offline.
    pub const BORROWED: &str = "BORROWED";
    /// `trial` answered the device's trial license (new, or one it had).
    pub const TRIAL: &str = "TRIAL";
    /// `consumption` added the consumptions.
    pub const CONSUMED: &str = "CONSUMED";
    /// Every success code.
    pub const ALL: [&str; 6] = [VALID, ACTIVATED, DEACTIVATED, BORROWED, TRIAL, CONSUMED];
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
    /// The license's entitlement id (LicenseSpring's feature `id`); not on the client API's wire.
    #[serde(skip)]
    pub id: i64,
    /// The product feature's id.
    #[serde(skip)]
    pub product_feature: i64,
    pub code: String,
    pub name: String,
    pub feature_type: FeatureType,
    pub max_consumption: i64,
    pub total_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub expiry_date: Option<String>,
    /// A floating feature (LicenseSpring's License API tells these; the client API does not yet).
    #[serde(skip)]
    pub is_floating_cloud: bool,
    #[serde(skip)]
    pub floating_users: i64,
    #[serde(skip)]
    pub floating_timeout: i64,
}

/// A license's feature entitlement as the application is told it: the management API's, without its ids.
impl From<crate::model::LicenseFeature> for ClientFeature {
    fn from(f: crate::model::LicenseFeature) -> Self {
        ClientFeature {
            id: f.id,
            product_feature: f.product_feature,
            code: f.code,
            name: f.name,
            feature_type: f.feature_type,
            max_consumption: f.max_consumption,
            total_consumptions: f.total_consumptions,
            allow_overages: f.allow_overages,
            max_overages: f.max_overages,
            expiry_date: f.expiry_date.map(|d| crate::time::format_date(d.0)),
            is_floating_cloud: f.is_floating_cloud,
            floating_users: f.floating_users,
            floating_timeout: f.floating_timeout,
        }
    }
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

    #[test]
    fn each_refusal_is_one_row_and_the_details_name_its_numbers() {
        assert_eq!(Refusal::ALL.len(), 15);
        let r = Refusal::ConsumptionLimit { limit: 10, total: 7 };
        assert_eq!((r.code(), r.status(), r.title()), ("CONSUMPTION_LIMIT", 409, "Consumption limit"));
        assert_eq!(r.detail(), "the consumption would exceed the limit of 10 (used so far: 7); nothing was added");
        let f = Refusal::FileOutstanding { until: 1764048000 };
        assert!(f.detail().contains("valid until 1764048000 (UNIX seconds); it keeps"), "{}", f.detail());
        // Two refusals share NOT_FOUND, each saying what was not found.
        assert_eq!((Refusal::NoSuchProduct.code(), Refusal::NoSuchProduct.status()), ("NOT_FOUND", 404));
        assert_eq!(Refusal::NoSuchProduct.detail(), "no product has this short code");
        assert_eq!(Refusal::NotFound.detail(), "no license has this key");
    }
}
