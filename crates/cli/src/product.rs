//! `licensd product create|list`: the products of the catalog.

use clap::Subcommand;
use licensd_core::model::{Product, ProductInput};
use licensd_core::time::format_iso;
use serde_json::Value;

use crate::common::{DbArg, collect, explain, json_body, open, operator, print_json, table};

#[derive(Subcommand)]
pub(crate) enum ProductCmd {
    /// Create a product: what applications name as `product` (its short code) and licenses belong to.
    Create {
        #[command(flatten)]
        db: DbArg,
        /// The product's name, as people read it.
        #[arg(long)]
        name: Option<String>,
        /// Unique code applications send as `product` (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        short_code: Option<String>,
        /// The application's bundle identifier (com.example.app), if any.
        #[arg(long)]
        bundle_id: Option<String>,
        /// Any other field of `POST /api/v1/products` (use_offline_license, authorization_method, is_bundle,
        /// metadata) as a JSON object in FILE, or - for stdin; the flags above win over it.
        #[arg(long, value_name = "FILE|-")]
        json_body: Option<String>,
        /// Print the product as JSON, as `POST /api/v1/products` answers it.
        #[arg(long)]
        json: bool,
    },
    /// List every product: id, short code, name, bundle id, created.
    List {
        #[command(flatten)]
        db: DbArg,
        /// Print a JSON array of products, each as the management API shows it.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn product(cmd: ProductCmd) -> anyhow::Result<()> {
    match cmd {
        ProductCmd::Create { db, name, short_code, bundle_id, json_body: body, json } => {
            let mut fields = match &body {
                Some(path) => json_body(path)?,
                None => serde_json::Map::new(),
            };
            for (key, flag, value) in [
                ("product_name", "--name", name),
                ("short_code", "--short-code", short_code),
                ("bundle_id", "", bundle_id),
            ] {
                if let Some(v) = value {
                    fields.insert(key.into(), Value::String(v));
                } else if !flag.is_empty() && !fields.contains_key(key) {
                    anyhow::bail!("give {flag} (or {key} in --json-body)");
                }
            }
            let input: ProductInput = serde_path_to_error::deserialize(Value::Object(fields))
                .map_err(|e| anyhow::anyhow!("--json-body: {}: {}", e.path(), e.inner()))?;
            let db = open(&db).await?;
            let p = match licensd_store::products::create(&db, &operator(), input).await {
                Err(licensd_store::StoreError::Conflict { field, .. }) if field == "short_code" => {
                    anyhow::bail!("--short-code: a product with this short code exists already (licensd product list)")
                }
                other => other.map_err(explain)?,
            };
            if json {
                print_json(&p)?;
            } else {
                println!("created product {} (id {}): {}", p.short_code, p.id, p.product_name);
            }
        }
        ProductCmd::List { db, json } => {
            let db = open(&db).await?;
            let scope = operator();
            let (_, products) = collect(&licensd_store::products::SPEC, &[], None, |p| {
                let (db, scope) = (&db, &scope);
                async move { licensd_store::products::list(db, scope, &p).await }
            })
            .await?;
            if json {
                print_json(&products)?;
            } else {
                print!("{}", products_table(&products));
            }
        }
    }
    Ok(())
}

fn products_table(products: &[Product]) -> String {
    let rows: Vec<Vec<String>> = products
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.short_code.clone(),
                p.product_name.clone(),
                p.bundle_id.clone(),
                format_iso(p.created_at.0),
            ]
        })
        .collect();
    table(&["ID", "SHORT CODE", "NAME", "BUNDLE ID", "CREATED"], &rows)
}
