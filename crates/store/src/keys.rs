//! The server's signing keys: generated on first start, kept in the database, rotatable; retired keys stay
//! readable so what they signed still verifies. Two kinds, one active key of each (the `algorithm` column,
//! migration 22, and its per-algorithm unique index):
//! - `ed25519`: licensd's own client API and license files ([`active`], [`rotate`]);
//! - `rsa`: LicenseSpring's License API v4, whose SDKs verify RSA PKCS#1 v1.5 SHA-256 only ([`active_rsa`],
//!   [`ensure_rsa`], [`rotate_rsa`]). Made with the Ed25519 key at first start and by `licensd migrate`, so
//!   reading it ([`active_rsa`]) never makes one.
//!
//! At rest a key's secret (the 32-byte seed of an Ed25519 key, the PKCS#8 DER of an RSA key) is sealed when
//! `LICENSD_SECRET` is set, the same way for both kinds. Each row names its format in its `kdf` column
//! (migration 13):
//! - `argon2id-v1`: XChaCha20-Poly1305 under Argon2id(secret, the row's random 16-byte `kdf_salt`, the row's
//!   `kdf_params`), with the row's key id as associated data, so a sealed seed does not open under another
//!   row's id. What licensd writes whenever a secret is set.
//! - `sha256-v1`: XChaCha20-Poly1305 under SHA-256 of the secret (no salt, no work factor): rows sealed
//!   before migration 13. Still opened, and re-sealed by [`encrypt_all`].
//! - `none`: the seed in base64, written when no secret was set. Re-sealed by [`encrypt_all`] once one is.

use std::sync::Mutex;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
pub use licensd_core::model::SigningAlgorithm;
use licensd_core::rsa::RsaKey;
use licensd_core::signing::KeyPair;
use licensd_core::time::now_ms;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::db::{Db, Row, Tx, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::scope::Scope;

/// A public key as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublicKey {
    pub key_id: String,
    /// Base64 of the 32 public bytes (Ed25519) or of the SubjectPublicKeyInfo DER (RSA; [`PublicKey::pem`]).
    pub public_key: String,
    pub active: bool,
    pub created_at: i64,
    pub algorithm: SigningAlgorithm,
    /// The modulus size of an RSA key; `None` for Ed25519.
    pub bits: Option<u32>,
}

impl PublicKey {
    /// An RSA key's public half as SubjectPublicKeyInfo PEM (what LicenseSpring's SDKs are given); `None` for
    /// an Ed25519 key.
    pub fn pem(&self) -> Option<String> {
        if self.algorithm != SigningAlgorithm::Rsa {
            return None;
        }
        STANDARD.decode(&self.public_key).ok().map(|der| licensd_core::rsa::public_pem(&der))
    }
}

/// A key of either kind, as rows store them.
#[derive(Clone)]
enum AnyKey {
    Ed25519(KeyPair),
    Rsa(RsaKey),
}

impl AnyKey {
    fn key_id(&self) -> &str {
        match self {
            AnyKey::Ed25519(k) => &k.key_id,
            AnyKey::Rsa(k) => &k.key_id,
        }
    }

    fn algorithm(&self) -> SigningAlgorithm {
        match self {
            AnyKey::Ed25519(_) => SigningAlgorithm::Ed25519,
            AnyKey::Rsa(_) => SigningAlgorithm::Rsa,
        }
    }

    fn bits(&self) -> Option<u32> {
        match self {
            AnyKey::Ed25519(_) => None,
            AnyKey::Rsa(k) => Some(k.bits()),
        }
    }

    /// What the `public_key` column holds.
    fn public_base64(&self) -> String {
        match self {
            AnyKey::Ed25519(k) => k.public_base64(),
            AnyKey::Rsa(k) => STANDARD.encode(k.public_der()),
        }
    }

    /// What is sealed: the seed, or the PKCS#8 DER.
    fn secret(&self) -> Zeroizing<Vec<u8>> {
        match self {
            AnyKey::Ed25519(k) => Zeroizing::new(k.seed().to_vec()),
            AnyKey::Rsa(k) => k.to_pkcs8(),
        }
    }

    /// The key an opened secret is, checked against the id its row or export entry names.
    fn from_secret(algorithm: SigningAlgorithm, secret: &[u8], key_id: &str) -> Result<AnyKey, StoreError> {
        let key = match algorithm {
            SigningAlgorithm::Ed25519 => {
                let seed: &[u8; 32] = secret
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("signing key {key_id}: not 32 bytes")))?;
                AnyKey::Ed25519(KeyPair::from_seed(seed))
            }
            SigningAlgorithm::Rsa => AnyKey::Rsa(
                RsaKey::from_pkcs8(secret).map_err(|e| StoreError::Corrupt(format!("signing key {key_id}: {e}")))?,
            ),
        };
        if key.key_id() != key_id {
            return Err(StoreError::Corrupt(format!("signing key {key_id} does not match its id")));
        }
        Ok(key)
    }
}

