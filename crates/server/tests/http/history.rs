//! A license's embedded history is bounded (security review L2): `GET /api/v1/licenses/{id}` and
//! `GET /v2/customers/{id}` carry the latest events only, with their count and where the whole history is
//! paged (`/api/v1/events/?license=`).

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::TestApp;

backend_tests!(license_history_is_capped_with_a_count_and_the_whole_history_pages);

/// What the representations embed at most (README, docs/migrate-from-devmate.md).
const CAP: usize = 50;

fn ids(events: &Value) -> Vec<i64> {
    events.as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

async fn license_history_is_capped_with_a_count_and_the_whole_history_pages(app: TestApp) {
    let p = app.product("capped").await;
    let t = app.template(p, "capped-single", json!({"max_activations": null})).await;
    let c = app.post("/api/v1/customers", json!({"email": "many@example.com"})).await.body["id"].clone();
    let l = app.license(json!({"license_template": t, "customer": c})).await;
    let (id, key) = (l["id"].as_i64().unwrap(), l["license_key"].as_str().unwrap().to_string());
    // A key holder makes events at will: 60 activations, so 61 events (DevMate shows every one of them).
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for n in 0..60 {
        let (client, url) = (client.clone(), format!("{}/api/v1/client/activate", app.url));
        let body = json!({"license_key": key, "hardware_id": format!("hw-{n}"), "product": "capped"});
        tasks.push(tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap().status().as_u16() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let total = 61;

    let got = app.get(&format!("/api/v1/licenses/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let embedded = ids(&got.body["history"]);
    assert_eq!(embedded.len(), CAP);
    assert_eq!(got.body["history_count"], total);
    assert!(embedded.windows(2).all(|w| w[0] < w[1]), "oldest first: {embedded:?}");
    let latest = &got.body["history"][CAP - 1];
    assert_eq!(latest["action"], "license.activated");

    // The whole history, paged: the last CAP events are the embedded ones.
    let url = got.body["history_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("/api/v1/events/?license={id}")), "{url}");
    let mut all = Vec::new();
    let mut page = format!("{url}&limit=20");
    loop {
        let r = app.get(&page).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["count"], total);
        all.extend(ids(&r.body["results"]));
        match r.body["next"].as_str() {
            Some(next) => page = next[next.find("/api/").unwrap()..].to_string(),
            None => break,
        }
    }
    assert_eq!(all.len(), total as usize);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert_eq!(&all[all.len() - CAP..], &embedded[..]);

    // DevMate's customer: the same cap, DevMate's record shape, and the count of what it left out.
    let v2 = app.get(&format!("/v2/customers/{c}")).await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    let lic = &v2.body["data"]["licenses"][0];
    let h = lic["history"].as_array().unwrap();
    assert_eq!(h.len(), CAP, "{}", v2.text);
    assert_eq!(lic["history_count"], total);
    assert_eq!(h[CAP - 1]["type"], 1, "an activation");
    assert_eq!(h[CAP - 1]["identifiers"], latest["note"], "the same latest event");
    let listed = app.get("/v2/customers?with=licenses").await;
    assert_eq!(listed.body["data"][0]["licenses"][0]["history"].as_array().map(Vec::len), Some(CAP), "{}", listed.text);
    // A history within the cap carries no count: DevMate's shape, unchanged.
    let small = app.license(json!({"license_template": t, "customer": c})).await;
    let v2 = app.get(&format!("/v2/customers/{c}")).await;
    let other =
        v2.body["data"]["licenses"].as_array().unwrap().iter().find(|x| x["id"] == small["id"]).unwrap().clone();
    assert_eq!(other["history"].as_array().map(Vec::len), Some(1));
    assert!(other.get("history_count").is_none(), "{other}");
}
