//! What every command shares: the database argument, opening it, `LICENSD_SECRET`, URLs fit for messages.

use anyhow::Context as _;
use clap::Args;
use licensd_store::Db;

#[derive(Args, Clone)]
pub(crate) struct DbArg {
    /// Database URL: sqlite://FILE, sqlite:///ABS/PATH, a file path, or postgres://…
    #[arg(long, env = "LICENSD_DB", default_value = "sqlite://licensd.db")]
    pub(crate) db: String,
    /// SQLite: `full` fsyncs every (group) commit, so an acknowledged write survives a power loss;
    /// `normal` skips that fsync (faster writes; a power loss or OS crash can drop the last commits).
    #[arg(long, env = "LICENSD_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"])]
    pub(crate) sqlite_synchronous: String,
    /// PostgreSQL: how long to keep retrying, with backoff, a server that cannot be reached yet (refused, timed
    /// out, starting up) before giving up; 0 tries once. A wrong password or database name fails at once.
    #[arg(long, env = "LICENSD_DB_CONNECT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) db_connect_timeout: std::time::Duration,
    /// Connections per instance: PostgreSQL's pool (default 16), or SQLite's readers (default twice the cores).
    #[arg(long, env = "LICENSD_DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) db_pool_size: Option<u32>,
    /// How long a request waits for a free database connection before it answers 503 (the database is down, or
    /// every connection is busy).
    #[arg(long, env = "LICENSD_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) db_acquire_timeout: std::time::Duration,
}

impl DbArg {
    pub(crate) fn options(&self) -> licensd_store::db::Options {
        // The value parser admits only what `Synchronous` parses.
        licensd_store::db::Options {
            sqlite_synchronous: self.sqlite_synchronous.parse().unwrap_or_default(),
            connect_retry: self.db_connect_timeout,
            pool_size: self.db_pool_size,
            acquire_timeout: Some(self.db_acquire_timeout.max(std::time::Duration::from_millis(1))),
            ..Default::default()
        }
    }
}

/// The default `--db`, as messages name it.
pub(crate) const DEFAULT_DB: &str = "sqlite://licensd.db";

/// Opens an existing database for a command, applying any migration it lacks. Never creates one: only `serve`
/// and `migrate` do ([`create`]); a command pointed at the wrong path says so rather than reporting on a new,
/// empty database with a new signing key.
pub(crate) async fn open(db: &DbArg) -> anyhow::Result<Db> {
    let options = licensd_store::db::Options { must_exist: true, ..db.options() };
    match Db::connect_with(&db.db, &options).await {
        Err(licensd_store::StoreError::NoDatabase(path)) => anyhow::bail!(
            "no database at {path} (from {}): pass --db or set LICENSD_DB to the server's database; `licensd \
             migrate` or `licensd serve` creates a new one",
            if db.db == DEFAULT_DB {
                format!("the default --db {DEFAULT_DB}")
            } else {
                format!("--db {}", redact(&db.db))
            }
        ),
        other => other.with_context(|| format!("cannot open the database {}", redact(&db.db))),
    }
}

/// Opens the database for `serve` and `migrate`, creating a SQLite file that does not exist yet; `migrate`
/// applies what it lacks (`serve --no-migrate` only checks that nothing is pending).
pub(crate) async fn create(url: &str, options: &licensd_store::db::Options, migrate: bool) -> anyhow::Result<Db> {
    let opened = if migrate { Db::connect_with(url, options).await } else { Db::open_with(url, options).await };
    opened.with_context(|| format!("cannot open the database {}", redact(url)))
}

/// A database URL without its password, for messages: the password of `user:password@`, and the values of
/// `password` and `sslpassword` query parameters (`postgres://host/db?password=…`).
pub(crate) fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match (head.find("://"), head.rfind('@')) {
        (Some(s), Some(at)) if at > s => match head[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &head[..s + 3], &head[at..]),
            None => head.to_string(),
        },
        _ => head.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword") => {
                    format!("{k}=***")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Shorter secrets are accepted but warned about: Argon2id slows each guess, it does not make a short or
/// human-chosen secret unguessable.
pub(crate) const SECRET_MIN_CHARS: usize = 16;

/// `LICENSD_SECRET`: seals the signing keys at rest when set.
pub(crate) fn secret() -> Option<String> {
    let s = crate::config::env_or_file("secret")?;
    static WARNED: std::sync::Once = std::sync::Once::new();
    if s.chars().count() < SECRET_MIN_CHARS {
        WARNED.call_once(|| {
            tracing::warn!(
                "LICENSD_SECRET is shorter than {SECRET_MIN_CHARS} characters: whoever gets a copy of the database can \
                 guess it offline and read the signing keys; use at least {SECRET_MIN_CHARS} random characters \
                 (e.g. `openssl rand -base64 32`)"
            );
        });
    }
    Some(s)
}

/// A listen address: `IP:PORT`, `HOST:PORT` (resolved; an IPv4 address preferred, as `localhost` means to most
/// people), or `:PORT` for every interface.
pub(crate) fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("{s:?}: the port must be a number from 0 to 65535"))?;
        return Ok(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let found: Vec<std::net::SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("{s:?} is not an address to listen on (IP:PORT, HOST:PORT or :PORT): {e}"))?
        .collect();
    found.iter().find(|a| a.is_ipv4()).or(found.first()).copied().ok_or_else(|| format!("{s:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn listen_addresses_take_host_names_and_bare_ports() {
        use super::parse_listen;
        assert_eq!(parse_listen("127.0.0.1:8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(parse_listen(":8080").unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(parse_listen("localhost:8099").unwrap().to_string(), "127.0.0.1:8099");
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_listen(":http").unwrap_err().contains("port"));
        assert!(parse_listen("nohost.invalid:1").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn passwords_in_query_parameters_are_redacted() {
        use super::redact;
        assert_eq!(redact("postgres://h/db?password=secret"), "postgres://h/db?password=***");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=require&PASSWORD=s3&sslpassword=k&application_name=x"),
            "postgres://u@h/db?sslmode=require&PASSWORD=***&sslpassword=***&application_name=x"
        );
        assert_eq!(redact("postgres://u:p@h/db?password=q"), "postgres://u:***@h/db?password=***");
        assert_eq!(redact("postgresql://h/db?user=u"), "postgresql://h/db?user=u");
        assert!(!redact("postgres://h/db?password=secret@x").contains("secret"));
    }
}
