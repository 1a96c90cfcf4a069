-- License keys that fold case (no lower-case letter after the first '-': every key licensd issues) are found
-- whatever their case, dashes and whitespace as typed (`licensd_core::keys::canonical`): `2hprz-d24lq…`,
-- `2HPRZD24LQ…` and `2HPRZ D24LQ…` all name `2HPRZ-D24LQ-…`. `store::list::key_canonical` looks them up by
-- `replace(upper(license_key COLLATE "C"), '-', '')`, which this index serves (under the "C" collation upper()
-- folds ASCII letters only, as Rust's to_ascii_uppercase does); it takes over from migration 15's index.
CREATE INDEX ix_licenses_license_key_canonical ON licenses (replace(upper(license_key COLLATE "C"), '-', ''));
DROP INDEX ix_licenses_license_key_upper;
