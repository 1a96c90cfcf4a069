//! LicenseSpring-style credentials (`store::api_keys`, `store::oauth`): secrets sealed under `LICENSD_SECRET`
//! bound to their row, lookups that follow creation and revocation at once, product limits, events with the
//! actor, OAuth access tokens that expire, die with their client and are swept. SQLite always; PostgreSQL when
//! `LICENSD_TEST_POSTGRES` names a server.

use std::time::{Duration, Instant};

use licensd_core::model::{CredentialInput, ProductInput};
use licensd_store::db::{Db, query};
use licensd_store::keys::Kdf;
use licensd_store::{Scope, StoreError, api_keys, credentials, oauth};

const SECRET: &str = "a-long-random-licensd-secret";

async fn sqlite(name: &str) -> Db {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Db::connect(&format!("sqlite://{}", path.display())).await.unwrap()
}

async fn postgres(name: &str) -> Option<Db> {
    Some(Db::connect(&licensd_testkit::fresh_postgres(name)?).await.unwrap())
}

fn ops() -> Scope {
    Scope { actor: "Ana Lima <ana@acme.com>".into(), ..Scope::system() }
}

fn input(name: &str, products: &[&str]) -> CredentialInput {
    CredentialInput { name: name.into(), products: products.iter().map(|p| p.to_string()).collect() }
}

async fn product(db: &Db, code: &str) {
    let i: ProductInput =
        serde_json::from_value(serde_json::json!({"product_name": format!("Product {code}"), "short_code": code}))
            .unwrap();
    licensd_store::products::create(db, &Scope::system(), i).await.unwrap();
}

async fn stored(db: &Db, table: &str, column: &str, id: i64) -> (String, String, Option<String>) {
    let r = db
        .fetch_one(query(format!("SELECT {column} AS s, kdf, kdf_salt FROM {table} WHERE id = ?")).bind(id))
        .await
        .unwrap();
    (r.get("s").unwrap(), r.get("kdf").unwrap(), r.get("kdf_salt").unwrap())
}

async fn events(db: &Db, resource: &str) -> Vec<(String, String, i64)> {
    let rows = db
        .fetch_all(
            query("SELECT action, actor, resource_id FROM events WHERE resource_type = ? ORDER BY id").bind(resource),
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get("action").unwrap(), r.get("actor").unwrap(), r.get("resource_id").unwrap())).collect()
}

