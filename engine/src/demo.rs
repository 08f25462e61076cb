//! `rollcall demo`: the synthetic season plus the default demo state (docs/DESIGN.md §8):
//! PSZA with failure tracking, PDC/PCF/MLFS in legacy mode, over
//! 2021-10-19..2021-11-30 — hundreds of unaccounted players until re-run.

use std::sync::atomic::AtomicBool;

use chrono::NaiveDate;
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

/// Box-score rows the demo would replace but did not write: the first date
/// on which the store's row count differs from the demo's, described for the
/// user. `None`: every stored date in the demo's span holds the demo's rows
/// (or nothing).
pub async fn foreign_rows(
    wh: &dyn Warehouse,
    seed: u64,
    days: Option<u32>,
) -> Result<Option<String>, EngineError> {
    let season = domain::demo::generate(seed);
    let start = domain::demo::season_start();
    let last = match days {
        Some(days) => start + chrono::Duration::days(i64::from(days.max(1)) - 1),
        None => domain::demo::season_end(),
    };
    let dates = season
        .games
        .iter()
        .map(|g| g.game_date)
        .filter(|d| *d <= last);
    first_foreign_date(wh, dates, "box-score").await
}

/// The first stored date whose universe rows differ in number from the
/// demo's (`demo_dates`: one per demo row), described for the user.
async fn first_foreign_date(
    wh: &dyn Warehouse,
    demo_dates: impl Iterator<Item = NaiveDate>,
    rows_are: &str,
) -> Result<Option<String>, EngineError> {
    let mut demo_rows: std::collections::BTreeMap<NaiveDate, i64> = Default::default();
    for d in demo_dates {
        *demo_rows.entry(d).or_default() += 1;
    }
    let (Some(start), Some(last)) = (
        demo_rows.keys().next().copied(),
        demo_rows.keys().next_back().copied(),
    ) else {
        return Ok(None);
    };
    let range = domain::DateRange::new(start, last, i64::MAX)?;
    for stored in wh.game_dates(range).await? {
        let demo = demo_rows.get(&stored.game_date).copied().unwrap_or(0);
        if stored.player_rows != demo {
            return Ok(Some(format!(
                "{} holds {} {rows_are} rows where the demo has {demo}",
                stored.game_date, stored.player_rows
            )));
        }
    }
    Ok(None)
}

/// The demo of a pipeline with a universe of its own: its demo rows
/// (`(line, fields)` as [`crate::import::import_universe`] takes them; the
/// first `days` dates only, when given) loaded, then one backfill of every
/// processor Rollcall runs over their dates.
pub async fn load_universe_demo(
    wh: &dyn Warehouse,
    rows: crate::import::TextRows,
    days: Option<u32>,
    sink: &dyn ProgressSink,
) -> Result<DemoReport, EngineError> {
    let rows = first_days(rows, days);
    let load = crate::import::import_universe(wh, crate::import::in_memory(rows.clone())).await?;
    let dates: Vec<NaiveDate> = rows.iter().filter_map(|(_, f)| row_date(f)).collect();
    let (Some(start), Some(end)) = (dates.iter().min().copied(), dates.iter().max().copied())
    else {
        return Ok(DemoReport {
            load,
            jobs: Vec::new(),
        });
    };
    let processors: Vec<domain::ProcessorId> = wh
        .pipeline()
        .processors
        .iter()
        // A team's re-run program is the team's to start, not the demo's.
        .filter(|p| p.runner.writes_table())
        .map(|p| p.id)
        .collect();
    let mut jobs = Vec::new();
    if !processors.is_empty() {
        let request = BackfillRequest {
            processors,
            dates: DateSpec::Range { start, end },
            only_gaps: false,
            legacy: false,
            stop_on: Default::default(),
        };
        let options = RunOptions {
            requested_by: "demo".into(),
            resume: false,
            crash_after: None,
        };
        let cancel = AtomicBool::new(false);
        jobs.push(backfill(wh, &request, &options, sink, &cancel).await?);
    }
    Ok(DemoReport { load, jobs })
}

/// A demo row's date (the second field), if it is one.
fn row_date(fields: &[String]) -> Option<NaiveDate> {
    domain::dates::parse_date("date", fields.get(1)?.trim()).ok()
}

/// The rows of the first `days` dates (all of them when `None`).
fn first_days(rows: crate::import::TextRows, days: Option<u32>) -> crate::import::TextRows {
    let Some(days) = days else { return rows };
    let Some(first) = rows.iter().filter_map(|(_, f)| row_date(f)).min() else {
        return rows;
    };
    let last = first + chrono::Duration::days(i64::from(days.max(1)) - 1);
    rows.into_iter()
        .filter(|(_, f)| row_date(f).is_none_or(|d| d <= last))
        .collect()
}

/// [`foreign_rows`] for a universe of the pipeline's own: the first date
/// whose stored universe rows differ in number from the demo's.
pub async fn foreign_universe_rows(
    wh: &dyn Warehouse,
    rows: &[(u64, Vec<String>)],
    days: Option<u32>,
) -> Result<Option<String>, EngineError> {
    let rows = first_days(rows.to_vec(), days);
    first_foreign_date(wh, rows.iter().filter_map(|(_, f)| row_date(f)), "universe").await
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
    // The demo state: PSZA with failure tracking, the rest as the legacy
    // pipeline wrote them (each builtin the pipeline runs).
    let pipeline = wh.pipeline();
    let ran = |builtins: &[domain::Builtin]| -> Vec<domain::ProcessorId> {
        builtins
            .iter()
            .filter_map(|b| pipeline.builtin(*b))
            .collect()
    };
    for (processors, legacy) in [
        (ran(&[domain::Builtin::Psza]), false),
        (
            ran(&[
                domain::Builtin::Pdc,
                domain::Builtin::Pcf,
                domain::Builtin::Mlfs,
            ]),
            true,
        ),
    ] {
        if processors.is_empty() {
            continue;
        }
        let request = BackfillRequest {
            processors,
            dates: DateSpec::Range { start, end },
            only_gaps: false,
            legacy,
            stop_on: Default::default(),
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
