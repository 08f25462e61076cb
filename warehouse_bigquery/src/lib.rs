//! The BigQuery warehouse: the same `Warehouse` trait as the embedded store,
//! over `gcp-bigquery-client`.
//!
//! - Every query is parameterised (`@start`, `@date`, `@procs`, …) and filters
//!   partitioned tables on their partition column.
//! - Writes that must be atomic (a cell, an upstream load) stage their rows
//!   with parameterised `INSERT … FROM UNNEST(@rows)` into `rollcall_meta.stage_*`
//!   and then run one multi-statement transaction that moves them. That script
//!   carries no parameters — the emulator cannot bind parameters inside a
//!   script — only a generated write id, dates rendered from typed values and
//!   names from the static declarations: never user input.
//! - Streaming inserts are never used (their rows cannot be deleted for ~90 min).

mod client;
mod reconcile;
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::processors::{Records, Upstream, UpstreamSet, DATE_LEVEL};
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo, TraceLink, TraceState};
use domain::{DateRange, ProcessorId, PROCESSORS};
use serde_json::Value;
use warehouse::{
    CellCounts, CellState, CellWrite, FailureFilter, GameDateSummary, JobCell, JobRecord, JobState,
    Result, RunRow, TableCount, UpstreamLoad, Warehouse, WarehouseError, WarehouseStatus,
};

use client::{param, rows_param, Bq, P};
use schema::{Names, TableDef};

/// Reported by `status`; the BigQuery tables carry the same columns as the
/// embedded schema of this version.
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
}

pub struct BigQueryWarehouse {
    bq: Bq,
    names: Names,
}

/// An authenticator for the emulator, which checks no token.
#[derive(Clone)]
struct NoAuth;

#[async_trait]
impl gcp_bigquery_client::auth::Authenticator for NoAuth {
    async fn access_token(
        &self,
    ) -> std::result::Result<String, gcp_bigquery_client::error::BQError> {
        Ok("emulator".into())
    }
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

static WRITE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique id for one staged write (letters and digits only).
fn write_id() -> String {
    let n = WRITE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("w{t}x{n}")
}

/// Dates rendered from typed values: digits and dashes only.
fn date_literal(d: NaiveDate) -> String {
    format!("DATE '{d}'")
}

fn range_params(
    range: DateRange,
) -> Vec<gcp_bigquery_client::model::query_parameter::QueryParameter> {
    vec![
        param("start", P::Date(Some(range.start()))),
        param("end", P::Date(Some(range.end()))),
    ]
}

impl BigQueryWarehouse {
    /// Connects, then creates missing datasets and tables (existing ones are
    /// left alone).
    /// Runs one statement written against the plain table names
    /// (`nba_processing.precompute_failures`), each rewritten to this
    /// warehouse's datasets. For tests that plant rows another writer would
    /// leave (legacy spellings, unknown categories).
    pub async fn execute_for_tests(&self, sql: &str) -> Result<()> {
        let mut sql = sql.to_string();
        for t in schema::TABLES {
            sql = sql.replace(&format!("{}.{}", t.dataset, t.name), &self.names.of(t));
        }
        self.q(&sql, Vec::new()).await.map(|_| ())
    }

    pub async fn open(config: BigQueryConfig) -> Result<Self> {
        valid_identifier("project", &config.project, false)?;
        valid_identifier("dataset prefix", &config.dataset_prefix, true)?;
        let location = format!("bigquery:{}", config.project);
        let open_err = |e: gcp_bigquery_client::error::BQError| WarehouseError::Open {
            location: location.clone(),
            message: client::bq_error(e).to_string(),
        };
        let mut builder = gcp_bigquery_client::client_builder::ClientBuilder::new();
        if let Some(url) = &config.base_url {
            builder.with_v2_base_url(url.clone());
        }
        let client = match &config.credentials {
            Credentials::None => {
                if config.base_url.is_none() {
                    return Err(WarehouseError::Open {
                        location,
                        message: "credentials are required unless a base URL (an emulator) is set"
                            .into(),
                    });
                }
                builder.build_from_authenticator(Arc::new(NoAuth)).await
            }
            Credentials::KeyFile(path) => {
                builder
                    .build_from_service_account_key_file(&path.to_string_lossy())
                    .await
            }
            Credentials::ApplicationDefault => {
                builder.build_from_application_default_credentials().await
            }
        }
        .map_err(open_err)?;
        let wh = Self {
            bq: Bq {
                client: Arc::new(client),
                project: config.project.clone(),
                location: config.location.clone(),
            },
            names: Names {
                project: config.project.clone(),
                prefix: config.dataset_prefix.clone(),
            },
        };
        wh.ensure_schema(config.location.as_deref())
            .await
            .map_err(|e| WarehouseError::Open {
                location: format!("bigquery:{}", config.project),
                message: e.to_string(),
            })?;
        Ok(wh)
    }

