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
    Refused(licensd_core::client_api::Refusal),
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

/// A unique index and the JSON field a violation of it names (the `409`'s `source.pointer`).
#[derive(Debug)]
pub struct UniqueIndex {
    /// Its name, the same in both dialects' migrations (PostgreSQL reports it as the violated constraint).
    pub name: &'static str,
    pub table: &'static str,
    /// Its key columns, which SQLite's message names (`table.column, …`); empty for an index on an expression,
    /// which SQLite names by the index instead (`index 'ux_…'`).
    pub columns: &'static [&'static str],
    /// The field the conflict names.
    pub field: &'static str,
}

const fn unique(
    name: &'static str,
    table: &'static str,
    columns: &'static [&'static str],
    field: &'static str,
) -> UniqueIndex {
    UniqueIndex { name, table, columns, field }
}

/// Every unique index of the schema but the primary keys, with the field its violation names. A violation of
/// one not listed (a primary key: an import's explicit ids) names `id`. `tests/schema_parity.rs` checks this
/// table against both migrated schemas: each unique index is here, with its table and columns.
pub const UNIQUE_INDEXES: &[UniqueIndex] = &[
    unique("ux_products_short_code", "products", &["short_code"], "short_code"),
    unique("ux_product_features_code", "product_features", &["product_id", "code"], "code"),
    unique("ux_license_templates_code", "license_templates", &["code"], "code"),
    // A template naming a feature twice (`templates` reports that as features[n].code).
    unique("ux_license_template_features", "license_template_features", &["template_id", "feature_id"], "features"),
    // The SHA-256 of a fresh 256-bit secret: a collision is not expected to happen.
    unique("ux_api_tokens_hash", "api_tokens", &["token_hash"], "token"),
    // Partial: among tokens not revoked.
    unique("ux_api_tokens_name", "api_tokens", &["name"], "name"),
    // Labels are written through a customer's `labels` (two writers adding the same new label at once).
    unique("ux_labels_label", "labels", &["label"], "labels"),
    unique("ux_customer_labels", "customer_labels", &["customer_id", "label_id"], "labels"),
    // On the lower-cased email the store keeps.
    unique("ux_customers_email", "customers", &["email_norm"], "email"),
    unique("ux_customer_accounts_code", "customer_accounts", &["code"], "code"),
    unique("ux_orders_store_id", "orders", &["store_id"], "store_id"),
    unique("ux_licenses_license_key", "licenses", &["license_key"], "license_key"),
    // A license's features come from its template, which names each once.
    unique("ux_license_features", "license_features", &["license_id", "feature_id"], "features"),
    unique("ux_license_users_email", "license_users", &["email_norm"], "email"),
    // A license assigned twice to the user an email names.
    unique("ux_license_license_users", "license_license_users", &["license_id", "license_user_id"], "email"),
    // Partial: among the license's active devices.
    unique("ux_devices_active_hardware_id", "devices", &["license_id", "hardware_id"], "hardware_id"),
    unique("ux_trials_product_hardware_id", "trials", &["product_id", "hardware_id"], "hardware_id"),
    unique("ux_signing_keys_key_id", "signing_keys", &["key_id"], "key_id"),
    // Partial: one row with `active` per algorithm (migration 22).
    unique("ux_signing_keys_one_active_per_algorithm", "signing_keys", &["algorithm"], "active"),
    // On the lower-cased email, as customers'.
    unique("ux_dashboard_users_email", "dashboard_users", &["email_norm"], "email"),
    // One person a backing token.
    unique("ux_dashboard_users_token", "dashboard_users", &["token_id"], "token"),
    // A fresh random UUID each: a collision is not expected to happen.
    unique("ux_api_keys_api_key", "api_keys", &["api_key"], "api_key"),
    // Partial: among keys not revoked.
    unique("ux_api_keys_name", "api_keys", &["name"], "name"),
    unique("ux_oauth_clients_client_id", "oauth_clients", &["client_id"], "client_id"),
    // Written through a product's `custom_fields`, which refuses a name given twice.
    unique("ux_product_custom_fields_name", "product_custom_fields", &["product_id", "name"], "custom_fields"),
    // Partial: among clients not revoked.
    unique("ux_oauth_clients_name", "oauth_clients", &["name"], "name"),
    // The SHA-256 of a fresh 256-bit token.
    unique("ux_oauth_tokens_hash", "oauth_tokens", &["token_hash"], "access_token"),
    // A device's variable by name (an upsert: a name given again replaces the value).
    unique("ux_device_variables_name", "device_variables", &["device_id", "name"], "variables"),
    // A version once per product, environment and channel.
    unique("ux_product_versions", "product_versions", &["product_id", "environment", "channel", "version"], "version"),
    // The SHA-256 of a fresh 256-bit secret.
    unique("ux_dashboard_sessions_hash", "dashboard_sessions", &["session_hash"], "session"),
    // The SHA-256 of a fresh 256-bit secret.
    unique("ux_dashboard_invitations_hash", "dashboard_invitations", &["secret_hash"], "invitation"),
];

