-- The web dashboard's people (issue 14). A person signs in with an email and a password (Argon2id, PHC string);
-- what they may do and see is an API token's: each user is backed by a row of api_tokens of kind 'user'
-- (role, products, revocation), whose secret nobody holds, so one Scope and one permission table serve the
-- API and the dashboard, and what a person creates is theirs as a manager token's is (created_by).
-- failed_logins / locked_until: consecutive failed sign-ins and the lockout they cause (store::users).
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';

CREATE TABLE dashboard_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    token_id BIGINT NOT NULL REFERENCES api_tokens (id),
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    last_login_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    disabled_at BIGINT
);
CREATE UNIQUE INDEX ux_dashboard_users_email ON dashboard_users (email_norm);
CREATE UNIQUE INDEX ux_dashboard_users_token ON dashboard_users (token_id);

-- A signed-in browser: the SHA-256 of its cookie's 256-bit secret, its CSRF token (sent in every form), and
-- when it ends (absolute; idle sessions end at idle_until, pushed forward at most once a minute).
CREATE TABLE dashboard_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
    session_hash TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    idle_until BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX ux_dashboard_sessions_hash ON dashboard_sessions (session_hash);
CREATE INDEX ix_dashboard_sessions_user ON dashboard_sessions (user_id);
