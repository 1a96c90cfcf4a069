//! One code path over SQLite and PostgreSQL.
//!
//! SQL is written once with `?` placeholders and rewritten to `$n` for PostgreSQL; parameters are
//! [`Value`]s bound the same way on both; rows are read through [`Row::get`].
//!
//! SQLite: one write connection, behind a FIFO queue (writers wait their turn in the process, not in
//! SQLite's busy loop), used synchronously on the calling thread through rusqlite; every write transaction
//! starts with `BEGIN IMMEDIATE`, so read-then-write transactions never fail to upgrade. Reads go to a sqlx
//! pool, whose connections run on threads of their own (a search may take a while), except indexed point
//! reads on the hot client path ([`Db::point_read`]). Why synchronous: sqlx runs each SQLite connection
//! on a worker thread and ships every statement and row across a channel; for the few microseconds a
//! point read or a small write takes, the two thread hand-offs per statement cost several times the work
//! (docs/benchmarks.md, "What the profile changed").

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Postgres, Sqlite};

use crate::error::StoreError;
use crate::writer::{WriteTx, Writer};

tokio::task_local! {
    static STATEMENTS: std::cell::Cell<u64>;
}

/// Runs `fut` and counts the statements it sends to the database (reported per route in `/metrics`,
/// and how the tests prove a page of licenses costs a fixed number of queries).
pub async fn count_statements<F: Future>(fut: F) -> (F::Output, u64) {
    STATEMENTS
        .scope(std::cell::Cell::new(0), async move {
            let out = fut.await;
            (out, STATEMENTS.with(std::cell::Cell::get))
        })
        .await
}

fn count_statement() {
    let _ = STATEMENTS.try_with(|n| n.set(n.get() + 1));
}

/// Which SQL dialect a statement is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The function that takes the greater of its arguments: SQLite's two-argument `max`, PostgreSQL's
    /// `GREATEST`.
    pub fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "max",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// ` FOR UPDATE OF <alias>` on PostgreSQL (the rows of that table only, in a join); nothing on SQLite, where
    /// `BEGIN IMMEDIATE` already serialises writers. [`Tx::for_update`] for a statement of one table.
    pub fn for_update_of(self, alias: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {alias}"),
        }
    }
}

/// A bound parameter. Nulls carry their type because PostgreSQL types parameters at prepare time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    I64(Option<i64>),
    F64(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

macro_rules! value_from {
    ($t:ty, $v:ident, $conv:expr) => {
        impl From<$t> for Value {
            fn from(x: $t) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$v(Some(($conv)(x)))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(x: Option<$t>) -> Self {
                #[allow(clippy::redundant_closure_call)]
                Value::$v(x.map($conv))
            }
        }
    };
}
value_from!(i64, I64, |x| x);
value_from!(f64, F64, |x| x);
value_from!(bool, Bool, |x| x);
value_from!(String, Text, |x| x);
value_from!(&str, Text, |x: &str| x.to_string());
value_from!(&String, Text, |x: &String| x.clone());

/// A statement and its parameters.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: Cow<'static, str>,
    pub args: Vec<Value>,
}

/// Starts a statement written with `?` placeholders.
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query { sql: sql.into(), args: Vec::new() }
}

impl Query {
    /// Binds the next `?`.
    pub fn bind(mut self, v: impl Into<Value>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Appends SQL text (never user input: identifiers come from allow-lists).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends a `?` and binds its value.
    pub fn push_bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.sql.to_mut().push('?');
        self.args.push(v.into());
        self
    }

