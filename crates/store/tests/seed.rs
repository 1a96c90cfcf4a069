//! `dev seed` data carries a history as the real flows leave one (friction log S6): every license its
//! `license.created`, every activation its `license.activated`, every disabled license its `license.disabled`,
//! each event with its license's product. SQLite always; PostgreSQL when `LICENSD_TEST_POSTGRES` is set.

use licensd_store::db::{Db, query};

async fn n(db: &Db, sql: &str) -> i64 {
    db.fetch_one(query(sql.to_string())).await.unwrap().get("n").unwrap()
}

async fn seeded_licenses_have_a_history(db: &Db) {
    let s = licensd_store::seed::seed(db, 40, 7, |_| {}).await.unwrap();
    assert_eq!(s.licenses, 40);
    let licenses = n(db, "SELECT COUNT(*) AS n FROM licenses").await;
    let devices = n(db, "SELECT COUNT(*) AS n FROM devices").await;
    let disabled = n(db, "SELECT COUNT(*) AS n FROM licenses WHERE NOT enabled").await;
    assert_eq!((licenses, devices), (40, s.devices));
    assert_eq!(n(db, "SELECT COUNT(*) AS n FROM events").await, licenses + devices + disabled);
    let without = n(
        db,
        "SELECT COUNT(*) AS n FROM licenses l WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.license_id = l.id \
         AND e.action = 'license.created' AND e.created_at = l.created_at)",
    )
    .await;
    assert_eq!(without, 0, "every license has its creation");
    let activated = n(
        db,
        "SELECT COUNT(*) AS n FROM events e JOIN devices d ON d.id = e.resource_id AND e.resource_type = 'device' \
         WHERE e.action = 'license.activated' AND e.actor = 'client' AND e.note = d.hardware_id",
    )
    .await;
    assert_eq!(activated, devices);
    let wrong_product = n(
        db,
        "SELECT COUNT(*) AS n FROM events e JOIN licenses l ON l.id = e.license_id WHERE e.product_id <> l.product_id",
    )
    .await;
    assert_eq!(wrong_product, 0);
    // The history reads back through the store, as the API shows it.
    let params = licensd_store::list::parse(&licensd_store::events::SPEC, &[], &[]).unwrap();
    let (count, events) = licensd_store::events::list(db, &licensd_store::Scope::system(), &params).await.unwrap();
    assert_eq!(count, licenses + devices + disabled);
    assert!(!events.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_seed_writes_a_history() {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("seed-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let db = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    seeded_licenses_have_a_history(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_seed_writes_a_history() {
    let Some(url) = licensd_testkit::fresh_postgres("seed") else { return };
    let db = Db::connect(&url).await.unwrap();
    seeded_licenses_have_a_history(&db).await;
    db.close().await;
}
