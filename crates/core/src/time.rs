//! Time as licensd keeps it: UTC milliseconds since the UNIX epoch (`i64`), which sorts and compares the
//! same on every database, and the ISO-8601 / date forms the APIs show.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, macros::format_description};

/// Milliseconds since the UNIX epoch, UTC.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub const DAY_MS: i64 = 86_400_000;

fn to_datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2020-07-03T13:08:40Z`: whole seconds, as the LicenseSpring API shows them.
pub fn format_iso(ms: i64) -> String {
    let dt = to_datetime(ms).replace_nanosecond(0).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    dt.format(&Rfc3339).unwrap_or_default()
}

/// `2020-09-30`: the date part, for day-granular fields such as `validity_period`.
pub fn format_date(ms: i64) -> String {
    to_datetime(ms).date().to_string()
}

/// Parses `2020-09-30` (start of that UTC day) or an RFC 3339 timestamp (`2020-09-30T12:00:00Z`,
/// with any offset, or with none meaning UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let plain = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(dt) = PrimitiveDateTime::parse(s, &plain) {
        return Some(dt.assume_offset(UtcOffset::UTC).unix_timestamp() * 1000);
    }
    parse_date(s)
}

/// Parses `YYYY-MM-DD` to the first millisecond of that UTC day.
pub fn parse_date(s: &str) -> Option<i64> {
    let d = Date::parse(s, format_description!("[year]-[month]-[day]")).ok()?;
    Some(PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_offset(UtcOffset::UTC).unix_timestamp() * 1000)
}

/// A point in time that serializes as ISO-8601 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_iso(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_datetime(&s)
            .map(Timestamp)
            .ok_or_else(|| serde::de::Error::custom("expected a date (YYYY-MM-DD) or an RFC 3339 timestamp"))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::DateTime)))
            .into()
    }
}
impl utoipa::ToSchema for Timestamp {}

/// A day-granular point in time (expiry, maintenance end) that serializes as `YYYY-MM-DD`; it
/// accepts a full timestamp on input too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_date(self.0))
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Timestamp::deserialize(d).map(|t| Day(t.0))
    }
}

impl utoipa::PartialSchema for Day {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date)))
            .into()
    }
}
impl utoipa::ToSchema for Day {}

/// A length of time as LicenseSpring writes it (`valid_duration`, `maintenance_duration`): a count and a unit,
/// `35d` (days), `4m` (calendar months) or `2y` (calendar years). A month after 31 January is the last day of
/// February, as a calendar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarDuration {
    pub count: i64,
    pub unit: DurationUnit,
}

/// The unit of a [`CalendarDuration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Days,
    Months,
    Years,
}

impl DurationUnit {
    fn letter(self) -> char {
        match self {
            DurationUnit::Days => 'd',
            DurationUnit::Months => 'm',
            DurationUnit::Years => 'y',
        }
    }

    /// The largest count accepted: a hundred years in this unit.
    fn max(self) -> i64 {
        match self {
            DurationUnit::Days => 36_525,
            DurationUnit::Months => 1_200,
            DurationUnit::Years => 100,
        }
    }
}

impl CalendarDuration {
    /// What the text says the forms are, for messages.
    pub const FORMS: &'static str =
        "a whole number and a unit: d (days), m (months) or y (years), e.g. \"30d\", \"3m\", \"1y\"";

    /// Parses `35d`, `4m`, `2y` (1 to a hundred years' worth; surrounding whitespace and an upper-case unit are
    /// accepted).
    pub fn parse(s: &str) -> Option<CalendarDuration> {
        let s = s.trim();
        let unit = match s.chars().last()?.to_ascii_lowercase() {
            'd' => DurationUnit::Days,
            'm' => DurationUnit::Months,
            'y' => DurationUnit::Years,
            _ => return None,
        };
        let digits = &s[..s.len() - 1];
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let count: i64 = digits.parse().ok()?;
        (1..=unit.max()).contains(&count).then_some(CalendarDuration { count, unit })
    }

