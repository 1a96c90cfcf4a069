//! Customers, their labels, and orders.

use super::*;

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
