//! What licensd leaves on disk, through the real binary (issue 11, "Keys at rest" and durability): database
//! files and exports are private to their owner, SQLite commits are durable unless asked otherwise, signing
//! keys are sealed with Argon2id under `LICENSD_SECRET` (old rows re-sealed by `key encrypt` and at start),
//! and guessable license keys are reported.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Licensd, Server, admin_token, block_on, databases, get, licensd, post, serve, sqlite, temp_dir};

const SECRET: &str = "correct-horse-battery-staple-42";

/// licensd under umask 022 (files others may read, unless licensd says otherwise), without any
/// `LICENSD_SECRET` of the test's environment.
fn private(cmd: Licensd) -> Licensd {
    cmd.shell("umask 022").env_remove("LICENSD_SECRET")
}

fn run_env(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    private(licensd(args)).envs(envs).run()
}

fn run(args: &[&str]) -> (bool, String, String) {
    run_env(args, &[])
}

fn with_secret(args: &[&str]) -> (bool, String, String) {
    run_env(args, &[("LICENSD_SECRET", SECRET)])
}

/// Starts `licensd serve` on `db` the same way, with `args`, `envs` and its log at `level`.
fn start(db: &str, args: &[&str], envs: &[(&str, &str)], level: &str) -> Server {
    private(serve(db)).args(args).envs(envs).log(level).start()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// The signing key rows: (key_id, active, kdf, secret column, salt).
fn key_rows(db: &str) -> Vec<(String, bool, String, String, Option<String>)> {
    block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        let rows = d
            .fetch_all(licensd_store::db::query(
                "SELECT key_id, active, kdf, secret, kdf_salt FROM signing_keys ORDER BY id",
            ))
            .await
            .unwrap();
        d.close().await;
        rows.iter()
            .map(|r| {
                (
                    r.get("key_id").unwrap(),
                    r.get("active").unwrap(),
                    r.get("kdf").unwrap(),
                    r.get("secret").unwrap(),
                    r.get("kdf_salt").unwrap(),
                )
            })
            .collect()
    })
}

// ---- files on disk ----

