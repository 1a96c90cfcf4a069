//! Realistic fake data for benchmarks and demos (`licensd dev seed`): products, templates, customers
//! with names, emails and companies, orders, licenses, and activated devices with hostnames.
//! Rows go in as multi-row INSERTs in large transactions, so a million licenses take minutes.

use licensd_core::keys::ALPHABET;
use licensd_core::time::{DAY_MS, now_ms};

use crate::db::{Db, Query, Value, query};
use crate::error::StoreError;

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Olena",
    "Taras",
    "Yuki",
    "Hiro",
    "Ana",
    "Luis",
    "Fatima",
    "Omar",
    "Ingrid",
    "Lars",
    "Chloé",
    "Zoë",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Shevchenko",
    "Kovalenko",
    "Tanaka",
    "Sato",
    "Silva",
    "Santos",
    "Haddad",
    "Nilsson",
    "Müller",
    "Dubois",
];
const COMPANY: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "MacPaw",
    "Soylent",
    "Massive Dynamic",
    "Aperture",
    "Black Mesa",
];
const DOMAINS: &[&str] = &["example.com", "mail.test", "corp.example", "acme.test", "inbox.example"];
const OS: &[&str] = &["macOS 15.1", "macOS 14.6", "Windows 11", "Windows 10", "Ubuntu 24.04", "Fedora 41"];

/// A small fast PRNG (xorshift64*): the data need not be secret, only varied and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn key(&mut self) -> String {
        let mut k = String::with_capacity(23);
        for i in 0..20 {
            if i > 0 && i % 5 == 0 {
                k.push('-');
            }
            k.push(char::from(ALPHABET[self.below(32)]));
        }
        k
    }
}

/// What was seeded, and each license's key with its activated device (for load generators).
pub struct Seeded {
    pub licenses: i64,
    pub customers: i64,
    pub devices: i64,
    /// `(license key, product short code, activated hardware id)`.
    pub keys: Vec<(String, String, Option<String>)>,
}

/// Rows per INSERT statement: well under SQLite's and PostgreSQL's parameter limits.
const BATCH: usize = 500;

/// Appends `(?, ?, …), (…)` for `rows` and binds their values.
fn values(q: &mut Query, rows: &[Vec<Value>]) {
    for (i, r) in rows.iter().enumerate() {
        q.push(if i == 0 { " (" } else { ", (" });
        for (j, v) in r.iter().enumerate() {
            if j > 0 {
                q.push(", ");
            }
            q.push_bind(v.clone());
        }
        q.push(")");
    }
}

