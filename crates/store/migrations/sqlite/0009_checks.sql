-- `last_check` is written at the rate of checks (in batches: `LastChecks` in src/client.rs). In the wide
-- license and device rows each batch rewrote one page per row checked; in narrow tables of their own the
-- same batch rewrites a few dense pages (100k devices fit in ~400): 15.6 -> 4.0 µs a row; `check` spread over
-- 100k licenses 8.4k/s p99 17 ms -> 14k/s p99 9 ms (docs/benchmarks.md, "What the profile changed").
CREATE TABLE device_checks (
    device_id INTEGER PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    last_check BIGINT NOT NULL
);
CREATE TABLE license_checks (
    license_id INTEGER PRIMARY KEY REFERENCES licenses (id) ON DELETE CASCADE,
    last_check BIGINT NOT NULL
);
INSERT INTO device_checks (device_id, last_check) SELECT id, last_check FROM devices WHERE last_check IS NOT NULL;
INSERT INTO license_checks (license_id, last_check) SELECT id, last_check FROM licenses WHERE last_check IS NOT NULL;
ALTER TABLE devices DROP COLUMN last_check;
ALTER TABLE licenses DROP COLUMN last_check;
