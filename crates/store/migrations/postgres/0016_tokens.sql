-- Token lifecycle and roles beyond admin and manager (issue 12).
-- description: what the token is for. expires_at: after it the token answers 401 TOKEN_EXPIRED (UTC ms;
-- NULL never). last_used_at: the last request, written at most once a minute per token (tokens::LastUses).
-- all_products: the token sees every product (admin, or a support / read-only token given none); otherwise
-- only those in api_token_products, so a limited token whose products were all deleted sees nothing.
ALTER TABLE api_tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN all_products BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE api_tokens SET all_products = TRUE WHERE role = 'admin';

-- A token's name is the actor the audit log records, so names are unique among tokens not revoked.
-- Databases from before may hold live tokens of one name: the oldest keeps it, the others become
-- "NAME #ID" (they keep working; revoke or rename as wished).
UPDATE api_tokens SET name = name || ' #' || id::text
WHERE revoked_at IS NULL
  AND EXISTS (SELECT 1 FROM api_tokens o WHERE o.name = api_tokens.name AND o.revoked_at IS NULL AND o.id < api_tokens.id);
CREATE UNIQUE INDEX ux_api_tokens_name ON api_tokens (name) WHERE revoked_at IS NULL;
