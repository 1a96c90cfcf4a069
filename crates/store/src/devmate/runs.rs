//! DevMate imports uploaded in the dashboard: a run per file, applied in the background by the instance that
//! received it, with its progress and per-record report kept in the database (`devmate_import_runs`,
//! `devmate_import_records`), so its page reads the same on every instance and a restart leaves the run
//! readable, shown as interrupted. The records are applied exactly as `licensd import devmate` applies them
//! without `--strict` ([`super::import::Lenient`]): the same batches, the same refusals, the same
//! `devmate-import` events. The run itself is in the audit log with the person who started it:
//! `devmate_import.started`, and `devmate_import.finished` (or `.failed`) with its counts.

use licensd_core::devmate::{BadExport, ExportRecord, ImportState, RecordOutcome, export_records};
use licensd_core::time::{Timestamp, now_ms};
use serde_json::json;

use super::import::{self, Applied, Checked, Lenient, Outcome, advance_sequences};
use crate::db::{Columns, Db, Row, Value, query};
use crate::enums::GetEnum as _;
use crate::error::StoreError;
use crate::events::{self, NewEvent};
use crate::scope::Scope;

/// The audit log's `resource_type` of a run.
pub const RESOURCE: &str = "devmate_import";

/// A run marked running whose progress was last written longer ago than this is interrupted: its instance
/// stopped. Progress is written after every batch of [`super::import::BATCH`] records (well under a second
/// each), so a live run is never this quiet.
pub const STALE_MS: i64 = 60_000;

/// Report rows written per statement.
const ROWS_PER_INSERT: usize = 500;

/// A run, as its page shows it.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    /// The person who uploaded the file, as the audit log names them.
    pub started_by: String,
    pub file_name: String,
    pub file_bytes: i64,
    /// `Interrupted` for a running run whose heartbeat is older than [`STALE_MS`].
    pub state: ImportState,
    pub records_total: i64,
    pub tally: Tally,
    /// Why a failed run stopped.
    pub error: Option<String>,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A run's counts, or what a batch adds to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records applied or reported so far.
    pub records_done: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
    pub licenses_created: i64,
    pub warnings: i64,
    /// Licenses of the file whose key is guessable ([`licensd_core::keys::WEAK_KEY_BITS`]).
    pub weak_keys: i64,
}

impl Tally {
    fn add(&mut self, r: &RunRecord, applied: Option<&Applied>) {
        self.records_done += 1;
        match r.outcome {
            RecordOutcome::Created => self.created += 1,
            RecordOutcome::Updated => self.updated += 1,
            RecordOutcome::Unchanged => self.unchanged += 1,
            RecordOutcome::Failed => self.failed += 1,
        }
        if let Some(a) = applied {
            self.licenses_created += i64::try_from(a.licenses_created).unwrap_or(i64::MAX);
            self.warnings += a.warnings.len() as i64;
            self.weak_keys += a.weak_keys.len() as i64;
        }
    }
}

/// One line of a run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The record's number in the file, 1-based.
    pub number: i64,
    pub line: i64,
    /// DevMate's customer id, when the record has one.
    pub customer_id: Option<i64>,
    pub outcome: RecordOutcome,
    /// The error, or what was created and the warnings.
    pub detail: String,
}

impl RunRecord {
    fn new(r: &ExportRecord<'_>, customer_id: Option<i64>, outcome: RecordOutcome, detail: String) -> Self {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        RunRecord { number: n(r.number), line: n(r.line), customer_id, outcome, detail }
    }

