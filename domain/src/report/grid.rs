//! The grid: one cell per (processor, date), its status and coverage, and
//! the range's reconciliation with totals and re-run commands.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::RunStatus;
use crate::pipeline::Pipeline;
use crate::{DateRange, ProcessorId};

/// Raw accounting numbers for one (processor, date) cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellCounts {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub expected: i64,
    /// Expected players with a record.
    pub has_record: i64,
    /// Expected players without a record but with a player-level failure.
    pub has_failure: i64,
    /// A `DATE_LEVEL` failure exists for the date.
    pub date_level: bool,
    /// Expected players with neither (0 when `date_level`), but for those
    /// an acknowledgement covers.
    pub unaccounted: i64,
    /// Expected players with neither whom an acknowledgement in force
    /// covers (`crate::ack`): still unaccounted underneath, counted apart.
    #[serde(default)]
    pub acknowledged: i64,
    /// Player-level failures whose category needs investigation.
    pub investigate: i64,
    pub runs: i64,
    /// Players with both a record and a failure row (stale failures).
    pub conflict: i64,
    /// Records for players who are not expected (informational).
    pub extra: i64,
    /// Records whose upstream record for the same player is missing.
    pub cascade: i64,
    /// Failure rows (player- and date-level) by canonical category code.
    pub failures_by_category: BTreeMap<String, i64>,
    /// The run that last wrote the cell.
    pub last_run: Option<LastRun>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub run_id: String,
    pub status: RunStatus,
    pub started_at: Option<NaiveDateTime>,
    /// The run row's error (a failed command's stderr tail, a bad line), at
    /// most [`LAST_RUN_ERROR_CHARS`] characters of it.
    pub error: Option<String>,
}

/// How much of a failed run's error the grid carries per cell (the
/// drill-down's run list has all of it).
pub const LAST_RUN_ERROR_CHARS: usize = 300;

impl LastRun {
    pub fn failed(&self) -> bool {
        self.status == RunStatus::Failed
    }

    /// The error's first `lines` non-empty lines, joined by " / ".
    pub fn error_lines(&self, lines: usize) -> String {
        let text = self.error.as_deref().unwrap_or("no error recorded");
        let mut first: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(lines)
            .collect();
        if first.is_empty() {
            first.push("no error recorded");
        }
        first.join(" / ")
    }

    /// "run r1 failed at 2021-11-10 09:12: <first lines of its error>".
    pub fn failure_summary(&self) -> String {
        let at = self
            .started_at
            .map(|t| format!(" at {}", crate::display::timestamp(t)))
            .unwrap_or_default();
        format!(
            "latest run {} failed{at}: {}",
            self.run_id,
            self.error_lines(2)
        )
    }
}

/// docs/DESIGN.md §3 cell status. Counts are always shown beside it; the status only
/// says what to look at first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CellStatus {
    NoGames,
    NotRun,
    /// The latest run of the cell failed (a crash, a timeout, a bad line):
    /// not a silent drop, whatever rows an earlier run left.
    RunFailed,
    Untracked,
    Investigate,
    DepsMissing,
    /// The only gaps left are acknowledged ones (still gaps, known).
    Acknowledged,
    ExpectedGaps,
    Ok,
}

