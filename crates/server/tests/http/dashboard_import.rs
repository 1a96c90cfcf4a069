//! The dashboard's Import (admins only): a DevMate export uploaded through the page's form is applied in the
//! background as `licensd import devmate` applies it, its progress and per-record report read from the
//! database; a re-upload changes nothing; a bad record is reported and the rest applied; a file that is no
//! export, a body over the limit, a form without its CSRF token and anyone but an admin are refused with
//! nothing applied; the run is in the audit log with the person's name.

use licensd_core::model::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, streamed};
use crate::dashboard::{Browser, Page, user};

crate::backend_tests!(
    an_uploaded_export_is_imported_in_the_background_and_reported_record_by_record,
    uploading_again_changes_nothing_and_new_licenses_of_a_known_customer_are_updates,
    a_bad_record_is_reported_with_its_position_and_the_others_are_applied,
    a_file_that_is_no_export_is_refused_on_the_page_and_nothing_is_applied,
    an_upload_over_the_limit_is_refused_with_413_and_nothing_is_applied,
    an_upload_without_its_csrf_token_or_from_another_site_is_refused,
    only_admins_see_and_use_the_import,
    a_run_whose_instance_stopped_reads_as_interrupted,
    hostile_text_in_the_file_or_its_name_is_stored_and_shown_escaped,
);

const ANA: &str = "Ana Lima <ana@acme.com>";
const BOUNDARY: &str = "licensd-test-boundary-7MA4YWxkTrZu0gW";

/// An admin `ana@acme.com` (Ana Lima), signed in.
async fn admin(app: &TestApp) -> Browser {
    user(app, "ana@acme.com", "Ana Lima", Role::Admin, &[]).await;
    let mut b = Browser::new(app);
    b.sign_in("ana@acme.com").await;
    b
}