licensd_core::string_enum! {
    /// How a row's seed is stored (its `kdf` column).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    pub enum Kdf {
        /// Plaintext (base64): no secret was set.
        None => "none",
        /// Sealed under SHA-256 of the secret: the format before migration 13.
        Sha256V1 => "sha256-v1",
        /// Sealed under Argon2id of the secret with a salt of the row's own, the key id bound.
        Argon2idV1 => "argon2id-v1",
    }
}

impl Kdf {
    /// Whether a secret is needed to read the seed.
    pub fn is_sealed(self) -> bool {
        self != Kdf::None
    }
}

/// A seed as a row stores it: the `secret`, `kdf`, `kdf_salt` and `kdf_params` columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// base64 of the seed (`none`) or of nonce (24 bytes) ‖ ciphertext ‖ tag.
    pub secret: String,
    pub kdf: Kdf,
    /// base64 of the Argon2id salt.
    pub salt: Option<String>,
    /// Argon2id's cost, `m=<KiB>,t=<passes>,p=<lanes>`.
    pub params: Option<String>,
}

/// Argon2id's cost for new seals: OWASP's recommendation (19 MiB, 2 passes, 1 lane; also the `argon2`
/// crate's default). It is paid once per key row and process (derived keys are cached), so start-up and
/// `key rotate` take a few tens of milliseconds more, while each guess at a leaked database's secret costs
/// an attacker 19 MiB and two passes over it. Stored per row, so it can be raised later without breaking
/// older rows.
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

/// What a stored cost may ask for, at most: a row is data, and a damaged one must not make start-up
/// allocate gigabytes.
const ARGON2_M_KIB_MAX: u32 = 1024 * 1024;
const ARGON2_T_MAX: u32 = 64;
const ARGON2_P_MAX: u32 = 64;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;

/// The associated data of an `argon2id-v1` seal: the format and the row's key id.
fn aad(key_id: &str) -> Vec<u8> {
    let mut a = b"licensd signing key argon2id-v1\0".to_vec();
    a.extend_from_slice(key_id.as_bytes());
    a
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

fn parse_params(s: &str) -> Result<(u32, u32, u32), StoreError> {
    let bad = || StoreError::Corrupt(format!("signing key: bad Argon2id parameters {s:?}"));
    let mut it = s.split(',').map(|kv| kv.split_once('='));
    let mut field = |name: &str, max: u32| -> Result<u32, StoreError> {
        match it.next() {
            Some(Some((k, v))) if k == name => v.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(bad),
            _ => Err(bad()),
        }
    };
    let m = field("m", ARGON2_M_KIB_MAX)?;
    let t = field("t", ARGON2_T_MAX)?;
    let p = field("p", ARGON2_P_MAX)?;
    if it.next().is_some() {
        return Err(bad());
    }
    Ok((m, t, p))
}

/// A key derived by Argon2id, kept for the life of the process: every instance re-reads the active key
/// every 30 s, and deriving again each time would cost CPU and 19 MiB for nothing.
struct Derived {
    secret: Zeroizing<String>,
    salt: Vec<u8>,
    params: (u32, u32, u32),
    key: Zeroizing<[u8; 32]>,
}

/// One entry per (secret, salt, cost) seen: one per sealed row in practice (signing keys, and the API keys'
/// shared keys and OAuth clients' secrets of `store::credentials`, opened on every License API request). An
/// entry is about a hundred bytes, and rows are made only by operators (a lookup of an unknown key derives
/// nothing), so the bound is generous: a server with more sealed rows than this pays a derivation again.
static DERIVED: Mutex<Vec<Derived>> = Mutex::new(Vec::new());
const DERIVED_MAX: usize = 4096;

fn argon2_key(secret: &str, salt: &[u8], params: (u32, u32, u32)) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let cached = DERIVED.lock().ok().and_then(|d| {
        d.iter()
            .find(|e| e.salt == salt && e.params == params && e.secret.as_str() == secret)
            .map(|e| Zeroizing::new(*e.key))
    });
    if let Some(k) = cached {
        return Ok(k);
    }
    let (m, t, p) = params;
    let p = Params::new(m, t, p, Some(32)).map_err(|e| StoreError::Corrupt(format!("signing key: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    // Tens of milliseconds of CPU: off the async worker, as other blocking work is.
    crate::writer::off_worker(|| {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, p).hash_password_into(secret.as_bytes(), salt, &mut *key)
    })
    .map_err(|e| StoreError::Config(format!("cannot derive the signing key's sealing key: {e}")))?;
    if let Ok(mut d) = DERIVED.lock() {
        if d.len() >= DERIVED_MAX {
            d.remove(0);
        }
        d.push(Derived { secret: Zeroizing::new(secret.to_string()), salt: salt.to_vec(), params, key: key.clone() });
    }
    Ok(key)
}

/// The pre-migration-13 key: SHA-256 of a fixed label and the secret.
fn sha256_key(secret: &str) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(b"licensd signing key encryption v1\0");
    h.update(secret.as_bytes());
    Zeroizing::new(h.finalize().into())
}

/// Seals an Ed25519 `seed` for the row of `key_id`: `argon2id-v1` under `secret`, or plaintext without one.
pub fn seal(seed: &[u8; 32], key_id: &str, secret: Option<&str>) -> Result<Sealed, StoreError> {
    seal_bytes(seed, key_id, secret)
}

/// Seals a key's secret bytes (an Ed25519 seed, an RSA key's PKCS#8 DER) for the row of `key_id`, as [`seal`].
pub fn seal_bytes(seed: &[u8], key_id: &str, secret: Option<&str>) -> Result<Sealed, StoreError> {
    let Some(secret) = secret else {
        return Ok(Sealed { secret: STANDARD.encode(seed), kdf: Kdf::None, salt: None, params: None });
    };
    let salt: [u8; SALT_LEN] = random();
    let params = (ARGON2_M_KIB, ARGON2_T, ARGON2_P);
    let key = argon2_key(secret, &salt, params)?;
    let nonce: [u8; NONCE_LEN] = random();
    let aad = aad(key_id);
    let ct = XChaCha20Poly1305::new(&(*key).into())
        .encrypt(&XNonce::from(nonce), Payload { msg: seed, aad: &aad })
        .map_err(|_| StoreError::Config("sealing the signing key failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(Sealed {
        secret: STANDARD.encode(out),
        kdf: Kdf::Argon2idV1,
        salt: Some(STANDARD.encode(salt)),
        params: Some(format!("m={},t={},p={}", params.0, params.1, params.2)),
    })
}

/// Opens a stored Ed25519 seed of the row of `key_id` (any format).
pub fn open_sealed(s: &Sealed, key_id: &str, secret: Option<&str>) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let plain = open_bytes(s, key_id, secret)?;
    let seed: [u8; 32] =
        plain.as_slice().try_into().map_err(|_| StoreError::Corrupt("signing key: not 32 bytes".into()))?;
    Ok(Zeroizing::new(seed))
}

