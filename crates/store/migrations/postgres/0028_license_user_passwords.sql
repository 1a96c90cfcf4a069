-- User-based licensing as LicenseSpring's SDKs do it (License API v4, issue 15): a license user signs in from
-- the application with the email and a password (activate_license with username and password,
-- user_licenses), and may change it (change_password). password_hash: Argon2id PHC string, NULL until a password
-- is set (such a user cannot sign in). is_initial_password: the password is the one the vendor set, not yet
-- changed by the user.
ALTER TABLE license_users ADD COLUMN password_hash TEXT;
ALTER TABLE license_users ADD COLUMN is_initial_password BOOLEAN NOT NULL DEFAULT TRUE;
