//! Date ranges as users type them: parsed strictly, validated once, then trusted.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Ten seasons and a bit: the longest range any view or job accepts by default.
pub const DEFAULT_MAX_RANGE_DAYS: i64 = 3700;

/// An inclusive, validated date range (`start <= end`, length within a maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateRange {
    start: NaiveDate,
    end: NaiveDate,
}

impl DateRange {
    pub fn new(start: NaiveDate, end: NaiveDate, max_days: i64) -> Result<Self, DomainError> {
        if start > end {
            return Err(DomainError::ReversedRange {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        let days = (end - start).num_days() + 1;
        if days > max_days {
            return Err(DomainError::RangeTooLong {
                days,
                max: max_days,
            });
        }
        Ok(Self { start, end })
    }

    /// Parses user-typed bounds. Missing bounds fall back to `default`.
    pub fn parse(
        start: Option<&str>,
        end: Option<&str>,
        default: DateRange,
        max_days: i64,
    ) -> Result<Self, DomainError> {
        let start = match start.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => parse_date("start", s)?,
            None => default.start,
        };
        let end = match end.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => parse_date("end", s)?,
            None => default.end,
        };
        Self::new(start, end, max_days)
    }

    pub fn start(&self) -> NaiveDate {
        self.start
    }
    pub fn end(&self) -> NaiveDate {
        self.end
    }
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }
    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> {
        let end = self.end;
        self.start.iter_days().take_while(move |d| *d <= end)
    }

    /// The view shown when a link names no range: November 2021, the month the
    /// original backfill went wrong.
    pub fn default_view() -> Self {
        Self {
            start: NaiveDate::from_ymd_opt(2021, 11, 1).expect("valid constant"),
            end: NaiveDate::from_ymd_opt(2021, 11, 30).expect("valid constant"),
        }
    }
}

/// Strict `YYYY-MM-DD` (no times, no other formats) so links stay canonical.
pub fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate, DomainError> {
    let malformed = || DomainError::MalformedDate {
        field,
        value: raw.chars().take(40).collect(),
    };
    // Read by hand rather than by chrono's format parser: this runs in the
    // browser, and the strftime interpreter would be in the bundle for it.
    let bytes = raw.as_bytes();
    let number = |at: std::ops::Range<usize>| {
        bytes.get(at)?.iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(malformed());
    }
    match (number(0..4), number(5..7), number(8..10)) {
        (Some(y), Some(m), Some(d)) => {
            NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(malformed)
        }
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_valid_range_and_defaults_missing_bounds() {
        let r = DateRange::parse(Some("2021-11-05"), None, DateRange::default_view(), 100).unwrap();
        assert_eq!(r.start(), d("2021-11-05"));
        assert_eq!(r.end(), d("2021-11-30"));
        assert_eq!(r.days(), 26);
        assert_eq!(r.iter().count(), 26);
    }

    #[test]
    fn rejects_malformed_reversed_and_long_ranges() {
        let def = DateRange::default_view();
        for bad in [
            "not-a-date",
            "2021-13-01",
            "2021-11-5",
            "2021-11-05T00:00",
            "'; DROP TABLE x; --",
            // Ten bytes, but not canonical.
            "2021-11- 5",
            "+021-11-05",
            "2021/11/05",
            "2021-02-29",
            "20é-11-05",
            "2021-00-10",
        ] {
            let e = DateRange::parse(Some(bad), None, def, 100).unwrap_err();
            assert!(
                matches!(e, DomainError::MalformedDate { field: "start", .. }),
                "{bad}: {e}"
            );
        }
        let e = DateRange::parse(Some("2021-11-10"), Some("2021-11-01"), def, 100).unwrap_err();
        assert!(matches!(e, DomainError::ReversedRange { .. }));
        let e = DateRange::parse(
            Some("2001-01-01"),
            Some("2021-01-01"),
            def,
            DEFAULT_MAX_RANGE_DAYS,
        )
        .unwrap_err();
        assert!(matches!(e, DomainError::RangeTooLong { .. }), "{e}");
    }

    #[test]
    fn error_message_truncates_hostile_input() {
        let long = "x".repeat(5000);
        let e = parse_date("start", &long).unwrap_err().to_string();
        assert!(e.len() < 120, "{e}");
    }
}
