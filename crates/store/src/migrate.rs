//! Schema migrations: numbered SQL scripts per dialect, compiled into the binary, applied in order at
//! start-up. Each runs in its own transaction with its version recorded, so a crash mid-way leaves the
//! schema at the previous version; concurrent starts (many instances on one PostgreSQL) serialise on an
//! advisory lock (SQLite: on `BEGIN IMMEDIATE`), the bookkeeping table included. Each applied migration is
//! recorded with its checksum: a binary refuses a database whose schema is newer than it knows, or whose
//! applied migrations were edited since ([`status`]).

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
    Migration {
        version: 16,
        sqlite: include_str!("../migrations/sqlite/0016_tokens.sql"),
        postgres: include_str!("../migrations/postgres/0016_tokens.sql"),
    },
    Migration {
        version: 17,
        sqlite: include_str!("../migrations/sqlite/0017_key_canonical.sql"),
        postgres: include_str!("../migrations/postgres/0017_key_canonical.sql"),
    },
    Migration {
        version: 18,
        sqlite: include_str!("../migrations/sqlite/0018_dashboard_users.sql"),
        postgres: include_str!("../migrations/postgres/0018_dashboard_users.sql"),
    },
    Migration {
        version: 20,
        sqlite: include_str!("../migrations/sqlite/0020_client_daily.sql"),
        postgres: include_str!("../migrations/postgres/0020_client_daily.sql"),
    },
    Migration {
        version: 19,
        sqlite: include_str!("../migrations/sqlite/0019_dashboard_invitations.sql"),
        postgres: include_str!("../migrations/postgres/0019_dashboard_invitations.sql"),
    },
    Migration {
        version: 21,
        sqlite: include_str!("../migrations/sqlite/0021_devmate_import_runs.sql"),
        postgres: include_str!("../migrations/postgres/0021_devmate_import_runs.sql"),
    },
    Migration {
        version: 24,
        sqlite: include_str!("../migrations/sqlite/0024_list_order_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0024_list_order_indexes.sql"),
    },
    // 22 and 23 after 24 although numbered before it (issue 15's parts took them while 24 landed first):
    // applied in list order, so a database that has 24 gets them next.
    Migration {
        version: 22,
        sqlite: include_str!("../migrations/sqlite/0022_rsa_signing_keys.sql"),
        postgres: include_str!("../migrations/postgres/0022_rsa_signing_keys.sql"),
    },
    Migration {
        version: 23,
        sqlite: include_str!("../migrations/sqlite/0023_api_keys.sql"),
        postgres: include_str!("../migrations/postgres/0023_api_keys.sql"),
    },
    Migration {
        version: 26,
        sqlite: include_str!("../migrations/sqlite/0026_device_variables.sql"),
        postgres: include_str!("../migrations/postgres/0026_device_variables.sql"),
    },
    Migration {
        version: 27,
        sqlite: include_str!("../migrations/sqlite/0027_floating_features.sql"),
        postgres: include_str!("../migrations/postgres/0027_floating_features.sql"),
    },
    Migration {
        version: 28,
        sqlite: include_str!("../migrations/sqlite/0028_license_user_passwords.sql"),
        postgres: include_str!("../migrations/postgres/0028_license_user_passwords.sql"),
    },
    Migration {
        version: 29,
        sqlite: include_str!("../migrations/sqlite/0029_product_versions.sql"),
        postgres: include_str!("../migrations/postgres/0029_product_versions.sql"),
    },
];

/// An arbitrary constant: the key of the advisory lock migrations hold on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x006c_6963_656e_7364;

/// The versions this binary knows, in the order it applies them.
pub fn known_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// The highest version this binary knows (what messages call "this binary's schema").
pub fn latest_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A migration script's checksum: SHA-256 of its text with line endings made `\n` (a checkout with CRLF
/// endings is the same migration).
fn checksum(script: &str) -> String {
    licensd_core::token::sha256_hex(script.replace("\r\n", "\n").as_bytes())
}

