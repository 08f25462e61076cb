//! A store wrapper for tests that observe what the engine asks of a store.

// Each test binary that includes this uses part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use warehouse::{LoadRows, LoadSource, Warehouse};
use warehouse_embedded::EmbeddedWarehouse;

/// A store that counts what a job's run reads: jobs read back by id, and
/// the game-date query planning runs; and how far an import's reader runs
/// ahead of the store's writes. Everything else goes to `inner`.
pub struct Counting {
    pub inner: Arc<EmbeddedWarehouse>,
    job_reads: AtomicUsize,
    plannings: AtomicUsize,
    /// Rows the import's file has handed out (the test's reader counts).
    pub rows_read: Arc<AtomicUsize>,
    /// The most rows read but not yet pulled by the store, at any pull.
    pub most_ahead: Arc<AtomicUsize>,
}

impl Counting {
    pub fn new(inner: Arc<EmbeddedWarehouse>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            job_reads: Default::default(),
            plannings: Default::default(),
            rows_read: Default::default(),
            most_ahead: Default::default(),
        })
    }

    fn note(&self, q: &warehouse::sql::Query) {
        // `sql::game_dates`, which planning a job starts from.
        if q.sql.contains("AS rc_games") {
            self.plannings.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn counts(&self) -> (usize, usize) {
        (
            self.job_reads.load(Ordering::SeqCst),
            self.plannings.load(Ordering::SeqCst),
        )
    }
}

#[async_trait::async_trait]
impl warehouse::QueryPort for Counting {
    fn dialect(&self) -> &warehouse::sql::Dialect {
        self.inner.dialect()
    }
    async fn fetch(&self, q: &warehouse::sql::Query) -> warehouse::Result<warehouse::ResultSet> {
        self.note(q);
        self.inner.fetch(q).await
    }
    async fn fetch_each(
        &self,
        q: &warehouse::sql::Query,
        sink: warehouse::RowSink,
    ) -> warehouse::Result<()> {
        self.note(q);
        self.inner.fetch_each(q, sink).await
    }
}

#[async_trait::async_trait]
impl Warehouse for Counting {
    fn pipeline(&self) -> &Arc<domain::pipeline::Pipeline> {
        self.inner.pipeline()
    }
    async fn status(&self) -> warehouse::Result<warehouse::WarehouseStatus> {
        self.inner.status().await
    }
    async fn load_rows(
        &self,
        source: Box<dyn warehouse::LoadSource>,
    ) -> warehouse::Result<warehouse::UpstreamLoad> {
        let watched = Watched {
            inner: source,
            rows_read: Arc::clone(&self.rows_read),
            most_ahead: Arc::clone(&self.most_ahead),
            pulled: 0,
        };
        self.inner.load_rows(Box::new(watched)).await
    }
    async fn write_cells(&self, writes: Vec<warehouse::CellWrite>) -> warehouse::Result<()> {
        self.inner.write_cells(writes).await
    }
    fn write_batch(&self) -> warehouse::WriteBatch {
        self.inner.write_batch()
    }
    async fn record_runs(&self, runs: Vec<warehouse::RunRow>) -> warehouse::Result<()> {
        self.inner.record_runs(runs).await
    }
    async fn create_job(
        &self,
        job: warehouse::JobRecord,
        cells: Vec<(domain::ProcessorId, chrono::NaiveDate)>,
    ) -> warehouse::Result<()> {
        self.inner.create_job(job, cells).await
    }
    async fn start_job(&self, id: &str) -> warehouse::Result<warehouse::JobRecord> {
        self.inner.start_job(id).await
    }
    async fn job(&self, id: &str) -> warehouse::Result<Option<warehouse::JobRecord>> {
        self.job_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.job(id).await
    }
    async fn jobs(&self, limit: usize) -> warehouse::Result<Vec<warehouse::JobRecord>> {
        self.inner.jobs(limit).await
    }
    async fn job_cells(&self, id: &str) -> warehouse::Result<Vec<warehouse::JobCell>> {
        self.inner.job_cells(id).await
    }
    async fn update_job(&self, job: &warehouse::JobRecord) -> warehouse::Result<()> {
        self.inner.update_job(job).await
    }
    async fn heartbeat(&self, id: &str, at: chrono::NaiveDateTime) -> warehouse::Result<()> {
        self.inner.heartbeat(id, at).await
    }
    async fn interrupt_stale_jobs(
        &self,
        stale_before: Option<chrono::NaiveDateTime>,
    ) -> warehouse::Result<usize> {
        self.inner.interrupt_stale_jobs(stale_before).await
    }
    async fn record_acknowledgements(
        &self,
        acks: Vec<domain::ack::Acknowledgement>,
    ) -> warehouse::Result<()> {
        self.inner.record_acknowledgements(acks).await
    }
    async fn end_acknowledgements(
        &self,
        ids: Vec<String>,
        at: chrono::NaiveDateTime,
        by: String,
        end: domain::ack::AckEnd,
    ) -> warehouse::Result<usize> {
        self.inner.end_acknowledgements(ids, at, by, end).await
    }
    async fn record_snapshot(
        &self,
        meta: domain::report::SnapshotMeta,
        body: String,
    ) -> warehouse::Result<()> {
        self.inner.record_snapshot(meta, body).await
    }
    async fn delete_snapshots_before(
        &self,
        before: chrono::NaiveDateTime,
    ) -> warehouse::Result<usize> {
        self.inner.delete_snapshots_before(before).await
    }
    async fn record_evaluation(
        &self,
        evaluation: warehouse::EvaluationRecord,
        cells: Vec<domain::watch::WatchedCell>,
        keep_since: chrono::NaiveDateTime,
    ) -> warehouse::Result<()> {
        self.inner
            .record_evaluation(evaluation, cells, keep_since)
            .await
    }
    async fn record_delivery(&self, delivery: warehouse::DeliveryRecord) -> warehouse::Result<()> {
        self.inner.record_delivery(delivery).await
    }
    async fn take_evaluator_lease(
        &self,
        holder: &str,
        now: chrono::NaiveDateTime,
        until: chrono::NaiveDateTime,
    ) -> warehouse::Result<bool> {
        self.inner.take_evaluator_lease(holder, now, until).await
    }
    async fn release_evaluator_lease(&self, holder: &str) -> warehouse::Result<()> {
        self.inner.release_evaluator_lease(holder).await
    }
}

/// A load's source as the store pulls it: at each pull, how many rows the
/// reader had read beyond those pulled.
struct Watched {
    inner: Box<dyn LoadSource>,
    rows_read: Arc<AtomicUsize>,
    most_ahead: Arc<AtomicUsize>,
    pulled: usize,
}

#[async_trait::async_trait]
impl LoadSource for Watched {
    async fn next_chunk(&mut self) -> warehouse::Result<Option<LoadRows>> {
        let chunk = self.inner.next_chunk().await?;
        self.pulled += chunk.as_ref().map_or(0, LoadRows::len);
        let ahead = self
            .rows_read
            .load(Ordering::SeqCst)
            .saturating_sub(self.pulled);
        self.most_ahead.fetch_max(ahead, Ordering::SeqCst);
        Ok(chunk)
    }
}
