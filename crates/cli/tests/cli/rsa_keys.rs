//! The RSA signing key of LicenseSpring's API (issue 15) through the binary: `migrate` and `serve` make it,
//! `key show --rsa` only reads it (the same PEM every time, never a key of its own), `key rotate` rotates
//! the kinds its flags name and says which it did not, `--rsa-bits`/`LICENSD_RSA_BITS` choose the size, and
//! the PEM it prints verifies what the server's RSA key signs, with OpenSSL (and Python's `cryptography`
//! when it is installed), not with licensd's own code.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::{block_on, licensd, run, serve, skipped_without, sqlite, sqlite_and_postgres, temp_dir, tool};

fn rows(db: &str) -> Vec<(String, String, bool)> {
    block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        let rows = d
            .fetch_all(licensd_store::db::query("SELECT key_id, algorithm, active FROM signing_keys ORDER BY id"))
            .await
            .unwrap();
        d.close().await;
        rows.iter().map(|r| (r.get("key_id").unwrap(), r.get("algorithm").unwrap(), r.get("active").unwrap())).collect()
    })
}

fn show_rsa(db: &str) -> Value {
    let (ok, out, stderr) = run(&["key", "show", "--rsa", "--json", "--db", db]);
    assert!(ok, "{stderr}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn show_ed(db: &str) -> String {
    let (ok, out, stderr) = run(&["key", "show", "--json", "--db", db]);
    assert!(ok, "{stderr}");
    serde_json::from_str::<Value>(&out).unwrap()["key_id"].as_str().unwrap().to_string()
}

fn key_show_rsa_only_reads_what_migrate_made(db: &str) {
    let (ok, _, stderr) = run(&["key", "show", "--rsa", "--db", db]);
    if db.starts_with("sqlite:") {
        assert!(!ok && stderr.contains("no database"), "a database that does not exist is not made: {stderr}");
    } else {
        // An empty PostgreSQL database exists: the command migrates it, and still makes no key.
        assert!(!ok && stderr.contains("no RSA signing key yet"), "{stderr}");
        assert!(rows(db).is_empty());
    }
    let (ok, out, stderr) = run(&["migrate", "--db", db]);
    assert!(ok, "{stderr}");
    assert!(out.contains("made the RSA signing key") && out.contains("(2048 bits)"), "{out}");
    let made = rows(db);
    assert_eq!(made.iter().map(|r| (r.1.as_str(), r.2)).collect::<Vec<_>>(), [("rsa", true)]);

    let (ok, first, stderr) = run(&["key", "show", "--rsa", "--db", db]);
    assert!(ok, "{stderr}");
    assert!(first.starts_with("-----BEGIN PUBLIC KEY-----\n") && first.ends_with("-----END PUBLIC KEY-----\n"));
    assert_eq!(first.lines().count(), 9, "a 2048-bit key's SubjectPublicKeyInfo: {first}");
    let (_, second, _) = run(&["key", "show", "--rsa", "--db", db]);
    assert_eq!(second, first, "the same PEM twice");
    let j = show_rsa(db);
    assert_eq!(j, json!({"key_id": made[0].0, "algorithm": "rsa", "bits": 2048, "public_key_pem": first}));
    assert_eq!(rows(db), made, "showing made no key");
    // Migrating again makes none either.
    let (ok, out, _) = run(&["migrate", "--db", db, "--json"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["keys_made"], json!([]));
    assert_eq!(rows(db), made);

    // A database without one (its row removed by hand, as one upgraded by a command other than `migrate` or
    // `serve` would be): `key show --rsa` says where the key comes from and still makes none.
    block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        d.execute(licensd_store::db::query("DELETE FROM signing_keys WHERE algorithm = 'rsa'")).await.unwrap();
        d.close().await;
    });
    let (ok, _, stderr) = run(&["key", "show", "--rsa", "--db", db]);
    assert!(!ok && stderr.contains("no RSA signing key yet") && stderr.contains("licensd migrate"), "{stderr}");
    assert!(rows(db).is_empty());
    // `serve` makes it (with the Ed25519 key), of the configured size, and logs both ids.
    let server = serve(db).env("LICENSD_RSA_BITS", "3072").log("info").start();
    let log = server.wait_log("licensd started");
    server.stop();
    let j = show_rsa(db);
    assert_eq!(j["bits"], 3072);
    assert!(log.contains(&format!("rsa_key_id={}", j["key_id"].as_str().unwrap())), "{log}");
    assert_eq!(rows(db).iter().filter(|r| r.2).count(), 2, "one active key of each kind");
}