    /// The time this long after `ms` (UTC; the time of day is kept).
    pub fn after(self, ms: i64) -> i64 {
        let months = match self.unit {
            DurationUnit::Days => return ms.saturating_add(self.count * DAY_MS),
            DurationUnit::Months => self.count,
            DurationUnit::Years => self.count * 12,
        };
        let dt = to_datetime(ms);
        let total = i64::from(dt.year()) * 12 + i64::from(u8::from(dt.month())) - 1 + months;
        let (Ok(year), Ok(month)) = (i32::try_from(total.div_euclid(12)), u8::try_from(total.rem_euclid(12) + 1))
        else {
            return ms;
        };
        let Ok(month) = time::Month::try_from(month) else { return ms };
        let day = dt.day().min(time::util::days_in_month(month, year));
        match Date::from_calendar_date(year, month, day) {
            Ok(d) => {
                let moved = dt.replace_date(d);
                i64::try_from(moved.unix_timestamp_nanos() / 1_000_000).unwrap_or(ms)
            }
            Err(_) => ms,
        }
    }
}

impl std::fmt::Display for CalendarDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.count, self.unit.letter())
    }
}

impl Serialize for CalendarDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CalendarDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CalendarDuration::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("expected a duration: {}", CalendarDuration::FORMS)))
    }
}

impl utoipa::PartialSchema for CalendarDuration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[1-9][0-9]{0,5}[dmy]$"))
            .description(Some(
                "A duration: a whole number and a unit, d (days), m (months) or y (years), e.g. `30d`, `3m`, `1y`",
            ))
            .examples(["3m"])
            .into()
    }
}
impl utoipa::ToSchema for CalendarDuration {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let ms = parse_datetime("2020-07-03T13:08:40Z").unwrap();
        assert_eq!(format_iso(ms), "2020-07-03T13:08:40Z");
        assert_eq!(format_date(ms), "2020-07-03");
        assert_eq!(parse_date("2020-07-03").unwrap(), ms - (13 * 3600 + 8 * 60 + 40) * 1000);
        assert_eq!(parse_datetime("2020-07-03T15:08:40+02:00"), Some(ms));
        assert_eq!(parse_datetime("2020-07-03T13:08:40"), Some(ms));
        assert_eq!(parse_datetime("2020-13-03"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn calendar_durations_parse_and_count_as_a_calendar_does() {
        let d = |s: &str| CalendarDuration::parse(s);
        assert_eq!(d("35d"), Some(CalendarDuration { count: 35, unit: DurationUnit::Days }));
        assert_eq!(d(" 4M "), Some(CalendarDuration { count: 4, unit: DurationUnit::Months }));
        assert_eq!(d("2y").map(|x| x.to_string()).as_deref(), Some("2y"));
        for bad in ["", "d", "0d", "-3d", "3", "3w", "1.5y", "101y", "1201m", "36526d", "9999999d", "3 d", "+3d"] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
        let at = |s: &str| parse_datetime(s).unwrap();
        let iso = |ms: i64| format_iso(ms);
        // Seed 002: activated 2020-10-10, maintenance "3m" → maintenance_period 2021-01-10.
        assert_eq!(format_date(d("3m").unwrap().after(at("2020-10-10T14:42:16Z"))), "2021-01-10");
        assert_eq!(iso(d("1m").unwrap().after(at("2021-01-31T10:00:00Z"))), "2021-02-28T10:00:00Z");
        assert_eq!(iso(d("1y").unwrap().after(at("2024-02-29T00:00:00Z"))), "2025-02-28T00:00:00Z");
        assert_eq!(iso(d("35d").unwrap().after(at("2020-01-01T00:00:00Z"))), "2020-02-05T00:00:00Z");
        assert_eq!(iso(d("100y").unwrap().after(at("2020-01-01T00:00:00Z"))), "2120-01-01T00:00:00Z");
        let back: CalendarDuration = serde_json::from_str("\"12m\"").unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), "\"12m\"");
        assert!(serde_json::from_str::<CalendarDuration>("\"soon\"").is_err());
    }
}
