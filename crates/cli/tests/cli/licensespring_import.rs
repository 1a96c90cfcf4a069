//! `licensd import licensespring FILE` through the real binary, on SQLite and PostgreSQL: two pages of
//! LicenseSpring's List Licenses (built from seed 002's example) come in with their keys, limits, activation
//! counts, customers (one shared by two licenses), orders, products, features and custom fields, as the
//! management API then shows them; a second run changes nothing; a newer export updates what licensd has not
//! changed since, and keeps what it has; the three file shapes read alike; a malformed file writes nothing.

use serde_json::{Value, json};

use crate::common::{admin_token, block_on, request, run, serve, sqlite_and_postgres, temp_dir};

const TABLES: &[&str] = &[
    "licenses",
    "customers",
    "customer_labels",
    "orders",
    "products",
    "product_features",
    "license_features",
    "product_custom_fields",
    "license_custom_fields",
    "license_users",
    "license_license_users",
    "license_checks",
    "events",
    "licensespring_records",
];

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

fn counts(db: &str) -> Vec<(&'static str, i64)> {
    TABLES.iter().map(|t| (*t, count(db, t))).collect()
}

/// Seed 002's example license, as LicenseSpring's management API answers it.
fn seed_license() -> Value {
    serde_json::from_str(SEED_LICENSE).unwrap()
}

const SEED_LICENSE: &str = r##"{
        "id": 1593781720493289, "status": "inactive", "floating_in_use_devices": 0,
        "customer": {"id": 620, "total_orders": 14, "total_licenses": 45,
            "labels": [{"id": 3, "label_id": 8, "label": "customer", "color": "#ff9f43"},
                       {"id": 53, "label_id": 34, "label": "loyal", "color": "#3a0cd4"}],
            "email": "tc@tc.com", "first_name": "", "last_name": "", "company_name": "", "phone": "", "reference": "",
            "address": "", "postcode": "", "city": "", "country": "", "state": "", "clabels_all": "customerloyal",
            "cognito_user_pool_id": "", "metadata": {}, "company": 277, "license_user": null, "clabels": [8, 34]},
        "product_features": [{"id": 1596179495925542,
            "product_feature": {"id": 173, "created_at": "2020-09-14T11:17:43Z", "updated_at": "2020-09-14T11:17:43Z",
                "name": "Feature 3", "code": "f3", "is_deleted": false, "feature_type": "consumption",
                "max_consumption": 2, "allow_overages": false, "max_overages": 0, "reset_consumption": false,
                "consumption_period": null, "metadata": {}},
            "max_consumption": 30, "total_consumptions": 0, "expiry_date": null, "allow_overages": false,
            "max_overages": 99, "reset_consumption": false, "consumption_period": null, "metadata": {}}],
        "product_custom_fields": [],
        "license_users": [{"id": 1240, "last_login": null, "email": "example@email.com|uss1",
            "true_email": "example@email.com", "created_at": "2020-08-12T08:52:32Z", "updated_at": "2020-08-12T09:01:24Z",
            "is_admin": {}, "is_active": true, "is_staff": false, "first_name": "John", "last_name": "Doe",
            "phone_number": "00385913109161", "subscribed_to_email": false, "acquired_consent": null, "is_manager": false,
            "initial_password": "4q3dg7!_", "is_initial_password": true}],
        "order_store_id": "d2d2dce02c844d4492c9d48758aa143a", "active_up_to_date_devices": 0, "total_active_devices": 0,
        "product": {"id": 1584723961091234, "product_name": "MCH"},
        "created_at": "2020-07-03T13:08:40Z", "updated_at": "2020-10-15T13:40:26Z", "license_key": null, "active": false,
        "enabled": true, "time_activated": "2020-10-10T14:42:16Z", "time_disabled": "2020-08-14T07:26:27Z",
        "max_activations": 6, "times_activated": 0, "valid_duration": null, "validity_period": "2020-09-30",
        "license_type": "perpetual", "enable_maintenance_period": true, "maintenance_duration": "3m",
        "maintenance_period": "2021-01-10", "is_trial": true, "max_consumptions": 0, "total_consumptions": 0,
        "subscription_id": null, "last_check": null, "prevent_vm": true, "allow_overages": false, "max_overages": 0,
        "reset_consumption": false, "consumption_period": null, "trial_days": 0, "is_floating": false,
        "is_floating_cloud": true, "floating_users": 1, "note": null, "max_license_users": 0, "transfer_count": 0,
        "floating_timeout": null, "max_transfers": 0, "is_air_gapped": false, "can_borrow": false, "max_borrow_time": 0,
        "is_bundle": false, "metadata": {}, "order": 1593781720493279, "order_item": 1593781720493299,
        "disabled_user": null, "last_activation_device": null
    }"##;