/// Opens the stored secret bytes of the row of `key_id` (any format, either kind of key).
pub fn open_bytes(s: &Sealed, key_id: &str, secret: Option<&str>) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let bytes =
        Zeroizing::new(STANDARD.decode(&s.secret).map_err(|e| StoreError::Corrupt(format!("signing key: {e}")))?);
    let plain = match s.kdf {
        Kdf::None => bytes,
        Kdf::Sha256V1 | Kdf::Argon2idV1 => {
            let secret = secret.ok_or_else(|| {
                StoreError::Config(format!(
                    "the signing key {key_id} is encrypted: set LICENSD_SECRET to the value it was sealed with"
                ))
            })?;
            if bytes.len() < NONCE_LEN {
                return Err(StoreError::Corrupt("signing key: too short".into()));
            }
            let (nonce, ct) = bytes.split_at(NONCE_LEN);
            let nonce: [u8; NONCE_LEN] =
                nonce.try_into().map_err(|_| StoreError::Corrupt("signing key nonce".into()))?;
            let (key, aad) = if s.kdf == Kdf::Argon2idV1 {
                let salt = STANDARD
                    .decode(s.salt.as_deref().unwrap_or_default())
                    .ok()
                    .filter(|x| !x.is_empty())
                    .ok_or_else(|| StoreError::Corrupt("signing key: no Argon2id salt".into()))?;
                let params = parse_params(s.params.as_deref().unwrap_or_default())?;
                (argon2_key(secret, &salt, params)?, aad(key_id))
            } else {
                (sha256_key(secret), Vec::new())
            };
            let opened = XChaCha20Poly1305::new(&(*key).into())
                .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
                .map_err(|_| {
                    StoreError::Config(format!(
                        "LICENSD_SECRET does not open the signing key {key_id} (another secret, or the row was altered)"
                    ))
                })?;
            Zeroizing::new(opened)
        }
    };
    Ok(plain)
}

const SEALED_COLS: &str = "key_id, secret, kdf, kdf_salt, kdf_params, algorithm";

fn sealed_from_row(row: &Row) -> Result<(String, Sealed), StoreError> {
    Ok((
        row.get("key_id")?,
        Sealed {
            secret: row.get("secret")?,
            kdf: row.get_enum("kdf")?,
            salt: row.get("kdf_salt")?,
            params: row.get("kdf_params")?,
        },
    ))
}

fn open(row: &Row, secret: Option<&str>) -> Result<AnyKey, StoreError> {
    let (key_id, sealed) = sealed_from_row(row)?;
    let plain = open_bytes(&sealed, &key_id, secret)?;
    AnyKey::from_secret(row.get_enum("algorithm")?, &plain, &key_id)
}

fn ed25519(key: AnyKey) -> Result<KeyPair, StoreError> {
    match key {
        AnyKey::Ed25519(k) => Ok(k),
        AnyKey::Rsa(k) => Err(StoreError::Corrupt(format!("signing key {} is RSA, not Ed25519", k.key_id))),
    }
}

fn rsa(key: AnyKey) -> Result<RsaKey, StoreError> {
    match key {
        AnyKey::Rsa(k) => Ok(k),
        AnyKey::Ed25519(k) => Err(StoreError::Corrupt(format!("signing key {} is Ed25519, not RSA", k.key_id))),
    }
}

