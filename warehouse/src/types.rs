use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use domain::processors::CellOutput;
use domain::ProcessorId;

pub use domain::report::{CellCounts, GameDateSummary, JobState, RunStatus, TableCount};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseStatus {
    /// `embedded` or `bigquery`.
    pub backend: String,
    /// A file path or a project id; never a credential.
    pub location: String,
    pub schema_version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamLoad {
    pub schedule_rows: usize,
    pub game_rows: usize,
    pub dates: usize,
}

/// One row of `nba_processing.precompute_processor_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub job_id: Option<String>,
    pub processor: ProcessorId,
    pub analysis_date: NaiveDate,
    pub status: RunStatus,
    pub records_written: i64,
    pub failures_written: i64,
    pub expected_count: i64,
    pub dependency_check_passed: bool,
    pub duration_ms: i64,
    pub processor_version: String,
    pub error: Option<String>,
    pub started_at: NaiveDateTime,
}

#[derive(Debug, Clone)]
pub struct CellWrite {
    pub output: CellOutput,
    pub run: RunRow,
    /// Pre-failure-tracking behaviour: records only, failure rows untouched.
    pub legacy: bool,
    pub job_id: Option<String>,
    pub written_at: NaiveDateTime,
    /// The engine found no output or failure rows for this cell when the job
    /// started, and the job holds the cell exclusively: a store may skip
    /// deleting what is not there. (`false` is always correct.)
    pub known_empty: bool,
}

/// How the engine groups cells into one [`crate::Warehouse::write_cells`]:
/// whole dates, at most `max_cells` cells and about `max_rows` output rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBatch {
    pub max_cells: usize,
    pub max_rows: usize,
}

impl Default for WriteBatch {
    /// One cell per write: the finest checkpoint, right for a local store.
    fn default() -> Self {
        Self {
            max_cells: 1,
            max_rows: usize::MAX,
        }
    }
}

/// A job cell's checkpoint from the status of the last run the job recorded
/// for it: `success` → done, `failed` → failed, no run → pending. Both stores
/// derive job cell states this way (the embedded one in SQL, mirroring this).
pub fn checkpoint_state(last_run_status: Option<&RunStatus>) -> CellState {
    match last_run_status {
        Some(RunStatus::Success) => CellState::Done,
        Some(RunStatus::Failed) => CellState::Failed,
        _ => CellState::Pending,
    }
}

/// A row of `rollcall_meta.jobs`. `request` and `progress` are JSON documents owned
/// by the engine; the warehouse stores them opaquely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub requested_by: String,
    pub request: String,
    pub state: JobState,
    pub progress: String,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub error: Option<String>,
    /// Cell counts before and after the job (JSON owned by the engine).
    #[serde(default)]
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellState {
    Pending,
    Done,
    Failed,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Pending => "pending",
            CellState::Done => "done",
            CellState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(CellState::Pending),
            "done" => Some(CellState::Done),
            "failed" => Some(CellState::Failed),
            _ => None,
        }
    }
}

/// A job's checkpoint for one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCell {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub state: CellState,
}

/// Drill-down filter for a cell's failure rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureFilter {
    /// Canonical category code (`INSUFFICIENT_DATA`, `UNKNOWN`, ...).
    pub category: Option<String>,
    /// Substring of the player lookup (case-insensitive, matched literally).
    pub search: Option<String>,
    pub offset: i64,
    pub limit: i64,
    /// Entity rows, the date-level row, or both.
    pub scope: FailureScope,
}

/// Which of a cell's failure rows a [`FailureFilter`] keeps: the drill-down
/// pages the entities' rows and reads the date-level row on its own, so a
/// search, a category or a page never hides it nor counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureScope {
    #[default]
    Any,
    Entity,
    DateLevel,
}

/// The largest page a drill-down list returns.
pub const MAX_PAGE: i64 = 500;

impl FailureFilter {
    /// The page asked for, within bounds.
    pub fn paging(&self) -> crate::sql::Paging {
        crate::sql::Paging::within(self.limit, self.offset)
    }
}

/// Drill-down filter for a cell's unaccounted players: the same search as
/// [`FailureFilter`]'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerFilter {
    pub search: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

impl PlayerFilter {
    pub fn paging(&self) -> crate::sql::Paging {
        crate::sql::Paging::within(self.limit, self.offset)
    }
}

pub use domain::watch::{DeliveryRecord, EvaluationRecord};
