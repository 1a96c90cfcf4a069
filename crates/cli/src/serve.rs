//! `licensd serve`: flags to configuration, start-up checks, serving until a signal.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use licensd_server::{AppState, Config, limits};
use licensd_store::Db;

use crate::common::{redact, secret};

/// `serve`'s timeouts, limits, proxies and addresses (README, "Running it").
#[derive(Args)]
pub(crate) struct FrontDoorArgs {
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
    #[arg(long, env = "LICENSD_METRICS_LISTEN", value_parser = crate::common::parse_listen)]
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
    pub(crate) fn into_config(self, db: String, listen: SocketAddr) -> anyhow::Result<Config> {
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

/// Resolves at SIGINT or SIGTERM. The handlers are installed when this is called, not when it is first
/// polled: a signal that arrives while the server is still loading stops it cleanly too.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    async move {
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// Refuses to serve a database with migrations pending when `--no-migrate` says another step applies them.
async fn check_migrated(db: &Db) -> anyhow::Result<()> {
    let status = licensd_store::migrate::status(db).await?;
    anyhow::ensure!(
        status.pending.is_empty(),
        "the database lacks migration{} {} (--no-migrate): run `licensd migrate` against it once, then start the \
         instances",
        if status.pending.len() == 1 { "" } else { "s" },
        status.pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

pub(crate) async fn serve(
    config: Config,
    mut options: licensd_store::db::Options,
    no_migrate: bool,
    rsa_bits: u32,
) -> anyhow::Result<()> {
    // First, so that SIGTERM during start-up (a supervisor giving up) ends the process cleanly.
    let shutdown = shutdown_signal();
    options.statement_timeout = Some(config.statement_timeout);
    let db = crate::common::create(&config.db, &options, !no_migrate).await?;
    if no_migrate {
        check_migrated(&db).await?;
    }
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
    let state = AppState::load_with(db.clone(), secret, rsa_bits)
        .await
        .context("cannot load the signing keys")?
        .with_rate_limits(&config.rate_limits)
        .with_http(config.http);
    warn_unsealed_keys(&db).await?;
    tokio::spawn(warn_weak_license_keys(db.clone()));
    tracing::info!(
        %addr,
        version = %env!("CARGO_PKG_VERSION"),
        db = %redact(&config.db),
        backend = ?db.dialect(),
        key_id = %state.key().key_id,
        rsa_key_id = %state.rsa_key().key_id,
        "licensd started"
    );
    if let Some(m) = &metrics {
        tracing::info!(addr = %m.local_addr()?, "serving /metrics on its own address");
    }
    // Last: a supervisor or script waiting for this line may send requests at once, and everything they need
    // (the schema, the signing key, the listeners) is ready.
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "licensd listening on http://{addr}")?;
        out.flush()?;
    }
    licensd_server::serve_with_metrics(state, listener, metrics, shutdown).await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// `serve` with a secret: seals what is not sealed with Argon2id yet, before the key is loaded.
pub(crate) async fn seal_keys_at_start(db: &Db, secret: Option<&str>) -> anyhow::Result<()> {
    let Some(secret) = secret else { return Ok(()) };
    let done = licensd_store::keys::encrypt_all(db, secret).await?;
    for (key_id, was) in &done.resealed {
        tracing::info!(key_id = %key_id, was = was.as_str(), "sealed the signing key with Argon2id under LICENSD_SECRET");
    }
    for (key_id, why) in &done.failed {
        tracing::warn!(key_id = %key_id, "cannot seal the signing key under LICENSD_SECRET: {why}");
    }
    let creds = licensd_store::credentials::seal_all(db, secret).await?;
    for (label, _) in &creds.resealed {
        tracing::info!(credential = %label, "sealed the secret of an API key or OAuth client with Argon2id under LICENSD_SECRET");
    }
    for (label, why) in &creds.failed {
        tracing::warn!(credential = %label, "cannot seal the secret of an API key or OAuth client under LICENSD_SECRET: {why}");
    }
    Ok(())
}

/// Warns, once at start, when the active signing key (or a retired one, which applications may still
/// trust), or the secret of a live API key or OAuth client, is stored in plaintext.
pub(crate) async fn warn_unsealed_keys(db: &Db) -> anyhow::Result<()> {
    let creds = licensd_store::credentials::unsealed_all(db).await?;
    if !creds.is_empty() {
        tracing::warn!(
            credentials = %creds.join(", "),
            "{} of the License API stored UNENCRYPTED in the database: anyone who can read the database file or a \
             backup of it can sign requests as the applications that hold them. Set LICENSD_SECRET to a long random \
             value and restart, or run `licensd key encrypt`, to seal them",
            if creds.len() == 1 { "the secret of 1 API key or OAuth client is".to_string() } else {
                format!("the secrets of {} API keys and OAuth clients are", creds.len())
            }
        );
    }
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
pub(crate) async fn weak_license_keys(db: &Db) -> anyhow::Result<(u64, Option<i64>)> {
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
pub(crate) async fn warn_weak_license_keys(db: Db) {
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
