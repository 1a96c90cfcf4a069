-- License keys are matched whatever the case they are typed in when the stored key folds case (no lower-case
-- letter after its first '-': every key licensd issues). `store::list::push_key_folded` looks them up by
-- `upper(license_key)`, which this index serves (SQLite's upper() folds ASCII letters only, as Rust's
-- to_ascii_uppercase does).
CREATE INDEX ix_licenses_license_key_upper ON licenses (upper(license_key));
