//! RSA signing for LicenseSpring's License API v4 (issue 15): its SDKs verify answers with RSA PKCS#1 v1.5
//! SHA-256 only (`Crypto.Signature.pkcs1_15`, `crypto.createVerify('RSA-SHA256')`), so that surface cannot
//! use the Ed25519 key of [`crate::signing`].
//!
//! aws-lc-rs does the arithmetic: it generates RSA keys (ring cannot), signs about 1.7× as fast as ring and
//! 3.7× as fast as RustCrypto `rsa` on one core here, and is not affected by RUSTSEC-2023-0071
//! (docs/benchmarks.md, "Issue 15: RSA library choice"). PKCS#1 v1.5 is deterministic: the same key and
//! message give the same signature, so a caller may cache one.

use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::Error;

/// The key sizes licensd makes: what both SDKs verify and FIPS 186-5 approves. LicenseSpring's own key is
/// 4096-bit; 2048 costs a sixth to an eighth as much per signature and is what NIST accepts until 2030.
pub const RSA_BITS: [u32; 3] = [2048, 3072, 4096];

/// The size of a new key unless configured otherwise (`LICENSD_RSA_BITS`, `key rotate --rsa-bits`).
pub const DEFAULT_RSA_BITS: u32 = 2048;

/// What an [`RsaKey`] could not be made from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsaKeyError {
    /// The bytes are not a PKCS#8 RSA private key aws-lc-rs accepts.
    #[error("not a PKCS#8 RSA private key: {0}")]
    Rejected(String),
    /// The key is valid but not of a size licensd uses.
    #[error("an RSA key of {0} bits; licensd uses 2048, 3072 or 4096")]
    Size(u32),
}

/// An RSA key pair with its public id. Cloning shares the key.
#[derive(Clone)]
pub struct RsaKey {
    /// The first 8 bytes of SHA-256 of the SubjectPublicKeyInfo DER, in hex (as [`crate::signing::key_id`]
    /// for Ed25519 keys).
    pub key_id: String,
    bits: u32,
    pair: Arc<KeyPair>,
    /// SubjectPublicKeyInfo (X.509) DER of the public half.
    spki: Arc<[u8]>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret half.
        f.debug_struct("RsaKey").field("key_id", &self.key_id).field("bits", &self.bits).finish_non_exhaustive()
    }
}

/// `bits` as aws-lc-rs names it, or the refusal naming the sizes there are.
pub fn key_size(bits: u32) -> Result<KeySize, Error> {
    match bits {
        2048 => Ok(KeySize::Rsa2048),
        3072 => Ok(KeySize::Rsa3072),
        4096 => Ok(KeySize::Rsa4096),
        _ => {
            Err(Error::invalid("rsa_bits", format!("{bits} is not an RSA key size licensd makes: 2048, 3072 or 4096")))
        }
    }
}

impl RsaKey {
    /// A new key of `bits` (2048, 3072 or 4096) from aws-lc's CSPRNG. A 2048-bit key takes a tenth of a second
    /// or so, a 4096-bit one up to a second or more: call it off the async worker.
    pub fn generate(bits: u32) -> Result<RsaKey, Error> {
        let size = key_size(bits)?;
        let pair = KeyPair::generate(size).expect("aws-lc could not generate an RSA key");
        Ok(RsaKey::from_pair(pair).expect("aws-lc generated an RSA key it cannot encode"))
    }