async fn api_keys_are_sealed_limited_and_revoked_at_once(db: &Db) {
    product(db, "app").await;
    product(db, "tool").await;
    let made = api_keys::create_as(db, &ops(), &input("sdk", &["tool", "app", "tool"]), Some(SECRET)).await.unwrap();
    let key = &made.key;
    assert_eq!(
        (key.products.clone(), key.all_products, key.revoked_at),
        (vec!["app".into(), "tool".into()], false, None)
    );
    assert_eq!((made.shared_key.len(), key.api_key.len()), (43, 36));

    // Sealed at rest: neither the shared key nor its base64 is in the row.
    let (sealed, kdf, salt) = stored(db, "api_keys", "shared_key", key.id).await;
    assert_eq!(kdf, "argon2id-v1");
    assert!(salt.is_some());
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(made.shared_key.as_bytes());
    assert!(!sealed.contains(&made.shared_key) && !sealed.contains(&b64[..40]), "{sealed}");

    // The lookup opens it: the bytes HMAC is keyed with are the shared key's UTF-8.
    let (found, shared) = api_keys::lookup(db, &key.api_key, Some(SECRET)).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.products.clone(), shared.expose()),
        (key.id, key.products.clone(), made.shared_key.as_bytes())
    );
    assert_eq!(format!("{shared:?}"), "Secret(…)");
    let e = api_keys::lookup(db, &key.api_key, None).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Config(m) if m.contains("shared key of API key sdk") && m.contains("set LICENSD_SECRET")),
        "{e}"
    );
    let e = api_keys::lookup(db, &key.api_key, Some("another-long-secret")).await.unwrap_err();
    assert!(matches!(&e, StoreError::Config(m) if m.contains("does not open")), "{e}");
    for nothing in ["", "no-such-key", "\0", &"x".repeat(5000)] {
        assert!(api_keys::lookup(db, nothing, Some(SECRET)).await.unwrap().is_none(), "{nothing:?}");
    }

    // A sealed shared key copied into another key's row does not open there.
    let other = api_keys::create_as(db, &ops(), &input("other", &[]), Some(SECRET)).await.unwrap();
    assert!(other.key.all_products && other.key.products.is_empty());
    db.execute(
        query(
            "UPDATE api_keys SET shared_key = (SELECT shared_key FROM api_keys WHERE id = ?), \
             kdf_salt = (SELECT kdf_salt FROM api_keys WHERE id = ?) WHERE id = ?",
        )
        .bind(key.id)
        .bind(key.id)
        .bind(other.key.id),
    )
    .await
    .unwrap();
    assert!(api_keys::lookup(db, &other.key.api_key, Some(SECRET)).await.is_err());

    // Names are unique among live keys; an unknown product writes nothing.
    let e = api_keys::create_as(db, &ops(), &input("sdk", &[]), Some(SECRET)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict { field, message } if field == "name" && message.contains(&format!("(id {})", key.id))),
        "{e}"
    );
    let before = api_keys::list(db).await.unwrap().len();
    let e = api_keys::create_as(db, &ops(), &input("new", &["nope"]), Some(SECRET)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid { field, message } if field == "products" && message.contains("products are: app, tool")),
        "{e}"
    );
    for bad in [input("", &[]), input(" padded", &[]), input(&"n".repeat(201), &[]), input("ok", &["bad code"])] {
        assert!(matches!(api_keys::create_as(db, &ops(), &bad, None).await, Err(StoreError::Domain(_))), "{bad:?}");
    }
    assert_eq!(api_keys::list(db).await.unwrap().len(), before);

    // Revoked: the next lookup refuses it; again changes nothing; the name is free again.
    let r = api_keys::revoke_as(db, &ops(), key.id).await.unwrap();
    assert!(!r.already && r.revoked.revoked_at.is_some());
    assert!(api_keys::lookup(db, &key.api_key, Some(SECRET)).await.unwrap().is_none());
    assert!(api_keys::revoke_as(db, &ops(), key.id).await.unwrap().already);
    assert!(matches!(api_keys::revoke_as(db, &ops(), 999_999).await, Err(StoreError::NotFound)));
    assert_eq!(api_keys::id_of(db, &key.api_key).await.unwrap(), key.id);
    api_keys::create_as(db, &ops(), &input("sdk", &[]), None).await.unwrap();
    let actor = "Ana Lima <ana@acme.com>".to_string();
    let logged = events(db, "api_key").await;
    assert_eq!(
        logged[..3],
        [
            ("api_key.created".into(), actor.clone(), key.id),
            ("api_key.created".into(), actor.clone(), other.key.id),
            ("api_key.revoked".into(), actor.clone(), key.id),
        ]
    );
    assert_eq!((logged.len(), &logged[3].0, &logged[3].1), (4, &"api_key.created".to_string(), &actor));
    let row = db
        .fetch_one(query("SELECT after_json FROM events WHERE action = 'api_key.created' ORDER BY id LIMIT 1"))
        .await
        .unwrap();
    let after: String = row.get("after_json").unwrap();
    assert!(after.contains(&key.api_key) && !after.contains(&made.shared_key), "{after}");

    // A product deleted takes itself off the keys limited to it.
    let limited = api_keys::create_as(db, &ops(), &input("app only", &["app"]), None).await.unwrap();
    let app = db
        .fetch_one(query("SELECT id FROM products WHERE short_code = 'app'"))
        .await
        .unwrap()
        .get::<i64>("id")
        .unwrap();
    licensd_store::products::delete(db, &Scope::system(), app).await.unwrap();
    let (k, _) = api_keys::lookup(db, &limited.key.api_key, None).await.unwrap().unwrap();
    assert_eq!((k.products, k.all_products), (Vec::<String>::new(), false));
}

