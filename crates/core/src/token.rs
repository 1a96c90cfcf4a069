//! API tokens: 256 random bits shown once, stored only as a SHA-256 hash.
//!
//! The secret has full entropy, so a fast hash is enough (a slow password hash would only cost
//! latency on every request); the hash is looked up through a unique index.

use base64::Engine;
use sha2::{Digest, Sha256};

/// What every licensd token starts with, so leaked secrets are easy to grep for.
pub const PREFIX: &str = "lsd_";

/// A new secret: `lsd_` followed by 43 base64url characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The hex SHA-256 of a secret: the only form in which it is stored.
pub fn hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Lower-case hex of the SHA-256 of `bytes` (token hashes, the client API's `request_sha256`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hash_is_stable() {
        let a = super::generate();
        let b = super::generate();
        assert_ne!(a, b);
        assert!(a.starts_with("lsd_") && a.len() == 47);
        assert_eq!(super::hash(&a), super::hash(&a));
        assert_eq!(super::hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