    fn render(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::Sqlite => self.sql.to_string(),
            Dialect::Postgres => {
                let mut out = String::with_capacity(self.sql.len() + 8);
                let mut n = 0;
                for c in self.sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// A row's columns, each next to its value. One list renders both the `INSERT` that creates the row
/// ([`Columns::insert_into`]) and the `UPDATE … SET` that rewrites it ([`Columns::update`]), so a resource names
/// its columns once and no value can land on another column's `?`. Table and column names are SQL text, so
/// `'static` (never input); values are bound.
#[derive(Debug, Clone, Default)]
pub struct Columns(Vec<(&'static str, Value)>);

impl Columns {
    pub fn new() -> Self {
        Columns(Vec::new())
    }

    /// Adds column `col` with the value `v`.
    pub fn set(mut self, col: &'static str, v: impl Into<Value>) -> Self {
        debug_assert!(self.0.iter().all(|(c, _)| *c != col), "column {col} set twice");
        self.0.push((col, v.into()));
        self
    }

    /// `INSERT INTO table (a, b, …) VALUES (?, ?, …)` (run it with [`Tx::insert`] for the new row's id).
    pub fn insert_into(self, table: &'static str) -> Query {
        debug_assert!(!self.0.is_empty(), "an INSERT INTO {table} without columns");
        let names = self.0.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
        let marks = vec!["?"; self.0.len()].join(", ");
        Query {
            sql: format!("INSERT INTO {table} ({names}) VALUES ({marks})").into(),
            args: self.0.into_iter().map(|(_, v)| v).collect(),
        }
    }

    /// `UPDATE table SET a = ?, b = ?, … WHERE id = ?`: the row `id`.
    pub fn update(self, table: &'static str, id: i64) -> Query {
        debug_assert!(!self.0.is_empty(), "an UPDATE {table} without columns");
        let sets = self.0.iter().map(|(c, _)| format!("{c} = ?")).collect::<Vec<_>>().join(", ");
        let mut args: Vec<Value> = self.0.into_iter().map(|(_, v)| v).collect();
        args.push(id.into());
        Query { sql: format!("UPDATE {table} SET {sets} WHERE id = ?").into(), args }
    }
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Value::I64(v) => q.bind(*v),
                Value::F64(v) => q.bind(*v),
                Value::Text(v) => q.bind(v.clone()),
                Value::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// A value a column can be read as on both backends (and on SQLite's point-read path).
pub trait Col:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + rusqlite::types::FromSql
{
}
impl<T> Col for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + rusqlite::types::FromSql
{
}

/// A result row from either backend.
pub enum Row {
    Sqlite(SqliteRow),
    Pg(PgRow),
    /// A row read on SQLite's point-read path ([`Db::point_read`]).
    Point(PointRow),
}

/// A row's values with its statement's column names (shared by the statement's rows).
pub struct PointRow {
    names: Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
    /// Where the next column read is looked for first: readers take columns in about the order they are
    /// selected, so a read costs one comparison instead of a scan of the names (`check` reads some 40).
    next: std::sync::atomic::AtomicUsize,
}

impl PointRow {
    fn position(&self, col: &str) -> Option<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let start = self.next.load(Relaxed).min(self.names.len());
        let i = (start..self.names.len()).chain(0..start).find(|&i| self.names[i] == col)?;
        self.next.store(i + 1, Relaxed);
        Some(i)
    }
}

impl Row {
    /// Reads column `col`; a type mismatch is a bug, reported as a store error rather than a panic.
    pub fn get<T: Col>(&self, col: &str) -> Result<T, StoreError> {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(r) => r.try_get(col).map_err(StoreError::from),
            Row::Pg(r) => r.try_get(col).map_err(StoreError::from),
            Row::Point(r) => {
                let i = r.position(col).ok_or_else(|| StoreError::Corrupt(format!("no column {col} in the row")))?;
                T::column_result(rusqlite::types::ValueRef::from(&r.values[i]))
                    .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
            }
        }
    }

    /// Reads a JSON column stored as text.
    pub fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        let s: String = self.get(col)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    }
}

/// The database: a pool per backend.
#[derive(Clone)]
pub enum Db {
    /// `writer` queues writers first come, first served (a pool's own wait is not fair, and with 64
    /// clients on one write connection that showed as a 0.5 s p99 tail on activations) and commits them
    /// in groups ([`crate::writer`]).
    Sqlite {
        read: SqlitePool,
        writer: Arc<Writer>,
        point: Arc<PointReads>,
    },
    Postgres(Pg),
}

/// A PostgreSQL pool with a circuit breaker: once a statement fails because the server cannot be reached,
/// further ones fail at once (`503` without the pool's wait) until [`Db::probe`], run every second by the
/// server, reaches it again.
#[derive(Clone, Debug)]
pub struct Pg {
    pool: PgPool,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Pg {
    /// The pool, unless the server is known to be unreachable.
    fn ready(&self) -> Result<&PgPool, StoreError> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Unreachable(
                "the database cannot be reached (answering at once until it is back; checked every second)".into(),
            ));
        }
        Ok(&self.pool)
    }

    /// `r`, noting a failure to reach the server (the pool's wait ran out, or the connection broke).
    fn note<T>(&self, r: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        if let Err(e) = &r
            && matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))
            && !self.down.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(error = %e, "the database cannot be reached: answering 503 at once until it is back");
        }
        Ok(r?)
    }
}

/// How SQLite makes a commit durable: `PRAGMA synchronous` on its connections (`--sqlite-synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// The write-ahead log is fsynced at every commit (one fsync per group commit, [`crate::writer`]): a
    /// write acknowledged to a client survives a power loss or an operating system crash. The default.
    #[default]
    Full,
    /// No fsync at commit (WAL is synced at checkpoints only): an acknowledged write survives the process
    /// being killed, but a power loss or an OS crash can drop the last commits (about the last second of
    /// them). Cheaper writes, for those who accept that.
    Normal,
}

