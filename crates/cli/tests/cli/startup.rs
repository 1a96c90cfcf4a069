//! The start-up contract, driven through the real `licensd` binary: `serve` flags and environment,
//! the `listening on` line, `token create` (also while a server runs), auth schemes, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use crate::common::{
    BIN, admin_token, block_on, free_port, fresh_databases, get, licensd, post, run, serve, sqlite,
    sqlite_and_postgres, temp_dir,
};

fn contract(db: &str) {
    // As README says: `migrate` creates the database; then a token; then the server.
    let (ok, _, stderr) = run(&["migrate", "--db", db]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&["token", "create", "--db", db, "--name", "ops", "--role", "admin"]);
    assert!(ok, "{stderr}");
    let admin = stdout.lines().last().unwrap().to_string();
    assert!(admin.starts_with("lsd_"), "{stdout}");

    let server = serve(db).start();
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    assert_eq!(get(&format!("{}/healthz", server.url)).send().status, 200);
    for scheme in ["Bearer", "Token", "Api-Key"] {
        assert_eq!(
            get(&format!("{}/api/v1/products/", server.url)).auth(scheme, &admin).send().status,
            200,
            "{scheme}"
        );
    }
    assert_eq!(get(&format!("{}/api/v1/products", server.url)).send().status, 401);

    // A token made while the server runs works at once; --json gives the whole record.
    let (ok, stdout, stderr) = run(&["token", "create", "--db", db, "--name", "late", "--role", "admin", "--json"]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["name"], "late");
    assert_eq!(v["role"], "admin");
    assert_eq!(v["products"], serde_json::json!([]));
    let late = v["token"].as_str().unwrap();
    assert_eq!(get(&format!("{}/api/v1/licenses", server.url)).bearer(late).send().status, 200);

    let (ok, stdout, _) = run(&["token", "list", "--db", db, "--json"]);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!stdout.contains(late), "secrets are never listed");
    let id = v["id"].as_i64().unwrap().to_string();
    assert!(run(&["token", "revoke", "--db", db, &id]).0);
    assert_eq!(get(&format!("{}/api/v1/licenses", server.url)).bearer(late).send().status, 401);

    let (ok, _, stderr) =
        run(&["token", "create", "--db", db, "--name", "m", "--role", "manager", "--product", "nope"]);
    assert!(!ok, "an unknown product is refused");
    assert!(stderr.contains("nope"), "{stderr}");
    server.stop();
}

#[test]
fn contract_holds_on_sqlite_url_forms() {
    contract(&sqlite("url").1);
    let (bare, _) = sqlite("bare");
    contract(bare.to_str().unwrap());
}

#[test]
fn environment_configures_serve() {
    let (db, url) = sqlite("env");
    let server = licensd(&["serve"]).envs(&[("LICENSD_DB", &url), ("LICENSD_LISTEN", "127.0.0.1:0")]).start();
    assert_eq!(get(&format!("{}/healthz", server.url)).send().json(), serde_json::json!({"status": "ok"}));
    assert!(db.exists(), "the database file is created on first start");
    server.stop();
}

#[test]
fn contract_holds_on_postgres() {
    let Some(url) = licensd_testkit::fresh_postgres("lc") else { return };
    contract(&url);
}

#[test]
fn bad_database_url_is_a_clear_error() {
    let (ok, _, stderr) = run(&["token", "list", "--db", "mysql://x/y"]);
    assert!(!ok);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
}

