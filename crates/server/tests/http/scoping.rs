//! A manager token sees and changes only the records of its products.

use licensd_core::model::Role;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Body, TestApp, assert_error};

backend_tests!(manager_sees_only_its_products_records, manager_cannot_issue_for_other_products);

async fn manager_sees_only_its_products_records(app: TestApp) {
    app.product("mine").await;
    app.product("theirs").await;
    let mine = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "M-1", "customer": {"email": "m@example.com"}, "licenses": [{"product": "mine"}]}),
        )
        .await
        .body;
    let theirs = app.post("/api/v1/orders", json!({"store_id": "T-1", "customer": {"email": "t@example.com"}, "licenses": [{"product": "theirs"}, {"product": "theirs"}]})).await.body;
    let m = app.token("support", Role::Manager, &["mine"]).await;
    let get = |path: String| {
        let app = &app;
        let m = m.clone();
        async move { app.call(Method::GET, &path, Some(&m), None).await }
    };

    let l = get("/api/v1/licenses".into()).await;
    assert_eq!(l.body["count"], 1);
    assert_eq!(l.body["results"][0]["product"]["short_code"], "mine");
    assert_eq!(get("/api/v1/licenses?product__short_code=theirs".into()).await.body["count"], 0);
    assert_eq!(get("/api/v1/licenses?customer__email=t@example.com".into()).await.body["count"], 0);
    assert_error(&get(format!("/api/v1/licenses/{}", theirs["licenses"][0]["id"])).await, 404, "NOT_FOUND");
    assert_eq!(get("/api/v1/products".into()).await.body["count"], 1);
    assert_eq!(get("/api/v1/customers".into()).await.body["count"], 1);
    assert_error(&get(format!("/api/v1/customers/{}", theirs["customer"])).await, 404, "NOT_FOUND");
    assert_eq!(get("/api/v1/orders".into()).await.body["count"], 1);
    assert_error(&get(format!("/api/v1/orders/{}", theirs["id"])).await, 404, "NOT_FOUND");
    assert_eq!(get(format!("/api/v1/orders/{}", mine["id"])).await.status, 200);
    let ev = get("/api/v1/events?resource_type=license".into()).await;
    assert_eq!(ev.body["count"], 1);

    let theirs_id = theirs["licenses"][0]["id"].as_i64().unwrap();
    let r = app.call(Method::POST, &format!("/api/v1/licenses/{theirs_id}/disable"), Some(&m), None).await;
    assert_error(&r, 404, "NOT_FOUND");
    let r = app
        .call(Method::PATCH, &format!("/api/v1/licenses/{theirs_id}"), Some(&m), Some(Body::Json(json!({"note": "x"}))))
        .await;
    assert_error(&r, 404, "NOT_FOUND");
    assert_eq!(app.get(&format!("/api/v1/licenses/{theirs_id}")).await.body["enabled"], true);
    // The admin still sees everything.
    assert_eq!(app.list_count("/api/v1/licenses").await, 3);
}

async fn manager_cannot_issue_for_other_products(app: TestApp) {
    app.product("mine").await;
    let theirs = app.product("theirs").await;
    let m = app.token("store", Role::Manager, &["mine"]).await;
    let post = |path: &'static str, body: serde_json::Value| {
        let app = &app;
        let m = m.clone();
        async move { app.call(Method::POST, path, Some(&m), Some(Body::Json(body))).await }
    };
    let r = post("/api/v1/licenses", json!({"product": theirs})).await;
    let e = assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/product");
    // A store's flow under a manager token: create the customer, then its license.
    let c = post("/api/v1/customers", json!({"email": "new@example.com"})).await;
    assert_eq!(c.status, 201);
    let cid = c.body["id"].as_i64().unwrap();
    assert_eq!(app.call(Method::GET, &format!("/api/v1/customers/{cid}"), Some(&m), None).await.status, 200);
    let l = post("/api/v1/licenses", json!({"product": "mine", "customer": cid})).await;
    assert_eq!(l.status, 201, "{}", l.text);
    assert_eq!(app.count("licenses").await, 1);
}