    /// The report line of a valid record's outcome.
    fn of<'o>(r: &ExportRecord<'_>, o: &'o Outcome) -> (Self, Option<&'o Applied>) {
        match &o.result {
            Err(m) => (RunRecord::new(r, Some(o.customer_id), RecordOutcome::Failed, m.clone()), None),
            Ok(a) => {
                let outcome = if a.customer_created {
                    RecordOutcome::Created
                } else if a.licenses_created > 0 {
                    RecordOutcome::Updated
                } else {
                    RecordOutcome::Unchanged
                };
                let mut detail = format!(
                    "{}; licenses: {} created, {} already there",
                    if a.customer_created { "customer created" } else { "customer already there" },
                    a.licenses_created,
                    a.licenses_present
                );
                if a.products_created > 0 {
                    detail += &format!("; products: {} created", a.products_created);
                }
                if a.license_types_created > 0 {
                    detail += &format!("; license types: {} created", a.license_types_created);
                }
                for w in &a.warnings {
                    detail += &format!("; warning: {w}");
                }
                (RunRecord::new(r, Some(o.customer_id), outcome, detail), Some(a))
            }
        }
    }
}

const COLS: &str = "id, started_by, file_name, file_bytes, state, records_total, records_done, created, updated, \
     unchanged, failed, licenses_created, warnings, weak_keys, error, started_at, heartbeat_at, finished_at";

fn from_row(r: &Row, now: i64) -> Result<Run, StoreError> {
    let heartbeat_at: i64 = r.get("heartbeat_at")?;
    let mut state: ImportState = r.get_enum("state")?;
    if state == ImportState::Running && now - heartbeat_at > STALE_MS {
        state = ImportState::Interrupted;
    }
    Ok(Run {
        id: r.get("id")?,
        started_by: r.get("started_by")?,
        file_name: r.get("file_name")?,
        file_bytes: r.get("file_bytes")?,
        state,
        records_total: r.get("records_total")?,
        tally: Tally {
            records_done: r.get("records_done")?,
            created: r.get("created")?,
            updated: r.get("updated")?,
            unchanged: r.get("unchanged")?,
            failed: r.get("failed")?,
            licenses_created: r.get("licenses_created")?,
            warnings: r.get("warnings")?,
            weak_keys: r.get("weak_keys")?,
        },
        error: r.get("error")?,
        started_at: Timestamp(r.get("started_at")?),
        heartbeat_at: Timestamp(heartbeat_at),
        finished_at: r.get::<Option<i64>>("finished_at")?.map(Timestamp),
    })
}

fn counts(t: &Tally) -> serde_json::Value {
    json!({"records_done": t.records_done, "created": t.created, "updated": t.updated, "unchanged": t.unchanged,
           "failed": t.failed, "licenses_created": t.licenses_created, "warnings": t.warnings, "weak_keys": t.weak_keys})
}

/// Text from a file kept as the database takes it on both backends (PostgreSQL's `TEXT` holds no NUL), at most
/// `max` characters.
fn storable(text: &str, max: usize) -> String {
    text.chars().take(max).map(|c| if c == '\0' { '\u{FFFD}' } else { c }).collect()
}

/// Records a new run of a file of `records_total` records, started by `by` (recorded as
/// `devmate_import.started` with `by` as the actor).
pub async fn start(
    db: &Db,
    by: &Scope,
    file_name: &str,
    file_bytes: i64,
    records_total: i64,
) -> Result<Run, StoreError> {
    let now = now_ms();
    let file_name = storable(file_name, 255);
    let file_name = file_name.as_str();
    let mut tx = db.begin().await?;
    let cols = Columns::new()
        .set("started_by", by.actor.as_str())
        .set("file_name", file_name)
        .set("file_bytes", file_bytes)
        .set("state", ImportState::Running.as_str())
        .set("records_total", records_total)
        .set("records_done", 0i64)
        .set("created", 0i64)
        .set("updated", 0i64)
        .set("unchanged", 0i64)
        .set("failed", 0i64)
        .set("licenses_created", 0i64)
        .set("warnings", 0i64)
        .set("weak_keys", 0i64)
        .set("started_at", now)
        .set("heartbeat_at", now);
    let id = tx.insert(cols.insert_into("devmate_import_runs")).await?;
    let after = json!({"file_name": file_name, "file_bytes": file_bytes, "records": records_total});
    events::record(&mut tx, by, NewEvent::changed(RESOURCE, "started", id, None, after).at(now)).await?;
    let run = from_row(
        &tx.fetch_one(query(format!("SELECT {COLS} FROM devmate_import_runs WHERE id = ?")).bind(id)).await?,
        now,
    )?;
    tx.commit().await?;
    Ok(run)
}

