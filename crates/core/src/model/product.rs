//! Products and their features.

use super::*;

/// A product the vendor sells.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    pub id: i64,
    pub product_name: String,
    pub short_code: String,
    pub bundle_id: String,
    pub use_offline_license: bool,
    /// `license-key` or `user`.
    pub authorization_method: AuthorizationMethod,
    pub is_bundle: bool,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

string_enum! {
    /// How a product's licenses are authorized: by key, or by a license user's login.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
    pub enum AuthorizationMethod {
        #[default]
        LicenseKey => "license-key",
        User => "user",
    }
}

/// Body of `POST /api/v1/products/` (and, field by field, of `PATCH`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub product_name: String,
    /// Unique; what applications send as `product`.
    pub short_code: String,
    #[serde(default)]
    pub bundle_id: String,
    #[serde(default)]
    pub use_offline_license: bool,
    #[serde(default)]
    pub authorization_method: AuthorizationMethod,
    #[serde(default)]
    pub is_bundle: bool,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

impl ProductInput {
    pub fn validate(&self) -> Result<()> {
        check_text("product_name", &self.product_name, 200, true)?;
        check_code("short_code", &self.short_code)?;
        check_text("bundle_id", &self.bundle_id, 255, false)?;
        check_metadata(&self.metadata)
    }
}

impl From<&Product> for ProductInput {
    fn from(p: &Product) -> Self {
        ProductInput {
            product_name: p.product_name.clone(),
            short_code: p.short_code.clone(),
            bundle_id: p.bundle_id.clone(),
            use_offline_license: p.use_offline_license,
            authorization_method: p.authorization_method,
            is_bundle: p.is_bundle,
            metadata: p.metadata.clone(),
        }
    }
}

string_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
    pub enum FeatureType {
        #[default]
        Activation => "activation",
        Consumption => "consumption",
    }
}

string_enum! {
    /// When a consumption counter starts again from zero.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
    pub enum ConsumptionPeriod {
        Daily => "daily",
        Weekly => "weekly",
        Monthly => "monthly",
        Annually => "annually",
    }
}

/// A feature of a product: an on/off entitlement (`activation`) or a metered one (`consumption`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Feature {
    pub id: i64,
    pub product: i64,
    pub code: String,
    pub name: String,
    pub feature_type: FeatureType,
    pub max_consumption: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub reset_consumption: bool,
    pub consumption_period: Option<ConsumptionPeriod>,
    /// A floating feature: each license that has it lets `floating_users` devices use it at once (LicenseSpring's
    /// floating cloud feature: `check_license_feature` takes a seat, `floating/feature_release` gives it back).
    pub is_floating_cloud: bool,
    /// Seats per license, for a floating feature.
    pub floating_users: i64,
    /// Minutes a seat is held without a new `check_license_feature`.
    pub floating_timeout: i64,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Body of `POST /api/v1/product-features/`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureInput {
    pub product: i64,
    /// Unique within the product.
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub feature_type: FeatureType,
    #[serde(default)]
    pub max_consumption: i64,
    #[serde(default)]
    pub allow_overages: bool,
    #[serde(default)]
    pub max_overages: i64,
    #[serde(default)]
    pub reset_consumption: bool,
    #[serde(default)]
    pub consumption_period: Option<ConsumptionPeriod>,
    /// A floating feature (seats per license: `floating_users`, at least 1).
    #[serde(default)]
    pub is_floating_cloud: bool,
    #[serde(default)]
    pub floating_users: i64,
    /// Minutes a seat is held without a new check (1 to 10080; default 60).
    #[serde(default = "default_feature_floating_timeout")]
    pub floating_timeout: i64,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

impl FeatureInput {
    pub fn validate(&self) -> Result<()> {
        check_code("code", &self.code)?;
        check_text("name", &self.name, 200, true)?;
        check_range("max_consumption", self.max_consumption, 0, i64::MAX / 4)?;
        check_range("max_overages", self.max_overages, 0, i64::MAX / 4)?;
        check_range("floating_users", self.floating_users, i64::from(self.is_floating_cloud), 1_000_000)?;
        check_range("floating_timeout", self.floating_timeout, 1, 10_080)?;
        check_metadata(&self.metadata)
    }
}

/// A floating feature's seat timeout when none is given: an hour.
pub fn default_feature_floating_timeout() -> i64 {
    60
}

impl From<&Feature> for FeatureInput {
    fn from(f: &Feature) -> Self {
        FeatureInput {
            product: f.product,
            code: f.code.clone(),
            name: f.name.clone(),
            feature_type: f.feature_type,
            max_consumption: f.max_consumption,
            allow_overages: f.allow_overages,
            max_overages: f.max_overages,
            reset_consumption: f.reset_consumption,
            consumption_period: f.consumption_period,
            is_floating_cloud: f.is_floating_cloud,
            floating_users: f.floating_users,
            floating_timeout: f.floating_timeout,
            metadata: f.metadata.clone(),
        }
    }
}
