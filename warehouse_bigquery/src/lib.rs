//! The BigQuery warehouse: the same `Warehouse` trait as the embedded store,
//! over `gcp-bigquery-client`.
//!
//! - Every query is parameterised (`@start`, `@date`, …) and filters
//!   partitioned tables on their partition column (`reads`). The
//!   reconciliation and drill-down queries are the embedded store's too
//!   (`warehouse::sql`), spelled in BigQuery's dialect (`Names::dialect`).
//! - Writes that must be atomic (a batch of cells, an upstream load, a new
//!   job) load their rows into staging tables and then run one transaction
//!   that is safe to apply twice (`stage`, `writes`, `jobs`).
//! - Streaming inserts are never used (their rows cannot be deleted for ~90 min).
//! - Opening lists each dataset's tables once and creates only what is
//!   missing (`schema::ensure`).

mod acks;
mod auth;
mod client;
mod jobs;
mod loads;
mod schema;
mod stage;
mod watch;
mod writes;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use domain::pipeline::Pipeline;
use domain::ProcessorId;
use serde_json::Value;
use warehouse::{
    CellWrite, JobCell, JobRecord, LoadSource, QueryPort, Result, ResultSet, RunRow, UpstreamLoad,
    Warehouse, WarehouseError, WarehouseStatus, WriteBatch,
};

use client::Bq;
pub use client::Timeouts;
use schema::{Names, TableDef};

pub const SCHEMA_VERSION: i64 = 3;

/// How to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server).
    ApplicationDefault,
    /// A service-account key file.
    KeyFile(PathBuf),
    /// No credentials: only for a local emulator at `base_url`.
    None,
}

