//! The front door on both backends: rate limits (client API per key, per address, `trial` per address, management
//! per token on `/api/v1` and `/v2`), pagination links that never reflect an untrusted scheme or host, capped
//! offsets, and `/metrics` labels that requests cannot multiply.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use licensd_core::model::Role;
use licensd_server::AppState;
use licensd_server::front_door::HttpConfig;
use licensd_server::limits::RateLimits;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};

/// Like `backend_tests!`, with the server's state configured by a function of this module.
macro_rules! configured_tests {
    ($($name:ident with $cfg:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Backend::Sqlite, super::$cfg).await {
                        super::$name(app).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Backend::Postgres, super::$cfg).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

configured_tests!(
    client_requests_over_the_per_key_limit_are_429_signed_with_the_nonce with per_key,
    client_requests_over_the_per_address_limit_are_429_signed_with_the_nonce with per_address,
    trial_has_the_strictest_limit_per_address with trials,
    management_tokens_are_limited_each_on_its_own with per_token,
    pagination_links_use_the_public_url with public_url,
    pagination_links_take_scheme_and_host_from_trusted_proxies_only with trusted_proxy,
);

crate::backend_tests!(
    pagination_links_never_reflect_an_untrusted_scheme_or_a_malformed_host,
    offsets_are_capped_and_links_never_wrap,
    metrics_method_labels_are_bounded,
);

fn trusting_localhost() -> HttpConfig {
    HttpConfig { trust_proxy: "127.0.0.1,::1".parse().unwrap(), ..HttpConfig::default() }
}

fn limits(client_ip: &str, client_key: &str, trial_ip: &str, token: &str) -> RateLimits {
    RateLimits {
        client_ip: client_ip.parse().unwrap(),
        client_key: client_key.parse().unwrap(),
        trial_ip: trial_ip.parse().unwrap(),
        token: token.parse().unwrap(),
    }
}

fn per_key(s: AppState) -> AppState {
    s.with_rate_limits(&limits("off", "3/h", "off", "off"))
}
fn per_address(s: AppState) -> AppState {
    s.with_rate_limits(&limits("3/h", "off", "off", "off")).with_http(trusting_localhost())
}
fn trials(s: AppState) -> AppState {
    s.with_rate_limits(&limits("100/s", "100/s", "2/h", "off")).with_http(trusting_localhost())
}
fn per_token(s: AppState) -> AppState {
    s.with_rate_limits(&limits("off", "off", "off", "3/h"))
}
fn public_url(s: AppState) -> AppState {
    s.with_http(HttpConfig {
        public_url: Some("https://lic.example.com/licensing/".parse().unwrap()),
        ..HttpConfig::default()
    })
}
fn trusted_proxy(s: AppState) -> AppState {
    s.with_http(trusting_localhost())
}

/// A client API answer with its signature checked.
struct Signed {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn key_of(app: &TestApp) -> VerifyingKey {
    let k = app.state.key();
    let bytes: [u8; 32] = STANDARD.decode(k.public_base64()).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&bytes).unwrap()
}

async fn client(app: &TestApp, path: &str, body: Value, forwarded_for: Option<&str>) -> Signed {
    let mut rb = reqwest::Client::new().post(format!("{}/api/v1/client/{path}", app.url)).json(&body);
    if let Some(ip) = forwarded_for {
        rb = rb.header("X-Forwarded-For", ip);
    }
    let res = rb.send().await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    let sig = res.headers().get("licensd-signature").map(|v| v.to_str().unwrap().to_string());
    let bytes = res.bytes().await.unwrap();
    let sig = Signature::from_slice(&STANDARD.decode(sig.expect("Licensd-Signature header")).unwrap()).unwrap();
    key_of(app).await.verify(&bytes, &sig).expect("the answer is signed");
    Signed { status, retry_after, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

#[track_caller]
fn rate_limited(r: &Signed, nonce: &str) {
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["errors"][0]["code"], "RATE_LIMITED", "{}", r.body);
    assert_eq!(r.body["code"], "RATE_LIMITED", "{}", r.body);
    assert_eq!(r.body["nonce"], nonce, "{}", r.body);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("per licensd instance"), "{}", r.body);
    let wait = r.retry_after.expect("Retry-After");
    assert!((1..=3600).contains(&wait), "{wait}");
}

async fn two_keys(app: &TestApp) -> (String, String) {
    app.product("app").await;
    let a = app.license(json!({"product": "app", "max_activations": 5})).await;
    let b = app.license(json!({"product": "app", "max_activations": 5})).await;
    (a["license_key"].as_str().unwrap().to_string(), b["license_key"].as_str().unwrap().to_string())
}

fn check(key: &str, nonce: &str) -> Value {
    json!({"license_key": key, "hardware_id": "hw-1", "product": "app", "nonce": nonce})
}

async fn client_requests_over_the_per_key_limit_are_429_signed_with_the_nonce(app: TestApp) {
    let (a, b) = two_keys(&app).await;
    assert_eq!(client(&app, "activate", check(&a, "n0"), None).await.status, 201);
    for i in 1..3 {
        let r = client(&app, "check", check(&a, &format!("n{i}")), None).await;
        assert_eq!((r.status, r.body["code"].as_str()), (200, Some("VALID")), "{}", r.body);
    }
    let r = client(&app, "check", check(&a, "n-over"), None).await;
    rate_limited(&r, "n-over");
    let devices_before = app.count("devices").await;
    let r = client(
        &app,
        "activate",
        json!({"license_key": a, "hardware_id": "hw-2", "product": "app", "nonce": "n-act"}),
        None,
    )
    .await;
    rate_limited(&r, "n-act");
    assert_eq!(app.count("devices").await, devices_before, "a refused activation writes nothing");
    // Another key is not affected.
    let r = client(&app, "check", check(&b, "nb"), None).await;
    assert_eq!((r.status, r.body["code"].as_str()), (200, Some("NOT_ACTIVATED")), "{}", r.body);
}

async fn client_requests_over_the_per_address_limit_are_429_signed_with_the_nonce(app: TestApp) {
    let (a, b) = two_keys(&app).await;
    let here = Some("203.0.113.7");
    for i in 0..3 {
        let key = if i % 2 == 0 { &a } else { &b };
        assert_eq!(client(&app, "check", check(key, "n"), here).await.status, 200);
    }
    // Any key, any client path: the address is over its limit. The body is still read for the nonce.
    rate_limited(&client(&app, "check", check(&b, "n-ip"), here).await, "n-ip");
    rate_limited(&client(&app, "activate", check(&a, "n-ip2"), here).await, "n-ip2");
    let r = client(&app, "check", json!({"nonce": 5}), here).await;
    assert_eq!((r.status, &r.body["nonce"]), (429, &Value::Null), "an unreadable nonce is not echoed: {}", r.body);
    // Another address (behind the same trusted proxy) is not affected; its IPv6 /64 counts as one.
    assert_eq!(client(&app, "check", check(&a, "n"), Some("203.0.113.8")).await.status, 200);
    for i in 0..3 {
        let ip = format!("2001:db8:1:2::{i}");
        assert_eq!(client(&app, "check", check(&a, "n"), Some(&ip)).await.status, 200, "{ip}");
    }
    assert_eq!(client(&app, "check", check(&a, "n"), Some("2001:db8:1:2:ffff::9")).await.status, 429);
    // The limit is the client API's: management calls from that address go on.
    assert_eq!(app.get("/api/v1/licenses").await.status, 200);
}

fn trial(hw: &str, nonce: &str) -> Value {
    json!({"product": "app", "hardware_id": hw, "nonce": nonce})
}

async fn trial_has_the_strictest_limit_per_address(app: TestApp) {
    let p = app.product("app").await;
    app.template(p, "trial", json!({"is_trial": true, "trial_days": 14})).await;
    let here = Some("198.51.100.1");
    for hw in ["t-1", "t-2"] {
        let r = client(&app, "trial", trial(hw, "n"), here).await;
        assert_eq!((r.status, r.body["code"].as_str()), (201, Some("TRIAL")), "{}", r.body);
    }
    let licenses = app.count("licenses").await;
    let r = client(&app, "trial", trial("t-3", "n-trial"), here).await;
    rate_limited(&r, "n-trial");
    assert_eq!(app.count("licenses").await, licenses, "a refused trial writes nothing");
    // Other client calls from that address are under their own, looser limit; another address may still try.
    let a = app.license(json!({"product": "app"})).await["license_key"].as_str().unwrap().to_string();
    assert_eq!(client(&app, "check", check(&a, "n"), here).await.status, 200);
    let r = client(&app, "trial", trial("t-4", "n"), Some("198.51.100.2")).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn management_tokens_are_limited_each_on_its_own(app: TestApp) {
    let busy = app.token("busy", Role::Admin, &[]).await;
    let calm = app.token("calm", Role::Admin, &[]).await;
    let dm = app.token("devmate", Role::Admin, &[]).await;
    for _ in 0..3 {
        assert_eq!(app.call(reqwest::Method::GET, "/api/v1/products", Some(&busy), None).await.status, 200);
    }
    let r = app.call(reqwest::Method::GET, "/api/v1/licenses", Some(&busy), None).await;
    let e = assert_error(&r, 429, "RATE_LIMITED");
    assert!(e["detail"].as_str().unwrap().contains("token"), "{e}");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=1200).contains(&wait), "{wait}");
    assert_eq!(app.call(reqwest::Method::GET, "/api/v1/products", Some(&calm), None).await.status, 200);

    // /v2 counts per token too, and answers in DevMate's shape.
    let v2 = |t: String| {
        let app = &app;
        async move {
            let r = reqwest::Client::new()
                .get(format!("{}/v2/customers", app.url))
                .header("Authorization", format!("Token {t}"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            (status, retry, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for _ in 0..3 {
        assert_eq!(v2(dm.clone()).await.0, 200);
    }
    let (status, retry, body) = v2(dm.clone()).await;
    assert_eq!((status, retry), (429, true), "{body}");
    assert_eq!(body["errors"][0]["title"], "Too many requests.", "{body}");
    assert!(body["errors"][0].get("code").is_none(), "DevMate's errors have no code: {body}");
    assert_eq!(v2(calm.clone()).await.0, 200, "another token is not affected");
}

/// Three products, so `limit=1` has a next and a previous page.
async fn three_products(app: &TestApp) {
    for code in ["a", "b", "c"] {
        app.product(code).await;
    }
}

async fn list_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut rb = reqwest::Client::new().get(format!("{}{path}", app.url)).bearer_auth(&app.admin);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn pagination_links_never_reflect_an_untrusted_scheme_or_a_malformed_host(app: TestApp) {
    three_products(&app).await;
    // The review's reproduction: the scheme is never taken from a peer that is not a trusted proxy.
    let (status, page) = list_with(
        &app,
        "/api/v1/products/?limit=1&offset=1",
        &[("Host", "evil.example"), ("X-Forwarded-Proto", "javascript:alert(1)//"), ("X-Forwarded-Host", "x.example")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["next"], "http://evil.example/api/v1/products/?limit=1&offset=2");
    assert_eq!(page["previous"], "http://evil.example/api/v1/products/?limit=1");
    for bad in ["evil.example/phish?", "a@evil.example", "evil.example:99999", "evil example"] {
        let (status, body) = list_with(&app, "/api/v1/products?limit=1", &[("Host", bad)]).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["errors"][0]["code"], "INVALID_HEADER", "{bad}: {body}");
    }
    let (status, page) = list_with(&app, "/api/v1/products?limit=1", &[("Host", "[::1]:8080")]).await;
    assert_eq!((status, page["next"].as_str()), (200, Some("http://[::1]:8080/api/v1/products?limit=1&offset=1")));
}

async fn pagination_links_use_the_public_url(app: TestApp) {
    three_products(&app).await;
    let (_, page) =
        list_with(&app, "/api/v1/products?limit=1", &[("Host", "evil.example"), ("X-Forwarded-Proto", "http")]).await;
    assert_eq!(page["next"], "https://lic.example.com/licensing/api/v1/products?limit=1&offset=1");
}

async fn pagination_links_take_scheme_and_host_from_trusted_proxies_only(app: TestApp) {
    three_products(&app).await;
    let (_, page) = list_with(
        &app,
        "/api/v1/products?limit=1",
        &[("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "lic.example.com:8443")],
    )
    .await;
    assert_eq!(page["next"], "https://lic.example.com:8443/api/v1/products?limit=1&offset=1");
    // Even a trusted proxy's word is only http or https, and a host[:port].
    let (_, page) = list_with(
        &app,
        "/api/v1/products?limit=1",
        &[("Host", "h.example"), ("X-Forwarded-Proto", "javascript:alert(1)//"), ("X-Forwarded-Host", "a/b")],
    )
    .await;
    assert_eq!(page["next"], "http://h.example/api/v1/products?limit=1&offset=1");
}

async fn offsets_are_capped_and_links_never_wrap(app: TestApp) {
    three_products(&app).await;
    for path in ["/api/v1/products?offset=9223372036854775807", "/api/v1/licenses?offset=1000000001&limit=100"] {
        let r = app.get(path).await;
        let e = assert_error(&r, 400, "INVALID_PARAMETER");
        assert_eq!(e["source"]["parameter"], "offset", "{}", r.text);
        assert!(e["detail"].as_str().unwrap().contains("1000000000"), "{}", r.text);
    }
    let r = app.get("/api/v1/products?offset=1000000000&limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["next"], Value::Null);
    assert!(
        r.body["previous"].as_str().unwrap().ends_with("/api/v1/products?limit=100&offset=999999900"),
        "{}",
        r.text
    );
}

async fn metrics_method_labels_are_bounded(app: TestApp) {
    let http = reqwest::Client::new();
    let scrape = || async { http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap() };
    let before = scrape().await;
    for i in 0..40 {
        let method = reqwest::Method::from_bytes(format!("M{i}RANDOM{}", "X".repeat(i * 10)).as_bytes()).unwrap();
        let r = http.request(method, format!("{}/healthz", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 405);
    }
    let after = scrape().await;
    assert!(!before.contains("/healthz"));
    assert!(!after.contains("RANDOM"), "no series names a method as sent");
    // The 40 requests add one series: method "other" on the /healthz route with 405.
    let healthz: Vec<&str> =
        after.lines().filter(|l| l.starts_with("licensd_http_requests_total{") && l.contains("/healthz")).collect();
    assert_eq!(healthz, [r#"licensd_http_requests_total{method="other",route="/healthz",status="405"} 40"#], "{after}");
}