#[test]
fn air_gapped_activation_and_offline_verification_from_the_command_line() {
    use base64::Engine;
    let (db_path, db) = sqlite("airgap");
    let keys = db_path.with_file_name("keys.txt");
    assert!(run(&["migrate", "--db", &db]).0);
    let (ok, _, stderr) = run(&["dev", "seed", "--db", &db, "--licenses", "4", "--keys-out", keys.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("seeded 4 licenses"), "{stderr}");
    let lines = std::fs::read_to_string(&keys).unwrap();
    // Odd-numbered seeded licenses are not activated: "KEY PRODUCT" with no hardware id.
    let free = lines.lines().find(|l| l.split(' ').count() == 2).expect("an unactivated license");
    let (key, product) = free.split_once(' ').unwrap();

    let (ok, stdout, _) = run(&["key", "show", "--db", &db, "--json"]);
    assert!(ok);
    let k: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let public = k["public_key"].as_str().unwrap().to_string();

    let code = serde_json::json!({"v": 1, "type": "activate", "license_key": key, "product": product, "hardware_id": "vault-1", "issued_at": 1});
    let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(code.to_string());
    let (ok, file, stderr) = licensd(&["license", "offline-activate", "--db", &db, "-"]).stdin(&code).run();
    assert!(ok, "{stderr}");
    assert!(file.starts_with("-----BEGIN LICENSE FILE-----"), "{file}");

    let (ok, stdout, stderr) =
        licensd(&["verify", "-", "--public-key", &public, "--hardware-id", "vault-1", "--json"]).stdin(&file).run();
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["license_key"], key);
    assert_eq!(v["hardware_id"], "vault-1");
    let (ok, _, stderr) =
        licensd(&["verify", "-", "--public-key", &public, "--hardware-id", "other"]).stdin(&file).run();
    assert!(!ok);
    assert!(stderr.contains("does not verify"), "{stderr}");
    // Bound to its product: --product of another product refuses it, its own accepts it.
    let (ok, _, stderr) =
        licensd(&["verify", "-", "--public-key", &public, "--product", "not-this-one"]).stdin(&file).run();
    assert!(!ok);
    assert!(stderr.contains("is for the product"), "{stderr}");
    let (ok, stdout, stderr) =
        licensd(&["verify", "-", "--public-key", &public, "--product", product, "--json"]).stdin(&file).run();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"is_trial\":false"), "{stdout}");
    let tampered = file.replacen('e', "f", 1);
    assert!(!licensd(&["verify", "-", "--public-key", &public]).stdin(&tampered).run().0);

    // After a rotation the old key still verifies what it signed; the new key is shown.
    let (ok, stdout, _) = run(&["key", "rotate", "--db", &db, "--json"]);
    assert!(ok);
    let rotated: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_ne!(rotated["key_id"], k["key_id"]);
    assert!(licensd(&["verify", "-", "--public-key", &public]).stdin(&file).run().0);
    let (_, stdout, _) = run(&["key", "show", "--db", &db, "--json"]);
    assert!(stdout.contains(rotated["key_id"].as_str().unwrap()));

    // The slot is taken now: a second device is refused, with the reason.
    let code2 = serde_json::json!({"v": 1, "type": "activate", "license_key": key, "product": product, "hardware_id": "vault-2"});
    let code2 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(code2.to_string());
    let (ok, _, stderr) = licensd(&["license", "offline-activate", "--db", &db, "-"]).stdin(&code2).run();
    if !ok {
        assert!(stderr.contains("TOO_MANY_ACTIVATIONS"), "{stderr}");
    }
}

/// Two real `licensd serve` processes on one database, 64 requests at once split between them, against each
/// limit: five activation slots, five floating seats, ten consumptions. Exactly the limit succeeds.
fn two_processes_never_exceed_limits(db: &str) {
    assert!(run(&["migrate", "--db", db]).0);
    let token = admin_token(db, "ops");
    let a = serve(db).start();
    let b = serve(db).start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let admin = |method: reqwest::Method, url: String, body: Option<serde_json::Value>| {
            let mut rb = http.request(method, url).header("Authorization", format!("Bearer {token}"));
            if let Some(body) = body {
                rb = rb.json(&body);
            }
            async move {
                let r = rb.send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let product = serde_json::json!({"product_name": "App", "short_code": "app"});
        assert_eq!(admin(reqwest::Method::POST, format!("{}/api/v1/products", a.url), Some(product)).await.0, 201);
        // 64 client requests at once, alternately to each process; returns the tally of statuses and codes.
        let storm = |path: &'static str, body: &dyn Fn(usize) -> serde_json::Value| {
            let mut tasks = Vec::new();
            for i in 0..64 {
                let base = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
                let (http, body) = (http.clone(), body(i));
                tasks.push(tokio::spawn(async move {
                    let r = http.post(format!("{base}/api/v1/client/{path}")).json(&body).send().await.unwrap();
                    let status = r.status().as_u16();
                    let v: serde_json::Value = r.json().await.unwrap();
                    (status, v["code"].as_str().unwrap_or("?").to_string())
                }));
            }
            async move {
                let mut tally = std::collections::BTreeMap::new();
                for t in tasks {
                    *tally.entry(t.await.unwrap()).or_insert(0) += 1;
                }
                tally
            }
        };
        let license = |fields: serde_json::Value| {
            let mut body = serde_json::json!({"product": "app"});
            body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
            admin(reqwest::Method::POST, format!("{}/api/v1/licenses", a.url), Some(body))
        };
        let client =
            |key: &str, hw: String| serde_json::json!({"license_key": key, "hardware_id": hw, "product": "app"});
        let expect = |pairs: &[((u16, &str), usize)]| {
            pairs.iter().map(|((s, c), n)| ((*s, c.to_string()), *n)).collect::<std::collections::BTreeMap<_, _>>()
        };

        let (_, slots) = license(serde_json::json!({"max_activations": 5})).await;
        let key = slots["license_key"].as_str().unwrap().to_string();
        let t = storm("activate", &|i| client(&key, format!("m-{i}"))).await;
        assert_eq!(t, expect(&[((201, "ACTIVATED"), 5), ((409, "TOO_MANY_ACTIVATIONS"), 59)]));
        let (_, l) = admin(reqwest::Method::GET, format!("{}/api/v1/licenses/{}", b.url, slots["id"]), None).await;
        assert_eq!(l["times_activated"], 5);

        let (_, seats) = license(serde_json::json!({"is_floating_cloud": true, "floating_users": 5})).await;
        let key = seats["license_key"].as_str().unwrap().to_string();
        let t = storm("activate", &|i| client(&key, format!("seat-{i}"))).await;
        assert_eq!(t, expect(&[((201, "ACTIVATED"), 5), ((409, "NO_SEAT"), 59)]));
        let devices = format!("{}/api/v1/devices?license={}&limit=100", b.url, seats["id"]);
        assert_eq!(admin(reqwest::Method::GET, devices, None).await.1["count"], 5);

        let (_, metered) = license(serde_json::json!({"license_type": "consumption", "max_consumptions": 10})).await;
        let key = metered["license_key"].as_str().unwrap().to_string();
        let r = http.post(format!("{}/api/v1/client/activate", a.url)).json(&client(&key, "hw".into())).send().await;
        assert_eq!(r.unwrap().status(), 201);
        let t = storm("consumption", &|_| {
            let mut body = client(&key, "hw".into());
            body["consumptions"] = serde_json::json!(1);
            body
        })
        .await;
        assert_eq!(t, expect(&[((200, "CONSUMED"), 10), ((409, "CONSUMPTION_LIMIT"), 54)]));
        let (_, l) = admin(reqwest::Method::GET, format!("{}/api/v1/licenses/{}", b.url, metered["id"]), None).await;
        assert_eq!(l["total_consumptions"], 10);
    });
    a.stop();
    b.stop();
}

