-- Invitations to the dashboard (issue 14): an admin creates a user without a password (password_hash '', which
-- no password matches) and hands them a link /ui/invite/<secret>; only the SHA-256 of its 256-bit secret is
-- kept. A link works once (used_at) and until expires_at (7 days after it was made; set to the time it was
-- replaced when a newer link, a password or a disable makes it moot). created_by: who invited, as the audit
-- log names them.
CREATE TABLE dashboard_invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE UNIQUE INDEX ux_dashboard_invitations_hash ON dashboard_invitations (secret_hash);
CREATE INDEX ix_dashboard_invitations_user ON dashboard_invitations (user_id);
