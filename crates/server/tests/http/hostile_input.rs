//! Adversarial input that once reached the database and came back as a `500` (or, on PostgreSQL, held a
//! connection for minutes): huge `__in` lists, long patterns, many filters, NUL characters and invalid
//! UTF-8 in query strings and `/v2` paths. Each is now a `400` naming the parameter, in the envelope on
//! `/api/v1` and in DevMate's shape on `/v2`, the same on both backends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Resp, TestApp, assert_error};

backend_tests!(
    in_lists_hold_at_most_1000_values_per_request,
    patterns_hold_at_most_1000_characters,
    a_request_holds_at_most_20_filters,
    invalid_utf8_in_query_strings_is_400_naming_the_parameter,
    devmate_filters_are_bounded_in_devmate_shape,
    nul_in_every_v2_filter_path_and_form_body_is_400_in_devmate_shape,
    invalid_utf8_in_v2_query_strings_and_form_bodies_is_400,
    public_key_query_is_read_strictly,
);

/// The limits as documented (README, docs/api.md).
const MAX_IN_VALUES: usize = 1000;
const MAX_PATTERN: usize = 1000;
const MAX_FILTERS: usize = 20;

/// A value of over 50,000 bytes: SQLite's LIKE/GLOB pattern limit, and nearly what fits in a URI (hyper
/// refuses one over 64 KiB).
fn over_sqlite_pattern_limit() -> String {
    "a".repeat(50_001)
}

/// A customer (Anna at Acme) with a license of product `app`, so conditions are evaluated on real rows:
/// SQLite checks a pattern's length only when it compares it with a row.
async fn world(app: &TestApp) -> (i64, Value) {
    let p = app.product("app").await;
    let l = app
        .license(json!({
            "product": p, "note": "hello note",
            "customer": {"email": "anna@example.com", "first_name": "Anna", "last_name": "Ångström", "company_name": "Acme"}
        }))
        .await;
    (p, l)
}

#[track_caller]
fn assert_param(r: &Resp, param: &str, detail_has: &str) {
    let e = assert_error(r, 400, "INVALID_PARAMETER");
    assert_eq!(e["source"]["parameter"], param, "{}", r.text);
    assert!(e["detail"].as_str().unwrap_or_default().contains(detail_has), "{}", r.text);
}

