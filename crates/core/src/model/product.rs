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

/// A released version of a product, with its installation file (LicenseSpring's product versions: what the
/// License API's `versions` and `installation_file` answer an application with an active license).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductVersion {
    pub id: i64,
    pub product: i64,
    /// `1.4.2`; unique within the product, environment and channel.
    pub version: String,
    /// `win`, `win32`, `win64`, `mac`, `linux`, `linux32`, `linux64`, or empty for every environment.
    pub environment: String,
    /// A release channel (`stable`, `beta`…), or empty.
    pub channel: String,
    pub release_date: Option<Day>,
    /// Where the application downloads it (a URL).
    pub installation_file: String,
    pub hash_md5: String,
    /// Bytes.
    pub size: i64,
    pub eula_link: String,
    pub release_notes_link: String,
    /// The version an installation must have before this one, or empty.
    pub requires_version: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Body of `POST /api/v1/product-versions/` (and, field by field, of `PATCH`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductVersionInput {
    pub product: i64,
    pub version: String,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub release_date: Option<Day>,
    #[serde(default)]
    pub installation_file: String,
    #[serde(default)]
    pub hash_md5: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub eula_link: String,
    #[serde(default)]
    pub release_notes_link: String,
    #[serde(default)]
    pub requires_version: String,
}

/// The environments LicenseSpring's SDKs send (`env`).
pub const ENVIRONMENTS: [&str; 7] = ["win", "win32", "win64", "mac", "linux", "linux32", "linux64"];

impl ProductVersionInput {
    pub fn validate(&self) -> Result<()> {
        check_text("version", &self.version, 64, true)?;
        if !self.environment.is_empty() && !ENVIRONMENTS.contains(&self.environment.as_str()) {
            return Err(Error::invalid(
                "environment",
                format!("must be one of {} (or empty)", ENVIRONMENTS.join(", ")),
            ));
        }
        check_text("channel", &self.channel, 64, false)?;
        for (f, v) in [
            ("installation_file", &self.installation_file),
            ("eula_link", &self.eula_link),
            ("release_notes_link", &self.release_notes_link),
        ] {
            check_text(f, v, 2048, false)?;
        }
        check_text("hash_md5", &self.hash_md5, 64, false)?;
        check_text("requires_version", &self.requires_version, 64, false)?;
        check_range("size", self.size, 0, i64::MAX / 4)
    }
}

impl From<&ProductVersion> for ProductVersionInput {
    fn from(v: &ProductVersion) -> Self {
        ProductVersionInput {
            product: v.product,
            version: v.version.clone(),
            environment: v.environment.clone(),
            channel: v.channel.clone(),
            release_date: v.release_date,
            installation_file: v.installation_file.clone(),
            hash_md5: v.hash_md5.clone(),
            size: v.size,
            eula_link: v.eula_link.clone(),
            release_notes_link: v.release_notes_link.clone(),
            requires_version: v.requires_version.clone(),
        }
    }
}
