//! License search (seed 002): each filter selects the license that matches and not the one that does not.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{TestApp, assert_error};

backend_tests!(
    every_seed_filter_matches_one_license_and_not_the_other,
    customer_accounts_crud_and_links,
    license_users_are_assigned_and_unassigned,
    icontains_folds_case_beyond_ascii_with_and_without_trigram_indexes
);

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

async fn every_seed_filter_matches_one_license_and_not_the_other(app: TestApp) {
    let acc_a = app
        .post(
            "/api/v1/customer-accounts",
            json!({"name": "Acme Corp", "code": "acme", "description": "big buyer", "phone": "555-0101", "address": "1 Main St",
                   "email": "ops@acme.test", "reference": "acc-ref-a"}),
        )
        .await;
    assert_eq!(acc_a.status, 201, "{}", acc_a.text);
    let acc_b = app
        .post(
            "/api/v1/customer-accounts",
            json!({"name": "Globex", "code": "globex", "description": "small", "phone": "555-0202", "address": "9 Elm Rd",
                   "email": "it@globex.test", "reference": "acc-ref-b"}),
        )
        .await;
    let (acc_a, acc_b) = (id(&acc_a.body), id(&acc_b.body));
    let cust_a = app
        .post(
            "/api/v1/customers",
            json!({"email": "alice@acme.test", "first_name": "Alice", "last_name": "Ames", "company_name": "Acme Inc",
                   "reference": "cref-a", "labels": ["vip"], "customer_account": acc_a}),
        )
        .await;
    assert_eq!(cust_a.status, 201, "{}", cust_a.text);
    let cust_b = app
        .post(
            "/api/v1/customers",
            json!({"email": "bob@globex.test", "first_name": "Bob", "last_name": "Burns", "company_name": "Globex LLC",
                   "reference": "cref-b", "labels": ["trial"], "customer_account": acc_b}),
        )
        .await;
    let (cust_a, cust_b) = (id(&cust_a.body), id(&cust_b.body));
    let p1 = app.product("alpha").await;
    let p2 = id(&app
        .post("/api/v1/products", json!({"product_name": "Beta Suite", "short_code": "beta", "authorization_method": "user", "is_bundle": true}))
        .await
        .body);
    let f1 = id(&app.post("/api/v1/product-features", json!({"product": p1, "code": "f1", "name": "F1"})).await.body);
    let t1 = app.template(p1, "alpha-std", json!({"features": [{"code": "f1"}]})).await;
    let t2 = app.template(p2, "beta-std", json!({})).await;
    let oa = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "INV-A-100", "customer": cust_a, "customer_account": acc_a, "licenses": [{
                "license_template": "alpha-std", "license_key": "AAAA-1111-KEY", "note": "note-alpha", "subscription_id": "sub-a",
                "is_hardware_key_auth": true, "is_air_gapped": true, "is_trial": true, "max_consumptions": 5,
                "is_floating_cloud": true, "floating_users": 2, "validity_period": "2030-01-15"}]}),
        )
        .await;
    assert_eq!(oa.status, 201, "{}", oa.text);
    let ob = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "INV-B-200", "customer": cust_b, "customer_account": acc_b, "licenses": [{
                "license_template": "beta-std", "license_key": "BBBB-2222-KEY", "note": "note-beta", "subscription_id": "sub-b",
                "validity_period": "2031-06-01"}]}),
        )
        .await;
    assert_eq!(ob.status, 201, "{}", ob.text);
    let la = oa.body["licenses"][0]["id"].as_i64().unwrap();
    let lb = ob.body["licenses"][0]["id"].as_i64().unwrap();
    let r = app.patch(&format!("/api/v1/licenses/{lb}"), json!({"bundle_license": la, "enabled": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["bundle_license"], la);
    assert_eq!(r.body["is_bundle"], true);
    let u = app
        .post(
            &format!("/api/v1/licenses/{lb}/assign_user"),
            json!({"email": "Carol@Beta.test", "user_group": "designers"}),
        )
        .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let carol = u.body["license_user"]["id"].as_i64().unwrap();
    let act = reqwest::Client::new()
        .post(format!("{}/api/v1/client/activate", app.url))
        .json(&json!({"license_key": "AAAA-1111-KEY", "product": "alpha", "hardware_id": "hw-a", "hostname": "host-a", "os": "macos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(act.status(), 201);

    let a = [la];
    let b = [lb];
    let both = [la, lb];
    let none: [i64; 0] = [];
    let cases: Vec<(String, &[i64])> = vec![
        ("license_key=AAAA-1111-KEY".into(), &a),
        ("license_key__icontains=aaaa-11".into(), &a),
        ("license_key__startswith=BBBB".into(), &b),
        ("active=true".into(), &a),
        ("active=false".into(), &b),
        ("order__store_id=INV-A-100".into(), &a),
        ("order__store_id__icontains=b-2".into(), &b),
        ("order__store_id__startswith=INV-B".into(), &b),
        (format!("order__customer_account={acc_a}"), &a),
        ("order__customer_account__name=Globex".into(), &b),
        ("order__customer_account__name__icontains=acme".into(), &a),
        ("order__customer_account__code=globex".into(), &b),
        ("order__customer_account__code__icontains=CME".into(), &a),
        (format!("customer__id={cust_b}"), &b),
        ("customer__email=alice@acme.test".into(), &a),
        ("customer__email__icontains=GLOBEX".into(), &b),
        ("customer__company_name__icontains=acme".into(), &a),
        ("customer__name__icontains=bob bu".into(), &b),
        ("customer__reference__icontains=cref-a".into(), &a),
        (format!("customer__customer_account={acc_b}"), &b),
        ("customer__customer_account__name=Acme Corp".into(), &a),
        ("customer__customer_account__name__icontains=glob".into(), &b),
        ("customer__customer_account__code=acme".into(), &a),
        ("customer__customer_account__code__icontains=lobe".into(), &b),
        ("customer__customer_account__description=big buyer".into(), &a),
        ("customer__customer_account__description__icontains=SMALL".into(), &b),
        ("customer__customer_account__phone=555-0101".into(), &a),
        ("customer__customer_account__phone__icontains=0202".into(), &b),
        ("customer__customer_account__address=1 Main St".into(), &a),
        ("customer__customer_account__address__icontains=elm".into(), &b),
        ("customer__customer_account__email=ops@acme.test".into(), &a),
        ("customer__customer_account__email__icontains=GLOBEX".into(), &b),
        ("customer__customer_account__reference=acc-ref-a".into(), &a),
        ("customer__customer_account__reference__icontains=ref-b".into(), &b),
        (format!("product__id={p2}"), &b),
        ("product__short_code=alpha".into(), &a),
        ("product__short_code__in=beta,gamma".into(), &b),
        ("product__product_name__icontains=suite".into(), &b),
        (format!("product_features__id={f1}"), &a),
        ("product__authorization_method=user".into(), &b),
        ("devices__hostname=host-a".into(), &a),
        ("devices__hostname__icontains=HOST".into(), &a),
        ("devices__hardware_id=hw-a".into(), &a),
        ("devices__hardware_id__icontains=W-A".into(), &a),
        ("devices__os=macos".into(), &a),
        ("devices__os__icontains=MAC".into(), &a),
        ("subscription_id=sub-b".into(), &b),
        (format!("license_template__id={t1}"), &a),
        ("license_template__code=beta-std".into(), &b),
        ("license_template__code__icontains=ALPHA".into(), &a),
        ("customer__label__in=vip,nobody".into(), &a),
        ("note__icontains=BETA".into(), &b),
        ("validity_period__date__lt=2030-01-16".into(), &a),
        ("validity_period__date__gt=2030-01-15".into(), &b),
        ("validity_period__gte=2031-01-01T00:00:00Z".into(), &b),
        ("validity_period__date__lte=2030-01-15".into(), &a),
        ("time_activated__isnull=true".into(), &b),
        ("time_activated__date__gte=2020-01-01".into(), &a),
        ("created_at__date__gte=2000-01-01".into(), &both),
        ("created_at__lt=2000-01-01T00:00:00Z".into(), &none),
        ("updated_at__gt=2000-01-01".into(), &both),
        ("enabled=false".into(), &b),
        ("enabled=True".into(), &a),
        ("is_any_floating=true".into(), &a),
        ("is_air_gapped=1".into(), &a),
        ("is_bundle=true".into(), &b),
        ("bundle_license__isnull=true".into(), &a),
        ("is_trial=true".into(), &a),
        ("has_max_consumptions=true".into(), &a),
        ("is_hardware_key_auth=false".into(), &b),
        ("customer_account__isnull=false".into(), &both),
        (format!("customer__email=alice@acme.test&product__id={p2}"), &none),
        (format!("license_users__id={carol}"), &b),
        ("license_users__true_email=Carol@Beta.test".into(), &b),
        ("license_users__true_email__icontains=carol@".into(), &b),
        ("license_user_group=designers".into(), &b),
        // Under three characters the trigram index cannot serve; the scan fallback gives the same answers.
        ("customer__email__icontains=ob".into(), &b),
        ("license_key__icontains=2-".into(), &b),
        ("devices__hostname__icontains=a".into(), &a),
        // Quotes and LIKE wildcards in a term are searched for literally.
        ("note__icontains=%22beta".into(), &none),
        ("note__icontains=note%25".into(), &none),
        ("note__icontains=e-b".into(), &b),
    ];
    for (q, want) in &cases {
        let r = app.get(&format!("/api/v1/licenses?{}", q.replace(' ', "%20"))).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let mut got: Vec<i64> = r.body["results"].as_array().unwrap().iter().map(id).collect();
        got.sort_unstable();
        assert_eq!(&got, want, "{q}");
        assert_eq!(r.body["count"], want.len(), "{q}");
    }
    let _ = t2;
}

async fn customer_accounts_crud_and_links(app: TestApp) {
    let r = app.post("/api/v1/customer-accounts", json!({"name": "Initech", "code": "initech"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let a = id(&r.body);
    assert_error(
        &app.post("/api/v1/customer-accounts", json!({"name": "Again", "code": "initech"})).await,
        409,
        "CONFLICT",
    );
    let c = app.post("/api/v1/customers", json!({"email": "p@initech.test", "customer_account": a})).await;
    assert_eq!(c.body["customer_account"], a);
    let bad = app.post("/api/v1/customers", json!({"email": "q@initech.test", "customer_account": 999})).await;
    assert_eq!(assert_error(&bad, 400, "INVALID_FIELD")["source"]["pointer"], "/customer_account");
    assert_eq!(app.list_count(&format!("/api/v1/customers?customer_account={a}")).await, 1);
    assert_eq!(app.list_count("/api/v1/customers?customer_account__code=initech").await, 1);
    let u = app.patch(&format!("/api/v1/customer-accounts/{a}"), json!({"phone": "555"})).await;
    assert_eq!(u.body["phone"], "555");
    assert_eq!(app.list_count("/api/v1/customer-accounts?name__icontains=init").await, 1);
    assert_eq!(app.delete(&format!("/api/v1/customer-accounts/{a}")).await.status, 204);
    let c = app.get(&format!("/api/v1/customers/{}", id(&c.body))).await;
    assert_eq!(c.body["customer_account"], Value::Null, "the customer stays, without an account");
}

async fn license_users_are_assigned_and_unassigned(app: TestApp) {
    app.product("app").await;
    let l = app.license(json!({"product": "app"})).await;
    let lid = id(&l);
    let r = app
        .post(
            &format!("/api/v1/licenses/{lid}/assign_user"),
            json!({"email": "dana@example.com", "first_name": "Dana", "is_manager": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["message"], "License assigned.");
    assert_eq!(r.body["license_user"]["true_email"], "dana@example.com");
    assert_eq!(r.body["license_user"]["is_manager"], true);
    assert_error(
        &app.post(&format!("/api/v1/licenses/{lid}/assign_user"), json!({"email": "DANA@example.com"})).await,
        409,
        "INVALID_STATE",
    );
    assert_error(
        &app.post(&format!("/api/v1/licenses/{lid}/assign_user"), json!({"email": "nope"})).await,
        400,
        "INVALID_FIELD",
    );
    let got = app.get(&format!("/api/v1/licenses/{lid}")).await;
    assert_eq!(got.body["license_users"][0]["first_name"], "Dana");
    assert_eq!(app.list_count("/api/v1/license-users?true_email__icontains=dana").await, 1);
    let other = app.license(json!({"product": "app"})).await;
    app.post(&format!("/api/v1/licenses/{}/assign_user", id(&other)), json!({"email": "dana@example.com"})).await;
    assert_eq!(app.count("license_users").await, 1, "one person, two licenses");
    let r = app
        .post(&format!("/api/v1/licenses/{lid}/unassign_user"), json!({"license_user_email": "dana@example.com"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["message"], "License unassigned.");
    assert_eq!(app.get(&format!("/api/v1/licenses/{lid}")).await.body["license_users"], json!([]));
    assert_error(
        &app.post(&format!("/api/v1/licenses/{lid}/unassign_user"), json!({"license_user_email": "dana@example.com"}))
            .await,
        409,
        "INVALID_STATE",
    );
    let history: Vec<String> = app.get(&format!("/api/v1/licenses/{lid}")).await.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, ["license.created", "license.user_assigned", "license.user_unassigned"]);
}

/// `__icontains` ignores the case of every letter, not only ASCII, on both backends, through the trigram
/// indexes (3+ characters on indexed fields) and without them (as `/v2`'s filters do: one implementation,
/// `store::sql::push_contains`). `customer__last_name` has no trigram table: before, SQLite's `LIKE` missed
/// `MÜLLER` for `müller`.
async fn icontains_folds_case_beyond_ascii_with_and_without_trigram_indexes(app: TestApp) {
    app.post("/api/v1/products", json!({"product_name": "App", "short_code": "app"})).await;
    let mut ids = Vec::new();
    for (email, first, last, company) in [
        ("zoe@example.com", "Zoë", "MÜLLER", "Ärzte Łódź"),
        ("oz@example.com", "ÖZGÜR", "çelik", "Żółta"),
        ("plain@example.com", "Zoe", "Muller", "Plain"),
    ] {
        let c = json!({"email": email, "first_name": first, "last_name": last, "company_name": company});
        let l = app.post("/api/v1/licenses", json!({"product": "app", "customer": c})).await;
        assert_eq!(l.status, 201, "{}", l.text);
        ids.push(id(&l.body));
    }
    let (zoe, oz, plain) = (ids[0], ids[1], ids[2]);
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for (filter, value, expected) in [
        ("customer__last_name__icontains", "müller", vec![zoe]),
        ("customer__last_name__icontains", "ül", vec![zoe]),
        ("customer__last_name__icontains", "ÇELIK", vec![oz]),
        ("customer__first_name__icontains", "zoË", vec![zoe]),
        ("customer__first_name__icontains", "öz", vec![oz]),
        ("customer__company_name__icontains", "łÓdŹ", vec![zoe]),
        ("customer__company_name__icontains", "żÓŁ", vec![oz]),
        // Case is folded, accents are not; wildcards are plain text.
        ("customer__last_name__icontains", "muller", vec![plain]),
        ("customer__first_name__icontains", "ë*", vec![]),
        ("customer__first_name__icontains", "z_ë", vec![]),
    ] {
        let r = app.get(&format!("/api/v1/licenses/?{filter}={}&order_by=id", enc(value))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let got: Vec<i64> = r.body["results"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(got, expected, "{filter}={value}");
    }
}
