//! The tables of docs/DESIGN.md §2 on BigQuery, declared once: DDL (partitioned by
//! their date column, clustered by processor/player), the staging twins used
//! by atomic writes (`stage`), and the JSON ⇄ column conversions that let
//! domain types (all serde) travel as rows without a hand-written mapping per
//! table.

use std::sync::Arc;

use domain::pipeline::Pipeline;
use domain::ProcessorId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Date,
    Timestamp,
    FloatArray,
    StrArray,
}

impl Ty {
    fn of(kind: warehouse::sql::ColumnKind) -> Ty {
        use warehouse::sql::ColumnKind as K;
        match kind {
            K::Text => Str,
            K::Date => Date,
            K::Int => Int,
            K::Float => Float,
            K::Bool => Bool,
            K::Timestamp => Timestamp,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Ty::Str => "STRING",
            Ty::Int => "INT64",
            Ty::Float => "FLOAT64",
            Ty::Bool => "BOOL",
            Ty::Date => "DATE",
            Ty::Timestamp => "TIMESTAMP",
            Ty::FloatArray => "ARRAY<FLOAT64>",
            Ty::StrArray => "ARRAY<STRING>",
        }
    }
}

pub(crate) struct TableDef {
    pub dataset: &'static str,
    pub name: &'static str,
    pub columns: &'static [(&'static str, Ty)],
    pub partition: Option<&'static str>,
    pub cluster: &'static [&'static str],
    /// Writes stage rows in this table's staging twin first (see `stage`).
    pub staged: bool,
}

/// Columns every staging twin adds in front of its table's own: the write
/// the row belongs to, its position within that write (a row loaded twice by
/// a retried load is taken once), and the day it was staged (the partition
/// that expires rows a failed write leaked).
pub(crate) const STAGE_COLUMNS: &[(&str, Ty)] =
    &[("write_id", Str), ("seq", Int), ("staged_on", Date)];

/// Extra columns of the runs' staging twin: which processor code the run is
/// for and whether its cell replaces the processor's failure rows (not in
/// legacy mode). The staged runs are also the write's marker: a transaction
/// that finds none applies nothing, so applying a write twice is harmless.
pub(crate) const RUN_STAGE_EXTRAS: &[(&str, Ty)] =
    &[("processor_code", Str), ("replace_failures", Bool)];

/// Days before BigQuery drops a staging partition (leaked rows of writes
/// that failed or whose process died; successful writes remove their own).
const STAGE_EXPIRATION_DAYS: u32 = 2;

use Ty::*;

pub(crate) const SCHEDULE: TableDef = TableDef {
    dataset: "nba_reference",
    name: "nba_schedule",
    columns: &[
        ("game_id", Str),
        ("game_date", Date),
        ("season_year", Int),
        ("home_team_abbr", Str),
        ("away_team_abbr", Str),
        ("game_status", Str),
    ],
    partition: Some("game_date"),
    cluster: &["game_id"],
    staged: true,
};

pub(crate) const PLAYER_GAMES: TableDef = TableDef {
    dataset: "nba_analytics",
    name: "player_game_summary",
    columns: &[
        ("player_lookup", Str),
        ("player_full_name", Str),
        ("game_id", Str),
        ("game_date", Date),
        ("season_year", Int),
        ("team_abbr", Str),
        ("opponent_team_abbr", Str),
        ("home_game", Bool),
        ("starter_flag", Bool),
        ("is_active", Bool),
        ("is_dnp", Bool),
        ("minutes_played", Float),
        ("points", Int),
        ("fg_attempts", Int),
        ("fg_makes", Int),
        ("three_pt_attempts", Int),
        ("three_pt_makes", Int),
        ("ft_attempts", Int),
        ("ft_makes", Int),
        ("paint_attempts", Int),
        ("paint_makes", Int),
        ("mid_range_attempts", Int),
        ("mid_range_makes", Int),
        ("rebounds", Int),
        ("assists", Int),
        ("turnovers", Int),
        ("usage_rate", Float),
    ],
    partition: Some("game_date"),
    cluster: &["player_lookup"],
    staged: true,
};

