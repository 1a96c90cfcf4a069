//! A license's terms as the `licenses` table stores them. One list of columns drives the INSERT and UPDATE of
//! the terms, their binds and their reading back; the list is core's [`licensd_core::for_each_license_term!`],
//! which also makes `LicenseTerms`, so the columns are its fields and the store names no term itself.
//! [`Column`] binds and reads a term by its type, for the template row's terms too (`store::templates`).

use licensd_core::model::{ConsumptionPeriod, LicenseTerms, LicenseType};
use licensd_core::time::CalendarDuration;
use serde_json::Value;

use crate::db::{Query, Row};
use crate::enums::GetEnum as _;
use crate::error::StoreError;

/// How one term's value is bound and read.
pub(crate) trait Column: Sized {
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

impl Column for Option<ConsumptionPeriod> {
    fn bind(&self, q: Query) -> Query {
        q.bind(self.map(|p| p.as_str()))
    }
    fn read(r: &Row, col: &str) -> Result<Self, StoreError> {
        r.get_enum_opt(col)
    }
}

/// LicenseSpring's form (`3m`) as text; text of another form is a corrupt row.
impl Column for Option<CalendarDuration> {
    fn bind(&self, q: Query) -> Query {
        q.bind(self.map(|d| d.to_string()))
    }
    fn read(r: &Row, col: &str) -> Result<Self, StoreError> {
        r.get::<Option<String>>(col)?
            .map(|s| {
                CalendarDuration::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("{col}: not a duration: {s:?}")))
            })
            .transpose()
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
    ($( $(#[$doc:meta])* $kind:ident $(($wire:ident))? $f:ident : $t:ty = $default:expr ),* $(,)?) => {
        /// The terms' columns, in the order [`bind`] binds them.
        pub(crate) const COLUMNS: &[&str] = &[$(stringify!($f)),*];

        /// Binds every term, in the order of [`COLUMNS`].
        pub(crate) fn bind(q: Query, t: &LicenseTerms) -> Query {
            $( let q = Column::bind(&t.$f, q); )*
            q
        }

        /// The terms of a row that selected [`COLUMNS`] (under those names).
        pub(crate) fn read(r: &Row) -> Result<LicenseTerms, StoreError> {
            Ok(LicenseTerms { $( $f: Column::read(r, stringify!($f))?, )* })
        }
    };
}
licensd_core::for_each_license_term!(terms);

/// `a, b, c` of the terms' columns, each prefixed with `alias.` when one is given.
pub(crate) fn select_list(alias: &str) -> String {
    select_list_of(COLUMNS, alias)
}

/// `a = ?, b = ?, …` of the terms' columns, for an UPDATE.
pub(crate) fn assignments() -> String {
    assignments_of(COLUMNS)
}

/// `a, b, c` of `columns`, each prefixed with `alias.` when one is given.
pub(crate) fn select_list_of(columns: &[&str], alias: &str) -> String {
    columns
        .iter()
        .map(|c| if alias.is_empty() { c.to_string() } else { format!("{alias}.{c}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a = ?, b = ?, …` of `columns`, for an UPDATE.
pub(crate) fn assignments_of(columns: &[&str]) -> String {
    columns.iter().map(|c| format!("{c} = ?")).collect::<Vec<_>>().join(", ")
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