/// Stores `key` as the active one of its kind (retiring the one before when `retired` names it), recording
/// `signing_key.rotated` when `by` (a person, or the command line's operator) did it. The event's before and
/// after hold the algorithm and the active key id (and the new RSA key's bits).
async fn insert(
    db: &Db,
    key: &AnyKey,
    secret: Option<&str>,
    retired: Option<&str>,
    by: Option<&Scope>,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    if retired.is_some() {
        retire_active(&mut tx, key.algorithm()).await?;
    }
    let id = insert_row(&mut tx, key, secret, true, now_ms()).await?;
    if let Some(by) = by {
        let algorithm = key.algorithm().as_str();
        let mut after = serde_json::json!({"active_key_id": key.key_id(), "algorithm": algorithm});
        if let Some(bits) = key.bits() {
            after["bits"] = bits.into();
        }
        let e = NewEvent::changed(
            "signing_key",
            "rotated",
            id,
            Some(serde_json::json!({"active_key_id": retired, "algorithm": algorithm})),
            after,
        );
        events::record(&mut tx, by, e).await?;
    }
    tx.commit().await
}

/// Retires the active key of `algorithm` (it signs nothing more; what it signed still verifies).
async fn retire_active(tx: &mut Tx, algorithm: SigningAlgorithm) -> Result<(), StoreError> {
    tx.execute(
        query("UPDATE signing_keys SET active = ?, retired_at = ? WHERE active = ? AND algorithm = ?")
            .bind(false)
            .bind(now_ms())
            .bind(true)
            .bind(algorithm.as_str()),
    )
    .await?;
    Ok(())
}

