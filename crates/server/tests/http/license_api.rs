//! LicenseSpring's License API v4 (`/api/v4`, issue 15) through the real server: requests signed as the SDKs
//! sign them (HMAC over `Date`, or an OAuth access token), answers checked as the SDKs check them (RSA over the
//! exact body, which must be what `JSON.stringify` writes back; the v1 `license_signature`; the offline v2), on
//! the same licenses and limits as the client API; every refusal a `4xx` `{status, code, message}` that
//! changes nothing.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use licensd_core::time::now_ms;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::TestApp;

backend_tests!(
    activation_check_and_deactivation_share_the_client_apis_license_and_limits,
    answers_verify_as_both_sdks_verify_them,
    authentication_refusals_use_licensesprings_codes_and_change_nothing,
    oauth_client_credentials_then_bearer_requests,
    bad_input_is_a_4xx_in_licensesprings_shape_and_changes_nothing,
    consumption_floating_features_variables_and_trials,
    offline_request_files_activate_and_deactivate,
    limits_hold_under_64_concurrent_requests_over_both_apis_and_two_instances,
    user_based_licenses_sign_in_with_email_and_password,
    versions_and_installation_files_need_an_active_license,
);

/// An application's credentials: an API key and its shared key.
struct Creds {
    api_key: String,
    shared: String,
}

/// What LicenseSpring's SDKs send as `Date`.
fn http_date(ms: i64) -> String {
    licensd_server::license_api::offline::httpdate(ms)
}

fn sign(shared: &str, date: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, shared.as_bytes());
    STANDARD.encode(hmac::sign(&key, format!("licenseSpring\ndate: {date}").as_bytes()).as_ref())
}

struct Ls<'a> {
    app: &'a TestApp,
    creds: &'a Creds,
}

impl Ls<'_> {
    /// A request as the Python SDK makes it, with a `Date` this far from now.
    async fn call_at(&self, method: Method, path: &str, args: Value, skew_ms: i64) -> crate::common::Resp {
        let date = http_date(now_ms() + skew_ms);
        let auth = format!(
            r#"algorithm="hmac-sha256",headers="date",signature="{}",apiKey="{}""#,
            sign(&self.creds.shared, &date),
            self.creds.api_key
        );
        raw(self.app, method, path, args, &[("Date", &date), ("Authorization", &auth)]).await
    }

    async fn get(&self, path: &str, args: Value) -> crate::common::Resp {
        self.call_at(Method::GET, path, args, 0).await
    }

    async fn post(&self, path: &str, args: Value) -> crate::common::Resp {
        self.call_at(Method::POST, path, args, 0).await
    }
}

/// A License API request with these headers: `args` as the query of a GET, the JSON body of anything else (a
/// string is sent as it is, as text).
async fn raw(app: &TestApp, method: Method, path: &str, args: Value, headers: &[(&str, &str)]) -> crate::common::Resp {
    let client = reqwest::Client::new();
    let mut rb = client.request(method.clone(), format!("{}/api/v4/{path}", app.url));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb = match (&method, &args) {
        (&Method::GET, Value::Object(m)) => {
            let pairs: Vec<(String, String)> =
                m.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
            rb.query(&pairs)
        }
        (_, Value::String(s)) => rb.header("Content-Type", "text/plain").body(s.clone()),
        (_, Value::Null) => rb,
        _ => rb.json(&args),
    };
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    crate::common::Resp { status, body, text, headers }
}

/// Asserts a License API refusal: this status, `{status, code, message}` with the same status in the body.
#[track_caller]
fn refused(r: &crate::common::Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["status"], status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert!(r.headers.get("licensesignature").is_none(), "errors are not signed: {}", r.text);
}

async fn api_key(app: &TestApp, products: &[&str]) -> Creds {
    let r = app.post("/api/v1/api-keys", json!({"name": format!("k{}", now_ms()), "products": products})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    Creds { api_key: r.body["api_key"].as_str().unwrap().into(), shared: r.body["shared_key"].as_str().unwrap().into() }
}

/// The RSA public key's SPKI, as `licensd key show --rsa` gives it to the SDK.
async fn rsa_spki(app: &TestApp) -> Vec<u8> {
    let r = app.get("/api/v1/signing-keys").await;
    let pem = r.body["rsa"].as_array().unwrap().iter().find(|k| k["active"] == true).unwrap()["public_key_pem"]
        .as_str()
        .unwrap()
        .to_string();
    licensd_core::rsa::pem_der(&pem).unwrap()
}

fn verifies(spki: &[u8], msg: &[u8], sig_b64: &str) -> bool {
    let sig = STANDARD.decode(sig_b64).unwrap_or_default();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki).verify(msg, &sig).is_ok()
}

