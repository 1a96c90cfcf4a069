//! `licensd token create|list|update|revoke` through the real binary, against a running `licensd serve`, on
//! SQLite and PostgreSQL: roles, products, description, expiry, last use, unique names, revoking twice.

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
}

sqlite_and_postgres!(lifecycle: token_lifecycle_from_the_command_line_on_sqlite, token_lifecycle_from_the_command_line_on_postgres);
