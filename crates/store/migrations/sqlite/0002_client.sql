-- Client API: signing keys, floating seat leases and borrowing on devices, one trial per device and product.
CREATE TABLE signing_keys (
    id INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    secret TEXT NOT NULL,
    encrypted BOOLEAN NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX ux_signing_keys_key_id ON signing_keys (key_id);
CREATE UNIQUE INDEX ux_signing_keys_one_active ON signing_keys (active) WHERE active;

ALTER TABLE devices ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE devices ADD COLUMN borrowed_until BIGINT;
CREATE INDEX ix_devices_lease ON devices (license_id, lease_expires_at);

CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    hardware_id TEXT NOT NULL,
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_trials_product_hardware_id ON trials (product_id, hardware_id);
