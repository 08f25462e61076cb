//! Repeated views cost a lookup: a `Warehouse` in front of another that keeps
//! the answers dashboards poll (the grid's cell counts, the game dates, the
//! job list) until something could have changed them. Every write through
//! this warehouse — or reported to it through [`Changes`] by a writer that
//! goes around it, like the job runner — bumps a data version that
//! invalidates all cached answers; answers also expire after `max_age`, for
//! writers this process does not see (another process on the same BigQuery
//! datasets). Concurrent misses for the same answer compute it once. Only
//! views read through it: operations that must see the latest rows (a job's
//! plan and before/after) read the warehouse directly. Under a stream of writes (a backfill
//! writes a cell every few milliseconds) an answer may be served up to
//! `stale_ok` after a write, so a hundred viewers cost about one computation
//! per `stale_ok` instead of one per view.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use domain::game::{PlayerGame, ScheduledGame};
use domain::processors::UpstreamSet;
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo};
use domain::{DateRange, ProcessorId};
use warehouse::{
    CellCounts, CellWrite, FailureFilter, GameDateSummary, JobCell, JobRecord, Result, RunRow,
    TableCount, UpstreamLoad, Warehouse, WarehouseStatus, WriteBatch,
};

/// Entries kept before the cache starts over (each is one view's answer).
const MAX_ENTRIES: usize = 512;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Cells(DateRange, Vec<ProcessorId>),
    GameDates(DateRange),
    Jobs(usize),
}

#[derive(Clone)]
enum Answer {
    Cells(Arc<Vec<CellCounts>>),
    GameDates(Arc<Vec<GameDateSummary>>),
    Jobs(Arc<Vec<JobRecord>>),
}

struct Entry {
    version: u64,
    at: Instant,
    answer: Answer,
}

