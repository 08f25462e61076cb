//! Operations: the one place where user input meets storage. Each operation
//! validates with `domain` rules and then calls the `Warehouse` trait, so the CLI
//! and the dashboard's server functions share one code path and one error type.

pub mod acks;
pub mod alerts;
pub mod backfill;
pub mod cache;
pub mod demo;
mod error;
pub mod import;
pub mod jobs;
mod overview;
pub mod reconcile;
pub mod runners;
pub mod snapshot;
pub mod watch;
mod zone;

pub use error::EngineError;
pub use overview::{overview, OverviewRequest};

/// Limits that come from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_range_days: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_range_days: domain::DEFAULT_MAX_RANGE_DAYS,
        }
    }
}

/// A user-typed range, defaulting to the standard view, within the limits.
pub fn parse_range(
    pipeline: &domain::pipeline::Pipeline,
    limits: Limits,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<domain::DateRange, EngineError> {
    Ok(domain::DateRange::parse(
        start,
        end,
        pipeline
            .default_view
            .unwrap_or_else(domain::DateRange::default_view),
        limits.max_range_days,
    )?)
}
