//! The SDK against the real licensd server (in-process, on a random port), over SQLite and, when
//! `LICENSD_TEST_POSTGRES` is set, PostgreSQL.

use std::time::Duration;

use licensd_client::{CheckOutcome, Client, Error, LicenseFile, LicenseRequest, RequestKind, offline_request_code};
use licensd_core::model::{LicenseInput, ProductInput, ProductRef, Role};
use licensd_store::{Db, Scope};

struct Server {
    url: String,
    public_key: String,
    db: Db,
}

async fn server(postgres: bool) -> Option<Server> {
    let url = if postgres {
        licensd_testkit::fresh_postgres("sdk")?
    } else {
        let dir = std::env::temp_dir().join("licensd-sdk-tests");
        std::fs::create_dir_all(&dir).unwrap();
        format!("sqlite://{}", dir.join(format!("{}.db", licensd_testkit::unique_name("sdk"))).display())
    };
    let db = Db::connect(&url).await.unwrap();
    licensd_store::tokens::create(&db, "admin", Role::Admin, &[]).await.unwrap();
    let state = licensd_server::AppState::load(db.clone(), None).await.unwrap();
    let public_key = state.key().public_base64();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { licensd_server::serve(state, listener, std::future::pending()).await.unwrap() });
    Some(Server { url: format!("http://{addr}"), public_key, db })
}

async fn license(s: &Server, extra: serde_json::Value) -> String {
    let scope = Scope::system();
    if licensd_store::products::get_by_short_code(&mut &s.db, &scope, "app").await.is_err() {
        let p: ProductInput =
            serde_json::from_value(serde_json::json!({"product_name": "App", "short_code": "app"})).unwrap();
        licensd_store::products::create(&s.db, &scope, p).await.unwrap();
    }
    let mut input: LicenseInput = serde_json::from_value(extra).unwrap();
    input.product = Some(ProductRef::ShortCode("app".into()));
    licensd_store::licenses::create(&s.db, &scope, &input).await.unwrap().license_key.unwrap()
}

macro_rules! both {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(s) = super::server(false).await { super::$name(s).await }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = super::server(true).await { super::$name(s).await }
            }
        }
    )*};
}

both!(
    a_relay_answering_with_another_licenses_genuine_answer_is_refused,
    another_products_trial_file_does_not_unlock_this_product,
    online_lifecycle_verifies_every_answer,
    a_forged_server_is_detected,
    floating_seat_renews_and_releases,
    air_gapped_activation_round_trip,
    a_key_typed_in_another_case_with_whitespace_is_answered_and_believed
);

/// The server matches the key a customer typed trimmed, and whatever its case for keys licensd issues; the
/// SDK believes the answer, which names the key as issued, and refuses one about another key.
async fn a_key_typed_in_another_case_with_whitespace_is_answered_and_believed(s: Server) {
    let key = license(&s, serde_json::json!({})).await;
    let typed = format!("  {}\n", key.to_ascii_lowercase());
    let client = Client::new(&s.url, &s.public_key).unwrap();
    let req = LicenseRequest::new(&typed, "machine-1", "app");
    let a = client.activate(&req).await.unwrap();
    assert_eq!(a.license.license_key, key);
    match client.check(&req).await.unwrap() {
        CheckOutcome::Online(r) => assert!(r.valid && r.code == "VALID", "{r:?}"),
        g => panic!("{g:?}"),
    }
    let file = client.license_file(&req).await.unwrap();
    assert_eq!(LicenseFile::verify(&file, &s.public_key, "machine-1", "app").unwrap().license_key, key);
    // A DevMate key has lower-case letters of its own: another case is another key, which the server does not know.
    let devmate = license(&s, serde_json::json!({"license_key": "id593311373237odr"})).await;
    let upper = LicenseRequest::new(devmate.to_ascii_uppercase(), "machine-1", "app");
    match client.activate(&upper).await {
        Err(Error::Refused { status, code, .. }) => assert_eq!((status, code.as_str()), (404, "NOT_FOUND")),
        other => panic!("{other:?}"),
    }
}

