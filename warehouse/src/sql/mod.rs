//! The reconciliation and drill-down queries, written once for every store.
//!
//! A query is SQL text plus named arguments. [`Dialect`] renders the few
//! things DuckDB and BigQuery spell differently — table names, parameter
//! markers, typed NULLs, "any row is true", timestamps as microseconds — and
//! everything else is SQL both accept. The rules inside (who is expected,
//! a category's canonical code, a processor's bit) are the fragments `domain`
//! keeps next to the Rust rule each mirrors, so a rule change is one edit and
//! both stores follow; the conformance suite proves they still agree.
//! Each store runs a [`Query`] its own way and decodes rows through
//! [`SqlRow`], so the decoding is written once too.
//!
//! Table and column names come from static declarations; every value from a
//! request is a bound argument.

use chrono::NaiveDate;
use domain::failure::{category_code_sql, NORMALISED_CATEGORY_SQL};
use std::sync::Arc;

use domain::pipeline::Pipeline;
use domain::pipeline::Universe;
use domain::processor::{ColumnType, ProcessorSpec};
use domain::processors::DATE_LEVEL;
use domain::reconcile::{expected_spellings_sql, mask, processor_bit_sql, processor_code_sql};
use domain::report::{FailureRow, Page, RunInfo, TraceFailure, TraceLink, TraceState};
use domain::{DateRange, ProcessorId, Runner};

use crate::rows::missing;
pub use crate::rows::SqlRow;

use crate::accounting::{AccountingRow, ACK_CELL_ROW, FAILURE_ROW, MASK_ROW, RUN_ROW};
use crate::{FailureFilter, FailureScope, GameDateSummary, Result, WarehouseError};

mod acks;
mod drill;
mod jobs;
mod overview;
mod reconciliation;
mod snapshots;
#[cfg(test)]
mod tests;
mod trace;
mod upstream;
mod watch;

pub use acks::*;
pub use drill::*;
pub use jobs::*;
pub use overview::*;
pub use reconciliation::*;
pub use snapshots::*;
pub use trace::*;
pub use upstream::*;
pub use watch::*;

/// The upstream table of box scores (every store names it by this declaration).
pub const PLAYER_GAMES: &str = domain::pipeline::NBA_UNIVERSE_TABLE;
pub const SCHEDULE: &str = "nba_reference.nba_schedule";
pub const FAILURES: &str = "nba_processing.precompute_failures";
pub const RUNS: &str = "nba_processing.precompute_processor_runs";
pub const JOBS: &str = "rollcall_meta.jobs";
pub const JOB_CELLS: &str = "rollcall_meta.job_cells";

/// The pipeline's condition for an expected entity (operator-written SQL
/// over the universe table, see `pipelines/nba.toml`), parenthesised: it
/// follows an `AND`, and a top-level `OR` must not escape the date filter
/// (`pipeline::check_condition` guarantees it is one balanced condition).
fn expected_condition(u: &Universe) -> String {
    format!("({})", u.expected)
}

/// The columns of a universe table of the pipeline's own, as both stores
/// create it (`None` for the NBA box scores, which have their docs/DESIGN.md §2 schema).
pub fn universe_table_columns(u: &Universe) -> Option<Vec<(&str, ColumnKind)>> {
    if u.is_nba() {
        return None;
    }
    Some(
        u.all_columns()
            .into_iter()
            .map(|(name, ty)| {
                let kind = match ty {
                    None if name == u.date_column => ColumnKind::Date,
                    None => ColumnKind::Text,
                    Some(ty) => ColumnKind::of(ty),
                };
                (name, kind)
            })
            .collect(),
    )
}

/// A declared table's dataset (DuckDB: schema) and name; an undotted name
/// lives in `main`.
pub fn dataset_and_table(declared: &str) -> (&str, &str) {
    declared.split_once('.').unwrap_or(("main", declared))
}

