//! Reading the text-valued enums (`licensd_core::wire::StringEnum`) from rows. A value licensd never writes
//! is a corrupt row, reported naming the column and the value: never a default, which would serve a
//! license with other terms than the ones stored.

use licensd_core::wire::StringEnum;

use crate::db::Row;
use crate::error::StoreError;

/// The `T` that `text`, read from column `col`, names.
pub fn parse<T: StringEnum>(col: &str, text: &str) -> Result<T, StoreError> {
    T::parse(text).ok_or_else(|| StoreError::Corrupt(format!("{col}: unknown value {text:?}")))
}

/// [`Row`]'s readers of enum columns.
pub trait GetEnum {
    /// Reads column `col` as a `T`.
    fn get_enum<T: StringEnum>(&self, col: &str) -> Result<T, StoreError>;
    /// Reads nullable column `col` as a `T`; `None` for NULL.
    fn get_enum_opt<T: StringEnum>(&self, col: &str) -> Result<Option<T>, StoreError>;
}

impl GetEnum for Row {
    fn get_enum<T: StringEnum>(&self, col: &str) -> Result<T, StoreError> {
        parse(col, &self.get::<String>(col)?)
    }

    fn get_enum_opt<T: StringEnum>(&self, col: &str) -> Result<Option<T>, StoreError> {
        self.get::<Option<String>>(col)?.map(|text| parse(col, &text)).transpose()
    }
}
