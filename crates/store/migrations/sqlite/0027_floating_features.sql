-- Floating features (LicenseSpring's floating cloud features, License API v4, issue 15): a product feature
-- marked is_floating_cloud lets floating_users devices of each license that has it use it at once; a device
-- takes a seat with check_license_feature (held floating_timeout minutes, renewed by each check, or until
-- borrowed_until) and gives it back with floating/feature_release. Seats of deactivated devices do not count.
ALTER TABLE product_features ADD COLUMN is_floating_cloud BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE product_features ADD COLUMN floating_users BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product_features ADD COLUMN floating_timeout BIGINT NOT NULL DEFAULT 60;

CREATE TABLE feature_seats (
    license_feature_id BIGINT NOT NULL REFERENCES license_features (id) ON DELETE CASCADE,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    lease_expires_at BIGINT NOT NULL,
    borrowed_until BIGINT,
    PRIMARY KEY (license_feature_id, device_id)
);
CREATE INDEX ix_feature_seats_device ON feature_seats (device_id);
