//! A DevMate license's status on import: blocked and refunded are kept (as `enabled` / `refunded`, a blocked
//! license disabled when its last "blocked" record says), the others follow from the expiry and the
//! activations as for every licensd license, and a status that does not is reported with the one licensd
//! derives. SQLite always; PostgreSQL when `LICENSD_TEST_POSTGRES` names a server.

use licensd_core::status::LicenseStatus;
use licensd_store::db::{Db, query};
use licensd_store::devmate::import::{Importer, MaxIds};
use licensd_store::{Scope, licenses};
use serde_json::{Value, json};

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
async fn sqlite_devmate_statuses_follow_core() {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("devmate-status-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let db = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    statuses_follow_core(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_devmate_statuses_follow_core() {
    let Some(url) = licensd_testkit::fresh_postgres("devmate_status") else { return };
    let db = Db::connect(&url).await.unwrap();
    statuses_follow_core(&db).await;
}