/// Stores `key` sealed under `secret` (plaintext without one), active or retired.
async fn insert_row(
    tx: &mut Tx,
    key: &AnyKey,
    secret: Option<&str>,
    active: bool,
    created_at: i64,
) -> Result<i64, StoreError> {
    let sealed = seal_bytes(&key.secret(), key.key_id(), secret)?;
    tx.insert(
        query(
            "INSERT INTO signing_keys (key_id, public_key, secret, encrypted, kdf, kdf_salt, kdf_params, active, \
             created_at, retired_at, algorithm, bits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.key_id())
        .bind(key.public_base64())
        .bind(sealed.secret)
        .bind(sealed.kdf.is_sealed())
        .bind(sealed.kdf.as_str())
        .bind(sealed.salt)
        .bind(sealed.params)
        .bind(active)
        .bind(created_at)
        .bind(if active { None } else { Some(now_ms()) })
        .bind(key.algorithm().as_str())
        .bind(key.bits().map(i64::from)),
    )
    .await
}

/// The active key of `algorithm`, if there is one.
async fn active_of(db: &Db, algorithm: SigningAlgorithm, secret: Option<&str>) -> Result<Option<AnyKey>, StoreError> {
    let q = query(format!("SELECT {SEALED_COLS} FROM signing_keys WHERE active = ? AND algorithm = ?"))
        .bind(true)
        .bind(algorithm.as_str());
    match db.fetch_optional(q).await? {
        Some(row) => open(&row, secret).map(Some),
        None => Ok(None),
    }
}

/// The active key of `algorithm`, made by `make` when there is none. Starts at once agree on one key: the
/// key is made before the write transaction (an RSA key takes a while), which looks again for an active key
/// and inserts only if there is none. On SQLite that look sees every earlier writer's insert, committed or
/// still in the group commit; on PostgreSQL a concurrent insert meets the one-active-key-per-algorithm index,
/// and the retry reads the winner's key.
async fn active_or_make(
    db: &Db,
    algorithm: SigningAlgorithm,
    secret: Option<&str>,
    make: impl Fn() -> Result<AnyKey, StoreError>,
) -> Result<AnyKey, StoreError> {
    let select = || {
        query(format!("SELECT {SEALED_COLS} FROM signing_keys WHERE active = ? AND algorithm = ?"))
            .bind(true)
            .bind(algorithm.as_str())
    };
    for _ in 0..5 {
        if let Some(key) = active_of(db, algorithm, secret).await? {
            return Ok(key);
        }
        let key = make()?;
        let mut tx = db.begin().await?;
        if let Some(row) = tx.fetch_optional(select()).await? {
            drop(tx);
            return open(&row, secret);
        }
        let inserted = insert_row(&mut tx, &key, secret, true, now_ms()).await;
        match inserted {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
        match tx.commit().await {
            Ok(()) => return Ok(key),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Corrupt(format!("no active {} signing key could be created", algorithm.as_str())))
}

/// A new RSA key of `bits`, made off the async worker (a tenth of a second or so for 2048 bits, up to a second
/// or more for 4096: the prime search varies).
fn new_rsa(bits: u32) -> Result<AnyKey, StoreError> {
    Ok(AnyKey::Rsa(crate::writer::off_worker(|| RsaKey::generate(bits))?))
}

/// The active Ed25519 signing key, created on first use (race-free: [`active_or_make`]).
pub async fn active(db: &Db, secret: Option<&str>) -> Result<KeyPair, StoreError> {
    ed25519(active_or_make(db, SigningAlgorithm::Ed25519, secret, || Ok(AnyKey::Ed25519(KeyPair::generate()))).await?)
}

/// The active RSA signing key (LicenseSpring's License API v4), or `None` before [`ensure_rsa`] made one.
/// Only reads: `licensd key show --rsa` prints what the servers sign with, never a key of its own.
pub async fn active_rsa(db: &Db, secret: Option<&str>) -> Result<Option<RsaKey>, StoreError> {
    active_of(db, SigningAlgorithm::Rsa, secret).await?.map(rsa).transpose()
}

/// The active RSA signing key, made of `bits` (2048, 3072 or 4096) when there is none: at first start
/// (`AppState::load`) and by `licensd migrate`, with the Ed25519 key. Race-free as [`active`].
pub async fn ensure_rsa(db: &Db, secret: Option<&str>, bits: u32) -> Result<RsaKey, StoreError> {
    licensd_core::rsa::key_size(bits)?;
    rsa(active_or_make(db, SigningAlgorithm::Rsa, secret, || new_rsa(bits)).await?)
}

/// Both active keys, each made when missing (the RSA one of `rsa_bits`): what a server needs to start.
pub async fn ensure(db: &Db, secret: Option<&str>, rsa_bits: u32) -> Result<(KeyPair, RsaKey), StoreError> {
    Ok((active(db, secret).await?, ensure_rsa(db, secret, rsa_bits).await?))
}

/// Makes a new Ed25519 key active; the old ones stay listed (and verifiable) but sign nothing more.
pub async fn rotate(db: &Db, secret: Option<&str>) -> Result<KeyPair, StoreError> {
    rotate_recorded(db, secret, None).await
}

/// [`rotate`], by a person: recorded as `signing_key.rotated` with `by` as the actor.
pub async fn rotate_as(db: &Db, secret: Option<&str>, by: &Scope) -> Result<KeyPair, StoreError> {
    rotate_recorded(db, secret, Some(by)).await
}

async fn rotate_recorded(db: &Db, secret: Option<&str>, by: Option<&Scope>) -> Result<KeyPair, StoreError> {
    let old = active(db, secret).await?;
    let key = AnyKey::Ed25519(KeyPair::generate());
    insert(db, &key, secret, Some(&old.key_id), by).await?;
    ed25519(key)
}

/// Makes a new RSA key of `bits` active (the one before retired; what it signed still verifies). Without an
/// active RSA key it makes the first, as [`ensure_rsa`] would.
pub async fn rotate_rsa(db: &Db, secret: Option<&str>, bits: u32) -> Result<RsaKey, StoreError> {
    rotate_rsa_recorded(db, secret, bits, None).await
}

/// [`rotate_rsa`], by a person: recorded as `signing_key.rotated` (`algorithm` `rsa`) with `by` as the actor.
pub async fn rotate_rsa_as(db: &Db, secret: Option<&str>, bits: u32, by: &Scope) -> Result<RsaKey, StoreError> {
    rotate_rsa_recorded(db, secret, bits, Some(by)).await
}

async fn rotate_rsa_recorded(
    db: &Db,
    secret: Option<&str>,
    bits: u32,
    by: Option<&Scope>,
) -> Result<RsaKey, StoreError> {
    licensd_core::rsa::key_size(bits)?;
    let old = active_rsa(db, secret).await?;
    let key = new_rsa(bits)?;
    insert(db, &key, secret, old.as_ref().map(|k| k.key_id.as_str()), by).await?;
    rsa(key)
}

/// How one row is stored, for warnings and `licensd key encrypt` (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredKey {
    pub key_id: String,
    pub active: bool,
    pub kdf: Kdf,
    pub algorithm: SigningAlgorithm,
}

/// Every row's storage format (both kinds), the active keys first.
pub async fn stored(db: &Db) -> Result<Vec<StoredKey>, StoreError> {
    let rows = db
        .fetch_all(query(
            "SELECT key_id, active, kdf, algorithm FROM signing_keys ORDER BY active DESC, algorithm, id DESC",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredKey {
                key_id: r.get("key_id")?,
                active: r.get("active")?,
                kdf: r.get_enum("kdf")?,
                algorithm: r.get_enum("algorithm")?,
            })
        })
        .collect()
}

/// What [`encrypt_all`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Resealed {
    /// Key ids re-sealed as `argon2id-v1`, with the format each had.
    pub resealed: Vec<(String, Kdf)>,
    /// Key ids that were `argon2id-v1` already.
    pub unchanged: Vec<String>,
    /// Key ids the secret could not open, with why (the rows are left as they were).
    pub failed: Vec<(String, String)>,
}

