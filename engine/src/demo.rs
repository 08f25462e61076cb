//! `rollcall demo`: the synthetic season plus the default demo state (DESIGN §8):
//! PSZA with failure tracking, PDC/PCF/MLFS in legacy mode, over
//! 2021-10-19..2021-11-30 — hundreds of unaccounted players until re-run.

use std::sync::atomic::AtomicBool;

use chrono::NaiveDate;
use domain::ProcessorId;
use warehouse::{UpstreamLoad, Warehouse};

use crate::backfill::{backfill, BackfillRequest, DateSpec, JobSummary, ProgressSink, RunOptions};
use crate::EngineError;

pub fn demo_state_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 11, 30).expect("valid")
}

pub struct DemoReport {
    pub load: UpstreamLoad,
    pub jobs: Vec<JobSummary>,
}

/// Writes the season and runs the default demo state.
pub async fn load_demo(
    wh: &dyn Warehouse,
    seed: u64,
    sink: &dyn ProgressSink,
) -> Result<DemoReport, EngineError> {
    let season = domain::demo::generate(seed);
    let load = wh.load_upstream_rows(season.schedule, season.games).await?;
    let start = domain::demo::season_start();
    let end = demo_state_end();
    let cancel = AtomicBool::new(false);
    let mut jobs = Vec::new();
    for (processors, legacy) in [
        (vec![ProcessorId::Psza], false),
        (
            vec![ProcessorId::Pdc, ProcessorId::Pcf, ProcessorId::Mlfs],
            true,
        ),
    ] {
        let request = BackfillRequest {
            processors,
            dates: DateSpec::Range { start, end },
            only_gaps: false,
            legacy,
        };
        let options = RunOptions {
            requested_by: "demo".into(),
            resume: false,
            crash_after: None,
        };
        jobs.push(backfill(wh, &request, &options, sink, &cancel).await?);
    }
    Ok(DemoReport { load, jobs })
}
