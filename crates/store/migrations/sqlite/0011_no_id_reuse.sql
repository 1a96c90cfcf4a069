-- Ids are never handed out twice, and events carry their product (security review M2).
--
-- It runs after migrations 13 and 14 (see `MIGRATIONS` in src/migrate.rs), so the tables rebuilt here have
-- their columns as of 14 (`devices.file_expires_at`).
--
-- Without AUTOINCREMENT SQLite numbers a new row after the highest id present, so deleting the newest
-- license freed its id for the next one, of any product, and the audit events of the deleted license became
-- the "history" of the new one. This rebuilds every table of the foreign-key graph (whose ids events,
-- `created_by` and client state refer to) with `INTEGER PRIMARY KEY AUTOINCREMENT`, keeping every row,
-- index, trigger and foreign key, and starts each sequence past the highest id the table or its events
-- ever named. PostgreSQL's identity columns never reuse an id; its 0011 only adds `events.product_id`.
--
-- Migrations run inside a transaction with foreign keys enforced (PRAGMA foreign_keys cannot change there),
-- so SQLite's usual "foreign_keys=OFF, copy, drop, rename" cannot be used: dropping a parent would run its
-- ON DELETE actions on the children. Instead every old table is renamed out of the way first (the
-- references between old tables follow the renames), the new tables are created and filled parents first,
-- and the old ones are dropped children first, so no drop ever finds a row referring to it.
PRAGMA defer_foreign_keys = ON;

ALTER TABLE products RENAME TO m11_products;
ALTER TABLE product_features RENAME TO m11_product_features;
ALTER TABLE license_templates RENAME TO m11_license_templates;
ALTER TABLE license_template_features RENAME TO m11_license_template_features;
ALTER TABLE api_tokens RENAME TO m11_api_tokens;
ALTER TABLE api_token_products RENAME TO m11_api_token_products;
ALTER TABLE labels RENAME TO m11_labels;
ALTER TABLE customer_accounts RENAME TO m11_customer_accounts;
ALTER TABLE customers RENAME TO m11_customers;
ALTER TABLE customer_labels RENAME TO m11_customer_labels;
ALTER TABLE orders RENAME TO m11_orders;
ALTER TABLE licenses RENAME TO m11_licenses;
ALTER TABLE license_features RENAME TO m11_license_features;
ALTER TABLE devices RENAME TO m11_devices;
ALTER TABLE trials RENAME TO m11_trials;
ALTER TABLE license_users RENAME TO m11_license_users;
ALTER TABLE license_license_users RENAME TO m11_license_license_users;
ALTER TABLE devmate_license_type_products RENAME TO m11_devmate_license_type_products;
ALTER TABLE device_checks RENAME TO m11_device_checks;
ALTER TABLE license_checks RENAME TO m11_license_checks;

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_name TEXT NOT NULL,
    short_code TEXT NOT NULL,
    bundle_id TEXT NOT NULL DEFAULT '',
    use_offline_license BOOLEAN NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    authorization_method TEXT NOT NULL DEFAULT 'license-key',
    is_bundle BOOLEAN NOT NULL DEFAULT 0
);
INSERT INTO products (id, product_name, short_code, bundle_id, use_offline_license, metadata, created_at, updated_at,
    authorization_method, is_bundle)
SELECT id, product_name, short_code, bundle_id, use_offline_license, metadata, created_at, updated_at,
    authorization_method, is_bundle FROM m11_products ORDER BY id;

