//! licensd storage: SQLite and PostgreSQL behind one code path ([`db`]), schema migrations
//! ([`migrate`]), the filter language compiled to parameterised SQL ([`list`]), and one module per
//! resource. Every write is one transaction that also records its [`events`] entry.

pub mod accounts;
pub mod client;
pub mod customers;
pub mod db;
pub mod devices;
pub mod devmate;
pub mod error;
pub mod events;
pub mod keys;
pub mod license_users;
pub mod licenses;
pub mod list;
pub mod migrate;
pub mod orders;
pub mod products;
pub mod scope;
pub mod seed;
pub mod templates;
pub mod tokens;
pub mod writer;

pub use db::Db;
pub use error::StoreError;
pub use list::{ListParams, ParamError};
pub use scope::Scope;
