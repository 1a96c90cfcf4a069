//! The licensd SDK: what a vendor's application embeds to license itself against a licensd
//! server.
//!
//! - Online ([`Client`]): activate a license key on this machine, check it, deactivate it, start a
//!   trial, record consumption, fetch a license file, borrow or check out a floating seat. Every
//!   answer, refusals included, is verified before it is believed: an Ed25519 signature over the
//!   exact body by a key the application trusts, the random nonce the SDK sent, and the request the
//!   answer is bound to (its signed `status` and `request_sha256`, and the license key, product and
//!   device it names). A forged server gets [`Error::BadSignature`], a replayed answer
//!   [`Error::Replayed`], a genuine answer to another request (a relay) [`Error::Mismatched`].
//! - Grace period: [`Client::check`] answers [`CheckOutcome::Grace`] while the server is unreachable
//!   and the last valid check is recent enough ([`ClientBuilder::grace_period`]).
//! - Floating seats ([`FloatingSeat`]): a lease renewed in the background.
//! - Offline ([`LicenseFile`]): verify a signed license file with no network: signature, product,
//!   device, trial (optionally refused), expiry, and a clock set back, also behind the latest time the
//!   application has seen ([`ClockGuard`], kept in a file per vendor by default; pluggable with
//!   [`TimeStore`]). The same guard ends a grace period when the clock is set back.
//! - Air-gapped machines ([`offline_request_code`]): a request code to carry to a connected machine.
//!
//! The wire contract is `docs/client-api.md` in the licensd repository.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use licensd_client::{CheckOutcome, Client, LicenseFile, LicenseRequest};
//!
//! # async fn run() -> Result<(), licensd_client::Error> {
//! // The server's public key ships inside the application (`licensd key show` prints it).
//! const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
//!
//! let client = Client::builder("https://licenses.example.com", PUBLIC_KEY)
//!     .grace_period(Duration::from_secs(3 * 24 * 3600))
//!     .build()?;
//! let req = LicenseRequest::new("ABCD-EFGH-IJKL-MNOP", "this-machine-fingerprint", "myapp")
//!     .os(std::env::consts::OS)
//!     .app_version(env!("CARGO_PKG_VERSION"));
//!
//! // Once: activate the key on this machine and keep a license file for offline starts.
//! let activation = client.activate(&req).await?;
//! println!("activated {} ({})", activation.license.license_key, activation.license.status);
//! let file = client.license_file(&req).await?;
//! std::fs::write("license.lic", &file).ok();
//!
//! // At each start: check online, with a grace period when the server is unreachable…
//! match client.check(&req).await {
//!     Ok(CheckOutcome::Online(r)) if r.valid => println!("licensed"),
//!     Ok(CheckOutcome::Online(r)) => println!("not licensed: {} ({})", r.code, r.detail),
//!     Ok(CheckOutcome::Grace { grace_ends_at, .. }) => println!("offline, grace until {grace_ends_at:?}"),
//!     Err(e) => {
//!         // …or fall back to the license file, verified with no network.
//!         let text = std::fs::read_to_string("license.lic").unwrap_or_default();
//!         // The product too: one server signs the files of all the vendor's products.
//!         let file = LicenseFile::verify(&text, PUBLIC_KEY, &req.hardware_id, &req.product)?;
//!         println!("offline ({e}); licensed until {:?}", file.expires_at_time());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # HTTPS
//!
//! The SDK enables no TLS backend of its own (so it adds no C build step). For `https://` servers,
//! enable one of `reqwest` 0.13's TLS features in the application's `Cargo.toml` (`native-tls`;
//! `rustls-no-provider` with a rustls crypto provider installed; or `rustls`, which builds aws-lc):
//! Cargo unifies features, and the client uses it. Or build a `reqwest::Client` and hand it over with
//! [`ClientBuilder::http_client`].
//!
//! # Testing
//!
//! The unit tests run against an in-process mock of the client API and license files made with a
//! test key; the integration tests against a real licensd server live with the server.

#![warn(missing_docs)]

mod client;
mod clock;
mod error;
mod floating;
mod keys;
mod license_file;
#[cfg(test)]
mod mock;
mod request_code;
mod types;

pub use client::{CheckOutcome, Client, ClientBuilder, DEFAULT_TIMEOUT, KEY_ID_HEADER, SIGNATURE_HEADER};
pub use clock::{ClockGuard, FileTimeStore, MemoryTimeStore, TimeStore};
pub use error::Error;
pub use floating::{FloatingSeat, SeatStatus};
pub use keys::{KeySet, key_id};
pub use license_file::{CLOCK_TOLERANCE, FILE_BEGIN, FILE_END, LicenseFile, Verifier};
pub use request_code::{RequestCode, RequestKind, offline_request_code};
pub use types::{
    BorrowResult, CheckResult, ConsumptionResult, Device, Feature, License, LicenseRequest, LicenseResponse,
    PublicKeyInfo,
};
