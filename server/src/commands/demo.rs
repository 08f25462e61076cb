//! `rollcall demo`: the synthetic season and the default demo state.

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
    let wh = open_store(store, Create::Yes).await?;
    if !cmd.force {
        if let Some(found) = engine::demo::foreign_rows(wh.as_ref(), cmd.seed, cmd.days).await? {
            return Err(ServerError::Input(format!(
                "the store has rows the demo did not write ({found}); \
                 nothing was changed — pass --force to replace them with the demo's"
            )));
        }
    }
    let sink = BarSink::new("demo");
    let report = engine::demo::load_demo_days(wh.as_ref(), cmd.seed, cmd.days, &sink).await?;
    sink.finish();
    println!(
        "demo season written to {}: {} games on {} dates, {} box-score rows",
        store.db.display(),
        report.load.schedule_rows,
        report.load.dates,
        report.load.game_rows
    );
    for job in &report.jobs {
        print_summary(job);
    }
    Ok(ExitCode::SUCCESS)
}
