//! A license's terms as the `licenses` table stores them. One list of columns drives the INSERT and UPDATE of
//! the terms, their binds and their reading back, so the store names a term once; the list's columns are
//! `LicenseTerms`' fields, and its reader builds that struct whole, so a term added to `LicenseTerms` and not
//! here does not compile.

use licensd_core::model::{LicenseTerms, LicenseType};
use serde_json::Value;

use crate::db::{Query, Row};
use crate::enums::GetEnum as _;
use crate::error::StoreError;

/// How one term's value is bound and read.
trait Column: Sized {
    fn bind(&self, q: Query) -> Query;
    fn read(r: &Row, col: &str) -> Result<Self, StoreError>;
}

macro_rules! plain_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn bind(&self, q: Query) -> Query {
                q.bind(self.clone())
            }
            fn read(r: &Row, col: &str) -> Result<Self, StoreError> {
                r.get(col)
            }
        }
    )*};
}
plain_column!(bool, i64, Option<i64>, Option<String>);

impl Column for LicenseType {
    fn bind(&self, q: Query) -> Query {
        q.bind(self.as_str())
    }
    fn read(r: &Row, col: &str) -> Result<Self, StoreError> {
        r.get_enum(col)
    }
}

/// JSON is `TEXT` on both backends.
impl Column for Value {
    fn bind(&self, q: Query) -> Query {
        q.bind(self.to_string())
    }
    fn read(r: &Row, col: &str) -> Result<Self, StoreError> {
        r.json(col)
    }
}

macro_rules! terms {
    ($($field:ident),* $(,)?) => {
        /// The terms' columns, in the order [`bind`] binds them.
        pub(crate) const COLUMNS: &[&str] = &[$(stringify!($field)),*];

        /// Binds every term, in the order of [`COLUMNS`].
        pub(crate) fn bind(q: Query, t: &LicenseTerms) -> Query {
            $( let q = Column::bind(&t.$field, q); )*
            q
        }

        /// The terms of a row that selected [`COLUMNS`] (under those names).
        pub(crate) fn read(r: &Row) -> Result<LicenseTerms, StoreError> {
            Ok(LicenseTerms { $( $field: Column::read(r, stringify!($field))?, )* })
        }
    };
}

terms!(
    enabled,
    license_type,
    max_activations,
    expires_at,
    maintenance_until,
    is_trial,
    trial_days,
    is_floating_cloud,
    floating_users,
    floating_timeout,
    max_transfers,
    prevent_vm,
    can_borrow,
    max_borrow_time,
    max_consumptions,
    allow_overages,
    max_overages,
    is_air_gapped,
    is_hardware_key_auth,
    subscription_id,
    license_file_ttl_days,
    note,
    metadata,
);

/// `a, b, c` of the terms' columns, each prefixed with `alias.` when one is given.
pub(crate) fn select_list(alias: &str) -> String {
    COLUMNS
        .iter()
        .map(|c| if alias.is_empty() { c.to_string() } else { format!("{alias}.{c}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a = ?, b = ?, …` of the terms' columns, for an UPDATE.
pub(crate) fn assignments() -> String {
    COLUMNS.iter().map(|c| format!("{c} = ?")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_follow_the_column_list() {
        let t = LicenseTerms::from_template(None, 0);
        let q = bind(crate::db::query(""), &t);
        assert_eq!(q.args.len(), COLUMNS.len());
        assert_eq!(q.args[COLUMNS.iter().position(|c| *c == "license_type").unwrap()], "perpetual".into());
        assert_eq!(q.args[COLUMNS.iter().position(|c| *c == "metadata").unwrap()], "{}".into());
        assert_eq!(assignments().matches('?').count(), COLUMNS.len());
        assert_eq!(select_list("l").split(", ").next(), Some("l.enabled"));
    }
}
