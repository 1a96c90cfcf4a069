//! The everyday commands through the real binary, on SQLite and PostgreSQL: `product`, `template`, `license
//! issue|show|find|disable|enable|refund|reset`, `customer find`, `events`. A `licensd serve` on the same
//! database shows that what the command line does is what the client API then answers, and the audit log
//! names the command line (`cli`) as the actor.

use serde_json::{Value, json};

use crate::common::{Server, licensd, post, request, serve, sqlite_and_postgres, temp_dir};

/// Runs `licensd ARGS --db DB`, which must not panic.
fn run(db: &str, args: &[&str]) -> (bool, String, String) {
    let (ok, stdout, stderr) = licensd(args).args(&["--db", db]).run();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (ok, stdout, stderr)
}

/// Runs a command that must succeed, returning its standard output.
fn ok(db: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = run(db, args);
    assert!(success, "{args:?}: {stderr}");
    stdout
}

/// Runs a command that must succeed and print exactly one JSON value.
fn json_of(db: &str, args: &[&str]) -> Value {
    let stdout = ok(db, args);
    assert_eq!(stdout.lines().count(), 1, "{args:?}: one line of JSON: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Runs a command that must fail with exit status 1 and a one-line error, returning that line.
fn refused(db: &str, args: &[&str]) -> String {
    let out = licensd(args).args(&["--db", db]).output();
    assert_eq!(out.code, Some(1), "{args:?} should fail with status 1: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{args:?} printed on a refusal: {}", out.stdout);
    assert!(!out.stderr.contains("panicked"), "{args:?} panicked: {}", out.stderr);
    out.stderr.lines().next().unwrap_or_default().to_string()
}

/// A client API call: `(status, body)`.
fn client(server: &Server, what: &str, key: &str, hardware_id: &str) -> (u16, Value) {
    let r = post(&format!("{}/api/v1/client/{what}", server.url))
        .json(&json!({"license_key": key, "product": "app", "hardware_id": hardware_id}))
        .send();
    (r.status, serde_json::from_str(&r.text).unwrap())
}

/// The cells of a table's rows under the header column `name` (columns are two spaces apart or more).
fn column(table: &str, name: &str) -> Vec<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let start = header.find(name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    lines
        .map(|l| l.get(start..).unwrap_or_default().split("  ").next().unwrap_or_default().trim().to_string())
        .collect()
}

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

fn everyday(db: &str) {
    // Commands other than `serve` and `migrate` never create a database.
    if db.starts_with("sqlite:") {
        assert!(refused(db, &["product", "list"]).starts_with("Error: no database at"), "{db}");
    }
    ok(db, &["migrate"]);

    // The catalog.
    let p = json_of(db, &["product", "create", "--name", "The App", "--short-code", "app", "--json"]);
    assert_eq!((&p["id"], &p["product_name"], &p["short_code"]), (&json!(1), &json!("The App"), &json!("app")));
    let out =
        ok(db, &["product", "create", "--name", "Other", "--short-code", "other", "--bundle-id", "com.example.o"]);
    assert_eq!(out.trim(), "created product other (id 2): Other");
    assert_eq!(
        refused(db, &["product", "create", "--name", "Again", "--short-code", "app"]),
        "Error: --short-code: a product with this short code exists already (licensd product list)"
    );
    assert_eq!(
        refused(db, &["product", "create", "--name", "X"]),
        "Error: give --short-code (or short_code in --json-body)"
    );
    let list = ok(db, &["product", "list"]);
    assert_eq!(header(&list), ["ID", "SHORT CODE", "NAME", "BUNDLE ID", "CREATED"]);
    assert_eq!(column(&list, "SHORT CODE"), ["app", "other"]);
    assert_eq!(column(&list, "BUNDLE ID"), ["-", "com.example.o"]);
    let created = column(&list, "CREATED");
    assert!(licensd_core::time::parse_datetime(&created[0]).is_some(), "RFC 3339: {created:?}");
    let products = json_of(db, &["product", "list", "--json"]);
    assert_eq!(products.as_array().map(Vec::len), Some(2));
    assert_eq!(products[1]["bundle_id"], "com.example.o");

    let t = json_of(
        db,
        &[
            "template",
            "create",
            "--product",
            "app",
            "--name",
            "Pro, two machines",
            "--code",
            "pro",
            "--max-activations",
            "2",
            "--validity-days",
            "30",
            "--key-prefix",
            "APP",
            "--json",
        ],
    );
    assert_eq!((&t["product"], &t["code"], &t["max_activations"]), (&json!(1), &json!("pro"), &json!(2)));
    assert_eq!((&t["validity_period_days"], &t["license_type"]), (&json!(30), &json!("time-limited")));
    let out = ok(
        db,
        &[
            "template",
            "create",
            "--product",
            "other",
            "--name",
            "Site",
            "--code",
            "site",
            "--max-activations",
            "unlimited",
            "--floating",
            "5",
            "--floating-timeout",
            "2h",
        ],
    );
    assert_eq!(
        out.trim(),
        "created template site (id 2) of product other: perpetual, 5 floating seats (120 min timeout), never expires"
    );
    assert_eq!(
        refused(db, &["template", "create", "--product", "nope", "--name", "N", "--code", "n"]),
        "Error: no product with short code \"nope\"; products are: app, other"
    );
    assert_eq!(
        refused(db, &["template", "create", "--product", "app", "--name", "N", "--code", "pro"]),
        "Error: --code: a license template with this code exists already (licensd template list)"
    );
    assert!(
        refused(
            db,
            &["template", "create", "--product", "app", "--name", "N", "--code", "n", "--max-activations", "lots"]
        )
        .contains("give a number of machines (0 or more) or `unlimited`")
    );
    let body = temp_dir("everyday-body").join("body.json");
    std::fs::write(&body, r#"{"product": "app", "max_transfers": 3, "prevent_vm": true}"#).unwrap();
    let t = json_of(
        db,
        &["template", "create", "--name", "Body", "--code", "body", "--json-body", body.to_str().unwrap(), "--json"],
    );
    assert_eq!((&t["product"], &t["max_transfers"], &t["prevent_vm"]), (&json!(1), &json!(3), &json!(true)));
    std::fs::write(&body, r#"{"product": "app", "max_transferz": 3}"#).unwrap();
    let e = refused(db, &["template", "create", "--name", "B", "--code", "b", "--json-body", body.to_str().unwrap()]);
    assert!(e.starts_with("Error: --json-body: max_transferz: unknown field `max_transferz`"), "{e}");
    let list = ok(db, &["template", "list", "--product", "app"]);
    assert_eq!(column(&list, "CODE"), ["pro", "body"]);
    assert_eq!(column(&list, "ACTIVATIONS"), ["2", "1"]);
    assert_eq!(json_of(db, &["template", "list", "--json"]).as_array().map(Vec::len), Some(3));

    // Issuing: with an email it is a store's order (the customer found or created); without, bare licenses.
    assert_eq!(
        refused(db, &["license", "issue", "--template", "prx"]),
        "Error: no license template with code \"prx\"; templates are: body, pro, site"
    );
    let issued = json_of(
        db,
        &["license", "issue", "--template", "pro", "--email", "Ann@Example.com", "--store-id", "INV-7", "--json"],
    );
    let ann = &issued[0];
    assert_eq!(issued.as_array().map(Vec::len), Some(1));
    assert_eq!((&ann["customer"]["email"], &ann["product"]["short_code"]), (&json!("Ann@Example.com"), &json!("app")));
    assert_eq!(
        (&ann["order_store_id"], &ann["max_activations"], &ann["status"]),
        (&json!("INV-7"), &json!(2), &json!("inactive"))
    );
    let key = ann["license_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("APP-"), "{key}");
    let id = ann["id"].as_i64().unwrap();
    let out = ok(
        db,
        &["license", "issue", "--template", "pro", "--email", "ann@example.com", "--count", "2", "--note", "fair"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0]
            .starts_with("issued 2 licenses of template pro (product app) for Ann@Example.com (customer 1), order ")
    );
    let more: Vec<String> = lines[1..].iter().map(|k| k.to_string()).collect();
    let bare = json_of(db, &["license", "issue", "--template", "site", "--count", "3", "--json"]);
    assert_eq!(bare.as_array().map(Vec::len), Some(3));
    assert!(bare.as_array().unwrap().iter().all(|l| l["customer"].is_null() && l["order"].is_null()), "{bare}");
    assert!(
        refused(db, &["license", "issue", "--template", "pro", "--email", "not-an-email"])
            .starts_with("Error: --email")
    );
    assert_eq!(
        refused(db, &["license", "issue", "--template", "pro", "--customer", "99"]),
        "Error: --customer: no customer with id 99"
    );
    assert!(refused(db, &["license", "issue", "--template", "pro", "--count", "0"]).contains("0 is not in 1..=1000"));

    // Finding: by email (any case), by key (typed with spaces, in lower case), by id.
    let found = json_of(db, &["license", "find", "ANN@example", "--json"]);
    let ids: Vec<i64> = found.as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3, "{found}");
    assert_eq!(ids.last(), Some(&id), "newest first: {ids:?}");
    let found = json_of(db, &["license", "find", &format!("  {}  ", key.to_lowercase()), "--json"]);
    assert_eq!(found.as_array().map(|a| a.iter().map(|l| l["id"].clone()).collect::<Vec<_>>()), Some(vec![json!(id)]));
    let table = ok(db, &["license", "find", "example.com"]);
    assert_eq!(header(&table), ["ID", "KEY", "STATUS", "PRODUCT", "CUSTOMER", "ACTIVATIONS", "EXPIRES", "CREATED"]);
    assert_eq!(column(&table, "KEY"), [more[1].clone(), more[0].clone(), key.clone()]);
    assert_eq!(column(&table, "ACTIVATIONS"), ["0 of 2", "0 of 2", "0 of 2"]);
    assert_eq!(ok(db, &["license", "find", "nobody-has-this"]).trim(), "no license matches \"nobody-has-this\"");
    let shown = json_of(db, &["license", "show", &id.to_string(), "--json"]);
    assert_eq!((&shown["license_key"], &shown["history_count"]), (&json!(key), &json!(1)));
    assert_eq!(json_of(db, &["license", "show", &format!("#{id}"), "--json"])["id"], id);
    assert_eq!(json_of(db, &["license", "show", &format!(" {} ", key.to_lowercase()), "--json"])["id"], id);
    assert_eq!(
        refused(db, &["license", "find", " ab "]),
        "Error: \"ab\": give at least 3 characters to look for (the search indexes need them)"
    );
    assert!(
        refused(db, &["license", "show", "NOPE-NOPE"]).starts_with("Error: no license has the key or id \"NOPE-NOPE\"")
    );
    let customers = json_of(db, &["customer", "find", "ann@EXAMPLE.com", "--json"]);
    assert_eq!(customers.as_array().map(Vec::len), Some(1), "{customers}");
    assert_eq!((&customers[0]["id"], &customers[0]["email"]), (&json!(1), &json!("Ann@Example.com")));
    let table = ok(db, &["customer", "find", "ann"]);
    assert_eq!(header(&table), ["ID", "EMAIL", "NAME", "COMPANY", "REFERENCE", "CREATED"]);
    assert_eq!(column(&table, "EMAIL"), ["Ann@Example.com"]);
    assert_eq!(ok(db, &["customer", "find", "zed"]).trim(), "no customer matches \"zed\"");
    assert_eq!(json_of(db, &["customer", "find", &more[0], "--json"])[0]["id"], 1, "by a license's key");

    // What the command line does, the client API answers at once.
    let server = serve(db).start();
    let (status, body) = client(&server, "activate", &key, "hw-ann-laptop");
    assert_eq!((status, &body["code"]), (201, &json!("ACTIVATED")), "{body}");
    assert_eq!(client(&server, "check", &key, "hw-ann-laptop").1["code"], "VALID");
    let found = json_of(db, &["license", "find", "ann-lap", "--json"]);
    assert_eq!(found.as_array().map(|a| a.len()), Some(1), "by hardware id: {found}");
    assert_eq!(found[0]["id"], id);
    let text = ok(db, &["license", "show", &key]);
    assert!(text.contains(&format!("license      {key} (id {id})\n")), "{text}");
    assert!(text.contains("status       active\n") && text.contains("activations  1 of 2\n"), "{text}");
    assert!(
        text.contains("template     pro (id 1)\n") && text.contains("order        id 1, store id INV-7\n"),
        "{text}"
    );
    let devices = text.split("\ndevices:\n").nth(1).unwrap_or_default();
    assert_eq!(column(devices, "HARDWARE ID").first().map(String::as_str), Some("hw-ann-laptop"), "{text}");

    let out = ok(db, &["license", "disable", &key, "--note", "chargeback"]);
    assert_eq!(out.trim(), format!("disabled license {id} ({key}); its status is now disabled"));
    assert_eq!(client(&server, "check", &key, "hw-ann-laptop").1["code"], "DISABLED");
    let (status, body) = client(&server, "activate", &key, "hw-ann-desktop");
    assert_eq!((status, &body["code"]), (403, &json!("DISABLED")));
    let out = ok(db, &["license", "disable", &id.to_string()]);
    assert_eq!(out.trim(), format!("license {id} ({key}): the license is already disabled; nothing changed"));
    let l = json_of(db, &["license", "enable", &key, "--json"]);
    assert_eq!((&l["enabled"], &l["status"]), (&json!(true), &json!("active")));
    assert_eq!(client(&server, "check", &key, "hw-ann-laptop").1["code"], "VALID");

    let out = ok(db, &["license", "reset", &key, "--note", "new laptop"]);
    assert_eq!(out.trim(), format!("reset license {id} ({key}): freed 1 activation"));
    assert_eq!(client(&server, "check", &key, "hw-ann-laptop").1["code"], "NOT_ACTIVATED");
    let l = json_of(db, &["license", "show", &key, "--json"]);
    assert_eq!((&l["times_activated"], &l["status"]), (&json!(0), &json!("inactive")));
    let (status, _) = client(&server, "activate", &key, "hw-ann-desktop");
    assert_eq!(status, 201, "the slot is free again");

    let l = json_of(db, &["license", "refund", &key, "--json"]);
    assert_eq!((&l["refunded"], &l["status"]), (&json!(true), &json!("refunded")));
    assert_eq!(client(&server, "check", &key, "hw-ann-desktop").1["code"], "REFUNDED");
    assert_eq!(
        refused(db, &["license", "enable", &key]),
        format!("Error: license {id} ({key}): a refunded license cannot be enabled again")
    );
    // A deleted license's events stay in the log, found by its id.
    let ops = json_of(db, &["token", "create", "--name", "ops", "--role", "admin", "--json"]);
    let gone = bare[0]["id"].as_i64().unwrap();
    let deleted = request("DELETE", &format!("{}/api/v1/licenses/{gone}", server.url))
        .bearer(ops["token"].as_str().unwrap())
        .send();
    assert_eq!(deleted.status, 204);
    drop(server);
    assert!(refused(db, &["license", "show", &gone.to_string()]).starts_with("Error: no license has the key or id"));
    let history = json_of(db, &["events", "--license", &gone.to_string(), "--json"]);
    let seen: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("cli", "license.created"), ("ops", "license.deleted")]);

    // The audit log: the command line's actions as `cli`, the client API's as `client`, oldest first.
    let events = json_of(db, &["events", "--license", &key, "--json"]);
    let seen: Vec<(String, String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
                e["note"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("cli", "license.created", ""),
        ("client", "license.activated", "hw-ann-laptop"),
        ("cli", "license.disabled", "chargeback"),
        ("cli", "license.enabled", ""),
        ("cli", "license.reset", "new laptop"),
        ("client", "license.activated", "hw-ann-desktop"),
        ("cli", "license.refunded", ""),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
    .collect();
    assert_eq!(seen, want);
    assert!(events.as_array().unwrap().iter().all(|e| e["license"] == id && e["product"] == 1), "{events}");
    let table = ok(db, &["events", "--limit", "3", "--since", "1h"]);
    assert_eq!(header(&table), ["TIME", "ACTOR", "ACTION", "RECORD", "LICENSE", "NOTE"]);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 5, "header, three events, the note about the others: {table}");
    // The latest three: the refund, the `ops` token made for the delete (the command line records its token
    // changes too, as `cli`), the delete.
    assert_eq!(column(&table, "ACTION")[..3], ["license.refunded", "api_token.created", "license.deleted"]);
    assert_eq!(column(&table, "ACTOR")[..3], ["cli", "cli", "ops"]);
    assert_eq!(column(&table, "LICENSE")[..3], [key.clone(), "-".to_string(), format!("id {gone}")]);
    assert!(rows[4].starts_with("(the latest 3 of "), "{table}");
    let times = column(&table, "TIME");
    assert!(times[..3].iter().all(|t| licensd_core::time::parse_datetime(t).is_some()), "{times:?}");
    let cli_events = json_of(db, &["events", "--actor", "cli", "--limit", "100", "--json"]);
    let actions: Vec<&str> = cli_events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "product.created").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "license_template.created").count(), 3, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "order.created").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "api_token.created").count(), 1, "{actions:?}");
    assert_eq!(json_of(db, &["events", "--since", "2999-01-01", "--json"]), json!([]));
    assert!(refused(db, &["events", "--since", "yesterday"]).contains("give a duration back from now (1h, 30m, 2d)"));

    // No token can take the command line's name in the audit log.
    assert!(refused(db, &["token", "create", "--name", "cli", "--role", "admin"]).contains("choose another name"));
}

sqlite_and_postgres!(everyday: everyday_commands_on_sqlite, everyday_commands_on_postgres);