async fn plaintext_secrets_are_sealed_later(db: &Db) {
    let key = api_keys::create_as(db, &ops(), &input("early", &[]), None).await.unwrap();
    let client = oauth::create_as(db, &ops(), &input("early", &[]), None).await.unwrap();
    let (plain, kdf, _) = stored(db, "api_keys", "shared_key", key.key.id).await;
    assert_eq!(kdf, Kdf::None.as_str());
    use base64::Engine as _;
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(plain).unwrap(), key.shared_key.as_bytes());
    assert_eq!(
        credentials::unsealed_all(db).await.unwrap(),
        vec![format!("API key early (id {})", key.key.id), format!("OAuth client early (id {})", client.client.id)]
    );

    let done = credentials::seal_all(db, SECRET).await.unwrap();
    assert_eq!(done.resealed.len(), 2, "{done:?}");
    assert!(done.failed.is_empty() && done.unchanged.is_empty());
    assert!(credentials::unsealed_all(db).await.unwrap().is_empty());
    assert_eq!(stored(db, "oauth_clients", "client_secret", client.client.id).await.1, "argon2id-v1");
    let (_, shared) = api_keys::lookup(db, &key.key.api_key, Some(SECRET)).await.unwrap().unwrap();
    assert_eq!(shared.expose(), key.shared_key.as_bytes());
    let (_, s) = oauth::oauth_client(db, &client.client.client_id, Some(SECRET)).await.unwrap().unwrap();
    assert_eq!(s.expose(), client.client_secret.as_bytes());
    let again = credentials::seal_all(db, SECRET).await.unwrap();
    assert_eq!((again.resealed.len(), again.unchanged.len()), (0, 2));
    // A row damaged is left as it was and reported; one sealed under another secret is left alone (as a signing
    // key would be) and does not open under this one.
    let other = api_keys::create_as(db, &ops(), &input("elsewhere", &[]), Some("another-long-secret")).await.unwrap();
    let damaged = api_keys::create_as(db, &ops(), &input("damaged", &[]), Some(SECRET)).await.unwrap();
    db.execute(query("UPDATE api_keys SET kdf = 'none' WHERE id = ?").bind(damaged.key.id)).await.unwrap();
    let done = credentials::seal_all(db, SECRET).await.unwrap();
    let failed: Vec<&str> = done.failed.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(failed, [format!("api_key:{}", damaged.key.api_key)]);
    assert!(done.failed[0].1.contains("not what licensd stored"), "{done:?}");
    assert!(done.unchanged.contains(&format!("api_key:{}", other.key.api_key)));
    let e = api_keys::lookup(db, &other.key.api_key, Some(SECRET)).await.unwrap_err();
    assert!(e.to_string().contains("does not open the shared key of API key elsewhere"), "{e}");
    let e = api_keys::lookup(db, &damaged.key.api_key, Some(SECRET)).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
}