sqlite_and_postgres!(key_show_rsa_only_reads_what_migrate_made: sqlite_key_show_rsa_only_reads, postgres_key_show_rsa_only_reads);

fn key_rotate_rotates_the_kinds_its_flags_name(db: &str) {
    assert!(run(&["migrate", "--db", db, "--rsa-bits", "3072"]).0);
    let (ed0, rsa0) = (show_ed(db), show_rsa(db));
    assert_eq!(rsa0["bits"], 3072, "--rsa-bits chose the first key's size");

    // No flag: the Ed25519 key, as before there were two kinds; the RSA key is named as not rotated.
    let (ok, out, stderr) = run(&["key", "rotate", "--db", db]);
    assert!(ok, "{stderr}");
    let ed1 = show_ed(db);
    assert_ne!(ed1, ed0);
    assert_eq!(show_rsa(db), rsa0);
    assert!(out.contains(&format!("rotated: key {ed1} now signs")), "{out}");
    assert!(
        out.contains(&format!("not rotated: the RSA key {} (rotate it with --rsa)", rsa0["key_id"].as_str().unwrap())),
        "{out}"
    );

    // --rsa: the RSA key alone, keeping its size.
    let (ok, out, stderr) = run(&["key", "rotate", "--rsa", "--db", db]);
    assert!(ok, "{stderr}");
    let rsa1 = show_rsa(db);
    assert_ne!(rsa1["key_id"], rsa0["key_id"]);
    assert_eq!(rsa1["bits"], 3072);
    assert_eq!(show_ed(db), ed1, "the Ed25519 key is untouched");
    assert!(out.contains(&format!("rotated: RSA key {} (3072 bits)", rsa1["key_id"].as_str().unwrap())), "{out}");
    assert!(out.contains(&format!("not rotated: the Ed25519 key {ed1} (rotate it with --ed25519)")), "{out}");
    assert!(out.contains(rsa1["public_key_pem"].as_str().unwrap()), "the new PEM is printed: {out}");

    // Both, with a new size, as JSON.
    let (ok, out, stderr) = run(&["key", "rotate", "--ed25519", "--rsa", "--rsa-bits", "2048", "--json", "--db", db]);
    assert!(ok, "{stderr}");
    let j: Value = serde_json::from_str(&out).unwrap();
    let (ed2, rsa2) = (show_ed(db), show_rsa(db));
    assert_eq!((j["rotated"].clone(), j["not_rotated"].clone()), (json!(["ed25519", "rsa"]), json!([])));
    assert_eq!((j["alg"].as_str(), j["key_id"].as_str()), (Some("ed25519"), Some(ed2.as_str())));
    assert_eq!(j["rsa"], rsa2);
    assert_eq!(rsa2["bits"], 2048);
    assert!(ed2 != ed1 && rsa2["key_id"] != rsa1["key_id"]);
    // --ed25519 alone, as JSON: the RSA key is listed as not rotated and shown as it is.
    let (ok, out, _) = run(&["key", "rotate", "--ed25519", "--json", "--db", db]);
    assert!(ok);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["rotated"].clone(), j["not_rotated"].clone(), j["rsa"].clone()),
        (json!(["ed25519"]), json!(["rsa"]), rsa2)
    );

    // Refusals change nothing: --rsa-bits without --rsa, a size licensd does not make.
    let before = rows(db);
    let (ok, _, stderr) = run(&["key", "rotate", "--rsa-bits", "4096", "--db", db]);
    assert!(!ok && stderr.contains("--rsa"), "{stderr}");
    let (ok, _, stderr) = run(&["key", "rotate", "--rsa", "--rsa-bits", "1024", "--db", db]);
    assert!(!ok && stderr.contains("2048, 3072 or 4096"), "{stderr}");
    let (ok, _, stderr) = licensd(&["migrate", "--db", db]).env("LICENSD_RSA_BITS", "8192").run();
    assert!(!ok && stderr.contains("2048, 3072 or 4096"), "{stderr}");
    assert_eq!(rows(db), before);
    // Four rotations of Ed25519 and three of RSA made seven rows beyond the first two, all but two retired.
    assert_eq!((before.len(), before.iter().filter(|r| r.2).count()), (7, 2));

    // Each rotation is in the audit log, by the command line, with its algorithm.
    let (ok, out, stderr) = run(&["events", "--db", db, "--actor", "cli", "--json"]);
    assert!(ok, "{stderr}");
    let events: Value = serde_json::from_str(&out).unwrap();
    let algorithms: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "signing_key.rotated")
        .map(|e| e["after"]["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(algorithms, ["ed25519", "rsa", "ed25519", "rsa", "ed25519"], "{out}");
}

sqlite_and_postgres!(key_rotate_rotates_the_kinds_its_flags_name: sqlite_key_rotate_flags, postgres_key_rotate_flags);

/// What `key show --rsa` prints verifies a signature made by the server's RSA key (`AppState::sign_rsa`, what
/// the `/api/v4` answers will carry), by OpenSSL, which knows nothing of licensd.
#[test]
fn the_printed_pem_verifies_the_servers_rsa_signatures_with_openssl() {
    let (_, db) = sqlite("rsa-openssl");
    assert!(run(&["migrate", "--db", &db]).0);
    let (ok, pem, stderr) = run(&["key", "show", "--rsa", "--db", &db]);
    assert!(ok, "{stderr}");
    let body = br#"{"license_key":"AAAA-BBBB-CCCC","is_valid":true,"validity_period":"2026-12-15T00:00:00.000Z"}"#;
    let sig = block_on(async {
        let d = licensd_store::Db::open(&db).await.unwrap();
        let state = licensd_server::AppState::load(d.clone(), None).await.unwrap();
        let sig = state.sign_rsa(body);
        d.close().await;
        sig
    });
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
    let dir = temp_dir("rsa-openssl-files");
    let (pem_file, sig_file, msg_file, bad_file) =
        (dir.join("licensd_public.pem"), dir.join("body.sig"), dir.join("body.json"), dir.join("bad.json"));
    std::fs::write(&pem_file, &pem).unwrap();
    std::fs::write(&sig_file, &sig).unwrap();
    std::fs::write(&msg_file, body).unwrap();
    let mut bad = body.to_vec();
    bad[20] ^= 1;
    std::fs::write(&bad_file, &bad).unwrap();

    match tool(None, "openssl") {
        Some(openssl) => {
            let verify = |msg: &std::path::Path| {
                Command::new(&openssl)
                    .args(["dgst", "-sha256", "-verify"])
                    .arg(&pem_file)
                    .arg("-signature")
                    .arg(&sig_file)
                    .arg(msg)
                    .output()
                    .unwrap()
            };
            let ok = verify(&msg_file);
            assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
            assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "Verified OK");
            let refused = verify(&bad_file);
            assert!(!refused.status.success(), "a changed byte does not verify");
            // The key OpenSSL reads is RSA of 2048 bits.
            let text = Command::new(&openssl)
                .args(["pkey", "-pubin", "-noout", "-text", "-in"])
                .arg(&pem_file)
                .output()
                .unwrap();
            assert!(String::from_utf8_lossy(&text.stdout).contains("Public-Key: (2048 bit)"));
        }
        None => skipped_without("openssl"),
    }

    // Python's `cryptography`, where it is installed (not required: OpenSSL above is the independent check;
    // the SDK test of `/api/v4` drives LicenseSpring's own, pycryptodome).
    let script = "import sys\nfrom cryptography.hazmat.primitives import hashes, serialization\n\
        from cryptography.hazmat.primitives.asymmetric import padding\n\
        k = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())\n\
        k.verify(open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read(), padding.PKCS1v15(), hashes.SHA256())\n\
        print('verified')\n";
    let has = Command::new("python3").args(["-c", "import cryptography"]).output().is_ok_and(|o| o.status.success());
    if has {
        let out =
            Command::new("python3").args(["-c", script]).arg(&pem_file).arg(&sig_file).arg(&msg_file).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified", "{}", String::from_utf8_lossy(&out.stderr));
        let out =
            Command::new("python3").args(["-c", script]).arg(&pem_file).arg(&sig_file).arg(&bad_file).output().unwrap();
        assert!(!out.status.success(), "a changed byte does not verify in Python either");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
