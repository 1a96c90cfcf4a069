//! `licensd`: the server and its command line.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use licensd_core::model::Role;
use licensd_server::{AppState, Config};
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
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
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
    Db::connect(&db.db).await.with_context(|| format!("cannot open the database {}", redact(&db.db)))
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `LICENSD_SECRET`: encrypts the signing key at rest when set.
fn secret() -> Option<String> {
    std::env::var("LICENSD_SECRET").ok().filter(|s| !s.is_empty())
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let db =
        Db::connect(&config.db).await.with_context(|| format!("cannot open the database {}", redact(&config.db)))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?db.dialect(), "licensd started");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "licensd listening on http://{addr}")?;
        out.flush()?;
    }
    let state = AppState::load(db.clone(), secret()).await.context("cannot load the signing key")?;
    licensd_server::serve(state, listener, shutdown_signal()).await?;
    db.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.cmd {
        Cmd::Serve { db, listen } => serve(Config { db: db.db, listen }).await,
        Cmd::Token { cmd } => token(cmd).await,
    }
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
}
