//! Trusted public keys and Ed25519 signature verification.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Error;

/// The set of server public keys an application trusts, each under its key id.
///
/// A licensd server signs with one active key at a time; `licensd key rotate` makes a new one active
/// while old keys still verify what they signed. An application that should keep working across a
/// rotation trusts both the old and the new key: a response or license file is accepted when it is
/// signed by the trusted key its key id names (the `Licensd-Key-Id` header, or the license file's
/// `kid`), and refused ([`Error::BadSignature`]) when the key id is not in the set.
///
/// Key ids are what `licensd key show` and `GET /api/v1/client/public-key` print. A key added with
/// [`KeySet::insert_key`] gets the id the server derives for it (the first 8 bytes of the SHA-256 of
/// the 32 public-key bytes, in hex), so an application usually ships only the base64 keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeMap<String, VerifyingKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("key_ids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

/// Decodes a public key given as base64 (standard alphabet) of its 32 bytes.
pub(crate) fn parse_public_key(public_key: &str) -> Result<VerifyingKey, Error> {
    let bytes = STANDARD
        .decode(public_key.trim())
        .map_err(|_| Error::Config("the public key is not base64 (standard alphabet, padded)".into()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| Error::Config(format!("the public key has {} bytes, not 32", b.len())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::Config("the public key is not a valid Ed25519 point".into()))
}

/// The key id licensd gives a public key (given as base64 of its 32 bytes): the first 8 bytes of the
/// SHA-256 of the key bytes, in lowercase hex.
pub fn key_id(public_key: &str) -> Result<String, Error> {
    Ok(derive_key_id(&parse_public_key(public_key)?))
}

fn derive_key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl KeySet {
    /// An empty set (which verifies nothing).
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// A set of one key, given as base64 of its 32 bytes, under its derived key id.
    pub fn from_public_key(public_key: &str) -> Result<KeySet, Error> {
        let mut set = KeySet::new();
        set.insert_key(public_key)?;
        Ok(set)
    }

    /// Trusts `public_key` (base64 of 32 bytes) under its derived key id, which it returns.
    pub fn insert_key(&mut self, public_key: &str) -> Result<String, Error> {
        let key = parse_public_key(public_key)?;
        let id = derive_key_id(&key);
        self.keys.insert(id.clone(), key);
        Ok(id)
    }

    /// Trusts `public_key` (base64 of 32 bytes) under an explicit `key_id`, as printed by
    /// `licensd key show` or `GET public-key`. Replaces any key already under that id.
    pub fn insert(&mut self, key_id: impl Into<String>, public_key: &str) -> Result<(), Error> {
        let key = parse_public_key(public_key)?;
        self.keys.insert(key_id.into(), key);
        Ok(())
    }

    /// `true` when a key is trusted under `key_id`.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// The trusted key ids, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `signature` (base64, standard alphabet, of the 64 signature bytes) over `message`
    /// with the key trusted under `key_id`.
    ///
    /// Every failure is [`Error::BadSignature`]: an unknown key id, a signature that does not decode
    /// or does not match. Verification is strict (`verify_strict`: no malleable signatures, no weak
    /// keys).
    pub fn verify(&self, key_id: &str, message: &[u8], signature: &str) -> Result<(), Error> {
        let key = self.keys.get(key_id).ok_or(Error::BadSignature)?;
        let sig = STANDARD.decode(signature.trim()).map_err(|_| Error::BadSignature)?;
        let sig = Signature::from_slice(&sig).map_err(|_| Error::BadSignature)?;
        key.verify_strict(message, &sig).map_err(|_| Error::BadSignature)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// A fresh signing key from the OS's random source, with its base64 public key and key id.
    pub(crate) struct TestKey {
        pub signing: SigningKey,
        pub public: String,
        pub id: String,
    }

    impl TestKey {
        pub(crate) fn new() -> TestKey {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).expect("random seed");
            let signing = SigningKey::from_bytes(&seed);
            let public = STANDARD.encode(signing.verifying_key().as_bytes());
            let id = key_id(&public).expect("key id");
            TestKey { signing, public, id }
        }

        pub(crate) fn sign(&self, msg: &[u8]) -> String {
            STANDARD.encode(self.signing.sign(msg).to_bytes())
        }
    }

    #[test]
    fn a_body_verifies_with_its_key_and_id() {
        let k = TestKey::new();
        let set = KeySet::from_public_key(&k.public).unwrap();
        assert_eq!(k.id.len(), 16);
        assert!(set.contains(&k.id));
        let body = br#"{"code":"ACTIVATED","nonce":"n"}"#;
        set.verify(&k.id, body, &k.sign(body)).unwrap();
    }

    #[test]
    fn a_tampered_body_is_a_bad_signature() {
        let k = TestKey::new();
        let set = KeySet::from_public_key(&k.public).unwrap();
        let sig = k.sign(br#"{"valid":false}"#);
        assert!(matches!(set.verify(&k.id, br#"{"valid":true}"#, &sig), Err(Error::BadSignature)));
    }

    #[test]
    fn an_unknown_key_id_is_a_bad_signature() {
        let k = TestKey::new();
        let set = KeySet::from_public_key(&k.public).unwrap();
        let sig = k.sign(b"body");
        assert!(matches!(set.verify("0123456789abcdef", b"body", &sig), Err(Error::BadSignature)));
        // A key the set does not hold, claiming the trusted id.
        let other = TestKey::new();
        assert!(matches!(set.verify(&k.id, b"body", &other.sign(b"body")), Err(Error::BadSignature)));
    }

    #[test]
    fn garbage_signatures_are_bad_signatures() {
        let k = TestKey::new();
        let set = KeySet::from_public_key(&k.public).unwrap();
        for sig in ["", "not base64!", "AAAA", &STANDARD.encode([0u8; 64])] {
            assert!(matches!(set.verify(&k.id, b"body", sig), Err(Error::BadSignature)), "{sig}");
        }
    }

    #[test]
    fn rotated_keys_verify_under_their_own_ids() {
        let old = TestKey::new();
        let new = TestKey::new();
        let mut set = KeySet::from_public_key(&old.public).unwrap();
        set.insert("custom-id", &new.public).unwrap();
        set.verify(&old.id, b"m", &old.sign(b"m")).unwrap();
        set.verify("custom-id", b"m", &new.sign(b"m")).unwrap();
        assert!(matches!(set.verify(&old.id, b"m", &new.sign(b"m")), Err(Error::BadSignature)));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn bad_public_keys_are_config_errors() {
        for k in ["", "%%%", "AAAA", &STANDARD.encode([1u8; 31])] {
            assert!(matches!(KeySet::from_public_key(k), Err(Error::Config(_))), "{k}");
        }
    }
}