/// A license like the seed's, changed by `changes`.
fn like_seed(changes: Value) -> Value {
    let mut l = seed_license();
    for (k, v) in changes.as_object().unwrap() {
        l[k] = v.clone();
    }
    l
}

const KEY_2: &str = "7KQ2M-9XHJD-R4TWP-C8NVB";
const KEY_3: &str = "M3Z8Q-WN4KT-J6YRX-2PHDC";
const KEY_4: &str = "F9LV2-QK7XS-N3RTB-H8WJD";
const KEY_5: &str = "T4NB8-ZQ2RK-W7HPL-X3MVC";

/// Two pages of List Licenses: the seed's license; a key-based one of the same customer; a consumption license of
/// another customer on the same order as the second; on page two a floating one of another product (with a short
/// code), and a disabled time-limited one without customer or order, with a custom field.
fn pages() -> Vec<Value> {
    let other_customer = json!({"id": 621, "email": "Ann@Example.com", "first_name": "Ann", "last_name": "Lee",
        "company_name": "Lee & Co", "phone": "+1 555", "reference": "crm-77", "address": "1 Main St", "postcode": "9000",
        "city": "Ghent", "country": "BE", "state": "", "labels": [], "metadata": {"tier": "gold"}});
    let pro = json!({"id": 1584723961099999_i64, "product_name": "MCH Pro", "short_code": "mch-pro"});
    let page1 = json!({"count": 5, "next": "https://saas.licensespring.com/api/v1/licenses/?limit=3&offset=3",
        "previous": null, "results": [
        seed_license(),
        like_seed(json!({"id": 1593781720493300_i64, "license_key": KEY_2, "license_users": [], "status": "active",
            "active": true, "times_activated": 2, "total_active_devices": 2, "max_activations": 3, "is_trial": false,
            "is_floating_cloud": false, "validity_period": null, "order": 1593781720493400_i64,
            "order_store_id": "INV-1002", "order_item": 1593781720493401_i64, "product_features": [],
            "enable_maintenance_period": false, "maintenance_duration": null, "maintenance_period": null,
            "note": "reseller deal", "metadata": {"seats": "3"}, "transfer_count": 1, "max_transfers": 4})),
        like_seed(json!({"id": 1593781720493310_i64, "license_key": KEY_3, "license_users": [], "status": "active",
            "customer": other_customer, "license_type": "consumption", "max_consumptions": 1000,
            "total_consumptions": 250, "allow_overages": true, "max_overages": 50, "reset_consumption": true,
            "consumption_period": "monthly", "times_activated": 1, "is_trial": false, "is_floating_cloud": false,
            "validity_period": null, "enable_maintenance_period": false, "maintenance_duration": null,
            "maintenance_period": null, "order": 1593781720493400_i64, "order_store_id": "INV-1002",
            "last_check": "2024-03-01T10:00:00Z"})),
    ]});
    let page2 = json!({"count": 5, "next": null,
        "previous": "https://saas.licensespring.com/api/v1/licenses/?limit=3", "results": [
        like_seed(json!({"id": 1593781720493320_i64, "license_key": KEY_4, "license_users": [], "status": "active",
            "product": pro, "customer": {"id": 622, "email": "ops@example.org", "labels": []},
            "is_floating_cloud": true, "floating_users": 5, "floating_timeout": 15, "can_borrow": true,
            "max_borrow_time": 48, "times_activated": 1, "is_trial": false, "license_type": "subscription",
            "valid_duration": "1y", "validity_period": "2031-02-03", "time_activated": "2030-02-03T09:00:00Z",
            "enable_maintenance_period": false, "maintenance_duration": null, "maintenance_period": null,
            "product_features": [{"product_feature": {"id": 180, "code": "export", "name": "Export",
                "feature_type": "activation"}, "max_consumption": 0, "total_consumptions": 0}],
            "order": 1593781720493500_i64, "order_store_id": "INV-1003", "order_item": 1593781720493501_i64})),
        like_seed(json!({"id": 1593781720493330_i64, "license_key": KEY_5, "license_users": [], "status": "disabled",
            "enabled": false, "time_disabled": "2024-05-05T05:05:05Z", "customer": null, "order": null,
            "order_store_id": null, "order_item": null, "license_type": "time-limited", "validity_period": "2032-01-01",
            "is_trial": false, "is_floating_cloud": false, "times_activated": 0, "time_activated": null,
            "product_features": [], "enable_maintenance_period": false, "maintenance_duration": null,
            "maintenance_period": null,
            "product_custom_fields": [{"name": "edition", "value": "pro", "default_value": "lite"}]})),
    ]});
    vec![page1, page2]
}

