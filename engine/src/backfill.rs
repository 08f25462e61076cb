//! The backfill engine: plan cells, run them in dependency order date by date,
//! write each cell idempotently with its checkpoint, resume unfinished jobs.
//! The CLI and the server's jobs use this one code path.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{Duration, NaiveDate, Utc};
use domain::pipeline::Pipeline;
use domain::processor::Runs;
use domain::processors::{self, SeasonIndex, PROCESSOR_VERSION};
use domain::{DateRange, DomainError, FailureCategory, ProcessorId};
use serde::{Deserialize, Serialize};
use warehouse::{CellState, CellWrite, JobRecord, JobState, RunRow, RunStatus, Warehouse};

pub use domain::report::{PlannedCell, Progress};

use crate::{command, EngineError, Limits};

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
            .find(|s| s.runs == Runs::Observe)
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
                .filter(|p| pipeline.spec(*p).runs != Runs::Observe)
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
        Ok(Self {
            processors,
            dates,
            only_gaps: raw.only_gaps,
            legacy: raw.legacy,
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

/// The exact cells a request will run, in execution order (date, then DAG).
pub async fn plan(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
) -> Result<Vec<PlannedCell>, EngineError> {
    let pipeline = wh.pipeline();
    let (start, end) = request.bounds();
    let range = DateRange::new(start, end, i64::MAX)?;
    let dates = wh.game_dates(range).await?;
    let expected: BTreeMap<NaiveDate, i64> = dates
        .iter()
        .filter(|d| d.expected_players > 0 && request.includes(d.game_date))
        .map(|d| (d.game_date, d.expected_players))
        .collect();
    let mut cells: BTreeSet<(NaiveDate, usize)> = BTreeSet::new();
    if request.only_gaps {
        let counts = wh.cell_counts(range, &request.processors).await?;
        let mut ran: BTreeSet<(NaiveDate, ProcessorId)> = BTreeSet::new();
        for c in &counts {
            ran.insert((c.date, c.processor));
            let not_ok = c.status().is_gap();
            if not_ok && expected.contains_key(&c.date) {
                cells.insert((c.date, c.processor.order()));
            }
        }
        // A selected downstream re-runs wherever its upstream re-runs.
        let gap_list: Vec<(NaiveDate, usize)> = cells.iter().copied().collect();
        for (d, order) in gap_list {
            let p = pipeline.processors[order].id;
            for q in pipeline.downstream(p) {
                if request.processors.contains(&q) {
                    cells.insert((d, q.order()));
                }
            }
        }
    } else {
        for d in expected.keys() {
            for p in &request.processors {
                cells.insert((*d, p.order()));
            }
        }
    }
    Ok(cells
        .into_iter()
        .map(|(date, order)| PlannedCell {
            processor: pipeline.processors[order].id,
            date,
            expected: expected.get(&date).copied().unwrap_or(0),
        })
        .collect())
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
                format!(
                    "{program} backfill --processor {} --dates {}",
                    pipeline.processors[order].code,
                    dates
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
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

/// Current counts of exactly these cells (one set-based query over their span).
async fn counts_of(
    wh: &dyn Warehouse,
    cells: &[(ProcessorId, NaiveDate)],
) -> Result<Vec<domain::report::CellCounts>, EngineError> {
    let (Some(first), Some(last)) = (
        cells.iter().map(|c| c.1).min(),
        cells.iter().map(|c| c.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let mut processors: Vec<ProcessorId> = cells.iter().map(|c| c.0).collect();
    processors.sort_by_key(|p| p.order());
    processors.dedup();
    let wanted: BTreeSet<(ProcessorId, NaiveDate)> = cells.iter().copied().collect();
    let range = DateRange::new(first, last, i64::MAX)?;
    Ok(wh
        .cell_counts(range, &processors)
        .await?
        .into_iter()
        .filter(|c| wanted.contains(&(c.processor, c.date)))
        .collect())
}

/// Plans a request and records it as a job in `state` (`Running` to run it
/// now — refused if a running job overlaps — or `Queued` to wait in a queue),
/// with the counts of its cells before anything runs.
pub async fn create_job(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
    requested_by: &str,
    state: JobState,
) -> Result<(JobRecord, Vec<PlannedCell>), EngineError> {
    let request_json = serde_json::to_string(request)
        .map_err(|e| EngineError::Internal(format!("cannot encode request: {e}")))?;
    let cells = plan(wh, request).await?;
    let keys: Vec<(ProcessorId, NaiveDate)> = cells.iter().map(|c| (c.processor, c.date)).collect();
    let snapshot = JobSnapshot {
        before: counts_of(wh, &keys).await?,
        after: None,
    };
    let now = Utc::now().naive_utc();
    let job = JobRecord {
        id: new_job_id(),
        requested_by: requested_by.to_string(),
        request: request_json,
        state,
        progress: "{}".into(),
        created_at: now,
        started_at: (state == JobState::Running).then_some(now),
        finished_at: None,
        error: None,
        snapshot: serde_json::to_string(&snapshot).ok(),
    };
    wh.create_job(job.clone(), keys).await?;
    Ok((job, cells))
}

/// Starts (or resumes) a recorded job and runs its unfinished cells to the
/// end, a cancel, or a failure. The one code path of CLI and server jobs.
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
    let cells: Vec<PlannedCell> = wh
        .job_cells(job_id)
        .await?
        .into_iter()
        .filter(|c| c.state != CellState::Done)
        .map(|c| PlannedCell {
            processor: c.processor,
            date: c.date,
            expected: expected.get(&c.date).copied().unwrap_or(0),
        })
        .collect();
    let mut job = if job.state == JobState::Running {
        job
    } else {
        wh.start_job(job_id).await?
    };
    run_cells(wh, &mut job, &request, &cells, options, sink, cancel).await
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
    let mut resumed = None;
    if options.resume {
        for job in wh.jobs(50).await? {
            if job.request == request_json && job.state.is_resumable() {
                resumed = Some(job);
                break;
            }
        }
    }
    let job_id = match &resumed {
        Some(job) => job.id.clone(),
        None => {
            create_job(wh, request, &options.requested_by, JobState::Running)
                .await?
                .0
                .id
        }
    };
    let mut summary = run_job(wh, &job_id, options, sink, cancel).await?;
    summary.resumed = resumed.is_some();
    Ok(summary)
}

async fn plan_expected(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
) -> Result<BTreeMap<NaiveDate, i64>, EngineError> {
    let (start, end) = request.bounds();
    let range = DateRange::new(start, end, i64::MAX)?;
    Ok(wh
        .game_dates(range)
        .await?
        .into_iter()
        .map(|d| (d.game_date, d.expected_players))
        .collect())
}

/// How long a running job's lease lasts without renewal, and how often its
/// process renews it. A process that finds a `running` job whose lease ran out
/// may mark it interrupted (see `Warehouse::interrupt_stale_jobs`).
pub const JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(120);
pub const JOB_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs the cells while renewing the job's lease every [`JOB_HEARTBEAT`].
async fn run_cells(
    wh: &dyn Warehouse,
    job: &mut JobRecord,
    request: &BackfillRequest,
    cells: &[PlannedCell],
    options: &RunOptions,
    sink: &dyn ProgressSink,
    cancel: &AtomicBool,
) -> Result<JobSummary, EngineError> {
    let job_id = job.id.clone();
    let heartbeat = async {
        loop {
            if let Err(e) = wh.heartbeat(&job_id, Utc::now().naive_utc()).await {
                tracing::warn!(job = %job_id, error = %e, "could not renew the job's lease");
            }
            tokio::time::sleep(JOB_HEARTBEAT).await;
        }
    };
    tokio::select! {
        result = run_batches(wh, job, request, cells, options, sink, cancel) => result,
        () = heartbeat => Err(EngineError::Internal("the lease renewal stopped".into())),
    }
}

/// Consecutive cells of whole dates (dates are never split unless one date
/// alone exceeds the batch), at most `limit.max_cells` cells and about
/// `limit.max_rows` expected players.
fn next_batch(cells: &[PlannedCell], limit: warehouse::WriteBatch) -> usize {
    let max_cells = limit.max_cells.max(1);
    let mut end = 0;
    let mut rows = 0usize;
    while end < cells.len() {
        let date = cells[end].date;
        let date_end = end + cells[end..].iter().take_while(|c| c.date == date).count();
        let date_rows: usize = cells[end..date_end]
            .iter()
            .map(|c| c.expected.max(0) as usize)
            .sum();
        let fits = date_end <= max_cells && rows.saturating_add(date_rows) <= limit.max_rows;
        if !fits {
            // The first date alone is too big: split it in DAG order.
            return if end == 0 {
                date_end.min(max_cells)
            } else {
                end
            };
        }
        rows += date_rows;
        end = date_end;
    }
    end
}

async fn run_batches(
    wh: &dyn Warehouse,
    job: &mut JobRecord,
    request: &BackfillRequest,
    cells: &[PlannedCell],
    options: &RunOptions,
    sink: &dyn ProgressSink,
    cancel: &AtomicBool,
) -> Result<JobSummary, EngineError> {
    let started = Instant::now();
    let pipeline = wh.pipeline();
    // Each attempt at the job (the first, each resume) writes run rows of
    // its own: a resumed cell's run is a new run, not the old one again.
    let attempt = Utc::now().format("%H%M%S%3f").to_string();
    let mut progress = Progress {
        cells_total: cells.len(),
        players_total: cells.iter().map(|c| c.expected).sum(),
        ..Progress::default()
    };
    for c in cells {
        progress
            .per_processor
            .entry(pipeline.code(c.processor).to_string())
            .or_insert((0, 0))
            .1 += 1;
    }
    sink.update(&progress);
    let mut failed_cells = Vec::new();
    // The first failed cells' errors, for the job's own error line.
    let mut first_errors: Vec<String> = Vec::new();
    if cells.is_empty() {
        return finish(
            wh,
            job,
            progress,
            failed_cells,
            &first_errors,
            JobState::Succeeded,
        )
        .await;
    }
    let (first, last) = (
        cells.iter().map(|c| c.date).min().unwrap_or(NaiveDate::MIN),
        cells.iter().map(|c| c.date).max().unwrap_or(NaiveDate::MIN),
    );
    // The builtins read box scores: every date's history lies within its
    // season, and one year back covers it.
    let (games, schedule) = if cells
        .iter()
        .any(|c| pipeline.spec(c.processor).builtin.is_some())
    {
        wh.player_games(first - Duration::days(366), last).await?
    } else {
        Default::default()
    };
    // Commands are handed the date's expected entities, by the pipeline's
    // own rule (SQL over its universe).
    let mut expected_entities: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    if cells
        .iter()
        .any(|c| pipeline.spec(c.processor).runs == Runs::Command)
    {
        let range = DateRange::new(first, last, i64::MAX)?;
        for (date, entity) in wh.expected_entities(range).await? {
            expected_entities.entry(date).or_default().push(entity);
        }
    }
    // Cells with no rows at all (a first backfill): nothing to delete. Read
    // now, after the job started, while it holds its cells exclusively.
    let keys: Vec<(ProcessorId, NaiveDate)> = cells.iter().map(|c| (c.processor, c.date)).collect();
    let empty: BTreeSet<(ProcessorId, NaiveDate)> = counts_of(wh, &keys)
        .await?
        .into_iter()
        .filter(|c| c.has_record + c.extra == 0 && c.failures_by_category.is_empty())
        .map(|c| (c.processor, c.date))
        .collect();
    let index = SeasonIndex::new(games, &schedule);
    let limit = wh.write_batch();
    // Outcomes written by this job on the current date, so downstream cells read
    // them from memory instead of back from the warehouse (same values: the
    // warehouse stores exactly what was absorbed). Legacy runs read back, since
    // they leave older failure rows in place that memory does not hold.
    let mut written = WrittenToday::default();
    let mut last_saved = Instant::now();
    let mut offset = 0;
    while offset < cells.len() {
        if cancel.load(Ordering::SeqCst) {
            return finish(
                wh,
                job,
                progress,
                failed_cells,
                &first_errors,
                JobState::Cancelled,
            )
            .await;
        }
        let batch = &cells[offset..offset + next_batch(&cells[offset..], limit)];
        // Computed in memory first; the batch is then written in one atomic
        // `write_cells`, so its checkpoint is all of its cells or none.
        let mut writes = Vec::with_capacity(batch.len());
        let mut failed_runs = Vec::new();
        let mut pending = written.clone();
        // Commands first, each over its dates of the batch in runs of up to
        // `batch_dates` (they read no outcome of Rollcall's).
        let mut commanded = run_commands(pipeline, batch, &expected_entities).await;
        for (k, cell) in batch.iter().enumerate() {
            if options.crash_after == Some(offset + k) {
                // Simulated crash: leave the job `running`, as a killed process
                // would, and the batch unwritten.
                return Ok(JobSummary {
                    job_id: job.id.clone(),
                    state: JobState::Running,
                    resumed: false,
                    progress,
                    failed_cells,
                    error: None,
                    changes: Vec::new(),
                });
            }
            progress.current = Some(format!("{} {}", pipeline.code(cell.processor), cell.date));
            let cell_started = Instant::now();
            let started_at = Utc::now().naive_utc();
            let run_id = format!(
                "{}-{}-{}-{attempt}",
                job.id,
                pipeline.code(cell.processor),
                cell.date.format("%Y%m%d")
            );
            if pending.date != Some(cell.date) {
                pending = WrittenToday {
                    date: Some(cell.date),
                    ..WrittenToday::default()
                };
            }
            // A command cell's time is its share of the program's run (it
            // ran before this loop, over its dates of the batch).
            let (outcome, commanded_for) = match commanded.remove(&(cell.processor, cell.date)) {
                Some((ran, took)) => (ran, took),
                None => (
                    run_one(wh, &index, cell, &pending)
                        .await
                        .map_err(|e| e.to_string()),
                    std::time::Duration::ZERO,
                ),
            };
            // Rounded up: a builtin computes a cell in well under a
            // millisecond, and a run that did work never reads "0 ms".
            let took = commanded_for + cell_started.elapsed();
            let duration_ms = took.as_micros().div_ceil(1000).max(1) as i64;
            match outcome {
                Ok(output) => {
                    let run = RunRow {
                        run_id,
                        job_id: Some(job.id.clone()),
                        processor: cell.processor,
                        analysis_date: cell.date,
                        status: RunStatus::Success,
                        records_written: output.records.len() as i64,
                        failures_written: if request.legacy {
                            0
                        } else {
                            output.failures.len() as i64
                        },
                        expected_count: output.expected as i64,
                        dependency_check_passed: output.dependency_check_passed,
                        duration_ms,
                        processor_version: PROCESSOR_VERSION.into(),
                        error: None,
                        started_at,
                    };
                    if !request.legacy {
                        pending.upstream.absorb(&output);
                        pending.processors.push(cell.processor);
                    }
                    writes.push(CellWrite {
                        output,
                        run,
                        legacy: request.legacy,
                        job_id: Some(job.id.clone()),
                        written_at: Utc::now().naive_utc(),
                        known_empty: empty.contains(&(cell.processor, cell.date)),
                    });
                }
                Err(e) => failed_runs.push(RunRow {
                    duration_ms,
                    ..failed_run(job, cell, run_id, started_at, e)
                }),
            }
        }
        let categories: Vec<String> = writes
            .iter()
            .flat_map(|w| {
                w.output
                    .failures
                    .iter()
                    .map(|f| f.category.code().to_string())
            })
            .collect();
        let write_started = Instant::now();
        let runs: Vec<RunRow> = writes.iter().map(|w| w.run.clone()).collect();
        if writes.is_empty() {
            // Nothing computed: only failed runs to record.
        } else if let Err(e) = wh.write_cells(writes).await {
            tracing::warn!(cells = runs.len(), error = %e, "batch write failed");
            for run in runs {
                failed_runs.push(RunRow {
                    status: RunStatus::Failed,
                    records_written: 0,
                    failures_written: 0,
                    dependency_check_passed: false,
                    duration_ms: write_started.elapsed().as_millis() as i64,
                    error: Some(e.to_string()),
                    ..run
                });
            }
        } else {
            for c in categories {
                *progress.failures_by_category.entry(c).or_default() += 1;
            }
            // Committed: later cells of the same date may read it from memory.
            written = pending;
        }
        if !failed_runs.is_empty() {
            for run in &failed_runs {
                tracing::warn!(processor = pipeline.code(run.processor), date = %run.analysis_date,
                    error = run.error.as_deref().unwrap_or(""), "cell failed");
                failed_cells.push((run.processor, run.analysis_date));
                progress.cells_failed += 1;
                if first_errors.len() < JOB_ERROR_CELLS {
                    let first_line = run
                        .error
                        .as_deref()
                        .and_then(|e| e.lines().map(str::trim).find(|l| !l.is_empty()))
                        .unwrap_or("no error recorded");
                    let first_line: String = first_line.chars().take(200).collect();
                    first_errors.push(format!(
                        "{} {}: {first_line}",
                        pipeline.code(run.processor),
                        run.analysis_date
                    ));
                }
            }
            // A failed cell's upstream outcome must not feed later cells.
            written = WrittenToday::default();
            wh.record_failed_runs(failed_runs).await?;
        }
        for cell in batch {
            progress.cells_done += 1;
            progress.players_done += cell.expected;
            if let Some(e) = progress
                .per_processor
                .get_mut(pipeline.code(cell.processor))
            {
                e.0 += 1;
            }
        }
        progress.elapsed_ms = started.elapsed().as_millis() as u64;
        sink.update(&progress);
        offset += batch.len();
        // The stored progress is for other processes' views (live progress
        // is in memory, checkpoints are the run rows): once a second is
        // enough, and each save is a commit.
        if last_saved.elapsed() >= PROGRESS_SAVE_INTERVAL {
            last_saved = Instant::now();
            job.progress = serde_json::to_string(&progress).unwrap_or_default();
            wh.update_job(job).await?;
        }
    }
    progress.current = None;
    let state = if failed_cells.is_empty() {
        JobState::Succeeded
    } else {
        JobState::Failed
    };
    finish(wh, job, progress, failed_cells, &first_errors, state).await
}

/// How often a running job's progress is written to its row.
const PROGRESS_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

fn failed_run(
    job: &JobRecord,
    cell: &PlannedCell,
    run_id: String,
    started_at: chrono::NaiveDateTime,
    error: String,
) -> RunRow {
    RunRow {
        run_id,
        job_id: Some(job.id.clone()),
        processor: cell.processor,
        analysis_date: cell.date,
        status: RunStatus::Failed,
        records_written: 0,
        failures_written: 0,
        expected_count: cell.expected,
        dependency_check_passed: false,
        duration_ms: 0,
        processor_version: PROCESSOR_VERSION.into(),
        error: Some(error),
        started_at,
    }
}

/// The cells this job has written on one date, as downstream cells read them.
#[derive(Default, Clone)]
struct WrittenToday {
    date: Option<NaiveDate>,
    processors: Vec<ProcessorId>,
    upstream: processors::UpstreamSet,
}

/// The batch's command cells, run: per command processor its dates of the
/// batch, in runs of up to its `batch_dates`, each date handed its expected
/// entities. A run that fails fails each of its cells with its message.
async fn run_commands(
    pipeline: &Pipeline,
    batch: &[PlannedCell],
    expected_entities: &BTreeMap<NaiveDate, Vec<String>>,
) -> std::collections::HashMap<
    (ProcessorId, NaiveDate),
    (Result<processors::CellOutput, String>, std::time::Duration),
> {
    let mut out = std::collections::HashMap::new();
    let mut dates: BTreeMap<ProcessorId, Vec<NaiveDate>> = BTreeMap::new();
    for c in batch
        .iter()
        .filter(|c| pipeline.spec(c.processor).runs == Runs::Command)
    {
        dates.entry(c.processor).or_default().push(c.date);
    }
    let directory = &pipeline.directory;
    for (p, mut days) in dates {
        let spec = pipeline.spec(p);
        let per_run = spec.command.as_ref().map_or(1, |c| c.batch_dates.max(1));
        days.sort();
        for run in days.chunks(per_run) {
            let handed: Vec<(NaiveDate, Vec<&str>)> = run
                .iter()
                .map(|d| {
                    let entities = expected_entities
                        .get(d)
                        .map(|v| v.iter().map(String::as_str).collect())
                        .unwrap_or_default();
                    (*d, entities)
                })
                .collect();
            let run_started = Instant::now();
            let result = command::run_batch(spec, &handed, directory).await;
            // Each date of one run gets its share of the run's time.
            let share = run_started.elapsed() / run.len().max(1) as u32;
            match result {
                Ok(cells) => {
                    for cell in cells {
                        out.insert((p, cell.date), (Ok(cell), share));
                    }
                }
                Err(e) => {
                    let message = match run.len() {
                        1 => EngineError::from(e).to_string(),
                        n => format!("{} (one run over {n} dates)", EngineError::from(e)),
                    };
                    for d in run {
                        out.insert((p, *d), (Err(message.clone()), share));
                    }
                }
            }
        }
    }
    out
}

async fn run_one(
    wh: &dyn Warehouse,
    index: &SeasonIndex,
    cell: &PlannedCell,
    written: &WrittenToday,
) -> Result<processors::CellOutput, EngineError> {
    let pipeline = wh.pipeline();
    let spec = pipeline.spec(cell.processor);
    let Some(builtin) = spec.builtin else {
        return Err(EngineError::Internal(format!(
            "{} runs as {}: not a builtin",
            spec.code,
            spec.runs.name()
        )));
    };
    let missing: Vec<ProcessorId> = spec
        .depends_on
        .iter()
        .copied()
        .filter(|p| !written.processors.contains(p))
        .collect();
    let mut upstream = written.upstream.clone();
    if !missing.is_empty() {
        let read = wh.upstream_outcomes(cell.date, &missing).await?;
        upstream.merge(read, pipeline, &missing);
    }
    Ok(processors::run(
        pipeline, builtin, cell.date, index, &upstream,
    ))
}

async fn finish(
    wh: &dyn Warehouse,
    job: &mut JobRecord,
    mut progress: Progress,
    failed_cells: Vec<(ProcessorId, NaiveDate)>,
    first_errors: &[String],
    state: JobState,
) -> Result<JobSummary, EngineError> {
    job.state = state;
    job.finished_at = Some(Utc::now().naive_utc());
    if !failed_cells.is_empty() {
        job.error = Some(failed_cells_error(failed_cells.len(), first_errors));
    }
    let mut changes = Vec::new();
    if let Some(mut snapshot) = JobSnapshot::parse(job) {
        let cells: Vec<(ProcessorId, NaiveDate)> = wh
            .job_cells(&job.id)
            .await?
            .into_iter()
            .map(|c| (c.processor, c.date))
            .collect();
        let after = counts_of(wh, &cells).await?;
        changes = domain::report::compare_cells(&snapshot.before, &after);
        snapshot.after = Some(after);
        job.snapshot = serde_json::to_string(&snapshot).ok();
    }
    // Kept with the progress, which the job list carries (it does not carry
    // snapshots): the list says what each job left open too.
    progress.headline = Some(domain::report::job_headline(
        state,
        progress.cells_failed,
        (!changes.is_empty()).then_some(changes.as_slice()),
    ));
    job.progress = serde_json::to_string(&progress).unwrap_or_default();
    wh.update_job(job).await?;
    Ok(JobSummary {
        job_id: job.id.clone(),
        state,
        resumed: false,
        progress,
        failed_cells,
        error: job.error.clone(),
        changes,
    })
}

/// How many failed cells a job's error line names with their error.
const JOB_ERROR_CELLS: usize = 3;

/// "2 cells failed: DAILY 2024-03-05: command exited with status 3; …":
/// the count and the first cells' first error lines, so the job says why.
fn failed_cells_error(count: usize, first_errors: &[String]) -> String {
    let cells = if count == 1 { "cell" } else { "cells" };
    let more = count.saturating_sub(first_errors.len());
    let mut text = format!("{count} {cells} failed: {}", first_errors.join("; "));
    if more > 0 {
        text += &format!("; and {more} more (see each cell's runs)");
    }
    text
}

/// Failure counts by category, in taxonomy order (for summaries).
pub fn categories_in_order(counts: &BTreeMap<String, i64>) -> Vec<(FailureCategory, i64)> {
    FailureCategory::all()
        .filter_map(|c| counts.get(c.code()).map(|n| (c, *n)))
        .collect()
}