    async fn ensure_schema(&self, location: Option<&str>) -> Result<()> {
        let datasets: BTreeSet<&str> = schema::TABLES.iter().map(|t| t.dataset).collect();
        for ds in datasets {
            let id = self.names.dataset(ds);
            if self
                .bq
                .client
                .dataset()
                .get(&self.bq.project, &id)
                .await
                .is_ok()
            {
                continue;
            }
            let mut dataset =
                gcp_bigquery_client::model::dataset::Dataset::new(&self.bq.project, &id);
            if let Some(loc) = location {
                dataset = dataset.location(loc);
            }
            if let Err(e) = self.bq.client.dataset().create(dataset).await {
                // Created meanwhile by another process: fine.
                if self
                    .bq
                    .client
                    .dataset()
                    .get(&self.bq.project, &id)
                    .await
                    .is_err()
                {
                    return Err(client::bq_error(e));
                }
            }
        }
        for t in schema::TABLES {
            self.bq.query(&self.names.create_table(t), vec![]).await?;
            if t.staged {
                self.bq.query(&self.names.create_stage(t), vec![]).await?;
            }
        }
        Ok(())
    }

    async fn q(
        &self,
        sql: &str,
        params: Vec<gcp_bigquery_client::model::query_parameter::QueryParameter>,
    ) -> Result<Vec<Vec<Value>>> {
        Ok(self.bq.query(sql, params).await?.rows)
    }

    fn t(&self, t: &TableDef) -> String {
        self.names.of(t)
    }

    /// Stages `rows` (parameter values in `t`'s column order) under `write_id`,
    /// in batches that keep each request small.
    async fn stage(&self, t: &TableDef, write_id: &str, rows: Vec<Vec<P>>) -> Result<()> {
        const BATCH: usize = 2000;
        let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
        let select: Vec<String> = columns.iter().map(|c| format!("r.{c}")).collect();
        let sql = format!(
            "INSERT INTO {} (write_id, {}) SELECT @write_id, {} FROM UNNEST(@rows) AS r",
            self.names.stage(t),
            schema::column_list(t),
            select.join(", ")
        );
        let types = schema::param_types(t);
        let mut rows = rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(BATCH));
            let batch = std::mem::replace(&mut rows, rest);
            self.bq
                .query(
                    &sql,
                    vec![
                        param("write_id", P::Str(Some(write_id.into()))),
                        rows_param("rows", &columns, &types, batch),
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// `INSERT INTO t SELECT … FROM stage WHERE write_id = …; DELETE FROM stage …`
    fn unstage(&self, t: &TableDef, write_id: &str) -> String {
        let cols = schema::column_list(t);
        format!(
            "INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} WHERE write_id = '{write_id}';
             DELETE FROM {stage} WHERE write_id = '{write_id}';",
            target = self.t(t),
            stage = self.names.stage(t),
        )
    }

    /// Runs a parameter-free script as one transaction; on failure the staged
    /// rows are removed so a retry starts clean.
    async fn transaction(&self, body: &str, cleanup: &[(&TableDef, &str)]) -> Result<()> {
        let script = format!("BEGIN TRANSACTION;\n{body}\nCOMMIT TRANSACTION;");
        match self.bq.query(&script, vec![]).await {
            Ok(_) => Ok(()),
            Err(e) => {
                for (t, id) in cleanup {
                    let _ = self
                        .bq
                        .query(
                            &format!("DELETE FROM {} WHERE write_id = @w", self.names.stage(t)),
                            vec![param("w", P::Str(Some((*id).into())))],
                        )
                        .await;
                }
                Err(e)
            }
        }
    }

    fn procs_param() -> gcp_bigquery_client::model::query_parameter::QueryParameter {
        let rows = domain::processor::name_spellings()
            .map(|(raw, code, bit)| {
                vec![
                    P::Str(Some(raw)),
                    P::Str(Some(code.into())),
                    P::Int(Some(i64::from(bit))),
                ]
            })
            .collect();
        rows_param(
            "procs",
            &["raw", "code", "bit"],
            &[P::Str(None), P::Str(None), P::Int(None)],
            rows,
        )
    }

    fn cats_param() -> gcp_bigquery_client::model::query_parameter::QueryParameter {
        let rows = domain::failure::spellings()
            .map(|(raw, code, expected)| {
                vec![
                    P::Str(Some(raw.into())),
                    P::Str(Some(code.into())),
                    P::Bool(Some(expected)),
                ]
            })
            .collect();
        rows_param(
            "cats",
            &["raw", "code", "expected"],
            &[P::Str(None), P::Str(None), P::Bool(None)],
            rows,
        )
    }

    fn sel_param(
        processors: &[ProcessorId],
    ) -> gcp_bigquery_client::model::query_parameter::QueryParameter {
        let rows = processors
            .iter()
            .map(|p| {
                let deps: i64 = p.spec().depends_on.iter().map(|d| 1i64 << d.order()).sum();
                vec![
                    P::Str(Some(p.code().into())),
                    P::Int(Some(1i64 << p.order())),
                    P::Int(Some(deps)),
                ]
            })
            .collect();
        rows_param(
            "sel",
            &["code", "bit", "deps"],
            &[P::Str(None), P::Int(None), P::Int(None)],
            rows,
        )
    }

    async fn failures_of(
        &self,
        p: ProcessorId,
        date: NaiveDate,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows = self
            .q(
                &format!(
                    "SELECT entity_id, COALESCE(failure_category, '') FROM {}
                     WHERE analysis_date = @date AND UPPER(processor_name) IN (UPPER(@code), UPPER(@name))
                       AND entity_id <> @date_level",
                    self.t(&schema::FAILURES)
                ),
                vec![
                    param("date", P::Date(Some(date))),
                    param("code", P::Str(Some(p.code().into()))),
                    param("name", P::Str(Some(p.name().into()))),
                    param("date_level", P::Str(Some(DATE_LEVEL.into()))),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    client::s(r.first()?)?,
                    client::s(r.get(1)?).unwrap_or_default(),
                ))
            })
            .collect())
    }

