//! Signing keys of both kinds (`store::keys`): the RSA key of LicenseSpring's API is made once however many
//! instances start at once, only read by `active_rsa`, rotated apart from the Ed25519 key, sealed, re-sealed,
//! exported and imported like it; a database from before migration 22 keeps its Ed25519 key. SQLite always;
//! PostgreSQL when `LICENSD_TEST_POSTGRES` names a server.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use licensd_store::db::{Db, query};
use licensd_store::keys::{self, Kdf, SigningAlgorithm};
use licensd_store::{Scope, StoreError};

struct TempDb {
    db: Db,
    path: Option<String>,
}

impl TempDb {
    async fn close(self) {
        self.db.close().await;
        if let Some(p) = self.path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{p}{suffix}"));
            }
        }
    }
}

/// A file of its own per call: a case runs on both backends at once, and makes second databases.
fn sqlite_path(name: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}-{n}.db", std::process::id())).display().to_string();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    path
}

async fn sqlite(name: &str) -> TempDb {
    let path = sqlite_path(name);
    TempDb { db: Db::connect(&format!("sqlite://{path}")).await.unwrap(), path: Some(path) }
}

async fn postgres(name: &str) -> Option<TempDb> {
    Some(TempDb { db: Db::connect(&licensd_testkit::fresh_postgres(name)?).await.unwrap(), path: None })
}

/// `case::sqlite` and `case::postgres` for each `async fn case(db: &Db)`.
macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = super::sqlite(concat!("keys-", stringify!($case))).await;
                super::$case(&t.db).await;
                t.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(t) = super::postgres("keys").await else { return };
                super::$case(&t.db).await;
                t.close().await;
            }
        }
    )+};
}

both_backends!(
    the_rsa_key_is_made_once_however_many_start_at_once,
    rotating_the_rsa_key_leaves_the_ed25519_key_and_keeps_the_old_one_listed,
    rsa_keys_are_sealed_and_resealed_like_ed25519_keys,
    an_export_with_rsa_keys_imports_into_a_new_database_and_a_v1_file_still_imports,
    a_database_from_before_migration_22_keeps_its_key_and_gains_an_rsa_one,
);

const SECRET: &str = "a-long-random-secret-for-the-keys-test";

fn admin() -> Scope {
    Scope { actor: "Ana Lima <ana@acme.com>".into(), ..Scope::system() }
}

fn verifies(pem: &str, msg: &[u8], sig_b64: &str) -> bool {
    let der = licensd_core::rsa::pem_der(pem).expect("a PUBLIC KEY PEM");
    let sig = STANDARD.decode(sig_b64).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der).verify(msg, &sig).is_ok()
}

async fn rows(db: &Db, algorithm: &str) -> i64 {
    db.fetch_one(query("SELECT COUNT(*) AS n FROM signing_keys WHERE algorithm = ?").bind(algorithm))
        .await
        .unwrap()
        .get("n")
        .unwrap()
}

