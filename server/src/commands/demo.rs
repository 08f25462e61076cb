//! `rollcall demo`: the synthetic season and the default demo state.

use domain::pipeline::Pipeline;
use std::process::ExitCode;

use clap::Args;

use super::output::print_summary;
use super::{open_store, Create};
use crate::config::Config;
use crate::error::{Result, ServerError};
use crate::progress::BarSink;

#[derive(Debug, Args)]
pub struct DemoCmd {
    /// Random seed; the same seed writes identical tables.
    #[arg(long, default_value_t = domain::demo::DEFAULT_SEED)]
    pub seed: u64,
    /// Only the first N days of the season (a small demo, e.g. 30).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=400))]
    pub days: Option<u32>,
    /// Replace box-score rows the demo did not write (imported real data).
    #[arg(long)]
    pub force: bool,
}

pub(crate) async fn run(config: &Config, cmd: DemoCmd) -> Result<ExitCode> {
    let store = &config.store;
    let universe_rows = own_universe_demo(&config.pipeline())?;
    let wh = open_store(config, Create::Yes).await?;
    if !cmd.force {
        let found = match &universe_rows {
            None => engine::demo::foreign_rows(wh.as_ref(), cmd.seed, cmd.days).await?,
            Some(rows) => engine::demo::foreign_universe_rows(wh.as_ref(), rows, cmd.days).await?,
        };
        if let Some(found) = found {
            return Err(ServerError::Input(format!(
                "the store has rows the demo did not write ({found}); \
                 nothing was changed — pass --force to replace them with the demo's"
            )));
        }
    }
    let sink = BarSink::new("demo", config.pipeline().universe.entities());
    let report = write_demo(
        wh.as_ref(),
        universe_rows,
        cmd.seed,
        cmd.days,
        &sink,
        &config.public_url,
    )
    .await?;
    sink.finish();
    let universe = &wh.pipeline().universe;
    if universe.is_nba() {
        println!(
            "demo season written to {}: {} games on {} dates, {} box-score rows",
            store.db.display(),
            report.load.schedule_rows,
            report.load.dates,
            report.load.game_rows
        );
    } else {
        println!(
            "demo written to {}: {} rows of {} on {} dates",
            store.db.display(),
            report.load.game_rows,
            universe.table,
            report.load.dates
        );
    }
    for job in &report.jobs {
        print_summary(&config.pipeline(), job, &config.command_prefix());
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo rows of a pipeline with a universe of its own (its `[universe]
/// demo` CSV, beside the pipeline file); `None` for the NBA universe, whose
/// demo is the generated season.
pub(crate) fn own_universe_demo(pipeline: &Pipeline) -> Result<Option<engine::import::TextRows>> {
    if pipeline.universe.is_nba() {
        return Ok(None);
    }
    if pipeline.universe.demo.is_empty() {
        return Err(ServerError::Input(format!(
            "this pipeline has no demo data: declare `demo = \"FILE.csv\"` under [universe], \
             or load {} with `rollcall import universe FILE.csv`",
            pipeline.universe.table
        )));
    }
    let file = std::path::Path::new(&pipeline.directory).join(&pipeline.universe.demo);
    super::import::read_universe_csv(pipeline, &file).map(Some)
}

/// Writes the demo: the generated NBA season and its default state, or a
/// pipeline's own demo rows and one backfill of its processors.
pub(crate) async fn write_demo(
    wh: &dyn warehouse::Warehouse,
    universe_rows: Option<engine::import::TextRows>,
    seed: u64,
    days: Option<u32>,
    sink: &BarSink,
    public_url: &str,
) -> Result<engine::demo::DemoReport> {
    let report = match universe_rows {
        None => engine::demo::load_demo_days(wh, seed, days, sink).await?,
        Some(rows) => engine::demo::load_universe_demo(wh, rows, days, sink).await?,
    };
    // One evaluation of the view the dashboard opens on, so the change feed
    // (/changes, `rollcall changes`) has something to show from the start.
    let pipeline = wh.pipeline();
    let view = pipeline
        .default_view
        .unwrap_or_else(domain::DateRange::default_view);
    let opts = engine::watch::EvaluateOptions {
        window: Some(view),
        as_of: chrono::Utc::now().naive_utc(),
        trigger: "demo".into(),
        public_url: public_url.to_string(),
    };
    engine::watch::evaluate(wh, &opts).await?;
    Ok(report)
}
