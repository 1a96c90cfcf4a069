//! SQLite's one write connection, used synchronously through rusqlite, with group commit.
//!
//! Writers take turns on the connection, first come, first served. Each write transaction runs inside a
//! savepoint of a database transaction (`BEGIN IMMEDIATE`) that several of them may share: a finished
//! writer releases its savepoint, hands the turn on and waits; the group is committed by a task that
//! first lets every other ready task of the runtime run (so requests already received join the group),
//! or at once when the group is full (64). Only then does any of its writers report success. A commit writes
//! every page the group touched once: the license row, the index pages and the search index's new segment
//! are shared by the group instead of written again per transaction. Each transaction still sees the writes of those before it (one
//! connection), so limits decided inside one are exact; a failed transaction rolls back to its savepoint
//! and takes nothing of the others with it; nothing is reported committed before it is.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedMutexGuard, oneshot};

use crate::error::StoreError;

/// The most transactions one commit carries (bounds the latency a group adds).
const GROUP_MAX: usize = 64;

/// How long a writer waits for another process's write lock before giving up (as the pools' timeout).
const WRITE_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The backstop busy timeout inside a transaction that already holds the write lock.
const BUSY_BACKSTOP: Duration = Duration::from_millis(200);

/// The write connection and its queue.
pub struct Writer {
    conn: Mutex<rusqlite::Connection>,
    turn: Arc<tokio::sync::Mutex<Group>>,
}

/// The database transaction open on the connection, and who waits for it to commit.
#[derive(Default)]
struct Group {
    open: bool,
    /// Counts groups, so a waiter can tell its own from a later one.
    id: u64,
    members: usize,
    acks: Vec<oneshot::Sender<Result<(), String>>>,
    /// A task will commit this group.
    flush_scheduled: bool,
}

