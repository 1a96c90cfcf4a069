-- Released versions of a product with their installation files (LicenseSpring's product versions, License API
-- v4's versions and installation_file, issue 15). environment and channel are empty for "every".
CREATE TABLE product_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    release_date BIGINT,
    installation_file TEXT NOT NULL DEFAULT '',
    hash_md5 TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL DEFAULT 0,
    eula_link TEXT NOT NULL DEFAULT '',
    release_notes_link TEXT NOT NULL DEFAULT '',
    requires_version TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_product_versions ON product_versions (product_id, environment, channel, version);
