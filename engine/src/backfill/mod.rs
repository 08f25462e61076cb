//! The backfill engine: plan cells, run them in dependency order date by date,
//! write each cell idempotently with its checkpoint, resume unfinished jobs.
//! The CLI and the server's jobs use this one code path.

mod plan;
mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{NaiveDate, Utc};
use domain::pipeline::Pipeline;
use domain::{DateRange, DomainError, FailureCategory, ProcessorId};
use serde::{Deserialize, Serialize};
use warehouse::{CellState, JobRecord, JobState, Warehouse};

pub use domain::report::{PlannedCell, Progress};
pub use plan::plan;

use crate::{EngineError, Limits};
use plan::{counts_of, plan_expected};
use run::JobRun;

/// Which dates a backfill covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateSpec {
    Range { start: NaiveDate, end: NaiveDate },
    List(Vec<NaiveDate>),
}

/// A validated backfill request. Stored as JSON on the job, and compared to
/// find an unfinished job to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRequest {
    /// Processor codes in dependency order (downstream already added).
    pub processors: Vec<ProcessorId>,
    pub dates: DateSpec,
    /// Only cells that are not OK (unaccounted, investigate, date-level, not run).
    pub only_gaps: bool,
    /// Records only, no failure rows (reproduces the pre-tracking pipeline).
    pub legacy: bool,
    /// Stop after the in-flight write when a written cell trips these.
    #[serde(default)]
    pub stop_on: domain::watch::StopOn,
}

/// The request as typed on the command line or in a form.
#[derive(Debug, Clone, Default)]
pub struct RawBackfillRequest {
    pub processors: String,
    pub downstream: bool,
    pub start: Option<String>,
    pub end: Option<String>,
    pub dates: Option<String>,
    pub only_gaps: bool,
    pub legacy: bool,
    /// `investigate,unaccounted` (`--stop-on`), as typed.
    pub stop_on: Option<String>,
}

impl BackfillRequest {
    pub fn parse(
        pipeline: &Pipeline,
        raw: &RawBackfillRequest,
        limits: Limits,
    ) -> Result<Self, DomainError> {
        let named = pipeline.processor_list(&raw.processors)?;
        if let Some(spec) = named
            .iter()
            .map(|p| pipeline.spec(*p))
            .find(|s| !s.runner.runs_here())
        {
            return Err(DomainError::BadParameter {
                name: "processors",
                message: format!(
                    "{} is observed: another system writes {}, so Rollcall cannot re-run it",
                    spec.code, spec.output_table
                ),
            });
        }
        let processors = if raw.downstream {
            // Observed processors downstream are reconciled, never run.
            pipeline
                .with_downstream(&named)
                .into_iter()
                .filter(|p| pipeline.spec(*p).runner.runs_here())
                .collect()
        } else {
            named
        };
        let dates = match (&raw.dates, &raw.start, &raw.end) {
            (Some(list), None, None) => {
                let mut out = BTreeSet::new();
                for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    out.insert(domain::dates::parse_date("dates", part)?);
                }
                if out.is_empty() {
                    return Err(DomainError::MalformedDate {
                        field: "dates",
                        value: list.chars().take(40).collect(),
                    });
                }
                let (first, last) = (
                    *out.first().unwrap_or(&NaiveDate::MIN),
                    *out.last().unwrap_or(&NaiveDate::MIN),
                );
                DateRange::new(first, last, limits.max_range_days)?;
                DateSpec::List(out.into_iter().collect())
            }
            (None, Some(s), Some(e)) => {
                let start = domain::dates::parse_date("start-date", s)?;
                let end = domain::dates::parse_date("end-date", e)?;
                DateRange::new(start, end, limits.max_range_days)?;
                DateSpec::Range { start, end }
            }
            _ => return Err(DomainError::MissingDates),
        };
        let stop_on = domain::watch::StopOn::parse(raw.stop_on.as_deref().unwrap_or_default())?;
        Ok(Self {
            processors,
            dates,
            only_gaps: raw.only_gaps,
            legacy: raw.legacy,
            stop_on,
        })
    }

    pub fn bounds(&self) -> (NaiveDate, NaiveDate) {
        match &self.dates {
            DateSpec::Range { start, end } => (*start, *end),
            DateSpec::List(v) => (
                *v.first().unwrap_or(&NaiveDate::MIN),
                *v.last().unwrap_or(&NaiveDate::MIN),
            ),
        }
    }

    fn includes(&self, d: NaiveDate) -> bool {
        match &self.dates {
            DateSpec::Range { start, end } => *start <= d && d <= *end,
            DateSpec::List(v) => v.binary_search(&d).is_ok(),
        }
    }
}

