//! Stored enum values, read back. A value licensd never writes (a `feature_type` of `bogus`, written with
//! SQL) is a clean `StoreError::Corrupt` naming the column and the value wherever the row is read: the
//! management reads, the client API's reads on both SQLite drivers, never a default and never a panic.
//! A DevMate license's status number on import: blocked and refunded are kept (as `enabled` / `refunded`,
//! a blocked license disabled when its last "blocked" record says), the others follow from the expiry and
//! the activations as for every licensd license, and a status that does not is reported with the one
//! licensd derives. SQLite always; PostgreSQL when `LICENSD_TEST_POSTGRES` names a server.

use licensd_core::status::LicenseStatus;
use licensd_store::client_api::{self, ClientReq};
use licensd_store::db::{Db, query};
use licensd_store::devmate::import::{Importer, MaxIds};
use licensd_store::{Scope, StoreError, licenses, products, templates, tokens};
use serde_json::{Value, json};

/// A fresh, migrated SQLite database.
async fn sqlite(name: &str) -> Db {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Db::connect(&format!("sqlite://{}", path.display())).await.unwrap()
}

/// A fresh, migrated PostgreSQL database, when a server is configured.
async fn postgres(name: &str) -> Option<Db> {
    Some(Db::connect(&licensd_testkit::fresh_postgres(name)?).await.unwrap())
}

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
    let o = client_api::activate(db, &req("hw-1")).await.unwrap();
    assert_eq!(o.license.features[0].feature_type.as_str(), "consumption");
    assert!(client_api::check(db, &req("hw-1")).await.unwrap().refusal.is_none());

    // A value licensd never writes, column by column; each restored afterwards.
    exec(db, "UPDATE product_features SET feature_type = 'bogus'").await;
    corrupt(licenses::get(&mut &*db, &sys, license).await, "feature_type", "bogus");
    corrupt(products::get_feature(&mut &*db, &sys, feature).await, "feature_type", "bogus");
    corrupt(client_api::check(db, &req("hw-1")).await, "feature_type", "bogus");
    corrupt(client_api::activate(db, &req("hw-2")).await, "feature_type", "bogus");
    exec(db, "UPDATE product_features SET feature_type = 'consumption'").await;

    exec(db, "UPDATE product_features SET consumption_period = 'fortnightly'").await;
    corrupt(products::get_feature(&mut &*db, &sys, feature).await, "consumption_period", "fortnightly");
    exec(db, "UPDATE product_features SET consumption_period = NULL").await;
    assert_eq!(products::get_feature(&mut &*db, &sys, feature).await.unwrap().consumption_period, None);

    exec(db, "UPDATE licenses SET license_type = 'lifetime'").await;
    corrupt(licenses::get(&mut &*db, &sys, license).await, "license_type", "lifetime");
    corrupt(client_api::check(db, &req("hw-1")).await, "license_type", "lifetime");
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

const CREATED: i64 = 1_446_563_864;
const BLOCKED: i64 = 1_446_600_000;

/// A license of DevMate's export: `id`, its status number, activations used and expiry (UNIX seconds).
fn license(id: i64, status: i64, used: i64, expires: Option<i64>) -> Value {
    let mut history = vec![json!({"type": 2, "user_name": "", "note": "", "timestamp": CREATED})];
    if status == 4 {
        history.push(json!({"type": 4, "user_name": "", "note": "", "timestamp": BLOCKED}));
    }
    json!({"license_type_name": "Single", "license_type_id": 26, "invoice": "", "campaign": "",
        "activations_used": used, "id": id, "expiration_date": expires,
        "products": [{"id": 7, "name": "Imp", "bundle_id": "com.example.imp", "use_offline_license": false}],
        "is_subscription": false, "status": status, "activations_total": 65535,
        "activation_key": format!("id59331137323{id}odr"), "history": history})
}

async fn statuses_follow_core(db: &Db) {
    let past = CREATED + 10;
    let record = json!({"id": 100, "email": "imp@example.com", "first_name": "", "last_name": "", "company": "",
        "phone": "", "address": "", "note": "", "date_added": CREATED,
        "licenses": [license(1, 1, 0, None), license(2, 2, 1, None), license(3, 3, 1, Some(past)),
            license(4, 4, 1, None), license(5, 5, 0, Some(past)), license(6, 1, 2, None), license(7, 3, 0, None),
            license(8, 2, 0, Some(past))]});
    let c = licensd_core::devmate::parse_customer(&record).unwrap();
    let mut max = MaxIds::default();
    max.add(&c);
    let out = Importer::new(max).apply_batch(db, &[&c]).await.unwrap();
    let applied = out[0].as_ref().unwrap();
    assert_eq!(applied.licenses_created, 8);
    let warning = |id: i64, given: i64, derived: i64| {
        format!(
            "license #{id}: status {given} does not follow from its expiration date and activations; licensd \
             derives status {derived}"
        )
    };
    assert_eq!(applied.warnings, [warning(6, 1, 2), warning(7, 3, 1), warning(8, 2, 3)]);

    use LicenseStatus::*;
    let expected = [
        (1, Inactive, true, false, None),
        (2, Active, true, false, None),
        (3, Expired, true, false, None),
        (4, Disabled, false, false, Some(BLOCKED * 1000)),
        (5, Refunded, true, true, None),
        (6, Active, true, false, None),
        (7, Inactive, true, false, None),
        (8, Expired, true, false, None),
    ];
    for (id, status, enabled, refunded, disabled_at) in expected {
        let l = licenses::get(&mut &*db, &Scope::system(), id).await.unwrap();
        assert_eq!((l.status, l.enabled, l.refunded), (status, enabled, refunded), "license #{id}");
        let row = db.fetch_one(query("SELECT time_disabled FROM licenses WHERE id = ?").bind(id)).await.unwrap();
        assert_eq!(row.get::<Option<i64>>("time_disabled").unwrap(), disabled_at, "license #{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unknown_enum_values_are_corrupt_rows() {
    unknown_values_are_corrupt_rows(&sqlite("enums").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unknown_enum_values_are_corrupt_rows() {
    let Some(db) = postgres("enums").await else { return };
    unknown_values_are_corrupt_rows(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_devmate_statuses_follow_core() {
    statuses_follow_core(&sqlite("devmate-status").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_devmate_statuses_follow_core() {
    let Some(db) = postgres("devmate_status").await else { return };
    statuses_follow_core(&db).await;
}