    async fn records_of<T: serde::de::DeserializeOwned>(
        &self,
        p: ProcessorId,
        date: NaiveDate,
    ) -> Result<Vec<T>> {
        let t = schema::output_table(p);
        let rows = self
            .q(
                &format!(
                    "SELECT {} FROM {} AS t WHERE t.{} = @date",
                    schema::select_list(t, "t"),
                    self.t(t),
                    p.spec().date_column
                ),
                vec![param("date", P::Date(Some(date)))],
            )
            .await?;
        rows.iter()
            .map(|r| {
                serde_json::from_value(Value::Object(schema::row_object(t, r)))
                    .map_err(|e| WarehouseError::Query(format!("unreadable {} row: {e}", t.name)))
            })
            .collect()
    }

    /// One upstream processor's records and player failures on `date`.
    async fn upstream_of<T: serde::de::DeserializeOwned>(
        &self,
        p: ProcessorId,
        date: NaiveDate,
        key: impl Fn(&T) -> String,
    ) -> Result<Upstream<T>> {
        Ok(Upstream {
            records: self
                .records_of::<T>(p, date)
                .await?
                .into_iter()
                .map(|r| (key(&r), r))
                .collect(),
            failures: self.failures_of(p, date).await?,
        })
    }

    fn job_from(row: &[Value]) -> Result<JobRecord> {
        let object = schema::row_object(&schema::JOBS, row);
        let get = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
        let text = |k: &str| get(k).as_str().map(String::from);
        let time = |k: &str| text(k).and_then(|s| s.parse().ok());
        Ok(JobRecord {
            id: text("id").ok_or_else(|| client::missing("job id"))?,
            requested_by: text("requested_by").unwrap_or_default(),
            request: text("request").unwrap_or_default(),
            state: text("state")
                .and_then(|s| JobState::parse(&s))
                .unwrap_or(JobState::Failed),
            progress: text("progress").unwrap_or_else(|| "{}".into()),
            created_at: time("created_at").ok_or_else(|| client::missing("job created_at"))?,
            started_at: time("started_at"),
            finished_at: time("finished_at"),
            error: text("error"),
            snapshot: text("snapshot"),
        })
    }

    /// A running job other than `id` with a pending cell `id` still has to run.
    async fn overlap(&self, id: &str) -> Result<Option<WarehouseError>> {
        let rows = self
            .q(
                &format!(
                    "SELECT j.id, c.processor_name, c.analysis_date
                     FROM {cells} c
                     JOIN {jobs} j ON j.id = c.job_id
                     JOIN {cells} mine
                       ON mine.processor_name = c.processor_name AND mine.analysis_date = c.analysis_date
                     WHERE mine.job_id = @id AND mine.state <> 'done'
                       AND j.state = 'running' AND c.state = 'pending' AND j.id <> @id
                     ORDER BY c.analysis_date LIMIT 1",
                    cells = self.t(&schema::JOB_CELLS),
                    jobs = self.t(&schema::JOBS),
                ),
                vec![param("id", P::Str(Some(id.into())))],
            )
            .await?;
        Ok(rows.first().map(|r| {
            WarehouseError::Conflict(format!(
                "job {} is already running over {} {}; wait for it or cancel it",
                r.first().and_then(client::s).unwrap_or_default(),
                r.get(1).and_then(client::s).unwrap_or_default(),
                r.get(2).and_then(client::s).unwrap_or_default(),
            ))
        }))
    }

    fn safe_job_id(id: &str) -> Result<&str> {
        if !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Ok(id)
        } else {
            Err(WarehouseError::Query(format!("malformed job id {id:?}")))
        }
    }
}

/// The tables counted on the overview, in the embedded store's order and names.
const COUNTED: [&TableDef; 8] = [
    &schema::SCHEDULE,
    &schema::PLAYER_GAMES,
    &schema::PSZA,
    &schema::PDC,
    &schema::PCF,
    &schema::MLFS,
    &schema::FAILURES,
    &schema::RUNS,
];

#[async_trait]
impl Warehouse for BigQueryWarehouse {
    async fn status(&self) -> Result<WarehouseStatus> {
        self.q("SELECT 1", vec![]).await?;
        Ok(WarehouseStatus {
            backend: "bigquery".into(),
            location: format!("{}/{}*", self.names.project, self.names.prefix),
            schema_version: SCHEMA_VERSION,
        })
    }