/// The unique index a violation names: PostgreSQL reports the constraint; SQLite only a message,
/// `UNIQUE constraint failed: products.short_code` (the columns) or `…: index 'ux_…'` (an expression index).
pub fn violated_index(constraint: Option<&str>, message: &str) -> Option<&'static UniqueIndex> {
    let by_name = |name: &str| UNIQUE_INDEXES.iter().find(|u| u.name == name);
    if let Some(name) = constraint {
        return by_name(name);
    }
    let what = message.strip_prefix("UNIQUE constraint failed: ")?;
    if let Some(name) = what.strip_prefix("index '").and_then(|n| n.strip_suffix('\'')) {
        return by_name(name);
    }
    let columns: Vec<(&str, &str)> = what.split(", ").map(|c| c.split_once('.')).collect::<Option<_>>()?;
    let table = columns.first()?.0;
    UNIQUE_INDEXES.iter().find(|u| {
        u.table == table
            && u.columns.len() == columns.len()
            && u.columns.iter().zip(&columns).all(|(want, (t, c))| *t == table && want == c)
    })
}

/// A unique violation becomes a `Conflict` naming the field of the index it hit ([`UNIQUE_INDEXES`]); `id`
/// when the index is not listed (a primary key).
fn conflict(constraint: Option<&str>, message: &str) -> StoreError {
    let field = violated_index(constraint, message).map_or("id", |u| u.field);
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
                return conflict(db.constraint(), db.message());
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
                    return conflict(None, message.as_deref().unwrap_or_default());
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return dangling(),
                _ => {}
            }
        }
        StoreError::Sqlite(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(constraint: Option<&str>, message: &str) -> String {
        match conflict(constraint, message) {
            StoreError::Conflict { field, .. } => field,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn violations_name_the_field_of_their_index() {
        // PostgreSQL names the constraint; its message is not read.
        let pg = "duplicate key value violates unique constraint";
        assert_eq!(field(Some("ux_products_short_code"), pg), "short_code");
        assert_eq!(field(Some("ux_license_license_users"), pg), "email");
        assert_eq!(field(Some("ux_customer_labels"), pg), "labels");
        // SQLite names the columns, or the index when a key is an expression.
        assert_eq!(field(None, "UNIQUE constraint failed: customers.email_norm"), "email");
        assert_eq!(field(None, "UNIQUE constraint failed: product_features.product_id, product_features.code"), "code");
        assert_eq!(field(None, "UNIQUE constraint failed: api_tokens.name"), "name");
        assert_eq!(field(None, "UNIQUE constraint failed: index 'ux_licenses_license_key'"), "license_key");
        // The same columns in another order, or of another table, are another index.
        assert_eq!(field(None, "UNIQUE constraint failed: product_features.code, product_features.product_id"), "id");
        assert_eq!(field(None, "UNIQUE constraint failed: customer_accounts.email_norm"), "id");
    }

    #[test]
    fn unknown_constraints_are_still_conflicts_on_id() {
        assert_eq!(field(Some("products_pkey"), "duplicate key value violates unique constraint"), "id");
        assert_eq!(field(Some("ux_not_in_the_table"), "duplicate key value violates unique constraint"), "id");
        assert_eq!(field(None, "UNIQUE constraint failed: products.id"), "id");
        assert_eq!(field(None, "UNIQUE constraint failed: index 'ux_unknown'"), "id");
        assert_eq!(field(None, "something else entirely"), "id");
        assert_eq!(field(None, ""), "id");
    }

    #[test]
    fn index_names_and_columns_are_unique_in_the_table() {
        for (i, a) in UNIQUE_INDEXES.iter().enumerate() {
            for b in &UNIQUE_INDEXES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(a.table != b.table || a.columns != b.columns || a.columns.is_empty(), "{a:?} ~ {b:?}");
            }
        }
    }
}