CREATE TABLE product_features (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    feature_type TEXT NOT NULL,
    max_consumption BIGINT NOT NULL DEFAULT 0,
    allow_overages BOOLEAN NOT NULL DEFAULT 0,
    max_overages BIGINT NOT NULL DEFAULT 0,
    reset_consumption BOOLEAN NOT NULL DEFAULT 0,
    consumption_period TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO product_features (id, product_id, code, name, feature_type, max_consumption, allow_overages, max_overages,
    reset_consumption, consumption_period, metadata, created_at, updated_at)
SELECT id, product_id, code, name, feature_type, max_consumption, allow_overages, max_overages,
    reset_consumption, consumption_period, metadata, created_at, updated_at FROM m11_product_features ORDER BY id;

CREATE TABLE license_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    license_type TEXT NOT NULL,
    key_prefix TEXT NOT NULL DEFAULT '',
    key_groups BIGINT NOT NULL DEFAULT 4,
    key_group_size BIGINT NOT NULL DEFAULT 5,
    max_activations BIGINT,
    validity_period_days BIGINT,
    is_trial BOOLEAN NOT NULL DEFAULT 0,
    trial_days BIGINT NOT NULL DEFAULT 0,
    is_floating_cloud BOOLEAN NOT NULL DEFAULT 0,
    floating_users BIGINT NOT NULL DEFAULT 0,
    floating_timeout BIGINT NOT NULL DEFAULT 30,
    max_transfers BIGINT NOT NULL DEFAULT 0,
    prevent_vm BOOLEAN NOT NULL DEFAULT 0,
    can_borrow BOOLEAN NOT NULL DEFAULT 0,
    max_borrow_time BIGINT NOT NULL DEFAULT 0,
    maintenance_duration_days BIGINT,
    max_consumptions BIGINT NOT NULL DEFAULT 0,
    allow_overages BOOLEAN NOT NULL DEFAULT 0,
    max_overages BIGINT NOT NULL DEFAULT 0,
    license_file_ttl_days BIGINT NOT NULL DEFAULT 30,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO license_templates (id, product_id, name, code, license_type, key_prefix, key_groups, key_group_size,
    max_activations, validity_period_days, is_trial, trial_days, is_floating_cloud, floating_users, floating_timeout,
    max_transfers, prevent_vm, can_borrow, max_borrow_time, maintenance_duration_days, max_consumptions,
    allow_overages, max_overages, license_file_ttl_days, metadata, created_at, updated_at)
SELECT id, product_id, name, code, license_type, key_prefix, key_groups, key_group_size,
    max_activations, validity_period_days, is_trial, trial_days, is_floating_cloud, floating_users, floating_timeout,
    max_transfers, prevent_vm, can_borrow, max_borrow_time, maintenance_duration_days, max_consumptions,
    allow_overages, max_overages, license_file_ttl_days, metadata, created_at, updated_at
FROM m11_license_templates ORDER BY id;

CREATE TABLE license_template_features (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id BIGINT NOT NULL REFERENCES license_templates (id) ON DELETE CASCADE,
    feature_id BIGINT NOT NULL REFERENCES product_features (id) ON DELETE CASCADE,
    max_consumption BIGINT NOT NULL,
    allow_overages BOOLEAN NOT NULL,
    max_overages BIGINT NOT NULL
);
INSERT INTO license_template_features (id, template_id, feature_id, max_consumption, allow_overages, max_overages)
SELECT id, template_id, feature_id, max_consumption, allow_overages, max_overages
FROM m11_license_template_features ORDER BY id;

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
INSERT INTO api_tokens (id, name, role, token_hash, created_at, revoked_at)
SELECT id, name, role, token_hash, created_at, revoked_at FROM m11_api_tokens ORDER BY id;

CREATE TABLE api_token_products (
    token_id BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, product_id)
);
INSERT INTO api_token_products (token_id, product_id) SELECT token_id, product_id FROM m11_api_token_products;

CREATE TABLE labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    color TEXT NOT NULL DEFAULT ''
);
INSERT INTO labels (id, label, color) SELECT id, label, color FROM m11_labels ORDER BY id;

CREATE TABLE customer_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by BIGINT
);
INSERT INTO customer_accounts (id, name, code, description, phone, address, email, reference, created_at, updated_at,
    created_by)
SELECT id, name, code, description, phone, address, email, reference, created_at, updated_at, created_by
FROM m11_customer_accounts ORDER BY id;

CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT,
    email_norm TEXT,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    company_name TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    customer_account_id BIGINT REFERENCES customer_accounts (id) ON DELETE SET NULL
);
INSERT INTO customers (id, email, email_norm, first_name, last_name, company_name, phone, reference, address, postcode,
    city, country, state, note, metadata, created_by, created_at, updated_at, customer_account_id)
SELECT id, email, email_norm, first_name, last_name, company_name, phone, reference, address, postcode,
    city, country, state, note, metadata, created_by, created_at, updated_at, customer_account_id
