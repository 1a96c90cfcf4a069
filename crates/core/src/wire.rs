//! Enums whose values travel as text: in JSON, in database columns and on the command line. Each value's
//! text is written once, in a [`string_enum!`] row, which gives the serde name, `as_str`, `parse`, `ALL` and
//! `NAMES` alike, so the three cannot drift apart.

/// An enum whose every value has one text name (what JSON, the database and the command line carry).
pub trait StringEnum: Copy + 'static {
    /// The value's text.
    fn as_str(self) -> &'static str;
    /// The value named `s`; `None` for any other text.
    fn parse(s: &str) -> Option<Self>;
}

/// Declares an enum of values with text names: `Variant => "text"` (optionally `Variant = 1 => "text"` for a
/// discriminant), attributes and doc comments as usual. The caller derives `Serialize` (and `Deserialize`
/// where the enum is read from JSON); each variant gets `#[serde(rename = "text")]`, and the enum inherent
/// `as_str`, `parse`, `ALL` (every value, in order) and `NAMES` (every text, in order) and [`StringEnum`].
///
/// The text is matched as a `tt`, not a `literal`: utoipa's derive does not read a `literal` fragment in
/// `#[serde(rename = …)]` (the schema would list the variants' Rust names), while serde reads both.
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $(= $disc:literal)? => $wire:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant $(= $disc)?, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($wire),+].len()] = [$($name::$variant),+];
            /// Every value's text, in declaration order.
            pub const NAMES: [&'static str; [$($wire),+].len()] = [$($wire),+];

            /// The text of the value (its JSON, database and command-line form).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The value whose text is `s`; `None` for any other text.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::wire::StringEnum for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn parse(s: &str) -> Option<Self> {
                $name::parse(s)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::StringEnum;
    use crate::model::{AuthorizationMethod, ConsumptionPeriod, FeatureType, LicenseType, Role, SigningAlgorithm};
    use crate::status::LicenseStatus;

    /// JSON, `as_str` and `parse` agree on every value, and other text is no value.
    fn agree<T: StringEnum + serde::Serialize + PartialEq + std::fmt::Debug>(all: &[T], names: &[&str]) {
        assert_eq!(all.iter().map(|v| v.as_str()).collect::<Vec<_>>(), names);
        for &v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
            assert_eq!(T::parse(v.as_str()), Some(v));
            assert_eq!(T::parse(&v.as_str().to_uppercase()), None);
        }
        assert_eq!(T::parse(""), None);
    }

    #[test]
    fn json_text_and_parse_agree() {
        agree(&AuthorizationMethod::ALL, &AuthorizationMethod::NAMES);
        agree(&FeatureType::ALL, &FeatureType::NAMES);
        agree(&ConsumptionPeriod::ALL, &ConsumptionPeriod::NAMES);
        agree(&LicenseType::ALL, &LicenseType::NAMES);
        agree(&Role::ALL, &Role::NAMES);
        agree(&LicenseStatus::ALL, &LicenseStatus::NAMES);
        agree(&SigningAlgorithm::ALL, &SigningAlgorithm::NAMES);
        assert_eq!(SigningAlgorithm::NAMES, ["ed25519", "rsa"]);
        assert_eq!(LicenseType::NAMES, ["perpetual", "time-limited", "subscription", "consumption"]);
        assert_eq!(Role::NAMES, ["admin", "manager", "support", "read-only"]);
        let t: LicenseType = serde_json::from_str("\"time-limited\"").unwrap();
        assert_eq!(t, LicenseType::TimeLimited);
        assert!(serde_json::from_str::<Role>("\"Admin\"").is_err());
    }
}