    /// The key of a PKCS#8 (v1, unencrypted) DER private key, as [`RsaKey::to_pkcs8`] wrote it.
    pub fn from_pkcs8(der: &[u8]) -> Result<RsaKey, RsaKeyError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| RsaKeyError::Rejected(e.to_string()))?;
        let key = RsaKey::from_pair(pair)?;
        if !RSA_BITS.contains(&key.bits) {
            return Err(RsaKeyError::Size(key.bits));
        }
        Ok(key)
    }

    fn from_pair(pair: KeyPair) -> Result<RsaKey, RsaKeyError> {
        let spki: PublicKeyX509Der<'static> =
            pair.public_key().as_der().map_err(|_| RsaKeyError::Rejected("cannot encode its public key".into()))?;
        let spki: Arc<[u8]> = Arc::from(spki.as_ref());
        let bits = u32::try_from(pair.public_modulus_len() * 8).unwrap_or(u32::MAX);
        Ok(RsaKey { key_id: key_id(&spki), bits, pair: Arc::new(pair), spki })
    }

    /// The private key as PKCS#8 v1 DER (the secret, for sealed storage); zeroed when dropped.
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        let der: Pkcs8V1Der<'static> = self.pair.as_der().expect("aws-lc cannot encode an RSA key it holds");
        Zeroizing::new(der.as_ref().to_vec())
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The public half as SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public half as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`): what LicenseSpring's SDKs
    /// take (Python `RSA.importKey`, Node `publicKey`, C++ `setAlternateKey`).
    pub fn public_pem(&self) -> String {
        public_pem(&self.spki)
    }

    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `msg` (as many bytes as the modulus).
    pub fn sign_pkcs1_sha256(&self, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        // The random source is unused for PKCS#1 v1.5; the key and the buffer's length are right by construction.
        self.pair
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), msg, &mut sig)
            .expect("aws-lc could not sign with an RSA key it holds");
        sig
    }

    /// Standard base64 (with padding) of [`RsaKey::sign_pkcs1_sha256`], as LicenseSpring's answers carry it.
    pub fn sign_base64(&self, msg: &[u8]) -> String {
        STANDARD.encode(self.sign_pkcs1_sha256(msg))
    }
}

/// An RSA key's id from its SubjectPublicKeyInfo DER: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(spki_der: &[u8]) -> String {
    Sha256::digest(spki_der)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// SubjectPublicKeyInfo DER as PEM: base64 in lines of 64 between the `PUBLIC KEY` armour, ending in a newline.
pub fn public_pem(spki_der: &[u8]) -> String {
    let b64 = STANDARD.encode(spki_der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The DER inside a `PUBLIC KEY` PEM (surrounding whitespace allowed), or `None` for anything else.
pub fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem.trim().strip_prefix("-----BEGIN PUBLIC KEY-----")?.strip_suffix("-----END PUBLIC KEY-----")?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    fn verifies(spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki).verify(msg, sig).is_ok()
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_and_its_pem() {
        let k = RsaKey::generate(2048).unwrap();
        assert_eq!(k.bits(), 2048);
        let msg = br#"{"license_key":"K","is_valid":true}"#;
        let sig = k.sign_pkcs1_sha256(msg);
        assert_eq!(sig.len(), 256);
        assert!(verifies(k.public_der(), msg, &sig));
        assert!(!verifies(k.public_der(), b"{\"license_key\":\"L\"}", &sig));
        let pem = k.public_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n") && pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        let der = pem_der(&pem).unwrap();
        assert_eq!(der, k.public_der());
        assert!(verifies(&der, msg, &STANDARD.decode(k.sign_base64(msg)).unwrap()));
        // Deterministic: the same bytes give the same signature.
        assert_eq!(k.sign_pkcs1_sha256(msg), sig);
        assert_eq!(k.key_id.len(), 16);
        assert_eq!(k.key_id, key_id(&der));
        assert!(!format!("{k:?}").contains("pair"));
    }

    #[test]
    fn pkcs8_round_trips_to_the_same_key() {
        let k = RsaKey::generate(2048).unwrap();
        let der = k.to_pkcs8();
        let again = RsaKey::from_pkcs8(&der).unwrap();
        assert_eq!(again.key_id, k.key_id);
        assert_eq!(again.public_der(), k.public_der());
        assert!(verifies(k.public_der(), b"m", &again.sign_pkcs1_sha256(b"m")));
        assert!(matches!(RsaKey::from_pkcs8(b"not a key"), Err(RsaKeyError::Rejected(_))));
        assert!(matches!(RsaKey::from_pkcs8(&der[..der.len() - 1]), Err(RsaKeyError::Rejected(_))));
    }

    #[test]
    fn other_sizes_are_refused() {
        for bits in [0, 1024, 2047, 2049, 8192] {
            let e = RsaKey::generate(bits).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("rsa_bits: {bits} is not an RSA key size licensd makes: 2048, 3072 or 4096")
            );
        }
        let k = RsaKey::generate(3072).unwrap();
        assert_eq!((k.bits(), k.sign_pkcs1_sha256(b"m").len()), (3072, 384));
    }

    #[test]
    fn pem_der_refuses_other_armour() {
        assert_eq!(pem_der("-----BEGIN RSA PUBLIC KEY-----\nAA==\n-----END RSA PUBLIC KEY-----\n"), None);
        assert_eq!(pem_der("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----"), None);
        assert_eq!(pem_der(" -----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n "), Some(vec![0, 1, 2]));
    }
}
