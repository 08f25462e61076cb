//! `rollcall pipeline`: the pipeline file was read and validated at start-up
//! (`Config::install_pipeline`, which reports a file error as
//! `FILE:LINE:COLUMN: message`, exit 2); this prints what it declares, and
//! when there is a store checks there what only the store can tell — the
//! team's tables `[read]` maps and the `expected` condition — so a typo fails
//! here, at the file's line, not later in a backfill. A team's re-run program
//! on the embedded store is said to be unable to write into it.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use domain::pipeline::Pipeline;

use crate::config::{Config, WarehouseKind};
use crate::error::Result;

#[derive(Debug, Args)]
pub struct PipelineCmd {}

pub async fn run(config: &Config, pipeline: &Pipeline, _cmd: PipelineCmd) -> Result<ExitCode> {
    let source = config.pipeline.as_ref().map_or_else(
        || "the shipped pipeline (pipelines/nba.toml)".to_string(),
        |p| p.display().to_string(),
    );
    check_expected_on_the_store(config).await?;
    print!("{}", describe(&source, pipeline));
    if let Some(caveat) = store_caveat(pipeline, config.store.warehouse) {
        println!("{caveat}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `expected` on the store, when there is one: its error, placed at
/// the condition in the file, is bad input (exit 2). A store that cannot be
/// opened (held by a server, another pipeline's) is said and skipped.
async fn check_expected_on_the_store(config: &Config) -> Result<()> {
    let exists = match config.store.warehouse {
        WarehouseKind::Embedded => config.store.db.exists(),
        WarehouseKind::Bigquery => true,
    };
    if !exists {
        return Ok(());
    }
    let wh = match super::open_unchecked(config, super::Create::No).await {
        Ok(wh) => wh,
        Err(e) => {
            eprintln!("note: `expected` not checked against the store: {e}");
            return Ok(());
        }
    };
    super::check_read_tables(config, wh.as_ref()).await?;
    let Err(e) = wh.check_expected().await else {
        return Ok(());
    };
    let message = format!(
        "`expected` fails on the store: {}",
        one_line(&e.to_string())
    );
    Err(super::at_the_file_line(
        config,
        message,
        Pipeline::at_expected,
    ))
}

fn one_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(400)
        .collect()
}

/// The pipeline as a short report: its universe and tables, then one line
/// per processor in dependency order.
pub fn describe(source: &str, p: &Pipeline) -> String {
    let u = &p.universe;
    let mut out = format!(
        "{source}: valid, {} processors\n\
         universe  {} (date {}, entity {})\n\
         expected  {}\n\
         failures  {}\n\
         runs      {}\n",
        p.processors.len(),
        u.table,
        u.date_column,
        u.entity_column,
        u.expected,
        p.failures_table,
        p.runs_table,
    );
    let directory = if p.directory.is_empty() {
        "."
    } else {
        p.directory.as_str()
    };
    for s in &p.processors {
        let runs = match &s.runner {
            domain::Runner::Builtin(b) => format!("builtin {b}"),
            domain::Runner::Command(_) | domain::Runner::Observe => s.runner.name().to_string(),
            domain::Runner::Rerun(_) => "observe+rerun".to_string(),
        };
        let ups: Vec<&str> = s
            .depends_on
            .iter()
            .map(|d| p.processors[d.order()].code.as_str())
            .collect();
        let _ = writeln!(
            out,
            "{:<6} {:<34} {:<13} {} ({}, {})  min_games {}  depends on: {}",
            s.code,
            s.name,
            runs,
            s.output_table,
            s.date_column,
            s.entity_column,
            s.min_games,
            if ups.is_empty() {
                "-".to_string()
            } else {
                ups.join(", ")
            },
        );
        if let Some(c) = s.runner.command() {
            let columns: Vec<String> = s
                .columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty.name()))
                .collect();
            let _ = writeln!(
                out,
                "       command: {} {} DATE  (in {}, timeout {} s)  columns: {}",
                c.program,
                c.args.join(" "),
                directory,
                c.timeout_seconds,
                if columns.is_empty() {
                    "-".to_string()
                } else {
                    columns.join(", ")
                },
            );
        }
        if let Some(c) = s.runner.rerun() {
            let _ = writeln!(
                out,
                "       rerun: {} {}  (in {}, {} days per run, timeout {} s)",
                c.program,
                c.args.join(" "),
                directory,
                c.batch_dates,
                c.timeout_seconds,
            );
        }
    }
    if let Some(f) = &p.read.failures {
        let _ = writeln!(
            out,
            "reads     {} as failures (entity {}, date {}, category {}){}",
            f.table,
            f.entity,
            f.date,
            f.category,
            f.filter
                .as_ref()
                .map(|w| format!(" where {w}"))
                .unwrap_or_default()
        );
    }
    if let Some(r) = &p.read.runs {
        let _ = writeln!(
            out,
            "reads     {} as runs (date {}, run {}, time {})",
            r.table, r.date, r.run_id, r.time
        );
    }
    for (spelling, code, expected) in p.categories.declared() {
        let _ = writeln!(
            out,
            "category  {spelling} = {code} ({})",
            if expected { "expected" } else { "investigate" }
        );
    }
    out
}

/// What the store means for a team's re-run programs: the embedded file is
/// locked by the Rollcall process that opened it, so a program cannot
/// write into it (None where the store can be shared).
pub fn store_caveat(p: &Pipeline, warehouse: WarehouseKind) -> Option<String> {
    let programs: Vec<&str> = p
        .processors
        .iter()
        .filter(|s| s.runner.rerun().is_some())
        .map(|s| s.code.as_str())
        .collect();
    if programs.is_empty() || warehouse != WarehouseKind::Embedded {
        return None;
    }
    Some(format!(
        "note: {} re-run by the team's own program, which writes its tables itself; \
         the embedded store is one DuckDB file that the Rollcall process holds locked, \
         so such a program cannot write into it: use BigQuery (--warehouse bigquery), \
         where Rollcall and the team's jobs share the datasets",
        programs.join(", ")
    ))
}