/// A `multipart/form-data` body as a browser sends the import form: the CSRF token (if any), then the file.
fn form(csrf: Option<&str>, file_name: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(c) = csrf {
        body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{c}\r\n").as_bytes());
    }
    body.extend(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Posts `body` to `/ui/import` as the form does.
async fn post_form(app: &TestApp, b: &mut Browser, body: Vec<u8>) -> Page {
    let rb = b.client.post(format!("{}/ui/import", app.url)).header("Content-Type", content_type()).body(body);
    b.send(rb).await
}

/// Uploads `file` through the import page's form (with the page's CSRF token).
async fn upload(app: &TestApp, b: &mut Browser, file_name: &str, file: &[u8]) -> Page {
    let page = b.get("/ui/import").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = page.csrf();
    post_form(app, b, form(Some(&csrf), file_name, file)).await
}

/// Uploads `file`, follows the redirect to the run's page and waits for the run to end; the run's progress.
async fn import(app: &TestApp, b: &mut Browser, file: &[u8]) -> (i64, Value) {
    let p = upload(app, b, "devmate-export.json", file).await;
    assert_eq!(p.status, 303, "{}", p.text);
    let id: i64 = p.location().strip_prefix("/ui/import/").expect("the run's page").parse().unwrap();
    (id, wait(b, id).await)
}

/// The run's progress once it is no longer running.
async fn wait(b: &mut Browser, id: i64) -> Value {
    for _ in 0..600 {
        let p = b.get(&format!("/ui/import/{id}/progress")).await;
        assert_eq!(p.status, 200, "{}", p.text);
        let v: Value = serde_json::from_str(&p.text).unwrap();
        if v["state"] != "running" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import run {id} still running after 30 s");
}

fn product(id: i64) -> Value {
    match id {
        1 => json!({"id": 1, "name": "MyNewApp", "bundle_id": "com.acme.MyNewApp", "use_offline_license": false}),
        _ => json!({"id": 2, "name": "Cleaner", "bundle_id": "com.acme.Cleaner", "use_offline_license": true}),
    }
}

fn license(id: i64, type_id: i64, type_name: &str, products: &[i64], extra: Value) -> Value {
    let mut l = json!({"license_type_name": type_name, "license_type_id": type_id, "invoice": "", "campaign": "",
        "date_created": 1446563864, "activations_used": 0, "id": id, "expiration_date": null,
        "products": products.iter().map(|p| product(*p)).collect::<Vec<_>>(), "is_subscription": false, "status": 1,
        "activations_total": 65535, "activation_key": format!("id5933113{id:05}odr"),
        "history": [{"type": 2, "user_name": "", "note": "", "timestamp": 1446563864}]});
    l.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    l
}

fn customer(id: i64, email: &str, licenses: Vec<Value>) -> Value {
    json!({"data": {"id": id, "email": email, "first_name": "F", "last_name": "L", "company": "", "phone": "",
        "address": "", "note": "", "date_added": 1443185520, "licenses": licenses}})
}

/// Three customers as DevMate exported them: one with an activated license and a bundle license, one with a
/// subscription, one without licenses.
fn fixture() -> Vec<Value> {
    vec![
        customer(
            45,
            "jdoe@acme.corp",
            vec![
                license(
                    1185,
                    26,
                    "MyNewApp Single User License",
                    &[1],
                    json!({
                    "invoice": "CORP150902-0339-893098", "campaign": "spring", "activations_used": 1, "status": 2,
                    "activation_key": "id593311373237odr",
                    "history": [{"type": 2, "user_name": "", "note": "", "timestamp": 1446563864},
                                {"type": 1, "timestamp": 1446570000, "user_name": "", "note": "", "activation_id": 1509013782987i64,
                                 "identifiers": "ff:ff:ff:aa:aa:aa", "activation_name": "Act Name", "deactivated": 0}]}),
                ),
                license(
                    1186,
                    29,
                    "Acme Bundle",
                    &[1, 2],
                    json!({"status": 4, "activations_total": 3,
                    "history": [{"type": 2, "user_name": "", "note": "", "timestamp": 1446563864},
                                {"type": 4, "user_name": "Jane Admin", "note": "chargeback", "timestamp": 1446600000}]}),
                ),
            ],
        ),
        customer(
            46,
            "zoe@example.com",
            vec![license(
                2002,
                30,
                "Cleaner Yearly",
                &[2],
                json!({"is_subscription": true, "expiration_date": 1893456000,
                "activations_total": 1}),
            )],
        ),
        customer(47, "nolicenses@example.com", vec![]),
    ]
}

/// The format `licensd export devmate` writes: a JSON array, one record per line.
fn export(records: &[Value]) -> Vec<u8> {
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    format!("[\n{}\n]\n", lines.join(",\n")).into_bytes()
}

fn counts(p: &Value) -> [i64; 5] {
    ["records_done", "created", "updated", "unchanged", "failed"].map(|k| p[k].as_i64().unwrap())
}

/// The actors of the events of `action`, oldest first.
async fn actors(app: &TestApp, action: &str) -> Vec<Value> {
    let ev = app.get(&format!("/api/v1/events/?action={action}&order_by=id")).await;
    assert_eq!(ev.status, 200, "{}", ev.text);
    ev.body["results"].as_array().unwrap().iter().map(|e| e["actor"].clone()).collect()
}

async fn an_uploaded_export_is_imported_in_the_background_and_reported_record_by_record(app: TestApp) {
    let mut b = admin(&app).await;
    let p = upload(&app, &mut b, "devmate-export.json", &export(&fixture())).await;
    assert_eq!(p.status, 303, "{}", p.text);
    let run = p.location().to_string();
    let id: i64 = run.strip_prefix("/ui/import/").unwrap().parse().unwrap();
    // The run's page answers at once, running or done, with the way to refresh it without JavaScript.
    let page = b.get(&run).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Import #"), "{}", page.text);
    assert!(page.text.contains(r#"<progress id="import-progress""#), "{}", page.text);

    let done = wait(&mut b, id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["records_total"], 3);
    assert_eq!(counts(&done), [3, 3, 0, 0, 0], "{done}");
    assert_eq!(done["licenses_created"], 3);

    // What the import made, through the API, with DevMate's ids.
    let c = app.get("/api/v1/customers/45").await;
    assert_eq!((c.status, &c.body["email"]), (200, &json!("jdoe@acme.corp")), "{}", c.text);
    let l = app.get("/api/v1/licenses/1185").await;
    assert_eq!((l.status, &l.body["license_key"]), (200, &json!("id593311373237odr")), "{}", l.text);
    assert_eq!(app.get("/api/v1/licenses/1186").await.body["enabled"], false, "blocked in DevMate");
    let d = app.get("/v2/customers/46?with=licenses").await;
    assert_eq!(d.body["data"]["licenses"][0]["id"], 2002, "{}", d.text);
    assert_eq!(app.get("/api/v1/customers/47").await.status, 200);
    // The imported records are the importer's, as from the command line; the run is the person's.
    assert_eq!(actors(&app, "customer.imported").await, vec![json!("devmate-import"); 3]);
    assert_eq!(actors(&app, "devmate_import.started").await, vec![json!(ANA)]);
    assert_eq!(actors(&app, "devmate_import.finished").await, vec![json!(ANA)]);
    let ev = app.get("/api/v1/events/?action=devmate_import.finished").await;
    assert_eq!(ev.body["results"][0]["after"]["created"], 3, "{}", ev.text);
    assert_eq!(ev.body["results"][0]["resource_id"], id);

    // The finished page: its counts and each record's outcome, the customers linked.
    let page = b.get(&run).await;
    assert!(page.text.contains("The import is finished: 3 of 3 records"), "{}", page.text);
    assert!(!page.text.contains("data-poll"), "a finished run does not poll");
    assert!(page.text.contains(r#"<a href="/ui/customers/45">#45</a>"#), "{}", page.text);
    assert!(
        page.text.contains(
            "customer created; licenses: 2 created, 0 already there; products: 2 created; license types: 2 created"
        ),
        "{}",
        page.text
    );
    assert_eq!(page.text.matches("outcome-created").count(), 3, "{}", page.text);
    // The import page lists the run, with who ran it.
    let list = b.get("/ui/import").await;
    assert!(list.text.contains(&format!(r#"<a href="/ui/import/{id}">#{id}</a>"#)), "{}", list.text);
    assert!(list.text.contains("Ana Lima &lt;ana@acme.com&gt;"), "{}", list.text);
    // The home page counts what the import made at once, not 30 seconds later (its kept counts are dropped as
    // the run ends, a moment after its state reads done).
    let mut home = String::new();
    for _ in 0..100 {
        home = b.get("/").await.text;
        if home.contains(r#"<span class="n">3</span> licenses"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(home.contains(r#"<span class="n">3</span> licenses"#), "{home}");
}

async fn uploading_again_changes_nothing_and_new_licenses_of_a_known_customer_are_updates(app: TestApp) {
    let mut b = admin(&app).await;
    let file = export(&fixture());
    let (_, first) = import(&app, &mut b, &file).await;
    assert_eq!(counts(&first), [3, 3, 0, 0, 0], "{first}");
    let tables = ["customers", "licenses", "orders", "devices", "products", "license_templates"];
    let mut before = Vec::new();
    for t in tables {
        before.push(app.count(t).await);
    }
    let (_, again) = import(&app, &mut b, &file).await;
    assert_eq!((again["state"].as_str(), counts(&again)), (Some("done"), [3, 0, 0, 3, 0]), "{again}");
    let mut after = Vec::new();
    for t in tables {
        after.push(app.count(t).await);
    }
    assert_eq!(after, before, "a re-upload writes no record");

    // A later export: customer 47 bought a license meanwhile.
    let mut later = fixture();
    later[2]["data"]["licenses"] = json!([license(3001, 26, "MyNewApp Single User License", &[1], json!({}))]);
    let (id, third) = import(&app, &mut b, &export(&later)).await;
    assert_eq!(counts(&third), [3, 0, 1, 2, 0], "{third}");
    assert_eq!(app.get("/api/v1/licenses/3001").await.body["customer"]["id"], 47);
    let page = b.get(&format!("/ui/import/{id}?outcome=updated")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("customer already there; licenses: 1 created, 0 already there"), "{}", page.text);
    assert_eq!(page.text.matches("outcome-updated").count(), 1, "only the updated record: {}", page.text);
}

/// Five records (as the command line's test has them): a good one, an invalid status, one whose second license
/// takes the first's key, one whose email is the first's in other case, a good one.
fn bad_file() -> Vec<u8> {
    let good = |id: i64, email: &str, key: &str| {
        customer(
            id,
            email,
            vec![license(id * 10, 26, "T", &[1], json!({"activation_key": key, "activations_total": 1}))],
        )
    };
    let mut invalid = good(101, "b@example.com", "K-101");
    invalid["data"]["licenses"][0]["status"] = json!(9);
    let mut collides = good(102, "c@example.com", "K-102");
    let mut second = collides["data"]["licenses"][0].clone();
    second["id"] = json!(1021);
    second["activation_key"] = json!("K-100");
    collides["data"]["licenses"].as_array_mut().unwrap().push(second);
    export(&[
        good(100, "a@example.com", "K-100"),
        invalid,
        collides,
        good(103, "A@EXAMPLE.com", "K-103"),
        good(104, "e@example.com", "K-104"),
    ])
}

async fn a_bad_record_is_reported_with_its_position_and_the_others_are_applied(app: TestApp) {
    let mut b = admin(&app).await;
    let (id, done) = import(&app, &mut b, &bad_file()).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(counts(&done), [5, 2, 0, 0, 3], "{done}");
    assert_eq!(app.count("customers").await, 2);
    assert_eq!(app.count("licenses").await, 2, "customer #102's first license was not kept without its second");
    assert_eq!(app.get("/api/v1/customers/104").await.status, 200);

    let page = b.get(&format!("/ui/import/{id}?outcome=failed")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let rows: Vec<&str> = page.text.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 3, "{}", page.text);
    // Record, line, DevMate customer, outcome, the reason: the command line's words.
    assert!(rows[0].starts_with("<td>2</td><td>3</td><td>#101</td>"), "{}", rows[0]);
    assert!(rows[0].contains("customer #101: licenses[0].status: must be 1 to 5, not 9"), "{}", rows[0]);
    assert!(rows[1].starts_with("<td>3</td><td>4</td><td>#102</td>"), "{}", rows[1]);
    assert!(
        rows[1]
            .contains("licenses[1] (license #1021): activation key &quot;K-100&quot; belongs to license #1000 already"),
        "{}",
        rows[1]
    );
    assert!(rows[2].starts_with("<td>4</td><td>5</td><td>#103</td>"), "{}", rows[2]);
    assert!(rows[2].contains("email &quot;A@EXAMPLE.com&quot; belongs to customer #100 already"), "{}", rows[2]);
    assert!(page.text.contains(r#"<option value="failed" selected>failed</option>"#), "{}", page.text);
    // Every record is in the unfiltered report, in file order.
    let all = b.get(&format!("/ui/import/{id}")).await;
    assert!(all.text.contains("Records <span class=\"count\">(5)</span>"), "{}", all.text);
    let bad = b.get(&format!("/ui/import/{id}?outcome=nonsense")).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("outcome: must be one of created, updated, unchanged, failed."), "{}", bad.text);
}

async fn a_file_that_is_no_export_is_refused_on_the_page_and_nothing_is_applied(app: TestApp) {
    let mut b = admin(&app).await;
    let cases: [(&[u8], &str); 5] = [
        (b"hello, this is not JSON", "This file cannot be imported: the file is not valid JSON"),
        (b"[{\"data\": {\"id\": 1,", "This file cannot be imported: the file is not a valid JSON array"),
        (b"[\"\xff\xfe\"]", "This file cannot be imported: the file is not UTF-8 text"),
        (b"[]", "This file cannot be imported: the file holds no records"),
        (b"", "The file is empty: nothing was imported."),
    ];
    for (file, says) in cases {
        let p = upload(&app, &mut b, "export.json", file).await;
        assert_eq!(p.status, 400, "{says}: {}", p.text);
        assert!(p.text.contains(says), "{says}: {}", p.text);
        assert!(p.text.contains(r#"<input id="import-file" type="file""#), "the form is there to try again");
    }
    // No file chosen at all (the browser sends an empty part without a name).
    let csrf = b.get("/ui/import").await.csrf();
    let p = post_form(&app, &mut b, form(Some(&csrf), "", b"")).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("Choose a file to upload."), "{}", p.text);
    // Not a multipart form.
    let rb = b.client.post(format!("{}/ui/import", app.url)).form(&[("csrf", csrf.as_str()), ("file", "[]")]);
    let p = b.send(rb).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("send the form as multipart/form-data"), "{}", p.text);
    assert_eq!(app.count("devmate_import_runs").await, 0);
    assert_eq!(app.count("customers").await, 0);
    assert!(actors(&app, "devmate_import.started").await.is_empty());
}

async fn an_upload_over_the_limit_is_refused_with_413_and_nothing_is_applied(app: TestApp) {
    let mut b = admin(&app).await;
    let csrf = b.get("/ui/import").await.csrf();
    // A valid export just over 64 MiB: a customer whose note is large.
    let mut big = fixture();
    big[2]["data"]["note"] = json!("x".repeat(64 * 1024 * 1024));
    let body = form(Some(&csrf), "big.json", &export(&big));
    let p = post_form(&app, &mut b, body.clone()).await;
    assert_eq!(p.status, 413, "{}", &p.text[..p.text.len().min(300)]);
    assert!(p.text.contains("larger than 64 MiB"), "{}", p.text);
    assert!(p.text.contains("licensd import devmate FILE"), "{}", p.text);
    // Sent without a Content-Length, the limit holds as it arrives.
    let rb =
        b.client.post(format!("{}/ui/import", app.url)).header("Content-Type", content_type()).body(streamed(body));
    let p = b.send(rb).await;
    assert_eq!(p.status, 413, "{}", &p.text[..p.text.len().min(300)]);
    assert_eq!(app.count("devmate_import_runs").await, 0);
    assert_eq!(app.count("customers").await, 0);
    // Just under it is imported.
    big[2]["data"]["note"] = json!("");
    let (_, done) = import(&app, &mut b, &export(&big)).await;
    assert_eq!(counts(&done), [3, 3, 0, 0, 0], "{done}");
}

async fn an_upload_without_its_csrf_token_or_from_another_site_is_refused(app: TestApp) {
    let mut b = admin(&app).await;
    let file = export(&fixture());
    let p = post_form(&app, &mut b, form(None, "export.json", &file)).await;
    assert_eq!(p.status, 403, "{}", p.text);
    assert!(p.text.contains("could not be verified"), "{}", p.text);
    let p = post_form(&app, &mut b, form(Some("not-the-token"), "export.json", &file)).await;
    assert_eq!(p.status, 403, "{}", p.text);
    let csrf = b.get("/ui/import").await.csrf();
    let rb = b
        .client
        .post(format!("{}/ui/import", app.url))
        .header("Content-Type", content_type())
        .header("Origin", "https://evil.example")
        .body(form(Some(&csrf), "export.json", &file));
    let p = b.send(rb).await;
    assert_eq!(p.status, 403, "{}", p.text);
    // Without a session: no upload either.
    let mut anonymous = Browser::new(&app);
    let p = post_form(&app, &mut anonymous, form(Some(&csrf), "export.json", &file)).await;
    assert_eq!(p.status, 401, "{}", p.text);
    assert_eq!(app.count("devmate_import_runs").await, 0);
    assert_eq!(app.count("customers").await, 0);
}

async fn only_admins_see_and_use_the_import(app: TestApp) {
    let mut ana = admin(&app).await;
    let (id, _) = import(&app, &mut ana, &export(&fixture())[..]).await;
    assert!(ana.get("/").await.text.contains(r#"<a href="/ui/import">Import</a>"#));
    let customers = app.count("customers").await;
    user(&app, "sam@acme.com", "Sam Support", Role::Support, &[]).await;
    user(&app, "max@acme.com", "Max Manager", Role::Manager, &["com.acme.MyNewApp"]).await;
    for email in ["sam@acme.com", "max@acme.com"] {
        let mut b = Browser::new(&app);
        b.sign_in(email).await;
        let home = b.get("/").await;
        assert!(!home.text.contains(r#"href="/ui/import""#), "{email}: no Import in the navigation");
        for path in ["/ui/import".to_string(), format!("/ui/import/{id}"), format!("/ui/import/{id}/progress")] {
            let p = b.get(&path).await;
            assert_eq!(p.status, 403, "{email} {path}: {}", p.text);
        }
        let csrf = home.csrf();
        let mut other = fixture();
        other[2]["data"]["id"] = json!(99);
        other[2]["data"]["email"] = json!("other@example.com");
        let p = post_form(&app, &mut b, form(Some(&csrf), "export.json", &export(&other[2..]))).await;
        assert_eq!(p.status, 403, "{email}: {}", p.text);
    }
    assert_eq!(app.count("customers").await, customers);
    assert_eq!(app.count("devmate_import_runs").await, 1);
    // A run that does not exist is not found.
    assert_eq!(ana.get("/ui/import/999999").await.status, 404);
    assert_eq!(ana.get("/ui/import/nope").await.status, 404);
}

async fn a_run_whose_instance_stopped_reads_as_interrupted(app: TestApp) {
    let mut b = admin(&app).await;
    // A run its instance started and then stopped running (a crash, a restart): its state says running, and
    // its progress was last written two minutes ago. (The database is written here to stand for that instance.)
    let scope = licensd_store::Scope { actor: ANA.into(), ..licensd_store::Scope::system() };
    let run = licensd_store::devmate::runs::start(&app.db, &scope, "big.json", 1000, 500).await.unwrap();
    let fresh = b.get(&format!("/ui/import/{}/progress", run.id)).await;
    assert_eq!(serde_json::from_str::<Value>(&fresh.text).unwrap()["state"], "running");
    let page = b.get(&format!("/ui/import/{}", run.id)).await;
    assert!(page.text.contains(&format!(r#"data-poll="/ui/import/{}/progress""#, run.id)), "{}", page.text);
    assert!(page.text.contains(&format!(r#"<a href="/ui/import/{}">refresh</a>"#, run.id)), "{}", page.text);
    let old = licensd_core::time::now_ms() - 2 * licensd_store::devmate::runs::STALE_MS;
    app.db
        .execute(
            licensd_store::db::query("UPDATE devmate_import_runs SET heartbeat_at = ? WHERE id = ?")
                .bind(old)
                .bind(run.id),
        )
        .await
        .unwrap();
    let p = b.get(&format!("/ui/import/{}/progress", run.id)).await;
    assert_eq!(serde_json::from_str::<Value>(&p.text).unwrap()["state"], "interrupted", "{}", p.text);
    let page = b.get(&format!("/ui/import/{}", run.id)).await;
    assert!(page.text.contains("The import was interrupted"), "{}", page.text);
    assert!(!page.text.contains("data-poll"), "{}", page.text);
    assert!(b.get("/ui/import").await.text.contains("import-interrupted"));
}

async fn hostile_text_in_the_file_or_its_name_is_stored_and_shown_escaped(app: TestApp) {
    let mut b = admin(&app).await;
    let mut nul_name = customer(60, "nul@example.com", vec![]);
    nul_name["data"]["first_name"] = json!("Ann\u{0}<script>");
    let mut nul_id = customer(61, "id@example.com", vec![]);
    nul_id["data"]["id"] = json!("6\u{0}1");
    let mut markup = customer(62, "markup@example.com", vec![]);
    markup["data"]["company"] = json!("<img src=x onerror=alert(1)>");
    let file = export(&[nul_name, nul_id, markup]);
    // A NUL in the part's header is no form a browser sends: refused, nothing applied.
    let p = upload(&app, &mut b, "a\u{0}b.json", &file).await;
    assert_eq!(p.status, 400, "{}", p.text);
    assert!(p.text.contains("The upload could not be read"), "{}", p.text);
    assert_eq!(app.count("devmate_import_runs").await, 0);
    let p = upload(&app, &mut b, "<b>ab</b>.json", &file).await;
    assert_eq!(p.status, 303, "{}", p.text);
    let id: i64 = p.location().strip_prefix("/ui/import/").unwrap().parse().unwrap();
    let done = wait(&mut b, id).await;
    assert_eq!((done["state"].as_str(), counts(&done)), (Some("done"), [3, 1, 0, 0, 2]), "{done}");
    let page = b.get(&format!("/ui/import/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("&lt;b&gt;ab&lt;/b&gt;.json"), "{}", page.text);
    assert!(!page.text.contains("<script>") && !page.text.contains("<b>ab"), "{}", page.text);
    assert_eq!(app.get("/api/v1/customers/62").await.body["company_name"], "<img src=x onerror=alert(1)>");
}
