//! The client API: every code, the limits under concurrency (also across two instances), leases,
//! signatures on every response, license files and air-gapped codes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use licensd_store::db::query;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{TestApp, assert_error};

backend_tests!(
    activation_is_idempotent_per_device_and_capped,
    activation_refusals_have_their_codes,
    check_answers_every_code_with_200,
    check_records_last_check_in_batches,
    deactivation_frees_the_slot_and_counts_transfers,
    floating_seats_are_leased_and_lapse,
    borrowing_takes_a_seat_offline,
    trial_is_once_per_device_and_product,
    consumption_never_exceeds_its_limit,
    license_file_is_signed_for_the_device,
    air_gapped_request_codes_activate_and_deactivate,
    every_response_is_signed_and_echoes_the_nonce,
    rotated_keys_stay_verifiable,
    malformed_client_requests_are_400,
    concurrent_activations_never_exceed_max,
    concurrent_floating_checkouts_never_exceed_seats,
    concurrent_consumption_never_exceeds_max,
);

/// A response as a client sees it, with its signature checked against the server's key.
struct Signed {
    status: u16,
    body: Value,
    text: String,
}

async fn public_key(base: &str) -> VerifyingKey {
    let v: Value = reqwest::get(format!("{base}/api/v1/client/public-key")).await.unwrap().json().await.unwrap();
    assert_eq!(v["alg"], "ed25519");
    let bytes: [u8; 32] = STANDARD.decode(v["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&bytes).unwrap()
}

async fn post_to(base: &str, path: &str, body: Value) -> Signed {
    let res = reqwest::Client::new().post(format!("{base}/api/v1/client/{path}")).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    let sig = res.headers().get("licensd-signature").map(|v| v.to_str().unwrap().to_string());
    let kid = res.headers().get("licensd-key-id").map(|v| v.to_str().unwrap().to_string());
    let bytes = res.bytes().await.unwrap();
    let key = public_key(base).await;
    let sig = Signature::from_slice(&STANDARD.decode(sig.expect("Licensd-Signature header")).unwrap()).unwrap();
    key.verify(&bytes, &sig).expect("the response verifies with the server's public key");
    assert_eq!(kid.as_deref(), Some(licensd_core::signing::key_id(&key).as_str()));
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    Signed { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

async fn post(app: &TestApp, path: &str, body: Value) -> Signed {
    post_to(&app.url, path, body).await
}

fn req(key: &str, hw: &str) -> Value {
    json!({"license_key": key, "hardware_id": hw, "product": "app", "hostname": format!("host-{hw}"), "os": "linux"})
}

async fn setup(app: &TestApp, license: Value) -> String {
    if app.count("products").await == 0 {
        app.product("app").await;
    }
    let mut body = json!({"product": "app"});
    body.as_object_mut().unwrap().extend(license.as_object().unwrap().clone());
    app.license(body).await["license_key"].as_str().unwrap().to_string()
}

#[track_caller]
fn refused(r: &Signed, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], code, "{}", r.text);
    assert!(r.body["timestamp"].is_i64());
}

async fn activation_is_idempotent_per_device_and_capped(app: TestApp) {
    let key = setup(&app, json!({"max_activations": 2})).await;
    let a = post(&app, "activate", req(&key, "hw-1")).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["code"], "ACTIVATED");
    assert_eq!(a.body["license"]["license_key"], key);
    assert_eq!(a.body["license"]["times_activated"], 1);
    assert_eq!(a.body["license"]["status"], "active");
    assert_eq!(a.body["device"]["hardware_id"], "hw-1");
    assert_eq!(a.body["device"]["hostname"], "host-hw-1");
    let again = post(&app, "activate", req(&key, "hw-1")).await;
    assert_eq!(again.status, 200, "the same device again uses no second slot");
    assert_eq!(again.body["license"]["times_activated"], 1);
    assert_eq!(again.body["device"]["id"], a.body["device"]["id"]);
    assert_eq!(post(&app, "activate", req(&key, "hw-2")).await.status, 201);
    let third = post(&app, "activate", req(&key, "hw-3")).await;
    refused(&third, 409, "TOO_MANY_ACTIVATIONS");
    let l = app.get("/api/v1/licenses?license_key=".to_string().as_str()).await;
    assert_eq!(l.status, 200);
    let lic = &app.get("/api/v1/licenses").await.body["results"][0];
    assert_eq!(lic["times_activated"], 2);
    assert_eq!(lic["total_active_devices"], 2);
    assert!(lic["time_activated"].is_string());
    let history: Vec<String> = app.get(&format!("/api/v1/licenses/{}", lic["id"])).await.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, ["license.created", "license.activated", "license.activated"]);
    let unlimited = setup(&app, json!({"max_activations": null})).await;
    for i in 0..5 {
        assert_eq!(post(&app, "activate", req(&unlimited, &format!("u{i}"))).await.status, 201);
    }
}

