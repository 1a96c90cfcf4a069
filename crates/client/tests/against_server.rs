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
    let name =
        format!("sdk_{}_{}", std::process::id(), &licensd_core::token::hash(&licensd_core::token::generate())[..12]);
    let url = if postgres {
        let Ok(server) = std::env::var("LICENSD_TEST_POSTGRES") else {
            assert!(std::env::var("CI").is_err(), "CI must set LICENSD_TEST_POSTGRES");
            return None;
        };
        let admin = Db::open(&server).await.unwrap();
        admin.execute(licensd_store::db::query(format!("CREATE DATABASE {name}"))).await.unwrap();
        admin.close().await;
        let (base, q) =
            server.split_once('?').map_or((server.clone(), String::new()), |(b, q)| (b.to_string(), format!("?{q}")));
        format!("{}/{name}{q}", &base[..base.rfind('/').unwrap()])
    } else {
        let dir = std::env::temp_dir().join("licensd-sdk-tests");
        std::fs::create_dir_all(&dir).unwrap();
        format!("sqlite://{}", dir.join(format!("{name}.db")).display())
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
    online_lifecycle_verifies_every_answer,
    a_forged_server_is_detected,
    floating_seat_renews_and_releases,
    air_gapped_activation_round_trip
);

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
    let verified = LicenseFile::verify(&file, &s.public_key, "machine-1").unwrap();
    assert_eq!(verified.license_key, key);
    assert!(matches!(LicenseFile::verify(&file, &s.public_key, "machine-2"), Err(Error::WrongDevice)));
    let tampered = file.replacen("A", "B", 1);
    assert!(LicenseFile::verify(&tampered, &s.public_key, "machine-1").is_err());

    let d = client.deactivate(&req).await.unwrap();
    assert_eq!(d.code, "DEACTIVATED");
    match client.check(&req).await.unwrap() {
        CheckOutcome::Online(r) => assert_eq!((r.valid, r.code.as_str()), (false, "NOT_ACTIVATED")),
        g => panic!("{g:?}"),
    }
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
    let f = LicenseFile::verify(&file, &s.public_key, "vault-7").unwrap();
    assert_eq!(f.product, "app");
    let release = offline_request_code(&offline, RequestKind::Deactivate);
    assert_eq!(client.offline_deactivate(&release).await.unwrap().code, "DEACTIVATED");
    assert!(client.activate(&LicenseRequest::new(&key, "other", "app")).await.unwrap().created);
}
