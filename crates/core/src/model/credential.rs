//! LicenseSpring-style API keys and OAuth clients (License API v4, issue 15), as the management API shows
//! them. Their secrets (shared key, client secret) appear only in the answer that made them
//! ([`ApiKeyCreated`], [`OauthClientCreated`]); what is listed never holds them.

use super::*;

/// A LicenseSpring-style API key as listed: never with its shared key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: i64,
    /// The public identifier an application sends (`apiKey="…"` in its `Authorization` header): a random UUID.
    pub api_key: String,
    /// Unique among keys not revoked.
    pub name: String,
    /// Short codes of the products the key answers for (empty when `all_products`).
    pub products: Vec<String>,
    /// Answers for every product.
    pub all_products: bool,
    pub created_at: Timestamp,
    /// From then on the key is refused.
    pub revoked_at: Option<Timestamp>,
}

/// An API key as created: with its shared key, shown this once.
#[derive(Clone, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The HMAC-SHA256 key of the API key's requests and offline files (its UTF-8 bytes), 256 random bits in
    /// base64url. Only in this answer: store it now.
    pub shared_key: String,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated").field("key", &self.key).field("shared_key", &"…").finish()
    }
}

/// An OAuth client (client credentials grant) as listed: never with its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OauthClient {
    pub id: i64,
    /// The public identifier an application sends to the token endpoint: a random UUID.
    pub client_id: String,
    /// Unique among clients not revoked.
    pub name: String,
    /// Short codes of the products the client answers for (empty when `all_products`).
    pub products: Vec<String>,
    /// Answers for every product.
    pub all_products: bool,
    pub created_at: Timestamp,
    /// From then on the client and every access token issued to it are refused.
    pub revoked_at: Option<Timestamp>,
}

/// An OAuth client as created: with its secret, shown this once.
#[derive(Clone, Serialize, ToSchema)]
pub struct OauthClientCreated {
    #[serde(flatten)]
    pub client: OauthClient,
    /// The client's secret (token requests; it also keys its offline request files), 256 random bits in
    /// base64url. Only in this answer: store it now.
    pub client_secret: String,
}

impl std::fmt::Debug for OauthClientCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthClientCreated").field("client", &self.client).field("client_secret", &"…").finish()
    }
}

/// The longest name of an API key or OAuth client.
pub const CREDENTIAL_NAME_MAX: usize = 200;
/// The most products one API key or OAuth client may be limited to.
pub const CREDENTIAL_PRODUCTS_MAX: usize = 1000;

/// The body that creates an API key or an OAuth client.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    /// What it is for (`"Windows app 2.x"`): 1 to 200 characters, unique among those not revoked.
    pub name: String,
    /// Short codes of the products it answers for; none (the default): every product.
    #[serde(default)]
    pub products: Vec<String>,
}

impl CredentialInput {
    /// Checks the name and the short codes' form (whether the products exist is the store's to say).
    pub fn validate(&self) -> Result<()> {
        check_text("name", &self.name, CREDENTIAL_NAME_MAX, true)?;
        if self.name.trim() != self.name {
            return Err(Error::invalid("name", "must not begin or end with spaces"));
        }
        if self.products.len() > CREDENTIAL_PRODUCTS_MAX {
            return Err(Error::invalid("products", format!("must name at most {CREDENTIAL_PRODUCTS_MAX} products")));
        }
        for (i, code) in self.products.iter().enumerate() {
            check_code(&format!("products[{i}]"), code)?;
        }
        Ok(())
    }
}
