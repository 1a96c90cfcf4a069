//! License templates: the terms licenses are issued with.

use super::*;

string_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
    pub enum LicenseType {
        #[default]
        Perpetual => "perpetual",
        TimeLimited => "time-limited",
        Subscription => "subscription",
        Consumption => "consumption",
    }
}

/// A feature a template grants, with the limits licenses issued from it get.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TemplateFeature {
    pub feature: i64,
    pub code: String,
    pub name: String,
    pub max_consumption: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
}

/// How a template names one of its product's features: by `code`, with optional limits that override the
/// feature's own.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFeatureInput {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_consumption: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_overages: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_overages: Option<i64>,
}

/// The rules licenses are issued from (DevMate "license type", Keygen "policy").
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LicenseTemplate {
    pub id: i64,
    pub product: i64,
    pub name: String,
    pub code: String,
    pub license_type: LicenseType,
    pub key_prefix: String,
    pub key_groups: i64,
    pub key_group_size: i64,
    /// `null`: unlimited.
    pub max_activations: Option<i64>,
    /// Days from issue until the license expires; `null`: never.
    pub validity_period_days: Option<i64>,
    pub is_trial: bool,
    pub trial_days: i64,
    pub is_floating_cloud: bool,
    pub floating_users: i64,
    /// Minutes a floating seat lease lives without a check.
    pub floating_timeout: i64,
    /// `0`: unlimited.
    pub max_transfers: i64,
    pub prevent_vm: bool,
    pub can_borrow: bool,
    /// Hours.
    pub max_borrow_time: i64,
    pub maintenance_duration_days: Option<i64>,
    pub max_consumptions: i64,
    pub allow_overages: bool,
    pub max_overages: i64,
    /// How long an offline license file stays valid.
    pub license_file_ttl_days: i64,
    pub features: Vec<TemplateFeature>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl LicenseTemplate {
    pub fn key_format(&self) -> KeyFormat {
        KeyFormat {
            prefix: self.key_prefix.clone(),
            groups: u8::try_from(self.key_groups).unwrap_or(4),
            group_size: u8::try_from(self.key_group_size).unwrap_or(5),
        }
    }
}

/// Body of `POST /api/v1/license-templates/`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseTemplateInput {
    pub product: i64,
    pub name: String,
    /// Unique.
    pub code: String,
    #[serde(default)]
    pub license_type: LicenseType,
    #[serde(default)]
    pub key_prefix: String,
    #[serde(default = "default_key_groups")]
    pub key_groups: i64,
    #[serde(default = "default_key_group_size")]
    pub key_group_size: i64,
    #[serde(default = "one")]
    pub max_activations: Option<i64>,
    #[serde(default)]
    pub validity_period_days: Option<i64>,
    #[serde(default)]
    pub is_trial: bool,
    #[serde(default)]
    pub trial_days: i64,
    #[serde(default)]
    pub is_floating_cloud: bool,
    #[serde(default)]
    pub floating_users: i64,
    #[serde(default = "default_floating_timeout")]
    pub floating_timeout: i64,
    #[serde(default)]
    pub max_transfers: i64,
    #[serde(default)]
    pub prevent_vm: bool,
    #[serde(default)]
    pub can_borrow: bool,
    #[serde(default)]
    pub max_borrow_time: i64,
    #[serde(default)]
    pub maintenance_duration_days: Option<i64>,
    #[serde(default)]
    pub max_consumptions: i64,
    #[serde(default)]
    pub allow_overages: bool,
    #[serde(default)]
    pub max_overages: i64,
    #[serde(default = "default_ttl_days")]
    pub license_file_ttl_days: i64,
    #[serde(default)]
    pub features: Vec<TemplateFeatureInput>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

impl LicenseTemplateInput {
    pub fn validate(&self) -> Result<()> {
        check_text("name", &self.name, 200, true)?;
        check_code("code", &self.code)?;
        let format = KeyFormat {
            prefix: self.key_prefix.clone(),
            groups: u8::try_from(self.key_groups).map_err(|_| Error::invalid("key_groups", "must be 1 to 16"))?,
            group_size: u8::try_from(self.key_group_size)
                .map_err(|_| Error::invalid("key_group_size", "must be 1 to 16"))?,
        };
        format.validate()?;
        if let Some(m) = self.max_activations {
            check_range("max_activations", m, 0, 1_000_000_000)?;
        }
        if let Some(d) = self.validity_period_days {
            check_range("validity_period_days", d, 1, TEN_YEARS_DAYS)?;
        }
        if self.license_type == LicenseType::TimeLimited && self.validity_period_days.is_none() {
            return Err(Error::invalid("validity_period_days", "a time-limited template needs a validity period"));
        }
        check_range("trial_days", self.trial_days, 0, TEN_YEARS_DAYS)?;
        check_range("floating_users", self.floating_users, 0, 1_000_000)?;
        if self.is_floating_cloud && self.floating_users < 1 {
            return Err(Error::invalid("floating_users", "a floating template needs at least one seat"));
        }
        check_range("floating_timeout", self.floating_timeout, 1, 60 * 24 * 365)?;
        check_range("max_transfers", self.max_transfers, 0, 1_000_000)?;
        check_range("max_borrow_time", self.max_borrow_time, 0, 24 * 365)?;
        if let Some(d) = self.maintenance_duration_days {
            check_range("maintenance_duration_days", d, 1, TEN_YEARS_DAYS)?;
        }
        check_range("max_consumptions", self.max_consumptions, 0, i64::MAX / 4)?;
        check_range("max_overages", self.max_overages, 0, i64::MAX / 4)?;
        check_range("license_file_ttl_days", self.license_file_ttl_days, 1, TEN_YEARS_DAYS)?;
        for (i, f) in self.features.iter().enumerate() {
            check_code(&format!("features[{i}].code"), &f.code)?;
            // The same bounds as the feature's own limits (`FeatureInput::validate`).
            if let Some(m) = f.max_consumption {
                check_range(&format!("features[{i}].max_consumption"), m, 0, i64::MAX / 4)?;
            }
            if let Some(m) = f.max_overages {
                check_range(&format!("features[{i}].max_overages"), m, 0, i64::MAX / 4)?;
            }
        }
        check_metadata(&self.metadata)
    }
}

/// A template as the input that would make it again (what a `PATCH` merges into); the terms it gives its
/// licenses come from [`for_each_license_term!`](crate::for_each_license_term), so each must be a field of both.
macro_rules! template_input_from_template {
    ($( $(#[$doc:meta])* inherited $f:ident : $t:ty = $default:expr ),* $(,)?) => {
        impl From<&LicenseTemplate> for LicenseTemplateInput {
            fn from(t: &LicenseTemplate) -> Self {
                LicenseTemplateInput {
                    $( $f: t.$f.clone(), )*
                    product: t.product,
                    name: t.name.clone(),
                    code: t.code.clone(),
                    key_prefix: t.key_prefix.clone(),
                    key_groups: t.key_groups,
                    key_group_size: t.key_group_size,
                    validity_period_days: t.validity_period_days,
                    maintenance_duration_days: t.maintenance_duration_days,
                    features: t
                        .features
                        .iter()
                        .map(|f| TemplateFeatureInput {
                            code: f.code.clone(),
                            max_consumption: Some(f.max_consumption),
                            allow_overages: Some(f.allow_overages),
                            max_overages: Some(f.max_overages),
                        })
                        .collect(),
                    metadata: t.metadata.clone(),
                }
            }
        }
    };
}
crate::for_each_license_term!(template_input_from_template, inherited);