impl Synchronous {
    /// The pragma's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }

    fn to_sqlx(self) -> SqliteSynchronous {
        match self {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        }
    }
}

impl FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            _ => Err(format!("{s:?}: expected full or normal")),
        }
    }
}

/// How to open the database, beyond its URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// SQLite only; PostgreSQL's durability is the server's own `synchronous_commit`.
    pub sqlite_synchronous: Synchronous,
    /// PostgreSQL only: every statement is cancelled after this long (unless the URL sets its own).
    pub statement_timeout: Option<Duration>,
    /// PostgreSQL: how long opening retries a server that cannot be reached yet (connection refused, a timeout,
    /// "the database system is starting up"), with backoff; zero tries once. Authentication and unknown
    /// databases are not retried.
    pub connect_retry: Duration,
    /// Connections per pool: PostgreSQL's pool, SQLite's readers (`None`: 16 on PostgreSQL; twice the cores,
    /// at least 4, on SQLite).
    pub pool_size: Option<u32>,
    /// How long a request waits for a pooled connection before `503` (`None`: 10 s).
    pub acquire_timeout: Option<Duration>,
    /// SQLite: refuse a file that does not exist instead of creating it ([`StoreError::NoDatabase`]). Only
    /// `serve` and `migrate` create databases; every other command opening the wrong path would otherwise make
    /// a new, empty database (with a new signing key) and report on that.
    pub must_exist: bool,
}

/// How the pools report themselves for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
}

/// Connects once to the server `options` name, retrying for up to `retry` while it cannot be reached; the
/// error says why in the operator's terms (no PostgreSQL source positions).
async fn reach_postgres(options: &PgConnectOptions, retry: Duration) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let err = match sqlx::PgConnection::connect_with(options).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Err(e) => e,
        };
        let at = format!("{}:{}", options.get_host(), options.get_port());
        let (transient, why) = match &err {
            sqlx::Error::Io(io) => (true, format!("cannot reach PostgreSQL at {at}: {io}")),
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                // 57P03: starting up or shutting down; 53300: too many connections (both pass).
                let transient = matches!(code.as_ref(), "57P03" | "53300");
                let what = match code.as_ref() {
                    "28P01" | "28000" => "authentication failed",
                    "3D000" => "no such database",
                    _ => "the server refused the connection",
                };
                (transient, format!("{what} at {at}: {}", d.message()))
            }
            sqlx::Error::Tls(t) => (false, format!("TLS with PostgreSQL at {at} failed: {t}")),
            other => (false, format!("cannot connect to PostgreSQL at {at}: {other}")),
        };
        if !transient || started.elapsed() + pause > retry {
            return Err(StoreError::Unreachable(why));
        }
        tracing::warn!("{why}; retrying in {} ms", pause.as_millis());
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

