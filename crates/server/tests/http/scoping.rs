//! A manager token sees and changes only the records of its products.

use licensd_core::model::Role;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Body, TestApp, assert_error};

backend_tests!(
    manager_sees_only_its_products_records,
    manager_cannot_issue_for_other_products,
    manager_searches_and_counts_stay_inside_its_products
);

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

async fn manager_searches_and_counts_stay_inside_its_products(app: TestApp) {
    let mine = app.product("mine").await;
    let theirs = app.product("theirs").await;
    app.template(mine, "m", json!({})).await;
    app.template(theirs, "t", json!({})).await;
    let acc_m =
        app.post("/api/v1/customer-accounts", json!({"name": "Mine Co", "code": "mine-co"})).await.body["id"].clone();
    let acc_t =
        app.post("/api/v1/customer-accounts", json!({"name": "Their Co", "code": "their-co"})).await.body["id"].clone();
    let mut keys = Vec::new();
    for (tpl, who, acc) in [("m", "mara", &acc_m), ("t", "theo", &acc_t), ("t", "tina", &acc_t)] {
        let r = app
            .post(
                "/api/v1/orders",
                json!({"store_id": format!("INV-{who}"), "customer_account": acc,
                       "customer": {"email": format!("{who}@shared.example"), "company_name": "Shared Ltd", "customer_account": acc},
                       "licenses": [{"license_template": tpl}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let key = r.body["licenses"][0]["license_key"].as_str().unwrap().to_string();
        let product = if tpl == "m" { "mine" } else { "theirs" };
        let a = app
            .post(
                "/api/v1/client/activate",
                json!({"license_key": key, "hardware_id": format!("hw-{who}"), "product": product, "hostname": format!("host-{who}")}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        let lid = r.body["licenses"][0]["id"].as_i64().unwrap();
        app.post(
            &format!("/api/v1/licenses/{lid}/assign_user"),
            json!({"email": format!("user-{who}@shared.example")}),
        )
        .await;
        keys.push(key);
    }
    let m = app.token("support", Role::Manager, &["mine"]).await;
    let count = |path: &'static str| {
        let app = &app;
        let m = m.clone();
        async move {
            let r = app.call(Method::GET, path, Some(&m), None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.body["count"].as_i64().unwrap()
        }
    };
    // Each search below matches rows of both products for the admin, and only "mine" for the manager.
    for (path, admin_sees, manager_sees) in [
        ("/api/v1/licenses?customer__company_name__icontains=shared", 3, 1),
        ("/api/v1/licenses?devices__hostname__startswith=host-", 3, 1),
        ("/api/v1/licenses?license_users__true_email__icontains=shared.example", 3, 1),
        ("/api/v1/licenses?customer__email=theo@shared.example", 1, 0),
        ("/api/v1/licenses?order__store_id__in=INV-theo,INV-tina", 2, 0),
        ("/api/v1/licenses?devices__hardware_id=hw-tina", 1, 0),
        ("/api/v1/customers?email__icontains=shared.example", 3, 1),
        ("/api/v1/customers?company_name=Shared%20Ltd", 3, 1),
        ("/api/v1/orders?store_id__startswith=INV-", 3, 1),
        ("/api/v1/devices?hostname__icontains=host", 3, 1),
        ("/api/v1/devices?hardware_id=hw-theo", 1, 0),
        ("/api/v1/license-users?true_email__icontains=shared", 3, 1),
        ("/api/v1/customer-accounts?code__icontains=co", 2, 1),
        ("/api/v1/customer-accounts?name=Their%20Co", 1, 0),
        ("/api/v1/events?resource_type=device", 3, 1),
    ] {
        assert_eq!(app.list_count(path).await, admin_sees, "admin: {path}");
        assert_eq!(count(path).await, manager_sees, "manager: {path}");
    }
    let r = app.call(Method::GET, &format!("/api/v1/customer-accounts/{acc_t}"), Some(&m), None).await;
    assert_error(&r, 404, "NOT_FOUND");
    // Another product's account cannot be attached by id either: it does not exist for this token.
    let r = app
        .call(
            Method::POST,
            "/api/v1/customers",
            Some(&m),
            Some(Body::Json(json!({"email": "x@example.com", "customer_account": acc_t}))),
        )
        .await;
    assert_error(&r, 400, "INVALID_FIELD");
    // An account the manager creates is its own to see.
    let r = app
        .call(
            Method::POST,
            "/api/v1/customer-accounts",
            Some(&m),
            Some(Body::Json(json!({"name": "New", "code": "new"}))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(count("/api/v1/customer-accounts").await, 2);
}
