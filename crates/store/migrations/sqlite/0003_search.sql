-- What seed 002's license filters name beyond the first schema: customer accounts (a company owning
-- customers and orders), license users (user-based licensing), bundles, hardware-key auth, subscriptions.
CREATE TABLE customer_accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_customer_accounts_code ON customer_accounts (code);

ALTER TABLE customers ADD COLUMN customer_account_id BIGINT REFERENCES customer_accounts (id) ON DELETE SET NULL;
CREATE INDEX ix_customers_account ON customers (customer_account_id);
ALTER TABLE orders ADD COLUMN customer_account_id BIGINT REFERENCES customer_accounts (id) ON DELETE SET NULL;
CREATE INDEX ix_orders_account ON orders (customer_account_id);

CREATE TABLE license_users (
    id INTEGER PRIMARY KEY,
    true_email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    phone_number TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_license_users_email ON license_users (email_norm);

CREATE TABLE license_license_users (
    id INTEGER PRIMARY KEY,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    license_user_id BIGINT NOT NULL REFERENCES license_users (id) ON DELETE CASCADE,
    is_manager BOOLEAN NOT NULL DEFAULT 0,
    max_activations BIGINT,
    user_group TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_license_license_users ON license_license_users (license_id, license_user_id);
CREATE INDEX ix_license_license_users_user ON license_license_users (license_user_id);

ALTER TABLE products ADD COLUMN authorization_method TEXT NOT NULL DEFAULT 'license-key';
ALTER TABLE products ADD COLUMN is_bundle BOOLEAN NOT NULL DEFAULT 0;

ALTER TABLE licenses ADD COLUMN subscription_id TEXT;
ALTER TABLE licenses ADD COLUMN is_hardware_key_auth BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN bundle_license_id BIGINT REFERENCES licenses (id) ON DELETE SET NULL;
CREATE INDEX ix_licenses_subscription ON licenses (subscription_id);
CREATE INDEX ix_licenses_bundle ON licenses (bundle_license_id);
CREATE INDEX ix_licenses_validity ON licenses (expires_at, id);
CREATE INDEX ix_licenses_time_activated ON licenses (time_activated, id);