async fn activation_refusals_have_their_codes(app: TestApp) {
    let key = setup(&app, json!({})).await;
    refused(&post(&app, "activate", req("NO-SUCH-KEY", "hw")).await, 404, "NOT_FOUND");
    app.product("other").await;
    let mut wrong = req(&key, "hw");
    wrong["product"] = json!("other");
    refused(&post(&app, "activate", wrong).await, 403, "PRODUCT_MISMATCH");
    let disabled = setup(&app, json!({"enabled": false})).await;
    refused(&post(&app, "activate", req(&disabled, "hw")).await, 403, "DISABLED");
    let expired = setup(&app, json!({"validity_period": "2001-01-01"})).await;
    refused(&post(&app, "activate", req(&expired, "hw")).await, 403, "EXPIRED");
    let refunded = setup(&app, json!({})).await;
    let id = app.get(&format!("/api/v1/licenses?license_key={refunded}")).await.body["results"][0]["id"].clone();
    app.post(&format!("/api/v1/licenses/{id}/refund"), json!({})).await;
    refused(&post(&app, "activate", req(&refunded, "hw")).await, 403, "REFUNDED");
    assert_eq!(app.count("devices").await, 0, "no refusal created a device");
}

async fn check_answers_every_code_with_200(app: TestApp) {
    let key = setup(&app, json!({})).await;
    let code =
        |r: &Signed| (r.status, r.body["valid"].as_bool().unwrap(), r.body["code"].as_str().unwrap().to_string());
    assert_eq!(code(&post(&app, "check", req(&key, "hw")).await), (200, false, "NOT_ACTIVATED".into()));
    post(&app, "activate", req(&key, "hw")).await;
    let ok = post(&app, "check", req(&key, "hw")).await;
    assert_eq!(code(&ok), (200, true, "VALID".into()));
    assert_eq!(ok.body["license"]["license_key"], key);
    assert_eq!(ok.body["device"]["hardware_id"], "hw");
    assert!(ok.body["detail"].is_string());
    assert_eq!(code(&post(&app, "check", req(&key, "other-hw")).await), (200, false, "NOT_ACTIVATED".into()));
    assert_eq!(code(&post(&app, "check", req("NOPE", "hw")).await), (200, false, "NOT_FOUND".into()));
    app.product("other").await;
    let mut wrong = req(&key, "hw");
    wrong["product"] = json!("other");
    assert_eq!(code(&post(&app, "check", wrong).await), (200, false, "PRODUCT_MISMATCH".into()));
    let id = app.get(&format!("/api/v1/licenses?license_key={key}")).await.body["results"][0]["id"].clone();
    app.post(&format!("/api/v1/licenses/{id}/disable"), json!({})).await;
    assert_eq!(code(&post(&app, "check", req(&key, "hw")).await), (200, false, "DISABLED".into()));
    app.post(&format!("/api/v1/licenses/{id}/enable"), json!({})).await;
    app.patch(&format!("/api/v1/licenses/{id}"), json!({"validity_period": "2001-01-01"})).await;
    assert_eq!(code(&post(&app, "check", req(&key, "hw")).await), (200, false, "EXPIRED".into()));
    app.post(&format!("/api/v1/licenses/{id}/refund"), json!({})).await;
    assert_eq!(code(&post(&app, "check", req(&key, "hw")).await), (200, false, "REFUNDED".into()));
    let floating = setup(&app, json!({"is_floating_cloud": true, "floating_users": 1})).await;
    post(&app, "activate", req(&floating, "f1")).await;
    post(&app, "deactivate", req(&floating, "f1")).await;
    post(&app, "activate", req(&floating, "f2")).await;
    assert_eq!(code(&post(&app, "check", req(&floating, "f1")).await), (200, false, "NO_SEAT".into()));
}