/// Receives progress while a job runs (a CLI bar, the server's job registry).
pub trait ProgressSink: Send + Sync {
    fn update(&self, progress: &Progress);
}

impl ProgressSink for () {
    fn update(&self, _: &Progress) {}
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub job_id: String,
    pub state: JobState,
    pub resumed: bool,
    pub progress: Progress,
    pub failed_cells: Vec<(ProcessorId, NaiveDate)>,
    /// Why cells failed (the job's error line), when any did.
    #[serde(default)]
    pub error: Option<String>,
    /// The touched cells before and after, once the job ended.
    #[serde(default)]
    pub changes: Vec<domain::report::CellChange>,
}

impl JobSummary {
    /// The job's first line: its state and what it left open.
    pub fn headline(&self) -> String {
        let changes = (!self.changes.is_empty()).then_some(self.changes.as_slice());
        domain::report::job_headline(self.state, self.progress.cells_failed, changes)
    }
}

impl JobSummary {
    /// The command that retries the failed cells, per processor, starting
    /// with `program` (as [`domain::report::Reconciliation::rerun_commands`]).
    pub fn retry_commands(&self, pipeline: &Pipeline, program: &str) -> Vec<String> {
        let mut by: BTreeMap<usize, Vec<NaiveDate>> = BTreeMap::new();
        for (p, d) in &self.failed_cells {
            by.entry(p.order()).or_default().push(*d);
        }
        by.into_iter()
            .map(|(order, dates)| {
                let code = &pipeline.processors[order].code;
                domain::report::rerun_command(program, code, &dates, false)
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub requested_by: String,
    /// Continue an unfinished job with the same request instead of starting anew.
    pub resume: bool,
    /// Test hook: stop (as if the process died) after this many cells.
    pub crash_after: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            requested_by: "cli".into(),
            resume: true,
            crash_after: None,
        }
    }
}

static JOB_COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_job_id() -> String {
    let n = JOB_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("job-{}-{n}", Utc::now().format("%Y%m%dT%H%M%S%6f"))
}

/// Cell counts of a job's touched cells before it ran and after it ended,
/// stored as JSON on the job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobSnapshot {
    pub before: Vec<domain::report::CellCounts>,
    pub after: Option<Vec<domain::report::CellCounts>>,
}

impl JobSnapshot {
    pub fn parse(job: &JobRecord) -> Option<Self> {
        serde_json::from_str(job.snapshot.as_deref()?).ok()
    }
}

/// A job recorded and ready to run, as [`create_job`] planned it: its
/// typed request and the cells it runs.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    pub job: JobRecord,
    pub request: BackfillRequest,
    /// The cells left to run.
    pub cells: Vec<PlannedCell>,
    /// The cells an earlier run of the job did (a resumed job), counted in
    /// its progress.
    pub done: Vec<PlannedCell>,
}

/// Plans a request and records it as a job in `state` (`Running` to run it
/// now — refused if a running job overlaps — or `Queued` to wait in a queue),
/// with the counts of its cells before anything runs.
pub async fn create_job(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
    requested_by: &str,
    state: JobState,
) -> Result<PlannedJob, EngineError> {
    let request_json = serde_json::to_string(request)
        .map_err(|e| EngineError::Internal(format!("cannot encode request: {e}")))?;
    let cells = plan(wh, request).await?;
    let keys: Vec<(ProcessorId, NaiveDate)> = cells.iter().map(|c| (c.processor, c.date)).collect();
    let snapshot = JobSnapshot {
        before: counts_of(wh, &keys).await?,
        after: None,
    };
    let now = Utc::now().naive_utc();
    // Its size from the start: a job interrupted before its first write
    // still says how many cells it has left.
    let progress = Progress::starting(wh.pipeline(), &cells);
    let job = JobRecord {
        id: new_job_id(),
        requested_by: requested_by.to_string(),
        request: request_json,
        state,
        progress: serde_json::to_string(&progress)
            .map_err(|e| EngineError::Internal(format!("cannot encode progress: {e}")))?,
        created_at: now,
        started_at: (state == JobState::Running).then_some(now),
        finished_at: None,
        error: None,
        snapshot: serde_json::to_string(&snapshot).ok(),
    };
    if let Err(e) = wh.create_job(job.clone(), keys).await {
        // The reply may be what failed, after the job was recorded.
        let e = EngineError::from(e);
        fail_on_the_way_out(wh, &job.id, &e).await;
        return Err(e);
    }
    Ok(PlannedJob {
        job,
        request: request.clone(),
        cells,
        done: Vec::new(),
    })
}

