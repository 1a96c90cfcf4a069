-- DevMate v2 compatibility. DevMate's ids are kept as licensd's ids on import; these tables remember what
-- came from DevMate (so a re-import recognises its records even after they were edited) and which products a
-- DevMate license type covers when it covers more than one (DevMate bundles).
CREATE TABLE devmate_records (
    kind TEXT NOT NULL,
    id BIGINT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE devmate_license_type_products (
    template_id BIGINT NOT NULL REFERENCES license_templates (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (template_id, position)
);
CREATE INDEX ix_devmate_license_type_products_product ON devmate_license_type_products (product_id);
