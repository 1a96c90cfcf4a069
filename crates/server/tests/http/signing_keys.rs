//! `/api/v1/signing-keys`: both kinds of key listed (the RSA key of LicenseSpring's API as PEM, the Ed25519 key
//! as the client API serves it), rotation per algorithm by admins only (recorded with the token's name), and
//! bad input refused with the field named and nothing changed. A signature made by the server's RSA key
//! verifies with the listed PEM, by aws-lc-rs's verifier.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use licensd_core::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Body, TestApp, assert_error};

crate::backend_tests!(
    every_token_reads_both_kinds_and_the_rsa_pem_verifies_the_servers_signatures,
    an_admin_rotates_one_kind_and_this_server_signs_with_it_at_once,
    rotation_is_refused_to_other_roles_and_for_bad_input_and_changes_nothing,
);

fn verifies(pem: &str, msg: &[u8], sig_b64: &str) -> bool {
    let der = licensd_core::rsa::pem_der(pem).expect("a PUBLIC KEY PEM");
    let sig = STANDARD.decode(sig_b64).expect("base64");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der).verify(msg, &sig).is_ok()
}

async fn every_token_reads_both_kinds_and_the_rsa_pem_verifies_the_servers_signatures(app: TestApp) {
    let read_only = app.token("viewer", Role::ReadOnly, &[]).await;
    let r = app.call(Method::GET, "/api/v1/signing-keys", Some(&read_only), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let served: Value =
        reqwest::get(format!("{}/api/v1/client/public-key", app.url)).await.unwrap().json().await.unwrap();
    let ed = r.body["ed25519"].as_array().unwrap();
    assert_eq!(ed.len(), 1);
    assert_eq!(
        (&ed[0]["key_id"], &ed[0]["public_key"], &ed[0]["algorithm"], &ed[0]["active"]),
        (&served["key_id"], &served["public_key"], &json!("ed25519"), &json!(true))
    );
    assert!(ed[0].get("bits").is_none() && ed[0].get("public_key_pem").is_none(), "{}", r.text);
    let rsa = r.body["rsa"].as_array().unwrap();
    assert_eq!(rsa.len(), 1);
    let key = app.state.rsa_key();
    assert_eq!(
        (&rsa[0]["key_id"], &rsa[0]["algorithm"], &rsa[0]["bits"], &rsa[0]["active"]),
        (&json!(key.key_id), &json!("rsa"), &json!(2048), &json!(true))
    );
    let pem = rsa[0]["public_key_pem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n") && pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(rsa[0]["public_key"], STANDARD.encode(licensd_core::rsa::pem_der(pem).unwrap()));
    assert!(rsa[0]["created_at"].as_str().unwrap().ends_with('Z'));
    // What the server signs with verifies with what it lists; a changed byte does not.
    let body = br#"{"license_key":"AAAA-BBBB","is_valid":true}"#;
    let sig = app.state.sign_rsa(body);
    assert!(verifies(pem, body, &sig));
    assert!(!verifies(pem, br#"{"license_key":"AAAA-BBBC","is_valid":true}"#, &sig));
    // The client API's key lookup never serves the RSA key under Ed25519's name.
    let by_id = reqwest::get(format!("{}/api/v1/client/public-key?key_id={}", app.url, key.key_id)).await.unwrap();
    assert_eq!(by_id.status(), 404);
    // No token, no list.
    assert_eq!(app.call(Method::GET, "/api/v1/signing-keys", None, None).await.status, 401);
}

async fn an_admin_rotates_one_kind_and_this_server_signs_with_it_at_once(app: TestApp) {
    let before = app.get("/api/v1/signing-keys").await.body;
    let (ed_id, rsa_id) = (before["ed25519"][0]["key_id"].clone(), before["rsa"][0]["key_id"].clone());
    let r = app.post("/api/v1/signing-keys/rotate", json!({"algorithm": "rsa", "bits": 3072})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.body["algorithm"], &r.body["bits"], &r.body["active"]), (&json!("rsa"), &json!(3072), &json!(true)));
    assert_ne!(r.body["key_id"], rsa_id);
    assert_eq!(app.state.rsa_key().key_id, r.body["key_id"].as_str().unwrap(), "this instance switched at once");
    let pem = r.body["public_key_pem"].as_str().unwrap().to_string();
    assert!(verifies(&pem, b"answer", &app.state.sign_rsa(b"answer")));

    let after = app.get("/api/v1/signing-keys").await.body;
    assert_eq!(after["ed25519"].as_array().unwrap().len(), 1);
    assert_eq!(after["ed25519"][0]["key_id"], ed_id, "the Ed25519 key is untouched");
    let rsa: Vec<(Value, Value, Value)> = after["rsa"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["key_id"].clone(), k["active"].clone(), k["bits"].clone()))
        .collect();
    assert_eq!(rsa, [(r.body["key_id"].clone(), json!(true), json!(3072)), (rsa_id, json!(false), json!(2048))]);
    assert!(after["rsa"][1]["public_key_pem"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));

    // Without `bits`, a new RSA key keeps the current key's size; Ed25519 alone.
    let r2 = app.post("/api/v1/signing-keys/rotate", json!({"algorithm": "rsa"})).await;
    assert_eq!((r2.status, &r2.body["bits"]), (200, &json!(3072)), "{}", r2.text);
    let e = app.post("/api/v1/signing-keys/rotate", json!({"algorithm": "ed25519"})).await;
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(e.body["algorithm"], "ed25519");
    assert!(e.body.get("public_key_pem").is_none());
    assert_eq!(app.state.key().key_id, e.body["key_id"].as_str().unwrap());
    assert_eq!(app.state.rsa_key().key_id, r2.body["key_id"].as_str().unwrap(), "the RSA key is untouched");

    let ev = app.get("/api/v1/events/?action=signing_key.rotated&order_by=id").await;
    assert_eq!(ev.body["count"], 3, "{}", ev.text);
    let events: Vec<(Value, Value)> = ev.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].clone(), e["after"]["algorithm"].clone()))
        .collect();
    assert_eq!(
        events,
        [(json!("admin"), json!("rsa")), (json!("admin"), json!("rsa")), (json!("admin"), json!("ed25519"))]
    );
}