async fn the_rsa_key_is_made_once_however_many_start_at_once(db: &Db) {
    // Reading never makes one.
    assert!(keys::active_rsa(db, None).await.unwrap().is_none());
    assert_eq!(rows(db, "rsa").await, 0);
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { keys::ensure(&db, None, 2048).await })
        })
        .collect();
    let mut ids = Vec::new();
    for s in starts {
        let (ed, rsa) = s.await.unwrap().unwrap();
        ids.push((ed.key_id, rsa.key_id));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every start agreed on one key of each kind: {ids:?}");
    assert_eq!((rows(db, "ed25519").await, rows(db, "rsa").await), (1, 1));
    let rsa = keys::active_rsa(db, None).await.unwrap().unwrap();
    assert_eq!((rsa.key_id.as_str(), rsa.bits()), (ids[0].1.as_str(), 2048));
    // What it signs verifies with the PEM it lists.
    let listed = keys::public_keys_of(db, SigningAlgorithm::Rsa).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].active, listed[0].bits, listed[0].algorithm), (true, Some(2048), SigningAlgorithm::Rsa));
    assert_eq!(listed[0].pem().unwrap(), rsa.public_pem());
    assert!(verifies(&rsa.public_pem(), b"{\"license_key\":\"K\"}", &rsa.sign_base64(b"{\"license_key\":\"K\"}")));
    // The Ed25519 listing, which the client API and its SDK read, holds no RSA key, and the client API's
    // lookup by id does not find one.
    let ed = keys::public_keys(db).await.unwrap();
    assert_eq!(ed.iter().map(|k| k.algorithm).collect::<Vec<_>>(), [SigningAlgorithm::Ed25519]);
    assert!(ed[0].pem().is_none() && ed[0].bits.is_none());
    assert!(matches!(keys::public_key(db, &rsa.key_id).await, Err(StoreError::NotFound)));
    // A size licensd does not make is refused, naming the sizes.
    for bits in [1024, 2047, 8192] {
        let e = keys::ensure_rsa(db, None, bits).await.unwrap_err();
        assert!(e.to_string().contains("2048, 3072 or 4096"), "{e}");
        let e = keys::rotate_rsa(db, None, bits).await.unwrap_err();
        assert!(e.to_string().contains("2048, 3072 or 4096"), "{e}");
    }
    assert_eq!(rows(db, "rsa").await, 1);
}

async fn rotating_the_rsa_key_leaves_the_ed25519_key_and_keeps_the_old_one_listed(db: &Db) {
    let (ed, old) = keys::ensure(db, None, 2048).await.unwrap();
    let signed = old.sign_base64(b"answer");
    let new = keys::rotate_rsa_as(db, None, 3072, &admin()).await.unwrap();
    assert_ne!(new.key_id, old.key_id);
    assert_eq!(new.bits(), 3072);
    assert_eq!(keys::active(db, None).await.unwrap().key_id, ed.key_id, "the Ed25519 key is untouched");
    assert_eq!(keys::active_rsa(db, None).await.unwrap().unwrap().key_id, new.key_id);
    let listed = keys::public_keys_of(db, SigningAlgorithm::Rsa).await.unwrap();
    let summary: Vec<(&str, bool, Option<u32>)> =
        listed.iter().map(|k| (k.key_id.as_str(), k.active, k.bits)).collect();
    assert_eq!(summary, [(new.key_id.as_str(), true, Some(3072)), (old.key_id.as_str(), false, Some(2048))]);
    // What the old key signed still verifies with its listed PEM; the new key's does not verify it.
    assert!(verifies(&listed[1].pem().unwrap(), b"answer", &signed));
    assert!(!verifies(&listed[0].pem().unwrap(), b"answer", &signed));
    let event = db
        .fetch_one(query("SELECT actor, before_json, after_json FROM events WHERE action = 'signing_key.rotated'"))
        .await
        .unwrap();
    assert_eq!(event.get::<String>("actor").unwrap(), "Ana Lima <ana@acme.com>");
    let before: serde_json::Value = serde_json::from_str(&event.get::<String>("before_json").unwrap()).unwrap();
    let after: serde_json::Value = serde_json::from_str(&event.get::<String>("after_json").unwrap()).unwrap();
    assert_eq!(before, serde_json::json!({"active_key_id": old.key_id, "algorithm": "rsa"}));
    assert_eq!(after, serde_json::json!({"active_key_id": new.key_id, "algorithm": "rsa", "bits": 3072}));
    // An Ed25519 rotation leaves the RSA key, and says its algorithm too.
    let ed2 = keys::rotate_as(db, None, &admin()).await.unwrap();
    assert_ne!(ed2.key_id, ed.key_id);
    assert_eq!(keys::active_rsa(db, None).await.unwrap().unwrap().key_id, new.key_id);
    let after: String = db
        .fetch_one(query("SELECT after_json FROM events WHERE action = 'signing_key.rotated' ORDER BY id DESC"))
        .await
        .unwrap()
        .get("after_json")
        .unwrap();
    let after: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(after, serde_json::json!({"active_key_id": ed2.key_id, "algorithm": "ed25519"}));
    assert_eq!(keys::public_keys(db).await.unwrap().len(), 2);
    assert_eq!(keys::stored(db).await.unwrap().len(), 4);
}