async fn check_records_last_check_in_batches(app: TestApp) {
    let key = setup(&app, json!({})).await;
    post(&app, "activate", req(&key, "hw")).await;
    app.db.execute(query("DELETE FROM device_checks")).await.unwrap();
    app.db.execute(query("DELETE FROM license_checks")).await.unwrap();
    let before = licensd_core::time::now_ms();
    for _ in 0..3 {
        assert_eq!(post(&app, "check", req(&key, "hw")).await.body["code"], "VALID");
    }
    let after = licensd_core::time::now_ms();
    let stored = app.db.fetch_all(query("SELECT * FROM device_checks")).await.unwrap();
    assert!(stored.is_empty(), "nothing is written before the batch");
    let flushed = app.state.last_checks.flush(&app.db).await.unwrap();
    assert_eq!(flushed, 1, "three checks of one device are one write");
    let checked = |table: &'static str| {
        let db = app.db.clone();
        async move {
            let rows = db.fetch_all(query(format!("SELECT last_check FROM {table}"))).await.unwrap();
            rows.iter().map(|r| r.get::<i64>("last_check").unwrap()).collect::<Vec<i64>>()
        }
    };
    let device_time = checked("device_checks").await;
    assert_eq!(device_time.len(), 1);
    assert!((before..=after).contains(&device_time[0]), "{device_time:?} within {before}..={after}");
    assert_eq!(checked("license_checks").await, device_time, "the license's time is its device's");
    let l = &app.get("/api/v1/licenses").await.body["results"][0];
    assert!(l["last_check"].is_string(), "{l}");
    let d = &app.get("/api/v1/devices").await.body["results"][0];
    assert!(d["last_check"].is_string(), "{d}");
    assert_eq!(
        app.get("/api/v1/devices?last_check__isnull=false").await.body["count"],
        1,
        "the time filters like a column"
    );

    // A time older than the stored one never moves it back; a license deleted before the batch is skipped.
    let (device_id, license_id) = (d["id"].as_i64().unwrap(), l["id"].as_i64().unwrap());
    app.state.last_checks.note(device_id, license_id, 1_000);
    let gone = setup(&app, json!({})).await;
    post(&app, "activate", req(&gone, "hw2")).await;
    assert_eq!(post(&app, "check", req(&gone, "hw2")).await.body["code"], "VALID");
    let gone_id = app.get(&format!("/api/v1/licenses?license_key={gone}")).await.body["results"][0]["id"].clone();
    assert_eq!(app.delete(&format!("/api/v1/licenses/{gone_id}")).await.status, 204);
    // The server's own once-a-second flush may have taken some of them already (a slow machine).
    assert!(app.state.last_checks.flush(&app.db).await.unwrap() <= 2);
    assert_eq!(checked("device_checks").await, device_time);
    assert_eq!(checked("license_checks").await, device_time);
}

