//! Ed25519 signing: client API responses (a signature over the exact body bytes) and offline license
//! files (a signature over the base64 payload string).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;

use ed25519_dalek::hazmat::ExpandedSecretKey;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The server's signing key with its public id.
#[derive(Clone)]
pub struct KeyPair {
    pub key_id: String,
    signing: SigningKey,
    /// `SHA-512(seed)` split into the scalar and the nonce prefix, derived once: `SigningKey::sign` derives
    /// it again for every signature, and every client answer is signed. Zeroed on drop.
    expanded: Arc<ExpandedSecretKey>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret half.
        f.debug_struct("KeyPair").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> KeyPair {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        KeyPair::from_seed(&seed)
    }

    pub fn from_seed(seed: &[u8; 32]) -> KeyPair {
        let signing = SigningKey::from_bytes(seed);
        let expanded = Arc::new(ExpandedSecretKey::from(signing.as_bytes()));
        KeyPair { key_id: key_id(&signing.verifying_key()), signing, expanded }
    }

    /// The 32-byte seed (the secret), for storage.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Base64 of the 32 public-key bytes, as `GET /api/v1/client/public-key` shows it.
    pub fn public_base64(&self) -> String {
        STANDARD.encode(self.public().as_bytes())
    }

    /// Base64 of the signature of `msg`.
    pub fn sign_base64(&self, msg: &[u8]) -> String {
        STANDARD.encode(self.sign(msg).to_bytes())
    }

    /// The Ed25519 signature of `msg` (RFC 8032; the same bytes as `SigningKey::sign`).
    pub fn sign(&self, msg: &[u8]) -> ed25519_dalek::Signature {
        ed25519_dalek::hazmat::raw_sign::<sha2::Sha512>(&self.expanded, msg, &self.signing.verifying_key())
    }
}

/// A key's id: the first 8 bytes of the SHA-256 of its public bytes, in hex.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub const FILE_BEGIN: &str = "-----BEGIN LICENSE FILE-----";
pub const FILE_END: &str = "-----END LICENSE FILE-----";

/// Wraps a payload into a signed license file: the armour around base64 of
/// `{"enc": base64(payload), "sig": base64(sign(enc)), "alg": "ed25519", "kid": key id}`.
pub fn license_file(payload: &serde_json::Value, key: &KeyPair) -> String {
    let enc = STANDARD.encode(payload.to_string().as_bytes());
    let sig = key.sign_base64(enc.as_bytes());
    let envelope = serde_json::json!({"enc": enc, "sig": sig, "alg": "ed25519", "kid": key.key_id});
    let body = STANDARD.encode(envelope.to_string().as_bytes());
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 64);
    out.push_str(FILE_BEGIN);
    out.push('\n');
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(FILE_END);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn signatures_verify_with_the_public_key() {
        let k = KeyPair::generate();
        let sig = STANDARD.decode(k.sign_base64(b"body")).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        assert!(k.public().verify(b"body", &sig).is_ok());
        assert!(k.public().verify(b"bodx", &sig).is_err());
        assert_eq!(k.key_id.len(), 16);
        assert_eq!(KeyPair::from_seed(&k.seed()).key_id, k.key_id);
        assert!(!format!("{k:?}").contains("signing"));
    }

    #[test]
    fn signatures_are_rfc_8032_and_those_of_dalek_signing_key() {
        // RFC 8032, section 7.1, test 1 (empty message).
        let hex = |s: &str| {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>()
        };
        let seed: [u8; 32] =
            hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").try_into().unwrap();
        let k = KeyPair::from_seed(&seed);
        assert_eq!(
            k.sign(b"").to_bytes().to_vec(),
            hex(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            )
        );
        let k = KeyPair::generate();
        let msg = br#"{"valid":true,"code":"VALID"}"#;
        assert_eq!(k.sign(msg), ed25519_dalek::Signer::sign(&SigningKey::from_bytes(&k.seed()), msg));
    }

    #[test]
    fn license_file_is_armoured_and_verifiable() {
        let k = KeyPair::generate();
        let f = license_file(&serde_json::json!({"license_key": "K"}), &k);
        assert!(f.starts_with(FILE_BEGIN) && f.trim_end().ends_with(FILE_END));
        assert!(f.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let b64: String = f.lines().filter(|l| !l.starts_with("-----")).collect();
        let env: serde_json::Value = serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap();
        let enc = env["enc"].as_str().unwrap();
        let sig =
            ed25519_dalek::Signature::from_slice(&STANDARD.decode(env["sig"].as_str().unwrap()).unwrap()).unwrap();
        assert!(k.public().verify(enc.as_bytes(), &sig).is_ok());
        let payload: serde_json::Value = serde_json::from_slice(&STANDARD.decode(enc).unwrap()).unwrap();
        assert_eq!(payload["license_key"], "K");
        assert_eq!(env["kid"], k.key_id.as_str());
    }
}
