-- licensd schema, SQLite dialect. Times are UTC milliseconds (BIGINT); JSON is TEXT.
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    product_name TEXT NOT NULL,
    short_code TEXT NOT NULL,
    bundle_id TEXT NOT NULL DEFAULT '',
    use_offline_license BOOLEAN NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_products_short_code ON products (short_code);

CREATE TABLE product_features (
    id INTEGER PRIMARY KEY,
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
CREATE UNIQUE INDEX ux_product_features_code ON product_features (product_id, code);

CREATE TABLE license_templates (
    id INTEGER PRIMARY KEY,
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
CREATE UNIQUE INDEX ux_license_templates_code ON license_templates (code);
CREATE INDEX ix_license_templates_product ON license_templates (product_id);

CREATE TABLE license_template_features (
    id INTEGER PRIMARY KEY,
    template_id BIGINT NOT NULL REFERENCES license_templates (id) ON DELETE CASCADE,
    feature_id BIGINT NOT NULL REFERENCES product_features (id) ON DELETE CASCADE,
    max_consumption BIGINT NOT NULL,
    allow_overages BOOLEAN NOT NULL,
    max_overages BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_license_template_features ON license_template_features (template_id, feature_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX ux_api_tokens_hash ON api_tokens (token_hash);

CREATE TABLE api_token_products (
    token_id BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, product_id)
);

CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    color TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX ux_labels_label ON labels (label);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
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
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_customers_email ON customers (email_norm);
CREATE INDEX ix_customers_created_at ON customers (created_at);

CREATE TABLE customer_labels (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    label_id BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_customer_labels ON customer_labels (customer_id, label_id);
CREATE INDEX ix_customer_labels_label ON customer_labels (label_id);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    store_id TEXT,
    customer_id BIGINT REFERENCES customers (id) ON DELETE RESTRICT,
    campaign TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    is_test BOOLEAN NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_orders_store_id ON orders (store_id);
CREATE INDEX ix_orders_customer ON orders (customer_id);
CREATE INDEX ix_orders_created_at ON orders (created_at);

CREATE TABLE licenses (
    id INTEGER PRIMARY KEY,
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
    last_check BIGINT,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_licenses_license_key ON licenses (license_key);
CREATE INDEX ix_licenses_product ON licenses (product_id, id);
CREATE INDEX ix_licenses_template ON licenses (template_id);
CREATE INDEX ix_licenses_customer ON licenses (customer_id);
CREATE INDEX ix_licenses_order ON licenses (order_id);
CREATE INDEX ix_licenses_created_at ON licenses (created_at, id);
CREATE INDEX ix_licenses_updated_at ON licenses (updated_at, id);

CREATE TABLE license_features (
    id INTEGER PRIMARY KEY,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    feature_id BIGINT NOT NULL REFERENCES product_features (id) ON DELETE CASCADE,
    max_consumption BIGINT NOT NULL DEFAULT 0,
    total_consumptions BIGINT NOT NULL DEFAULT 0,
    allow_overages BOOLEAN NOT NULL DEFAULT 0,
    max_overages BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT
);
CREATE UNIQUE INDEX ux_license_features ON license_features (license_id, feature_id);
CREATE INDEX ix_license_features_feature ON license_features (feature_id);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    hardware_id TEXT NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    os TEXT NOT NULL DEFAULT '',
    app_version TEXT NOT NULL DEFAULT '',
    time_activated BIGINT NOT NULL,
    last_check BIGINT,
    deactivated_at BIGINT
);
CREATE UNIQUE INDEX ux_devices_active_hardware_id ON devices (license_id, hardware_id) WHERE deactivated_at IS NULL;
CREATE INDEX ix_devices_license ON devices (license_id, id);
CREATE INDEX ix_devices_hardware_id ON devices (hardware_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    license_id BIGINT,
    note TEXT NOT NULL DEFAULT '',
    before_json TEXT,
    after_json TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ix_events_license ON events (license_id, id);
CREATE INDEX ix_events_resource ON events (resource_type, resource_id);
CREATE INDEX ix_events_created_at ON events (created_at, id);