#[test]
fn database_files_are_created_owner_only() {
    let (db, url) = sqlite("modes");
    let dir = db.parent().unwrap();
    let server = start(&url, &[], &[], "warn");
    assert_eq!(get(&format!("{}/healthz", server.url)).send().status, 200);
    for f in ["l.db", "l.db-wal", "l.db-shm"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    drop(server);

    // `migrate` on a fresh path, too.
    let dir = temp_dir("modes-token");
    let db = dir.join("t.db");
    let (ok, _, stderr) = run(&["migrate", "--db", db.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(mode(&db), 0o600);
    for f in ["t.db-wal", "t.db-shm", "t.db-journal"] {
        let p = dir.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
}

#[test]
fn existing_database_files_others_can_read_are_made_private() {
    let dir = temp_dir("tighten");
    let db = dir.join("l.db");
    let db_s = db.to_str().unwrap();
    assert!(run(&["migrate", "--db", db_s]).0);
    assert!(run(&["token", "create", "--db", db_s, "--name", "a", "--role", "admin"]).0);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(dir.join("l.db-journal"), b"").unwrap();
    std::fs::set_permissions(dir.join("l.db-journal"), std::fs::Permissions::from_mode(0o664)).unwrap();
    let (ok, _, stderr) = run(&["token", "list", "--db", db_s]);
    assert!(ok, "{stderr}");
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir.join("l.db-journal")), 0o600);
    assert!(stderr.contains("made it private") && stderr.contains("0644"), "{stderr}");
    // Nothing to say the second time.
    let (_, _, stderr) = run(&["token", "list", "--db", db_s]);
    assert!(!stderr.contains("made it private"), "{stderr}");
}

#[test]
fn devmate_export_is_owner_only() {
    let dir = temp_dir("export");
    let db = dir.join("l.db");
    let db_s = db.to_str().unwrap();
    let file = dir.join("in.json");
    assert!(run(&["dev", "devmate-file", "--customers", "3", "--out", file.to_str().unwrap()]).0);
    assert!(run(&["migrate", "--db", db_s]).0);
    assert!(run(&["import", "devmate", "--db", db_s, file.to_str().unwrap()]).0);
    let out = dir.join("out.json");
    let (ok, _, stderr) = run(&["export", "devmate", "--db", db_s, "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(mode(&out), 0o600);
    // An existing file others could read is made private before the keys go into it.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(run(&["export", "devmate", "--db", db_s, "--out", out.to_str().unwrap()]).0);
    assert_eq!(mode(&out), 0o600);
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&out).unwrap()).unwrap().as_array().unwrap().len(),
        3
    );
}

// ---- durability ----

#[test]
fn sqlite_commits_are_durable_by_default_and_normal_on_request() {
    let (_, url) = sqlite("sync");
    for (args, envs, want) in [
        (&[][..], &[][..], "synchronous=full"),
        (&["--sqlite-synchronous", "normal"][..], &[][..], "synchronous=normal"),
        (&[][..], &[("LICENSD_SQLITE_SYNCHRONOUS", "normal")][..], "synchronous=normal"),
        (&["--sqlite-synchronous", "full"][..], &[("LICENSD_SQLITE_SYNCHRONOUS", "normal")][..], "synchronous=full"),
    ] {
        let server = start(&url, args, envs, "info");
        let log = server.wait_log("SQLite commits with");
        assert!(log.contains(&format!("SQLite commits with {want}")), "{args:?} {envs:?}: {log}");
    }
    let (ok, _, stderr) = run(&["token", "list", "--db", &url, "--sqlite-synchronous", "off"]);
    assert!(!ok && stderr.contains("off"), "{stderr}");
}

// ---- signing keys ----

/// A retired row sealed the way licensd sealed keys before migration 13 (SHA-256 of the secret).
fn insert_sha256_v1_row(db: &str, secret: &str) -> String {
    use chacha20poly1305::aead::Aead;
    use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
    use sha2::Digest;
    let key = licensd_core::signing::KeyPair::generate();
    let mut h = sha2::Sha256::new();
    h.update(b"licensd signing key encryption v1\0");
    h.update(secret.as_bytes());
    let k: [u8; 32] = h.finalize().into();
    let nonce = [5u8; 24];
    let mut sealed = nonce.to_vec();
    sealed.extend(XChaCha20Poly1305::new(&k.into()).encrypt(&XNonce::from(nonce), &key.seed()[..]).unwrap());
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(sealed);
    block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        d.execute(
            licensd_store::db::query(
                "INSERT INTO signing_keys (key_id, public_key, secret, encrypted, kdf, active, created_at, retired_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(key.key_id.as_str())
            .bind(key.public_base64())
            .bind(b64)
            .bind(true)
            .bind("sha256-v1")
            .bind(false)
            .bind(1i64)
            .bind(2i64),
        )
        .await
        .unwrap();
        d.close().await;
    });
    key.key_id
}

fn key_show(db: &str, secret: Option<&str>) -> (bool, Value, String) {
    let envs: Vec<(&str, &str)> = secret.map(|s| ("LICENSD_SECRET", s)).into_iter().collect();
    let (ok, stdout, stderr) = run_env(&["key", "show", "--db", db, "--json"], &envs);
    (ok, serde_json::from_str(stdout.trim()).unwrap_or(Value::Null), stderr)
}

fn rsa_pem(db: &str, secret: Option<&str>) -> (bool, String, String) {
    let envs: Vec<(&str, &str)> = secret.map(|s| ("LICENSD_SECRET", s)).into_iter().collect();
    run_env(&["key", "show", "--rsa", "--db", db], &envs)
}