async fn oauth_tokens_expire_and_die_with_their_client(db: &Db) {
    product(db, "app").await;
    let made = oauth::create_as(db, &ops(), &input("backend", &["app"]), Some(SECRET)).await.unwrap();
    let c = &made.client;
    assert_eq!((c.products.clone(), c.client_id.len(), made.client_secret.len()), (vec!["app".to_string()], 36, 43));
    assert!(format!("{made:?}").contains("client_secret: \"…\""));
    let ok = oauth::authenticate(db, &c.client_id, &made.client_secret, Some(SECRET)).await.unwrap().unwrap();
    assert_eq!(ok.id, c.id);
    assert!(oauth::authenticate(db, &c.client_id, "wrong", Some(SECRET)).await.unwrap().is_none());
    assert!(oauth::authenticate(db, "nobody", &made.client_secret, Some(SECRET)).await.unwrap().is_none());

    let (token, expires_in) = oauth::issue_oauth_token(db, c, Duration::from_secs(480)).await.unwrap();
    assert_eq!(expires_in, 480);
    assert!(token.starts_with("lso_"));
    let stored = db.fetch_one(query("SELECT token_hash FROM oauth_tokens")).await.unwrap();
    assert_eq!(stored.get::<String>("token_hash").unwrap(), licensd_core::token::hash(&token));
    let by_token = oauth::oauth_token(db, &token).await.unwrap().unwrap();
    assert_eq!((by_token.id, by_token.products), (c.id, vec!["app".to_string()]));
    for nothing in ["", "lso_nothing", "\0", &"x".repeat(5000)] {
        assert!(oauth::oauth_token(db, nothing).await.unwrap().is_none(), "{nothing:?}");
    }

    // An expired token is refused, then swept.
    let (short, secs) = oauth::issue_oauth_token(db, c, Duration::ZERO).await.unwrap();
    assert_eq!(secs, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(oauth::oauth_token(db, &short).await.unwrap().is_none());
    assert_eq!(oauth::sweep_oauth_tokens(db).await.unwrap(), 1);
    assert!(oauth::oauth_token(db, &token).await.unwrap().is_some());

    // Revoking the client ends its tokens at once; no new one is issued.
    oauth::revoke_as(db, &ops(), c.id).await.unwrap();
    assert!(oauth::oauth_token(db, &token).await.unwrap().is_none());
    let n: i64 = db.fetch_one(query("SELECT COUNT(*) AS n FROM oauth_tokens")).await.unwrap().get("n").unwrap();
    assert_eq!(n, 0);
    assert!(matches!(oauth::issue_oauth_token(db, c, Duration::from_secs(60)).await, Err(StoreError::NotFound)));
    assert!(oauth::oauth_client(db, &c.client_id, Some(SECRET)).await.unwrap().is_none());
    let actions: Vec<String> = events(db, "oauth_client").await.into_iter().map(|e| e.0).collect();
    assert_eq!(actions, ["oauth_client.created", "oauth_client.revoked"]);
}

/// What one lookup costs (printed; run with `--nocapture`): the first of a sealed row derives its key with
/// Argon2id, every later one is an indexed read and an AEAD open.
async fn a_lookup_costs_one_indexed_read(db: &Db) {
    let made = api_keys::create_as(db, &ops(), &input("timed", &[]), Some(SECRET)).await.unwrap();
    // Another process's derivation cache would hide the first lookup's cost: a salt of its own is fresh here.
    let start = Instant::now();
    api_keys::lookup(db, &made.key.api_key, Some(SECRET)).await.unwrap().unwrap();
    let first = start.elapsed();
    let n = 2000;
    let start = Instant::now();
    for _ in 0..n {
        api_keys::lookup(db, &made.key.api_key, Some(SECRET)).await.unwrap().unwrap();
    }
    let each = start.elapsed() / n;
    println!("{:?}: first lookup {first:?} (the seal's key was derived at create), then {each:?} each", db.dialect());
    assert!(each < Duration::from_millis(20), "{each:?}");
}

macro_rules! both {
    ($case:ident: $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $case(&sqlite(stringify!($case)).await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let Some(db) = postgres("credentials").await else { return };
            $case(&db).await;
        }
    };
}

both!(api_keys_are_sealed_limited_and_revoked_at_once: sqlite_api_keys_are_sealed_limited_and_revoked_at_once, postgres_api_keys_are_sealed_limited_and_revoked_at_once);
both!(plaintext_secrets_are_sealed_later: sqlite_plaintext_secrets_are_sealed_later, postgres_plaintext_secrets_are_sealed_later);
both!(oauth_tokens_expire_and_die_with_their_client: sqlite_oauth_tokens_expire_and_die_with_their_client, postgres_oauth_tokens_expire_and_die_with_their_client);
both!(a_lookup_costs_one_indexed_read: sqlite_a_lookup_costs_one_indexed_read, postgres_a_lookup_costs_one_indexed_read);
