//! `licensd`: the server and its command line. Each command lives in its own module; this file parses
//! the command line and dispatches.

mod api_key;
mod common;
mod config;
mod customer;
mod dev;
mod devmate;
mod events;
mod examples;
mod key;
mod license;
mod licensespring;
mod oauth_client;
mod product;
mod serve;
mod template;
mod token;
mod user;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::api_key::ApiKeyCmd;
use crate::common::{DbArg, RsaBitsArg, open};
use crate::customer::CustomerCmd;
use crate::dev::DevCmd;
use crate::events::EventsArgs;
use crate::key::KeyCmd;
use crate::license::LicenseCmd;
use crate::oauth_client::OauthClientCmd;
use crate::product::ProductCmd;
use crate::serve::FrontDoorArgs;
use crate::template::TemplateCmd;
use crate::token::TokenCmd;
use crate::user::UserCmd;

/// What `--help` adds about the environment (every flag's own variable is shown beside it).
const ENV_HELP: &str = "Environment variables without a flag: LICENSD_SECRET (seals the signing keys at rest; \
    keep it), LICENSD_LOG (log filter: debug, licensd_store=debug, ...; default info), LICENSD_LOG_FORMAT (json), \
    LICENSD_CONFIG (the --config file). A --config FILE (TOML) may hold any flag or variable: its keys are the \
    flags' long names (db, listen, rate-limit-client-ip, ...) and secret, log, log-format; a flag or an \
    environment variable overrides the file.";

