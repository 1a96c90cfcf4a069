//! License terms: what a template plus overrides resolve to, and the one list of them that everything holding a
//! term is generated from or checked against.

use super::*;

/// The one list of a license's terms: hands every term to the caller's `macro_rules!` `$m`, in the order of the
/// `licenses` table's columns (`for_each_license_term!(m)`), or only the terms a template gives its licenses
/// (`for_each_license_term!(m, inherited)`).
///
/// Each term is `kind name: Type = default,` after its doc comment, so `$m` matches
/// `$( $(#[$doc:meta])* $kind:ident $(($wire:ident))? $f:ident : $t:ty = $default:expr ),* $(,)?`.
/// The kinds:
/// - `inherited`: a template has the term under the same name and type and gives it to every license issued
///   from it;
/// - `own`: the license's alone; it starts at the default;
/// - `dated(wire)`: a time (ms), which a template gives as a number of days (by hand, in
///   [`LicenseTerms::from_template`]) and the API shows and takes as a [`Day`](crate::time::Day) named `wire`.
///
/// The default is the term of a license issued without a template; for an `inherited` term it is also the
/// template's default (a test holds `LicenseTemplateInput`'s serde defaults to it). A `LicenseInput` field of
/// the term's name (`wire` for a dated one) overrides it, `Option<Type>`.
///
/// Generated from the list: [`LicenseTerms`], its default, inheritance, overrides and [`LicenseTerms::of`]
/// (in `model::terms`); `LicenseTemplateInput::from(&LicenseTemplate)` (`model::template`); the store's
/// terms columns of `licenses` with their binds and reader (`store::terms`), and the template row's term
/// columns (`store::templates`).
///
/// **Adding a term** is a row here and its column in both migrations (`licenses`, and `license_templates` for
/// an `inherited` one). The public representations keep their fields written out, for their doc comments and
/// schema attributes, and the generated code names the term on each of them, so until it is there the build
/// fails naming it: `LicenseInput` (`Option<Type>`), `License` and the store's `licenses::from_row`, and for an
/// `inherited` term `LicenseTemplate` and `LicenseTemplateInput` (with its serde default). Then its table row in
/// `docs/licenses.md` (a test here fails until every term has one, and until the page's list of the template's
/// terms is the `inherited` ones), its range in `LicenseInput::validate` and `LicenseTemplateInput::validate`
/// if it has one, and the tests (the template → license path in `crates/server/tests/http/licenses.rs`); if
/// applications see it, `ClientLicense` and the SDK's `License`.
#[macro_export]
macro_rules! for_each_license_term {
    ($m:ident $(, $only:ident)?) => {
        $crate::__pick_license_terms! { $m [$($only)?] []
            /// `false`: disabled (DevMate "blocked").
            own enabled: bool = true,
            inherited license_type: $crate::model::LicenseType = $crate::model::LicenseType::Perpetual,
            /// `None`: unlimited.
            inherited max_activations: Option<i64> = Some(1),
            /// `None`: never.
            dated(validity_period) expires_at: Option<i64> = None,
            dated(maintenance_period) maintenance_until: Option<i64> = None,
            inherited is_trial: bool = false,
            inherited trial_days: i64 = 0,
            inherited is_floating_cloud: bool = false,
            inherited floating_users: i64 = 0,
            /// Minutes a floating seat lease lives without a check.
            inherited floating_timeout: i64 = $crate::model::default_floating_timeout(),
            /// `0`: unlimited.
            inherited max_transfers: i64 = 0,
            inherited prevent_vm: bool = false,
            inherited can_borrow: bool = false,
            /// Hours.
            inherited max_borrow_time: i64 = 0,
            inherited max_consumptions: i64 = 0,
            inherited allow_overages: bool = false,
            inherited max_overages: i64 = 0,
            /// With `consumption_period`: `total_consumptions` starts again from 0 at each period's start.
            own reset_consumption: bool = false,
            own consumption_period: Option<$crate::model::ConsumptionPeriod> = None,
            /// The most users a user-based license may be assigned to; `0`: no limit.
            own max_license_users: i64 = 0,
            /// The validity counted from the first activation: it sets `validity_period` then.
            own valid_duration: Option<$crate::time::CalendarDuration> = None,
            /// The maintenance counted from the first activation: it sets `maintenance_period` then.
            own maintenance_duration: Option<$crate::time::CalendarDuration> = None,
            own is_air_gapped: bool = false,
            own is_hardware_key_auth: bool = false,
            own subscription_id: Option<String> = None,
            /// How long an offline license file stays valid.
            inherited license_file_ttl_days: i64 = $crate::model::default_ttl_days(),
            own note: Option<String> = None,
            /// Never the template's.
            own metadata: ::serde_json::Value = $crate::model::empty_object(),
        }
    };
}