async fn deactivation_frees_the_slot_and_counts_transfers(app: TestApp) {
    let key = setup(&app, json!({"max_activations": 1, "max_transfers": 1})).await;
    post(&app, "activate", req(&key, "old")).await;
    let d = post(&app, "deactivate", req(&key, "old")).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["code"], "DEACTIVATED");
    assert_eq!(d.body["license"]["times_activated"], 0);
    assert_eq!(d.body["license"]["transfer_count"], 1);
    refused(&post(&app, "deactivate", req(&key, "old")).await, 404, "NOT_ACTIVATED");
    assert_eq!(post(&app, "activate", req(&key, "new")).await.status, 201, "the slot is free again");
    refused(&post(&app, "deactivate", req(&key, "new")).await, 409, "TRANSFER_LIMIT");
    assert_eq!(
        post(&app, "check", req(&key, "new")).await.body["code"],
        "VALID",
        "a refused deactivation changes nothing"
    );
    refused(&post(&app, "deactivate", req("NOPE", "new")).await, 404, "NOT_FOUND");
    let unlimited = setup(&app, json!({"max_activations": 1})).await;
    for _ in 0..3 {
        assert_eq!(post(&app, "activate", req(&unlimited, "a")).await.status, 201);
        assert_eq!(post(&app, "deactivate", req(&unlimited, "a")).await.status, 200, "max_transfers 0 is unlimited");
    }
}

async fn floating_seats_are_leased_and_lapse(app: TestApp) {
    let key = setup(
        &app,
        json!({"is_floating_cloud": true, "floating_users": 2, "floating_timeout": 10, "max_activations": 1}),
    )
    .await;
    let a = post(&app, "activate", req(&key, "a")).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let lease = a.body["device"]["lease_expires_at"].as_i64().unwrap();
    let now = a.body["timestamp"].as_i64().unwrap();
    assert!((now + 590..=now + 601).contains(&lease), "a 10-minute lease: {lease} vs {now}");
    assert_eq!(post(&app, "activate", req(&key, "b")).await.status, 201, "max_activations does not apply to seats");
    refused(&post(&app, "activate", req(&key, "c")).await, 409, "NO_SEAT");
    assert_eq!(
        post(&app, "activate", req(&key, "a")).await.status,
        200,
        "a seat holder checking out again keeps its seat"
    );
    // Releasing frees a seat at once.
    assert_eq!(post(&app, "deactivate", req(&key, "b")).await.status, 200);
    assert_eq!(post(&app, "activate", req(&key, "c")).await.status, 201);
    // A lapsed lease frees its seat by itself: "a" stops checking in.
    async fn seats(app: &TestApp, key: &str) -> (Option<i64>, Option<i64>) {
        let l = app.get(&format!("/api/v1/licenses/?license_key={key}")).await.body["results"][0].clone();
        (l["floating_in_use_devices"].as_i64(), l["total_active_devices"].as_i64())
    }
    assert_eq!(seats(&app, &key).await, (Some(2), Some(2)));
    app.db.execute(query("UPDATE devices SET lease_expires_at = 1 WHERE hardware_id = 'a'")).await.unwrap();
    assert_eq!(seats(&app, &key).await, (Some(1), Some(2)), "a lapsed lease holds no seat, though not yet ended");
    assert_eq!(post(&app, "activate", req(&key, "d")).await.status, 201, "the lapsed seat is taken");
    let c = post(&app, "check", req(&key, "a")).await;
    assert_eq!(c.body["code"], "NO_SEAT", "{}", c.text);
    // A check renews a live lease.
    app.db.execute(query("UPDATE devices SET lease_expires_at = lease_expires_at - 300000 WHERE hardware_id = 'c' AND deactivated_at IS NULL")).await.unwrap();
    let c = post(&app, "check", req(&key, "c")).await;
    assert_eq!(c.body["code"], "VALID", "{}", c.text);
    assert!(c.body["device"]["lease_expires_at"].as_i64().unwrap() >= c.body["timestamp"].as_i64().unwrap() + 590);
    // With a seat free again, a lapsed device's check takes it back.
    post(&app, "deactivate", req(&key, "d")).await;
    assert_eq!(post(&app, "check", req(&key, "a")).await.body["code"], "VALID");
    let live = app.db.fetch_one(query("SELECT COUNT(*) AS n FROM devices WHERE deactivated_at IS NULL")).await.unwrap();
    assert_eq!(live.get::<i64>("n").unwrap(), 2);
}

