//! Read models: what storage returns and what the dashboard and CLI show.
//! Plain data, shared by the server and the browser.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::{DateRange, ProcessorId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameDateSummary {
    pub game_date: NaiveDate,
    pub games: i64,
    pub player_rows: i64,
    /// Active players with minutes or shot attempts (DESIGN §1).
    pub expected_players: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    /// `dataset.table`.
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub range: DateRange,
    pub dates: Vec<GameDateSummary>,
    pub tables: Vec<TableCount>,
}

impl Overview {
    pub fn total_games(&self) -> i64 {
        self.dates.iter().map(|d| d.games).sum()
    }
    pub fn total_expected(&self) -> i64 {
        self.dates.iter().map(|d| d.expected_players).sum()
    }
}

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
    /// Expected players with neither (0 when `date_level`).
    pub unaccounted: i64,
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
    pub status: String,
    pub started_at: Option<NaiveDateTime>,
}

/// DESIGN §3 cell status. Counts are always shown beside it; the status only
/// says what to look at first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CellStatus {
    NoGames,
    NotRun,
    Untracked,
    Investigate,
    DepsMissing,
    ExpectedGaps,
    Ok,
}

impl CellStatus {
    pub fn code(self) -> &'static str {
        match self {
            CellStatus::NoGames => "NO_GAMES",
            CellStatus::NotRun => "NOT_RUN",
            CellStatus::Untracked => "UNTRACKED",
            CellStatus::Investigate => "INVESTIGATE",
            CellStatus::DepsMissing => "DEPS_MISSING",
            CellStatus::ExpectedGaps => "EXPECTED_GAPS",
            CellStatus::Ok => "OK",
        }
    }
    /// Needs a re-run (or a look) — what "only gaps" selects.
    pub fn is_gap(self) -> bool {
        matches!(
            self,
            CellStatus::NotRun
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
        } else if self.runs == 0
            && self.has_record == 0
            && self.has_failure == 0
            && !self.date_level
        {
            CellStatus::NotRun
        } else if self.unaccounted > 0 {
            CellStatus::Untracked
        } else if self.investigate > 0 {
            CellStatus::Investigate
        } else if self.date_level {
            CellStatus::DepsMissing
        } else if self.has_failure > 0 {
            CellStatus::ExpectedGaps
        } else {
            CellStatus::Ok
        }
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

/// One failure row as a drill-down shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub entity_id: String,
    /// As written by whoever wrote it.
    pub raw_category: String,
    /// Canonical code after the alias table (`UNKNOWN` if unrecognised).
    pub category: String,
    pub reason: String,
    pub can_retry: bool,
    pub upstream_processor: Option<String>,
    pub upstream_category: Option<String>,
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

impl<T> Page<T> {
    /// One page of a list held in memory (offset clamped to >= 0, limit to 1..=500).
    pub fn of(all: Vec<T>, offset: i64, limit: i64) -> Self {
        let limit = limit.clamp(1, 500);
        let offset = offset.max(0);
        let total = all.len() as i64;
        let items = all
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        Self {
            items,
            total,
            offset,
            limit,
        }
    }

    /// Offsets of the previous and next pages, when there are such pages.
    pub fn neighbours(&self) -> (Option<i64>, Option<i64>) {
        (
            (self.offset > 0).then(|| self.offset.saturating_sub(self.limit).max(0)),
            (self.offset.saturating_add(self.limit) < self.total)
                .then(|| self.offset.saturating_add(self.limit)),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub job_id: Option<String>,
    pub status: String,
    pub records_written: i64,
    pub failures_written: i64,
    pub expected_count: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub started_at: Option<NaiveDateTime>,
}

/// One processor's answer for one player on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceState {
    Record,
    Failure {
        category: String,
        reason: String,
        upstream_processor: Option<String>,
        upstream_category: Option<String>,
    },
    DateLevel {
        reason: String,
    },
    Unaccounted,
    NotExpected,
}

/// A failure row as the player trace reads it (any warehouse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFailure {
    /// The player, or `DATE_LEVEL`.
    pub entity_id: String,
    /// The category as written (normalised here).
    pub raw_category: String,
    pub reason: String,
    pub upstream_processor: Option<String>,
    pub upstream_category: Option<String>,
}

impl TraceState {
    /// One processor's answer for the player: a record wins, then the failure
    /// (date-level or the player's own), else unaccounted if they were expected.
    pub fn of(has_record: bool, failure: Option<TraceFailure>, expected: bool) -> Self {
        match (has_record, failure) {
            (true, _) => TraceState::Record,
            (false, Some(f)) if f.entity_id == crate::processors::DATE_LEVEL => {
                TraceState::DateLevel { reason: f.reason }
            }
            (false, Some(f)) => TraceState::Failure {
                category: crate::FailureCategory::normalise(&f.raw_category)
                    .code()
                    .to_string(),
                reason: f.reason,
                upstream_processor: f.upstream_processor,
                upstream_category: f.upstream_category,
            },
            (false, None) if expected => TraceState::Unaccounted,
            (false, None) => TraceState::NotExpected,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLink {
    pub processor: ProcessorId,
    pub state: TraceState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerTrace {
    pub player_lookup: String,
    pub date: NaiveDate,
    pub expected: bool,
    /// In dependency order.
    pub links: Vec<TraceLink>,
    /// The player's last games up to and including the date, newest first.
    pub recent_games: Vec<crate::game::PlayerGame>,
}

impl PlayerTrace {
    /// The first processor (in dependency order) that did not produce a record,
    /// following MISSING_UPSTREAM pointers to the upstream that caused it.
    pub fn root_cause(&self) -> Option<ProcessorId> {
        let mut current = self
            .links
            .iter()
            .find(|l| !matches!(l.state, TraceState::Record | TraceState::NotExpected))?;
        // Follow the named upstream while it, too, lacks a record.
        for _ in 0..self.links.len() {
            let TraceState::Failure {
                upstream_processor: Some(up),
                ..
            } = &current.state
            else {
                break;
            };
            match self
                .links
                .iter()
                .find(|l| l.processor.code() == up && !matches!(l.state, TraceState::Record))
            {
                Some(next) if next.processor != current.processor => current = next,
                _ => break,
            }
        }
        Some(current.processor)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub expected: i64,
    pub has_record: i64,
    /// Player-level failures plus players covered by a date-level failure.
    pub has_failure: i64,
    pub unaccounted: i64,
    pub investigate: i64,
    pub coverage: f64,
    pub cells_by_status: BTreeMap<String, usize>,
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
        let mut t = Totals::default();
        for c in self.cells_of(p) {
            t.expected += c.expected;
            t.has_record += c.has_record;
            t.has_failure += if c.date_level {
                c.expected - c.has_record
            } else {
                c.has_failure
            };
            t.unaccounted += c.unaccounted;
            t.investigate += c.investigate;
            *t.cells_by_status
                .entry(c.status().code().to_string())
                .or_default() += 1;
        }
        t.coverage = if t.expected > 0 {
            (t.has_record + t.has_failure) as f64 / t.expected as f64
        } else {
            1.0
        };
        t
    }

    pub fn unaccounted(&self) -> i64 {
        self.cells.iter().map(|c| c.unaccounted).sum()
    }

    pub fn investigate(&self) -> i64 {
        self.cells.iter().map(|c| c.investigate).sum()
    }

    /// Everything accounted for and nothing to investigate.
    pub fn is_clean(&self) -> bool {
        self.unaccounted() == 0 && self.investigate() == 0
    }

    /// One command per processor with cells that are not OK, in dependency order.
    pub fn rerun_commands(&self) -> Vec<String> {
        let mut by: BTreeMap<usize, Vec<NaiveDate>> = BTreeMap::new();
        for c in &self.cells {
            if c.status().is_gap() {
                by.entry(c.processor.order()).or_default().push(c.date);
            }
        }
        by.into_iter()
            .map(|(order, dates)| {
                let code = crate::PROCESSORS[order].code;
                let contiguous = dates.len() > 1
                    && self
                        .cells_of(crate::PROCESSORS[order].id)
                        .filter(|c| c.date >= dates[0] && c.date <= dates[dates.len() - 1])
                        .count()
                        == dates.len();
                if contiguous {
                    format!(
                        "rollcall backfill --processor {code} --start-date {} --end-date {} --only-gaps",
                        dates[0],
                        dates[dates.len() - 1]
                    )
                } else {
                    format!(
                        "rollcall backfill --processor {code} --dates {}",
                        dates
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                }
            })
            .collect()
    }
}

/// Everything the drill-down of one cell shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDetail {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub counts: Option<CellCounts>,
    pub status: CellStatus,
    pub failures: Page<FailureRow>,
    pub date_level: Option<FailureRow>,
    /// Unaccounted players, filtered by the same search as the failures.
    pub unaccounted: Page<String>,
    pub runs: Vec<RunInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One (processor, date) a backfill will run, with its expected players.
pub struct PlannedCell {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub expected: i64,
}

/// Live progress of a job, also stored on the job row as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub cells_total: usize,
    pub cells_done: usize,
    pub cells_failed: usize,
    pub players_total: i64,
    pub players_done: i64,
    /// Per processor code: (done, total).
    pub per_processor: BTreeMap<String, (usize, usize)>,
    pub current: Option<String>,
    pub failures_by_category: BTreeMap<String, i64>,
    pub elapsed_ms: u64,
}

impl Progress {
    pub fn players_per_second(&self) -> f64 {
        if self.elapsed_ms == 0 {
            return 0.0;
        }
        self.players_done as f64 / (self.elapsed_ms as f64 / 1000.0)
    }
    /// Seconds left at the measured throughput.
    pub fn eta_seconds(&self) -> Option<f64> {
        let rate = self.players_per_second();
        (rate > 0.0).then(|| (self.players_total - self.players_done).max(0) as f64 / rate)
    }
}

/// A job as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: String,
    pub requested_by: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`.
    pub state: String,
    /// Processors, dates and mode in one line.
    pub summary: String,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub error: Option<String>,
    pub progress: Progress,
    /// The job this one waits for, while queued.
    pub queued_behind: Option<String>,
    /// Touched cells before/after, once the job has ended.
    pub changes: Option<Vec<CellChange>>,
    pub resumable: bool,
    pub active: bool,
}

/// What a job did to one cell it touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// More failures needing investigation than before (takes precedence).
    NewInvestigate,
    /// Was a gap, now OK (or expected gaps only).
    GapClosed,
    /// Still a gap after the job.
    StillOpen,
    /// Was fine, is fine.
    Unchanged,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::NewInvestigate => "new investigate failures",
            ChangeKind::GapClosed => "gap closed",
            ChangeKind::StillOpen => "still open",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

/// One touched cell before and after a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellChange {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub before: Option<CellCounts>,
    pub after: Option<CellCounts>,
    pub kind: ChangeKind,
}

/// Pairs the cells of `before` and `after` (same cells, any order) and says
/// what changed for each, in date then dependency order.
pub fn compare_cells(before: &[CellCounts], after: &[CellCounts]) -> Vec<CellChange> {
    let key = |c: &CellCounts| (c.date, c.processor.order());
    let mut keys: Vec<(NaiveDate, usize)> = before.iter().chain(after).map(key).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let b = before.iter().find(|c| key(c) == k).cloned();
            let a = after.iter().find(|c| key(c) == k).cloned();
            let gap = |c: &Option<CellCounts>| c.as_ref().is_some_and(|c| c.status().is_gap());
            let investigate = |c: &Option<CellCounts>| c.as_ref().map_or(0, |c| c.investigate);
            let kind = if investigate(&a) > investigate(&b) {
                ChangeKind::NewInvestigate
            } else if gap(&a) {
                ChangeKind::StillOpen
            } else if gap(&b) {
                ChangeKind::GapClosed
            } else {
                ChangeKind::Unchanged
            };
            CellChange {
                processor: crate::PROCESSORS[k.1].id,
                date: k.0,
                before: b,
                after: a,
                kind,
            }
        })
        .collect()
}

/// Counts of each kind of change, for the job summary line.
pub fn change_counts(changes: &[CellChange]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for c in changes {
        *out.entry(c.kind.label()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_neighbours_of_extreme_offsets_do_not_overflow() {
        let page = Page::of(vec![1, 2, 3], i64::MAX, 500);
        assert!(page.items.is_empty());
        assert_eq!(page.neighbours(), (Some(i64::MAX - 500), None));
        let first = Page::of(vec![1, 2, 3], 0, 2);
        assert_eq!(first.neighbours(), (None, Some(2)));
    }

    #[test]
    fn trace_state_prefers_record_then_failure_then_expectation() {
        let failure = |entity: &str| TraceFailure {
            entity_id: entity.into(),
            raw_category: "upstream-missing".into(),
            reason: "r".into(),
            upstream_processor: Some("PDC".into()),
            upstream_category: None,
        };
        assert_eq!(
            TraceState::of(true, Some(failure("x")), true),
            TraceState::Record
        );
        assert_eq!(
            TraceState::of(false, Some(failure(crate::processors::DATE_LEVEL)), true),
            TraceState::DateLevel { reason: "r".into() }
        );
        match TraceState::of(false, Some(failure("x")), true) {
            TraceState::Failure { category, .. } => assert_eq!(category, "MISSING_UPSTREAM"),
            other => panic!("{other:?}"),
        }
        assert_eq!(TraceState::of(false, None, true), TraceState::Unaccounted);
        assert_eq!(TraceState::of(false, None, false), TraceState::NotExpected);
    }

    #[test]
    fn before_and_after_are_classified() {
        let mut gap = cell();
        gap.unaccounted = 5;
        gap.has_record -= 5;
        assert!(gap.status().is_gap());
        let ok = cell();
        assert!(!ok.status().is_gap());
        let mut worse = cell();
        worse.investigate = 2;
        let mut other_day = cell();
        other_day.date = other_day.date.succ_opt().unwrap();
        let changes = compare_cells(std::slice::from_ref(&ok), std::slice::from_ref(&ok));
        assert_eq!(changes.len(), 1, "same cell paired");
        assert_eq!(changes[0].kind, ChangeKind::Unchanged);
        assert_eq!(
            compare_cells(std::slice::from_ref(&gap), std::slice::from_ref(&ok))[0].kind,
            ChangeKind::GapClosed
        );
        assert_eq!(
            compare_cells(std::slice::from_ref(&gap), std::slice::from_ref(&gap))[0].kind,
            ChangeKind::StillOpen
        );
        assert_eq!(
            compare_cells(std::slice::from_ref(&ok), &[worse])[0].kind,
            ChangeKind::NewInvestigate
        );
        let two = compare_cells(&[other_day.clone(), gap.clone()], &[ok.clone(), other_day]);
        assert_eq!(two.len(), 2);
        assert!(two[0].date < two[1].date, "date order");
        assert_eq!(change_counts(&two).get("gap closed"), Some(&1));
    }

    #[test]
    fn pages_of_a_list() {
        let all: Vec<i32> = (0..120).collect();
        let p = Page::of(all.clone(), 50, 50);
        assert_eq!(p.items.first(), Some(&50));
        assert_eq!(p.items.len(), 50);
        assert_eq!(p.neighbours(), (Some(0), Some(100)));
        let last = Page::of(all.clone(), 100, 50);
        assert_eq!(last.items.len(), 20);
        assert_eq!(last.neighbours(), (Some(50), None));
        let past = Page::of(all.clone(), 500, 50);
        assert!(past.items.is_empty());
        assert_eq!(past.total, 120);
        let hostile = Page::of(all, -5, 0);
        assert_eq!(
            (hostile.offset, hostile.limit, hostile.items.len()),
            (0, 1, 1)
        );
    }

    fn cell() -> CellCounts {
        CellCounts {
            processor: ProcessorId::Pdc,
            date: NaiveDate::from_ymd_opt(2021, 11, 10).unwrap(),
            expected: 10,
            has_record: 10,
            has_failure: 0,
            date_level: false,
            unaccounted: 0,
            investigate: 0,
            runs: 1,
            conflict: 0,
            extra: 0,
            cascade: 0,
            failures_by_category: BTreeMap::new(),
            last_run: None,
        }
    }

    #[test]
    fn statuses_in_priority_order() {
        assert_eq!(cell().status(), CellStatus::Ok);
        let c = CellCounts {
            expected: 0,
            has_record: 0,
            ..cell()
        };
        assert_eq!(c.status(), CellStatus::NoGames);
        let c = CellCounts {
            has_record: 0,
            runs: 0,
            unaccounted: 10,
            ..cell()
        };
        assert_eq!(c.status(), CellStatus::NotRun);
        let c = CellCounts {
            has_record: 7,
            has_failure: 1,
            unaccounted: 2,
            investigate: 1,
            ..cell()
        };
        assert_eq!(c.status(), CellStatus::Untracked);
        assert!((c.coverage() - 0.8).abs() < 1e-9);
        let c = CellCounts {
            has_record: 9,
            has_failure: 1,
            investigate: 1,
            ..cell()
        };
        assert_eq!(c.status(), CellStatus::Investigate);
        let c = CellCounts {
            has_record: 0,
            date_level: true,
            ..cell()
        };
        assert_eq!(c.status(), CellStatus::DepsMissing);
        assert_eq!(c.coverage(), 1.0);
        let c = CellCounts {
            has_record: 8,
            has_failure: 2,
            ..cell()
        };
        assert_eq!(c.status(), CellStatus::ExpectedGaps);
        assert!(CellStatus::Untracked.is_gap() && !CellStatus::ExpectedGaps.is_gap());
    }

    fn fail(up: Option<&str>) -> TraceState {
        TraceState::Failure {
            category: "MISSING_UPSTREAM".into(),
            reason: String::new(),
            upstream_processor: up.map(String::from),
            upstream_category: None,
        }
    }

    #[test]
    fn root_cause_is_the_first_failing_link() {
        let d = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
        let trace = PlayerTrace {
            player_lookup: "p".into(),
            date: d,
            expected: true,
            links: vec![
                TraceLink {
                    processor: ProcessorId::Psza,
                    state: TraceState::Failure {
                        category: "INSUFFICIENT_DATA".into(),
                        reason: "4 games, need 10".into(),
                        upstream_processor: None,
                        upstream_category: None,
                    },
                },
                TraceLink {
                    processor: ProcessorId::Pdc,
                    state: TraceState::Record,
                },
                TraceLink {
                    processor: ProcessorId::Pcf,
                    state: fail(Some("PSZA")),
                },
                TraceLink {
                    processor: ProcessorId::Mlfs,
                    state: fail(Some("PCF")),
                },
            ],
            recent_games: Vec::new(),
        };
        assert_eq!(trace.root_cause(), Some(ProcessorId::Psza));
        let ok = PlayerTrace {
            links: trace
                .links
                .iter()
                .map(|l| TraceLink {
                    processor: l.processor,
                    state: TraceState::Record,
                })
                .collect(),
            ..trace.clone()
        };
        assert_eq!(ok.root_cause(), None);
        let mut unacc = ok.clone();
        unacc.links[2].state = TraceState::Unaccounted;
        unacc.links[3].state = fail(Some("PCF"));
        assert_eq!(unacc.root_cause(), Some(ProcessorId::Pcf));
    }
}
