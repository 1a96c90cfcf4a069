//! The server's Ed25519 signing keys: generated on first start, kept in the database (encrypted with
//! XChaCha20-Poly1305 when `LICENSD_SECRET` is set), rotatable; retired keys stay readable so what they
//! signed still verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use licensd_core::signing::KeyPair;
use licensd_core::time::now_ms;
use sha2::{Digest, Sha256};

use crate::db::{Db, Row, query};
use crate::error::StoreError;

/// A public key as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublicKey {
    pub key_id: String,
    pub public_key: String,
    pub active: bool,
    pub created_at: i64,
}

fn cipher(secret: &str) -> XChaCha20Poly1305 {
    let mut h = Sha256::new();
    h.update(b"licensd signing key encryption v1\0");
    h.update(secret.as_bytes());
    let key: [u8; 32] = h.finalize().into();
    XChaCha20Poly1305::new(&key.into())
}

fn seal(seed: &[u8; 32], secret: Option<&str>) -> (String, bool) {
    match secret {
        None => (STANDARD.encode(seed), false),
        Some(s) => {
            let mut nonce = [0u8; 24];
            getrandom::fill(&mut nonce).expect("the operating system's random source failed");
            let ct = cipher(s).encrypt(&XNonce::from(nonce), &seed[..]).expect("encrypting 32 bytes cannot fail");
            let mut out = nonce.to_vec();
            out.extend(ct);
            (STANDARD.encode(out), true)
        }
    }
}

fn open(row: &Row, secret: Option<&str>) -> Result<KeyPair, StoreError> {
    let stored: String = row.get("secret")?;
    let encrypted: bool = row.get("encrypted")?;
    let bytes = STANDARD.decode(stored).map_err(|e| StoreError::Corrupt(format!("signing key: {e}")))?;
    let seed = if encrypted {
        let secret = secret.ok_or_else(|| {
            StoreError::Config(
                "the signing key is encrypted: set LICENSD_SECRET to the value it was created with".into(),
            )
        })?;
        if bytes.len() < 24 {
            return Err(StoreError::Corrupt("signing key: too short".into()));
        }
        let (nonce, ct) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| StoreError::Corrupt("signing key nonce".into()))?;
        cipher(secret)
            .decrypt(&XNonce::from(nonce), ct)
            .map_err(|_| StoreError::Config("LICENSD_SECRET does not decrypt the signing key".into()))?
    } else {
        bytes
    };
    let seed: [u8; 32] = seed.try_into().map_err(|_| StoreError::Corrupt("signing key: not 32 bytes".into()))?;
    let key = KeyPair::from_seed(&seed);
    let key_id: String = row.get("key_id")?;
    if key.key_id != key_id {
        return Err(StoreError::Corrupt("signing key does not match its id".into()));
    }
    Ok(key)
}

async fn insert(db: &Db, key: &KeyPair, secret: Option<&str>, retire_others: bool) -> Result<(), StoreError> {
    let (stored, encrypted) = seal(&key.seed(), secret);
    let mut tx = db.begin().await?;
    if retire_others {
        tx.execute(
            query("UPDATE signing_keys SET active = ?, retired_at = ? WHERE active = ?")
                .bind(false)
                .bind(now_ms())
                .bind(true),
        )
        .await?;
    }
    tx.execute(
        query("INSERT INTO signing_keys (key_id, public_key, secret, encrypted, active, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(key.key_id.as_str())
            .bind(key.public_base64())
            .bind(stored)
            .bind(encrypted)
            .bind(true)
            .bind(now_ms()),
    )
    .await?;
    tx.commit().await
}

/// The active signing key, created on first use. Two instances starting at once agree on one key: the
/// second insert hits the one-active-key index and reads the winner's.
pub async fn active(db: &Db, secret: Option<&str>) -> Result<KeyPair, StoreError> {
    for _ in 0..3 {
        let q = query("SELECT key_id, secret, encrypted FROM signing_keys WHERE active = ?").bind(true);
        if let Some(row) = db.fetch_optional(q).await? {
            return open(&row, secret);
        }
        match insert(db, &KeyPair::generate(), secret, false).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Corrupt("no active signing key could be created".into()))
}

/// Makes a new key active; the old ones stay listed (and verifiable) but sign nothing more.
pub async fn rotate(db: &Db, secret: Option<&str>) -> Result<KeyPair, StoreError> {
    active(db, secret).await?;
    let key = KeyPair::generate();
    insert(db, &key, secret, true).await?;
    Ok(key)
}

fn public_from_row(r: &Row) -> Result<PublicKey, StoreError> {
    Ok(PublicKey {
        key_id: r.get("key_id")?,
        public_key: r.get("public_key")?,
        active: r.get("active")?,
        created_at: r.get("created_at")?,
    })
}

/// Every public key, the active one first.
pub async fn public_keys(db: &Db) -> Result<Vec<PublicKey>, StoreError> {
    let rows = db
        .fetch_all(query(
            "SELECT key_id, public_key, active, created_at FROM signing_keys ORDER BY active DESC, id DESC",
        ))
        .await?;
    rows.iter().map(public_from_row).collect()
}

/// One public key by id (retired ones included).
pub async fn public_key(db: &Db, key_id: &str) -> Result<PublicKey, StoreError> {
    let row = db
        .fetch_one(
            query("SELECT key_id, public_key, active, created_at FROM signing_keys WHERE key_id = ?").bind(key_id),
        )
        .await?;
    public_from_row(&row)
}