async fn borrowing_takes_a_seat_offline(app: TestApp) {
    let key =
        setup(&app, json!({"is_floating_cloud": true, "floating_users": 1, "can_borrow": true, "max_borrow_time": 48}))
            .await;
    let mut body = req(&key, "laptop");
    body["borrow_hours"] = json!(72);
    let e = post(&app, "borrow", body.clone()).await;
    assert_eq!(e.status, 400, "{}", e.text);
    body["borrow_hours"] = json!(24);
    let b = post(&app, "borrow", body).await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(b.body["code"], "BORROWED");
    let until = b.body["device"]["borrowed_until"].as_i64().unwrap();
    assert!((b.body["timestamp"].as_i64().unwrap() + 24 * 3600 - until).abs() <= 2);
    let file = verify_file(&app, b.body["license_file"].as_str().unwrap()).await;
    assert_eq!(file["hardware_id"], "laptop");
    assert!(file["expires_at"].as_i64().unwrap() <= until);
    // The borrowed seat is held even though its short lease lapses.
    app.db.execute(query("UPDATE devices SET lease_expires_at = 1")).await.unwrap();
    refused(&post(&app, "activate", req(&key, "desktop")).await, 409, "NO_SEAT");
    let plain = setup(&app, json!({})).await;
    let mut body = req(&plain, "x");
    body["borrow_hours"] = json!(1);
    refused(&post(&app, "borrow", body).await, 403, "BORROW_NOT_ALLOWED");
}

async fn trial_is_once_per_device_and_product(app: TestApp) {
    let p = app.product("app").await;
    let none = post(&app, "trial", json!({"product": "app", "hardware_id": "hw"})).await;
    refused(&none, 404, "NO_TRIAL");
    app.template(p, "trial", json!({"is_trial": true, "trial_days": 14})).await;
    let t = post(
        &app,
        "trial",
        json!({"product": "app", "hardware_id": "hw", "email": "tryer@example.com", "nonce": "t1"}),
    )
    .await;
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(t.body["code"], "TRIAL");
    assert_eq!(t.body["license"]["is_trial"], true);
    assert_eq!(t.body["device"]["hardware_id"], "hw");
    let days = (t.body["license"]["expires_at"].as_i64().unwrap() - t.body["timestamp"].as_i64().unwrap()) / 86400;
    assert!((13..=14).contains(&days), "{days}");
    let again = post(&app, "trial", json!({"product": "app", "hardware_id": "hw"})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["license"]["license_key"], t.body["license"]["license_key"]);
    let other = post(&app, "trial", json!({"product": "app", "hardware_id": "hw-2"})).await;
    assert_eq!(other.status, 201);
    assert_ne!(other.body["license"]["license_key"], t.body["license"]["license_key"]);
    assert_eq!(app.count("licenses").await, 2);
    // The email is recorded on the trial, never as a customer (anyone may call `trial` with any address).
    assert_eq!(app.list_count("/api/v1/licenses?trial_email=tryer@example.com").await, 1);
    assert_eq!(app.count("customers").await, 0);
    refused(&post(&app, "trial", json!({"product": "nope", "hardware_id": "hw"})).await, 404, "NOT_FOUND");
    let key = t.body["license"]["license_key"].as_str().unwrap();
    assert_eq!(post(&app, "check", req(key, "hw")).await.body["code"], "VALID");
}