    async fn game_dates(&self, range: DateRange) -> Result<Vec<GameDateSummary>> {
        let rows = self
            .q(
                &format!(
                    "SELECT game_date, COUNT(DISTINCT game_id), COUNT(*),
                            COUNT(DISTINCT IF(is_active AND (minutes_played > 0 OR fg_attempts > 0), player_lookup, NULL))
                     FROM {} WHERE game_date BETWEEN @start AND @end
                     GROUP BY game_date ORDER BY game_date",
                    self.t(&schema::PLAYER_GAMES)
                ),
                range_params(range),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(GameDateSummary {
                    game_date: client::d(&r[0]).ok_or_else(|| client::missing("game_date"))?,
                    games: client::i(&r[1]).unwrap_or(0),
                    player_rows: client::i(&r[2]).unwrap_or(0),
                    expected_players: client::i(&r[3]).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn table_counts(&self, range: DateRange) -> Result<Vec<TableCount>> {
        let sql = COUNTED
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "SELECT {i} AS k, COUNT(*) AS n FROM {} WHERE {} BETWEEN @start AND @end",
                    self.t(t),
                    t.partition.unwrap_or("game_date")
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows = self.q(&sql, range_params(range)).await?;
        let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
        for r in &rows {
            counts.insert(
                client::i(&r[0]).unwrap_or(-1),
                client::i(&r[1]).unwrap_or(0),
            );
        }
        Ok(COUNTED
            .iter()
            .enumerate()
            .map(|(i, t)| TableCount {
                table: format!("{}.{}", t.dataset, t.name),
                rows: counts.get(&(i as i64)).copied().unwrap_or(0),
            })
            .collect())
    }

    async fn load_upstream_rows(
        &self,
        schedule: Vec<ScheduledGame>,
        games: Vec<PlayerGame>,
    ) -> Result<UpstreamLoad> {
        let schedule_dates: BTreeSet<NaiveDate> = schedule.iter().map(|s| s.game_date).collect();
        let game_dates: BTreeSet<NaiveDate> = games.iter().map(|g| g.game_date).collect();
        let dates = schedule_dates.union(&game_dates).count();
        let id = write_id();
        let to_rows = |t: &TableDef, values: Vec<Value>| -> Vec<Vec<P>> {
            values
                .iter()
                .filter_map(|v| v.as_object())
                .map(|o| schema::row_params(t, o, &[]))
                .collect()
        };
        let encode = |v: std::result::Result<Vec<Value>, serde_json::Error>| {
            v.map_err(|e| WarehouseError::Query(format!("cannot encode rows: {e}")))
        };
        let schedule_rows = to_rows(
            &schema::SCHEDULE,
            encode(
                schedule
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<std::result::Result<_, _>>(),
            )?,
        );
        let game_rows = to_rows(
            &schema::PLAYER_GAMES,
            encode(
                games
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<std::result::Result<_, _>>(),
            )?,
        );
        let (n_schedule, n_games) = (schedule_rows.len(), game_rows.len());
        self.stage(&schema::SCHEDULE, &id, schedule_rows).await?;
        self.stage(&schema::PLAYER_GAMES, &id, game_rows).await?;
        let in_list = |set: &BTreeSet<NaiveDate>| {
            set.iter()
                .map(|d| date_literal(*d))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut body = String::new();
        if !schedule_dates.is_empty() {
            body += &format!(
                "DELETE FROM {} WHERE game_date IN ({});\n",
                self.t(&schema::SCHEDULE),
                in_list(&schedule_dates)
            );
        }
        if !game_dates.is_empty() {
            body += &format!(
                "DELETE FROM {} WHERE game_date IN ({});\n",
                self.t(&schema::PLAYER_GAMES),
                in_list(&game_dates)
            );
        }
        body += &self.unstage(&schema::SCHEDULE, &id);
        body += &self.unstage(&schema::PLAYER_GAMES, &id);
        self.transaction(
            &body,
            &[(&schema::SCHEDULE, &id), (&schema::PLAYER_GAMES, &id)],
        )
        .await?;
        Ok(UpstreamLoad {
            schedule_rows: n_schedule,
            game_rows: n_games,
            dates,
        })
    }

    async fn player_games(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<PlayerGame>, Vec<ScheduledGame>)> {
        let params = || {
            vec![
                param("start", P::Date(Some(from))),
                param("end", P::Date(Some(to))),
            ]
        };
        let decode = |t: &TableDef, rows: Vec<Vec<Value>>| -> Result<Vec<Value>> {
            Ok(rows
                .iter()
                .map(|r| Value::Object(schema::row_object(t, r)))
                .collect())
        };
        let games = self
            .q(
                &format!(
                    "SELECT {} FROM {} AS t WHERE t.game_date BETWEEN @start AND @end
                     ORDER BY t.game_date, t.player_lookup, t.game_id",
                    schema::select_list(&schema::PLAYER_GAMES, "t"),
                    self.t(&schema::PLAYER_GAMES)
                ),
                params(),
            )
            .await?;
        let schedule = self
            .q(
                &format!(
                    "SELECT {} FROM {} AS t WHERE t.game_date BETWEEN @start AND @end
                     ORDER BY t.game_date, t.game_id",
                    schema::select_list(&schema::SCHEDULE, "t"),
                    self.t(&schema::SCHEDULE)
                ),
                params(),
            )
            .await?;
        let bad =
            |e: serde_json::Error| WarehouseError::Query(format!("unreadable upstream row: {e}"));
        let games = decode(&schema::PLAYER_GAMES, games)?
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(bad))
            .collect::<Result<Vec<PlayerGame>>>()?;
        let schedule = decode(&schema::SCHEDULE, schedule)?
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(bad))
            .collect::<Result<Vec<ScheduledGame>>>()?;
        Ok((games, schedule))
    }

    async fn upstream_outcomes(
        &self,
        date: NaiveDate,
        processors: &[ProcessorId],
    ) -> Result<UpstreamSet> {
        let mut up = UpstreamSet::default();
        for p in processors {
            match p {
                ProcessorId::Psza => {
                    up.psza = self
                        .upstream_of(*p, date, |r: &domain::processors::PszaRecord| {
                            r.player_lookup.clone()
                        })
                        .await?
                }
                ProcessorId::Pdc => {
                    up.pdc = self
                        .upstream_of(*p, date, |r: &domain::processors::PdcRecord| {
                            r.player_lookup.clone()
                        })
                        .await?
                }
                ProcessorId::Pcf => {
                    up.pcf = self
                        .upstream_of(*p, date, |r: &domain::processors::PcfRecord| {
                            r.player_lookup.clone()
                        })
                        .await?
                }
                ProcessorId::Mlfs => {
                    return Err(WarehouseError::Query(
                        "MLFS has no downstream; its outputs are not read as upstream".into(),
                    ))
                }
            }
        }
        Ok(up)
    }

    async fn write_cell(&self, w: CellWrite) -> Result<()> {
        let p = w.output.processor;
        let spec = p.spec();
        let date = w.output.date;
        let out = schema::output_table(p);
        let id = write_id();
        let at = P::Timestamp(Some(w.written_at));
        let run_id = P::Str(Some(w.run.run_id.clone()));
        type Encoded = std::result::Result<Vec<Value>, serde_json::Error>;
        let values: Vec<Value> = match &w.output.records {
            Records::Psza(r) => r.iter().map(serde_json::to_value).collect::<Encoded>(),
            Records::Pdc(r) => r.iter().map(serde_json::to_value).collect::<Encoded>(),
            Records::Pcf(r) => r.iter().map(serde_json::to_value).collect::<Encoded>(),
            Records::Mlfs(r) => r.iter().map(serde_json::to_value).collect::<Encoded>(),
        }
        .map_err(|e| WarehouseError::Query(format!("cannot encode records: {e}")))?;
        let names = P::StrArray(
            domain::processors::FEATURE_NAMES
                .iter()
                .map(|n| (*n).to_string())
                .collect(),
        );
        let record_rows: Vec<Vec<P>> = values
            .iter()
            .filter_map(|v| v.as_object())
            .map(|o| {
                schema::row_params(
                    out,
                    o,
                    &[
                        ("run_id", run_id.clone()),
                        ("processed_at", at.clone()),
                        ("feature_names", names.clone()),
                    ],
                )
            })
            .collect();
        self.stage(out, &id, record_rows).await?;
        let mut cleanup: Vec<(&TableDef, &str)> = vec![(out, &id), (&schema::RUNS, &id)];
        if !w.legacy {
            let failure_rows: Vec<Vec<P>> = w
                .output
                .failures
                .iter()
                .map(|f| {
                    vec![
                        P::Str(Some(spec.name.into())),
                        run_id.clone(),
                        P::Date(Some(date)),
                        P::Str(Some(f.entity_id.clone())),
                        P::Str(Some(f.category.code().into())),
                        P::Str(Some(f.reason.clone())),
                        P::Bool(Some(f.can_retry)),
                        P::Str(f.upstream_processor.map(|u| u.code().into())),
                        P::Str(f.upstream_category.clone()),
                        at.clone(),
                    ]
                })
                .collect();
            self.stage(&schema::FAILURES, &id, failure_rows).await?;
            cleanup.push((&schema::FAILURES, &id));
        }
        self.stage(&schema::RUNS, &id, vec![run_params(&w.run)])
            .await?;
        let mut body = format!(
            "DELETE FROM {} WHERE {} = {};\n",
            self.t(out),
            spec.date_column,
            date_literal(date)
        );
        body += &self.unstage(out, &id);
        if !w.legacy {
            body += &format!(
                "DELETE FROM {} WHERE analysis_date = {} AND UPPER(processor_name) IN ('{}', '{}');\n",
                self.t(&schema::FAILURES),
                date_literal(date),
                spec.code.to_uppercase(),
                spec.name.to_uppercase()
            );
            body += &self.unstage(&schema::FAILURES, &id);
        }
        body += &self.unstage(&schema::RUNS, &id);
        if let Some(job) = &w.job_id {
            body += &format!(
                "UPDATE {} SET state = 'done', updated_at = CURRENT_TIMESTAMP()
                 WHERE job_id = '{}' AND processor_name = '{}' AND analysis_date = {};\n",
                self.t(&schema::JOB_CELLS),
                Self::safe_job_id(job)?,
                p.code(),
                date_literal(date)
            );
        }
        self.transaction(&body, &cleanup).await
    }

    async fn record_failed_run(&self, run: RunRow, job_id: Option<String>) -> Result<()> {
        let id = write_id();
        let date = run.analysis_date;
        let code = run.processor.code();
        self.stage(&schema::RUNS, &id, vec![run_params(&run)])
            .await?;
        let mut body = self.unstage(&schema::RUNS, &id);
        if let Some(job) = &job_id {
            body += &format!(
                "UPDATE {} SET state = 'failed', updated_at = CURRENT_TIMESTAMP()
                 WHERE job_id = '{}' AND processor_name = '{}' AND analysis_date = {};\n",
                self.t(&schema::JOB_CELLS),
                Self::safe_job_id(job)?,
                code,
                date_literal(date)
            );
        }
        self.transaction(&body, &[(&schema::RUNS, &id)]).await
    }

    async fn cell_counts(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<CellCounts>> {
        if processors.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = range_params(range);
        params.push(param("date_level", P::Str(Some(DATE_LEVEL.into()))));
        let rows = self.q(&reconcile::cells_sql(&self.names), params).await?;
        reconcile::cells_from_rows(&rows, processors)
    }

    async fn unaccounted(
        &self,
        range: DateRange,
        processors: &[ProcessorId],
    ) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
        if processors.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = range_params(range);
        params.extend([
            Self::procs_param(),
            Self::cats_param(),
            Self::sel_param(processors),
            param("date_level", P::Str(Some(DATE_LEVEL.into()))),
        ]);
        let rows = self
            .q(&reconcile::unaccounted_sql(&self.names), params)
            .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    WarehouseError::stored_processor(&client::s(&r[0]).unwrap_or_default())?,
                    client::d(&r[1]).ok_or_else(|| client::missing("date"))?,
                    client::s(&r[2]).unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| (a.1, a.0.order(), &a.2).cmp(&(b.1, b.0.order(), &b.2)));
        Ok(out)
    }

    async fn failure_rows(
        &self,
        p: ProcessorId,
        date: NaiveDate,
        filter: FailureFilter,
    ) -> Result<Page<FailureRow>> {
        let limit = filter.limit.clamp(1, 500);
        let offset = filter.offset.max(0);
        let params = vec![
            param("date", P::Date(Some(date))),
            param("code", P::Str(Some(p.code().into()))),
            param("name", P::Str(Some(p.name().into()))),
            param("category", P::Str(filter.category.clone())),
            param("search", P::Str(filter.search.clone())),
            param("lim", P::Int(Some(limit))),
            param("off", P::Int(Some(offset))),
            Self::cats_param(),
        ];
        let rows = self
            .q(&reconcile::failure_rows_sql(&self.names), params)
            .await?;
        let mut total = 0;
        let mut items = Vec::new();
        for r in &rows {
            total = client::i(&r[8]).unwrap_or(0);
            items.push(FailureRow {
                entity_id: client::s(&r[0]).unwrap_or_default(),
                raw_category: client::s(&r[1]).unwrap_or_default(),
                category: client::s(&r[2]).unwrap_or_default(),
                reason: client::s(&r[3]).unwrap_or_default(),
                can_retry: client::b(&r[4]).unwrap_or(false),
                upstream_processor: client::s(&r[5]),
                upstream_category: client::s(&r[6]),
                run_id: client::s(&r[7]),
            });
        }
        if items.is_empty() && offset > 0 {
            let mut f = filter.clone();
            f.offset = 0;
            f.limit = 1;
            total = self.failure_rows(p, date, f).await?.total;
        }
        Ok(Page {
            items,
            total,
            offset,
            limit,
        })
    }

    async fn cell_runs(&self, p: ProcessorId, date: NaiveDate) -> Result<Vec<RunInfo>> {
        let rows = self
            .q(
                &format!(
                    "SELECT run_id, job_id, status, COALESCE(records_written, 0), COALESCE(failures_written, 0),
                            COALESCE(expected_count, 0), COALESCE(duration_ms, 0), error, UNIX_MICROS(started_at)
                     FROM {} WHERE analysis_date = @date AND UPPER(processor_name) IN (UPPER(@code), UPPER(@name))
                     ORDER BY started_at DESC, run_id DESC",
                    self.t(&schema::RUNS)
                ),
                vec![
                    param("date", P::Date(Some(date))),
                    param("code", P::Str(Some(p.code().into()))),
                    param("name", P::Str(Some(p.name().into()))),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| RunInfo {
                run_id: client::s(&r[0]).unwrap_or_default(),
                job_id: client::s(&r[1]),
                status: client::s(&r[2]).unwrap_or_default(),
                records_written: client::i(&r[3]).unwrap_or(0),
                failures_written: client::i(&r[4]).unwrap_or(0),
                expected_count: client::i(&r[5]).unwrap_or(0),
                duration_ms: client::i(&r[6]).unwrap_or(0),
                error: client::s(&r[7]),
                started_at: client::ts(&r[8]),
            })
            .collect())
    }

    async fn player_trace(&self, player: &str, date: NaiveDate) -> Result<Option<PlayerTrace>> {
        // A player is known when they have a box score within two years of the
        // date (a bounded partition range, unlike the embedded store's "ever").
        let window = vec![
            param("player", P::Str(Some(player.into()))),
            param("date", P::Date(Some(date))),
            param("lo", P::Date(Some(date - chrono::Duration::days(730)))),
            param("hi", P::Date(Some(date + chrono::Duration::days(730)))),
        ];
        let pgs = self.t(&schema::PLAYER_GAMES);
        let rows = self
            .q(
                &format!(
                    "SELECT COUNT(*), COUNTIF(game_date = @date AND is_active AND (minutes_played > 0 OR fg_attempts > 0))
                     FROM {pgs} WHERE player_lookup = @player AND game_date BETWEEN @lo AND @hi"
                ),
                window.clone(),
            )
            .await?;
        let known = rows.first().and_then(|r| client::i(&r[0])).unwrap_or(0);
        if known == 0 {
            return Ok(None);
        }
        let expected = rows.first().and_then(|r| client::i(&r[1])).unwrap_or(0) > 0;
        let records_sql = PROCESSORS
            .iter()
            .map(|s| {
                format!(
                    "SELECT '{}' AS code, COUNT(*) AS n FROM {} WHERE {} = @date AND player_lookup = @player",
                    s.code,
                    self.t(schema::output_table(s.id)),
                    s.date_column
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let with_records: BTreeSet<String> = self
            .q(&records_sql, window.clone())
            .await?
            .iter()
            .filter(|r| client::i(&r[1]).unwrap_or(0) > 0)
            .filter_map(|r| client::s(&r[0]))
            .collect();
        let failures = self
            .q(
                &format!(
                    "SELECT UPPER(processor_name), entity_id, COALESCE(failure_category, ''), COALESCE(failure_reason, ''),
                            upstream_processor, upstream_category
                     FROM {} WHERE analysis_date = @date AND entity_id IN (@player, @date_level)
                     ORDER BY entity_id = @player DESC",
                    self.t(&schema::FAILURES)
                ),
                vec![
                    param("player", P::Str(Some(player.into()))),
                    param("date", P::Date(Some(date))),
                    param("date_level", P::Str(Some(DATE_LEVEL.into()))),
                ],
            )
            .await?;
        let mut links = Vec::new();
        for spec in PROCESSORS.iter() {
            let names = [spec.code.to_uppercase(), spec.name.to_uppercase()];
            let failure = failures
                .iter()
                .find(|r| client::s(&r[0]).is_some_and(|n| names.contains(&n)));
            let failure = failure.map(|r| domain::report::TraceFailure {
                entity_id: client::s(&r[1]).unwrap_or_default(),
                raw_category: client::s(&r[2]).unwrap_or_default(),
                reason: client::s(&r[3]).unwrap_or_default(),
                upstream_processor: client::s(&r[4]),
                upstream_category: client::s(&r[5]),
            });
            let state = TraceState::of(with_records.contains(spec.code), failure, expected);
            links.push(TraceLink {
                processor: spec.id,
                state,
            });
        }
        let recent = self
            .q(
                &format!(
                    "SELECT {} FROM {pgs} AS t WHERE t.player_lookup = @player AND t.game_date BETWEEN @lo AND @date
                     ORDER BY t.game_date DESC, t.game_id DESC LIMIT 10",
                    schema::select_list(&schema::PLAYER_GAMES, "t")
                ),
                window,
            )
            .await?;
        let recent_games = recent
            .iter()
            .map(|r| {
                serde_json::from_value(Value::Object(schema::row_object(&schema::PLAYER_GAMES, r)))
                    .map_err(|e| WarehouseError::Query(format!("unreadable box score: {e}")))
            })
            .collect::<Result<Vec<PlayerGame>>>()?;
        Ok(Some(PlayerTrace {
            player_lookup: player.to_string(),
            date,
            expected,
            links,
            recent_games,
        }))
    }

    async fn create_job(&self, job: JobRecord, cells: Vec<(ProcessorId, NaiveDate)>) -> Result<()> {
        Self::safe_job_id(&job.id)?;
        // Two statements here (the emulator cannot run a parameterised script):
        // cells first, then the job row that makes them count.
        let cell_rows: Vec<Vec<P>> = cells
            .iter()
            .map(|(p, d)| {
                vec![
                    P::Str(Some(job.id.clone())),
                    P::Str(Some(p.code().into())),
                    P::Date(Some(*d)),
                    P::Str(Some("pending".into())),
                    P::Timestamp(Some(job.created_at)),
                ]
            })
            .collect();
        let cols = schema::column_list(&schema::JOB_CELLS);
        let select: Vec<String> = schema::JOB_CELLS
            .columns
            .iter()
            .map(|(c, _)| format!("r.{c}"))
            .collect();
        let columns: Vec<&str> = schema::JOB_CELLS.columns.iter().map(|(c, _)| *c).collect();
        for chunk in cell_rows.chunks(2000) {
            self.q(
                &format!(
                    "INSERT INTO {} ({cols}) SELECT {} FROM UNNEST(@rows) AS r",
                    self.t(&schema::JOB_CELLS),
                    select.join(", ")
                ),
                vec![rows_param(
                    "rows",
                    &columns,
                    &schema::param_types(&schema::JOB_CELLS),
                    chunk.to_vec(),
                )],
            )
            .await?;
        }
        if job.state == JobState::Running {
            if let Some(clash) = self.overlap(&job.id).await? {
                self.q(
                    &format!(
                        "DELETE FROM {} WHERE job_id = @id",
                        self.t(&schema::JOB_CELLS)
                    ),
                    vec![param("id", P::Str(Some(job.id.clone())))],
                )
                .await?;
                return Err(clash);
            }
        }
        self.q(
            &format!(
                "INSERT INTO {} ({}) VALUES (@id, @by, @request, @state, @progress, @created, @started, @finished, @error, @snapshot)",
                self.t(&schema::JOBS),
                schema::column_list(&schema::JOBS)
            ),
            job_params(&job),
        )
        .await?;
        Ok(())
    }

    async fn start_job(&self, id: &str) -> Result<JobRecord> {
        if let Some(clash) = self.overlap(id).await? {
            return Err(clash);
        }
        let now = chrono::Utc::now().naive_utc();
        let changed = self
            .bq
            .query(
                &format!(
                    "UPDATE {} SET state = 'running', started_at = @now, finished_at = NULL, error = NULL WHERE id = @id",
                    self.t(&schema::JOBS)
                ),
                vec![
                    param("now", P::Timestamp(Some(now))),
                    param("id", P::Str(Some(id.into()))),
                ],
            )
            .await?;
        if changed.affected == 0 {
            return Err(WarehouseError::Query(format!("no job {id}")));
        }
        self.job(id)
            .await?
            .ok_or_else(|| WarehouseError::Query(format!("no job {id}")))
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let rows = self
            .q(
                &format!(
                    "SELECT {} FROM {} AS t WHERE t.id = @id",
                    schema::select_list(&schema::JOBS, "t"),
                    self.t(&schema::JOBS)
                ),
                vec![param("id", P::Str(Some(id.into())))],
            )
            .await?;
        rows.first().map(|r| Self::job_from(r)).transpose()
    }

    async fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let rows = self
            .q(
                &format!(
                    "SELECT {} FROM {} AS t ORDER BY t.created_at DESC, t.id DESC LIMIT @lim",
                    schema::select_list(&schema::JOBS, "t"),
                    self.t(&schema::JOBS)
                ),
                vec![param("lim", P::Int(Some(limit as i64)))],
            )
            .await?;
        rows.iter().map(|r| Self::job_from(r)).collect()
    }

    async fn job_cells(&self, id: &str) -> Result<Vec<JobCell>> {
        let rows = self
            .q(
                &format!(
                    "SELECT processor_name, analysis_date, state FROM {} WHERE job_id = @id",
                    self.t(&schema::JOB_CELLS)
                ),
                vec![param("id", P::Str(Some(id.into())))],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(JobCell {
                    processor: WarehouseError::stored_processor(
                        &client::s(&r[0]).unwrap_or_default(),
                    )?,
                    date: client::d(&r[1]).ok_or_else(|| client::missing("analysis_date"))?,
                    state: client::s(&r[2])
                        .and_then(|s| CellState::parse(&s))
                        .unwrap_or(CellState::Pending),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|c| (c.date, c.processor.order()));
        Ok(out)
    }

    async fn update_job(&self, job: &JobRecord) -> Result<()> {
        let changed = self
            .bq
            .query(
                &format!(
                    "UPDATE {} SET state = @state, progress = @progress, started_at = @started,
                            finished_at = @finished, error = @error, snapshot = @snapshot
                     WHERE id = @id",
                    self.t(&schema::JOBS)
                ),
                vec![
                    param("id", P::Str(Some(job.id.clone()))),
                    param("state", P::Str(Some(job.state.as_str().into()))),
                    param("progress", P::Str(Some(job.progress.clone()))),
                    param("started", P::Timestamp(job.started_at)),
                    param("finished", P::Timestamp(job.finished_at)),
                    param("error", P::Str(job.error.clone())),
                    param("snapshot", P::Str(job.snapshot.clone())),
                ],
            )
            .await?;
        if changed.affected == 0 {
            return Err(WarehouseError::Query(format!("no job {}", job.id)));
        }
        Ok(())
    }

    async fn interrupt_running_jobs(&self) -> Result<usize> {
        let changed = self
            .bq
            .query(
                &format!(
                    "UPDATE {} SET state = 'interrupted' WHERE state = 'running'",
                    self.t(&schema::JOBS)
                ),
                vec![],
            )
            .await?;
        Ok(changed.affected.max(0) as usize)
    }
}

fn run_params(run: &RunRow) -> Vec<P> {
    vec![
        P::Str(Some(run.run_id.clone())),
        P::Str(run.job_id.clone()),
        P::Str(Some(run.processor.name().into())),
        P::Date(Some(run.analysis_date)),
        P::Str(Some(run.status.clone())),
        P::Int(Some(run.records_written)),
        P::Int(Some(run.failures_written)),
        P::Int(Some(run.expected_count)),
        P::Bool(Some(run.dependency_check_passed)),
        P::Int(Some(run.duration_ms)),
        P::Str(Some(run.processor_version.clone())),
        P::Str(run.error.clone()),
        P::Timestamp(Some(run.started_at)),
    ]
}

fn job_params(job: &JobRecord) -> Vec<gcp_bigquery_client::model::query_parameter::QueryParameter> {
    vec![
        param("id", P::Str(Some(job.id.clone()))),
        param("by", P::Str(Some(job.requested_by.clone()))),
        param("request", P::Str(Some(job.request.clone()))),
        param("state", P::Str(Some(job.state.as_str().into()))),
        param("progress", P::Str(Some(job.progress.clone()))),
        param("created", P::Timestamp(Some(job.created_at))),
        param("started", P::Timestamp(job.started_at)),
        param("finished", P::Timestamp(job.finished_at)),
        param("error", P::Str(job.error.clone())),
        param("snapshot", P::Str(job.snapshot.clone())),
    ]
}
