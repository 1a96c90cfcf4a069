-- The dashboard's lists at a million rows (issue 14, docs/benchmarks.md): the activity filtered by action or by
-- who, newest first, and the disabled licenses (a small part of all) newest or expiring first, each read from an
-- index in its order instead of sorted (or scanned) whole: 30 to 90 ms at 1,000,000 licenses on SQLite before.
CREATE INDEX ix_events_action ON events (action, id);
CREATE INDEX ix_events_actor ON events (actor, id);
CREATE INDEX ix_licenses_enabled_created ON licenses (enabled, created_at, id);
CREATE INDEX ix_licenses_enabled_expires ON licenses (enabled, expires_at, id);