FROM m11_customers ORDER BY id;

CREATE TABLE customer_labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    label_id BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE
);
INSERT INTO customer_labels (id, customer_id, label_id) SELECT id, customer_id, label_id FROM m11_customer_labels ORDER BY id;

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id TEXT,
    customer_id BIGINT REFERENCES customers (id) ON DELETE RESTRICT,
    campaign TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    is_test BOOLEAN NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    customer_account_id BIGINT REFERENCES customer_accounts (id) ON DELETE SET NULL
);
INSERT INTO orders (id, store_id, customer_id, campaign, reference, is_test, metadata, created_by, created_at, updated_at,
    customer_account_id)
SELECT id, store_id, customer_id, campaign, reference, is_test, metadata, created_by, created_at, updated_at,
    customer_account_id FROM m11_orders ORDER BY id;

CREATE TABLE licenses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    license_key TEXT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    template_id BIGINT REFERENCES license_templates (id) ON DELETE SET NULL,
    customer_id BIGINT REFERENCES customers (id) ON DELETE RESTRICT,
    order_id BIGINT REFERENCES orders (id) ON DELETE RESTRICT,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    refunded BOOLEAN NOT NULL DEFAULT 0,
    license_type TEXT NOT NULL,
    max_activations BIGINT,
    times_activated BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    maintenance_until BIGINT,
    is_trial BOOLEAN NOT NULL DEFAULT 0,
    trial_days BIGINT NOT NULL DEFAULT 0,
    is_floating_cloud BOOLEAN NOT NULL DEFAULT 0,
    floating_users BIGINT NOT NULL DEFAULT 0,
    floating_timeout BIGINT NOT NULL DEFAULT 30,
    max_transfers BIGINT NOT NULL DEFAULT 0,
    transfer_count BIGINT NOT NULL DEFAULT 0,
    prevent_vm BOOLEAN NOT NULL DEFAULT 0,
    can_borrow BOOLEAN NOT NULL DEFAULT 0,
    max_borrow_time BIGINT NOT NULL DEFAULT 0,
    max_consumptions BIGINT NOT NULL DEFAULT 0,
    total_consumptions BIGINT NOT NULL DEFAULT 0,
    allow_overages BOOLEAN NOT NULL DEFAULT 0,
    max_overages BIGINT NOT NULL DEFAULT 0,
    is_air_gapped BOOLEAN NOT NULL DEFAULT 0,
    license_file_ttl_days BIGINT NOT NULL DEFAULT 30,
    note TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    time_activated BIGINT,
    time_disabled BIGINT,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    subscription_id TEXT,
    is_hardware_key_auth BOOLEAN NOT NULL DEFAULT 0,
    bundle_license_id BIGINT REFERENCES licenses (id) ON DELETE SET NULL
);
INSERT INTO licenses (id, license_key, product_id, template_id, customer_id, order_id, enabled, refunded, license_type,
    max_activations, times_activated, expires_at, maintenance_until, is_trial, trial_days, is_floating_cloud,
    floating_users, floating_timeout, max_transfers, transfer_count, prevent_vm, can_borrow, max_borrow_time,
    max_consumptions, total_consumptions, allow_overages, max_overages, is_air_gapped, license_file_ttl_days, note,
    metadata, time_activated, time_disabled, created_by, created_at, updated_at, subscription_id, is_hardware_key_auth,
    bundle_license_id)
SELECT id, license_key, product_id, template_id, customer_id, order_id, enabled, refunded, license_type,
    max_activations, times_activated, expires_at, maintenance_until, is_trial, trial_days, is_floating_cloud,
    floating_users, floating_timeout, max_transfers, transfer_count, prevent_vm, can_borrow, max_borrow_time,
    max_consumptions, total_consumptions, allow_overages, max_overages, is_air_gapped, license_file_ttl_days, note,
    metadata, time_activated, time_disabled, created_by, created_at, updated_at, subscription_id, is_hardware_key_auth,
    bundle_license_id FROM m11_licenses ORDER BY id;