/// The failure table's columns, as both stores create one that is not
/// the docs/DESIGN.md §2 one (which the embedded migrations and BigQuery's schema create).
pub const FAILURE_COLUMNS: [(&str, ColumnKind); 10] = [
    ("processor_name", ColumnKind::Text),
    ("run_id", ColumnKind::Text),
    ("analysis_date", ColumnKind::Date),
    ("entity_id", ColumnKind::Text),
    ("failure_category", ColumnKind::Text),
    ("failure_reason", ColumnKind::Text),
    ("can_retry", ColumnKind::Bool),
    ("upstream_processor", ColumnKind::Text),
    ("upstream_category", ColumnKind::Text),
    ("created_at", ColumnKind::Timestamp),
];

/// The run table's columns (see [`FAILURE_COLUMNS`]).
pub const RUN_COLUMNS: [(&str, ColumnKind); 13] = [
    ("run_id", ColumnKind::Text),
    ("job_id", ColumnKind::Text),
    ("processor_name", ColumnKind::Text),
    ("analysis_date", ColumnKind::Date),
    ("status", ColumnKind::Text),
    ("records_written", ColumnKind::Int),
    ("failures_written", ColumnKind::Int),
    ("expected_count", ColumnKind::Int),
    ("dependency_check_passed", ColumnKind::Bool),
    ("duration_ms", ColumnKind::Int),
    ("processor_version", ColumnKind::Text),
    ("error", ColumnKind::Text),
    ("started_at", ColumnKind::Timestamp),
];

/// Which SQL a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    DuckDb,
    BigQuery,
}

/// A store's spelling of the parts that differ, and the pipeline whose
/// tables it reads.
pub struct Dialect {
    flavor: Flavor,
    pipeline: Arc<Pipeline>,
    /// A declared table (`dataset.table`) as this store names it in SQL.
    qualify: Box<dyn Fn(&str) -> String + Send + Sync>,
}

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialect")
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

/// A column of a command processor's output table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Date,
    Int,
    Float,
    Bool,
    Timestamp,
}

impl ColumnKind {
    /// The column a declared type becomes.
    pub fn of(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Int => ColumnKind::Int,
            ColumnType::Float => ColumnKind::Float,
            ColumnType::Text => ColumnKind::Text,
            ColumnType::Bool => ColumnKind::Bool,
        }
    }
}

/// A command processor's output table, column by column, as both stores
/// create it: the entity and date columns, the declared columns, then the
/// run id and write time (the builtins' tables end the same way).
pub fn command_columns(spec: &ProcessorSpec) -> Vec<(&str, ColumnKind)> {
    let declared = spec
        .columns
        .iter()
        .map(|c| (c.name.as_str(), ColumnKind::of(c.ty)));
    [
        (spec.entity_column.as_str(), ColumnKind::Text),
        (spec.date_column.as_str(), ColumnKind::Date),
    ]
    .into_iter()
    .chain(declared)
    .chain([
        ("run_id", ColumnKind::Text),
        ("processed_at", ColumnKind::Timestamp),
    ])
    .collect()
}

/// The columns Rollcall needs in an observed processor's table (someone
/// else writes it; a store creates it with just these when it is missing).
pub fn observed_columns(spec: &ProcessorSpec) -> Vec<(&str, ColumnKind)> {
    vec![
        (spec.entity_column.as_str(), ColumnKind::Text),
        (spec.date_column.as_str(), ColumnKind::Date),
    ]
}

/// The table a store keeps for a processor that is not a builtin (whose
/// typed tables each store declares itself).
#[derive(Debug, PartialEq)]
pub struct PipelineTable<'a> {
    pub columns: Vec<(&'a str, ColumnKind)>,
    /// Rollcall writes it, so it has exactly these columns; an observed
    /// table (someone else's) needs only to have them.
    pub exact: bool,
}

/// A command's table (all its columns) or an observed one's (the two
/// Rollcall reads).
pub fn pipeline_table(spec: &ProcessorSpec) -> Option<PipelineTable<'_>> {
    match spec.runner {
        Runner::Builtin(_) => None,
        Runner::Command(_) => Some(PipelineTable {
            columns: command_columns(spec),
            exact: true,
        }),
        Runner::Observe | Runner::Rerun(_) => Some(PipelineTable {
            columns: observed_columns(spec),
            exact: false,
        }),
    }
}

/// A column type, for typed NULLs.
#[derive(Debug, Clone, Copy)]
pub enum SqlType {
    Text,
    Bool,
    Int,
}

