//! Every class of bad input gets the error envelope with the right status, names its field or
//! parameter, and changes nothing.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Body, TestApp, assert_error};

backend_tests!(
    malformed_json_is_400_and_writes_nothing,
    wrong_types_name_the_field,
    missing_required_fields_are_named,
    unknown_fields_are_refused_not_ignored,
    bodies_over_one_mebibyte_are_413,
    invalid_utf8_is_400,
    nul_characters_are_400_in_bodies_and_parameters,
    other_media_types_are_415,
    ids_in_paths_must_be_integers,
    bad_list_parameters_are_400_naming_them,
    failed_order_writes_nothing_at_all,
);

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut v = Vec::new();
    for t in ["products", "customers", "orders", "licenses", "events"] {
        v.push(app.count(t).await);
    }
    v
}

async fn raw(app: &TestApp, method: Method, path: &str, body: &[u8], ct: &'static str) -> crate::common::Resp {
    app.call(method, path, Some(&app.admin), Some(Body::Raw(body.to_vec(), ct))).await
}

async fn malformed_json_is_400_and_writes_nothing(app: TestApp) {
    let before = counts(&app).await;
    for body in [&b"{"[..], b"{\"product_name\": \"a\",}", b"", b"   ", b"[1,2]x", b"{} {}", b"null"] {
        let r = raw(&app, Method::POST, "/api/v1/products", body, "application/json").await;
        assert_eq!(r.status, 400, "{:?}: {}", String::from_utf8_lossy(body), r.text);
        let code = r.body["errors"][0]["code"].as_str().unwrap();
        assert!(["MALFORMED_JSON", "INVALID_BODY"].contains(&code), "{code}");
    }
    assert_eq!(counts(&app).await, before);
}