async fn in_lists_hold_at_most_1000_values_per_request(app: TestApp) {
    let (_, l) = world(&app).await;
    let id = l["id"].as_i64().unwrap();
    let key = l["license_key"].as_str().unwrap();
    // 32,765 empty values (what a URI of 64 KiB carries): SQLite's variable limit answered 500.
    let r = app.get(&format!("/api/v1/licenses?license_key__in={}", ",".repeat(32_764))).await;
    assert_param(&r, "license_key__in", "at most 1000 values");
    // At the limit the list works, and finds the license.
    let mut ids: Vec<String> = (1_000_000..1_000_000 + MAX_IN_VALUES as i64 - 1).map(|i| i.to_string()).collect();
    ids.push(id.to_string());
    let r = app.get(&format!("/api/v1/licenses?id__in={}", ids.join(","))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["count"], 1);
    let keys = format!("{key}{}", ",x".repeat(MAX_IN_VALUES - 1));
    let r = app.get(&format!("/api/v1/licenses?license_key__in={keys}")).await;
    assert_eq!(r.body["count"], 1, "{}", r.text);
    // One more is refused, naming the parameter.
    let r = app.get(&format!("/api/v1/licenses?license_key__in={keys},y")).await;
    assert_param(&r, "license_key__in", "at most 1000 values");
    // The bound holds for every list of a request together: the one that goes over is named.
    let half = vec!["1"; MAX_IN_VALUES / 2].join(",");
    let r = app.get(&format!("/api/v1/licenses?id__in={half}&customer__in={half}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(&format!("/api/v1/licenses?id__in={half}&customer__in={half},2")).await;
    assert_param(&r, "customer__in", "at most 1000 values");
    let r = app.get(&format!("/api/v1/customers?email__in={},a", ",".repeat(MAX_IN_VALUES))).await;
    assert_param(&r, "email__in", "at most 1000 values");
}

async fn patterns_hold_at_most_1000_characters(app: TestApp) {
    world(&app).await;
    let huge = over_sqlite_pattern_limit();
    // Filters without a trigram index (LIKE or GLOB on SQLite answered 500 past 50,000 bytes), and with one.
    for (path, param) in [
        ("/api/v1/licenses", "note__startswith"),
        ("/api/v1/licenses", "customer__first_name__icontains"),
        ("/api/v1/customers", "first_name__icontains"),
        ("/api/v1/customers", "last_name__startswith"),
        ("/api/v1/customers", "email__icontains"),
        ("/api/v1/licenses", "license_key__icontains"),
    ] {
        let r = app.get(&format!("{path}?{param}={huge}")).await;
        assert_param(&r, param, "at most 1000 characters");
        // At the limit: an ordinary search, whatever the bytes per character.
        for ch in ["a", "%C3%A5", "%E2%82%AC"] {
            let r = app.get(&format!("{path}?{param}={}", ch.repeat(MAX_PATTERN))).await;
            assert_eq!(r.status, 200, "{param}: {}", r.text);
            assert_eq!(r.body["count"], 0, "{param}");
            let r = app.get(&format!("{path}?{param}={}", ch.repeat(MAX_PATTERN + 1))).await;
            assert_param(&r, param, "at most 1000 characters");
        }
    }
    // Escaped wildcards count once: 1,000 `%` is a pattern of 2,002 characters, and is searched.
    let r = app.get(&format!("/api/v1/customers?first_name__icontains={}", "%25".repeat(MAX_PATTERN))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Short patterns still find what they should.
    let r = app.get("/api/v1/customers?first_name__icontains=nn&last_name__startswith=%C3%85ng").await;
    assert_eq!(r.body["count"], 1, "{}", r.text);
}

async fn a_request_holds_at_most_20_filters(app: TestApp) {
    world(&app).await;
    // 1,100 conditions: SQLite's expression depth limit (1,000) answered 500.
    let r = app.get(&format!("/api/v1/licenses?{}", vec!["enabled=true"; 1100].join("&"))).await;
    assert_param(&r, "enabled", "at most 20 filters");
    // Related filters are semi-joins; PostgreSQL's planner took minutes over 900 of them. 20 are served.
    let twenty = vec!["customer__first_name=Anna"; MAX_FILTERS].join("&");
    let r = app.get(&format!("/api/v1/licenses?{twenty}&limit=5&offset=0&order_by=id")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["count"], 1);
    let r = app.get(&format!("/api/v1/licenses?{twenty}&devices__hardware_id=x")).await;
    assert_param(&r, "devices__hardware_id", "at most 20 filters");
}

async fn raw_query(app: &TestApp, path: &str) -> Resp {
    app.call(Method::GET, path, Some(&app.admin), None).await
}

async fn invalid_utf8_in_query_strings_is_400_naming_the_parameter(app: TestApp) {
    world(&app).await;
    for (query, param) in [
        ("email=%ff", "email"),
        ("email__icontains=a%C3", "email__icontains"),
        ("first_name=Anna&last_name=%E9", "last_name"),
        ("%ff=1", "\u{fffd}"),
        ("limit=%80", "limit"),
    ] {
        let r = raw_query(&app, &format!("/api/v1/customers?{query}")).await;
        assert_param(&r, param, "not valid UTF-8");
    }
    // Every list reads its parameters the same way.
    for path in ["/api/v1/licenses", "/api/v1/products", "/api/v1/events", "/api/v1/devices", "/api/v1/orders"] {
        let r = raw_query(&app, &format!("{path}?id=%fe")).await;
        assert_param(&r, "id", "not valid UTF-8");
    }
    // Valid UTF-8, percent-encoded or `+` for a space, is read as before.
    let r = app.get("/api/v1/customers?last_name=%C3%85ngstr%C3%B6m&email=anna%40example.com").await;
    assert_eq!(r.body["count"], 1, "{}", r.text);
    let r = app.get("/api/v1/customers?company_name__icontains=ac+&first_name=Anna").await;
    assert_eq!(r.body["count"], 0, "`+` is a space: {}", r.text);
    let r = app.get("/api/v1/customers?first_name=An%6Ea").await;
    assert_eq!(r.body["count"], 1, "{}", r.text);
}

/// A `/v2` call with the admin token as DevMate sends it.
async fn v2(app: &TestApp, method: Method, path: &str, body: Option<(&[u8], &'static str)>) -> Resp {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{}{path}", app.url))
        .header("Authorization", format!("Token {}", app.admin));
    if let Some((b, ct)) = body {
        rb = rb.header("Content-Type", ct).body(b.to_vec());
    }
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, body, text, headers }
}

/// DevMate's 400 for a query parameter: `Invalid parameter "x".` and a detail.
#[track_caller]
fn assert_v2_param(r: &Resp, param: &str, detail_has: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    let e = &r.body["errors"][0];
    assert_eq!(e["title"], format!("Invalid parameter \"{param}\"."), "{}", r.text);
    assert!(e["detail"].as_str().unwrap_or_default().contains(detail_has), "{}", r.text);
    assert!(e.get("code").is_none(), "DevMate's shape has no code: {}", r.text);
}

async fn devmate_filters_are_bounded_in_devmate_shape(app: TestApp) {
    world(&app).await;
    let huge = over_sqlite_pattern_limit();
    for name in ["first_name", "last_name", "phone", "address", "email", "company", "identifier", "invoice"] {
        let param = format!("filter[{name}]");
        let r = v2(&app, Method::GET, &format!("/v2/customers?{param}={huge}"), None).await;
        assert_v2_param(&r, &param, "at most 1000 characters");
        // A letter with two cases is a GLOB class of both on SQLite: 1,000 of them still fit.
        for ch in ["a", "%C3%BC", "%E1%BA%9E"] {
            let r = v2(&app, Method::GET, &format!("/v2/customers?{param}={}", ch.repeat(MAX_PATTERN)), None).await;
            assert_eq!(r.status, 200, "{param}: {}", r.text);
            assert_eq!(r.body["meta"]["total"], 0);
            let r = v2(&app, Method::GET, &format!("/v2/customers?{param}={}", ch.repeat(MAX_PATTERN + 1)), None).await;
            assert_v2_param(&r, &param, "at most 1000 characters");
        }
    }
    // 1,100 filters: SQLite's expression depth; PostgreSQL planned 900 key semi-joins for minutes.
    let r = v2(&app, Method::GET, &format!("/v2/customers?{}", vec!["filter[key]=a"; 1100].join("&")), None).await;
    assert_v2_param(&r, "filter[key]", "at most 20 filters");
    let twenty = vec!["filter[first_name]=ann"; MAX_FILTERS].join("&");
    let r = v2(&app, Method::GET, &format!("/v2/customers?{twenty}&limit=5"), None).await;
    assert_eq!(r.body["meta"]["total"], 1, "{}", r.text);
    let r = v2(&app, Method::GET, &format!("/v2/customers?{twenty}&filter[key]=a"), None).await;
    assert_v2_param(&r, "filter[key]", "at most 20 filters");
}

async fn nul_in_every_v2_filter_path_and_form_body_is_400_in_devmate_shape(app: TestApp) {
    let (_, l) = world(&app).await;
    let key = l["license_key"].as_str().unwrap();
    let customer = l["customer"]["id"].as_i64().unwrap();
    let before = (app.count("customers").await, app.count("licenses").await, app.count("events").await);
    let names = licensd_store::devmate::filter_names();
    assert!(names.len() >= 12);
    for name in names {
        let param = format!("filter[{name}]");
        for value in ["a%00", "%00", "1%00"] {
            let r = v2(&app, Method::GET, &format!("/v2/customers?{param}={value}"), None).await;
            assert_v2_param(&r, &param, "NUL");
        }
    }
    for (query, param) in
        [("limit=%00", "limit"), ("offset=1%00", "offset"), ("with=licenses%00", "with"), ("%00=1", "\0")]
    {
        let r = v2(&app, Method::GET, &format!("/v2/customers?{query}"), None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.body["errors"][0]["title"], format!("Invalid parameter \"{param}\"."), "{query}");
    }
    // Paths: every /v2 route, a NUL in its path parameter.
    let json = br#"{"data": {"first_name": "x", "license_type_id": 1}}"#.as_slice();
    for (method, path, param) in [
        (Method::GET, format!("/v2/customers/{customer}%00"), "customer_id"),
        (Method::PUT, format!("/v2/customers/%00{customer}"), "customer_id"),
        (Method::POST, format!("/v2/customers/{customer}%00/licenses"), "customer_id"),
        (Method::POST, format!("/v2/licenses/{key}%00/reset_first_activation"), "activation_key"),
        (Method::POST, "/v2/licenses/%00/reset_first_activation".to_string(), "activation_key"),
    ] {
        let r = v2(&app, method.clone(), &path, Some((json, "application/json"))).await;
        assert_v2_param(&r, param, "NUL");
    }
    // The list routes with a NUL in their paths are no routes at all: DevMate's 404.
    let r = v2(&app, Method::GET, "/v2/customers%00", None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.body["errors"][0]["title"], "Not found.");
    // Bodies: JSON refuses `\u0000` already; form bodies (`data[x]=…`) are refused the same way.
    for (method, path) in [
        (Method::POST, "/v2/customers".to_string()),
        (Method::PUT, format!("/v2/customers/{customer}")),
        (Method::POST, format!("/v2/customers/{customer}/licenses")),
    ] {
        for body in [
            &b"data[email]=new%40example.com&data[note]=a%00b"[..],
            b"data[email]=new%40example.com&data[last_name]=%00",
            b"data[license_type_id]=1%00",
            b"data[email%00]=new%40example.com",
        ] {
            let r = v2(&app, method.clone(), &path, Some((body, "application/x-www-form-urlencoded"))).await;
            assert_eq!(r.status, 400, "{path} {}: {}", String::from_utf8_lossy(body), r.text);
            assert!(r.body["errors"][0]["detail"].as_str().unwrap_or_default().contains("NUL"), "{}", r.text);
        }
        let r = v2(&app, method.clone(), &path, Some((br#"{"data": {"note": "a\u0000"}}"#, "application/json"))).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let after = (app.count("customers").await, app.count("licenses").await, app.count("events").await);
    assert_eq!(after, before, "nothing was written");
}

async fn invalid_utf8_in_v2_query_strings_and_form_bodies_is_400(app: TestApp) {
    let (_, l) = world(&app).await;
    let customer = l["customer"]["id"].as_i64().unwrap();
    for (query, param) in [
        ("filter[email]=%ff", "filter[email]"),
        ("filter[first_name]=Ann%C3", "filter[first_name]"),
        ("filter[key]=%ff", "filter[key]"),
        ("limit=%ff", "limit"),
        ("with=%ff", "with"),
        ("filter[%ff]=a", "filter[\u{fffd}]"),
    ] {
        let r = v2(&app, Method::GET, &format!("/v2/customers?{query}"), None).await;
        assert_v2_param(&r, param, "UTF-8");
    }
    // Valid UTF-8 is searched as before.
    let r = v2(&app, Method::GET, "/v2/customers?filter[last_name]=%C3%A5ngstr", None).await;
    assert_eq!(r.body["meta"]["total"], 1, "{}", r.text);
    // A form body whose percent-escapes are not UTF-8 was stored with U+FFFD in place of the bytes.
    let before = app.count("customers").await;
    let r = v2(
        &app,
        Method::POST,
        "/v2/customers",
        Some((b"data[email]=u%40example.com&data[first_name]=%ff", "application/x-www-form-urlencoded")),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap_or_default().contains("UTF-8"), "{}", r.text);
    let r = v2(
        &app,
        Method::PUT,
        &format!("/v2/customers/{customer}"),
        Some((b"data[first_name]=%c3", "application/x-www-form-urlencoded")),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(app.count("customers").await, before);
    let r = app.get(&format!("/api/v1/customers/{customer}")).await;
    assert_eq!(r.body["first_name"], "Anna");
    // A valid form body still works.
    let r = v2(
        &app,
        Method::POST,
        "/v2/customers",
        Some((b"data[email]=u%40example.com&data[first_name]=J%C3%BCrgen+K", "application/x-www-form-urlencoded")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["first_name"], "Jürgen K");
}

/// `GET /api/v1/client/public-key?key_id=…` read its query with axum's `Query`: a NUL reached PostgreSQL
/// (`500`), bytes that are not UTF-8 were replaced and looked up, and a repeated parameter was a plain-text
/// `400`. Needs the client API to read it with `extract::TextQuery`.
async fn public_key_query_is_read_strictly(app: TestApp) {
    for query in ["key_id=%00", "key_id=a%00b", "key_id=%ff", "key_id=a&key_id=b"] {
        let r = app.call(Method::GET, &format!("/api/v1/client/public-key?{query}"), None, None).await;
        assert_param(&r, "key_id", "");
    }
    let r = app.call(Method::GET, "/api/v1/client/public-key?key_id=0000000000000000", None, None).await;
    assert_error(&r, 404, "NOT_FOUND");
    let r = app.call(Method::GET, "/api/v1/client/public-key", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kid = r.body["key_id"].as_str().unwrap().to_string();
    let r = app.call(Method::GET, &format!("/api/v1/client/public-key?key_id={kid}&other=x"), None, None).await;
    assert_eq!(r.body["key_id"], kid.as_str(), "{}", r.text);
}
