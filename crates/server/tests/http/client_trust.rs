//! Issue 11's client-side findings (docs/security.md): answers bound to their request, license files that
//! never outlast a seat or free a slot, and nothing granted to a device without an activation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use licensd_core::token::sha256_hex;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::TestApp;

backend_tests!(
    every_answer_is_bound_to_its_request_and_status,
    refusals_of_a_readable_body_carry_its_nonce,
    a_floating_license_file_never_outlasts_the_seat,
    a_slot_with_an_outstanding_license_file_cannot_move,
    a_device_without_an_activation_is_told_nothing_the_license_grants,
    trial_files_are_marked,
);

/// A client API answer with its signature verified.
struct Answer {
    status: u16,
    body: Value,
    text: String,
}

async fn public_key(app: &TestApp) -> VerifyingKey {
    let v: Value = reqwest::get(format!("{}/api/v1/client/public-key", app.url)).await.unwrap().json().await.unwrap();
    let bytes: [u8; 32] = STANDARD.decode(v["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&bytes).unwrap()
}

/// Sends exactly `body` with `method` and verifies the answer's signature.
async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: &[u8]) -> Answer {
    send_body(app, method, path, body.to_vec().into()).await
}

/// [`send`] with any request body (a streamed one has no Content-Length).
async fn send_body(app: &TestApp, method: reqwest::Method, path: &str, body: reqwest::Body) -> Answer {
    let res = reqwest::Client::new()
        .request(method, format!("{}/api/v1/client/{path}", app.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let sig = res.headers().get("licensd-signature").map(|v| v.to_str().unwrap().to_string());
    let bytes = res.bytes().await.unwrap();
    let sig = Signature::from_slice(&STANDARD.decode(sig.expect("signed")).unwrap()).unwrap();
    public_key(app).await.verify(&bytes, &sig).expect("the answer verifies");
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    send(app, reqwest::Method::POST, path, body.to_string().as_bytes()).await
}

fn req(key: &str, hw: &str) -> Value {
    json!({"license_key": key, "hardware_id": hw, "product": "app", "nonce": format!("nonce-{hw}")})
}

async fn license(app: &TestApp, extra: Value) -> String {
    if app.count("products").await == 0 {
        app.product("app").await;
    }
    let mut body = json!({"product": "app"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.license(body).await["license_key"].as_str().unwrap().to_string()
}

#[track_caller]
fn refused(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.body["code"], code, "{}", a.text);
}

fn file_payload(file: &str) -> Value {
    let b64: String = file.lines().filter(|l| !l.starts_with("-----")).collect();
    let env: Value = serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap();
    serde_json::from_slice(&STANDARD.decode(env["enc"].as_str().unwrap()).unwrap()).unwrap()
}

/// H3 and I2: the signed bytes name the request (its hash, key, product and device) and the HTTP status,
/// for successes, refusals, malformed bodies, unknown paths and wrong methods alike.
async fn every_answer_is_bound_to_its_request_and_status(app: TestApp) {
    let key = license(&app, json!({"max_activations": 1})).await;
    let cases: Vec<(reqwest::Method, &str, Vec<u8>, u16)> = vec![
        (reqwest::Method::POST, "activate", req(&key, "hw").to_string().into_bytes(), 201),
        (reqwest::Method::POST, "activate", req(&key, "hw").to_string().into_bytes(), 200),
        (reqwest::Method::POST, "activate", req(&key, "hw2").to_string().into_bytes(), 409),
        (reqwest::Method::POST, "check", req(&key, "hw").to_string().into_bytes(), 200),
        (reqwest::Method::POST, "check", req("NO-SUCH-KEY", "hw").to_string().into_bytes(), 200),
        (reqwest::Method::POST, "activate", b"{\"license_key\": 5}".to_vec(), 400),
        (reqwest::Method::POST, "activate", b"not json at all".to_vec(), 400),
        (reqwest::Method::POST, "no-such-endpoint", req(&key, "hw").to_string().into_bytes(), 404),
        (reqwest::Method::GET, "activate", Vec::new(), 405),
        (reqwest::Method::POST, "deactivate", req(&key, "hw").to_string().into_bytes(), 200),
    ];
    for (method, path, body, status) in cases {
        let a = send(&app, method.clone(), path, &body).await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.text);
        assert_eq!(a.body["status"], status, "{path}: the status is signed: {}", a.text);
        assert_eq!(a.body["request_sha256"], sha256_hex(&body), "{path}: {}", a.text);
        let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        for field in ["license_key", "product", "hardware_id"] {
            let want = sent.get(field).filter(|v| v.is_string()).cloned().unwrap_or(Value::Null);
            assert_eq!(a.body["request"][field], want, "{path}: {field}: {}", a.text);
        }
        assert!(a.body["timestamp"].is_i64(), "{}", a.text);
        assert!(a.body["code"].is_string(), "{}", a.text);
    }
    // A genuine answer for one key can be told apart from one for another: the request is in the signed bytes.
    let mine = post(&app, "check", req(&key, "hw")).await;
    let other = post(&app, "check", req("OTHER-KEY", "relay")).await;
    assert_ne!(mine.body["request_sha256"], other.body["request_sha256"]);
    assert_eq!(other.body["request"]["license_key"], "OTHER-KEY");
    // Too large a body: still signed and bound to its status (the hash of a body never read is null).
    let huge = format!("{{\"license_key\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let a = send(&app, reqwest::Method::POST, "check", huge.as_bytes()).await;
    assert_eq!((a.status, a.body["status"].as_i64()), (413, Some(413)), "{}", a.text);
    assert_eq!(a.body["code"], "PAYLOAD_TOO_LARGE", "{}", a.text);
    // Streamed, just over the limit (all of it is sent before the answer: a body far over it would meet a closed
    // connection while still being written).
    let over = format!("{{\"license_key\": \"{}\"}}", "x".repeat(1024 * 1024));
    let a = send_body(&app, reqwest::Method::POST, "check", crate::common::streamed(over.into_bytes())).await;
    assert_eq!((a.status, a.body["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")), "{}", a.text);
}

/// The review's "refusals that are really bad requests of a readable body are signed and carry the nonce".
async fn refusals_of_a_readable_body_carry_its_nonce(app: TestApp) {
    let key = license(
        &app,
        json!({"is_floating_cloud": true, "floating_users": 1, "can_borrow": true, "max_borrow_time": 24}),
    )
    .await;
    let mut b = req(&key, "hw");
    b["borrow_hours"] = json!(1000);
    let a = post(&app, "borrow", b).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.body["nonce"], "nonce-hw");
    assert_eq!(a.body["errors"][0]["source"]["pointer"], "/borrow_hours");
    let mut b = req(&key, "hw");
    b["unknown"] = json!(1);
    let a = post(&app, "check", b).await;
    assert_eq!((a.status, a.body["nonce"].as_str()), (400, Some("nonce-hw")), "{}", a.text);
    assert_eq!(a.body["code"], "UNKNOWN_FIELD");
    // Wrong types elsewhere: still readable enough for the nonce.
    let a = post(
        &app,
        "consumption",
        json!({"license_key": key, "hardware_id": "hw", "product": "app", "nonce": "n1", "consumptions": "x"}),
    )
    .await;
    assert_eq!((a.status, a.body["nonce"].as_str()), (400, Some("n1")), "{}", a.text);
    assert_eq!(app.count("devices").await, 0, "nothing was written");
}

/// M1: a floating license's file lasts no longer than its seat's lease (or borrowing), and the seat cannot
/// be handed back while the file is out.
async fn a_floating_license_file_never_outlasts_the_seat(app: TestApp) {
    let key = license(
        &app,
        json!({"is_floating_cloud": true, "floating_users": 1, "floating_timeout": 10, "can_borrow": true, "max_borrow_time": 48}),
    )
    .await;
    let a = post(&app, "activate", req(&key, "m1")).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let lease = a.body["device"]["lease_expires_at"].as_i64().unwrap();
    let f = post(&app, "license-file", req(&key, "m1")).await;
    assert_eq!(f.status, 200, "{}", f.text);
    let p = file_payload(&f.text);
    assert!(p["expires_at"].as_i64().unwrap() <= lease, "the file ends with the lease: {p}");
    assert!(p["expires_at"].as_i64().unwrap() - p["issued_at"].as_i64().unwrap() <= 600);
    assert_eq!(p["is_floating_cloud"], true);
    // The seat stays taken while the file verifies: no second machine, no early release.
    refused(&post(&app, "deactivate", req(&key, "m1")).await, 409, "LICENSE_FILE_OUTSTANDING");
    refused(&post(&app, "activate", req(&key, "m2")).await, 409, "NO_SEAT");
    // Borrowing: the file lasts exactly the borrowing.
    let mut b = req(&key, "m1");
    b["borrow_hours"] = json!(5);
    let br = post(&app, "borrow", b).await;
    assert_eq!(br.status, 200, "{}", br.text);
    let until = br.body["device"]["borrowed_until"].as_i64().unwrap();
    let p = file_payload(br.body["license_file"].as_str().unwrap());
    assert_eq!(p["expires_at"].as_i64().unwrap(), until);
    refused(&post(&app, "deactivate", req(&key, "m1")).await, 409, "LICENSE_FILE_OUTSTANDING");
}

/// M1: node-locked, a device whose file still verifies keeps its slot: deactivating it and activating
/// another machine is refused (the review made four valid files from one activation this way).
async fn a_slot_with_an_outstanding_license_file_cannot_move(app: TestApp) {
    let key = license(&app, json!({"max_activations": 1})).await;
    assert_eq!(post(&app, "activate", req(&key, "n1")).await.status, 201);
    // Without a file, moving is free (max_transfers 0: unlimited).
    assert_eq!(post(&app, "deactivate", req(&key, "n1")).await.status, 200);
    assert_eq!(post(&app, "activate", req(&key, "n2")).await.status, 201);
    let f = post(&app, "license-file", req(&key, "n2")).await;
    assert_eq!(f.status, 200);
    let expires = file_payload(&f.text)["expires_at"].as_i64().unwrap();
    let d = post(&app, "deactivate", req(&key, "n2")).await;
    refused(&d, 409, "LICENSE_FILE_OUTSTANDING");
    assert!(d.body["errors"][0]["detail"].as_str().unwrap().contains(&expires.to_string()), "{}", d.text);
    refused(&post(&app, "activate", req(&key, "n3")).await, 409, "TOO_MANY_ACTIVATIONS");
    let offline = URL_SAFE.encode(
        json!({"v": 1, "type": "deactivate", "license_key": key, "product": "app", "hardware_id": "n2", "issued_at": 1}).to_string(),
    );
    refused(&post(&app, "offline-deactivate", json!({"request": offline})).await, 409, "LICENSE_FILE_OUTSTANDING");
    let l = app.get(&format!("/api/v1/licenses?license_key={key}")).await;
    assert_eq!(l.body["results"][0]["times_activated"], 1, "{}", l.text);
    // The vendor decides otherwise through the management API.
    let devices = app.get("/api/v1/devices?hardware_id=n2").await;
    let id = devices.body["results"][0]["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/devices/{id}/deactivate"), json!({})).await.status, 200);
    assert_eq!(post(&app, "activate", req(&key, "n3")).await.status, 201);
}

use base64::engine::general_purpose::URL_SAFE_NO_PAD as URL_SAFE;

/// L1 / I4: a key that is not activated on the asking device learns the license's state, not its
/// metadata or features.
async fn a_device_without_an_activation_is_told_nothing_the_license_grants(app: TestApp) {
    let product = if app.count("products").await == 0 { app.product("app").await } else { 1 };
    let f = app.post("/api/v1/product-features", json!({"product": product, "code": "pdf", "name": "PDF"})).await;
    assert_eq!(f.status, 201, "{}", f.text);
    app.template(product, "withpdf", json!({"features": [{"code": "pdf"}]})).await;
    let key =
        app.license(json!({"license_template": "withpdf", "metadata": {"internal_price": 999}})).await["license_key"]
            .as_str()
            .unwrap()
            .to_string();
    let c = post(&app, "check", req(&key, "stranger")).await;
    assert_eq!(
        (c.body["valid"].as_bool(), c.body["code"].as_str()),
        (Some(false), Some("NOT_ACTIVATED")),
        "{}",
        c.text
    );
    assert_eq!(c.body["license"]["metadata"], json!({}), "{}", c.text);
    assert_eq!(c.body["license"]["features"], json!([]), "{}", c.text);
    assert!(!c.text.contains("internal_price"));
    // The same when the license is disabled and the device holds nothing.
    assert_eq!(
        app.post(&format!("/api/v1/licenses/{}/disable", license_id(&app, &key).await), json!({})).await.status,
        200
    );
    let c = post(&app, "check", req(&key, "stranger")).await;
    assert_eq!(c.body["code"], "DISABLED");
    assert!(!c.text.contains("internal_price"), "{}", c.text);
    assert_eq!(
        app.post(&format!("/api/v1/licenses/{}/enable", license_id(&app, &key).await), json!({})).await.status,
        200
    );
    // An activated device gets everything.
    assert_eq!(post(&app, "activate", req(&key, "mine")).await.status, 201);
    let c = post(&app, "check", req(&key, "mine")).await;
    assert_eq!(c.body["code"], "VALID");
    assert_eq!(c.body["license"]["metadata"]["internal_price"], 999);
    assert_eq!(c.body["license"]["features"][0]["code"], "pdf", "{}", c.text);
}

async fn license_id(app: &TestApp, key: &str) -> i64 {
    app.get(&format!("/api/v1/licenses?license_key={key}")).await.body["results"][0]["id"].as_i64().unwrap()
}

/// H2: a trial's file says it is one, inside the signed payload.
async fn trial_files_are_marked(app: TestApp) {
    let product = app.product("app").await;
    app.template(product, "trial", json!({"is_trial": true, "max_activations": 1})).await;
    let t = post(&app, "trial", json!({"product": "app", "hardware_id": "t1"})).await;
    assert_eq!(t.status, 201, "{}", t.text);
    let key = t.body["license"]["license_key"].as_str().unwrap();
    let f = post(&app, "license-file", req(key, "t1")).await;
    let p = file_payload(&f.text);
    assert_eq!((p["is_trial"].as_bool(), p["product"].as_str()), (Some(true), Some("app")), "{p}");
    let full = license(&app, json!({})).await;
    post(&app, "activate", req(&full, "t1")).await;
    assert_eq!(file_payload(&post(&app, "license-file", req(&full, "t1")).await.text)["is_trial"], false);
}
