//! The records licensd keeps, in the shape the management API shows them (field names from seed 002),
//! and the bodies it accepts to create or change them.
//!
//! Inputs reject unknown fields: a misspelt field silently ignored is a license sold with the wrong terms.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::keys::KeyFormat;
use crate::status::LicenseStatus;
use crate::time::{Day, Timestamp};
use crate::{Error, Result};

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn one() -> Option<i64> {
    Some(1)
}

fn default_ttl_days() -> i64 {
    30
}

fn default_floating_timeout() -> i64 {
    30
}

fn default_key_groups() -> i64 {
    4
}

fn default_key_group_size() -> i64 {
    5
}

/// Deserializes a field where `null` means something (e.g. unlimited) and absence means "unchanged".
pub fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn check_metadata(v: &Value) -> Result<()> {
    if v.is_object() { Ok(()) } else { Err(Error::invalid("metadata", "must be a JSON object")) }
}

fn check_text(field: &str, v: &str, max: usize, required: bool) -> Result<()> {
    if required && v.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_range(field: &str, v: i64, min: i64, max: i64) -> Result<()> {
    if v < min || v > max {
        return Err(Error::invalid(field, format!("must be between {min} and {max}")));
    }
    Ok(())
}

/// A short code: what applications send as `product`, so it stays URL- and shell-safe.
fn check_code(field: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 64 {
        return Err(Error::invalid(field, "must be 1 to 64 characters"));
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(Error::invalid(field, "may hold only ASCII letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

/// Trims and checks an email, keeping its case as given (the store matches emails case-insensitively through
/// its lower-cased `email_norm`); `None` for an empty one.
pub fn normalize_email(field: &str, email: &str) -> Result<Option<String>> {
    let e = email.trim();
    if e.is_empty() {
        return Ok(None);
    }
    let (local, domain) = e.rsplit_once('@').ok_or_else(|| Error::invalid(field, "is not an email address"))?;
    if local.is_empty() || domain.is_empty() || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(field, "is not an email address"));
    }
    Ok(Some(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Products and features

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
        check_metadata(&self.metadata)
    }
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
            metadata: f.metadata.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// License templates

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

const TEN_YEARS_DAYS: i64 = 3653 * 10;

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
        }
        check_metadata(&self.metadata)
    }
}

impl From<&LicenseTemplate> for LicenseTemplateInput {
    fn from(t: &LicenseTemplate) -> Self {
        LicenseTemplateInput {
            product: t.product,
            name: t.name.clone(),
            code: t.code.clone(),
            license_type: t.license_type,
            key_prefix: t.key_prefix.clone(),
            key_groups: t.key_groups,
            key_group_size: t.key_group_size,
            max_activations: t.max_activations,
            validity_period_days: t.validity_period_days,
            is_trial: t.is_trial,
            trial_days: t.trial_days,
            is_floating_cloud: t.is_floating_cloud,
            floating_users: t.floating_users,
            floating_timeout: t.floating_timeout,
            max_transfers: t.max_transfers,
            prevent_vm: t.prevent_vm,
            can_borrow: t.can_borrow,
            max_borrow_time: t.max_borrow_time,
            maintenance_duration_days: t.maintenance_duration_days,
            max_consumptions: t.max_consumptions,
            allow_overages: t.allow_overages,
            max_overages: t.max_overages,
            license_file_ttl_days: t.license_file_ttl_days,
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

// ---------------------------------------------------------------------------------------------
// Customer accounts

/// A company that owns customers and orders (LicenseSpring's customer account).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerAccount {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub description: String,
    pub phone: String,
    pub address: String,
    pub email: String,
    pub reference: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Body of `POST /api/v1/customer-accounts/`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerAccountInput {
    pub name: String,
    /// Unique.
    pub code: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub reference: String,
}

impl CustomerAccountInput {
    pub fn validate(&self) -> Result<()> {
        check_text("name", &self.name, 200, true)?;
        check_code("code", &self.code)?;
        for (f, v) in [
            ("description", &self.description),
            ("phone", &self.phone),
            ("address", &self.address),
            ("reference", &self.reference),
        ] {
            check_text(f, v, 1000, false)?;
        }
        if !self.email.is_empty() {
            normalize_email("email", &self.email)?;
        }
        Ok(())
    }
}

impl From<&CustomerAccount> for CustomerAccountInput {
    fn from(a: &CustomerAccount) -> Self {
        CustomerAccountInput {
            name: a.name.clone(),
            code: a.code.clone(),
            description: a.description.clone(),
            phone: a.phone.clone(),
            address: a.address.clone(),
            email: a.email.clone(),
            reference: a.reference.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Customers and orders

/// A label attached to a customer (seed 002's `labels` entries).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerLabel {
    /// The attachment's id.
    pub id: i64,
    pub label_id: i64,
    pub label: String,
    pub color: String,
}

/// A label on input: its name, or its name and colour.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LabelInput {
    Name(String),
    Full {
        label: String,
        #[serde(default)]
        color: Option<String>,
    },
}

impl LabelInput {
    pub fn name(&self) -> &str {
        match self {
            LabelInput::Name(n) | LabelInput::Full { label: n, .. } => n,
        }
    }
    pub fn color(&self) -> Option<&str> {
        match self {
            LabelInput::Name(_) => None,
            LabelInput::Full { color, .. } => color.as_deref(),
        }
    }
}

/// A label colour: `#rgb` or `#rrggbb` (hex digits, either case), or empty for none. Anything else would
/// reach a dashboard's style attributes as given.
pub fn check_color(field: &str, c: &str) -> Result<()> {
    let hex = c.strip_prefix('#').unwrap_or_default();
    if c.is_empty() || (matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
        Ok(())
    } else {
        Err(Error::invalid(field, "is not a colour: give #rgb or #rrggbb"))
    }
}

/// A vendor's customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Customer {
    pub id: i64,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    pub phone: String,
    pub reference: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub country: String,
    pub state: String,
    pub note: String,
    pub labels: Vec<CustomerLabel>,
    pub customer_account: Option<i64>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Body of `POST /api/v1/customers/`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Unique, compared case-insensitively.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub company_name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub labels: Vec<LabelInput>,
    #[serde(default)]
    pub customer_account: Option<i64>,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
}

impl Default for CustomerInput {
    fn default() -> Self {
        CustomerInput {
            email: None,
            first_name: String::new(),
            last_name: String::new(),
            company_name: String::new(),
            phone: String::new(),
            reference: String::new(),
            address: String::new(),
            postcode: String::new(),
            city: String::new(),
            country: String::new(),
            state: String::new(),
            note: String::new(),
            labels: Vec::new(),
            customer_account: None,
            metadata: empty_object(),
        }
    }
}

impl CustomerInput {
    /// Checks every field and normalises the email (trimmed; empty becomes none).
    pub fn validate(&mut self) -> Result<()> {
        self.email = match &self.email {
            Some(e) => normalize_email("email", e)?,
            None => None,
        };
        for (name, v) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("company_name", &self.company_name),
            ("phone", &self.phone),
            ("reference", &self.reference),
            ("address", &self.address),
            ("postcode", &self.postcode),
            ("city", &self.city),
            ("country", &self.country),
            ("state", &self.state),
        ] {
            check_text(name, v, 255, false)?;
        }
        check_text("note", &self.note, 10_000, false)?;
        for (i, l) in self.labels.iter().enumerate() {
            check_text(&format!("labels[{i}]"), l.name(), 64, true)?;
            if let Some(c) = l.color() {
                check_color(&format!("labels[{i}].color"), c)?;
            }
        }
        check_metadata(&self.metadata)
    }
}

impl From<&Customer> for CustomerInput {
    fn from(c: &Customer) -> Self {
        CustomerInput {
            email: c.email.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            company_name: c.company_name.clone(),
            phone: c.phone.clone(),
            reference: c.reference.clone(),
            address: c.address.clone(),
            postcode: c.postcode.clone(),
            city: c.city.clone(),
            country: c.country.clone(),
            state: c.state.clone(),
            note: c.note.clone(),
            // Names only: an edit that does not give labels keeps them and their colours as they are (a
            // colour is a label's, shared by every customer carrying it).
            labels: c.labels.iter().map(|l| LabelInput::Name(l.label.clone())).collect(),
            customer_account: c.customer_account,
            metadata: c.metadata.clone(),
        }
    }
}

/// A customer named by id, or given whole (found by email, else created) as a store does after a sale.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CustomerRef {
    Id(i64),
    New(Box<CustomerInput>),
}

/// A license as its order lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderLicense {
    pub id: i64,
    pub license_key: Option<String>,
    pub product: i64,
    pub status: LicenseStatus,
}

/// A purchase: the billing system's order with the licenses it bought.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub id: i64,
    /// The billing system's order id (DevMate's `invoice`), unique when given.
    pub store_id: Option<String>,
    pub customer: Option<i64>,
    pub customer_account: Option<i64>,
    pub campaign: String,
    pub reference: String,
    pub is_test: bool,
    pub licenses: Vec<OrderLicense>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Body of `POST /api/v1/orders/`: an order, its customer and its licenses, created all or nothing.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[serde(default)]
    pub store_id: Option<String>,
    #[serde(default)]
    pub customer: Option<CustomerRef>,
    #[serde(default)]
    pub customer_account: Option<i64>,
    #[serde(default)]
    pub campaign: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub is_test: bool,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[serde(default)]
    pub licenses: Vec<LicenseInput>,
}

impl OrderInput {
    pub fn validate(&mut self) -> Result<()> {
        if let Some(s) = &self.store_id {
            check_text("store_id", s, 255, true)?;
        }
        check_text("campaign", &self.campaign, 255, false)?;
        check_text("reference", &self.reference, 255, false)?;
        check_metadata(&self.metadata)?;
        if let Some(CustomerRef::New(c)) = &mut self.customer {
            c.validate().map_err(|e| prefix_error("customer.", e))?;
        }
        for (i, l) in self.licenses.iter().enumerate() {
            if l.order.is_some() {
                return Err(Error::invalid(format!("licenses[{i}].order"), "is set by the order itself"));
            }
            if l.customer.is_some() {
                return Err(Error::invalid(format!("licenses[{i}].customer"), "is set by the order itself"));
            }
            l.validate().map_err(|e| prefix_error(&format!("licenses[{i}]."), e))?;
        }
        Ok(())
    }
}

/// Body of `PATCH /api/v1/orders/{id}/`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderUpdate {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub store_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub customer: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub customer_account: Option<Option<i64>>,
    pub campaign: Option<String>,
    pub reference: Option<String>,
    pub is_test: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

impl OrderUpdate {
    pub fn validate(&self) -> Result<()> {
        if let Some(Some(s)) = &self.store_id {
            check_text("store_id", s, 255, true)?;
        }
        if let Some(c) = &self.campaign {
            check_text("campaign", c, 255, false)?;
        }
        if let Some(r) = &self.reference {
            check_text("reference", r, 255, false)?;
        }
        if let Some(m) = &self.metadata {
            check_metadata(m)?;
        }
        Ok(())
    }
}

fn prefix_error(prefix: &str, e: Error) -> Error {
    match e {
        Error::Invalid { field, message } => Error::Invalid { field: format!("{prefix}{field}"), message },
    }
}

// ---------------------------------------------------------------------------------------------
// Licenses

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
}

