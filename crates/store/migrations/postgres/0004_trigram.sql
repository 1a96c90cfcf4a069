-- Substring search without scans (seed 002's __icontains): pg_trgm GIN indexes. ILIKE uses them for
-- terms of 3 characters or more.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX ix_licenses_license_key_trgm ON licenses USING gin (license_key gin_trgm_ops);
CREATE INDEX ix_licenses_note_trgm ON licenses USING gin (note gin_trgm_ops);
CREATE INDEX ix_customers_email_trgm ON customers USING gin (email gin_trgm_ops);
CREATE INDEX ix_customers_name_trgm ON customers USING gin ((first_name || ' ' || last_name) gin_trgm_ops);
CREATE INDEX ix_customers_company_name_trgm ON customers USING gin (company_name gin_trgm_ops);
CREATE INDEX ix_customers_reference_trgm ON customers USING gin (reference gin_trgm_ops);
CREATE INDEX ix_devices_hostname_trgm ON devices USING gin (hostname gin_trgm_ops);
CREATE INDEX ix_devices_hardware_id_trgm ON devices USING gin (hardware_id gin_trgm_ops);
CREATE INDEX ix_devices_os_trgm ON devices USING gin (os gin_trgm_ops);
CREATE INDEX ix_orders_store_id_trgm ON orders USING gin (store_id gin_trgm_ops);