pub(crate) const PSZA: TableDef = TableDef {
    dataset: "nba_precompute",
    name: "player_shot_zone_analysis",
    columns: &[
        ("player_lookup", Str),
        ("analysis_date", Date),
        ("paint_rate_last_10", Float),
        ("mid_range_rate_last_10", Float),
        ("three_pt_rate_last_10", Float),
        ("paint_pct_last_10", Float),
        ("mid_range_pct_last_10", Float),
        ("three_pt_pct_last_10", Float),
        ("paint_rate_last_20", Float),
        ("paint_pct_last_20", Float),
        ("attempts_per_game", Float),
        ("total_shots_last_10", Int),
        ("games_in_sample", Int),
        ("primary_scoring_zone", Str),
        ("sample_quality", Str),
        ("run_id", Str),
        ("processed_at", Timestamp),
    ],
    partition: Some("analysis_date"),
    cluster: &["player_lookup"],
    staged: true,
};

pub(crate) const PDC: TableDef = TableDef {
    dataset: "nba_precompute",
    name: "player_daily_cache",
    columns: &[
        ("player_lookup", Str),
        ("cache_date", Date),
        ("points_avg_last_5", Float),
        ("points_avg_last_10", Float),
        ("points_avg_season", Float),
        ("points_std_last_10", Float),
        ("minutes_avg_last_10", Float),
        ("usage_rate_last_10", Float),
        ("ts_pct_last_10", Float),
        ("games_played_season", Int),
        ("games_in_last_7_days", Int),
        ("games_in_last_14_days", Int),
        ("minutes_in_last_7_days", Float),
        ("minutes_in_last_14_days", Float),
        ("back_to_backs_last_14_days", Int),
        ("team_pace_last_10", Float),
        ("early_season_flag", Bool),
        ("run_id", Str),
        ("processed_at", Timestamp),
    ],
    partition: Some("cache_date"),
    cluster: &["player_lookup"],
    staged: true,
};

pub(crate) const PCF: TableDef = TableDef {
    dataset: "nba_precompute",
    name: "player_composite_factors",
    columns: &[
        ("player_lookup", Str),
        ("game_date", Date),
        ("opponent_team_abbr", Str),
        ("fatigue_score", Float),
        ("shot_zone_mismatch_score", Float),
        ("pace_score", Float),
        ("usage_spike_score", Float),
        ("total_composite_adjustment", Float),
        ("run_id", Str),
        ("processed_at", Timestamp),
    ],
    partition: Some("game_date"),
    cluster: &["player_lookup"],
    staged: true,
};

pub(crate) const MLFS: TableDef = TableDef {
    dataset: "nba_predictions",
    name: "ml_feature_store_v2",
    columns: &[
        ("player_lookup", Str),
        ("game_date", Date),
        ("feature_version", Str),
        ("feature_names", StrArray),
        ("features", FloatArray),
        ("feature_quality_score", Float),
        ("run_id", Str),
        ("processed_at", Timestamp),
    ],
    partition: Some("game_date"),
    cluster: &["player_lookup"],
    staged: true,
};

/// A pipeline's failure table: the docs/DESIGN.md §2 columns
/// (`warehouse::sql::FAILURE_COLUMNS`) under the name the pipeline file gives
/// it (the NBA pipeline's is `nba_processing.precompute_failures`).
fn failures_def(p: &Pipeline) -> TableDef {
    bookkeeping(
        &p.failures_table,
        &warehouse::sql::FAILURE_COLUMNS,
        vec!["processor_name", "entity_id"],
    )
}

/// A pipeline's run table (see [`failures_def`]).
fn runs_def(p: &Pipeline) -> TableDef {
    bookkeeping(
        &p.runs_table,
        &warehouse::sql::RUN_COLUMNS,
        vec!["processor_name"],
    )
}

