//! The heatmap's columns: one per day while the range fits a screen, else
//! one per week (Monday to Sunday), else one per calendar month. A column's
//! cells are summed per processor and keep the worst day, so a long range
//! still points at what to look at first.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{CellCounts, CellStatus, Reconciliation, Totals};
use crate::{DateRange, ProcessorId};

/// Most columns before the heatmap groups dates by a longer period: a season
/// (about 175 days) stays one column per day.
pub const MAX_COLUMNS: i64 = 190;

/// Ranges longer than this many days draw narrow day columns, so a season
/// fits a 1600-pixel screen (the numbers are in each cell's tooltip).
pub const NARROW_AFTER_DAYS: i64 = 62;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// The shortest period whose columns fit [`MAX_COLUMNS`].
    pub fn for_range(range: DateRange) -> Period {
        let days = range.days();
        if days <= MAX_COLUMNS {
            Period::Day
        } else if days / 7 + 2 <= MAX_COLUMNS {
            Period::Week
        } else {
            Period::Month
        }
    }

    /// The first day of the period holding `d`.
    pub fn start_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => d,
            Period::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
            Period::Month => d.with_day(1).unwrap_or(d),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// One column: its first and last date inside the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// The range's columns for `period`, in date order (the first and last may
/// be partial periods).
pub fn columns(range: DateRange, period: Period) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    for d in range.iter() {
        match out.last_mut() {
            Some(c) if period.start_of(c.first) == period.start_of(d) => c.last = d,
            _ => out.push(Column { first: d, last: d }),
        }
    }
    out
}

/// One processor's cells within one column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnCell {
    pub processor: ProcessorId,
    pub column: Column,
    /// Summed over the column's dates with games.
    pub totals: Totals,
    /// The day to look at first (the most severe status, earliest on ties);
    /// `None` when no date of the column has games.
    pub worst: Option<CellCounts>,
    /// Dates with games whose status is a gap (what a re-run would select).
    pub gaps: usize,
    /// Dates with games.
    pub dates: usize,
}

impl CellStatus {
    /// What to look at first: higher is worse.
    pub fn severity(self) -> u8 {
        match self {
            CellStatus::NoGames => 0,
            CellStatus::Ok => 1,
            CellStatus::ExpectedGaps => 2,
            CellStatus::Acknowledged => 3,
            CellStatus::DepsMissing => 4,
            CellStatus::NotRun => 5,
            CellStatus::Investigate => 6,
            CellStatus::Untracked => 7,
            CellStatus::RunFailed => 8,
        }
    }
}

impl Reconciliation {
    /// `p`'s cells summed per column (`columns` from [`columns`]).
    pub fn column_cells(&self, p: ProcessorId, columns: &[Column]) -> Vec<ColumnCell> {
        let mine: Vec<&CellCounts> = self
            .cells_of(p)
            .filter(|c| c.status() != CellStatus::NoGames)
            .collect();
        columns
            .iter()
            .map(|col| {
                let from = mine.partition_point(|c| c.date < col.first);
                let to = mine.partition_point(|c| c.date <= col.last);
                let inside = &mine[from..to];
                let worst = inside.iter().copied().reduce(|w, c| {
                    if c.status().severity() > w.status().severity() {
                        c
                    } else {
                        w
                    }
                });
                ColumnCell {
                    processor: p,
                    column: *col,
                    totals: Totals::of(inside.iter().copied()),
                    worst: worst.cloned(),
                    gaps: inside.iter().filter(|c| c.status().is_gap()).count(),
                    dates: inside.len(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Builtin;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn range(a: &str, b: &str) -> DateRange {
        DateRange::new(d(a), d(b), 10_000).unwrap()
    }

    fn cell(p: ProcessorId, date: &str, expected: i64, record: i64, runs: i64) -> CellCounts {
        CellCounts {
            processor: p,
            date: d(date),
            expected,
            has_record: record,
            has_failure: 0,
            date_level: false,
            unaccounted: expected - record,
            acknowledged: 0,
            investigate: 0,
            runs,
            conflict: 0,
            extra: 0,
            cascade: 0,
            failures_by_category: Default::default(),
            last_run: None,
        }
    }

    #[test]
    fn a_season_is_days_two_are_weeks_five_years_are_months() {
        assert_eq!(
            Period::for_range(range("2021-10-19", "2022-04-10")),
            Period::Day
        );
        assert_eq!(
            Period::for_range(range("2021-10-19", "2023-04-10")),
            Period::Week
        );
        let five = range("2020-01-01", "2024-12-31");
        assert_eq!(Period::for_range(five), Period::Month);
        assert_eq!(columns(five, Period::Month).len(), 60);
        for period in [Period::Day, Period::Week, Period::Month] {
            let r = range("2021-10-19", "2023-04-10");
            let cols = columns(r, period);
            // The columns tile the range: no date lost or repeated.
            assert_eq!(cols[0].first, r.start());
            assert_eq!(cols.last().unwrap().last, r.end());
            for pair in cols.windows(2) {
                assert_eq!(pair[0].last + Duration::days(1), pair[1].first);
            }
        }
        assert!(
            columns(range("2021-10-19", "2023-04-10"), Period::Week).len() as i64 <= MAX_COLUMNS
        );
    }

    #[test]
    fn weeks_start_on_monday_and_keep_the_worst_day() {
        let p = crate::pipeline::shipped_id(Builtin::Pdc);
        // 2021-11-01 is a Monday.
        let cols = columns(range("2021-10-30", "2021-11-14"), Period::Week);
        let firsts: Vec<NaiveDate> = cols.iter().map(|c| c.first).collect();
        assert_eq!(
            firsts,
            vec![d("2021-10-30"), d("2021-11-01"), d("2021-11-08")]
        );
        let rec = Reconciliation {
            range: range("2021-10-30", "2021-11-14"),
            processors: vec![p],
            cells: vec![
                cell(p, "2021-11-01", 10, 10, 1),
                cell(p, "2021-11-03", 10, 7, 1),
                cell(p, "2021-11-04", 10, 0, 0),
                cell(p, "2021-11-09", 10, 10, 1),
            ],
        };
        let week = rec.column_cells(p, &cols);
        assert_eq!(week[0].worst, None, "no games in the first, partial week");
        assert_eq!(week[0].dates, 0);
        let w = &week[1];
        assert_eq!((w.dates, w.gaps), (3, 2));
        assert_eq!(w.totals.expected, 30);
        assert_eq!(w.totals.has_record, 17);
        assert_eq!(w.totals.unaccounted, 13);
        let worst = w.worst.as_ref().unwrap();
        assert_eq!(
            (worst.date, worst.status()),
            (d("2021-11-03"), CellStatus::Untracked)
        );
        assert_eq!(week[2].worst.as_ref().unwrap().status(), CellStatus::Ok);
    }
}
