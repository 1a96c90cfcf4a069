//! `licensd api-key create|list|revoke` and `licensd oauth-client create|list|revoke` through the real binary,
//! beside a running `licensd serve`, on SQLite and PostgreSQL: `--json` is one object with the contract's
//! fields, `--product` repeats, secrets are printed once and never listed, what the command line makes or
//! revokes the running server shows at once, the audit log names `cli`, and `key encrypt` seals secrets made
//! without `LICENSD_SECRET`.

use serde_json::{Value, json};

use crate::common::{admin_token, block_on, get, licensd, serve, sqlite_and_postgres};

const SECRET: &str = "a-long-random-secret-for-the-tests";

/// Runs `licensd ARGS --db DB` without `LICENSD_SECRET`.
fn run(db: &str, args: &[&str]) -> (bool, String, String) {
    licensd(args).args(&["--db", db]).env_remove("LICENSD_SECRET").run()
}

/// Runs a command that must succeed and print exactly one JSON document on stdout.
fn json_of(db: &str, args: &[&str]) -> (Value, String) {
    let (ok, stdout, stderr) = run(db, args);
    assert!(ok, "{args:?}: {stderr}");
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {stdout}"));
    (v, stderr)
}

fn refused(db: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(db, args);
    assert!(!ok, "{args:?} should fail: {stdout}");
    stderr
}

/// `kdf` of each row of `table`, by id.
fn kdfs(db: &str, table: &str) -> Vec<String> {
    block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        let rows = d.fetch_all(licensd_store::db::query(format!("SELECT kdf FROM {table} ORDER BY id"))).await.unwrap();
        d.close().await;
        rows.iter().map(|r| r.get("kdf").unwrap()).collect()
    })
}

