//! The dashboard's edit forms against each other: each form carries the version of what it showed, and a save
//! from a form loaded before someone else's save is refused (`409`) with the record as it is now and what was
//! typed kept, writing nothing; the first save stays. Client traffic that does not touch what a form edits
//! (an activation) refuses nothing. Many saves of one version at once: exactly one is made.

use licensd_core::model::Role;
use serde_json::json;

use crate::common::TestApp;
use crate::dashboard::{Browser, Page, client, licensed, user};
use crate::dashboard_catalog::template_form;

crate::backend_tests!(
    a_stale_license_edit_is_refused_with_the_license_as_it_is_and_what_was_typed,
    a_stale_customer_edit_is_refused_and_the_other_persons_change_is_kept,
    stale_catalog_edits_are_refused_and_the_first_save_is_kept,
    many_saves_of_one_version_at_once_make_exactly_one_change,
);

const STALE: &str = "changed by someone else since you opened it";

/// Two admins, Ana and Ben, each signed in in a browser of their own.
async fn two_admins(app: &TestApp) -> (Browser, Browser) {
    user(app, "ana@acme.com", "Ana", Role::Admin, &[]).await;
    user(app, "ben@acme.com", "Ben", Role::Admin, &[]).await;
    let (mut ana, mut ben) = (Browser::new(app), Browser::new(app));
    ana.sign_in("ana@acme.com").await;
    ben.sign_in("ben@acme.com").await;
    (ana, ben)
}

/// Posts `fields` to `path` with the CSRF token of `page` and the version its form (after `marker`) carries.
async fn save(b: &mut Browser, page: &Page, marker: &str, path: &str, fields: &[(&str, &str)]) -> Page {
    let (csrf, version) = (page.csrf(), page.version_after(marker));
    let mut form = vec![("csrf", csrf.as_str()), ("version", version.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

/// The marker of a license page's edit form of `action`.
fn form_of(action: &str) -> String {
    format!(r#"name="action" value="{action}">"#)
}

async fn events(app: &TestApp, action: &str) -> Vec<String> {
    let ev = app.get(&format!("/api/v1/events/?action={action}&order_by=id")).await.body;
    ev["results"].as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap().to_string()).collect()
}

async fn a_stale_license_edit_is_refused_with_the_license_as_it_is_and_what_was_typed(app: TestApp) {
    let (id, key) = licensed(&app).await;
    let (mut ana, mut ben) = two_admins(&app).await;
    let path = format!("/ui/licenses/{id}");
    let act = format!("{path}/act");
    let ana_page = ana.get(&path).await;
    let ben_page = ben.get(&path).await;

    // The note: Ana saves first; Ben's form, loaded before, is refused and keeps what he typed.
    let p = save(&mut ana, &ana_page, &form_of("note"), &act, &[("action", "note"), ("value", "call Ana first")]).await;
    assert_eq!((p.status, p.location()), (303, format!("{path}?done=note").as_str()), "{}", p.text);
    let p = save(&mut ben, &ben_page, &form_of("note"), &act, &[("action", "note"), ("value", "VIP, call Ben")]).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains(STALE), "{}", p.text);
    assert!(p.text.contains(">VIP, call Ben</textarea>"), "what Ben typed is kept: {}", p.text);
    assert!(p.text.contains(r#"<p class="now">Now: <code>call Ana first</code></p>"#), "{}", p.text);
    assert!(p.text.contains("<details open><summary>Edit the note"), "the refused form is open: {}", p.text);
    assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["note"], "call Ana first");
    assert_eq!(events(&app, "license.updated").await, ["Ana <ana@acme.com>"]);
    // The refused page's form carries the version of the note as it is now: saving it again is Ben's choice.
    let again = save(&mut ben, &p, &form_of("note"), &act, &[("action", "note"), ("value", "VIP, call Ben")]).await;
    assert_eq!(again.status, 303, "{}", again.text);
    assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["note"], "VIP, call Ben");

    // The activation limit, the validity and the metadata alike.
    let ana_page = ana.get(&path).await;
    let ben_page = ben.get(&path).await;
    for (action, ana_value, ben_value, typed, field, kept) in [
        ("max_activations", "5", "7", r#"name="value" value="7">"#, "max_activations", json!(5)),
        (
            "validity",
            "2031-01-31",
            "2032-02-29",
            r#"name="value" value="2032-02-29">"#,
            "validity_period",
            json!("2031-01-31"),
        ),
        (
            "metadata",
            r#"{"seats": 5}"#,
            r#"{"seats": 9}"#,
            ">{&quot;seats&quot;: 9}</textarea>",
            "metadata",
            json!({"seats": 5}),
        ),
    ] {
        let fields = |v| [("action", action), ("value", v)];
        let p = save(&mut ana, &ana_page, &form_of(action), &act, &fields(ana_value)).await;
        assert_eq!(p.status, 303, "{action}: {}", p.text);
        let p = save(&mut ben, &ben_page, &form_of(action), &act, &fields(ben_value)).await;
        assert_eq!(p.status, 409, "{action}: {}", p.text);
        assert!(p.text.contains(STALE), "{action}: {}", p.text);
        assert!(p.text.contains(typed), "{action}: what Ben typed is kept: {}", p.text);
        assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body[field], kept, "{action}");
    }
    assert_eq!(events(&app, "license.updated").await.len(), 5, "Ana's three and Ben's note: nothing of Ben's refusals");

    // A device activating changes the license but not its note: a form loaded before still saves.
    let page = ben.get(&path).await;
    assert_eq!(client(&app, "activate", &key, "hw-ann-2").await["code"], "ACTIVATED");
    let p = save(&mut ben, &page, &form_of("note"), &act, &[("action", "note"), ("value", "two devices")]).await;
    assert_eq!(p.status, 303, "{}", p.text);
    assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["note"], "two devices");

    // A form without a version changes nothing.
    let before = app.count("events").await;
    let p = ben.post(&act, &[("csrf", &page.csrf()), ("action", "note"), ("value", "no version")]).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("Nothing was changed"), "{}", p.text);
    assert_eq!(app.count("events").await, before);
}

