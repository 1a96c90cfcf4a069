//! `/metrics` after real requests, on both backends: what the client API decided (activations, checks,
//! deactivations, trials, consumption, refusals by route and code), rate-limit refusals, database errors and
//! `licensd_db_up`, signing-key refresh failures, `licensd_build_info`, the process, and the two text formats.

use licensd_server::AppState;
use licensd_server::limits::RateLimits;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;

crate::backend_tests!(
    client_api_decisions_are_counted_by_code,
    metrics_answer_the_classic_text_unless_openmetrics_is_asked_for,
    database_errors_and_key_refresh_failures_are_counted,
);

macro_rules! limited_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Backend::Sqlite, super::limited).await {
                        super::$name(app).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Backend::Postgres, super::limited).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

limited_tests!(rate_limit_refusals_are_counted_by_limit);

/// One request per license key, two trials and three client requests per address, three management requests per token
/// (every bucket full at start: that many pass, the next is refused).
fn limited(s: AppState) -> AppState {
    s.with_rate_limits(&RateLimits {
        client_ip: "3/h".parse().unwrap(),
        client_key: "1/h".parse().unwrap(),
        trial_ip: "2/h".parse().unwrap(),
        token: "3/h".parse().unwrap(),
    })
}

async fn scrape(app: &TestApp) -> String {
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

/// The value of one series, `name{labels}` exactly as written (`name` alone for one without labels).
#[track_caller]
fn value(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    let line = text.lines().find_map(|l| l.strip_prefix(&prefix));
    line.unwrap_or_else(|| panic!("no series {series} in\n{text}")).trim().parse().expect("a number")
}

async fn client(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r =
        app.call(Method::POST, &format!("/api/v1/client/{path}"), None, Some(crate::common::Body::Json(body))).await;
    (r.status, r.body)
}

fn req(key: &str, hw: &str) -> Value {
    json!({"license_key": key, "hardware_id": hw, "product": "app"})
}

async fn client_api_decisions_are_counted_by_code(app: TestApp) {
    let p = app.product("app").await;
    let license = app.license(json!({"product": "app", "max_activations": 1})).await;
    let key = license["license_key"].as_str().unwrap().to_string();
    let before = scrape(&app).await;
    // Every expected code is there from the start, at zero.
    for series in [
        r#"licensd_client_activations_total{code="ACTIVATED"}"#,
        r#"licensd_client_activations_total{code="TOO_MANY_ACTIVATIONS"}"#,
        r#"licensd_client_checks_total{code="VALID"}"#,
        r#"licensd_client_checks_total{code="EXPIRED"}"#,
        r#"licensd_client_trials_total{code="STARTED"}"#,
        r#"licensd_client_consumptions_total{code="CONSUMED"}"#,
        r#"licensd_client_deactivations_total{code="DEACTIVATED"}"#,
    ] {
        assert_eq!(value(&before, series), 0.0, "{series}");
    }

    assert_eq!(client(&app, "activate", req(&key, "hw-1")).await.0, 201);
    assert_eq!(client(&app, "activate", req(&key, "hw-1")).await.0, 200);
    assert_eq!(client(&app, "activate", req(&key, "hw-2")).await.0, 409);
    assert_eq!(client(&app, "activate", req("NO-SUCH-KEY", "hw-1")).await.0, 404);
    for _ in 0..3 {
        assert_eq!(client(&app, "check", req(&key, "hw-1")).await.1["code"], "VALID");
    }
    assert_eq!(client(&app, "check", req(&key, "hw-2")).await.1["code"], "NOT_ACTIVATED");
    assert_eq!(client(&app, "check", req("NO-SUCH-KEY", "hw-1")).await.1["code"], "NOT_FOUND");
    // Bad input is refused before the store decides: a client API refusal, not a check verdict.
    assert_eq!(client(&app, "check", json!({"license_key": key})).await.0, 400);
    assert_eq!(client(&app, "deactivate", req(&key, "hw-2")).await.0, 404);
    assert_eq!(client(&app, "deactivate", req(&key, "hw-1")).await.0, 200);
    // Trials: none offered yet, then a start and a resume.
    assert_eq!(client(&app, "trial", json!({"product": "app", "hardware_id": "t-1"})).await.0, 404);
    app.template(p, "trial", json!({"is_trial": true, "trial_days": 14})).await;
    assert_eq!(client(&app, "trial", json!({"product": "app", "hardware_id": "t-1"})).await.0, 201);
    assert_eq!(client(&app, "trial", json!({"product": "app", "hardware_id": "t-1"})).await.0, 200);
    // Consumption: 4 + 5 accepted, 2 over the limit of 10.
    app.template(p, "metered", json!({"license_type": "consumption", "max_consumptions": 10})).await;
    let metered =
        app.license(json!({"license_template": "metered"})).await["license_key"].as_str().unwrap().to_string();
    assert_eq!(client(&app, "activate", req(&metered, "m-1")).await.0, 201);
    for (n, status) in [(4, 200), (5, 200), (2, 409)] {
        let mut body = req(&metered, "m-1");
        body["consumptions"] = json!(n);
        assert_eq!(client(&app, "consumption", body).await.0, status);
    }
    // A path the client API does not have is refused too.
    assert_eq!(client(&app, "no-such-operation", json!({})).await.0, 404);
    // A disabled license checks as DISABLED (still a 200).
    let disabled = app.post(&format!("/api/v1/licenses/{}/disable", license["id"]), json!({})).await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_eq!(client(&app, "check", req(&key, "hw-1")).await.1["code"], "DISABLED");

    let m = scrape(&app).await;
    for (series, want) in [
        (r#"licensd_client_activations_total{code="ACTIVATED"}"#, 2.0),
        (r#"licensd_client_activations_total{code="ALREADY_ACTIVE"}"#, 1.0),
        (r#"licensd_client_activations_total{code="TOO_MANY_ACTIVATIONS"}"#, 1.0),
        (r#"licensd_client_activations_total{code="NOT_FOUND"}"#, 1.0),
        (r#"licensd_client_checks_total{code="VALID"}"#, 3.0),
        (r#"licensd_client_checks_total{code="NOT_ACTIVATED"}"#, 1.0),
        (r#"licensd_client_checks_total{code="NOT_FOUND"}"#, 1.0),
        (r#"licensd_client_checks_total{code="DISABLED"}"#, 1.0),
        (r#"licensd_client_checks_total{code="EXPIRED"}"#, 0.0),
        (r#"licensd_client_deactivations_total{code="DEACTIVATED"}"#, 1.0),
        (r#"licensd_client_deactivations_total{code="NOT_ACTIVATED"}"#, 1.0),
        (r#"licensd_client_trials_total{code="NO_TRIAL"}"#, 1.0),
        (r#"licensd_client_trials_total{code="STARTED"}"#, 1.0),
        (r#"licensd_client_trials_total{code="RESUMED"}"#, 1.0),
        (r#"licensd_client_consumptions_total{code="CONSUMED"}"#, 2.0),
        (r#"licensd_client_consumptions_total{code="CONSUMPTION_LIMIT"}"#, 1.0),
        ("licensd_client_consumed_units_total", 9.0),
        (r#"licensd_client_refusals_total{route="/api/v1/client/activate",code="TOO_MANY_ACTIVATIONS"}"#, 1.0),
        (r#"licensd_client_refusals_total{route="/api/v1/client/activate",code="NOT_FOUND"}"#, 1.0),
        (r#"licensd_client_refusals_total{route="/api/v1/client/check",code="MISSING_FIELD"}"#, 1.0),
        (r#"licensd_client_refusals_total{route="/api/v1/client/deactivate",code="NOT_ACTIVATED"}"#, 1.0),
        (r#"licensd_client_refusals_total{route="/api/v1/client/trial",code="NO_TRIAL"}"#, 1.0),
        (r#"licensd_client_refusals_total{route="/api/v1/client/consumption",code="CONSUMPTION_LIMIT"}"#, 1.0),
        (r#"licensd_client_refusals_total{route="unmatched",code="NOT_FOUND"}"#, 1.0),
        (r#"licensd_http_requests_total{method="POST",route="/api/v1/client/check",status="200"}"#, 6.0),
    ] {
        assert_eq!(value(&m, series), want, "{series}");
    }
    // Check verdicts are not refusals: every check answered 200 but the malformed one.
    let check_refusals: Vec<&str> =
        m.lines().filter(|l| l.starts_with(r#"licensd_client_refusals_total{route="/api/v1/client/check""#)).collect();
    assert_eq!(check_refusals.len(), 1, "{check_refusals:?}");
    // Labels are codes and route templates, never what a request sent.
    for sent in [key.as_str(), metered.as_str(), "NO-SUCH-KEY", "hw-1", "no-such-operation"] {
        assert!(!m.contains(sent), "{sent} leaked into /metrics");
    }
}

async fn metrics_answer_the_classic_text_unless_openmetrics_is_asked_for(app: TestApp) {
    app.get("/api/v1/products").await;
    let http = reqwest::Client::new();
    let get = |accept: Option<&'static str>| {
        let mut rb = http.get(format!("{}/metrics", app.url));
        if let Some(a) = accept {
            rb = rb.header("Accept", a);
        }
        async move {
            let res = rb.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let ct = res.headers()["content-type"].to_str().unwrap().to_string();
            (ct, res.text().await.unwrap())
        }
    };
    for accept in
        [None, Some("*/*"), Some("text/plain"), Some("text/plain;version=0.0.4,application/openmetrics-text;q=0.5")]
    {
        let (ct, text) = get(accept).await;
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8", "{accept:?}");
        // Classic: a counter's TYPE names its samples (`_total`), info is a gauge, no `# EOF`.
        assert!(text.contains("# TYPE licensd_http_requests_total counter\n"), "{text}");
        assert!(text.contains("# TYPE licensd_build_info gauge\n"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                text.lines().any(|l| !l.starts_with('#') && l.starts_with(name)),
                "every family has samples under its TYPE name: {name}"
            );
        }
    }
    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,\
                      text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let (ct, om) = get(Some(prometheus)).await;
    assert_eq!(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.contains("# TYPE licensd_http_requests counter\n"), "{om}");
    assert!(om.contains("# TYPE licensd_build info\n"), "{om}");
    assert!(om.trim_end().ends_with("# EOF"), "{om}");

    let (_, text) = get(None).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(value(&text, &format!(r#"licensd_build_info{{version="{version}"}}"#)), 1.0);
    assert_eq!(value(&text, "licensd_db_up"), 1.0);
    assert_eq!(value(&text, r#"licensd_db_errors_total{kind="unavailable"}"#), 0.0);
    assert!(
        text.contains(r#"licensd_http_request_duration_seconds_count{method="GET",route="/api/v1/products"} 1"#),
        "{text}"
    );
    if cfg!(target_os = "linux") {
        assert!(value(&text, "process_resident_memory_bytes") > 1e6);
        assert!(value(&text, "process_open_fds") > 0.0);
        assert!(value(&text, "process_max_fds") > 0.0);
        assert!(value(&text, "process_start_time_seconds") > 1.7e9);
        value(&text, "process_cpu_seconds_total");
    }
}

async fn database_errors_and_key_refresh_failures_are_counted(app: TestApp) {
    app.product("app").await;
    let key = app.license(json!({"product": "app"})).await["license_key"].as_str().unwrap().to_string();
    let m = scrape(&app).await;
    assert_eq!(value(&m, "licensd_signing_key_refresh_failures_total"), 0.0);
    assert_eq!(value(&m, r#"licensd_db_errors_total{kind="unavailable"}"#), 0.0);
    app.state.refresh_key().await.expect("a refresh with the database up");
    // The pool is closed under the running server: what reads through it fails as unavailable (503). SQLite's
    // writer and point-read connections are not pooled and may still answer; each 503 is one error counted.
    app.db.close().await;
    let mut unavailable = 0.0;
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.status, 503);
    unavailable += 1.0;
    let r = app.call(Method::GET, "/api/v1/products", Some(&app.admin), None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    unavailable += 1.0;
    let (activate, body) = client(&app, "activate", req(&key, "hw-1")).await;
    assert!([201, 503].contains(&activate), "{body}");
    if activate == 503 {
        unavailable += 1.0;
    }
    assert!(app.state.refresh_key().await.is_err());
    unavailable += 1.0;

    let m = scrape(&app).await;
    assert_eq!(value(&m, "licensd_db_up"), 0.0);
    assert_eq!(value(&m, r#"licensd_db_errors_total{kind="unavailable"}"#), unavailable, "{m}");
    assert_eq!(value(&m, r#"licensd_db_errors_total{kind="error"}"#), 0.0);
    assert_eq!(value(&m, "licensd_signing_key_refresh_failures_total"), 1.0);
    let (refused, activated) = if activate == 503 { (1.0, 0.0) } else { (0.0, 1.0) };
    let series = r#"licensd_client_refusals_total{route="/api/v1/client/activate",code="UNAVAILABLE"}"#;
    assert_eq!(if m.contains(series) { value(&m, series) } else { 0.0 }, refused);
    // A database failure is not a business outcome.
    assert_eq!(value(&m, r#"licensd_client_activations_total{code="ACTIVATED"}"#), activated);
}

async fn rate_limit_refusals_are_counted_by_limit(app: TestApp) {
    app.product("app").await;
    let a = app.license(json!({"product": "app"})).await["license_key"].as_str().unwrap().to_string();
    let b = app.license(json!({"product": "app"})).await["license_key"].as_str().unwrap().to_string();
    // Per key: one request of key a passes, the second is refused (the address has used 2 of 3).
    assert_eq!(client(&app, "check", req(&a, "hw")).await.0, 200);
    assert_eq!(client(&app, "check", req(&a, "hw")).await.0, 429);
    // Per address: the third request passes, the fourth is refused before its key is read.
    assert_eq!(client(&app, "check", req(&b, "hw")).await.0, 200);
    assert_eq!(client(&app, "check", req(&b, "hw")).await.0, 429);
    // Trials have their own bucket per address: two pass (refused as NO_TRIAL: no trial template), then 429.
    for want in [404, 404, 429] {
        assert_eq!(client(&app, "trial", json!({"product": "app", "hardware_id": "t"})).await.0, want);
    }
    // Per token: the admin token made 3 requests above (product, two licenses): the next is refused.
    assert_eq!(app.get("/api/v1/products").await.status, 429);

    let m = scrape(&app).await;
    for (limit, want) in [("client_key", 1.0), ("client_ip", 1.0), ("trial", 1.0), ("token", 1.0)] {
        assert_eq!(value(&m, &format!(r#"licensd_rate_limited_total{{limit="{limit}"}}"#)), want, "{limit}: {m}");
    }
    assert_eq!(value(&m, r#"licensd_client_refusals_total{route="/api/v1/client/check",code="RATE_LIMITED"}"#), 2.0);
    assert_eq!(value(&m, r#"licensd_client_refusals_total{route="/api/v1/client/trial",code="RATE_LIMITED"}"#), 1.0);
    // A refused request decided nothing.
    assert_eq!(value(&m, r#"licensd_client_checks_total{code="NOT_ACTIVATED"}"#), 2.0);
}
