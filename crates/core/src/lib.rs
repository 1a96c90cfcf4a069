//! The licensd domain: the records it keeps, the keys and tokens it mints, and the rules that decide a
//! license's status. Nothing here does I/O; the store persists these types and the server speaks them.

#[macro_use]
pub mod wire;

pub mod access;
pub mod client_api;
pub mod credentials;
pub mod devmate;
pub mod error;
pub mod js_json;
pub mod keys;
pub mod model;
pub mod rsa;
pub mod signing;
pub mod status;
pub mod time;
pub mod token;

pub use error::{Error, Result};