/// Seeds `n` licenses (and half as many customers and orders, and a device for every other license).
/// `progress` is called with the number of licenses written so far.
pub async fn seed(db: &Db, n: i64, seed: u64, mut progress: impl FnMut(i64)) -> Result<Seeded, StoreError> {
    let mut rng = Rng(seed.max(1));
    let now = now_ms();
    let mut tx = db.begin().await?;
    let mut products = Vec::new();
    let mut templates = Vec::new();
    for (code, name) in [
        ("studio", "Studio"),
        ("cleaner", "Cleaner"),
        ("vpn", "Secure VPN"),
        ("notes", "Notes"),
        ("photo", "Photo Lab"),
    ] {
        let existing = tx.fetch_optional(query("SELECT id FROM products WHERE short_code = ?").bind(code)).await?;
        let pid: i64 = match existing {
            Some(r) => r.get("id")?,
            None => {
                tx.insert(
                    query("INSERT INTO products (product_name, short_code, bundle_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
                        .bind(name)
                        .bind(code)
                        .bind(format!("com.example.{code}"))
                        .bind(now)
                        .bind(now),
                )
                .await?
            }
        };
        products.push(pid);
        for (suffix, kind, max, days) in
            [("single", "perpetual", Some(1), None), ("team", "time-limited", Some(5), Some(365))]
        {
            let tcode = format!("{code}-{suffix}");
            let existing = tx
                .fetch_optional(query("SELECT id FROM license_templates WHERE code = ?").bind(tcode.as_str()))
                .await?;
            let tid: i64 = match existing {
                Some(r) => r.get("id")?,
                None => {
                    tx.insert(
                        query(
                            "INSERT INTO license_templates (product_id, name, code, license_type, max_activations, validity_period_days, \
                             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        )
                        .bind(pid)
                        .bind(format!("{name} {suffix}"))
                        .bind(tcode.as_str())
                        .bind(kind)
                        .bind(max)
                        .bind(days)
                        .bind(now)
                        .bind(now),
                    )
                    .await?
                }
            };
            templates.push((pid, tid, kind, max, days, code));
        }
    }
    tx.commit().await?;

    let base_customer: i64 = db.fetch_one(query("SELECT COALESCE(MAX(id), 0) AS n FROM customers")).await?.get("n")?;
    let base_order: i64 = db.fetch_one(query("SELECT COALESCE(MAX(id), 0) AS n FROM orders")).await?.get("n")?;
    let base_license: i64 = db.fetch_one(query("SELECT COALESCE(MAX(id), 0) AS n FROM licenses")).await?.get("n")?;
    let run = rng.next() % 1_000_000;
    let mut out =
        Seeded { licenses: 0, customers: 0, devices: 0, keys: Vec::with_capacity(usize::try_from(n).unwrap_or(0)) };
    let mut done = 0i64;
    while done < n {
        let chunk = (n - done).min(BATCH as i64 * 4);
        let mut tx = db.begin().await?;
        let mut customers = Vec::new();
        let mut orders = Vec::new();
        let mut licenses = Vec::new();
        let mut devices = Vec::new();
        for k in 0..chunk {
            let i = done + k;
            let created = now - (n - i) * 30_000 - i64::try_from(rng.below(20_000)).unwrap_or(0);
            let cid = base_customer + i / 2 + 1;
            let oid = base_order + i / 2 + 1;
            if i % 2 == 0 {
                let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
                let company = rng.pick(COMPANY);
                let email =
                    format!("{}.{}{}.{run}@{}", first.to_lowercase(), last.to_lowercase(), i, rng.pick(DOMAINS));
                customers.push(vec![
                    Value::from(cid),
                    Value::from(email.as_str()),
                    Value::from(email.to_lowercase()),
                    Value::from(first),
                    Value::from(last),
                    Value::from(format!("{company} {}", ["Inc.", "LLC", "GmbH", "Ltd."][rng.below(4)])),
                    Value::from(format!("+1555{:07}", rng.below(10_000_000))),
                    Value::from(created),
                    Value::from(created),
                ]);
                orders.push(vec![
                    Value::from(oid),
                    Value::from(format!("CORP{:06}-{:04}-{run}-{i}", rng.below(1_000_000), rng.below(10_000))),
                    Value::from(cid),
                    Value::from(["", "black-friday", "spring", "newsletter"][rng.below(4)]),
                    Value::from(created),
                    Value::from(created),
                ]);
            }
            let (pid, tid, kind, max, days, code) = templates[rng.below(templates.len())];
            let lid = base_license + i + 1;
            let key = rng.key();
            let activated = i % 2 == 0;
            let hw = activated.then(|| {
                format!(
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256),
                    rng.below(256),
                    rng.below(256),
                    i % 256
                )
            });
            let enabled = rng.below(50) != 0;
            licenses.push(vec![
                Value::from(lid),
                Value::from(key.as_str()),
                Value::from(pid),
                Value::from(tid),
                Value::from(cid),
                Value::from(oid),
                Value::from(enabled),
                Value::from(kind),
                Value::from(max),
                Value::from(i64::from(activated)),
                Value::from(days.map(|d| created + d * DAY_MS)),
                Value::from(activated.then_some(created + 60_000)),
                Value::from(created),
                Value::from(created),
            ]);
            if let Some(hw) = &hw {
                devices.push(vec![
                    Value::from(lid),
                    Value::from(hw.as_str()),
                    Value::from(format!(
                        "{}s-{}-{}",
                        rng.pick(FIRST).to_lowercase(),
                        ["MacBook-Pro", "iMac", "DESKTOP", "ThinkPad", "dev-box"][rng.below(5)],
                        i % 1000
                    )),
                    Value::from(rng.pick(OS)),
                    Value::from(format!("2.{}.{}", rng.below(10), rng.below(20))),
                    Value::from(created + 60_000),
                ]);
            }
            out.keys.push((key, code.to_string(), hw));
        }
        for rows in customers.chunks(BATCH) {
            let mut q = query(
                "INSERT INTO customers (id, email, email_norm, first_name, last_name, company_name, phone, created_at, updated_at) VALUES",
            );
            values(&mut q, rows);
            tx.execute(q).await?;
        }
        for rows in orders.chunks(BATCH) {
            let mut q =
                query("INSERT INTO orders (id, store_id, customer_id, campaign, created_at, updated_at) VALUES");
            values(&mut q, rows);
            tx.execute(q).await?;
        }
        for rows in licenses.chunks(BATCH) {
            let mut q = query(
                "INSERT INTO licenses (id, license_key, product_id, template_id, customer_id, order_id, enabled, license_type, \
                 max_activations, times_activated, expires_at, time_activated, created_at, updated_at) VALUES",
            );
            values(&mut q, rows);
            tx.execute(q).await?;
        }
        for rows in devices.chunks(BATCH) {
            let mut q = query(
                "INSERT INTO devices (license_id, hardware_id, hostname, os, app_version, time_activated) VALUES",
            );
            values(&mut q, rows);
            tx.execute(q).await?;
        }
        // A history as the real flows leave it (S6: support rehearsals on seed data need an audit trail): the
        // license created by the store, its activation by the client, a block for the disabled ones.
        let (first, last) = (base_license + done + 1, base_license + done + chunk);
        for sql in [
            "INSERT INTO events (action, actor, resource_type, resource_id, license_id, product_id, note, before_json, \
             after_json, created_at) SELECT 'license.created', 'seed', 'license', l.id, l.id, l.product_id, '', NULL, \
             NULL, l.created_at FROM licenses l WHERE l.id BETWEEN ? AND ? ORDER BY l.id",
            "INSERT INTO events (action, actor, resource_type, resource_id, license_id, product_id, note, before_json, \
             after_json, created_at) SELECT 'license.activated', 'client', 'device', d.id, d.license_id, l.product_id, \
             d.hardware_id, NULL, NULL, d.time_activated FROM devices d JOIN licenses l ON l.id = d.license_id \
             WHERE d.license_id BETWEEN ? AND ? ORDER BY d.id",
            "INSERT INTO events (action, actor, resource_type, resource_id, license_id, product_id, note, before_json, \
             after_json, created_at) SELECT 'license.disabled', 'seed', 'license', l.id, l.id, l.product_id, \
             'chargeback', NULL, NULL, l.created_at + 86400000 FROM licenses l \
             WHERE l.id BETWEEN ? AND ? AND NOT l.enabled ORDER BY l.id",
        ] {
            tx.execute(query(sql).bind(first).bind(last)).await?;
        }
        tx.commit().await?;
        out.customers += i64::try_from(customers.len()).unwrap_or(0);
        out.devices += i64::try_from(devices.len()).unwrap_or(0);
        done += chunk;
        out.licenses = done;
        progress(done);
    }
    if db.dialect() == crate::db::Dialect::Postgres {
        // Explicit ids leave the identity sequences behind; move them past what was written.
        for table in ["customers", "orders", "licenses"] {
            db.execute(query(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )))
            .await?;
        }
    }
    if db.dialect() == crate::db::Dialect::Postgres {
        // VACUUM too: it sets the visibility map, without which every index-only scan (each `count`) still
        // visits the heap until autovacuum gets round to a freshly loaded table (docs/benchmarks.md, "Figures behind
        // code comments").
        db.execute(query("VACUUM ANALYZE")).await?;
    } else {
        db.execute(query("ANALYZE")).await?;
    }
    if db.dialect() == crate::db::Dialect::Sqlite {
        // The bundled SQLite is built with STAT4: with sqlite_stat4 rows present, a statement whose bound
        // value might change the plan is recompiled on every new binding, which halves the throughput of
        // key lookups (docs/benchmarks.md, "Figures behind code comments"). sqlite_stat1 alone plans these queries well.
        db.execute(query("DELETE FROM sqlite_stat4")).await?;
    }
    Ok(out)
}
