//! `licensd import licensespring FILE`: the pages of LicenseSpring's management API `GET /api/v1/licenses/` a
//! vendor fetched before leaving, into licensd (`licensd_store::licensespring`).

use anyhow::Context as _;
use licensd_store::Db;
use licensd_store::licensespring::export::{self, ExportLicense};
use licensd_store::licensespring::import::{Applied, BATCH, Importer, Outcome, advance_license_ids};

#[derive(Default)]
struct Totals {
    created: u64,
    updated: u64,
    unchanged: u64,
    kept: u64,
    skipped: u64,
    customers_created: u64,
    customers_updated: u64,
    customers_matched: u64,
    customers_unchanged: u64,
    orders_created: u64,
    products_created: u64,
    features_created: u64,
    warnings: u64,
    weak_keys: u64,
    weak_key_example: Option<i64>,
}

impl Totals {
    fn add(&mut self, a: &Applied) {
        match a.license {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Kept => self.kept += 1,
            Outcome::Unchanged | Outcome::Matched => self.unchanged += 1,
        }
        match a.customer {
            Some(Outcome::Created) => self.customers_created += 1,
            Some(Outcome::Updated) => self.customers_updated += 1,
            Some(Outcome::Matched) => self.customers_matched += 1,
            Some(Outcome::Unchanged | Outcome::Kept) => self.customers_unchanged += 1,
            None => {}
        }
        self.orders_created += u64::from(a.order_created);
        self.products_created += a.products_created;
        self.features_created += a.features_created;
        self.warnings += a.warnings.len() as u64;
        if a.weak_key {
            self.weak_keys += 1;
            self.weak_key_example = self.weak_key_example.or(Some(a.license_id));
        }
    }
}

/// `licensd import licensespring FILE`. Returns whether every license was imported (or was there already).
pub async fn import(db: &Db, file: &str, json: bool) -> anyhow::Result<bool> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let start = std::time::Instant::now();
    // The whole file is read and checked before anything is written: a malformed one writes nothing.
    let read = export::read(&text).map_err(|e| anyhow::anyhow!("{file}: {e}; nothing was imported"))?;
    let format = read.format;
    for (at, id, same) in &read.repeated {
        if !same {
            eprintln!("{at}: warning: license #{id} is on an earlier page with other values; the first is imported");
        }
    }
    let distinct = read.licenses.len() as i64;
    if let Some(count) = read.count
        && count > distinct
    {
        eprintln!(
            "warning: LicenseSpring counted {count} licenses, the file holds {distinct}: fetch every page (follow \
             `next` until it is null) to import them all"
        );
    }
    let max_id = read.licenses.iter().map(|x| x.license.id).max().unwrap_or(0);
    advance_license_ids(db, max_id).await?;

    let bar = crate::devmate::bar(read.licenses.len(), "licenses")?;
    let mut t = Totals::default();
    let mut importer = Importer::new(format);
    for chunk in read.licenses.chunks(BATCH) {
        let refs: Vec<&ExportLicense> = chunk.iter().collect();
        for r in importer.apply_batch(db, &refs).await? {
            match r {
                Ok(a) => {
                    for w in &a.warnings {
                        bar.suspend(|| eprintln!("{w} (warning)"));
                    }
                    t.add(&a);
                }
                Err(m) => {
                    t.skipped += 1;
                    bar.suspend(|| eprintln!("{m}; skipped"));
                }
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    advance_license_ids(db, max_id).await?;
    let elapsed = start.elapsed();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "format": format.describe(), "pages": read.pages, "licenses": distinct,
                "repeated": read.repeated.len(), "count": read.count,
                "created": t.created, "updated": t.updated, "unchanged": t.unchanged, "kept": t.kept,
                "skipped": t.skipped,
                "customers_created": t.customers_created, "customers_updated": t.customers_updated,
                "customers_matched": t.customers_matched, "customers_unchanged": t.customers_unchanged,
                "orders_created": t.orders_created, "products_created": t.products_created,
                "features_created": t.features_created, "warnings": t.warnings,
                "weak_keys": t.weak_keys, "weak_key_example": t.weak_key_example,
                "seconds": elapsed.as_secs_f64(),
            })
        );
    } else {
        println!(
            "read {distinct} licenses from {} ({}) in {elapsed:.1?}: licenses {} created, {} updated, {} unchanged, \
             {} kept as changed in licensd, {} skipped; customers {} created, {} updated, {} matched by email, {} \
             unchanged; created: orders {}, products {}, features {}; {} warnings",
            plural(read.pages, "page"),
            format.describe(),
            t.created,
            t.updated,
            t.unchanged,
            t.kept,
            t.skipped,
            t.customers_created,
            t.customers_updated,
            t.customers_matched,
            t.customers_unchanged,
            t.orders_created,
            t.products_created,
            t.features_created,
            t.warnings
        );
    }
    crate::devmate::warn_weak_keys(t.weak_keys, t.weak_key_example);
    Ok(t.skipped == 0)
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