CREATE TABLE license_features (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    feature_id BIGINT NOT NULL REFERENCES product_features (id) ON DELETE CASCADE,
    max_consumption BIGINT NOT NULL DEFAULT 0,
    total_consumptions BIGINT NOT NULL DEFAULT 0,
    allow_overages BOOLEAN NOT NULL DEFAULT 0,
    max_overages BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT
);
INSERT INTO license_features (id, license_id, feature_id, max_consumption, total_consumptions, allow_overages,
    max_overages, expires_at)
SELECT id, license_id, feature_id, max_consumption, total_consumptions, allow_overages, max_overages, expires_at
FROM m11_license_features ORDER BY id;

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    hardware_id TEXT NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    os TEXT NOT NULL DEFAULT '',
    app_version TEXT NOT NULL DEFAULT '',
    time_activated BIGINT NOT NULL,
    deactivated_at BIGINT,
    lease_expires_at BIGINT,
    borrowed_until BIGINT,
    file_expires_at BIGINT
);
INSERT INTO devices (id, license_id, hardware_id, hostname, os, app_version, time_activated, deactivated_at,
    lease_expires_at, borrowed_until, file_expires_at)
SELECT id, license_id, hardware_id, hostname, os, app_version, time_activated, deactivated_at,
    lease_expires_at, borrowed_until, file_expires_at FROM m11_devices ORDER BY id;

-- `email`: what the trial's caller gave (H1: a trial never attaches to an existing customer; the vendor sees
-- the address as the license's `trial_email`).
CREATE TABLE trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    hardware_id TEXT NOT NULL,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    email TEXT
);
INSERT INTO trials (id, product_id, hardware_id, license_id, created_at)
SELECT id, product_id, hardware_id, license_id, created_at FROM m11_trials ORDER BY id;

CREATE TABLE license_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    true_email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    phone_number TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO license_users (id, true_email, email_norm, first_name, last_name, phone_number, is_active, created_at,
    updated_at)
SELECT id, true_email, email_norm, first_name, last_name, phone_number, is_active, created_at, updated_at
FROM m11_license_users ORDER BY id;

CREATE TABLE license_license_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    license_user_id BIGINT NOT NULL REFERENCES license_users (id) ON DELETE CASCADE,
    is_manager BOOLEAN NOT NULL DEFAULT 0,
    max_activations BIGINT,
    user_group TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
INSERT INTO license_license_users (id, license_id, license_user_id, is_manager, max_activations, user_group, created_at)
SELECT id, license_id, license_user_id, is_manager, max_activations, user_group, created_at
FROM m11_license_license_users ORDER BY id;