async fn a_stale_customer_edit_is_refused_and_the_other_persons_change_is_kept(app: TestApp) {
    let (id, _) = licensed(&app).await;
    let customer = app.get(&format!("/api/v1/licenses/{id}")).await.body["customer"]["id"].as_i64().unwrap();
    let (mut ana, mut ben) = two_admins(&app).await;
    let path = format!("/ui/customers/{customer}");
    let edit = format!("{path}/edit");
    let ana_page = ana.get(&path).await;
    let ben_page = ben.get(&path).await;
    // Every box as the browser posts it: Ana fills in the company.
    let mut ana_form = vec![("email", "ann@example.com"), ("first_name", "Ann"), ("last_name", "Lee")];
    let mut ben_form = ana_form.clone();
    ana_form.extend([("company_name", "Lee & Co"), ("city", "")]);
    let p = save(&mut ana, &ana_page, "", &edit, &ana_form).await;
    assert_eq!((p.status, p.location()), (303, format!("{path}?done=saved").as_str()), "{}", p.text);
    // Ben changed only the city, but his form still holds the company as it was when he opened it: refused, so
    // Ana's company is not emptied again.
    ben_form.extend([("company_name", ""), ("city", "Lyon")]);
    let p = save(&mut ben, &ben_page, "", &edit, &ben_form).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains(STALE), "{}", p.text);
    assert!(p.text.contains(r#"name="city" value="Lyon""#), "what Ben typed is kept: {}", p.text);
    assert!(p.text.contains(r#"<p class="now">Now: <code>Lee &amp; Co</code></p>"#), "{}", p.text);
    assert!(p.text.contains("<dd>Lee &amp; Co</dd>"), "the contact details as they are: {}", p.text);
    let c = app.get(&format!("/api/v1/customers/{customer}")).await.body;
    assert_eq!((c["company_name"].as_str(), c["city"].as_str()), (Some("Lee & Co"), Some("")));
    assert_eq!(events(&app, "customer.updated").await, ["Ana <ana@acme.com>"]);
}

async fn stale_catalog_edits_are_refused_and_the_first_save_is_kept(app: TestApp) {
    let product = app.product("app").await;
    let f = app.post("/api/v1/product-features", json!({"product": product, "code": "export", "name": "Export"})).await;
    let fid = f.body["id"].as_i64().unwrap();
    let t = app.template(product, "personal", json!({"max_activations": 2})).await;
    let (mut ana, mut ben) = two_admins(&app).await;

    let path = format!("/ui/catalog/products/{product}");
    let (a, b) = (ana.get(&path).await, ben.get(&path).await);
    let product_form = |name| [("product_name", name), ("short_code", "app"), ("authorization_method", "license-key")];
    assert_eq!(save(&mut ana, &a, "", &path, &product_form("Ana's App")).await.status, 303);
    let p = save(&mut ben, &b, "", &path, &product_form("Ben App")).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains(STALE) && p.text.contains(r#"name="product_name" value="Ben App""#), "{}", p.text);
    assert!(p.text.contains("<p class=\"now\">Now: <code>Ana's App</code></p>"), "{}", p.text);
    assert_eq!(app.get(&format!("/api/v1/products/{product}")).await.body["product_name"], "Ana's App");

    let path = format!("/ui/catalog/features/{fid}");
    let (a, b) = (ana.get(&path).await, ben.get(&path).await);
    let feature_form = |name, max| {
        [
            ("code", "export"),
            ("name", name),
            ("feature_type", "activation"),
            ("max_consumption", max),
            ("max_overages", "0"),
            ("floating_users", "0"),
            ("floating_timeout", "60"),
        ]
    };
    assert_eq!(save(&mut ana, &a, "", &path, &feature_form("Export (Ana)", "10")).await.status, 303);
    let p = save(&mut ben, &b, "", &path, &feature_form("Export (Ben)", "0")).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains(STALE) && p.text.contains(r#"value="Export (Ben)""#), "{}", p.text);
    assert!(p.text.contains("<p class=\"now\">Now: <code>10</code></p>"), "{}", p.text);
    let api = app.get(&format!("/api/v1/product-features/{fid}")).await.body;
    assert_eq!((api["name"].as_str(), api["max_consumption"].as_i64()), (Some("Export (Ana)"), Some(10)));

    let path = format!("/ui/catalog/templates/{t}");
    let (a, b) = (ana.get(&path).await, ben.get(&path).await);
    let ana_form = template_form(&[("name", "Personal"), ("code", "personal"), ("max_activations", "3")]);
    let ana_form: Vec<(&str, &str)> = ana_form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(save(&mut ana, &a, "", &path, &ana_form).await.status, 303);
    let ben_form = template_form(&[
        ("name", "Template personal"),
        ("code", "personal"),
        ("max_activations", "2"),
        ("trial_days", "14"),
    ]);
    let ben_form: Vec<(&str, &str)> = ben_form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let p = save(&mut ben, &b, "", &path, &ben_form).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains(STALE) && p.text.contains(r#"name="trial_days" value="14""#), "{}", p.text);
    assert!(p.text.contains("<p class=\"now\">Now: <code>Personal</code></p>"), "{}", p.text);
    assert!(p.text.contains("<p class=\"now\">Now: <code>3</code></p>"), "{}", p.text);
    let api = app.get(&format!("/api/v1/license-templates/{t}")).await.body;
    assert_eq!(
        (api["name"].as_str(), api["max_activations"].as_i64(), api["trial_days"].as_i64()),
        (Some("Personal"), Some(3), Some(0))
    );

    for action in ["product.updated", "product_feature.updated", "license_template.updated"] {
        assert_eq!(events(&app, action).await, ["Ana <ana@acme.com>"], "{action}");
    }
}

async fn many_saves_of_one_version_at_once_make_exactly_one_change(app: TestApp) {
    let product = app.product("app").await;
    let (ana, _) = two_admins(&app).await;
    let path = format!("/ui/catalog/products/{product}");
    let page = ana.clone().get(&path).await;
    let (csrf, version) = (page.csrf(), page.version());
    let saves: Vec<_> = (0..8)
        .map(|i| {
            let (mut b, path, csrf, version) = (ana.clone(), path.clone(), csrf.clone(), version.clone());
            tokio::spawn(async move {
                let name = format!("Name {i}");
                let form = [
                    ("csrf", csrf.as_str()),
                    ("version", version.as_str()),
                    ("product_name", name.as_str()),
                    ("short_code", "app"),
                    ("authorization_method", "license-key"),
                ];
                (name.clone(), b.post(&path, &form).await.status)
            })
        })
        .collect();
    let mut made = Vec::new();
    let mut refused = 0;
    for s in saves {
        match s.await.unwrap() {
            (name, 303) => made.push(name),
            (_, 409) => refused += 1,
            (_, other) => panic!("a save answered {other}"),
        }
    }
    assert_eq!((made.len(), refused), (1, 7), "{made:?}");
    assert_eq!(app.get(&format!("/api/v1/products/{product}")).await.body["product_name"], made[0].as_str());
    assert_eq!(events(&app, "product.updated").await.len(), 1);
}