sqlite_and_postgres!(two_processes_never_exceed_limits:
    two_processes_on_sqlite_never_exceed_limits, two_processes_on_postgres_never_exceed_limits);

/// SQL on a database from the test, beside the binary.
fn sql(db: &str, statement: &str) {
    block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        d.execute(licensd_store::db::query(statement.to_string())).await.unwrap();
        d.close().await;
    });
}

#[test]
fn commands_other_than_serve_and_migrate_never_create_a_database() {
    let (db, url) = sqlite("no-create");
    for args in [
        vec!["key", "show", "--db", &url],
        vec!["token", "list", "--db", &url],
        vec!["token", "create", "--db", &url, "--name", "a", "--role", "admin"],
        vec!["export", "devmate", "--db", &url],
        vec!["import", "devmate", "--db", &url, "missing.json"],
        vec!["import", "licensespring", "--db", &url, "missing.json"],
        vec!["dev", "seed", "--db", &url, "--licenses", "5"],
    ] {
        let (ok, stdout, stderr) = run(&args);
        assert!(!ok, "{args:?} must fail: {stdout}");
        assert!(stderr.contains(&format!("no database at {}", db.display())), "{args:?}: {stderr}");
        assert!(stderr.contains("--db") && stderr.contains("licensd migrate"), "{stderr}");
        assert!(!db.exists(), "{args:?} created {}", db.display());
        assert!(!db.with_extension("db-wal").exists());
    }
    // The default URL is named as such, run where there is no licensd.db.
    let dir = db.parent().unwrap();
    let (ok, _, stderr) = licensd(&["key", "show"])
        .current_dir(dir)
        .env_remove("LICENSD_DB")
        .env_remove("LICENSD_LOG")
        .env("RUST_BACKTRACE", "1")
        .run();
    assert!(!ok && stderr.contains("the default --db sqlite://licensd.db"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "a refusal is not a crash: {stderr}");
    assert!(!dir.join("licensd.db").exists());
}

#[test]
fn migrate_creates_the_database_applies_once_and_checks() {
    for url in fresh_databases("migrate") {
        let (ok, stdout, stderr) = run(&["migrate", "--db", &url, "--check"]);
        assert!(!ok, "pending migrations: --check exits 1 ({stdout}{stderr})");
        assert!(stdout.starts_with("pending: 1, 2, 3"), "{stdout}");
        let (ok, stdout, stderr) = run(&["migrate", "--db", &url, "--json"]);
        assert!(ok, "{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let applied = v["applied_now"].as_array().unwrap();
        assert_eq!(applied.first(), Some(&serde_json::json!(1)), "{v}");
        assert!(applied.len() >= 13, "{v}");
        assert_eq!(v["binary_latest"], serde_json::json!(applied.iter().filter_map(|x| x.as_i64()).max()));
        let (ok, stdout, _) = run(&["migrate", "--db", &url]);
        assert!(ok && stdout.starts_with("up to date"), "{stdout}");
        let (ok, stdout, _) = run(&["migrate", "--db", &url, "--check"]);
        assert!(ok && stdout.starts_with("up to date"), "{stdout}");
        // Now the other commands work on it.
        assert!(run(&["token", "create", "--db", &url, "--name", "a", "--role", "admin"]).0);
    }
}

#[test]
fn serve_no_migrate_refuses_pending_migrations_and_serves_a_migrated_database() {
    for url in fresh_databases("no-migrate") {
        let (ok, stdout, stderr) = serve(&url).arg("--no-migrate").run();
        assert!(!ok, "{stderr}");
        assert!(stderr.contains("lacks migrations 1, 2") && stderr.contains("licensd migrate"), "{stderr}");
        assert!(!stdout.contains("listening"), "no listening line on a refusal");
        assert!(run(&["migrate", "--db", &url]).0);
        let server = serve(&url).arg("--no-migrate").start();
        assert_eq!(get(&format!("{}/healthz", server.url)).send().status, 200);
        server.stop();
    }
}

#[test]
fn a_schema_newer_than_the_binary_or_an_edited_migration_is_refused() {
    for url in fresh_databases("newer") {
        assert!(run(&["migrate", "--db", &url]).0);
        sql(&url, "INSERT INTO schema_migrations (version, applied_at, checksum) VALUES (999, 1, 'x')");
        for args in [
            vec!["serve", "--db", &url, "--listen", "127.0.0.1:0"],
            vec!["key", "show", "--db", &url],
            vec!["migrate", "--db", &url],
        ] {
            let (ok, stdout, stderr) = run(&args);
            assert!(!ok && !stdout.contains("listening"), "{args:?}");
            assert!(stderr.contains("newer than this binary") && stderr.contains("version 999"), "{stderr}");
            let latest = stderr
                .split("knows versions up to ")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next());
            assert!(
                latest.and_then(|v| v.parse::<u32>().ok()).is_some_and(|v| (18..999).contains(&v)),
                "names this binary's latest version: {stderr}"
            );
        }
        sql(&url, "DELETE FROM schema_migrations WHERE version = 999");
        sql(&url, "UPDATE schema_migrations SET checksum = 'abcdef0123456789' WHERE version = 3");
        let (ok, _, stderr) = run(&["serve", "--db", &url, "--listen", "127.0.0.1:0"]);
        assert!(!ok && stderr.contains("migration 3 in the database differs"), "{stderr}");
        // Databases from before checksums (no column) get them recorded, once, and are accepted.
        sql(&url, "UPDATE schema_migrations SET checksum = NULL");
        assert!(run(&["migrate", "--db", &url, "--check"]).0);
        assert!(run(&["migrate", "--db", &url]).0);
        sql(&url, "UPDATE schema_migrations SET checksum = 'abcdef0123456789' WHERE version = 3");
        assert!(!run(&["migrate", "--db", &url]).0, "recorded now, so an edit is caught");
    }
}

#[test]
fn dev_seed_refuses_a_database_with_data_unless_forced() {
    let (_, url) = sqlite("seed-twice");
    assert!(run(&["migrate", "--db", &url]).0);
    assert!(run(&["dev", "seed", "--db", &url, "--licenses", "20"]).0);
    let (ok, _, stderr) = run(&["dev", "seed", "--db", &url, "--licenses", "20"]);
    assert!(!ok, "a second seed mixes fake data with what is there");
    assert!(
        stderr.contains("already holds") && stderr.contains("20 licenses") && stderr.contains("--force"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&["dev", "seed", "--db", &url, "--licenses", "20", "--force"]);
    assert!(!ok && stderr.contains("another --seed"), "the same seed makes the same records: {stderr}");
    let (ok, _, stderr) = run(&["dev", "seed", "--db", &url, "--licenses", "20", "--force", "--seed", "7"]);
    assert!(ok, "{stderr}");
}

#[test]
fn the_listening_line_comes_only_once_the_signing_key_is_loaded() {
    let (_, url) = sqlite("listen-late");
    serve(&url).env("LICENSD_SECRET", "correct-horse-battery-staple").start().stop();
    for secret in [None, Some("wrong-secret-of-some-length")] {
        let mut cmd = serve(&url).env_remove("LICENSD_SECRET");
        if let Some(s) = secret {
            cmd = cmd.env("LICENSD_SECRET", s);
        }
        let (ok, stdout, stderr) = cmd.run();
        assert!(!ok, "{stderr}");
        assert!(!stdout.contains("listening"), "the line promises a server that accepts connections: {stdout}");
        assert!(stderr.contains("LICENSD_SECRET"), "{stderr}");
    }
}

/// Four processes started together on a fresh database, 20 rounds: three `serve` and one `migrate`, all
/// succeed (on PostgreSQL the bookkeeping table used to be created before the lock was held).
fn concurrent_first_starts(backend: &str) {
    for round in 0..20 {
        let url = match backend {
            "sqlite" => sqlite(&format!("race-{round}")).1,
            _ => match licensd_testkit::fresh_postgres("lc_race") {
                Some(u) => u,
                None => return,
            },
        };
        let mut children: Vec<_> =
            (0..4).map(|i| if i == 3 { licensd(&["migrate", "--db", &url]) } else { serve(&url) }.spawn()).collect();
        let migrate = children.pop().unwrap().wait_with_output().unwrap();
        assert!(migrate.status.success(), "round {round}: migrate: {}", String::from_utf8_lossy(&migrate.stderr));
        for mut child in children {
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            if !line.starts_with("licensd listening on ") {
                let out = child.wait_with_output().unwrap();
                panic!("round {round}: a serve failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            let pid = child.id().to_string();
            assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
            let status = child.wait().unwrap();
            assert!(status.success(), "round {round}: {status}");
        }
    }
}

#[test]
fn concurrent_first_starts_on_sqlite_all_succeed() {
    concurrent_first_starts("sqlite");
}

#[test]
fn concurrent_first_starts_on_postgres_all_succeed() {
    concurrent_first_starts("postgres");
}

#[test]
fn an_unreachable_database_is_named_with_its_real_cause_and_waited_for() {
    let Some(url) = licensd_testkit::fresh_postgres("lc_reach") else { return };
    // Nothing listens on the port: the cause, not a pool timeout, after the retry window.
    let port = free_port();
    let (host_db, query) = url.split_once('?').map_or((url.as_str(), ""), |(a, b)| (a, b));
    let db_name = host_db.rsplit('/').next().unwrap();
    let moved = format!(
        "postgres://postgres@127.0.0.1:{port}/{db_name}{}",
        if query.is_empty() { String::new() } else { format!("?{query}") }
    );
    let started = std::time::Instant::now();
    let (ok, _, stderr) = run(&["key", "show", "--db", &moved, "--db-connect-timeout", "1s"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")) && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    // A wrong database name is not retried, and reads without PostgreSQL's source positions.
    let started = std::time::Instant::now();
    let wrong = url.replace(db_name, "lc_no_such_database");
    let (ok, _, stderr) = run(&["key", "show", "--db", &wrong]);
    assert!(!ok && stderr.contains("no such database") && !stderr.contains(" at line "), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "not retried: {:?}", started.elapsed());
    // The database appears a second after `serve` starts (a proxy to it opens on the port): serve waits for it.
    let starting = serve(&moved).args(&["--db-connect-timeout", "20s"]);
    let starting = std::thread::spawn(move || starting.start());
    std::thread::sleep(Duration::from_secs(1));
    let target: std::net::SocketAddr =
        host_db.split('@').nth(1).and_then(|h| h.split('/').next()).unwrap().parse().unwrap();
    let proxy = Proxy::start(port, target);
    // Its listening line: serve came up once the database did.
    let server = starting.join().expect("serve starts");
    let health = format!("{}/healthz", server.url);
    assert_eq!(get(&health).send().status, 200);
    // The database goes away mid-run: requests answer 503 fast (the first within the acquire timeout, then at
    // once), /healthz within a second; when it is back, licensd is too, without a restart.
    proxy.cut(true);
    let timed = |url: &str| {
        let t = std::time::Instant::now();
        (get(url).send().status, t.elapsed())
    };
    let (status, took) = timed(&health);
    assert_eq!(status, 503);
    assert!(took < Duration::from_millis(1500), "/healthz took {took:?}");
    let (status, _) = timed(&format!("{}/api/v1/products", server.url));
    assert!(status == 503 || status == 401, "{status}");
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let (status, took) = timed(&health);
        assert_eq!(status, 503);
        assert!(took < Duration::from_millis(300), "fails fast once known down: {took:?}");
    }
    proxy.cut(false);
    let back = std::time::Instant::now();
    while get(&health).send().status != 200 {
        assert!(back.elapsed() < Duration::from_secs(10), "licensd did not notice the database was back");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop();
}

/// A TCP proxy to PostgreSQL that can cut every connection and refuse new ones (a database lost mid-run).
struct Proxy {
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(port: u16, target: std::net::SocketAddr) -> Proxy {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let proxy = Proxy { cut: Default::default(), open: Default::default() };
        let (cut, open) = (proxy.cut.clone(), proxy.open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if cut.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = std::net::TcpStream::connect(target) else { continue };
                open.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut c2, &mut s2).ok());
                let (mut c3, mut s3) = (client, server);
                std::thread::spawn(move || std::io::copy(&mut s3, &mut c3).ok());
            }
        });
        proxy
    }

    fn cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
        if cut {
            for s in self.open.lock().unwrap().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

#[test]
fn a_config_file_holds_any_flag_and_the_environment_and_flags_override_it() {
    let dir = temp_dir("config");
    let url = |n: &str| format!("sqlite://{}", dir.join(format!("{n}.db")).display());
    let key_of = |args: &[&str], envs: &[(&str, &str)]| {
        let (ok, stdout, stderr) =
            licensd(&["key", "show", "--json"]).args(args).env_remove("LICENSD_DB").envs(envs).run();
        assert!(ok, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["key_id"].as_str().unwrap().to_string()
    };
    let mut keys = std::collections::HashMap::new();
    for n in ["file", "env", "flag"] {
        assert!(run(&["migrate", "--db", &url(n)]).0);
        keys.insert(n, key_of(&["--db", &url(n)], &[]));
    }
    let file = dir.join("licensd.toml");
    std::fs::write(
        &file,
        format!("db = \"{}\"\nlisten = \"127.0.0.1:0\"\nrate_limit_client_ip = \"7/min\"\n", url("file")),
    )
    .unwrap();
    let cfg = file.to_str().unwrap();
    assert_eq!(key_of(&["--config", cfg], &[]), keys["file"]);
    assert_eq!(key_of(&[], &[("LICENSD_CONFIG", cfg)]), keys["file"]);
    assert_eq!(
        key_of(&["--config", cfg], &[("LICENSD_DB", &url("env"))]),
        keys["env"],
        "the environment overrides the file"
    );
    assert_eq!(
        key_of(&["--config", cfg, "--db", &url("flag")], &[("LICENSD_DB", &url("env"))]),
        keys["flag"],
        "a flag overrides both"
    );
    // serve reads its flags from it too: the listen address and a rate limit.
    let server = licensd(&["serve", "--config", cfg]).start();
    let check = format!("{}/api/v1/client/check", server.url);
    let limited: Vec<u16> = (0..8)
        .map(|_| post(&check).json_text(r#"{"license_key":"K","hardware_id":"h","product":"p"}"#).send().status)
        .collect();
    assert_eq!(limited.iter().filter(|s| **s == 429).count(), 1, "7/min from the file: {limited:?}");
    server.stop();
    // An unknown key is refused with the valid ones listed; so is a file that is not TOML.
    std::fs::write(&file, "dbb = \"x\"\n").unwrap();
    let (ok, _, stderr) = run(&["key", "show", "--config", cfg]);
    assert!(!ok && stderr.contains("unknown key \"dbb\"") && stderr.contains("db-pool-size"), "{stderr}");
    std::fs::write(&file, "db = \n").unwrap();
    let (ok, _, stderr) = run(&["key", "show", "--config", cfg]);
    assert!(!ok && stderr.contains("not valid TOML"), "{stderr}");
    // `serve --help` names every variable, those without a flag too.
    let (_, help, _) = run(&["serve", "--help"]);
    for var in [
        "env: LICENSD_DB=",
        "env: LICENSD_LISTEN=",
        "env: LICENSD_DB_POOL_SIZE=",
        "LICENSD_SECRET",
        "LICENSD_LOG",
        "LICENSD_LOG_FORMAT",
        "LICENSD_CONFIG",
    ] {
        assert!(help.contains(var), "{var} missing from serve --help");
    }
}

#[test]
fn logs_have_an_access_line_per_request_a_start_line_and_no_colours_off_a_terminal() {
    let (_, url) = sqlite("logs");
    assert!(run(&["migrate", "--db", &url]).0);
    let token = admin_token(&url, "desk");
    let server = serve(&url).log("info").env_remove("NO_COLOR").start();
    assert_eq!(get(&format!("{}/healthz", server.url)).send().status, 200);
    assert_eq!(get(&format!("{}/api/v1/licenses?license_key=SECRET-KEY", server.url)).send().status, 401);
    let checked = post(&format!("{}/api/v1/client/check", server.url))
        .json_text(r#"{"license_key":"WHOLEKEY-NEVER-LOGGED","hardware_id":"h","product":"p"}"#)
        .send();
    assert_eq!(checked.status, 200);
    assert_eq!(get(&format!("{}/api/v1/products", server.url)).bearer(&token).send().status, 200);
    let text = server.stop();
    assert!(!text.contains('\u{1b}'), "no ANSI escapes in a file: {text}");
    let start = text.lines().find(|l| l.contains("licensd started")).expect("a start line");
    for part in [concat!("version=", env!("CARGO_PKG_VERSION")), "db=sqlite://", "key_id="] {
        assert!(start.contains(part), "{part} in {start}");
    }
    let access: Vec<&str> = text.lines().filter(|l| l.contains("licensd::access")).collect();
    assert_eq!(access.len(), 4, "{text}");
    assert!(
        access[0].contains("method=GET") && access[0].contains("route=/healthz") && access[0].contains("status=200")
    );
    assert!(access[0].contains("client=127.0.0.1") && access[0].contains("ms="), "{}", access[0]);
    assert!(access[1].contains("route=/api/v1/licenses") && access[1].contains("status=401"), "{}", access[1]);
    assert!(access[1].contains("who=-"), "no token, no name: {}", access[1]);
    assert!(!text.contains("SECRET-KEY"), "queries stay out of the log");
    assert!(access[2].contains("route=/api/v1/client/check") && access[2].contains("who=key:WHOLE…"), "{}", access[2]);
    assert!(!text.contains("WHOLEKEY-NEVER"), "only a key's first characters are logged");
    assert!(access[3].contains("who=token:desk") && !text.contains(&token), "{}", access[3]);
    assert!(text.lines().last().unwrap_or_default().contains("stopped"), "a closing line: {text}");
    // A bad filter or format is said, not silently ignored.
    let (_, _, stderr) = licensd(&["key", "show", "--db", &url]).log("lots[").run();
    assert!(stderr.contains("is not a log filter"));
}

/// A restore drill: `licensd backup` of a live database under write load; the copy, served as the database,
/// holds every write acknowledged before the backup began, and the signing key.
#[test]
fn a_backup_under_write_load_restores_every_acknowledged_write() {
    let (db, url) = sqlite("backup");
    assert!(run(&["migrate", "--db", &url]).0);
    let token = admin_token(&url, "ops");
    let server = serve(&url).start();
    let key_id = |u: &str| {
        let (_, out, _) = run(&["key", "show", "--db", u, "--json"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["key_id"].as_str().unwrap().to_string()
    };
    let original_key = key_id(&url);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(std::time::Instant, i64, String)>::new()));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, acked, base, token) = (stop.clone(), acked.clone(), server.url.clone(), token.clone());
            std::thread::spawn(move || {
                block_on(async {
                    let client = reqwest::Client::new();
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let email = format!("w{w}-{n}@drill.example");
                        n += 1;
                        let r = client
                            .post(format!("{base}/api/v1/customers"))
                            .bearer_auth(&token)
                            .json(&serde_json::json!({"email": email}))
                            .send()
                            .await
                            .unwrap();
                        if r.status() == 201 {
                            let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
                            acked.lock().unwrap().push((std::time::Instant::now(), id, email));
                        }
                    }
                })
            })
        })
        .collect();
    // Until `acked` holds more than `n` writes: on a loaded machine (the suite's other tests beside this one),
    // 700 ms may see fewer than the drill needs.
    let wait_for_more_than = |n: usize| {
        let since = std::time::Instant::now();
        while acked.lock().unwrap().len() <= n {
            assert!(since.elapsed() < Duration::from_secs(30), "fewer than {n} writes in 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::thread::sleep(Duration::from_millis(700));
    wait_for_more_than(20);
    let copy = db.with_file_name("copy.db");
    let began = std::time::Instant::now();
    let (ok, stdout, stderr) = run(&["backup", "--db", &url, "--out", copy.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("backed up to"), "{stdout}");
    std::thread::sleep(Duration::from_millis(300));
    let before_backup = acked.lock().unwrap().iter().filter(|(t, _, _)| *t < began).count();
    wait_for_more_than(before_backup);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writers.into_iter().for_each(|w| w.join().unwrap());
    server.stop();
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (ok, _, stderr) = run(&["backup", "--db", &url, "--out", copy.to_str().unwrap()]);
    assert!(!ok && stderr.contains("exists already"), "never over a file: {stderr}");
    let acked = acked.lock().unwrap().clone();
    let before: Vec<_> = acked.iter().filter(|(t, _, _)| *t < began).collect();
    assert!(
        before.len() > 20 && acked.len() > before.len(),
        "writes before and during: {} / {}",
        before.len(),
        acked.len()
    );
    // Restore: the copy in place of the database.
    let restored = db.with_file_name("restored.db");
    std::fs::copy(&copy, &restored).unwrap();
    let restored_url = format!("sqlite://{}", restored.display());
    assert_eq!(key_id(&restored_url), original_key, "the signing key comes back with the data");
    let server = serve(&restored_url).start();
    for (_, id, email) in &before {
        let r = get(&format!("{}/api/v1/customers/{id}", server.url)).bearer(&token).send();
        assert_eq!((r.status, r.json()["email"].as_str()), (200, Some(email.as_str())), "customer {id}");
    }
    server.stop();
    // PostgreSQL is backed up with its own tools.
    if let Some(pg) = licensd_testkit::fresh_postgres("lc_backup") {
        assert!(run(&["migrate", "--db", &pg]).0);
        let (ok, _, stderr) = run(&["backup", "--db", &pg, "--out", db.with_file_name("pg.db").to_str().unwrap()]);
        assert!(!ok && stderr.contains("pg_dump"), "{stderr}");
    }
}

#[test]
fn signing_keys_export_under_a_passphrase_and_import_into_a_new_database() {
    for (i, url) in fresh_databases("keys-export").into_iter().enumerate() {
        assert!(run(&["migrate", "--db", &url]).0);
        let show = |u: &str| {
            let (_, out, _) = run(&["key", "show", "--db", u, "--json"]);
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["key_id"].as_str().unwrap().to_string()
        };
        let first = show(&url);
        assert!(run(&["key", "rotate", "--db", &url]).0);
        let active = show(&url);
        let pem = |u: &str| {
            let (ok, out, stderr) = run(&["key", "show", "--rsa", "--db", u]);
            assert!(ok, "{stderr}");
            out
        };
        let rsa_pem = pem(&url);
        let rsa_id = {
            let (_, out, _) = run(&["key", "show", "--rsa", "--json", "--db", &url]);
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["key_id"].as_str().unwrap().to_string()
        };
        let file = temp_dir(&format!("keys-export-file-{i}")).join("keys.json");
        let pass = [("LICENSD_KEY_PASSPHRASE", "a long enough passphrase")];
        let run_env = |args: &[&str], envs: &[(&str, &str)]| licensd(args).envs(envs).run();
        let (ok, _, stderr) = run_env(
            &["key", "export", "--db", &url, "--out", file.to_str().unwrap()],
            &[("LICENSD_KEY_PASSPHRASE", "short")],
        );
        assert!(!ok && stderr.contains("shorter than 12"), "{stderr}");
        let (ok, stdout, stderr) = run_env(&["key", "export", "--db", &url, "--out", file.to_str().unwrap()], &pass);
        assert!(ok && stdout.contains("exported 3 signing keys (2 Ed25519, 1 RSA)"), "{stdout}{stderr}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(&first) && text.contains(&active) && text.contains("licensd-signing-keys-v2"));
        assert!(text.contains(&rsa_id) && text.contains(r#""algorithm": "rsa""#), "{text}");
        // A new database: the keys come back, the active one signing.
        let (_, target) = sqlite(&format!("keys-import-{i}"));
        assert!(run(&["migrate", "--db", &target]).0);
        let (ok, _, stderr) = run_env(
            &["key", "import", "--db", &target, file.to_str().unwrap()],
            &[("LICENSD_KEY_PASSPHRASE", "the wrong passphrase!")],
        );
        assert!(!ok && stderr.contains("passphrase does not open"), "{stderr}");
        let (ok, stdout, stderr) =
            run_env(&["key", "import", "--db", &target, file.to_str().unwrap(), "--json"], &pass);
        assert!(ok, "{stderr}");
        let done: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(done["added"].as_array().unwrap().len(), 3, "{done}");
        assert_eq!(done["activated"], serde_json::json!(active));
        assert_eq!(show(&target), active);
        // `migrate` made the target an RSA key of its own: the file's is added retired, and the import says so.
        assert_eq!(done["activated_rsa"], serde_json::Value::Null);
        assert_eq!(done["not_activated"], serde_json::json!([{"key_id": rsa_id, "algorithm": "rsa"}]));
        assert!(stderr.contains(&format!("the file's active rsa key {rsa_id} was added retired")), "{stderr}");
        assert_ne!(pem(&target), rsa_pem);
        // With --activate it signs; the PEM the target prints is the source's.
        let (ok, stdout, stderr) =
            run_env(&["key", "import", "--db", &target, file.to_str().unwrap(), "--activate", "--json"], &pass);
        assert!(ok, "{stderr}");
        let done: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(done["activated_rsa"], serde_json::json!(rsa_id), "{done}");
        assert_eq!(pem(&target), rsa_pem);
        assert_eq!(show(&target), active);
        // Again: nothing new.
        let (ok, stdout, _) = run_env(&["key", "import", "--db", &target, file.to_str().unwrap(), "--json"], &pass);
        assert!(ok);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["present"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn listen_takes_host_names_and_a_closed_pipe_ends_a_command_quietly() {
    let (_, url) = sqlite("papercuts");
    let server = licensd(&["serve", "--db", &url, "--listen", "localhost:0"]).start();
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    server.stop();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {BIN} token create --db {url} --name a --role admin | head -n 1"))
        .env("LICENSD_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("created admin token a"));
    let (ok, stdout, _) = run(&["key", "show", "--db", &url, "--raw"]);
    assert!(ok && stdout.trim().len() == 44 && !stdout.contains(' '), "just the base64 key: {stdout:?}");
}