#[derive(Parser)]
#[command(
    name = "licensd",
    version,
    about = "Self-hosted software licensing server",
    after_long_help = ENV_HELP
)]
struct Cli {
    /// A TOML file with any flag or variable (`db = "postgres://…"`, `listen = "0.0.0.0:8080"`, `secret = …`);
    /// flags and environment variables override it.
    #[arg(long, global = true, env = "LICENSD_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the HTTP server (management API, client API, operations).
    #[command(after_long_help = ENV_HELP)]
    Serve {
        #[command(flatten)]
        db: DbArg,
        /// Address to listen on: IP:PORT, HOST:PORT or :PORT (every interface); port 0 takes a free port.
        #[arg(long, env = "LICENSD_LISTEN", default_value = "127.0.0.1:8080", value_parser = common::parse_listen)]
        listen: std::net::SocketAddr,
        /// Do not apply migrations; refuse to start if any is pending (a rolling deploy runs `licensd migrate`
        /// once, then starts every instance with this flag).
        #[arg(long, env = "LICENSD_NO_MIGRATE")]
        no_migrate: bool,
        #[command(flatten)]
        rsa: RsaBitsArg,
        #[command(flatten)]
        front: Box<FrontDoorArgs>,
    },
    /// Create the database if need be, apply the migrations it lacks, make the RSA signing key (LicenseSpring's
    /// API) if it has none, and exit (run once before starting instances with `serve --no-migrate`). Refuses a
    /// schema newer than this binary, or edited migrations.
    Migrate {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        rsa: RsaBitsArg,
        /// Only report: list applied and pending migrations, change nothing (exit status 1 if any is pending).
        #[arg(long)]
        check: bool,
        /// Print the result as JSON (one object on one line), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of a live SQLite database to FILE (`VACUUM INTO`: writers go on; the copy holds
    /// every commit made before it began; created 0600). PostgreSQL: use pg_dump (docs/operations.md).
    Backup {
        #[command(flatten)]
        db: DbArg,
        /// The file to write; must not exist.
        #[arg(long)]
        out: String,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// LicenseSpring-style API keys and their shared keys (License API v4): create, list, revoke.
    ApiKey {
        #[command(subcommand)]
        cmd: ApiKeyCmd,
    },
    /// OAuth clients (client credentials) of the License API v4: create, list, revoke.
    OauthClient {
        #[command(subcommand)]
        cmd: OauthClientCmd,
    },
    /// Manage the web dashboard's users (they sign in at `/`).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// The signing key of responses and license files.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Products: create and list them.
    Product {
        #[command(subcommand)]
        cmd: ProductCmd,
    },
    /// License templates (the terms licenses are issued with): create and list them.
    Template {
        #[command(subcommand)]
        cmd: TemplateCmd,
    },
    /// Licenses: issue, show, find, disable, enable, refund, reset; offline activation.
    License {
        #[command(subcommand)]
        cmd: LicenseCmd,
    },
    /// Customers: find them.
    Customer {
        #[command(subcommand)]
        cmd: CustomerCmd,
    },
    /// Recent activity: the audit log's latest events, oldest first (who did what to which record).
    Events(EventsArgs),
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
        /// Print the result as JSON (one object on one line), for scripts.
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
    /// Import what LicenseSpring's management API lists: the pages of `GET /api/v1/licenses/` (each
    /// `{"count", "next", "previous", "results": [license, ...]}`, customers and features embedded), as one page,
    /// a JSON array of pages, or JSON lines (one page a line). Keeps the licenses' ids and keys, their limits,
    /// dates and activation counts, and creates their customers, orders, products and features; see
    /// docs/migrate-from-licensespring.md. Re-running it changes nothing; a newer export updates what licensd has
    /// not changed since. A malformed file is refused whole (nothing written); a license the database refuses is
    /// reported with its page and skipped (exit status 1).
    Licensespring {
        #[command(flatten)]
        db: DbArg,
        /// The pages (- for stdin).
        file: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
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

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let wanted = config::env_or_file("log");
    let filter = wanted.as_deref().and_then(|f| EnvFilter::try_new(f).ok());
    let bad_filter = wanted.filter(|_| filter.is_none());
    let filter = filter.unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    // Colours only on a terminal (journald, `docker logs` and files get plain text), and never with NO_COLOR.
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let format = config::env_or_file("log-format");
    if format.as_deref() == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
    if let Some(f) = bad_filter {
        tracing::warn!(
            "LICENSD_LOG={f:?} is not a log filter (e.g. info, debug, licensd_store=debug); logging at info"
        );
    }
    if let Some(f) = format.filter(|f| f != "json" && f != "text") {
        tracing::warn!("LICENSD_LOG_FORMAT={f:?} is not a log format (text or json); logging as text");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = match config::apply(examples::attach(Cli::command()), &args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // A usage error exits 1 like every other refusal (clap's own is 2), so scripts test one status; --help and
    // --version still exit 0.
    let parsed = command.try_get_matches_from(&args).and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return std::process::ExitCode::FAILURE;
        }
        Err(e) => e.exit(),
    };
    init_logging();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, never a backtrace (`RUST_BACKTRACE=1` is common on developers'
            // machines, and a command's refusal is not a crash).
            eprintln!("Error: {e}");
            let causes: Vec<String> = e.chain().skip(1).map(ToString::to_string).collect();
            if !causes.is_empty() {
                eprintln!("\nCaused by:");
                for c in causes {
                    eprintln!("    {c}");
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Serve { db, listen, no_migrate, rsa, front } => {
            let options = db.options();
            serve::serve(front.into_config(db.db, listen)?, options, no_migrate, rsa.rsa_bits).await
        }
        Cmd::Migrate { db, rsa, check, json } => migrate(&db, rsa.rsa_bits, check, json).await,
        Cmd::Backup { db, out } => {
            let opened = open(&db).await?;
            let started = std::time::Instant::now();
            opened.backup(&out).await?;
            opened.close().await;
            let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            println!(
                "backed up to {out} ({size} bytes in {:.1?}); restore: stop licensd, put it in place of the database",
                started.elapsed()
            );
            Ok(())
        }
        Cmd::Token { cmd } => token::token(cmd).await,
        Cmd::ApiKey { cmd } => api_key::api_key(cmd).await,
        Cmd::OauthClient { cmd } => oauth_client::oauth_client(cmd).await,
        Cmd::User { cmd } => user::user(cmd).await,
        Cmd::Key { cmd } => key::key(cmd).await,
        Cmd::Product { cmd } => product::product(cmd).await,
        Cmd::Template { cmd } => template::template(cmd).await,
        Cmd::License { cmd } => license::license_cmd(cmd).await,
        Cmd::Customer { cmd } => customer::customer(cmd).await,
        Cmd::Events(args) => events::events(args).await,
        Cmd::Import { cmd: ImportCmd::Devmate { db, file, strict, json, record_by_record } } => {
            let db = open(&db).await?;
            let complete = devmate::import(&db, &file, strict, json, record_by_record).await?;
            db.close().await;
            if !complete {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Import { cmd: ImportCmd::Licensespring { db, file, json } } => {
            let db = open(&db).await?;
            let complete = licensespring::import(&db, &file, json).await?;
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
        Cmd::Dev { cmd } => dev::dev(cmd).await,
        Cmd::Verify { file, public_key, hardware_id, product, refuse_trial, json } => {
            license::verify(&file, &public_key, hardware_id.as_deref(), product.as_deref(), refuse_trial, json)
        }
    }
}

/// `licensd token create | head -n 1`: the reader has gone, so printing fails; that ends the command quietly,
/// as a closed pipe ends any Unix tool, instead of a panic message (Rust ignores SIGPIPE).
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg =
            payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if msg.is_some_and(|m| m.contains("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// `licensd migrate`: the schema, then the RSA signing key if the database has none (so that `licensd key show
/// --rsa`, which only reads, has a key to print before any server started).
async fn migrate(db: &DbArg, rsa_bits: u32, check: bool, json: bool) -> anyhow::Result<()> {
    use licensd_store::{keys, migrate};
    let opened = common::create(&db.db, &db.options(), false).await?;
    let before = migrate::status(&opened).await?;
    let applied = if check { Vec::new() } else { migrate::run(&opened).await? };
    let pending: Vec<i64> = if check { before.pending.clone() } else { Vec::new() };
    let mut made = Vec::new();
    if !check {
        // The RSA key only: the Ed25519 key is made at first start (or by `key show`), as before RSA keys, so
        // that `migrate` then `key import FILE` still makes the file's Ed25519 key sign.
        let secret = common::secret();
        let had = keys::active_rsa(&opened, secret.as_deref()).await.context("cannot read the RSA signing key")?;
        if had.is_none() {
            let rsa = keys::ensure_rsa(&opened, secret.as_deref(), rsa_bits)
                .await
                .context("cannot make the RSA signing key")?;
            made.push(serde_json::json!({"key_id": rsa.key_id, "algorithm": "rsa", "bits": rsa.bits()}));
        }
    }
    opened.close().await;
    let known = migrate::latest_version();
    if json {
        println!(
            "{}",
            serde_json::json!({"applied_now": applied, "pending": pending, "applied_before": before.applied, "binary_latest": known, "keys_made": made})
        );
    } else if check {
        if pending.is_empty() {
            println!("up to date: every migration this binary knows (up to {known}) is applied");
        } else {
            println!("pending: {}", pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", "));
        }
    } else if applied.is_empty() {
        println!("up to date: every migration this binary knows (up to {known}) was applied already");
    } else {
        println!("applied migrations {}", applied.iter().map(i64::to_string).collect::<Vec<_>>().join(", "));
    }
    if !json {
        for k in &made {
            println!(
                "made the RSA signing key {} ({} bits) for LicenseSpring's API; `licensd key show --rsa` prints its \
                 public key",
                k["key_id"].as_str().unwrap_or_default(),
                k["bits"]
            );
        }
    }
    if check && !pending.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
