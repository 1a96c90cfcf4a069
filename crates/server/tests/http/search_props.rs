//! The list surfaces under load of odd input, and what a page costs: random query strings (proptest) only
//! ever get a `200` page or a clean `400` naming a parameter, and a page of 100 rich licenses costs the
//! same few SQL statements as a page of one.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Url;
use serde_json::json;

use crate::backend_tests;
use crate::common::TestApp;

backend_tests!(
    a_page_of_licenses_costs_a_fixed_number_of_statements,
    random_query_strings_get_a_page_or_a_clean_400,
    every_sortable_license_field_orders_both_ways_with_ties_by_id
);

/// `licensd_db_statements_total` for one route, from `/metrics`.
async fn statements(app: &TestApp, route: &str) -> u64 {
    let text = app.get("/metrics").await.text;
    let prefix = format!("licensd_db_statements_total{{route=\"{route}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().expect("a count"))
}

async fn a_page_of_licenses_costs_a_fixed_number_of_statements(app: TestApp) {
    let p = app.product("np").await;
    app.post("/api/v1/product-features", json!({"product": p, "code": "f1", "name": "F1"})).await;
    app.post("/api/v1/product-features", json!({"product": p, "code": "f2", "name": "F2"})).await;
    app.template(p, "std", json!({"features": [{"code": "f1"}, {"code": "f2"}], "max_activations": 3})).await;
    let mut keys = Vec::new();
    for o in 0..4 {
        let licenses: Vec<_> = (0..30).map(|_| json!({"license_template": "std"})).collect();
        let r = app
            .post(
                "/api/v1/orders",
                json!({"store_id": format!("INV-{o}"),
                       "customer": {"email": format!("c{o}@example.com"), "labels": ["vip", format!("l{o}")]},
                       "licenses": licenses}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        keys.extend(
            r.body["licenses"].as_array().unwrap().iter().map(|l| l["license_key"].as_str().unwrap().to_string()),
        );
    }
    // Devices and license users on some of them, so every related list of a license has rows to load.
    for (i, key) in keys.iter().enumerate().step_by(3) {
        let r = app
            .post(
                "/api/v1/client/activate",
                json!({"license_key": key, "hardware_id": format!("hw-{i}"), "product": "np", "hostname": format!("h{i}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let ids: Vec<i64> = app.get("/api/v1/licenses?limit=100").await.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    for id in ids.iter().step_by(4) {
        let r = app
            .post(&format!("/api/v1/licenses/{id}/assign_user"), json!({"email": format!("u{id}@example.com")}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let route = "/api/v1/licenses";
    let cost = |query: &'static str| {
        let app = &app;
        async move {
            let before = statements(app, route).await;
            let r = app.get(&format!("{route}?{query}")).await;
            assert_eq!(r.status, 200, "{}", r.text);
            (statements(app, route).await - before, r.body)
        }
    };
    let (one, page) = cost("limit=1").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    let (hundred, page) = cost("limit=100").await;
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 100);
    assert_eq!(page["count"], 120);
    // The page really carries the related rows it was loaded with.
    assert!(results.iter().any(|l| l["license_users"].as_array().unwrap().len() == 1));
    assert!(results.iter().all(|l| l["product_features"].as_array().unwrap().len() == 2));
    assert!(results.iter().all(|l| l["customer"]["labels"].as_array().unwrap().len() == 2));
    assert_eq!(one, hundred, "a page of 100 costs what a page of one does");
    assert!(hundred <= 10, "a page costs {hundred} statements");
    let (filtered, page) = cost("limit=100&devices__hostname__startswith=h&customer__email__icontains=example").await;
    assert_eq!(page["count"], 40);
    assert_eq!(filtered, hundred);
}

/// The lookups a key may carry: real ones, ones a field does not support, and nonsense.
const SUFFIXES: &[&str] = &[
    "",
    "__icontains",
    "__startswith",
    "__in",
    "__gt",
    "__gte",
    "__lt",
    "__lte",
    "__date__gt",
    "__date__gte",
    "__date__lt",
    "__date__lte",
    "__isnull",
    "__exact",
    "__regex",
    "__",
    "__date",
    "__in__in",
    "___icontains",
];

fn key(fields: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(fields), prop::sample::select(SUFFIXES)).prop_map(|(f, s)| format!("{f}{s}")),
        1 => prop::sample::select(&["limit", "offset", "order_by", "ordering"][..]).prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

fn value(fields: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-5i64..200).prop_map(|n| n.to_string()),
        prop::sample::select(
            &[
                "true",
                "False",
                "1",
                "0",
                "maybe",
                "",
                "2024-01-31",
                "2024-02-30",
                "2024-01-31T10:00:00Z",
                "2024-01-31T25:00:00+02:00",
                "1,2,3",
                "1,,x",
                "%",
                "_",
                "\\",
                "' OR 1=1 --",
                "\0",
                "null",
            ][..]
        )
        .prop_map(str::to_string),
        (prop::sample::select(fields), any::<bool>()).prop_map(|(f, d)| format!("{}{f}", if d { "-" } else { "" })),
        "\\PC{0,24}",
        "[a-z%_]{300,1200}",
    ]
}

fn query(fields: Vec<&'static str>) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((key(fields.clone()), value(fields)), 0..4)
}

async fn random_query_strings_get_a_page_or_a_clean_400(app: TestApp) {
    let p = app.product("app").await;
    app.template(p, "std", json!({})).await;
    let r = app
        .post(
            "/api/v1/orders",
            json!({"store_id": "INV-1", "customer": {"email": "a@example.com"},
                   "licenses": [{"license_template": "std"}, {"license_template": "std"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let surfaces: [(&str, &licensd_store::list::Spec); 9] = [
        ("licenses", &licensd_store::licenses::SPEC),
        ("customers", &licensd_store::customers::SPEC),
        ("orders", &licensd_store::orders::SPEC),
        ("products", &licensd_store::products::SPEC),
        ("license-templates", &licensd_store::templates::SPEC),
        ("devices", &licensd_store::devices::SPEC),
        ("events", &licensd_store::events::SPEC),
        ("license-users", &licensd_store::license_users::SPEC),
        ("customer-accounts", &licensd_store::accounts::SPEC),
    ];
    let mut runner = TestRunner::default();
    let (mut pages, mut refusals) = (0, 0);
    for (path, spec) in surfaces {
        let fields: Vec<&'static str> = spec.fields.iter().map(|f| f.name).collect();
        let strategy = query(fields);
        for case in 0..40 {
            let pairs = strategy.new_tree(&mut runner).expect("a case").current();
            let mut url = Url::parse(&format!("{}/api/v1/{path}", app.url)).unwrap();
            if case % 8 == 7 {
                // Raw, not form-encoded: stray `%`, bare keys, empty pairs.
                url.set_query(Some(&format!("%ZZ=1&&=x&{}&%FF%FE=%C3", pairs.first().map_or("a", |p| p.0.as_str()))));
            } else {
                url.query_pairs_mut().extend_pairs(&pairs);
            }
            let shown = url.query().unwrap_or("").to_string();
            let target = format!("{}?{shown}", url.path());
            let r = app.call(reqwest::Method::GET, &target, Some(&app.admin), None).await;
            match r.status {
                200 => {
                    pages += 1;
                    let n = r.body["results"].as_array().unwrap_or_else(|| panic!("{path}?{shown}: {}", r.text)).len();
                    assert!(n <= 100 && r.body["count"].as_i64().is_some(), "{path}?{shown}: {}", r.text);
                }
                400 => {
                    refusals += 1;
                    let e = &r.body["errors"][0];
                    assert_eq!(e["code"], "INVALID_PARAMETER", "{path}?{shown}: {}", r.text);
                    let param =
                        e["source"]["parameter"].as_str().unwrap_or_else(|| panic!("{path}?{shown}: {}", r.text));
                    let sent: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
                    assert!(sent.iter().any(|k| k == param), "{path}?{shown}: names {param:?}, sent {sent:?}");
                }
                s => panic!("{path}?{shown}: {s} {}", r.text),
            }
        }
    }
    // The generator reaches both outcomes, so the property is not vacuous.
    assert!(pages > 20 && refusals > 20, "{pages} pages, {refusals} refusals");
    assert_eq!(app.count("licenses").await, 2, "reads changed nothing");
}

async fn every_sortable_license_field_orders_both_ways_with_ties_by_id(app: TestApp) {
    app.product("app").await;
    // Values that tie (max_activations 2 twice, dates shared) and differ, so both the field and the id matter.
    for (key, max, valid) in [
        ("KEY-D", 2, "2031-01-01"),
        ("KEY-B", 5, "2030-01-01"),
        ("KEY-A", 2, "2031-01-01"),
        ("KEY-C", 1, "2029-06-30"),
        ("KEY-E", 5, "2030-01-01"),
    ] {
        app.license(json!({"product": "app", "license_key": key, "max_activations": max, "validity_period": valid}))
            .await;
    }
    let r = app
        .post("/api/v1/client/activate", json!({"license_key": "KEY-C", "hardware_id": "hw", "product": "app"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keys = |query: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/api/v1/licenses?{query}")).await;
            assert_eq!(r.status, 200, "{query}: {}", r.text);
            r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["license_key"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let sortable: Vec<&str> =
        licensd_store::licenses::SPEC.fields.iter().filter(|f| f.sortable).map(|f| f.name).collect();
    assert!(sortable.len() >= 9, "{sortable:?}");
    for field in sortable {
        let up = keys(format!("order_by={field}")).await;
        let mut down = keys(format!("order_by=-{field}")).await;
        assert_eq!(up.len(), 5, "{field}");
        down.reverse();
        // Ties are broken by id in the field's direction, so descending is exactly ascending reversed.
        assert_eq!(up, down, "order_by={field} vs -{field}");
        assert_eq!(keys(format!("ordering={field}")).await, up, "ordering= is order_by=");
    }
    assert_eq!(keys("order_by=license_key".into()).await, ["KEY-A", "KEY-B", "KEY-C", "KEY-D", "KEY-E"]);
    // max_activations 1, then the 2s by id (D before A), then the 5s by id (B before E).
    assert_eq!(keys("order_by=max_activations".into()).await, ["KEY-C", "KEY-D", "KEY-A", "KEY-B", "KEY-E"]);
    assert_eq!(keys("order_by=-validity_period".into()).await, ["KEY-A", "KEY-D", "KEY-E", "KEY-B", "KEY-C"]);
    assert_eq!(keys("order_by=-times_activated".into()).await[0], "KEY-C");
    // Pages of two walk the same order without gaps or repeats, and `next` keeps the filter and the order.
    let mut url = "/api/v1/licenses?order_by=-max_activations&license_key__startswith=KEY-&limit=2".to_string();
    let mut walked = Vec::new();
    loop {
        let r = app.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["count"], 5);
        walked.extend(
            r.body["results"].as_array().unwrap().iter().map(|l| l["license_key"].as_str().unwrap().to_string()),
        );
        match r.body["next"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("order_by=-max_activations") && next.contains("license_key__startswith=KEY-"),
                    "{next}"
                );
                url = next.strip_prefix(&app.url).unwrap().to_string();
            }
            None => break,
        }
    }
    assert_eq!(walked, ["KEY-E", "KEY-B", "KEY-A", "KEY-D", "KEY-C"]);
}
