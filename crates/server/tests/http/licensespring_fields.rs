//! The management API's license object has every field of seed 002's example (LicenseSpring's List Licenses),
//! each meaning what LicenseSpring's does: durations counted from the first activation, consumption counters
//! reset each period, a cap on license users, product custom fields, and the facts read from devices, orders
//! and the audit log.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{TestApp, assert_error};

backend_tests!(
    the_license_object_has_every_field_of_seed_002,
    durations_set_their_dates_at_the_first_activation,
    a_date_and_a_duration_replace_each_other_and_are_not_given_together,
    enable_maintenance_period_ends_the_maintenance_or_needs_one,
    the_license_counter_starts_again_each_consumption_period,
    max_license_users_caps_the_users_a_license_is_assigned_to,
    product_custom_fields_carry_the_defaults_and_the_licenses_values,
    devices_orders_and_disabling_show_as_their_facts,
    is_floating_is_licensesprings_on_premises_server_which_licensd_has_not,
);

/// Every field of the license in seed 002's example, in its order.
const SEED_002_FIELDS: &[&str] = &[
    "id",
    "status",
    "floating_in_use_devices",
    "customer",
    "product_features",
    "product_custom_fields",
    "license_users",
    "order_store_id",
    "active_up_to_date_devices",
    "total_active_devices",
    "product",
    "created_at",
    "updated_at",
    "license_key",
    "active",
    "enabled",
    "time_activated",
    "time_disabled",
    "max_activations",
    "times_activated",
    "valid_duration",
    "validity_period",
    "license_type",
    "enable_maintenance_period",
    "maintenance_duration",
    "maintenance_period",
    "is_trial",
    "max_consumptions",
    "total_consumptions",
    "subscription_id",
    "last_check",
    "prevent_vm",
    "allow_overages",
    "max_overages",
    "reset_consumption",
    "consumption_period",
    "trial_days",
    "is_floating",
    "is_floating_cloud",
    "floating_users",
    "note",
    "max_license_users",
    "transfer_count",
    "floating_timeout",
    "max_transfers",
    "is_air_gapped",
    "can_borrow",
    "max_borrow_time",
    "is_bundle",
    "metadata",
    "order",
    "order_item",
    "disabled_user",
    "last_activation_device",
];

/// The fields of a license's feature in seed 002's example.
const SEED_002_FEATURE_FIELDS: &[&str] = &[
    "id",
    "product_feature",
    "max_consumption",
    "total_consumptions",
    "expiry_date",
    "allow_overages",
    "max_overages",
    "reset_consumption",
    "consumption_period",
    "metadata",
];

