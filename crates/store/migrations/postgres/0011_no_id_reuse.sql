-- Events carry their product; trials keep the email they were given (security review M2 and H1).
-- Identity columns never hand out an id twice, so PostgreSQL needs no rebuild (SQLite's 0011 does one).
--
-- Events carry the product of the license they belong to, so a history and a manager's view of the audit
-- log depend on the event, never on whoever holds the license id now. The backfill takes the product from
-- the event's own license snapshot where it has one (a deleted license has no row left), else from the
-- latest `license.created` before it, else from the license.
ALTER TABLE events ADD COLUMN product_id BIGINT;
UPDATE events SET product_id = (COALESCE(after_json, before_json)::jsonb #>> '{product,id}')::bigint
WHERE license_id IS NOT NULL AND resource_type = 'license' AND action IN ('license.created', 'license.updated',
    'license.deleted', 'license.disabled', 'license.enabled', 'license.refunded', 'license.reset')
    AND COALESCE(after_json, before_json) IS NOT NULL;
CREATE INDEX m11_events_created ON events (license_id, action, id);
UPDATE events SET product_id = (
    SELECT c.product_id FROM events c
    WHERE c.license_id = events.license_id AND c.action = 'license.created' AND c.id <= events.id
    ORDER BY c.id DESC LIMIT 1)
WHERE product_id IS NULL AND license_id IS NOT NULL;
DROP INDEX m11_events_created;
UPDATE events SET product_id = (SELECT l.product_id FROM licenses l WHERE l.id = events.license_id)
WHERE product_id IS NULL AND license_id IS NOT NULL;
CREATE INDEX ix_events_product ON events (product_id, id);
-- Writers that do not name the product (DevMate import's bulk rows) get the license's.
CREATE FUNCTION events_product() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.product_id IS NULL AND NEW.license_id IS NOT NULL THEN
        SELECT l.product_id INTO NEW.product_id FROM licenses l WHERE l.id = NEW.license_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_product BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_product();

-- `email`: what the trial's caller gave (H1: a trial never attaches to an existing customer; the vendor sees
-- the address as the license's `trial_email`).
ALTER TABLE trials ADD COLUMN email TEXT;
-- A license's trial (its `trial_email`, and the cascade when the license is deleted) without a scan.
CREATE INDEX ix_trials_license ON trials (license_id);
