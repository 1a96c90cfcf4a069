//! Customer accounts: the companies customers belong to.

use super::*;

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
