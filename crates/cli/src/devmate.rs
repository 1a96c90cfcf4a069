//! `licensd import devmate FILE`, `licensd export devmate` and `licensd dev devmate-file`: moving a DevMate
//! vendor's data in and out in the shape of DevMate's own `GET /v2/customers/{id}` responses.

use std::io::Write as _;

use anyhow::Context as _;
use licensd_core::devmate::{DevmateCustomer, ExportRecord, export_records};
use licensd_store::Db;
use licensd_store::devmate::import::{self, Applied, BATCH, Importer, Lenient, advance_sequences};

/// A progress bar over `len` records (the imports' and the export's).
pub(crate) fn bar(len: usize, what: &str) -> anyhow::Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(u64::try_from(len)?);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
        ))?
        .progress_chars("=> "),
    );
    Ok(bar)
}

#[derive(Default)]
struct Totals {
    records: usize,
    skipped: usize,
    customers_created: u64,
    customers_present: u64,
    licenses_created: u64,
    licenses_present: u64,
    products_created: u64,
    license_types_created: u64,
    warnings: u64,
    weak_keys: u64,
    weak_key_example: Option<i64>,
}

impl Totals {
    fn add(&mut self, a: &Applied) {
        if a.customer_created {
            self.customers_created += 1;
        } else {
            self.customers_present += 1;
        }
        self.licenses_created += a.licenses_created;
        self.licenses_present += a.licenses_present;
        self.products_created += a.products_created;
        self.license_types_created += a.license_types_created;
        self.warnings += a.warnings.len() as u64;
        self.weak_keys += a.weak_keys.len() as u64;
        self.weak_key_example = self.weak_key_example.or(a.weak_keys.first().copied());
    }
}

/// `licensd import devmate FILE`. Returns whether every record was imported (or was there already).
pub async fn import(db: &Db, file: &str, strict: bool, json: bool, record_by_record: bool) -> anyhow::Result<bool> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let records = export_records(&text)?;
    let start = std::time::Instant::now();

    // First pass: check every record, and find the highest ids so identity sequences move past them first.
    let checked = import::check(&records);
    let bad = &checked.invalid;
    let mut t = Totals { records: records.len(), ..Totals::default() };
    for (i, e) in bad {
        eprintln!("{}: {e}", records[*i].position());
    }
    if strict && !bad.is_empty() {
        anyhow::bail!(
            "refused: {} of {} records are invalid (listed above); nothing was imported. Fix them, or import without --strict to skip them",
            bad.len(),
            records.len()
        );
    }
    advance_sequences(db, &checked.max).await?;

    let bar = bar(records.len(), "customers")?;
    t.skipped = bad.len();
    let report = |bar: &indicatif::ProgressBar, r: &ExportRecord, a: &Applied| {
        for w in &a.warnings {
            bar.suspend(|| eprintln!("{}: warning: {w}", r.position()));
        }
    };
    if strict {
        let mut importer = Importer::new(checked.max);
        importer.multi_row = !record_by_record;
        let mut tx = db.begin().await?;
        for chunk in records.chunks(BATCH) {
            let parsed = chunk
                .iter()
                .map(|r| r.parse().map_err(|e| anyhow::anyhow!("{}: {e}", r.position())))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let refs: Vec<&DevmateCustomer> = parsed.iter().collect();
            match importer.apply_strict(&mut tx, &refs).await? {
                Ok(applied) => {
                    for (r, a) in chunk.iter().zip(&applied) {
                        report(&bar, r, a);
                        t.add(a);
                    }
                }
                Err((i, m)) => {
                    bar.abandon();
                    let at = match i {
                        Some(i) => format!("{}: customer #{}", chunk[i].position(), parsed[i].id),
                        None => format!("records {} to {}", chunk[0].number, chunk[chunk.len() - 1].number),
                    };
                    anyhow::bail!("refused: {at}: {m}; nothing was imported (--strict is all or nothing)");
                }
            }
            bar.inc(chunk.len() as u64);
        }
        tx.commit().await?;
        importer.committed();
    } else {
        bar.inc(bad.len() as u64);
        let mut lenient = Lenient::new(&records, &checked, !record_by_record);
        while let Some(batch) = lenient.next_batch(db).await? {
            for o in &batch {
                let r = &records[o.index];
                match &o.result {
                    Ok(a) => {
                        report(&bar, r, a);
                        t.add(a);
                    }
                    Err(m) => {
                        t.skipped += 1;
                        bar.suspend(|| eprintln!("{}: customer #{}: {m}; skipped", r.position(), o.customer_id));
                    }
                }
            }
            bar.inc(batch.len() as u64);
        }
    }
    bar.finish_and_clear();
    advance_sequences(db, &checked.max).await?;
    let elapsed = start.elapsed();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "records": t.records, "skipped": t.skipped,
                "customers_created": t.customers_created, "customers_present": t.customers_present,
                "licenses_created": t.licenses_created, "licenses_present": t.licenses_present,
                "products_created": t.products_created, "license_types_created": t.license_types_created,
                "warnings": t.warnings, "seconds": elapsed.as_secs_f64(),
                "weak_keys": t.weak_keys, "weak_key_example": t.weak_key_example,
            })
        );
    } else {
        println!(
            "imported {} of {} records in {:.1?}: {} customers created, {} already there; {} licenses created, {} already there; \
             {} products and {} license types created; {} skipped, {} warnings",
            t.records - t.skipped,
            t.records,
            elapsed,
            t.customers_created,
            t.customers_present,
            t.licenses_created,
            t.licenses_present,
            t.products_created,
            t.license_types_created,
            t.skipped,
            t.warnings
        );
    }
    warn_weak_keys(t.weak_keys, t.weak_key_example);
    Ok(t.skipped == 0)
}