impl std::fmt::Debug for Credentials {
    // A key file path is not a secret, but its contents are never read here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ApplicationDefault => f.write_str("ApplicationDefault"),
            Credentials::KeyFile(p) => write!(f, "KeyFile({})", p.display()),
            Credentials::None => f.write_str("None"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BigQueryConfig {
    pub project: String,
    /// Prepended to every dataset name (`nba_analytics` → `{prefix}nba_analytics`).
    pub dataset_prefix: String,
    pub location: Option<String>,
    /// `https://bigquery.googleapis.com/bigquery/v2` by default; an emulator's
    /// `http://127.0.0.1:9050/bigquery/v2` in tests.
    pub base_url: Option<String>,
    pub credentials: Credentials,
    /// Request timeout and job deadline.
    pub timeouts: Timeouts,
    /// Open datasets recorded with another pipeline and record this one
    /// (`--adopt-pipeline`); otherwise they are refused.
    pub adopt_pipeline: bool,
}

pub struct BigQueryWarehouse {
    bq: Bq,
    names: Names,
    pipeline: Arc<Pipeline>,
    /// The pipeline's own tables, declared at open.
    tables: schema::PipelineTables,
    /// The shared queries' spelling here (`warehouse::sql`), over `names`.
    dialect: warehouse::sql::Dialect,
}

fn valid_identifier(what: &str, s: &str, allow_empty: bool) -> Result<()> {
    let ok = (allow_empty || !s.is_empty())
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(WarehouseError::Open {
            location: format!("bigquery:{s}"),
            message: format!("{what} may contain only letters, digits, '_' and '-'"),
        })
    }
}

const DEFAULT_V2_URL: &str = "https://bigquery.googleapis.com/bigquery/v2";

/// The upload twin of a `…/bigquery/v2` base URL (`…/upload/bigquery/v2`).
fn upload_url(v2: &str) -> String {
    let v2 = v2.trim_end_matches('/');
    match v2.strip_suffix("/bigquery/v2") {
        Some(host) => format!("{host}/upload/bigquery/v2"),
        None => format!("{v2}/upload"),
    }
}

impl BigQueryWarehouse {
    /// Connects, then creates missing datasets and tables (existing ones are
    /// left alone).
    pub async fn open(config: BigQueryConfig, pipeline: Arc<Pipeline>) -> Result<Self> {
        valid_identifier("project", &config.project, false)?;
        valid_identifier("dataset prefix", &config.dataset_prefix, true)?;
        let location = format!("bigquery:{}", config.project);
        if config.credentials == Credentials::None && config.base_url.is_none() {
            return Err(WarehouseError::Open {
                location,
                message: "credentials are required unless a base URL (an emulator) is set".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeouts.request)
            .connect_timeout(
                config
                    .timeouts
                    .request
                    .min(std::time::Duration::from_secs(10)),
            )
            .build()
            .map_err(|e| WarehouseError::Open {
                location: location.clone(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let auth = auth::authenticator(&config.credentials, &location).await?;
        let v2_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_V2_URL.to_string());
        let client = gcp_bigquery_client::client_builder::ClientBuilder::new()
            .with_v2_base_url(v2_url.clone())
            .with_client(http.clone())
            .build_from_authenticator(Arc::clone(&auth))
            .await
            .map_err(|e| WarehouseError::Open {
                location: location.clone(),
                message: client::bq_error(e).to_string(),
            })?;
        let names = Names {
            project: config.project.clone(),
            prefix: config.dataset_prefix.clone(),
        };
        let wh = Self {
            bq: Bq {
                client: Arc::new(client),
                http,
                auth,
                upload_url: upload_url(&v2_url),
                v2_url,
                project: config.project.clone(),
                location: config.location.clone(),
                timeouts: config.timeouts,
            },
            dialect: names.dialect(Arc::clone(&pipeline)),
            names,
            tables: schema::PipelineTables::of(&pipeline),
            pipeline,
        };
        schema::ensure(&wh, config.location.as_deref(), config.adopt_pipeline)
            .await
            .map_err(|e| match e {
                // Already says where and what (a table that does not fit).
                WarehouseError::Open { .. } | WarehouseError::OtherPipeline { .. } => e,
                other => WarehouseError::Open {
                    location,
                    message: other.to_string(),
                },
            })?;
        Ok(wh)
    }

    /// Runs one statement written against the plain table names
    /// (`nba_processing.precompute_failures`), each rewritten to this
    /// warehouse's datasets. For tests that plant rows another writer would
    /// leave (legacy spellings, unknown categories).
    pub async fn execute_for_tests(&self, sql: &str) -> Result<()> {
        self.query_rows(&self.sql_for_tests(sql), Vec::new())
            .await
            .map(|_| ())
    }

    /// `sql` with the plain table names (staging twins as
    /// `rollcall_meta.staged_<table>`) rewritten to this warehouse's.
    fn sql_for_tests(&self, sql: &str) -> String {
        let mut sql = sql.to_string();
        for t in self.tables.all() {
            let stage = format!("{}.{}", schema::STAGE_DATASET, schema::stage_name(t));
            sql = replace_name(&sql, &stage, &self.names.stage(t));
            sql = replace_name(
                &sql,
                &format!("{}.{}", t.dataset, t.name),
                &self.names.of(t),
            );
        }
        sql
    }

    /// One number from a statement written against the plain table names
    /// (staging twins as `rollcall_meta.staged_<table>`). For tests that
    /// check what no trait method shows (leftover stage rows, duplicates).
    pub async fn count_for_tests(&self, sql: &str) -> Result<i64> {
        let rows = self
            .query_rows(&self.sql_for_tests(sql), Vec::new())
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(client::int)
            .unwrap_or(0))
    }

    pub fn dataset_prefix_for_tests(&self) -> String {
        self.names.prefix.clone()
    }

    /// Every staging twin, as `count_for_tests` names them.
    pub fn stage_tables_for_tests(&self) -> Vec<String> {
        self.tables
            .all()
            .filter(|t| t.staged)
            .map(|t| format!("{}.{}", schema::STAGE_DATASET, schema::stage_name(t)))
            .collect()
    }

    pub(crate) async fn query_rows(
        &self,
        sql: &str,
        params: Vec<gcp_bigquery_client::model::query_parameter::QueryParameter>,
    ) -> Result<Vec<Vec<Value>>> {
        Ok(self.bq.query(sql, params).await?.rows)
    }

    pub(crate) fn table_name(&self, t: &TableDef) -> String {
        self.names.of(t)
    }
}

#[async_trait]
impl QueryPort for BigQueryWarehouse {
    fn dialect(&self) -> &warehouse::sql::Dialect {
        &self.dialect
    }

    async fn fetch(&self, q: &warehouse::sql::Query) -> Result<ResultSet> {
        let params = q.args.iter().map(client::arg_param).collect();
        let found = self.bq.query(&q.sql, params).await?;
        client::result_set(found)
    }
}

#[async_trait]
impl Warehouse for BigQueryWarehouse {
    fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    async fn status(&self) -> Result<WarehouseStatus> {
        self.query_rows("SELECT 1", vec![]).await?;
        Ok(WarehouseStatus {
            backend: "bigquery".into(),
            location: format!("{}/{}*", self.names.project, self.names.prefix),
            schema_version: SCHEMA_VERSION,
        })
    }

    async fn load_rows(&self, source: Box<dyn LoadSource>) -> Result<UpstreamLoad> {
        loads::load_rows(self, source).await
    }

    async fn write_cells(&self, writes: Vec<CellWrite>) -> Result<()> {
        writes::write_cells(self, writes).await
    }

    fn write_batch(&self) -> WriteBatch {
        writes::WRITE_BATCH
    }

    async fn record_runs(&self, runs: Vec<RunRow>) -> Result<()> {
        writes::record_runs(self, runs).await
    }

    async fn create_job(&self, job: JobRecord, cells: Vec<(ProcessorId, NaiveDate)>) -> Result<()> {
        jobs::create_job(self, job, cells).await
    }

    async fn start_job(&self, id: &str) -> Result<JobRecord> {
        jobs::start_job(self, id).await
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        jobs::job(self, id).await
    }

    async fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        jobs::jobs(self, limit).await
    }

    async fn job_cells(&self, id: &str) -> Result<Vec<JobCell>> {
        jobs::job_cells(self, id).await
    }

    async fn update_job(&self, job: &JobRecord) -> Result<()> {
        jobs::update_job(self, job).await
    }

    async fn heartbeat(&self, id: &str, at: NaiveDateTime) -> Result<()> {
        jobs::heartbeat(self, id, at).await
    }

    async fn interrupt_stale_jobs(&self, stale_before: Option<NaiveDateTime>) -> Result<usize> {
        jobs::interrupt_stale_jobs(self, stale_before).await
    }

    async fn record_evaluation(
        &self,
        evaluation: warehouse::EvaluationRecord,
        cells: Vec<domain::watch::WatchedCell>,
        keep_since: NaiveDateTime,
    ) -> Result<()> {
        watch::record_evaluation(self, evaluation, cells, keep_since).await
    }

    async fn record_delivery(&self, delivery: warehouse::DeliveryRecord) -> Result<()> {
        watch::record_delivery(self, delivery).await
    }

    async fn record_acknowledgements(&self, acks: Vec<domain::ack::Acknowledgement>) -> Result<()> {
        acks::record(self, acks).await
    }

    async fn end_acknowledgements(
        &self,
        ids: Vec<String>,
        at: chrono::NaiveDateTime,
        by: String,
        end: domain::ack::AckEnd,
    ) -> Result<usize> {
        acks::end(self, ids, at, by, end).await
    }

    async fn record_snapshot(
        &self,
        meta: domain::report::SnapshotMeta,
        body: String,
    ) -> Result<()> {
        acks::record_snapshot(self, meta, body).await
    }

    async fn delete_snapshots_before(&self, before: NaiveDateTime) -> Result<usize> {
        acks::delete_snapshots_before(self, before).await
    }

    async fn take_evaluator_lease(
        &self,
        holder: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<bool> {
        watch::take_lease(self, holder, now, until).await
    }

    async fn release_evaluator_lease(&self, holder: &str) -> Result<()> {
        watch::release_lease(self, holder).await
    }
}

/// `sql` with every whole occurrence of the table name `from` replaced by
/// `to`: not inside a longer name (`vendor.feed_3` in `vendor.feed_35`) nor
/// inside a name already replaced (`…_vendor.feed_3`).
fn replace_name(sql: &str, from: &str, to: &str) -> String {
    let part_of_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '`');
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find(from) {
        let before = if i > 0 {
            rest[..i].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(part_of_name) || after.is_some_and(part_of_name) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_whole_table_names_are_replaced() {
        let sql = "INSERT INTO vendor.feed_35 SELECT * FROM vendor.feed_3, vendor.feed_3;";
        let out = super::replace_name(sql, "vendor.feed_3", "p.x_vendor.feed_3");
        assert_eq!(
            out,
            "INSERT INTO vendor.feed_35 SELECT * FROM p.x_vendor.feed_3, p.x_vendor.feed_3;"
        );
        let again = super::replace_name(&out, "vendor.feed_3", "p.x_vendor.feed_3");
        assert_eq!(again, out, "a replaced name is not replaced again");
    }
}
