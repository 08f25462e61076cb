//! Running a started job's cells, batch by batch: compute each batch in
//! memory, write it in one atomic `write_cells` (its checkpoint is all of its
//! cells or none), record the runs that failed, report progress, and end
//! the job with its before/after counts.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, Utc};
use domain::pipeline::Pipeline;
use domain::processors::{CellOutput, PROCESSOR_VERSION};
use domain::report::{PlannedCell, Progress};
use domain::ProcessorId;
use warehouse::{CellWrite, JobRecord, JobState, RunRow, RunStatus, Warehouse};

use super::plan::{counts_of, next_batch};
use super::{BackfillRequest, JobSnapshot, JobSummary, ProgressSink, RunOptions};
use crate::runners::{Batch, Inputs, Outcome, WrittenToday};
use crate::EngineError;

/// How often a running job's progress is written to its row: the stored
/// progress is for other processes' views (live progress is in memory,
/// checkpoints are the run rows), and each save is a commit.
const PROGRESS_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// How many failed cells a job's error line names with their error.
const JOB_ERROR_CELLS: usize = 3;

/// One attempt at a job (the first, or a resume): what it is running with
/// and what it has done so far.
pub(super) struct JobRun<'a> {
    pub wh: &'a dyn Warehouse,
    pub job: &'a mut JobRecord,
    pub request: &'a BackfillRequest,
    pub options: &'a RunOptions,
    pub sink: &'a dyn ProgressSink,
    pub cancel: &'a AtomicBool,
}

/// What the attempt has done so far.
struct Tally {
    started: Instant,
    /// Each attempt writes run rows of its own: a resumed cell's run is a
    /// new run, not the old one again.
    attempt: String,
    progress: Progress,
    failed_cells: Vec<(ProcessorId, NaiveDate)>,
    /// The first failed cells' errors, for the job's own error line.
    first_errors: Vec<String>,
    last_saved: Instant,
    /// Why the stop rules stopped the job.
    stop_reason: Option<String>,
}

/// A batch computed in memory, before it is written.
#[derive(Default)]
struct Computed {
    writes: Vec<CellWrite>,
    /// Run rows without a cell write: failed cells', and the cells a
    /// team's re-run program wrote itself.
    runs_only: Vec<RunRow>,
    /// A re-run program's last lines, for the progress.
    output: Option<Vec<String>>,
    /// What the batch's cells wrote on its last date, kept only if the batch
    /// commits.
    pending: WrittenToday,
    /// The job was cancelled while the batch's commands ran: nothing of the
    /// batch is written.
    cancelled: bool,
}

