-- Until when the latest offline license file issued for a device verifies (UTC ms): while it does, the
-- client API refuses to deactivate the device (LICENSE_FILE_OUTSTANDING), so a slot cannot be freed
-- while the old machine keeps working offline.
ALTER TABLE devices ADD COLUMN file_expires_at BIGINT;
