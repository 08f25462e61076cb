//! Error policy for the warehouse layer: one enum for every backend. Backend
//! messages are kept verbatim (they are what an operator needs to debug), but a
//! variant says what kind of failure it is so callers can map it: `NotRollcall`
//! and `Open` stop start-up with a one-line message; `OtherPipeline` too, and
//! it is the caller's mistake (a forgotten `--pipeline`: CLI exit 2); `Query` is a real fault
//! (HTTP 500, CLI exit 1); `Mapped` is a pipeline file whose `[read]`
//! names a column the team's table lacks (the caller's: exit 2); `Conflict` is a refused request (HTTP 409);
//! `NotFound` names what the request asked for and the store does not hold
//! (a job id; HTTP 404); `Repeated` is a load whose rows repeat a key (the
//! caller's data: the engine names the file's lines).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WarehouseError {
    #[error("cannot open warehouse at {location}: {message}")]
    Open { location: String, message: String },
    #[error("cannot open warehouse at {location}: {message}")]
    OtherPipeline { location: String, message: String },
    #[error("{location} is not a Rollcall database: {reason}")]
    NotRollcall { location: String, reason: String },
    #[error("warehouse schema version {found} is newer than this build understands ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("migration {version} ({name}) failed: {message}")]
    Migration {
        version: i64,
        name: String,
        message: String,
    },
    #[error("warehouse query failed: {0}")]
    Query(String),
    /// A table Rollcall only reads (`[read.failures]`, `[read.runs]`) lacks
    /// what the pipeline file maps: `key` in `section` names it, so the
    /// caller can point at the file's line (bad input, exit 2).
    #[error("[{section}] {key}: {message}")]
    Mapped {
        section: &'static str,
        key: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// A load repeated a key its table holds once (`columns` and the
    /// repeated values, in that order); nothing was written.
    #[error("{} appears twice: one row per {columns}", key.join(", "))]
    Repeated {
        columns: &'static str,
        key: Vec<String>,
    },
}

impl WarehouseError {
    /// A processor code read back from storage: an unknown one means the
    /// stored data is not what this build wrote, a query fault.
    pub fn stored_processor(
        pipeline: &domain::pipeline::Pipeline,
        code: &str,
    ) -> Result<domain::ProcessorId, WarehouseError> {
        pipeline
            .processor(code)
            .map_err(|e| WarehouseError::Query(e.to_string()))
    }
}
