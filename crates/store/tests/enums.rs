//! A stored enum value licensd never writes (a `feature_type` of `bogus`, written with SQL) is a clean
//! `StoreError::Corrupt` naming the column and the value wherever the row is read: the management reads,
//! the client API's reads on both SQLite drivers, never a default and never a panic. SQLite always;
//! PostgreSQL when `LICENSD_TEST_POSTGRES` names a server.

use licensd_store::client::{self, ClientReq};
use licensd_store::db::{Db, query};
use licensd_store::{Scope, StoreError, licenses, products, templates, tokens};

const T: i64 = 1_700_000_000_000;

async fn exec(db: &Db, sql: &str) {
    db.execute(query(sql.to_string())).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn id(db: &Db, sql: &str) -> i64 {
    db.fetch_one(query(sql.to_string())).await.unwrap().get("id").unwrap()
}

/// The error says the row is corrupt, naming the column and the value found.
fn corrupt<T>(r: Result<T, StoreError>, col: &str, value: &str) {
    match r {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.contains(col) && m.contains(&format!("{value:?}")), "{col} = {value:?}: {m}")
        }
        Err(e) => panic!("{col} = {value:?}: expected a corrupt row, got {e:?}"),
        Ok(_) => panic!("{col} = {value:?}: read as if it were valid"),
    }
}

async fn unknown_values_are_corrupt_rows(db: &Db) {
    exec(
        db,
        &format!(
            "INSERT INTO products (product_name, short_code, created_at, updated_at) VALUES ('App', 'app', {T}, {T})"
        ),
    )
    .await;
    let product = id(db, "SELECT id FROM products WHERE short_code = 'app'").await;
    exec(
        db,
        &format!(
            "INSERT INTO product_features (product_id, code, name, feature_type, consumption_period, created_at, updated_at) \
             VALUES ({product}, 'pro', 'Pro', 'consumption', 'monthly', {T}, {T})"
        ),
    )
    .await;
    let feature = id(db, "SELECT id FROM product_features WHERE code = 'pro'").await;
    exec(
        db,
        &format!(
            "INSERT INTO license_templates (product_id, name, code, license_type, created_at, updated_at) \
             VALUES ({product}, 'Single', 'single', 'perpetual', {T}, {T})"
        ),
    )
    .await;
    let template = id(db, "SELECT id FROM license_templates WHERE code = 'single'").await;
    exec(
        db,
        &format!(
            "INSERT INTO licenses (license_key, product_id, license_type, created_at, updated_at) \
             VALUES ('AAAAA-BBBBB', {product}, 'perpetual', {T}, {T})"
        ),
    )
    .await;
    let license = id(db, "SELECT id FROM licenses WHERE license_key = 'AAAAA-BBBBB'").await;
    exec(db, &format!("INSERT INTO license_features (license_id, feature_id) VALUES ({license}, {feature})")).await;
    exec(db, &format!("INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ('ops', 'admin', 'h', {T})"))
        .await;
    let token = id(db, "SELECT id FROM api_tokens WHERE name = 'ops'").await;

    let sys = Scope::system();
    let req = |hw: &str| ClientReq {
        license_key: "AAAAA-BBBBB".into(),
        hardware_id: hw.into(),
        product: "app".into(),
        hostname: None,
        os: None,
        app_version: None,
    };
    // As written, every reader reads the values.
    let l = licenses::get(&mut &*db, &sys, license).await.unwrap();
    assert_eq!(l.product_features[0].feature_type.as_str(), "consumption");
    let f = products::get_feature(&mut &*db, &sys, feature).await.unwrap();
    assert_eq!(f.consumption_period.map(|p| p.as_str()), Some("monthly"));
    let o = client::activate(db, &req("hw-1")).await.unwrap();
    assert_eq!(o.license.features[0].feature_type.as_str(), "consumption");
    assert!(client::check(db, &req("hw-1")).await.unwrap().refusal.is_none());

    // A value licensd never writes, column by column; each restored afterwards.
    exec(db, "UPDATE product_features SET feature_type = 'bogus'").await;
    corrupt(licenses::get(&mut &*db, &sys, license).await, "feature_type", "bogus");
    corrupt(products::get_feature(&mut &*db, &sys, feature).await, "feature_type", "bogus");
    corrupt(client::check(db, &req("hw-1")).await, "feature_type", "bogus");
    corrupt(client::activate(db, &req("hw-2")).await, "feature_type", "bogus");
    exec(db, "UPDATE product_features SET feature_type = 'consumption'").await;

    exec(db, "UPDATE product_features SET consumption_period = 'fortnightly'").await;
    corrupt(products::get_feature(&mut &*db, &sys, feature).await, "consumption_period", "fortnightly");
    exec(db, "UPDATE product_features SET consumption_period = NULL").await;
    assert_eq!(products::get_feature(&mut &*db, &sys, feature).await.unwrap().consumption_period, None);

    exec(db, "UPDATE licenses SET license_type = 'lifetime'").await;
    corrupt(licenses::get(&mut &*db, &sys, license).await, "license_type", "lifetime");
    corrupt(client::check(db, &req("hw-1")).await, "license_type", "lifetime");
    exec(db, "UPDATE licenses SET license_type = 'perpetual'").await;

    exec(db, "UPDATE license_templates SET license_type = 'Perpetual'").await;
    corrupt(templates::get(&mut &*db, &sys, template).await, "license_type", "Perpetual");

    exec(db, "UPDATE products SET authorization_method = 'password'").await;
    corrupt(products::get(&mut &*db, &sys, product).await, "authorization_method", "password");

    exec(db, "UPDATE api_tokens SET role = 'root'").await;
    corrupt(tokens::get(&mut &*db, token).await, "role", "root");
    corrupt(tokens::list(db).await, "role", "root");

    // Nothing was written by the refused activation.
    let devices = db.fetch_one(query("SELECT COUNT(*) AS n FROM devices")).await.unwrap().get::<i64>("n").unwrap();
    assert_eq!(devices, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unknown_enum_values_are_corrupt_rows() {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("enums-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let db = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    unknown_values_are_corrupt_rows(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unknown_enum_values_are_corrupt_rows() {
    let Some(url) = licensd_testkit::fresh_postgres("enums") else { return };
    let db = Db::connect(&url).await.unwrap();
    unknown_values_are_corrupt_rows(&db).await;
}