fn bookkeeping(
    declared: &str,
    columns: &[(&'static str, warehouse::sql::ColumnKind)],
    cluster: Vec<&'static str>,
) -> TableDef {
    declared_table(declared, columns, "analysis_date", cluster, true)
}

/// A table the pipeline file names, partitioned by its date column. Built
/// once per opened store and kept for the process (`'static`, like the
/// builtins' declarations): a process opens a store a handful of times.
fn declared_table(
    declared: &str,
    columns: &[(&str, warehouse::sql::ColumnKind)],
    date_column: &str,
    cluster: Vec<&str>,
    staged: bool,
) -> TableDef {
    let kept = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let (dataset, name) = warehouse::sql::dataset_and_table(declared);
    let columns: Vec<(&'static str, Ty)> =
        columns.iter().map(|(c, k)| (kept(c), Ty::of(*k))).collect();
    let cluster: Vec<&'static str> = cluster.into_iter().map(kept).collect();
    TableDef {
        dataset: kept(dataset),
        name: kept(name),
        columns: Box::leak(columns.into_boxed_slice()),
        partition: Some(kept(date_column)),
        cluster: Box::leak(cluster.into_boxed_slice()),
        staged,
    }
}

pub(crate) const JOBS: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "jobs",
    columns: &[
        ("id", Str),
        ("requested_by", Str),
        ("request", Str),
        ("state", Str),
        ("progress", Str),
        ("created_at", Timestamp),
        ("started_at", Timestamp),
        ("finished_at", Timestamp),
        ("error", Str),
        ("snapshot", Str),
    ],
    partition: None,
    cluster: &["id"],
    staged: true,
};

pub(crate) const JOB_CELLS: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "job_cells",
    columns: &[
        ("job_id", Str),
        ("processor_name", Str),
        ("analysis_date", Date),
        ("state", Str),
        ("updated_at", Timestamp),
    ],
    partition: None,
    cluster: &["job_id"],
    staged: true,
};

/// A running job's lease, renewed by its process (`Warehouse::heartbeat`).
pub(crate) const JOB_LEASES: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "job_leases",
    columns: &[("job_id", Str), ("heartbeat_at", Timestamp)],
    partition: None,
    cluster: &["job_id"],
    staged: false,
};

/// One row every job-starting transaction updates: BigQuery cancels one of
/// two concurrent transactions that mutate the same table, so job starts are
/// serialised and the overlap check inside them cannot race.
pub(crate) const JOB_LOCK: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "job_lock",
    columns: &[("name", Str), ("taken_at", Timestamp)],
    partition: None,
    cluster: &[],
    staged: false,
};

/// The pipeline the store was made with (`warehouse::record`): its shape
/// as JSON; the latest row counts.
pub(crate) const PIPELINE_RECORD: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "pipeline_record",
    columns: &[("shape", Str), ("recorded_at", Timestamp)],
    partition: None,
    cluster: &[],
    staged: false,
};

/// One evaluation (issue [M]; `warehouse::EvaluationRecord`).
pub(crate) const EVALUATIONS: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "evaluations",
    columns: &[
        ("id", Str),
        ("trigger_name", Str),
        ("as_of", Timestamp),
        ("window_start", Date),
        ("window_end", Date),
        ("started_at", Timestamp),
        ("duration_ms", Int),
        ("open_cells", Int),
        ("summary", Str),
    ],
    partition: None,
    cluster: &["id"],
    staged: true,
};

/// The cells an evaluation kept (`domain::watch::WatchedCell`).
pub(crate) const EVALUATION_CELLS: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "evaluation_cells",
    columns: &[
        ("evaluation_id", Str),
        ("processor_code", Str),
        ("cell_date", Date),
        ("expected", Int),
        ("records", Int),
        ("expected_failures", Int),
        ("investigate", Int),
        ("unaccounted", Int),
        ("late", Bool),
        ("change", Str),
        ("open_since", Timestamp),
        ("entities", Str),
        ("open_entities", Int),
        ("new_entities", Str),
        ("resolved_entities", Str),
        // Added after the table first shipped: `ddl::ensure` adds it to a
        // store made before.
        ("names_key", Str),
    ],
    partition: None,
    cluster: &["evaluation_id"],
    staged: true,
};

/// Each set of open entities' kept list once, by key
/// (`warehouse::sql::watch::EVALUATION_NAMES`).
pub(crate) const EVALUATION_NAMES: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "evaluation_names",
    columns: &[("names_key", Str), ("names", Str)],
    partition: None,
    cluster: &["names_key"],
    staged: true,
};

pub(crate) const ALERT_DELIVERIES: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "alert_deliveries",
    columns: &[
        ("id", Str),
        ("evaluation_id", Str),
        ("channel", Str),
        ("sent_at", Timestamp),
        ("cells", Int),
        ("http_status", Int),
        ("error", Str),
        ("attempts", Int),
    ],
    partition: None,
    cluster: &[],
    staged: true,
};

