//! Products, features and license templates: create, read, list, update, delete.

use serde_json::json;

use crate::backend_tests;
use crate::common::{TestApp, assert_error};

backend_tests!(
    product_lifecycle_create_get_patch_delete,
    list_pages_with_absolute_links_that_keep_filters,
    list_orders_both_ways_with_stable_ties,
    duplicate_short_code_is_409_and_writes_nothing,
    product_with_licenses_or_templates_cannot_be_deleted,
    features_are_unique_per_product,
    template_lifecycle_with_features_and_key_format,
    template_validation_names_the_field,
);

async fn product_lifecycle_create_get_patch_delete(app: TestApp) {
    let r = app
        .post("/api/v1/products", json!({"product_name": "MyNewApp", "short_code": "mynewapp", "bundle_id": "com.acme.MyNewApp", "metadata": {"tier": 1}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["product_name"], "MyNewApp");
    assert_eq!(r.body["short_code"], "mynewapp");
    assert_eq!(r.body["bundle_id"], "com.acme.MyNewApp");
    assert_eq!(r.body["use_offline_license"], false);
    assert_eq!(r.body["metadata"], json!({"tier": 1}));
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));

    let g = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, r.body);

    let p = app
        .patch(&format!("/api/v1/products/{id}"), json!({"use_offline_license": true, "product_name": "Renamed"}))
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["use_offline_license"], true);
    assert_eq!(p.body["product_name"], "Renamed");
    assert_eq!(p.body["bundle_id"], "com.acme.MyNewApp", "fields not in the PATCH stay");

    let events = app.get("/api/v1/events?resource_type=product&action=product.updated").await;
    assert_eq!(events.body["count"], 1);
    let e = &events.body["results"][0];
    assert_eq!(e["actor"], "admin");
    assert_eq!(e["before"]["product_name"], "MyNewApp");
    assert_eq!(e["after"]["product_name"], "Renamed");

    let d = app.delete(&format!("/api/v1/products/{id}")).await;
    assert_eq!(d.status, 204);
    assert_error(&app.get(&format!("/api/v1/products/{id}")).await, 404, "NOT_FOUND");
    assert_error(&app.delete(&format!("/api/v1/products/{id}")).await, 404, "NOT_FOUND");
    assert_eq!(app.count("products").await, 0);
}