/// Seals every key row (retired ones too, of both kinds) that is plaintext or in the older `sha256-v1` format as
/// `argon2id-v1` under `secret`. Idempotent; each row is rewritten only if it is still what was read (so
/// instances starting together, or a `key rotate` meanwhile, cannot lose a key), in a transaction of its own.
pub async fn encrypt_all(db: &Db, secret: &str) -> Result<Resealed, StoreError> {
    let rows = db.fetch_all(query(format!("SELECT {SEALED_COLS} FROM signing_keys ORDER BY id"))).await?;
    let mut out = Resealed::default();
    for row in &rows {
        let (key_id, old) = sealed_from_row(row)?;
        if old.kdf == Kdf::Argon2idV1 {
            out.unchanged.push(key_id);
            continue;
        }
        let plain = match open_bytes(&old, &key_id, Some(secret)) {
            Ok(s) => s,
            Err(e) => {
                out.failed.push((key_id, e.to_string()));
                continue;
            }
        };
        if AnyKey::from_secret(row.get_enum("algorithm")?, &plain, &key_id).is_err() {
            out.failed.push((key_id, "the stored secret is not the key its key id names".into()));
            continue;
        }
        let new = seal_bytes(&plain, &key_id, Some(secret))?;
        let mut tx = db.begin().await?;
        let n = tx
            .execute(
                query(
                    "UPDATE signing_keys SET secret = ?, encrypted = ?, kdf = ?, kdf_salt = ?, kdf_params = ? \
                     WHERE key_id = ? AND kdf = ? AND secret = ?",
                )
                .bind(new.secret)
                .bind(true)
                .bind(new.kdf.as_str())
                .bind(new.salt)
                .bind(new.params)
                .bind(key_id.as_str())
                .bind(old.kdf.as_str())
                .bind(old.secret),
            )
            .await?;
        tx.commit().await?;
        if n == 1 {
            out.resealed.push((key_id, old.kdf));
        } else {
            // Someone else re-sealed it between the read and the write.
            out.unchanged.push(key_id);
        }
    }
    Ok(out)
}

const PUBLIC_COLS: &str = "key_id, public_key, active, created_at, algorithm, bits";

fn public_from_row(r: &Row) -> Result<PublicKey, StoreError> {
    let bits: Option<i64> = r.get("bits")?;
    Ok(PublicKey {
        key_id: r.get("key_id")?,
        public_key: r.get("public_key")?,
        active: r.get("active")?,
        created_at: r.get("created_at")?,
        algorithm: r.get_enum("algorithm")?,
        bits: bits
            .map(|b| u32::try_from(b).map_err(|_| StoreError::Corrupt(format!("signing key bits {b}"))))
            .transpose()?,
    })
}

/// Every Ed25519 public key (licensd's client API and license files), the active one first.
pub async fn public_keys(db: &Db) -> Result<Vec<PublicKey>, StoreError> {
    public_keys_of(db, SigningAlgorithm::Ed25519).await
}

/// Every public key of `algorithm`, the active one first.
pub async fn public_keys_of(db: &Db, algorithm: SigningAlgorithm) -> Result<Vec<PublicKey>, StoreError> {
    let rows = db
        .fetch_all(
            query(format!("SELECT {PUBLIC_COLS} FROM signing_keys WHERE algorithm = ? ORDER BY active DESC, id DESC"))
                .bind(algorithm.as_str()),
        )
        .await?;
    rows.iter().map(public_from_row).collect()
}

