//! `licensd events`: recent activity from the audit log.

use std::collections::HashMap;

use clap::Args;
use licensd_core::model::Event;
use licensd_core::time::{format_iso, now_ms, parse_datetime};

use crate::common::{DbArg, collect, license, open, operator, print_json, table};

/// `licensd events`' arguments.
#[derive(Args)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only this license's events (its key, or its id; a deleted license's by its id).
    #[arg(long, value_name = "KEY_OR_ID")]
    license: Option<String>,
    /// Only events by this actor: a token's name, `cli`, `client` (the client API) or `system`.
    #[arg(long)]
    actor: Option<String>,
    /// Only events since then: a duration back from now (`1h`, `30m`, `2d`) or a time (`2026-03-01`, RFC 3339).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    since: Option<i64>,
    /// The latest this many events.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    limit: u64,
    /// Print a JSON array of events (oldest first), each as `GET /api/v1/events` shows it.
    #[arg(long)]
    json: bool,
}

/// `--since`: UTC milliseconds.
fn parse_since(s: &str) -> Result<i64, String> {
    if let Some(t) = parse_datetime(s) {
        return Ok(t);
    }
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("{s:?}: give a duration back from now (1h, 30m, 2d) or a time (2026-03-01, RFC 3339)"))?;
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("{s:?} is too long ago"))?;
    Ok(now_ms().saturating_sub(ms))
}

/// The latest events matching the arguments, printed oldest first (as a log reads).
pub(crate) async fn events(a: EventsArgs) -> anyhow::Result<()> {
    let db = open(&a.db).await?;
    let scope = operator();
    let mut filters: Vec<(&str, String)> = vec![("order_by", "-id".into())];
    if let Some(l) = &a.license {
        match license(&db, &scope, l).await {
            Ok(l) => {
                filters.push(("license", l.id.to_string()));
                filters.push(("product", l.product.id.to_string()));
            }
            // A deleted license's events stay in the log, under its id.
            Err(e) => match l.trim().trim_start_matches('#').parse::<i64>() {
                Ok(id) => filters.push(("license", id.to_string())),
                Err(_) => return Err(e),
            },
        }
    }
    if let Some(actor) = a.actor {
        filters.push(("actor", actor));
    }
    if let Some(since) = a.since {
        filters.push(("created_at__gte", format_iso(since)));
    }
    let limit = usize::try_from(a.limit).unwrap_or(20);
    let (total, mut events) = collect(&licensd_store::events::SPEC, &filters, Some(limit), |p| {
        let (db, scope) = (&db, &scope);
        async move { licensd_store::events::list(db, scope, &p).await }
    })
    .await?;
    events.reverse();
    if a.json {
        return print_json(&events);
    }
    if events.is_empty() {
        println!("no events");
        return Ok(());
    }
    let ids: Vec<i64> = {
        let mut ids: Vec<i64> = events.iter().filter_map(|e| e.license).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let keys: HashMap<i64, String> = licensd_store::licenses::load(&mut &db, &ids)
        .await?
        .into_iter()
        .filter_map(|l| l.license_key.map(|k| (l.id, k)))
        .collect();
    print!("{}", events_table(&events, &keys));
    let shown = i64::try_from(events.len()).unwrap_or(i64::MAX);
    if total > shown {
        println!("(the latest {shown} of {total}; --limit or --since for others)");
    }
    Ok(())
}

fn events_table(events: &[Event], keys: &HashMap<i64, String>) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                format_iso(e.created_at.0),
                e.actor.clone(),
                e.action.clone(),
                format!("{} {}", e.resource_type, e.resource_id),
                e.license.map(|id| keys.get(&id).cloned().unwrap_or_else(|| format!("id {id}"))).unwrap_or_default(),
                e.note.clone(),
            ]
        })
        .collect();
    table(&["TIME", "ACTOR", "ACTION", "RECORD", "LICENSE", "NOTE"], &rows)
}
