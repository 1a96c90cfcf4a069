-- Issue 15: the fields of LicenseSpring's license object (seed 002) that licensd had no column for, product custom
-- fields, and what `licensd import licensespring` remembers of the records it brought in.
-- reset_consumption + consumption_period: the license's own counter starts again from 0 at each period's start
-- (UTC); consumptions_counted_at is when it was last added to, so a read tells whether a period began since.
-- max_license_users: 0 is no limit. valid_duration / maintenance_duration: LicenseSpring's "35d", "4m", "2y",
-- counted from the first activation (which sets expires_at / maintenance_until). disabled_by: while disabled, the
-- actor who disabled it (the audit log's name). order_item: LicenseSpring's order item id of an imported license
-- (licensd numbers an order's line by its first license otherwise). terms_changed_at: the vendor's latest change
-- of the license (issue, edit, action; not the client API's activations and consumption): devices that checked
-- in since hold its current terms (active_up_to_date_devices). NULL (licenses older than this): created_at.
ALTER TABLE licenses ADD COLUMN reset_consumption BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN consumption_period TEXT;
ALTER TABLE licenses ADD COLUMN max_license_users BIGINT NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN valid_duration TEXT;
ALTER TABLE licenses ADD COLUMN maintenance_duration TEXT;
ALTER TABLE licenses ADD COLUMN consumptions_counted_at BIGINT;
ALTER TABLE licenses ADD COLUMN disabled_by TEXT;
ALTER TABLE licenses ADD COLUMN order_item BIGINT;
ALTER TABLE licenses ADD COLUMN terms_changed_at BIGINT;

-- A product's custom fields (name → default value) and the licenses' own values of them.
CREATE TABLE product_custom_fields (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    default_value TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_product_custom_fields_name ON product_custom_fields (product_id, name);

CREATE TABLE license_custom_fields (
    license_id BIGINT NOT NULL REFERENCES licenses (id) ON DELETE CASCADE,
    field_id BIGINT NOT NULL REFERENCES product_custom_fields (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (license_id, field_id)
);
CREATE INDEX ix_license_custom_fields_field ON license_custom_fields (field_id);

-- What licensd import licensespring brought in: LicenseSpring's id of a record (kind: product, feature, customer,
-- order, license) → licensd's, the SHA-256 of the record as the file gave it, and the record's updated_at right
-- after the import wrote it (a later import with another digest updates the record only while it still has that
-- updated_at: a change made in licensd since is kept).
CREATE TABLE licensespring_records (
    kind TEXT NOT NULL,
    ls_id BIGINT NOT NULL,
    local_id BIGINT NOT NULL,
    digest TEXT NOT NULL,
    local_updated_at BIGINT,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (kind, ls_id)
);
