//! licensd storage: SQLite and PostgreSQL behind one code path ([`db`]), schema migrations
//! ([`migrate`]), the filter language compiled to parameterised SQL ([`list`]), and one module per
//! resource. Every write is one transaction that also records its [`events`] entry.

/// A device's (`d`) last check time. `last_check` lives in a table of its own (migration 9), written at
/// the rate of checks; these are the expressions every read of it uses. Macros, so `concat!` can build
/// the column lists from them.
macro_rules! device_last_check {
    () => {
        "(SELECT dc.last_check FROM device_checks dc WHERE dc.device_id = d.id)"
    };
}

/// A license's (`l`) last check time; see [`device_last_check`].
macro_rules! license_last_check {
    () => {
        "(SELECT lc.last_check FROM license_checks lc WHERE lc.license_id = l.id)"
    };
}

pub mod accounts;
pub mod api_keys;
pub mod client_api;
pub mod credentials;
pub mod customers;
pub mod db;
pub mod devices;
pub mod devmate;
pub mod enums;
pub mod error;
pub mod events;
pub mod keys;
pub mod license_users;
pub mod licenses;
pub mod list;
pub mod migrate;
pub mod oauth;
pub mod orders;
pub mod products;
pub mod scope;
pub mod seed;
pub mod sql;
pub mod stats;
pub mod templates;
mod terms;
pub mod tokens;
pub mod users;
pub mod versions;
pub mod writer;

pub use db::Db;
pub use error::StoreError;
pub use list::{ListParams, ParamError};
pub use scope::Scope;
