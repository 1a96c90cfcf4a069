//! Tokens and the operations endpoints.

use licensd_core::model::Role;
use reqwest::Method;
use serde_json::json;

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

async fn trailing_slash_is_optional(app: TestApp) {
    let p = app.product("app").await;
    assert_eq!(app.get("/api/v1/products/").await.body["count"], 1);
    assert_eq!(app.get(&format!("/api/v1/products/{p}/")).await.body["id"], p);
    let r = app.post("/api/v1/products/", json!({"product_name": "B", "short_code": "b"})).await;
    assert_eq!(r.status, 201);
}
