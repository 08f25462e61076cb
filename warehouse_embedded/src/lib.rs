//! The embedded warehouse: one DuckDB file, created and migrated on open.
//!
//! DuckDB allows many connections to one database inside a process, with MVCC:
//! readers see a consistent snapshot while one writer commits. Every operation
//! takes a connection of its own (an idle one, or a new clone of the root) and
//! runs on tokio's blocking pool, so a long backfill write never blocks the
//! dashboard's reads. Connections are kept after use: their prepared-statement
//! caches make the backfill's many small writes cheap.

mod acks;
mod ddl;
mod jobs;
mod migrations;
mod outputs;
mod record;
mod shared_sql;
mod upstream;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use domain::{DateRange, ProcessorId};
use duckdb::Connection;
use warehouse::sql::{Dialect, Query};
use warehouse::{
    CellWrite, JobCell, JobRecord, LoadSource, QueryPort, Result, ResultSet, RunRow, UpstreamLoad,
    Warehouse, WarehouseError, WarehouseStatus,
};

pub use migrations::LATEST_SCHEMA_VERSION;

#[cfg(test)]
mod limit_tests {
    #[test]
    fn memory_limits_are_sizes_only() {
        for ok in ["2GB", "512MB", "1.5GiB", " 8gb "] {
            assert!(super::valid_memory_limit(ok), "{ok}");
        }
        for bad in [
            "",
            "GB",
            "2",
            "2GB'; DROP TABLE x; --",
            "1.2.3GB",
            "2 GB",
            "-1GB",
        ] {
            assert!(!super::valid_memory_limit(bad), "{bad}");
        }
    }
}
pub use upstream::read_parquet_player_games;

/// Why a store file may not have this name, if it may not: DuckDB names a
/// file's catalog after its stem, so a store named like one of its schemas
/// (`shop.duckdb` holding `shop.orders`) makes `shop.orders` ambiguous and
/// would be left half-migrated. Checked before the file is touched.
pub fn name_clash(path: &Path, pipeline: &Pipeline) -> Option<String> {
    let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
    let mut schemas: Vec<String> = [
        "rollcall_meta",
        "nba_reference",
        "nba_analytics",
        "nba_precompute",
        "nba_predictions",
        "nba_processing",
    ]
    .map(String::from)
    .to_vec();
    let tables = [
        &pipeline.universe.table,
        &pipeline.failures_table,
        &pipeline.runs_table,
    ]
    .into_iter()
    .chain(pipeline.processors.iter().map(|p| &p.output_table));
    schemas.extend(tables.map(|t| warehouse::sql::dataset_and_table(t).0.to_ascii_lowercase()));
    schemas.contains(&stem).then(|| {
        format!(
            "a store file may not be named like one of its schemas ({stem}): DuckDB names the \
             file's database after it, and `{stem}.<table>` would be ambiguous; choose another \
             name (for example {stem}-store.duckdb)"
        )
    })
}

/// Resource bounds of the embedded database: how many operations run at
/// once (each on a connection of its own; the rest wait their turn),
/// DuckDB's own `memory_limit` and `threads`, and how many cells one write
/// transaction takes (the job's checkpoint granularity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedLimits {
    pub max_connections: usize,
    /// A DuckDB size, e.g. `2GB`.
    pub memory_limit: String,
    pub threads: usize,
    pub batch_cells: usize,
    /// Open a store recorded with another pipeline and record this one
    /// (`--adopt-pipeline`); otherwise such a store is refused.
    pub adopt_pipeline: bool,
}

impl Default for EmbeddedLimits {
    fn default() -> Self {
        Self {
            max_connections: 8,
            memory_limit: "2GB".into(),
            threads: 2,
            batch_cells: EMBEDDED_BATCH_CELLS,
            adopt_pipeline: false,
        }
    }
}

pub struct EmbeddedWarehouse {
    pipeline: Arc<Pipeline>,
    /// DuckDB's spelling of the shared queries, over `pipeline`'s tables.
    dialect: Arc<Dialect>,
    root: Arc<Mutex<Connection>>,
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One permit per connection in use: a burst of requests queues here
    /// instead of opening a connection each.
    permits: Arc<tokio::sync::Semaphore>,
    max_idle: usize,
    batch_cells: usize,
    location: String,
    schema_version: i64,
    /// The evaluator's lease (holder, until). In memory: DuckDB locks the
    /// file for one process, so this process's lease is the store's.
    evaluator: Mutex<Option<(String, chrono::NaiveDateTime)>>,
}

/// `2GB`, `512MB`, `1.5GiB`: digits, one dot, letters — nothing a statement
/// could be built from.
fn valid_memory_limit(s: &str) -> bool {
    let s = s.trim();
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && ["B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB"]
            .contains(&unit.to_ascii_uppercase().as_str())
}