fn plaintext_keys_are_sealed_by_key_encrypt(db: &str) {
    // Keys made without a secret: plaintext (the RSA key `migrate` made too), and a loud warning at start.
    let (ok, pem, stderr) = rsa_pem(db, None);
    assert!(ok && pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{stderr}");
    let (ok, first, stderr) = key_show(db, None);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&["key", "rotate", "--db", db, "--json"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("unencrypted"), "{stderr}");
    let active: Value = serde_json::from_str(stdout.trim()).unwrap();
    let active_id = active["key_id"].as_str().unwrap().to_string();
    let old_id = insert_sha256_v1_row(db, SECRET);
    let rows = key_rows(db);
    // The RSA key, the first Ed25519 key, its successor, the old row.
    assert_eq!(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(), ["none", "none", "none", "sha256-v1"]);

    let server = start(db, &[], &[], "warn");
    let log = server.wait_log("UNENCRYPTED");
    assert!(log.contains("UNENCRYPTED") && log.contains(&active_id), "{log}");
    assert_eq!(log.matches("UNENCRYPTED").count(), 1, "warned once: {log}");
    drop(server);

    // `key encrypt` without a secret says what to do.
    let (ok, _, stderr) = run(&["key", "encrypt", "--db", db]);
    assert!(!ok && stderr.contains("LICENSD_SECRET is not set"), "{stderr}");

    let (ok, stdout, stderr) = with_secret(&["key", "encrypt", "--db", db]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("4 keys sealed now, 0 sealed with Argon2id already"), "{stdout}");
    assert!(
        stdout.contains(&format!("sealed key {} with Argon2id (was plaintext)", rows[0].0)),
        "the RSA key: {stdout}"
    );
    assert!(stdout.contains(&format!("sealed key {old_id} with Argon2id (was SHA-256, no salt)")), "{stdout}");
    assert!(stdout.contains(&format!("sealed key {active_id} with Argon2id (was plaintext)")), "{stdout}");
    let rows = key_rows(db);
    assert!(rows.iter().all(|r| r.2 == "argon2id-v1"), "{rows:?}");
    let salts: std::collections::HashSet<_> = rows.iter().map(|r| r.4.clone().unwrap()).collect();
    assert_eq!(salts.len(), 4, "a salt per row");
    let before = rows.clone();

    // Idempotent.
    let (ok, stdout, stderr) = with_secret(&["key", "encrypt", "--db", db, "--json"]);
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["resealed"], json!([]));
    assert_eq!(v["unchanged"].as_array().unwrap().len(), 4);
    assert_eq!(key_rows(db), before, "nothing rewritten");

    // The key cannot be read without the secret, nor with another one; with it, it is the same key.
    let (ok, _, stderr) = key_show(db, None);
    assert!(!ok && stderr.contains("is encrypted: set LICENSD_SECRET"), "{stderr}");
    let (ok, _, stderr) = key_show(db, Some("not-the-secret-at-all"));
    assert!(!ok && stderr.contains("does not open"), "{stderr}");
    let (ok, shown, stderr) = key_show(db, Some(SECRET));
    assert!(ok, "{stderr}");
    assert_eq!(shown["key_id"], active_id.as_str());
    assert_eq!(shown["public_key"], active["public_key"]);
    assert_ne!(shown["key_id"], first["key_id"]);
    // So with the RSA key.
    let (ok, _, stderr) = rsa_pem(db, None);
    assert!(!ok && stderr.contains("is encrypted: set LICENSD_SECRET"), "{stderr}");
    let (ok, sealed_pem, stderr) = rsa_pem(db, Some(SECRET));
    assert!(ok, "{stderr}");
    assert_eq!(sealed_pem, pem);

    // The server starts on it and signs with the same key id; no warning now.
    let server = start(db, &[], &[("LICENSD_SECRET", SECRET)], "warn");
    let r = get(&format!("{}/api/v1/client/public-key", server.url)).send();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["key_id"], active_id.as_str(), "{}", r.text);
    let r = post(&format!("{}/api/v1/client/check", server.url))
        .json(&json!({"license_key": "NOPE", "hardware_id": "h", "product": "p"}))
        .send();
    assert_eq!(r.header("licensd-key-id"), active_id);
    assert!(!server.log().contains("UNENCRYPTED"), "{}", server.log());
    // Without the secret the server refuses to start, saying why.
    drop(server);
    let (ok, _, stderr) = run(&["serve", "--db", db, "--listen", "127.0.0.1:0"]);
    assert!(!ok && stderr.contains("LICENSD_SECRET"), "{stderr}");
}

#[test]
fn plaintext_and_old_keys_are_sealed_by_key_encrypt_on_every_backend() {
    for db in databases("encrypt") {
        plaintext_keys_are_sealed_by_key_encrypt(&db);
    }
}