impl CellStatus {
    /// Every status, in declaration order (the legend lists each).
    pub const ALL: [CellStatus; 9] = [
        CellStatus::NoGames,
        CellStatus::NotRun,
        CellStatus::RunFailed,
        CellStatus::Untracked,
        CellStatus::Investigate,
        CellStatus::DepsMissing,
        CellStatus::Acknowledged,
        CellStatus::ExpectedGaps,
        CellStatus::Ok,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CellStatus::NoGames => "NO_GAMES",
            CellStatus::NotRun => "NOT_RUN",
            CellStatus::RunFailed => "RUN_FAILED",
            CellStatus::Untracked => "UNTRACKED",
            CellStatus::Investigate => "INVESTIGATE",
            CellStatus::DepsMissing => "DEPS_MISSING",
            CellStatus::Acknowledged => "ACKNOWLEDGED",
            CellStatus::ExpectedGaps => "EXPECTED_GAPS",
            CellStatus::Ok => "OK",
        }
    }
    /// What the status asks of the reader (`/legend`, README's table).
    pub fn meaning(self) -> &'static str {
        match self {
            CellStatus::RunFailed => "the latest run failed (a crash, a timeout, bad output): not a silent drop; read its error in the drill-down",
            CellStatus::Untracked => "some expected entities have neither a record nor a failure: silent drops to hunt down",
            CellStatus::Investigate => "failures whose category is not expected (PROCESSING_ERROR, UNKNOWN): look at them",
            CellStatus::NotRun => "entities are expected but no run was ever recorded for the date",
            CellStatus::DepsMissing => "a date-level failure (an upstream had no rows) accounts for everyone",
            CellStatus::Acknowledged => "(marked ◇) the only gaps left are acknowledged (a known upstream gap, retention, ...): still unaccounted, counted apart until the acknowledgement ends",
            CellStatus::ExpectedGaps => "every entity accounted for, some by expected failures (early season, no shots, ...)",
            CellStatus::Ok => "every expected entity has a record",
            CellStatus::NoGames => "nothing expected on the date",
        }
    }

    /// Someone must act: entities with nothing to say for themselves, an
    /// error to investigate, a run that failed or never happened. Unlike
    /// [`Self::is_gap`], a cell covered by an expected date-level failure is
    /// accounted for (what a job's before/after calls closed).
    pub fn is_open(self) -> bool {
        self.is_gap() && self != CellStatus::DepsMissing
    }

    /// Needs a re-run (or a look) — what "only gaps" selects.
    pub fn is_gap(self) -> bool {
        matches!(
            self,
            CellStatus::NotRun
                | CellStatus::RunFailed
                | CellStatus::Untracked
                | CellStatus::Investigate
                | CellStatus::DepsMissing
        )
    }
}

impl CellCounts {
    pub fn status(&self) -> CellStatus {
        if self.expected == 0 {
            CellStatus::NoGames
        } else if self.failed_run().is_some() {
            CellStatus::RunFailed
        } else if self.runs == 0
            && self.has_record == 0
            && self.has_failure == 0
            && !self.date_level
            && self.acknowledged < self.expected
        {
            CellStatus::NotRun
        } else if self.unaccounted > 0 {
            CellStatus::Untracked
        } else if self.investigate > 0 {
            CellStatus::Investigate
        } else if self.date_level {
            CellStatus::DepsMissing
        } else if self.acknowledged > 0 {
            CellStatus::Acknowledged
        } else if self.has_failure > 0 {
            CellStatus::ExpectedGaps
        } else {
            CellStatus::Ok
        }
    }

    /// The cell's latest run, when it failed.
    pub fn failed_run(&self) -> Option<&LastRun> {
        self.last_run.as_ref().filter(|r| r.failed())
    }

    /// The latest run failed but an earlier one left rows: what the cell
    /// shows is that earlier run's.
    pub fn serves_older_run(&self) -> bool {
        self.failed_run().is_some()
            && (self.has_record > 0 || self.has_failure > 0 || self.date_level)
    }

    /// (records + failures + date-level-covered) / expected.
    pub fn coverage(&self) -> f64 {
        if self.expected == 0 {
            return 1.0;
        }
        let covered = if self.date_level {
            self.expected
        } else {
            self.has_record + self.has_failure
        };
        covered as f64 / self.expected as f64
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub expected: i64,
    pub has_record: i64,
    /// Player-level failures plus players covered by a date-level failure.
    pub has_failure: i64,
    pub unaccounted: i64,
    /// Of `unaccounted`, those in cells never run (nobody tried yet).
    #[serde(default)]
    pub unaccounted_not_run: i64,
    /// Unaccounted but acknowledged (counted apart from `unaccounted`).
    #[serde(default)]
    pub acknowledged: i64,
    pub investigate: i64,
    pub coverage: f64,
    pub cells_by_status: BTreeMap<String, usize>,
}

impl Totals {
    /// The sums over `cells` (one processor's, over any dates).
    pub fn of<'a>(cells: impl IntoIterator<Item = &'a CellCounts>) -> Totals {
        let mut t = Totals::default();
        for c in cells {
            t.expected += c.expected;
            t.has_record += c.has_record;
            t.has_failure += if c.date_level {
                c.expected - c.has_record
            } else {
                c.has_failure
            };
            t.unaccounted += c.unaccounted;
            t.acknowledged += c.acknowledged;
            if c.status() == CellStatus::NotRun {
                t.unaccounted_not_run += c.unaccounted;
            }
            t.investigate += c.investigate;
            *t.cells_by_status
                .entry(c.status().code().to_string())
                .or_default() += 1;
        }
        t.coverage = Totals::coverage_of(t.expected, t.has_record + t.has_failure);
        t
    }

