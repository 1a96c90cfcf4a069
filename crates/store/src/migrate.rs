//! Schema migrations: numbered SQL scripts per dialect, compiled into the binary, applied in order at
//! start-up. Each runs in its own transaction with its version recorded, so a crash mid-way leaves the
//! schema at the previous version; concurrent starts (many instances on one PostgreSQL) serialise on an
//! advisory lock (SQLite: on `BEGIN IMMEDIATE`).

use crate::db::{Db, Dialect, query};
use crate::error::StoreError;

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("../migrations/sqlite/0002_client.sql"),
        postgres: include_str!("../migrations/postgres/0002_client.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("../migrations/sqlite/0003_search.sql"),
        postgres: include_str!("../migrations/postgres/0003_search.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("../migrations/sqlite/0004_trigram.sql"),
        postgres: include_str!("../migrations/postgres/0004_trigram.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("../migrations/sqlite/0005_search_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0005_search_indexes.sql"),
    },
    Migration {
        version: 6,
        sqlite: include_str!("../migrations/sqlite/0006_devmate.sql"),
        postgres: include_str!("../migrations/postgres/0006_devmate.sql"),
    },
    Migration {
        version: 7,
        sqlite: include_str!("../migrations/sqlite/0007_account_owner.sql"),
        postgres: include_str!("../migrations/postgres/0007_account_owner.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("../migrations/sqlite/0008_list_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0008_list_indexes.sql"),
    },
    Migration {
        version: 9,
        sqlite: include_str!("../migrations/sqlite/0009_checks.sql"),
        postgres: include_str!("../migrations/postgres/0009_checks.sql"),
    },
    Migration {
        version: 10,
        sqlite: include_str!("../migrations/sqlite/0010_activated_index.sql"),
        postgres: include_str!("../migrations/postgres/0010_activated_index.sql"),
    },
    Migration {
        version: 13,
        sqlite: include_str!("../migrations/sqlite/0013_signing_key_kdf.sql"),
        postgres: include_str!("../migrations/postgres/0013_signing_key_kdf.sql"),
    },
    Migration {
        version: 14,
        sqlite: include_str!("../migrations/sqlite/0014_license_files.sql"),
        postgres: include_str!("../migrations/postgres/0014_license_files.sql"),
    },
    // After 13 and 14 although numbered before them: databases made while 13 and 14 existed without it get it
    // last, so every database reaches it through the same schema (SQLite's 0011 rebuilds tables that 14 added
    // a column to, and must know every column).
    Migration {
        version: 11,
        sqlite: include_str!("../migrations/sqlite/0011_no_id_reuse.sql"),
        postgres: include_str!("../migrations/postgres/0011_no_id_reuse.sql"),
    },
    Migration {
        version: 15,
        sqlite: include_str!("../migrations/sqlite/0015_key_case.sql"),
        postgres: include_str!("../migrations/postgres/0015_key_case.sql"),
    },
];

/// An arbitrary constant: the key of the advisory lock migrations hold on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x006c_6963_656e_7364;

/// Applies every migration the database lacks.
pub async fn run(db: &Db) -> Result<(), StoreError> {
    run_without(db, None).await
}

/// Applies the migrations the database lacks that are listed before `skip`: with `Some(11)`, a database as
/// licensd left it before migration 11 (those listed after 11 came later still), for the tests that prove
/// that upgrade keeps every row.
#[doc(hidden)]
pub async fn run_without(db: &Db, skip: Option<i64>) -> Result<(), StoreError> {
    db.execute(query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    ))
    .await?;
    for m in MIGRATIONS.iter().take_while(|m| Some(m.version) != skip) {
        let mut tx = db.begin().await?;
        if tx.dialect() == Dialect::Postgres {
            // A server's connections carry a statement_timeout; waiting for another instance's migration, or
            // building an index on a large table, may rightly take longer.
            tx.execute(query("SET LOCAL statement_timeout = 0")).await?;
            tx.execute(query("SELECT pg_advisory_xact_lock(?)").bind(PG_MIGRATION_LOCK)).await?;
        }
        let done =
            tx.fetch_optional(query("SELECT version FROM schema_migrations WHERE version = ?").bind(m.version)).await?;
        if done.is_some() {
            continue;
        }
        let script = match tx.dialect() {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        tx.execute_script(script).await?;
        tx.execute(
            query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                .bind(m.version)
                .bind(licensd_core::time::now_ms()),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, "applied migration");
    }
    Ok(())
}
