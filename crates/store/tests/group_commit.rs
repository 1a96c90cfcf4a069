//! SQLite's group commit (`licensd_store::writer`) against a real database file: transactions that share
//! a commit keep exactly their own writes, a failed one takes nothing of the others, nothing is reported
//! committed before it is, and a writer that goes away while queued cannot leave a group uncommitted.

use std::sync::Arc;
use std::time::Duration;

use licensd_store::db::{Db, query};

async fn fresh(name: &str) -> Db {
    let dir = std::env::temp_dir().join("licensd-store-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let db = Db::open(&format!("sqlite://{}", path.display())).await.unwrap();
    db.execute(query("CREATE TABLE t (id INTEGER PRIMARY KEY, v BIGINT NOT NULL UNIQUE)")).await.unwrap();
    db.execute(query("CREATE TABLE c (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)")).await.unwrap();
    db.execute(query("INSERT INTO c (id, n) VALUES (1, 0)")).await.unwrap();
    db
}

async fn values(db: &Db) -> Vec<i64> {
    let rows = db.fetch_all(query("SELECT v FROM t ORDER BY v")).await.unwrap();
    rows.iter().map(|r| r.get::<i64>("v").unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_keep_exactly_their_own_writes() {
    let db = Arc::new(fresh("own-writes").await);
    let mut tasks = Vec::new();
    for i in 0..200i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await?;
            tx.execute(query("INSERT INTO t (v) VALUES (?)").bind(i)).await?;
            // A read-then-write counter: exact only if each transaction sees those committed before it.
            let n: i64 = tx.fetch_one(query("SELECT n FROM c WHERE id = 1")).await?.get("n")?;
            tx.execute(query("UPDATE c SET n = ? WHERE id = 1").bind(n + 1)).await?;
            tokio::task::yield_now().await;
            match i % 3 {
                // Dropped: rolled back.
                0 => Ok(false),
                // A statement that fails (a duplicate), then dropped.
                1 if i % 2 == 0 => {
                    let dup = tx.execute(query("INSERT INTO t (v) VALUES (?)").bind(i)).await;
                    assert!(dup.is_err());
                    Ok(false)
                }
                _ => tx.commit().await.map(|()| true),
            }
        }));
    }
    let mut kept = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if t.await.unwrap().unwrap() {
            kept.push(i as i64);
        }
    }
    assert_eq!(values(&db).await, kept);
    let n: i64 = db.fetch_one(query("SELECT n FROM c WHERE id = 1")).await.unwrap().get("n").unwrap();
    assert_eq!(n, kept.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_visible_to_every_reader_once_it_returns() {
    let db = Arc::new(fresh("visible").await);
    let mut tasks = Vec::new();
    for i in 0..64i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            tx.execute(query("INSERT INTO t (v) VALUES (?)").bind(i)).await.unwrap();
            tx.commit().await.unwrap();
            // Both read paths, on connections other than the writer's.
            let pool = db.fetch_optional(query("SELECT v FROM t WHERE v = ?").bind(i)).await.unwrap();
            let point = db.point_read(query("SELECT v FROM t WHERE v = ?").bind(i)).await.unwrap();
            assert!(pool.is_some() && point.len() == 1, "{i} was reported committed before it was");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(values(&db).await.len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_writer_that_goes_away_does_not_strand_the_group() {
    let db = Arc::new(fresh("strand").await);
    let mut first = db.begin().await.unwrap();
    first.execute(query("INSERT INTO t (v) VALUES (1)")).await.unwrap();
    // A second writer queues behind the first, so the first leaves the commit to it, then is cancelled.
    let queued = {
        let db = db.clone();
        tokio::spawn(async move {
            let _tx = db.begin().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let committing = tokio::spawn(async move { first.commit().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    queued.abort();
    let out = tokio::time::timeout(Duration::from_secs(5), committing).await;
    out.expect("the commit was stranded").unwrap().unwrap();
    assert_eq!(values(&db).await, vec![1]);
    // And the writer is free for the next one.
    let mut next = tokio::time::timeout(Duration::from_secs(5), db.begin()).await.unwrap().unwrap();
    next.execute(query("INSERT INTO t (v) VALUES (2)")).await.unwrap();
    next.commit().await.unwrap();
    assert_eq!(values(&db).await, vec![1, 2]);
}

/// The queued writer is cancelled after the turn was handed to it but before it ran: no one holds the
/// turn, and the waiting member must commit its group itself.
#[tokio::test(flavor = "current_thread")]
async fn a_writer_cancelled_before_its_turn_does_not_strand_the_group() {
    let db = Arc::new(fresh("cancelled").await);
    let mut first = db.begin().await.unwrap();
    first.execute(query("INSERT INTO t (v) VALUES (1)")).await.unwrap();
    let queued = {
        let db = db.clone();
        tokio::spawn(async move {
            let tx = db.begin().await.unwrap();
            tx.commit().await.unwrap();
        })
    };
    tokio::task::yield_now().await;
    let committing = tokio::spawn(async move { first.commit().await });
    tokio::task::yield_now().await;
    queued.abort();
    let out = tokio::time::timeout(Duration::from_secs(5), committing).await;
    out.expect("the commit was stranded").unwrap().unwrap();
    assert_eq!(values(&db).await, vec![1]);
}
