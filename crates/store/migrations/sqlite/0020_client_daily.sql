-- What the client API decided, per UTC day, kind (activation, check, deactivation, trial, consumption) and code
-- (VALID, ACTIVATED, DISABLED, NO_SLOT, …), summed over every instance: each adds what its counters (the
-- ones /metrics shows) gained since its last write, every 10 seconds and at shutdown. Nothing is written on a
-- request's path. The dashboard's home page charts it.
CREATE TABLE client_daily (
    day BIGINT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, kind, code)
);