/// A client API call with this key on a device.
async fn client(app: &TestApp, path: &str, key: &str, hw: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"license_key": key, "hardware_id": hw, "product": "app"});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/client/{path}", app.url))
        .json(&body)
        .send()
        .await
        .expect("client request");
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn license(app: &TestApp, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/licenses/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

fn key(v: &Value) -> String {
    v["license_key"].as_str().expect("license_key").to_string()
}

/// The date `months` calendar months after the `YYYY-MM-DD…` timestamp `at` (day clamped to the month's end).
fn months_after(at: &str, months: u32) -> String {
    let (y, m, d): (i32, u32, u32) = (at[0..4].parse().unwrap(), at[5..7].parse().unwrap(), at[8..10].parse().unwrap());
    let total = y * 12 + i32::try_from(m).unwrap() - 1 + i32::try_from(months).unwrap();
    let (y, m) = (total.div_euclid(12), u32::try_from(total.rem_euclid(12)).unwrap() + 1);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let last = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    format!("{y:04}-{m:02}-{:02}", d.min(last))
}

async fn the_license_object_has_every_field_of_seed_002(app: TestApp) {
    let p = app.product("app").await;
    let f = app
        .post(
            "/api/v1/product-features",
            json!({"product": p, "code": "f3", "name": "Feature 3", "feature_type": "consumption",
                   "max_consumption": 2, "reset_consumption": true, "consumption_period": "monthly",
                   "metadata": {"k": 1}}),
        )
        .await;
    assert_eq!(f.status, 201, "{}", f.text);
    let t = app.template(p, "std", json!({"features": [{"code": "f3", "max_consumption": 30}]})).await;
    let l = app.license(json!({"license_template": t})).await;
    for field in SEED_002_FIELDS {
        assert!(l.get(*field).is_some(), "{field} missing: {l}");
    }
    for field in SEED_002_FEATURE_FIELDS {
        assert!(l["product_features"][0].get(*field).is_some(), "product_features[0].{field} missing: {l}");
    }
    // Each at what LicenseSpring shows for a license that set none of them.
    for (field, value) in [
        ("product_custom_fields", json!([])),
        ("active_up_to_date_devices", json!(0)),
        ("valid_duration", Value::Null),
        ("enable_maintenance_period", json!(false)),
        ("maintenance_duration", Value::Null),
        ("reset_consumption", json!(false)),
        ("consumption_period", Value::Null),
        ("max_license_users", json!(0)),
        ("order_item", Value::Null),
        ("disabled_user", Value::Null),
        ("last_activation_device", Value::Null),
        ("is_floating", json!(false)),
    ] {
        assert_eq!(l[field], value, "{field}: {l}");
    }
    let feature = &l["product_features"][0];
    assert_eq!(
        (
            &feature["max_consumption"],
            &feature["reset_consumption"],
            &feature["consumption_period"],
            &feature["metadata"]
        ),
        (&json!(30), &json!(true), &json!("monthly"), &json!({"k": 1}))
    );
    // The list shows them too, and the OpenAPI document describes each (schemathesis holds the answers to it).
    let listed = &app.get("/api/v1/licenses").await.body["results"][0];
    for field in SEED_002_FIELDS {
        assert!(listed.get(*field).is_some(), "{field} missing from the list: {listed}");
    }
    let doc = app.call(reqwest::Method::GET, "/openapi.json", None, None).await.body;
    let schemas = &doc["components"]["schemas"];
    for field in SEED_002_FIELDS {
        assert!(schemas["License"]["properties"].get(*field).is_some(), "License schema lacks {field}");
    }
    for field in [
        "valid_duration",
        "maintenance_duration",
        "enable_maintenance_period",
        "reset_consumption",
        "consumption_period",
        "max_license_users",
        "product_custom_fields",
    ] {
        assert!(schemas["LicenseInput"]["properties"].get(field).is_some(), "LicenseInput schema lacks {field}");
    }
    assert!(schemas["ProductInput"]["properties"].get("custom_fields").is_some());
    assert_eq!(schemas["CalendarDuration"]["pattern"], "^[1-9][0-9]{0,5}[dmy]$", "{}", schemas["CalendarDuration"]);
}

async fn durations_set_their_dates_at_the_first_activation(app: TestApp) {
    app.product("app").await;
    let l = app
        .license(json!({"product": "app", "license_type": "time-limited", "valid_duration": "1m",
                        "maintenance_duration": "3M", "max_activations": 2}))
        .await;
    // Not activated yet: no dates, the durations waiting, the maintenance enabled.
    assert_eq!(
        (&l["validity_period"], &l["valid_duration"], &l["maintenance_period"], &l["maintenance_duration"]),
        (&Value::Null, &json!("1m"), &Value::Null, &json!("3m"))
    );
    assert_eq!((&l["enable_maintenance_period"], &l["status"]), (&json!(true), &json!("inactive")));

    let (status, body) = client(&app, "activate", &key(&l), "pc-1", json!({})).await;
    assert_eq!(status, 201, "{body}");
    let l = license(&app, id(&l)).await;
    let at = l["time_activated"].as_str().unwrap().to_string();
    assert_eq!(l["validity_period"], months_after(&at, 1), "{l}");
    assert_eq!(l["maintenance_period"], months_after(&at, 3), "{l}");
    assert_eq!((&l["valid_duration"], &l["maintenance_duration"]), (&json!("1m"), &json!("3m")));
    assert_eq!(body["license"]["validity_period"], l["validity_period"], "the application sees the date: {body}");
    assert_eq!(body["license"]["maintenance_period"], l["maintenance_period"]);

    // A second activation moves nothing: the dates count from the first.
    app.patch(&format!("/api/v1/licenses/{}", id(&l)), json!({"validity_period": "2040-01-01"})).await;
    app.patch(&format!("/api/v1/licenses/{}", id(&l)), json!({"valid_duration": "2y"})).await;
    let (status, _) = client(&app, "activate", &key(&l), "pc-2", json!({})).await;
    assert_eq!(status, 201);
    let after = license(&app, id(&l)).await;
    assert_eq!(after["validity_period"], months_after(&at, 24), "2y from the first activation: {after}");
    assert_eq!(after["time_activated"], at);

    // A never-activated license given a duration by PATCH waits for its activation; one with a date keeps none.
    let other = app.license(json!({"product": "app", "validity_period": "2031-05-05"})).await;
    let r = app.patch(&format!("/api/v1/licenses/{}", id(&other)), json!({"valid_duration": "10d"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.body["validity_period"], &r.body["valid_duration"]), (&Value::Null, &json!("10d")));
}

async fn a_date_and_a_duration_replace_each_other_and_are_not_given_together(app: TestApp) {
    app.product("app").await;
    for (body, pointer) in [
        (json!({"valid_duration": "1y", "validity_period": "2030-01-01"}), "/valid_duration"),
        (json!({"maintenance_duration": "1y", "maintenance_period": "2030-01-01"}), "/maintenance_duration"),
        (json!({"valid_duration": "3w"}), "/valid_duration"),
        (json!({"valid_duration": "0d"}), "/valid_duration"),
        (json!({"maintenance_duration": "101y"}), "/maintenance_duration"),
        (json!({"valid_duration": 30}), "/valid_duration"),
        (json!({"license_type": "time-limited"}), "/validity_period"),
        (json!({"max_license_users": -1}), "/max_license_users"),
    ] {
        let mut b = body.clone();
        b["product"] = json!("app");
        let r = app.post("/api/v1/licenses", b).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["errors"][0]["source"]["pointer"], pointer, "{body}: {}", r.text);
    }
    assert_eq!(app.count("licenses").await, 0, "a refused body writes nothing");

    let l = app.license(json!({"product": "app", "valid_duration": "30d", "maintenance_duration": "1y"})).await;
    let path = format!("/api/v1/licenses/{}", id(&l));
    // A date given replaces the duration; a duration given back clears the date until the first activation.
    let r = app.patch(&path, json!({"validity_period": "2030-06-01", "maintenance_period": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["validity_period"], &r.body["valid_duration"], &r.body["maintenance_period"]),
        (&json!("2030-06-01"), &Value::Null, &Value::Null)
    );
    assert_eq!((&r.body["maintenance_duration"], &r.body["enable_maintenance_period"]), (&Value::Null, &json!(false)));
    let r = app.patch(&path, json!({"valid_duration": "2y"})).await;
    assert_eq!((&r.body["validity_period"], &r.body["valid_duration"]), (&Value::Null, &json!("2y")));
    let r = app.patch(&path, json!({"valid_duration": null})).await;
    assert_eq!(r.body["valid_duration"], Value::Null, "{}", r.text);
}

async fn enable_maintenance_period_ends_the_maintenance_or_needs_one(app: TestApp) {
    app.product("app").await;
    let r = app.post("/api/v1/licenses", json!({"product": "app", "enable_maintenance_period": true})).await;
    let e = assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/enable_maintenance_period");
    let r = app
        .post(
            "/api/v1/licenses",
            json!({"product": "app", "enable_maintenance_period": false, "maintenance_duration": "3m"}),
        )
        .await;
    assert_error(&r, 400, "INVALID_FIELD");
    let l = app
        .license(json!({"product": "app", "enable_maintenance_period": true, "maintenance_period": "2030-02-03"}))
        .await;
    assert_eq!((&l["enable_maintenance_period"], &l["maintenance_period"]), (&json!(true), &json!("2030-02-03")));
    let path = format!("/api/v1/licenses/{}", id(&l));
    let r = app.patch(&path, json!({"maintenance_duration": "6m"})).await;
    assert_eq!((&r.body["maintenance_period"], &r.body["maintenance_duration"]), (&Value::Null, &json!("6m")));
    let r = app.patch(&path, json!({"enable_maintenance_period": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["enable_maintenance_period"], &r.body["maintenance_period"], &r.body["maintenance_duration"]),
        (&json!(false), &Value::Null, &Value::Null)
    );
    // `true` on a license that has a maintenance already changes nothing.
    app.patch(&path, json!({"maintenance_period": "2031-01-01"})).await;
    let r = app.patch(&path, json!({"enable_maintenance_period": true})).await;
    assert_eq!(
        (&r.body["enable_maintenance_period"], &r.body["maintenance_period"]),
        (&json!(true), &json!("2031-01-01"))
    );
}

async fn the_license_counter_starts_again_each_consumption_period(app: TestApp) {
    app.product("app").await;
    let r = app.post("/api/v1/licenses", json!({"product": "app", "reset_consumption": true})).await;
    let e = assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/consumption_period");
    let r = app.post("/api/v1/licenses", json!({"product": "app", "consumption_period": "fortnightly"})).await;
    assert_eq!(r.status, 400, "{}", r.text);

    let l = app
        .license(json!({"product": "app", "license_type": "consumption", "max_consumptions": 10,
                        "reset_consumption": true, "consumption_period": "daily"}))
        .await;
    assert_eq!((&l["reset_consumption"], &l["consumption_period"]), (&json!(true), &json!("daily")));
    let k = key(&l);
    assert_eq!(client(&app, "activate", &k, "pc", json!({})).await.0, 201);
    let (status, body) = client(&app, "consumption", &k, "pc", json!({"consumptions": 10})).await;
    assert_eq!((status, &body["license"]["total_consumptions"]), (200, &json!(10)), "{body}");
    let (status, body) = client(&app, "consumption", &k, "pc", json!({"consumptions": 1})).await;
    assert_eq!((status, &body["code"]), (409, &json!("CONSUMPTION_LIMIT")), "{body}");
    assert_eq!(license(&app, id(&l)).await["total_consumptions"], 10);

    // A day cannot pass inside a test: the last consumption is moved back into yesterday instead.
    let yesterday = licensd_core::time::now_ms() - licensd_core::time::DAY_MS;
    app.db
        .execute(
            licensd_store::db::query("UPDATE licenses SET consumptions_counted_at = ? WHERE id = ?")
                .bind(yesterday)
                .bind(id(&l)),
        )
        .await
        .expect("move the last consumption back a day");
    assert_eq!(license(&app, id(&l)).await["total_consumptions"], 0, "a new day starts the counter again");
    let (status, body) = client(&app, "consumption", &k, "pc", json!({"consumptions": 4})).await;
    assert_eq!((status, &body["license"]["total_consumptions"]), (200, &json!(4)), "{body}");
    let (status, body) = client(&app, "check", &k, "pc", json!({})).await;
    assert_eq!((status, &body["license"]["total_consumptions"]), (200, &json!(4)), "{body}");

    // Without reset_consumption a period changes nothing.
    let plain = app.license(json!({"product": "app", "max_consumptions": 10, "consumption_period": "monthly"})).await;
    assert_eq!(client(&app, "activate", &key(&plain), "pc", json!({})).await.0, 201);
    client(&app, "consumption", &key(&plain), "pc", json!({"consumptions": 3})).await;
    app.db
        .execute(
            licensd_store::db::query("UPDATE licenses SET consumptions_counted_at = ? WHERE id = ?")
                .bind(yesterday - 40 * licensd_core::time::DAY_MS)
                .bind(id(&plain)),
        )
        .await
        .expect("move back");
    assert_eq!(license(&app, id(&plain)).await["total_consumptions"], 3);
}

async fn max_license_users_caps_the_users_a_license_is_assigned_to(app: TestApp) {
    app.product("app").await;
    let l = app.license(json!({"product": "app", "max_license_users": 2})).await;
    assert_eq!(l["max_license_users"], 2);
    let assign = |email: &'static str| {
        let app = &app;
        let path = format!("/api/v1/licenses/{}/assign_user", id(&l));
        async move { app.post(&path, json!({"email": email})).await }
    };
    assert_eq!(assign("a@example.com").await.status, 200);
    assert_eq!(assign("b@example.com").await.status, 200);
    let r = assign("c@example.com").await;
    let e = assert_error(&r, 409, "INVALID_STATE");
    assert!(e["detail"].as_str().unwrap().contains("max_license_users (2)"), "{e}");
    assert_eq!(app.count("license_license_users").await, 2, "the refused assignment wrote nothing");
    assert_eq!(app.count("license_users").await, 2);
    // Raised, there is room again; 0 is no limit.
    app.patch(&format!("/api/v1/licenses/{}", id(&l)), json!({"max_license_users": 0})).await;
    assert_eq!(assign("c@example.com").await.status, 200);
    assert_eq!(license(&app, id(&l)).await["license_users"].as_array().unwrap().len(), 3);
}

async fn product_custom_fields_carry_the_defaults_and_the_licenses_values(app: TestApp) {
    let r = app
        .post(
            "/api/v1/products",
            json!({"product_name": "App", "short_code": "app",
                   "custom_fields": [{"name": "edition", "default_value": "lite"}, {"name": "cores"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = id(&r.body);
    let fields = r.body["custom_fields"].as_array().unwrap().clone();
    assert_eq!(
        fields.iter().map(|f| (f["name"].clone(), f["default_value"].clone())).collect::<Vec<_>>(),
        [(json!("edition"), json!("lite")), (json!("cores"), json!(""))]
    );
    let edition = fields[0]["id"].as_i64().unwrap();

    let plain = app.license(json!({"product": "app"})).await;
    assert_eq!(
        plain["product_custom_fields"],
        json!([{"id": edition, "name": "edition", "value": "lite", "default_value": "lite"},
               {"id": fields[1]["id"], "name": "cores", "value": "", "default_value": ""}])
    );
    let pro =
        app.license(json!({"product": "app", "product_custom_fields": [{"name": "edition", "value": "pro"}]})).await;
    assert_eq!(pro["product_custom_fields"][0]["value"], "pro");
    // An order's licenses take them too.
    let o = app
        .post(
            "/api/v1/orders",
            json!({"licenses": [{"product": "app", "product_custom_fields": [{"name": "cores", "value": "8"}]}]}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let from_order = license(&app, o.body["licenses"][0]["id"].as_i64().unwrap()).await;
    assert_eq!(from_order["product_custom_fields"][1]["value"], "8");

    for (body, pointer) in [
        (json!([{"name": "colour", "value": "red"}]), "/product_custom_fields/0/name"),
        (
            json!([{"name": "edition", "value": "a"}, {"name": "edition", "value": "b"}]),
            "/product_custom_fields/1/name",
        ),
        (json!([{"name": "edition"}]), "/product_custom_fields/0"),
    ] {
        let r = app.post("/api/v1/licenses", json!({"product": "app", "product_custom_fields": body})).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let got = r.body["errors"][0]["source"]["pointer"].as_str().unwrap_or_default().to_string();
        assert!(got.starts_with(pointer), "{body}: {got} {}", r.text);
    }
    assert_eq!(app.count("licenses").await, 3, "refused bodies write nothing");

    // PATCH replaces the license's values; a field left out is back at its default.
    let path = format!("/api/v1/licenses/{}", id(&pro));
    let r = app.patch(&path, json!({"product_custom_fields": [{"name": "cores", "value": "2"}]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let values: Vec<&Value> = r.body["product_custom_fields"].as_array().unwrap().iter().map(|f| &f["value"]).collect();
    assert_eq!(values, [&json!("lite"), &json!("2")]);
    // The product's default moves every license without a value of its own; a field dropped goes with its values.
    let r = app
        .patch(
            &format!("/api/v1/products/{p}"),
            json!({"custom_fields": [{"name": "edition", "default_value": "std"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["custom_fields"][0]["id"], edition, "a field that stays keeps its id");
    assert_eq!(
        license(&app, id(&pro)).await["product_custom_fields"],
        json!([{"id": edition, "name": "edition", "value": "std", "default_value": "std"}])
    );
    assert_eq!(app.count("license_custom_fields").await, 0, "the values of the dropped field went with it");
    // A PATCH of the product that leaves custom_fields out keeps them.
    app.patch(&format!("/api/v1/products/{p}"), json!({"product_name": "App 2"})).await;
    assert_eq!(app.get(&format!("/api/v1/products/{p}")).await.body["custom_fields"][0]["name"], "edition");
    let r = app.patch(&format!("/api/v1/products/{p}"), json!({"custom_fields": [{"name": "x"}, {"name": "x"}]})).await;
    assert_eq!(r.body["errors"][0]["source"]["pointer"], "/custom_fields/1/name", "{}", r.text);
}

async fn devices_orders_and_disabling_show_as_their_facts(app: TestApp) {
    app.product("app").await;
    app.product("other").await;
    let o = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "INV-1", "licenses": [{"product": "app", "max_activations": 3}, {"product": "app"},
                                                     {"product": "other"}]}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let ids: Vec<i64> = o.body["licenses"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    // One line per product of the order, numbered by its first license.
    let items: Vec<Value> = {
        let mut v = Vec::new();
        for i in &ids {
            v.push(license(&app, *i).await["order_item"].clone());
        }
        v
    };
    assert_eq!(items, [json!(ids[0]), json!(ids[0]), json!(ids[2])]);

    let l = license(&app, ids[0]).await;
    let k = key(&l);
    assert_eq!(client(&app, "activate", &k, "pc-1", json!({})).await.0, 201);
    assert_eq!(client(&app, "activate", &k, "pc-2", json!({})).await.0, 201);
    let devices = app.get(&format!("/api/v1/devices?license={}&order_by=id", ids[0])).await.body;
    let (d1, d2) = (devices["results"][0]["id"].clone(), devices["results"][1]["id"].clone());
    let l = license(&app, ids[0]).await;
    assert_eq!(l["last_activation_device"], d2, "{l}");
    assert_eq!((&l["total_active_devices"], &l["active_up_to_date_devices"]), (&json!(2), &json!(2)), "{l}");
    // The license changes: neither device has checked in since, until one does.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.patch(&format!("/api/v1/licenses/{}", ids[0]), json!({"max_activations": 4})).await;
    assert_eq!(license(&app, ids[0]).await["active_up_to_date_devices"], 0);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(client(&app, "check", &k, "pc-1", json!({})).await.0, 200);
    // Checks reach the database in batches: wait for the one above.
    let mut n = Value::Null;
    for _ in 0..100 {
        n = license(&app, ids[0]).await["active_up_to_date_devices"].clone();
        if n == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(n, 1, "pc-1 checked in since the change");
    // The latest activation stays the last one, deactivated or not.
    assert_eq!(client(&app, "deactivate", &k, "pc-2", json!({})).await.0, 200);
    let l = license(&app, ids[0]).await;
    assert_eq!((&l["last_activation_device"], &l["total_active_devices"]), (&d2, &json!(1)));
    assert_ne!(d1, d2);

    // Who disabled it, while it is disabled: the action, a PATCH, and not after enabling.
    let disabled = app.post(&format!("/api/v1/licenses/{}/disable", ids[1]), json!({})).await;
    assert_eq!(disabled.body["disabled_user"], "admin", "{}", disabled.text);
    let support = app.token("helpdesk", licensd_core::model::Role::Support, &[]).await;
    let r = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/licenses/{}", ids[2]),
            Some(&support),
            Some(crate::common::Body::Json(json!({"enabled": false}))),
        )
        .await;
    assert_eq!((r.status, &r.body["disabled_user"]), (200, &json!("helpdesk")), "{}", r.text);
    let r = app.patch(&format!("/api/v1/licenses/{}", ids[2]), json!({"note": "still off"})).await;
    assert_eq!(r.body["disabled_user"], "helpdesk", "a later edit keeps who disabled it");
    let r = app.post(&format!("/api/v1/licenses/{}/enable", ids[1]), json!({})).await;
    assert_eq!(r.body["disabled_user"], Value::Null);
    let born_disabled = app.license(json!({"product": "app", "enabled": false})).await;
    assert_eq!(born_disabled["disabled_user"], "admin");
}

async fn is_floating_is_licensesprings_on_premises_server_which_licensd_has_not(app: TestApp) {
    app.product("app").await;
    let f = app.license(json!({"product": "app", "is_floating_cloud": true, "floating_users": 2})).await;
    app.license(json!({"product": "app"})).await;
    assert_eq!((&f["is_floating"], &f["is_floating_cloud"]), (&json!(false), &json!(true)));
    assert_eq!(app.list_count("/api/v1/licenses?is_floating=true").await, 0);
    assert_eq!(app.list_count("/api/v1/licenses?is_floating=false").await, 2);
    assert_eq!(app.list_count("/api/v1/licenses?is_floating_cloud=true").await, 1);
    assert_eq!(app.list_count("/api/v1/licenses?is_any_floating=true").await, 1);
}
