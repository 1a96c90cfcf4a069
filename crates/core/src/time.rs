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
}
