//! Devices and API tokens.

use super::*;

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