impl Db {
    /// Opens (creating it if need be) the database a `--db` URL names and applies every pending migration.
    ///
    /// Accepted: `sqlite://relative.db`, `sqlite:///absolute/path.db`, a bare file path,
    /// `postgres://…` and `postgresql://…`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_with(url, &Options::default()).await
    }

    /// [`Db::connect`] with options.
    pub async fn connect_with(url: &str, options: &Options) -> Result<Db, StoreError> {
        let db = Self::open_with(url, options).await?;
        crate::migrate::run(&db).await?;
        Ok(db)
    }

    /// [`Db::connect`] for a server: on PostgreSQL every statement is cancelled after `statement_timeout`
    /// (unless the URL sets its own, `?options[statement_timeout]=…`), so a runaway query cannot hold a connection
    /// for ever. Migrations lift it for their own transactions. SQLite has no such setting.
    pub async fn connect_with_statement_timeout(url: &str, statement_timeout: Duration) -> Result<Db, StoreError> {
        let db =
            Self::open_with(url, &Options { statement_timeout: Some(statement_timeout), ..Options::default() }).await?;
        crate::migrate::run(&db).await?;
        Ok(db)
    }

    /// Opens the pools without migrating.
    pub async fn open(url: &str) -> Result<Db, StoreError> {
        Self::open_with(url, &Options::default()).await
    }

    /// [`Db::open`] with options.
    pub async fn open_with(url: &str, opts: &Options) -> Result<Db, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Plan every statement with its real parameters: a generic plan cannot tell a one-day date range
            // from a ten-year one, and on a million licenses that choice is the difference between an index
            // and a scan. Planning costs well under a millisecond here.
            let mut options = PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
            if let Some(t) = opts.statement_timeout.filter(|_| !url.contains("statement_timeout")) {
                options = options.options([("statement_timeout", format!("{}ms", t.as_millis().max(1)))]);
            }
            // One connection first, outside the pool: the pool retries a refused connection until its acquire
            // timeout and then reports only that it timed out; this says why, and waits for a server that is
            // still starting.
            reach_postgres(&options, opts.connect_retry).await?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.pool_size.unwrap_or(16))
                .acquire_timeout(opts.acquire_timeout.unwrap_or(Duration::from_secs(10)))
                .connect_with(options)
                .await?;
            return Ok(Db::Postgres(Pg { pool, down: Arc::default() }));
        }
        let path = sqlite_path(url)?;
        if opts.must_exist && !std::path::Path::new(&path).exists() {
            return Err(StoreError::NoDatabase(path));
        }
        // The file holds every license key, customer and (without LICENSD_SECRET) the signing key.
        #[cfg(unix)]
        owner_only(&path)?;
        let base = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StoreError::from)?
            .filename(path.as_str())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Readers commit nothing; the same setting keeps the checkpoints they run alike.
            .synchronous(opts.sqlite_synchronous.to_sqlx())
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Checkpoints run in the background (`checkpoint`); this is only the backstop should that stop,
            // so the writer does not pay for a checkpoint (and its fsync) inside a client's request.
            .pragma("wal_autocheckpoint", "16384");
        // The writer first: it creates the file and puts it in WAL mode before the readers open it.
        let writer = Arc::new(Writer::open(&path, opts.sqlite_synchronous)?);
        // A local file cannot drop a connection the way a network can: skip the ping before each acquire.
        let readers = std::thread::available_parallelism().map_or(4, |n| n.get() as u32 * 2).max(4);
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(opts.pool_size.unwrap_or(readers))
            .acquire_timeout(opts.acquire_timeout.unwrap_or(Duration::from_secs(30)))
            .connect_with(base)
            .await?;
        let point = Arc::new(PointReads { path, idle: std::sync::Mutex::new(Vec::new()) });
        Ok(Db::Sqlite { read, writer, point })
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (the database write lock up front);
    /// on PostgreSQL rows that limits depend on are locked with [`Tx::for_update`].
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin().await?),
            Db::Postgres(p) => Tx::Pg(p.note(p.ready()?.begin().await)?),
        })
    }

    pub async fn fetch_all(&self, q: Query) -> Result<Vec<Row>, StoreError> {
        let sql = q.render(self.dialect());
        count_statement();
        Ok(match self {
            Db::Sqlite { read, .. } => bind_all!(sqlx::query(AssertSqlSafe(sql)), &q.args)
                .fetch_all(read)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Db::Postgres(p) => p
                .note(bind_all!(sqlx::query(AssertSqlSafe(sql)), &q.args).fetch_all(p.ready()?).await)?
                .into_iter()
                .map(Row::Pg)
                .collect(),
        })
    }

    pub async fn fetch_optional(&self, q: Query) -> Result<Option<Row>, StoreError> {
        let sql = q.render(self.dialect());
        count_statement();
        Ok(match self {
            Db::Sqlite { read, .. } => {
                bind_all!(sqlx::query(AssertSqlSafe(sql)), &q.args).fetch_optional(read).await?.map(Row::Sqlite)
            }
            Db::Postgres(p) => p
                .note(bind_all!(sqlx::query(AssertSqlSafe(sql)), &q.args).fetch_optional(p.ready()?).await)?
                .map(Row::Pg),
        })
    }

    pub async fn fetch_one(&self, q: Query) -> Result<Row, StoreError> {
        self.fetch_optional(q).await?.ok_or(StoreError::NotFound)
    }

    /// An indexed lookup of a few rows, read where it costs least. On SQLite it runs synchronously on the
    /// calling thread ([`PointReads`]), which is right only for statements that take microseconds: never
    /// use it for a scan, a search or anything whose cost grows with the data. On PostgreSQL it is
    /// [`Db::fetch_all`].
    pub async fn point_read(&self, q: Query) -> Result<Vec<Row>, StoreError> {
        match self {
            Db::Sqlite { point, .. } => {
                count_statement();
                point.run(&q)
            }
            Db::Postgres(_) => self.fetch_all(q).await,
        }
    }

    /// Runs one statement that writes, outside any transaction.
    pub async fn execute(&self, q: Query) -> Result<u64, StoreError> {
        let sql = q.render(self.dialect());
        count_statement();
        Ok(match self {
            Db::Sqlite { .. } => {
                let mut tx = self.begin().await?;
                let n = tx.execute(q).await?;
                tx.commit().await?;
                return Ok(n);
            }
            Db::Postgres(p) => {
                p.note(bind_all!(sqlx::query(AssertSqlSafe(sql)), &q.args).execute(p.ready()?).await)?.rows_affected()
            }
        })
    }

    /// SQLite: `PRAGMA synchronous` in effect on the write connection, read back from SQLite (`off`,
    /// `normal`, `full` or `extra`). PostgreSQL: `None`.
    pub async fn sqlite_synchronous(&self) -> Result<Option<&'static str>, StoreError> {
        let Db::Sqlite { writer, .. } = self else { return Ok(None) };
        Ok(Some(match writer.synchronous().await? {
            0 => "off",
            1 => "normal",
            2 => "full",
            3 => "extra",
            n => return Err(StoreError::Corrupt(format!("PRAGMA synchronous answered {n}"))),
        }))
    }

    /// A real round trip, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let row = self.fetch_one(query("SELECT CAST(1 AS BIGINT) AS one")).await?;
        let one: i64 = row.get("one")?;
        if one == 1 { Ok(()) } else { Err(StoreError::Corrupt("ping answered wrong".into())) }
    }

    /// SQLite: writes a consistent copy of the live database to `out` (`VACUUM INTO`: one read transaction, so
    /// writers go on and the copy holds exactly the commits made before it began), compacted. `out` must not
    /// exist. PostgreSQL: refused, pointing at `pg_dump` (docs/operations.md).
    pub async fn backup(&self, out: &str) -> Result<(), StoreError> {
        let Db::Sqlite { read, .. } = self else {
            return Err(StoreError::Config(
                "licensd backup copies SQLite databases; back up PostgreSQL with `pg_dump -Fc` and restore with \
                 `pg_restore` (docs/operations.md)"
                    .into(),
            ));
        };
        // Created empty and owner-only first (it holds every license key, like the database); SQLite writes
        // into an empty file. `create_new`: never over an existing file.
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        file.open(out).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                StoreError::Config(format!("{out} exists already: back up to a new file"))
            }
            _ => StoreError::Config(format!("cannot create {out}: {e}")),
        })?;
        if let Err(e) = sqlx::query("VACUUM INTO ?").bind(out).execute(read).await {
            let _ = std::fs::remove_file(out);
            return Err(e.into());
        }
        Ok(())
    }

    /// PostgreSQL, while the breaker is open ([`Pg`]): tries to reach the server (within a second) and closes
    /// it on success. Run every second by the server; nothing to do otherwise, or on SQLite.
    pub async fn probe(&self) {
        let Db::Postgres(p) = self else { return };
        if !p.down.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(1), p.pool.acquire()).await {
            drop(conn);
            p.down.store(false, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("the database is reachable again");
        }
    }

    /// SQLite: copies the write-ahead log into the database without blocking writers (PASSIVE), off the
    /// request path. PostgreSQL: nothing.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Db::Sqlite { read, .. } = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(read).await?;
        }
        Ok(())
    }

    pub fn pool_stats(&self) -> PoolStats {
        match self {
            Db::Sqlite { read, .. } => PoolStats { size: read.size() + 1, idle: read.num_idle() },
            Db::Postgres(p) => PoolStats { size: p.pool.size(), idle: p.pool.num_idle() },
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, .. } => read.close().await,
            Db::Postgres(p) => p.pool.close().await,
        }
    }
}

