//! Licenses: issue, read, change, and the vendor's actions with their history.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{TestApp, assert_error};

backend_tests!(
    issued_license_has_the_seed_fields,
    generated_keys_follow_the_default_format_and_are_unique,
    chosen_keys_are_kept_and_duplicates_are_409,
    disable_enable_refund_follow_the_status_rules,
    reset_frees_every_activation,
    history_records_each_change_with_actor_and_note,
    patch_changes_terms_but_not_product,
    expired_license_shows_expired,
    delete_keeps_the_audit_log,
    device_deactivation_frees_a_slot,
);

async fn issued_license_has_the_seed_fields(app: TestApp) {
    let p = app.product("app").await;
    let l =
        app.license(json!({"product": "app", "customer": {"email": "x@example.com"}, "metadata": {"seat": "A"}})).await;
    for field in [
        "id",
        "license_key",
        "status",
        "active",
        "enabled",
        "customer",
        "product",
        "order",
        "order_store_id",
        "license_template",
        "created_at",
        "updated_at",
        "time_activated",
        "max_activations",
        "times_activated",
        "validity_period",
        "license_type",
        "is_trial",
        "is_floating_cloud",
        "floating_users",
        "max_transfers",
        "transfer_count",
        "note",
        "metadata",
        "history",
        "product_features",
        "maintenance_period",
        "time_disabled",
        "last_check",
        "total_active_devices",
    ] {
        assert!(l.get(field).is_some(), "{field} missing: {l}");
    }
    assert_eq!(l["product"], json!({"id": p, "product_name": "Product app", "short_code": "app"}));
    assert_eq!(l["status"], "inactive");
    assert_eq!(l["active"], false);
    assert_eq!(l["enabled"], true);
    assert_eq!(l["max_activations"], 1);
    assert_eq!(l["times_activated"], 0);
    assert_eq!(l["license_type"], "perpetual");
    assert_eq!(l["metadata"], json!({"seat": "A"}));
    assert_eq!(l["customer"]["email"], "x@example.com");
    assert_eq!(l["history"][0]["action"], "license.created");
    // The record and its creation are one moment, to the millisecond (DevMate shows both, in seconds: seed 001
    // failed when a second began between the two writes).
    for n in 0..10 {
        app.license(json!({"product": "app", "customer": {"email": format!("c{n}@example.com")}})).await;
    }
    for (table, kind) in [("licenses", "license"), ("customers", "customer"), ("products", "product")] {
        let apart = format!(
            "events e JOIN {table} r ON r.id = e.resource_id WHERE e.action = '{kind}.created' \
             AND e.resource_type = '{kind}' AND e.created_at <> r.created_at"
        );
        assert_eq!(app.count(&apart).await, 0, "{kind}.created events at another time than their {table}");
    }
    assert_eq!(app.count("events WHERE action = 'license.created'").await, 11);
    // The list shows the same object, without history.
    let list = app.get("/api/v1/licenses").await;
    let item = &list.body["results"][0];
    assert_eq!(item["license_key"], l["license_key"]);
    assert!(item.get("history").is_none());
}

async fn generated_keys_follow_the_default_format_and_are_unique(app: TestApp) {
    app.product("app").await;
    let mut keys = std::collections::HashSet::new();
    for _ in 0..30 {
        let l = app.license(json!({"product": "app"})).await;
        let k = l["license_key"].as_str().unwrap().to_string();
        let groups: Vec<&str> = k.split('-').collect();
        assert_eq!(groups.len(), 4, "{k}");
        assert!(
            groups.iter().all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())),
            "{k}"
        );
        assert!(!k.contains(['0', 'O', '1', 'I']), "{k}");
        keys.insert(k);
    }
    assert_eq!(keys.len(), 30);
}

async fn chosen_keys_are_kept_and_duplicates_are_409(app: TestApp) {
    app.product("app").await;
    let l = app.license(json!({"product": "app", "license_key": "id593311373237odr"})).await;
    assert_eq!(l["license_key"], "id593311373237odr");
    let r = app.post("/api/v1/licenses", json!({"product": "app", "license_key": "id593311373237odr"})).await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/license_key");
    let r = app.post("/api/v1/licenses", json!({"product": "app", "license_key": "has space"})).await;
    assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(app.count("licenses").await, 1);
    assert_eq!(app.list_count("/api/v1/licenses?license_key=id593311373237odr").await, 1);
}

