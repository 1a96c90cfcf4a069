//! Upgrading a database that an older licensd filled keeps every row (security review M2: migration 11
//! rebuilds SQLite's tables so that ids are never reused, and gives events their product).
//!
//! The database is made as licensd left it before migration 11 (every other migration applied) and filled with
//! raw SQL touching every table, including an id reused across products and a deleted license whose events
//! stay.
//! SQLite always; PostgreSQL when `LICENSD_TEST_POSTGRES` names a server.

use std::collections::BTreeMap;

use licensd_store::Scope;
use licensd_store::db::{Db, Dialect, Value, query};
use serde_json::json;

const T: i64 = 1_700_000_000_000;

async fn sqlite_db(name: &str) -> (Db, String) {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let path = path.display().to_string();
    (Db::open(&format!("sqlite://{path}")).await.unwrap(), path)
}

async fn postgres_db(name: &str) -> Option<Db> {
    let url = licensd_testkit::fresh_postgres(&format!("lu_{name}"))?;
    Some(Db::open(&url).await.unwrap())
}

async fn ins(db: &Db, table: &str, cols: &[(&str, Value)]) {
    let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
    let marks = vec!["?"; cols.len()].join(", ");
    let mut q = query(format!("INSERT INTO {table} ({}) VALUES ({marks})", names.join(", ")));
    for (_, v) in cols {
        q = q.bind(v.clone());
    }
    db.execute(q).await.unwrap_or_else(|e| panic!("{table}: {e}"));
}

fn i(v: i64) -> Value {
    Value::from(v)
}
fn s(v: &str) -> Value {
    Value::from(v)
}
fn b(v: bool) -> Value {
    Value::from(v)
}

