//! Tokens and the operations endpoints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use licensd_core::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Body, TestApp, assert_error};

backend_tests!(
    healthz_answers_ok_after_a_database_round_trip,
    every_accepted_auth_scheme_works_and_others_get_401,
    revoked_token_is_refused_at_once,
    manager_token_cannot_write_the_catalog,
    metrics_count_requests_by_route_and_status,
    openapi_describes_every_endpoint,
    unknown_paths_and_methods_answer_json,
    each_surface_answers_what_it_lacks_in_its_own_shape,
    trailing_slash_is_optional,
);

async fn healthz_answers_ok_after_a_database_round_trip(app: TestApp) {
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok"}));
    assert_eq!(r.headers["content-type"], "application/json");
    app.db.close().await;
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_error(&r, 503, "UNAVAILABLE");
}

async fn every_accepted_auth_scheme_works_and_others_get_401(app: TestApp) {
    for scheme in ["Bearer", "Token", "Api-Key", "bearer", "token"] {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/products", app.url))
            .header("Authorization", format!("{scheme} {}", app.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
    }
    // DevMate's docs write the header with no space after the colon: `Authorization:Token <t>`.
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/products", app.url))
        .header("Authorization", format!("Token:{}", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let r = app.call(Method::GET, "/api/v1/products", None, None).await;
    assert_error(&r, 401, "UNAUTHORIZED");
    let r = app.call(Method::GET, "/api/v1/licenses", Some("lsd_not-a-real-token"), None).await;
    assert_error(&r, 401, "UNAUTHORIZED");
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/products", app.url))
        .header("Authorization", format!("Basic {}", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn revoked_token_is_refused_at_once(app: TestApp) {
    let t = app.token("ci", Role::Admin, &[]).await;
    assert_eq!(app.call(Method::GET, "/api/v1/products", Some(&t), None).await.status, 200);
    let id = licensd_store::tokens::list(&app.db).await.unwrap().into_iter().find(|x| x.name == "ci").unwrap().id;
    licensd_store::tokens::revoke(&app.db, id).await.unwrap();
    let r = app.call(Method::GET, "/api/v1/products", Some(&t), None).await;
    assert_error(&r, 401, "UNAUTHORIZED");
}

async fn manager_token_cannot_write_the_catalog(app: TestApp) {
    let p = app.product("app").await;
    let m = app.token("support", Role::Manager, &["app"]).await;
    let body = json!({"product_name": "X", "short_code": "x"});
    let r = app.call(Method::POST, "/api/v1/products", Some(&m), Some(Body::Json(body))).await;
    assert_error(&r, 403, "FORBIDDEN");
    let r = app
        .call(Method::PATCH, &format!("/api/v1/products/{p}"), Some(&m), Some(Body::Json(json!({"bundle_id": "z"}))))
        .await;
    assert_error(&r, 403, "FORBIDDEN");
    let r = app.call(Method::DELETE, &format!("/api/v1/products/{p}"), Some(&m), None).await;
    assert_error(&r, 403, "FORBIDDEN");
    let body = json!({"product": p, "name": "T", "code": "t"});
    let r = app.call(Method::POST, "/api/v1/license-templates", Some(&m), Some(Body::Json(body))).await;
    assert_error(&r, 403, "FORBIDDEN");
    // Reading is allowed, and the product is unchanged.
    let r = app.call(Method::GET, &format!("/api/v1/products/{p}"), Some(&m), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["bundle_id"], "");
    assert_eq!(app.count("products").await, 1);
}

async fn metrics_count_requests_by_route_and_status(app: TestApp) {
    app.get("/api/v1/products").await;
    app.get("/api/v1/products/999").await;
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains(r#"licensd_http_requests_total{method="GET",route="/api/v1/products",status="200"} 1"#),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(r#"licensd_http_requests_total{method="GET",route="/api/v1/products/{id}",status="404"} 1"#),
        "{}",
        r.text
    );
    assert!(r.text.contains("licensd_http_request_duration_seconds_bucket"), "{}", r.text);
    assert!(r.text.contains("licensd_db_pool_connections "), "{}", r.text);
    assert!(!r.text.contains(&app.admin));
}

async fn openapi_describes_every_endpoint(app: TestApp) {
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/api/v1/products", &["get", "post"][..]),
        ("/api/v1/products/{id}", &["get", "patch", "delete"]),
        ("/api/v1/product-features", &["get", "post"]),
        ("/api/v1/product-features/{id}", &["get", "patch", "delete"]),
        ("/api/v1/license-templates", &["get", "post"]),
        ("/api/v1/license-templates/{id}", &["get", "patch", "delete"]),
        ("/api/v1/customers", &["get", "post"]),
        ("/api/v1/customers/{id}", &["get", "patch", "delete"]),
        ("/api/v1/orders", &["get", "post"]),
        ("/api/v1/orders/{id}", &["get", "patch", "delete"]),
        ("/api/v1/licenses", &["get", "post"]),
        ("/api/v1/licenses/{id}", &["get", "patch", "delete"]),
        ("/api/v1/licenses/{id}/disable", &["post"]),
        ("/api/v1/licenses/{id}/enable", &["post"]),
        ("/api/v1/licenses/{id}/refund", &["post"]),
        ("/api/v1/licenses/{id}/reset", &["post"]),
        ("/api/v1/devices", &["get"]),
        ("/api/v1/devices/{id}", &["get"]),
        ("/api/v1/devices/{id}/deactivate", &["post"]),
        ("/api/v1/events", &["get"]),
        ("/api/v1/events/{id}", &["get"]),
        ("/healthz", &["get"]),
        ("/metrics", &["get"]),
    ] {
        let p = paths.get(path).unwrap_or_else(|| panic!("{path} missing from /openapi.json"));
        for m in methods {
            assert!(p.get(*m).is_some(), "{m} {path} missing");
        }
    }
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|o| o["operationId"].as_str())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "operationIds must be unique");
    assert!(r.body["components"]["schemas"]["License"].is_object());
}

async fn unknown_paths_and_methods_answer_json(app: TestApp) {
    let r = app.get("/api/v1/nothing-here").await;
    assert_error(&r, 404, "NOT_FOUND");
    let r = app.call(Method::PUT, "/api/v1/products", Some(&app.admin), None).await;
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
}

/// Every surface answers a path under its prefix that it does not have (the prefix itself, with or without
/// its trailing slash, included) and a method one of its paths does not take in its own shape: the envelope
/// on `/api/v1`, DevMate's on `/v2`, the envelope bound and signed on the client API. Paths that only look
/// like a prefix (`/v2x`, `/api/v1/clientx`) and paths outside every surface answer in the envelope, unsigned.
async fn each_surface_answers_what_it_lacks_in_its_own_shape(app: TestApp) {
    const ENVELOPE_404: &str =
        r#"{"errors":[{"code":"NOT_FOUND","title":"Not found","detail":"no such path; see /openapi.json"}]}"#;
    const ENVELOPE_405: &str = r#"{"errors":[{"code":"METHOD_NOT_ALLOWED","title":"Method not allowed","detail":"this path does not take that method"}]}"#;
    const DEVMATE_404: &str = r#"{"errors":[{"title":"Not found.","detail":"No such method in the DevMate API v2."}]}"#;
    let token = Some(app.admin.as_str());
    for p in [
        "/nope",
        "/api",
        "/api/v1",
        "/api/v1/",
        "/api/v1/nothing",
        "/api/v1/products/1/nothing",
        "/api/v1/clientx",
        "/api/v1/clientx/activate",
        "/v2x",
        "/v22/customers",
        "/openapi.json/x",
    ] {
        let r = app.call(Method::GET, p, token, None).await;
        assert_eq!((r.status, r.text.as_str()), (404, ENVELOPE_404), "{p}");
        assert!(r.headers.get("licensd-signature").is_none(), "{p} is not the client API's");
    }
    // `/` is the dashboard's home (sign in first); under `/ui` the dashboard answers in HTML.
    let r = app.call(Method::GET, "/", token, None).await;
    assert_eq!(r.status, 200, "redirected to the sign-in page");
    assert!(r.text.contains("<h1>Sign in</h1>"), "{}", r.text);
    for p in ["/ui/nothing", "/ui/licenses/1/nothing"] {
        let r = app.call(Method::GET, p, token, None).await;
        assert_eq!(r.status, 404, "{p}");
        assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{p}");
        assert!(r.text.contains("There is no such page"), "{p}: {}", r.text);
    }
    for p in ["/v2", "/v2/", "/v2/nothing", "/v2/customers/1/nothing"] {
        let r = app.call(Method::GET, p, token, None).await;
        assert_eq!((r.status, r.text.as_str()), (404, DEVMATE_404), "{p}");
    }
    for (m, p, allow) in [
        (Method::POST, "/healthz", "GET,HEAD"),
        (Method::POST, "/openapi.json", "GET,HEAD"),
        (Method::DELETE, "/api/v1/products/", "GET,HEAD,POST"),
        (Method::PUT, "/api/v1/licenses/1/disable", "POST"),
    ] {
        let r = app.call(m.clone(), p, token, None).await;
        assert_eq!((r.status, r.text.as_str()), (405, ENVELOPE_405), "{m} {p}");
        assert_eq!(r.headers["allow"], allow, "{m} {p}");
    }
    for (m, p) in [(Method::DELETE, "/v2/customers/"), (Method::PATCH, "/v2/customers/1")] {
        let r = app.call(m.clone(), p, token, None).await;
        assert_eq!((r.status, r.text.as_str()), (405, ""), "{m} {p}: DevMate's empty 405");
    }
    let v: Value = app.call(Method::GET, "/api/v1/client/public-key", None, None).await.body;
    let bytes: [u8; 32] = STANDARD.decode(v["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&bytes).unwrap();
    let not_found: Value = serde_json::from_str(ENVELOPE_404).unwrap();
    let wrong_method: Value = serde_json::from_str(ENVELOPE_405).unwrap();
    for (m, p, status, want) in [
        (Method::GET, "/api/v1/client", 404, &not_found),
        (Method::GET, "/api/v1/client/", 404, &not_found),
        (Method::POST, "/api/v1/client/nothing", 404, &not_found),
        (Method::GET, "/api/v1/client/activate", 405, &wrong_method),
        (Method::GET, "/api/v1/client/check/", 405, &wrong_method),
    ] {
        let r = app.call(m.clone(), p, None, None).await;
        let sig = r.headers.get("licensd-signature").unwrap_or_else(|| panic!("{m} {p} is signed"));
        let sig = Signature::from_slice(&STANDARD.decode(sig.to_str().unwrap()).unwrap()).unwrap();
        key.verify(r.text.as_bytes(), &sig).unwrap_or_else(|e| panic!("{m} {p}: {e}"));
        assert_eq!((r.status, &r.body["errors"]), (status, &want["errors"]), "{m} {p}: {}", r.text);
        assert_eq!(
            (r.body["status"].as_u64(), &r.body["code"]),
            (Some(u64::from(status)), &want["errors"][0]["code"]),
            "{}",
            r.text
        );
    }
}

async fn trailing_slash_is_optional(app: TestApp) {
    let p = app.product("app").await;
    assert_eq!(app.get("/api/v1/products/").await.body["count"], 1);
    assert_eq!(app.get(&format!("/api/v1/products/{p}/")).await.body["id"], p);
    let r = app.post("/api/v1/products/", json!({"product_name": "B", "short_code": "b"})).await;
    assert_eq!(r.status, 201);
}