/// Starts (or resumes) a recorded job and runs its unfinished cells to the
/// end, a cancel, or a failure: a queued job, or one resumed after an
/// interruption, read back from the store.
pub async fn run_job(
    wh: &dyn Warehouse,
    job_id: &str,
    options: &RunOptions,
    sink: &dyn ProgressSink,
    cancel: &AtomicBool,
) -> Result<JobSummary, EngineError> {
    let job = wh
        .job(job_id)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("no job {job_id}")))?;
    let request: BackfillRequest = serde_json::from_str(&job.request).map_err(|e| {
        EngineError::Internal(format!("job {job_id} has an unreadable request: {e}"))
    })?;
    let expected = plan_expected(wh, &request).await?;
    let planned = |c: &warehouse::JobCell| PlannedCell {
        processor: c.processor,
        date: c.date,
        expected: expected.get(&c.date).copied().unwrap_or(0),
    };
    let (done, left): (Vec<_>, Vec<_>) = wh
        .job_cells(job_id)
        .await?
        .into_iter()
        .partition(|c| c.state == CellState::Done);
    let cells: Vec<PlannedCell> = left.iter().map(planned).collect();
    let done: Vec<PlannedCell> = done.iter().map(planned).collect();
    let job = if job.state == JobState::Running {
        job
    } else {
        wh.start_job(job_id).await?
    };
    let planned = PlannedJob {
        job,
        request,
        cells,
        done,
    };
    run_planned(wh, planned, options, sink, cancel).await
}

/// Runs a job [`create_job`] just made, or one read back, with the plan in
/// hand (nothing is read back a second time). A job not yet running starts
/// first.
pub async fn run_planned(
    wh: &dyn Warehouse,
    planned: PlannedJob,
    options: &RunOptions,
    sink: &dyn ProgressSink,
    cancel: &AtomicBool,
) -> Result<JobSummary, EngineError> {
    let PlannedJob {
        mut job,
        request,
        cells,
        done,
    } = planned;
    if job.state != JobState::Running {
        job = wh.start_job(&job.id).await?;
    }
    let job_id = job.id.clone();
    let run = JobRun {
        wh,
        job: &mut job,
        request: &request,
        options,
        sink,
        cancel,
    };
    // The lease is renewed while the cells run; a process that finds it
    // expired takes the job for dead.
    let heartbeat = async {
        loop {
            if let Err(e) = wh.heartbeat(&job_id, Utc::now().naive_utc()).await {
                tracing::warn!(job = %job_id, error = %e, "could not renew the job's lease");
            }
            tokio::time::sleep(JOB_HEARTBEAT).await;
        }
    };
    let result = tokio::select! {
        result = run.run(&cells, &done) => result,
        () = heartbeat => Err(EngineError::Internal("the lease renewal stopped".into())),
    };
    if let Err(e) = &result {
        fail_on_the_way_out(wh, &job_id, e).await;
    }
    result
}

/// A job whose process gives up on it is marked failed with the reason, so
/// it does not hold its cells until its lease runs out (best effort: the
/// lease covers a process that cannot even do this, or is killed).
async fn fail_on_the_way_out(wh: &dyn Warehouse, job_id: &str, e: &EngineError) {
    let Ok(Some(mut job)) = wh.job(job_id).await else {
        return;
    };
    if job.state != JobState::Running {
        return;
    }
    job.state = JobState::Failed;
    job.error = Some(e.to_string());
    job.finished_at = Some(Utc::now().naive_utc());
    if let Err(why) = wh.update_job(&job).await {
        tracing::warn!(job = %job_id, error = %why, "could not mark the failed job");
    }
}

/// Plans, creates (or resumes) and runs a backfill job to the end.
pub async fn backfill(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
    options: &RunOptions,
    sink: &dyn ProgressSink,
    cancel: &AtomicBool,
) -> Result<JobSummary, EngineError> {
    let request_json = serde_json::to_string(request)
        .map_err(|e| EngineError::Internal(format!("cannot encode request: {e}")))?;
    if options.resume {
        for job in wh.jobs(50).await? {
            if job.request == request_json && job.state.is_resumable() {
                let mut summary = run_job(wh, &job.id, options, sink, cancel).await?;
                summary.resumed = true;
                return Ok(summary);
            }
        }
    }
    let planned = create_job(wh, request, &options.requested_by, JobState::Running).await?;
    run_planned(wh, planned, options, sink, cancel).await
}

/// How long a running job's lease lasts without renewal, and how often its
/// process renews it. A process that finds a `running` job whose lease ran out
/// may mark it interrupted (see `Warehouse::interrupt_stale_jobs`).
pub const JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(120);
pub const JOB_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(20);

/// Failure counts by category, in taxonomy order (for summaries).
pub fn categories_in_order(counts: &BTreeMap<String, i64>) -> Vec<(FailureCategory, i64)> {
    FailureCategory::all()
        .filter_map(|c| counts.get(c.code()).map(|n| (c, *n)))
        .collect()
}
