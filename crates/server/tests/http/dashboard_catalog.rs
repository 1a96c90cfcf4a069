//! The dashboard's catalog as a browser speaks it: products, features and license templates made and changed
//! through its forms are what the management API then shows; every term is explained as docs/licenses.md
//! explains it; only an admin may change anything, and a refusal keeps the form as typed and writes nothing.
//! Deletes are behind a confirmation, do what the API's `DELETE` does, and a product in use is refused in words.

use licensd_core::model::Role;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::dashboard::{Browser, Page, user};

crate::backend_tests!(
    an_admin_creates_a_product_a_feature_and_a_template_that_the_api_sees_as_typed,
    support_sees_the_catalog_but_every_change_is_refused_and_nothing_is_written,
    a_bad_value_is_refused_next_to_its_box_the_form_keeps_what_was_typed_and_nothing_is_written,
    a_catalog_form_without_its_csrf_token_is_refused,
    every_template_term_has_a_box_explained_as_docs_licenses_md_explains_it,
    a_trial_template_made_in_the_form_is_the_one_client_trial_issues_from,
    the_catalog_pages_products_and_a_manager_sees_only_its_own,
    an_admin_deletes_a_feature_a_template_and_a_product_behind_a_confirmation,
    a_product_in_use_is_not_deleted_and_its_page_says_why,
    only_an_admin_with_the_forms_token_deletes_catalog_records,
);

/// An admin signed in, with the CSRF token of their session.
async fn admin(app: &TestApp) -> (Browser, String) {
    user(app, "ana@acme.com", "Ana Lima", Role::Admin, &[]).await;
    let mut b = Browser::new(app);
    b.sign_in("ana@acme.com").await;
    let csrf = b.get("/ui/catalog").await.csrf();
    (b, csrf)
}

/// Posts `fields` with the session's token.
async fn submit(b: &mut Browser, csrf: &str, path: &str, fields: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

/// The version the edit form of the record at `path` carries now.
async fn version(b: &mut Browser, path: &str) -> String {
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.text);
    page.version()
}

/// The id at the end of a redirect's path (`/ui/catalog/products/3?done=…` → 3).
fn id_in(location: &str) -> i64 {
    let path = location.split(['?', '#']).next().unwrap();
    path.rsplit('/').next().unwrap().parse().unwrap_or_else(|_| panic!("no id in {location}"))
}

/// Every box of a new template's form as the browser posts it (the API's defaults, as the form shows them),
/// with `over` replacing or adding fields.
pub(crate) fn template_form(over: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        ("name", "T"),
        ("code", "t"),
        ("license_type", "perpetual"),
        ("key_prefix", ""),
        ("key_groups", "4"),
        ("key_group_size", "5"),
        ("max_activations", "1"),
        ("validity_period_days", ""),
        ("maintenance_duration_days", ""),
        ("license_file_ttl_days", "30"),
        ("trial_days", "0"),
        ("floating_users", "0"),
        ("floating_timeout", "30"),
        ("max_borrow_time", "0"),
        ("max_transfers", "0"),
        ("max_consumptions", "0"),
        ("max_overages", "0"),
        ("metadata", "{}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in over {
        match form.iter_mut().find(|(n, _)| n == k) {
            Some(f) => f.1 = v.to_string(),
            None => form.push((k.to_string(), v.to_string())),
        }
    }
    form
}

