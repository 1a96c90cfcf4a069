//! A manager token sees and changes only the records of its products.

use licensd_core::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Body, Resp, TestApp, assert_error};

backend_tests!(
    manager_sees_only_its_products_records,
    manager_cannot_issue_for_other_products,
    manager_searches_and_counts_stay_inside_its_products,
    license_with_a_customer_body_never_takes_another_products_customer,
    license_patch_with_a_customer_body_never_takes_another_products_customer,
    order_with_a_customer_body_never_takes_another_products_customer,
    v2_writes_never_reach_another_products_customer,
    assign_user_never_takes_another_products_license_user,
    trial_with_an_email_never_attaches_to_an_existing_customer,
    license_users_license_filter_is_scoped,
    a_new_license_never_shows_a_deleted_licenses_history,
    manager_cannot_recolour_another_products_label,
    label_colours_are_validated,
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

/// The review's setup (H1): products `appa` and `appb`, templates `asingle`, `bsingle` and the trial
/// `atrial`, and product B's order with a customer whose details only B's people may see. Returns manager A's
/// token and B's customer id.
async fn victim_setup(app: &TestApp) -> (String, i64) {
    let a = app.product("appa").await;
    let b = app.product("appb").await;
    app.template(a, "asingle", json!({"max_activations": 2})).await;
    app.template(b, "bsingle", json!({"max_activations": 2})).await;
    app.template(a, "atrial", json!({"is_trial": true, "max_activations": 1})).await;
    let r = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "B-ORDER-1", "customer": {"email": "victim@bcorp.example", "first_name": "Vic",
                   "phone": "+1-555-0100", "address": "1 Secret St", "note": "B-internal: VIP, discount 40%",
                   "labels": ["vip"]},
                   "licenses": [{"license_template": "bsingle"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let victim = r.body["customer"].as_i64().unwrap();
    (app.token("mgrA", Role::Manager, &["appa"]).await, victim)
}

/// Nothing of B's customer is in the answer.
#[track_caller]
fn no_victim_pii(r: &Resp) {
    for secret in ["Vic", "555-0100", "Secret St", "B-internal", "vip"] {
        assert!(!r.text.contains(secret), "{secret:?} leaked: {}", r.text);
    }
}

/// B's customer is still invisible to manager A, by id and by search, and unchanged.
async fn victim_still_hidden(app: &TestApp, m: &str, victim: i64) {
    let r = app.call(Method::GET, &format!("/api/v1/customers/{victim}"), Some(m), None).await;
    assert_error(&r, 404, "NOT_FOUND");
    let r = app.call(Method::GET, "/api/v1/customers?email__icontains=victim", Some(m), None).await;
    assert_eq!(r.body["count"], 0, "{}", r.text);
    let r = app.call(Method::GET, &format!("/v2/customers/{victim}"), Some(m), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let c = app.get(&format!("/api/v1/customers/{victim}")).await.body;
    assert_eq!(
        (c["email"].as_str(), c["note"].as_str()),
        (Some("victim@bcorp.example"), Some("B-internal: VIP, discount 40%"))
    );
    // Still only B's license points at it.
    assert_eq!(app.list_count(&format!("/api/v1/licenses?customer={victim}")).await, 1);
}

async fn as_manager(app: &TestApp, m: &str, method: Method, path: &str, body: Value) -> Resp {
    app.call(method, path, Some(m), Some(Body::Json(body))).await
}

async fn license_with_a_customer_body_never_takes_another_products_customer(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    let (licenses, customers) = (app.count("licenses").await, app.count("customers").await);
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        "/api/v1/licenses",
        json!({"license_template": "asingle", "customer": {"email": "VICTIM@bcorp.example"}}),
    )
    .await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/email", "{}", r.text);
    no_victim_pii(&r);
    assert_eq!((app.count("licenses").await, app.count("customers").await), (licenses, customers));
    victim_still_hidden(&app, &m, victim).await;
    // A customer the manager may see is still found by email and reused.
    let own =
        as_manager(&app, &m, Method::POST, "/api/v1/customers", json!({"email": "own@a.example", "first_name": "Own"}))
            .await;
    assert_eq!(own.status, 201, "{}", own.text);
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        "/api/v1/licenses",
        json!({"license_template": "asingle", "customer": {"email": "OWN@a.example"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["customer"]["id"], own.body["id"]);
    assert_eq!(r.body["customer"]["first_name"], "Own");
}

async fn license_patch_with_a_customer_body_never_takes_another_products_customer(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    let l = as_manager(&app, &m, Method::POST, "/api/v1/licenses", json!({"license_template": "asingle"})).await;
    assert_eq!(l.status, 201, "{}", l.text);
    let customers = app.count("customers").await;
    let r = as_manager(
        &app,
        &m,
        Method::PATCH,
        &format!("/api/v1/licenses/{}", l.body["id"]),
        json!({"customer": {"email": "victim@BCORP.example"}}),
    )
    .await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/email", "{}", r.text);
    no_victim_pii(&r);
    assert_eq!(app.count("customers").await, customers);
    assert!(app.get(&format!("/api/v1/licenses/{}", l.body["id"])).await.body["customer"].is_null());
    victim_still_hidden(&app, &m, victim).await;
}

async fn order_with_a_customer_body_never_takes_another_products_customer(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    let (orders, licenses, customers) =
        (app.count("orders").await, app.count("licenses").await, app.count("customers").await);
    let r = as_manager(&app, &m, Method::POST, "/api/v1/orders",
        json!({"store_id": "A-ORDER-1", "customer": {"email": "victim@bcorp.example"}, "licenses": [{"license_template": "asingle"}]})).await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/email", "{}", r.text);
    no_victim_pii(&r);
    assert_eq!(
        (app.count("orders").await, app.count("licenses").await, app.count("customers").await),
        (orders, licenses, customers)
    );
    victim_still_hidden(&app, &m, victim).await;
}

async fn v2_writes_never_reach_another_products_customer(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    let (licenses, customers) = (app.count("licenses").await, app.count("customers").await);
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        "/v2/customers",
        json!({"data": {"email": "Victim@bcorp.example", "first_name": "Eve"}}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    no_victim_pii(&r);
    let tpl = app.get("/api/v1/license-templates?code=asingle").await.body["results"][0]["id"].clone();
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        &format!("/v2/customers/{victim}/licenses"),
        json!({"data": {"license_type_id": tpl}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("not found"), "{}", r.text);
    no_victim_pii(&r);
    let r =
        as_manager(&app, &m, Method::PUT, &format!("/v2/customers/{victim}"), json!({"data": {"note": "overwritten"}}))
            .await;
    assert_eq!(r.status, 404, "{}", r.text);
    no_victim_pii(&r);
    assert_eq!((app.count("licenses").await, app.count("customers").await), (licenses, customers));
    victim_still_hidden(&app, &m, victim).await;
}

async fn assign_user_never_takes_another_products_license_user(app: TestApp) {
    let (m, _) = victim_setup(&app).await;
    let b_license = app.get("/api/v1/licenses?product__short_code=appb").await.body["results"][0]["id"].clone();
    let r = app
        .post(
            &format!("/api/v1/licenses/{b_license}/assign_user"),
            json!({"email": "bob@bcorp.example", "first_name": "Bob", "phone_number": "+1-555-0300"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bob = r.body["license_user"]["id"].as_i64().unwrap();
    let a = as_manager(&app, &m, Method::POST, "/api/v1/licenses", json!({"license_template": "asingle"})).await;
    let (users, links) = (app.count("license_users").await, app.count("license_license_users").await);
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        &format!("/api/v1/licenses/{}/assign_user", a.body["id"]),
        json!({"email": "BOB@bcorp.example"}),
    )
    .await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/email", "{}", r.text);
    assert!(!r.text.contains("Bob") && !r.text.contains("0300"), "{}", r.text);
    assert_eq!((app.count("license_users").await, app.count("license_license_users").await), (users, links));
    let r = app.call(Method::GET, &format!("/api/v1/license-users/{bob}"), Some(&m), None).await;
    assert_error(&r, 404, "NOT_FOUND");
    // Unassigning by email does not tell a hidden user from an unknown one either.
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        &format!("/api/v1/licenses/{}/unassign_user", a.body["id"]),
        json!({"license_user_email": "bob@bcorp.example"}),
    )
    .await;
    let unknown = as_manager(
        &app,
        &m,
        Method::POST,
        &format!("/api/v1/licenses/{}/unassign_user", a.body["id"]),
        json!({"license_user_email": "nobody@bcorp.example"}),
    )
    .await;
    assert_eq!((r.status, &r.body), (unknown.status, &unknown.body));
    // A new user, and one the manager already sees, are assigned as before.
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        &format!("/api/v1/licenses/{}/assign_user", a.body["id"]),
        json!({"email": "carol@a.example", "first_name": "Carol"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let a2 = as_manager(&app, &m, Method::POST, "/api/v1/licenses", json!({"license_template": "asingle"})).await;
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        &format!("/api/v1/licenses/{}/assign_user", a2.body["id"]),
        json!({"email": "CAROL@a.example"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["license_user"]["first_name"], "Carol");
}

async fn trial_with_an_email_never_attaches_to_an_existing_customer(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    let customers = app.count("customers").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/client/trial",
            None,
            Some(Body::Json(json!({"product": "appa", "hardware_id": "x", "email": "Victim@bcorp.example"}))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    no_victim_pii(&r);
    assert_eq!(app.count("customers").await, customers, "a trial creates no customer");
    victim_still_hidden(&app, &m, victim).await;
    // The vendor sees the address the trial was started with, on the trial license.
    let trial = app.call(Method::GET, "/api/v1/licenses?is_trial=true", Some(&m), None).await;
    assert_eq!(trial.body["count"], 1, "{}", trial.text);
    let t = &trial.body["results"][0];
    assert!(t["customer"].is_null(), "{}", trial.text);
    assert_eq!(t["trial_email"], "Victim@bcorp.example");
    let r = app.call(Method::GET, "/api/v1/licenses?trial_email__icontains=victim@bcorp", Some(&m), None).await;
    assert_eq!(r.body["count"], 1, "{}", r.text);
    // A bad address is refused and starts nothing.
    let r = app
        .call(
            Method::POST,
            "/api/v1/client/trial",
            None,
            Some(Body::Json(json!({"product": "appa", "hardware_id": "y", "email": "not an email"}))),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(app.count("trials").await, 1);
}

async fn license_users_license_filter_is_scoped(app: TestApp) {
    let (m, _) = victim_setup(&app).await;
    let b_license = app.get("/api/v1/licenses?product__short_code=appb").await.body["results"][0]["id"].clone();
    let a = app.license(json!({"license_template": "asingle"})).await;
    // Bob holds a license of each product; manager A sees him through A's.
    for l in [&b_license, &a["id"]] {
        let r = app.post(&format!("/api/v1/licenses/{l}/assign_user"), json!({"email": "bob@bcorp.example"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let count = |path: String| {
        let (app, m) = (&app, m.clone());
        async move {
            let r = app.call(Method::GET, &path, Some(&m), None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.body["count"].as_i64().unwrap()
        }
    };
    assert_eq!(count(format!("/api/v1/license-users?license={}", a["id"])).await, 1);
    // That Bob also holds B's license is not manager A's to learn.
    assert_eq!(count(format!("/api/v1/license-users?license={b_license}")).await, 0);
    assert_eq!(count(format!("/api/v1/license-users?license__in={b_license}")).await, 0);
    assert_eq!(count(format!("/api/v1/license-users?license__gte={b_license}&license__lte={b_license}")).await, 0);
    assert_eq!(app.list_count(&format!("/api/v1/license-users?license={b_license}")).await, 1, "the admin sees it");
}

async fn a_new_license_never_shows_a_deleted_licenses_history(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    // The review's reproduction: product B's newest license, deleted; then manager A issues one.
    let b = app
        .license(json!({"license_template": "bsingle", "customer": victim, "note": "B secret note",
                        "metadata": {"b_internal_price": 999}}))
        .await;
    let b_id = b["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/licenses/{b_id}")).await.status, 204);
    let a = as_manager(&app, &m, Method::POST, "/api/v1/licenses", json!({"license_template": "asingle"})).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a_id = a.body["id"].as_i64().unwrap();
    assert_ne!(a_id, b_id, "the deleted license's id was handed out again");
    for r in [&a, &app.call(Method::GET, &format!("/api/v1/licenses/{a_id}"), Some(&m), None).await] {
        let history = r.body["history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "{}", r.text);
        assert_eq!(
            (history[0]["action"].as_str(), history[0]["actor"].as_str()),
            (Some("license.created"), Some("mgrA"))
        );
        assert!(!r.text.contains("B secret") && !r.text.contains("b_internal_price"), "{}", r.text);
    }
    let ev = app.call(Method::GET, &format!("/api/v1/events?license={a_id}"), Some(&m), None).await;
    assert_eq!(ev.body["count"], 1, "{}", ev.text);
    let ev = app.call(Method::GET, &format!("/api/v1/events?license={b_id}"), Some(&m), None).await;
    assert_eq!(ev.body["count"], 0, "{}", ev.text);
    assert!(!ev.text.contains("B secret"), "{}", ev.text);
    // The admin still finds the deleted license's past in the audit log, and each event names its product.
    let ev = app.get(&format!("/api/v1/events?license={b_id}")).await;
    assert_eq!(ev.body["count"], 2, "{}", ev.text);
    assert_eq!(ev.body["results"][1]["action"], "license.deleted");
    assert_eq!(ev.body["results"][1]["product"], b["product"]["id"]);
    // DevMate's history of the new license is its own too.
    let c = as_manager(&app, &m, Method::POST, "/api/v1/customers", json!({"email": "own@a.example"})).await;
    let r = as_manager(&app, &m, Method::PATCH, &format!("/api/v1/licenses/{a_id}"), json!({"customer": c.body["id"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v2 = app.call(Method::GET, &format!("/v2/customers/{}", c.body["id"]), Some(&m), None).await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    assert_eq!(v2.body["data"]["licenses"][0]["history"].as_array().map(Vec::len), Some(1), "{}", v2.text);
}

async fn manager_cannot_recolour_another_products_label(app: TestApp) {
    let (m, victim) = victim_setup(&app).await;
    let r = app
        .patch(&format!("/api/v1/customers/{victim}"), json!({"labels": [{"label": "vip", "color": "#0000ff"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let customers = app.count("customers").await;
    let r = as_manager(
        &app,
        &m,
        Method::POST,
        "/api/v1/customers",
        json!({"email": "mine@a.example", "labels": [{"label": "vip", "color": "#ff0000"}]}),
    )
    .await;
    let e = assert_error(&r, 403, "FORBIDDEN");
    assert_eq!(e["source"]["pointer"], "/labels/0/color", "{}", r.text);
    assert_eq!(app.count("customers").await, customers);
    let colour = || {
        let app = &app;
        async move { app.get(&format!("/api/v1/customers/{victim}")).await.body["labels"][0]["color"].clone() }
    };
    assert_eq!(colour().await, "#0000ff");
    // The label itself may be used, as it is; a new label may be given any colour.
    let r = as_manager(&app, &m, Method::POST, "/api/v1/customers",
        json!({"email": "mine@a.example", "labels": ["vip", {"label": "vip", "color": "#0000FF"}, {"label": "a-team", "color": "#0f0"}]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let own = r.body["id"].as_i64().unwrap();
    // A PATCH of other fields leaves the labels' colours alone.
    let r = as_manager(&app, &m, Method::PATCH, &format!("/api/v1/customers/{own}"), json!({"note": "x"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = as_manager(
        &app,
        &m,
        Method::PATCH,
        &format!("/api/v1/customers/{own}"),
        json!({"labels": [{"label": "vip", "color": "#abcdef"}]}),
    )
    .await;
    assert_error(&r, 403, "FORBIDDEN");
    assert_eq!(colour().await, "#0000ff");
    // The admin recolours labels for everyone.
    let r =
        app.patch(&format!("/api/v1/customers/{own}"), json!({"labels": [{"label": "vip", "color": "#abcdef"}]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(colour().await, "#abcdef");
}

async fn label_colours_are_validated(app: TestApp) {
    let (customers, labels) = (app.count("customers").await, app.count("labels").await);
    for bad in ["red", "#ff0000-set-by-A", "#ff00", "#gggggg", "javascript:alert(1)", "#12345678"] {
        let r = app
            .post("/api/v1/customers", json!({"email": "c@example.com", "labels": [{"label": "x", "color": bad}]}))
            .await;
        let e = assert_error(&r, 400, "INVALID_FIELD");
        assert_eq!(e["source"]["pointer"], "/labels/0/color", "{bad}: {}", r.text);
    }
    assert_eq!((app.count("customers").await, app.count("labels").await), (customers, labels));
    for good in ["#fff", "#A0b1C2", ""] {
        let r = app.post("/api/v1/customers", json!({"labels": [{"label": format!("l{good}"), "color": good}]})).await;
        assert_eq!(r.status, 201, "{good}: {}", r.text);
    }
}
