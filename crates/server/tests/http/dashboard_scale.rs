//! The dashboard's pages on more rows than they show: a broad search counts each kind up to 100 and says
//! "more than 100" past it (the first 25 shown), a narrow one counts exactly; a list counts 10,000 past its page
//! and pages on; the home page's license counts are those of the management API, kept for a while rather than
//! counted on every view.

use licensd_core::model::Role;
use serde_json::json;

use crate::common::TestApp;
use crate::dashboard::{Browser, Page, user};

crate::backend_tests!(
    a_broad_search_says_more_than_100_and_shows_25_a_narrow_one_counts_exactly,
    the_home_page_counts_the_licenses_as_the_api_does_and_keeps_the_count,
    a_license_with_more_matching_devices_than_the_cap_counts_once_and_hides_no_other,
    a_list_counts_10000_past_its_page_and_pages_on,
);

/// The text of the search page's section `id` (`r-customers`, `r-licenses`, `r-devices`).
fn section(p: &Page, id: &str) -> String {
    let from = p.text.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id}: {}", p.text));
    let rest = &p.text[from..];
    rest[..rest.find("</section>").unwrap()].to_string()
}

fn rows(section: &str) -> usize {
    section.matches("<tr>").count().saturating_sub(1)
}

async fn a_broad_search_says_more_than_100_and_shows_25_a_narrow_one_counts_exactly(app: TestApp) {
    // 2,400 licenses, 1,200 customers and orders, 1,200 devices; every email holds the seed run's number.
    licensd_store::seed::seed(&app.db, 2400, 7, |_| {}).await.unwrap();
    let first = app.get("/api/v1/customers?limit=1&order_by=id").await;
    let email = first.body["results"][0]["email"].as_str().unwrap().to_string();
    let run = email.split('@').next().unwrap().rsplit('.').next().unwrap().to_string();
    assert_eq!(app.list_count(&format!("/api/v1/customers?search={run}")).await, 1200, "{email}");
    user(&app, "ana@acme.com", "", Role::ReadOnly, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;

    let broad = b.get(&format!("/ui/search?q={run}")).await;
    assert_eq!(broad.status, 200, "{}", broad.text);
    for id in ["r-customers", "r-licenses", "r-devices"] {
        let s = section(&broad, id);
        assert!(s.contains("<span class=\"count\">more than 100</span>"), "{id}: {s}");
        assert_eq!(rows(&s), 25, "{id}: the first 25");
    }

    // A first name matches dozens (counted exactly, as the API counts, or said to be more than 100); a whole
    // email one customer, its two licenses and its device.
    let name = first.body["results"][0]["first_name"].as_str().unwrap().to_lowercase();
    for term in [name.as_str(), email.as_str()] {
        let q = term.replace('@', "%40");
        let n_customers = app.list_count(&format!("/api/v1/customers?search={q}")).await;
        let n_licenses = app.list_count(&format!("/api/v1/licenses?search={q}")).await;
        let n_devices = app.list_count(&format!("/api/v1/devices?search={q}")).await;
        assert!((1..=100).contains(&n_customers) && n_licenses >= 1, "{term}: {n_customers} {n_licenses}");
        let page = b.get(&format!("/ui/search?q={q}")).await;
        for (id, n) in [("r-customers", n_customers), ("r-licenses", n_licenses), ("r-devices", n_devices)] {
            let s = section(&page, id);
            let said = if n > 100 { "more than 100".to_string() } else { n.to_string() };
            assert!(s.contains(&format!("<span class=\"count\">{said}</span>")), "{term} {id} {n}: {s}");
            assert_eq!(rows(&s), usize::try_from(n.min(25)).unwrap(), "{term} {id}");
        }
    }
}

async fn the_home_page_counts_the_licenses_as_the_api_does_and_keeps_the_count(app: TestApp) {
    licensd_store::seed::seed(&app.db, 300, 3, |_| {}).await.unwrap();
    // The server counted at its start (before the seed, which is no import of the dashboard's): start over.
    app.state.tallies.clear();
    let total = app.list_count("/api/v1/licenses").await;
    let active = app.list_count("/api/v1/licenses?active=true").await;
    let disabled = app.list_count("/api/v1/licenses?enabled=false").await;
    assert_eq!(total, 300);
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let tiles = |p: &Page| {
        let from = p.text.find("class=\"tiles\"").unwrap();
        p.text[from..from + p.text[from..].find("</section>").unwrap()].to_string()
    };
    let home = b.get("/").await;
    let t = tiles(&home);
    for (n, what) in [(total, "licenses"), (active, "active on a device"), (disabled, "disabled")] {
        assert!(t.contains(&format!("<span class=\"n\">{n}</span> {what}")), "{n} {what}: {t}");
    }
    assert!(home.text.contains("Counted <time"), "{}", home.text);
    // A license issued now shows in the list at once; the home page's count is the one counted (for 30 s).
    app.post("/api/v1/licenses", json!({"product": "studio"})).await;
    assert_eq!(app.list_count("/api/v1/licenses").await, 301);
    assert!(tiles(&b.get("/").await).contains(&format!("<span class=\"n\">{total}</span> licenses")));
    // A manager's own scope has its own count.
    user(&app, "max@acme.com", "", Role::Manager, &["vpn"]).await;
    let vpn = app.list_count("/api/v1/licenses?product__short_code=vpn").await;
    let mut m = Browser::new(&app);
    m.sign_in("max@acme.com").await;
    assert!(tiles(&m.get("/").await).contains(&format!("<span class=\"n\">{vpn}</span> licenses")), "{vpn}");
}

async fn a_license_with_more_matching_devices_than_the_cap_counts_once_and_hides_no_other(app: TestApp) {
    app.product("app").await;
    let many = app.license(json!({"product": "app", "max_activations": 150})).await;
    let one = app.license(json!({"product": "app"})).await;
    let activate = |key: String, hw: String| {
        let url = format!("{}/api/v1/client/activate", app.url);
        async move {
            let r: serde_json::Value = reqwest::Client::new()
                .post(url)
                .json(&json!({"license_key": key, "hardware_id": hw, "product": "app"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(r["code"], "ACTIVATED", "{r}");
        }
    };
    // 120 devices of the first license match `hwx-` before the second license's one does.
    for i in 0..120 {
        activate(many["license_key"].as_str().unwrap().into(), format!("hwx-{i:03}")).await;
    }
    activate(one["license_key"].as_str().unwrap().into(), "hwx-999".into()).await;
    user(&app, "ana@acme.com", "", Role::Admin, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let page = b.get("/ui/search?q=hwx-").await;
    let licenses = section(&page, "r-licenses");
    assert!(licenses.contains("<span class=\"count\">2</span>"), "{licenses}");
    for l in [&many, &one] {
        assert!(licenses.contains(&format!("/ui/licenses/{}", l["id"])), "{licenses}");
    }
    assert!(section(&page, "r-devices").contains("<span class=\"count\">more than 100</span>"));
}

async fn a_list_counts_10000_past_its_page_and_pages_on(app: TestApp) {
    licensd_store::seed::seed(&app.db, 10_050, 5, |_| {}).await.unwrap();
    user(&app, "ana@acme.com", "", Role::ReadOnly, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("ana@acme.com").await;
    let first = b.get("/ui/licenses").await;
    assert!(first.text.contains("1–50 of more than 10000"), "{}", first.text);
    assert!(first.text.contains("rel=\"next\""));
    let late = b.get("/ui/licenses?offset=10000").await;
    assert!(late.text.contains("10001–10050 of 10050"), "{}", late.text);
    assert!(!late.text.contains("rel=\"next\"") && late.text.contains("rel=\"prev\""));
    // A filter narrows it to an exact count again.
    let vpn = app.list_count("/api/v1/licenses?product__short_code=vpn").await;
    assert!(vpn < 10_000);
    let narrowed = b.get("/ui/licenses?product__short_code=vpn").await;
    assert!(narrowed.text.contains(&format!("1–50 of {vpn}<")), "{}", narrowed.text);
}