/// [`for_each_license_term!`]'s filter: `$m [] [] terms…` hands every term to `$m`, `$m [inherited] [kept…]
/// terms…` only the `inherited` ones (one term a step).
#[doc(hidden)]
#[macro_export]
macro_rules! __pick_license_terms {
    ($m:ident [] [] $($terms:tt)*) => { $m! { $($terms)* } };
    ($m:ident [$only:ident] [$($kept:tt)*]) => { $m! { $($kept)* } };
    (
        $m:ident [inherited] [$($kept:tt)*]
        $(#[$doc:meta])* inherited $f:ident : $t:ty = $default:expr, $($rest:tt)*
    ) => {
        $crate::__pick_license_terms! {
            $m [inherited] [$($kept)* $(#[$doc])* inherited $f: $t = $default,] $($rest)*
        }
    };
    (
        $m:ident [inherited] [$($kept:tt)*]
        $(#[$doc:meta])* $kind:ident $(($wire:ident))? $f:ident : $t:ty = $default:expr, $($rest:tt)*
    ) => {
        $crate::__pick_license_terms! { $m [inherited] [$($kept)*] $($rest)* }
    };
}

/// `self.$f = i.$f` when the input gives it (a dated term from its day under the wire name).
macro_rules! override_term {
    ($s:ident, $i:ident, dated($wire:ident) $f:ident) => {
        if let Some(v) = $i.$wire {
            $s.$f = v.map(|d: Day| d.0);
        }
    };
    ($s:ident, $i:ident, $kind:ident $f:ident) => {
        if let Some(v) = $i.$f.clone() {
            $s.$f = v;
        }
    };
}

/// The term as a [`License`] shows it (a dated term as its day under the wire name).
macro_rules! shown_term {
    ($l:ident, dated($wire:ident) $f:ident) => {
        $l.$wire.map(|d: Day| d.0)
    };
    ($l:ident, $kind:ident $f:ident) => {
        $l.$f.clone()
    };
}

macro_rules! license_terms {
    ($( $(#[$doc:meta])* $kind:ident $(($wire:ident))? $f:ident : $t:ty = $default:expr ),* $(,)?) => {
        /// Every stored term of a license: what a template plus overrides resolve to (the list is
        /// [`for_each_license_term!`]).
        #[derive(Debug, Clone, PartialEq)]
        pub struct LicenseTerms {
            $( $(#[$doc])* pub $f: $t, )*
        }

        impl LicenseTerms {
            /// Every term at its default: the terms of a license issued without a template.
            fn defaults() -> Self {
                LicenseTerms { $( $f: $default, )* }
            }

            /// Sets each term the input gives.
            fn set_overrides(&mut self, i: &LicenseInput) {
                $( override_term!(self, i, $kind $(($wire))? $f); )*
            }

            /// The terms a license holds, from its representation.
            pub fn of(l: &License) -> Self {
                LicenseTerms { $( $f: shown_term!(l, $kind $(($wire))? $f), )* }
            }
        }
    };
}
crate::for_each_license_term!(license_terms);

macro_rules! inherit {
    ($( $(#[$doc:meta])* inherited $f:ident : $t:ty = $default:expr ),* $(,)?) => {
        impl LicenseTerms {
            /// Takes the terms a template gives as they are.
            fn inherit(&mut self, t: &LicenseTemplate) {
                $( self.$f = t.$f.clone(); )*
            }
        }
    };
}
crate::for_each_license_term!(inherit, inherited);

impl LicenseTerms {
    /// The terms a template gives a license issued at `now`.
    pub fn from_template(t: Option<&LicenseTemplate>, now: i64) -> Self {
        let mut terms = LicenseTerms::defaults();
        if let Some(t) = t {
            terms.inherit(t);
            let days = if t.is_trial && t.trial_days > 0 { Some(t.trial_days) } else { t.validity_period_days };
            terms.expires_at = days.map(|d| now + d * crate::time::DAY_MS);
            terms.maintenance_until = t.maintenance_duration_days.map(|d| now + d * crate::time::DAY_MS);
        }
        terms
    }

    /// Applies the overrides an input carries to the terms of a license first activated at `activated_at`
    /// (`None`: not yet), then checks the result as a whole.
    ///
    /// A duration (`valid_duration`, `maintenance_duration`) counts from the first activation: given for an
    /// activated license it sets its date from that activation, given for one not activated yet it clears the
    /// date until the activation sets it. A date given (`validity_period`, `maintenance_period`) replaces the
    /// duration. `enable_maintenance_period: false` ends the maintenance (date and duration); `true` needs one of
    /// them.
    pub fn apply(&mut self, i: &LicenseInput, activated_at: Option<i64>) -> Result<()> {
        if matches!(i.valid_duration, Some(Some(_))) && matches!(i.validity_period, Some(Some(_))) {
            return Err(Error::invalid(
                "valid_duration",
                "give valid_duration or validity_period, not both (a duration counts from the first activation)",
            ));
        }
        if matches!(i.maintenance_duration, Some(Some(_))) && matches!(i.maintenance_period, Some(Some(_))) {
            return Err(Error::invalid(
                "maintenance_duration",
                "give maintenance_duration or maintenance_period, not both (a duration counts from the first activation)",
            ));
        }
        if i.enable_maintenance_period == Some(false)
            && (matches!(i.maintenance_duration, Some(Some(_))) || matches!(i.maintenance_period, Some(Some(_))))
        {
            return Err(Error::invalid(
                "enable_maintenance_period",
                "is false, which ends the maintenance: give no maintenance_duration or maintenance_period with it",
            ));
        }
        self.set_overrides(i);
        if i.validity_period.is_some() && i.valid_duration.is_none() {
            self.valid_duration = None;
        }
        if let Some(Some(d)) = i.valid_duration {
            self.expires_at = activated_at.map(|t| d.after(t));
        }
        if i.maintenance_period.is_some() && i.maintenance_duration.is_none() {
            self.maintenance_duration = None;
        }
        if let Some(Some(d)) = i.maintenance_duration {
            self.maintenance_until = activated_at.map(|t| d.after(t));
        }
        match i.enable_maintenance_period {
            Some(false) => (self.maintenance_until, self.maintenance_duration) = (None, None),
            Some(true) if !self.maintenance_enabled() => {
                return Err(Error::invalid(
                    "enable_maintenance_period",
                    "needs a maintenance_duration (counted from the first activation) or a maintenance_period",
                ));
            }
            _ => {}
        }
        if self.is_floating_cloud && self.floating_users < 1 {
            return Err(Error::invalid("floating_users", "a floating license needs at least one seat"));
        }
        if self.license_type == LicenseType::TimeLimited && self.expires_at.is_none() && self.valid_duration.is_none() {
            return Err(Error::invalid(
                "validity_period",
                "a time-limited license needs a validity period (or a valid_duration counted from its first activation)",
            ));
        }
        if self.reset_consumption && self.consumption_period.is_none() {
            return Err(Error::invalid(
                "consumption_period",
                "reset_consumption needs a consumption_period: daily, weekly, monthly or annually",
            ));
        }
        Ok(())
    }

    /// LicenseSpring's `enable_maintenance_period`: the license has a maintenance period, or a duration that sets
    /// one at its first activation.
    pub fn maintenance_enabled(&self) -> bool {
        self.maintenance_until.is_some() || self.maintenance_duration.is_some()
    }

    /// What the first activation, at `now`, sets: the dates its durations count from it.
    pub fn first_activation(&mut self, now: i64) {
        if let Some(d) = self.valid_duration {
            self.expires_at = Some(d.after(now));
        }
        if let Some(d) = self.maintenance_duration {
            self.maintenance_until = Some(d.after(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, schema::Schema};

    use super::*;

    /// Each term's name in the API (`wire` for a dated one), and whether a template gives it.
    fn terms() -> Vec<(&'static str, bool)> {
        macro_rules! names {
            ($( $(#[$doc:meta])* $kind:ident $(($wire:ident))? $f:ident : $t:ty = $default:expr ),* $(,)?) => {
                vec![$( ([$(stringify!($wire),)? stringify!($f)][0], stringify!($kind) == "inherited") ),*]
            };
        }
        crate::for_each_license_term!(names)
    }

    /// The JSON names of a type's properties, as `/openapi.json` shows them (serde's names).
    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        match T::schema() {
            RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
            _ => panic!("{} is not an object schema", std::any::type_name::<T>()),
        }
    }

    #[test]
    fn every_term_is_a_field_of_each_representation_under_its_name() {
        let terms = terms();
        assert_eq!(terms.len(), 28);
        let inherited: Vec<&str> = terms.iter().filter(|(_, i)| *i).map(|(n, _)| *n).collect();
        assert_eq!(inherited.len(), 15);
        for (ty, props, names) in [
            ("License", properties::<License>(), terms.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
            ("LicenseInput", properties::<LicenseInput>(), terms.iter().map(|(n, _)| *n).collect()),
            ("LicenseTemplate", properties::<LicenseTemplate>(), inherited.clone()),
            ("LicenseTemplateInput", properties::<LicenseTemplateInput>(), inherited.clone()),
        ] {
            for n in names {
                assert!(props.contains(n), "{ty} has no property {n:?}: {props:?}");
            }
        }
    }

    #[test]
    fn a_template_that_sets_nothing_gives_the_terms_of_no_template() {
        let input: LicenseTemplateInput = serde_json::from_str(r#"{"product":1,"name":"a","code":"a"}"#).unwrap();
        let none = LicenseTerms::from_template(None, 0);
        macro_rules! same {
            ($( $(#[$doc:meta])* inherited $f:ident : $t:ty = $default:expr ),* $(,)?) => {
                $( assert_eq!(input.$f, none.$f, "{}: the template's serde default is not the term's", stringify!($f)); )*
            };
        }
        crate::for_each_license_term!(same, inherited);
    }

    #[test]
    fn a_template_gives_its_terms_and_the_license_keeps_its_own() {
        let now = 1_000 * crate::time::DAY_MS;
        let mut input: LicenseTemplateInput = serde_json::from_str(
            r#"{"product":1,"name":"a","code":"a","max_activations":null,"validity_period_days":10,
                "is_floating_cloud":true,"floating_users":3,"max_borrow_time":72,"license_file_ttl_days":7,
                "maintenance_duration_days":2,"metadata":{"k":1}}"#,
        )
        .unwrap();
        input.license_type = LicenseType::Subscription;
        let t = template(&input);
        let terms = LicenseTerms::from_template(Some(&t), now);
        let expected = LicenseTerms {
            license_type: LicenseType::Subscription,
            max_activations: None,
            expires_at: Some(now + 10 * crate::time::DAY_MS),
            maintenance_until: Some(now + 2 * crate::time::DAY_MS),
            is_floating_cloud: true,
            floating_users: 3,
            max_borrow_time: 72,
            license_file_ttl_days: 7,
            ..LicenseTerms::from_template(None, now)
        };
        assert_eq!(terms, expected);
        // A trial template's trial_days decide the expiry.
        let trial = template(&LicenseTemplateInput { is_trial: true, trial_days: 3, ..input.clone() });
        assert_eq!(LicenseTerms::from_template(Some(&trial), now).expires_at, Some(now + 3 * crate::time::DAY_MS));
    }

    #[test]
    fn an_input_overrides_inherited_own_and_dated_terms() {
        let mut terms = LicenseTerms::from_template(None, 0);
        let i: LicenseInput = serde_json::from_str(
            r#"{"validity_period":"1970-01-03","maintenance_period":"1970-01-02","subscription_id":"s","note":"n",
                "max_borrow_time":5,"metadata":{"a":true},"enabled":false,"max_activations":null}"#,
        )
        .unwrap();
        terms.apply(&i, None).unwrap();
        let expected = LicenseTerms {
            enabled: false,
            max_activations: None,
            expires_at: Some(2 * crate::time::DAY_MS),
            maintenance_until: Some(crate::time::DAY_MS),
            max_borrow_time: 5,
            subscription_id: Some("s".into()),
            note: Some("n".into()),
            metadata: serde_json::json!({"a": true}),
            ..LicenseTerms::from_template(None, 0)
        };
        assert_eq!(terms, expected);
        // `null` clears a dated term; absence keeps it.
        terms.apply(&serde_json::from_str(r#"{"maintenance_period":null}"#).unwrap(), None).unwrap();
        assert_eq!((terms.expires_at, terms.maintenance_until), (Some(2 * crate::time::DAY_MS), None));
    }

    /// The names in backticks of `text`.
    fn quoted(text: &str) -> Vec<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }

    #[test]
    fn docs_licenses_md_describes_every_term() {
        let doc = include_str!("../../../../docs/licenses.md");
        let described: BTreeSet<&str> =
            doc.lines().filter_map(|l| l.strip_prefix("| ")?.split(" |").next()).flat_map(quoted).collect();
        for (name, _) in terms() {
            assert!(described.contains(name), "docs/licenses.md has no table row for {name:?}");
        }
        let sentence = doc
            .split("**The template's terms.**")
            .nth(1)
            .and_then(|rest| rest.split("Two behave differently").next())
            .expect("docs/licenses.md lists the template's terms after **The template's terms.**");
        let inherited: Vec<&str> = terms().into_iter().filter(|(_, i)| *i).map(|(n, _)| n).collect();
        assert_eq!(quoted(sentence), inherited, "docs/licenses.md's list of the template's terms");
    }

    /// The template an input makes (the store's row, without features).
    fn template(i: &LicenseTemplateInput) -> LicenseTemplate {
        macro_rules! template {
            ($( $(#[$doc:meta])* inherited $f:ident : $t:ty = $default:expr ),* $(,)?) => {
                LicenseTemplate {
                    $( $f: i.$f.clone(), )*
                    id: 1,
                    product: i.product,
                    name: i.name.clone(),
                    code: i.code.clone(),
                    key_prefix: i.key_prefix.clone(),
                    key_groups: i.key_groups,
                    key_group_size: i.key_group_size,
                    validity_period_days: i.validity_period_days,
                    maintenance_duration_days: i.maintenance_duration_days,
                    features: Vec::new(),
                    metadata: i.metadata.clone(),
                    created_at: crate::time::Timestamp(0),
                    updated_at: crate::time::Timestamp(0),
                }
            };
        }
        crate::for_each_license_term!(template, inherited)
    }
}
