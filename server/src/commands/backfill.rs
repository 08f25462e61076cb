//! `rollcall backfill`: run processors over dates (locally, or through the
//! server holding the store), `--dry-run`, `--status`.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Args;
use engine::backfill::{
    backfill, plan, BackfillRequest, JobSummary, RawBackfillRequest, RunOptions,
};
use warehouse::Warehouse;

use super::output::{cancel_on_ctrl_c, print_job_line, print_plan, print_summary};
use super::{open_store, running_server, Create};
use crate::config::Config;
use crate::error::{Result, ServerError};
use crate::progress::BarSink;

#[derive(Debug, Args)]
pub struct BackfillCmd {
    /// Processors, comma-separated (PSZA, PDC, PCF, MLFS).
    #[arg(long, value_name = "P[,P...]", required_unless_present = "status")]
    pub processor: Option<String>,
    /// Add every processor downstream of the selected ones.
    #[arg(long)]
    pub downstream: bool,
    /// First analysis date (YYYY-MM-DD).
    #[arg(long, requires = "end_date", conflicts_with = "dates")]
    pub start_date: Option<String>,
    /// Last analysis date (YYYY-MM-DD), inclusive.
    #[arg(long, requires = "start_date")]
    pub end_date: Option<String>,
    /// Explicit dates, comma-separated.
    #[arg(long, value_name = "D[,D...]")]
    pub dates: Option<String>,
    /// Only cells that are not OK (unaccounted, investigate, date-level, never run).
    #[arg(long)]
    pub only_gaps: bool,
    /// List the cells and expected players without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Start a new job even if an unfinished one with the same request exists.
    #[arg(long)]
    pub no_resume: bool,
    /// Show recent jobs and exit.
    #[arg(long)]
    pub status: bool,
    /// Write records only, no failure rows (reproduces the pre-tracking pipeline).
    #[arg(long)]
    pub legacy: bool,
    /// Stop after the in-flight write when a cell it wrote has entities to
    /// investigate or unaccounted ones: `investigate`, `unaccounted` or both.
    #[arg(long, value_name = "investigate,unaccounted")]
    pub stop_on: Option<String>,
}

pub(crate) async fn run(config: &Config, cmd: BackfillCmd) -> Result<ExitCode> {
    let store = &config.store;
    let limits = config.limits();
    // Validate everything before opening (and possibly creating) the store.
    let request = if cmd.status {
        None
    } else {
        let raw = RawBackfillRequest {
            processors: cmd.processor.clone().unwrap_or_default(),
            downstream: cmd.downstream,
            start: cmd.start_date.clone(),
            end: cmd.end_date.clone(),
            dates: cmd.dates.clone(),
            only_gaps: cmd.only_gaps,
            legacy: cmd.legacy,
            stop_on: cmd.stop_on.clone(),
        };
        Some(
            BackfillRequest::parse(&config.pipeline(), &raw, limits)
                .map_err(|e| ServerError::Input(e.to_string()))?,
        )
    };
    if let Some(remote) = running_server(store).await {
        return backfill_through(
            config,
            &remote,
            &cmd,
            request.is_none(),
            &config.command_prefix(),
        )
        .await;
    }
    let wh = open_store(config, Create::No).await?;
    let Some(request) = request else {
        return job_status(wh.as_ref()).await;
    };
    if cmd.dry_run {
        let cells = plan(wh.as_ref(), &request).await?;
        print_plan(&config.pipeline(), &cells);
        return Ok(ExitCode::SUCCESS);
    }
    let cancel = cancel_on_ctrl_c();
    let options = RunOptions {
        resume: !cmd.no_resume,
        ..RunOptions::default()
    };
    let sink = BarSink::new("backfill", config.pipeline().universe.entities());
    let summary = backfill(wh.as_ref(), &request, &options, &sink, &cancel).await?;
    sink.finish();
    print_summary(&config.pipeline(), &summary, &config.command_prefix());
    if summary.state == warehouse::JobState::Stopped && !config.pipeline().alerts.is_empty() {
        // The stop rules tripped: an evaluation of the job's range sends
        // the alerts for what it left open.
        let (start, end) = request.bounds();
        let opts = engine::watch::EvaluateOptions {
            window: Some(domain::DateRange::new(start, end, limits.max_range_days)?),
            as_of: chrono::Utc::now().naive_utc(),
            trigger: format!("stopped {}", summary.job_id),
            public_url: config.public_url.clone(),
        };
        match engine::watch::evaluate(wh.as_ref(), &opts).await {
            Ok(e) => println!("  alerts sent: {}", e.deliveries.len()),
            Err(e) => eprintln!("warning: the stop's evaluation failed: {e}"),
        }
    }
    Ok(
        if summary.failed_cells.is_empty() && summary.state == warehouse::JobState::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// `backfill` while a server holds the store: the same request as a
/// dashboard re-run, followed with the same progress bar and exit codes.
async fn backfill_through(
    config: &Config,
    remote: &crate::remote::Remote,
    cmd: &BackfillCmd,
    status_only: bool,
    program: &str,
) -> Result<ExitCode> {
    if status_only {
        for j in remote.jobs().await? {
            print_job_line(&j.id, j.state, &j.progress, &j.requested_by, j.created_at);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if cmd.legacy {
        return Err(ServerError::Input(
            "--legacy needs the store to itself: stop the server first".into(),
        ));
    }
    let choices = domain::report::RerunChoices {
        processors: cmd.processor.clone().unwrap_or_default(),
        dates: cmd.dates.clone(),
        start: cmd.start_date.clone(),
        end: cmd.end_date.clone(),
        only_gaps: cmd.only_gaps,
        downstream: cmd.downstream,
        stop_on: cmd.stop_on.clone(),
    };
    if cmd.dry_run {
        let cells = remote.preview(&choices).await?;
        print_plan(&config.pipeline(), &cells);
        return Ok(ExitCode::SUCCESS);
    }
    let id = remote.start(&choices).await?;
    let cancel = cancel_on_ctrl_c();
    let sink = BarSink::new("backfill", config.pipeline().universe.entities());
    let mut cancel_sent = false;
    let view = loop {
        let view = remote.job(&id).await?;
        engine::backfill::ProgressSink::update(&sink, &view.progress);
        if !view.active {
            break view;
        }
        if cancel.load(Ordering::SeqCst) && !cancel_sent {
            remote.cancel(&id).await?;
            cancel_sent = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    sink.finish();
    let state = view.state;
    print_summary(
        &config.pipeline(),
        &JobSummary {
            job_id: view.id.clone(),
            state,
            resumed: false,
            progress: view.progress.clone(),
            failed_cells: Vec::new(),
            error: view.error.clone(),
            changes: view.changes.clone().unwrap_or_default(),
        },
        program,
    );
    Ok(
        if state == warehouse::JobState::Succeeded && view.progress.cells_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

async fn job_status(wh: &dyn Warehouse) -> Result<ExitCode> {
    let jobs = wh.jobs(20).await?;
    if jobs.is_empty() {
        println!("no jobs yet");
    }
    for j in jobs {
        let p: engine::backfill::Progress = serde_json::from_str(&j.progress).unwrap_or_default();
        print_job_line(&j.id, j.state, &p, &j.requested_by, j.created_at);
    }
    Ok(ExitCode::SUCCESS)
}
