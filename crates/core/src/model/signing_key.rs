//! The server's signing keys as the management API shows them (`/api/v1/signing-keys`): public halves only.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::Timestamp;

string_enum! {
    /// Which kind of signing key: Ed25519 signs licensd's own client API answers and license files; RSA
    /// (PKCS#1 v1.5 SHA-256) signs LicenseSpring's License API v4 answers, the only kind its SDKs verify.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
    pub enum SigningAlgorithm {
        Ed25519 => "ed25519",
        Rsa => "rsa",
    }
}

impl Default for SigningAlgorithm {
    /// What a key without an algorithm is: every key from before RSA keys (migration 22, v1 export files).
    fn default() -> Self {
        SigningAlgorithm::Ed25519
    }
}

/// A signing key's public half.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SigningKey {
    /// The first 8 bytes of SHA-256 of the public key, in hex (Ed25519: of its 32 bytes; RSA: of its
    /// SubjectPublicKeyInfo DER).
    pub key_id: String,
    pub algorithm: SigningAlgorithm,
    /// The RSA modulus size (2048, 3072 or 4096); absent for Ed25519.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    /// Base64: Ed25519's 32 public bytes (what `licensd key show` prints and licensd's SDK embeds), or RSA's
    /// SubjectPublicKeyInfo DER.
    pub public_key: String,
    /// RSA only: the public key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), what an
    /// application gives LicenseSpring's SDK (`licensd key show --rsa` prints the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    /// Whether it signs now (one key of each algorithm does); retired keys sign nothing, but what they
    /// signed still verifies with them.
    pub active: bool,
    pub created_at: Timestamp,
}

/// Every signing key, by algorithm, the active one first in each list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SigningKeys {
    /// Licensd's client API and license files.
    pub ed25519: Vec<SigningKey>,
    /// LicenseSpring's License API v4 (`/api/v4`).
    pub rsa: Vec<SigningKey>,
}

/// A rotation: a new key of `algorithm` signs from now on; the one before is retired (not deleted).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyRotation {
    pub algorithm: SigningAlgorithm,
    /// RSA only: the new key's size (2048, 3072 or 4096); the current key's size when absent.
    #[serde(default)]
    pub bits: Option<u32>,
}