fn script(m: &Migration, dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => m.sqlite,
        Dialect::Postgres => m.postgres,
    }
}

/// Where a database's schema stands against this binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Applied versions, in the order they were applied.
    pub applied: Vec<i64>,
    /// Versions this binary would apply, in order.
    pub pending: Vec<i64>,
}

/// The database's migrations without changing anything: `Err` when the schema is newer than this binary or an
/// applied migration differs from this binary's copy ([`run`] refuses the same databases).
pub async fn status(db: &Db) -> Result<Status, StoreError> {
    let exists = match db.dialect() {
        Dialect::Sqlite => db
            .fetch_optional(query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"))
            .await?
            .is_some(),
        Dialect::Postgres => db
            .fetch_optional(query("SELECT tablename FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()"))
            .await?
            .is_some(),
    };
    if !exists {
        return Ok(Status { applied: Vec::new(), pending: known_versions() });
    }
    let has_checksum = has_checksum_column(db).await?;
    let sql = if has_checksum {
        "SELECT version, checksum FROM schema_migrations ORDER BY applied_at, version"
    } else {
        "SELECT version, NULL AS checksum FROM schema_migrations ORDER BY applied_at, version"
    };
    let rows = db.fetch_all(query(sql)).await?;
    let mut applied = Vec::new();
    for r in &rows {
        applied.push((r.get::<i64>("version")?, r.get::<Option<String>>("checksum")?));
    }
    check_applied(&applied, db.dialect())?;
    let done: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
    Ok(Status { pending: MIGRATIONS.iter().map(|m| m.version).filter(|v| !done.contains(v)).collect(), applied: done })
}

/// Refuses a schema this binary cannot serve: versions it does not know (a newer licensd migrated it), or an
/// applied migration whose recorded checksum is not this binary's script (an edited migration).
fn check_applied(applied: &[(i64, Option<String>)], dialect: Dialect) -> Result<(), StoreError> {
    let unknown: Vec<String> = applied
        .iter()
        .filter(|(v, _)| !MIGRATIONS.iter().any(|m| m.version == *v))
        .map(|(v, _)| v.to_string())
        .collect();
    if !unknown.is_empty() {
        let newest = applied.iter().map(|(v, _)| *v).max().unwrap_or(0);
        return Err(StoreError::Config(format!(
            "the database schema is newer than this binary: it is at version {newest} (with migration{} {} that this \
             binary does not know), and licensd {} knows versions up to {}. A newer licensd upgraded it: run that \
             version, or restore a backup made before the upgrade",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            env!("CARGO_PKG_VERSION"),
            latest_version()
        )));
    }
    for (version, recorded) in applied {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version) else { continue };
        if let Some(recorded) = recorded
            && *recorded != checksum(script(m, dialect))
        {
            return Err(StoreError::Config(format!(
                "migration {version} in the database differs from this binary's (checksum {} recorded, {} here): \
                 an applied migration was edited. Restore the original migration file, or rebuild the database",
                &recorded[..recorded.len().min(12)],
                &checksum(script(m, dialect))[..12]
            )));
        }
    }
    Ok(())
}

/// A row when `schema_migrations` has its `checksum` column (tables made before checksums lack it).
fn checksum_column(dialect: Dialect) -> crate::db::Query {
    query(match dialect {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
        Dialect::Postgres => {
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'schema_migrations' \
             AND column_name = 'checksum' AND table_schema = current_schema()"
        }
    })
}

async fn has_checksum_column(db: &Db) -> Result<bool, StoreError> {
    Ok(db.fetch_optional(checksum_column(db.dialect())).await?.is_some())
}

/// Applies every migration the database lacks; the versions it applied, in order. Refuses (changing nothing) a
/// schema newer than this binary and an edited migration ([`status`]).
pub async fn run(db: &Db) -> Result<Vec<i64>, StoreError> {
    run_without(db, None).await
}

