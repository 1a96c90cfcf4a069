//! Licenses: the representation, and the body that issues or changes one.

use super::*;

/// A product named by id or by short code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProductRef {
    Id(i64),
    ShortCode(String),
}

/// A template named by id or by code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TemplateRef {
    Id(i64),
    Code(String),
}

/// The product as a license shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductSummary {
    pub id: i64,
    pub product_name: String,
    pub short_code: String,
}

/// A feature entitlement of one license, with its own limits and counter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LicenseFeature {
    pub id: i64,
    pub product_feature: i64,
    pub code: String,
    pub name: String,
    pub feature_type: FeatureType,
    pub max_consumption: i64,
    pub total_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub expiry_date: Option<Day>,
    /// The product feature is floating: `floating_users` devices per license at once, seats held
    /// `floating_timeout` minutes.
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    pub floating_timeout: i64,
}

/// Something that happened, by whom, with the record before and after (audit log and license history).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// `resource.verb`, e.g. `license.disabled`.
    pub action: String,
    /// The token's name, `client` for the client API, or `system`.
    pub actor: String,
    pub resource_type: String,
    pub resource_id: i64,
    pub license: Option<i64>,
    /// The product of the license the event belongs to (as it was then); `null` for events of no license.
    pub product: Option<i64>,
    pub note: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub created_at: Timestamp,
}

/// A person a user-based license is assigned to (seed 002's `license_users`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LicenseUser {
    pub id: i64,
    /// The address as given.
    pub email: String,
    pub true_email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub is_active: bool,
    /// On this license: may manage it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_manager: Option<bool>,
    /// On this license: the group the user belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_group: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Body of `POST /api/v1/licenses/{id}/assign_user/`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignUserInput {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub is_manager: bool,
    #[serde(default)]
    pub max_activations: Option<i64>,
    #[serde(default)]
    pub user_group: String,
    /// The password the user signs in from the application with (user-based products, LicenseSpring's
    /// `username` + `password`); 8 to 256 characters. Kept as an Argon2id hash; an existing user's is replaced.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

impl AssignUserInput {
    pub fn validate(&self) -> Result<()> {
        if normalize_email("email", &self.email)?.is_none() {
            return Err(Error::invalid("email", "is required"));
        }
        if let Some(p) = &self.password
            && !(8..=256).contains(&p.chars().count())
        {
            return Err(Error::invalid("password", "must be 8 to 256 characters"));
        }
        for (f, v) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("phone_number", &self.phone_number),
            ("user_group", &self.user_group),
        ] {
            check_text(f, v, 255, false)?;
        }
        if let Some(m) = self.max_activations {
            check_range("max_activations", m, 0, 1_000_000_000)?;
        }
        Ok(())
    }
}

/// Body of `POST /api/v1/licenses/{id}/unassign_user/`: the user by id or by email.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnassignUserInput {
    pub license_user_id: Option<i64>,
    pub license_user_email: Option<String>,
}

/// A license key and the terms it grants.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct License {
    pub id: i64,
    pub license_key: Option<String>,
    pub status: LicenseStatus,
    /// At least one device holds an activation.
    pub active: bool,
    /// The vendor's on/off switch (DevMate "blocked" is `false`).
    pub enabled: bool,
    pub refunded: bool,
    pub customer: Option<Customer>,
    pub product: ProductSummary,
    pub order: Option<i64>,
    pub order_store_id: Option<String>,
    pub license_template: Option<i64>,
    pub license_type: LicenseType,
    /// `null`: unlimited.
    pub max_activations: Option<i64>,
    pub times_activated: i64,
    pub total_active_devices: i64,
    pub validity_period: Option<Day>,
    pub maintenance_period: Option<Day>,
    pub is_trial: bool,
    pub trial_days: i64,
    pub is_floating: bool,
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    pub floating_timeout: i64,
    /// The seats held now: active devices with a live lease or borrowing (0 unless floating).
    pub floating_in_use_devices: i64,
    pub max_transfers: i64,
    pub transfer_count: i64,
    pub prevent_vm: bool,
    pub can_borrow: bool,
    pub max_borrow_time: i64,
    pub max_consumptions: i64,
    pub total_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    pub is_air_gapped: bool,
    pub is_hardware_key_auth: bool,
    pub subscription_id: Option<String>,
    /// The bundle license this license belongs to.
    pub bundle_license: Option<i64>,
    pub is_bundle: bool,
    pub license_file_ttl_days: i64,
    pub product_features: Vec<LicenseFeature>,
    pub license_users: Vec<LicenseUser>,
    pub note: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub time_activated: Option<Timestamp>,
    pub time_disabled: Option<Timestamp>,
    pub last_check: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Present on a single license: its latest changes (at most 50), oldest of them first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Event>>,
    /// With `history`: how many events the license has in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_count: Option<i64>,
    /// With `history`: where the whole history is paged (`/api/v1/events/?license=…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_url: Option<String>,
    /// A trial license: the email its `trial` call gave, if any (a trial never becomes anyone's customer).
    pub trial_email: Option<String>,
}