fn apply_limits(conn: &Connection, limits: &EmbeddedLimits, location: &str) -> Result<()> {
    let bad = |message: String| WarehouseError::Open {
        location: location.to_string(),
        message,
    };
    if !valid_memory_limit(&limits.memory_limit) {
        return Err(bad(format!(
            "memory limit {:?} is not a size like 2GB or 512MB",
            limits.memory_limit
        )));
    }
    if limits.threads == 0 || limits.max_connections == 0 {
        return Err(bad("threads and connections must be at least 1".into()));
    }
    conn.execute_batch(&format!(
        "SET memory_limit = '{}'; SET threads = {};",
        limits.memory_limit.trim(),
        limits.threads
    ))
    .map_err(|e| bad(one_line(&e.to_string())))
}

impl EmbeddedWarehouse {
    /// Opens (creating if needed) and migrates the database file at `path`,
    /// with `pipeline`'s tables.
    pub fn open(path: &Path, pipeline: Arc<Pipeline>) -> Result<Self> {
        Self::open_with(path, pipeline, &EmbeddedLimits::default())
    }

    /// [`EmbeddedWarehouse::open`] with explicit resource bounds.
    pub fn open_with(
        path: &Path,
        pipeline: Arc<Pipeline>,
        limits: &EmbeddedLimits,
    ) -> Result<Self> {
        let location = path.display().to_string();
        if let Some(why) = name_clash(path, &pipeline) {
            return Err(WarehouseError::Open {
                location,
                message: why,
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| WarehouseError::Open {
                location: location.clone(),
                message: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| WarehouseError::Open {
            location: location.clone(),
            message: one_line(&e.to_string()),
        })?;
        apply_limits(&conn, limits, &location)?;
        let schema_version = migrations::migrate(&conn, &location)?;
        // Before any of the pipeline's tables is created.
        let grown = record::check(&conn, &pipeline, limits.adopt_pipeline, &location)?;
        let dialect = Dialect::duckdb(Arc::clone(&pipeline));
        ddl::create_pipeline_tables(&conn, &dialect, &location, &grown)?;
        record::write(&conn, &pipeline)?;
        Ok(Self::from_root(
            dialect,
            conn,
            limits,
            location,
            schema_version,
        ))
    }

    fn from_root(
        dialect: Dialect,
        conn: Connection,
        limits: &EmbeddedLimits,
        location: String,
        schema_version: i64,
    ) -> Self {
        Self {
            pipeline: Arc::new(dialect.pipeline().clone()),
            dialect: Arc::new(dialect),
            root: Arc::new(Mutex::new(conn)),
            idle: Arc::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(limits.max_connections)),
            max_idle: limits.max_connections,
            batch_cells: limits.batch_cells.max(1),
            location,
            schema_version,
            evaluator: Mutex::new(None),
        }
    }

    /// An in-memory database (tests and benchmarks).
    pub fn in_memory(pipeline: Arc<Pipeline>) -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(|e| WarehouseError::Open {
            location: ":memory:".into(),
            message: one_line(&e.to_string()),
        })?;
        let limits = EmbeddedLimits::default();
        apply_limits(&conn, &limits, ":memory:")?;
        let schema_version = migrations::migrate(&conn, ":memory:")?;
        let dialect = Dialect::duckdb(pipeline);
        ddl::create_pipeline_tables(&conn, &dialect, ":memory:", &Vec::new())?;
        Ok(Self::from_root(
            dialect,
            conn,
            &limits,
            ":memory:".into(),
            schema_version,
        ))
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.location)
    }