async fn rsa_keys_are_sealed_and_resealed_like_ed25519_keys(db: &Db) {
    // Made without a secret: plaintext, as an Ed25519 key would be.
    let (_, plain) = keys::ensure(db, None, 2048).await.unwrap();
    let stored = keys::stored(db).await.unwrap();
    let rsa_row = stored.iter().find(|k| k.algorithm == SigningAlgorithm::Rsa).unwrap();
    assert_eq!((rsa_row.key_id.as_str(), rsa_row.kdf, rsa_row.active), (plain.key_id.as_str(), Kdf::None, true));
    let done = keys::encrypt_all(db, SECRET).await.unwrap();
    assert_eq!(done.resealed.len(), 2, "both kinds re-sealed: {done:?}");
    assert!(done.failed.is_empty());
    assert!(keys::stored(db).await.unwrap().iter().all(|k| k.kdf == Kdf::Argon2idV1));
    // The PKCS#8 DER is no longer in the row.
    let secret: String = db
        .fetch_one(query("SELECT secret FROM signing_keys WHERE algorithm = 'rsa'"))
        .await
        .unwrap()
        .get("secret")
        .unwrap();
    let sealed = STANDARD.decode(&secret).unwrap();
    let der = plain.to_pkcs8();
    assert!(sealed.len() > der.len() && !sealed.windows(32).any(|w| w == &der[der.len() - 32..]), "sealed");
    assert_eq!(keys::active_rsa(db, Some(SECRET)).await.unwrap().unwrap().key_id, plain.key_id);
    let e = keys::active_rsa(db, None).await.unwrap_err();
    assert!(matches!(&e, StoreError::Config(m) if m.contains("set LICENSD_SECRET")), "{e}");
    let e = keys::active_rsa(db, Some("another-secret-of-some-length")).await.unwrap_err();
    assert!(matches!(&e, StoreError::Config(m) if m.contains("does not open")), "{e}");
    // A rotation under the secret seals the new key at once.
    let new = keys::rotate_rsa(db, Some(SECRET), 2048).await.unwrap();
    assert_eq!(keys::active_rsa(db, Some(SECRET)).await.unwrap().unwrap().key_id, new.key_id);
    assert!(keys::stored(db).await.unwrap().iter().all(|k| k.kdf == Kdf::Argon2idV1));
    assert!(keys::encrypt_all(db, SECRET).await.unwrap().resealed.is_empty(), "idempotent");
    // A row whose secret was swapped for another RSA key's is refused, not used.
    let other = licensd_core::rsa::RsaKey::generate(2048).unwrap();
    let sealed = keys::seal_bytes(&other.to_pkcs8(), &new.key_id, Some(SECRET)).unwrap();
    db.execute(
        query("UPDATE signing_keys SET secret = ?, kdf_salt = ?, kdf_params = ? WHERE key_id = ?")
            .bind(sealed.secret)
            .bind(sealed.salt)
            .bind(sealed.params)
            .bind(new.key_id.as_str()),
    )
    .await
    .unwrap();
    let e = keys::active_rsa(db, Some(SECRET)).await.unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("does not match its id")), "{e}");
}

