//! `licensd token create|list|update|revoke` through the real binary, against a running `licensd serve`, on
//! SQLite and PostgreSQL: roles, products, description, expiry, last use, unique names, revoking twice. Each
//! change the command line makes to access (tokens, dashboard users, the signing key) is in the audit log with
//! the actor `cli`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{licensd, post, request, serve, sqlite_and_postgres};

/// Runs `licensd ARGS --db DB`.
fn run(db: &str, args: &[&str]) -> (bool, String, String) {
    licensd(args).args(&["--db", db]).run()
}

/// Runs a command that must succeed and print one JSON document.
fn json_of(db: &str, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run(db, args);
    assert!(ok, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Runs a command that must fail, returning its standard error.
fn refused(db: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(db, args);
    assert!(!ok, "{args:?} should fail: {stdout}");
    stderr
}

fn time_of(v: &Value) -> i64 {
    licensd_core::time::parse_datetime(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap()
}

fn lifecycle(db: &str) {
    // Commands other than `serve` and `migrate` never create a database.
    let (ok, _, stderr) = run(db, &["migrate"]);
    assert!(ok, "{stderr}");
    let ops = json_of(db, &["token", "create", "--name", "ops", "--role", "admin", "--json"]);
    assert_eq!((&ops["role"], &ops["all_products"], &ops["products"]), (&json!("admin"), &json!(true), &json!([])));
    let admin = ops["token"].as_str().unwrap().to_string();
    let server = serve(db).start();
    let product = json!({"product_name": "App", "short_code": "app"});
    assert_eq!(post(&format!("{}/api/v1/products", server.url)).bearer(&admin).json(&product).send().status, 201);
    let r = post(&format!("{}/api/v1/licenses", server.url)).bearer(&admin).json(&json!({"product": "app"})).send();
    assert_eq!(r.status, 201);
    let license_url = format!("{}/api/v1/licenses/{}", server.url, r.json()["id"]);
    let call = |method: &str, url: &str, token: &str| {
        let r = request(method, url).bearer(token).send();
        (r.status, r.json())
    };

    // A support token for one product, with a description and an expiry.
    let now = licensd_core::time::now_ms();
    let helpdesk = json_of(
        db,
        &[
            "token",
            "create",
            "--name",
            "helpdesk",
            "--role",
            "support",
            "--product",
            "app",
            "--description",
            "first line",
            "--expires-in",
            "90d",
            "--json",
        ],
    );
    assert_eq!(
        (&helpdesk["id"], &helpdesk["role"], &helpdesk["products"]),
        (&json!(2), &json!("support"), &json!(["app"]))
    );
    assert_eq!((&helpdesk["description"], &helpdesk["all_products"]), (&json!("first line"), &json!(false)));
    let expires = time_of(&helpdesk["expires_at"]);
    let ninety_days = 90 * 86_400_000;
    assert!((now + ninety_days - 1000..=licensd_core::time::now_ms() + ninety_days).contains(&expires), "{helpdesk}");
    let support = helpdesk["token"].as_str().unwrap().to_string();

    // Names are unique among tokens not revoked.
    let e = refused(db, &["token", "create", "--name", "helpdesk", "--role", "read-only"]);
    assert!(e.contains("a token named \"helpdesk\" exists (id 2)"), "{e}");

    // A read-only token without products sees every product.
    let (ok, stdout, _) = run(db, &["token", "create", "--name", "viewer", "--role", "read-only"]);
    assert!(ok);
    // (Ids are not gap-free: PostgreSQL spent one on the refused duplicate.)
    let first = stdout.lines().next().unwrap();
    let viewer_id = first
        .strip_prefix("created read-only token viewer (id ")
        .and_then(|r| r.strip_suffix(") for every product"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let viewer = stdout.lines().last().unwrap().to_string();

    // Support reads and blocks, but does not delete; read-only only reads.
    assert_eq!(call("GET", &license_url, &support).0, 200);
    let (status, body) = call("DELETE", &license_url, &support);
    assert_eq!((status, &body["errors"][0]["code"]), (403, &json!("FORBIDDEN_ROLE")), "{body}");
    let (status, body) = call("POST", &format!("{license_url}/disable"), &support);
    assert_eq!((status, &body["enabled"]), (200, &json!(false)));
    let (status, body) = call("POST", &format!("{license_url}/enable"), &viewer);
    assert_eq!(status, 403);
    assert!(
        body["errors"][0]["detail"].as_str().unwrap().starts_with("this read-only token may read records only"),
        "{body}"
    );

    // The last use is recorded (by the server's background flush, within about a second).
    let mut used = Value::Null;
    for _ in 0..50 {
        let list = json_of(db, &["token", "list", "--json"]);
        used = list[1]["last_used_at"].clone();
        if !used.is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(time_of(&used) >= now / 1000 * 1000, "{used}"); // shown in whole seconds

    // `token list`: a header, then one aligned row per token.
    let (ok, stdout, _) = run(db, &["token", "list"]);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let header: Vec<&str> = lines[0].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["ID", "ROLE", "NAME", "PRODUCTS", "DESCRIPTION", "CREATED", "EXPIRES", "LAST USED", "REVOKED"]);
    let column = |line: &str, name: &str| -> String {
        let start = lines[0].find(name).unwrap();
        line.get(start..).unwrap_or_default().split("  ").next().unwrap_or_default().trim().to_string()
    };
    assert_eq!(column(lines[1], "ROLE"), "admin");
    assert_eq!(column(lines[1], "PRODUCTS"), "all");
    assert_eq!(column(lines[2], "NAME"), "helpdesk");
    assert_eq!(column(lines[2], "PRODUCTS"), "app");
    assert_eq!(column(lines[2], "DESCRIPTION"), "first line");
    assert_eq!(column(lines[2], "EXPIRES"), helpdesk["expires_at"].as_str().unwrap());
    assert_eq!(column(lines[2], "LAST USED"), used.as_str().unwrap());
    assert_eq!(column(lines[2], "REVOKED"), "-");
    assert_eq!(column(lines[3], "ROLE"), "read-only");
    assert_eq!(column(lines[3], "EXPIRES"), "-");

    // `token update`: description, expiry, products.
    let t =
        json_of(db, &["token", "update", "2", "--description", "second line", "--expires-at", "2030-01-01", "--json"]);
    assert_eq!((&t["description"], &t["expires_at"]), (&json!("second line"), &json!("2030-01-01T00:00:00Z")));
    let t = json_of(db, &["token", "update", "2", "--no-expiry", "--all-products", "--json"]);
    assert_eq!((&t["expires_at"], &t["all_products"], &t["products"]), (&Value::Null, &json!(true), &json!([])));
    let t = json_of(db, &["token", "update", &viewer_id, "--product", "app", "--json"]);
    assert_eq!((&t["all_products"], &t["products"]), (&json!(false), &json!(["app"])));
    assert!(
        refused(db, &["token", "update", &viewer_id, "--product", "nope"])
            .contains("no product with short_code \"nope\"; products are: app")
    );
    assert!(refused(db, &["token", "update", "1", "--product", "app"]).contains("an admin token sees every product"));
    assert!(refused(db, &["token", "update", "2", "--expires-at", "2001-01-01"]).contains("is not in the future"));
    assert!(refused(db, &["token", "update", "2", "--expires-in", "5x"]).contains("--expires-in \"5x\""));
    assert!(refused(db, &["token", "update", "2"]).contains("nothing to change"));
    assert!(refused(db, &["token", "update", "99", "--description", "x"]).contains("no token with id 99"));
    assert!(
        refused(db, &["token", "create", "--name", "x", "--role", "owner"])
            .contains("possible values: admin, manager, support, read-only")
    );
    assert!(
        refused(db, &["token", "create", "--name", "m", "--role", "manager"]).contains("needs at least one --product")
    );

    // Revoking: at once, and a second time says so.
    let (ok, stdout, _) = run(db, &["token", "revoke", "2"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "revoked token helpdesk (id 2)");
    let (status, body) = call("GET", &license_url, &support);
    assert_eq!((status, &body["errors"][0]["code"]), (401, &json!("UNAUTHORIZED")));
    let (ok, stdout, _) = run(db, &["token", "revoke", "2"]);
    assert!(ok);
    assert!(stdout.starts_with("token helpdesk (id 2) was already revoked at "), "{stdout}");
    assert!(stdout.trim_end().ends_with("; nothing changed"), "{stdout}");
    let again = json_of(db, &["token", "revoke", "2", "--json"]);
    assert_eq!(again["already_revoked"], true);
    assert!(refused(db, &["token", "update", "2", "--description", "x"]).contains("was revoked"));
    // Its name is free again.
    let t = json_of(db, &["token", "create", "--name", "helpdesk", "--role", "support", "--json"]);
    assert!(t["id"].as_i64().unwrap() > viewer_id.parse::<i64>().unwrap(), "{t}");
    let (ok, stdout, _) = run(db, &["token", "list"]);
    assert!(ok);
    let revoked_row = stdout.lines().nth(2).unwrap();
    assert!(!revoked_row.trim_end().ends_with(" -"), "the revoked column holds a time: {revoked_row}");
    drop(server);

    // Every change is in the audit log, by the command line; refusals and the revokes that changed nothing are
    // not; no secret is in an event.
    let events = json_of(db, &["events", "--actor", "cli", "--limit", "100", "--json"]);
    let seen: Vec<(&str, i64)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "api_token")
        .map(|e| (e["action"].as_str().unwrap(), e["resource_id"].as_i64().unwrap()))
        .collect();
    let viewer_id: i64 = viewer_id.parse().unwrap();
    let again_id = t["id"].as_i64().unwrap();
    assert_eq!(
        seen,
        [
            ("api_token.created", 1),
            ("api_token.created", 2),
            ("api_token.created", viewer_id),
            ("api_token.updated", 2),
            ("api_token.updated", 2),
            ("api_token.updated", viewer_id),
            ("api_token.revoked", 2),
            ("api_token.created", again_id),
        ],
        "{events}"
    );
    let first_update = events.as_array().unwrap().iter().find(|e| e["action"] == "api_token.updated").unwrap();
    assert_eq!(
        (&first_update["before"]["description"], &first_update["after"]["description"]),
        (&json!("first line"), &json!("second line")),
        "{first_update}"
    );
    for secret in [&admin, &support, &viewer] {
        assert!(!events.to_string().contains(secret.as_str()), "a secret in the audit log: {events}");
    }
}

/// `licensd user create|password|disable` and `key rotate` as an operator runs them: each in the audit log as
/// `cli`, never with the password or its hash; a disable of a disabled user records nothing more.
fn access_changes_are_recorded(db: &str) {
    let (ok, _, stderr) = run(db, &["migrate"]);
    assert!(ok, "{stderr}");
    let password = "correct horse battery";
    let (ok, stdout, stderr) = licensd(&[
        "user",
        "create",
        "--db",
        db,
        "--email",
        "ana@acme.com",
        "--name",
        "Ana Lima",
        "--role",
        "admin",
        "--password-stdin",
        "--json",
    ])
    .stdin(&format!("{password}\n"))
    .run();
    assert!(ok, "{stderr}");
    let ana: Value = serde_json::from_str(&stdout).unwrap();
    let id = ana["id"].as_i64().unwrap();
    let (ok, _, stderr) = licensd(&["user", "password", "--db", db, "--email", "ana@acme.com", "--password-stdin"])
        .stdin("another long password\n")
        .run();
    assert!(ok, "{stderr}");
    assert!(run(db, &["user", "disable", "--email", "ana@acme.com"]).0);
    assert!(run(db, &["user", "disable", "--email", "ana@acme.com"]).0, "disabling again is not an error");
    assert!(run(db, &["key", "rotate"]).0);

    let events = json_of(db, &["events", "--actor", "cli", "--limit", "100", "--json"]);
    let seen: Vec<(&str, &str, i64)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["resource_id"].as_i64().unwrap_or(-1)))
        .filter(|(_, a, _)| !a.starts_with("signing_key"))
        .collect();
    assert_eq!(
        seen,
        [
            ("cli", "dashboard_user.created", id),
            ("cli", "dashboard_user.password_set", id),
            ("cli", "dashboard_user.disabled", id),
        ],
        "{events}"
    );
    let list = events.as_array().unwrap();
    assert_eq!(list[0]["after"]["email"], "ana@acme.com", "{events}");
    assert_eq!(list[1]["after"]["has_password"], true, "{events}");
    assert!(list[2]["after"]["disabled_at"].is_string(), "{events}");
    assert_eq!(list.iter().filter(|e| e["action"] == "signing_key.rotated").count(), 1, "{events}");
    let text = events.to_string();
    assert!(!text.contains(password) && !text.contains("another long") && !text.contains("argon2"), "{text}");
}

sqlite_and_postgres!(lifecycle: token_lifecycle_from_the_command_line_on_sqlite, token_lifecycle_from_the_command_line_on_postgres);
sqlite_and_postgres!(
    access_changes_are_recorded: users_and_keys_from_the_command_line_are_in_the_audit_log_as_cli_on_sqlite,
    users_and_keys_from_the_command_line_are_in_the_audit_log_as_cli_on_postgres
);
