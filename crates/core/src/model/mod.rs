//! The records licensd keeps, in the shape the management API shows them (field names from seed 002),
//! and the bodies it accepts to create or change them.
//!
//! Inputs reject unknown fields: a misspelt field silently ignored is a license sold with the wrong terms.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::keys::KeyFormat;
use crate::status::LicenseStatus;
use crate::time::{Day, Timestamp};
use crate::{Error, Result};

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn one() -> Option<i64> {
    Some(1)
}

fn default_ttl_days() -> i64 {
    30
}

fn default_floating_timeout() -> i64 {
    30
}

fn default_key_groups() -> i64 {
    4
}

fn default_key_group_size() -> i64 {
    5
}

/// Deserializes a field where `null` means something (e.g. unlimited) and absence means "unchanged".
pub fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn check_metadata(v: &Value) -> Result<()> {
    if v.is_object() { Ok(()) } else { Err(Error::invalid("metadata", "must be a JSON object")) }
}

fn check_text(field: &str, v: &str, max: usize, required: bool) -> Result<()> {
    if required && v.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_range(field: &str, v: i64, min: i64, max: i64) -> Result<()> {
    if v < min || v > max {
        return Err(Error::invalid(field, format!("must be between {min} and {max}")));
    }
    Ok(())
}

/// A short code: what applications send as `product`, so it stays URL- and shell-safe.
fn check_code(field: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 64 {
        return Err(Error::invalid(field, "must be 1 to 64 characters"));
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(Error::invalid(field, "may hold only ASCII letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

/// Trims and checks an email, keeping its case as given (the store matches emails case-insensitively through
/// its lower-cased `email_norm`); `None` for an empty one.
pub fn normalize_email(field: &str, email: &str) -> Result<Option<String>> {
    let e = email.trim();
    if e.is_empty() {
        return Ok(None);
    }
    let (local, domain) = e.rsplit_once('@').ok_or_else(|| Error::invalid(field, "is not an email address"))?;
    if local.is_empty() || domain.is_empty() || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(field, "is not an email address"));
    }
    Ok(Some(e.to_string()))
}

const TEN_YEARS_DAYS: i64 = 3653 * 10;

fn prefix_error(prefix: &str, e: Error) -> Error {
    match e {
        Error::Invalid { field, message } => Error::Invalid { field: format!("{prefix}{field}"), message },
    }
}

mod account;
mod credential;
mod customer;
mod device;
mod license;
mod product;
mod signing_key;
mod template;
mod terms;

pub use account::*;
pub use credential::*;
pub use customer::*;
pub use device::*;
pub use license::*;
pub use product::*;
pub use signing_key::*;
pub use template::*;
pub use terms::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_colours_are_hex_or_empty() {
        for ok in ["", "#fff", "#FFF", "#0a1B2c"] {
            assert!(check_color("c", ok).is_ok(), "{ok}");
        }
        for bad in ["fff", "#ff", "#ffff", "#fffffff", "#ggg", "red", "#ff0000;x", "#ff0000-set-by-A", "# fff"] {
            assert!(check_color("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<ProductInput>(r#"{"product_name":"A","short_code":"a","colour":1}"#);
        assert!(e.unwrap_err().to_string().contains("unknown field `colour`"));
    }

    #[test]
    fn null_and_absent_differ_for_nullable_fields() {
        let a: LicenseInput = serde_json::from_str(r#"{"max_activations":null}"#).unwrap();
        assert_eq!(a.max_activations, Some(None));
        let b: LicenseInput = serde_json::from_str("{}").unwrap();
        assert_eq!(b.max_activations, None);
    }

    #[test]
    fn template_terms_and_overrides_resolve() {
        let now = 1_000_000;
        let mut t = LicenseTerms::from_template(None, now);
        let i: LicenseInput =
            serde_json::from_str(r#"{"max_activations":null,"validity_period":"1970-01-02","note":"x"}"#).unwrap();
        t.apply(&i, None).unwrap();
        assert_eq!(t.max_activations, None);
        assert_eq!(t.expires_at, Some(crate::time::DAY_MS));
        assert_eq!(t.note.as_deref(), Some("x"));
        let bad: LicenseInput = serde_json::from_str(r#"{"is_floating_cloud":true}"#).unwrap();
        assert!(t.apply(&bad, None).is_err());
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(normalize_email("email", " a@b.c ").unwrap().as_deref(), Some("a@b.c"));
        assert_eq!(normalize_email("email", "").unwrap(), None);
        assert!(normalize_email("email", "nope").is_err());
        assert!(normalize_email("email", "a b@c").is_err());
    }
}
