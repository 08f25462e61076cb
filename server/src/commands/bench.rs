//! `rollcall bench`: measurements written into docs/benchmarks.md.

use std::process::ExitCode;

use clap::Args;

use crate::bench;
use crate::config::Config;
use crate::error::Result;

#[derive(Debug, Args)]
pub struct BenchCmd {
    /// What to measure.
    #[arg(value_enum)]
    pub what: BenchWhat,
    /// Markdown file to update (its section for this benchmark is replaced).
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub output: std::path::PathBuf,
    /// `load`: how many viewers poll the dashboard.
    #[arg(long, default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub viewers: u64,
    /// `load`: viewers load the season page (server-rendered, gzip) instead
    /// of polling its data.
    #[arg(long)]
    pub pages: bool,
    /// `load`: keep season jobs running back to back for this many seconds
    /// (0: one job).
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub seconds: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchWhat {
    /// A full-season backfill of all four processors on a fresh embedded store.
    Backfill,
    /// Reconciliation latency for one and ten seasons, next to the raw SQL.
    Reconcile,
    /// BigQuery (pass the store options, e.g. an emulator) next to the embedded store.
    Bigquery,
    /// Viewers (`--viewers`, 100) polling the dashboard during a season backfill (loopback only).
    Load,
    /// An evaluation beside a plain reconciliation (14 days, a season), and a /metrics scrape.
    Watch,
    /// Freezing a season view beside its reconciliation, its stored size, and /s/{id} beside the live page.
    Snapshot,
    /// A season's reconciliation reading a team's tables through `[read]` beside Rollcall's own.
    Adopt,
    /// Not a measurement: fills the --db store for the heatmap's scale
    /// measurement (five seasons, every processor of --pipeline).
    ScaleData,
}

pub(crate) async fn run(config: &Config, cmd: BenchCmd) -> Result<ExitCode> {
    let text = match cmd.what {
        BenchWhat::Backfill => bench::render(&bench::backfill_bench(&cmd.output).await?),
        BenchWhat::Reconcile => bench::render_ms(&bench::reconcile_bench(&cmd.output).await?),
        BenchWhat::Bigquery => {
            bench::render(&bench::bigquery_bench(&cmd.output, config.store.bigquery()?).await?)
        }
        BenchWhat::Load => {
            let options = bench::LoadOptions {
                viewers: cmd.viewers as usize,
                pages: cmd.pages,
                seconds: cmd.seconds,
            };
            bench::load_bench(&cmd.output, options).await?
        }
        BenchWhat::Watch => bench::render_ms(&bench::watch_bench(&cmd.output).await?),
        BenchWhat::Snapshot => bench::render_ms(&bench::snapshot_bench(&cmd.output).await?),
        BenchWhat::Adopt => bench::render_ms(&bench::adopt_bench(&cmd.output).await?),
        BenchWhat::ScaleData => {
            println!(
                "{}",
                bench::scale_data(&config.store.db, config.pipeline()).await?
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    print!("{text}");
    println!("written to {}", cmd.output.display());
    Ok(ExitCode::SUCCESS)
}
