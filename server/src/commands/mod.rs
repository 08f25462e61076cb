//! The `rollcall` subcommands, one file each; `main` parses [`Cli`] and calls
//! [`run`]. Exit codes: 0 success, 1 a failure or something to investigate,
//! 2 bad input (nothing was written) — see `crate::error`.

mod ack;
mod backfill;
mod bench;
mod demo;
mod import;
mod output;
mod pipeline;
mod serve;
mod snapshot;
mod validate;
mod watch;

pub(crate) use watch::parse_as_of;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

use crate::config::{Config, StoreArgs, WarehouseKind};
use crate::error::{Result, ServerError};

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Backfill observability: every expected entity answers roll call",
    long_about = "Rollcall runs a pipeline's processors over date ranges, records an output \
row or a failure with a reason for every expected entity (a player, a customer, …), and \
shows whether every one is accounted for: in the browser, as a shareable link, or on the \
command line."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard (default http://127.0.0.1:3000) on the configured warehouse.
    Serve(serve::ServeCmd),
    /// Write the synthetic 2021-22 demo season and the default demo state.
    Demo(demo::DemoCmd),
    /// Run processors over dates, recording a record or a failure for every expected entity.
    Backfill(backfill::BackfillCmd),
    /// Load real upstream rows from a file (validated first; all or nothing).
    Import(import::ImportCmd),
    /// Reconcile: is every expected entity accounted for? Exit 0 if so, 1 if not, 2 on bad input, 3 if the warehouse cannot be reached; `--openlineage-url` also sends OpenLineage events.
    Validate(validate::ValidateCmd),
    /// Check the pipeline file (`--pipeline`) and list its processors; a file error exits 2 as FILE:LINE:COLUMN: message.
    Pipeline(pipeline::PipelineCmd),
    /// Measure performance and write the results into docs/benchmarks.md.
    Bench(bench::BenchCmd),
    /// Evaluate the watch window, keep the evaluation and compare it with the previous one. Exit 0 if nothing is open, 1 if something is, 2 on bad input, 3 if the warehouse is unreachable.
    Watch(watch::WatchCmd),
    /// What opened, got worse or resolved across evaluations since a moment (`--since 24h`).
    Changes(watch::ChangesCmd),
    /// Acknowledge a known gap (unaccounted entities of a cell, or the whole cell) with a reason and an expiry; `--list` shows them. It stays a gap, counted apart.
    Ack(ack::AckCmd),
    /// Revoke an acknowledgement: its gap shows as unaccounted again.
    Unack(ack::UnackCmd),
    /// Freeze a view (its reconciliation and what its drill-downs show) and print its link; `--compare ID` compares one with now (exit 1 if a cell differs), `--list` lists them.
    Snapshot(snapshot::SnapshotCmd),
}

/// Runs one subcommand with the configuration read once at start-up.
pub async fn run(mut cli: Cli) -> Result<ExitCode> {
    let pipeline = cli.config.load_pipeline()?;
    let config = &cli.config;
    match cli.command {
        Command::Serve(cmd) => serve::run(config, cmd).await.map(|_| ExitCode::SUCCESS),
        Command::Demo(cmd) => demo::run(config, cmd).await,
        Command::Backfill(cmd) => backfill::run(config, cmd).await,
        Command::Import(cmd) => import::run(config, cmd).await,
        Command::Validate(cmd) => validate::run(config, cmd).await,
        Command::Bench(cmd) => bench::run(config, cmd).await,
        Command::Pipeline(cmd) => pipeline::run(config, &pipeline, cmd).await,
        Command::Watch(cmd) => watch::run_watch(config, cmd).await,
        Command::Changes(cmd) => watch::run_changes(config, cmd).await,
        Command::Ack(cmd) => ack::run_ack(config, cmd).await,
        Command::Unack(cmd) => ack::run_unack(config, cmd).await,
        Command::Snapshot(cmd) => snapshot::run(config, cmd).await,
    }
}

