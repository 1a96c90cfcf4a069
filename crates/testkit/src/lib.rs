//! Test support shared by every licensd test suite (a dev-dependency only).
//!
//! Each test gets its own PostgreSQL database, named `lt_<pid>_<prefix>_<n>_<time>`. Tests never drop their
//! own (a failing test leaves its database to look at), so the first database a test process creates
//! first drops every test database whose process is gone: the server's disk stays bounded across runs.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

/// The PostgreSQL server the tests use (`LICENSD_TEST_POSTGRES`, a server URL), if any. Under CI it must be
/// set: a run that silently skipped PostgreSQL would prove nothing about it.
pub fn postgres_server() -> Option<String> {
    match std::env::var("LICENSD_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(std::env::var("CI").is_err(), "CI must set LICENSD_TEST_POSTGRES so the suite covers PostgreSQL");
            None
        }
    }
}

/// A unique name: `lt_<pid>_<prefix>_<n>_<ms>`, lower case, a valid unquoted identifier.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("lt_{}_{prefix}_{n}_{ms}", std::process::id()).to_ascii_lowercase().replace('-', "_")
}

/// Creates a fresh database on the test server and returns its URL, or `None` without a server. Blocking
/// (it runs on its own thread), so it serves async and sync tests alike.
pub fn fresh_postgres(prefix: &str) -> Option<String> {
    let server = postgres_server()?;
    let name = unique_name(prefix);
    let (s, n) = (server.clone(), name.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&s).await.expect("connect to LICENSD_TEST_POSTGRES");
            static REAP: Once = Once::new();
            let mut reap = false;
            REAP.call_once(|| reap = true);
            if reap {
                reap_dead(&mut admin).await;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {n}")))
                .execute(&mut admin)
                .await
                .expect("create database");
            let _ = admin.close().await;
        })
    })
    .join()
    .expect("create test database");
    Some(database_url(&server, &name))
}

/// One fresh database per backend: `sqlite_file` as a SQLite URL, then a new PostgreSQL database when a
/// server is configured.
pub fn fresh_databases(prefix: &str, sqlite_file: &std::path::Path) -> Vec<String> {
    let mut out = vec![format!("sqlite://{}", sqlite_file.display())];
    out.extend(fresh_postgres(prefix));
    out
}

/// `server` with its database replaced by `name`, its query parameters kept.
pub fn database_url(server: &str, name: &str) -> String {
    let (path, query) = match server.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (server, String::new()),
    };
    let authority = path.find("://").map_or(0, |i| i + 3);
    let base = match path[authority..].find('/') {
        Some(i) => &path[..authority + i],
        None => path,
    };
    format!("{base}/{name}{query}")
}

/// Drops the test databases (`lt_<pid>_…`) whose process no longer runs. Another live test process's
/// databases are left alone; this machine's `/proc` tells which processes run.
async fn reap_dead(admin: &mut sqlx::PgConnection) {
    // CI's cluster lives for one run; dropping the databases of each finished test binary would only cost time.
    if !std::path::Path::new("/proc/self").exists() || std::env::var_os("CI").is_some() {
        return;
    }
    let names: Vec<(String,)> = sqlx::query_as("SELECT datname FROM pg_database WHERE datname ~ '^lt_[0-9]+_'")
        .fetch_all(&mut *admin)
        .await
        .unwrap_or_default();
    for (name,) in names {
        let Some(pid) = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut *admin)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_parameters() {
        assert_eq!(database_url("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(
            database_url("postgres://u@h:1/postgres?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
        assert_eq!(database_url("postgres://u@h:1", "x"), "postgres://u@h:1/x");
        assert_eq!(database_url("postgres://u@h:1?a=b", "x"), "postgres://u@h:1/x?a=b");
    }

    #[test]
    fn names_are_identifiers() {
        let n = unique_name("lt-Up");
        assert!(n.starts_with(&format!("lt_{}_lt_up_", std::process::id())), "{n}");
        assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
}
