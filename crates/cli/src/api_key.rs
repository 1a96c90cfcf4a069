//! `licensd api-key`: LicenseSpring-style API keys and their shared keys, what applications built on
//! LicenseSpring's SDKs authenticate with on the License API v4. The same store functions as
//! `/api/v1/api-keys`, as the operator (`cli` in the audit log).

use clap::Subcommand;
use licensd_core::model::{ApiKey, CredentialInput};
use licensd_store::api_keys;

use crate::common::{DbArg, explain, open, operator, print_json, secret, time};

#[derive(Subcommand)]
pub(crate) enum ApiKeyCmd {
    /// Create an API key and its shared key, printed once (the shared key is the last line): give both to the
    /// application's LicenseSpring SDK configuration. Running servers accept it at once.
    Create {
        #[command(flatten)]
        db: DbArg,
        /// What the key is for; unique among keys not revoked.
        #[arg(long)]
        name: String,
        /// Short code of a product the key answers for (repeat for several); without any, every product.
        #[arg(long = "product")]
        products: Vec<String>,
        /// Print one JSON object: the key with `api_key` and `shared_key`.
        #[arg(long)]
        json: bool,
    },
    /// List API keys (never their shared keys): id, name, API key, products, created, revoked.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key: every request with it is refused from now on. Revoking it again changes nothing.
    Revoke {
        #[command(flatten)]
        db: DbArg,
        /// The key's id (from `api-key list`) or the API key itself.
        key: String,
        /// Print the key as JSON (`already_revoked` says whether it was revoked before).
        #[arg(long)]
        json: bool,
    },
}

/// ` for products a, b` or ` for every product`.
pub(crate) fn products_suffix(all: bool, products: &[String]) -> String {
    if all { " for every product".into() } else { format!(" for products {}", products.join(", ")) }
}

/// The warning when a secret is stored unsealed (no `LICENSD_SECRET`).
pub(crate) fn warn_unsealed(what: &str) {
    eprintln!(
        "warning: the {what} is stored unencrypted (LICENSD_SECRET is not set); set it and run `licensd key encrypt` \
         to seal it"
    );
}

pub(crate) async fn api_key(cmd: ApiKeyCmd) -> anyhow::Result<()> {
    match cmd {
        ApiKeyCmd::Create { db, name, products, json } => {
            let secret = secret();
            let db = open(&db).await?;
            let input = CredentialInput { name, products };
            let made = api_keys::create_as(&db, &operator(), &input, secret.as_deref()).await.map_err(explain)?;
            db.close().await;
            if secret.is_none() {
                warn_unsealed("shared key");
            }
            let k = &made.key;
            if json {
                print_json(&made)?;
            } else {
                println!("created API key {} (id {}){}", k.name, k.id, products_suffix(k.all_products, &k.products));
                println!("store the shared key now; it is not shown again:");
                println!("api_key:    {}", k.api_key);
                println!("shared_key: {}", made.shared_key);
            }
        }
        ApiKeyCmd::List { db, json } => {
            let db = open(&db).await?;
            let keys = api_keys::list(&db).await?;
            db.close().await;
            if json {
                print_json(&keys)?;
            } else {
                print!("{}", table(&keys));
            }
        }
        ApiKeyCmd::Revoke { db, key, json } => {
            let db = open(&db).await?;
            let id = match key.trim_start_matches('#').parse::<i64>() {
                Ok(id) => id,
                Err(_) => match api_keys::id_of(&db, &key).await {
                    Err(licensd_store::StoreError::NotFound) => {
                        anyhow::bail!("no API key {key:?} (give its id or the API key itself; see api-key list)")
                    }
                    other => other?,
                },
            };
            let r = match api_keys::revoke_as(&db, &operator(), id).await {
                Err(licensd_store::StoreError::NotFound) => anyhow::bail!("no API key with id {id} (see api-key list)"),
                other => other?,
            };
            db.close().await;
            let k = &r.revoked;
            if json {
                let mut v = serde_json::to_value(k)?;
                v["already_revoked"] = serde_json::Value::Bool(r.already);
                print_json(&v)?;
            } else if r.already {
                println!(
                    "API key {} (id {}) was already revoked at {}; nothing changed",
                    k.name,
                    k.id,
                    time(k.revoked_at)
                );
            } else {
                println!("revoked API key {} (id {}): requests with it are refused from now on", k.name, k.id);
            }
        }
    }
    Ok(())
}

/// `api-key list` as aligned columns under a header.
fn table(keys: &[ApiKey]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                k.name.clone(),
                k.api_key.clone(),
                if k.all_products { "all".to_string() } else { k.products.join(",") },
                time(Some(k.created_at)),
                time(k.revoked_at),
            ]
        })
        .collect();
    crate::common::table(&["ID", "NAME", "API KEY", "PRODUCTS", "CREATED", "REVOKED"], &rows)
}