impl Writer {
    /// Opens the write connection (creating the file and putting it in WAL mode), committing with
    /// `PRAGMA synchronous = <synchronous>`.
    pub fn open(path: &str, synchronous: crate::db::Synchronous) -> Result<Writer, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        // Waiting for another process's write lock happens in `begin`, with async sleeps; this is only the
        // backstop for the rare busy answer inside a transaction that already holds the lock.
        wal_mode(&conn)?;
        // FULL (the default): every group's COMMIT ends in one fsync of the log, so what a writer was told
        // is committed survives a power loss. NORMAL (chosen explicitly) skips it: safe against kill -9,
        // but a power loss or an OS crash can drop the last commits.
        conn.pragma_update(None, "synchronous", synchronous.as_str())?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Checkpoints run in the background (`Db::checkpoint`); this is only the backstop should that
        // stop, so a writer does not pay for a checkpoint (and its fsync) inside a client's request.
        conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Writer { conn: Mutex::new(conn), turn: Arc::default() })
    }

    /// `PRAGMA synchronous` as SQLite reports it on the write connection (0 off, 1 normal, 2 full, 3 extra).
    pub async fn synchronous(self: &Arc<Self>) -> Result<i64, StoreError> {
        let _turn = self.take_turn().await;
        Ok(self.conn().pragma_query_value(None, "synchronous", |r| r.get(0))?)
    }

    fn conn(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // Only the holder of the turn uses the connection, so this lock is never contended; a panic in a
        // statement (poison) leaves SQLite itself consistent.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn take_turn(self: &Arc<Self>) -> OwnedMutexGuard<Group> {
        self.turn.clone().lock_owned().await
    }

    /// Commits group `id` once the runtime has run every other ready task (requests already received
    /// join it meanwhile), unless it was committed already. A task of its own, so that no cancelled
    /// request can leave a group uncommitted.
    fn schedule_flush(self: &Arc<Self>, group: &mut Group) {
        if group.flush_scheduled {
            return;
        }
        group.flush_scheduled = true;
        let (writer, id) = (self.clone(), group.id);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let mut group = writer.take_turn().await;
            if group.open && group.id == id {
                let _ = writer.finish(&mut group);
            }
        });
    }

    /// Starts a write transaction: the turn, the group's database transaction (opened if need be), and a
    /// savepoint of its own.
    pub async fn begin(self: &Arc<Self>) -> Result<WriteTx, StoreError> {
        let mut group = self.take_turn().await;
        if !group.open {
            self.begin_immediate().await?;
            group.open = true;
            group.id += 1;
            group.members = 0;
        }
        if let Err(e) = self.conn().execute_batch("SAVEPOINT tx") {
            if group.members == 0 {
                let _ = self.finish(&mut group);
            }
            return Err(e.into());
        }
        Ok(WriteTx { writer: self.clone(), group: Some(group) })
    }

    /// `BEGIN IMMEDIATE`, waiting for a lock another process holds with async sleeps (1 ms growing to
    /// 20 ms) rather than in SQLite's busy handler, which would sleep on the runtime's thread.
    async fn begin_immediate(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let tried = {
                let conn = self.conn();
                conn.busy_timeout(Duration::ZERO)?;
                let out = conn.execute_batch("BEGIN IMMEDIATE");
                conn.busy_timeout(BUSY_BACKSTOP)?;
                out
            };
            match tried {
                Ok(()) => return Ok(()),
                Err(e) if is_busy(&e) && started.elapsed() < WRITE_LOCK_WAIT => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Ends the group's database transaction: commits it (rolls it back if the commit fails) and tells
    /// every member waiting for it.
    fn finish(&self, group: &mut Group) -> Result<(), String> {
        if !group.open {
            return Ok(());
        }
        let conn = self.conn();
        let out = if conn.is_autocommit() {
            // An error inside SQLite already rolled the transaction back: nothing of the group is kept.
            Err("the transaction was rolled back by the database".to_string())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        if out.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        drop(conn);
        group.open = false;
        group.flush_scheduled = false;
        for ack in group.acks.drain(..) {
            let _ = ack.send(out.clone());
        }
        out
    }

    /// Runs `f` on the connection (only while holding the turn).
    fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        f(&self.conn())
    }
}

/// Runs blocking work (synchronous SQLite statements) without stalling the async worker's other tasks:
/// on a multi-threaded runtime the worker hands its tasks to another thread meanwhile; a current-thread
/// runtime (tests) runs it in place.
pub(crate) fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// One write transaction: a savepoint in its group's database transaction, holding the turn. Dropped
/// without [`WriteTx::commit`], it rolls back to its savepoint.
pub struct WriteTx {
    writer: Arc<Writer>,
    group: Option<OwnedMutexGuard<Group>>,
}

impl WriteTx {
    /// Runs `f` on the connection.
    pub fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.writer.with(f)
    }

    /// Keeps this transaction's writes; returns once they are committed to the database.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut group) = self.group.take() else { return Ok(()) };
        if let Err(e) = self.writer.conn().execute_batch("RELEASE tx") {
            self.writer.rollback_savepoint(&mut group);
            return Err(e.into());
        }
        group.members += 1;
        let (ack, committed) = oneshot::channel();
        group.acks.push(ack);
        if group.members >= GROUP_MAX {
            let _ = self.writer.finish(&mut group);
        } else {
            self.writer.schedule_flush(&mut group);
        }
        drop(group);
        committed.await.unwrap_or_else(|_| Err("the commit was abandoned".into())).map_err(StoreError::Commit)
    }
}

impl Writer {
    /// Undoes the savepoint's writes; ends the database transaction if no one else has written in it.
    fn rollback_savepoint(&self, group: &mut Group) {
        let undone = self.conn().execute_batch("ROLLBACK TO tx; RELEASE tx");
        if let Err(e) = undone {
            tracing::error!(error = %e, "rolling back a write transaction failed");
            let _ = self.finish(group);
            return;
        }
        // An empty group ends at once: it holds the database's write lock, which other processes may want.
        // Otherwise its flush is scheduled already.
        if group.members == 0 {
            let _ = self.finish(group);
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(mut group) = self.group.take() {
            self.writer.rollback_savepoint(&mut group);
        }
    }
}

/// Puts the file in WAL mode. Switching a new file takes an exclusive lock, and SQLite answers `SQLITE_BUSY`
/// at once (its busy handler is not consulted for it) while another process holds any lock: processes started
/// together on a fresh file (several `serve`, `serve` and `migrate`) retry here for up to [`WRITE_LOCK_WAIT`]
/// instead of failing with "database is locked". Only at open, never on a request.
fn wal_mode(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(e) if is_busy(&e) && started.elapsed() < WRITE_LOCK_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
