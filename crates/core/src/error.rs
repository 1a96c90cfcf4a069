//! The one error type of the domain crate.

/// What a domain rule refused, always naming the field at fault so the API can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value is present but not acceptable (`field` is the JSON name the user sent).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
