//! The grid as the coverage page draws it: [`DrawnGrid`], folded from a
//! [`Reconciliation`] on the server and read back in the browser.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{CellCounts, LastRun, Reconciliation, Totals};
use crate::{DateRange, ProcessorId};

/// The grid as the coverage page carries it (server to browser, and inside
/// the page for hydration): only what the page draws, as positional tuples
/// (postcard, `app::wire`) — no field names, categories or last runs (the
/// drill-down fetches those).
/// Day columns carry each cell's numbers; week and month columns arrive
/// folded on the server (each column's sums and its worst day), so five
/// years of 40 processors are 2 400 columns on the wire, not 33 000 days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawnGrid {
    pub range: DateRange,
    pub processors: Vec<ProcessorId>,
    /// Day columns: every cell. Empty for week or month columns.
    cells: Vec<DrawnCell>,
    /// Week or month columns: each processor's (in order), date order.
    columns: Vec<DrawnColumn>,
    /// Per processor, in order: the range's sums and how many cells have
    /// gaps (the summary table, the headline and the re-run bar).
    rows: Vec<DrawnRow>,
    /// Day cells past their completeness deadline and not complete (issue
    /// [M] 3; the server decides, from the pipeline's `expected_by`).
    late: Vec<(ProcessorId, NaiveDate)>,
}

/// processor, date, expected, has_record, has_failure, date_level,
/// unaccounted, acknowledged, investigate, runs, conflict, extra, cascade, and the latest
/// run only when it failed (its status, mark and tooltip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DrawnCell(
    ProcessorId,
    NaiveDate,
    i64,
    i64,
    i64,
    bool,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<LastRun>,
);

/// expected, has_record, has_failure, unaccounted, investigate,
/// unaccounted in cells never run, acknowledged (as [`Totals`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct DrawnSums(i64, i64, i64, i64, i64, i64, i64);

/// processor, first and last date, worst day, sums, dates with anyone
/// expected, dates with gaps (as [`super::ColumnCell`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DrawnColumn(
    ProcessorId,
    NaiveDate,
    NaiveDate,
    Option<DrawnCell>,
    DrawnSums,
    usize,
    usize,
);

/// processor, the range's sums, cells with gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DrawnRow(ProcessorId, DrawnSums, usize);

impl DrawnCell {
    fn of(c: &CellCounts) -> Self {
        DrawnCell(
            c.processor,
            c.date,
            c.expected,
            c.has_record,
            c.has_failure,
            c.date_level,
            c.unaccounted,
            c.acknowledged,
            c.investigate,
            c.runs,
            c.conflict,
            c.extra,
            c.cascade,
            c.failed_run().cloned(),
        )
    }

    /// Every number and status back; categories empty, the last run only
    /// when it failed.
    fn counts(&self) -> CellCounts {
        let DrawnCell(
            processor,
            date,
            expected,
            has_record,
            has_failure,
            date_level,
            unaccounted,
            acknowledged,
            investigate,
            runs,
            conflict,
            extra,
            cascade,
            ref failed_run,
        ) = *self;
        CellCounts {
            processor,
            date,
            expected,
            has_record,
            has_failure,
            date_level,
            unaccounted,
            acknowledged,
            investigate,
            runs,
            conflict,
            extra,
            cascade,
            failures_by_category: BTreeMap::new(),
            last_run: failed_run.clone(),
        }
    }
}

impl DrawnSums {
    fn of(t: &Totals) -> Self {
        DrawnSums(
            t.expected,
            t.has_record,
            t.has_failure,
            t.unaccounted,
            t.investigate,
            t.unaccounted_not_run,
            t.acknowledged,
        )
    }

    /// The sums back, with their coverage; no per-status cell counts.
    fn totals(&self) -> Totals {
        let DrawnSums(
            expected,
            has_record,
            has_failure,
            unaccounted,
            investigate,
            not_run,
            acknowledged,
        ) = *self;
        Totals {
            expected,
            has_record,
            has_failure,
            unaccounted,
            unaccounted_not_run: not_run,
            acknowledged,
            investigate,
            coverage: Totals::coverage_of(expected, has_record + has_failure),
            cells_by_status: BTreeMap::new(),
        }
    }
}

impl From<Reconciliation> for DrawnGrid {
    fn from(rec: Reconciliation) -> Self {
        let rows = rec
            .processors
            .iter()
            .map(|p| {
                let gaps = rec.cells_of(*p).filter(|c| c.status().is_gap()).count();
                DrawnRow(*p, DrawnSums::of(&rec.totals(*p)), gaps)
            })
            .collect();
        let period = super::Period::for_range(rec.range);
        let (cells, columns) = if period == super::Period::Day {
            (rec.cells.iter().map(DrawnCell::of).collect(), Vec::new())
        } else {
            let cols = super::columns(rec.range, period);
            let columns = rec
                .processors
                .iter()
                .flat_map(|p| rec.column_cells(*p, &cols))
                .map(|cc| {
                    DrawnColumn(
                        cc.processor,
                        cc.column.first,
                        cc.column.last,
                        cc.worst.as_ref().map(DrawnCell::of),
                        DrawnSums::of(&cc.totals),
                        cc.dates,
                        cc.gaps,
                    )
                })
                .collect();
            (Vec::new(), columns)
        };
        DrawnGrid {
            range: rec.range,
            processors: rec.processors,
            cells,
            columns,
            rows,
            late: Vec::new(),
        }
    }
}

impl DrawnGrid {
    /// The grid with `late` day cells marked.
    pub fn with_late(self, late: Vec<(ProcessorId, NaiveDate)>) -> Self {
        Self { late, ..self }
    }

    /// The day cells past their deadline and not complete.
    pub fn late(&self) -> &[(ProcessorId, NaiveDate)] {
        &self.late
    }

    /// Day columns: the cells, every number and status back (categories
    /// empty, no last run). Empty for week or month columns.
    pub fn days(&self) -> Reconciliation {
        Reconciliation {
            range: self.range,
            processors: self.processors.clone(),
            cells: self.cells.iter().map(DrawnCell::counts).collect(),
        }
    }

    /// Week or month columns: `p`'s, in date order, as
    /// [`Reconciliation::column_cells`] gave them on the server (totals
    /// without per-status counts). Empty for day columns.
    pub fn columns_of(&self, p: ProcessorId) -> Vec<super::ColumnCell> {
        self.columns
            .iter()
            .filter(|c| c.0 == p)
            .map(
                |DrawnColumn(processor, first, last, worst, sums, dates, gaps)| super::ColumnCell {
                    processor: *processor,
                    column: super::Column {
                        first: *first,
                        last: *last,
                    },
                    totals: sums.totals(),
                    worst: worst.as_ref().map(DrawnCell::counts),
                    gaps: *gaps,
                    dates: *dates,
                },
            )
            .collect()
    }

    /// `p`'s sums over the range (without per-status counts).
    pub fn totals(&self, p: ProcessorId) -> Totals {
        self.rows
            .iter()
            .find(|r| r.0 == p)
            .map_or_else(Totals::default, |r| r.1.totals())
    }

    /// How many of `p`'s cells have gaps (need a re-run or a look).
    pub fn gaps(&self, p: ProcessorId) -> usize {
        self.rows.iter().find(|r| r.0 == p).map_or(0, |r| r.2)
    }

    pub fn unaccounted(&self) -> i64 {
        self.rows.iter().map(|r| r.1 .3).sum()
    }

    /// Of [`Self::unaccounted`], those in cells never run.
    pub fn unaccounted_not_run(&self) -> i64 {
        self.rows.iter().map(|r| r.1 .5).sum()
    }
}
