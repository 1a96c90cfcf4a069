-- RSA signing keys (issue 15): LicenseSpring's SDKs verify answers with RSA PKCS#1 v1.5 SHA-256 only, so the
-- License API v4 surface signs with an RSA key, beside the Ed25519 key of licensd's own client API.
--
-- A column, not a table of their own: an RSA key is kept exactly as an Ed25519 one (sealed under
-- LICENSD_SECRET with the row's kdf, kdf_salt and kdf_params; retired, never deleted; exported and imported
-- with the others), so one table keeps one sealing, one `key encrypt`, one export file and one unique key id
-- across both kinds. A second table would repeat every one of those statements for the same columns.
--   algorithm  'ed25519' (every row before this migration) or 'rsa';
--   bits       the RSA modulus size (2048, 3072 or 4096); NULL for Ed25519;
--   public_key base64 of the 32 public bytes (Ed25519) or of the SubjectPublicKeyInfo DER (RSA);
--   secret     the 32-byte seed (Ed25519) or the PKCS#8 DER (RSA), stored as the row's kdf says.
-- One active key per algorithm: the one-active index becomes per algorithm, so two instances starting at
-- once still agree on one key of each kind.
ALTER TABLE signing_keys ADD COLUMN algorithm TEXT NOT NULL DEFAULT 'ed25519';
ALTER TABLE signing_keys ADD COLUMN bits BIGINT;
DROP INDEX ux_signing_keys_one_active;
CREATE UNIQUE INDEX ux_signing_keys_one_active_per_algorithm ON signing_keys (algorithm) WHERE active;