/// Neither backend keeps a NUL in text (PostgreSQL refuses one with an error), so it is refused up front.
async fn nul_characters_are_400_in_bodies_and_parameters(app: TestApp) {
    let p = app.product("app").await;
    let before = counts(&app).await;
    for (path, body) in [
        ("/api/v1/customers", br#"{"email": "a@example.com", "first_name": "a\u0000b"}"#.to_vec()),
        ("/api/v1/products", br#"{"product_name": "x\u0000", "short_code": "x"}"#.to_vec()),
        ("/api/v1/licenses", format!(r#"{{"product": {p}, "note": "\u0000"}}"#).into_bytes()),
    ] {
        let r = raw(&app, Method::POST, path, &body, "application/json").await;
        assert_error(&r, 400, "INVALID_BODY");
        assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("NUL"), "{}", r.text);
    }
    let r = app
        .call(
            Method::POST,
            "/api/v1/client/check",
            None,
            Some(Body::Raw(
                br#"{"license_key": "A\u0000", "hardware_id": "h", "product": "app"}"#.to_vec(),
                "application/json",
            )),
        )
        .await;
    assert_error(&r, 400, "INVALID_BODY");
    // An escaped backslash before "u0000" is ordinary text.
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/customers",
        br#"{"email": "b@example.com", "first_name": "a\\u0000"}"#,
        "application/json",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["first_name"], "a\\u0000");
    for path in [
        "/api/v1/licenses?note=%00",
        "/api/v1/customers?email__icontains=a%00",
        "/api/v1/license-templates?license_type__exact=%00",
        "/api/v1/licenses?%00=1",
    ] {
        let r = app.get(path).await;
        assert_error(&r, 400, "INVALID_PARAMETER");
    }
    // Only the one good customer (and its audit event) was written.
    let mut after = counts(&app).await;
    after[1] -= 1;
    after[4] -= 1;
    assert_eq!(after, before);
}

async fn wrong_types_name_the_field(app: TestApp) {
    let p = app.product("app").await;
    let before = counts(&app).await;
    for (path, body, pointer) in [
        ("/api/v1/products", json!({"product_name": 5, "short_code": "x"}), "/product_name"),
        (
            "/api/v1/products",
            json!({"product_name": "x", "short_code": "x", "use_offline_license": "yes"}),
            "/use_offline_license",
        ),
        ("/api/v1/products", json!({"product_name": "x", "short_code": "x", "metadata": [1]}), "/metadata"),
        ("/api/v1/licenses", json!({"product": p, "max_activations": "three"}), "/max_activations"),
        ("/api/v1/licenses", json!({"product": p, "validity_period": "next year"}), "/validity_period"),
        ("/api/v1/customers", json!({"email": "not-an-email"}), "/email"),
        ("/api/v1/customers", json!({"first_name": ["a"]}), "/first_name"),
        ("/api/v1/orders", json!({"licenses": [{"product": p, "max_activations": -5}]}), "/licenses/0/max_activations"),
    ] {
        let r = app.post(path, body.clone()).await;
        let e = assert_error(&r, 400, "INVALID_FIELD");
        assert_eq!(e["source"]["pointer"], pointer, "{body}: {}", r.text);
    }
    let r = app.patch(&format!("/api/v1/products/{p}"), json!({"short_code": 12})).await;
    assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(counts(&app).await, before);
}

async fn missing_required_fields_are_named(app: TestApp) {
    let r = app.post("/api/v1/products", json!({"short_code": "x"})).await;
    let e = assert_error(&r, 400, "MISSING_FIELD");
    assert_eq!(e["source"]["pointer"], "/product_name");
    let r = app.post("/api/v1/licenses", json!({})).await;
    let e = assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/product");
    assert_eq!(app.count("products").await, 0);
}

async fn unknown_fields_are_refused_not_ignored(app: TestApp) {
    let r = app.post("/api/v1/products", json!({"product_name": "x", "short_code": "x", "max_activation": 3})).await;
    let e = assert_error(&r, 400, "UNKNOWN_FIELD");
    assert_eq!(e["source"]["pointer"], "/max_activation");
    let p = app.product("app").await;
    let r = app.patch(&format!("/api/v1/products/{p}"), json!({"colour": "red"})).await;
    let e = assert_error(&r, 400, "UNKNOWN_FIELD");
    assert_eq!(e["source"]["pointer"], "/colour");
    let r = app.post("/api/v1/licenses", json!({"product": p, "maxActivations": 3})).await;
    assert_error(&r, 400, "UNKNOWN_FIELD");
    assert_eq!(app.count("licenses").await, 0);
}

async fn bodies_over_one_mebibyte_are_413(app: TestApp) {
    let big = format!(r#"{{"product_name": "{}", "short_code": "big"}}"#, "x".repeat(1024 * 1024 + 10));
    let r = raw(&app, Method::POST, "/api/v1/products", big.as_bytes(), "application/json").await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    // Streamed without a Content-Length, the limit holds too.
    let url = format!("{}/api/v1/products", app.url);
    let (status, body) = crate::common::post_streamed(&url, &format!("Bearer {}", app.admin), big.into_bytes()).await;
    assert_eq!((status, &body["errors"][0]["code"]), (413, &json!("PAYLOAD_TOO_LARGE")), "{body}");
    assert_eq!(app.count("products").await, 0);
}

async fn invalid_utf8_is_400(app: TestApp) {
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/products",
        b"{\"product_name\": \"\xff\xfe\", \"short_code\": \"x\"}",
        "application/json",
    )
    .await;
    assert_error(&r, 400, "INVALID_UTF8");
    assert_eq!(app.count("products").await, 0);
}

async fn other_media_types_are_415(app: TestApp) {
    let r = raw(&app, Method::POST, "/api/v1/products", b"<product/>", "application/xml").await;
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    // DevMate's documented curl sends JSON with curl's default form type: that is read as JSON.
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/products",
        br#"{"product_name": "x", "short_code": "x"}"#,
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn ids_in_paths_must_be_integers(app: TestApp) {
    for path in
        ["/api/v1/products/abc", "/api/v1/licenses/1.5", "/api/v1/customers/-", "/api/v1/orders/99999999999999999999"]
    {
        let r = app.get(path).await;
        assert_error(&r, 404, "NOT_FOUND");
    }
}

async fn bad_list_parameters_are_400_naming_them(app: TestApp) {
    for (query, param) in [
        ("nope=1", "nope"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("offset=abc", "offset"),
        ("offset=-3", "offset"),
        ("order_by=password", "order_by"),
        ("enabled=maybe", "enabled"),
        ("enabled__icontains=t", "enabled__icontains"),
        ("created_at__gt=yesterday", "created_at__gt"),
        ("created_at__date__gte=2020-13-45", "created_at__date__gte"),
        ("id=abc", "id"),
        ("id__in=1,x", "id__in"),
        ("license_key__regex=.*", "license_key__regex"),
        ("customer__password=x", "customer__password"),
    ] {
        let r = app.get(&format!("/api/v1/licenses?{query}")).await;
        let e = assert_error(&r, 400, "INVALID_PARAMETER");
        assert_eq!(e["source"]["parameter"], param, "{query}");
    }
    let r = app.get("/api/v1/products?license_key=x").await;
    assert_error(&r, 400, "INVALID_PARAMETER");
}

async fn failed_order_writes_nothing_at_all(app: TestApp) {
    let p = app.product("app").await;
    app.template(p, "std", json!({})).await;
    let before = counts(&app).await;
    let r = app
        .post(
            "/api/v1/orders",
            json!({
                "store_id": "INV-1",
                "customer": {"email": "buyer@example.com"},
                "licenses": [{"license_template": "std"}, {"license_template": "no-such-template"}]
            }),
        )
        .await;
    let e = assert_error(&r, 400, "INVALID_FIELD");
    assert_eq!(e["source"]["pointer"], "/licenses/1/license_template");
    assert_eq!(counts(&app).await, before, "no customer, order, license or event was written");

    // A duplicate key inside an otherwise good order is refused whole too.
    app.license(json!({"product": p, "license_key": "TAKEN-KEY-0001"})).await;
    let before = counts(&app).await;
    let r = app
        .post("/api/v1/orders", json!({"store_id": "INV-2", "customer": {"email": "b@example.com"}, "licenses": [{"product": p}, {"product": p, "license_key": "TAKEN-KEY-0001"}]}))
        .await;
    let e = assert_error(&r, 409, "CONFLICT");
    assert_eq!(e["source"]["pointer"], "/licenses/1/license_key");
    assert_eq!(counts(&app).await, before);
}