fn import(db: &str, file: &std::path::Path) -> (bool, Value, String) {
    let (ok, stdout, stderr) = run(&["import", "licensespring", "--db", db, file.to_str().unwrap(), "--json"]);
    (ok, serde_json::from_str(stdout.trim()).unwrap_or(Value::Null), stderr)
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> std::path::PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, serde_json::to_string_pretty(v).unwrap()).unwrap();
    f
}

/// Everything the management API shows of the data an import brings, for comparing two moments.
fn everything(call: &dyn Fn(&str) -> Value) -> Value {
    json!({
        "licenses": call("/api/v1/licenses?limit=100&order_by=id")["results"],
        "customers": call("/api/v1/customers?limit=100&order_by=id")["results"],
        "orders": call("/api/v1/orders?limit=100&order_by=id")["results"],
        "products": call("/api/v1/products?limit=100&order_by=id")["results"],
        "features": call("/api/v1/product-features?limit=100&order_by=id")["results"],
        "events": call("/api/v1/events?limit=100")["count"],
    })
}

fn pages_import_with_everything_and_again_changes_nothing(db: &str) {
    assert!(run(&["migrate", "--db", db]).0);
    let dir = temp_dir(&format!("ls-import-{}", db.len()));
    let file = write(&dir, "licenses.json", &json!(pages()));
    let (ok, s, stderr) = import(db, &file);
    assert!(ok, "{stderr}");
    assert_eq!(
        (&s["format"], &s["pages"], &s["licenses"], &s["count"]),
        (&json!("a JSON array of pages"), &json!(2), &json!(5), &json!(5)),
        "{s}"
    );
    assert_eq!((&s["created"], &s["skipped"], &s["unchanged"]), (&json!(5), &json!(0), &json!(0)), "{s} {stderr}");
    assert_eq!((&s["customers_created"], &s["customers_unchanged"]), (&json!(3), &json!(1)), "{s}");
    assert_eq!(
        (&s["orders_created"], &s["products_created"], &s["features_created"]),
        (&json!(3), &json!(2), &json!(2))
    );
    // The seed's license says "inactive" with a validity period in the past: licensd says expired, and warns.
    assert!(stderr.contains("status \"inactive\" at LicenseSpring; licensd derives \"expired\""), "{stderr}");
    assert!(stderr.contains("came without a short code: created as \"mch\""), "{stderr}");

    let token = admin_token(db, "checker");
    let server = serve(db).start();
    let call = |path: &str| {
        let r = request("GET", &format!("{}{path}", server.url)).bearer(&token).send();
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.json()
    };
    // The seed's license: its id, no key (user-based), limits, dates, counters, maintenance, its user.
    let l = call("/api/v1/licenses/1593781720493289");
    for (field, value) in [
        ("license_key", Value::Null),
        ("max_activations", json!(6)),
        ("times_activated", json!(0)),
        ("license_type", json!("perpetual")),
        ("validity_period", json!("2020-09-30")),
        ("status", json!("expired")),
        ("enable_maintenance_period", json!(true)),
        ("maintenance_duration", json!("3m")),
        ("maintenance_period", json!("2021-01-10")),
        ("is_trial", json!(true)),
        ("prevent_vm", json!(true)),
        ("is_floating_cloud", json!(true)),
        ("floating_users", json!(1)),
        ("floating_timeout", json!(30)),
        ("order_store_id", json!("d2d2dce02c844d4492c9d48758aa143a")),
        ("order_item", json!(1593781720493299_i64)),
        ("time_activated", json!("2020-10-10T14:42:16Z")),
        ("time_disabled", Value::Null),
        ("created_at", json!("2020-07-03T13:08:40Z")),
    ] {
        assert_eq!(l[field], value, "{field}: {l}");
    }
    assert_eq!(l["product"]["short_code"], "mch");
    assert_eq!(l["customer"]["email"], "tc@tc.com");
    let labels: Vec<&Value> = l["customer"]["labels"].as_array().unwrap().iter().map(|x| &x["label"]).collect();
    assert_eq!(labels, [&json!("customer"), &json!("loyal")]);
    let f = &l["product_features"][0];
    assert_eq!((&f["code"], &f["max_consumption"], &f["max_overages"]), (&json!("f3"), &json!(30), &json!(99)));
    assert_eq!(l["license_users"][0]["true_email"], "example@email.com");
    assert_eq!(l["license_users"][0]["first_name"], "John");

    // The key-based one of the same customer, found by its key; the shared customer is one customer.
    let by_key = call(&format!("/api/v1/licenses?license_key={KEY_2}"));
    assert_eq!(by_key["count"], 1);
    let l2 = &by_key["results"][0];
    assert_eq!(l2["id"], 1593781720493300_i64);
    assert_eq!(
        (&l2["max_activations"], &l2["times_activated"], &l2["status"]),
        (&json!(3), &json!(2), &json!("active"))
    );
    assert_eq!(
        (&l2["transfer_count"], &l2["max_transfers"], &l2["note"]),
        (&json!(1), &json!(4), &json!("reseller deal"))
    );
    assert_eq!(l2["metadata"], json!({"seats": "3"}));
    assert_eq!(l2["customer"]["id"], l["customer"]["id"]);
    assert_eq!(call("/api/v1/customers?email=tc@tc.com")["count"], 1);

    // The consumption license: its counter and limits, its customer with every field, its order shared with #2.
    let l3 = call("/api/v1/licenses/1593781720493310");
    for (field, value) in [
        ("license_type", json!("consumption")),
        ("max_consumptions", json!(1000)),
        ("total_consumptions", json!(250)),
        ("allow_overages", json!(true)),
        ("max_overages", json!(50)),
        ("reset_consumption", json!(true)),
        ("consumption_period", json!("monthly")),
        ("last_check", json!("2024-03-01T10:00:00Z")),
    ] {
        assert_eq!(l3[field], value, "{field}: {l3}");
    }
    let c = &l3["customer"];
    assert_eq!(
        (&c["email"], &c["first_name"], &c["company_name"], &c["reference"], &c["city"], &c["metadata"]),
        (
            &json!("Ann@Example.com"),
            &json!("Ann"),
            &json!("Lee & Co"),
            &json!("crm-77"),
            &json!("Ghent"),
            &json!({"tier": "gold"})
        )
    );
    assert_eq!(l3["order"], l2["order"]);
    let order = call("/api/v1/orders?store_id=INV-1002");
    assert_eq!(order["count"], 1);
    let in_order: Vec<&Value> = order["results"][0]["licenses"].as_array().unwrap().iter().map(|x| &x["id"]).collect();
    assert_eq!(in_order, [&json!(1593781720493300_i64), &json!(1593781720493310_i64)]);

    // The floating one, of the product that came with its short code, with its feature.
    let l4 = call(&format!("/api/v1/licenses?license_key={KEY_4}"))["results"][0].clone();
    for (field, value) in [
        ("is_floating_cloud", json!(true)),
        ("is_floating", json!(false)),
        ("floating_users", json!(5)),
        ("floating_timeout", json!(15)),
        ("can_borrow", json!(true)),
        ("max_borrow_time", json!(48)),
        ("license_type", json!("subscription")),
        ("valid_duration", json!("1y")),
        ("validity_period", json!("2031-02-03")),
    ] {
        assert_eq!(l4[field], value, "{field}: {l4}");
    }
    assert_eq!(l4["product"]["short_code"], "mch-pro");
    assert_eq!(l4["product_features"][0]["code"], "export");
    assert_eq!(l4["customer"]["email"], "ops@example.org");

    // The disabled one: no customer, no order, its custom field on the product with the license's value.
    let l5 = call("/api/v1/licenses/1593781720493330");
    assert_eq!(
        (&l5["status"], &l5["enabled"], &l5["customer"], &l5["order"]),
        (&json!("disabled"), &json!(false), &Value::Null, &Value::Null)
    );
    assert_eq!(l5["time_disabled"], "2024-05-05T05:05:05Z");
    assert_eq!(l5["product_custom_fields"][0]["name"], "edition");
    assert_eq!(
        (&l5["product_custom_fields"][0]["value"], &l5["product_custom_fields"][0]["default_value"]),
        (&json!("pro"), &json!("lite"))
    );
    let products = call("/api/v1/products?order_by=short_code");
    let codes: Vec<&Value> = products["results"].as_array().unwrap().iter().map(|p| &p["short_code"]).collect();
    assert_eq!(codes, [&json!("mch"), &json!("mch-pro")]);
    assert_eq!(products["results"][0]["custom_fields"][0]["default_value"], "lite");
    assert_eq!(call("/api/v1/licenses?product__short_code=mch")["count"], 4);
    assert_eq!(call("/api/v1/customers")["count"], 3);
    assert_eq!(call("/api/v1/orders")["count"], 3);

    // The import is in the audit log under its own name.
    assert_eq!(call("/api/v1/events?action=license.imported")["count"], 5);
    assert_eq!(call("/api/v1/events?action=license.imported&actor=licensespring-import")["count"], 5);

    // Again: nothing created, nothing written.
    let before = (counts(db), everything(&call));
    let (ok, s, stderr) = import(db, &file);
    assert!(ok, "{stderr}");
    assert_eq!(
        (&s["created"], &s["updated"], &s["unchanged"], &s["skipped"]),
        (&json!(0), &json!(0), &json!(5), &json!(0)),
        "{s}"
    );
    assert_eq!(
        (&s["customers_created"], &s["orders_created"], &s["products_created"], &s["features_created"]),
        (&json!(0), &json!(0), &json!(0), &json!(0))
    );
    assert_eq!((counts(db), everything(&call)), before, "a second import changes nothing");

    // Life goes on: new licenses get ids after the imported ones, on both backends.
    let r = request("POST", &format!("{}/api/v1/licenses", server.url))
        .bearer(&token)
        .json(&json!({"product": "mch"}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["id"].as_i64().unwrap() > 1593781720493330_i64, "{}", r.text);
}
sqlite_and_postgres!(pages_import_with_everything_and_again_changes_nothing: imports_everything_sqlite, imports_everything_postgres);

fn a_newer_export_updates_what_licensd_left_alone(db: &str) {
    assert!(run(&["migrate", "--db", db]).0);
    let dir = temp_dir(&format!("ls-newer-{}", db.len()));
    let (ok, _, stderr) = import(db, &write(&dir, "first.json", &json!(pages())));
    assert!(ok, "{stderr}");
    let token = admin_token(db, "checker");
    let server = serve(db).start();
    let call = |method: &str, path: &str| request(method, &format!("{}{path}", server.url)).bearer(&token);
    // licensd changes license #…300 (a vendor's edit) and the consumption license's customer.
    let r = call("PATCH", "/api/v1/licenses/1593781720493300").json(&json!({"note": "edited in licensd"})).send();
    assert_eq!(r.status, 200, "{}", r.text);
    // LicenseSpring, meanwhile: more activations on both key-based licenses, a new email for customer 621.
    let mut newer = pages();
    newer[0]["results"][1]["times_activated"] = json!(3);
    newer[0]["results"][2]["times_activated"] = json!(2);
    newer[0]["results"][2]["customer"]["phone"] = json!("+1 556");
    let (ok, s, stderr) = import(db, &write(&dir, "newer.json", &json!(newer)));
    assert!(ok, "{stderr}");
    assert_eq!(
        (&s["created"], &s["updated"], &s["kept"], &s["unchanged"]),
        (&json!(0), &json!(1), &json!(1), &json!(3)),
        "{s}"
    );
    assert_eq!(s["customers_updated"], 1, "{s}");
    assert!(stderr.contains("license #1593781720493300: changed in licensd since it was imported"), "{stderr}");
    let kept = call("GET", "/api/v1/licenses/1593781720493300").send().json();
    assert_eq!((&kept["note"], &kept["times_activated"]), (&json!("edited in licensd"), &json!(2)));
    let updated = call("GET", "/api/v1/licenses/1593781720493310").send().json();
    assert_eq!(updated["times_activated"], 2);
    assert_eq!(updated["customer"]["phone"], "+1 556");
    let history = call("GET", "/api/v1/events?license=1593781720493310&action=license.updated").send().json();
    assert_eq!(history["results"][0]["actor"], "licensespring-import");
    assert_eq!(history["results"][0]["after"]["times_activated"], 2);
    // And the newer file once more: nothing.
    let (ok, s, _) = import(db, &write(&dir, "newer.json", &json!(newer)));
    assert!(ok);
    assert_eq!((&s["updated"], &s["kept"], &s["unchanged"]), (&json!(0), &json!(1), &json!(4)), "{s}");
}
sqlite_and_postgres!(a_newer_export_updates_what_licensd_left_alone: newer_export_sqlite, newer_export_postgres);

fn one_page_and_json_lines_read_as_the_array_does(db: &str) {
    assert!(run(&["migrate", "--db", db]).0);
    // The vendor made the product first, with the short code its applications send: the pages give only the
    // name, and the import uses it.
    let (ok, _, stderr) = run(&["product", "create", "--db", db, "--name", "MCH", "--short-code", "mch-desktop"]);
    assert!(ok, "{stderr}");
    let dir = temp_dir(&format!("ls-shapes-{}", db.len()));
    let p = pages();
    let lines = dir.join("pages.jsonl");
    std::fs::write(&lines, p.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
    let (ok, s, stderr) = import(db, &lines);
    assert!(ok, "{stderr}");
    assert_eq!(
        (&s["format"], &s["pages"], &s["created"]),
        (&json!("JSON lines, one page a line"), &json!(2), &json!(5)),
        "{s}"
    );
    assert_eq!(s["products_created"], 1, "only MCH Pro, which has a short code of its own: {s}");
    assert!(!stderr.contains("came without a short code"), "{stderr}");
    assert_eq!(count(db, "licenses l JOIN products p ON p.id = l.product_id WHERE p.short_code = 'mch-desktop'"), 4);
    // One page alone (the first): already there. LicenseSpring counted 5, the page holds 3: the import says so.
    let (ok, s, stderr) = import(db, &write(&dir, "page1.json", &p[0]));
    assert!(ok, "{stderr}");
    assert_eq!((&s["format"], &s["licenses"], &s["unchanged"]), (&json!("one page"), &json!(3), &json!(3)), "{s}");
    assert!(stderr.contains("LicenseSpring counted 5 licenses, the file holds 3"), "{stderr}");
    // From stdin too.
    let (ok, stdout, stderr) =
        crate::common::licensd(&["import", "licensespring", "--db", db, "-"]).stdin(&p[1].to_string()).run();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("read 2 licenses from 1 page (one page)") && stdout.contains("2 unchanged"), "{stdout}");
}
sqlite_and_postgres!(one_page_and_json_lines_read_as_the_array_does: shapes_sqlite, shapes_postgres);

fn a_malformed_file_is_refused_whole_and_a_refused_license_skipped(db: &str) {
    assert!(run(&["migrate", "--db", db]).0);
    let dir = temp_dir(&format!("ls-bad-{}", db.len()));
    let empty = counts(db);
    let mut bad = pages();
    bad[1]["results"][0]["max_activations"] = json!("six");
    for (name, text, says) in [
        (
            "bad-type.json",
            json!(bad).to_string(),
            "page 2, results[0] (license 1593781720493320): max_activations: invalid type: string \"six\", expected i64",
        ),
        ("truncated.json", json!(pages()).to_string()[..500].to_string(), "is not JSON"),
        ("licenses.json", json!(pages()[0]["results"]).to_string(), "page 1: this is a license, not a page"),
        ("empty.json", String::new(), "the file is empty"),
        ("no-results.json", json!({"count": 0}).to_string(), "page 1: no \"results\""),
    ] {
        let f = dir.join(name);
        std::fs::write(&f, &text).unwrap();
        let (ok, stdout, stderr) = run(&["import", "licensespring", "--db", db, f.to_str().unwrap()]);
        assert!(!ok, "{name}: {stdout}");
        assert!(stderr.contains(says) && stderr.contains("nothing was imported"), "{name}: {stderr}");
        assert_eq!(counts(db), empty, "{name}: nothing written");
    }
    let (ok, _, stderr) = run(&["import", "licensespring", "--db", db, dir.join("absent.json").to_str().unwrap()]);
    assert!(!ok && stderr.contains("cannot read"), "{stderr}");

    // A license licensd refuses is skipped whole (exit status 1); the others come in.
    let mut some_bad = pages();
    some_bad[0]["results"][1]["license_key"] = json!("has space");
    some_bad[1]["results"][0]["max_borrow_time"] = json!(100_000);
    let (ok, s, stderr) = import(db, &write(&dir, "some-bad.json", &json!(some_bad)));
    assert!(!ok, "skipped licenses make the exit status 1");
    assert_eq!((&s["created"], &s["skipped"]), (&json!(3), &json!(2)), "{s}");
    assert!(stderr.contains("page 1, results[1]: license #1593781720493300: license_key"), "{stderr}");
    assert!(
        stderr.contains("page 2, results[0]: license #1593781720493320: max_borrow_time: 100000 is outside"),
        "{stderr}"
    );
    assert_eq!(count(db, "licenses"), 3);
    assert_eq!(count(db, "licenses WHERE id = 1593781720493320"), 0);
    // A license whose key another license holds already: skipped, nothing of it written.
    let (ok, s, stderr) = import(db, &write(&dir, "fixed.json", &json!(pages())));
    assert!(ok, "{stderr}");
    assert_eq!((&s["created"], &s["unchanged"]), (&json!(2), &json!(3)), "{s}");
    let mut clash = pages();
    clash[0]["results"][1]["id"] = json!(1593781720499999_i64);
    let before = counts(db);
    let (ok, s, stderr) = import(db, &write(&dir, "clash.json", &json!(clash)));
    assert!(!ok);
    assert_eq!(s["skipped"], 1, "{s}");
    assert!(stderr.contains("its key belongs to license #1593781720493300 already"), "{stderr}");
    assert_eq!(counts(db), before);
}
sqlite_and_postgres!(a_malformed_file_is_refused_whole_and_a_refused_license_skipped: malformed_sqlite, malformed_postgres);
