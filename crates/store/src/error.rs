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
    /// The token may not make this change (a manager recolouring a label every product shares); `field`
    /// names the JSON field.
    #[error("{field}: {message}")]
    Forbidden { field: String, message: String },
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
    /// The database server cannot be reached (or refused the connection), in words for an operator.
    #[error("{0}")]
    Unreachable(String),
    /// A SQLite file that does not exist, opened by a command that must not create it.
    #[error("no database at {0}")]
    NoDatabase(String),
    #[error("stored data is not what licensd wrote: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// SQLite's commit of a group of write transactions failed: none of the group's writes were kept.
    #[error("the commit failed: {0}")]
    Commit(String),
    /// A failure on SQLite's synchronous connections (the writer, and point reads).
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl StoreError {
    /// SQLite stayed locked past the wait (another process holding it): worth a retry later.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Sqlite(e) if matches!(e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)))
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid { field: field.into(), message: message.into() }
    }
}

/// Unique-constraint violations become `Conflict`s naming the field; the index names in the migrations
/// (`ux_<table>_<field>`) and SQLite's `table.column` messages both carry the column.
fn conflict(text: &str) -> StoreError {
    let field = ["short_code", "license_key", "email", "store_id", "hardware_id", "label", "code", "name"]
        .into_iter()
        .find(|f| text.contains(f))
        .unwrap_or("id");
    StoreError::Conflict { field: field.to_string(), message: format!("this {field} is already taken") }
}

fn dangling() -> StoreError {
    StoreError::Invalid {
        field: "id".into(),
        message: "the record is still referenced by others, or refers to one that does not exist".into(),
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return conflict(&format!("{} {}", db.constraint().unwrap_or_default(), db.message()));
            }
            if db.is_foreign_key_violation() {
                return dangling();
            }
        }
        StoreError::Db(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, message) = &e {
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return conflict(message.as_deref().unwrap_or_default());
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return dangling(),
                _ => {}
            }
        }
        StoreError::Sqlite(e)
    }
}