/// Rows in every table before migration 11, written as licensd 0.1 would have: two products; license 3 was first
/// product B's (created, deleted), then product A's; license 9 (the highest id) was deleted; customer 5 too.
async fn fill_before_11(db: &Db) {
    let t = || i(T);
    ins(
        db,
        "products",
        &[
            ("id", i(1)),
            ("product_name", s("App A")),
            ("short_code", s("appa")),
            ("created_at", t()),
            ("updated_at", t()),
        ],
    )
    .await;
    ins(
        db,
        "products",
        &[
            ("id", i(2)),
            ("product_name", s("App B")),
            ("short_code", s("appb")),
            ("is_bundle", b(false)),
            ("created_at", t()),
            ("updated_at", t()),
        ],
    )
    .await;
    ins(
        db,
        "product_features",
        &[
            ("id", i(1)),
            ("product_id", i(1)),
            ("code", s("f1")),
            ("name", s("F1")),
            ("feature_type", s("activation")),
            ("created_at", t()),
            ("updated_at", t()),
        ],
    )
    .await;
    for (id, p, code) in [(1, 1, "asingle"), (2, 2, "bsingle")] {
        ins(
            db,
            "license_templates",
            &[
                ("id", i(id)),
                ("product_id", i(p)),
                ("name", s(code)),
                ("code", s(code)),
                ("license_type", s("perpetual")),
                ("max_activations", i(2)),
                ("created_at", t()),
                ("updated_at", t()),
            ],
        )
        .await;
    }
    ins(
        db,
        "license_template_features",
        &[
            ("id", i(1)),
            ("template_id", i(1)),
            ("feature_id", i(1)),
            ("max_consumption", i(0)),
            ("allow_overages", b(false)),
            ("max_overages", i(0)),
        ],
    )
    .await;
    ins(
        db,
        "api_tokens",
        &[("id", i(1)), ("name", s("admin")), ("role", s("admin")), ("token_hash", s("h1")), ("created_at", t())],
    )
    .await;
    ins(
        db,
        "api_tokens",
        &[("id", i(2)), ("name", s("mgr")), ("role", s("manager")), ("token_hash", s("h2")), ("created_at", t())],
    )
    .await;
    ins(db, "api_token_products", &[("token_id", i(2)), ("product_id", i(1))]).await;
    ins(db, "labels", &[("id", i(1)), ("label", s("vip")), ("color", s("#f00"))]).await;
    ins(
        db,
        "customer_accounts",
        &[
            ("id", i(1)),
            ("name", s("Acme")),
            ("code", s("acme")),
            ("created_at", t()),
            ("updated_at", t()),
            ("created_by", i(2)),
        ],
    )
    .await;
    ins(
        db,
        "customers",
        &[
            ("id", i(1)),
            ("email", s("Victim@b.example")),
            ("email_norm", s("victim@b.example")),
            ("first_name", s("Vic")),
            ("company_name", s("Bcorp")),
            ("note", s("B-internal")),
            ("created_at", t()),
            ("updated_at", t()),
            ("customer_account_id", i(1)),
        ],
    )
    .await;
    ins(
        db,
        "customers",
        &[
            ("id", i(2)),
            ("email", s("a@a.example")),
            ("email_norm", s("a@a.example")),
            ("created_by", i(2)),
            ("created_at", t()),
            ("updated_at", t()),
        ],
    )
    .await;
    ins(db, "customer_labels", &[("id", i(1)), ("customer_id", i(1)), ("label_id", i(1))]).await;
    ins(
        db,
        "orders",
        &[
            ("id", i(1)),
            ("store_id", s("B-ORDER-1")),
            ("customer_id", i(1)),
            ("created_at", t()),
            ("updated_at", t()),
            ("customer_account_id", i(1)),
        ],
    )
    .await;
    // License 2 belongs to bundle license 4: a reference to a higher id, which a copy in id order meets first.
    for (id, p, tpl, key, customer, order, bundle) in [
        (1, 2, 2, "KEY-B-1", Some(1), Some(1), None::<i64>),
        (2, 1, 1, "KEY-A-2", Some(2), None, None),
        (3, 1, 1, "KEY-A-3", None, None, None),
        (4, 1, 1, "KEY-A-4", None, None, None),
    ] {
        ins(
            db,
            "licenses",
            &[
                ("id", i(id)),
                ("license_key", s(key)),
                ("product_id", i(p)),
                ("template_id", i(tpl)),
                ("customer_id", Value::from(customer)),
                ("order_id", Value::from(order)),
                ("bundle_license_id", Value::from(bundle)),
                ("license_type", s("perpetual")),
                ("max_activations", i(2)),
                ("times_activated", i(1)),
                ("note", s(&format!("note of {key}"))),
                ("created_at", t()),
                ("updated_at", t()),
            ],
        )
        .await;
    }
    db.execute(query("UPDATE licenses SET bundle_license_id = 4 WHERE id = 2")).await.unwrap();
    ins(db, "license_features", &[("id", i(1)), ("license_id", i(2)), ("feature_id", i(1))]).await;
    ins(
        db,
        "devices",
        &[
            ("id", i(1)),
            ("license_id", i(2)),
            ("hardware_id", s("hw-1")),
            ("hostname", s("host-one")),
            ("time_activated", t()),
        ],
    )
    .await;
    ins(
        db,
        "devices",
        &[
            ("id", i(2)),
            ("license_id", i(3)),
            ("hardware_id", s("hw-3")),
            ("hostname", s("host-three")),
            ("time_activated", t()),
            ("lease_expires_at", t()),
            ("file_expires_at", i(T + 5)),
        ],
    )
    .await;
    ins(
        db,
        "trials",
        &[("id", i(1)), ("product_id", i(1)), ("hardware_id", s("hw-1")), ("license_id", i(2)), ("created_at", t())],
    )
    .await;
    ins(
        db,
        "license_users",
        &[
            ("id", i(1)),
            ("true_email", s("Bob@b.example")),
            ("email_norm", s("bob@b.example")),
            ("first_name", s("Bob")),
            ("phone_number", s("+1-555-0300")),
            ("created_at", t()),
            ("updated_at", t()),
        ],
    )
    .await;
    ins(
        db,
        "license_license_users",
        &[("id", i(1)), ("license_id", i(1)), ("license_user_id", i(1)), ("created_at", t())],
    )
    .await;
    ins(db, "devmate_license_type_products", &[("template_id", i(1)), ("product_id", i(1)), ("position", i(0))]).await;
    ins(db, "devmate_license_type_products", &[("template_id", i(1)), ("product_id", i(2)), ("position", i(1))]).await;
    ins(db, "device_checks", &[("device_id", i(1)), ("last_check", t())]).await;
    ins(db, "license_checks", &[("license_id", i(2)), ("last_check", t())]).await;
    ins(
        db,
        "signing_keys",
        &[("id", i(1)), ("key_id", s("kid1")), ("public_key", s("pk")), ("secret", s("sk")), ("created_at", t())],
    )
    .await;
    ins(db, "devmate_records", &[("kind", s("customer")), ("id", i(1)), ("imported_at", t())]).await;
    let lic = |id: i64, product: i64, note: &str| json!({"id": id, "product": {"id": product, "short_code": "x"}, "note": note});
    for (id, action, actor, rtype, rid, license, before, after) in [
        (1, "license.created", "admin", "license", 3, Some(3), None, Some(lic(3, 2, "B secret note"))),
        (2, "license.deleted", "admin", "license", 3, Some(3), Some(lic(3, 2, "B secret note")), None),
        (3, "license.created", "mgr", "license", 3, Some(3), None, Some(lic(3, 1, ""))),
        (4, "license.activated", "client", "device", 2, Some(3), None, Some(json!({"hardware_id": "hw-3"}))),
        (5, "license.created", "admin", "license", 9, Some(9), None, Some(lic(9, 2, ""))),
        (6, "license.deleted", "admin", "license", 9, Some(9), Some(lic(9, 2, "")), None),
        (7, "customer.created", "admin", "customer", 5, None, None, Some(json!({"id": 5}))),
        (8, "license.activated", "devmate-import", "device", 1, Some(1), None, Some(json!({"devmate": {"type": 1}}))),
        (9, "license.user_assigned", "admin", "license_user", 1, Some(1), None, Some(json!({"id": 1}))),
        (10, "license.consumed", "client", "license", 2, Some(2), None, None),
    ] {
        ins(
            db,
            "events",
            &[
                ("id", i(id)),
                ("action", s(action)),
                ("actor", s(actor)),
                ("resource_type", s(rtype)),
                ("resource_id", i(rid)),
                ("license_id", Value::from(license)),
                ("before_json", Value::from(before.map(|v| v.to_string()))),
                ("after_json", Value::from(after.map(|v| v.to_string()))),
                ("created_at", i(T + id)),
            ],
        )
        .await;
    }
    if db.dialect() == Dialect::Postgres {
        // Explicit ids leave identity sequences behind: move them where licensd's own inserts had left them
        // (license 9 and customer 5 were made, then deleted).
        for (t, made) in [("customers", 5), ("licenses", 9)] {
            db.fetch_all(query(format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), {made})"))).await.unwrap();
        }
        for t in [
            "products",
            "product_features",
            "license_templates",
            "license_template_features",
            "api_tokens",
            "labels",
            "customer_accounts",
            "customer_labels",
            "orders",
            "license_features",
            "devices",
            "trials",
            "license_users",
            "license_license_users",
            "signing_keys",
            "events",
        ] {
            let sql = format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))");
            db.fetch_all(query(sql)).await.unwrap();
        }
    }
}

