-- LicenseSpring-style credentials of the License API v4 (issue 15): API keys with their shared keys, OAuth
-- clients with their secrets, and the access tokens issued to clients.
-- api_key / client_id: the public identifier an application sends (a random UUID). shared_key /
-- client_secret: an HMAC key the server recomputes with, so it cannot be kept as a hash: it is sealed as the
-- signing keys are (kdf, kdf_salt, kdf_params as in signing_keys, migration 13; `none` when no
-- LICENSD_SECRET is set), with `api_key:<api_key>` / `oauth_client:<client_id>` as associated data.
-- all_products: answers for every product; otherwise only those in the *_products table, so a key limited to
-- products that were all deleted answers for none. Names are unique among rows not revoked.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key TEXT NOT NULL,
    name TEXT NOT NULL,
    shared_key TEXT NOT NULL,
    kdf TEXT NOT NULL,
    kdf_salt TEXT,
    kdf_params TEXT,
    all_products BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX ux_api_keys_api_key ON api_keys (api_key);
CREATE UNIQUE INDEX ux_api_keys_name ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE api_key_products (
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    PRIMARY KEY (api_key_id, product_id)
);
CREATE INDEX ix_api_key_products_product ON api_key_products (product_id);

CREATE TABLE oauth_clients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    kdf TEXT NOT NULL,
    kdf_salt TEXT,
    kdf_params TEXT,
    all_products BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX ux_oauth_clients_client_id ON oauth_clients (client_id);
CREATE UNIQUE INDEX ux_oauth_clients_name ON oauth_clients (name) WHERE revoked_at IS NULL;

CREATE TABLE oauth_client_products (
    oauth_client_id BIGINT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    PRIMARY KEY (oauth_client_id, product_id)
);
CREATE INDEX ix_oauth_client_products_product ON oauth_client_products (product_id);

-- An access token issued to a client by the token endpoint: only its SHA-256 is kept. Refused after
-- expires_at (UTC ms) or once its client is revoked (revoking deletes them); expired rows are swept hourly.
CREATE TABLE oauth_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    oauth_client_id BIGINT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_oauth_tokens_hash ON oauth_tokens (token_hash);
CREATE INDEX ix_oauth_tokens_client ON oauth_tokens (oauth_client_id);
CREATE INDEX ix_oauth_tokens_expires ON oauth_tokens (expires_at);
