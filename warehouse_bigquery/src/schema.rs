//! The tables of DESIGN §2 on BigQuery, declared once: DDL (partitioned by
//! their date column, clustered by processor/player), the staging twins used
//! by atomic cell writes, and the JSON ⇄ column conversions that let domain
//! types (all serde) travel as rows without a hand-written mapping per table.

use serde_json::{Map, Value};

use crate::client::P;

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
    /// Cell writes stage rows here first (see `outputs::write_cell`).
    pub staged: bool,
}

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

pub(crate) const FAILURES: TableDef = TableDef {
    dataset: "nba_processing",
    name: "precompute_failures",
    columns: &[
        ("processor_name", Str),
        ("run_id", Str),
        ("analysis_date", Date),
        ("entity_id", Str),
        ("failure_category", Str),
        ("failure_reason", Str),
        ("can_retry", Bool),
        ("upstream_processor", Str),
        ("upstream_category", Str),
        ("created_at", Timestamp),
    ],
    partition: Some("analysis_date"),
    cluster: &["processor_name", "entity_id"],
    staged: true,
};

pub(crate) const RUNS: TableDef = TableDef {
    dataset: "nba_processing",
    name: "precompute_processor_runs",
    columns: &[
        ("run_id", Str),
        ("job_id", Str),
        ("processor_name", Str),
        ("analysis_date", Date),
        ("status", Str),
        ("records_written", Int),
        ("failures_written", Int),
        ("expected_count", Int),
        ("dependency_check_passed", Bool),
        ("duration_ms", Int),
        ("processor_version", Str),
        ("error", Str),
        ("started_at", Timestamp),
    ],
    partition: Some("analysis_date"),
    cluster: &["processor_name"],
    staged: true,
};

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
    staged: false,
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
    staged: false,
};

pub(crate) const TABLES: [&TableDef; 10] = [
    &SCHEDULE,
    &PLAYER_GAMES,
    &PSZA,
    &PDC,
    &PCF,
    &MLFS,
    &FAILURES,
    &RUNS,
    &JOBS,
    &JOB_CELLS,
];

pub(crate) fn output_table(p: domain::ProcessorId) -> &'static TableDef {
    match p {
        domain::ProcessorId::Psza => &PSZA,
        domain::ProcessorId::Pdc => &PDC,
        domain::ProcessorId::Pcf => &PCF,
        domain::ProcessorId::Mlfs => &MLFS,
    }
}

/// Fully qualified names (`project.prefix+dataset.table`): identifiers come
/// from configuration (validated at start-up) and the declarations above.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub project: String,
    pub prefix: String,
}

impl Names {
    pub fn dataset(&self, dataset: &str) -> String {
        format!("{}{}", self.prefix, dataset)
    }
    pub fn of(&self, t: &TableDef) -> String {
        format!("`{}.{}.{}`", self.project, self.dataset(t.dataset), t.name)
    }
    pub fn stage(&self, t: &TableDef) -> String {
        format!(
            "`{}.{}.stage_{}`",
            self.project,
            self.dataset("rollcall_meta"),
            t.name
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
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|(c, ty)| format!("{c} {}", ty.sql()))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} (write_id STRING, {}) CLUSTER BY write_id",
            self.stage(t),
            columns.join(", ")
        )
    }
}

pub(crate) fn column_list(t: &TableDef) -> String {
    t.columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SELECT list that reads a table back into a JSON-friendly shape
/// (timestamps as microseconds, see `client::ts`).
pub(crate) fn select_list(t: &TableDef, alias: &str) -> String {
    t.columns
        .iter()
        .map(|(c, ty)| match ty {
            Timestamp => format!("UNIX_MICROS({alias}.{c}) AS {c}"),
            _ => format!("{alias}.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row as parameter values, taken by column name from a serialised domain
/// value; `extra` supplies the columns the domain type does not carry.
pub(crate) fn row_params(t: &TableDef, object: &Map<String, Value>, extra: &[(&str, P)]) -> Vec<P> {
    t.columns
        .iter()
        .map(|(c, ty)| {
            if let Some((_, p)) = extra.iter().find(|(name, _)| name == c) {
                return p.clone();
            }
            let v = object.get(*c).unwrap_or(&Value::Null);
            to_param(*ty, v)
        })
        .collect()
}

pub(crate) fn to_param(ty: Ty, v: &Value) -> P {
    let text = || match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    match ty {
        Str => P::Str(text()),
        Int => P::Int(v.as_i64()),
        Float => P::Float(v.as_f64()),
        Bool => P::Bool(v.as_bool()),
        Date => P::Date(text().and_then(|s| s.parse().ok())),
        Timestamp => P::Timestamp(text().and_then(|s| s.parse().ok())),
        FloatArray => P::FloatArray(
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
        ),
        StrArray => P::StrArray(
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
    }
}

/// Types of a table's columns as empty parameter values (for an empty array).
pub(crate) fn param_types(t: &TableDef) -> Vec<P> {
    t.columns
        .iter()
        .map(|(_, ty)| to_param(*ty, &Value::Null))
        .collect()
}

/// A result row (read with `select_list`) as a JSON object that serde can turn
/// into the domain type.
pub(crate) fn row_object(t: &TableDef, row: &[Value]) -> Map<String, Value> {
    use crate::client as c;
    t.columns
        .iter()
        .zip(row)
        .map(|((name, ty), v)| {
            let typed = match ty {
                Str | Date => c::s(v).map(Value::String),
                Int => c::i(v).map(Value::from),
                Float => c::f(v).map(Value::from),
                Bool => c::b(v).map(Value::Bool),
                Timestamp => {
                    c::ts(v).map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()))
                }
                FloatArray => Some(Value::from(c::floats(v))),
                StrArray => Some(Value::Array(match v {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|x| match x {
                            Value::Object(o) => o.get("v").and_then(c::s),
                            other => c::s(other),
                        })
                        .map(Value::String)
                        .collect(),
                    _ => Vec::new(),
                })),
            };
            ((*name).to_string(), typed.unwrap_or(Value::Null))
        })
        .collect()
}