fn credentials_from_the_command_line(db: &str) {
    let (ok, _, stderr) = run(db, &["migrate"]);
    assert!(ok, "{stderr}");
    let admin = admin_token(db, "ops");
    for (name, code) in [("App", "app"), ("Tool", "tool")] {
        let (ok, _, stderr) = run(db, &["product", "create", "--name", name, "--short-code", code]);
        assert!(ok, "{stderr}");
    }
    let server = serve(db).env_remove("LICENSD_SECRET").start();
    let api = |path: &str| {
        let r = get(&format!("{}{path}", server.url)).bearer(&admin).send();
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        (serde_json::from_str::<Value>(&r.text).unwrap(), r.text)
    };

    // --json: the whole stdout is one object with api_key and shared_key; --product repeats.
    let (k, stderr) =
        json_of(db, &["api-key", "create", "--name", "Windows app", "--product", "app", "--product", "tool", "--json"]);
    let (api_key, shared_key) = (k["api_key"].as_str().unwrap(), k["shared_key"].as_str().unwrap());
    assert_eq!(api_key.len(), 36, "{k}");
    assert_eq!(shared_key.len(), 43, "{k}");
    assert_eq!(
        (&k["name"], &k["products"], &k["all_products"]),
        (&json!("Windows app"), &json!(["app", "tool"]), &json!(false))
    );
    assert!(stderr.contains("the shared key is stored unencrypted"), "{stderr}");
    assert!(!stderr.contains(shared_key));
    // The running server lists it at once, without its shared key.
    let (list, text) = api("/api/v1/api-keys");
    assert_eq!((&list["count"], &list["results"][0]["api_key"]), (&json!(1), &json!(api_key)), "{text}");
    assert!(!text.contains(shared_key) && !text.contains("shared_key"), "{text}");

    // Text: what was made, then the API key, and the shared key as the last line.
    let (ok, stdout, _) = run(db, &["api-key", "create", "--name", "mac"]);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "created API key mac (id 2) for every product", "{stdout}");
    let mac_key = lines[2].strip_prefix("api_key:    ").unwrap_or_else(|| panic!("{stdout}"));
    let mac_shared = lines.last().unwrap().strip_prefix("shared_key: ").unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!((mac_key.len(), mac_shared.len(), lines.len()), (36, 43, 4), "{stdout}");

    // Refusals name what is wrong and make nothing.
    let e = refused(db, &["api-key", "create", "--name", "x", "--product", "nope"]);
    assert!(e.contains("products: no product with short_code \"nope\"; products are: app, tool"), "{e}");
    let e = refused(db, &["api-key", "create", "--name", "mac"]);
    assert!(e.contains("an API key named \"mac\" exists (id 2)"), "{e}");
    let e = refused(db, &["api-key", "create", "--name", ""]);
    assert!(e.contains("name: must not be empty"), "{e}");
    let long = "n".repeat(201);
    assert!(refused(db, &["api-key", "create", "--name", &long]).contains("name: must be at most 200 characters"));
    assert_eq!(kdfs(db, "api_keys").len(), 2);

    // list: a header and a row per key, never a shared key; --json an array.
    let (ok, stdout, _) = run(db, &["api-key", "list"]);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    let header: Vec<&str> = lines[0].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["ID", "NAME", "API KEY", "PRODUCTS", "CREATED", "REVOKED"]);
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[1].contains(api_key) && lines[1].contains("app,tool") && lines[2].contains("all"), "{stdout}");
    assert!(!stdout.contains(shared_key) && !stdout.contains(mac_shared), "{stdout}");
    let (all, _) = json_of(db, &["api-key", "list", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(all.as_array().unwrap().iter().all(|k| k.get("shared_key").is_none()), "{all}");

    // revoke by id or by the API key; again says so; the server shows it at once.
    let (ok, stdout, _) = run(db, &["api-key", "revoke", "1"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "revoked API key Windows app (id 1): requests with it are refused from now on");
    let (one, _) = api("/api/v1/api-keys/1");
    assert!(one["revoked_at"].is_string(), "{one}");
    let (ok, stdout, _) = run(db, &["api-key", "revoke", api_key]);
    assert!(
        ok && stdout.contains("was already revoked at") && stdout.trim_end().ends_with("nothing changed"),
        "{stdout}"
    );
    let (again, _) = json_of(db, &["api-key", "revoke", mac_key, "--json"]);
    assert_eq!((&again["id"], &again["already_revoked"]), (&json!(2), &json!(false)));
    assert!(refused(db, &["api-key", "revoke", "99"]).contains("no API key with id 99"));
    assert!(refused(db, &["api-key", "revoke", "not-a-key"]).contains("no API key \"not-a-key\""));

    // OAuth clients: the same, with client_id and client_secret.
    let (c, stderr) = json_of(db, &["oauth-client", "create", "--name", "backend", "--product", "tool", "--json"]);
    let (client_id, client_secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    assert_eq!((client_id.len(), client_secret.len(), &c["products"]), (36, 43, &json!(["tool"])), "{c}");
    assert!(stderr.contains("the client secret is stored unencrypted"), "{stderr}");
    let (ok, stdout, _) = run(db, &["oauth-client", "create", "--name", "cli app"]);
    assert!(ok);
    assert!(stdout.starts_with("created OAuth client cli app (id 2) for every product\n"), "{stdout}");
    let second_secret = stdout.lines().last().unwrap().strip_prefix("client_secret: ").unwrap().to_string();
    let (ok, stdout, _) = run(db, &["oauth-client", "list"]);
    assert!(ok && stdout.contains(client_id) && !stdout.contains(client_secret) && !stdout.contains(&second_secret));
    assert!(stdout.starts_with("ID  NAME"), "{stdout}");
    let (list, text) = api("/api/v1/oauth-clients");
    assert_eq!(list["count"], 2, "{text}");
    assert!(!text.contains(client_secret), "{text}");
    let (ok, stdout, _) = run(db, &["oauth-client", "revoke", client_id]);
    assert!(ok && stdout.starts_with("revoked OAuth client backend (id 1)"), "{stdout}");
    let (list, _) = json_of(db, &["oauth-client", "list", "--json"]);
    assert!(list[0]["revoked_at"].is_string() && list[1]["revoked_at"].is_null(), "{list}");
    assert!(refused(db, &["oauth-client", "revoke", "99"]).contains("no OAuth client with id 99"));

    // The audit log: the command line is the actor.
    let (ok, stdout, stderr) = run(db, &["events", "--actor", "cli", "--limit", "100", "--json"]);
    assert!(ok, "{stderr}");
    let events: Value = serde_json::from_str(&stdout).unwrap();
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "api_key" || e["resource_type"] == "oauth_client")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.created",
            "api_key.created",
            "api_key.revoked",
            "api_key.revoked",
            "oauth_client.created",
            "oauth_client.created",
            "oauth_client.revoked"
        ]
    );
    assert!(!stdout.contains(shared_key) && !stdout.contains(client_secret), "no secret in an event");
    drop(server);

    // Made without LICENSD_SECRET: `serve` warns; `key encrypt` seals them, and they still open.
    let server = serve(db).env_remove("LICENSD_SECRET").start();
    let log = server.stop();
    assert!(log.contains("of the License API stored UNENCRYPTED"), "{log}");
    assert!(!log.contains(&second_secret), "{log}");
    assert_eq!(kdfs(db, "api_keys"), ["none", "none"]);
    let (ok, stdout, stderr) = licensd(&["key", "encrypt", "--db", db]).env("LICENSD_SECRET", SECRET).run();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("4 API key and OAuth client secrets sealed now, 0 sealed with Argon2id already"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("sealed the secret of api_key:{api_key} with Argon2id (was plaintext)")),
        "{stdout}"
    );
    assert_eq!(kdfs(db, "api_keys"), ["argon2id-v1", "argon2id-v1"]);
    assert_eq!(kdfs(db, "oauth_clients"), ["argon2id-v1", "argon2id-v1"]);
    let (ok, stdout, _) = licensd(&["key", "encrypt", "--db", db, "--json"]).env("LICENSD_SECRET", SECRET).run();
    assert!(ok);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (
            v["credentials"]["resealed"].as_array().unwrap().len(),
            v["credentials"]["unchanged"].as_array().unwrap().len()
        ),
        (0, 4)
    );
    let opened = block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        let c = licensd_store::oauth::authenticate(&d, &c_id(&list), &second_secret, Some(SECRET)).await.unwrap();
        d.close().await;
        c
    });
    assert_eq!(opened.map(|c| c.name), Some("cli app".to_string()));

    // Made with it: sealed from the start, and serve at start is silent about them.
    let (k, stderr) = {
        let (ok, stdout, stderr) = licensd(&["api-key", "create", "--db", db, "--name", "sealed", "--json"])
            .env("LICENSD_SECRET", SECRET)
            .run();
        assert!(ok, "{stderr}");
        (serde_json::from_str::<Value>(&stdout).unwrap(), stderr)
    };
    assert!(!stderr.contains("unencrypted"), "{stderr}");
    assert_eq!(kdfs(db, "api_keys").last().map(String::as_str), Some("argon2id-v1"));
    let found = block_on(async {
        let d = licensd_store::Db::open(db).await.unwrap();
        let f = licensd_store::api_keys::lookup(&d, k["api_key"].as_str().unwrap(), Some(SECRET)).await.unwrap();
        d.close().await;
        f.map(|(_, s)| s.expose().to_vec())
    });
    assert_eq!(found.as_deref(), Some(k["shared_key"].as_str().unwrap().as_bytes()));
    let server = serve(db).env("LICENSD_SECRET", SECRET).start();
    let log = server.stop();
    assert!(!log.contains("UNENCRYPTED") && !log.contains(SECRET), "{log}");
}

/// The client id of the live client in an `oauth-client list --json`.
fn c_id(list: &Value) -> String {
    list.as_array().unwrap().iter().find(|c| c["revoked_at"].is_null()).unwrap()["client_id"].as_str().unwrap().into()
}

sqlite_and_postgres!(
    credentials_from_the_command_line: credentials_from_the_command_line_on_sqlite,
    credentials_from_the_command_line_on_postgres
);