async fn consumption_never_exceeds_its_limit(app: TestApp) {
    let p = app.product("app").await;
    app.post("/api/v1/product-features", json!({"product": p, "code": "exports", "name": "Exports", "feature_type": "consumption", "max_consumption": 3, "allow_overages": true, "max_overages": 1})).await;
    app.template(
        p,
        "metered",
        json!({"license_type": "consumption", "max_consumptions": 10, "features": [{"code": "exports"}]}),
    )
    .await;
    let key = app.license(json!({"license_template": "metered"})).await["license_key"].as_str().unwrap().to_string();
    let consume = |n: i64, feature: Option<&str>| {
        let mut b = req(&key, "hw");
        b["consumptions"] = json!(n);
        if let Some(f) = feature {
            b["feature"] = json!(f);
        }
        b
    };
    refused(&post(&app, "consumption", consume(1, None)).await, 404, "NOT_ACTIVATED");
    post(&app, "activate", req(&key, "hw")).await;
    let r = post(&app, "consumption", consume(6, None)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["code"], "CONSUMED");
    assert_eq!(r.body["license"]["total_consumptions"], 6);
    refused(&post(&app, "consumption", consume(5, None)).await, 409, "CONSUMPTION_LIMIT");
    assert_eq!(post(&app, "consumption", consume(4, None)).await.body["license"]["total_consumptions"], 10);
    let f = post(&app, "consumption", consume(4, Some("exports"))).await;
    assert_eq!(f.status, 200, "max 3 plus 1 overage: {}", f.text);
    assert_eq!(f.body["feature"]["total_consumptions"], 4);
    refused(&post(&app, "consumption", consume(1, Some("exports"))).await, 409, "CONSUMPTION_LIMIT");
    refused(&post(&app, "consumption", consume(1, Some("nope"))).await, 404, "FEATURE_NOT_FOUND");
    let bad = post(&app, "consumption", consume(0, None)).await;
    assert_eq!(bad.status, 400);
    let l = &app.get("/api/v1/licenses").await.body["results"][0];
    assert_eq!(l["total_consumptions"], 10);
    assert_eq!(l["product_features"][0]["total_consumptions"], 4);
}

/// Verifies a license file as an application would, returning its payload.
async fn verify_file(app: &TestApp, file: &str) -> Value {
    let key = public_key(&app.url).await;
    let b64: String = file.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(file.starts_with("-----BEGIN LICENSE FILE-----\n"), "{file}");
    assert!(file.trim_end().ends_with("-----END LICENSE FILE-----"));
    let env: Value = serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap();
    assert_eq!(env["alg"], "ed25519");
    let enc = env["enc"].as_str().unwrap();
    let sig = Signature::from_slice(&STANDARD.decode(env["sig"].as_str().unwrap()).unwrap()).unwrap();
    key.verify(enc.as_bytes(), &sig).expect("the file's signature verifies");
    serde_json::from_slice(&STANDARD.decode(enc).unwrap()).unwrap()
}

