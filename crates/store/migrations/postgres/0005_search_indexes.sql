-- Exact-match filters of seed 002 that the first schema left to scans.
CREATE INDEX ix_customers_email_exact ON customers (email);
CREATE INDEX ix_devices_hostname ON devices (hostname);
CREATE INDEX ix_devices_os ON devices (os);
CREATE INDEX ix_licenses_enabled ON licenses (enabled, id);
