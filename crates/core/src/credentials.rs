//! The credentials of LicenseSpring's License API v4 (issue 15), minted from the operating system's random
//! source: API keys with their shared keys, OAuth clients with their secrets, and the OAuth access tokens
//! issued to clients.
//!
//! An API key and an OAuth client id are public identifiers (they ship inside applications and travel in
//! every request), random UUIDs as LicenseSpring's API keys are. A shared key and a client secret are HMAC
//! keys: 256 random bits, base64url, used as the UTF-8 bytes of that text (what the SDKs do with the string
//! they are configured with), so the server must keep them, not a hash of them (the store seals them under
//! `LICENSD_SECRET`). An access token is a bearer secret like an API token and is kept only hashed.

use base64::Engine;

/// What every OAuth access token licensd issues starts with, so leaked ones are easy to grep for.
pub const ACCESS_TOKEN_PREFIX: &str = "lso_";

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// A random (version 4) UUID in its usual text form, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// 256 random bits as 43 base64url characters.
fn secret_256() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>())
}

/// A new API key: the public half an application sends as `apiKey="…"`, a random UUID.
pub fn api_key() -> String {
    uuid_v4()
}

/// A new shared key: the HMAC-SHA256 key of an API key's requests and offline files, 256 random bits.
pub fn shared_key() -> String {
    secret_256()
}

/// A new OAuth client id: public, a random UUID.
pub fn client_id() -> String {
    uuid_v4()
}

/// A new OAuth client secret: 256 random bits (it also keys the client's offline request files).
pub fn client_secret() -> String {
    secret_256()
}

/// A new OAuth access token: `lso_` and 256 random bits, stored only as its SHA-256 (`token::hash`).
pub fn access_token() -> String {
    format!("{ACCESS_TOKEN_PREFIX}{}", secret_256())
}

/// Whether two byte strings are equal, in time that depends on their lengths only (a presented client secret
/// against the stored one).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_and_client_ids_are_version_4_uuids() {
        for id in [api_key(), client_id()] {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'), "{id}");
        }
        assert_ne!(api_key(), api_key());
    }

    #[test]
    fn secrets_carry_256_bits() {
        for s in [shared_key(), client_secret()] {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s).unwrap();
            assert_eq!((s.len(), bytes.len()), (43, 32), "{s}");
        }
        assert_ne!(shared_key(), shared_key());
        let t = access_token();
        assert!(t.starts_with("lso_") && t.len() == 47, "{t}");
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
