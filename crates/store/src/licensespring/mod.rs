//! Moving a LicenseSpring vendor's data in: [`export`] reads the pages of LicenseSpring's management API
//! `GET /api/v1/licenses/` that a vendor fetched before leaving, [`import`] writes their licenses, customers,
//! orders, products, features, custom fields and users into licensd (`licensd import licensespring FILE`).

pub mod export;
pub mod import;

/// The audit log's actor of what the import writes.
pub const IMPORT_ACTOR: &str = "licensespring-import";