/// A floating lab license's template, every term set, granting `feature` with a limit of its own.
fn lab_template(feature: i64) -> Vec<(String, String)> {
    let (f, mc, ao, mo) = (
        format!("feature-{feature}"),
        format!("feature-{feature}-max_consumption"),
        format!("feature-{feature}-allow_overages"),
        format!("feature-{feature}-max_overages"),
    );
    template_form(&[
        ("name", "Lab, 3 seats"),
        ("code", "lab"),
        ("license_type", "subscription"),
        ("key_prefix", "LAB"),
        ("key_groups", "5"),
        ("key_group_size", "4"),
        ("max_activations", ""),
        ("validity_period_days", "365"),
        ("maintenance_duration_days", "30"),
        ("license_file_ttl_days", "7"),
        ("is_floating_cloud", "true"),
        ("floating_users", "3"),
        ("floating_timeout", "15"),
        ("can_borrow", "true"),
        ("max_borrow_time", "72"),
        ("max_transfers", "2"),
        ("max_consumptions", "1000"),
        ("allow_overages", "true"),
        ("max_overages", "50"),
        ("prevent_vm", "true"),
        ("metadata", "{\"edition\": \"lab\"}"),
        (&f, "true"),
        (&mc, "500"),
        (&ao, ""),
        (&mo, ""),
    ])
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A record without its id and times, to compare with what was typed.
fn terms(mut v: Value) -> Value {
    for k in ["id", "created_at", "updated_at"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

async fn an_admin_creates_a_product_a_feature_and_a_template_that_the_api_sees_as_typed(app: TestApp) {
    let (mut b, csrf) = admin(&app).await;
    let home = b.get("/").await;
    assert!(home.text.contains(r#"href="/ui/catalog">Catalog</a>"#), "an admin has the nav link: {}", home.text);
    let form = b.get("/ui/catalog/products/new").await;
    assert_eq!(form.status, 200, "{}", form.text);

    let p = submit(
        &mut b,
        &csrf,
        "/ui/catalog/products",
        &[
            ("product_name", "Acme Notes"),
            ("short_code", "notes"),
            ("bundle_id", "com.acme.notes"),
            ("use_offline_license", "true"),
            ("authorization_method", "license-key"),
            ("metadata", "{\"tier\": 2}"),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.text);
    let product = id_in(p.location());
    assert_eq!(p.location(), format!("/ui/catalog/products/{product}?done=product_created"));
    let api = app.get(&format!("/api/v1/products/{product}")).await.body;
    assert_eq!(
        terms(api),
        json!({"product_name": "Acme Notes", "short_code": "notes", "bundle_id": "com.acme.notes",
               "use_offline_license": true, "authorization_method": "license-key", "is_bundle": false,
               "metadata": {"tier": 2}})
    );
    let page = b.get(p.location()).await;
    assert!(page.text.contains("The product was created.") && page.text.contains("404 NO_TRIAL"), "{}", page.text);

    let f = submit(
        &mut b,
        &csrf,
        &format!("/ui/catalog/products/{product}/features"),
        &[
            ("code", "ai-render"),
            ("name", "AI render credits"),
            ("feature_type", "consumption"),
            ("max_consumption", "100"),
            ("allow_overages", "true"),
            ("max_overages", "10"),
            ("consumption_period", "monthly"),
            ("metadata", ""),
        ],
    )
    .await;
    assert_eq!(f.status, 303, "{}", f.text);
    let features = app.get(&format!("/api/v1/product-features/?product={product}")).await.body;
    let feature = &features["results"][0];
    assert_eq!(
        terms(feature.clone()),
        json!({"product": product, "code": "ai-render", "name": "AI render credits", "feature_type": "consumption",
               "max_consumption": 100, "allow_overages": true, "max_overages": 10, "reset_consumption": false,
               "consumption_period": "monthly", "is_floating_cloud": false, "floating_users": 0, "floating_timeout": 60,
               "metadata": {}})
    );
    let fid = feature["id"].as_i64().unwrap();

    let lab = lab_template(fid);
    let t = submit(&mut b, &csrf, &format!("/ui/catalog/products/{product}/templates"), &pairs(&lab)).await;
    assert_eq!(
        (t.status, t.location()),
        (303, format!("/ui/catalog/products/{product}?done=template_created#templates").as_str()),
        "{}",
        t.text
    );
    let listed = app.get(&format!("/api/v1/license-templates/?product={product}")).await.body;
    assert_eq!(listed["count"], 1);
    let tid = listed["results"][0]["id"].as_i64().unwrap();
    assert_eq!(
        terms(listed["results"][0].clone()),
        json!({"product": product, "name": "Lab, 3 seats", "code": "lab", "license_type": "subscription",
               "key_prefix": "LAB", "key_groups": 5, "key_group_size": 4, "max_activations": null,
               "validity_period_days": 365, "is_trial": false, "trial_days": 0, "is_floating_cloud": true,
               "floating_users": 3, "floating_timeout": 15, "max_transfers": 2, "prevent_vm": true, "can_borrow": true,
               "max_borrow_time": 72, "maintenance_duration_days": 30, "max_consumptions": 1000, "allow_overages": true,
               "max_overages": 50, "license_file_ttl_days": 7, "metadata": {"edition": "lab"},
               "features": [{"feature": fid, "code": "ai-render", "name": "AI render credits", "max_consumption": 500,
                             "allow_overages": true, "max_overages": 10}]}),
        "an empty limit of a granted feature is the feature's own"
    );
    // Listed on the product's page and on the catalog's.
    let page = b.get(&format!("/ui/catalog/products/{product}")).await;
    assert!(page.text.contains(&format!(r#"href="/ui/catalog/templates/{tid}">Lab, 3 seats</a>"#)), "{}", page.text);
    assert!(page.text.contains("3 floating seat(s)"), "{}", page.text);
    assert!(b.get("/ui/catalog").await.text.contains("Lab, 3 seats"));

    // Its page shows every term as stored; a change through it is what the API then shows.
    let form = b.get(&format!("/ui/catalog/templates/{tid}")).await;
    assert!(form.text.contains(r#"name="floating_timeout" value="15""#), "{}", form.text);
    assert!(form.text.contains(&format!(r#"name="feature-{fid}-max_consumption" value="500""#)), "{}", form.text);
    let mut changed = lab.clone();
    changed.retain(|(k, _)| !k.starts_with("feature-") && k != "prevent_vm");
    changed.push(("version".into(), form.version()));
    for (k, v) in changed.iter_mut() {
        if k == "floating_users" {
            *v = "5".into();
        }
    }
    let u = submit(&mut b, &csrf, &format!("/ui/catalog/templates/{tid}"), &pairs(&changed)).await;
    assert_eq!(
        (u.status, u.location()),
        (303, format!("/ui/catalog/templates/{tid}?done=template_saved").as_str()),
        "{}",
        u.text
    );
    let after = app.get(&format!("/api/v1/license-templates/{tid}")).await.body;
    assert_eq!((after["floating_users"].as_i64(), after["prevent_vm"].as_bool()), (Some(5), Some(false)));
    assert_eq!(after["features"], json!([]), "an unchecked feature is no longer granted");
    assert!(b.get(u.location()).await.text.contains("Licenses already issued from it keep their terms."));

    // The product and the feature change through their forms too; the audit log names the person.
    let v = version(&mut b, &format!("/ui/catalog/products/{product}")).await;
    let e = submit(
        &mut b,
        &csrf,
        &format!("/ui/catalog/products/{product}"),
        &[
            ("version", &v),
            ("product_name", "Acme Notes Pro"),
            ("short_code", "notes"),
            ("authorization_method", "license-key"),
            ("metadata", "{}"),
        ],
    )
    .await;
    assert_eq!(e.status, 303, "{}", e.text);
    let api = app.get(&format!("/api/v1/products/{product}")).await.body;
    assert_eq!(
        (api["product_name"].as_str(), api["use_offline_license"].as_bool(), &api["bundle_id"]),
        (Some("Acme Notes Pro"), Some(false), &json!(""))
    );
    let v = version(&mut b, &format!("/ui/catalog/features/{fid}")).await;
    let e = submit(
        &mut b,
        &csrf,
        &format!("/ui/catalog/features/{fid}"),
        &[
            ("version", &v),
            ("code", "ai-render"),
            ("name", "AI credits"),
            ("feature_type", "consumption"),
            ("max_consumption", "200"),
            ("max_overages", "0"),
        ],
    )
    .await;
    assert_eq!(e.status, 303, "{}", e.text);
    let api = app.get(&format!("/api/v1/product-features/{fid}")).await.body;
    assert_eq!(
        (api["name"].as_str(), api["max_consumption"].as_i64(), api["allow_overages"].as_bool()),
        (Some("AI credits"), Some(200), Some(false))
    );
    let ev = app.get("/api/v1/events/?action=license_template.updated").await.body;
    assert_eq!(ev["results"][0]["actor"], "Ana Lima <ana@acme.com>", "{ev}");
    assert_eq!(app.list_count("/api/v1/events/?action=product.created").await, 1);
}

async fn support_sees_the_catalog_but_every_change_is_refused_and_nothing_is_written(app: TestApp) {
    let product = app.product("app").await;
    let t = app.template(product, "personal", json!({"max_activations": 2})).await;
    let f = app.post("/api/v1/product-features", json!({"product": product, "code": "export", "name": "Export"})).await;
    let fid = f.body["id"].as_i64().unwrap();
    user(&app, "sam@acme.com", "Sam", Role::Support, &[]).await;
    let mut b = Browser::new(&app);
    b.sign_in("sam@acme.com").await;
    let home = b.get("/").await;
    assert!(!home.text.contains("/ui/catalog"), "no Catalog link for support: {}", home.text);
    let catalog = b.get("/ui/catalog").await;
    assert_eq!(catalog.status, 200, "reading the catalog is every role's: {}", catalog.text);
    assert!(catalog.text.contains("personal") && !catalog.text.contains("New product"), "{}", catalog.text);
    // The template's terms, explained, in boxes that cannot be changed and without a button.
    let page = b.get(&format!("/ui/catalog/templates/{t}")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<fieldset class=\"all\" disabled>"), "{}", page.text);
    assert!(page.text.contains(r#"name="max_activations" value="2""#) && !page.text.contains("Save the template"));
    assert!(page.text.contains("Only an administrator may change the catalog."));
    let product_page = b.get(&format!("/ui/catalog/products/{product}")).await;
    assert!(!product_page.text.contains("New template") && !product_page.text.contains("Edit the product"));
    for path in [
        "/ui/catalog/products/new".to_string(),
        format!("/ui/catalog/products/{product}/templates/new"),
        format!("/ui/catalog/products/{product}/features/new"),
    ] {
        assert_eq!(b.get(&path).await.status, 403, "{path}");
    }

    let csrf = catalog.csrf();
    let (events, templates) = (app.count("events").await, app.count("license_templates").await);
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/ui/catalog/products".into(), vec![("product_name", "Mine"), ("short_code", "mine")]),
        (format!("/ui/catalog/products/{product}"), vec![("product_name", "Renamed"), ("short_code", "app")]),
        (format!("/ui/catalog/products/{product}/features"), vec![("code", "x"), ("name", "X")]),
        (format!("/ui/catalog/features/{fid}"), vec![("code", "export"), ("name", "Renamed")]),
        (format!("/ui/catalog/products/{product}/templates"), vec![("name", "T"), ("code", "t")]),
        (
            format!("/ui/catalog/templates/{t}"),
            vec![("name", "Renamed"), ("code", "personal"), ("max_activations", "99")],
        ),
    ];
    for (path, fields) in posts {
        let p = submit(&mut b, &csrf, &path, &fields).await;
        assert_eq!(p.status, 403, "{path}: {}", p.text);
        assert!(p.text.contains("support"), "the refusal names the role: {}", p.text);
    }
    assert_eq!((app.count("events").await, app.count("license_templates").await), (events, templates));
    assert_eq!(app.count("products").await, 1);
    assert_eq!(app.get(&format!("/api/v1/license-templates/{t}")).await.body["max_activations"], 2);
    assert_eq!(app.get(&format!("/api/v1/product-features/{fid}")).await.body["name"], "Export");
}

async fn a_bad_value_is_refused_next_to_its_box_the_form_keeps_what_was_typed_and_nothing_is_written(app: TestApp) {
    let product = app.product("app").await;
    let f = app.post("/api/v1/product-features", json!({"product": product, "code": "export", "name": "Export"})).await;
    let fid = f.body["id"].as_i64().unwrap();
    let (mut b, csrf) = admin(&app).await;
    let events = app.count("events").await;
    let path = format!("/ui/catalog/products/{product}/templates");

    let form = template_form(&[("name", "Kept <as typed>"), ("code", "neg"), ("max_activations", "-1")]);
    let p = submit(&mut b, &csrf, &path, &pairs(&form)).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("Max activations (max_activations): must be between 0 and 1000000000"), "{}", p.text);
    assert!(
        p.text.contains(r#"id="f-max_activations-error">must be between 0 and 1000000000</p>"#),
        "next to its box: {}",
        p.text
    );
    assert!(p.text.contains(r#"name="max_activations" value="-1""#), "{}", p.text);
    assert!(
        p.text.contains(r#"aria-describedby="f-max_activations-error f-max_activations-help" aria-invalid="true""#)
    );
    assert!(p.text.contains(r#"value="Kept &lt;as typed&gt;""#), "what was typed stays, escaped: {}", p.text);

    let p = submit(&mut b, &csrf, &path, &pairs(&template_form(&[("floating_timeout", "soon")]))).await;
    assert_eq!(p.status, 400);
    assert!(p.text.contains(r#"id="f-floating_timeout-error">must be a whole number</p>"#), "{}", p.text);
    let p = submit(&mut b, &csrf, &path, &pairs(&template_form(&[("metadata", "[1]")]))).await;
    assert_eq!(p.status, 400);
    assert!(p.text.contains(r#"id="f-metadata-error">must be a JSON object"#), "{}", p.text);
    // A granted feature's limit is checked as the API checks it, and named by its feature.
    let mc = format!("feature-{fid}-max_consumption");
    let feature = format!("feature-{fid}");
    let p = submit(&mut b, &csrf, &path, &pairs(&template_form(&[(&feature, "true"), (&mc, "-5")]))).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("Feature export: must be between 0 and"), "{}", p.text);
    assert!(p.text.contains(&format!(r#"name="{mc}" value="-5""#)), "{}", p.text);
    // A floating template without seats: the core's rule, shown at the seats' box.
    let p = submit(&mut b, &csrf, &path, &pairs(&template_form(&[("is_floating_cloud", "true")]))).await;
    assert_eq!(p.status, 400);
    assert!(
        p.text.contains(r#"id="f-floating_users-error">a floating template needs at least one seat</p>"#),
        "{}",
        p.text
    );
    assert!(
        p.text.contains(r#"name="is_floating_cloud" value="true" checked"#),
        "the checkbox stays checked: {}",
        p.text
    );

    // A taken short code: 409, on the form, as typed.
    let p = submit(
        &mut b,
        &csrf,
        "/ui/catalog/products",
        &[("product_name", "Another"), ("short_code", "app"), ("authorization_method", "license-key")],
    )
    .await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains(r#"id="f-short_code-error">this short_code is already taken</p>"#), "{}", p.text);
    assert!(p.text.contains(r#"value="Another""#));
    // An edit that empties the name: the product's page with the form open, the product unchanged.
    let v = version(&mut b, &format!("/ui/catalog/products/{product}")).await;
    let p = submit(
        &mut b,
        &csrf,
        &format!("/ui/catalog/products/{product}"),
        &[("version", &v), ("product_name", " "), ("short_code", "app"), ("authorization_method", "license-key")],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(
        p.text.contains("<details open>") && p.text.contains(r#"id="f-product_name-error">must not be empty</p>"#),
        "{}",
        p.text
    );
    let v = version(&mut b, &format!("/ui/catalog/features/{fid}")).await;
    let p = submit(
        &mut b,
        &csrf,
        &format!("/ui/catalog/features/{fid}"),
        &[("version", &v), ("code", "export"), ("name", "Export"), ("feature_type", "metered")],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(p.text.contains(r#"id="f-feature_type-error">must be one of activation, consumption</p>"#), "{}", p.text);

    assert_eq!((app.count("license_templates").await, app.count("products").await), (0, 1));
    assert_eq!(app.count("events").await, events, "nothing was written");
    assert_eq!(app.get(&format!("/api/v1/products/{product}")).await.body["product_name"], "Product app");
    // An unknown record is the not-found page, also for a post.
    assert_eq!(submit(&mut b, &csrf, "/ui/catalog/templates/999", &[("name", "T"), ("code", "t")]).await.status, 404);
    assert_eq!(b.get("/ui/catalog/products/nope").await.status, 404);
}

async fn a_catalog_form_without_its_csrf_token_is_refused(app: TestApp) {
    let product = app.product("app").await;
    let t = app.template(product, "personal", json!({})).await;
    let (mut b, _) = admin(&app).await;
    let events = app.count("events").await;
    let p = b.post("/ui/catalog/products", &[("product_name", "X"), ("short_code", "x")]).await;
    assert_eq!(p.status, 403);
    assert!(p.text.contains("Nothing was changed"), "{}", p.text);
    let p = b
        .post(
            &format!("/ui/catalog/templates/{t}"),
            &[("csrf", "lsd_guess"), ("name", "Renamed"), ("code", "personal")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!((app.count("products").await, app.count("events").await), (1, events));
    assert_eq!(app.get(&format!("/api/v1/license-templates/{t}")).await.body["name"], "Template personal");
}

/// Text as a reader sees it: tags dropped, entities decoded, markdown's `**` and backticks dropped.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace(['`', '*'], "")
}

/// The "what it does" cell of a field's row under `## License templates` in docs/licenses.md.
fn doc_cell(doc: &str, field: &str) -> String {
    let section = &doc[doc.find("## License templates").unwrap()..doc.find("## Licenses\n").unwrap()];
    let row = section.lines().find(|l| l.starts_with(&format!("| `{field}` |"))).unwrap_or_else(|| panic!("{field}"));
    row.split(" | ").nth(3).unwrap().to_string()
}

async fn every_template_term_has_a_box_explained_as_docs_licenses_md_explains_it(app: TestApp) {
    let product = app.product("app").await;
    let (mut b, _) = admin(&app).await;
    let form = b.get(&format!("/ui/catalog/products/{product}/templates/new")).await;
    assert_eq!(form.status, 200, "{}", form.text);
    // Every field of the API's input has its labelled box, described by its explanation.
    let input: Value = serde_json::to_value(
        serde_json::from_value::<licensd_core::model::LicenseTemplateInput>(
            json!({"product": 1, "name": "n", "code": "c"}),
        )
        .unwrap(),
    )
    .unwrap();
    for field in input.as_object().unwrap().keys().filter(|k| *k != "product" && *k != "features") {
        assert!(form.text.contains(&format!(r#"<label for="f-{field}">"#)), "{field} has no label");
        assert!(form.text.contains(&format!(r#"name="{field}""#)), "{field} has no box");
        assert!(form.text.contains(&format!(r#"aria-describedby="f-{field}-help""#)), "{field} is not described");
        assert!(
            form.text.contains(&format!(r#"<small class="help" id="f-{field}-help">"#)),
            "{field} has no explanation"
        );
    }
    // The explanations are the reference's words.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/licenses.md")).unwrap();
    let shown = plain(&form.text);
    for field in [
        "max_activations",
        "max_transfers",
        "floating_timeout",
        "max_borrow_time",
        "is_trial",
        "trial_days",
        "key_group_size",
        "max_consumptions",
    ] {
        let cell = plain(&doc_cell(&doc, field));
        let cell = cell.trim_end_matches('.');
        let words: String = cell.chars().skip(1).collect();
        assert!(shown.contains(&words), "{field}: the page does not say {cell:?}");
    }
    for said in [
        "0: unlimited",
        "0: no device can activate",
        "empty: unlimited",
        "empty: never expires",
        "0: every borrow is refused",
    ] {
        assert!(shown.contains(said), "the page does not say {said:?}");
    }
    // The defaults in the boxes are the API's.
    for (field, default) in [
        ("key_groups", "4"),
        ("key_group_size", "5"),
        ("max_activations", "1"),
        ("floating_timeout", "30"),
        ("license_file_ttl_days", "30"),
    ] {
        assert!(form.text.contains(&format!(r#"name="{field}" value="{default}""#)), "{field}");
    }
}

async fn a_trial_template_made_in_the_form_is_the_one_client_trial_issues_from(app: TestApp) {
    let product = app.product("app").await;
    let (mut b, csrf) = admin(&app).await;
    let page = b.get(&format!("/ui/catalog/products/{product}")).await;
    assert!(page.text.contains("This product offers no trial"), "{}", page.text);
    let t = submit(
        &mut b,
        &csrf,
        &format!("/ui/catalog/products/{product}/templates"),
        &pairs(&template_form(&[
            ("name", "14-day trial"),
            ("code", "trial"),
            ("is_trial", "true"),
            ("trial_days", "14"),
        ])),
    )
    .await;
    assert_eq!(t.status, 303, "{}", t.text);
    let page = b.get(&format!("/ui/catalog/products/{product}")).await;
    let setup = plain(&page.text);
    assert!(
        setup.contains(
            "POST /api/v1/client/trial with \"product\": \"app\" issues a license from 14-day trial (trial): 14 days"
        ),
        "{setup}"
    );
    let r = app
        .call(
            reqwest::Method::POST,
            "/api/v1/client/trial",
            None,
            Some(crate::common::Body::Json(json!({"product": "app", "hardware_id": "visitor-1"}))),
        )
        .await;
    assert_eq!(r.body["code"], "TRIAL", "{}", r.text);
    let lic = app.get("/api/v1/licenses/?is_trial=true").await.body;
    let tid = app.get("/api/v1/license-templates/?code=trial").await.body["results"][0]["id"].clone();
    assert_eq!(lic["results"][0]["license_template"], tid);
}

async fn the_catalog_pages_products_and_a_manager_sees_only_its_own(app: TestApp) {
    for i in 0..25 {
        app.product(&format!("p{i:02}")).await;
    }
    let (mut b, _) = admin(&app).await;
    let first = b.get("/ui/catalog").await;
    assert!(
        first.text.contains("1–20 of 25") && first.text.contains(r#"href="/ui/catalog?offset=20">Next</a>"#),
        "{}",
        first.text
    );
    assert!(first.text.contains(">p19<") && !first.text.contains(">p20<"));
    let next = b.get("/ui/catalog?offset=20").await;
    assert!(
        next.text.contains("21–25 of 25") && next.text.contains(">p24<") && !next.text.contains(">p00<"),
        "{}",
        next.text
    );
    assert_eq!(b.get("/ui/catalog?offset=-1").await.status, 400);

    user(&app, "max@acme.com", "", Role::Manager, &["p03"]).await;
    let mut m = Browser::new(&app);
    m.sign_in("max@acme.com").await;
    let page = m.get("/ui/catalog").await;
    assert!(page.text.contains(">p03<") && !page.text.contains(">p04<"), "{}", page.text);
    let other = app.get("/api/v1/products/?short_code=p04").await.body["results"][0]["id"].as_i64().unwrap();
    assert_eq!(m.get(&format!("/ui/catalog/products/{other}")).await.status, 404);
}

/// The form of a delete confirmation on a page: its action and its button.
fn delete_confirmation(page: &Page, action: &str, what: &str) -> bool {
    page.text.contains(&format!(
        r#"<details class="confirm"><summary>Delete…</summary><form method="post" action="{action}">"#
    )) && page.text.contains(&format!("Confirm: delete the {what}"))
}

async fn an_admin_deletes_a_feature_a_template_and_a_product_behind_a_confirmation(app: TestApp) {
    let product = app.product("app").await;
    let f = app.post("/api/v1/product-features", json!({"product": product, "code": "export", "name": "Export"})).await;
    let fid = f.body["id"].as_i64().unwrap();
    let granting = json!({"is_trial": true, "trial_days": 14, "features": [{"code": "export"}]});
    let t = app.template(product, "trial", granting).await;
    let (mut b, csrf) = admin(&app).await;

    // The feature: its page says what deleting it does; the template that granted it no longer does.
    let page = b.get(&format!("/ui/catalog/features/{fid}")).await;
    assert!(delete_confirmation(&page, &format!("/ui/catalog/features/{fid}/delete"), "feature"), "{}", page.text);
    assert!(plain(&page.text).contains("a client's consumption of it answers 404 FEATURE_NOT_FOUND"), "{}", page.text);
    let p = submit(&mut b, &csrf, &format!("/ui/catalog/features/{fid}/delete"), &[]).await;
    assert_eq!(
        (p.status, p.location()),
        (303, format!("/ui/catalog/products/{product}?done=feature_deleted#features").as_str()),
        "{}",
        p.text
    );
    assert!(b.get(p.location()).await.text.contains("The feature was deleted"));
    assert_eq!(app.get(&format!("/api/v1/product-features/{fid}")).await.status, 404);
    assert_eq!(app.get(&format!("/api/v1/license-templates/{t}")).await.body["features"], json!([]));

    // The template: the product's trial template, which its page says.
    let page = b.get(&format!("/ui/catalog/templates/{t}")).await;
    assert!(delete_confirmation(&page, &format!("/ui/catalog/templates/{t}/delete"), "license template"));
    assert!(plain(&page.text).contains("the product offers no trial (404 NO_TRIAL)"), "{}", page.text);
    let p = submit(&mut b, &csrf, &format!("/ui/catalog/templates/{t}/delete"), &[]).await;
    assert_eq!(
        (p.status, p.location()),
        (303, format!("/ui/catalog/products/{product}?done=template_deleted#templates").as_str()),
        "{}",
        p.text
    );
    let page = b.get(p.location()).await;
    assert!(page.text.contains("The license template was deleted.") && page.text.contains("No license templates yet"));
    assert_eq!(app.get(&format!("/api/v1/license-templates/{t}")).await.status, 404);

    // The product, now unused: back to the catalog, which says so.
    let page = b.get(&format!("/ui/catalog/products/{product}")).await;
    assert!(delete_confirmation(&page, &format!("/ui/catalog/products/{product}/delete"), "product"), "{}", page.text);
    let p = submit(&mut b, &csrf, &format!("/ui/catalog/products/{product}/delete"), &[]).await;
    assert_eq!((p.status, p.location()), (303, "/ui/catalog?done=product_deleted"), "{}", p.text);
    let page = b.get(p.location()).await;
    assert!(page.text.contains("The product was deleted.") && page.text.contains("No products yet."), "{}", page.text);
    assert_eq!(app.get(&format!("/api/v1/products/{product}")).await.status, 404);
    assert_eq!(b.get(&format!("/ui/catalog/products/{product}")).await.status, 404);

    // Each in the audit log with the person's name and what it was.
    for (action, id, name) in [
        ("product_feature.deleted", fid, "Export"),
        ("license_template.deleted", t, "Template trial"),
        ("product.deleted", product, "Product app"),
    ] {
        let ev = app.get(&format!("/api/v1/events/?action={action}")).await.body;
        assert_eq!(ev["count"], 1, "{action}: {ev}");
        let e = &ev["results"][0];
        assert_eq!((&e["actor"], &e["resource_id"]), (&json!("Ana Lima <ana@acme.com>"), &json!(id)), "{e}");
        let before = &e["before"];
        assert!(before["name"] == name || before["product_name"] == name, "{action}: {e}");
    }
}

async fn a_product_in_use_is_not_deleted_and_its_page_says_why(app: TestApp) {
    let product = app.product("app").await;
    let t = app.template(product, "personal", json!({})).await;
    app.license(json!({"product": "app"})).await;
    let (mut b, csrf) = admin(&app).await;
    let before = (app.count("products").await, app.count("license_templates").await, app.count("events").await);
    let page = b.get(&format!("/ui/catalog/products/{product}")).await;
    assert!(plain(&page.text).contains("delete those first (it has 1 license template)"), "{}", page.text);

    let p = submit(&mut b, &csrf, &format!("/ui/catalog/products/{product}/delete"), &[]).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(
        p.text.contains(
            "Not deleted: the product still has licenses or license templates; delete those first. Nothing was changed."
        ),
        "{}",
        p.text
    );
    assert!(p.text.contains("Template personal"), "the product's page as it is: {}", p.text);
    // Its template gone, the license still holds it.
    app.delete(&format!("/api/v1/license-templates/{t}")).await;
    let p = submit(&mut b, &csrf, &format!("/ui/catalog/products/{product}/delete"), &[]).await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(p.text.contains("Not deleted: the product still has licenses"), "{}", p.text);
    let after = (app.count("products").await, app.count("license_templates").await, app.count("events").await);
    assert_eq!(after, (before.0, before.1 - 1, before.2 + 1), "only the API's template delete wrote");
    assert_eq!(app.get(&format!("/api/v1/products/{product}")).await.status, 200);
    assert_eq!(app.list_count("/api/v1/events/?action=product.deleted").await, 0);
}

async fn only_an_admin_with_the_forms_token_deletes_catalog_records(app: TestApp) {
    let product = app.product("app").await;
    let f = app.post("/api/v1/product-features", json!({"product": product, "code": "export", "name": "Export"})).await;
    let fid = f.body["id"].as_i64().unwrap();
    let t = app.template(product, "personal", json!({})).await;
    let deletes = [
        format!("/ui/catalog/products/{product}/delete"),
        format!("/ui/catalog/features/{fid}/delete"),
        format!("/ui/catalog/templates/{t}/delete"),
    ];
    let counts = async || {
        (
            app.count("products").await,
            app.count("product_features").await,
            app.count("license_templates").await,
            app.count("events").await,
        )
    };
    let before = counts().await;

    // Support and a manager of the product: no Delete on the pages, and a post is refused.
    user(&app, "sam@acme.com", "Sam", Role::Support, &[]).await;
    user(&app, "max@acme.com", "Max", Role::Manager, &["app"]).await;
    for (email, role) in [("sam@acme.com", "support"), ("max@acme.com", "manager")] {
        let mut b = Browser::new(&app);
        b.sign_in(email).await;
        for page in [
            format!("/ui/catalog/products/{product}"),
            format!("/ui/catalog/features/{fid}"),
            format!("/ui/catalog/templates/{t}"),
        ] {
            let page = b.get(&page).await;
            assert_eq!(page.status, 200, "{}", page.text);
            assert!(!page.text.contains("Delete…") && !page.text.contains("/delete"), "{email}: {}", page.text);
        }
        let csrf = b.get("/ui/catalog").await.csrf();
        for path in &deletes {
            let p = submit(&mut b, &csrf, path, &[]).await;
            assert_eq!(p.status, 403, "{email} {path}: {}", p.text);
            assert!(p.text.contains(role), "the refusal names the role: {}", p.text);
        }
    }

    // An admin's post without the form's token, or with another one, or from another site.
    let (mut b, csrf) = admin(&app).await;
    for path in &deletes {
        let p = b.post(path, &[]).await;
        assert_eq!(p.status, 403, "{path}: {}", p.text);
        assert!(p.text.contains("Nothing was changed"), "{}", p.text);
        assert_eq!(b.post(path, &[("csrf", "lsd_guess")]).await.status, 403);
    }
    assert_eq!(counts().await, before, "nothing was deleted or recorded");
    // The same admin with the token deletes (so the refusals were the token's).
    let p = submit(&mut b, &csrf, &deletes[2], &[]).await;
    assert_eq!(p.status, 303, "{}", p.text);
    assert_eq!(app.count("license_templates").await, before.2 - 1);
}
