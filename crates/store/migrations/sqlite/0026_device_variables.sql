-- LicenseSpring's device variables (License API v4, issue 15): name/value pairs an application records on
-- the device it runs on (track_device_variables) and reads back (get_device_variables). One row per device and
-- name; a new value replaces the old. Deleted with the device.
CREATE TABLE device_variables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_device_variables_name ON device_variables (device_id, name);