/// Body of `POST /api/v1/licenses/` (and of each entry of an order's `licenses`). Every term not given
/// comes from the template; `PATCH` takes the same fields but product and template.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseInput {
    /// Required unless the template names it.
    pub product: Option<ProductRef>,
    pub license_template: Option<TemplateRef>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<CustomerRef>)]
    pub customer: Option<Option<CustomerRef>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub order: Option<Option<i64>>,
    /// Generated from the template's key format when absent.
    pub license_key: Option<String>,
    pub enabled: Option<bool>,
    pub license_type: Option<LicenseType>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_activations: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Day>)]
    pub validity_period: Option<Option<Day>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Day>)]
    pub maintenance_period: Option<Option<Day>>,
    pub is_trial: Option<bool>,
    pub trial_days: Option<i64>,
    pub is_floating_cloud: Option<bool>,
    pub floating_users: Option<i64>,
    pub floating_timeout: Option<i64>,
    pub max_transfers: Option<i64>,
    pub prevent_vm: Option<bool>,
    pub can_borrow: Option<bool>,
    pub max_borrow_time: Option<i64>,
    pub max_consumptions: Option<i64>,
    pub allow_overages: Option<bool>,
    pub max_overages: Option<i64>,
    pub is_air_gapped: Option<bool>,
    pub is_hardware_key_auth: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub subscription_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub bundle_license: Option<Option<i64>>,
    pub license_file_ttl_days: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

impl LicenseInput {
    /// Checks the values that can be checked without the database.
    pub fn validate(&self) -> Result<()> {
        if let Some(k) = &self.license_key {
            crate::keys::validate_key(k)?;
        }
        if let Some(Some(m)) = self.max_activations {
            check_range("max_activations", m, 0, 1_000_000_000)?;
        }
        for (name, v, min, max) in [
            ("trial_days", self.trial_days, 0, TEN_YEARS_DAYS),
            ("floating_users", self.floating_users, 0, 1_000_000),
            ("floating_timeout", self.floating_timeout, 1, 60 * 24 * 365),
            ("max_transfers", self.max_transfers, 0, 1_000_000),
            ("max_borrow_time", self.max_borrow_time, 0, 24 * 365),
            ("max_consumptions", self.max_consumptions, 0, i64::MAX / 4),
            ("max_overages", self.max_overages, 0, i64::MAX / 4),
            ("license_file_ttl_days", self.license_file_ttl_days, 1, TEN_YEARS_DAYS),
        ] {
            if let Some(v) = v {
                check_range(name, v, min, max)?;
            }
        }
        if let Some(Some(n)) = &self.note {
            check_text("note", n, 10_000, false)?;
        }
        if let Some(m) = &self.metadata {
            check_metadata(m)?;
        }
        if let Some(Some(CustomerRef::New(c))) = &self.customer {
            let mut c = c.as_ref().clone();
            c.validate().map_err(|e| prefix_error("customer.", e))?;
        }
        Ok(())
    }
}
