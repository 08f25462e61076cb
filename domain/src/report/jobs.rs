//! Jobs as the dashboard shows them: state, live progress, and what a job
//! did to each cell it touched.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::CellCounts;
use crate::ProcessorId;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
    /// Stopped by its stop rules (`--stop-on`): the reason is the job's error.
    Stopped,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
            JobState::Stopped => "stopped",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
            JobState::Interrupted,
            JobState::Stopped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
    /// Queued or running: the job is not over.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
    /// A job in this state can be resumed (its pending and failed cells re-run).
    pub fn is_resumable(self) -> bool {
        matches!(
            self,
            JobState::Failed | JobState::Interrupted | JobState::Cancelled | JobState::Stopped
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The ended job's [`job_headline`], stored with its progress.
    #[serde(default)]
    pub headline: Option<String>,
    /// Players of cells an earlier run of the job did (a resumed job):
    /// counted as done, not in this run's throughput.
    #[serde(default)]
    pub players_before: i64,
    /// The last lines a team's re-run program printed (at most
    /// [`OUTPUT_LINES`]), for the job page.
    #[serde(default)]
    pub output: Vec<String>,
}

/// How many of a re-run program's last lines a job keeps.
pub const OUTPUT_LINES: usize = 20;

impl Progress {
    /// Nothing done yet of `cells`.
    pub fn starting(pipeline: &crate::pipeline::Pipeline, cells: &[PlannedCell]) -> Self {
        let mut progress = Progress {
            cells_total: cells.len(),
            players_total: cells.iter().map(|c| c.expected).sum(),
            ..Progress::default()
        };
        for c in cells {
            progress
                .per_processor
                .entry(pipeline.code(c.processor).to_string())
                .or_insert((0, 0))
                .1 += 1;
        }
        progress
    }

    /// A resumed job: `done` (by an earlier run) and `left` to do, the
    /// whole job counted.
    pub fn resuming(
        pipeline: &crate::pipeline::Pipeline,
        left: &[PlannedCell],
        done: &[PlannedCell],
    ) -> Self {
        let all: Vec<PlannedCell> = done.iter().chain(left).cloned().collect();
        let mut progress = Self::starting(pipeline, &all);
        progress.record_done(pipeline, done);
        progress.current = None;
        progress.players_before = progress.players_done;
        progress
    }

    /// `batch` is done (written or failed); the last of it is the current cell.
    pub fn record_done(&mut self, pipeline: &crate::pipeline::Pipeline, batch: &[PlannedCell]) {
        for cell in batch {
            self.cells_done += 1;
            self.players_done += cell.expected;
            if let Some(e) = self.per_processor.get_mut(pipeline.code(cell.processor)) {
                e.0 += 1;
            }
        }
        if let Some(last) = batch.last() {
            self.current = Some(format!("{} {}", pipeline.code(last.processor), last.date));
        }
    }

    pub fn players_per_second(&self) -> f64 {
        if self.elapsed_ms == 0 {
            return 0.0;
        }
        (self.players_done - self.players_before) as f64 / (self.elapsed_ms as f64 / 1000.0)
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
    pub state: JobState,
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
    /// What the page says first ([`job_headline`], made on the server).
    #[serde(default)]
    pub headline: String,
    /// The touched cells per processor ([`tally_by_processor`]).
    #[serde(default)]
    pub tally: Vec<(ProcessorId, ChangeTally)>,
    pub resumable: bool,
    pub active: bool,
}

/// What a job did to one cell it touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// The cell's latest run failed (takes precedence: nothing was written).
    RunFailed,
    /// More failures needing investigation than before.
    NewInvestigate,
    /// Was a gap, now OK (or expected gaps only).
    GapClosed,
    /// Still a gap after the job.
    StillOpen,
    /// Was fine, is a gap now.
    NewGap,
    /// Was fine, is fine.
    Unchanged,
}

impl ChangeKind {
    /// Every kind, worst first (summary lines list them in this order).
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::RunFailed,
        ChangeKind::NewInvestigate,
        ChangeKind::NewGap,
        ChangeKind::StillOpen,
        ChangeKind::GapClosed,
        ChangeKind::Unchanged,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::RunFailed => "run failed",
            ChangeKind::NewInvestigate => "new investigate failures",
            ChangeKind::GapClosed => "gap closed",
            ChangeKind::StillOpen => "still open",
            ChangeKind::NewGap => "new gap",
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
    // By key: a snapshot compares a whole season's cells.
    let by_key = |cells: &[CellCounts]| -> BTreeMap<(NaiveDate, usize), CellCounts> {
        cells.iter().map(|c| (key(c), c.clone())).collect()
    };
    let (mut before, mut after) = (by_key(before), by_key(after));
    let mut keys: Vec<(NaiveDate, usize)> = before.keys().chain(after.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let b = before.remove(&k);
            let a = after.remove(&k);
            // Open, not merely a gap: a cell now covered by an expected
            // date-level failure is accounted for, so its gap closed.
            let gap = |c: &Option<CellCounts>| c.as_ref().is_some_and(|c| c.status().is_open());
            let investigate = |c: &Option<CellCounts>| c.as_ref().map_or(0, |c| c.investigate);
            let failed = a.as_ref().is_some_and(|c| c.failed_run().is_some());
            let kind = if failed {
                ChangeKind::RunFailed
            } else if investigate(&a) > investigate(&b) {
                ChangeKind::NewInvestigate
            } else if gap(&a) && !gap(&b) {
                ChangeKind::NewGap
            } else if gap(&a) {
                ChangeKind::StillOpen
            } else if gap(&b) {
                ChangeKind::GapClosed
            } else {
                ChangeKind::Unchanged
            };
            CellChange {
                processor: ProcessorId::at(k.1),
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

/// One processor's touched cells by what the job did to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeTally {
    pub closed: usize,
    pub still_open: usize,
    pub new_investigate: usize,
    pub failed: usize,
    pub unchanged: usize,
}

impl ChangeTally {
    fn add(&mut self, kind: ChangeKind) {
        match kind {
            ChangeKind::GapClosed => self.closed += 1,
            // A job that opened a gap left it open.
            ChangeKind::StillOpen | ChangeKind::NewGap => self.still_open += 1,
            ChangeKind::NewInvestigate => self.new_investigate += 1,
            ChangeKind::RunFailed => self.failed += 1,
            ChangeKind::Unchanged => self.unchanged += 1,
        }
    }

    /// Cells someone must still look at after the job.
    pub fn left_open(&self) -> usize {
        self.still_open + self.new_investigate + self.failed
    }
}

/// The touched cells' changes per processor, in dependency order.
pub fn tally_by_processor(changes: &[CellChange]) -> Vec<(ProcessorId, ChangeTally)> {
    let mut by: BTreeMap<ProcessorId, ChangeTally> = BTreeMap::new();
    for c in changes {
        by.entry(c.processor).or_default().add(c.kind);
    }
    by.into_iter().collect()
}

/// `n` cells, agreeing in number ("1 cell", "3 cells").
pub fn cells(n: usize) -> String {
    if n == 1 {
        "1 cell".into()
    } else {
        format!("{n} cells")
    }
}

/// What a job's page and the CLI say first: its state and, once it ended,
/// what it left open — "succeeded — 365 cells still open", "finished: 23
/// cells failed" — never a bare "succeeded" over gaps it did not close.
/// `changes` are the touched cells' before/after, when known.
pub fn job_headline(
    state: JobState,
    cells_failed: usize,
    changes: Option<&[CellChange]>,
) -> String {
    let open = changes.map(|c| {
        let t = tally_by_processor(c);
        (
            t.iter()
                .map(|(_, t)| t.still_open + t.new_investigate)
                .sum::<usize>(),
            t.iter().map(|(_, t)| t.closed).sum::<usize>(),
        )
    });
    let open_text = |(open, _closed): (usize, usize)| {
        format!(
            "{} still open (unaccounted, to investigate or never run)",
            cells(open)
        )
    };
    match state {
        JobState::Queued | JobState::Running => state.as_str().to_string(),
        // Failed before any cell did (the store, the plan): its error says why.
        JobState::Failed if cells_failed == 0 && open.is_none() => "failed".into(),
        JobState::Succeeded if cells_failed == 0 => match open {
            Some((0, closed)) => format!(
                "succeeded — every touched cell is accounted for ({} closed)",
                cells(closed)
            ),
            Some(o) => format!("succeeded — {}", open_text(o)),
            None => "succeeded".into(),
        },
        _ => {
            let mut text = if matches!(state, JobState::Succeeded | JobState::Failed) {
                "finished".to_string()
            } else {
                state.as_str().to_string()
            };
            let mut parts = Vec::new();
            if cells_failed > 0 {
                parts.push(format!("{} failed", cells(cells_failed)));
            }
            if let Some(o) = open.filter(|o| o.0 > 0) {
                parts.push(open_text(o));
            }
            if !parts.is_empty() {
                text += ": ";
                text += &parts.join(", ");
            }
            text
        }
    }
}

/// A re-run request as typed choices: what the CLI beside a server sends
/// (the dashboard's dialog sends its form's words instead).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunChoices {
    /// Processor codes, comma-separated.
    pub processors: String,
    /// Explicit dates (comma-separated); otherwise `start`..`end`.
    pub dates: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// Only cells that are not OK.
    pub only_gaps: bool,
    /// Add the downstream processors.
    pub downstream: bool,
    /// `investigate,unaccounted`: the job's stop rules.
    #[serde(default)]
    pub stop_on: Option<String>,
}
