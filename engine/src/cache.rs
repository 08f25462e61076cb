//! Repeated views cost a lookup: a `Warehouse` in front of another that keeps
//! the answers dashboards poll (the grid's cell counts, the game dates, the
//! job list, the store's status) until something could have changed them.
//!
//! Every write through this warehouse — or reported to it through
//! [`Changes`] by a writer that goes around it, like the job runner — bumps a
//! data version. An answer computed before the latest write may still be
//! served for `stale_ok` after it was computed; past that, the first viewer
//! to ask starts one refresh in the background and every viewer keeps getting
//! the previous answer until the refresh lands (stale-while-revalidate), so
//! under a stream of writes a hundred viewers cost one computation per
//! `stale_ok` and none of them waits for it. No answer older than `max_age`
//! is served (writers this process does not see, such as another process on
//! the same BigQuery datasets): answers are refreshed in the background from
//! half that age, and computed while the viewer waits past it. `settled`
//! (a job ended) drops every answer: the next views are fresh. Concurrent
//! misses compute an answer once. Only views read through it: operations
//! that must see the latest rows (a job's plan and before/after) read the
//! warehouse directly.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use domain::game::{PlayerGame, ScheduledGame};
use domain::pipeline::UniverseRow;
use domain::processors::UpstreamSet;
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo};
use domain::{DateRange, ProcessorId};
use warehouse::{
    CellCounts, CellWrite, FailureFilter, GameDateSummary, JobCell, JobRecord, LoadSource,
    PlayerFilter, QueryPort, Result, RunRow, TableCount, UpstreamLoad, Warehouse, WarehouseStatus,
    WriteBatch,
};

/// Entries kept before the cache starts over (each is one view's answer).
const MAX_ENTRIES: usize = 512;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Status,
    Cells(DateRange, Vec<ProcessorId>),
    GameDates(DateRange),
    Jobs(usize),
}

#[derive(Clone)]
enum Answer {
    Status(Arc<WarehouseStatus>),
    Cells(Arc<Vec<CellCounts>>),
    GameDates(Arc<Vec<GameDateSummary>>),
    Jobs(Arc<Vec<JobRecord>>),
}

type Compute = Box<
    dyn FnOnce(Arc<dyn Warehouse>) -> Pin<Box<dyn Future<Output = Result<Answer>> + Send>> + Send,
>;

struct Entry {
    version: u64,
    at: Instant,
    answer: Answer,
}

/// What a lookup found.
enum Found {
    /// Servable, nothing to do.
    Fresh(Answer),
    /// Servable, but a refresh is due.
    Refresh(Answer),
    /// Nothing servable: compute while the viewer waits.
    Missing,
}

struct Shared {
    max_age: Duration,
    stale_ok: Duration,
    version: AtomicU64,
    /// Answers computed from a version below this are never served (set by
    /// `settled`, so a refresh that began before a job ended cannot land
    /// its older answer as fresh).
    floor: AtomicU64,
    entries: Mutex<HashMap<Key, Entry>>,
    /// Bumped whenever what a view would read may differ: a write, or an
    /// answer stored (what a cache of rendered pages keys on).
    generation: AtomicU64,
    /// The generation of the last `settled`: what was read before it is
    /// never served again.
    settled_generation: AtomicU64,
    /// Keys with a background refresh in flight.
    refreshing: Mutex<HashSet<Key>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Shared {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // Each update is one insert or clear: a panic cannot leave it half-done.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, key: &Key) -> Found {
        let version = self.version.load(Ordering::SeqCst);
        let floor = self.floor.load(Ordering::SeqCst);
        let entries = self.entries();
        let Some(e) = entries.get(key).filter(|e| e.version >= floor) else {
            return Found::Missing;
        };
        let age = e.at.elapsed();
        if age >= self.max_age {
            Found::Missing
        } else if e.version != version && age >= self.stale_ok {
            if self.stale_ok.is_zero() {
                // No staleness tolerated: the viewer waits for the fresh answer.
                Found::Missing
            } else {
                Found::Refresh(e.answer.clone())
            }
        } else if age >= self.max_age / 2 {
            Found::Refresh(e.answer.clone())
        } else {
            Found::Fresh(e.answer.clone())
        }
    }

