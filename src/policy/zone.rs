//! The organisation's time zone: which calendar day an instant falls on (birthdays, "today") and
//! which instant a date-only input starts at.
//!
//! Ages and dates are the organisation's, not UTC's: in Britain a learner turns 18 at midnight
//! local time, an hour before midnight UTC in summer. The time-zone database is compiled into the
//! binary (jiff's bundled tzdb), so the answer never depends on what the machine has installed, and
//! the functions here stay pure: a [`Zone`] is a value like any other argument.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use jiff::tz::TimeZone;
use time::{Date, OffsetDateTime, UtcOffset};

/// The default zone of an organisation that sets none.
pub const DEFAULT_ZONE: &str = "Europe/London";

/// A named IANA time zone. `Copy`, so it can ride inside [`super::consent::Rules`]: each distinct
/// name is looked up once per process and kept for its life (a handful at most).
#[derive(Clone, Copy)]
pub struct Zone {
    name: &'static str,
    tz: &'static TimeZone,
}

impl Zone {
    /// The zone called `name` (`Europe/London`, `UTC`, `America/New_York`), or why not.
    pub fn named(name: &str) -> Result<Zone, String> {
        static ZONES: OnceLock<Mutex<BTreeMap<String, Zone>>> = OnceLock::new();
        let name = name.trim();
        let mut zones = ZONES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(zone) = zones.get(name) {
            return Ok(*zone);
        }
        let tz = TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}"))?;
        let zone = Zone { name: Box::leak(name.to_string().into_boxed_str()), tz: Box::leak(Box::new(tz)) };
        zones.insert(name.to_string(), zone);
        Ok(zone)
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The zone's offset from UTC at `at`.
    pub fn offset_at(&self, at: OffsetDateTime) -> UtcOffset {
        // Offsets change on whole seconds, so the second `at` falls in decides.
        let seconds =
            jiff::Timestamp::from_second(at.unix_timestamp()).map(|t| self.tz.to_offset(t).seconds()).unwrap_or(0);
        UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
    }

    /// The same instant as the zone's clocks show it.
    pub fn local(&self, at: OffsetDateTime) -> OffsetDateTime {
        at.to_offset(self.offset_at(at))
    }

    /// The calendar date at `at` in this zone.
    pub fn date_of(&self, at: OffsetDateTime) -> Date {
        self.local(at).date()
    }

    /// The first instant of `date` in this zone (midnight, or the end of a gap when the clocks
    /// jump over midnight), or `None` outside the representable range.
    pub fn start_of_day(&self, date: Date) -> Option<OffsetDateTime> {
        let civil = jiff::civil::Date::new(
            i16::try_from(date.year()).ok()?,
            i8::try_from(u8::from(date.month())).ok()?,
            i8::try_from(date.day()).ok()?,
        )
        .ok()?;
        let start = civil.to_zoned_datetime(self.tz.clone()).ok()?.start_of_day().ok()?;
        OffsetDateTime::from_unix_timestamp(start.timestamp().as_second()).ok()
    }
}

impl Default for Zone {
    fn default() -> Zone {
        Zone::named(DEFAULT_ZONE).expect("the bundled time-zone database has Europe/London")
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn london_dates_follow_british_summer_time() {
        let london = Zone::default();
        let table = [
            // BST (UTC+1): 23:30 UTC is already the next day.
            (datetime!(2026-06-14 23:30 UTC), date!(2026 - 06 - 15)),
            (datetime!(2026-06-14 22:59:59 UTC), date!(2026 - 06 - 14)),
            (datetime!(2026-06-14 23:00 UTC), date!(2026 - 06 - 15)),
            // GMT (UTC+0) in winter: the UTC date.
            (datetime!(2026-01-14 23:30 UTC), date!(2026 - 01 - 14)),
            (datetime!(2026-01-15 00:00 UTC), date!(2026 - 01 - 15)),
            // The clocks go forward at 01:00 UTC on 29 March 2026 and back at 01:00 UTC on 25 October.
            (datetime!(2026-03-28 23:30 UTC), date!(2026 - 03 - 28)),
            (datetime!(2026-03-29 23:30 UTC), date!(2026 - 03 - 30)),
            (datetime!(2026-10-24 23:30 UTC), date!(2026 - 10 - 25)),
            (datetime!(2026-10-25 23:30 UTC), date!(2026 - 10 - 25)),
            // An instant given with another offset is the same instant.
            (datetime!(2026-06-15 00:30 +01:00), date!(2026 - 06 - 15)),
        ];
        for (at, want) in table {
            assert_eq!(london.date_of(at), want, "{at}");
        }
        let utc = Zone::named("UTC").unwrap();
        assert_eq!(utc.date_of(datetime!(2026-06-14 23:30 UTC)), date!(2026 - 06 - 14));
        let new_york = Zone::named("America/New_York").unwrap();
        assert_eq!(new_york.date_of(datetime!(2026-06-15 03:30 UTC)), date!(2026 - 06 - 14));
    }

    #[test]
    fn a_day_starts_at_local_midnight() {
        let london = Zone::default();
        assert_eq!(london.start_of_day(date!(2026 - 07 - 01)), Some(datetime!(2026-06-30 23:00 UTC)));
        assert_eq!(london.start_of_day(date!(2026 - 01 - 01)), Some(datetime!(2026-01-01 00:00 UTC)));
        // The day the clocks go forward still starts at midnight GMT; the day they go back, BST.
        assert_eq!(london.start_of_day(date!(2026 - 03 - 29)), Some(datetime!(2026-03-29 00:00 UTC)));
        assert_eq!(london.start_of_day(date!(2026 - 10 - 25)), Some(datetime!(2026-10-24 23:00 UTC)));
        // Where the clocks jump over midnight, the day starts when the gap ends.
        let havana = Zone::named("America/Havana").unwrap();
        assert_eq!(havana.start_of_day(date!(2026 - 03 - 08)), Some(datetime!(2026-03-08 05:00 UTC)));
    }

    #[test]
    fn unknown_names_are_refused_and_known_ones_compare_by_name() {
        let err = Zone::named("Europe/Londn").unwrap_err();
        assert!(err.contains("Europe/Londn"), "{err}");
        assert_eq!(Zone::named(" Europe/London ").unwrap(), Zone::default());
        assert_ne!(Zone::named("UTC").unwrap(), Zone::default());
        assert_eq!(Zone::default().name(), "Europe/London");
    }
}