impl Dialect {
    /// DuckDB: tables by their declared names, positional `$n` parameters.
    pub fn duckdb(pipeline: Arc<Pipeline>) -> Self {
        Self {
            flavor: Flavor::DuckDb,
            pipeline,
            qualify: Box::new(str::to_string),
        }
    }

    /// BigQuery: `qualify` turns `dataset.table` into the project's quoted
    /// name; named `@name` parameters.
    pub fn bigquery(
        pipeline: Arc<Pipeline>,
        qualify: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Self {
        Self {
            flavor: Flavor::BigQuery,
            pipeline,
            qualify: Box::new(qualify),
        }
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The pipeline whose tables this store holds.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The pipeline's universe: whom roll call expects, per date.
    fn universe(&self) -> &Universe {
        &self.pipeline.universe
    }

    /// The failure rows every read takes: the pipeline's failure table
    /// (`[tables] failures`), and with `[read.failures]` the team's own
    /// table beside it, its columns under [`FAILURE_COLUMNS`]' names.
    fn failures(&self) -> String {
        let own = self.table(&self.pipeline.failures_table);
        let Some(f) = &self.pipeline.read.failures else {
            return own;
        };
        let c = |column: &Option<String>, kind| self.cast(column.as_deref(), kind);
        let text = |column: &str| self.cast(Some(column), ColumnKind::Text);
        format!(
            "(SELECT {processor} AS processor_name, {run_id} AS run_id,
                     CAST({date} AS DATE) AS analysis_date, {entity} AS entity_id,
                     {category} AS failure_category, {reason} AS failure_reason,
                     {can_retry} AS can_retry, {upstream} AS upstream_processor,
                     {no_text} AS upstream_category, {time} AS created_at
              FROM {team} WHERE {filter}
              UNION ALL SELECT {columns} FROM {own})",
            processor = text(&f.processor),
            run_id = c(&f.run_id, ColumnKind::Text),
            date = f.date,
            entity = text(&f.entity),
            category = text(&f.category),
            reason = c(&f.reason, ColumnKind::Text),
            can_retry = c(&f.can_retry, ColumnKind::Bool),
            upstream = c(&f.upstream, ColumnKind::Text),
            no_text = self.cast(None, ColumnKind::Text),
            time = c(&f.time, ColumnKind::Timestamp),
            team = self.table(&f.table),
            filter = f
                .filter
                .as_deref()
                .map_or("TRUE".into(), |w| format!("({w})")),
            columns = FAILURE_COLUMNS.map(|(c, _)| c).join(", "),
        )
    }

    /// The run rows every read takes: the pipeline's run table (`[tables]
    /// runs`), and with `[read.runs]` the team's run log beside it, its
    /// outcome spelled `success`/`failed`/`skipped` (another value as
    /// written, lower-cased: `running`).
    fn runs(&self) -> String {
        let own = self.table(&self.pipeline.runs_table);
        let Some(r) = &self.pipeline.read.runs else {
            return own;
        };
        let text = |column: &str| self.cast(Some(column), ColumnKind::Text);
        let status = match &r.outcome {
            domain::pipeline::RunOutcome::Status {
                column,
                success,
                failure,
                skipped,
            } => {
                let value = format!("UPPER({})", text(column));
                // The values are checked literals (letters, digits, `_- `),
                // compared without case (`Failed` is `failed`).
                let list = |v: &[String]| {
                    v.iter()
                        .map(|v| format!("'{}'", v.to_uppercase()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let skipped = if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" WHEN {value} IN ({}) THEN 'skipped'", list(skipped))
                };
                format!(
                    "CASE WHEN {value} IN ({}) THEN 'success' WHEN {value} IN ({}) THEN 'failed'{skipped}
                          ELSE LOWER({raw}) END",
                    list(success),
                    list(failure),
                    raw = text(column),
                )
            }
            domain::pipeline::RunOutcome::Succeeded { column } => {
                format!("CASE WHEN {column} THEN 'success' WHEN NOT {column} THEN 'failed' END")
            }
        };
        let none = |kind| self.cast(None, kind);
        format!(
            "(SELECT {run_id} AS run_id, {no_text} AS job_id, {processor} AS processor_name,
                     CAST({date} AS DATE) AS analysis_date, {status} AS status,
                     {records} AS records_written, {no_int} AS failures_written,
                     {no_int} AS expected_count, {no_bool} AS dependency_check_passed,
                     {no_int} AS duration_ms, {no_text} AS processor_version,
                     {error} AS error, {time} AS started_at
              FROM {team} WHERE {filter}
              UNION ALL SELECT {columns} FROM {own})",
            run_id = text(&r.run_id),
            processor = text(&r.processor),
            date = r.date,
            records = self.cast(r.records.as_deref(), ColumnKind::Int),
            error = self.cast(r.error.as_deref(), ColumnKind::Text),
            time = self.cast(Some(&r.time), ColumnKind::Timestamp),
            no_text = none(ColumnKind::Text),
            no_int = none(ColumnKind::Int),
            no_bool = none(ColumnKind::Bool),
            team = self.table(&r.table),
            filter = r
                .filter
                .as_deref()
                .map_or("TRUE".into(), |w| format!("({w})")),
            columns = RUN_COLUMNS.map(|(c, _)| c).join(", "),
        )
    }

    /// `column` as `kind` (a typed NULL for a column the table lacks).
    fn cast(&self, column: Option<&str>, kind: ColumnKind) -> String {
        format!(
            "CAST({} AS {})",
            column.unwrap_or("NULL"),
            self.type_name(kind)
        )
    }

    /// The pipeline's reading of a `failure_category` column: its code.
    fn category_code(&self) -> String {
        category_code_sql(&self.pipeline.categories)
    }

    pub fn table(&self, declared: &str) -> String {
        (self.qualify)(declared)
    }

    pub fn null(&self, ty: SqlType) -> String {
        let name = match (self.flavor, ty) {
            (Flavor::DuckDb, SqlType::Text) => "VARCHAR",
            (Flavor::BigQuery, SqlType::Text) => "STRING",
            (Flavor::DuckDb, SqlType::Bool) => "BOOLEAN",
            (Flavor::BigQuery, SqlType::Bool) => "BOOL",
            (Flavor::DuckDb, SqlType::Int) => "BIGINT",
            (Flavor::BigQuery, SqlType::Int) => "INT64",
        };
        format!("CAST(NULL AS {name})")
    }

    /// The store's name of a column type.
    pub fn type_name(&self, kind: ColumnKind) -> &'static str {
        match (self.flavor, kind) {
            (Flavor::DuckDb, ColumnKind::Text) => "VARCHAR",
            (Flavor::BigQuery, ColumnKind::Text) => "STRING",
            (_, ColumnKind::Date) => "DATE",
            (Flavor::DuckDb, ColumnKind::Int) => "BIGINT",
            (Flavor::BigQuery, ColumnKind::Int) => "INT64",
            (Flavor::DuckDb, ColumnKind::Float) => "DOUBLE",
            (Flavor::BigQuery, ColumnKind::Float) => "FLOAT64",
            (Flavor::DuckDb, ColumnKind::Bool) => "BOOLEAN",
            (Flavor::BigQuery, ColumnKind::Bool) => "BOOL",
            (_, ColumnKind::Timestamp) => "TIMESTAMP",
        }
    }

