//! Timestamps: stored as fixed-width RFC 3339 UTC text with microseconds, so that text order
//! is time order in SQL.

use chrono::{DateTime, SecondsFormat, Utc};
#[cfg(test)]
use std::sync::Mutex;

/// Where the store gets "now" (receive times, state-change times, retention cut-offs): the
/// system clock in the server, a [`FixedClock`] in tests, so that what the store writes does
/// not depend on when a test runs.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told (tests).
#[cfg(test)]
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

#[cfg(test)]
impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(at))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

#[cfg(test)]
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Formats a timestamp for storage (`2026-11-25T10:00:00.123456Z`).
pub fn fmt_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored timestamp (falls back to the Unix epoch on garbage, which never happens
/// for rows this server wrote).
pub fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// "7m 12s", "1h 3m", "850ms".
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_sort_and_round_trip() {
        let a = Utc::now();
        let b = a + chrono::Duration::microseconds(1);
        assert!(fmt_ts(a) < fmt_ts(b));
        assert_eq!(
            parse_ts(&fmt_ts(a)).timestamp_micros(),
            a.timestamp_micros()
        );
    }

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(432_000), "7m 12s");
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(3_780_000), "1h 3m");
        assert_eq!(human_duration(5_000), "5s");
    }
}