    /// Runs `f` on a connection of its own on the blocking pool, with the
    /// dialect of the store's pipeline.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Dialect) -> Result<T> + Send + 'static,
    {
        let dialect = Arc::clone(&self.dialect);
        let root = Arc::clone(&self.root);
        let idle = Arc::clone(&self.idle);
        let max_idle = self.max_idle;
        let poisoned = || WarehouseError::Query("connection pool poisoned".into());
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| WarehouseError::Query("connection pool closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let reused = idle.lock().map_err(|_| poisoned())?.pop();
            let mut conn = match reused {
                Some(conn) => conn,
                None => root
                    .lock()
                    .map_err(|_| poisoned())?
                    .try_clone()
                    .map_err(query_err)?,
            };
            let result = f(&mut conn, &dialect);
            // `f` cannot leave a transaction open (duckdb's Transaction rolls back
            // on drop), so the connection is clean to reuse.
            let mut idle = idle.lock().map_err(|_| poisoned())?;
            if idle.len() < max_idle {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| WarehouseError::Query(format!("warehouse task failed: {e}")))?
    }
}

/// A batch's default bounds on the embedded store (see `write_batch`): about a month
/// of dates, so a season is six commits (a commit costs ~20 ms, measured:
/// 32 cells per batch 1.59 s a season, 64 cells 1.48 s, 128 cells 1.33 s);
/// a batch is a few tens of MB in memory and a kill loses at most ~0.3 s of work.
pub const EMBEDDED_BATCH_CELLS: usize = 128;
const EMBEDDED_BATCH_ROWS: usize = 64_000;

pub(crate) fn query_err(e: duckdb::Error) -> WarehouseError {
    WarehouseError::Query(one_line(&e.to_string()))
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl QueryPort for EmbeddedWarehouse {
    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    async fn fetch(&self, q: &Query) -> Result<ResultSet> {
        let q = q.clone();
        self.with_conn(move |conn, _| shared_sql::fetch(conn, &q))
            .await
    }

    async fn fetch_each(&self, q: &Query, sink: warehouse::RowSink) -> Result<()> {
        let q = q.clone();
        self.with_conn(move |conn, _| shared_sql::each(conn, &q, sink))
            .await
    }
}

#[async_trait]
impl Warehouse for EmbeddedWarehouse {
    fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    async fn status(&self) -> Result<WarehouseStatus> {
        let location = self.location.clone();
        let schema_version = self.schema_version;
        self.with_conn(move |conn, _| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))
                .map_err(query_err)?;
            Ok(WarehouseStatus {
                backend: "embedded".into(),
                location,
                schema_version,
            })
        })
        .await
    }

    async fn load_rows(&self, source: Box<dyn LoadSource>) -> Result<UpstreamLoad> {
        self.with_conn(move |c, d| upstream::load_rows(c, d, source))
            .await
    }

    async fn write_cells(&self, writes: Vec<CellWrite>) -> Result<()> {
        self.with_conn(move |c, d| outputs::write_cells(c, d, &writes))
            .await
    }

    /// Whole dates per transaction: a commit, not the rows, is what a small
    /// write costs here (a season in 6 transactions instead of 664).
    fn write_batch(&self) -> warehouse::WriteBatch {
        warehouse::WriteBatch {
            max_cells: self.batch_cells,
            max_rows: EMBEDDED_BATCH_ROWS,
        }
    }

    async fn record_runs(&self, runs: Vec<RunRow>) -> Result<()> {
        self.with_conn(move |c, d| outputs::record_runs(c, d, &runs))
            .await
    }

    async fn create_job(&self, job: JobRecord, cells: Vec<(ProcessorId, NaiveDate)>) -> Result<()> {
        self.with_conn(move |c, d| jobs::create(c, d, &job, &cells))
            .await
    }

    async fn start_job(&self, id: &str) -> Result<JobRecord> {
        let id = id.to_string();
        let now = chrono::Utc::now().naive_utc();
        self.with_conn(move |c, d| jobs::start(c, d, &id, now))
            .await
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let id = id.to_string();
        self.with_conn(move |c, _| jobs::get(c, &id)).await
    }

    async fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        self.with_conn(move |c, _| jobs::list(c, limit)).await
    }

    async fn job_cells(&self, id: &str) -> Result<Vec<JobCell>> {
        let id = id.to_string();
        self.with_conn(move |c, d| jobs::cells(c, d, &id)).await
    }

    async fn update_job(&self, job: &JobRecord) -> Result<()> {
        let job = job.clone();
        self.with_conn(move |c, _| jobs::update(c, &job)).await
    }

    async fn heartbeat(&self, id: &str, at: chrono::NaiveDateTime) -> Result<()> {
        let id = id.to_string();
        self.with_conn(move |c, _| jobs::heartbeat(c, &id, at))
            .await
    }

    async fn interrupt_stale_jobs(
        &self,
        stale_before: Option<chrono::NaiveDateTime>,
    ) -> Result<usize> {
        self.with_conn(move |c, _| jobs::interrupt_stale(c, stale_before))
            .await
    }

    async fn record_evaluation(
        &self,
        evaluation: warehouse::EvaluationRecord,
        cells: Vec<domain::watch::WatchedCell>,
        keep_since: chrono::NaiveDateTime,
    ) -> Result<()> {
        self.with_conn(move |c, d| watch::record_evaluation(c, d, &evaluation, &cells, keep_since))
            .await
    }

    async fn record_delivery(&self, delivery: warehouse::DeliveryRecord) -> Result<()> {
        self.with_conn(move |c, _| watch::record_delivery(c, &delivery))
            .await
    }

    async fn record_acknowledgements(&self, acks: Vec<domain::ack::Acknowledgement>) -> Result<()> {
        self.with_conn(move |c, d| acks::record(c, d, &acks)).await
    }

    async fn end_acknowledgements(
        &self,
        ids: Vec<String>,
        at: chrono::NaiveDateTime,
        by: String,
        end: domain::ack::AckEnd,
    ) -> Result<usize> {
        self.with_conn(move |c, _| acks::end(c, &ids, at, &by, end))
            .await
    }

    async fn record_snapshot(
        &self,
        meta: domain::report::SnapshotMeta,
        body: String,
    ) -> Result<()> {
        self.with_conn(move |c, _| acks::record_snapshot(c, &meta, &body))
            .await
    }

    async fn delete_snapshots_before(&self, before: chrono::NaiveDateTime) -> Result<usize> {
        self.with_conn(move |c, _| acks::delete_snapshots_before(c, before))
            .await
    }

    async fn take_evaluator_lease(
        &self,
        holder: &str,
        now: chrono::NaiveDateTime,
        until: chrono::NaiveDateTime,
    ) -> Result<bool> {
        let mut lease = self
            .evaluator
            .lock()
            .map_err(|_| WarehouseError::Query("the evaluator lease is poisoned".into()))?;
        let free = match &*lease {
            None => true,
            Some((who, expires)) => *expires < now || who == holder,
        };
        if free {
            *lease = Some((holder.to_string(), until));
        }
        Ok(free)
    }

    async fn release_evaluator_lease(&self, holder: &str) -> Result<()> {
        let mut lease = self
            .evaluator
            .lock()
            .map_err(|_| WarehouseError::Query("the evaluator lease is poisoned".into()))?;
        if lease.as_ref().is_some_and(|(who, _)| who == holder) {
            *lease = None;
        }
        Ok(())
    }
}

