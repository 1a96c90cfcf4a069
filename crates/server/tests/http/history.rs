//! A license's embedded history is bounded (security review L2): `GET /api/v1/licenses/{id}` and
//! `GET /v2/customers/{id}` carry the latest events only, with their count and where the whole history is
//! paged (`/api/v1/events/?license=`).

use serde_json::json;

use crate::backend_tests;
use crate::common::TestApp;

backend_tests!(license_history_is_capped_with_a_count_and_the_whole_history_pages);

/// What the representations embed at most (README, docs/migrate-from-devmate.md).
const CAP: usize = 50;

async fn license_history_is_capped_with_a_count_and_the_whole_history_pages(app: TestApp) {
    let p = app.product("capped").await;
    let t = app.template(p, "capped-single", json!({})).await;
    let c = app.post("/api/v1/customers", json!({"email": "many@example.com"})).await.body["id"].clone();
    let l = app.license(json!({"license_template": t, "customer": c})).await;
    let id = l["id"].as_i64().unwrap();
    // 60 disable/enable rounds: 121 events, 61 of them kinds DevMate's history shows (created, disabled).
    for n in 0..60 {
        let r = app.post(&format!("/api/v1/licenses/{id}/disable"), json!({"note": format!("round {n}")})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(app.post(&format!("/api/v1/licenses/{id}/enable"), json!({})).await.status, 200);
    }
    let total = 121;

    let got = app.get(&format!("/api/v1/licenses/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let history = got.body["history"].as_array().unwrap();
    assert_eq!(history.len(), CAP);
    assert_eq!(got.body["history_count"], total);
    // The latest events, oldest of them first: the last one is the last enable.
    assert_eq!(history[CAP - 1]["action"], "license.enabled");
    assert_eq!(history[CAP - 2]["note"], "round 59");
    let ids: Vec<i64> = history.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // The whole history, paged.
    let url = got.body["history_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("/api/v1/events/?license={id}")), "{url}");
    let first = app.get(&format!("{url}&limit=100")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["count"], total);
    assert_eq!(first.body["results"].as_array().unwrap().len(), 100);
    assert_eq!(first.body["results"][0]["action"], "license.created");
    let next = first.body["next"].as_str().unwrap();
    let rest = app.get(&next[next.find("/api/").unwrap()..]).await;
    let rest_ids: Vec<i64> =
        rest.body["results"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(rest_ids.len(), 21);
    assert!(rest.body["next"].is_null(), "{}", rest.text);
    assert_eq!(&rest_ids[..], &ids[CAP - 21..], "the last page is the end of the embedded history");

    // DevMate's customer: the same cap, DevMate's record shape, and the count of what it left out.
    let v2 = app.get(&format!("/v2/customers/{c}")).await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    let lic = &v2.body["data"]["licenses"][0];
    let h = lic["history"].as_array().unwrap();
    assert_eq!(h.len(), CAP, "{}", v2.text);
    assert_eq!(lic["history_count"], 61);
    assert_eq!(h[CAP - 1]["note"], "round 59");
    assert_eq!(h[CAP - 1]["type"], h[0]["type"]);
    let listed = app.get("/v2/customers?with=licenses").await;
    assert_eq!(listed.body["data"][0]["licenses"][0]["history"].as_array().map(Vec::len), Some(CAP), "{}", listed.text);
}
