//! `licensd import devmate` and `licensd export devmate` through the real binary, on SQLite and PostgreSQL:
//! the import → `/v2` read round trip reproduces the file, export writes it back, a re-import changes
//! nothing, DevMate's ids stay valid (and licensd's own new rows do not collide with them), bad records are
//! reported with their position and never half-applied, and `--strict` is all or nothing.

use serde_json::{Value, json};

use crate::common::{admin_token, block_on, databases, request, run, serve, temp_dir};

fn count(db: &str, table: &str) -> i64 {
    block_on(async {
        let d = licensd_store::Db::connect(db).await.unwrap();
        let n = d
            .fetch_one(licensd_store::db::query(format!("SELECT COUNT(*) AS n FROM {table}")))
            .await
            .unwrap()
            .get("n")
            .unwrap();
        d.close().await;
        n
    })
}

const TABLES: &[&str] = &[
    "customers",
    "licenses",
    "orders",
    "devices",
    "events",
    "products",
    "license_templates",
    "devmate_license_type_products",
    "devmate_records",
];

fn counts(db: &str) -> Vec<i64> {
    TABLES.iter().map(|t| count(db, t)).collect()
}

fn product(id: i64) -> Value {
    match id {
        1 => json!({"id": 1, "name": "MyNewApp", "bundle_id": "com.acme.MyNewApp", "use_offline_license": false}),
        _ => json!({"id": 2, "name": "Cleaner", "bundle_id": "com.acme.Cleaner", "use_offline_license": true}),
    }
}

fn h(kind: i64, ts: i64, user: &str, note: &str) -> Value {
    json!({"type": kind, "user_name": user, "note": note, "timestamp": ts})
}

/// An export as DevMate's server gave it: every status, a bundle license type, shared invoices, a campaign
/// without invoice, a license without license type, history of every kind with the Java client's extra keys.
fn export_fixture() -> Vec<Value> {
    let activation = |id: i64, aid: i64, hw: &str, deactivated: i64, ts: i64| {
        json!({"type": 1, "timestamp": ts, "user_name": "", "note": "", "id": id, "license_id": 1185,
               "activation_id": aid, "activation_name": "Act Name", "activation_email": "act@mail.test",
               "product_name": "MyNewApp", "identifiers": hw, "offline_license": "", "deactivated": deactivated})
    };
    let license = |id: i64, type_id: i64, type_name: &str, products: &[i64], extra: Value| {
        let mut l = json!({"license_type_name": type_name, "license_type_id": type_id, "invoice": "", "campaign": "",
            "date_created": 1446563864, "activations_used": 0, "id": id, "expiration_date": null,
            "products": products.iter().map(|p| product(*p)).collect::<Vec<_>>(), "is_subscription": false, "status": 1,
            "activations_total": 65535, "activation_key": format!("id5933113{id:05}odr"),
            "history": [h(2, 1446563864, "", "")]});
        l.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        l
    };
    vec![
        json!({"data": {"id": 45, "email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe", "company": "MacPaw",
        "phone": "5553423322", "address": "Madison Ave. 11", "note": "Our valuable customer", "date_added": 1443185520,
        "licenses": [
            license(1185, 26, "MyNewApp Single User License", &[1], json!({
                "invoice": "CORP150902-0339-893098", "campaign": "spring", "activations_used": 1, "status": 2,
                "activation_key": "id593311373237odr",
                "history": [h(2, 1446563864, "", ""), activation(1, 1509013782987, "ff:ff:ff:aa:aa:aa", 0, 1446570000),
                            activation(2, 1509013782990, "aa:aa:aa:aa:aa:aa", 1, 1446580000),
                            h(6, 1446590000, "Jane Admin", "new Mac")]})),
            license(1186, 29, "Acme Bundle", &[1, 2], json!({
                "invoice": "CORP150902-0339-893098", "campaign": "spring", "status": 4, "activations_total": 3,
                "history": [h(2, 1446563864, "", ""), h(4, 1446600000, "Jane Admin", "chargeback")]})),
        ]}}),
        json!({"data": {"id": 46, "email": "Zoe.Muller@Example.com", "first_name": "Zoë", "last_name": "Müller", "company": "",
        "phone": "", "address": "Straße 1\nBerlin", "note": "", "date_added": 1443185600,
        "licenses": [
            license(2001, 28, "Cleaner Unlimited", &[2], json!({"campaign": "newsletter", "status": 5,
                "history": [h(2, 1446563864, "", ""), h(5, 1446700000, "", "refund")]})),
            license(2002, 30, "Cleaner Yearly", &[2], json!({"is_subscription": true, "expiration_date": 1893456000,
                "activations_total": 1})),
            license(2003, 30, "Cleaner Yearly", &[2], json!({"is_subscription": true, "expiration_date": 1262304000,
                "status": 3, "activations_total": 1, "history": [h(2, 1446563864, "", ""), h(3, 1262304000, "", "")]})),
            license(2004, 0, "", &[2], json!({})),
        ]}}),
        json!({"data": {"id": 47, "email": "nolicenses@example.com", "first_name": "", "last_name": "", "company": "",
            "phone": "", "address": "", "note": "", "date_added": 1443185700, "licenses": []}}),
    ]
}

