-- The dashboard's lists at a million rows (issue 14, docs/benchmarks.md): the activity filtered by action or by
-- who, newest first, and the disabled licenses newest first, each read from an index in its order instead of
-- sorted (or scanned) whole: 40 ms and 30 ms at 1,000,000 licenses on SQLite before, under 1 ms after.
CREATE INDEX ix_events_action ON events (action, id);
CREATE INDEX ix_events_actor ON events (actor, id);
CREATE INDEX ix_licenses_enabled_created ON licenses (enabled, created_at, id);
