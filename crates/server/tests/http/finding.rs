//! Finding things (issue 12): unknown filters suggest the right names, emails and keys match as people type
//! them, and `?search=` is one box for an email, a name, a key, a hardware id or an invoice, within scope.

use licensd_core::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, Resp, TestApp, assert_error};

backend_tests!(
    unknown_filters_suggest_the_nearest_names_and_the_reference,
    exact_email_filters_ignore_case_and_surrounding_whitespace,
    keys_licensd_issues_match_whatever_the_case_dashes_and_whitespace_everywhere,
    keys_with_lower_case_letters_of_their_own_match_exactly,
    search_finds_licenses_customers_and_devices_by_any_of_their_names,
    search_is_scoped_combinable_and_bounded,
);

/// The ids of a list's results, in order.
async fn ids(app: &TestApp, path: &str) -> Vec<i64> {
    ids_as(app, path, &app.admin).await
}

async fn ids_as(app: &TestApp, path: &str, token: &str) -> Vec<i64> {
    let r = app.call(Method::GET, path, Some(token), None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    let results = r.body["results"].as_array().expect("results");
    assert_eq!(r.body["count"].as_u64(), Some(results.len() as u64), "{path}: one page");
    results.iter().map(|v| v["id"].as_i64().expect("id")).collect()
}

/// `POST /api/v1/client/{path}` (answers are checked for their code only: `client.rs` checks signatures).
async fn client(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(format!("{}/api/v1/client/{path}", app.url)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[track_caller]
fn detail(r: &Resp, param: &str) -> String {
    let e = assert_error(r, 400, "INVALID_PARAMETER");
    assert_eq!(e["source"]["parameter"], param, "{}", r.text);
    e["detail"].as_str().unwrap().to_string()
}

async fn unknown_filters_suggest_the_nearest_names_and_the_reference(app: TestApp) {
    // The wrong guesses of the first-day log (S1), each with the name it meant.
    for (path, param, meant) in [
        ("/api/v1/licenses/", "key", "license_key"),
        ("/api/v1/licenses/", "hardware_id", "devices__hardware_id"),
        ("/api/v1/licenses/", "device__hardware_id", "devices__hardware_id"),
        ("/api/v1/licenses/", "customer_email__icontains", "customer__email__icontains"),
        ("/api/v1/licenses/", "email", "customer__email"),
        ("/api/v1/customers/", "emial", "email"),
        ("/api/v1/devices/", "key", "license__license_key"),
        ("/api/v1/orders/", "invoice", "store_id"),
        ("/api/v1/licenses/", "invoice__icontains", "order__store_id__icontains"),
        ("/api/v1/customers/", "q", "search"),
    ] {
        let r = app.get(&format!("{path}?{param}=x")).await;
        let d = detail(&r, param);
        assert!(d.starts_with(&format!("{param}: unknown filter; did you mean ")), "{d}");
        assert!(d.contains(meant), "{param}: {d}");
        assert!(d.contains("docs/filters.md"), "{d}");
    }
    // Nothing near: the reference alone.
    let d = detail(&app.get("/api/v1/products/?zzzzzzzzzz=1").await, "zzzzzzzzzz");
    assert_eq!(
        d,
        "zzzzzzzzzz: unknown filter; every filter of this list: docs/filters.md, or this list's parameters in /openapi.json"
    );
    // A lookup the field does not take lists those it does.
    let d = detail(&app.get("/api/v1/licenses/?enabled__icontains=x").await, "enabled__icontains");
    assert!(d.contains("it takes enabled"), "{d}");
    // `search` exists on licenses, customers and devices only.
    let d = detail(&app.get("/api/v1/orders/?search=abc").await, "search");
    assert!(d.starts_with("search: unknown filter"), "{d}");
}

async fn exact_email_filters_ignore_case_and_surrounding_whitespace(app: TestApp) {
    app.product("studio").await;
    let taras = app.post("/api/v1/customers", json!({"email": "taras.davis6.693600@corp.example"})).await;
    assert_eq!(taras.status, 201, "{}", taras.text);
    let taras = taras.body["id"].as_i64().unwrap();
    let other =
        app.post("/api/v1/customers", json!({"email": "Other@Corp.Example"})).await.body["id"].as_i64().unwrap();
    let l = app.license(json!({"product": "studio", "customer": taras})).await;
    let o = app
        .post("/api/v1/orders", json!({"store_id": "INV-1", "customer": taras, "licenses": [{"product": "studio"}]}))
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    let key = l["license_key"].as_str().unwrap();
    let (status, _) =
        client(&app, "activate", json!({"license_key": key, "hardware_id": "hw-1", "product": "studio"})).await;
    assert_eq!(status, 201);

    // S2: the address as a support person types it.
    for typed in
        ["TARAS.DAVIS6.693600@corp.example", " Taras.Davis6.693600@Corp.Example ", "taras.davis6.693600@corp.example"]
    {
        let t = enc(typed);
        assert_eq!(ids(&app, &format!("/api/v1/customers/?email={t}")).await, [taras], "{typed:?}");
        assert_eq!(ids(&app, &format!("/api/v1/licenses/?customer__email={t}&order_by=id")).await.len(), 2);
        assert_eq!(ids(&app, &format!("/api/v1/orders/?customer__email={t}")).await, [o.body["id"].as_i64().unwrap()]);
        assert_eq!(ids(&app, &format!("/api/v1/devices/?license__customer__email={t}")).await.len(), 1);
    }
    let list = enc("OTHER@corp.example,taras.davis6.693600@CORP.EXAMPLE");
    assert_eq!(ids(&app, &format!("/api/v1/customers/?email__in={list}&order_by=id")).await, [taras, other]);
    assert!(ids(&app, "/api/v1/customers/?email=taras@corp.example").await.is_empty());

    // License users, customer accounts and trials alike.
    let lid = l["id"].as_i64().unwrap();
    let u = app.post(&format!("/api/v1/licenses/{lid}/assign_user"), json!({"email": "Carol@Beta.test"})).await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(ids(&app, "/api/v1/license-users/?true_email=carol@beta.TEST").await.len(), 1);
    assert_eq!(ids(&app, "/api/v1/licenses/?license_users__true_email=CAROL@beta.test").await, [lid]);
    let acc =
        app.post("/api/v1/customer-accounts", json!({"name": "Acme", "code": "acme", "email": "Ops@Acme.test"})).await;
    assert_eq!(acc.status, 201, "{}", acc.text);
    assert_eq!(ids(&app, "/api/v1/customer-accounts/?email=ops@ACME.test").await, [acc.body["id"].as_i64().unwrap()]);
    let p = app.get("/api/v1/products/?short_code=studio").await.body["results"][0]["id"].as_i64().unwrap();
    app.template(p, "studio-trial", json!({"is_trial": true, "trial_days": 7})).await;
    let (status, t) =
        client(&app, "trial", json!({"product": "studio", "hardware_id": "hw-t", "email": "Tryer@Example.com"})).await;
    assert_eq!(status, 201, "{t}");
    let trial = app.get("/api/v1/licenses/?trial_email=tryer@EXAMPLE.com").await;
    assert_eq!(trial.body["count"], 1, "{}", trial.text);
    assert_eq!(trial.body["results"][0]["license_key"], t["license"]["license_key"]);
}

async fn keys_licensd_issues_match_whatever_the_case_dashes_and_whitespace_everywhere(app: TestApp) {
    let p = app.product("studio").await;
    let cid = app.post("/api/v1/customers", json!({"email": "k@example.com"})).await.body["id"].as_i64().unwrap();
    let plain = app.license(json!({"product": "studio", "customer": cid})).await;
    app.template(p, "acme", json!({"key_prefix": "acme"})).await;
    let prefixed = app.license(json!({"license_template": "acme", "customer": cid})).await;
    for l in [&plain, &prefixed] {
        let key = l["license_key"].as_str().unwrap();
        let id = l["id"].as_i64().unwrap();
        // C2: lower case, upper case, surrounding whitespace, the dashes left out or typed as spaces.
        let typed = [
            key.to_ascii_lowercase(),
            format!(" {}\n", key.to_ascii_uppercase()),
            format!("\t{key} "),
            key.replace('-', ""),
            key.replace('-', " ").to_ascii_lowercase(),
        ];
        let (status, a) =
            client(&app, "activate", json!({"license_key": typed[0], "hardware_id": "hw-1", "product": "studio"}))
                .await;
        assert_eq!(status, 201, "{a}");
        assert_eq!(a["license"]["license_key"], key, "the answer names the key as issued");
        for t in &typed {
            let (status, c) =
                client(&app, "check", json!({"license_key": t, "hardware_id": "hw-1", "product": "studio"})).await;
            assert_eq!((status, c["code"].as_str()), (200, Some("VALID")), "{t:?}: {c}");
            assert_eq!(ids(&app, &format!("/api/v1/licenses/?license_key={}", enc(t))).await, [id], "{t:?}");
            assert_eq!(ids(&app, &format!("/api/v1/devices/?license__license_key={}", enc(t))).await.len(), 1);
            let v2 = app.get(&format!("/v2/customers?filter[key]={}", enc(t))).await;
            assert_eq!(v2.status, 200, "{}", v2.text);
            assert_eq!(v2.body["data"][0]["id"], cid, "{t:?}: {}", v2.text);
        }
        let list = enc(&format!("{},NOPE", key.to_ascii_lowercase()));
        assert_eq!(ids(&app, &format!("/api/v1/licenses/?license_key__in={list}")).await, [id]);
        // One character more or less is another key.
        for other in [format!("{key}X"), key[..key.len() - 1].replace('-', "")] {
            let (status, c) =
                client(&app, "check", json!({"license_key": other, "hardware_id": "hw-1", "product": "studio"})).await;
            assert_eq!((status, c["code"].as_str()), (200, Some("NOT_FOUND")), "{c}");
        }
        // The DevMate reset takes the key in its path.
        let path = format!("/v2/licenses/{}/reset_first_activation", key.to_ascii_lowercase());
        let r = app.call(Method::POST, &path, Some(&app.admin), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["times_activated"], 0);
    }
}

async fn keys_with_lower_case_letters_of_their_own_match_exactly(app: TestApp) {
    app.product("studio").await;
    // DevMate's keys, and two keys a store chose that differ only in case.
    let devmate = app.license(json!({"product": "studio", "license_key": "id593311373237odr"})).await;
    let lower = app.license(json!({"product": "studio", "license_key": "abcd-efgh-jkmn-pqrs"})).await;
    let upper = app.license(json!({"product": "studio", "license_key": "ABCD-EFGH-JKMN-PQRS"})).await;
    let id = |l: &Value| l["id"].as_i64().unwrap();
    let key_of = |l: &Value| l["license_key"].as_str().map(str::to_string);
    let check = |key: &str| {
        let body = json!({"license_key": key, "hardware_id": "hw", "product": "studio"});
        let app = &app;
        async move { client(app, "activate", body).await }
    };
    let (status, a) = check(" id593311373237odr ").await;
    assert_eq!((status, key_of(&a["license"])), (201, key_of(&devmate)), "{a}");
    let (status, a) = check("ID593311373237ODR").await;
    assert_eq!((status, a["code"].as_str()), (404, Some("NOT_FOUND")), "{a}");
    assert!(ids(&app, "/api/v1/licenses/?license_key=ID593311373237ODR").await.is_empty());
    // The key stored exactly as typed wins; another spelling names the key that folds case.
    let (_, a) = check("abcd-efgh-jkmn-pqrs").await;
    assert_eq!(key_of(&a["license"]), key_of(&lower), "{a}");
    let (_, a) = check("Abcd-Efgh-jkmn-pqrs").await;
    assert_eq!(key_of(&a["license"]), key_of(&upper), "{a}");
    // A filter lists every license the typed key may name.
    assert_eq!(
        ids(&app, "/api/v1/licenses/?license_key=abcd-efgh-jkmn-pqrs&order_by=id").await,
        [id(&lower), id(&upper)]
    );
    assert_eq!(ids(&app, "/api/v1/licenses/?license_key=abcd-EFGH-jkmn-pqrs").await, [id(&upper)]);
    // Without its dashes, only the key that folds case is named.
    assert_eq!(ids(&app, "/api/v1/licenses/?license_key=abcdefghjkmnpqrs").await, [id(&upper)]);
    let (status, _) = check("id593311373237-odr").await;
    assert_eq!(status, 404, "a key of its own case keeps its exact spelling");
}

/// Two products, customers and orders, licenses and devices: what support staff look for.
struct World {
    alice: i64,
    bob: i64,
    /// Alice's license of `alpha` (order INV-ALPHA-1001, device `aa:bb:cc:dd:ee:01`), and of `beta`.
    alice_alpha: (i64, String),
    alice_beta: (i64, String),
    /// Bob's license of `alpha` (order INV-ALPHA-2002, device `aa:bb:cc:dd:ee:02`).
    bob_alpha: (i64, String),
    devices: [i64; 2],
}

async fn world(app: &TestApp) -> World {
    app.product("alpha").await;
    app.product("beta").await;
    let customer = |email: &str, first: &str, last: &str, company: &str| {
        let body = json!({"email": email, "first_name": first, "last_name": last, "company_name": company});
        async move {
            let r = app.post("/api/v1/customers", body).await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_i64().unwrap()
        }
    };
    let alice = customer("alice.ames@wonder.example", "Alice", "Ames", "Wonderland Ltd").await;
    let bob = customer("bob.burns@globex.example", "Bob", "Burns", "Globex LLC").await;
    let order = |store_id: &str, customer: i64, product: &str| {
        let body = json!({"store_id": store_id, "customer": customer, "licenses": [{"product": product}]});
        async move {
            let r = app.post("/api/v1/orders", body).await;
            assert_eq!(r.status, 201, "{}", r.text);
            let l = &r.body["licenses"][0];
            (l["id"].as_i64().unwrap(), l["license_key"].as_str().unwrap().to_string())
        }
    };
    let alice_alpha = order("INV-ALPHA-1001", alice, "alpha").await;
    let bob_alpha = order("INV-ALPHA-2002", bob, "alpha").await;
    let alice_beta = app.license(json!({"product": "beta", "customer": alice})).await;
    let alice_beta = (alice_beta["id"].as_i64().unwrap(), alice_beta["license_key"].as_str().unwrap().to_string());
    let mut devices = [0; 2];
    for (i, (key, hw)) in
        [(&alice_alpha.1, "aa:bb:cc:dd:ee:01"), (&bob_alpha.1, "aa:bb:cc:dd:ee:02")].into_iter().enumerate()
    {
        let (status, a) =
            client(app, "activate", json!({"license_key": key, "hardware_id": hw, "product": "alpha"})).await;
        assert_eq!(status, 201, "{a}");
        devices[i] = a["device"]["id"].as_i64().unwrap();
    }
    World { alice, bob, alice_alpha, alice_beta, bob_alpha, devices }
}

/// A search text and the licenses, customers and devices it finds.
type Case = (String, Vec<i64>, Vec<i64>, Vec<i64>);

async fn search_finds_licenses_customers_and_devices_by_any_of_their_names(app: TestApp) {
    let w = world(&app).await;
    let (aa, ab, ba) = (w.alice_alpha.0, w.alice_beta.0, w.bob_alpha.0);
    let [da, db] = w.devices;
    // (search text, licenses, customers, devices): each kind of thing support staff type.
    let cases: Vec<Case> = vec![
        ("alice.ames@wonder.example".into(), vec![aa, ab], vec![w.alice], vec![da]),
        ("WONDER.example".into(), vec![aa, ab], vec![w.alice], vec![da]),
        ("Bob Burns".into(), vec![ba], vec![w.bob], vec![db]),
        ("burns".into(), vec![ba], vec![w.bob], vec![db]),
        ("globex llc".into(), vec![ba], vec![w.bob], vec![db]),
        (w.alice_alpha.1.to_ascii_lowercase(), vec![aa], vec![w.alice], vec![da]),
        (format!("  {}  ", &w.bob_alpha.1[6..17]), vec![ba], vec![w.bob], vec![db]),
        ("AA:BB:CC:DD:EE:02".into(), vec![ba], vec![w.bob], vec![db]),
        ("dd:ee".into(), vec![aa, ba], vec![w.alice, w.bob], vec![da, db]),
        ("inv-alpha-1001".into(), vec![aa], vec![w.alice], vec![da]),
        ("INV-ALPHA".into(), vec![aa, ba], vec![w.alice, w.bob], vec![da, db]),
        ("nothing-like-this".into(), vec![], vec![], vec![]),
    ];
    for (text, licenses, customers, devices) in cases {
        let q = format!("search={}&order_by=id", enc(&text));
        assert_eq!(ids(&app, &format!("/api/v1/licenses/?{q}")).await, licenses, "licenses, {text:?}");
        assert_eq!(ids(&app, &format!("/api/v1/customers/?{q}")).await, customers, "customers, {text:?}");
        assert_eq!(ids(&app, &format!("/api/v1/devices/?{q}")).await, devices, "devices, {text:?}");
    }
    // Quotes and LIKE's wildcards are text like any other.
    for text in ["\"alice", "al%ce", "a_i", "'; --"] {
        assert!(ids(&app, &format!("/api/v1/licenses/?search={}", enc(text))).await.is_empty(), "{text:?}");
    }
}

async fn search_is_scoped_combinable_and_bounded(app: TestApp) {
    let w = world(&app).await;
    let (aa, ab, ba) = (w.alice_alpha.0, w.alice_beta.0, w.bob_alpha.0);
    // Combined with other filters: Alice's licenses of beta only, and ordered.
    assert_eq!(ids(&app, "/api/v1/licenses/?search=alice&product__short_code=beta").await, [ab]);
    assert_eq!(ids(&app, "/api/v1/licenses/?search=alice&order_by=-id").await, [ab, aa]);
    assert_eq!(ids(&app, &format!("/api/v1/customers/?search=example&id={}", w.bob)).await, [w.bob]);
    assert_eq!(ids(&app, "/api/v1/devices/?search=inv-alpha&active=true&order_by=id").await, w.devices);
    // A manager of beta sees Alice through her beta license, but finds no one through alpha's keys, devices or
    // invoices, and no alpha license or device at all.
    let beta = app.token("beta-support", Role::Manager, &["beta"]).await;
    assert_eq!(ids_as(&app, "/api/v1/customers/?search=alice", &beta).await, [w.alice]);
    assert_eq!(ids_as(&app, &format!("/api/v1/customers/?search={}", w.alice_beta.1), &beta).await, [w.alice]);
    for text in [w.alice_alpha.1.as_str(), "aa:bb:cc", "INV-ALPHA", "bob"] {
        assert!(ids_as(&app, &format!("/api/v1/customers/?search={}", enc(text)), &beta).await.is_empty(), "{text}");
        assert!(ids_as(&app, &format!("/api/v1/devices/?search={}", enc(text)), &beta).await.is_empty(), "{text}");
    }
    assert_eq!(ids_as(&app, "/api/v1/licenses/?search=alice", &beta).await, [ab]);
    assert!(ids_as(&app, "/api/v1/licenses/?search=INV-ALPHA", &beta).await.is_empty());
    let alpha = app.token("alpha-support", Role::Manager, &["alpha"]).await;
    assert_eq!(ids_as(&app, "/api/v1/customers/?search=inv-alpha&order_by=id", &alpha).await, [w.alice, w.bob]);
    assert_eq!(ids_as(&app, "/api/v1/licenses/?search=example&order_by=id", &alpha).await, [aa, ba]);
    // Bounds: three characters at least (trigram indexes need them), once, and it counts as a filter.
    for (q, why) in
        [("search=ab", "at least 3"), ("search=%20ab%20", "at least 3"), ("search=abc&search=abd", "more than once")]
    {
        let d = detail(&app.get(&format!("/api/v1/licenses/?{q}")).await, "search");
        assert!(d.contains(why), "{q}: {d}");
    }
    let many: String = (0..20).map(|_| "&enabled=true").collect();
    let d = detail(&app.get(&format!("/api/v1/licenses/?search=alice{many}")).await, "enabled");
    assert!(d.contains("at most 20 filters"), "{d}");
    let long = "x".repeat(1001);
    assert!(detail(&app.get(&format!("/api/v1/customers/?search={long}")).await, "search").contains("at most 1000"));
}

/// `/openapi.json` documents the filters of every list, generated from the allow-lists, and its `servers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_filter_as_a_query_parameter_and_names_its_server() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let doc = app.get("/openapi.json").await.body;
    assert_eq!(doc["servers"], json!([{"url": "/"}]));
    let mut lists = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        let params: Vec<&str> = op["parameters"].as_array().map_or(vec![], |ps| {
            ps.iter().filter(|p| p["in"] == "query").map(|p| p["name"].as_str().unwrap()).collect()
        });
        if !params.contains(&"limit") || path.starts_with("/v2") {
            continue;
        }
        lists += 1;
        let list = licensd_server::reference::LISTS.iter().find(|l| l.path == path);
        let list = list.unwrap_or_else(|| panic!("{path} is a list missing from reference::LISTS"));
        for f in list.spec.fields {
            for l in f.lookups {
                let name = format!("{}{}", f.name, l.suffix());
                assert!(params.contains(&name.as_str()), "{path}: {name}");
            }
        }
        assert_eq!(params.contains(&"search"), !list.spec.search.is_empty(), "{path}");
        let order = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "order_by").unwrap();
        let sortable = list.spec.fields.iter().filter(|f| f.sortable).count();
        assert_eq!(order["schema"]["enum"].as_array().unwrap().len(), 2 * sortable, "{path}");
        assert_eq!(params.iter().filter(|p| **p == "order_by").count(), 1, "{path}");
    }
    assert_eq!(lists, licensd_server::reference::LISTS.len());
    let customer_email = &doc["paths"]["/api/v1/customers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "email")
        .unwrap()["description"];
    assert!(customer_email.as_str().unwrap().contains("ignoring case"), "{customer_email}");

    // Behind a public URL, the document names it.
    let public: licensd_server::front_door::PublicUrl = "https://licensing.example.com/lic/".parse().unwrap();
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.with_http(licensd_server::front_door::HttpConfig { public_url: Some(public), ..Default::default() })
    })
    .await
    else {
        return;
    };
    assert_eq!(app.get("/openapi.json").await.body["servers"], json!([{"url": "https://licensing.example.com/lic"}]));
}

/// `docs/filters.md` is what the allow-lists say; `LICENSD_WRITE_DOCS=1` rewrites it.
#[test]
fn filters_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/filters.md");
    let generated = licensd_server::reference::markdown();
    if std::env::var_os("LICENSD_WRITE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/filters.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/filters.md is stale (the allow-lists changed); regenerate it with `{}`",
        licensd_server::reference::REGENERATE
    );
}
