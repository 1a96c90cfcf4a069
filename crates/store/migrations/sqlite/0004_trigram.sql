-- Substring search without scans (seed 002's __icontains): FTS5 trigram indexes, contentless, kept in step
-- by triggers. Terms under 3 characters fall back to a scan (trigrams need 3).

CREATE VIRTUAL TABLE licenses_fts USING fts5(license_key, note, content='', contentless_delete=1, tokenize='trigram');
INSERT INTO licenses_fts (rowid, license_key, note) SELECT id, license_key, note FROM licenses;
CREATE TRIGGER licenses_fts_ai AFTER INSERT ON licenses BEGIN
    INSERT INTO licenses_fts (rowid, license_key, note) VALUES (new.id, new.license_key, new.note);
END;
CREATE TRIGGER licenses_fts_ad AFTER DELETE ON licenses BEGIN
    DELETE FROM licenses_fts WHERE rowid = old.id;
END;
CREATE TRIGGER licenses_fts_au AFTER UPDATE OF license_key, note ON licenses BEGIN
    DELETE FROM licenses_fts WHERE rowid = old.id;
    INSERT INTO licenses_fts (rowid, license_key, note) VALUES (new.id, new.license_key, new.note);
END;

CREATE VIRTUAL TABLE customers_fts USING fts5(email, name, company_name, reference, content='', contentless_delete=1, tokenize='trigram');
INSERT INTO customers_fts (rowid, email, name, company_name, reference) SELECT id, email, first_name || ' ' || last_name, company_name, reference FROM customers;
CREATE TRIGGER customers_fts_ai AFTER INSERT ON customers BEGIN
    INSERT INTO customers_fts (rowid, email, name, company_name, reference) VALUES (new.id, new.email, new.first_name || ' ' || new.last_name, new.company_name, new.reference);
END;
CREATE TRIGGER customers_fts_ad AFTER DELETE ON customers BEGIN
    DELETE FROM customers_fts WHERE rowid = old.id;
END;
CREATE TRIGGER customers_fts_au AFTER UPDATE OF company_name, email, first_name, last_name, reference ON customers BEGIN
    DELETE FROM customers_fts WHERE rowid = old.id;
    INSERT INTO customers_fts (rowid, email, name, company_name, reference) VALUES (new.id, new.email, new.first_name || ' ' || new.last_name, new.company_name, new.reference);
END;

CREATE VIRTUAL TABLE devices_fts USING fts5(hostname, hardware_id, os, content='', contentless_delete=1, tokenize='trigram');
INSERT INTO devices_fts (rowid, hostname, hardware_id, os) SELECT id, hostname, hardware_id, os FROM devices;
CREATE TRIGGER devices_fts_ai AFTER INSERT ON devices BEGIN
    INSERT INTO devices_fts (rowid, hostname, hardware_id, os) VALUES (new.id, new.hostname, new.hardware_id, new.os);
END;
CREATE TRIGGER devices_fts_ad AFTER DELETE ON devices BEGIN
    DELETE FROM devices_fts WHERE rowid = old.id;
END;
CREATE TRIGGER devices_fts_au AFTER UPDATE OF hardware_id, hostname, os ON devices BEGIN
    DELETE FROM devices_fts WHERE rowid = old.id;
    INSERT INTO devices_fts (rowid, hostname, hardware_id, os) VALUES (new.id, new.hostname, new.hardware_id, new.os);
END;

CREATE VIRTUAL TABLE orders_fts USING fts5(store_id, content='', contentless_delete=1, tokenize='trigram');
INSERT INTO orders_fts (rowid, store_id) SELECT id, store_id FROM orders;
CREATE TRIGGER orders_fts_ai AFTER INSERT ON orders BEGIN
    INSERT INTO orders_fts (rowid, store_id) VALUES (new.id, new.store_id);
END;
CREATE TRIGGER orders_fts_ad AFTER DELETE ON orders BEGIN
    DELETE FROM orders_fts WHERE rowid = old.id;
END;
CREATE TRIGGER orders_fts_au AFTER UPDATE OF store_id ON orders BEGIN
    DELETE FROM orders_fts WHERE rowid = old.id;
    INSERT INTO orders_fts (rowid, store_id) VALUES (new.id, new.store_id);
END;