    /// The share of `expected` that is `covered` (1 when nobody is expected).
    pub fn coverage_of(expected: i64, covered: i64) -> f64 {
        if expected > 0 {
            covered as f64 / expected as f64
        } else {
            1.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub range: DateRange,
    pub processors: Vec<ProcessorId>,
    /// Sorted by date, then dependency order.
    pub cells: Vec<CellCounts>,
}

impl Reconciliation {
    pub fn cells_of(&self, p: ProcessorId) -> impl Iterator<Item = &CellCounts> {
        self.cells.iter().filter(move |c| c.processor == p)
    }

    pub fn totals(&self, p: ProcessorId) -> Totals {
        Totals::of(self.cells_of(p))
    }

    pub fn unaccounted(&self) -> i64 {
        self.cells.iter().map(|c| c.unaccounted).sum()
    }

    /// Unaccounted but acknowledged (counted apart: `crate::ack`).
    pub fn acknowledged(&self) -> i64 {
        self.cells.iter().map(|c| c.acknowledged).sum()
    }

    /// Of [`Self::unaccounted`], those in cells never run.
    pub fn unaccounted_not_run(&self) -> i64 {
        self.cells
            .iter()
            .filter(|c| c.status() == CellStatus::NotRun)
            .map(|c| c.unaccounted)
            .sum()
    }

    pub fn investigate(&self) -> i64 {
        self.cells.iter().map(|c| c.investigate).sum()
    }

    /// Everything accounted for, nothing to investigate, no latest run failed.
    pub fn is_clean(&self) -> bool {
        self.unaccounted() == 0
            && self.investigate() == 0
            && !self.cells.iter().any(|c| c.failed_run().is_some())
    }

    /// One command per processor with cells that are not OK, in dependency
    /// order, each starting with `program` (`rollcall` and the options that
    /// chose the pipeline and store, so it runs as printed).
    pub fn rerun_commands(&self, pipeline: &Pipeline, program: &str) -> Vec<String> {
        let mut by: BTreeMap<usize, Vec<NaiveDate>> = BTreeMap::new();
        for c in &self.cells {
            if c.status().is_gap() {
                by.entry(c.processor.order()).or_default().push(c.date);
            }
        }
        by.into_iter()
            .map(|(order, dates)| {
                let id = pipeline.processors[order].id;
                let code = pipeline.code(id);
                let contiguous = dates.len() > 1
                    && self
                        .cells_of(id)
                        .filter(|c| c.date >= dates[0] && c.date <= dates[dates.len() - 1])
                        .count()
                        == dates.len();
                rerun_command(program, code, &dates, contiguous)
            })
            .collect()
    }
}

/// The CLI command that re-runs one processor's `dates` (sorted): a
/// contiguous stretch of gaps as a range with `--only-gaps`, otherwise the
/// dates listed. The one place a re-run command is spelled.
pub fn rerun_command(program: &str, code: &str, dates: &[NaiveDate], as_range: bool) -> String {
    match (as_range, dates.first(), dates.last()) {
        (true, Some(first), Some(last)) => format!(
            "{program} backfill --processor {code} --start-date {first} --end-date {last} --only-gaps"
        ),
        _ => format!(
            "{program} backfill --processor {code} --dates {}",
            dates
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// The headline of a range: unaccounted entities in cells that ran (silent
/// drops, the thing to hunt) apart from those in cells never run (nobody
/// tried yet), each agreeing in number: "3 players unaccounted for in cells
/// that ran, and 79 685 players in cells never run".
pub fn unaccounted_headline(
    u: &crate::pipeline::Universe,
    unaccounted: i64,
    not_run: i64,
) -> String {
    let ran = unaccounted - not_run;
    match (ran, not_run) {
        (0, 0) => format!("All {} accounted for", u.entities()),
        (_, 0) => format!("{} unaccounted for", u.count(ran)),
        (0, _) => format!(
            "No {} unaccounted for in cells that ran; {} in cells never run",
            u.entities(),
            u.count(not_run)
        ),
        _ => format!(
            "{} unaccounted for in cells that ran, and {} in cells never run",
            u.count(ran),
            u.count(not_run)
        ),
    }
}
