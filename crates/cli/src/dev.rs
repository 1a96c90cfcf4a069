//! `licensd dev`: fake data for trying licensd and for benchmarks.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Subcommand;

use crate::common::{DbArg, open};
use crate::devmate;

#[derive(Subcommand)]
pub(crate) enum DevCmd {
    /// Fill a database with realistic fake customers, orders, licenses and devices.
    Seed {
        #[command(flatten)]
        db: DbArg,
        /// How many licenses (with half as many customers and orders, and devices on some).
        #[arg(long, default_value_t = 10_000)]
        licenses: i64,
        /// Seed of the generator (the same seed gives the same data).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write each license's key, product and activated hardware id (if any), one per line, for load generators.
        #[arg(long)]
        keys_out: Option<String>,
        /// Seed a database that already holds products, customers or licenses (fake data mixes with the real).
        #[arg(long)]
        force: bool,
    },
    /// Write a realistic DevMate export (for trying `licensd import devmate`, and for benchmarks).
    DevmateFile {
        /// How many customers (each with licenses, some activated, some blocked, some in bundles).
        #[arg(long, default_value_t = 1000)]
        customers: u64,
        /// Seed of the generator (the same seed gives the same file).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The file to write.
        #[arg(long)]
        out: String,
    },
    /// Measure how many RSA signatures a second one thread makes with the library the License API v4 signs with
    /// (aws-lc-rs, RSASSA-PKCS1-v1_5 SHA-256): the ceiling of its signed answers per core.
    RsaSpeed {
        /// The key size: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: u32,
        /// How long to sign for.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

pub(crate) async fn dev(cmd: DevCmd) -> anyhow::Result<()> {
    match cmd {
        DevCmd::RsaSpeed { bits, seconds } => {
            let key = licensd_core::rsa::RsaKey::generate(bits)?;
            // A check answer's size: the body LicenseSignature covers.
            let msg = vec![b'x'; 1500];
            let (start, mut n) = (std::time::Instant::now(), 0u64);
            while start.elapsed().as_secs() < seconds {
                std::hint::black_box(key.sign_pkcs1_sha256(std::hint::black_box(&msg)));
                n += 1;
            }
            let per_sec = n as f64 / start.elapsed().as_secs_f64();
            println!(
                "RSA-{bits} PKCS#1 v1.5 SHA-256 (aws-lc-rs), one thread, 1500-byte message: {per_sec:.0} signatures/s"
            );
        }
        DevCmd::DevmateFile { customers, seed, out } => {
            devmate::sample(customers, seed, &out)?;
            eprintln!("wrote a DevMate export of {customers} customers to {out}");
        }
        DevCmd::Seed { db: arg, licenses, seed, keys_out, force } => {
            anyhow::ensure!(licenses > 0, "--licenses must be positive");
            let db = open(&arg).await?;
            let held = holds_data(&db).await?;
            anyhow::ensure!(
                force || held.is_empty(),
                "the database {} already holds {}: seeding would mix fake records with them. Seed a new database \
                 (`licensd migrate --db sqlite://seed.db` creates one), or pass --force",
                crate::common::redact(&arg.db),
                held.join(", ")
            );
            let bar = indicatif::ProgressBar::new(u64::try_from(licenses)?);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} licenses ({per_sec}, eta {eta})",
                )?
                .progress_chars("=> "),
            );
            let start = std::time::Instant::now();
            let seeded = match licensd_store::seed::seed(&db, licenses, seed, |n| {
                bar.set_position(u64::try_from(n).unwrap_or(0))
            })
            .await
            {
                Err(e @ licensd_store::StoreError::Conflict { .. }) => anyhow::bail!(
                    "{e}: this --seed ({seed}) made these records before (the same seed makes the same data); pass \
                         another --seed"
                ),
                other => other?,
            };
            bar.finish();
            eprintln!(
                "seeded {} licenses, {} customers and orders, {} devices in {:.1?}",
                seeded.licenses,
                seeded.customers,
                seeded.devices,
                start.elapsed()
            );
            if let Some(path) = keys_out {
                let mut text = String::new();
                for (k, product, hw) in &seeded.keys {
                    text.push_str(k);
                    text.push(' ');
                    text.push_str(product);
                    if let Some(hw) = hw {
                        text.push(' ');
                        text.push_str(hw);
                    }
                    text.push('\n');
                }
                // License keys: owner-only, like the database they come from.
                devmate::create_private(&path)?
                    .write_all(text.as_bytes())
                    .with_context(|| format!("cannot write {path}"))?;
            }
        }
    }
    Ok(())
}

/// What a database holds already ("3 products", "120 licenses"), empty when it is new.
async fn holds_data(db: &licensd_store::Db) -> anyhow::Result<Vec<String>> {
    let mut held = Vec::new();
    for table in ["products", "customers", "licenses"] {
        let row = db.fetch_one(licensd_store::db::query(format!("SELECT COUNT(*) AS n FROM {table}"))).await?;
        let n: i64 = row.get("n")?;
        if n > 0 {
            held.push(format!("{n} {table}"));
        }
    }
    Ok(held)
}
