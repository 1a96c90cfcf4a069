//! The store's one error type.

/// What a storage operation can fail with. `Conflict` and `NotFound` are expected outcomes the API maps to
/// 409 and 404; `Db` is an unexpected database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `field` names the JSON field it guards.
    #[error("{field} is already taken")]
    Conflict { field: String, message: String },
    /// A rule that needs the database's view (a reference to a missing row, a row still in use).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The record is still used by others (a product with licenses, a customer with orders).
    #[error("{0}")]
    InUse(String),
    /// The request conflicts with the record's state (refunding a refunded license).
    #[error("{0}")]
    State(String),
    /// A client request refused for a named reason (the client API's codes).
    #[error("{}", .0.detail())]
    Refused(licensd_core::client::Refusal),
    /// A domain rule refused the value.
    #[error(transparent)]
    Domain(#[from] licensd_core::Error),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("stored data is not what licensd wrote: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
}

impl StoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid { field: field.into(), message: message.into() }
    }
}

/// Unique-constraint violations become `Conflict`s naming the field; the index names in the migrations
/// (`ux_<table>_<field>`) and SQLite's `table.column` messages both carry the column.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
                let field = ["short_code", "license_key", "email", "store_id", "hardware_id", "label", "code", "name"]
                    .into_iter()
                    .find(|f| text.contains(f))
                    .unwrap_or("id");
                return StoreError::Conflict {
                    field: field.to_string(),
                    message: format!("this {field} is already taken"),
                };
            }
            if db.is_foreign_key_violation() {
                return StoreError::Invalid {
                    field: "id".into(),
                    message: "the record is still referenced by others, or refers to one that does not exist".into(),
                };
            }
        }
        StoreError::Db(e)
    }
}