/// One Ed25519 public key by id (retired ones included), as the client API serves it.
pub async fn public_key(db: &Db, key_id: &str) -> Result<PublicKey, StoreError> {
    let row = db
        .fetch_one(
            query(format!("SELECT {PUBLIC_COLS} FROM signing_keys WHERE key_id = ? AND algorithm = ?"))
                .bind(key_id)
                .bind(SigningAlgorithm::Ed25519.as_str()),
        )
        .await?;
    public_from_row(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> [u8; 32] {
        KeyPair::generate().seed()
    }

    #[test]
    fn argon2id_seal_opens_with_the_secret_and_key_id() {
        let s = seed();
        let sealed = seal(&s, "kid1", Some("a-long-random-secret")).unwrap();
        assert_eq!(sealed.kdf, Kdf::Argon2idV1);
        assert_eq!(sealed.params.as_deref(), Some("m=19456,t=2,p=1"));
        assert_eq!(STANDARD.decode(sealed.salt.as_deref().unwrap()).unwrap().len(), SALT_LEN);
        assert!(!sealed.secret.contains(&STANDARD.encode(s)));
        assert_eq!(*open_sealed(&sealed, "kid1", Some("a-long-random-secret")).unwrap(), s);
    }

    #[test]
    fn every_seal_has_its_own_salt_and_nonce() {
        let s = seed();
        let a = seal(&s, "kid1", Some("secret-secret-secret")).unwrap();
        let b = seal(&s, "kid1", Some("secret-secret-secret")).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.secret, b.secret);
    }

    #[test]
    fn a_wrong_secret_or_none_does_not_open() {
        let sealed = seal(&seed(), "kid1", Some("the-right-secret")).unwrap();
        let e = open_sealed(&sealed, "kid1", Some("the-wrong-secret")).unwrap_err();
        assert!(matches!(&e, StoreError::Config(m) if m.contains("does not open")), "{e}");
        let e = open_sealed(&sealed, "kid1", None).unwrap_err();
        assert!(matches!(&e, StoreError::Config(m) if m.contains("set LICENSD_SECRET")), "{e}");
    }

    #[test]
    fn a_seal_moved_to_another_key_id_does_not_open() {
        let sealed = seal(&seed(), "kid1", Some("the-right-secret")).unwrap();
        assert!(open_sealed(&sealed, "kid2", Some("the-right-secret")).is_err());
    }

    #[test]
    fn altered_salt_or_params_do_not_open() {
        let sealed = seal(&seed(), "kid1", Some("the-right-secret")).unwrap();
        let salt = Sealed { salt: Some(STANDARD.encode([7u8; SALT_LEN])), ..sealed.clone() };
        assert!(open_sealed(&salt, "kid1", Some("the-right-secret")).is_err());
        let params = Sealed { params: Some("m=19456,t=1,p=1".into()), ..sealed.clone() };
        assert!(open_sealed(&params, "kid1", Some("the-right-secret")).is_err());
        for bad in ["", "m=19456", "m=0,t=2,p=1", "m=99999999,t=2,p=1", "t=2,m=19456,p=1", "m=19456,t=2,p=1,x=1"] {
            let s = Sealed { params: Some(bad.into()), ..sealed.clone() };
            assert!(matches!(open_sealed(&s, "kid1", Some("the-right-secret")), Err(StoreError::Corrupt(_))), "{bad}");
        }
    }

    /// A row sealed by licensd before migration 13, built the way that code built it.
    fn sha256_v1(seed: &[u8; 32], secret: &str) -> Sealed {
        let nonce = [9u8; NONCE_LEN];
        let ct =
            XChaCha20Poly1305::new(&(*sha256_key(secret)).into()).encrypt(&XNonce::from(nonce), &seed[..]).unwrap();
        let mut out = nonce.to_vec();
        out.extend(ct);
        Sealed { secret: STANDARD.encode(out), kdf: Kdf::Sha256V1, salt: None, params: None }
    }

    #[test]
    fn old_sha256_v1_and_plaintext_rows_still_open() {
        let s = seed();
        let old = sha256_v1(&s, "old-secret-of-the-vendor");
        assert_eq!(*open_sealed(&old, "any", Some("old-secret-of-the-vendor")).unwrap(), s);
        assert!(open_sealed(&old, "any", Some("another")).is_err());
        let plain = seal(&s, "kid1", None).unwrap();
        assert_eq!(plain, Sealed { secret: STANDARD.encode(s), kdf: Kdf::None, salt: None, params: None });
        assert_eq!(*open_sealed(&plain, "kid1", None).unwrap(), s);
        assert_eq!(*open_sealed(&plain, "kid1", Some("ignored")).unwrap(), s);
    }

    #[test]
    fn derived_keys_are_cached_per_salt() {
        let salt = [3u8; SALT_LEN];
        let params = (ARGON2_M_KIB, ARGON2_T, ARGON2_P);
        let start = std::time::Instant::now();
        let a = argon2_key("cache-test-secret", &salt, params).unwrap();
        let first = start.elapsed();
        let start = std::time::Instant::now();
        let b = argon2_key("cache-test-secret", &salt, params).unwrap();
        assert!(start.elapsed() < first / 4, "the second derivation came from the cache");
        assert_eq!(*a, *b);
        assert_ne!(*argon2_key("cache-test-secret", &[4u8; SALT_LEN], params).unwrap(), *a);
        assert_ne!(*argon2_key("other-test-secret", &salt, params).unwrap(), *a);
    }
}

/// The format name of `licensd key export` files: v2 since RSA keys (migration 22) are exported too, so a
/// licensd from before them refuses such a file by its format rather than on its first RSA entry.
pub const EXPORT_FORMAT: &str = "licensd-signing-keys-v2";

/// The format of files written before RSA keys: Ed25519 keys only, no `algorithm`. Still imported.
pub const EXPORT_FORMAT_V1: &str = "licensd-signing-keys-v1";

/// One key in an export file: its public half in clear, its secret (an Ed25519 seed, an RSA key's PKCS#8 DER)
/// sealed under the passphrase in the same Argon2id + XChaCha20-Poly1305 format as a sealed row (the key id
/// bound), whatever the database stores.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportedKey {
    pub key_id: String,
    /// As the `public_key` column: base64 of the Ed25519 public bytes or of the RSA SubjectPublicKeyInfo DER.
    pub public_key: String,
    pub active: bool,
    pub created_at: i64,
    pub sealed: String,
    pub salt: String,
    pub params: String,
    /// `ed25519` when absent (v1 files).
    #[serde(default)]
    pub algorithm: SigningAlgorithm,
    /// An RSA key's modulus size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
}

/// An export file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Export {
    pub format: String,
    pub exported_at: i64,
    pub keys: Vec<ExportedKey>,
}

/// Every signing key (active and retired, Ed25519 and RSA), opened with `secret` (`LICENSD_SECRET`) and sealed
/// under `passphrase` for `licensd key export`.
pub async fn export(db: &Db, secret: Option<&str>, passphrase: &str) -> Result<Export, StoreError> {
    let rows = db
        .fetch_all(query(format!(
            "SELECT {SEALED_COLS}, public_key, active, created_at FROM signing_keys ORDER BY active DESC, algorithm, id"
        )))
        .await?;
    let mut keys = Vec::new();
    for r in &rows {
        let key = open(r, secret)?;
        let sealed = seal_bytes(&key.secret(), key.key_id(), Some(passphrase))?;
        keys.push(ExportedKey {
            key_id: key.key_id().to_string(),
            public_key: r.get("public_key")?,
            active: r.get("active")?,
            created_at: r.get("created_at")?,
            sealed: sealed.secret,
            salt: sealed.salt.unwrap_or_default(),
            params: sealed.params.unwrap_or_default(),
            algorithm: key.algorithm(),
            bits: key.bits(),
        });
    }
    Ok(Export { format: EXPORT_FORMAT.into(), exported_at: now_ms(), keys })
}