async fn an_export_with_rsa_keys_imports_into_a_new_database_and_a_v1_file_still_imports(db: &Db) {
    let (ed, first) = keys::ensure(db, Some(SECRET), 2048).await.unwrap();
    let rsa = keys::rotate_rsa(db, Some(SECRET), 2048).await.unwrap();
    let pass = "a passphrase of some length";
    let file = keys::export(db, Some(SECRET), pass).await.unwrap();
    assert_eq!(file.format, keys::EXPORT_FORMAT);
    let kinds: Vec<(&str, SigningAlgorithm, bool)> =
        file.keys.iter().map(|k| (k.key_id.as_str(), k.algorithm, k.active)).collect();
    assert_eq!(
        kinds,
        [
            (ed.key_id.as_str(), SigningAlgorithm::Ed25519, true),
            (rsa.key_id.as_str(), SigningAlgorithm::Rsa, true),
            (first.key_id.as_str(), SigningAlgorithm::Rsa, false),
        ]
    );
    let text = serde_json::to_string(&file).unwrap();
    assert!(!text.contains(&STANDARD.encode(&rsa.to_pkcs8()[..])), "the file holds no private key in clear");

    let target = sqlite("keys-import-target").await;
    let reread: keys::Export = serde_json::from_str(&text).unwrap();
    let e = keys::import(&target.db, &reread, "not the passphrase!", None, false).await.unwrap_err();
    assert!(matches!(&e, StoreError::Config(m) if m.contains("passphrase does not open")), "{e}");
    assert!(keys::stored(&target.db).await.unwrap().is_empty(), "a refused import changes nothing");
    let done = keys::import(&target.db, &reread, pass, None, false).await.unwrap();
    assert_eq!(done.added.len(), 3);
    assert_eq!((done.activated.as_deref(), done.activated_rsa.as_deref()), (Some(&*ed.key_id), Some(&*rsa.key_id)));
    let imported = keys::active_rsa(&target.db, None).await.unwrap().unwrap();
    assert_eq!(imported.public_pem(), rsa.public_pem());
    assert!(verifies(&rsa.public_pem(), b"m", &imported.sign_base64(b"m")), "the same private key");
    assert_eq!(keys::public_keys_of(&target.db, SigningAlgorithm::Rsa).await.unwrap().len(), 2);
    // Again: nothing new.
    let again = keys::import(&target.db, &reread, pass, None, false).await.unwrap();
    assert_eq!((again.added.len(), again.present.len()), (0, 3));

    // A file in the format from before RSA keys (no `algorithm`) still imports its Ed25519 keys.
    let mut v1: serde_json::Value = serde_json::from_str(&text).unwrap();
    v1["format"] = keys::EXPORT_FORMAT_V1.into();
    let list = v1["keys"].as_array_mut().unwrap();
    list.retain(|k| k["algorithm"] == "ed25519");
    for k in list.iter_mut() {
        k.as_object_mut().unwrap().remove("algorithm");
    }
    let v1: keys::Export = serde_json::from_value(v1).unwrap();
    let fresh = sqlite("keys-import-v1").await;
    keys::ensure_rsa(&fresh.db, None, 2048).await.unwrap();
    let done = keys::import(&fresh.db, &v1, pass, None, false).await.unwrap();
    assert_eq!((done.added.as_slice(), done.activated.as_deref()), (&[ed.key_id.clone()][..], Some(&*ed.key_id)));
    assert_eq!(keys::active(&fresh.db, None).await.unwrap().key_id, ed.key_id);
    // The whole file into that database, which has an RSA key of its own: the file's is added retired, and said
    // so; with `activate` it signs.
    let own = keys::active_rsa(&fresh.db, None).await.unwrap().unwrap();
    let done = keys::import(&fresh.db, &reread, pass, None, false).await.unwrap();
    let not: Vec<(&str, SigningAlgorithm)> =
        done.not_activated.iter().map(|k| (k.key_id.as_str(), k.algorithm)).collect();
    assert_eq!(not, [(rsa.key_id.as_str(), SigningAlgorithm::Rsa)]);
    assert_eq!(done.activated_rsa, None);
    assert_eq!(keys::active_rsa(&fresh.db, None).await.unwrap().unwrap().key_id, own.key_id);
    let done = keys::import(&fresh.db, &reread, pass, None, true).await.unwrap();
    assert_eq!((done.activated.as_deref(), done.activated_rsa.as_deref()), (Some(&*ed.key_id), Some(&*rsa.key_id)));
    assert!(done.not_activated.is_empty());
    assert_eq!(keys::active_rsa(&fresh.db, None).await.unwrap().unwrap().key_id, rsa.key_id);
    assert_eq!(keys::stored(&fresh.db).await.unwrap().iter().filter(|k| k.active).count(), 2);
    // A v1 file naming an RSA key is refused.
    let mut bad = reread.clone();
    bad.format = keys::EXPORT_FORMAT_V1.into();
    let e = keys::import(&fresh.db, &bad, pass, None, false).await.unwrap_err();
    assert!(matches!(&e, StoreError::Invalid { field, .. } if field == "format"), "{e}");
    target.close().await;
    fresh.close().await;
}

