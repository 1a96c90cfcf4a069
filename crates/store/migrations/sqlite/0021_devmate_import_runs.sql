-- DevMate imports uploaded in the dashboard (issue 14): one row per uploaded file with its progress, written by
-- the instance that runs it after every batch, so the run's page can be read on any instance and outlives a
-- restart. state: running, done (every record applied or reported), failed (the run stopped: error says why).
-- A running run whose heartbeat_at is old was interrupted (its instance stopped); that is derived when read.
-- started_by: the person, as the audit log names them. The counts are of records: created (a new customer),
-- updated (licenses added to a customer already there), unchanged, failed (invalid, or refused by the database).
CREATE TABLE devmate_import_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_by TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_bytes BIGINT NOT NULL,
    state TEXT NOT NULL,
    records_total BIGINT NOT NULL,
    records_done BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    licenses_created BIGINT NOT NULL,
    warnings BIGINT NOT NULL,
    weak_keys BIGINT NOT NULL,
    error TEXT,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    finished_at BIGINT
);
-- The per-record report of a run: what became of each record of the file (outcome as above) and the detail
-- (the error, or what was created and the warnings). Paged by number, optionally of one outcome.
CREATE TABLE devmate_import_records (
    run_id BIGINT NOT NULL REFERENCES devmate_import_runs (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    line BIGINT NOT NULL,
    customer_id BIGINT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (run_id, number)
);
CREATE INDEX ix_devmate_import_records_outcome ON devmate_import_records (run_id, outcome, number);