/// The server holding this embedded store, if one runs (see `server::remote`).
pub(crate) async fn running_server(store: &StoreArgs) -> Option<crate::remote::Remote> {
    if store.warehouse != WarehouseKind::Embedded {
        return None;
    }
    let token = std::env::var("ROLLCALL_OPERATOR_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let remote = crate::remote::Remote::find(&store.db, token).await?;
    eprintln!(
        "the store is served by {}: going through it",
        remote.address()
    );
    Some(remote)
}

/// Whether opening may create a missing embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Yes,
    No,
}

/// Opens the configured store. The embedded file is locked by this process,
/// so any job still marked `running` belongs to a process that died: mark it
/// interrupted. On BigQuery, where processes share the datasets, only `serve`
/// does that, and only for jobs whose lease ran out (a CLI backfill running
/// beside the server renews its lease and stays `running`).
pub(crate) async fn open_store(config: &Config, create: Create) -> Result<Arc<dyn Warehouse>> {
    let wh = open_unchecked(config, create).await?;
    check_read_tables(config, wh.as_ref()).await?;
    if config.store.warehouse == WarehouseKind::Embedded {
        interrupt_dead_jobs(wh.as_ref(), None).await?;
    }
    Ok(wh)
}

/// [`open_store`] without its checks of the team's tables (`rollcall
/// pipeline` runs them itself, after saying whether the store opens).
pub(crate) async fn open_unchecked(config: &Config, create: Create) -> Result<Arc<dyn Warehouse>> {
    let store = &config.store;
    let pipeline = config.pipeline();
    if store.warehouse == WarehouseKind::Embedded && create == Create::No && !store.db.exists() {
        // A mistyped path must not turn into an empty store and a false green.
        return Err(ServerError::Input(format!(
            "no such store: {} (create one with `rollcall demo` or `rollcall import`, or pass --db)",
            store.db.display()
        )));
    }
    if store.warehouse == WarehouseKind::Embedded {
        if let Some(why) = warehouse_embedded::name_clash(&store.db, &pipeline) {
            return Err(ServerError::Input(format!("{}: {why}", store.db.display())));
        }
    }
    let wh: Arc<dyn Warehouse> = match store.warehouse {
        WarehouseKind::Embedded => Arc::new(
            EmbeddedWarehouse::open_with(&store.db, pipeline, &store.embedded_limits()).map_err(
                |e| {
                    // DuckDB's lock error names a PID and a lock; say what it means.
                    let text = e.to_string();
                    if text.contains("Could not set lock") || text.contains("Conflicting lock") {
                        ServerError::Input(format!(
                            "{} is held by another process (a running `rollcall serve`?): stop it \
                         first; `validate` and `backfill` go through a server that holds it",
                            store.db.display()
                        ))
                    } else {
                        ServerError::from(e)
                    }
                },
            )?,
        ),
        WarehouseKind::Bigquery => Arc::new(
            warehouse_bigquery::BigQueryWarehouse::open(store.bigquery()?, pipeline).await?,
        ),
    };
    Ok(wh)
}

/// The team's tables the pipeline maps (`[read]`) must have the mapped
/// columns: a missing one is bad input at the file's line, before
/// anything runs.
pub(crate) async fn check_read_tables(config: &Config, wh: &dyn Warehouse) -> Result<()> {
    let Err(e) = wh.check_read_tables().await else {
        return Ok(());
    };
    let warehouse::WarehouseError::Mapped { section, key, .. } = &e else {
        return Err(e.into());
    };
    let message = e.to_string();
    Err(at_the_file_line(config, message, |text, message| {
        domain::pipeline::Pipeline::at_mapped(text, section, key, message)
    }))
}

/// `message` about the pipeline file, as `FILE:LINE:COLUMN: message` at
/// the place `place` finds in its text (bad input).
pub(crate) fn at_the_file_line(
    config: &Config,
    message: String,
    place: impl FnOnce(&str, String) -> domain::DomainError,
) -> ServerError {
    let Some(path) = &config.pipeline else {
        return ServerError::Input(message);
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    crate::config::in_file(&name, place(&text, message))
}

pub(crate) async fn interrupt_dead_jobs(
    wh: &dyn Warehouse,
    stale_before: Option<chrono::NaiveDateTime>,
) -> Result<()> {
    let interrupted = wh.interrupt_stale_jobs(stale_before).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "jobs left running by a stopped process are now interrupted"
        );
    }
    Ok(())
}