    fn store(&self, key: Key, version: u64, answer: Answer) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                version,
                at: Instant::now(),
                answer,
            },
        );
    }
}

pub struct CachedWarehouse {
    inner: Arc<dyn Warehouse>,
    shared: Arc<Shared>,
    /// Serialises misses, so a burst of viewers computes an answer once.
    computing: tokio::sync::Mutex<()>,
}

impl CachedWarehouse {
    /// Answers live at most `max_age`, and at most `stale_ok` once a write
    /// happened after them (then they are refreshed while still served).
    pub fn new(inner: Arc<dyn Warehouse>, max_age: Duration, stale_ok: Duration) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                max_age,
                stale_ok,
                version: AtomicU64::new(0),
                floor: AtomicU64::new(0),
                entries: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                settled_generation: AtomicU64::new(0),
                refreshing: Mutex::new(HashSet::new()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
            computing: tokio::sync::Mutex::new(()),
        }
    }

    /// (hits, misses) so far; an answer served while it is refreshed is a hit.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.shared.hits.load(Ordering::Relaxed),
            self.shared.misses.load(Ordering::Relaxed),
        )
    }

    /// Changes whenever a view read through this cache could answer
    /// differently than before (a write, a refreshed answer): a page
    /// rendered at one generation is the page of that generation.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }

    /// The generation of the last job's end: anything read before it (a
    /// generation below) must not be served again, even while refreshed.
    pub fn settled_generation(&self) -> u64 {
        self.shared.settled_generation.load(Ordering::SeqCst)
    }

    fn invalidate(&self) {
        self.shared.version.fetch_add(1, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Invalidates without the `stale_ok` grace.
    fn clear(&self) {
        let version = self.shared.version.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared.floor.store(version, Ordering::SeqCst);
        self.shared.entries().clear();
        let generation = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared
            .settled_generation
            .store(generation, Ordering::SeqCst);
    }

    /// Starts `compute` in the background unless a refresh of `key` is in
    /// flight. A failed refresh drops the answer, so the next viewer sees the
    /// error instead of an ever older answer.
    fn refresh_in_background(&self, key: Key, compute: Compute) {
        let shared = Arc::clone(&self.shared);
        if !shared
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let version = shared.version.load(Ordering::SeqCst);
            match compute(inner).await {
                Ok(answer) => shared.store(key.clone(), version, answer),
                Err(e) => {
                    tracing::warn!(error = %e, "refreshing a cached view failed");
                    shared.entries().remove(&key);
                    shared.generation.fetch_add(1, Ordering::SeqCst);
                }
            }
            shared
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
    }

    async fn cached(&self, key: Key, compute: Compute) -> Result<Answer> {
        let shared = &self.shared;
        match shared.lookup(&key) {
            Found::Fresh(answer) => {
                shared.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(answer);
            }
            Found::Refresh(answer) => {
                shared.hits.fetch_add(1, Ordering::Relaxed);
                self.refresh_in_background(key, compute);
                return Ok(answer);
            }
            Found::Missing => {}
        }
        let _turn = self.computing.lock().await;
        if let Found::Fresh(answer) | Found::Refresh(answer) = shared.lookup(&key) {
            shared.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        shared.misses.fetch_add(1, Ordering::Relaxed);
        // Read the version before computing: a write meanwhile makes this
        // answer stale at once rather than cached as current.
        let version = shared.version.load(Ordering::SeqCst);
        let answer = compute(Arc::clone(&self.inner)).await?;
        shared.store(key, version, answer.clone());
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

// Every method is written out (the lint refuses a default): a read the
// cache forgot would run the shared read over the inner store's port,
// uncached, and a write would skip invalidating.
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl QueryPort for CachedWarehouse {
    fn dialect(&self) -> &warehouse::sql::Dialect {
        self.inner.dialect()
    }

    async fn fetch(&self, q: &warehouse::sql::Query) -> Result<warehouse::ResultSet> {
        self.inner.fetch(q).await
    }

    async fn fetch_each(&self, q: &warehouse::sql::Query, sink: warehouse::RowSink) -> Result<()> {
        self.inner.fetch_each(q, sink).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl Warehouse for CachedWarehouse {
    fn pipeline(&self) -> &Arc<domain::pipeline::Pipeline> {
        self.inner.pipeline()
    }

    async fn recent_box_scores(&self, player: &str, date: NaiveDate) -> Result<Vec<PlayerGame>> {
        self.inner.recent_box_scores(player, date).await
    }

    async fn write_cell(&self, write: CellWrite) -> Result<()> {
        let out = self.inner.write_cell(write).await;
        self.invalidate();
        out
    }

    async fn record_failed_run(&self, run: RunRow, job_id: Option<String>) -> Result<()> {
        let out = self.inner.record_failed_run(run, job_id).await;
        self.invalidate();
        out
    }

    async fn status(&self) -> Result<WarehouseStatus> {
        let compute: Compute = Box::new(|wh| {
            Box::pin(async move { Ok(Answer::Status(Arc::new(wh.status().await?))) })
        });
        match self.cached(Key::Status, compute).await? {
            Answer::Status(v) => Ok(v.as_ref().clone()),
            _ => self.inner.status().await,
        }
    }

    async fn game_dates(&self, range: DateRange) -> Result<Vec<GameDateSummary>> {
        let compute: Compute = Box::new(move |wh| {
            Box::pin(async move { Ok(Answer::GameDates(Arc::new(wh.game_dates(range).await?))) })
        });
        match self.cached(Key::GameDates(range), compute).await? {
            Answer::GameDates(v) => Ok(v.as_ref().clone()),
            _ => self.inner.game_dates(range).await,
        }
    }

    async fn table_counts(&self, range: DateRange) -> Result<Vec<TableCount>> {
        self.inner.table_counts(range).await
    }

    async fn load_rows(&self, source: Box<dyn LoadSource>) -> Result<UpstreamLoad> {
        let out = self.inner.load_rows(source).await;
        self.invalidate();
        out
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

    async fn load_universe(&self, rows: Vec<UniverseRow>) -> Result<UpstreamLoad> {
        let out = self.inner.load_universe(rows).await;
        self.invalidate();
        out
    }

    async fn expected_entities(&self, range: DateRange) -> Result<Vec<(NaiveDate, String)>> {
        self.inner.expected_entities(range).await
    }

    async fn check_expected(&self) -> Result<()> {
        self.inner.check_expected().await
    }

    async fn check_read_tables(&self) -> Result<()> {
        self.inner.check_read_tables().await
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

    async fn record_runs(&self, runs: Vec<RunRow>) -> Result<()> {
        let out = self.inner.record_runs(runs).await;
        self.invalidate();
        out
    }

    async fn cell_counts(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<CellCounts>> {
        let owned = processors.to_vec();
        let compute: Compute = Box::new(move |wh| {
            Box::pin(async move {
                Ok(Answer::Cells(Arc::new(
                    wh.cell_counts(range, &owned).await?,
                )))
            })
        });
        match self
            .cached(Key::Cells(range, processors.to_vec()), compute)
            .await?
        {
            Answer::Cells(v) => Ok(v.as_ref().clone()),
            _ => self.inner.cell_counts(range, processors).await,
        }
    }

    async fn unaccounted(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
        self.inner.unaccounted(range, processors).await
    }

    async fn unaccounted_players(
        &self,
        processor: ProcessorId,
        date: NaiveDate,
        filter: PlayerFilter,
    ) -> Result<Page<String>> {
        self.inner
            .unaccounted_players(processor, date, filter)
            .await
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
        let compute: Compute = Box::new(move |wh| {
            Box::pin(async move { Ok(Answer::Jobs(Arc::new(wh.jobs(limit).await?))) })
        });
        match self.cached(Key::Jobs(limit), compute).await? {
            Answer::Jobs(v) => Ok(v.as_ref().clone()),
            _ => self.inner.jobs(limit).await,
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

    // Watching: evaluations are read where they are shown (the change feed,
    // /metrics), never polled per viewer; nothing to cache.
    async fn open_entities(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
        at: NaiveDateTime,
    ) -> Result<Vec<warehouse::sql::OpenEntityRow>> {
        self.inner.open_entities(range, processors, at).await
    }

    async fn record_evaluation(
        &self,
        evaluation: warehouse::EvaluationRecord,
        cells: Vec<domain::watch::WatchedCell>,
        keep_since: NaiveDateTime,
    ) -> Result<()> {
        self.inner
            .record_evaluation(evaluation, cells, keep_since)
            .await
    }

    async fn latest_evaluation(&self) -> Result<Option<warehouse::EvaluationRecord>> {
        self.inner.latest_evaluation().await
    }

    async fn watched_cell_counts(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
        at: NaiveDateTime,
    ) -> Result<(Vec<domain::report::CellCounts>, warehouse::reads::OpenSets)> {
        self.inner.watched_cell_counts(range, processors, at).await
    }

    async fn evaluation_cells(&self, id: &str) -> Result<Vec<domain::watch::WatchedCell>> {
        self.inner.evaluation_cells(id).await
    }

    async fn evaluation_cells_by_key(&self, id: &str) -> Result<Vec<domain::watch::WatchedCell>> {
        self.inner.evaluation_cells_by_key(id).await
    }

    async fn entity_lists(&self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        self.inner.entity_lists(keys).await
    }

    async fn evaluations_since(
        &self,
        since: NaiveDateTime,
        limit: usize,
    ) -> Result<Vec<warehouse::EvaluationRecord>> {
        self.inner.evaluations_since(since, limit).await
    }

    async fn news_since(
        &self,
        since: NaiveDateTime,
        limit: usize,
    ) -> Result<Vec<(String, domain::watch::WatchedCell)>> {
        self.inner.news_since(since, limit).await
    }

    async fn record_delivery(&self, delivery: warehouse::DeliveryRecord) -> Result<()> {
        self.inner.record_delivery(delivery).await
    }

    async fn deliveries(&self, limit: usize) -> Result<Vec<warehouse::DeliveryRecord>> {
        self.inner.deliveries(limit).await
    }

    // Acknowledgements change what the reconciliation counts: a write
    // clears the cached reads (no stale grace: the person who acknowledged
    // looks next).
    async fn record_acknowledgements(&self, acks: Vec<domain::ack::Acknowledgement>) -> Result<()> {
        let out = self.inner.record_acknowledgements(acks).await;
        self.clear();
        out
    }

    async fn end_acknowledgements(
        &self,
        ids: Vec<String>,
        at: NaiveDateTime,
        by: String,
        end: domain::ack::AckEnd,
    ) -> Result<usize> {
        let out = self.inner.end_acknowledgements(ids, at, by, end).await;
        self.clear();
        out
    }

    async fn acknowledgements(
        &self,
        scope: warehouse::sql::AckScope,
        cell: Option<(ProcessorId, chrono::NaiveDate)>,
        limit: usize,
    ) -> Result<Vec<domain::ack::Acknowledgement>> {
        self.inner.acknowledgements(scope, cell, limit).await
    }

    // Snapshots change no reconciliation: nothing cached to clear (the
    // list is never a kept page), and their reads go to the store.
    async fn record_snapshot(
        &self,
        meta: domain::report::SnapshotMeta,
        body: String,
    ) -> Result<()> {
        self.inner.record_snapshot(meta, body).await
    }

    async fn delete_snapshots_before(&self, before: NaiveDateTime) -> Result<usize> {
        self.inner.delete_snapshots_before(before).await
    }

    async fn failure_rows_in_range(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
        cap: i64,
    ) -> Result<
        Vec<(
            ProcessorId,
            chrono::NaiveDate,
            domain::report::Page<domain::report::FailureRow>,
            Option<domain::report::FailureRow>,
        )>,
    > {
        self.inner
            .failure_rows_in_range(range, processors, cap)
            .await
    }

    async fn snapshots(&self, limit: usize) -> Result<Vec<domain::report::SnapshotMeta>> {
        self.inner.snapshots(limit).await
    }

    async fn snapshot(&self, id: &str) -> Result<Option<(domain::report::SnapshotMeta, String)>> {
        self.inner.snapshot(id).await
    }

    async fn acknowledgement(&self, id: &str) -> Result<Option<domain::ack::Acknowledgement>> {
        self.inner.acknowledgement(id).await
    }

    async fn changed_acknowledgements(&self, range: DateRange) -> Result<Vec<String>> {
        self.inner.changed_acknowledgements(range).await
    }

    async fn take_evaluator_lease(
        &self,
        holder: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<bool> {
        self.inner.take_evaluator_lease(holder, now, until).await
    }

    async fn release_evaluator_lease(&self, holder: &str) -> Result<()> {
        self.inner.release_evaluator_lease(holder).await
    }
}
