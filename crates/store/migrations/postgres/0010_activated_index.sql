-- `active=true|false` compiles to `times_activated > 0` / `= 0`. Migration 8 added this index on SQLite
-- believing PostgreSQL had one since 0001; it had not, and each count was a parallel scan of the table.
-- 1M licenses, count of active=true: 145–165 ms (seq scan) -> 34–67 ms (index-only scan).
CREATE INDEX ix_licenses_times_activated ON licenses (times_activated);