/// Every table before migration 11 and its row count after [`fill_before_11`].
const TABLES: &[(&str, i64)] = &[
    ("products", 2),
    ("product_features", 1),
    ("license_templates", 2),
    ("license_template_features", 1),
    ("api_tokens", 2),
    ("api_token_products", 1),
    ("labels", 1),
    ("customer_accounts", 1),
    ("customers", 2),
    ("customer_labels", 1),
    ("orders", 1),
    ("licenses", 4),
    ("license_features", 1),
    ("devices", 2),
    ("trials", 1),
    ("license_users", 1),
    ("license_license_users", 1),
    ("devmate_license_type_products", 2),
    ("device_checks", 1),
    ("license_checks", 1),
    ("signing_keys", 1),
    ("devmate_records", 1),
    ("events", 10),
];

async fn count(db: &Db, table: &str) -> i64 {
    db.fetch_one(query(format!("SELECT COUNT(*) AS n FROM {table}"))).await.unwrap().get("n").unwrap()
}

async fn event_products(db: &Db) -> Vec<(i64, Option<i64>)> {
    let rows = db.fetch_all(query("SELECT id, product_id FROM events ORDER BY id")).await.unwrap();
    rows.iter().map(|r| (r.get("id").unwrap(), r.get("product_id").unwrap())).collect()
}

/// What the upgrade must give every event: its own product, whoever holds the license id now.
const EXPECTED_EVENT_PRODUCTS: &[(i64, Option<i64>)] = &[
    (1, Some(2)),
    (2, Some(2)),
    (3, Some(1)),
    (4, Some(1)),
    (5, Some(2)),
    (6, Some(2)),
    (7, None),
    (8, Some(2)),
    (9, Some(2)),
    (10, Some(1)),
];

