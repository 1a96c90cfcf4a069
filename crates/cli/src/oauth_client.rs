//! `licensd oauth-client`: OAuth clients (client credentials) of the License API v4, the alternative to an API
//! key for applications built on LicenseSpring's SDKs. The same store functions as `/api/v1/oauth-clients`,
//! as the operator (`cli` in the audit log).

use clap::Subcommand;
use licensd_core::model::{CredentialInput, OauthClient};
use licensd_store::oauth;

use crate::api_key::{products_suffix, warn_unsealed};
use crate::common::{DbArg, explain, open, operator, print_json, secret, time};

#[derive(Subcommand)]
pub(crate) enum OauthClientCmd {
    /// Create an OAuth client and its secret, printed once (the secret is the last line): give both to the
    /// application's LicenseSpring SDK configuration. Running servers accept it at once.
    Create {
        #[command(flatten)]
        db: DbArg,
        /// What the client is for; unique among clients not revoked.
        #[arg(long)]
        name: String,
        /// Short code of a product the client answers for (repeat for several); without any, every product.
        #[arg(long = "product")]
        products: Vec<String>,
        /// Print one JSON object: the client with `client_id` and `client_secret`.
        #[arg(long)]
        json: bool,
    },
    /// List OAuth clients (never their secrets): id, name, client id, products, created, revoked.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an OAuth client: its access tokens and new token requests are refused from now on. Revoking it
    /// again changes nothing.
    Revoke {
        #[command(flatten)]
        db: DbArg,
        /// The client's id (from `oauth-client list`) or its client id.
        client: String,
        /// Print the client as JSON (`already_revoked` says whether it was revoked before).
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn oauth_client(cmd: OauthClientCmd) -> anyhow::Result<()> {
    match cmd {
        OauthClientCmd::Create { db, name, products, json } => {
            let secret = secret();
            let db = open(&db).await?;
            let input = CredentialInput { name, products };
            let made = oauth::create_as(&db, &operator(), &input, secret.as_deref()).await.map_err(explain)?;
            db.close().await;
            if secret.is_none() {
                warn_unsealed("client secret");
            }
            let c = &made.client;
            if json {
                print_json(&made)?;
            } else {
                println!(
                    "created OAuth client {} (id {}){}",
                    c.name,
                    c.id,
                    products_suffix(c.all_products, &c.products)
                );
                println!("store the client secret now; it is not shown again:");
                println!("client_id:     {}", c.client_id);
                println!("client_secret: {}", made.client_secret);
            }
        }
        OauthClientCmd::List { db, json } => {
            let db = open(&db).await?;
            let clients = oauth::list(&db).await?;
            db.close().await;
            if json {
                print_json(&clients)?;
            } else {
                print!("{}", table(&clients));
            }
        }
        OauthClientCmd::Revoke { db, client, json } => {
            let db = open(&db).await?;
            let id = match client.trim_start_matches('#').parse::<i64>() {
                Ok(id) => id,
                Err(_) => match oauth::id_of(&db, &client).await {
                    Err(licensd_store::StoreError::NotFound) => anyhow::bail!(
                        "no OAuth client {client:?} (give its id or its client id; see oauth-client list)"
                    ),
                    other => other?,
                },
            };
            let r = match oauth::revoke_as(&db, &operator(), id).await {
                Err(licensd_store::StoreError::NotFound) => {
                    anyhow::bail!("no OAuth client with id {id} (see oauth-client list)")
                }
                other => other?,
            };
            db.close().await;
            let c = &r.revoked;
            if json {
                let mut v = serde_json::to_value(c)?;
                v["already_revoked"] = serde_json::Value::Bool(r.already);
                print_json(&v)?;
            } else if r.already {
                println!(
                    "OAuth client {} (id {}) was already revoked at {}; nothing changed",
                    c.name,
                    c.id,
                    time(c.revoked_at)
                );
            } else {
                println!("revoked OAuth client {} (id {}): its access tokens are refused from now on", c.name, c.id);
            }
        }
    }
    Ok(())
}

/// `oauth-client list` as aligned columns under a header.
fn table(clients: &[OauthClient]) -> String {
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.name.clone(),
                c.client_id.clone(),
                if c.all_products { "all".to_string() } else { c.products.join(",") },
                time(Some(c.created_at)),
                time(c.revoked_at),
            ]
        })
        .collect();
    crate::common::table(&["ID", "NAME", "CLIENT ID", "PRODUCTS", "CREATED", "REVOKED"], &rows)
}
