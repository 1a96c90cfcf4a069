//! What every command shares: the database argument, opening it, `LICENSD_SECRET`, URLs fit for messages.

use anyhow::Context as _;
use clap::Args;
use licensd_core::model::{License, Product};
use licensd_core::time::{Timestamp, format_iso};
use licensd_store::list::Spec;
use licensd_store::{Db, ListParams, Scope, StoreError};

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

/// The actor the audit log records for the command line's writes.
pub(crate) const CLI_ACTOR: &str = "cli";

/// How the command line acts: as the machine's operator (whoever can read the database can change it anyway),
/// with every product in view and every action allowed, through the same store functions as the HTTP API;
/// its writes are recorded with the actor [`CLI_ACTOR`].
pub(crate) fn operator() -> Scope {
    Scope { actor: CLI_ACTOR.into(), ..Scope::system() }
}

/// A store refusal as the command line words it: the message, with the field it is about.
pub(crate) fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Invalid { field, message } | StoreError::Conflict { field, message } => {
            anyhow::anyhow!("{field}: {message}")
        }
        StoreError::Domain(licensd_core::Error::Invalid { field, message }) => anyhow::anyhow!("{field}: {message}"),
        e => e.into(),
    }
}

/// Prints one JSON value on one line.
pub(crate) fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// Aligned columns under a header, two spaces apart; `-` for an empty cell, tabs and line breaks as spaces.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let clean = |c: &str| if c.is_empty() { "-".to_string() } else { c.replace(['\t', '\n', '\r'], " ") };
    let all: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| (*h).to_string()).collect())
        .chain(rows.iter().map(|r| r.iter().map(|c| clean(c)).collect()))
        .collect();
    let mut widths = vec![0usize; header.len()];
    for r in &all {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &all {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A time as RFC 3339 (UTC, whole seconds), `-` for none.
pub(crate) fn time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| format_iso(t.0))
}

/// The list parameters a command builds (never user-typed filter names), with `limit` and `offset` set.
fn list_params(spec: &'static Spec, pairs: &[(&str, String)], limit: i64, offset: i64) -> anyhow::Result<ListParams> {
    let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    let mut p =
        licensd_store::list::parse(spec, &owned, &[]).map_err(|e| anyhow::anyhow!("{}: {}", e.param, e.message))?;
    p.limit = limit;
    p.offset = offset;
    Ok(p)
}

/// Up to `max` rows of a list (every row for `None`), a page of at most 100 at a time, and how many match in all.
pub(crate) async fn collect<T, F, Fut>(
    spec: &'static Spec,
    pairs: &[(&str, String)],
    max: Option<usize>,
    mut page: F,
) -> anyhow::Result<(i64, Vec<T>)>
where
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = Result<(i64, Vec<T>), StoreError>>,
{
    let mut out: Vec<T> = Vec::new();
    loop {
        let want = max.map_or(licensd_store::list::MAX_LIMIT, |m| {
            i64::try_from(m.saturating_sub(out.len())).unwrap_or(i64::MAX).min(licensd_store::list::MAX_LIMIT)
        });
        let offset = i64::try_from(out.len()).unwrap_or(i64::MAX);
        let (total, rows) = page(list_params(spec, pairs, want.max(1), offset)?).await?;
        let got = rows.len();
        out.extend(rows);
        let full = max.is_some_and(|m| out.len() >= m);
        if got == 0 || full || i64::try_from(out.len()).unwrap_or(i64::MAX) >= total {
            return Ok((total, out));
        }
    }
}

/// `search` on a list, as the management API's `?search=` (parts of each field it looks in, case ignored), newest
/// first: up to `limit` rows, and whether more matched than are shown.
pub(crate) async fn search<T, F, Fut>(
    spec: &'static Spec,
    query: &str,
    limit: usize,
    page: F,
) -> anyhow::Result<(Vec<T>, bool)>
where
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = Result<(i64, Vec<T>), StoreError>>,
{
    let q = query.trim();
    if q.chars().count() < licensd_store::list::MIN_SEARCH_CHARS {
        anyhow::bail!(
            "{q:?}: give at least {} characters to look for (the search indexes need them)",
            licensd_store::list::MIN_SEARCH_CHARS
        );
    }
    let (total, rows) =
        collect(spec, &[("search", q.to_string()), ("order_by", "-id".into())], Some(limit), page).await?;
    let more = usize::try_from(total).unwrap_or(usize::MAX) > rows.len();
    Ok((rows, more))
}