impl AssignUserInput {
    pub fn validate(&self) -> Result<()> {
        if normalize_email("email", &self.email)?.is_none() {
            return Err(Error::invalid("email", "is required"));
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

// ---------------------------------------------------------------------------------------------
// Devices and tokens

/// A machine holding (or having held) an activation of a license.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Device {
    pub id: i64,
    pub license: i64,
    pub hardware_id: String,
    pub hostname: String,
    pub os: String,
    pub app_version: String,
    /// Holds an activation now.
    pub active: bool,
    pub time_activated: Timestamp,
    pub last_check: Option<Timestamp>,
    pub deactivated_at: Option<Timestamp>,
}

string_enum! {
    // Most powerful first: the order of `Role::ALL`.
    /// What a token (or, later, a dashboard user) may do; `core::access` holds the table of role × action.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    pub enum Role {
        /// Everything.
        Admin => "admin",
        /// Reads and changes the licenses, customers and orders of its products; not the catalog.
        Manager => "manager",
        /// Reads everything in its scope; disables and enables licenses, resets activations, deactivates
        /// devices, edits notes and metadata. Deletes nothing, changes no other field.
        Support => "support",
        /// Reads everything in its scope, changes nothing.
        ReadOnly => "read-only",
    }
}

impl Role {
    /// Whether the role sees every product (admin) or must be limited to some (manager); support and
    /// read-only may be either.
    pub fn product_limit(self) -> ProductLimit {
        match self {
            Role::Admin => ProductLimit::Never,
            Role::Manager => ProductLimit::Always,
            Role::Support | Role::ReadOnly => ProductLimit::Optional,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a role's tokens are limited to products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductLimit {
    /// Sees every product; products may not be given (admin).
    Never,
    /// Needs at least one product (manager).
    Always,
    /// Every product, or only those given (support, read-only).
    Optional,
}

/// An API token as listed (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: i64,
    /// Unique among tokens not revoked: it is the actor the audit log records.
    pub name: String,
    pub role: Role,
    /// Short codes of the products the token is limited to (empty when `all_products`).
    pub products: Vec<String>,
    /// Sees every product: an admin, or a support or read-only token given no product.
    pub all_products: bool,
    /// What the token is for, free text.
    pub description: String,
    pub created_at: Timestamp,
    /// After this the token answers `401 TOKEN_EXPIRED`; `None`: never expires.
    pub expires_at: Option<Timestamp>,
    /// The last request made with it, to within a minute (recorded at most once a minute per token).
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_colours_are_hex_or_empty() {
        for ok in ["", "#fff", "#FFF", "#0a1B2c"] {
            assert!(check_color("c", ok).is_ok(), "{ok}");
        }
        for bad in ["fff", "#ff", "#ffff", "#fffffff", "#ggg", "red", "#ff0000;x", "#ff0000-set-by-A", "# fff"] {
            assert!(check_color("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<ProductInput>(r#"{"product_name":"A","short_code":"a","colour":1}"#);
        assert!(e.unwrap_err().to_string().contains("unknown field `colour`"));
    }

    #[test]
    fn null_and_absent_differ_for_nullable_fields() {
        let a: LicenseInput = serde_json::from_str(r#"{"max_activations":null}"#).unwrap();
        assert_eq!(a.max_activations, Some(None));
        let b: LicenseInput = serde_json::from_str("{}").unwrap();
        assert_eq!(b.max_activations, None);
    }

    #[test]
    fn template_terms_and_overrides_resolve() {
        let now = 1_000_000;
        let mut t = LicenseTerms::from_template(None, now);
        let i: LicenseInput =
            serde_json::from_str(r#"{"max_activations":null,"validity_period":"1970-01-02","note":"x"}"#).unwrap();
        t.apply(&i).unwrap();
        assert_eq!(t.max_activations, None);
        assert_eq!(t.expires_at, Some(crate::time::DAY_MS));
        assert_eq!(t.note.as_deref(), Some("x"));
        let bad: LicenseInput = serde_json::from_str(r#"{"is_floating_cloud":true}"#).unwrap();
        assert!(t.apply(&bad).is_err());
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(normalize_email("email", " a@b.c ").unwrap().as_deref(), Some("a@b.c"));
        assert_eq!(normalize_email("email", "").unwrap(), None);
        assert!(normalize_email("email", "nope").is_err());
        assert!(normalize_email("email", "a b@c").is_err());
    }
}