    /// A 64-bit hash of a text, the same for the same text in one store
    /// (what a set of names is fingerprinted with; never compared across
    /// stores). DuckDB's `hash` is unsigned: halved to fit a BIGINT.
    pub fn fingerprint(&self, text: &str) -> String {
        match self.flavor {
            Flavor::DuckDb => format!("CAST(hash({text}) >> 1 AS BIGINT)"),
            Flavor::BigQuery => format!("FARM_FINGERPRINT({text})"),
        }
    }

    /// True when the condition holds for any row of the group.
    pub fn any(&self, condition: &str) -> String {
        match self.flavor {
            Flavor::DuckDb => format!("bool_or({condition})"),
            Flavor::BigQuery => format!("LOGICAL_OR({condition})"),
        }
    }

    /// Per (bit, d) of `runs` (columns bit, d, run_id, status, started_at):
    /// the number of runs `n` and the latest run. DuckDB's `arg_max` is a
    /// plain grouping (a window here made a season's reconciliation ~35 %
    /// slower); BigQuery has no `arg_max`, so it ranks.
    pub fn latest_runs(&self, runs: &str) -> String {
        match self.flavor {
            Flavor::DuckDb => format!(
                "SELECT bit, d, arg_max(run_id, started_at) AS run_id,
                        arg_max(status, started_at) AS status, max(started_at) AS started_at,
                        arg_max(error, started_at) AS error, count(*) AS n
                 FROM ({runs}) AS r WHERE bit IS NOT NULL GROUP BY bit, d"
            ),
            Flavor::BigQuery => format!(
                "SELECT bit, d, run_id, status, started_at, error,
                        COUNT(*) OVER (PARTITION BY bit, d) AS n
                 FROM ({runs}) AS r
                 WHERE bit IS NOT NULL
                 QUALIFY ROW_NUMBER() OVER (PARTITION BY bit, d ORDER BY started_at DESC, run_id DESC) = 1"
            ),
        }
    }

