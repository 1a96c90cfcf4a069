//! `licensd token`: API tokens of the management APIs (`/api/v1`, `/v2`). Each change is in the audit log
//! (`api_token.created|updated|revoked`) with the command line's actor, `cli` (`common::operator`).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use licensd_core::model::{ApiToken, Role};
use licensd_core::time::{format_iso, now_ms};
use licensd_store::tokens::{NewToken, Products, TokenChange};

use crate::common::{DbArg, explain, open, operator, time};

#[derive(Subcommand)]
pub(crate) enum TokenCmd {
    /// Create a token; its secret is printed once, as the last line.
    ///
    /// Roles: admin (everything), manager (the records of its products; no catalog changes), support (read,
    /// disable and enable licenses, reset activations, deactivate devices, edit notes and metadata; nothing
    /// deleted), read-only (GET only). Names are unique among tokens not revoked.
    Create {
        #[command(flatten)]
        db: DbArg,
        /// A name unique among tokens not revoked; events record it as the actor.
        #[arg(long)]
        name: String,
        /// What the token may do: admin, manager, support or read-only.
        #[arg(long, value_parser = Role::NAMES)]
        role: String,
        /// Short code of a product the token is limited to (repeat for several). Needed for a manager; a
        /// support or read-only token without one sees every product; an admin takes none.
        #[arg(long = "product")]
        products: Vec<String>,
        /// What the token is for (shown by `token list`).
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        expiry: Expiry,
        /// Print the token as JSON, its secret in `token`.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets): id, role, name, products, description, created, expires, last used
    /// (to within a minute), revoked.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Change a token's products, description or expiry (its secret, name and role stay).
    Update {
        #[command(flatten)]
        db: DbArg,
        /// The token's id, as `token list` shows it.
        id: i64,
        /// The products the token is limited to from now on, replacing the ones it had (repeat for several).
        #[arg(long = "product", conflicts_with = "all_products")]
        products: Vec<String>,
        /// A support or read-only token sees every product from now on.
        #[arg(long)]
        all_products: bool,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        expiry: Expiry,
        /// The token never expires.
        #[arg(long, conflicts_with_all = ["expires_in", "expires_at"])]
        no_expiry: bool,
        /// Print the token as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id (from `token list`); it stops working at once. Revoking it again changes nothing.
    Revoke {
        #[command(flatten)]
        db: DbArg,
        /// The token's id, as `token list` shows it.
        id: i64,
        /// Print the token as JSON (`already_revoked` says whether it was revoked before).
        #[arg(long)]
        json: bool,
    },
}

/// When a token expires: after a lifetime, or at a time.
#[derive(Args)]
pub(crate) struct Expiry {
    /// Expire after this long: a number and m, h, d or w (`90d`, `12h`), at most ten years.
    #[arg(long, conflicts_with = "expires_at")]
    expires_in: Option<String>,
    /// Expire at this time: `2027-03-01` (midnight UTC) or RFC 3339 (`2027-03-01T12:00:00Z`).
    #[arg(long)]
    expires_at: Option<String>,
}

impl Expiry {
    /// The expiry given, in UTC milliseconds; `None` when neither option was.
    fn resolve(&self, now: i64) -> anyhow::Result<Option<i64>> {
        if let Some(d) = &self.expires_in {
            let ms = licensd_core::token::parse_lifetime(d).with_context(|| {
                format!(
                    "--expires-in {d:?}: give a whole number and a unit, m, h, d or w (90d, 12h), at most ten years"
                )
            })?;
            return Ok(Some(now + ms));
        }
        if let Some(t) = &self.expires_at {
            let at = licensd_core::time::parse_datetime(t).with_context(|| {
                format!("--expires-at {t:?}: give a date (2027-03-01) or an RFC 3339 time (2027-03-01T12:00:00Z)")
            })?;
            return Ok(Some(at));
        }
        Ok(None)
    }
}

pub(crate) async fn token(cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create { db, name, role, products, description, expiry, json } => {
            let role = Role::parse(&role).with_context(|| format!("role must be one of {}", Role::NAMES.join(", ")))?;
            let expires_at = expiry.resolve(now_ms())?;
            let db = open(&db).await?;
            let new = NewToken { name, role, products, description, expires_at };
            let (t, secret) = licensd_store::tokens::create_token_as(&db, &operator(), &new).await.map_err(explain)?;
            if json {
                let mut v = serde_json::to_value(&t)?;
                v["token"] = serde_json::Value::String(secret);
                println!("{v}");
            } else {
                println!("created {} token {} (id {}){}{}", role, t.name, t.id, products_suffix(&t), expiry_suffix(&t));
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
                print!("{}", table(&tokens, now_ms()));
            }
        }
        TokenCmd::Update { db, id, products, all_products, description, expiry, no_expiry, json } => {
            let change = TokenChange {
                products: if all_products {
                    Some(Products::All)
                } else if products.is_empty() {
                    None
                } else {
                    Some(Products::Only(products))
                },
                description,
                expires_at: if no_expiry { Some(None) } else { expiry.resolve(now_ms())?.map(Some) },
            };
            if change.products.is_none() && change.description.is_none() && change.expires_at.is_none() {
                anyhow::bail!(
                    "nothing to change: give --product, --all-products, --description, --expires-in, --expires-at \
                     or --no-expiry"
                );
            }
            let db = open(&db).await?;
            let t = match licensd_store::tokens::update_as(&db, &operator(), id, &change).await {
                Err(licensd_store::StoreError::NotFound) => anyhow::bail!("no token with id {id} (see token list)"),
                other => other.map_err(explain)?,
            };
            if json {
                println!("{}", serde_json::to_string(&t)?);
            } else {
                println!(
                    "updated {} token {} (id {}){}{}",
                    t.role,
                    t.name,
                    t.id,
                    products_suffix(&t),
                    expiry_suffix(&t)
                );
            }
        }
        TokenCmd::Revoke { db, id, json } => {
            let db = open(&db).await?;
            let r = match licensd_store::tokens::revoke_as(&db, &operator(), id).await {
                Err(licensd_store::StoreError::NotFound) => anyhow::bail!("no token with id {id} (see token list)"),
                other => other?,
            };
            let t = &r.token;
            if json {
                let mut v = serde_json::to_value(t)?;
                v["already_revoked"] = serde_json::Value::Bool(r.already);
                println!("{v}");
            } else if r.already {
                let at = t.revoked_at.map(|at| format_iso(at.0)).unwrap_or_default();
                println!("token {} (id {}) was already revoked at {at}; nothing changed", t.name, t.id);
            } else {
                println!("revoked token {} (id {})", t.name, t.id);
            }
        }
    }
    Ok(())
}

/// ` for products a, b` or ` for every product`.
fn products_suffix(t: &ApiToken) -> String {
    if t.all_products {
        if t.role == Role::Admin { String::new() } else { " for every product".into() }
    } else {
        format!(" for products {}", t.products.join(", "))
    }
}

fn expiry_suffix(t: &ApiToken) -> String {
    t.expires_at.map(|at| format!(", expires {}", format_iso(at.0))).unwrap_or_default()
}

/// `token list` as aligned columns under a header; times in UTC, `-` for none.
fn table(tokens: &[ApiToken], now: i64) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let expires = match t.expires_at {
                Some(at) if at.0 <= now => format!("{} (expired)", format_iso(at.0)),
                other => time(other),
            };
            vec![
                t.id.to_string(),
                t.role.to_string(),
                t.name.clone(),
                if t.all_products { "all".to_string() } else { t.products.join(",") },
                t.description.clone(),
                format_iso(t.created_at.0),
                expires,
                time(t.last_used_at),
                time(t.revoked_at),
            ]
        })
        .collect();
    crate::common::table(
        &["ID", "ROLE", "NAME", "PRODUCTS", "DESCRIPTION", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
        &rows,
    )
}
