//! `last_check` times of node-locked checks, written in batches off the request path.

use super::*;

/// `last_check` times of node-locked checks, written in batches: a write per check would cost more than
/// the check itself.
#[derive(Default)]
pub struct LastChecks {
    pending: Mutex<HashMap<i64, (i64, i64)>>,
}

impl LastChecks {
    /// Notes that `device` of `license` was checked at `at`.
    pub fn note(&self, device: i64, license: i64, at: i64) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(device, (license, at));
        }
    }

    /// Writes every pending time, in chunks of [`LAST_CHECK_CHUNK`] devices, each chunk its own short
    /// transaction so activations waiting for the write lock are not held up long. On SQLite the rows are
    /// written in id order through one prepared statement per table, off the async worker (the statements
    /// run on the calling thread, and a chunk takes a few milliseconds that checks must not wait for); on
    /// PostgreSQL with one set-based statement per table. A device or license deleted meanwhile is skipped.
    pub async fn flush(&self, db: &Db) -> Result<usize, StoreError> {
        let mut batch: Vec<(i64, (i64, i64))> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(0),
        };
        batch.sort_unstable_by_key(|(device, _)| *device);
        for chunk in batch.chunks(LAST_CHECK_CHUNK) {
            let devices: Vec<(i64, i64)> = chunk.iter().map(|(d, (_, at))| (*d, *at)).collect();
            let mut licenses: HashMap<i64, i64> = HashMap::new();
            for (_, (l, at)) in chunk {
                let t = licenses.entry(*l).or_insert(*at);
                *t = (*t).max(*at);
            }
            let mut licenses: Vec<(i64, i64)> = licenses.into_iter().collect();
            licenses.sort_unstable();
            let mut tx = db.begin().await?;
            match &tx {
                crate::db::Tx::Sqlite(w) => crate::writer::off_worker(|| {
                    w.with(|c| {
                        for (checked, rows) in [(Checked::Device, &devices), (Checked::License, &licenses)] {
                            let (table, key, parent) = checked.names();
                            let mut st = c.prepare_cached(&format!(
                                "INSERT INTO {table} ({key}, last_check) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM {parent} WHERE id = ?1) \
                                 ON CONFLICT ({key}) DO UPDATE SET last_check = max(last_check, excluded.last_check)"
                            ))?;
                            for (id, at) in rows.iter() {
                                st.execute((id, at))?;
                            }
                        }
                        Ok(())
                    })
                })?,
                crate::db::Tx::Pg(_) => {
                    tx.execute(record_checks_pg(Checked::Device, &devices)).await?;
                    tx.execute(record_checks_pg(Checked::License, &licenses)).await?;
                }
            }
            tx.commit().await?;
        }
        Ok(batch.len())
    }
}

/// Devices per `last_check` transaction.
const LAST_CHECK_CHUNK: usize = 500;

/// What a `last_check` time belongs to. The times live in narrow tables of their own (migration 9):
/// they are written at the rate of checks.
#[derive(Clone, Copy)]
pub(super) enum Checked {
    Device,
    License,
}

impl Checked {
    /// The table, its key column, and the table the key refers to.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Checked::Device => ("device_checks", "device_id", "devices"),
            Checked::License => ("license_checks", "license_id", "licenses"),
        }
    }
}

/// Records `at` as the last check of one device or license, never moving its time back.
pub(super) fn record_check(dialect: crate::db::Dialect, checked: Checked, id: i64, at: i64) -> crate::db::Query {
    let (table, key, _) = checked.names();
    let greatest = dialect.greatest();
    query(format!(
        "INSERT INTO {table} ({key}, last_check) VALUES (?, ?) \
         ON CONFLICT ({key}) DO UPDATE SET last_check = {greatest}({table}.last_check, excluded.last_check)"
    ))
    .bind(id)
    .bind(at)
}

/// PostgreSQL: records the last checks of many devices or licenses (distinct ids) in one statement, never
/// moving a time back, skipping ids whose row is gone.
fn record_checks_pg(checked: Checked, rows: &[(i64, i64)]) -> crate::db::Query {
    let (table, key, parent) = checked.names();
    let mut q = query(format!("INSERT INTO {table} ({key}, last_check) SELECT v.id, v.t FROM (VALUES"));
    for (i, (id, at)) in rows.iter().enumerate() {
        q.push(if i == 0 { " (" } else { ", (" }).push_bind(*id).push("::BIGINT, ").push_bind(*at).push("::BIGINT)");
    }
    q.push(&format!(
        ") AS v(id, t) JOIN {parent} x ON x.id = v.id \
         ON CONFLICT ({key}) DO UPDATE SET last_check = {greatest}({table}.last_check, excluded.last_check)",
        greatest = crate::db::Dialect::Postgres.greatest()
    ));
    q
}
