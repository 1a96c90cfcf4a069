//! `licensd token`: API tokens of the management APIs.

use anyhow::Context as _;
use clap::Subcommand;
use licensd_core::model::Role;

use crate::common::{DbArg, open};

#[derive(Subcommand)]
pub(crate) enum TokenCmd {
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

pub(crate) async fn token(cmd: TokenCmd) -> anyhow::Result<()> {
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

pub(crate) fn products_suffix(p: &[String]) -> String {
    if p.is_empty() { String::new() } else { format!(" for products {}", p.join(", ")) }
}