fn serve_seals_old_keys_at_start(db: &str) {
    assert!(key_show(db, None).0);
    let old_id = insert_sha256_v1_row(db, SECRET);
    let server = start(db, &[], &[("LICENSD_SECRET", SECRET)], "info");
    let log = server.wait_log("licensd started");
    // The Ed25519 key, the old row and the RSA key `migrate` made.
    assert_eq!(log.matches("sealed the signing key with Argon2id").count(), 3, "{log}");
    assert!(log.contains(&old_id), "{log}");
    assert!(!log.contains(SECRET), "the secret is never logged");
    let rows = key_rows(db);
    assert!(rows.iter().all(|r| r.2 == "argon2id-v1"), "{rows:?}");
    assert_eq!(get(&format!("{}/healthz", server.url)).send().status, 200);
}

#[test]
fn serve_with_a_secret_seals_old_keys_at_start_on_every_backend() {
    for db in databases("serve-seal") {
        serve_seals_old_keys_at_start(&db);
    }
}

#[test]
fn a_short_secret_is_warned_about() {
    let dir = temp_dir("short");
    let db = dir.join("l.db");
    assert!(run(&["migrate", "--db", db.to_str().unwrap()]).0);
    let (ok, _, stderr) = run_env(&["key", "show", "--db", db.to_str().unwrap()], &[("LICENSD_SECRET", "hunter2")]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("shorter than 16 characters") && !stderr.contains("hunter2"), "{stderr}");
    let (_, _, stderr) = with_secret(&["key", "show", "--db", db.to_str().unwrap()]);
    assert!(!stderr.contains("shorter than"), "{stderr}");
}

// ---- guessable license keys ----

fn weak_keys_are_reported(db: &str, dir: &Path) {
    let file = dir.join("devmate.json");
    assert!(run(&["dev", "devmate-file", "--customers", "4", "--out", file.to_str().unwrap()]).0);
    let text = std::fs::read_to_string(&file).unwrap();
    let exported: Value = serde_json::from_str(&text).unwrap();
    let licenses: Vec<&Value> =
        exported.as_array().unwrap().iter().flat_map(|c| c["data"]["licenses"].as_array().unwrap()).collect();
    let (ok, stdout, stderr) = run(&["import", "devmate", "--db", db, file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let want = format!(
        "warning: {} license keys carry under 60 bits of entropy (e.g. license #{})",
        licenses.len(),
        licenses[0]["id"]
    );
    assert!(stderr.contains(&want), "{stderr}");
    for l in &licenses {
        let key = l["activation_key"].as_str().unwrap();
        assert!(!stderr.contains(key) && !stdout.contains(key), "keys are never printed");
    }
    let (ok, stdout, _) = run(&["import", "devmate", "--db", db, file.to_str().unwrap(), "--json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["weak_keys"], licenses.len(), "counted again on a re-import: the keys are still there");
    assert_eq!(v["weak_key_example"], licenses[0]["id"]);

    // At start, a count; on create with a given weak key, a warning naming the license, never the key.
    let token = admin_token(db, "a");
    let server = start(db, &[], &[], "warn");
    let log = server.wait_log("licenses have keys of under 60 bits");
    assert!(log.contains(&format!("{} licenses have keys of under 60 bits", licenses.len())), "{log}");
    let api = format!("{}/api/v1", server.url);
    let create = |what: &str, body: Value| {
        let r = post(&format!("{api}/{what}/")).bearer(&token).json(&body).send();
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()
    };
    create("products", json!({"product_name": "Weak", "short_code": "weak"}));
    let l = create("licenses", json!({"product": "weak", "license_key": "WEAK-0042"}));
    let log = server.wait_log("was created with a given license_key");
    assert!(
        log.contains(&format!("license #{} was created with a given license_key of under 60 bits", l["id"])),
        "{log}"
    );
    assert!(!log.contains("WEAK-0042"), "{log}");
    let strong = create("licenses", json!({"product": "weak", "license_key": "7H3K9QZ2-M4XW8RTV-2B6N5JLC"}));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!server.log().contains(&format!("license #{} was created", strong["id"])), "{}", server.log());
}

#[test]
fn weak_license_keys_are_reported_at_import_start_and_create_on_every_backend() {
    for db in databases("weak") {
        let dir = temp_dir("weak-files");
        weak_keys_are_reported(&db, &dir);
    }
}
