//! The DevMate-compatible API `/v2`: seeds 000 and 001 replayed (same status, same body shape; only ids,
//! keys and times differ), every documented error with DevMate's exact texts, the other endpoints of
//! `shared/reference/devmate-v2.md`, manager scoping, and bad input that changes nothing.

use licensd_core::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Resp, TestApp};

backend_tests!(
    seed_001_create_license_replays_the_example,
    seed_001_errors_have_the_seed_texts,
    license_created_through_v2_is_the_same_license_in_api_v1,
    seed_000_every_filter_matches_as_its_table_says,
    reference_list_and_customer_examples_replay_exactly,
    extended_filters_fold_case_beyond_ascii,
    list_pages_with_limit_offset_and_total_before_paging,
    customer_shows_licenses_with_products_status_and_history,
    unknown_customer_is_404,
    create_customer_as_documented,
    update_customer_changes_only_what_is_given,
    reset_first_activation_frees_the_oldest_activation,
    manager_token_sees_only_its_products_in_v2,
    bad_input_is_refused_in_devmate_shape_and_writes_nothing,
    token_header_forms_devmate_clients_send,
    unknown_paths_and_methods_answer_in_devmate_shape,
    every_endpoint_answers_401_without_a_valid_token_and_writes_nothing,
);

const SEED_001: &str = r#"{
  "data": {
    "license_type_name": "MyNewApp Single User License",
    "license_type_id": 26,
    "invoice": "",
    "campaign": "",
    "activations_used": 0,
    "id": 1185,
    "expiration_date": null,
    "products": [
      {
        "id": 1,
        "name": "MyNewApp",
        "bundle_id": "com.acme.MyNewApp",
        "use_offline_license": false
      }
    ],
    "is_subscription": false,
    "status": 1,
    "activations_total": 65535,
    "activation_key": "id593311373237odr",
    "history": [
      {
        "type": 2,
        "user_name": "",
        "note": "",
        "timestamp": 1446563864
      }
    ]
  }
}"#;

