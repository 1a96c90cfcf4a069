-- Customer accounts are scoped like customers: a manager token sees an account when one of its customers or
-- orders holds a license of the manager's products, or when the token created it.
ALTER TABLE customer_accounts ADD COLUMN created_by BIGINT;