/// The format `licensd export devmate` writes: a JSON array, one record per line.
fn write_export(path: &std::path::Path, records: &[Value]) {
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(path, format!("[\n{}\n]\n", lines.join(",\n"))).unwrap();
}

fn export(db: &str, dir: &std::path::Path, name: &str) -> Vec<Value> {
    let out = dir.join(name);
    let (ok, _, stderr) = run(&["export", "devmate", "--db", db, "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// How records are written: a batch's rows together (the default), or each record in its own savepoint
/// (what a batch falls back to when the database refuses a row the batch's reads did not foresee).
#[derive(Clone, Copy)]
enum Mode {
    Batch,
    RecordByRecord,
}

fn import_json(db: &str, file: &std::path::Path, extra: &[&str], mode: Mode) -> (bool, Value, String) {
    let mut args = vec!["import", "devmate", "--db", db, file.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    if let Mode::RecordByRecord = mode {
        args.push("--record-by-record");
    }
    let (ok, stdout, stderr) = run(&args);
    (ok, serde_json::from_str(stdout.trim()).unwrap_or(Value::Null), stderr)
}

fn round_trip(db: &str, dir: &std::path::Path, mode: Mode) {
    let fixture = export_fixture();
    let file = dir.join("devmate.json");
    write_export(&file, &fixture);
    let (ok, summary, stderr) = import_json(db, &file, &[], mode);
    assert!(ok, "{stderr}");
    assert_eq!(summary["records"], 3);
    assert_eq!(summary["skipped"], 0);
    assert_eq!(summary["customers_created"], 3);
    assert_eq!(summary["licenses_created"], 6);
    assert_eq!(summary["products_created"], 2);
    assert_eq!(summary["license_types_created"], 4);
    assert_eq!(summary["warnings"], 0, "{stderr}");

    // Import → /v2 read: every customer reads back exactly as the file has it.
    let token = admin_token(db, "store");
    let server = serve(db).start();
    // DevMate's auth scheme, `Token`.
    let call = |method: &str, path: &str| request(method, &format!("{}{path}", server.url)).auth("Token", &token);
    for record in &fixture {
        let id = &record["data"]["id"];
        let r = call("GET", &format!("/v2/customers/{id}")).send();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(&r.json(), record, "customer {id} reads back as imported");
    }
    // DevMate's ids are licensd's: filters find imported activations, keys and invoices.
    let find = |q: &str| {
        let r = call("GET", &format!("/v2/customers?{q}")).send();
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(find("filter[activation_id]=1509013782987"), [45]);
    assert_eq!(find("filter[identifier]=FF:FF:FF"), [45]);
    assert_eq!(find("filter[key]=id593311373237odr"), [45]);
    assert_eq!(find("filter[invoice]=0339-893098"), [45]);
    assert_eq!(find("filter[email]=example.com"), [46, 47]);
    let native = call("GET", "/api/v1/licenses/1186").send().json();
    assert_eq!(native["status"], "disabled");
    assert_eq!(native["customer"]["id"], 45);
    assert_eq!(native["license_template"], 29);
    let native = call("GET", "/api/v1/license-templates/26").send().json();
    assert_eq!(native["name"], "MyNewApp Single User License");
    assert_eq!(native["max_activations"], Value::Null);

    // Export writes the file back.
    assert_eq!(export(db, dir, "export-1.json"), fixture);

    // A re-import changes nothing at all.
    let before = counts(db);
    let (ok, summary, stderr) = import_json(db, &file, &[], mode);
    assert!(ok, "{stderr}");
    assert_eq!(summary["customers_created"], 0);
    assert_eq!(summary["customers_present"], 3);
    assert_eq!(summary["licenses_present"], 6);
    assert_eq!(counts(db), before);
    assert_eq!(export(db, dir, "export-2.json"), fixture);

    // Life goes on: the store issues with DevMate's license type id, for DevMate's customer id; new rows get
    // ids past DevMate's (PostgreSQL's sequences were moved), and resets work on imported activations.
    let r = call("POST", "/v2/customers/45/licenses").json(&json!({"data": {"license_type_id": 26}})).send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["data"]["id"].as_i64().unwrap() > 2004);
    let r = call("POST", "/v2/customers").json(&json!({"data": {"email": "new@example.com"}})).send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["data"]["id"].as_i64().unwrap() > 47);
    assert_eq!(call("POST", "/v2/licenses/id593311373237odr/reset_first_activation").send().status, 200);
    let body = call("GET", "/v2/customers/45").send().json();
    let history = body["data"]["licenses"][0]["history"].as_array().unwrap().clone();
    assert_eq!(history[1]["deactivated"], 1, "the oldest activation was reset");
    assert_eq!(history.last().unwrap()["type"], 6);
    assert_eq!(body["data"]["licenses"][0]["activations_used"], 0);
    // An activation slot the client API knows about: the imported device holds it no more.
    let devices = call("GET", "/api/v1/devices?license=1185").send().json();
    assert_eq!(devices["count"], 2);
    assert!(devices["results"].as_array().unwrap().iter().all(|d| d["active"] == false));
}

/// Runs a case on every backend, in both write modes.
fn each(name: &str, case: fn(&str, &std::path::Path, Mode)) {
    for (m, mode) in [Mode::Batch, Mode::RecordByRecord].into_iter().enumerate() {
        for (i, db) in databases(&format!("{name}-{m}")).iter().enumerate() {
            case(db, &temp_dir(&format!("{name}-files-{m}-{i}")), mode);
        }
    }
}

#[test]
fn import_read_export_and_reimport_round_trip() {
    each("roundtrip", round_trip);
}

fn bad_file(path: &std::path::Path) {
    let good = |id: i64, email: &str, key: &str| {
        json!({"data": {"id": id, "email": email, "first_name": "", "last_name": "", "company": "", "phone": "", "address": "",
            "note": "", "date_added": 1443185520, "licenses": [{"license_type_name": "T", "license_type_id": 26, "invoice": "",
            "campaign": "", "date_created": 1446563864, "activations_used": 0, "id": id * 10, "expiration_date": null,
            "products": [product(1)], "is_subscription": false, "status": 1, "activations_total": 1, "activation_key": key,
            "history": []}]}})
    };
    let mut invalid = good(101, "b@example.com", "K-101");
    invalid["data"]["licenses"][0]["status"] = json!(9);
    let mut collides = good(102, "c@example.com", "K-102");
    let mut second = collides["data"]["licenses"][0].clone();
    second["id"] = json!(1021);
    second["activation_key"] = json!("K-100");
    collides["data"]["licenses"].as_array_mut().unwrap().push(second);
    write_export(
        path,
        &[
            good(100, "a@example.com", "K-100"),
            invalid,
            collides,
            good(103, "A@EXAMPLE.com", "K-103"),
            good(104, "e@example.com", "K-104"),
        ],
    );
}

fn bad_records(db: &str, dir: &std::path::Path, mode: Mode) {
    let file = dir.join("bad.json");
    bad_file(&file);
    // --strict: an invalid record refuses the whole file before anything is written.
    let before = counts(db);
    let (ok, _, stderr) = import_json(db, &file, &["--strict"], mode);
    assert!(!ok);
    assert!(stderr.contains("record 2 (line 3): customer #101: licenses[0].status: must be 1 to 5, not 9"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(counts(db), before);

    // Without --strict: bad records are reported with their position and skipped whole; the rest is imported.
    let (ok, summary, stderr) = import_json(db, &file, &[], mode);
    assert!(!ok, "exit status 1 when records were skipped");
    assert_eq!(summary["skipped"], 3, "{stderr}");
    assert_eq!(summary["customers_created"], 2);
    assert!(stderr.contains("record 2 (line 3)"), "{stderr}");
    assert!(stderr.contains("record 3 (line 4): customer #102: licenses[1] (license #1021): activation key \"K-100\" belongs to license #1000 already; skipped"), "{stderr}");
    assert!(
        stderr.contains(
            "record 4 (line 5): customer #103: email \"A@EXAMPLE.com\" belongs to customer #100 already; skipped"
        ),
        "{stderr}"
    );
    let server_db = db;
    assert_eq!(count(server_db, "customers"), 2);
    assert_eq!(count(server_db, "licenses"), 2, "customer #102's first license was not kept without its second");

    // --strict on a file whose records collide with the database: all or nothing, so nothing.
    let collide = dir.join("collide.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut fresh = records[4].clone();
    fresh["data"]["id"] = json!(200);
    fresh["data"]["email"] = json!("fresh@example.com");
    fresh["data"]["licenses"][0]["id"] = json!(2000);
    fresh["data"]["licenses"][0]["activation_key"] = json!("K-200");
    write_export(&collide, &[fresh, records[3].clone()]);
    let before = counts(db);
    let (ok, _, stderr) = import_json(db, &collide, &["--strict"], mode);
    assert!(!ok);
    assert!(stderr.contains("record 2 (line 3): customer #103"), "{stderr}");
    assert_eq!(counts(db), before, "the valid first record was rolled back too");

    // A file that is not JSON at all is refused whole.
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "[{\"data\": {\"id\": 1,").unwrap();
    let (ok, _, stderr) = run(&["import", "devmate", "--db", db, broken.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("not a valid JSON array"), "{stderr}");
    assert_eq!(counts(db), before);

    // A customer id licensd already uses for someone else is not merged.
    let native = block_on(async {
        let d = licensd_store::Db::connect(db).await.unwrap();
        let input =
            licensd_core::model::CustomerInput { email: Some("native@example.com".into()), ..Default::default() };
        let c = licensd_store::customers::create(&d, &licensd_store::Scope::system(), input).await.unwrap();
        d.close().await;
        c.id
    });
    let clash = dir.join("clash.json");
    let mut other = records[0].clone();
    other["data"]["id"] = json!(native);
    other["data"]["email"] = json!("someone.else@example.com");
    other["data"]["licenses"] = json!([]);
    write_export(&clash, &[other]);
    let before = counts(db);
    let (ok, _, stderr) = import_json(db, &clash, &[], mode);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("customer #{native} exists already with another email (native@example.com)")),
        "{stderr}"
    );
    assert_eq!(counts(db), before);

    // A collision only the database sees (a template of licensd's own already has the code an imported
    // license type gets): that record is refused whole, the others go in.
    block_on(async {
        let d = licensd_store::Db::connect(db).await.unwrap();
        let scope = licensd_store::Scope::system();
        let p = licensd_store::products::create(
            &d,
            &scope,
            serde_json::from_value(json!({"product_name": "Native", "short_code": "native"})).unwrap(),
        )
        .await
        .unwrap();
        licensd_store::templates::create(
            &d,
            &scope,
            serde_json::from_value(json!({"product": p.id, "name": "Native", "code": "devmate-77"})).unwrap(),
        )
        .await
        .unwrap();
        d.close().await;
    });
    let mut taken = records[4].clone();
    taken["data"]["id"] = json!(301);
    taken["data"]["email"] = json!("taken@example.com");
    taken["data"]["licenses"][0]["id"] = json!(3010);
    taken["data"]["licenses"][0]["activation_key"] = json!("K-301");
    taken["data"]["licenses"][0]["license_type_id"] = json!(77);
    let mut fine = taken.clone();
    fine["data"]["id"] = json!(302);
    fine["data"]["email"] = json!("fine@example.com");
    fine["data"]["licenses"][0]["id"] = json!(3020);
    fine["data"]["licenses"][0]["activation_key"] = json!("K-302");
    fine["data"]["licenses"][0]["license_type_id"] = json!(26);
    let late = dir.join("late.json");
    write_export(&late, &[taken, fine]);
    let before = counts(db);
    let (ok, summary, stderr) = import_json(db, &late, &[], mode);
    assert!(!ok);
    assert!(
        stderr.contains("record 1 (line 2): customer #301: another record already holds this code; skipped"),
        "{stderr}"
    );
    assert_eq!(summary["customers_created"], 1, "{stderr}");
    assert_eq!(count(db, "customers"), before[0] + 1);
    assert_eq!(count(db, "licenses"), before[1] + 1);
}

#[test]
fn bad_records_are_reported_and_never_half_applied() {
    each("bad", bad_records);
}

#[test]
fn other_export_shapes_and_lenient_values_are_read() {
    let dir = temp_dir("shapes");
    let db = databases("shapes").swap_remove(0);
    let records = export_fixture();
    // JSON Lines of responses, and one list response, and seed 001's shape (no date_created, string times).
    let lines = dir.join("lines.jsonl");
    std::fs::write(&lines, records.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    let (ok, summary, stderr) = import_json(&db, &lines, &[], Mode::Batch);
    assert!(ok, "{stderr}");
    assert_eq!(summary["customers_created"], 3);
    let list = dir.join("list.json");
    let data: Vec<Value> = records.iter().map(|r| r["data"].clone()).collect();
    std::fs::write(&list, json!({"data": data, "meta": {"total": 3}}).to_string()).unwrap();
    let (ok, summary, _) = import_json(&db, &list, &[], Mode::Batch);
    assert!(ok);
    assert_eq!(summary["customers_present"], 3);

    let mut seed = records[2].clone();
    seed["data"]["id"] = json!(48);
    seed["data"]["email"] = json!("seed@example.com");
    seed["data"]["date_added"] = json!("1443185520");
    let mut l = records[0]["data"]["licenses"][0].clone();
    l.as_object_mut().unwrap().remove("date_created");
    l["id"] = json!(3000);
    l["activation_key"] = json!("id000000003000odr");
    l["history"] = json!([{"type": 2, "user_name": "", "note": "", "timestamp": "1446563900"}]);
    l["activations_used"] = json!(0);
    l["status"] = json!(2);
    seed["data"]["licenses"] = json!([l]);
    let one = dir.join("one.json");
    std::fs::write(&one, seed.to_string()).unwrap();
    let (ok, summary, stderr) = import_json(&db, &one, &[], Mode::Batch);
    assert!(ok, "{stderr}");
    assert_eq!(summary["warnings"], 1);
    assert!(stderr.contains("record 1 (line 1): warning: license #3000: status 2"), "{stderr}");
    let exported = export(&db, &dir, "out.json");
    let c = exported.iter().find(|r| r["data"]["id"] == 48).unwrap();
    assert_eq!(c["data"]["date_added"], 1443185520);
    assert_eq!(c["data"]["licenses"][0]["date_created"], 1446563900, "taken from the created record");
    assert_eq!(c["data"]["licenses"][0]["status"], 1, "derived from the data");
}

#[test]
fn generated_export_imports_and_exports_identically() {
    for (i, db) in databases("generated").iter().enumerate() {
        let dir = temp_dir(&format!("generated-files-{i}"));
        let file = dir.join("sample.json");
        let (ok, _, stderr) = run(&["dev", "devmate-file", "--customers", "600", "--out", file.to_str().unwrap()]);
        assert!(ok, "{stderr}");
        let (ok, summary, stderr) = import_json(db, &file, &[], Mode::Batch);
        assert!(ok, "{stderr}");
        assert_eq!(summary["customers_created"], 600);
        assert_eq!(summary["skipped"], 0);
        let original: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(export(db, &dir, "out.json"), original);
        let before = counts(db);
        assert!(import_json(db, &file, &["--strict"], Mode::Batch).0);
        assert_eq!(counts(db), before);
    }
}