async fn disable_enable_refund_follow_the_status_rules(app: TestApp) {
    app.product("app").await;
    let id = app.license(json!({"product": "app"})).await["id"].as_i64().unwrap();
    let d = app.post(&format!("/api/v1/licenses/{id}/disable"), json!({"note": "chargeback"})).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "disabled");
    assert_eq!(d.body["enabled"], false);
    assert!(d.body["time_disabled"].is_string());
    assert_error(&app.post(&format!("/api/v1/licenses/{id}/disable"), json!({})).await, 409, "INVALID_STATE");
    let e = app.post(&format!("/api/v1/licenses/{id}/enable"), json!({})).await;
    assert_eq!(e.body["status"], "inactive");
    assert_eq!(e.body["time_disabled"], serde_json::Value::Null);
    let r = app.call(reqwest::Method::POST, &format!("/api/v1/licenses/{id}/refund"), Some(&app.admin), None).await;
    assert_eq!(r.status, 200, "an action needs no body: {}", r.text);
    assert_eq!(r.body["status"], "refunded");
    assert_error(&app.post(&format!("/api/v1/licenses/{id}/enable"), json!({})).await, 409, "INVALID_STATE");
    assert_error(&app.post(&format!("/api/v1/licenses/{id}/refund"), json!({})).await, 409, "INVALID_STATE");
    assert_error(&app.post("/api/v1/licenses/999999/disable", json!({})).await, 404, "NOT_FOUND");
    assert_eq!(app.list_count("/api/v1/licenses?enabled=true").await, 1);
}

async fn insert_device(app: &TestApp, license: i64, hw: &str) -> i64 {
    // The client API activates devices; until a test needs its whole flow, rows go in directly.
    let now = licensd_core::time::now_ms();
    let q = licensd_store::db::query(
        "INSERT INTO devices (license_id, hardware_id, hostname, time_activated) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(license)
    .bind(hw)
    .bind(format!("host-{hw}"))
    .bind(now);
    let id: i64 = app.db.fetch_one(q).await.unwrap().get("id").unwrap();
    let q = licensd_store::db::query(
        "UPDATE licenses SET times_activated = times_activated + 1, time_activated = ? WHERE id = ?",
    )
    .bind(now)
    .bind(license);
    app.db.execute(q).await.unwrap();
    id
}

async fn reset_frees_every_activation(app: TestApp) {
    app.product("app").await;
    let id = app.license(json!({"product": "app", "max_activations": 3})).await["id"].as_i64().unwrap();
    insert_device(&app, id, "aa:aa").await;
    insert_device(&app, id, "bb:bb").await;
    let l = app.get(&format!("/api/v1/licenses/{id}")).await.body;
    assert_eq!(l["status"], "active");
    assert_eq!(l["times_activated"], 2);
    assert_eq!(l["total_active_devices"], 2);
    assert_eq!(app.list_count("/api/v1/licenses?devices__hostname=host-aa:aa").await, 1);
    let r = app.post(&format!("/api/v1/licenses/{id}/reset"), json!({"note": "new laptop"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["times_activated"], 0);
    assert_eq!(r.body["total_active_devices"], 0);
    assert_eq!(r.body["status"], "inactive");
    assert_eq!(app.list_count(&format!("/api/v1/devices?license={id}&active=true")).await, 0);
    assert_eq!(app.list_count(&format!("/api/v1/devices?license={id}")).await, 2);
}

async fn history_records_each_change_with_actor_and_note(app: TestApp) {
    app.product("app").await;
    let id = app.license(json!({"product": "app"})).await["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/licenses/{id}/disable"), json!({"note": "chargeback"})).await;
    app.post(&format!("/api/v1/licenses/{id}/enable"), json!({"note": "resolved"})).await;
    app.patch(&format!("/api/v1/licenses/{id}"), json!({"note": "VIP"})).await;
    let h = app.get(&format!("/api/v1/licenses/{id}")).await.body["history"].clone();
    let actions: Vec<(&str, &str, &str)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap(), e["note"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("license.created", "admin", ""),
            ("license.disabled", "admin", "chargeback"),
            ("license.enabled", "admin", "resolved"),
            ("license.updated", "admin", "")
        ]
    );
    assert_eq!(h[1]["before"]["enabled"], true);
    assert_eq!(h[1]["after"]["enabled"], false);
    assert_eq!(h[3]["after"]["note"], "VIP");
    assert_eq!(app.list_count(&format!("/api/v1/events?license={id}")).await, 4);
    // A change records what changed, not two copies of the license: the creation holds the whole record, an
    // edit only its changed fields, on both sides.
    assert_eq!(h[0]["after"]["license_key"], app.get(&format!("/api/v1/licenses/{id}")).await.body["license_key"]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&h[3]["before"]), keys(&h[3]["after"]));
    assert!(keys(&h[3]["after"]).contains(&"note".to_string()), "{}", h[3]);
    assert!(!keys(&h[3]["after"]).contains(&"license_key".to_string()), "{}", h[3]);
    assert_eq!(h[3]["before"]["note"], Value::Null);
    assert!(
        keys(&h[1]["after"]).len() <= 5,
        "disable records enabled/status/time_disabled/disabled_user/updated_at only: {}",
        h[1]
    );
    assert_eq!(h[1]["after"]["disabled_user"], "admin");
}

