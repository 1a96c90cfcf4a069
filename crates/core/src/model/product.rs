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
    /// Name → value pairs every license of the product carries (LicenseSpring's product custom fields); a
    /// license may set its own value of each.
    pub custom_fields: Vec<ProductCustomField>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A custom field of a product: a name, and the value its licenses have unless they set their own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductCustomField {
    pub id: i64,
    pub name: String,
    pub default_value: String,
}

/// One of a product's `custom_fields` as given: a field keeps its id (and the licenses' values of it) while its
/// name stays.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProductCustomFieldInput {
    pub name: String,
    #[serde(default)]
    pub default_value: String,
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
    /// The product's custom fields, all of them: the list replaces them (a field left out is deleted with the
    /// licenses' values of it; `[]` deletes every one). Absent: as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<ProductCustomFieldInput>>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

impl ProductInput {
    pub fn validate(&self) -> Result<()> {
        check_text("product_name", &self.product_name, 200, true)?;
        check_code("short_code", &self.short_code)?;
        check_text("bundle_id", &self.bundle_id, 255, false)?;
        let fields = self.custom_fields.as_deref().unwrap_or_default();
        if fields.len() > MAX_CUSTOM_FIELDS {
            return Err(Error::invalid("custom_fields", format!("takes at most {MAX_CUSTOM_FIELDS} fields")));
        }
        for (n, f) in fields.iter().enumerate() {
            check_text(&format!("custom_fields[{n}].name"), &f.name, 100, true)?;
            check_text(&format!("custom_fields[{n}].default_value"), &f.default_value, 10_000, false)?;
            if fields[..n].iter().any(|g| g.name == f.name) {
                return Err(Error::invalid(format!("custom_fields[{n}].name"), "is given twice"));
            }
        }
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
            custom_fields: Some(
                p.custom_fields
                    .iter()
                    .map(|f| ProductCustomFieldInput { name: f.name.clone(), default_value: f.default_value.clone() })
                    .collect(),
            ),
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

impl ConsumptionPeriod {
    /// The start of the period holding `ms`: midnight UTC of its day (daily), of its week's Monday (weekly), of
    /// its month's first day (monthly), of its year's 1 January (annually), as LicenseSpring resets counters.
    pub fn start_of(self, ms: i64) -> i64 {
        let day = ms.div_euclid(crate::time::DAY_MS) * crate::time::DAY_MS;
        let date = time::OffsetDateTime::from_unix_timestamp(day.div_euclid(1000))
            .map(|d| d.date())
            .unwrap_or(time::Date::MIN);
        let start = match self {
            ConsumptionPeriod::Daily => return day,
            ConsumptionPeriod::Weekly => {
                return day - i64::from(date.weekday().number_days_from_monday()) * crate::time::DAY_MS;
            }
            ConsumptionPeriod::Monthly => date.replace_day(1),
            ConsumptionPeriod::Annually => date.replace_day(1).and_then(|d| d.replace_month(time::Month::January)),
        };
        start.map_or(day, |d| d.midnight().assume_utc().unix_timestamp() * 1000)
    }
}

/// A consumption counter as it stands at `now`: `total`, or `0` when the counter resets each `period` and was last
/// added to (`counted_at`) before the current period began.
pub fn consumptions_at(
    total: i64,
    counted_at: Option<i64>,
    reset: bool,
    period: Option<ConsumptionPeriod>,
    now: i64,
) -> i64 {
    match (reset, period, counted_at) {
        (true, Some(p), Some(at)) if at < p.start_of(now) => 0,
        _ => total,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_iso, parse_datetime};

    #[test]
    fn periods_start_at_midnight_utc_of_their_day_monday_first_or_new_year() {
        let at = |s: &str| parse_datetime(s).unwrap();
        // 2024-05-16 is a Thursday.
        let now = at("2024-05-16T15:30:00Z");
        assert_eq!(format_iso(ConsumptionPeriod::Daily.start_of(now)), "2024-05-16T00:00:00Z");
        assert_eq!(format_iso(ConsumptionPeriod::Weekly.start_of(now)), "2024-05-13T00:00:00Z");
        assert_eq!(format_iso(ConsumptionPeriod::Monthly.start_of(now)), "2024-05-01T00:00:00Z");
        assert_eq!(format_iso(ConsumptionPeriod::Annually.start_of(now)), "2024-01-01T00:00:00Z");
        assert_eq!(format_iso(ConsumptionPeriod::Weekly.start_of(at("2024-05-13T00:00:00Z"))), "2024-05-13T00:00:00Z");
        let monthly = Some(ConsumptionPeriod::Monthly);
        assert_eq!(consumptions_at(7, Some(at("2024-04-30T23:59:59Z")), true, monthly, now), 0);
        assert_eq!(consumptions_at(7, Some(at("2024-05-01T00:00:00Z")), true, monthly, now), 7);
        assert_eq!(consumptions_at(7, Some(at("2024-04-30T23:59:59Z")), false, monthly, now), 7);
        assert_eq!(consumptions_at(7, None, true, monthly, now), 7);
    }
}