/// A `/v2` request with an `Authorization` header written out whole (DevMate's curl examples send
/// `Authorization:Token …`), and a raw body with its content type.
async fn v2(app: &TestApp, method: Method, path: &str, auth: Option<&str>, body: Option<(&[u8], &str)>) -> Resp {
    let mut rb = reqwest::Client::new().request(method, format!("{}{path}", app.url));
    if let Some(a) = auth {
        rb = rb.header("Authorization", a);
    }
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

fn token(app: &TestApp) -> String {
    format!("Token {}", app.admin)
}

async fn get(app: &TestApp, path: &str) -> Resp {
    v2(app, Method::GET, path, Some(&token(app)), None).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> Resp {
    let b = body.to_string();
    v2(app, Method::POST, path, Some(&token(app)), Some((b.as_bytes(), "application/json"))).await
}

async fn put(app: &TestApp, path: &str, body: Value) -> Resp {
    let b = body.to_string();
    v2(app, Method::PUT, path, Some(&token(app)), Some((b.as_bytes(), "application/json"))).await
}

/// Asserts a DevMate error body: exactly one error with this title and detail.
#[track_caller]
fn devmate_error(r: &Resp, status: u16, title: &str, detail: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body, json!({"errors": [{"title": title, "detail": detail}]}), "{}", r.text);
}

/// Asserts a DevMate 400 whose title names the field or parameter.
#[track_caller]
fn devmate_400(r: &Resp, title: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    let errors = r.body["errors"].as_array().unwrap_or_else(|| panic!("no errors: {}", r.text));
    assert_eq!(errors.len(), 1, "{}", r.text);
    assert_eq!(errors[0]["title"], title, "{}", r.text);
    assert!(errors[0]["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.text);
    assert_eq!(errors[0].as_object().unwrap().len(), 2, "only title and detail: {}", r.text);
}

/// The seed's catalog: product MyNewApp and its license type (unlimited activations). Returns the type id.
async fn catalog(app: &TestApp) -> (i64, i64) {
    let r = app
        .post(
            "/api/v1/products",
            json!({"product_name": "MyNewApp", "short_code": "mynewapp", "bundle_id": "com.acme.MyNewApp"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let product = r.body["id"].as_i64().unwrap();
    let t =
        app.template(product, "single", json!({"name": "MyNewApp Single User License", "max_activations": null})).await;
    (product, t)
}

async fn customer(app: &TestApp, data: Value) -> i64 {
    let r = post(app, "/v2/customers", json!({ "data": data })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"]["id"].as_i64().unwrap()
}

async fn create_license(app: &TestApp, customer: i64, type_id: i64) -> Value {
    let r =
        post(app, &format!("/v2/customers/{customer}/licenses"), json!({"data": {"license_type_id": type_id}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"].clone()
}

fn now_secs() -> i64 {
    licensd_core::time::now_ms() / 1000
}

async fn seed_001_create_license_replays_the_example(app: TestApp) {
    let (product, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe"})).await;
    // Exactly the seed's curl: `Authorization:Token …` without a space, JSON under curl's default form type.
    let body = format!(r#"{{"data":{{"license_type_id":{type_id}}}}}"#);
    let before = now_secs();
    let r = v2(
        &app,
        Method::POST,
        &format!("/v2/customers/{cid}/licenses"),
        Some(&format!("Authorization:Token {}", app.admin)["Authorization:".len()..]),
        Some((body.as_bytes(), "application/x-www-form-urlencoded")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let got = &r.body["data"];
    let key = got["activation_key"].as_str().unwrap();
    assert!(key.len() >= 16, "{key}");
    let ts = got["history"][0]["timestamp"].as_i64().unwrap();
    assert!((before..=now_secs()).contains(&ts), "{ts}");
    assert_eq!(got["date_created"], ts, "date_created is seed 000's field; it is the created record's time");

    // The seed's example with this server's ids, key and times is exactly what came back (plus date_created,
    // which seed 000's field table lists).
    let mut expected: Value = serde_json::from_str(SEED_001).unwrap();
    let e = &mut expected["data"];
    e["license_type_id"] = json!(type_id);
    e["id"] = got["id"].clone();
    e["products"][0]["id"] = json!(product);
    e["activation_key"] = json!(key);
    e["history"][0]["timestamp"] = json!(ts);
    e["date_created"] = json!(ts);
    assert_eq!(r.body, expected);
    assert!(got["id"].is_i64() && got["expiration_date"].is_null() && got["is_subscription"].is_boolean());

    // A bare JSON content type and the reference's `Token <t>` form give the same shape.
    let again = create_license(&app, cid, type_id).await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&again), keys(got));
    assert_ne!(again["activation_key"], got["activation_key"]);
    assert_eq!(app.count("licenses").await, 2);
}

async fn seed_001_errors_have_the_seed_texts(app: TestApp) {
    let (_, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "jdoe@acme.corp"})).await;
    let ok = json!({"data": {"license_type_id": type_id}});

    // "Wrong customer ID": the seed's example body, to the letter.
    let r = post(&app, "/v2/customers//licenses", ok.clone()).await;
    devmate_error(&r, 400, "Invalid field \"customer_id\".", "Mandatory parameter \"customer_id\" is empty.");
    let r = post(&app, "/v2/customers/%20/licenses", ok.clone()).await;
    devmate_error(&r, 400, "Invalid field \"customer_id\".", "Mandatory parameter \"customer_id\" is empty.");
    for bad in ["abc", "0", "-4", "1.5", "99999"] {
        let r = post(&app, &format!("/v2/customers/{bad}/licenses"), ok.clone()).await;
        devmate_400(&r, "Invalid field \"customer_id\".");
    }
    let r = post(&app, "/v2/customers/99999/licenses", ok.clone()).await;
    devmate_error(
        &r,
        400,
        "Invalid field \"customer_id\".",
        "Wrong \"customer_id\" parameter given. Customer #99999 not found.",
    );

    // "Wrong license ID": the seed's example body, to the letter.
    let r = post(&app, &format!("/v2/customers/{cid}/licenses"), json!({"data": {"license_type_id": 123}})).await;
    devmate_error(
        &r,
        400,
        "Invalid field \"license_type_id\".",
        "Wrong \"license_type_id\" parameter given. License type #123 not found.",
    );
    let r = post(&app, &format!("/v2/customers/{cid}/licenses"), json!({"data": {}})).await;
    devmate_error(&r, 400, "Invalid field \"license_type_id\".", "Mandatory parameter \"license_type_id\" is empty.");
    for wrong in [json!("26"), json!(2.5), json!([1]), json!(true)] {
        let r = post(&app, &format!("/v2/customers/{cid}/licenses"), json!({"data": {"license_type_id": wrong}})).await;
        devmate_error(
            &r,
            400,
            "Invalid field \"license_type_id\".",
            "Wrong \"license_type_id\" parameter given. It must be an integer.",
        );
    }
    let r = post(&app, &format!("/v2/customers/{cid}/licenses"), json!({"license_type_id": type_id})).await;
    devmate_error(&r, 400, "Invalid field \"data\".", "Mandatory parameter \"data\" is empty.");
    let r = post(&app, &format!("/v2/customers/{cid}/licenses"), json!({"data": [type_id]})).await;
    devmate_error(&r, 400, "Invalid field \"data\".", "Wrong \"data\" parameter given. It must be an object.");
    let r = v2(
        &app,
        Method::POST,
        &format!("/v2/customers/{cid}/licenses"),
        Some(&token(&app)),
        Some((b"{\"data\": {\"license_type_id\": 1", "application/json")),
    )
    .await;
    devmate_400(&r, "Malformed JSON.");

    // 401: no token, an unknown one, a revoked one; DevMate's body has no detail.
    let path = format!("/v2/customers/{cid}/licenses");
    let b = ok.to_string();
    for auth in [None, Some("Token nope"), Some("Token"), Some("Basic abc")] {
        let r = v2(&app, Method::POST, &path, auth, Some((b.as_bytes(), "application/json"))).await;
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text);
        assert_eq!(r.text, r#"{"errors":[{"title":"Unauthorized"}]}"#);
    }
    assert_eq!(app.count("licenses").await, 0, "no refused request wrote a license");
    assert_eq!(app.count("events").await, 3, "product, template and customer created; nothing else");
}

async fn license_created_through_v2_is_the_same_license_in_api_v1(app: TestApp) {
    let (product, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "same@example.com"})).await;
    let l = create_license(&app, cid, type_id).await;
    let native = app.get(&format!("/api/v1/licenses/{}", l["id"])).await;
    assert_eq!(native.status, 200, "{}", native.text);
    let n = &native.body;
    assert_eq!(n["license_key"], l["activation_key"]);
    assert_eq!(n["customer"]["id"], cid);
    assert_eq!(n["license_template"], type_id);
    assert_eq!(n["product"]["id"], product);
    assert_eq!(n["max_activations"], Value::Null);
    assert_eq!(n["status"], "inactive");
    assert_eq!(n["history"][0]["action"], "license.created");
    // The management API's list finds it too, by key and by customer.
    let key = l["activation_key"].as_str().unwrap();
    let listed = app.get(&format!("/api/v1/licenses?license_key={key}")).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["count"], 1);
    assert_eq!(listed.body["results"][0]["id"], l["id"]);
    assert_eq!(app.list_count(&format!("/api/v1/licenses?customer={cid}")).await, 1);
    // And what /api/v1 does to it, /v2 shows.
    let id = l["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/licenses/{id}/disable"), json!({"note": "chargeback"})).await.status, 200);
    let c = get(&app, &format!("/v2/customers/{cid}")).await;
    let shown = &c.body["data"]["licenses"][0];
    assert_eq!(shown["status"], 4);
    assert_eq!(
        shown["history"][1],
        json!({"type": 4, "user_name": "", "note": "chargeback", "timestamp": shown["history"][1]["timestamp"]})
    );
}

/// Customers, licenses, orders and devices for the filter table.
struct World {
    ann: i64,
    bob: i64,
    cid: i64,
    ann_key: String,
    bob_key: String,
    ann_order: i64,
    bob_device: i64,
}

async fn world(app: &TestApp) -> World {
    let (_, type_id) = catalog(app).await;
    let ann = customer(
        app,
        json!({"email": "Ann.Lee@Company.com", "first_name": "Annabel", "last_name": "Lee", "company": "MacPaw",
               "phone": "5554133113", "address": "Madison Ave. 11"}),
    )
    .await;
    let bob = customer(
        app,
        json!({"email": "bob@corp.example", "first_name": "Bob", "last_name": "Stone", "company": "Globex",
               "phone": "+44 20 7946 0000", "address": "1 Main Street"}),
    )
    .await;
    let cid = customer(app, json!({"email": "cid@company.com", "first_name": "Cid", "last_name": "Leeds"})).await;
    // Ann buys through the store: an order with an invoice, holding a license of the type.
    let o = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "CORP150902-0339-893098", "customer": ann, "campaign": "fall",
                   "licenses": [{"license_template": type_id}]}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let ann_key = o.body["licenses"][0]["license_key"].as_str().unwrap().to_string();
    let bob_license = create_license(app, bob, type_id).await;
    let bob_key = bob_license["activation_key"].as_str().unwrap().to_string();
    let a = reqwest::Client::new()
        .post(format!("{}/api/v1/client/activate", app.url))
        .json(&json!({"license_key": bob_key, "hardware_id": "ff:ff:ff:aa:aa:aa", "product": "mynewapp", "hostname": "bobs-mac"}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    let devices = app.get(&format!("/api/v1/devices?license={}", bob_license["id"])).await;
    let bob_device = devices.body["results"][0]["id"].as_i64().unwrap();
    World { ann, bob, cid, ann_key, bob_key, ann_order: o.body["id"].as_i64().unwrap(), bob_device }
}

async fn ids(app: &TestApp, query: &str) -> Vec<i64> {
    let r = get(app, &format!("/v2/customers?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(r.body["meta"]["total"].as_u64().unwrap() as usize, data.len(), "{query}");
    data.iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

async fn seed_000_every_filter_matches_as_its_table_says(app: TestApp) {
    let w = world(&app).await;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let (ann, bob, cid) = (w.ann, w.bob, w.cid);
    let cases: Vec<(String, Vec<i64>)> = vec![
        // Extended: case-insensitive contains (3+ characters use the trigram indexes, shorter ones a scan).
        ("filter[email]=company.com".into(), vec![ann, cid]),
        ("filter[email]=COMPANY".into(), vec![ann, cid]),
        ("filter[email]=ann.lee@company.com".into(), vec![ann]),
        ("filter[email]=co".into(), vec![ann, bob, cid]),
        ("filter[email]=nobody".into(), vec![]),
        ("filter[first_name]=john".into(), vec![]),
        ("filter[first_name]=ANNA".into(), vec![ann]),
        ("filter[first_name]=b".into(), vec![ann, bob]),
        ("filter[last_name]=lee".into(), vec![ann, cid]),
        ("filter[company]=macpaw".into(), vec![ann]),
        ("filter[company]=Glo".into(), vec![bob]),
        ("filter[phone]=4133".into(), vec![ann]),
        (format!("filter[phone]={}", enc("+44")), vec![bob]),
        (format!("filter[address]={}", enc("madison ave")), vec![ann]),
        ("filter[identifier]=FF:FF:FF".into(), vec![bob]),
        ("filter[identifier]=aa:aa".into(), vec![bob]),
        ("filter[identifier]=ff:ff:ff:aa:aa:aa".into(), vec![bob]),
        ("filter[invoice]=CORP150902".into(), vec![ann]),
        ("filter[invoice]=corp150902-0339-893098".into(), vec![ann]),
        ("filter[invoice]=0339".into(), vec![ann]),
        // Exact: the whole value, nothing less.
        (format!("filter[key]={}", w.ann_key), vec![ann]),
        (format!("filter[key]={}", &w.ann_key[..10]), vec![]),
        // ... as the client API matches a typed key: trimmed, and whatever the case for keys licensd issues.
        (format!("filter[key]={}", w.ann_key.to_lowercase()), vec![ann]),
        (format!("filter[key]={}", enc(&format!(" {} ", w.ann_key))), vec![ann]),
        (format!("filter[license_key]={}", w.bob_key), vec![bob]),
        (format!("filter[order_id]={}", w.ann_order), vec![ann]),
        (format!("filter[order_id]={}", w.ann_order * 10 + 1), vec![]),
        (format!("filter[activation_id]={}", w.bob_device), vec![bob]),
        (format!("filter[activation_id]={}", w.bob_device + 1000), vec![]),
        // Several filters: all of them.
        ("filter[email]=company.com&filter[last_name]=lee".into(), vec![ann, cid]),
        ("filter[email]=company.com&filter[first_name]=cid".into(), vec![cid]),
        (format!("filter[email]=company.com&filter[key]={}", w.bob_key), vec![]),
        ("filter[email]=co&filter[company]=mac&filter[phone]=555".into(), vec![ann]),
    ];
    for (q, expected) in cases {
        assert_eq!(ids(&app, &q).await, expected, "{q}");
    }
    // A filter value with LIKE and FTS metacharacters is plain text.
    assert_eq!(ids(&app, &format!("filter[email]={}", enc("%"))).await, Vec::<i64>::new());
    assert_eq!(ids(&app, &format!("filter[email]={}", enc("\"co"))).await, Vec::<i64>::new());
    assert_eq!(ids(&app, &format!("filter[email]={}", enc("_"))).await, Vec::<i64>::new());
}

/// The reference's list and customer examples (DevMate's docs and Java client), replayed: the same body
/// with only the id, times and key differing.
async fn reference_list_and_customer_examples_replay_exactly(app: TestApp) {
    let (product, type_id) = catalog(&app).await;
    customer(&app, json!({"email": "someone@else.org", "last_name": "Doe"})).await;
    let id = customer(
        &app,
        json!({"email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe", "company": "MacPaw",
               "phone": "5553423322", "address": "Madison Ave. 11", "note": "Our valuable customer"}),
    )
    .await;
    let r = get(&app, "/v2/customers?filter[email]=acme.corp&filter[last_name]=Doe&limit=10").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let date_added = r.body["data"][0]["date_added"].as_i64().unwrap();
    assert!((now_secs() - 60..=now_secs()).contains(&date_added), "{date_added}");
    let item = json!({"id": id, "email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe",
                      "company": "MacPaw", "phone": "5553423322", "address": "Madison Ave. 11",
                      "note": "Our valuable customer", "date_added": date_added});
    assert_eq!(r.body, json!({"data": [item], "meta": {"total": 1}}));

    // One customer: the same object with its licenses ([] before it has any, then seed 001's license).
    let mut one = item.clone();
    one["licenses"] = json!([]);
    let r = get(&app, &format!("/v2/customers/{id}")).await;
    assert_eq!((r.status, &r.body), (200, &json!({"data": one})), "{}", r.text);
    let l = create_license(&app, id, type_id).await;
    let mut seed: Value = serde_json::from_str(SEED_001).unwrap();
    let s = &mut seed["data"];
    s["license_type_id"] = json!(type_id);
    s["id"] = l["id"].clone();
    s["products"][0]["id"] = json!(product);
    s["activation_key"] = l["activation_key"].clone();
    s["history"][0]["timestamp"] = l["history"][0]["timestamp"].clone();
    s["date_created"] = l["history"][0]["timestamp"].clone();
    one["licenses"] = json!([seed["data"].clone()]);
    let r = get(&app, &format!("/v2/customers/{id}")).await;
    assert_eq!(r.body, json!({"data": one}));
    // with=licenses puts the same licenses in list items.
    let r = get(&app, "/v2/customers?filter[email]=jdoe&with=licenses").await;
    assert_eq!(r.body, json!({"data": [one], "meta": {"total": 1}}));
}

/// Extended filters are case-insensitive for every letter, not only ASCII, on both backends: through the
/// trigram indexes (3+ characters) and without them.
async fn extended_filters_fold_case_beyond_ascii(app: TestApp) {
    let zoe = customer(
        &app,
        json!({"email": "zoe@example.com", "first_name": "Zoë", "last_name": "Müller", "company": "Ärzte Łódź",
               "address": "ul. Żółta 5, Łódź"}),
    )
    .await;
    let upper = customer(&app, json!({"email": "oz@example.com", "first_name": "ÖZGÜR", "last_name": "ÇELİK"})).await;
    let plain = customer(&app, json!({"email": "plain@example.com", "first_name": "Zoe", "last_name": "Muller"})).await;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for (filter, value, expected) in [
        ("first_name", "ZOË", vec![zoe]),
        ("first_name", "zoë", vec![zoe]),
        ("first_name", "Ë", vec![zoe]),
        ("first_name", "özgür", vec![upper]),
        ("first_name", "gü", vec![upper]),
        ("last_name", "MÜLLER", vec![zoe]),
        ("last_name", "üll", vec![zoe]),
        ("company", "ÄRZTE", vec![zoe]),
        ("company", "łÓdŹ", vec![zoe]),
        ("company", "är", vec![zoe]),
        ("address", "ŻÓŁTA", vec![zoe]),
        ("address", "łódź", vec![zoe]),
        // Case is folded, accents are not; wildcards are plain text.
        ("first_name", "ZOE", vec![plain]),
        ("last_name", "muller", vec![plain]),
        ("first_name", "ë*", vec![]),
        ("first_name", "z?ë", vec![]),
    ] {
        assert_eq!(ids(&app, &format!("filter[{filter}]={}", enc(value))).await, expected, "{filter}={value}");
    }
}

async fn list_pages_with_limit_offset_and_total_before_paging(app: TestApp) {
    let (_, type_id) = catalog(&app).await;
    let mut all = Vec::new();
    for i in 0..13 {
        all.push(customer(&app, json!({"email": format!("c{i:02}@example.com"), "first_name": format!("C{i}")})).await);
    }
    create_license(&app, all[0], type_id).await;
    // Default limit 10, offset 0; total counts every match.
    let r = get(&app, "/v2/customers").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["meta"], json!({"total": 13}));
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 10);
    assert_eq!(data.iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>(), all[..10]);
    // List items carry the customer's fields and no licenses.
    let first = data[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["address", "company", "date_added", "email", "first_name", "id", "last_name", "note", "phone"]);
    assert!(first["date_added"].as_i64().unwrap() > 1_600_000_000);
    // The docs' example: limit=1&offset=0.
    let r = get(&app, "/v2/customers?limit=1&offset=0&filter[email]=example.com").await;
    assert_eq!(r.body["meta"]["total"], 13);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = get(&app, "/v2/customers?limit=5&offset=10").await;
    assert_eq!(r.body["meta"]["total"], 13);
    assert_eq!(
        r.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        all[10..]
    );
    let r = get(&app, "/v2/customers?offset=100").await;
    assert_eq!(r.body, json!({"data": [], "meta": {"total": 13}}));
    // with=licenses (what DevMate's own clients send): every item has licenses, [] when it has none.
    let r = get(&app, "/v2/customers?limit=2&with=licenses").await;
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data[0]["licenses"].as_array().unwrap().len(), 1);
    assert_eq!(data[0]["licenses"][0]["license_type_id"], type_id);
    assert_eq!(data[1]["licenses"], json!([]));
    // The Java client's defaults.
    assert_eq!(get(&app, "/v2/customers?limit=10&offset=0&with=licenses").await.body["meta"]["total"], 13);
}

async fn customer_shows_licenses_with_products_status_and_history(app: TestApp) {
    let (product, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "h@example.com", "note": "Our valuable customer"})).await;
    let l = create_license(&app, cid, type_id).await;
    let id = l["id"].as_i64().unwrap();
    let key = l["activation_key"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    for hw in ["aa:aa:aa:aa:aa:01", "aa:aa:aa:aa:aa:02"] {
        let r = http
            .post(format!("{}/api/v1/client/activate", app.url))
            .json(&json!({"license_key": key, "hardware_id": hw, "product": "mynewapp", "hostname": format!("mac-{}", &hw[15..])}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = get(&app, &format!("/v2/customers/{cid}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = &r.body["data"];
    assert_eq!(c["id"], cid);
    assert_eq!(c["email"], "h@example.com");
    assert_eq!(c["note"], "Our valuable customer");
    assert_eq!(c["company"], "");
    let shown = &c["licenses"][0];
    assert_eq!(shown["status"], 2, "used");
    assert_eq!(shown["activations_used"], 2);
    assert_eq!(shown["activations_total"], 65535);
    assert_eq!(
        shown["products"],
        json!([{"id": product, "name": "MyNewApp", "bundle_id": "com.acme.MyNewApp", "use_offline_license": false}])
    );
    let h = shown["history"].as_array().unwrap();
    assert_eq!(h.iter().map(|x| x["type"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 1, 1]);
    assert_eq!(h[1]["identifiers"], "aa:aa:aa:aa:aa:01");
    assert_eq!(h[1]["activation_name"], "mac-01");
    assert_eq!(h[1]["deactivated"], 0);
    assert!(h[1]["activation_id"].is_i64());

    app.post(&format!("/api/v1/licenses/{id}/disable"), json!({"note": "chargeback"})).await;
    assert_eq!(get(&app, &format!("/v2/customers/{cid}")).await.body["data"]["licenses"][0]["status"], 4);
    app.post(&format!("/api/v1/licenses/{id}/enable"), json!({})).await;
    app.post(&format!("/api/v1/licenses/{id}/reset"), json!({"note": "new laptop"})).await;
    app.post(&format!("/api/v1/licenses/{id}/refund"), json!({})).await;
    let shown = get(&app, &format!("/v2/customers/{cid}")).await.body["data"]["licenses"][0].clone();
    assert_eq!(shown["status"], 5, "refunded");
    assert_eq!(shown["activations_used"], 0);
    let h = shown["history"].as_array().unwrap();
    // created, 2 activations, blocked, reset, returned: enabling has no DevMate kind.
    assert_eq!(h.iter().map(|x| x["type"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 1, 1, 4, 6, 5]);
    assert_eq!(h[3]["note"], "chargeback");
    assert_eq!(h[4]["note"], "new laptop");
    assert_eq!(h[1]["deactivated"], 1, "the reset freed the activation");
    for x in h {
        assert!(x["timestamp"].as_i64().unwrap() >= now_secs() - 60);
        assert_eq!(x["user_name"], "");
    }

    // Expired (3): a time-limited license past its date; the expiration date is UNIX seconds.
    let exp = app.license(json!({"license_template": type_id, "customer": cid, "validity_period": "2001-01-01"})).await;
    let c = get(&app, &format!("/v2/customers/{cid}")).await.body["data"].clone();
    let shown = c["licenses"].as_array().unwrap().iter().find(|x| x["id"] == exp["id"]).unwrap().clone();
    assert_eq!(shown["status"], 3);
    assert_eq!(shown["expiration_date"], 978_307_200);
    assert_eq!(shown["is_subscription"], false);
    // A license with a limit shows it.
    let limited = app.license(json!({"license_template": type_id, "customer": cid, "max_activations": 3})).await;
    let c = get(&app, &format!("/v2/customers/{cid}")).await.body["data"].clone();
    let shown = c["licenses"].as_array().unwrap().iter().find(|x| x["id"] == limited["id"]).unwrap().clone();
    assert_eq!(shown["activations_total"], 3);
    assert_eq!(shown["status"], 1);
}

async fn unknown_customer_is_404(app: TestApp) {
    let r = get(&app, "/v2/customers/4242").await;
    devmate_error(&r, 404, "Server error.", "Resource with provided id \"4242\" does not exist.");
    let r = get(&app, "/v2/customers/abc").await;
    devmate_error(&r, 404, "Server error.", "Resource with provided id \"abc\" does not exist.");
    let r = v2(&app, Method::GET, "/v2/customers/4242", None, None).await;
    assert_eq!(r.text, r#"{"errors":[{"title":"Unauthorized"}]}"#);
    assert_eq!(r.status, 401);
}

async fn create_customer_as_documented(app: TestApp) {
    // The docs write POST /v2/customers/ with a slash.
    let r = post(
        &app,
        "/v2/customers/",
        json!({"data": {"email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe", "note": "Our valuable customer"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = &r.body["data"];
    let id = c["id"].as_i64().unwrap();
    let date = c["date_added"].as_i64().unwrap();
    assert!((now_secs() - 60..=now_secs()).contains(&date));
    assert_eq!(
        r.body,
        json!({"data": {"id": id, "email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe", "company": "",
                        "phone": "", "address": "", "note": "Our valuable customer", "date_added": date}})
    );
    // What the Java client sends: the whole object with nulls and read-only keys.
    let r = post(
        &app,
        "/v2/customers",
        json!({"data": {"id": null, "email": "jane@acme.corp", "first_name": "Jane", "last_name": null, "company": "MacPaw",
                        "phone": "5553423322", "address": "Madison Ave. 11", "note": null, "date_added": null, "licenses": null}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["company"], "MacPaw");
    assert_eq!(r.body["data"]["last_name"], "");
    // The same customer in /api/v1.
    let native = app.get(&format!("/api/v1/customers/{id}")).await;
    assert_eq!(native.body["email"], "jdoe@acme.corp");
    assert_eq!(native.body["note"], "Our valuable customer");

    let conflict = "This email already exists.";
    devmate_error(
        &post(&app, "/v2/customers", json!({"data": {"email": "JDOE@acme.corp"}})).await,
        409,
        "Invalid field \"email\".",
        conflict,
    );
    let bad = "Mandatory parameter \"email\" is empty or incorrect.";
    for data in
        [json!({"first_name": "x"}), json!({"email": ""}), json!({"email": "not-an-email"}), json!({"email": null})]
    {
        devmate_error(
            &post(&app, "/v2/customers", json!({ "data": data })).await,
            400,
            "Invalid field \"email\".",
            bad,
        );
    }
    devmate_error(
        &post(&app, "/v2/customers", json!({"data": {"email": "x@y.z", "first_name": 5}})).await,
        400,
        "Invalid field \"first_name\".",
        "Wrong \"first_name\" parameter given. It must be a string.",
    );
    let long = "x".repeat(300);
    devmate_400(
        &post(&app, "/v2/customers", json!({"data": {"email": "x@y.z", "company": long}})).await,
        "Invalid field \"company\".",
    );
    devmate_400(&post(&app, "/v2/customers", json!({"data": {"email": 42}})).await, "Invalid field \"email\".");
    assert_eq!(app.count("customers").await, 2);
}

async fn update_customer_changes_only_what_is_given(app: TestApp) {
    let id = customer(
        &app,
        json!({"email": "jdoe@acme.corp", "first_name": "John", "last_name": "Doe", "company": "MacPaw"}),
    )
    .await;
    let other = customer(&app, json!({"email": "taken@acme.corp"})).await;
    let date = get(&app, &format!("/v2/customers/{id}")).await.body["data"]["date_added"].clone();
    let r = put(
        &app,
        &format!("/v2/customers/{id}"),
        json!({"data": {"email": "janedoe@acme.corp", "first_name": "Jane", "last_name": "Doe", "note": "Changing name and email"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"data": {"id": id, "email": "janedoe@acme.corp", "first_name": "Jane", "last_name": "Doe", "company": "MacPaw",
                        "phone": "", "address": "", "note": "Changing name and email", "date_added": date}})
    );
    // `notes` (DevMate's v1.0 name), read-only keys and nulls: the note changes, nothing else does.
    let r = put(
        &app,
        &format!("/v2/customers/{id}"),
        json!({"data": {"id": 999, "date_added": 1, "notes": "via notes", "first_name": null, "licenses": []}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["note"], "via notes");
    assert_eq!(r.body["data"]["first_name"], "Jane");
    assert_eq!(r.body["data"]["id"], id);
    assert_eq!(r.body["data"]["date_added"], date);

    devmate_error(
        &put(&app, &format!("/v2/customers/{id}"), json!({"data": {"email": "TAKEN@acme.corp"}})).await,
        409,
        "Invalid field \"email\".",
        "This email already exists.",
    );
    devmate_error(
        &put(&app, &format!("/v2/customers/{id}"), json!({"data": {"email": ""}})).await,
        400,
        "Invalid field \"email\".",
        "Mandatory parameter \"email\" is empty or incorrect.",
    );
    devmate_error(
        &put(&app, "/v2/customers/4242", json!({"data": {"note": "x"}})).await,
        404,
        "Server error.",
        "Resource with provided id \"4242\" does not exist.",
    );
    // "Method not allowed: customer ID is empty".
    let r = put(&app, "/v2/customers/", json!({"data": {"note": "x"}})).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.text, "", "DevMate's 405 has an empty body");
    // Malformed JSON and wrong types: 400, and the customer is as it was.
    let r = v2(
        &app,
        Method::PUT,
        &format!("/v2/customers/{id}"),
        Some(&token(&app)),
        Some((b"{\"data\": {\"note\": ", "application/json")),
    )
    .await;
    devmate_400(&r, "Malformed JSON.");
    devmate_error(
        &put(&app, &format!("/v2/customers/{id}"), json!({"data": {"note": "lost", "phone": 5553423322_i64}})).await,
        400,
        "Invalid field \"phone\".",
        "Wrong \"phone\" parameter given. It must be a string.",
    );
    devmate_error(
        &put(&app, &format!("/v2/customers/{id}"), json!({"data": "note"})).await,
        400,
        "Invalid field \"data\".",
        "Wrong \"data\" parameter given. It must be an object.",
    );
    let c = get(&app, &format!("/v2/customers/{id}")).await.body["data"].clone();
    assert_eq!(c["email"], "janedoe@acme.corp");
    assert_eq!(c["note"], "via notes");
    assert_eq!(get(&app, &format!("/v2/customers/{other}")).await.body["data"]["email"], "taken@acme.corp");
}

async fn reset_first_activation_frees_the_oldest_activation(app: TestApp) {
    let (_, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "r@example.com"})).await;
    let l = create_license(&app, cid, type_id).await;
    let key = l["activation_key"].as_str().unwrap().to_string();
    let path = format!("/v2/licenses/{key}/reset_first_activation");
    let r = v2(&app, Method::POST, &path, Some(&token(&app)), None).await;
    devmate_error(&r, 409, "Conflict.", &format!("Activation key {key:?} has no activation to reset."));
    let http = reqwest::Client::new();
    for hw in ["first-machine", "second-machine"] {
        let r = http
            .post(format!("{}/api/v1/client/activate", app.url))
            .json(&json!({"license_key": key, "hardware_id": hw, "product": "mynewapp"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // The Java client posts an empty text/plain body.
    let r = v2(&app, Method::POST, &path, Some(&token(&app)), Some((b"", "text/plain"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, "");
    let devices = app.get(&format!("/api/v1/devices?license={}&order_by=id", l["id"])).await.body;
    assert_eq!(devices["results"][0]["hardware_id"], "first-machine");
    assert_eq!(devices["results"][0]["active"], false);
    assert_eq!(devices["results"][1]["active"], true);
    let shown = get(&app, &format!("/v2/customers/{cid}")).await.body["data"]["licenses"][0].clone();
    assert_eq!(shown["activations_used"], 1);
    let types: Vec<i64> = shown["history"].as_array().unwrap().iter().map(|h| h["type"].as_i64().unwrap()).collect();
    assert_eq!(types, [2, 1, 1, 6]);
    assert_eq!(shown["history"][1]["deactivated"], 1);
    // The freed slot can be used again; the second machine is reset next.
    assert_eq!(v2(&app, Method::POST, &path, Some(&token(&app)), None).await.status, 200);
    let r = v2(&app, Method::POST, &path, Some(&token(&app)), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    // Unknown key: DevMate's own 404 text.
    let r =
        v2(&app, Method::POST, "/v2/licenses/id15448977564odr/reset_first_activation", Some(&token(&app)), None).await;
    devmate_error(&r, 404, "Server error.", "Resource with provided key \"id15448977564odr\" does not exist.");
    let r = v2(&app, Method::GET, &path, Some(&token(&app)), None).await;
    assert_eq!((r.status, r.text.as_str()), (405, ""), "DevMate's documented 405: an empty body");
    assert_eq!(r.headers["allow"], "POST");
    let r = v2(&app, Method::POST, &path, None, None).await;
    assert_eq!(r.text, r#"{"errors":[{"title":"Unauthorized"}]}"#);
}

/// An order through the management API holding one license of a template: (order id, license id, key).
async fn order(app: &TestApp, store_id: &str, customer: i64, template: i64) -> (i64, i64, String) {
    let o = app
        .post(
            "/api/v1/orders",
            json!({"store_id": store_id, "customer": customer, "licenses": [{"license_template": template}]}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let l = &o.body["licenses"][0];
    (o.body["id"].as_i64().unwrap(), l["id"].as_i64().unwrap(), l["license_key"].as_str().unwrap().to_string())
}

/// Activates a key on a machine through the client API and returns the device (DevMate activation) id.
async fn activate(app: &TestApp, key: &str, product: &str, hardware_id: &str) -> i64 {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/client/activate", app.url))
        .json(&json!({"license_key": key, "hardware_id": hardware_id, "product": product}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    body["device"]["id"].as_i64().unwrap_or_else(|| panic!("device id: {body}"))
}

async fn manager_token_sees_only_its_products_in_v2(app: TestApp) {
    let (_, mine) = catalog(&app).await;
    let theirs_product = app.product("theirs").await;
    let theirs = app.template(theirs_product, "theirs-single", json!({})).await;
    let shared = customer(&app, json!({"email": "shared@example.com"})).await;
    let only_theirs = customer(&app, json!({"email": "other@example.com", "note": "theirs"})).await;
    // The shared customer holds licenses of both products, each with an order (invoice) and an activation.
    let my_license = create_license(&app, shared, mine).await;
    let my_key = my_license["activation_key"].as_str().unwrap().to_string();
    let (my_order, my_order_license, _) = order(&app, "MINE-INV-88", shared, mine).await;
    let (their_order, their_license, their_key) = order(&app, "THEIRS-INV-77", shared, theirs).await;
    let my_device = activate(&app, &my_key, "mynewapp", "aa:bb:cc:dd:ee:02").await;
    let their_device = activate(&app, &their_key, "theirs", "aa:bb:cc:dd:ee:01").await;
    create_license(&app, only_theirs, theirs).await;
    let m = format!("Token {}", app.token("store", Role::Manager, &["mynewapp"]).await);
    let as_manager = async |method: Method, path: &str, body: Option<Value>| {
        let b = body.map(|b| b.to_string());
        v2(&app, method, path, Some(&m), b.as_ref().map(|b| (b.as_bytes(), "application/json"))).await
    };

    // List and get: the customers holding its products' licenses, and only those licenses.
    let r = as_manager(Method::GET, "/v2/customers?with=licenses", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["meta"]["total"], 1);
    assert_eq!(r.body["data"][0]["id"], shared);
    let license_ids = |c: &Value| c["licenses"].as_array().unwrap().iter().map(|l| l["id"].clone()).collect::<Vec<_>>();
    assert_eq!(license_ids(&r.body["data"][0]), [my_license["id"].clone(), json!(my_order_license)]);
    let r = as_manager(Method::GET, &format!("/v2/customers/{shared}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(license_ids(&r.body["data"]), [my_license["id"].clone(), json!(my_order_license)]);
    let r = as_manager(Method::GET, &format!("/v2/customers/{only_theirs}"), None).await;
    devmate_error(&r, 404, "Server error.", &format!("Resource with provided id \"{only_theirs}\" does not exist."));
    // The admin sees everything.
    let r = get(&app, &format!("/v2/customers/{shared}")).await;
    assert_eq!(r.body["data"]["licenses"].as_array().unwrap().len(), 3);

    // Filters on keys, machines, activations, invoices and orders look only at its products: another
    // product's data finds nothing, even on a customer the manager sees (the admin finds it).
    for (q, manager_total) in [
        (format!("filter[key]={their_key}"), 0),
        (format!("filter[key]={my_key}"), 1),
        ("filter[identifier]=dd:ee:01".to_string(), 0),
        ("filter[identifier]=DD:EE:02".to_string(), 1),
        (format!("filter[activation_id]={their_device}"), 0),
        (format!("filter[activation_id]={my_device}"), 1),
        ("filter[invoice]=theirs-inv".to_string(), 0),
        ("filter[invoice]=mine-inv".to_string(), 1),
        (format!("filter[order_id]={their_order}"), 0),
        (format!("filter[order_id]={my_order}"), 1),
        ("filter[email]=other@".to_string(), 0),
    ] {
        let r = as_manager(Method::GET, &format!("/v2/customers?{q}"), None).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(r.body["meta"]["total"], manager_total, "{q}");
        assert_eq!(get(&app, &format!("/v2/customers?{q}")).await.body["meta"]["total"], 1, "admin: {q}");
    }

    // Writes: only its license types, only customers it sees, only its keys; refused ones write nothing.
    let before = (app.count("licenses").await, app.count("events").await, app.count("devices").await);
    let r = as_manager(
        Method::POST,
        &format!("/v2/customers/{shared}/licenses"),
        Some(json!({"data": {"license_type_id": theirs}})),
    )
    .await;
    devmate_error(
        &r,
        400,
        "Invalid field \"license_type_id\".",
        &format!("Wrong \"license_type_id\" parameter given. License type #{theirs} not found."),
    );
    let r = as_manager(
        Method::POST,
        &format!("/v2/customers/{only_theirs}/licenses"),
        Some(json!({"data": {"license_type_id": mine}})),
    )
    .await;
    devmate_error(
        &r,
        400,
        "Invalid field \"customer_id\".",
        &format!("Wrong \"customer_id\" parameter given. Customer #{only_theirs} not found."),
    );
    let r =
        as_manager(Method::PUT, &format!("/v2/customers/{only_theirs}"), Some(json!({"data": {"note": "mine now"}})))
            .await;
    devmate_error(&r, 404, "Server error.", &format!("Resource with provided id \"{only_theirs}\" does not exist."));
    let r = as_manager(Method::POST, &format!("/v2/licenses/{their_key}/reset_first_activation"), None).await;
    devmate_error(&r, 404, "Server error.", &format!("Resource with provided key \"{their_key}\" does not exist."));
    assert_eq!((app.count("licenses").await, app.count("events").await, app.count("devices").await), before);
    assert_eq!(get(&app, &format!("/v2/customers/{only_theirs}")).await.body["data"]["note"], "theirs");
    let their_devices = app.get(&format!("/api/v1/devices?license={their_license}")).await.body;
    assert_eq!(their_devices["results"][0]["active"], true);
    // Its own key resets.
    let r = as_manager(Method::POST, &format!("/v2/licenses/{my_key}/reset_first_activation"), None).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));

    // A store's flow under a manager token: its own new customer, then that customer's license.
    let r = as_manager(Method::POST, "/v2/customers", Some(json!({"data": {"email": "new@example.com"}}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new = r.body["data"]["id"].as_i64().unwrap();
    let r = as_manager(Method::GET, "/v2/customers", None).await;
    assert_eq!(r.body["meta"]["total"], 2, "the customer it created is its own");
    let r = as_manager(
        Method::POST,
        &format!("/v2/customers/{new}/licenses"),
        Some(json!({"data": {"license_type_id": mine}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r =
        as_manager(Method::PUT, &format!("/v2/customers/{new}"), Some(json!({"data": {"first_name": "New"}}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.count("licenses").await, 5);
}

async fn bad_input_is_refused_in_devmate_shape_and_writes_nothing(app: TestApp) {
    let (_, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "b@example.com"})).await;
    let counts = async || {
        let mut v = Vec::new();
        for t in ["customers", "licenses", "orders", "events", "devices"] {
            v.push(app.count(t).await);
        }
        v
    };
    let before = counts().await;
    let t = token(&app);
    let lic = format!("/v2/customers/{cid}/licenses");
    let big = format!(r#"{{"data":{{"license_type_id":{type_id},"pad":"{}"}}}}"#, "x".repeat(2 * 1024 * 1024));
    let r = v2(&app, Method::POST, &lic, Some(&t), Some((big.as_bytes(), "application/json"))).await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(200)]);
    assert_eq!(r.body["errors"][0]["title"], "Payload too large.");
    // Streamed without a Content-Length, the limit is found while reading (just over it, so all of the body is
    // sent before the answer).
    let over = format!(r#"{{"data":{{"license_type_id":{type_id},"pad":"{}"}}}}"#, "x".repeat(1024 * 1024));
    let (status, body) = crate::common::post_streamed(&format!("{}{lic}", app.url), &t, over.into_bytes()).await;
    assert_eq!((status, &body["errors"][0]["title"]), (413, &json!("Payload too large.")), "{body}");
    let r =
        v2(&app, Method::POST, &lic, Some(&t), Some((b"{\"data\":{\"x\":\"\xff\xfe\"}}", "application/json"))).await;
    devmate_400(&r, "Invalid UTF-8.");
    for body in [&b""[..], b"   ", b"{", b"[1]", b"null", b"{\"data\":{\"license_type_id\":1}} {}"] {
        let r = v2(&app, Method::POST, &lic, Some(&t), Some((body, "application/json"))).await;
        assert_eq!(r.status, 400, "{:?}: {}", String::from_utf8_lossy(body), r.text);
        assert!(r.body["errors"][0]["title"].as_str().unwrap().ends_with('.'), "{}", r.text);
        assert!(r.body["errors"][0]["detail"].is_string());
    }
    let r = v2(&app, Method::POST, &lic, Some(&t), Some((b"<data/>", "application/xml"))).await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert!(r.body["errors"][0]["title"].is_string());
    let r = v2(
        &app,
        Method::POST,
        "/v2/customers",
        Some(&t),
        Some((b"{\"data\":{\"email\":[\"a@b.c\"]}}", "application/json")),
    )
    .await;
    devmate_400(&r, "Invalid field \"email\".");
    // Query parameters: unknown filters and parameters, bad limits and offsets, non-integer exact filters.
    for (q, title) in [
        ("filter[colour]=red", "Invalid parameter \"filter[colour]\"."),
        ("filter[email]=", "Invalid parameter \"filter[email]\"."),
        ("filter[order_id]=abc", "Invalid parameter \"filter[order_id]\"."),
        ("filter[activation_id]=1.5", "Invalid parameter \"filter[activation_id]\"."),
        ("limit=0", "Invalid parameter \"limit\"."),
        ("limit=1001", "Invalid parameter \"limit\"."),
        ("limit=ten", "Invalid parameter \"limit\"."),
        ("offset=-1", "Invalid parameter \"offset\"."),
        ("with=orders", "Invalid parameter \"with\"."),
        ("email=a", "Invalid parameter \"email\"."),
    ] {
        devmate_400(&get(&app, &format!("/v2/customers?{q}")).await, title);
    }
    assert_eq!(get(&app, "/v2/customers?limit=1000").await.status, 200);
    assert_eq!(counts().await, before, "nothing was written");
}

async fn token_header_forms_devmate_clients_send(app: TestApp) {
    for auth in [
        format!("Token {}", app.admin),
        format!("Token:{}", app.admin),
        format!("token {}", app.admin),
        format!("Bearer {}", app.admin),
        format!("Api-Key {}", app.admin),
    ] {
        assert_eq!(v2(&app, Method::GET, "/v2/customers", Some(&auth), None).await.status, 200, "{auth}");
    }
    let revoked = app.token("old", Role::Admin, &[]).await;
    let list = licensd_store::tokens::list(&app.db).await.unwrap();
    let id = list.iter().find(|t| t.name == "old").unwrap().id;
    licensd_store::tokens::revoke(&app.db, id).await.unwrap();
    let r = v2(&app, Method::GET, "/v2/customers", Some(&format!("Token {revoked}")), None).await;
    assert_eq!((r.status, r.text.as_str()), (401, r#"{"errors":[{"title":"Unauthorized"}]}"#));
}

/// Every `/v2` endpoint: no token, a wrong one, another scheme's garbage: DevMate's exact 401 body, and
/// nothing is written even when the body is valid.
async fn every_endpoint_answers_401_without_a_valid_token_and_writes_nothing(app: TestApp) {
    let (_, type_id) = catalog(&app).await;
    let cid = customer(&app, json!({"email": "u@example.com"})).await;
    let key = create_license(&app, cid, type_id).await["activation_key"].as_str().unwrap().to_string();
    let counts = async || {
        let mut v = Vec::new();
        for t in ["customers", "licenses", "orders", "events", "devices"] {
            v.push(app.count(t).await);
        }
        v
    };
    let before = counts().await;
    let endpoints = [
        (Method::GET, "/v2/customers".to_string(), None),
        (Method::GET, "/v2/customers?filter[email]=u@&with=licenses".to_string(), None),
        (Method::GET, format!("/v2/customers/{cid}"), None),
        (Method::GET, "/v2/customers/4242".to_string(), None),
        (Method::POST, "/v2/customers".to_string(), Some(json!({"data": {"email": "new@example.com"}}))),
        (Method::PUT, format!("/v2/customers/{cid}"), Some(json!({"data": {"note": "changed"}}))),
        (Method::POST, format!("/v2/customers/{cid}/licenses"), Some(json!({"data": {"license_type_id": type_id}}))),
        (Method::POST, format!("/v2/licenses/{key}/reset_first_activation"), None),
    ];
    for (method, path, body) in endpoints {
        let b = body.map(|b| b.to_string());
        for auth in
            [None, Some("Token nope".to_string()), Some("Token ".to_string()), Some(format!("Basic {}", app.admin))]
        {
            let r = v2(
                &app,
                method.clone(),
                &path,
                auth.as_deref(),
                b.as_ref().map(|b| (b.as_bytes(), "application/json")),
            )
            .await;
            assert_eq!(
                (r.status, r.text.as_str()),
                (401, r#"{"errors":[{"title":"Unauthorized"}]}"#),
                "{method} {path} {auth:?}"
            );
        }
    }
    assert_eq!(counts().await, before, "nothing was written");
    assert_eq!(get(&app, &format!("/v2/customers/{cid}")).await.body["data"]["note"], "");
}

async fn unknown_paths_and_methods_answer_in_devmate_shape(app: TestApp) {
    for (m, p) in
        [(Method::GET, "/v2/licenses"), (Method::DELETE, "/v2/customers/1/licenses/2"), (Method::GET, "/v2/nothing")]
    {
        let r = v2(&app, m, p, Some(&token(&app)), None).await;
        assert_eq!(r.status, 404, "{p}: {}", r.text);
        assert!(r.body["errors"][0]["title"].is_string() && r.body["errors"][0].get("code").is_none(), "{}", r.text);
    }
    for (m, p) in [
        (Method::DELETE, "/v2/customers/1"),
        (Method::GET, "/v2/customers/1/licenses"),
        (Method::PATCH, "/v2/customers"),
    ] {
        let r = v2(&app, m, p, Some(&token(&app)), None).await;
        assert_eq!((r.status, r.text.as_str()), (405, ""), "{p}");
    }
    // The management API keeps its own envelope.
    assert_eq!(app.get("/api/v1/nothing").await.body["errors"][0]["code"], "NOT_FOUND");
    // And the OpenAPI document describes the surface.
    let doc = app.get("/openapi.json").await.body;
    for p in [
        "/v2/customers",
        "/v2/customers/{customer_id}",
        "/v2/customers/{customer_id}/licenses",
        "/v2/licenses/{activation_key}/reset_first_activation",
    ] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }
}