async fn online_lifecycle_verifies_every_answer(s: Server) {
    let key =
        license(&s, serde_json::json!({"max_activations": 1, "max_consumptions": 5, "license_type": "consumption"}))
            .await;
    let client = Client::new(&s.url, &s.public_key).unwrap();
    let req = LicenseRequest::new(&key, "machine-1", "app").hostname("build-box").os("linux");
    let a = client.activate(&req).await.unwrap();
    assert!(a.created);
    assert_eq!(a.code, "ACTIVATED");
    assert_eq!(a.license.license_key, key);
    assert_eq!(a.device.as_ref().unwrap().hostname, "build-box");
    assert!(!client.activate(&req).await.unwrap().created, "the same machine again");

    let other = LicenseRequest::new(&key, "machine-2", "app");
    match client.activate(&other).await {
        Err(Error::Refused { status, code, .. }) => assert_eq!((status, code.as_str()), (409, "TOO_MANY_ACTIVATIONS")),
        other => panic!("{other:?}"),
    }

    match client.check(&req).await.unwrap() {
        CheckOutcome::Online(r) => assert!(r.valid && r.code == "VALID", "{r:?}"),
        g => panic!("{g:?}"),
    }
    let c = client.consume(&req, None, 3).await.unwrap();
    assert_eq!(c.license.total_consumptions, 3);
    assert!(matches!(client.consume(&req, None, 3).await, Err(Error::Refused { status: 409, .. })));

    let file = client.license_file(&req).await.unwrap();
    let verified = LicenseFile::verify(&file, &s.public_key, "machine-1", "app").unwrap();
    assert_eq!(verified.license_key, key);
    assert!(matches!(LicenseFile::verify(&file, &s.public_key, "machine-2", "app"), Err(Error::WrongDevice)));
    // One character of the body changed (the 40th of its second line: inside the signed payload).
    let mut lines: Vec<String> = file.lines().map(str::to_string).collect();
    let c = if lines[2].as_bytes()[40] == b'B' { "C" } else { "B" };
    lines[2].replace_range(40..41, c);
    let tampered = lines.join("\n");
    assert_ne!(tampered.trim(), file.trim());
    assert!(LicenseFile::verify(&tampered, &s.public_key, "machine-1", "app").is_err());

    // The file keeps the slot: the client cannot free it while the file still verifies offline.
    match client.deactivate(&req).await {
        Err(Error::Refused { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (409, "LICENSE_FILE_OUTSTANDING"))
        }
        other => panic!("{other:?}"),
    }
    // The vendor can (support moved the customer to a new machine).
    let device = verified_device(&s, &key, "machine-1").await;
    licensd_store::devices::deactivate(&s.db, &Scope::system(), device).await.unwrap();
    match client.check(&req).await.unwrap() {
        CheckOutcome::Online(r) => assert_eq!((r.valid, r.code.as_str()), (false, "NOT_ACTIVATED")),
        g => panic!("{g:?}"),
    }
}

/// The id of the active device `hardware_id` of the license `key`.
async fn verified_device(s: &Server, key: &str, hardware_id: &str) -> i64 {
    let row =
        s.db.fetch_one(
            licensd_store::db::query(
                "SELECT d.id FROM devices d JOIN licenses l ON l.id = d.license_id \
                 WHERE l.license_key = ? AND d.hardware_id = ? AND d.deactivated_at IS NULL",
            )
            .bind(key)
            .bind(hardware_id),
        )
        .await
        .unwrap();
    row.get("id").unwrap()
}

async fn a_forged_server_is_detected(s: Server) {
    let key = license(&s, serde_json::json!({})).await;
    // The application ships another key than the server signs with: every answer is refused.
    let impostor_key = licensd_core::signing::KeyPair::generate().public_base64();
    let client = Client::new(&s.url, &impostor_key).unwrap();
    let req = LicenseRequest::new(&key, "m", "app");
    assert!(matches!(client.activate(&req).await, Err(Error::BadSignature)));
    assert!(matches!(client.check(&req).await, Err(Error::BadSignature)));
}

async fn floating_seat_renews_and_releases(s: Server) {
    let key = license(&s, serde_json::json!({"is_floating_cloud": true, "floating_users": 1})).await;
    let client = Client::builder(&s.url, &s.public_key).heartbeat_interval(Duration::from_millis(100)).build().unwrap();
    let seat = client.checkout(&LicenseRequest::new(&key, "seat-a", "app")).await.unwrap();
    assert!(seat.is_held());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(seat.is_held(), "{:?}", seat.status());
    match client.activate(&LicenseRequest::new(&key, "seat-b", "app")).await {
        Err(Error::Refused { code, .. }) => assert_eq!(code, "NO_SEAT"),
        other => panic!("{other:?}"),
    }
    seat.release().await.unwrap();
    assert!(
        client.activate(&LicenseRequest::new(&key, "seat-b", "app")).await.unwrap().created,
        "the released seat is free"
    );
}

async fn air_gapped_activation_round_trip(s: Server) {
    let key = license(&s, serde_json::json!({"max_activations": 1})).await;
    let offline = LicenseRequest::new(&key, "vault-7", "app");
    let code = offline_request_code(&offline, RequestKind::Activate);
    // Carried to a connected machine:
    let client = Client::new(&s.url, &s.public_key).unwrap();
    let file = client.offline_activate(&code).await.unwrap();
    // Carried back and verified with no network:
    let f = LicenseFile::verify(&file, &s.public_key, "vault-7", "app").unwrap();
    assert_eq!(f.product, "app");
    // The file it carries keeps the slot until it expires: a deactivation code cannot free it early (a
    // request code is plain base64 anyone can write, so it proves nothing about the file being gone).
    let release = offline_request_code(&offline, RequestKind::Deactivate);
    assert_eq!(client.offline_deactivate(&release).await.unwrap_err().code(), Some("LICENSE_FILE_OUTSTANDING"));
    assert_eq!(
        client.activate(&LicenseRequest::new(&key, "other", "app")).await.unwrap_err().code(),
        Some("TOO_MANY_ACTIVATIONS")
    );
}

