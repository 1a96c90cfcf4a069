//! Every role against every kind of action, through the real server: what the permission table
//! (`licensd_core::access`) allows succeeds with its real outcome; what it refuses is `403` naming the role,
//! and changes nothing. Also the token lifecycle: expiry, last use, changed products.

use licensd_core::access::{Action, allows};
use licensd_core::model::Role;
use licensd_store::tokens::{NewToken, Products, TokenChange};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Body, Resp, TestApp, assert_error};

backend_tests!(
    every_role_may_do_exactly_what_the_permission_table_says,
    support_cannot_delete_a_license_and_nothing_is_deleted,
    support_and_read_only_tokens_see_their_products_or_every_product,
    an_expired_token_answers_401_saying_it_expired,
    a_tokens_last_use_is_recorded_without_a_write_per_request,
    a_tokens_products_can_be_changed_and_apply_at_once,
);

/// The records one case acts on, made fresh by the admin for each (case, token).
struct Fx {
    license: i64,
    key: String,
    customer: i64,
    order: i64,
    device: i64,
    template: i64,
    feature: i64,
    n: usize,
}

async fn fixture(app: &TestApp, product: i64, n: usize) -> Fx {
    let template = app.template(product, &format!("t{n}"), json!({"max_activations": 3})).await;
    let o = app
        .post(
            "/api/v1/orders",
            json!({"store_id": format!("O-{n}"), "customer": {"email": format!("c{n}@example.com")},
                   "licenses": [{"license_template": template}]}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let l = &o.body["licenses"][0];
    let key = l["license_key"].as_str().unwrap().to_string();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/client/activate", app.url))
        .json(&json!({"license_key": key, "hardware_id": format!("hw-{n}"), "product": "app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let device = r.json::<Value>().await.unwrap()["device"]["id"].as_i64().unwrap();
    let f =
        app.post("/api/v1/product-features", json!({"product": product, "code": format!("f{n}"), "name": "F"})).await;
    assert_eq!(f.status, 201, "{}", f.text);
    Fx {
        license: l["id"].as_i64().unwrap(),
        key,
        customer: o.body["customer"].as_i64().unwrap(),
        order: o.body["id"].as_i64().unwrap(),
        device,
        template,
        feature: f.body["id"].as_i64().unwrap(),
        n,
    }
}

/// One request of a kind of action, and the status it answers when allowed.
struct Case {
    action: Action,
    method: Method,
    path: fn(&Fx) -> String,
    body: fn(&Fx) -> Option<Value>,
    ok: u16,
}

fn cases() -> Vec<Case> {
    use Action::*;
    let none = |_: &Fx| None;
    vec![
        Case {
            action: Read,
            method: Method::GET,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            body: none,
            ok: 200,
        },
        Case { action: Read, method: Method::GET, path: |_| "/api/v1/customers".into(), body: none, ok: 200 },
        Case {
            action: Read,
            method: Method::GET,
            path: |f| format!("/api/v1/devices/{}", f.device),
            body: none,
            ok: 200,
        },
        Case { action: Read, method: Method::GET, path: |_| "/api/v1/events".into(), body: none, ok: 200 },
        Case { action: Read, method: Method::GET, path: |_| "/api/v1/products".into(), body: none, ok: 200 },
        Case {
            action: Read,
            method: Method::GET,
            path: |f| format!("/v2/customers/{}", f.customer),
            body: none,
            ok: 200,
        },
        Case {
            action: DisableEnable,
            method: Method::POST,
            path: |f| format!("/api/v1/licenses/{}/disable", f.license),
            body: |_| Some(json!({"note": "chargeback"})),
            ok: 200,
        },
        Case {
            action: DisableEnable,
            method: Method::PATCH,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            body: |_| Some(json!({"enabled": false})),
            ok: 200,
        },
        Case {
            action: ResetActivations,
            method: Method::POST,
            path: |f| format!("/api/v1/licenses/{}/reset", f.license),
            body: none,
            ok: 200,
        },
        Case {
            action: ResetActivations,
            method: Method::POST,
            path: |f| format!("/v2/licenses/{}/reset_first_activation", f.key),
            body: none,
            ok: 200,
        },
        Case {
            action: DeactivateDevice,
            method: Method::POST,
            path: |f| format!("/api/v1/devices/{}/deactivate", f.device),
            body: none,
            ok: 200,
        },
        Case {
            action: EditNotes,
            method: Method::PATCH,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            body: |_| Some(json!({"note": "called in"})),
            ok: 200,
        },
        Case {
            action: EditNotes,
            method: Method::PATCH,
            path: |f| format!("/api/v1/customers/{}", f.customer),
            body: |_| Some(json!({"note": "prefers email"})),
            ok: 200,
        },
        Case {
            action: EditNotes,
            method: Method::PUT,
            path: |f| format!("/v2/customers/{}", f.customer),
            body: |_| Some(json!({"data": {"note": "v2 note"}})),
            ok: 200,
        },
        Case {
            action: EditMetadata,
            method: Method::PATCH,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            body: |_| Some(json!({"metadata": {"ticket": 7}})),
            ok: 200,
        },
        Case {
            action: EditMetadata,
            method: Method::PATCH,
            path: |f| format!("/api/v1/orders/{}", f.order),
            body: |_| Some(json!({"metadata": {"ticket": 7}})),
            ok: 200,
        },
        Case {
            action: Create,
            method: Method::POST,
            path: |_| "/api/v1/licenses".into(),
            body: |f| Some(json!({"license_template": f.template})),
            ok: 201,
        },
        Case {
            action: Create,
            method: Method::POST,
            path: |_| "/api/v1/customers".into(),
            body: |f| Some(json!({"email": format!("new{}@example.com", f.n)})),
            ok: 201,
        },
        Case {
            action: Create,
            method: Method::POST,
            path: |_| "/api/v1/orders".into(),
            body: |f| {
                Some(json!({"store_id": format!("N-{}", f.n), "customer": f.customer,
                            "licenses": [{"license_template": f.template}]}))
            },
            ok: 201,
        },
        Case {
            action: Create,
            method: Method::POST,
            path: |_| "/api/v1/customer-accounts".into(),
            body: |f| Some(json!({"name": "Co", "code": format!("co{}", f.n)})),
            ok: 201,
        },
        Case {
            action: Create,
            method: Method::POST,
            path: |f| format!("/v2/customers/{}/licenses", f.customer),
            body: |f| Some(json!({"data": {"license_type_id": f.template}})),
            ok: 201,
        },
        Case {
            action: Edit,
            method: Method::PATCH,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            body: |_| Some(json!({"max_activations": 5})),
            ok: 200,
        },
        Case {
            action: Edit,
            method: Method::PATCH,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            // A note with another field is more than a note.
            body: |f| Some(json!({"note": "and more", "license_key": format!("CHANGED-KEY-{:04}", f.n)})),
            ok: 200,
        },
        Case {
            action: Edit,
            method: Method::PATCH,
            path: |f| format!("/api/v1/customers/{}", f.customer),
            body: |_| Some(json!({"first_name": "Renamed"})),
            ok: 200,
        },
        Case {
            action: Edit,
            method: Method::PUT,
            path: |f| format!("/v2/customers/{}", f.customer),
            body: |_| Some(json!({"data": {"first_name": "Renamed", "note": "x"}})),
            ok: 200,
        },
        Case {
            action: Edit,
            method: Method::POST,
            path: |f| format!("/api/v1/licenses/{}/assign_user", f.license),
            body: |f| Some(json!({"email": format!("user{}@example.com", f.n)})),
            ok: 200,
        },
        Case {
            action: Refund,
            method: Method::POST,
            path: |f| format!("/api/v1/licenses/{}/refund", f.license),
            body: none,
            ok: 200,
        },
        Case {
            action: Delete,
            method: Method::DELETE,
            path: |f| format!("/api/v1/licenses/{}", f.license),
            body: none,
            ok: 204,
        },
        Case {
            action: Catalog,
            method: Method::POST,
            path: |_| "/api/v1/products".into(),
            body: |f| Some(json!({"product_name": "New", "short_code": format!("new{}", f.n)})),
            ok: 201,
        },
        Case {
            action: Catalog,
            method: Method::PATCH,
            path: |f| format!("/api/v1/license-templates/{}", f.template),
            body: |_| Some(json!({"max_activations": 9})),
            ok: 200,
        },
        Case {
            action: Catalog,
            method: Method::DELETE,
            path: |f| format!("/api/v1/product-features/{}", f.feature),
            body: none,
            ok: 204,
        },
    ]
}

/// Everything a refused request could have changed, read by the admin.
async fn snapshot(app: &TestApp, f: &Fx) -> Vec<String> {
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/licenses/{}", f.license),
        format!("/api/v1/customers/{}", f.customer),
        format!("/api/v1/orders/{}", f.order),
        format!("/api/v1/devices/{}", f.device),
        format!("/api/v1/license-templates/{}", f.template),
        format!("/api/v1/product-features/{}", f.feature),
    ] {
        let r = app.get(&path).await;
        out.push(format!("{path} {} {}", r.status, r.text));
    }
    for table in [
        "licenses",
        "customers",
        "orders",
        "customer_accounts",
        "products",
        "product_features",
        "license_templates",
        "license_users",
        "events",
    ] {
        out.push(format!("{table} {}", app.count(table).await));
    }
    out
}

/// The tokens the table is tried with: each role limited to the product, and support and read-only also
/// unlimited.
const PRINCIPALS: [(&str, Role, &[&str]); 6] = [
    ("admin", Role::Admin, &[]),
    ("manager", Role::Manager, &["app"]),
    ("support", Role::Support, &["app"]),
    ("support-all", Role::Support, &[]),
    ("read-only", Role::ReadOnly, &["app"]),
    ("read-only-all", Role::ReadOnly, &[]),
];

async fn every_role_may_do_exactly_what_the_permission_table_says(app: TestApp) {
    let product = app.product("app").await;
    let mut tokens = Vec::new();
    for (name, role, products) in PRINCIPALS {
        let secret = if role == Role::Admin { app.admin.clone() } else { app.token(name, role, products).await };
        tokens.push((name, role, secret));
    }
    let cases = cases();
    // Every kind of action is tried at least once.
    for a in Action::ALL.into_iter().filter(|a| *a != Action::ManageTokens) {
        assert!(cases.iter().any(|c| c.action == a), "no case for {a:?}");
    }
    let mut n = 0;
    let mut failures = Vec::new();
    for case in &cases {
        for (name, role, secret) in &tokens {
            n += 1;
            let f = fixture(&app, product, n).await;
            let path = (case.path)(&f);
            let what = format!("{name} {} {path}", case.method);
            let before = snapshot(&app, &f).await;
            let r = app.call(case.method.clone(), &path, Some(secret), (case.body)(&f).map(Body::Json)).await;
            if allows(*role, case.action) {
                if r.status != case.ok {
                    failures.push(format!("{what}: allowed, expected {} got {} {}", case.ok, r.status, r.text));
                }
                continue;
            }
            if r.status != 403 {
                failures.push(format!("{what}: refused, expected 403 got {} {}", r.status, r.text));
                continue;
            }
            let e = &r.body["errors"][0];
            let detail = e["detail"].as_str().unwrap_or_default();
            if !detail.starts_with(&format!("this {role} token may ")) {
                failures.push(format!("{what}: detail {detail:?}"));
            }
            if path.starts_with("/api/v1/") {
                let code = if case.action == Action::Catalog { "FORBIDDEN" } else { "FORBIDDEN_ROLE" };
                if e["code"] != code {
                    failures.push(format!("{what}: code {}", e["code"]));
                }
            } else if e["title"] != "Forbidden." {
                failures.push(format!("{what}: DevMate title {}", e["title"]));
            }
            if snapshot(&app, &f).await != before {
                failures.push(format!("{what}: a refused request changed something"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {n}:\n{}", failures.len(), failures.join("\n"));
}

async fn support_cannot_delete_a_license_and_nothing_is_deleted(app: TestApp) {
    let product = app.product("app").await;
    let f = fixture(&app, product, 1).await;
    let support = app.token("helpdesk", Role::Support, &["app"]).await;
    let path = format!("/api/v1/licenses/{}", f.license);
    let events = app.count("events").await;
    let r = app.call(Method::DELETE, &path, Some(&support), None).await;
    let e = assert_error(&r, 403, "FORBIDDEN_ROLE");
    assert_eq!(
        e["detail"],
        "this support token may read records; disable and enable licenses; reset activations; deactivate a device; \
         edit notes; and edit metadata; to delete records use a manager or admin token"
    );
    assert_eq!(app.count("licenses").await, 1);
    assert_eq!(app.count("events").await, events);
    let l = app.get(&path).await;
    assert_eq!((l.status, l.body["license_key"].as_str()), (200, Some(f.key.as_str())));
    // What support is for works on that license: block it with a note, free its device, unblock it.
    let r = app
        .call(Method::POST, &format!("{path}/disable"), Some(&support), Some(Body::Json(json!({"note": "fraud?"}))))
        .await;
    assert_eq!((r.status, &r.body["enabled"]), (200, &json!(false)), "{}", r.text);
    let r = app.call(Method::POST, &format!("/api/v1/devices/{}/deactivate", f.device), Some(&support), None).await;
    assert_eq!((r.status, &r.body["active"]), (200, &json!(false)), "{}", r.text);
    let r = app.call(Method::POST, &format!("{path}/enable"), Some(&support), None).await;
    assert_eq!((r.status, &r.body["enabled"]), (200, &json!(true)), "{}", r.text);
    // Bad input from a role that may edit is a 400 naming the fault; from one that may not, the 403 comes first.
    let raw = |b: &'static [u8]| Some(Body::Raw(b.to_vec(), "application/json"));
    assert_error(&app.call(Method::PATCH, &path, Some(&support), raw(b"{\"note\": 5}")).await, 400, "INVALID_FIELD");
    assert_error(&app.call(Method::PATCH, &path, Some(&support), raw(b"{not json")).await, 400, "MALFORMED_JSON");
    let reader = app.token("reader", Role::ReadOnly, &[]).await;
    assert_error(&app.call(Method::PATCH, &path, Some(&reader), raw(b"{not json")).await, 403, "FORBIDDEN_ROLE");
    assert_error(&app.call(Method::POST, "/api/v1/licenses", Some(&reader), raw(b"[]")).await, 403, "FORBIDDEN_ROLE");
    let history = app.get(&format!("/api/v1/events?license={}&order_by=id", f.license)).await.body;
    let by_support: Vec<(&str, &str)> = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "helpdesk")
        .map(|e| (e["action"].as_str().unwrap_or_default(), e["note"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(by_support.first(), Some(&("license.disabled", "fraud?")), "{history}");
    assert_eq!(by_support.len(), 3, "{history}");
}

async fn support_and_read_only_tokens_see_their_products_or_every_product(app: TestApp) {
    let mine = app.product("app").await;
    let theirs = app.product("other").await;
    let f = fixture(&app, mine, 1).await;
    let t = app.template(theirs, "o", json!({})).await;
    let other = app.license(json!({"license_template": t, "customer": {"email": "o@example.com"}})).await["id"]
        .as_i64()
        .unwrap();
    for (role, limited) in
        [(Role::Support, true), (Role::Support, false), (Role::ReadOnly, true), (Role::ReadOnly, false)]
    {
        let name = format!("{role}-{limited}");
        let token = app.token(&name, role, if limited { &["app"] } else { &[] }).await;
        let list = app.call(Method::GET, "/api/v1/licenses", Some(&token), None).await;
        assert_eq!(list.body["count"], if limited { 1 } else { 2 }, "{name}");
        let r = app.call(Method::GET, &format!("/api/v1/licenses/{other}"), Some(&token), None).await;
        assert_eq!(r.status, if limited { 404 } else { 200 }, "{name}");
        let r = app.call(Method::GET, &format!("/api/v1/licenses/{}", f.license), Some(&token), None).await;
        assert_eq!(r.status, 200, "{name}");
        let v2 = app.call(Method::GET, "/v2/customers", Some(&token), None).await;
        assert_eq!(v2.body["meta"]["total"], if limited { 1 } else { 2 }, "{name}: {}", v2.text);
    }
    // A limited token whose products are all deleted sees nothing (never everything).
    let gone = app.product("gone").await;
    let token = app.token("orphan", Role::ReadOnly, &["gone"]).await;
    assert_eq!(app.delete(&format!("/api/v1/products/{gone}")).await.status, 204);
    let list = app.call(Method::GET, "/api/v1/licenses", Some(&token), None).await;
    assert_eq!((list.status, &list.body["count"]), (200, &json!(0)), "{}", list.text);
    let t = licensd_store::tokens::list(&app.db).await.unwrap().into_iter().find(|t| t.name == "orphan").unwrap();
    assert!(!t.all_products && t.products.is_empty(), "{t:?}");
}

async fn an_expired_token_answers_401_saying_it_expired(app: TestApp) {
    let soon = licensd_core::time::now_ms() + 60_000;
    let mut new = NewToken::new("temp", Role::Support, &[]);
    new.expires_at = Some(soon);
    new.description = "contractor until Friday".into();
    let (t, secret) = licensd_store::tokens::create_token(&app.db, &new).await.unwrap();
    assert_eq!(t.description, "contractor until Friday");
    assert_eq!(t.expires_at.map(|x| x.0), Some(soon));
    assert_eq!(app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await.status, 200);
    // Its time passes (set in the database, as waiting a minute would).
    let past = licensd_core::time::now_ms() - 1000;
    app.db
        .execute(licensd_store::db::query("UPDATE api_tokens SET expires_at = ? WHERE id = ?").bind(past).bind(t.id))
        .await
        .unwrap();
    let r = app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await;
    let e = assert_error(&r, 401, "TOKEN_EXPIRED");
    let at = licensd_core::time::format_iso(past);
    assert!(e["detail"].as_str().unwrap().starts_with(&format!("the token expired at {at}")), "{e}");
    let r = app.call(Method::GET, "/v2/customers", Some(&secret), None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"errors": [{"title": "Unauthorized", "detail": format!("Token expired at {at}.")}]}));
    // Extending it makes it work again; an expiry in the past is refused.
    let e = licensd_store::tokens::update(
        &app.db,
        t.id,
        &TokenChange { expires_at: Some(Some(past)), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(matches!(&e, licensd_store::StoreError::Invalid { field, .. } if field == "expires_at"), "{e:?}");
    licensd_store::tokens::update(&app.db, t.id, &TokenChange { expires_at: Some(None), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await.status, 200);
    // A revoked token is unknown, as before, and stays revoked.
    licensd_store::tokens::revoke(&app.db, t.id).await.unwrap();
    assert_error(&app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await, 401, "UNAUTHORIZED");
    let again = licensd_store::tokens::revoke(&app.db, t.id).await.unwrap();
    assert!(again.already);
    let e = licensd_store::tokens::update(
        &app.db,
        t.id,
        &TokenChange { description: Some("x".into()), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, licensd_store::StoreError::State(_)), "{e:?}");
}

async fn last_used(app: &TestApp, name: &str) -> Option<i64> {
    let t = licensd_store::tokens::list(&app.db).await.unwrap().into_iter().find(|t| t.name == name).unwrap();
    t.last_used_at.map(|t| t.0)
}

async fn a_tokens_last_use_is_recorded_without_a_write_per_request(app: TestApp) {
    let secret = app.token("ci", Role::ReadOnly, &[]).await;
    assert_eq!(last_used(&app, "ci").await, None);
    let t0 = licensd_core::time::now_ms();
    assert_eq!(app.call(Method::GET, "/api/v1/products", Some(&secret), None).await.status, 200);
    // Not written by the request itself: by the background flush (every second).
    let mut recorded = None;
    for _ in 0..50 {
        recorded = last_used(&app, "ci").await;
        if recorded.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let first = recorded.expect("last use recorded within 5 s");
    assert!(first >= t0 && first <= licensd_core::time::now_ms(), "{first} vs {t0}");
    // Within the minute, further requests write nothing: a marker set in the database stays.
    app.db
        .execute(licensd_store::db::query("UPDATE api_tokens SET last_used_at = 1234 WHERE name = 'ci'"))
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(app.call(Method::GET, "/api/v1/products", Some(&secret), None).await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(last_used(&app, "ci").await, Some(1234));
    // The flush writes only what is noted, and never moves a time back.
    assert_eq!(app.state.last_uses.flush(&app.db).await.unwrap(), 0);
}

async fn a_tokens_products_can_be_changed_and_apply_at_once(app: TestApp) {
    let a = app.product("app").await;
    let b = app.product("other").await;
    for (p, code) in [(a, "a"), (b, "b")] {
        let t = app.template(p, code, json!({})).await;
        app.license(json!({"license_template": t})).await;
    }
    let secret = app.token("reseller", Role::Manager, &["app"]).await;
    let id = licensd_store::tokens::list(&app.db).await.unwrap().into_iter().find(|t| t.name == "reseller").unwrap().id;
    let count = |r: Resp| r.body["count"].as_i64();
    assert_eq!(count(app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await), Some(1));
    let change =
        TokenChange { products: Some(Products::Only(vec!["app".into(), "other".into()])), ..Default::default() };
    let t = licensd_store::tokens::update(&app.db, id, &change).await.unwrap();
    assert_eq!(t.products, ["app", "other"]);
    assert_eq!(count(app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await), Some(2));
    let change = TokenChange { products: Some(Products::Only(vec!["other".into()])), ..Default::default() };
    licensd_store::tokens::update(&app.db, id, &change).await.unwrap();
    let list = app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await;
    assert_eq!(list.body["results"][0]["product"]["short_code"], "other");
    // A manager needs products; an unknown short code is named with the ones that exist.
    let e = licensd_store::tokens::update(
        &app.db,
        id,
        &TokenChange { products: Some(Products::All), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert!(matches!(&e, licensd_store::StoreError::Invalid { field, .. } if field == "product"), "{e:?}");
    let change = TokenChange { products: Some(Products::Only(vec!["nope".into()])), ..Default::default() };
    let e = licensd_store::tokens::update(&app.db, id, &change).await.unwrap_err().to_string();
    assert_eq!(e, "product: no product with short_code \"nope\"; products are: app, other");
    // Refused changes changed nothing.
    assert_eq!(count(app.call(Method::GET, "/api/v1/licenses", Some(&secret), None).await), Some(1));
}