async fn a_database_from_before_migration_22_keeps_its_key_and_gains_an_rsa_one(db: &Db) {
    // A key made by `active` alone (as `licensd key show` on a database no server started) is Ed25519, and
    // `ensure` adds the RSA key beside it without touching it.
    let ed = keys::active(db, None).await.unwrap();
    let algorithm: String = db
        .fetch_one(query("SELECT algorithm FROM signing_keys WHERE key_id = ?").bind(ed.key_id.as_str()))
        .await
        .unwrap()
        .get("algorithm")
        .unwrap();
    assert_eq!(algorithm, "ed25519");
    let (again, rsa) = keys::ensure(db, None, 2048).await.unwrap();
    assert_eq!(again.key_id, ed.key_id);
    assert_eq!(keys::active_rsa(db, None).await.unwrap().unwrap().key_id, rsa.key_id);
}

/// A database that an older licensd left at migration 20 with its Ed25519 key: migration 22 tags the row
/// `ed25519` (and keeps it active); the per-algorithm index then admits one RSA key beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_upgraded_database_keeps_its_ed25519_key() {
    let path = sqlite_path("keys-upgrade");
    let db = Db::open(&format!("sqlite://{path}")).await.unwrap();
    licensd_store::migrate::run_until(&db, 19).await.unwrap();
    let old = licensd_core::signing::KeyPair::generate();
    db.execute(
        query(
            "INSERT INTO signing_keys (key_id, public_key, secret, encrypted, kdf, active, created_at) \
             VALUES (?, ?, ?, ?, 'none', ?, ?)",
        )
        .bind(old.key_id.as_str())
        .bind(old.public_base64())
        .bind(STANDARD.encode(old.seed()))
        .bind(false)
        .bind(true)
        .bind(1_700_000_000_000_i64),
    )
    .await
    .unwrap();
    assert!(licensd_store::migrate::run(&db).await.unwrap().contains(&22));
    assert_eq!(keys::active(&db, None).await.unwrap().key_id, old.key_id);
    let listed = keys::public_keys(&db).await.unwrap();
    assert_eq!((listed.len(), listed[0].algorithm, listed[0].active), (1, SigningAlgorithm::Ed25519, true));
    keys::ensure_rsa(&db, None, 2048).await.unwrap();
    assert_eq!(keys::stored(&db).await.unwrap().iter().filter(|k| k.active).count(), 2);
    // Still one active key per kind: a second active Ed25519 row is refused by the index.
    let e = db
        .execute(
            query(
                "INSERT INTO signing_keys (key_id, public_key, secret, encrypted, kdf, active, created_at) \
                 VALUES ('dup', 'x', 'x', ?, 'none', ?, 1)",
            )
            .bind(false)
            .bind(true),
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, StoreError::Conflict { field, .. } if field == "active"), "{e}");
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}
