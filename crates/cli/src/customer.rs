//! `licensd customer find`: customers by email, name, company or reference.

use clap::Subcommand;
use licensd_core::model::Customer;
use licensd_core::time::format_iso;

use crate::common::{DbArg, find, has_search, open, operator, print_json, table};

#[derive(Subcommand)]
pub(crate) enum CustomerCmd {
    /// Find customers by an email, a name, a company or a reference (parts match, case ignored); newest first.
    Find {
        #[command(flatten)]
        db: DbArg,
        /// What to look for.
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
            let q = query.trim().to_string();
            if q.is_empty() {
                anyhow::bail!("give something to look for: an email, a name, a company or a reference");
            }
            let db = open(&db).await?;
            let scope = operator();
            let limit = usize::try_from(limit).unwrap_or(20);
            let (found, more) = find(
                &licensd_store::customers::SPEC,
                &find_branches(&q),
                limit,
                |c: &Customer| c.id,
                |p| {
                    let (db, scope) = (&db, &scope);
                    async move { licensd_store::customers::list(db, scope, &p).await }
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("customer find {q:?}: {e}"))?;
            if json {
                print_json(&found)?;
            } else if found.is_empty() {
                println!("no customer matches {q:?}");
            } else {
                print!("{}", customers_table(&found));
                if more {
                    println!("(more match: showing the newest {limit}; narrow the query or raise --limit)");
                }
            }
        }
    }
    Ok(())
}

/// The filters `customer find` asks when the store's lists have no `search` yet. A name of two words or more
/// is also tried as first and last name.
fn find_branches(q: &str) -> Vec<Vec<(&'static str, String)>> {
    if has_search(&licensd_store::customers::SPEC) {
        return vec![vec![("search", q.to_string())]];
    }
    let mut branches: Vec<Vec<(&'static str, String)>> = [
        "email__icontains",
        "first_name__icontains",
        "last_name__icontains",
        "company_name__icontains",
        "reference__icontains",
    ]
    .into_iter()
    .map(|f| vec![(f, q.to_string())])
    .collect();
    if let Some((first, last)) = q.split_once(char::is_whitespace) {
        branches.push(vec![
            ("first_name__icontains", first.trim().to_string()),
            ("last_name__icontains", last.trim().to_string()),
        ]);
    }
    branches
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