/// SQLite reads without sqlx's hand-off: sqlx runs each SQLite connection on a worker thread of its own
/// and ships every statement and row across a channel, which for a lookup of one indexed row costs
/// several times the lookup itself (the `check` profile in docs/benchmarks.md). These connections are used
/// on the calling thread through rusqlite, linked to the same SQLite library. They are read-only
/// (`query_only`), kept in a small idle list, and see the same committed data as every other connection
/// (WAL: readers never wait for the writer).
pub struct PointReads {
    path: String,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
}

/// Connections kept open for point reads (one per runtime worker is what is ever in use at once).
const POINT_IDLE_MAX: usize = 16;

impl PointReads {
    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // Readers only wait in rare cases (recovery of a crashed writer's log); the runtime thread must not
        // wait long, so give up sooner than the pools do and answer 503.
        conn.busy_timeout(Duration::from_secs(2))?;
        conn.pragma_update(None, "query_only", true)?;
        // Keep the hot pages: every commit elsewhere resets this cache, so it matters less than it seems,
        // and memory-mapping the file did not pay (a growing file is remapped, at ~0.7 ms a time).
        conn.pragma_update(None, "cache_size", -16384)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    fn run(&self, q: &Query) -> Result<Vec<Row>, StoreError> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(c) => c,
            None => self.open()?,
        };
        let out = sqlite_rows(&conn, q);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < POINT_IDLE_MAX
        {
            idle.push(conn);
        }
        out
    }
}

