//! `licensd`: the server and its command line.

mod devmate;

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use licensd_core::model::Role;
use licensd_server::{AppState, Config, limits};
use licensd_store::Db;

#[derive(Parser)]
#[command(name = "licensd", version, about = "Self-hosted software licensing server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct DbArg {
    /// Database URL: sqlite://FILE, sqlite:///ABS/PATH, a file path, or postgres://…
    #[arg(long, env = "LICENSD_DB", default_value = "sqlite://licensd.db")]
    db: String,
    /// SQLite: `full` fsyncs every (group) commit, so an acknowledged write survives a power loss;
    /// `normal` skips that fsync (faster writes; a power loss or OS crash can drop the last commits).
    #[arg(long, env = "LICENSD_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"])]
    sqlite_synchronous: String,
}

impl DbArg {
    fn options(&self) -> licensd_store::db::Options {
        // The value parser admits only what `Synchronous` parses.
        licensd_store::db::Options {
            sqlite_synchronous: self.sqlite_synchronous.parse().unwrap_or_default(),
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the HTTP server (management API, client API, operations).
    Serve {
        #[command(flatten)]
        db: DbArg,
        /// Address to listen on; port 0 takes a free port.
        #[arg(long, env = "LICENSD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        front: Box<FrontDoorArgs>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// The signing key of responses and license files.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Work on licenses from the command line.
    License {
        #[command(subcommand)]
        cmd: LicenseCmd,
    },
    /// Verify a license file offline: signature, expiry, clock, and (with --hardware-id) the device.
    Verify {
        /// The license file (- for stdin).
        file: String,
        /// The server's public key (base64, as `licensd key show` prints it).
        #[arg(long)]
        public_key: String,
        /// The device the file must be for.
        #[arg(long)]
        hardware_id: Option<String>,
        /// The product (short code) the file must be for; one server signs the files of every product.
        #[arg(long)]
        product: Option<String>,
        /// Refuse a trial license's file.
        #[arg(long)]
        refuse_trial: bool,
        #[arg(long)]
        json: bool,
    },
    /// Bring data in from another licensing service.
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// Write data out in another licensing service's format.
    Export {
        #[command(subcommand)]
        cmd: ExportCmd,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        cmd: DevCmd,
    },
}

/// `serve`'s timeouts, limits, proxies and addresses (README, "Running it").
#[derive(Args)]
struct FrontDoorArgs {
    /// Time a connection has to send a complete request head, from connecting or from the previous response
    /// (so also the keep-alive idle timeout).
    #[arg(long, env = "LICENSD_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Time a request has to be answered, body read included (then 503 TIMEOUT).
    #[arg(long, env = "LICENSD_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
    /// Longest pause while a request body arrives (then 408 REQUEST_TIMEOUT).
    #[arg(long, env = "LICENSD_BODY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    body_timeout: Duration,
    /// Connections served at once; more wait in the listen queue until one closes.
    #[arg(long, env = "LICENSD_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// After SIGINT/SIGTERM, how long requests in flight may still take before licensd exits anyway.
    #[arg(long, env = "LICENSD_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    shutdown_timeout: Duration,
    /// PostgreSQL: statements running longer are cancelled.
    #[arg(long, env = "LICENSD_STATEMENT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    statement_timeout: Duration,
    /// Serve /metrics (and /healthz) on this address instead of the main one.
    #[arg(long, env = "LICENSD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The URL clients reach licensd at (https://licensing.example.com); pagination links start with it.
    #[arg(long, env = "LICENSD_PUBLIC_URL")]
    public_url: Option<licensd_server::front_door::PublicUrl>,
    /// Reverse proxies (CIDR ranges or addresses, comma-separated) whose X-Forwarded-For/-Proto/-Host are believed.
    #[arg(long, env = "LICENSD_TRUST_PROXY", default_value = "")]
    trust_proxy: licensd_server::front_door::TrustedProxies,
    /// `off` turns every rate limit off.
    #[arg(long, env = "LICENSD_RATE_LIMIT", default_value = "on", value_parser = ["on", "off"])]
    rate_limit: String,
    /// Client API requests per client address (N/s, N/min or N/h, optionally ,burst=B; or off).
    #[arg(long, env = "LICENSD_RATE_LIMIT_CLIENT_IP", default_value = limits::DEFAULT_CLIENT_IP)]
    rate_limit_client_ip: limits::Limit,
    /// Client API requests per license key.
    #[arg(long, env = "LICENSD_RATE_LIMIT_CLIENT_KEY", default_value = limits::DEFAULT_CLIENT_KEY)]
    rate_limit_client_key: limits::Limit,
    /// Trials per client address.
    #[arg(long, env = "LICENSD_RATE_LIMIT_TRIAL", default_value = limits::DEFAULT_TRIAL_IP)]
    rate_limit_trial: limits::Limit,
    /// Management API requests (/api/v1, /v2) per token.
    #[arg(long, env = "LICENSD_RATE_LIMIT_TOKEN", default_value = limits::DEFAULT_TOKEN)]
    rate_limit_token: limits::Limit,
}

impl FrontDoorArgs {
    fn into_config(self, db: String, listen: SocketAddr) -> anyhow::Result<Config> {
        for (flag, d) in [
            ("--header-timeout", self.header_timeout),
            ("--request-timeout", self.request_timeout),
            ("--body-timeout", self.body_timeout),
            ("--statement-timeout", self.statement_timeout),
        ] {
            anyhow::ensure!(!d.is_zero(), "{flag} must be longer than 0");
        }
        anyhow::ensure!(self.max_connections > 0, "--max-connections must be at least 1");
        let rate_limits = if self.rate_limit == "off" {
            limits::RateLimits::default()
        } else {
            limits::RateLimits {
                client_ip: self.rate_limit_client_ip,
                client_key: self.rate_limit_client_key,
                trial_ip: self.rate_limit_trial,
                token: self.rate_limit_token,
            }
        };
        Ok(Config {
            db,
            listen,
            http: licensd_server::front_door::HttpConfig {
                header_timeout: self.header_timeout,
                request_timeout: self.request_timeout,
                body_timeout: self.body_timeout,
                max_connections: self.max_connections,
                shutdown_timeout: self.shutdown_timeout,
                public_url: self.public_url,
                trust_proxy: self.trust_proxy,
                metrics_listen: self.metrics_listen,
            },
            rate_limits,
            statement_timeout: self.statement_timeout,
        })
    }
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Print the active public key (what applications embed to verify responses and license files).
    Show {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
    /// Make a new signing key active; old keys stay retrievable, so what they signed still verifies.
    /// Running servers pick the new key up within 30 seconds.
    Rotate {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
    /// Seal every stored signing key (retired ones too) under LICENSD_SECRET with Argon2id: keys stored in
    /// plaintext, or in the older SHA-256 format. Idempotent; `serve` does the same at start.
    Encrypt {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LicenseCmd {
    /// Turn an air-gapped machine's activation request code (in FILE, or - for stdin) into its license
    /// file, for vendors with no connected machine at hand.
    OfflineActivate {
        #[command(flatten)]
        db: DbArg,
        file: String,
        /// Write the license file here instead of stdout.
        #[arg(long)]
        out: Option<String>,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import a DevMate export: `GET /v2/customers/{id}` responses (a JSON array, a list response, or one per
    /// line), keeping DevMate's ids. Re-running it changes nothing. A bad record is reported with its position
    /// and skipped (exit status 1), or with --strict the whole import is refused.
    Devmate {
        #[command(flatten)]
        db: DbArg,
        /// The export (- for stdin).
        file: String,
        /// All or nothing: check every record first and import them in one transaction.
        #[arg(long)]
        strict: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Write each record on its own (in a savepoint) instead of a batch's rows together (for tests).
        #[arg(long, hide = true)]
        record_by_record: bool,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Write every customer with licenses as DevMate's `GET /v2/customers/{id}` responses, in the format
    /// `licensd import devmate` reads.
    Devmate {
        #[command(flatten)]
        db: DbArg,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<String>,
    },
}

#[derive(Subcommand)]
enum DevCmd {
    /// Fill a database with realistic fake customers, orders, licenses and devices.
    Seed {
        #[command(flatten)]
        db: DbArg,
        #[arg(long, default_value_t = 10_000)]
        licenses: i64,
        /// Seed of the generator (the same seed gives the same data).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write each license's key, product and activated hardware id (if any), one per line, for load generators.
        #[arg(long)]
        keys_out: Option<String>,
    },
    /// Write a realistic DevMate export (for trying `licensd import devmate`, and for benchmarks).
    DevmateFile {
        #[arg(long, default_value_t = 1000)]
        customers: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: String,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; its secret is printed once, as the last line.
    Create {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "manager"])]
        role: String,
        /// Short code of a product a manager token may see (repeat for several).
        #[arg(long = "product")]
        products: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id; it stops working at once.
    Revoke {
        #[command(flatten)]
        db: DbArg,
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LICENSD_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("LICENSD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(db: &DbArg) -> anyhow::Result<Db> {
    Db::connect_with(&db.db, &db.options())
        .await
        .with_context(|| format!("cannot open the database {}", redact(&db.db)))
}

/// A database URL without its password, for messages: the password of `user:password@`, and the values of
/// `password` and `sslpassword` query parameters (`postgres://host/db?password=…`).
fn redact(url: &str) -> String {
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
const SECRET_MIN_CHARS: usize = 16;

/// `LICENSD_SECRET`: seals the signing keys at rest when set.
fn secret() -> Option<String> {
    let s = std::env::var("LICENSD_SECRET").ok().filter(|s| !s.is_empty())?;
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn serve(config: Config, mut options: licensd_store::db::Options) -> anyhow::Result<()> {
    options.statement_timeout = Some(config.statement_timeout);
    let db = Db::connect_with(&config.db, &options)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&config.db)))?;
    if let Some(sync) = db.sqlite_synchronous().await? {
        tracing::info!(synchronous = sync, "SQLite commits with synchronous={sync}");
    }
    let secret = secret();
    seal_keys_at_start(&db, secret.as_deref()).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let metrics = match config.http.metrics_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen on {a} (--metrics-listen)"))?,
        ),
        None => None,
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?db.dialect(), "licensd started");
    if let Some(m) = &metrics {
        tracing::info!(addr = %m.local_addr()?, "serving /metrics on its own address");
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "licensd listening on http://{addr}")?;
        out.flush()?;
    }
    let state = AppState::load(db.clone(), secret)
        .await
        .context("cannot load the signing key")?
        .with_rate_limits(&config.rate_limits)
        .with_http(config.http);
    warn_unsealed_keys(&db).await?;
    tokio::spawn(warn_weak_license_keys(db.clone()));
    licensd_server::serve_with_metrics(state, listener, metrics, shutdown_signal()).await?;
    db.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.cmd {
        Cmd::Serve { db, listen, front } => {
            let options = db.options();
            serve(front.into_config(db.db, listen)?, options).await
        }
        Cmd::Token { cmd } => token(cmd).await,
        Cmd::Key { cmd } => key(cmd).await,
        Cmd::License { cmd } => license(cmd).await,
        Cmd::Import { cmd: ImportCmd::Devmate { db, file, strict, json, record_by_record } } => {
            let db = open(&db).await?;
            let complete = devmate::import(&db, &file, strict, json, record_by_record).await?;
            db.close().await;
            if !complete {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Export { cmd: ExportCmd::Devmate { db, out } } => {
            let db = open(&db).await?;
            let n = devmate::export(&db, out.as_deref()).await?;
            if let Some(path) = out {
                eprintln!("exported {n} customers to {path}");
            }
            Ok(())
        }
        Cmd::Dev { cmd } => dev(cmd).await,
        Cmd::Verify { file, public_key, hardware_id, product, refuse_trial, json } => {
            verify(&file, &public_key, hardware_id.as_deref(), product.as_deref(), refuse_trial, json)
        }
    }
}

/// `serve` with a secret: seals what is not sealed with Argon2id yet, before the key is loaded.
async fn seal_keys_at_start(db: &Db, secret: Option<&str>) -> anyhow::Result<()> {
    let Some(secret) = secret else { return Ok(()) };
    let done = licensd_store::keys::encrypt_all(db, secret).await?;
    for (key_id, was) in &done.resealed {
        tracing::info!(key_id = %key_id, was = was.as_str(), "sealed the signing key with Argon2id under LICENSD_SECRET");
    }
    for (key_id, why) in &done.failed {
        tracing::warn!(key_id = %key_id, "cannot seal the signing key under LICENSD_SECRET: {why}");
    }
    Ok(())
}

/// Warns, once at start, when the active signing key (or a retired one, which applications may still
/// trust) is stored in plaintext.
async fn warn_unsealed_keys(db: &Db) -> anyhow::Result<()> {
    let keys = licensd_store::keys::stored(db).await?;
    let plain: Vec<&str> = keys.iter().filter(|k| !k.kdf.is_sealed()).map(|k| k.key_id.as_str()).collect();
    if plain.is_empty() {
        return Ok(());
    }
    let active = keys.iter().find(|k| k.active && !k.kdf.is_sealed());
    tracing::warn!(
        keys = %plain.join(","),
        "{} stored UNENCRYPTED in the database: anyone who can read the database file or a backup of it can sign \
         license files and answers that applications accept. Set LICENSD_SECRET to a long random value (e.g. \
         `openssl rand -base64 32`) and restart, or run `licensd key encrypt`, to seal {}; keep the secret: the \
         keys cannot be read without it",
        match active {
            Some(k) if plain.len() == 1 => format!("the signing key {} is", k.key_id),
            Some(k) => format!("the signing key {} and {} retired keys are", k.key_id, plain.len() - 1),
            None => format!("{} retired signing keys are", plain.len()),
        },
        if plain.len() == 1 { "it" } else { "them" }
    );
    Ok(())
}

/// How many license keys are below [`licensd_core::keys::WEAK_KEY_BITS`], and one such license's id.
async fn weak_license_keys(db: &Db) -> anyhow::Result<(u64, Option<i64>)> {
    use licensd_store::db::query;
    let (mut after, mut weak, mut example) = (0i64, 0u64, None);
    loop {
        let rows = db
            .fetch_all(query("SELECT id, license_key FROM licenses WHERE id > ? ORDER BY id LIMIT 5000").bind(after))
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.get("id")?;
        for r in &rows {
            let key: Option<String> = r.get("license_key")?;
            if key.as_deref().is_some_and(licensd_core::keys::is_weak) {
                weak += 1;
                example = example.or(Some(r.get("id")?));
            }
        }
    }
    Ok((weak, example))
}

/// Reports, once at start and off the request path, the licenses whose keys can be guessed (imported or
/// chosen by a store; licensd's own keys never are).
async fn warn_weak_license_keys(db: Db) {
    match weak_license_keys(&db).await {
        Ok((0, _)) => {}
        Ok((n, example)) => tracing::warn!(
            licenses = n,
            example = example.unwrap_or_default(),
            "{n} licenses have keys of under 60 bits of entropy (e.g. license #{}): imported or chosen by a store, \
             they can be guessed; the client API's rate limits slow that down, new keys that licensd generates do \
             not have this problem",
            example.unwrap_or_default()
        ),
        Err(e) => tracing::warn!(error = %e, "cannot count licenses with weak keys"),
    }
}

/// `licensd key encrypt`.
async fn key_encrypt(db: &DbArg, json: bool) -> anyhow::Result<()> {
    let secret = secret().context(
        "LICENSD_SECRET is not set: set it to a long random value (e.g. `openssl rand -base64 32`) to seal the \
         signing keys under it, and keep it: the keys cannot be read without it",
    )?;
    let db = open(db).await?;
    let done = licensd_store::keys::encrypt_all(&db, &secret).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "resealed": done.resealed.iter().map(|(k, was)| serde_json::json!({"key_id": k, "was": was})).collect::<Vec<_>>(),
                "unchanged": done.unchanged,
                "failed": done.failed.iter().map(|(k, why)| serde_json::json!({"key_id": k, "error": why})).collect::<Vec<_>>(),
            })
        );
    } else {
        for (k, was) in &done.resealed {
            let was = if *was == licensd_store::keys::Kdf::None { "plaintext" } else { "SHA-256, no salt" };
            println!("sealed key {k} with Argon2id (was {was})");
        }
        for (k, why) in &done.failed {
            eprintln!("key {k}: {why}");
        }
        println!(
            "{} keys sealed now, {} sealed with Argon2id already{}",
            done.resealed.len(),
            done.unchanged.len(),
            if done.failed.is_empty() { String::new() } else { format!(", {} could not be opened", done.failed.len()) }
        );
    }
    db.close().await;
    anyhow::ensure!(
        done.failed.is_empty(),
        "{} keys were left as they were: LICENSD_SECRET does not open them",
        done.failed.len()
    );
    Ok(())
}

async fn key(cmd: KeyCmd) -> anyhow::Result<()> {
    let (db, json, rotate) = match cmd {
        KeyCmd::Show { db, json } => (db, json, false),
        KeyCmd::Rotate { db, json } => (db, json, true),
        KeyCmd::Encrypt { db, json } => return key_encrypt(&db, json).await,
    };
    let db = open(&db).await?;
    let k = if rotate {
        licensd_store::keys::rotate(&db, secret().as_deref()).await?
    } else {
        licensd_store::keys::active(&db, secret().as_deref()).await?
    };
    if rotate && secret().is_none() {
        eprintln!(
            "warning: the new key is stored unencrypted; set LICENSD_SECRET and run `licensd key encrypt` to seal it"
        );
    }
    if json {
        println!("{}", serde_json::json!({"alg": "ed25519", "key_id": k.key_id, "public_key": k.public_base64()}));
    } else {
        if rotate {
            println!("rotated: key {} now signs; running servers switch within 30 seconds", k.key_id);
        }
        println!("key id:     {}", k.key_id);
        println!("public key: {}", k.public_base64());
    }
    Ok(())
}

async fn license(cmd: LicenseCmd) -> anyhow::Result<()> {
    match cmd {
        LicenseCmd::OfflineActivate { db, file, out } => {
            let code = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
            };
            let db = open(&db).await?;
            let req = licensd_server::client_api::decode_request_code(code.trim(), "activate")
                .map_err(|e| anyhow::anyhow!("{}", e.error.detail))?;
            let outcome = match licensd_store::client::offline_activate(&db, &req).await {
                Err(licensd_store::StoreError::Refused(r)) => anyhow::bail!("refused: {} ({})", r.detail(), r.code()),
                other => other?,
            };
            let state = AppState::load(db, secret()).await?;
            let text = state.license_file(&outcome);
            match out {
                Some(path) => {
                    std::fs::write(&path, &text).with_context(|| format!("cannot write {path}"))?;
                    eprintln!("license file for {} written to {path}", req.hardware_id);
                }
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}

fn verify(
    file: &str,
    public_key: &str,
    hardware_id: Option<&str>,
    product: Option<&str>,
    refuse_trial: bool,
    json: bool,
) -> anyhow::Result<()> {
    use licensd_client::{KeySet, LicenseFile};
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let keys = KeySet::from_public_key(public_key).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    let mut verifier = LicenseFile::verifier(&keys);
    if let Some(hw) = hardware_id {
        verifier = verifier.hardware_id(hw);
    }
    if let Some(p) = product {
        verifier = verifier.product(p);
    }
    if refuse_trial {
        verifier = verifier.refuse_trial();
    }
    let f = verifier.verify(&text).map_err(|e| anyhow::anyhow!("the license file does not verify: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"valid": true, "license_key": f.license_key, "product": f.product, "hardware_id": f.hardware_id,
                "is_trial": f.is_trial, "issued_at": f.issued_at, "expires_at": f.expires_at, "key_id": f.key_id})
        );
    } else {
        println!("valid license file");
        println!("license key: {}", f.license_key);
        println!("product:     {}", f.product);
        println!("device:      {}", f.hardware_id);
        println!("trial:       {}", if f.is_trial { "yes" } else { "no" });
        println!("issued at:   {} (UNIX seconds)", f.issued_at);
        println!("expires at:  {} (UNIX seconds)", f.expires_at);
        println!("signed by:   key {}", f.key_id);
    }
    Ok(())
}

async fn dev(cmd: DevCmd) -> anyhow::Result<()> {
    match cmd {
        DevCmd::DevmateFile { customers, seed, out } => devmate::sample(customers, seed, &out)?,
        DevCmd::Seed { db, licenses, seed, keys_out } => {
            anyhow::ensure!(licenses > 0, "--licenses must be positive");
            let db = open(&db).await?;
            let bar = indicatif::ProgressBar::new(u64::try_from(licenses)?);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} licenses ({per_sec}, eta {eta})",
                )?
                .progress_chars("=> "),
            );
            let start = std::time::Instant::now();
            let seeded =
                licensd_store::seed::seed(&db, licenses, seed, |n| bar.set_position(u64::try_from(n).unwrap_or(0)))
                    .await?;
            bar.finish();
            eprintln!(
                "seeded {} licenses, {} customers and orders, {} devices in {:.1?}",
                seeded.licenses,
                seeded.customers,
                seeded.devices,
                start.elapsed()
            );
            if let Some(path) = keys_out {
                let mut text = String::new();
                for (k, product, hw) in &seeded.keys {
                    text.push_str(k);
                    text.push(' ');
                    text.push_str(product);
                    if let Some(hw) = hw {
                        text.push(' ');
                        text.push_str(hw);
                    }
                    text.push('\n');
                }
                // License keys: owner-only, like the database they come from.
                devmate::create_private(&path)?
                    .write_all(text.as_bytes())
                    .with_context(|| format!("cannot write {path}"))?;
            }
        }
    }
    Ok(())
}

async fn token(cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create { db, name, role, products, json } => {
            let db = open(&db).await?;
            let role = Role::parse(&role).context("role must be admin or manager")?;
            let (t, secret) = licensd_store::tokens::create(&db, &name, role, &products).await?;
            if json {
                let mut v = serde_json::to_value(&t)?;
                v["token"] = serde_json::Value::String(secret);
                println!("{v}");
            } else {
                println!("created {} token {} (id {}){}", role.as_str(), t.name, t.id, products_suffix(&t.products));
                println!("store this secret now; it is not shown again:");
                println!("{secret}");
            }
        }
        TokenCmd::List { db, json } => {
            let db = open(&db).await?;
            let tokens = licensd_store::tokens::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string(&tokens)?);
            } else {
                for t in tokens {
                    let state = if t.revoked_at.is_some() { " (revoked)" } else { "" };
                    println!("{}\t{}\t{}{}{}", t.id, t.role.as_str(), t.name, products_suffix(&t.products), state);
                }
            }
        }
        TokenCmd::Revoke { db, id, json } => {
            let db = open(&db).await?;
            let t = match licensd_store::tokens::revoke(&db, id).await {
                Err(licensd_store::StoreError::NotFound) => anyhow::bail!("no token with id {id}"),
                other => other?,
            };
            if json {
                println!("{}", serde_json::to_string(&t)?);
            } else {
                println!("revoked token {} (id {})", t.name, t.id);
            }
        }
    }
    Ok(())
}

fn products_suffix(p: &[String]) -> String {
    if p.is_empty() { String::new() } else { format!(" for products {}", p.join(", ")) }
}

#[cfg(test)]
mod tests {
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