CREATE TABLE devmate_license_type_products (
    template_id BIGINT NOT NULL REFERENCES license_templates (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (template_id, position)
);
INSERT INTO devmate_license_type_products (template_id, product_id, position)
SELECT template_id, product_id, position FROM m11_devmate_license_type_products;

CREATE TABLE device_checks (
    device_id INTEGER PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    last_check BIGINT NOT NULL
);
INSERT INTO device_checks (device_id, last_check) SELECT device_id, last_check FROM m11_device_checks ORDER BY device_id;

CREATE TABLE license_checks (
    license_id INTEGER PRIMARY KEY REFERENCES licenses (id) ON DELETE CASCADE,
    last_check BIGINT NOT NULL
);
INSERT INTO license_checks (license_id, last_check) SELECT license_id, last_check FROM m11_license_checks ORDER BY license_id;

-- The old tables' indexes go first: a drop deletes row by row (foreign keys are enforced), and every index
-- would be updated for every row (100k licenses, debug build: 11 s -> 4 s). `ix_licenses_bundle` stays until its table goes,
-- for the self-reference's lookups.
DROP INDEX ux_products_short_code;
DROP INDEX ux_product_features_code;
DROP INDEX ux_license_templates_code;
DROP INDEX ix_license_templates_product;
DROP INDEX ux_license_template_features;
DROP INDEX ux_api_tokens_hash;
DROP INDEX ux_labels_label;
DROP INDEX ux_customer_accounts_code;
DROP INDEX ux_customers_email;
DROP INDEX ix_customers_created_at;
DROP INDEX ix_customers_account;
DROP INDEX ix_customers_email_exact;
DROP INDEX ux_customer_labels;
DROP INDEX ix_customer_labels_label;
DROP INDEX ux_orders_store_id;
DROP INDEX ix_orders_customer;
DROP INDEX ix_orders_created_at;
DROP INDEX ix_orders_account;
DROP INDEX ux_licenses_license_key;
DROP INDEX ix_licenses_product;
DROP INDEX ix_licenses_template;
DROP INDEX ix_licenses_customer;
DROP INDEX ix_licenses_order;
DROP INDEX ix_licenses_created_at;
DROP INDEX ix_licenses_updated_at;
DROP INDEX ix_licenses_subscription;
DROP INDEX ix_licenses_validity;
DROP INDEX ix_licenses_time_activated;
DROP INDEX ix_licenses_enabled;
DROP INDEX ix_licenses_times_activated;
DROP INDEX ux_license_features;
DROP INDEX ix_license_features_feature;
DROP INDEX ux_devices_active_hardware_id;
DROP INDEX ix_devices_license;
DROP INDEX ix_devices_hardware_id;
DROP INDEX ix_devices_lease;
DROP INDEX ix_devices_hostname;
DROP INDEX ix_devices_os;
DROP INDEX ux_trials_product_hardware_id;
DROP INDEX ux_license_users_email;
DROP INDEX ux_license_license_users;
DROP INDEX ix_license_license_users_user;
DROP INDEX ix_devmate_license_type_products_product;

-- Children first: when a table is dropped, nothing refers to it any more (its FTS triggers go with it, before
-- the implicit delete, so the search indexes keep their rows).
DROP TABLE m11_license_checks;
DROP TABLE m11_device_checks;
DROP TABLE m11_devmate_license_type_products;
DROP TABLE m11_license_license_users;
DROP TABLE m11_license_users;
DROP TABLE m11_trials;
DROP TABLE m11_devices;
DROP TABLE m11_license_features;
DROP TABLE m11_licenses;
DROP TABLE m11_orders;
DROP TABLE m11_customer_labels;
DROP TABLE m11_customers;
DROP TABLE m11_customer_accounts;
DROP TABLE m11_labels;
DROP TABLE m11_api_token_products;
DROP TABLE m11_api_tokens;
DROP TABLE m11_license_template_features;
DROP TABLE m11_license_templates;
DROP TABLE m11_product_features;
DROP TABLE m11_products;

-- Every index of migrations 1-10 and 13-14 on these tables, as it was.
CREATE UNIQUE INDEX ux_products_short_code ON products (short_code);
CREATE UNIQUE INDEX ux_product_features_code ON product_features (product_id, code);
CREATE UNIQUE INDEX ux_license_templates_code ON license_templates (code);
CREATE INDEX ix_license_templates_product ON license_templates (product_id);
CREATE UNIQUE INDEX ux_license_template_features ON license_template_features (template_id, feature_id);
CREATE UNIQUE INDEX ux_api_tokens_hash ON api_tokens (token_hash);
CREATE UNIQUE INDEX ux_labels_label ON labels (label);
CREATE UNIQUE INDEX ux_customer_accounts_code ON customer_accounts (code);
CREATE UNIQUE INDEX ux_customers_email ON customers (email_norm);
CREATE INDEX ix_customers_created_at ON customers (created_at);
CREATE INDEX ix_customers_account ON customers (customer_account_id);
CREATE INDEX ix_customers_email_exact ON customers (email);
CREATE UNIQUE INDEX ux_customer_labels ON customer_labels (customer_id, label_id);
CREATE INDEX ix_customer_labels_label ON customer_labels (label_id);
CREATE UNIQUE INDEX ux_orders_store_id ON orders (store_id);
CREATE INDEX ix_orders_customer ON orders (customer_id);
CREATE INDEX ix_orders_created_at ON orders (created_at);
CREATE INDEX ix_orders_account ON orders (customer_account_id);
CREATE UNIQUE INDEX ux_licenses_license_key ON licenses (license_key);
CREATE INDEX ix_licenses_product ON licenses (product_id, id);
CREATE INDEX ix_licenses_template ON licenses (template_id);
CREATE INDEX ix_licenses_customer ON licenses (customer_id);
CREATE INDEX ix_licenses_order ON licenses (order_id);
CREATE INDEX ix_licenses_created_at ON licenses (created_at, id);
CREATE INDEX ix_licenses_updated_at ON licenses (updated_at, id);
CREATE INDEX ix_licenses_subscription ON licenses (subscription_id);
CREATE INDEX ix_licenses_bundle ON licenses (bundle_license_id);
CREATE INDEX ix_licenses_validity ON licenses (expires_at, id);
CREATE INDEX ix_licenses_time_activated ON licenses (time_activated, id);
CREATE INDEX ix_licenses_enabled ON licenses (enabled, id);
CREATE INDEX ix_licenses_times_activated ON licenses (times_activated);
CREATE UNIQUE INDEX ux_license_features ON license_features (license_id, feature_id);
CREATE INDEX ix_license_features_feature ON license_features (feature_id);
CREATE UNIQUE INDEX ux_devices_active_hardware_id ON devices (license_id, hardware_id) WHERE deactivated_at IS NULL;
CREATE INDEX ix_devices_license ON devices (license_id, id);
CREATE INDEX ix_devices_hardware_id ON devices (hardware_id);
CREATE INDEX ix_devices_lease ON devices (license_id, lease_expires_at);
CREATE INDEX ix_devices_hostname ON devices (hostname);
CREATE INDEX ix_devices_os ON devices (os);
CREATE UNIQUE INDEX ux_trials_product_hardware_id ON trials (product_id, hardware_id);
CREATE UNIQUE INDEX ux_license_users_email ON license_users (email_norm);
CREATE UNIQUE INDEX ux_license_license_users ON license_license_users (license_id, license_user_id);
CREATE INDEX ix_license_license_users_user ON license_license_users (license_user_id);
CREATE INDEX ix_devmate_license_type_products_product ON devmate_license_type_products (product_id);
-- New: a license's trial (its `trial_email`, and the cascade when the license is deleted) without a scan.
CREATE INDEX ix_trials_license ON trials (license_id);

-- The search indexes' triggers of migration 4, as they were (the FTS tables kept their rows: ids did not move).
CREATE TRIGGER licenses_fts_ai AFTER INSERT ON licenses BEGIN
    INSERT INTO licenses_fts (rowid, license_key, note) VALUES (new.id, new.license_key, new.note);
END;
CREATE TRIGGER licenses_fts_ad AFTER DELETE ON licenses BEGIN
    DELETE FROM licenses_fts WHERE rowid = old.id;
END;
CREATE TRIGGER licenses_fts_au AFTER UPDATE OF license_key, note ON licenses BEGIN
    DELETE FROM licenses_fts WHERE rowid = old.id;
    INSERT INTO licenses_fts (rowid, license_key, note) VALUES (new.id, new.license_key, new.note);
END;
CREATE TRIGGER customers_fts_ai AFTER INSERT ON customers BEGIN
    INSERT INTO customers_fts (rowid, email, name, company_name, reference) VALUES (new.id, new.email, new.first_name || ' ' || new.last_name, new.company_name, new.reference);
END;
CREATE TRIGGER customers_fts_ad AFTER DELETE ON customers BEGIN
    DELETE FROM customers_fts WHERE rowid = old.id;
END;
CREATE TRIGGER customers_fts_au AFTER UPDATE OF company_name, email, first_name, last_name, reference ON customers BEGIN
    DELETE FROM customers_fts WHERE rowid = old.id;
    INSERT INTO customers_fts (rowid, email, name, company_name, reference) VALUES (new.id, new.email, new.first_name || ' ' || new.last_name, new.company_name, new.reference);
END;
CREATE TRIGGER devices_fts_ai AFTER INSERT ON devices BEGIN
    INSERT INTO devices_fts (rowid, hostname, hardware_id, os) VALUES (new.id, new.hostname, new.hardware_id, new.os);
END;
CREATE TRIGGER devices_fts_ad AFTER DELETE ON devices BEGIN
    DELETE FROM devices_fts WHERE rowid = old.id;
END;
CREATE TRIGGER devices_fts_au AFTER UPDATE OF hardware_id, hostname, os ON devices BEGIN
    DELETE FROM devices_fts WHERE rowid = old.id;
    INSERT INTO devices_fts (rowid, hostname, hardware_id, os) VALUES (new.id, new.hostname, new.hardware_id, new.os);
END;
CREATE TRIGGER orders_fts_ai AFTER INSERT ON orders BEGIN
    INSERT INTO orders_fts (rowid, store_id) VALUES (new.id, new.store_id);
END;
CREATE TRIGGER orders_fts_ad AFTER DELETE ON orders BEGIN
    DELETE FROM orders_fts WHERE rowid = old.id;
END;
CREATE TRIGGER orders_fts_au AFTER UPDATE OF store_id ON orders BEGIN
    DELETE FROM orders_fts WHERE rowid = old.id;
    INSERT INTO orders_fts (rowid, store_id) VALUES (new.id, new.store_id);
END;

-- Events carry the product of the license they belong to, so a history and a manager's view of the audit
-- log depend on the event, never on whoever holds the license id now. The backfill takes the product from
-- the event's own license snapshot where it has one, else from the latest `license.created` before it (the
-- license as it was then: an id reused before this migration had another product), else from the license.
ALTER TABLE events ADD COLUMN product_id BIGINT;
UPDATE events SET product_id = CAST(json_extract(COALESCE(after_json, before_json), '$.product.id') AS INTEGER)
WHERE license_id IS NOT NULL AND resource_type = 'license' AND action IN ('license.created', 'license.updated',
    'license.deleted', 'license.disabled', 'license.enabled', 'license.refunded', 'license.reset')
    AND json_valid(COALESCE(after_json, before_json));
