//! `licensd customer find`: customers by email, name, company, or their licenses' keys, devices and invoices.

use clap::Subcommand;
use licensd_core::model::Customer;
use licensd_core::time::format_iso;

use crate::common::{DbArg, open, operator, print_found, search, table};

#[derive(Subcommand)]
pub(crate) enum CustomerCmd {
    /// Find customers by an email, a name or company, or a key, hardware id or invoice of one of their licenses:
    /// the management API's `?search=` (parts match, case ignored; 3 characters at least); newest first.
    Find {
        #[command(flatten)]
        db: DbArg,
        /// What to look for (3 characters at least).
        query: String,
        /// Show at most this many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        /// Print a JSON array of customers, each as the management API shows it.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn customer(cmd: CustomerCmd) -> anyhow::Result<()> {
    match cmd {
        CustomerCmd::Find { db, query, limit, json } => {
            let db = open(&db).await?;
            let scope = operator();
            let limit = usize::try_from(limit).unwrap_or(20);
            let found = search(&licensd_store::customers::SPEC, &query, limit, |p| {
                let (db, scope) = (&db, &scope);
                async move { licensd_store::customers::list(db, scope, &p).await }
            })
            .await?;
            print_found("customer", &query, found, limit, json, customers_table)?;
        }
    }
    Ok(())
}

fn customers_table(customers: &[Customer]) -> String {
    let rows: Vec<Vec<String>> = customers
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.email.clone().unwrap_or_default(),
                format!("{} {}", c.first_name, c.last_name).trim().to_string(),
                c.company_name.clone(),
                c.reference.clone(),
                format_iso(c.created_at.0),
            ]
        })
        .collect();
    table(&["ID", "EMAIL", "NAME", "COMPANY", "REFERENCE", "CREATED"], &rows)
}