/// What [`import`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Imported {
    /// Keys added (stored sealed under `LICENSD_SECRET` when set).
    pub added: Vec<String>,
    /// Keys the database had already.
    pub present: Vec<String>,
    /// The Ed25519 key that signs now, when the import changed it.
    pub activated: Option<String>,
    /// The RSA key that signs now, when the import changed it.
    pub activated_rsa: Option<String>,
    /// The file's active keys that were added retired, because the database had an active key of that kind
    /// and `activate` was not asked for: what the importer should hear about.
    pub not_activated: Vec<NotActivated>,
}

/// A file's active key that an import added retired.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotActivated {
    pub key_id: String,
    pub algorithm: SigningAlgorithm,
}

impl Imported {
    fn activated_mut(&mut self, algorithm: SigningAlgorithm) -> &mut Option<String> {
        match algorithm {
            SigningAlgorithm::Ed25519 => &mut self.activated,
            SigningAlgorithm::Rsa => &mut self.activated_rsa,
        }
    }
}

/// Adds an export's keys that the database lacks (a v1 file's keys are Ed25519). For each kind, the export's
/// active key becomes active when the database has none of that kind, or with `activate` (the current one is
/// retired, its signatures still verify); otherwise it is added retired. Refuses, changing nothing, a wrong
/// passphrase or an altered file.
pub async fn import(
    db: &Db,
    file: &Export,
    passphrase: &str,
    secret: Option<&str>,
    activate: bool,
) -> Result<Imported, StoreError> {
    if file.format != EXPORT_FORMAT && file.format != EXPORT_FORMAT_V1 {
        return Err(StoreError::invalid(
            "format",
            format!("expected {EXPORT_FORMAT:?} (or {EXPORT_FORMAT_V1:?}), found {:?}", file.format),
        ));
    }
    let mut opened = Vec::new();
    for k in &file.keys {
        if file.format == EXPORT_FORMAT_V1 && k.algorithm != SigningAlgorithm::Ed25519 {
            return Err(StoreError::invalid("format", format!("key {}: a v1 file holds Ed25519 keys only", k.key_id)));
        }
        let sealed = Sealed {
            secret: k.sealed.clone(),
            kdf: Kdf::Argon2idV1,
            salt: Some(k.salt.clone()),
            params: Some(k.params.clone()),
        };
        let plain = open_bytes(&sealed, &k.key_id, Some(passphrase)).map_err(|e| match e {
            StoreError::Config(_) => StoreError::Config(format!(
                "the passphrase does not open key {} (another passphrase, or the file was altered)",
                k.key_id
            )),
            other => other,
        })?;
        let key = AnyKey::from_secret(k.algorithm, &plain, &k.key_id)
            .map_err(|_| StoreError::Corrupt(format!("key {}: the sealed secret is another key's", k.key_id)))?;
        if key.public_base64() != k.public_key {
            return Err(StoreError::Corrupt(format!("key {}: the sealed secret is another key's", k.key_id)));
        }
        opened.push((key, k.active, k.created_at));
    }
    let before = stored(db).await?;
    let existing: Vec<&str> = before.iter().map(|k| k.key_id.as_str()).collect();
    let has_active = |alg: SigningAlgorithm| before.iter().any(|k| k.active && k.algorithm == alg);
    let mut done = Imported::default();
    let mut tx = db.begin().await?;
    for (key, was_active, created_at) in &opened {
        if existing.contains(&key.key_id()) {
            done.present.push(key.key_id().to_string());
            continue;
        }
        let alg = key.algorithm();
        let make_active = *was_active && (activate || !has_active(alg)) && done.activated_mut(alg).is_none();
        if make_active {
            retire_active(&mut tx, alg).await?;
            *done.activated_mut(alg) = Some(key.key_id().to_string());
        }
        insert_row(&mut tx, key, secret, make_active, *created_at).await?;
        if *was_active && !make_active {
            done.not_activated.push(NotActivated { key_id: key.key_id().to_string(), algorithm: alg });
        }
        done.added.push(key.key_id().to_string());
    }
    if activate {
        for alg in SigningAlgorithm::ALL {
            if done.activated_mut(alg).is_some() {
                continue;
            }
            let Some((key, _, _)) = opened.iter().find(|(k, a, _)| *a && k.algorithm() == alg) else { continue };
            if !done.present.iter().any(|p| p == key.key_id()) {
                continue;
            }
            // Already here: make it the signing key of its kind again (a no-op when it is already).
            retire_active(&mut tx, alg).await?;
            tx.execute(
                query("UPDATE signing_keys SET active = ?, retired_at = NULL WHERE key_id = ?")
                    .bind(true)
                    .bind(key.key_id()),
            )
            .await?;
            *done.activated_mut(alg) = Some(key.key_id().to_string());
        }
    }
    tx.commit().await?;
    Ok(done)
}