/// Acknowledgements (`warehouse::sql::acks::ACKNOWLEDGEMENTS`).
pub(crate) const ACKNOWLEDGEMENTS: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "acknowledgements",
    columns: &[
        ("id", Str),
        ("processor_code", Str),
        ("cell_date", Date),
        ("entity_id", Str),
        ("reason", Str),
        ("note", Str),
        ("ticket_url", Str),
        ("created_by", Str),
        ("created_at", Timestamp),
        ("expires_at", Timestamp),
        ("ended_at", Timestamp),
        ("ended_by", Str),
        ("end_reason", Str),
    ],
    partition: None,
    cluster: &["processor_code", "cell_date"],
    staged: true,
};

/// Snapshots (`warehouse::sql::snapshots::SNAPSHOTS`): one row each, the
/// body a string of at most a few hundred kilobytes.
pub(crate) const SNAPSHOTS: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "snapshots",
    columns: &[
        ("id", Str),
        ("taken_at", Timestamp),
        ("taken_by", Str),
        ("note", Str),
        ("start_date", Date),
        ("end_date", Date),
        ("processors", Str),
        ("cells", Int),
        ("not_ok", Int),
        ("bytes", Int),
        ("body", Str),
    ],
    partition: None,
    cluster: &["id"],
    staged: true,
};

/// One row while an evaluator runs (`Warehouse::take_evaluator_lease`).
pub(crate) const EVALUATOR_LEASE: TableDef = TableDef {
    dataset: "rollcall_meta",
    name: "evaluator_lease",
    columns: &[("name", Str), ("holder", Str), ("until_at", Timestamp)],
    partition: None,
    cluster: &[],
    staged: false,
};

pub(crate) const TABLES: [&TableDef; 18] = [
    &SCHEDULE,
    &PLAYER_GAMES,
    &PSZA,
    &PDC,
    &PCF,
    &MLFS,
    &JOBS,
    &JOB_CELLS,
    &JOB_LEASES,
    &JOB_LOCK,
    &PIPELINE_RECORD,
    &EVALUATIONS,
    &EVALUATION_CELLS,
    &EVALUATION_NAMES,
    &ALERT_DELIVERIES,
    &EVALUATOR_LEASE,
    &ACKNOWLEDGEMENTS,
    &SNAPSHOTS,
];

/// The tables a pipeline adds to the fixed ones above, declared once per
/// opened store from its pipeline (`warehouse::sql::pipeline_table`
/// and `universe_table_columns`, what the embedded store creates too); names
/// come from the validated file. Only command tables and a universe of the
/// pipeline's own are written (through a staging twin).
pub(crate) struct PipelineTables {
    pub failures: &'static TableDef,
    pub runs: &'static TableDef,
    /// A universe of the pipeline's own (not the NBA box scores).
    pub universe: Option<&'static TableDef>,
    /// The command and observed processors' tables.
    pub outputs: Vec<(ProcessorId, &'static TableDef)>,
}

impl PipelineTables {
    pub fn of(p: &Pipeline) -> Self {
        let kept = |t: TableDef| -> &'static TableDef { Box::leak(Box::new(t)) };
        let u = &p.universe;
        let universe = warehouse::sql::universe_table_columns(u).map(|columns| {
            kept(declared_table(
                &u.table,
                &columns,
                &u.date_column,
                vec![u.entity_column.as_str()],
                true,
            ))
        });
        let outputs = p
            .processors
            .iter()
            .filter_map(|s| {
                let own = warehouse::sql::pipeline_table(s)?;
                let def = declared_table(
                    &s.output_table,
                    &own.columns,
                    &s.date_column,
                    vec![s.entity_column.as_str()],
                    own.exact,
                );
                Some((s.id, kept(def)))
            })
            .collect();
        Self {
            failures: kept(failures_def(p)),
            runs: kept(runs_def(p)),
            universe,
            outputs,
        }
    }

    /// Every table of the store: the fixed ones and the pipeline's.
    pub fn all(&self) -> impl Iterator<Item = &'static TableDef> + '_ {
        TABLES
            .into_iter()
            .chain([self.failures, self.runs])
            .chain(self.universe)
            .chain(self.outputs.iter().map(|(_, t)| *t))
    }

    /// The datasets of [`Self::all`], each once (staging lives in `rollcall_meta`).
    pub fn datasets(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for t in self.all() {
            if !out.contains(&t.dataset) {
                out.push(t.dataset);
            }
        }
        out
    }