/// Adds a batch's report lines and counts to a run, and notes that it is alive.
pub async fn progress(db: &Db, id: i64, add: &Tally, records: &[RunRecord]) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let mut q =
            query("INSERT INTO devmate_import_records (run_id, number, line, customer_id, outcome, detail) VALUES");
        for (i, r) in chunk.iter().enumerate() {
            q.push(if i == 0 { " (" } else { ", (" });
            for (j, v) in [
                Value::from(id),
                Value::from(r.number),
                Value::from(r.line),
                Value::from(r.customer_id),
                Value::from(r.outcome.as_str()),
                Value::from(storable(&r.detail, 10_000)),
            ]
            .into_iter()
            .enumerate()
            {
                if j > 0 {
                    q.push(", ");
                }
                q.push_bind(v);
            }
            q.push(")");
        }
        tx.execute(q).await?;
    }
    tx.execute(
        query(
            "UPDATE devmate_import_runs SET records_done = records_done + ?, created = created + ?, \
             updated = updated + ?, unchanged = unchanged + ?, failed = failed + ?, \
             licenses_created = licenses_created + ?, warnings = warnings + ?, weak_keys = weak_keys + ?, \
             heartbeat_at = ? WHERE id = ?",
        )
        .bind(add.records_done)
        .bind(add.created)
        .bind(add.updated)
        .bind(add.unchanged)
        .bind(add.failed)
        .bind(add.licenses_created)
        .bind(add.warnings)
        .bind(add.weak_keys)
        .bind(now_ms())
        .bind(id),
    )
    .await?;
    tx.commit().await
}

/// Ends a run: done, or failed with `error` (recorded as `devmate_import.finished` or `.failed`, with the
/// counts, `by` as the actor).
pub async fn finish(db: &Db, by: &Scope, id: i64, error: Option<&str>) -> Result<Run, StoreError> {
    let now = now_ms();
    let state = if error.is_some() { ImportState::Failed } else { ImportState::Done };
    let mut tx = db.begin().await?;
    tx.execute(
        query("UPDATE devmate_import_runs SET state = ?, error = ?, finished_at = ?, heartbeat_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(error)
            .bind(now)
            .bind(now)
            .bind(id),
    )
    .await?;
    let run = from_row(
        &tx.fetch_one(query(format!("SELECT {COLS} FROM devmate_import_runs WHERE id = ?")).bind(id)).await?,
        now,
    )?;
    let mut after = counts(&run.tally);
    after["records"] = json!(run.records_total);
    if let Some(e) = error {
        after["error"] = json!(e);
    }
    let what = if error.is_some() { "failed" } else { "finished" };
    events::record(&mut tx, by, NewEvent::changed(RESOURCE, what, id, None, after).at(now)).await?;
    tx.commit().await?;
    Ok(run)
}

/// A run by id.
pub async fn get(db: &Db, id: i64) -> Result<Run, StoreError> {
    let row = db
        .fetch_optional(query(format!("SELECT {COLS} FROM devmate_import_runs WHERE id = ?")).bind(id))
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(&row, now_ms())
}

/// The latest `limit` runs, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Run>, StoreError> {
    let now = now_ms();
    db.fetch_all(query(format!("SELECT {COLS} FROM devmate_import_runs ORDER BY id DESC LIMIT ?")).bind(limit))
        .await?
        .iter()
        .map(|r| from_row(r, now))
        .collect()
}

