-- Signing keys at rest (issue 11, M6): each row names how its seed is stored, so older rows keep opening
-- while new ones are sealed properly.
--   'none'        the seed in base64 (no LICENSD_SECRET was set);
--   'sha256-v1'   XChaCha20-Poly1305 under SHA-256 of LICENSD_SECRET: every row sealed before this migration;
--   'argon2id-v1' XChaCha20-Poly1305 under Argon2id(LICENSD_SECRET, kdf_salt, kdf_params), the key id as
--                 associated data.
-- `encrypted` stays, true for both sealed formats.
ALTER TABLE signing_keys ADD COLUMN kdf TEXT NOT NULL DEFAULT 'none';
ALTER TABLE signing_keys ADD COLUMN kdf_salt TEXT;
ALTER TABLE signing_keys ADD COLUMN kdf_params TEXT;
UPDATE signing_keys SET kdf = 'sha256-v1' WHERE encrypted;