pub struct CachedWarehouse {
    inner: Arc<dyn Warehouse>,
    max_age: Duration,
    stale_ok: Duration,
    version: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
    /// Serialises misses, so a burst of viewers computes an answer once.
    computing: tokio::sync::Mutex<()>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedWarehouse {
    /// Answers live at most `max_age`, and at most `stale_ok` once a write
    /// happened after them.
    pub fn new(inner: Arc<dyn Warehouse>, max_age: Duration, stale_ok: Duration) -> Self {
        Self {
            inner,
            max_age,
            stale_ok,
            version: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            computing: tokio::sync::Mutex::new(()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn invalidate(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// Invalidates without the `stale_ok` grace.
    fn clear(&self) {
        self.invalidate();
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn lookup(&self, key: &Key) -> Option<Answer> {
        let version = self.version.load(Ordering::SeqCst);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| {
                let age = e.at.elapsed();
                age < self.max_age && (e.version == version || age < self.stale_ok)
            })
            .map(|e| e.answer.clone())
    }

    async fn cached<F, Fut>(&self, key: Key, compute: F) -> Result<Answer>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Answer>>,
    {
        if let Some(answer) = self.lookup(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        let _turn = self.computing.lock().await;
        if let Some(answer) = self.lookup(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Read the version before computing: a write meanwhile makes this
        // answer stale at once rather than cached as current.
        let version = self.version.load(Ordering::SeqCst);
        let answer = compute().await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                version,
                at: Instant::now(),
                answer: answer.clone(),
            },
        );
        Ok(answer)
    }
}

/// Told about writes made around the cache.
pub trait Changes: Send + Sync {
    /// Rows changed; more changes may follow soon (views may lag `stale_ok`).
    fn changed(&self);
    /// A batch of changes is over (a job ended): views are fresh from now on.
    fn settled(&self);
}

impl Changes for CachedWarehouse {
    fn changed(&self) {
        self.invalidate();
    }
    fn settled(&self) {
        self.clear();
    }
}

#[async_trait]
impl Warehouse for CachedWarehouse {
    async fn status(&self) -> Result<WarehouseStatus> {
        self.inner.status().await
    }

    async fn game_dates(&self, range: DateRange) -> Result<Vec<GameDateSummary>> {
        let inner = &self.inner;
        match self
            .cached(Key::GameDates(range), || async {
                Ok(Answer::GameDates(Arc::new(inner.game_dates(range).await?)))
            })
            .await?
        {
            Answer::GameDates(v) => Ok(v.as_ref().clone()),
            _ => inner.game_dates(range).await,
        }
    }

    async fn table_counts(&self, range: DateRange) -> Result<Vec<TableCount>> {
        self.inner.table_counts(range).await
    }

    async fn load_upstream_rows(
        &self,
        schedule: Vec<ScheduledGame>,
        games: Vec<PlayerGame>,
    ) -> Result<UpstreamLoad> {
        let out = self.inner.load_upstream_rows(schedule, games).await;
        self.invalidate();
        out
    }

    async fn player_games(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<PlayerGame>, Vec<ScheduledGame>)> {
        self.inner.player_games(from, to).await
    }

    async fn upstream_outcomes(
        &self,
        date: NaiveDate,
        processors: &[ProcessorId],
    ) -> Result<UpstreamSet> {
        self.inner.upstream_outcomes(date, processors).await
    }

    async fn write_cells(&self, writes: Vec<CellWrite>) -> Result<()> {
        let out = self.inner.write_cells(writes).await;
        self.invalidate();
        out
    }

    fn write_batch(&self) -> WriteBatch {
        self.inner.write_batch()
    }

    async fn record_failed_runs(&self, runs: Vec<RunRow>) -> Result<()> {
        let out = self.inner.record_failed_runs(runs).await;
        self.invalidate();
        out
    }

    async fn cell_counts(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<CellCounts>> {
        let inner = &self.inner;
        match self
            .cached(Key::Cells(range, processors.to_vec()), || async {
                Ok(Answer::Cells(Arc::new(
                    inner.cell_counts(range, processors).await?,
                )))
            })
            .await?
        {
            Answer::Cells(v) => Ok(v.as_ref().clone()),
            _ => inner.cell_counts(range, processors).await,
        }
    }

    async fn unaccounted(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
        self.inner.unaccounted(range, processors).await
    }

    async fn failure_rows(
        &self,
        processor: ProcessorId,
        date: NaiveDate,
        filter: FailureFilter,
    ) -> Result<Page<FailureRow>> {
        self.inner.failure_rows(processor, date, filter).await
    }

    async fn cell_runs(&self, processor: ProcessorId, date: NaiveDate) -> Result<Vec<RunInfo>> {
        self.inner.cell_runs(processor, date).await
    }

    async fn player_trace(&self, player: &str, date: NaiveDate) -> Result<Option<PlayerTrace>> {
        self.inner.player_trace(player, date).await
    }

    async fn create_job(&self, job: JobRecord, cells: Vec<(ProcessorId, NaiveDate)>) -> Result<()> {
        let out = self.inner.create_job(job, cells).await;
        self.invalidate();
        out
    }

    async fn start_job(&self, id: &str) -> Result<JobRecord> {
        let out = self.inner.start_job(id).await;
        self.invalidate();
        out
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        self.inner.job(id).await
    }

    async fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let inner = &self.inner;
        match self
            .cached(Key::Jobs(limit), || async {
                Ok(Answer::Jobs(Arc::new(inner.jobs(limit).await?)))
            })
            .await?
        {
            Answer::Jobs(v) => Ok(v.as_ref().clone()),
            _ => inner.jobs(limit).await,
        }
    }

    async fn job_cells(&self, id: &str) -> Result<Vec<JobCell>> {
        self.inner.job_cells(id).await
    }

    async fn update_job(&self, job: &JobRecord) -> Result<()> {
        let out = self.inner.update_job(job).await;
        if job.state.is_active() {
            self.invalidate();
        } else {
            // A job ended: whoever waited for it sees its cells at once.
            self.clear();
        }
        out
    }

    async fn heartbeat(&self, id: &str, at: NaiveDateTime) -> Result<()> {
        self.inner.heartbeat(id, at).await
    }

    async fn interrupt_stale_jobs(&self, stale_before: Option<NaiveDateTime>) -> Result<usize> {
        let out = self.inner.interrupt_stale_jobs(stale_before).await;
        self.invalidate();
        out
    }
}