/// The warning an import ends with when some of its keys are weak: the count and one license's id, never the
/// keys (this goes to terminals and CI logs).
pub(crate) fn warn_weak_keys(weak_keys: u64, example: Option<i64>) {
    if weak_keys > 0 {
        eprintln!(
            "warning: {} license keys carry under {} bits of entropy (e.g. license #{}): keys like these can be guessed \
             by trying them against the client API; its rate limits slow that down. Consider issuing new keys for them.",
            weak_keys,
            licensd_core::keys::WEAK_KEY_BITS,
            example.unwrap_or_default()
        );
    }
}

/// `licensd export devmate`: every customer with licenses, as a JSON array of `{"data": customer}`, one per
/// line, in id order.
pub async fn export(db: &Db, out: Option<&str>) -> anyhow::Result<u64> {
    let total: i64 = db.fetch_one(licensd_store::db::query("SELECT COUNT(*) AS n FROM customers")).await?.get("n")?;
    let bar = bar(usize::try_from(total)?, "customers")?;
    let mut w: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(create_private(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    w.write_all(b"[")?;
    let mut after = 0;
    let mut n: u64 = 0;
    loop {
        let page = licensd_store::devmate::customers_after(db, after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for c in &page {
            w.write_all(if n == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut w, &serde_json::json!({ "data": c }))?;
            n += 1;
        }
        bar.set_position(n);
    }
    w.write_all(if n == 0 { b"]\n" } else { b"\n]\n" })?;
    w.flush()?;
    bar.finish_and_clear();
    Ok(n)
}

/// Creates (or truncates) a file only its owner may read (0600): exports hold every license key and
/// customer's personal data. An existing file that others could read is made private first.
pub fn create_private(path: &str) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // `mode` applies only to a file created now; tighten one that exists before writing into it.
        if let Ok(m) = std::fs::metadata(path)
            && m.is_file()
            && m.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.permissions().mode() & 0o700))
                .with_context(|| format!("cannot make {path} private"))?;
        }
    }
    options.open(path).with_context(|| format!("cannot write {path}"))
}

/// `licensd dev devmate-file`: a realistic DevMate export of `customers` customers (for trying the import
/// and for benchmarks). The same seed gives the same file.
pub fn sample(customers: u64, seed: u64, out: &str) -> anyhow::Result<()> {
    let mut rng = seed.max(1);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let products = [
        serde_json::json!({"id": 1, "name": "MyNewApp", "bundle_id": "com.acme.MyNewApp", "use_offline_license": false}),
        serde_json::json!({"id": 2, "name": "Cleaner", "bundle_id": "com.acme.Cleaner", "use_offline_license": true}),
    ];
    let types = [
        (26, "MyNewApp Single User License", vec![0], 1),
        (27, "MyNewApp Family License", vec![0], 5),
        (28, "Cleaner Unlimited", vec![1], 65535),
        (29, "Acme Bundle", vec![0, 1], 3),
    ];
    let first = ["John", "Mary", "Olena", "Taras", "Yuki", "Ana", "Luis", "Fatima", "Lars", "Chloé"];
    let last = ["Doe", "Smith", "Shevchenko", "Tanaka", "Silva", "Haddad", "Nilsson", "Müller", "Dubois", "Lee"];
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).with_context(|| format!("cannot write {out}"))?);
    w.write_all(b"[")?;
    let base = 1_443_185_520;
    let mut license_id = 1000;
    let mut activation_id: u64 = 1_509_013_782_000;
    for i in 0..customers {
        let (f, l) = (first[(next() % 10) as usize], last[(next() % 10) as usize]);
        let added = base + i as i64 * 300;
        let mut licenses = Vec::new();
        for _ in 0..1 + next() % 2 {
            license_id += 1;
            let (tid, tname, ps, total) = &types[(next() % 4) as usize];
            let created = added + 60;
            let mut history = vec![serde_json::json!({"type": 2, "user_name": "", "note": "", "timestamp": created})];
            let used = next() % 2;
            for k in 0..used {
                activation_id += 1;
                history.push(
                    serde_json::json!({"type": 1, "user_name": "", "note": "", "timestamp": created + 3600 + k as i64,
                    "activation_id": activation_id, "identifiers": format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                        next() % 256, next() % 256, next() % 256, next() % 256, next() % 256, next() % 256),
                    "activation_name": format!("{f}'s Mac"), "deactivated": 0}),
                );
            }
            let blocked = next() % 50 == 0;
            if blocked {
                history.push(serde_json::json!({"type": 4, "user_name": "support", "note": "chargeback", "timestamp": created + 7200}));
            }
            let invoice =
                if next() % 3 == 0 { String::new() } else { format!("CORP{:06}-{license_id}", next() % 1_000_000) };
            licenses.push(serde_json::json!({
                "license_type_name": tname, "license_type_id": tid, "invoice": invoice,
                "campaign": if invoice.is_empty() { "" } else { "spring" }, "date_created": created,
                "activations_used": used, "id": license_id, "expiration_date": null,
                "products": ps.iter().map(|p| products[*p].clone()).collect::<Vec<_>>(), "is_subscription": false,
                "status": if blocked { 4 } else { 1 + used }, "activations_total": total,
                "activation_key": format!("id{:05}{license_id:07}odr", next() % 100_000), "history": history,
            }));
        }
        let c = serde_json::json!({"data": {
            "id": i + 1, "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
            "first_name": f, "last_name": l, "company": if i % 4 == 0 { "MacPaw" } else { "" },
            "phone": format!("555{:07}", next() % 10_000_000), "address": "", "note": "", "date_added": added,
            "licenses": licenses,
        }});
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut w, &c)?;
    }
    w.write_all(b"\n]\n")?;
    w.flush()?;
    Ok(())
}