    /// The table a processor writes: a builtin's typed table, or a
    /// command's declared one. Observed tables are someone else's to write.
    pub fn output(
        &self,
        pipeline: &Pipeline,
        p: ProcessorId,
    ) -> Result<&'static TableDef, warehouse::WarehouseError> {
        use domain::{Builtin, Runner};
        let spec = pipeline.spec(p);
        match spec.runner {
            Runner::Builtin(Builtin::Psza) => Ok(&PSZA),
            Runner::Builtin(Builtin::Pdc) => Ok(&PDC),
            Runner::Builtin(Builtin::Pcf) => Ok(&PCF),
            Runner::Builtin(Builtin::Mlfs) => Ok(&MLFS),
            Runner::Command(_) | Runner::Observe | Runner::Rerun(_) => self
                .outputs
                .iter()
                .find(|(id, t)| *id == p && t.staged)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    warehouse::WarehouseError::Query(format!(
                        "{} runs as {}: Rollcall does not write its table",
                        spec.code,
                        spec.runner.name()
                    ))
                }),
        }
    }
}

pub(crate) const STAGE_DATASET: &str = "rollcall_meta";

/// The staging twin's table name (new name: the twins of schema 3 had no
/// `seq`/`staged_on` and are left alone).
pub(crate) fn stage_name(t: &TableDef) -> String {
    format!("staged_{}", t.name)
}

/// The staging twin's columns after `STAGE_COLUMNS`.
pub(crate) fn stage_columns(t: &TableDef) -> Vec<(&'static str, Ty)> {
    let mut cols: Vec<(&'static str, Ty)> = t.columns.to_vec();
    // The run table, whatever the pipeline names it, is the one with these columns.
    let is_runs = t
        .columns
        .iter()
        .map(|(c, _)| *c)
        .eq(warehouse::sql::RUN_COLUMNS.iter().map(|(c, _)| *c));
    if is_runs {
        cols.extend_from_slice(RUN_STAGE_EXTRAS);
    }
    cols
}

/// Fully qualified names (`project.prefix+dataset.table`): identifiers come
/// from configuration (validated at start-up) and the declarations above.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub project: String,
    pub prefix: String,
}

impl Names {
    /// The shared queries' dialect, naming tables as [`Names::of`] does.
    pub fn dialect(&self, pipeline: Arc<Pipeline>) -> warehouse::sql::Dialect {
        let (project, prefix) = (self.project.clone(), self.prefix.clone());
        warehouse::sql::Dialect::bigquery(pipeline, move |declared| {
            let (dataset, table) = declared.split_once('.').unwrap_or(("", declared));
            format!("`{project}.{prefix}{dataset}.{table}`")
        })
    }

    pub fn dataset(&self, dataset: &str) -> String {
        format!("{}{}", self.prefix, dataset)
    }
    pub fn of(&self, t: &TableDef) -> String {
        format!("`{}.{}.{}`", self.project, self.dataset(t.dataset), t.name)
    }
    pub fn stage(&self, t: &TableDef) -> String {
        format!(
            "`{}.{}.{}`",
            self.project,
            self.dataset(STAGE_DATASET),
            stage_name(t)
        )
    }

    pub fn create_table(&self, t: &TableDef) -> String {
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|(c, ty)| format!("{c} {}", ty.sql()))
            .collect();
        let mut ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.of(t),
            columns.join(", ")
        );
        if let Some(p) = t.partition {
            ddl += &format!(" PARTITION BY {p}");
        }
        if !t.cluster.is_empty() {
            ddl += &format!(" CLUSTER BY {}", t.cluster.join(", "));
        }
        ddl
    }

    pub fn create_stage(&self, t: &TableDef) -> String {
        let columns: Vec<String> = STAGE_COLUMNS
            .iter()
            .copied()
            .chain(stage_columns(t))
            .map(|(c, ty)| format!("{c} {}", ty.sql()))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}) PARTITION BY staged_on CLUSTER BY write_id \
             OPTIONS (partition_expiration_days = {STAGE_EXPIRATION_DAYS})",
            self.stage(t),
            columns.join(", ")
        )
    }
}

mod codec;
mod ddl;

pub(crate) use codec::*;
pub(crate) use ddl::ensure;
