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

/// The longest lifetime `--expires-in` takes: ten years.
pub const MAX_LIFETIME_MS: i64 = 10 * 366 * crate::time::DAY_MS;

/// Parses a token lifetime such as `90d`: a whole number followed by `m` (minutes), `h` (hours), `d` (days)
/// or `w` (weeks), at most ten years; `None` for anything else.
pub fn parse_lifetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok().filter(|n| *n > 0)?;
    let ms = match unit {
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => crate::time::DAY_MS,
        'w' => 7 * crate::time::DAY_MS,
        _ => return None,
    };
    n.checked_mul(ms).filter(|t| *t <= MAX_LIFETIME_MS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lifetimes_are_a_number_and_a_unit() {
        use super::parse_lifetime;
        assert_eq!(parse_lifetime("90d"), Some(90 * 86_400_000));
        assert_eq!(parse_lifetime("12h"), Some(12 * 3_600_000));
        assert_eq!(parse_lifetime("30m"), Some(30 * 60_000));
        assert_eq!(parse_lifetime("2w"), Some(14 * 86_400_000));
        for bad in ["", "d", "0d", "-1d", "90", "90 days", "1.5d", "90D", "99999999999999d", "3700d", "1y"] {
            assert_eq!(parse_lifetime(bad), None, "{bad}");
        }
    }

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