/// Prints what [`search`] found: `--json` as an array, else a table (by `table`) with a line when more matched,
/// or a line saying nothing matched (`what`: "license", "customer").
pub(crate) fn print_found<T: serde::Serialize>(
    what: &str,
    query: &str,
    (found, more): (Vec<T>, bool),
    limit: usize,
    json: bool,
    table: impl FnOnce(&[T]) -> String,
) -> anyhow::Result<()> {
    if json {
        print_json(&found)?;
    } else if found.is_empty() {
        println!("no {what} matches {:?}", query.trim());
    } else {
        print!("{}", table(&found));
        if more {
            println!("(more match: showing the newest {limit}; narrow the query or raise --limit)");
        }
    }
    Ok(())
}

/// A product by short code; an unknown one is refused naming every product there is.
pub(crate) async fn product_by_code(db: &Db, scope: &Scope, code: &str) -> anyhow::Result<Product> {
    match licensd_store::products::get_by_short_code(&mut &*db, scope, code).await {
        Err(StoreError::NotFound) => {
            let (_, all) =
                collect(&licensd_store::products::SPEC, &[("order_by", "short_code".into())], None, |p| async move {
                    licensd_store::products::list(db, scope, &p).await
                })
                .await?;
            if all.is_empty() {
                anyhow::bail!(
                    "no product with short code {code:?}: there are no products yet (licensd product create --name N \
                     --short-code S)"
                );
            }
            let codes: Vec<&str> = all.iter().map(|p| p.short_code.as_str()).collect();
            anyhow::bail!("no product with short code {code:?}; products are: {}", codes.join(", "))
        }
        other => Ok(other?),
    }
}

/// A license named by its key or, failing that, by its id (`12` or `#12`): a key wins, so a license whose key
/// is all digits is still found by it.
pub(crate) async fn license(db: &Db, scope: &Scope, key_or_id: &str) -> anyhow::Result<License> {
    let k = key_or_id.trim();
    if k.is_empty() {
        anyhow::bail!("give a license key or id");
    }
    let id = match licensd_store::licenses::id_by_key(&mut &*db, scope, k).await {
        Ok(id) => Some(id),
        Err(StoreError::NotFound) => k.strip_prefix('#').unwrap_or(k).parse::<i64>().ok(),
        Err(e) => return Err(e.into()),
    };
    let found = match id {
        Some(id) => match licensd_store::licenses::get(&mut &*db, scope, id).await {
            Err(StoreError::NotFound) => None,
            other => Some(other?),
        },
        None => None,
    };
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "no license has the key or id {k:?} (licensd license find QUERY looks for a key, an email, a name or a \
             hardware id)"
        )
    })
}

/// `FILE` or `-` (stdin) read as one JSON object, for `--json-body`.
pub(crate) fn json_body(path: &str) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read --json-body from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read --json-body {path}"))?
    };
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => anyhow::bail!("--json-body {path}: must hold one JSON object"),
        Err(e) => anyhow::bail!("--json-body {path}: not JSON: {e}"),
    }
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

/// The size of the RSA signing key `serve` and `migrate` make when the database has none (`--rsa-bits`,
/// `LICENSD_RSA_BITS`, `rsa-bits` in the configuration file).
#[derive(Args, Clone, Copy)]
pub(crate) struct RsaBitsArg {
    /// The size of the RSA signing key (LicenseSpring's API, `/api/v4`) made when the database has none: 2048,
    /// 3072 or 4096 bits. A 2048-bit key signs 6 to 8 times as fast as a 4096-bit one; both SDKs take either.
    /// An existing key keeps its size (`licensd key rotate --rsa --rsa-bits N` makes another).
    #[arg(long, env = "LICENSD_RSA_BITS", default_value_t = licensd_core::rsa::DEFAULT_RSA_BITS, value_parser = parse_rsa_bits)]
    pub(crate) rsa_bits: u32,
}

/// An RSA key size licensd makes: 2048, 3072 or 4096.
pub(crate) fn parse_rsa_bits(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|b| licensd_core::rsa::RSA_BITS.contains(b))
        .ok_or_else(|| format!("{s:?}: an RSA key is 2048, 3072 or 4096 bits"))
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