/// Test and benchmark helpers: raw SQL against the file, outside the trait.
/// Never used by the product itself.
#[doc(hidden)]
impl EmbeddedWarehouse {
    pub fn execute_batch_for_tests(&self, sql: &str) -> Result<()> {
        let guard = self
            .root
            .lock()
            .map_err(|_| WarehouseError::Query("connection pool poisoned".into()))?;
        guard.execute_batch(sql).map_err(query_err)
    }

    /// Every row of `sql` rendered as one string (DuckDB's struct-to-text cast),
    /// so tests can compare whole tables.
    pub fn rows_for_tests(&self, sql: &str) -> Result<Vec<String>> {
        let guard = self
            .root
            .lock()
            .map_err(|_| WarehouseError::Query("connection pool poisoned".into()))?;
        let mut stmt = guard
            .prepare(&format!("SELECT CAST(t AS VARCHAR) FROM ({sql}) t"))
            .map_err(query_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(query_err)?;
        rows.collect::<duckdb::Result<Vec<_>>>().map_err(query_err)
    }

    /// Runs the reconciliation SQL directly (no row mapping): the engine floor
    /// the benchmark compares the trait call against. Returns rows read.
    pub fn raw_reconcile_for_bench(&self, range: DateRange) -> Result<usize> {
        let guard = self
            .root
            .lock()
            .map_err(|_| WarehouseError::Query("connection pool poisoned".into()))?;
        // Cached like the trait's statement, so both sides compare execution.
        let q = warehouse::sql::reconcile(&self.dialect, range);
        shared_sql::count_rows(&guard, &q)
    }

    /// The first column of `sql`, a `DOUBLE[]`, read as Rust doubles.
    pub fn double_lists_for_tests(&self, sql: &str) -> Result<Vec<Vec<f64>>> {
        use duckdb::types::Value;
        let guard = self
            .root
            .lock()
            .map_err(|_| WarehouseError::Query("connection pool poisoned".into()))?;
        let mut stmt = guard.prepare(sql).map_err(query_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Value>(0))
            .map_err(query_err)?;
        let mut out = Vec::new();
        for row in rows {
            let Value::List(values) = row.map_err(query_err)? else {
                return Err(WarehouseError::Query("not a list".into()));
            };
            out.push(
                values
                    .into_iter()
                    .map(|v| match v {
                        Value::Double(d) => Ok(d),
                        other => Err(WarehouseError::Query(format!("not a double: {other:?}"))),
                    })
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        Ok(out)
    }

    pub fn count_for_tests(&self, sql: &str) -> Result<i64> {
        let guard = self
            .root
            .lock()
            .map_err(|_| WarehouseError::Query("connection pool poisoned".into()))?;
        guard.query_row(sql, [], |r| r.get(0)).map_err(query_err)
    }
}