async fn rotation_is_refused_to_other_roles_and_for_bad_input_and_changes_nothing(app: TestApp) {
    let before = app.count("signing_keys").await;
    let (ed, rsa) = (app.state.key().key_id.clone(), app.state.rsa_key().key_id.clone());
    app.product("app").await;
    let events = app.count("events").await;
    for role in [Role::Manager, Role::Support, Role::ReadOnly] {
        let products: &[&str] = if role == Role::Manager { &["app"] } else { &[] };
        let t = app.token(&format!("t-{}", role.as_str()), role, products).await;
        let r = app
            .call(Method::POST, "/api/v1/signing-keys/rotate", Some(&t), Some(Body::Json(json!({"algorithm": "rsa"}))))
            .await;
        assert_error(&r, 403, "FORBIDDEN_ROLE");
    }
    for (body, pointer) in [
        (json!({"algorithm": "rsa", "bits": 1024}), "/bits"),
        (json!({"algorithm": "rsa", "bits": 8192}), "/bits"),
        (json!({"algorithm": "ed25519", "bits": 2048}), "/bits"),
        (json!({"algorithm": "dsa"}), "/algorithm"),
        (json!({}), ""),
        (json!({"algorithm": "rsa", "size": 2048}), ""),
        (json!({"algorithm": "rsa", "bits": "2048"}), "/bits"),
    ] {
        let r = app.post("/api/v1/signing-keys/rotate", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        if !pointer.is_empty() {
            assert_eq!(r.body["errors"][0]["source"]["pointer"], pointer, "{body}: {}", r.text);
        }
    }
    let r = app
        .call(
            Method::POST,
            "/api/v1/signing-keys/rotate",
            Some(&app.admin),
            Some(Body::Raw(b"x".to_vec(), "application/json")),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(app.count("signing_keys").await, before);
    assert_eq!((app.state.key().key_id.clone(), app.state.rsa_key().key_id.clone()), (ed, rsa));
    assert_eq!(app.count("events").await, events);
}