async fn license_file_is_signed_for_the_device(app: TestApp) {
    let key = setup(&app, json!({"validity_period": "2099-12-31", "license_file_ttl_days": 7})).await;
    refused(&post(&app, "license-file", req(&key, "hw")).await, 404, "NOT_ACTIVATED");
    post(&app, "activate", req(&key, "hw")).await;
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/client/license-file", app.url))
        .json(&req(&key, "hw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(res.headers().contains_key("licensd-signature"));
    let file = res.text().await.unwrap();
    let p = verify_file(&app, &file).await;
    assert_eq!(p["license_key"], key);
    assert_eq!(p["product"], "app");
    assert_eq!(p["hardware_id"], "hw");
    let ttl = p["expires_at"].as_i64().unwrap() - p["issued_at"].as_i64().unwrap();
    assert_eq!(ttl, 7 * 86400, "the template's TTL, within the license's own expiry");
    assert_eq!(p["license"]["license_key"], key);
    assert!(p["features"].is_array());
    // Never past the license's own expiry.
    let soon = setup(&app, json!({"validity_period": (time_in_days(2))})).await;
    post(&app, "activate", req(&soon, "hw")).await;
    let r = post(&app, "license-file", req(&soon, "hw")).await;
    let p = verify_file(&app, &r.text).await;
    assert!(p["expires_at"].as_i64().unwrap() - p["issued_at"].as_i64().unwrap() <= 2 * 86400);
}

fn time_in_days(days: i64) -> String {
    licensd_core::time::format_date(licensd_core::time::now_ms() + days * licensd_core::time::DAY_MS)
}

fn request_code(kind: &str, key: &str, hw: &str) -> String {
    let v = json!({"v": 1, "type": kind, "license_key": key, "product": "app", "hardware_id": hw, "hostname": "airgap", "os": "linux", "app_version": "1.0", "issued_at": 1});
    URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn air_gapped_request_codes_activate_and_deactivate(app: TestApp) {
    let key = setup(&app, json!({"max_activations": 1})).await;
    let r = post(&app, "offline-activate", json!({"request": request_code("activate", &key, "vault")})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = verify_file(&app, &r.text).await;
    assert_eq!(p["hardware_id"], "vault");
    assert_eq!(post(&app, "check", req(&key, "vault")).await.body["code"], "VALID");
    refused(
        &post(&app, "offline-activate", json!({"request": request_code("activate", &key, "other")})).await,
        409,
        "TOO_MANY_ACTIVATIONS",
    );
    let bad = post(&app, "offline-activate", json!({"request": "!!not-a-code!!"})).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errors"][0]["code"], "INVALID_REQUEST_CODE");
    let wrong_kind =
        post(&app, "offline-activate", json!({"request": request_code("deactivate", &key, "vault")})).await;
    assert_eq!(wrong_kind.body["errors"][0]["code"], "INVALID_REQUEST_CODE");
    // The air-gapped machine holds a file: its slot stays taken until the file expires, whatever code
    // anyone writes; the vendor can free it.
    let d = post(&app, "offline-deactivate", json!({"request": request_code("deactivate", &key, "vault")})).await;
    refused(&d, 409, "LICENSE_FILE_OUTSTANDING");
    let devices = app.get("/api/v1/devices?hardware_id=vault").await;
    let device = devices.body["results"][0]["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/devices/{device}/deactivate"), json!({})).await.status, 200);
    assert_eq!(post(&app, "activate", req(&key, "other")).await.status, 201, "the vendor freed the air-gapped slot");
}

async fn every_response_is_signed_and_echoes_the_nonce(app: TestApp) {
    let key = setup(&app, json!({})).await;
    for (path, mut body) in [
        ("activate", req(&key, "hw")),
        ("check", req(&key, "hw")),
        ("check", req("NOPE", "hw")),
        ("activate", req("NOPE", "hw")),
        ("deactivate", req(&key, "hw")),
        ("deactivate", req(&key, "hw")),
    ] {
        body["nonce"] = json!("n-0123456789");
        let r = post(&app, path, body).await;
        assert_eq!(r.body["nonce"], "n-0123456789", "{path}: {}", r.text);
    }
    // Malformed requests are signed too (post_to verifies), though they carry no nonce.
    let r = post(&app, "activate", json!({"license_key": 5})).await;
    assert_eq!(r.status, 400);
    // A forged body does not verify.
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/client/check", app.url))
        .json(&req(&key, "hw"))
        .send()
        .await
        .unwrap();
    let sig = STANDARD.decode(res.headers()["licensd-signature"].to_str().unwrap()).unwrap();
    let mut body = res.bytes().await.unwrap().to_vec();
    body[2] ^= 1;
    let k = public_key(&app.url).await;
    assert!(k.verify(&body, &Signature::from_slice(&sig).unwrap()).is_err());
}

async fn rotated_keys_stay_verifiable(app: TestApp) {
    let old = public_key(&app.url).await;
    let old_id = licensd_core::signing::key_id(&old);
    let new = licensd_store::keys::rotate(&app.db, None).await.unwrap();
    app.state.refresh_key().await.unwrap();
    let current: Value =
        reqwest::get(format!("{}/api/v1/client/public-key", app.url)).await.unwrap().json().await.unwrap();
    assert_eq!(current["key_id"], new.key_id.as_str());
    assert_ne!(new.key_id, old_id);
    let r = reqwest::get(format!("{}/api/v1/client/public-key?key_id={old_id}", app.url)).await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["public_key"], STANDARD.encode(old.as_bytes()));
    let key = setup(&app, json!({})).await;
    let r = post(&app, "check", req(&key, "hw")).await;
    assert_eq!(r.status, 200, "responses verify with the new key");
    let missing = reqwest::get(format!("{}/api/v1/client/public-key?key_id=nope", app.url)).await.unwrap();
    assert_eq!(missing.status(), 404);
    let detail = missing.text().await.unwrap();
    assert!(detail.contains("no signing key has this key_id") && !detail.contains("token"), "{detail}");
    assert_eq!(licensd_store::keys::public_keys(&app.db).await.unwrap().len(), 2);
}

async fn malformed_client_requests_are_400(app: TestApp) {
    let key = setup(&app, json!({})).await;
    for body in [
        json!({"license_key": key, "product": "app"}),
        json!({"license_key": key, "hardware_id": "", "product": "app"}),
        json!({"license_key": key, "hardware_id": "x".repeat(300), "product": "app"}),
        json!({"license_key": key, "hardware_id": "hw", "product": "app", "extra": 1}),
        json!({"license_key": key, "hardware_id": 7, "product": "app"}),
        json!({"license_key": key, "hardware_id": "hw", "product": "app", "nonce": "n".repeat(200)}),
    ] {
        let r = post(&app, "activate", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(app.count("devices").await, 0);
    assert_error(
        &app.call(
            reqwest::Method::POST,
            "/api/v1/client/check",
            None,
            Some(crate::common::Body::Raw(b"{".to_vec(), "application/json")),
        )
        .await,
        400,
        "MALFORMED_JSON",
    );
}

/// Fires `n` requests at once, spread over two server instances sharing the database.
async fn storm(app: &TestApp, n: usize, path: &'static str, body: impl Fn(usize) -> Value) -> Vec<(u16, Value)> {
    let second = app.second_instance().await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let base = if i % 2 == 0 { app.url.clone() } else { second.clone() };
        let client = client.clone();
        let b = body(i);
        tasks.push(tokio::spawn(async move {
            let r = client.post(format!("{base}/api/v1/client/{path}")).json(&b).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn tally(results: &[(u16, Value)]) -> std::collections::BTreeMap<(u16, String), usize> {
    let mut m = std::collections::BTreeMap::new();
    for (s, b) in results {
        *m.entry((*s, b["code"].as_str().unwrap_or("?").to_string())).or_insert(0) += 1;
    }
    m
}

async fn concurrent_activations_never_exceed_max(app: TestApp) {
    let key = setup(&app, json!({"max_activations": 5})).await;
    let results = storm(&app, 64, "activate", |i| req(&key, &format!("machine-{i}"))).await;
    let t = tally(&results);
    assert_eq!(t.get(&(201, "ACTIVATED".into())), Some(&5), "{t:?}");
    assert_eq!(t.get(&(409, "TOO_MANY_ACTIVATIONS".into())), Some(&59), "{t:?}");
    let l = &app.get("/api/v1/licenses").await.body["results"][0];
    assert_eq!(l["times_activated"], 5);
    assert_eq!(l["total_active_devices"], 5);
}

async fn concurrent_floating_checkouts_never_exceed_seats(app: TestApp) {
    let key = setup(&app, json!({"is_floating_cloud": true, "floating_users": 5})).await;
    let results = storm(&app, 64, "activate", |i| req(&key, &format!("seat-{i}"))).await;
    let t = tally(&results);
    assert_eq!(t.get(&(201, "ACTIVATED".into())), Some(&5), "{t:?}");
    assert_eq!(t.get(&(409, "NO_SEAT".into())), Some(&59), "{t:?}");
    let live = app.db.fetch_one(query("SELECT COUNT(*) AS n FROM devices WHERE deactivated_at IS NULL")).await.unwrap();
    assert_eq!(live.get::<i64>("n").unwrap(), 5);
}

async fn concurrent_consumption_never_exceeds_max(app: TestApp) {
    let key = setup(&app, json!({"license_type": "consumption", "max_consumptions": 10})).await;
    post(&app, "activate", req(&key, "hw")).await;
    let results = storm(&app, 64, "consumption", |_| {
        let mut b = req(&key, "hw");
        b["consumptions"] = json!(1);
        b
    })
    .await;
    let t = tally(&results);
    assert_eq!(t.get(&(200, "CONSUMED".into())), Some(&10), "{t:?}");
    assert_eq!(t.get(&(409, "CONSUMPTION_LIMIT".into())), Some(&54), "{t:?}");
    assert_eq!(app.get("/api/v1/licenses").await.body["results"][0]["total_consumptions"], 10);
}