/// A trial template for product `code` (created if needed).
async fn trial_product(s: &Server, code: &str) {
    let scope = Scope::system();
    let p: ProductInput =
        serde_json::from_value(serde_json::json!({"product_name": code, "short_code": code})).unwrap();
    let product = licensd_store::products::create(&s.db, &scope, p).await.unwrap();
    let t: licensd_core::model::LicenseTemplateInput = serde_json::from_value(serde_json::json!({
        "product": product.id, "name": "Trial", "code": format!("{code}-trial"), "is_trial": true, "max_activations": 1
    }))
    .unwrap();
    licensd_store::templates::create(&s.db, &scope, t).await.unwrap();
}

/// H3 of the security review: a relay keeps the application's nonce but asks the real server about a
/// license it controls (a free trial of another product, on its own made-up device). The server's
/// answer is genuine and signed, and `VALID`; the SDK refuses it because it is bound to another request.
async fn a_relay_answering_with_another_licenses_genuine_answer_is_refused(s: Server) {
    let _ = license(&s, serde_json::json!({})).await;
    trial_product(&s, "cheap").await;
    let http = reqwest::Client::new();
    let trial: serde_json::Value = http
        .post(format!("{}/api/v1/client/trial", s.url))
        .body(r#"{"product":"cheap","hardware_id":"relay-hw"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trial_key = trial["license"]["license_key"].as_str().unwrap().to_string();

    // The relay: a local HTTP server that rewrites every request to the trial's key, product and device.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = s.url.clone();
    let relay = axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
        let (upstream, trial_key) = (upstream.clone(), trial_key.clone());
        async move {
            let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            v["license_key"] = trial_key.into();
            v["product"] = "cheap".into();
            v["hardware_id"] = "relay-hw".into();
            let res = reqwest::Client::new()
                .post(format!("{upstream}{}", uri.path()))
                .body(v.to_string())
                .send()
                .await
                .unwrap();
            let mut out = axum::http::Response::builder().status(res.status().as_u16());
            for (k, val) in res.headers() {
                out = out.header(k.as_str(), val.as_bytes());
            }
            out.body(axum::body::Body::from(res.bytes().await.unwrap())).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, relay).await.unwrap() });

    let pirate = Client::builder(&relay_url, &s.public_key)
        .clock_guard(licensd_client::ClockGuard::in_memory())
        .build()
        .unwrap();
    let req = LicenseRequest::new("NOT-A-REAL-KEY", "victim-machine", "app");
    // What the relay gets back from the real server is a signed VALID for the trial…
    let r = pirate.check_online(&req).await;
    // …which the SDK refuses: it answers another key, product, device and body.
    assert!(matches!(r, Err(Error::Mismatched(_))), "{r:?}");
    assert!(matches!(pirate.activate(&req).await, Err(Error::Mismatched(_))));
    assert!(matches!(pirate.license_file(&req).await, Err(Error::Mismatched(_))));
    // The same request straight to the server is an honest refusal.
    let direct =
        Client::builder(&s.url, &s.public_key).clock_guard(licensd_client::ClockGuard::in_memory()).build().unwrap();
    let r = direct.check_online(&req).await.unwrap();
    assert_eq!((r.valid, r.code.as_str()), (false, "NOT_FOUND"));
}

/// H2 of the security review: a free trial of product `cheap` gives a license file that an application
/// of product `app` must refuse, and a trial file is marked so an application can refuse trials offline.
async fn another_products_trial_file_does_not_unlock_this_product(s: Server) {
    let _ = license(&s, serde_json::json!({})).await;
    trial_product(&s, "cheap").await;
    let client =
        Client::builder(&s.url, &s.public_key).clock_guard(licensd_client::ClockGuard::in_memory()).build().unwrap();
    let t = client.trial("cheap", "my-machine", None).await.unwrap();
    let req = LicenseRequest::new(&t.license.license_key, "my-machine", "cheap");
    let file = client.license_file(&req).await.unwrap();
    let now = std::time::SystemTime::now();
    let r = LicenseFile::verify_at(&file, &s.public_key, "my-machine", "app", now);
    assert!(
        matches!(&r, Err(Error::WrongProduct { expected, found }) if expected == "app" && found == "cheap"),
        "{r:?}"
    );
    let f = LicenseFile::verify_at(&file, &s.public_key, "my-machine", "cheap", now).unwrap();
    assert!(f.is_trial);
    let keys = client.trusted_keys();
    let strict = LicenseFile::verifier(keys).product("cheap").hardware_id("my-machine").refuse_trial();
    assert!(matches!(strict.verify(&file), Err(Error::Trial)));
}