/// Migration 16 keeps what tokens could see: the admin every product, the manager its product only (a flag
/// now, so a limited token whose products are all deleted sees nothing rather than everything).
async fn tokens_after_upgrade(db: &Db) {
    let tokens = licensd_store::tokens::list(db).await.unwrap();
    let seen: Vec<(&str, &str, bool, Vec<String>, &str)> = tokens
        .iter()
        .map(|t| (t.name.as_str(), t.role.as_str(), t.all_products, t.products.clone(), t.description.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![("admin", "admin", true, vec![], ""), ("mgr", "manager", false, vec!["appa".to_string()], "")]
    );
    assert!(tokens.iter().all(|t| t.expires_at.is_none() && t.last_used_at.is_none()));
}

/// Before migration 16 several live tokens could share a name; the oldest keeps it, the others are renamed
/// (and keep working), revoked ones are left alone, and from then on a second live token of a name is refused.
async fn duplicate_token_names_are_made_unique(db: &Db) {
    licensd_store::migrate::run_without(db, Some(16)).await.unwrap();
    for (id, revoked) in [(1, false), (2, true), (3, false), (4, false)] {
        let mut cols = vec![
            ("id", i(id)),
            ("name", s("ci")),
            ("role", s("admin")),
            ("token_hash", s(&format!("h{id}"))),
            ("created_at", i(T)),
        ];
        if revoked {
            cols.push(("revoked_at", i(T + 1)));
        }
        ins(db, "api_tokens", &cols).await;
    }
    licensd_store::migrate::run(db).await.unwrap();
    let names: Vec<(i64, String)> =
        licensd_store::tokens::list(db).await.unwrap().into_iter().map(|t| (t.id, t.name)).collect();
    assert_eq!(names, vec![(1, "ci".into()), (2, "ci".into()), (3, "ci #3".into()), (4, "ci #4".into())]);
    if db.dialect() == Dialect::Postgres {
        db.fetch_all(query("SELECT setval(pg_get_serial_sequence('api_tokens', 'id'), 4)")).await.unwrap();
    }
    let e = licensd_store::tokens::create(db, "ci", licensd_core::model::Role::Admin, &[]).await.unwrap_err();
    assert!(
        matches!(&e, licensd_store::StoreError::Conflict { field, message } if field == "name" && message.contains("(id 1)")),
        "{e:?}"
    );
    licensd_store::tokens::create(db, "ci #5", licensd_core::model::Role::Admin, &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_to_16_makes_live_token_names_unique() {
    let (db, _) = sqlite_db("upgrade-16").await;
    duplicate_token_names_are_made_unique(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_to_16_makes_live_token_names_unique() {
    let Some(db) = postgres_db("m16").await else { return };
    duplicate_token_names_are_made_unique(&db).await;
    db.close().await;
}

/// After the upgrade licensd works on the data as before: a new license gets an id no event ever named,
/// and is found through the search index the triggers keep.
async fn use_after_upgrade(db: &Db) {
    let input = licensd_core::model::LicenseInput {
        license_template: Some(licensd_core::model::TemplateRef::Code("asingle".into())),
        license_key: Some("NEW-KEY-AFTER-UPGRADE".into()),
        ..Default::default()
    };
    let l = licensd_store::licenses::create(db, &Scope::system(), &input).await.unwrap();
    assert!(l.id > 9, "license id {} was named by the events of a deleted license", l.id);
    licensd_store::licenses::delete(db, &Scope::system(), l.id).await.unwrap();
    let again = licensd_store::licenses::create(db, &Scope::system(), &input).await.unwrap();
    assert!(again.id > l.id, "the deleted license's id {} was handed out again", l.id);
    let params = licensd_store::list::parse(
        &licensd_store::licenses::SPEC,
        &[("license_key__icontains".to_string(), "after-upgrade".to_string())],
        &[],
    )
    .unwrap();
    let (n, found) = licensd_store::licenses::list(db, &Scope::system(), &params).await.unwrap();
    assert_eq!((n, found[0].id), (1, again.id));
    let params = licensd_store::list::parse(
        &licensd_store::licenses::SPEC,
        &[("devices__hostname__icontains".to_string(), "three".to_string())],
        &[],
    )
    .unwrap();
    assert_eq!(licensd_store::licenses::list(db, &Scope::system(), &params).await.unwrap().0, 1);
    let c = licensd_store::customers::create(
        db,
        &Scope::system(),
        licensd_core::model::CustomerInput { email: Some("new@example.com".into()), ..Default::default() },
    )
    .await
    .unwrap();
    assert!(c.id > 5, "customer id {} was named by the events of a deleted customer", c.id);
    // Every event written now carries its product, through any path.
    let rows = db
        .fetch_all(query("SELECT product_id FROM events WHERE license_id = ? ORDER BY id").bind(again.id))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(r.get::<Option<i64>>("product_id").unwrap(), Some(1));
    }
}

/// A table's schema as SQLite reports it: columns, foreign keys, indexes and triggers (with their SQL).
type Schema = BTreeMap<String, Vec<String>>;

fn sqlite_schema(c: &rusqlite::Connection, table: &str) -> Schema {
    let mut out = BTreeMap::new();
    let mut dump = |key: &str, sql: &str| {
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        let rows: Vec<String> = st
            .query_map([], |r| Ok((0..n).map(|i| text(r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|")))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.insert(key.to_string(), rows);
    };
    dump(
        "columns",
        &format!("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{table}') ORDER BY cid"),
    );
    dump(
        "foreign_keys",
        &format!(
            "SELECT \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list('{table}') ORDER BY id, seq"
        ),
    );
    dump(
        "indexes",
        &format!("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' ORDER BY name"),
    );
    dump(
        "triggers",
        &format!("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{table}' ORDER BY name"),
    );
    out
}

fn text(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("x{b:?}"),
    }
}

fn sqlite_rows(c: &rusqlite::Connection, table: &str, cols: &str) -> Vec<String> {
    let mut st = c.prepare(&format!("SELECT {cols} FROM {table} ORDER BY 1, 2")).unwrap();
    let n = st.column_count();
    st.query_map([], |r| Ok((0..n).map(|i| text(r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|")))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_to_11_keeps_every_row_index_and_trigger_and_never_reuses_ids() {
    let (db, path) = sqlite_db("upgrade-11").await;
    licensd_store::migrate::run_without(&db, Some(11)).await.unwrap();
    fill_before_11(&db).await;

    let before: BTreeMap<&str, (Schema, Vec<String>)> = {
        let c = rusqlite::Connection::open(&path).unwrap();
        TABLES.iter().map(|(t, _)| (*t, (sqlite_schema(&c, t), sqlite_rows(&c, t, "*")))).collect()
    };
    licensd_store::migrate::run_until(&db, 11).await.unwrap();

    let c = rusqlite::Connection::open(&path).unwrap();
    for (t, n) in TABLES {
        assert_eq!(count(&db, t).await, *n, "rows of {t}");
        let (schema_before, rows_before) = &before[t];
        let mut schema_after = sqlite_schema(&c, t);
        let rows_after = if *t == "events" || *t == "trials" {
            // The new columns (events.product_id, trials.email) come last; the old ones hold what they held.
            let old_cols: Vec<String> = schema_before["columns"]
                .iter()
                .map(|c| c.split('|').next().unwrap().trim_matches('\'').to_string())
                .collect();
            sqlite_rows(&c, t, &old_cols.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", "))
        } else {
            sqlite_rows(&c, t, "*")
        };
        assert_eq!(&rows_after, rows_before, "data of {t}");
        // What the upgrade adds, checked and then set aside to compare the rest exactly.
        match *t {
            "events" => {
                assert_eq!(schema_after.get_mut("columns").unwrap().pop().unwrap(), "'product_id'|'BIGINT'|0|NULL|0");
                let idx = schema_after.get_mut("indexes").unwrap();
                idx.retain(|i| !i.contains("ix_events_product"));
                let trg = schema_after.get_mut("triggers").unwrap();
                assert_eq!(trg.len(), 1, "{trg:?}");
                trg.clear();
            }
            "trials" => {
                assert_eq!(schema_after.get_mut("columns").unwrap().pop().unwrap(), "'email'|'TEXT'|0|NULL|0");
                schema_after.get_mut("indexes").unwrap().retain(|i| !i.contains("ix_trials_license"));
            }
            "licenses" => {
                // Migration 15, which comes after 11.
                let idx = schema_after.get_mut("indexes").unwrap();
                assert_eq!(idx.iter().filter(|i| i.contains("ix_licenses_license_key_upper")).count(), 1, "{idx:?}");
                idx.retain(|i| !i.contains("ix_licenses_license_key_upper"));
            }
            _ => {}
        }
        assert_eq!(&schema_after, schema_before, "schema of {t}");
    }
    // Every table with an id of its own numbers with AUTOINCREMENT now, and nothing of the rebuild is left.
    let plain: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%id INTEGER PRIMARY KEY,%' \
             AND name NOT IN ('events', 'signing_keys') AND name NOT LIKE '%\\_fts\\_%' ESCAPE '\\'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(plain.is_empty(), "tables still reusing ids: {plain:?}");
    let leftovers: i64 =
        c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'm11_%'", [], |r| r.get(0)).unwrap();
    assert_eq!(leftovers, 0);
    let fk_violations: i64 = c.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk_violations, 0);
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let seq = |name: &str| -> i64 {
        c.query_row("SELECT seq FROM sqlite_sequence WHERE name = ?", [name], |r| r.get(0)).unwrap()
    };
    assert_eq!(seq("licenses"), 9, "past the deleted license 9");
    assert_eq!(seq("customers"), 5, "past the deleted customer 5");
    assert_eq!(seq("devices"), 2);
    assert_eq!(seq("license_users"), 1);
    drop(c);

    assert_eq!(event_products(&db).await, EXPECTED_EVENT_PRODUCTS);
    licensd_store::migrate::run(&db).await.unwrap();
    tokens_after_upgrade(&db).await;
    use_after_upgrade(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_to_11_keeps_every_row_and_gives_events_their_product() {
    let Some(db) = postgres_db("m11").await else { return };
    licensd_store::migrate::run_without(&db, Some(11)).await.unwrap();
    fill_before_11(&db).await;
    licensd_store::migrate::run(&db).await.unwrap();
    for (t, n) in TABLES {
        assert_eq!(count(&db, t).await, *n, "rows of {t}");
    }
    assert_eq!(event_products(&db).await, EXPECTED_EVENT_PRODUCTS);
    tokens_after_upgrade(&db).await;
    use_after_upgrade(&db).await;
    db.close().await;
}

/// DevMate's import numbers the orders and devices it makes itself: after every id the table ever handed
/// out, not after the highest one left (a deleted order's or device's events still name its id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_devmate_import_never_reuses_a_freed_order_or_device_id() {
    let (db, _) = sqlite_db("import-ids").await;
    licensd_store::migrate::run(&db).await.unwrap();
    let t = || i(T);
    ins(
        &db,
        "products",
        &[("id", i(1)), ("product_name", s("P")), ("short_code", s("p")), ("created_at", t()), ("updated_at", t())],
    )
    .await;
    ins(
        &db,
        "licenses",
        &[
            ("id", i(1)),
            ("license_key", s("K1")),
            ("product_id", i(1)),
            ("license_type", s("perpetual")),
            ("created_at", t()),
            ("updated_at", t()),
        ],
    )
    .await;
    for n in 1..=3 {
        ins(
            &db,
            "orders",
            &[("id", i(n)), ("store_id", s(&format!("O-{n}"))), ("created_at", t()), ("updated_at", t())],
        )
        .await;
        ins(
            &db,
            "devices",
            &[("id", i(n)), ("license_id", i(1)), ("hardware_id", s(&format!("hw-{n}"))), ("time_activated", t())],
        )
        .await;
    }
    db.execute(query("DELETE FROM orders WHERE id > 1")).await.unwrap();
    db.execute(query("DELETE FROM devices WHERE id > 1")).await.unwrap();

    let record = json!({"id": 100, "email": "imp@example.com", "first_name": "", "last_name": "", "company": "",
        "phone": "", "address": "", "note": "", "date_added": 1446563864,
        "licenses": [{"license_type_name": "T", "license_type_id": 26, "invoice": "INV-1", "campaign": "",
            "activations_used": 1, "id": 1185, "expiration_date": null,
            "products": [{"id": 7, "name": "Imp", "bundle_id": "com.example.imp", "use_offline_license": false}],
            "is_subscription": false, "status": 2, "activations_total": 65535, "activation_key": "id593311373237odr",
            "history": [{"type": 2, "user_name": "", "note": "", "timestamp": 1446563864},
                        {"type": 1, "user_name": "", "note": "", "timestamp": 1446563900, "identifiers": "hw-imp"}]}]});
    let c = licensd_core::devmate::parse_customer(&record).unwrap();
    let mut max = licensd_store::devmate::import::MaxIds::default();
    max.add(&c);
    let out = licensd_store::devmate::import::Importer::new(max).apply_batch(&db, &[&c]).await.unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    let order: i64 =
        db.fetch_one(query("SELECT id FROM orders WHERE store_id = 'INV-1'")).await.unwrap().get("id").unwrap();
    assert_eq!(order, 4, "orders 2 and 3 were handed out before");
    let device: i64 =
        db.fetch_one(query("SELECT id FROM devices WHERE hardware_id = 'hw-imp'")).await.unwrap().get("id").unwrap();
    assert_eq!(device, 4, "devices 2 and 3 were handed out before");
}