/// Starts a transaction holding the migration lock: PostgreSQL's advisory lock (every instance of a rolling
/// start waits here, the bookkeeping table included), SQLite's `BEGIN IMMEDIATE` (the writer's).
async fn locked(db: &Db) -> Result<crate::db::Tx, StoreError> {
    let mut tx = db.begin().await?;
    if tx.dialect() == Dialect::Postgres {
        // A server's connections carry a statement_timeout; waiting for another instance's migration, or
        // building an index on a large table, may rightly take longer.
        tx.execute(query("SET LOCAL statement_timeout = 0")).await?;
        tx.execute(query("SELECT pg_advisory_xact_lock(?)").bind(PG_MIGRATION_LOCK)).await?;
    }
    Ok(tx)
}

/// Applies the migrations the database lacks that are listed before `skip`: with `Some(11)`, a database as
/// licensd left it before migration 11 (those listed after it came later), for the tests that prove that
/// upgrade keeps every row.
#[doc(hidden)]
pub async fn run_without(db: &Db, skip: Option<i64>) -> Result<Vec<i64>, StoreError> {
    let upto = skip.map_or(MIGRATIONS.len(), |v| MIGRATIONS.iter().position(|m| m.version == v).unwrap_or(0));
    apply_listed(db, upto).await
}

/// Applies the migrations the database lacks, as listed, up to and including version `last`: what an upgrade
/// to `last` leaves, before the migrations that came after it (for the upgrade tests).
#[doc(hidden)]
pub async fn run_until(db: &Db, last: i64) -> Result<Vec<i64>, StoreError> {
    let upto = MIGRATIONS.iter().position(|m| m.version == last).map_or(MIGRATIONS.len(), |i| i + 1);
    apply_listed(db, upto).await
}

/// Applies the first `upto` migrations of the list that the database lacks.
async fn apply_listed(db: &Db, upto: usize) -> Result<Vec<i64>, StoreError> {
    let dialect = db.dialect();
    // The bookkeeping table, under the lock: two instances starting on a fresh PostgreSQL database would
    // otherwise race on creating it (a catalog unique violation, "name is already taken").
    let mut tx = locked(db).await?;
    tx.execute(query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    ))
    .await?;
    let has_checksum = tx.fetch_optional(checksum_column(dialect)).await?.is_some();
    if !has_checksum {
        tx.execute(query("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT")).await?;
    }
    let rows = tx.fetch_all(query("SELECT version, checksum FROM schema_migrations")).await?;
    let mut applied = Vec::new();
    for r in &rows {
        applied.push((r.get::<i64>("version")?, r.get::<Option<String>>("checksum")?));
    }
    check_applied(&applied, dialect)?;
    // Migrations applied before checksums were recorded get this binary's: it applied the same scripts.
    for (version, recorded) in &applied {
        if recorded.is_none()
            && let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version)
        {
            tx.execute(
                query("UPDATE schema_migrations SET checksum = ? WHERE version = ?")
                    .bind(checksum(script(m, dialect)))
                    .bind(*version),
            )
            .await?;
        }
    }
    tx.commit().await?;
    let mut done = Vec::new();
    for m in &MIGRATIONS[..upto] {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        let mut tx = locked(db).await?;
        // Another instance may have applied it while this one waited for the lock.
        let again =
            tx.fetch_optional(query("SELECT version FROM schema_migrations WHERE version = ?").bind(m.version)).await?;
        if again.is_some() {
            continue;
        }
        tx.execute_script(script(m, dialect)).await?;
        tx.execute(
            query("INSERT INTO schema_migrations (version, applied_at, checksum) VALUES (?, ?, ?)")
                .bind(m.version)
                .bind(licensd_core::time::now_ms())
                .bind(checksum(script(m, dialect))),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, "applied migration");
        done.push(m.version);
    }
    Ok(done)
}
