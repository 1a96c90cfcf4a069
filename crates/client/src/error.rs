//! The SDK's one error type.

/// Everything that can go wrong in the SDK, online or offline.
///
/// The variants an application usually acts on:
///
/// - [`Error::Refused`]: the server answered, authentically, with a refusal (a bad key, no free
///   activation, a disabled license…). `code` is one of the machine codes in the client API
///   documentation (`NOT_FOUND`, `TOO_MANY_ACTIVATIONS`, `NO_SEAT`, …).
/// - [`Error::BadSignature`] / [`Error::Replayed`] / [`Error::Mismatched`]: the answer did not come
///   from the licensd server the application trusts, is an old answer played back, or is a genuine
///   answer to another request (another key, product, device or body). Treat these as hostile.
/// - [`Error::Transport`] / [`Error::Unavailable`]: the server could not be reached or could not
///   answer; see [`Error::is_unreachable`]. [`Client::check`](crate::Client::check) turns these into
///   a grace period when one is configured.
/// - [`Error::WrongProduct`], [`Error::WrongDevice`], [`Error::Trial`], [`Error::Expired`],
///   [`Error::ClockSetBack`]: an offline license file was refused (see
///   [`LicenseFile`](crate::LicenseFile)); `ClockSetBack` also ends a grace period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SDK was configured with something unusable: a base URL that does not parse, a public key
    /// that is not base64 of 32 bytes, no tokio runtime for a floating seat, …
    #[error("invalid licensd client configuration: {0}")]
    Config(String),

    /// The request did not complete: the connection was refused, timed out, was reset, …
    #[error("could not reach the license server: {0}")]
    Transport(#[source] reqwest::Error),

    /// The server (or a proxy in front of it) answered with an HTTP 5xx status that carries no
    /// licensd refusal: it is down or overloaded, and said nothing about the license.
    #[error("the license server is unavailable (HTTP {status})")]
    Unavailable {
        /// The HTTP status code.
        status: u16,
    },

    /// The response (or license file) is not signed by a trusted key: the signature is missing,
    /// does not decode, does not match the bytes, or names a key id this application does not trust.
    #[error("the signature does not verify with a trusted licensd key (forged or altered data)")]
    BadSignature,

    /// The signed response does not echo the nonce this request carried: it was recorded earlier
    /// and played back.
    #[error("the response does not answer this request (wrong nonce: replayed or forged)")]
    Replayed,

    /// The answer is authentic but about another request: its signed `status` is not the HTTP status,
    /// its `request_sha256` is not the hash of the body sent, or the license, product or device it
    /// describes is not the one asked about (a relay answering with another license's genuine answer).
    /// Treat it as hostile, like [`Error::BadSignature`]; it never opens a grace period.
    #[error("the answer is about another request: {0}")]
    Mismatched(String),

    /// The server refused the request. The refusal is authentic: its signature was verified.
    #[error("the license server refused the request: {code} (HTTP {status}): {detail}")]
    Refused {
        /// The HTTP status code (`400`, `403`, `404`, `409`, …).
        status: u16,
        /// The machine code, e.g. `TOO_MANY_ACTIVATIONS`, `NOT_FOUND`, `NO_SEAT`.
        code: String,
        /// A human-readable explanation from the server.
        detail: String,
    },

    /// Data that should have a known shape does not: a license file without its armour, a signed
    /// response body that is not the documented JSON, a request code that does not decode, …
    #[error("malformed data: {0}")]
    Malformed(String),

    /// The license file was issued for another machine (its `hardware_id` is not this one's).
    #[error("the license file was issued for another device")]
    WrongDevice,

    /// The license file is for another product of the same vendor (one server signs them all).
    #[error("the license file is for the product \"{found}\", not \"{expected}\"")]
    WrongProduct {
        /// The product the application asked for.
        expected: String,
        /// The product the file names.
        found: String,
    },

    /// The license file carries a trial license, and the application refuses trials offline
    /// ([`Verifier::refuse_trial`](crate::Verifier::refuse_trial)).
    #[error("the license file carries a trial license, which this application does not accept offline")]
    Trial,

    /// The license file is past its `expires_at`.
    #[error("the license file has expired")]
    Expired,

    /// The system clock is more than five minutes behind the time the license file was issued (or
    /// behind the last time the application saw): it was set back.
    #[error("the system clock is behind the license file's issue time (the clock was set back)")]
    ClockSetBack,

    /// The operating system's random number generator failed (needed for request nonces).
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

impl Error {
    /// `true` when the server could not be reached or could not answer: a transport failure
    /// ([`Error::Transport`]), an unsigned 5xx ([`Error::Unavailable`]), or a signed refusal with a
    /// 5xx status (the server failed internally). Such errors say nothing about the license, which
    /// is why [`Client::check`](crate::Client::check) may answer them with a grace period.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Transport(_) | Error::Unavailable { .. } => true,
            Error::Refused { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The server's machine code for a refusal ([`Error::Refused`]), else `None`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}