/// A page of a run's report in file order (only the records of `outcome`, if given), and how many there are.
pub async fn records(
    db: &Db,
    id: i64,
    outcome: Option<RecordOutcome>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<RunRecord>), StoreError> {
    let filter = if outcome.is_some() { " AND outcome = ?" } else { "" };
    let with = |mut q: crate::db::Query| {
        q = q.bind(id);
        if let Some(o) = outcome {
            q = q.bind(o.as_str());
        }
        q
    };
    let n: i64 = db
        .fetch_one(with(query(format!("SELECT COUNT(*) AS n FROM devmate_import_records WHERE run_id = ?{filter}"))))
        .await?
        .get("n")?;
    let rows = db
        .fetch_all(
            with(query(format!(
                "SELECT number, line, customer_id, outcome, detail FROM devmate_import_records \
                 WHERE run_id = ?{filter} ORDER BY number LIMIT ? OFFSET ?"
            )))
            .bind(limit)
            .bind(offset),
        )
        .await?;
    let list = rows
        .iter()
        .map(|r| {
            Ok(RunRecord {
                number: r.get("number")?,
                line: r.get("line")?,
                customer_id: r.get("customer_id")?,
                outcome: r.get_enum("outcome")?,
                detail: r.get("detail")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((n, list))
}

/// Why an uploaded file is no export: nothing of it is imported, and no run is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the file is not UTF-8 text, so it is not a DevMate export (JSON)")]
    NotText,
    #[error(transparent)]
    Bad(#[from] BadExport),
    #[error("the file holds no records")]
    Empty,
}

/// Splits an uploaded file into its records and checks each ([`import::check`]): the work before a run starts,
/// done off the async worker (a file of tens of megabytes takes a while to read).
pub fn read(file: &[u8]) -> Result<(Vec<ExportRecord<'_>>, Checked), Unreadable> {
    crate::writer::off_worker(|| {
        let text = std::str::from_utf8(file).map_err(|_| Unreadable::NotText)?;
        let records = export_records(text)?;
        if records.is_empty() {
            return Err(Unreadable::Empty);
        }
        let checked = import::check(&records);
        Ok((records, checked))
    })
}

/// Applies a file to a run made by [`start`] for it: the invalid records are reported first, then the valid
/// ones are applied batch by batch as `licensd import devmate` applies them, each batch's report and counts
/// written as it commits; the run ends done, or failed when the database fails (what was applied stays, and a
/// new upload of the file takes up where it stopped, the records already there being unchanged). Returns the
/// run as it ended.
pub async fn apply(
    db: &Db,
    by: &Scope,
    run_id: i64,
    records: &[ExportRecord<'_>],
    checked: &Checked,
) -> Result<Run, StoreError> {
    match apply_records(db, run_id, records, checked).await {
        Ok(()) => finish(db, by, run_id, None).await,
        Err(e) => {
            tracing::warn!(run = run_id, error = %e, "a DevMate import run stopped");
            finish(db, by, run_id, Some(&format!("the import stopped: {e}"))).await
        }
    }
}

async fn apply_records(
    db: &Db,
    run_id: i64,
    records: &[ExportRecord<'_>],
    checked: &Checked,
) -> Result<(), StoreError> {
    for chunk in checked.invalid.chunks(ROWS_PER_INSERT) {
        let mut tally = Tally::default();
        let lines: Vec<RunRecord> = chunk
            .iter()
            .map(|(i, e)| {
                let r = &records[*i];
                let line = RunRecord::new(r, r.customer_id(), RecordOutcome::Failed, e.clone());
                tally.add(&line, None);
                line
            })
            .collect();
        progress(db, run_id, &tally, &lines).await?;
    }
    advance_sequences(db, &checked.max).await?;
    let mut lenient = Lenient::new(records, checked, true);
    while let Some(batch) = lenient.next_batch(db).await? {
        let mut tally = Tally::default();
        let mut lines = Vec::with_capacity(batch.len());
        for o in &batch {
            let (line, applied) = RunRecord::of(&records[o.index], o);
            tally.add(&line, applied);
            lines.push(line);
        }
        progress(db, run_id, &tally, &lines).await?;
    }
    advance_sequences(db, &checked.max).await
}
