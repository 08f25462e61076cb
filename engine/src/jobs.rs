//! Backfills inside the server process. One queue and one worker: the embedded
//! store has a single writer anyway, and a request that overlaps the running job
//! simply waits behind it. Jobs are rows in the warehouse (state, cells,
//! progress, before/after), so a restarted server finds them: queued jobs are
//! queued again at start-up. Live progress is also kept in memory for the
//! dashboard to poll. Each job runs on a task of its own, so a panic fails that
//! job (with the panic's message) and the queue goes on; `shutdown` stops the
//! running job after its in-flight write and leaves it `interrupted`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::report::{compare_cells, JobView, PlannedCell, Progress};
use tokio::sync::mpsc;
use warehouse::{JobRecord, JobState, Warehouse};

use crate::backfill::{
    create_job, plan, run_job, run_planned, BackfillRequest, DateSpec, JobSnapshot, PlannedJob,
    ProgressSink, RawBackfillRequest, RunOptions,
};
use crate::{EngineError, Limits};

struct Live {
    progress: Progress,
    cancel: Arc<AtomicBool>,
    /// The plan `submit` made, handed to the worker (a job queued again
    /// after a restart, or resumed, is read back from the store instead).
    planned: Option<PlannedJob>,
}

pub struct JobRunner {
    warehouse: Arc<dyn Warehouse>,
    /// Where the job list is read: the views' read cache when there is one
    /// (the list is polled by every dashboard; live progress is overlaid).
    views: Arc<dyn Warehouse>,
    queue: mpsc::UnboundedSender<String>,
    live: Mutex<HashMap<String, Live>>,
    /// Test hook: the worker stops (as a killed process would) after this many cells.
    crash_after: Option<usize>,
    /// The process is stopping: run nothing new, stop the running job.
    stopping: AtomicBool,
    /// A job is running right now.
    busy: AtomicBool,
    /// Test hook: the next job panics inside the worker.
    panic_next: AtomicBool,
    /// Told when a job writes and when it ends (the views' read cache).
    changes: Option<Arc<dyn crate::cache::Changes>>,
    /// Signalled when a job ends (the server's watcher evaluates then).
    ended: Arc<tokio::sync::Notify>,
    /// The date ranges of the jobs that ended since the watcher last looked.
    ended_ranges: Mutex<Vec<(chrono::NaiveDate, chrono::NaiveDate)>>,
}

/// The cells a re-run request would run, with expected players: the dry run.
pub async fn preview(
    wh: &dyn Warehouse,
    limits: Limits,
    raw: &RawBackfillRequest,
) -> Result<Vec<PlannedCell>, EngineError> {
    let request = BackfillRequest::parse(wh.pipeline(), raw, limits)?;
    plan(wh, &request).await
}

impl JobRunner {
    /// Starts the worker on the current tokio runtime.
    pub fn start(warehouse: Arc<dyn Warehouse>) -> Arc<Self> {
        Self::start_full(warehouse, None, None)
    }

    /// [`JobRunner::start`], reading the job list through `cache` and
    /// reporting every job's writes and state changes to it.
    pub fn start_notifying(
        warehouse: Arc<dyn Warehouse>,
        cache: Arc<crate::cache::CachedWarehouse>,
    ) -> Arc<Self> {
        Self::start_full(warehouse, None, Some(cache))
    }

    #[doc(hidden)]
    pub fn start_with(warehouse: Arc<dyn Warehouse>, crash_after: Option<usize>) -> Arc<Self> {
        Self::start_full(warehouse, crash_after, None)
    }

