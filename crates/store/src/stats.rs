//! Daily totals of the client API's decisions (`client_daily`), for the dashboard's home page.

use licensd_core::time::DAY_MS;

use crate::db::{Db, query};
use crate::error::StoreError;

/// One day's count of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daily {
    /// The day's first millisecond (UTC).
    pub day: i64,
    pub kind: String,
    pub code: String,
    pub n: i64,
}

/// Adds counts to the totals of the day `at` falls in, in one transaction (several instances add to the same
/// rows: `ON CONFLICT … DO UPDATE` sums them).
pub async fn add_client_daily(db: &Db, at: i64, counts: &[(&str, &str, i64)]) -> Result<(), StoreError> {
    if counts.is_empty() {
        return Ok(());
    }
    let day = at.div_euclid(DAY_MS) * DAY_MS;
    let mut tx = db.begin().await?;
    for (kind, code, n) in counts {
        tx.execute(
            query(
                "INSERT INTO client_daily (day, kind, code, n) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (day, kind, code) DO UPDATE SET n = client_daily.n + excluded.n",
            )
            .bind(day)
            .bind(*kind)
            .bind(*code)
            .bind(*n),
        )
        .await?;
    }
    tx.commit().await
}

/// Every total from the day `since` falls in onwards, oldest first.
pub async fn client_daily(db: &Db, since: i64) -> Result<Vec<Daily>, StoreError> {
    let day = since.div_euclid(DAY_MS) * DAY_MS;
    let rows = db
        .fetch_all(
            query("SELECT day, kind, code, n FROM client_daily WHERE day >= ? ORDER BY day, kind, code").bind(day),
        )
        .await?;
    rows.iter()
        .map(|r| Ok(Daily { day: r.get("day")?, kind: r.get("kind")?, code: r.get("code")?, n: r.get("n")? }))
        .collect()
}