/// Runs a statement on a rusqlite connection and collects its rows.
fn sqlite_rows(conn: &rusqlite::Connection, q: &Query) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&q.sql)?;
    let names: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(q.args.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let values = (0..names.len()).map(|i| r.get(i)).collect::<Result<Vec<rusqlite::types::Value>, _>>()?;
        out.push(Row::Point(PointRow { names: names.clone(), values, next: Default::default() }));
    }
    Ok(out)
}

/// Runs a statement that writes (its rows, if it returns any, are dropped) and counts the rows it changed.
fn sqlite_execute(conn: &rusqlite::Connection, q: &Query) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(&q.sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(q.args.iter()))?;
    while rows.next()?.is_some() {}
    Ok(conn.changes())
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V, ValueRef};
        Ok(match self {
            Value::I64(Some(v)) => ToSqlOutput::Owned(V::Integer(*v)),
            Value::Bool(Some(v)) => ToSqlOutput::Owned(V::Integer(i64::from(*v))),
            Value::F64(Some(v)) => ToSqlOutput::Owned(V::Real(*v)),
            Value::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::I64(None) | Value::Bool(None) | Value::F64(None) | Value::Text(None) => ToSqlOutput::Owned(V::Null),
        })
    }
}

/// Reads through [`Db::point_read`], for reader functions written against [`Exec`].
pub struct Point<'a>(pub &'a Db);

impl Exec for Point<'_> {
    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }
    async fn fetch_all(&mut self, q: Query) -> Result<Vec<Row>, StoreError> {
        self.0.point_read(q).await
    }
    async fn fetch_optional(&mut self, q: Query) -> Result<Option<Row>, StoreError> {
        Ok(self.0.point_read(q).await?.into_iter().next())
    }
}

/// Makes the SQLite database file and its companions readable by their owner only (0600).
///
/// A missing database file is created empty with mode 0600 (SQLite takes an empty file for a new database):
/// SQLite creates the `-wal`, `-shm` and `-journal` files with the database file's mode, so they are 0600
/// too, whatever the umask. Existing files that the group or others may read or write are tightened, and
/// that is logged: they hold every license key and customer, and the signing key when no
/// `LICENSD_SECRET` is set.
#[cfg(unix)]
fn owner_only(path: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::Config(format!("cannot create the database file {path}: {e}"))),
    }
    for file in [path.to_string(), format!("{path}-wal"), format!("{path}-shm"), format!("{path}-journal")] {
        let mode = match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => m.permissions().mode() & 0o777,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::Config(format!("cannot read the permissions of {file}: {e}"))),
        };
        if mode & 0o077 == 0 {
            continue;
        }
        let tight = mode & 0o700;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(tight)).map_err(|e| {
            StoreError::Config(format!(
                "{file} is readable by other users (mode {mode:04o}) and cannot be made private: {e}; chmod 600 it"
            ))
        })?;
        tracing::warn!(file = %file, from = %format!("{mode:04o}"), to = %format!("{tight:04o}"),
            "the database file was accessible to other users; made it private to its owner");
    }
    Ok(())
}

/// `sqlite://x.db` → `x.db`, `sqlite:///abs/x.db` → `/abs/x.db`, a bare path as is.
pub fn sqlite_path(url: &str) -> Result<String, StoreError> {
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(StoreError::Config(format!(
            "unsupported database URL scheme in {:?}: use sqlite://FILE, a file path, or postgres://",
            url.split("://").next().unwrap_or_default()
        )));
    } else {
        url
    };
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "the SQLite database needs a file path (in-memory databases are not supported)".into(),
        ));
    }
    Ok(path.to_string())
}

