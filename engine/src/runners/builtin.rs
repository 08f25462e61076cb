//! Runs one of Rollcall's own processors for a cell: the pure function in
//! `domain::processors`, over the box scores and its upstream outcomes.

use chrono::NaiveDate;
use domain::processors::{self, CellOutput, SeasonIndex, UpstreamSet};
use domain::report::PlannedCell;
use domain::{Builtin, ProcessorId};
use warehouse::Warehouse;

use crate::EngineError;

/// The cells this job has written on one date, as downstream cells read them
/// (same values as the store holds: it stores exactly what was absorbed), so
/// a downstream cell reads them from memory instead of back from the store.
#[derive(Default, Clone)]
pub(crate) struct WrittenToday {
    pub date: Option<NaiveDate>,
    pub processors: Vec<ProcessorId>,
    pub upstream: UpstreamSet,
}

impl WrittenToday {
    /// Nothing written yet on `date`.
    pub fn on(date: NaiveDate) -> Self {
        Self {
            date: Some(date),
            ..Self::default()
        }
    }

    /// Takes in a cell's outcome, for the cells after it on the same date.
    pub fn absorb(&mut self, output: &CellOutput) {
        self.upstream.absorb(output);
        self.processors.push(output.processor);
    }
}

pub(crate) async fn run(
    wh: &dyn Warehouse,
    builtin: Builtin,
    index: &SeasonIndex,
    cell: &PlannedCell,
    written: &WrittenToday,
) -> Result<CellOutput, EngineError> {
    let pipeline = wh.pipeline();
    let missing: Vec<ProcessorId> = pipeline
        .spec(cell.processor)
        .depends_on
        .iter()
        .copied()
        .filter(|p| !written.processors.contains(p))
        .collect();
    let mut upstream = written.upstream.clone();
    if !missing.is_empty() {
        let read = wh.upstream_outcomes(cell.date, &missing).await?;
        upstream.merge(read, pipeline, &missing);
    }
    Ok(processors::run(
        pipeline, builtin, cell.date, index, &upstream,
    ))
}