CREATE INDEX m11_events_created ON events (license_id, action, id);
UPDATE events SET product_id = (
    SELECT c.product_id FROM events c
    WHERE c.license_id = events.license_id AND c.action = 'license.created' AND c.id <= events.id
    ORDER BY c.id DESC LIMIT 1)
WHERE product_id IS NULL AND license_id IS NOT NULL;
DROP INDEX m11_events_created;
UPDATE events SET product_id = (SELECT l.product_id FROM licenses l WHERE l.id = events.license_id)
WHERE product_id IS NULL AND license_id IS NOT NULL;
CREATE INDEX ix_events_product ON events (product_id, id);
-- Writers that do not name the product (DevMate import's bulk rows) get the license's.
CREATE TRIGGER events_product_ai AFTER INSERT ON events WHEN new.product_id IS NULL AND new.license_id IS NOT NULL BEGIN
    UPDATE events SET product_id = (SELECT product_id FROM licenses WHERE id = new.license_id) WHERE id = new.id;
END;

-- Each sequence starts past the highest id the table holds or its events ever named (an id freed before this
-- migration, whose events are still in the log, is not handed out again either).
INSERT INTO sqlite_sequence (name, seq)
SELECT t.name, 0 FROM (
    SELECT 'products' AS name UNION ALL SELECT 'product_features' UNION ALL SELECT 'license_templates'
    UNION ALL SELECT 'license_template_features' UNION ALL SELECT 'api_tokens' UNION ALL SELECT 'labels'
    UNION ALL SELECT 'customer_accounts' UNION ALL SELECT 'customers' UNION ALL SELECT 'customer_labels'
    UNION ALL SELECT 'orders' UNION ALL SELECT 'licenses' UNION ALL SELECT 'license_features'
    UNION ALL SELECT 'devices' UNION ALL SELECT 'trials' UNION ALL SELECT 'license_users'
    UNION ALL SELECT 'license_license_users'
) t WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence s WHERE s.name = t.name);
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((
    SELECT MAX(e.resource_id) FROM events e WHERE e.resource_type = CASE sqlite_sequence.name
        WHEN 'products' THEN 'product'
        WHEN 'product_features' THEN 'product_feature'
        WHEN 'license_templates' THEN 'license_template'
        WHEN 'customer_accounts' THEN 'customer_account'
        WHEN 'customers' THEN 'customer'
        WHEN 'orders' THEN 'order'
        WHEN 'licenses' THEN 'license'
        WHEN 'devices' THEN 'device'
        WHEN 'license_users' THEN 'license_user'
    END), 0));
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT MAX(license_id) FROM events), 0)) WHERE name = 'licenses';