    fn start_full(
        warehouse: Arc<dyn Warehouse>,
        crash_after: Option<usize>,
        cache: Option<Arc<crate::cache::CachedWarehouse>>,
    ) -> Arc<Self> {
        let (queue, mut rx) = mpsc::unbounded_channel::<String>();
        let views: Arc<dyn Warehouse> = match &cache {
            Some(cache) => cache.clone(),
            None => Arc::clone(&warehouse),
        };
        let changes = cache.map(|c| c as Arc<dyn crate::cache::Changes>);
        let runner = Arc::new(Self {
            warehouse,
            views,
            queue,
            live: Mutex::new(HashMap::new()),
            crash_after,
            stopping: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            panic_next: AtomicBool::new(false),
            changes,
            ended: Arc::new(tokio::sync::Notify::new()),
            ended_ranges: Mutex::new(Vec::new()),
        });
        let worker = Arc::clone(&runner);
        tokio::spawn(async move {
            // Jobs queued before a restart wait their turn again, oldest first.
            match worker.warehouse.jobs(QUEUE_SCAN).await {
                Ok(jobs) => {
                    for job in jobs.iter().rev().filter(|j| j.state == JobState::Queued) {
                        worker.enqueue(&job.id, None);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the queued jobs"),
            }
            while let Some(id) = rx.recv().await {
                if worker.stopping.load(Ordering::SeqCst) {
                    break;
                }
                worker.run_isolated(&id).await;
            }
        });
        runner
    }

    /// Test hook: the next job the worker takes panics.
    #[doc(hidden)]
    pub fn panic_next_job_for_tests(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    /// Stops after the running job's in-flight write (the job becomes
    /// `interrupted`, resumable) and starts nothing new; waits up to `wait`.
    pub async fn shutdown(&self, wait: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        for live in self.live().values() {
            live.cancel.store(true, Ordering::SeqCst);
        }
        let deadline = Instant::now() + wait;
        while self.busy.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs one job on a task of its own: a panic in it fails the job with
    /// the panic's message instead of killing the queue.
    async fn run_isolated(self: &Arc<Self>, id: &str) {
        self.busy.store(true, Ordering::SeqCst);
        let worker = Arc::clone(self);
        let owned = id.to_string();
        let outcome = tokio::spawn(async move { worker.run_one(&owned).await }).await;
        if let Err(e) = outcome {
            let message = match e.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into()),
                Err(e) => e.to_string(),
            };
            tracing::error!(job = id, %message, "job panicked");
            if let Ok(mut job) = self.job(id).await {
                job.state = JobState::Failed;
                job.error = Some(format!("internal error (panic): {message}"));
                job.finished_at = Some(chrono::Utc::now().naive_utc());
                let _ = self.warehouse.update_job(&job).await;
            }
            self.live().remove(id);
        }
        self.settled();
        if let Some(range) = self.range_of(id).await {
            self.ended_ranges
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(range);
        }
        self.ended.notify_one();
        self.busy.store(false, Ordering::SeqCst);
    }

    /// The first and last date a job's request covers.
    async fn range_of(&self, id: &str) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
        let job = self.warehouse.job(id).await.ok().flatten()?;
        let request: BackfillRequest = serde_json::from_str(&job.request).ok()?;
        Some(request.bounds())
    }

    /// The date ranges of the jobs that ended since the last call.
    pub fn take_ended_ranges(&self) -> Vec<(chrono::NaiveDate, chrono::NaiveDate)> {
        std::mem::take(&mut *self.ended_ranges.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Signalled once per job that ends (signals coalesce while nobody
    /// waits): what an evaluation after every job waits on.
    pub fn job_ended(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.ended)
    }

    /// A job changed state: the job list and views are fresh from now on.
    fn settled(&self) {
        if let Some(changes) = &self.changes {
            changes.settled();
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (each update is a single insert/assign), so poisoning is ignored.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a queued job for `raw` and puts it in the queue.
    pub async fn submit(
        &self,
        raw: &RawBackfillRequest,
        limits: Limits,
        requested_by: &str,
    ) -> Result<JobRecord, EngineError> {
        let request = BackfillRequest::parse(self.warehouse.pipeline(), raw, limits)?;
        let planned = create_job(
            self.warehouse.as_ref(),
            &request,
            requested_by,
            JobState::Queued,
        )
        .await?;
        let job = planned.job.clone();
        if planned.cells.is_empty() {
            // Nothing to do (e.g. only gaps, and there are none): end it now.
            let mut job = job;
            job.state = JobState::Succeeded;
            job.finished_at = Some(chrono::Utc::now().naive_utc());
            self.warehouse.update_job(&job).await?;
            self.settled();
            self.ended.notify_one();
            return Ok(job);
        }
        let id = job.id.clone();
        self.enqueue(&id, Some(planned));
        self.settled();
        Ok(job)
    }

    fn enqueue(&self, id: &str, planned: Option<PlannedJob>) {
        self.live().insert(
            id.to_string(),
            Live {
                progress: Progress::default(),
                cancel: Arc::new(AtomicBool::new(false)),
                planned,
            },
        );
        // The worker lives as long as the runner; a closed queue means the
        // process is shutting down, and the job stays `queued` for a resume.
        let _ = self.queue.send(id.to_string());
    }

    /// Puts an interrupted, cancelled or failed job back in the queue; it runs
    /// its unfinished cells only.
    pub async fn resume(&self, id: &str) -> Result<JobRecord, EngineError> {
        let mut job = self.job(id).await?;
        if !job.state.is_resumable() {
            return Err(EngineError::Refused(format!(
                "job {id} is {}; only interrupted, cancelled or failed jobs can be resumed",
                job.state.as_str()
            )));
        }
        job.state = JobState::Queued;
        job.error = None;
        self.warehouse.update_job(&job).await?;
        self.enqueue(id, None);
        self.settled();
        Ok(job)
    }

    /// Stops a job after its in-flight write (each batch of cells is one
    /// transaction, so every cell is left fully old or fully new). A queued
    /// job is cancelled before it starts.
    pub async fn cancel(&self, id: &str) -> Result<JobRecord, EngineError> {
        let mut job = self.job(id).await?;
        if !job.state.is_active() {
            return Err(EngineError::Refused(format!(
                "job {id} is {}; only queued or running jobs can be cancelled",
                job.state.as_str()
            )));
        }
        if let Some(live) = self.live().get(id) {
            live.cancel.store(true, Ordering::SeqCst);
        }
        if job.state == JobState::Queued {
            job.state = JobState::Cancelled;
            job.finished_at = Some(chrono::Utc::now().naive_utc());
            self.warehouse.update_job(&job).await?;
            self.settled();
        }
        Ok(job)
    }

    async fn job(&self, id: &str) -> Result<JobRecord, EngineError> {
        let well_formed = !id.is_empty()
            && id.len() <= 100
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !well_formed {
            return Err(EngineError::Input(domain::DomainError::BadParameter {
                name: "id",
                message: "not a job id (letters, digits, '-' and '_', at most 100)".into(),
            }));
        }
        self.warehouse
            .job(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no job '{id}'")))
    }

    /// One job as the dashboard shows it (live progress while it runs).
    pub async fn view(&self, id: &str) -> Result<JobView, EngineError> {
        let job = self.job(id).await?;
        let running = if job.state == JobState::Queued {
            self.warehouse
                .jobs(50)
                .await?
                .into_iter()
                .find(|j| j.state == JobState::Running && j.id != job.id)
                .map(|j| j.id)
        } else {
            None
        };
        Ok(self.view_of(job, running))
    }

    /// The newest jobs.
    pub async fn list(&self, limit: usize) -> Result<Vec<JobView>, EngineError> {
        let jobs = self.views.jobs(limit).await?;
        let running = jobs
            .iter()
            .find(|j| j.state == JobState::Running)
            .map(|j| j.id.clone());
        Ok(jobs
            .into_iter()
            .map(|j| {
                let behind = (j.state == JobState::Queued)
                    .then(|| running.clone())
                    .flatten();
                self.view_of(j, behind)
            })
            .collect())
    }

    fn view_of(&self, job: JobRecord, queued_behind: Option<String>) -> JobView {
        let stored: Progress = serde_json::from_str(&job.progress).unwrap_or_default();
        let progress = match self.live().get(&job.id) {
            Some(live) if job.state.is_active() && live.progress.cells_total > 0 => {
                live.progress.clone()
            }
            _ => stored,
        };
        let changes = JobSnapshot::parse(&job)
            .and_then(|s| s.after.map(|after| compare_cells(&s.before, &after)));
        // Made here, not in the browser: the bundle stays small.
        // The job list carries no snapshots: an ended job's stored headline.
        let headline = match (&changes, &progress.headline) {
            (None, Some(stored)) => stored.clone(),
            _ => domain::report::job_headline(job.state, progress.cells_failed, changes.as_deref()),
        };
        let tally = changes
            .as_deref()
            .map(domain::report::tally_by_processor)
            .unwrap_or_default();
        JobView {
            headline,
            tally,
            summary: summarize(self.warehouse.pipeline(), &job.request),
            state: job.state,
            resumable: job.state.is_resumable(),
            active: job.state.is_active(),
            id: job.id,
            requested_by: job.requested_by,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            error: job.error,
            progress,
            queued_behind,
            changes,
        }
    }

    async fn run_one(&self, id: &str) {
        let (cancel, planned) = match self.live().get_mut(id) {
            Some(live) => (Arc::clone(&live.cancel), live.planned.take()),
            None => (Arc::new(AtomicBool::new(false)), None),
        };
        let sink = LiveSink { runner: self, id };
        let options = RunOptions {
            requested_by: String::new(),
            resume: true,
            crash_after: self.crash_after,
        };
        let wh = self.warehouse.as_ref();
        let result = async {
            // Cancelled (or otherwise ended) while waiting in the queue.
            if !self.job(id).await?.state.is_active() {
                return Ok(());
            }
            if self.panic_next.swap(false, Ordering::SeqCst) {
                panic!("test panic inside job {id}");
            }
            loop {
                // The plan in hand when there is one; read back otherwise.
                let ran = match planned.clone() {
                    Some(plan) => run_planned(wh, plan, &options, &sink, &cancel).await,
                    None => run_job(wh, id, &options, &sink, &cancel).await,
                };
                match ran {
                    // Another process's job holds some of these cells: wait.
                    Err(e) if e.is_conflict() && !cancel.load(Ordering::SeqCst) => {
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    Ok(summary)
                        if summary.state == JobState::Cancelled
                            && self.stopping.load(Ordering::SeqCst) =>
                    {
                        // Stopped by the process shutting down, not by a user.
                        let mut job = self.job(id).await?;
                        job.state = JobState::Interrupted;
                        job.finished_at = None;
                        wh.update_job(&job).await?;
                        return Ok(());
                    }
                    other => return other.map(|_| ()),
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::error!(job = id, error = %e, "job failed");
            if let Ok(mut job) = self.job(id).await {
                job.state = JobState::Failed;
                job.error = Some(e.to_string());
                job.finished_at = Some(chrono::Utc::now().naive_utc());
                let _ = wh.update_job(&job).await;
            }
        }
        if self.crash_after.is_none() {
            self.live().remove(id);
        }
    }
}

/// How many recent jobs start-up scans for queued ones.
const QUEUE_SCAN: usize = 500;

struct LiveSink<'a> {
    runner: &'a JobRunner,
    id: &'a str,
}

impl ProgressSink for LiveSink<'_> {
    fn update(&self, progress: &Progress) {
        if let Some(live) = self.runner.live().get_mut(self.id) {
            live.progress = progress.clone();
        }
        // Called once the job has started (nothing done yet: its state
        // changed, the list must show it at once), then after each written
        // batch (the views may lag `stale_ok`).
        if progress.cells_done == 0 {
            self.runner.settled();
        } else if let Some(changes) = &self.runner.changes {
            changes.changed();
        }
    }
}

/// "PDC, PCF · 2021-11-05 … 2021-11-15 · only gaps" from a stored request.
fn summarize(pipeline: &domain::pipeline::Pipeline, request_json: &str) -> String {
    let Ok(r) = serde_json::from_str::<BackfillRequest>(request_json) else {
        return "unreadable request".into();
    };
    let processors: Vec<&str> = r.processors.iter().map(|p| pipeline.code(*p)).collect();
    let dates = match &r.dates {
        DateSpec::Range { start, end } => format!("{start} … {end}"),
        DateSpec::List(v) if v.len() <= 4 => v
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        DateSpec::List(v) => format!("{} dates", v.len()),
    };
    let mode = if r.only_gaps {
        "only gaps"
    } else {
        "all cells"
    };
    let stop = if r.stop_on.is_set() {
        format!(" · stop on {}", r.stop_on.words().replace(',', ", "))
    } else {
        String::new()
    };
    format!("{} · {dates} · {mode}{stop}", processors.join(", "))
}