async fn patch_changes_terms_but_not_product(app: TestApp) {
    app.product("app").await;
    let other = app.product("other").await;
    let id = app.license(json!({"product": "app"})).await["id"].as_i64().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/licenses/{id}"),
            json!({"max_activations": null, "validity_period": "2031-01-31", "is_trial": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["max_activations"], serde_json::Value::Null);
    assert_eq!(r.body["validity_period"], "2031-01-31");
    assert_eq!(r.body["is_trial"], true);
    let e = assert_error(
        &app.patch(&format!("/api/v1/licenses/{id}"), json!({"product": other})).await,
        400,
        "INVALID_FIELD",
    );
    assert_eq!(e["source"]["pointer"], "/product");
    assert_eq!(app.list_count("/api/v1/licenses?validity_period__date__gte=2031-01-31").await, 1);
    assert_eq!(app.list_count("/api/v1/licenses?validity_period__date__gt=2031-01-31").await, 0);
    assert_eq!(app.list_count("/api/v1/licenses?is_trial=1").await, 1);
}

async fn expired_license_shows_expired(app: TestApp) {
    app.product("app").await;
    let l = app.license(json!({"product": "app", "validity_period": "2001-01-01"})).await;
    assert_eq!(l["status"], "expired");
}

async fn delete_keeps_the_audit_log(app: TestApp) {
    app.product("app").await;
    let id = app.license(json!({"product": "app"})).await["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/licenses/{id}")).await.status, 204);
    assert_error(&app.get(&format!("/api/v1/licenses/{id}")).await, 404, "NOT_FOUND");
    let ev = app.get("/api/v1/events?action=license.deleted").await;
    assert_eq!(ev.body["count"], 1);
    assert_eq!(ev.body["results"][0]["resource_id"], id);
}

async fn device_deactivation_frees_a_slot(app: TestApp) {
    app.product("app").await;
    let id = app.license(json!({"product": "app", "max_activations": 2})).await["id"].as_i64().unwrap();
    let dev = insert_device(&app, id, "cc:cc").await;
    let d = app.get(&format!("/api/v1/devices/{dev}")).await;
    assert_eq!(d.body["hardware_id"], "cc:cc");
    assert_eq!(d.body["active"], true);
    let r = app.post(&format!("/api/v1/devices/{dev}/deactivate"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], false);
    assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["times_activated"], 0);
    assert_error(&app.post(&format!("/api/v1/devices/{dev}/deactivate"), json!({})).await, 409, "INVALID_STATE");
}