/// A product `app` with a two-seat template and one license of it; its key.
async fn setup(app: &TestApp) -> String {
    let p = app.product("app").await;
    app.template(p, "two", json!({"max_activations": 2})).await;
    app.license(json!({"license_template": "two"})).await["license_key"].as_str().unwrap().to_string()
}

fn ident(key: &str, hw: &str) -> Value {
    json!({"product": "app", "hardware_id": hw, "license_key": key})
}

async fn activation_check_and_deactivation_share_the_client_apis_license_and_limits(app: TestApp) {
    let key = setup(&app).await;
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    let a = ls.post("activate_license", ident(&key, "hw-1")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!((a.body["license_key"].as_str(), a.body["times_activated"].as_i64()), (Some(key.as_str()), Some(1)));
    assert_eq!(
        (&a.body["license_active"], &a.body["license_enabled"], &a.body["is_floating"]),
        (&json!(true), &json!(true), &json!(false))
    );
    assert_eq!(a.body["product_details"]["short_code"], "app");
    // Activating again answers again without counting again.
    let again = ls.post("activate_license", ident(&key, "hw-1")).await;
    assert_eq!((again.status, again.body["times_activated"].as_i64()), (200, Some(1)), "{}", again.text);
    // The second seat through the client API: the same license, the same limit.
    let v1 = app
        .call(Method::POST, "/api/v1/client/activate", None, Some(crate::common::Body::Json(ident(&key, "hw-2"))))
        .await;
    assert_eq!(v1.status, 201, "{}", v1.text);
    assert_eq!(v1.body["license"]["times_activated"], 2);
    refused(&ls.post("activate_license", ident(&key, "hw-3")).await, 400, "license_activated_max_times");
    let c = ls.get("check_license", ident(&key, "hw-2")).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(
        (&c.body["license_active"], &c.body["times_activated"], &c.body["id"]),
        (&json!(true), &json!(2), &a.body["id"])
    );
    // license_id echoed back must be this license's.
    let mut wrong = ident(&key, "hw-2");
    wrong["license_id"] = json!("999999");
    refused(&ls.get("check_license", wrong).await, 400, "license_not_found");
    let d = ls.post("deactivate_license", ident(&key, "hw-1")).await;
    assert_eq!((d.status, d.text.as_str()), (200, "license_deactivated"));
    refused(&ls.get("check_license", ident(&key, "hw-1")).await, 400, "device_not_found");
    refused(&ls.post("deactivate_license", ident(&key, "hw-1")).await, 400, "device_not_found");
    // The management API sees what the License API did.
    let id = a.body["id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("/api/v1/licenses/{id}")).await.body["times_activated"], 1);
    // A key of another product, a disabled license.
    refused(
        &ls.get("check_license", json!({"product": "app", "hardware_id": "hw-2", "license_key": "NO-SUCH"})).await,
        400,
        "license_not_found",
    );
    assert_eq!(app.post(&format!("/api/v1/licenses/{id}/disable"), json!({})).await.status, 200);
    refused(&ls.get("check_license", ident(&key, "hw-2")).await, 400, "license_not_enabled");
}

async fn answers_verify_as_both_sdks_verify_them(app: TestApp) {
    let key = setup(&app).await;
    let id = app.get("/api/v1/licenses?limit=1").await.body["results"][0]["id"].as_i64().unwrap();
    let r = app
        .patch(
            &format!("/api/v1/licenses/{id}"),
            json!({"validity_period": "2031-06-30", "metadata": {"10": 1, "9": [1.5], "a": "é\n"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    let spki = rsa_spki(&app).await;
    let a = ls.post("activate_license", ident(&key, "HW-Mixed")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Python verifies the bytes received; Node verifies JSON.stringify of the parsed body: the two are one text.
    let sig = a.headers["licensesignature"].to_str().unwrap();
    assert!(verifies(&spki, a.text.as_bytes(), sig));
    assert_eq!(licensd_core::js_json::to_vec(&a.body), a.text.as_bytes(), "the body is JSON.stringify's text");
    assert!(a.text.starts_with('{') && !a.text.ends_with('\n'));
    assert!(a.text.contains(r#""metadata":{"9":[1.5],"10":1,"a":"é\n"}"#), "{}", a.text);
    // The v1 signature, over lower(hardware_id#key#validity) with the validity in toISOString's form.
    assert_eq!(a.body["validity_period"], "2031-06-30T00:00:00.000Z");
    let v1 = format!("hw-mixed#{}#2031-06-30t00:00:00.000z", key.to_lowercase());
    assert!(verifies(&spki, v1.as_bytes(), a.body["license_signature"].as_str().unwrap()));
    // A changed byte does not verify.
    let tampered = a.text.replacen("\"times_activated\":1", "\"times_activated\":0", 1);
    assert_ne!(tampered, a.text);
    assert!(!verifies(&spki, tampered.as_bytes(), sig));
    // A hot device's identical answer keeps its (cached, deterministic) signature; after a rotation, the new
    // key signs and the old one no longer verifies.
    let c1 = ls.get("check_license", ident(&key, "HW-Mixed")).await;
    let c2 = ls.get("check_license", ident(&key, "HW-Mixed")).await;
    assert_eq!(
        (c1.text.as_str(), &c1.headers["licensesignature"]),
        (c2.text.as_str(), &c2.headers["licensesignature"])
    );
    let r = app.post("/api/v1/signing-keys/rotate", json!({"algorithm": "rsa"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.state.refresh_key().await.unwrap();
    let new_spki = rsa_spki(&app).await;
    assert_ne!(new_spki, spki);
    let c3 = ls.get("check_license", ident(&key, "HW-Mixed")).await;
    let sig3 = c3.headers["licensesignature"].to_str().unwrap();
    assert!(verifies(&new_spki, c3.text.as_bytes(), sig3) && !verifies(&spki, c3.text.as_bytes(), sig3));
    assert!(verifies(&new_spki, v1.as_bytes(), c3.body["license_signature"].as_str().unwrap()));
    // The other signed answers carry the header too.
    let pd = ls
        .get(
            "product_details",
            json!({"product": "app", "include_latest_version": "false", "include_custom_fields": "true"}),
        )
        .await;
    assert_eq!(
        (pd.status, &pd.body["short_code"], &pd.body["custom_fields"]),
        (200, &json!("app"), &json!([])),
        "{}",
        pd.text
    );
    assert!(verifies(&new_spki, pd.text.as_bytes(), pd.headers["licensesignature"].to_str().unwrap()));
}

async fn authentication_refusals_use_licensesprings_codes_and_change_nothing(app: TestApp) {
    let key = setup(&app).await;
    let other = app.product("other").await;
    let _ = other;
    let creds = api_key(&app, &[]).await;
    let activate = ident(&key, "hw-1");
    let date = http_date(now_ms());
    let good_sig = sign(&creds.shared, &date);
    let auth = |sig: &str, api_key: &str| {
        format!(r#"algorithm="hmac-sha256",headers="date",signature="{sig}",apiKey="{api_key}""#)
    };
    type Case<'a> = (Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (vec![], 400, "missing_headers"),
        (vec![("Date", date.clone())], 400, "missing_headers"),
        (vec![("Authorization", auth(&good_sig, &creds.api_key))], 400, "missing_headers"),
        (vec![("Date", date.clone()), ("Authorization", "nonsense".into())], 400, "authorization_missing_params"),
        (
            vec![
                ("Date", date.clone()),
                ("Authorization", auth(&good_sig, &creds.api_key).replace("hmac-sha256", "rsa")),
            ],
            400,
            "hmac_required",
        ),
        (
            vec![
                ("Date", date.clone()),
                ("Authorization", auth(&good_sig, &creds.api_key).replace("\"date\"", "\"host\"")),
            ],
            400,
            "authorization_invalid_headers",
        ),
        (
            vec![("Date", date.clone()), ("Authorization", auth(&sign("wrong", &date), &creds.api_key))],
            401,
            "signature_mismatch",
        ),
        (vec![("Date", date.clone()), ("Authorization", auth(&good_sig, "no-such-key"))], 400, "invalid_api_key"),
        (
            vec![("Date", "yesterday".into()), ("Authorization", auth(&good_sig, &creds.api_key))],
            400,
            "date_header_diff",
        ),
        (vec![("Date", date.clone()), ("Authorization", "Bearer not-a-token".into())], 401, "oauth_token_expired"),
    ];
    for (headers, status, code) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        refused(&raw(&app, Method::POST, "activate_license", activate.clone(), &h).await, status, code);
    }
    let ls = Ls { app: &app, creds: &creds };
    // A Date an hour old, or an hour ahead, signed with the right key.
    refused(&ls.call_at(Method::POST, "activate_license", activate.clone(), -3_600_000).await, 400, "date_header_diff");
    refused(&ls.call_at(Method::POST, "activate_license", activate.clone(), 3_600_000).await, 400, "date_header_diff");
    // Within the window it passes.
    assert_eq!(ls.call_at(Method::GET, "product_details", json!({"product": "app"}), -600_000).await.status, 200);
    // The Node SDK's spelling (apikey=, spaces after commas) is the same credential.
    let node =
        format!(r#"algorithm="hmac-sha256", headers="date", signature="{good_sig}", apikey="{}""#, creds.api_key);
    assert_eq!(
        raw(
            &app,
            Method::GET,
            "product_details",
            json!({"product": "app"}),
            &[("Date", &date), ("Authorization", &node)]
        )
        .await
        .status,
        200
    );
    // A key limited to another product answers only for it; a revoked key says so, at once.
    let limited = api_key(&app, &["other"]).await;
    refused(
        &Ls { app: &app, creds: &limited }.post("activate_license", activate.clone()).await,
        400,
        "api_key_product_not_allowed",
    );
    let id = app.get("/api/v1/api-keys").await.body["results"][0]["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}")).await.status, 204);
    refused(&ls.post("activate_license", activate.clone()).await, 400, "revoked_api_key");
    assert_eq!(app.count("devices").await, 0, "no refused request activated anything");
}

async fn oauth_client_credentials_then_bearer_requests(app: TestApp) {
    let key = setup(&app).await;
    let r = app.post("/api/v1/oauth-clients", json!({"name": "sdk"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (id, secret) =
        (r.body["client_id"].as_str().unwrap().to_string(), r.body["client_secret"].as_str().unwrap().to_string());
    // Discovery without any credentials, as the Python SDK does it.
    let u = raw(&app, Method::GET, "oauth_url", json!({"login_type": "client_credentials"}), &[]).await;
    assert_eq!(u.status, 200, "{}", u.text);
    let url = u.body["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/api/v4/oauth/token", app.url));
    let client = reqwest::Client::new();
    let token = |secret: String| {
        let client = client.clone();
        let (url, id) = (url.clone(), id.clone());
        async move {
            let res = client
                .post(&url)
                .form(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = token("wrong".into()).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")), "{body}");
    let (status, body) = token(secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["token_type"], body["expires_in"].as_i64().unwrap() > 60), (&json!("Bearer"), true));
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
    let date = http_date(now_ms());
    let a = raw(
        &app,
        Method::POST,
        "activate_license",
        ident(&key, "hw-o"),
        &[("Date", &date), ("Authorization", &bearer)],
    )
    .await;
    assert_eq!((a.status, a.body["times_activated"].as_i64()), (200, Some(1)), "{}", a.text);
    // A revoked client's tokens stop at once.
    let cid = app.get("/api/v1/oauth-clients").await.body["results"][0]["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/oauth-clients/{cid}")).await.status, 204);
    refused(
        &raw(&app, Method::GET, "check_license", ident(&key, "hw-o"), &[("Date", &date), ("Authorization", &bearer)])
            .await,
        401,
        "oauth_token_expired",
    );
    let (status, body) = token(secret).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")), "{body}");
}

async fn bad_input_is_a_4xx_in_licensesprings_shape_and_changes_nothing(app: TestApp) {
    let key = setup(&app).await;
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    refused(&ls.post("activate_license", json!("{not json")).await, 400, "invalid_json");
    refused(&ls.post("activate_license", json!([1, 2])).await, 400, "invalid_json");
    refused(
        &ls.post("activate_license", json!({"hardware_id": "h", "license_key": key})).await,
        400,
        "missing_parameters",
    );
    refused(
        &ls.post("activate_license", json!({"product": "app", "license_key": key})).await,
        400,
        "missing_hardware_id",
    );
    refused(
        &ls.post("activate_license", json!({"product": "app", "hardware_id": "h"})).await,
        400,
        "license_key_required",
    );
    refused(
        &ls.post(
            "activate_license",
            json!({"product": "app", "hardware_id": "h", "license_key": key, "license_id": [1]}),
        )
        .await,
        400,
        "validation_error",
    );
    refused(
        &ls.post("activate_license", json!({"product": "app", "hardware_id": "x".repeat(300), "license_key": key}))
            .await,
        400,
        "validation_error",
    );
    refused(
        &ls.post(
            "activate_license",
            json!({"product": "app", "hardware_id": "h", "license_key": key, "variables": "x"}),
        )
        .await,
        400,
        "validation_error",
    );
    refused(
        &ls.post(
            "add_consumption",
            json!({"product": "app", "hardware_id": "h", "license_key": key, "consumptions": "many"}),
        )
        .await,
        400,
        "validation_error",
    );
    refused(&ls.get("product_details", json!({"product": "nope"})).await, 400, "unknown_product");
    refused(&ls.get("no_such_endpoint", json!({})).await, 404, "not_found");
    refused(&ls.get("activate_license", json!({})).await, 405, "method_not_allowed");
    let huge = json!({"product": "app", "hardware_id": "h", "license_key": key, "pad": "x".repeat(1_100_000)});
    refused(&ls.post("activate_license", huge).await, 413, "payload_too_large");
    assert_eq!(app.count("devices").await, 0);
    // The path with a trailing slash is the same endpoint; GET / answers 200 (the SDKs' "online" probe).
    assert_eq!(ls.get("product_details/", json!({"product": "app"})).await.status, 200);
    assert_eq!(reqwest::get(format!("{}/", app.url)).await.unwrap().status(), 200);
}

async fn consumption_floating_features_variables_and_trials(app: TestApp) {
    let p = app.product("app").await;
    let meter = app.post("/api/v1/product-features", json!({"product": p, "code": "meter", "name": "Meter", "feature_type": "consumption", "max_consumption": 5})).await;
    assert_eq!(meter.status, 201, "{}", meter.text);
    let seat = app.post("/api/v1/product-features", json!({"product": p, "code": "seat", "name": "Seat", "is_floating_cloud": true, "floating_users": 1, "floating_timeout": 30})).await;
    assert_eq!(
        (seat.status, &seat.body["is_floating_cloud"], &seat.body["floating_users"]),
        (201, &json!(true), &json!(1)),
        "{}",
        seat.text
    );
    app.template(p, "use", json!({"license_type": "consumption", "max_consumptions": 10, "max_activations": 3, "features": [{"code": "meter"}, {"code": "seat"}]})).await;
    app.template(p, "trial", json!({"is_trial": true, "trial_days": 14, "max_activations": 1})).await;
    let key = app.license(json!({"license_template": "use"})).await["license_key"].as_str().unwrap().to_string();
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    for hw in ["a", "b"] {
        assert_eq!(ls.post("activate_license", ident(&key, hw)).await.status, 200);
    }
    let mut add = ident(&key, "a");
    add["consumptions"] = json!(7);
    let r = ls.post("add_consumption", add.clone()).await;
    assert_eq!(
        (r.status, &r.body["total_consumptions"], &r.body["max_consumptions"]),
        (200, &json!(7), &json!(10)),
        "{}",
        r.text
    );
    refused(&ls.post("add_consumption", add).await, 400, "not_enough_consumptions");
    let mut f = ident(&key, "a");
    f["feature"] = json!("meter");
    f["consumptions"] = json!(4);
    let r = ls.post("add_feature_consumption", f.clone()).await;
    assert_eq!(
        (r.status, &r.body["total_consumptions"], &r.body["max_consumption"]),
        (200, &json!(4), &json!(5)),
        "{}",
        r.text
    );
    refused(&ls.post("add_feature_consumption", f).await, 400, "feature_not_enough_consumptions");
    // The floating feature's one seat: a takes it, b is refused until a releases it.
    let check = |hw: &str| {
        let mut v = ident(&key, hw);
        v["feature"] = json!("seat");
        v
    };
    let r = ls.get("check_license_feature", check("a")).await;
    assert_eq!(
        (r.status, &r.body["is_floating_cloud"], &r.body["floating_in_use_devices"]),
        (200, &json!(true), &json!(1)),
        "{}",
        r.text
    );
    refused(&ls.get("check_license_feature", check("b")).await, 400, "no_available_floating_slots");
    let r = ls.post("floating/feature_release", check("a")).await;
    assert_eq!((r.status, r.text.as_str()), (200, "feature_released"));
    assert_eq!(ls.get("check_license_feature", check("b")).await.status, 200);
    refused(
        &ls.get("check_license_feature", {
            let mut v = check("a");
            v["feature"] = json!("nope");
            v
        })
        .await,
        400,
        "unsupported_product_feature",
    );
    // Device variables: recorded, replaced by name, read back.
    let mut vars = ident(&key, "a");
    vars["variables"] = json!({"os": "linux", "seats": 3});
    assert_eq!(ls.post("track_device_variables", vars).await.status, 200);
    let mut vars = ident(&key, "a");
    vars["variables"] = json!({"os": "macos"});
    assert_eq!(ls.post("track_device_variables", vars).await.status, 200);
    let r = ls.get("get_device_variables", ident(&key, "a")).await;
    let got: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["variable"].as_str().unwrap().into(), v["value"].as_str().unwrap().into()))
        .collect();
    assert_eq!(got, [("os".to_string(), "macos".to_string()), ("seats".to_string(), "3".to_string())], "{}", r.text);
    refused(&ls.get("get_device_variables", ident(&key, "zz")).await, 400, "device_not_found");
    // Trials: the product offers one; a device gets one key, the same again; activating it works.
    let pd = ls.get("product_details", json!({"product": "app"})).await;
    assert_eq!((&pd.body["allow_trial"], &pd.body["trial_days"]), (&json!(true), &json!(14)), "{}", pd.text);
    let t1 = ls.get("trial_key", json!({"product": "app", "hardware_id": "t-1", "email": "t@example.com"})).await;
    let t2 = ls.get("trial_key", json!({"product": "app", "hardware_id": "t-1"})).await;
    assert_eq!(t1.status, 200, "{}", t1.text);
    let trial_key = t1.body["license"].as_str().unwrap().to_string();
    assert_eq!((t2.body["license"].as_str(), &t1.body["is_trial"]), (Some(trial_key.as_str()), &json!(true)));
    let a = ls.post("activate_license", ident(&trial_key, "t-1")).await;
    let validity = a.body["validity_period"].as_str().unwrap_or_default();
    assert_eq!(
        (a.status, &a.body["is_trial"], validity.len(), validity.ends_with('Z')),
        (200, &json!(true), 24, true),
        "{}",
        a.text
    );
}

async fn offline_request_files_activate_and_deactivate(app: TestApp) {
    let key = setup(&app).await;
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    let spki = rsa_spki(&app).await;
    // A request file as the Python SDK writes it: json.dumps with its default separators, HMAC over that text.
    let file = |kind: &str, shared: &str| {
        let request = format!(
            r#"{{"request": "{kind}", "product": "app", "hardware_id": "air-1", "license_key": "{key}", "hostname": "vault", "date": "Tue, 01 Dec 2026 18:54:27 GMT", "request_id": "rq-1", "schema_version": 2, "api_key": "{}"}}"#,
            creds.api_key
        );
        let sig = STANDARD
            .encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, shared.as_bytes()), request.as_bytes()).as_ref());
        STANDARD.encode(format!(r#"{{"request": {request}, "signature": "{sig}"}}"#)) + "\n"
    };
    refused(
        &ls.post("activate_offline", json!(file("activation", "not the shared key"))).await,
        401,
        "signature_mismatch",
    );
    refused(&ls.post("activate_offline", json!("%%%")).await, 400, "invalid_offline_request");
    refused(
        &ls.post("activate_offline", json!(file("deactivation", &creds.shared))).await,
        400,
        "invalid_offline_request",
    );
    assert_eq!(app.count("devices").await, 0);
    let r = ls.post("activate_offline", json!(file("activation", &creds.shared))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["request_id"], &r.body["hardware_id"], &r.body["times_activated"]),
        (&json!("rq-1"), &json!("air-1"), &json!(1))
    );
    // v2: over the answer without its two signatures, as both SDKs re-serialise it.
    let mut v = r.body.clone();
    let m = v.as_object_mut().unwrap();
    let v2 = m.remove("license_signature_v2").unwrap();
    m.remove("license_signature");
    assert!(verifies(&spki, &licensd_core::js_json::to_vec(&v), v2.as_str().unwrap()));
    let v1 = format!("air-1#{}#", key.to_lowercase());
    assert!(verifies(&spki, v1.as_bytes(), r.body["license_signature"].as_str().unwrap()));
    let d = ls.post("deactivate_offline", json!(file("deactivation", &creds.shared))).await;
    assert_eq!((d.status, d.text.as_str()), (200, "license_deactivated"));
    refused(&ls.get("check_license", ident(&key, "air-1")).await, 400, "device_not_found");
}

/// 64 requests at once, alternating between two server instances on the database and between the License API
/// (even) and the client API (odd): (status, code) of each.
async fn storm(
    app: &TestApp,
    creds: &Creds,
    v4: (&'static str, Method),
    v1: &'static str,
    body: impl Fn(usize) -> Value,
) -> Vec<(u16, String)> {
    let second = app.second_instance().await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let base = if i % 4 < 2 { app.url.clone() } else { second.clone() };
        let (client, b, method) = (client.clone(), body(i), v4.1.clone());
        let (api_key, shared) = (creds.api_key.clone(), creds.shared.clone());
        tasks.push(tokio::spawn(async move {
            let r = if i % 2 == 0 {
                let date = http_date(now_ms());
                let auth = format!(
                    r#"algorithm="hmac-sha256",headers="date",signature="{}",apiKey="{api_key}""#,
                    sign(&shared, &date)
                );
                let rb = client
                    .request(method.clone(), format!("{base}/api/v4/{}", v4.0))
                    .header("Date", date)
                    .header("Authorization", auth);
                let rb = if method == Method::GET {
                    let pairs: Vec<(String, String)> = b
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                        .collect();
                    rb.query(&pairs)
                } else {
                    rb.json(&b)
                };
                rb.send().await.unwrap()
            } else {
                client.post(format!("{base}/api/v1/client/{v1}")).json(&b).send().await.unwrap()
            };
            let status = r.status().as_u16();
            let v = r.json::<Value>().await.unwrap_or(Value::Null);
            (status, v["code"].as_str().unwrap_or(if status < 300 { "ok" } else { "?" }).to_string())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn tally(results: &[(u16, String)]) -> std::collections::BTreeMap<(u16, String), usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in results {
        *m.entry(r.clone()).or_insert(0) += 1;
    }
    m
}

async fn limits_hold_under_64_concurrent_requests_over_both_apis_and_two_instances(app: TestApp) {
    let p = app.product("app").await;
    let seat = app
        .post(
            "/api/v1/product-features",
            json!({"product": p, "code": "seat", "name": "Seat", "is_floating_cloud": true, "floating_users": 3}),
        )
        .await;
    assert_eq!(seat.status, 201, "{}", seat.text);
    app.template(p, "five", json!({"max_activations": 5})).await;
    app.template(p, "float", json!({"is_floating_cloud": true, "floating_users": 4, "max_activations": null})).await;
    app.template(p, "meter", json!({"license_type": "consumption", "max_consumptions": 10, "max_activations": null, "features": [{"code": "seat"}]})).await;
    let creds = api_key(&app, &[]).await;
    // Activation slots: 5 of 64.
    let key = app.license(json!({"license_template": "five"})).await["license_key"].as_str().unwrap().to_string();
    let t = tally(
        &storm(&app, &creds, ("activate_license", Method::POST), "activate", |i| ident(&key, &format!("m-{i}"))).await,
    );
    let won: usize = t.iter().filter(|((s, _), _)| *s < 300).map(|(_, n)| n).sum();
    let lost = t.get(&(400, "license_activated_max_times".into())).copied().unwrap_or(0)
        + t.get(&(409, "TOO_MANY_ACTIVATIONS".into())).copied().unwrap_or(0);
    assert_eq!((won, lost), (5, 59), "{t:?}");
    let l = &app.get(&format!("/api/v1/licenses?license_key={key}")).await.body["results"][0];
    assert_eq!((&l["times_activated"], &l["total_active_devices"]), (&json!(5), &json!(5)), "{l}");
    // Floating seats of a license: 4 of 64.
    let key = app.license(json!({"license_template": "float"})).await["license_key"].as_str().unwrap().to_string();
    let t = tally(
        &storm(&app, &creds, ("activate_license", Method::POST), "activate", |i| ident(&key, &format!("f-{i}"))).await,
    );
    let won: usize = t.iter().filter(|((s, _), _)| *s < 300).map(|(_, n)| n).sum();
    assert_eq!(won, 4, "{t:?}");
    // Consumption: 10 of 64, license and feature seats on one license with 64 active devices.
    let key = app.license(json!({"license_template": "meter"})).await["license_key"].as_str().unwrap().to_string();
    let ls = Ls { app: &app, creds: &creds };
    for i in 0..64 {
        assert_eq!(ls.post("activate_license", ident(&key, &format!("c-{i}"))).await.status, 200);
    }
    let t = tally(
        &storm(&app, &creds, ("add_consumption", Method::POST), "consumption", |i| {
            let mut b = ident(&key, &format!("c-{i}"));
            b["consumptions"] = json!(1);
            b
        })
        .await,
    );
    let won: usize = t.iter().filter(|((s, _), _)| *s < 300).map(|(_, n)| n).sum();
    assert_eq!(won, 10, "{t:?}");
    assert_eq!(
        app.get(&format!("/api/v1/licenses?license_key={key}")).await.body["results"][0]["total_consumptions"],
        10
    );
    // A floating feature's 3 seats, taken by 64 devices at once through the License API only (the client API has
    // no feature seats): the odd requests are the client API's check, which takes none.
    let t = tally(
        &storm(&app, &creds, ("check_license_feature", Method::GET), "check", |i| {
            let mut b = ident(&key, &format!("c-{i}"));
            if i % 2 == 0 {
                b["feature"] = json!("seat");
            }
            b
        })
        .await,
    );
    assert_eq!((t.get(&(200, "seat".into())), t.get(&(200, "VALID".into()))), (Some(&3), Some(&32)), "{t:?}");
    assert_eq!(t.get(&(400, "no_available_floating_slots".into())), Some(&29), "{t:?}");
    let held = app.db.fetch_one(licensd_store::db::query("SELECT COUNT(*) AS n FROM feature_seats")).await.unwrap();
    assert_eq!(held.get::<i64>("n").unwrap(), 3);
}

async fn user_based_licenses_sign_in_with_email_and_password(app: TestApp) {
    let r = app
        .post(
            "/api/v1/products",
            json!({"product_name": "Users", "short_code": "users", "authorization_method": "user"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.template(r.body["id"].as_i64().unwrap(), "seat", json!({"max_activations": 2})).await;
    let cust = app.post("/api/v1/customers", json!({"email": "boss@acme.test"})).await.body["id"].as_i64().unwrap();
    let l = app.license(json!({"license_template": "seat", "customer": cust})).await;
    let id = l["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/licenses/{id}/assign_user"),
            json!({"email": "Ann@Acme.test", "first_name": "Ann", "password": "initial-pass-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("initial-pass-1"), "the password is never shown back: {}", r.text);
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    let spki = rsa_spki(&app).await;
    let login = |password: &str| json!({"product": "users", "hardware_id": "hw-u", "username": "ann@acme.test", "password": password});
    refused(&ls.post("activate_license", login("wrong-password")).await, 400, "invalid_credentials");
    refused(
        &ls.post("activate_license", json!({"product": "users", "hardware_id": "hw-u", "username": "ann@acme.test"}))
            .await,
        400,
        "missing_parameters",
    );
    assert_eq!(app.count("devices").await, 0);
    let a = ls.post("activate_license", login("initial-pass-1")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        (&a.body["license_key"], &a.body["id"], &a.body["user"]["email"], &a.body["user"]["is_initial_password"]),
        (&Value::Null, &json!(id), &json!("Ann@Acme.test"), &json!(true))
    );
    // v1 over the username, not a key.
    assert!(verifies(&spki, b"hw-u#ann@acme.test#", a.body["license_signature"].as_str().unwrap()));
    // Later calls name the user without the password.
    let c =
        ls.get("check_license", json!({"product": "users", "hardware_id": "hw-u", "username": "ann@acme.test"})).await;
    assert_eq!((c.status, &c.body["license_active"]), (200, &json!(true)), "{}", c.text);
    let u = ls
        .get("user_licenses", json!({"product": "users", "username": "ann@acme.test", "password": "initial-pass-1"}))
        .await;
    assert_eq!(
        (u.status, &u.body[0]["license"]["id"], &u.body[0]["user"]["first_name"]),
        (200, &json!(id), &json!("Ann")),
        "{}",
        u.text
    );
    let cu = ls.get("customer_license_users", json!({"product": "users", "customer": "boss@acme.test"})).await;
    assert_eq!(
        (cu.status, &cu.body["users"][0]["email"], &cu.body["users"][0]["license_id"]),
        (200, &json!("Ann@Acme.test"), &json!(id)),
        "{}",
        cu.text
    );
    // The user changes the password: the old one stops working.
    refused(
        &ls.post(
            "change_password",
            json!({"username": "ann@acme.test", "password": "nope-nope", "new_password": "second-pass-2"}),
        )
        .await,
        400,
        "invalid_credentials",
    );
    let ch = ls
        .post(
            "change_password",
            json!({"username": "ann@acme.test", "password": "initial-pass-1", "new_password": "second-pass-2"}),
        )
        .await;
    assert_eq!((ch.status, ch.text.as_str()), (200, "password_changed"));
    refused(
        &ls.get(
            "user_licenses",
            json!({"product": "users", "username": "ann@acme.test", "password": "initial-pass-1"}),
        )
        .await,
        400,
        "invalid_credentials",
    );
    let u = ls
        .get("user_licenses", json!({"product": "users", "username": "ann@acme.test", "password": "second-pass-2"}))
        .await;
    assert_eq!((u.status, &u.body[0]["user"]["is_initial_password"]), (200, &json!(false)), "{}", u.text);
    let ev = app.get("/api/v1/events?action=license_user.password_changed").await;
    assert_eq!(ev.body["count"], 1, "{}", ev.text);
    assert!(!ev.text.contains("second-pass-2"));
}

async fn versions_and_installation_files_need_an_active_license(app: TestApp) {
    let key = setup(&app).await;
    let p = app.get("/api/v1/products").await.body["results"][0]["id"].as_i64().unwrap();
    for (version, env, day) in
        [("1.0.0", "", "2026-01-10"), ("1.1.0", "win64", "2026-03-01"), ("1.2.0", "mac", "2026-06-01")]
    {
        let r = app.post("/api/v1/product-versions", json!({"product": p, "version": version, "environment": env, "release_date": day,
            "installation_file": format!("https://dl.example.com/app-{version}.zip"), "hash_md5": "d41d8cd98f00b204e9800998ecf8427e", "size": 1234})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let bad =
        app.post("/api/v1/product-versions", json!({"product": p, "version": "2.0", "environment": "amiga"})).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let creds = api_key(&app, &[]).await;
    let ls = Ls { app: &app, creds: &creds };
    let mut q = ident(&key, "hw-v");
    q["env"] = json!("win64");
    refused(&ls.get("versions", q.clone()).await, 400, "active_license_required");
    assert_eq!(ls.post("activate_license", ident(&key, "hw-v")).await.status, 200);
    let v = ls.get("versions", q.clone()).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(
        v.body,
        json!([{"version": "1.1.0", "release_date": "2026-03-01T00:00:00.000Z"}, {"version": "1.0.0", "release_date": "2026-01-10T00:00:00.000Z"}])
    );
    let f = ls.get("installation_file", q.clone()).await;
    assert_eq!(
        (f.status, &f.body["version"], &f.body["installation_file"]),
        (200, &json!("1.1.0"), &json!("https://dl.example.com/app-1.1.0.zip")),
        "{}",
        f.text
    );
    q["version"] = json!("1.2.0");
    refused(&ls.get("installation_file", q.clone()).await, 400, "version_not_found");
    q["env"] = json!("beos");
    refused(&ls.get("versions", q).await, 400, "validation_error");
}