    /// A timestamp column as integer microseconds since the epoch (both
    /// stores and the emulator agree on integers; see [`SqlRow::micros`]).
    pub fn micros(&self, column: &str) -> String {
        match self.flavor {
            Flavor::DuckDb => format!("epoch_us({column})"),
            Flavor::BigQuery => format!("UNIX_MICROS({column})"),
        }
    }
}

/// A `DATE` literal, for scripts that cannot take parameters (valid in both).
pub fn date_literal(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Date(NaiveDate),
    Text(Option<String>),
    Int(i64),
}

/// SQL text and its arguments, by name, in the order DuckDB numbers them.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: String,
    pub args: Vec<(&'static str, Value)>,
}

impl Query {
    /// The page this query asks for (everything, if it is not paged).
    fn paging(&self) -> Paging {
        let int = |name| {
            self.args.iter().find_map(|(n, v)| match v {
                Value::Int(i) if *n == name => Some(*i),
                _ => None,
            })
        };
        Paging {
            limit: int(LIMIT_ARG).unwrap_or(i64::MAX),
            offset: int(OFFSET_ARG).unwrap_or(0),
        }
    }

    /// The same query for its first row only: how a page past the end
    /// learns the total.
    fn first_row(&self) -> Query {
        let mut q = self.clone();
        for (name, value) in &mut q.args {
            match *name {
                LIMIT_ARG => *value = Value::Int(1),
                OFFSET_ARG => *value = Value::Int(0),
                _ => {}
            }
        }
        q
    }
}

/// Builds one query: hands out parameter markers as the text asks for them.
struct Builder<'d> {
    d: &'d Dialect,
    args: Vec<(&'static str, Value)>,
}

impl<'d> Builder<'d> {
    fn new(d: &'d Dialect) -> Self {
        Self {
            d,
            args: Vec::new(),
        }
    }

    /// The marker of argument `name` (bound once however often it appears).
    fn arg(&mut self, name: &'static str, value: Value) -> String {
        let at = match self.args.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                self.args.push((name, value));
                self.args.len() - 1
            }
        };
        match self.d.flavor {
            Flavor::DuckDb => format!("${}", at + 1),
            Flavor::BigQuery => format!("@{name}"),
        }
    }

    fn date(&mut self, name: &'static str, d: NaiveDate) -> String {
        self.arg(name, Value::Date(d))
    }

    fn text(&mut self, name: &'static str, s: Option<&str>) -> String {
        self.arg(name, Value::Text(s.map(str::to_string)))
    }

    fn int(&mut self, name: &'static str, i: i64) -> String {
        self.arg(name, Value::Int(i))
    }

    fn finish(self, sql: String) -> Query {
        Query {
            sql,
            args: self.args,
        }
    }
}

/// A player lookup matching a search: case-insensitive substring, matched
/// literally (no wildcards). The one definition of "search" for failures and
/// unaccounted players alike.
fn matches_search(column: &str, needle: &str) -> String {
    format!("({needle} IS NULL OR STRPOS(LOWER({column}), LOWER({needle})) > 0)")
}

/// The selected processors as a table of (code, bit): static declarations only.
fn selected(pipeline: &Pipeline, processors: &[ProcessorId]) -> String {
    processors
        .iter()
        .map(|p| {
            format!(
                "SELECT '{}' AS code, {} AS bit",
                pipeline.code(*p),
                mask::processor_bit(*p)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}
