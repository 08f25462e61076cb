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
    load_demo_days(wh, seed, None, sink).await
}

/// Like [`load_demo`], limited to the season's first `days` days when given
/// (a small demo for slow warehouses, e.g. BigQuery through an emulator).
pub async fn load_demo_days(
    wh: &dyn Warehouse,
    seed: u64,
    days: Option<u32>,
    sink: &dyn ProgressSink,
) -> Result<DemoReport, EngineError> {
    let mut season = domain::demo::generate(seed);
    let start = domain::demo::season_start();
    let mut end = demo_state_end();
    if let Some(days) = days {
        let last = start + chrono::Duration::days(i64::from(days.max(1)) - 1);
        season.games.retain(|g| g.game_date <= last);
        season.schedule.retain(|g| g.game_date <= last);
        end = end.min(last);
    }
    let load = wh.load_upstream_rows(season.schedule, season.games).await?;
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
