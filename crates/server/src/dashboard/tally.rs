//! The home page's license counts (all, active on a device, disabled), kept per scope for a few seconds.
//!
//! Each count is an index scan over the scope's licenses: a few milliseconds at 10,000 licenses, tens at
//! 1,000,000, and the home page is the page everyone opens first and most often. So a count is reused for
//! [`FRESH`]; an older one is still shown while one request's background task counts again (stale while it
//! revalidates), and the page says when it was counted. Only a scope seen for the first time waits for its
//! count. Each instance keeps its own; the counts come from the same store function and scope as the management
//! API's `GET /api/v1/licenses` totals.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use licensd_store::list::ListParams;
use licensd_store::{Db, Scope, StoreError, licenses};

/// How long a count is shown without counting again.
pub const FRESH: Duration = Duration::from_secs(30);
/// The most scopes kept (distinct product sets of managers); past it the oldest count is dropped.
const MAX_SCOPES: usize = 1024;

/// The home page's counts of one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub total: i64,
    pub active: i64,
    pub disabled: i64,
    /// When they were counted (ms since the epoch).
    pub counted_ms: i64,
}

struct Entry {
    tally: Tally,
    counted: Instant,
    /// A background count is under way (at most one per scope).
    refreshing: bool,
}

/// The counts per scope (`None`: every product).
pub struct Tallies {
    entries: Mutex<HashMap<Option<Arc<[i64]>>, Entry>>,
    fresh: Duration,
}

impl Default for Tallies {
    fn default() -> Self {
        Tallies::new(FRESH)
    }
}

impl Tallies {
    /// Counts reused for `fresh` (the server's is [`FRESH`]).
    pub fn new(fresh: Duration) -> Self {
        Tallies { entries: Mutex::default(), fresh }
    }

    /// The scope's counts: kept ones while they are fresh, kept ones and a background recount once they are
    /// older, a count now when there are none.
    pub async fn get(self: &Arc<Self>, db: &Db, scope: &Scope) -> Result<Tally, StoreError> {
        let key = scope.products.clone();
        let stale = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(&key) {
                Some(e) if e.refreshing || e.counted.elapsed() < self.fresh => return Ok(e.tally),
                Some(e) => {
                    e.refreshing = true;
                    Some(e.tally)
                }
                None => None,
            }
        };
        if let Some(tally) = stale {
            let (me, db, scope) = (self.clone(), db.clone(), scope.clone());
            tokio::spawn(async move {
                match count(&db, &scope).await {
                    Ok(t) => me.put(&scope, t),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not count licenses for the dashboard's home page");
                        let mut entries = me.entries.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(e) = entries.get_mut(&scope.products) {
                            e.refreshing = false;
                        }
                    }
                }
            });
            return Ok(tally);
        }
        let t = count(db, scope).await?;
        self.put(scope, t);
        Ok(t)
    }

    /// Drops every count: the next view of each scope counts again (after an import, which changes many).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn put(&self, scope: &Scope, tally: Tally) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_SCOPES && !entries.contains_key(&scope.products) {
            let oldest = entries.iter().min_by_key(|(_, e)| e.counted).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(scope.products.clone(), Entry { tally, counted: Instant::now(), refreshing: false });
    }
}

/// Counts now, the three at once (each on its own connection).
async fn count(db: &Db, scope: &Scope) -> Result<Tally, StoreError> {
    let counted_ms = licensd_core::time::now_ms();
    let filtered = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        licensd_store::list::parse(&licenses::SPEC, &pairs, &[]).map_err(|e| StoreError::invalid(e.param, e.message))
    };
    let (all, active, disabled) =
        (ListParams::all(), filtered(&[("active", "true")])?, filtered(&[("enabled", "false")])?);
    let (total, active, disabled) = tokio::try_join!(
        licenses::count(db, scope, &all),
        licenses::count(db, scope, &active),
        licenses::count(db, scope, &disabled),
    )?;
    Ok(Tally { total, active, disabled, counted_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn add_license(db: &Db, scope: &Scope, product: i64) {
        let input: licensd_core::model::LicenseInput =
            serde_json::from_value(serde_json::json!({"product": product})).expect("input");
        licenses::create(db, scope, &input).await.expect("license");
    }

    /// A real database (SQLite in a temporary directory): a stale count is shown once more while a
    /// background count replaces it; a fresh one is reused; each scope has its own.
    #[tokio::test]
    async fn a_stale_count_is_shown_while_it_is_counted_again() {
        let dir = std::env::temp_dir().join(format!("licensd-tally-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let db = Db::connect(&format!("sqlite://{}", dir.join("t.db").display())).await.expect("db");
        let system = Scope::system();
        let product: licensd_core::model::ProductInput =
            serde_json::from_value(serde_json::json!({"product_name": "App", "short_code": "app"})).expect("input");
        let app = licensd_store::products::create(&db, &system, product).await.expect("product").id;
        add_license(&db, &system, app).await;

        let kept = Arc::new(Tallies::new(Duration::from_secs(3600)));
        assert_eq!(kept.get(&db, &system).await.expect("count").total, 1);
        add_license(&db, &system, app).await;
        assert_eq!(kept.get(&db, &system).await.expect("count").total, 1, "fresh: reused");

        let stale = Arc::new(Tallies::new(Duration::ZERO));
        assert_eq!(stale.get(&db, &system).await.expect("count").total, 2, "first: counted now");
        add_license(&db, &system, app).await;
        assert_eq!(stale.get(&db, &system).await.expect("count").total, 2, "stale: shown while recounted");
        let mut total = 0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            total = stale.get(&db, &system).await.expect("count").total;
            if total == 3 {
                break;
            }
        }
        assert_eq!(total, 3, "the background count replaced it");

        let none = Scope { products: Some(Arc::from([app + 1000])), ..Scope::system() };
        assert_eq!(stale.get(&db, &none).await.expect("count").total, 0, "another scope, its own count");
        std::fs::remove_dir_all(&dir).ok();
    }
}