impl JobRun<'_> {
    fn pipeline(&self) -> &Pipeline {
        self.wh.pipeline()
    }

    /// Runs `cells` to the end, a cancel, or the test hook's crash.
    /// `done`: cells an earlier run of a resumed job did (progress only).
    pub async fn run(
        mut self,
        cells: &[PlannedCell],
        done: &[PlannedCell],
    ) -> Result<JobSummary, EngineError> {
        let mut tally = Tally {
            started: Instant::now(),
            attempt: Utc::now().format("%H%M%S%3f").to_string(),
            progress: Progress::resuming(self.pipeline(), cells, done),
            failed_cells: Vec::new(),
            first_errors: Vec::new(),
            last_saved: Instant::now(),
            stop_reason: None,
        };
        self.sink.update(&tally.progress);
        if cells.is_empty() {
            return self.finish(tally, JobState::Succeeded).await;
        }
        // A team's re-run program reads its upstreams from the warehouse:
        // such a job runs processor by processor (each one's cells over
        // all dates before the next), and a batch holds one processor.
        let by_processor = cells
            .iter()
            .any(|c| self.pipeline().spec(c.processor).runner.rerun().is_some());
        let mut ordered = cells.to_vec();
        if by_processor {
            ordered.sort_by_key(|c| (c.processor.order(), c.date));
        }
        let cells = ordered.as_slice();
        let inputs = Inputs::gather(self.wh, cells).await?;
        // Cells with no rows at all (a first backfill): nothing to delete.
        // Read now, after the job started, while it holds its cells
        // exclusively.
        let keys: Vec<(ProcessorId, NaiveDate)> =
            cells.iter().map(|c| (c.processor, c.date)).collect();
        let empty: BTreeSet<(ProcessorId, NaiveDate)> = counts_of(self.wh, &keys)
            .await?
            .into_iter()
            .filter(|c| c.has_record + c.extra == 0 && c.failures_by_category.is_empty())
            .map(|c| (c.processor, c.date))
            .collect();
        let limit = self.wh.write_batch();
        // Outcomes this job committed on the current date, for downstream
        // cells. Legacy runs read back, since they leave older failure rows
        // in place that memory does not hold.
        let mut written = WrittenToday::default();
        let mut offset = 0;
        while offset < cells.len() {
            if self.cancel.load(Ordering::SeqCst) {
                return self.finish(tally, JobState::Cancelled).await;
            }
            let mut size = next_batch(&cells[offset..], limit);
            if by_processor {
                let first = cells[offset].processor;
                size = size.min(
                    cells[offset..]
                        .iter()
                        .take_while(|c| c.processor == first)
                        .count(),
                );
            }
            let batch = &cells[offset..offset + size];
            let Some(computed) = self
                .compute(&inputs, batch, offset, &written, &empty, &tally)
                .await
            else {
                // Simulated crash: leave the job `running`, as a killed
                // process would, and the batch unwritten.
                return Ok(self.summary(tally, JobState::Running, Vec::new()));
            };
            if computed.cancelled {
                return self.finish(tally, JobState::Cancelled).await;
            }
            written = self.commit(computed, &mut tally).await?;
            self.advance(batch, &mut tally).await?;
            offset += batch.len();
            if let Some(reason) = self.stop_rule_tripped(batch).await? {
                tally.stop_reason = Some(reason);
                return self.finish(tally, JobState::Stopped).await;
            }
        }
        let state = if tally.failed_cells.is_empty() {
            JobState::Succeeded
        } else {
            JobState::Failed
        };
        self.finish(tally, state).await
    }

    /// The batch's cells computed in memory, in order; `None` when the test
    /// hook says the process dies here.
    async fn compute(
        &self,
        inputs: &Inputs,
        batch: &[PlannedCell],
        offset: usize,
        written: &WrittenToday,
        empty: &BTreeSet<(ProcessorId, NaiveDate)>,
        tally: &Tally,
    ) -> Option<Computed> {
        let mut computed = Computed::default();
        let mut pending = written.clone();
        // A re-run program's lines reach the job page as they come.
        let lines: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);
        let on_line = |line: String| {
            let mut kept = lines.lock().unwrap_or_else(|e| e.into_inner());
            let kept = kept.get_or_insert_with(|| tally.progress.output.clone());
            kept.push(line);
            let over = kept.len().saturating_sub(domain::report::OUTPUT_LINES);
            kept.drain(..over);
            let mut progress = tally.progress.clone();
            progress.output = kept.clone();
            self.sink.update(&progress);
        };
        let ran = Batch::run(self.wh, inputs, batch, self.cancel, &on_line).await;
        computed.output = lines.into_inner().unwrap_or_else(|e| e.into_inner());
        let Some(mut runner) = ran else {
            computed.cancelled = true;
            return Some(computed);
        };
        for (k, cell) in batch.iter().enumerate() {
            if self.options.crash_after == Some(offset + k) {
                return None;
            }
            let started_at = Utc::now().naive_utc();
            let run_id = format!(
                "{}-{}-{}-{}",
                self.job.id,
                self.pipeline().code(cell.processor),
                cell.date.format("%Y%m%d"),
                tally.attempt
            );
            if pending.date != Some(cell.date) {
                pending = WrittenToday::on(cell.date);
            }
            let Outcome {
                result: outcome,
                took,
                note,
                started,
            } = runner.cell(cell, &pending).await;
            let run = RunRow {
                started_at: started.unwrap_or(started_at),
                ..self.failed_run(cell, run_id, started_at)
            };
            // Rounded up: a builtin computes a cell in well under a
            // millisecond, and a run that did work never reads "0 ms".
            let duration_ms = took.as_micros().div_ceil(1000).max(1) as i64;
            let run = RunRow { duration_ms, ..run };
            match outcome {
                // The team's program wrote its tables: the run is the
                // cell's checkpoint, its rows are read as they are.
                Ok(None) => computed.runs_only.push(RunRow {
                    status: RunStatus::Success,
                    error: note,
                    ..run
                }),
                Ok(Some(output)) => {
                    if !self.request.legacy {
                        pending.absorb(&output);
                    }
                    let run = RunRow { error: note, ..run };
                    computed.writes.push(self.cell_write(output, run, empty));
                }
                Err(e) => computed.runs_only.push(RunRow {
                    error: Some(e),
                    ..run
                }),
            }
        }
        computed.pending = pending;
        Some(computed)
    }

    /// A computed cell's write, its run row a success.
    fn cell_write(
        &self,
        output: CellOutput,
        run: RunRow,
        empty: &BTreeSet<(ProcessorId, NaiveDate)>,
    ) -> CellWrite {
        let legacy = self.request.legacy;
        let run = RunRow {
            status: RunStatus::Success,
            records_written: output.records.len() as i64,
            failures_written: if legacy {
                0
            } else {
                output.failures.len() as i64
            },
            expected_count: output.expected as i64,
            dependency_check_passed: output.dependency_check_passed,
            ..run
        };
        CellWrite {
            known_empty: empty.contains(&(output.processor, output.date)),
            output,
            run,
            legacy,
            job_id: Some(self.job.id.clone()),
            written_at: Utc::now().naive_utc(),
        }
    }

    /// Writes the batch in one atomic `write_cells` and records its failed
    /// runs (a batch whose write fails fails each of its cells). Returns what
    /// later cells of the same date may read from memory.
    async fn commit(
        &self,
        computed: Computed,
        tally: &mut Tally,
    ) -> Result<WrittenToday, EngineError> {
        let Computed {
            writes,
            runs_only: mut failed_runs,
            output,
            pending,
            cancelled: _,
        } = computed;
        if let Some(output) = output {
            tally.progress.output = output;
        }
        let mut written = WrittenToday::default();
        if !writes.is_empty() {
            let categories: Vec<String> = writes
                .iter()
                .flat_map(|w| w.output.failures.iter())
                .map(|f| f.category.code().to_string())
                .collect();
            let runs: Vec<RunRow> = writes.iter().map(|w| w.run.clone()).collect();
            let write_started = Instant::now();
            match self.wh.write_cells(writes).await {
                Ok(()) => {
                    for c in categories {
                        *tally.progress.failures_by_category.entry(c).or_default() += 1;
                    }
                    written = pending;
                }
                Err(e) => {
                    tracing::warn!(cells = runs.len(), error = %e, "batch write failed");
                    failed_runs.extend(runs.into_iter().map(|run| RunRow {
                        status: RunStatus::Failed,
                        records_written: 0,
                        failures_written: 0,
                        dependency_check_passed: false,
                        duration_ms: write_started.elapsed().as_millis() as i64,
                        error: Some(e.to_string()),
                        ..run
                    }));
                }
            }
        }
        if failed_runs.is_empty() {
            return Ok(written);
        }
        for run in failed_runs.iter().filter(|r| r.status == RunStatus::Failed) {
            self.count_failure(run, tally);
        }
        self.wh.record_runs(failed_runs).await?;
        // A failed cell's upstream outcome must not feed later cells.
        Ok(WrittenToday::default())
    }

    fn count_failure(&self, run: &RunRow, tally: &mut Tally) {
        let code = self.pipeline().code(run.processor);
        tracing::warn!(processor = code, date = %run.analysis_date,
            error = run.error.as_deref().unwrap_or(""), "cell failed");
        tally.failed_cells.push((run.processor, run.analysis_date));
        tally.progress.cells_failed += 1;
        if tally.first_errors.len() < JOB_ERROR_CELLS {
            let first_line = run
                .error
                .as_deref()
                .and_then(|e| e.lines().map(str::trim).find(|l| !l.is_empty()))
                .unwrap_or("no error recorded");
            let first_line: String = first_line.chars().take(200).collect();
            tally
                .first_errors
                .push(format!("{code} {}: {first_line}", run.analysis_date));
        }
    }

    /// The batch is done: progress to the sink, and now and then to the job.
    async fn advance(
        &mut self,
        batch: &[PlannedCell],
        tally: &mut Tally,
    ) -> Result<(), EngineError> {
        tally.progress.record_done(self.wh.pipeline(), batch);
        tally.progress.elapsed_ms = tally.started.elapsed().as_millis() as u64;
        self.sink.update(&tally.progress);
        if tally.last_saved.elapsed() >= PROGRESS_SAVE_INTERVAL {
            tally.last_saved = Instant::now();
            self.job.progress = serde_json::to_string(&tally.progress).unwrap_or_default();
            self.wh.update_job(self.job).await?;
        }
        Ok(())
    }

    /// A run row for `cell` that wrote nothing (the defaults a success
    /// overrides).
    fn failed_run(&self, cell: &PlannedCell, run_id: String, started_at: NaiveDateTime) -> RunRow {
        RunRow {
            run_id,
            job_id: Some(self.job.id.clone()),
            processor: cell.processor,
            analysis_date: cell.date,
            status: RunStatus::Failed,
            records_written: 0,
            failures_written: 0,
            expected_count: cell.expected,
            dependency_check_passed: false,
            duration_ms: 0,
            processor_version: PROCESSOR_VERSION.into(),
            error: None,
            started_at,
        }
    }

    fn summary(
        &self,
        tally: Tally,
        state: JobState,
        changes: Vec<domain::report::CellChange>,
    ) -> JobSummary {
        JobSummary {
            job_id: self.job.id.clone(),
            state,
            resumed: false,
            progress: tally.progress,
            failed_cells: tally.failed_cells,
            error: self.job.error.clone(),
            changes,
        }
    }

    /// The stop rules (`--stop-on`) over the cells a batch just wrote: why
    /// the job stops, if a written cell trips them.
    async fn stop_rule_tripped(
        &self,
        batch: &[PlannedCell],
    ) -> Result<Option<String>, EngineError> {
        let rules = self.request.stop_on;
        if !rules.is_set() {
            return Ok(None);
        }
        let keys: Vec<(ProcessorId, NaiveDate)> =
            batch.iter().map(|c| (c.processor, c.date)).collect();
        let tripped: Vec<domain::report::CellCounts> = counts_of(self.wh, &keys)
            .await?
            .into_iter()
            .filter(|c| rules.trips(c))
            .collect();
        Ok((!tripped.is_empty()).then(|| rules.reason(self.pipeline(), &tripped)))
    }

    /// Ends the job in `state`: its error line, its after-counts and what
    /// changed, stored on the job.
    async fn finish(self, mut tally: Tally, state: JobState) -> Result<JobSummary, EngineError> {
        tally.progress.current = None;
        let job = &mut *self.job;
        job.state = state;
        job.finished_at = Some(Utc::now().naive_utc());
        if !tally.failed_cells.is_empty() {
            job.error = Some(failed_cells_error(
                tally.failed_cells.len(),
                &tally.first_errors,
            ));
        }
        if let Some(reason) = tally.stop_reason.take() {
            job.error = Some(match job.error.take() {
                Some(failed) => format!("{reason}; {failed}"),
                None => reason,
            });
        }
        // Acknowledgements of what this job recorded or failed end now, so
        // its after-counts show them (a failure here fails no job).
        if let Err(e) = crate::acks::end_changed(self.wh, Utc::now().naive_utc()).await {
            tracing::warn!(error = %e, "acknowledgements not checked after the job");
        }
        let mut changes = Vec::new();
        if let Some(mut snapshot) = JobSnapshot::parse(job) {
            let cells: Vec<(ProcessorId, NaiveDate)> = self
                .wh
                .job_cells(&job.id)
                .await?
                .into_iter()
                .map(|c| (c.processor, c.date))
                .collect();
            let after = counts_of(self.wh, &cells).await?;
            changes = domain::report::compare_cells(&snapshot.before, &after);
            snapshot.after = Some(after);
            job.snapshot = serde_json::to_string(&snapshot).ok();
        }
        // Kept with the progress, which the job list carries (it does not
        // carry snapshots): the list says what each job left open too.
        tally.progress.headline = Some(domain::report::job_headline(
            state,
            tally.progress.cells_failed,
            (!changes.is_empty()).then_some(changes.as_slice()),
        ));
        job.progress = serde_json::to_string(&tally.progress).unwrap_or_default();
        self.wh.update_job(job).await?;
        Ok(self.summary(tally, state, changes))
    }
}

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