async fn list_pages_with_absolute_links_that_keep_filters(app: TestApp) {
    for i in 0..25 {
        app.product(&format!("p{i:02}")).await;
    }
    let r = app.get("/api/v1/products").await;
    assert_eq!(r.body["count"], 25);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 20, "default page size is 20");
    assert_eq!(r.body["previous"], serde_json::Value::Null);
    assert_eq!(r.body["next"], format!("{}/api/v1/products?offset=20", app.url));

    let r = app.get("/api/v1/products/?short_code__startswith=p1&limit=4&offset=4").await;
    assert_eq!(r.body["count"], 10);
    let codes: Vec<&str> =
        r.body["results"].as_array().unwrap().iter().map(|p| p["short_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["p14", "p15", "p16", "p17"]);
    assert_eq!(r.body["next"], format!("{}/api/v1/products/?short_code__startswith=p1&limit=4&offset=8", app.url));
    assert_eq!(r.body["previous"], format!("{}/api/v1/products/?short_code__startswith=p1&limit=4", app.url));

    let next = r.body["next"].as_str().unwrap().to_string();
    let r2 = app.get(next.trim_start_matches(&app.url)).await;
    let codes: Vec<&str> =
        r2.body["results"].as_array().unwrap().iter().map(|p| p["short_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["p18", "p19"]);
    assert_eq!(r2.body["next"], serde_json::Value::Null);

    let r = app.get("/api/v1/products?limit=1000").await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 25, "limit over 100 is capped, not refused");
}

async fn list_orders_both_ways_with_stable_ties(app: TestApp) {
    for code in ["bravo", "alpha", "charlie"] {
        app.product(code).await;
    }
    let names = |r: &crate::common::Resp| -> Vec<String> {
        r.body["results"].as_array().unwrap().iter().map(|p| p["short_code"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&app.get("/api/v1/products?order_by=short_code").await), ["alpha", "bravo", "charlie"]);
    assert_eq!(names(&app.get("/api/v1/products?ordering=-short_code").await), ["charlie", "bravo", "alpha"]);
    // All three share created_at down to the millisecond or not: ties fall back to id either way.
    assert_eq!(names(&app.get("/api/v1/products?order_by=-created_at").await), ["charlie", "alpha", "bravo"]);
}

async fn duplicate_short_code_is_409_and_writes_nothing(app: TestApp) {
    app.product("dup").await;
    let events = app.count("events").await;
    let r = app.post("/api/v1/products", json!({"product_name": "Other", "short_code": "dup"})).await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/short_code");
    assert_eq!(app.count("products").await, 1);
    assert_eq!(app.count("events").await, events);
    // Renaming another product onto the taken code is refused the same way.
    let other = app.product("other").await;
    let r = app.patch(&format!("/api/v1/products/{other}"), json!({"short_code": "dup"})).await;
    assert_error(&r, 409, "CONFLICT");
    assert_eq!(app.get(&format!("/api/v1/products/{other}")).await.body["short_code"], "other");
}

async fn product_with_licenses_or_templates_cannot_be_deleted(app: TestApp) {
    let p = app.product("app").await;
    app.license(json!({"product": p})).await;
    let r = app.delete(&format!("/api/v1/products/{p}")).await;
    let e = assert_error(&r, 409, "IN_USE");
    assert_eq!(e["detail"], "the product still has licenses or license templates; delete those first");
    assert_eq!(app.count("products").await, 1);
    // A template alone keeps a product too; once nothing refers to it, it goes, with its event.
    let q = app.product("other").await;
    let t = app.template(q, "single", json!({})).await;
    assert_error(&app.delete(&format!("/api/v1/products/{q}")).await, 409, "IN_USE");
    assert_eq!(app.delete(&format!("/api/v1/license-templates/{t}")).await.status, 204);
    assert_eq!(app.delete(&format!("/api/v1/products/{q}")).await.status, 204);
    assert_eq!(app.count("products").await, 1);
    assert_eq!(app.list_count(&format!("/api/v1/events?action=product.deleted&resource_id={q}")).await, 1);
}

async fn features_are_unique_per_product(app: TestApp) {
    let a = app.product("a").await;
    let b = app.product("b").await;
    let f = app
        .post("/api/v1/product-features", json!({"product": a, "code": "export", "name": "Export", "feature_type": "consumption", "max_consumption": 10}))
        .await;
    assert_eq!(f.status, 201, "{}", f.text);
    assert_eq!(f.body["feature_type"], "consumption");
    assert_eq!(f.body["max_consumption"], 10);
    let dup = app.post("/api/v1/product-features", json!({"product": a, "code": "export", "name": "Again"})).await;
    assert_error(&dup, 409, "CONFLICT");
    let other = app.post("/api/v1/product-features", json!({"product": b, "code": "export", "name": "Export"})).await;
    assert_eq!(other.status, 201, "the same code on another product is fine");
    let bad = app
        .post("/api/v1/product-features", json!({"product": a, "code": "x", "name": "X", "feature_type": "metered"}))
        .await;
    let e = assert_error(&bad, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/feature_type");
    let missing = app.post("/api/v1/product-features", json!({"product": 9999, "code": "x", "name": "X"})).await;
    let e = assert_error(&missing, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/product");
    let id = f.body["id"].as_i64().unwrap();
    let p = app.patch(&format!("/api/v1/product-features/{id}"), json!({"max_consumption": 20})).await;
    assert_eq!(p.body["max_consumption"], 20);
    assert_eq!(app.list_count(&format!("/api/v1/product-features?product={a}")).await, 1);
    assert_eq!(app.delete(&format!("/api/v1/product-features/{id}")).await.status, 204);
    assert_eq!(app.list_count("/api/v1/product-features").await, 1);
}

async fn template_lifecycle_with_features_and_key_format(app: TestApp) {
    let p = app.product("app").await;
    app.post("/api/v1/product-features", json!({"product": p, "code": "pro", "name": "Pro"})).await;
    app.post("/api/v1/product-features", json!({"product": p, "code": "exports", "name": "Exports", "feature_type": "consumption", "max_consumption": 5})).await;
    let r = app
        .post(
            "/api/v1/license-templates",
            json!({
                "product": p, "name": "Yearly", "code": "yearly", "license_type": "time-limited",
                "validity_period_days": 365, "max_activations": 3, "key_prefix": "ACME", "key_groups": 3, "key_group_size": 6,
                "features": [{"code": "pro"}, {"code": "exports", "max_consumption": 50}]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let t = r.body.clone();
    assert_eq!(t["license_type"], "time-limited");
    assert_eq!(t["max_activations"], 3);
    assert_eq!(t["floating_timeout"], 30);
    let features: Vec<(&str, i64)> = t["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["max_consumption"].as_i64().unwrap()))
        .collect();
    assert_eq!(features, [("exports", 50), ("pro", 0)]);

    let l = app.license(json!({"license_template": "yearly"})).await;
    let key = l["license_key"].as_str().unwrap();
    assert!(key.starts_with("ACME-"), "{key}");
    assert_eq!(key.split('-').skip(1).map(str::len).collect::<Vec<_>>(), [6, 6, 6]);
    assert_eq!(l["product"]["id"], p);
    assert_eq!(l["max_activations"], 3);
    assert_eq!(l["license_type"], "time-limited");
    assert!(l["validity_period"].is_string());
    assert_eq!(l["product_features"].as_array().unwrap().len(), 2);
    assert_eq!(l["product_features"][0]["code"], "exports");
    assert_eq!(l["product_features"][0]["max_consumption"], 50);

    let tid = t["id"].as_i64().unwrap();
    let u = app.patch(&format!("/api/v1/license-templates/{tid}"), json!({"max_activations": null})).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["max_activations"], serde_json::Value::Null, "null means unlimited");
    assert_eq!(u.body["features"].as_array().unwrap().len(), 2, "features are kept");
    let default = app.template(p, "basic", json!({})).await;
    assert_eq!(
        app.get(&format!("/api/v1/license-templates/{default}")).await.body["max_activations"],
        1,
        "default is one activation"
    );
    assert_eq!(app.list_count(&format!("/api/v1/license-templates?product={p}")).await, 2);
    assert_eq!(app.delete(&format!("/api/v1/license-templates/{tid}")).await.status, 204);
    let again = app.get(&format!("/api/v1/licenses/{}", l["id"])).await;
    assert_eq!(
        again.body["license_template"],
        serde_json::Value::Null,
        "licenses keep their terms when the template goes"
    );
    assert_eq!(again.body["max_activations"], 3);
}

async fn template_validation_names_the_field(app: TestApp) {
    let p = app.product("app").await;
    for (body, pointer) in [
        (json!({"product": p, "name": "T", "code": "t", "features": [{"code": "nope"}]}), "/features/0/code"),
        (json!({"product": p, "name": "T", "code": "t", "license_type": "time-limited"}), "/validity_period_days"),
        (json!({"product": p, "name": "T", "code": "t", "key_groups": 2, "key_group_size": 3}), "/key_groups"),
        (json!({"product": p, "name": "T", "code": "t", "is_floating_cloud": true}), "/floating_users"),
        (json!({"product": p, "name": "", "code": "t"}), "/name"),
        (json!({"product": p, "name": "T", "code": "has space"}), "/code"),
        (json!({"product": p, "name": "T", "code": "t", "max_activations": -1}), "/max_activations"),
        (
            json!({"product": p, "name": "T", "code": "t", "features": [{"code": "x", "max_consumption": -1}]}),
            "/features/0/max_consumption",
        ),
    ] {
        let r = app.post("/api/v1/license-templates", body.clone()).await;
        let e = assert_error(&r, 400, "INVALID_FIELD");
        assert_eq!(e["source"]["pointer"], pointer, "{body}: {}", r.text);
    }
    assert_eq!(app.count("license_templates").await, 0);
}