/// A write transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    /// A savepoint in a group of SQLite write transactions ([`crate::writer`]).
    Sqlite(WriteTx),
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Pg(_) => Dialect::Postgres,
        }
    }

    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, where `BEGIN IMMEDIATE` already serialises writers
    /// ([`Dialect::for_update_of`] in a join).
    pub fn for_update(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Pg(_) => " FOR UPDATE",
        }
    }

    pub async fn fetch_all(&mut self, q: Query) -> Result<Vec<Row>, StoreError> {
        count_statement();
        Ok(match self {
            Tx::Sqlite(t) => t.with(|c| sqlite_rows(c, &q))?,
            Tx::Pg(t) => bind_all!(sqlx::query(AssertSqlSafe(q.render(Dialect::Postgres))), &q.args)
                .fetch_all(&mut **t)
                .await?
                .into_iter()
                .map(Row::Pg)
                .collect(),
        })
    }

    pub async fn fetch_optional(&mut self, q: Query) -> Result<Option<Row>, StoreError> {
        count_statement();
        Ok(match self {
            Tx::Sqlite(t) => t.with(|c| sqlite_rows(c, &q))?.into_iter().next(),
            Tx::Pg(t) => bind_all!(sqlx::query(AssertSqlSafe(q.render(Dialect::Postgres))), &q.args)
                .fetch_optional(&mut **t)
                .await?
                .map(Row::Pg),
        })
    }

    pub async fn fetch_one(&mut self, q: Query) -> Result<Row, StoreError> {
        self.fetch_optional(q).await?.ok_or(StoreError::NotFound)
    }

    pub async fn execute(&mut self, q: Query) -> Result<u64, StoreError> {
        count_statement();
        Ok(match self {
            Tx::Sqlite(t) => t.with(|c| sqlite_execute(c, &q))?,
            Tx::Pg(t) => bind_all!(sqlx::query(AssertSqlSafe(q.render(Dialect::Postgres))), &q.args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a script of several statements with no parameters (migrations).
    pub(crate) async fn execute_script(&mut self, sql: &'static str) -> Result<(), StoreError> {
        use sqlx::Executor as _;
        match self {
            Tx::Sqlite(t) => t.with(|c| Ok(c.execute_batch(sql)?))?,
            Tx::Pg(t) => {
                t.execute(sql).await?;
            }
        }
        Ok(())
    }

    /// Inserts and returns the new row's `id`.
    pub async fn insert(&mut self, mut q: Query) -> Result<i64, StoreError> {
        q.push(" RETURNING id");
        self.fetch_one(q).await?.get("id")
    }

    /// Locks the row of `table` with this id for the rest of the transaction on PostgreSQL, so a read-merge-write
    /// (an `edit` closure) never works from a row another transaction is changing; nothing on SQLite, where
    /// `BEGIN IMMEDIATE` already serialises writers. A missing row locks nothing (the read after it says so).
    pub async fn lock_row(&mut self, table: &'static str, id: i64) -> Result<(), StoreError> {
        if let Tx::Pg(_) = self {
            self.fetch_optional(query(format!("SELECT id FROM {table} WHERE id = ? FOR UPDATE")).bind(id)).await?;
        }
        Ok(())
    }

    /// Refuses to go on ([`StoreError::InUse`] with `why`) while a row of one of `used_by` (table, column) refers
    /// to `id`: the rule of a record deleted only once nothing uses it (a product, a customer, an order). One
    /// statement whatever the number of referring rows.
    pub async fn refuse_if_used(
        &mut self,
        id: i64,
        used_by: &[(&'static str, &'static str)],
        why: &str,
    ) -> Result<(), StoreError> {
        match self.fetch_optional(used_query(id, used_by)).await? {
            Some(_) => Err(StoreError::InUse(why.into())),
            None => Ok(()),
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// A row when a row of one of `used_by` (table, column) refers to `id`, none otherwise ([`Tx::refuse_if_used`]).
fn used_query(id: i64, used_by: &[(&'static str, &'static str)]) -> Query {
    debug_assert!(!used_by.is_empty(), "no table to look in");
    let mut q = query("SELECT 1 AS used WHERE ");
    for (n, (table, col)) in used_by.iter().enumerate() {
        q.push(if n == 0 { "" } else { " OR " }).push("EXISTS (SELECT 1 FROM ").push(table);
        q.push(" WHERE ").push(col).push(" = ").push_bind(id).push(")");
    }
    q
}

/// Reads and writes that work the same on the pool and inside a transaction, so one reader function
/// serves both (`&mut &db` or `&mut tx`).
pub trait Exec: Send {
    fn dialect(&self) -> Dialect;
    fn fetch_all(&mut self, q: Query) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;
    fn fetch_optional(&mut self, q: Query) -> impl Future<Output = Result<Option<Row>, StoreError>> + Send;
    fn fetch_one(&mut self, q: Query) -> impl Future<Output = Result<Row, StoreError>> + Send {
        async move { self.fetch_optional(q).await?.ok_or(StoreError::NotFound) }
    }
}

impl Exec for &Db {
    fn dialect(&self) -> Dialect {
        Db::dialect(self)
    }
    fn fetch_all(&mut self, q: Query) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        Db::fetch_all(self, q)
    }
    fn fetch_optional(&mut self, q: Query) -> impl Future<Output = Result<Option<Row>, StoreError>> + Send {
        Db::fetch_optional(self, q)
    }
}

impl Exec for Tx {
    fn dialect(&self) -> Dialect {
        Tx::dialect(self)
    }
    fn fetch_all(&mut self, q: Query) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        Tx::fetch_all(self, q)
    }
    fn fetch_optional(&mut self, q: Query) -> impl Future<Output = Result<Option<Row>, StoreError>> + Send {
        Tx::fetch_optional(self, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_rows_find_columns_read_in_any_order() {
        use rusqlite::types::Value as V;
        let names: Arc<[String]> = ["a", "b", "c"].map(String::from).into();
        let r = Row::Point(PointRow {
            names,
            values: vec![V::Integer(1), V::Integer(2), V::Text("x".into())],
            next: Default::default(),
        });
        assert_eq!(r.get::<i64>("a").unwrap(), 1);
        assert_eq!(r.get::<String>("c").unwrap(), "x");
        assert_eq!(r.get::<i64>("b").unwrap(), 2, "behind the last read");
        assert_eq!(r.get::<i64>("b").unwrap(), 2, "the same one again");
        assert_eq!(r.get::<i64>("a").unwrap(), 1);
        assert!(matches!(r.get::<i64>("nope"), Err(StoreError::Corrupt(_))));
        assert_eq!(r.get::<String>("c").unwrap(), "x", "after a miss");
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let mut q = query("SELECT * FROM t WHERE a = ? AND b = ?");
        q.push(" OR c = ").push_bind(3i64);
        assert_eq!(q.render(Dialect::Postgres), "SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $3");
        assert_eq!(q.render(Dialect::Sqlite), "SELECT * FROM t WHERE a = ? AND b = ? OR c = ?");
    }

    #[test]
    fn columns_render_an_insert_and_an_update_from_one_list() {
        let cols = || Columns::new().set("name", "Ann").set("note", None::<&str>).set("uses", 3i64);
        let q = cols().set("created_at", 7i64).insert_into("things");
        assert_eq!(q.sql, "INSERT INTO things (name, note, uses, created_at) VALUES (?, ?, ?, ?)");
        assert_eq!(
            q.render(Dialect::Postgres),
            "INSERT INTO things (name, note, uses, created_at) VALUES ($1, $2, $3, $4)"
        );
        assert_eq!(q.args, vec![Value::from("Ann"), Value::Text(None), Value::I64(Some(3)), Value::I64(Some(7))]);
        let q = cols().update("things", 42);
        assert_eq!(q.sql, "UPDATE things SET name = ?, note = ?, uses = ? WHERE id = ?");
        assert_eq!(q.render(Dialect::Postgres), "UPDATE things SET name = $1, note = $2, uses = $3 WHERE id = $4");
        assert_eq!(q.args, vec![Value::from("Ann"), Value::Text(None), Value::I64(Some(3)), Value::I64(Some(42))]);
    }

    #[test]
    fn a_record_is_used_when_a_row_of_any_referring_table_names_it() {
        let q = used_query(9, &[("licenses", "product_id"), ("license_templates", "product_id")]);
        assert_eq!(
            q.render(Dialect::Postgres),
            "SELECT 1 AS used WHERE EXISTS (SELECT 1 FROM licenses WHERE product_id = $1) \
             OR EXISTS (SELECT 1 FROM license_templates WHERE product_id = $2)"
        );
        assert_eq!(q.args, vec![Value::I64(Some(9)), Value::I64(Some(9))]);
        let q = used_query(4, &[("licenses", "order_id")]);
        assert_eq!(q.sql, "SELECT 1 AS used WHERE EXISTS (SELECT 1 FROM licenses WHERE order_id = ?)");
        assert_eq!(q.args, vec![Value::I64(Some(4))]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "column name set twice")]
    fn a_column_set_twice_is_a_bug() {
        let _ = Columns::new().set("name", "a").set("name", "b");
    }

    #[tokio::test]
    async fn sqlite_write_connection_commits_with_the_synchronous_asked_for() {
        let dir = std::env::temp_dir().join(format!("licensd-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("s.db").display());
        let db = Db::connect(&url).await.unwrap();
        assert_eq!(db.sqlite_synchronous().await.unwrap(), Some("full"), "durable by default");
        db.close().await;
        let db = Db::connect_with(&url, &Options { sqlite_synchronous: Synchronous::Normal, ..Options::default() })
            .await
            .unwrap();
        assert_eq!(db.sqlite_synchronous().await.unwrap(), Some("normal"));
        db.close().await;
        assert_eq!("FULL".parse::<Synchronous>(), Ok(Synchronous::Full));
        assert!("off".parse::<Synchronous>().is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["s.db", "s.db-wal", "s.db-shm"] {
                let p = dir.join(f);
                if p.exists() {
                    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{f}");
                }
            }
        }
    }

    #[test]
    fn database_urls_name_files() {
        assert_eq!(sqlite_path("sqlite://licensd.db").unwrap(), "licensd.db");
        assert_eq!(sqlite_path("sqlite:///var/lib/l.db").unwrap(), "/var/lib/l.db");
        assert_eq!(sqlite_path("data/l.db").unwrap(), "data/l.db");
        assert!(sqlite_path("mysql://x").is_err());
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
