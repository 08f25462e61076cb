//! One cell's drill-down: its failure rows (paged), unaccounted players,
//! the runs that wrote it, and the types that name a cell and a run's end.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::{CellCounts, CellStatus};
use crate::pipeline::Pipeline;
use crate::{DomainError, FailureCategory, ProcessorId};

/// One (processor, date) cell, written `PDC:2021-11-10` in links and the
/// grid's markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    pub processor: ProcessorId,
    pub date: NaiveDate,
}

impl CellKey {
    /// `PDC:2021-11-10`, as links and the grid's markup write it.
    pub fn text(&self, pipeline: &Pipeline) -> String {
        format!("{}:{}", pipeline.code(self.processor), self.date)
    }

    /// `PDC:2021-11-10` (any processor spelling); the error names `cell`.
    pub fn parse(pipeline: &Pipeline, raw: &str) -> Result<Self, DomainError> {
        let (p, d) = raw
            .split_once(':')
            .ok_or_else(|| DomainError::MalformedDate {
                field: "cell",
                value: raw.chars().take(40).collect(),
            })?;
        Ok(CellKey {
            processor: pipeline.processor(p)?,
            date: crate::dates::parse_date("cell", d.trim())?,
        })
    }
}

/// How a run ended, as `precompute_processor_runs.status` spells it. Rollcall
/// writes `success` and `failed`; another writer's word is kept as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RunStatus {
    Success,
    Failed,
    Other(String),
}

impl RunStatus {
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Other(s) => s,
        }
    }
}

impl From<String> for RunStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "success" => RunStatus::Success,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Other(s),
        }
    }
}

impl From<&str> for RunStatus {
    fn from(s: &str) -> Self {
        RunStatus::from(s.to_string())
    }
}

impl From<RunStatus> for String {
    fn from(s: RunStatus) -> Self {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failure row as a drill-down shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub entity_id: String,
    /// As written by whoever wrote it.
    pub raw_category: String,
    /// Canonical category after the built-in alias table (`Unknown` if
    /// unrecognised).
    pub category: FailureCategory,
    /// The code the pipeline's taxonomy reads it as (its `[categories]`
    /// first); empty in a snapshot taken before them: see [`FailureRow::code`].
    #[serde(default)]
    pub code: String,
    pub reason: String,
    pub can_retry: bool,
    pub upstream_processor: Option<String>,
    pub upstream_category: Option<String>,
    pub run_id: Option<String>,
}

impl FailureRow {
    /// The code the pipeline reads the row's category as.
    pub fn code(&self) -> &str {
        if self.code.is_empty() {
            self.category.code()
        } else {
            &self.code
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

impl<T> Page<T> {
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
    pub status: RunStatus,
    pub records_written: i64,
    pub failures_written: i64,
    pub expected_count: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub started_at: Option<NaiveDateTime>,
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
