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

use crate::accounting::{AccountingRow, FAILURE_ROW, MASK_ROW, RUN_ROW};
use crate::{FailureFilter, FailureScope, GameDateSummary, Result, WarehouseError};

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
        Runner::Observe => Some(PipelineTable {
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

    /// The pipeline's failure table (`[tables] failures`), as named in SQL.
    fn failures(&self) -> String {
        self.table(&self.pipeline.failures_table)
    }

    /// The pipeline's run table (`[tables] runs`), as named in SQL.
    fn runs(&self) -> String {
        self.table(&self.pipeline.runs_table)
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

// ---- reconciliation -----------------------------------------------------------

/// The reconciliation of a range as one set-based statement, whatever the
/// range length or the processors asked for. Each (date, player) seen
/// anywhere (expected, a record, a failure) gets one mask
/// (`domain::reconcile::Mask`: the expected flag and three words of
/// processor bits), so the accounting is one grouping over the range's rows;
/// the statement returns the few distinct masks per date with their player
/// counts (kind 0), failure rows per (processor, date, normalised category)
/// with the date-level flag (kind 1) and runs per (processor, date) with the
/// latest (kind 2); `domain::reconcile::cells` turns them into cells.
/// Columns: see [`accounting_row`].
///
/// Kept small on purpose: DuckDB re-plans a prepared statement that reads
/// tables on every execution, so planning is paid per call.
pub fn reconcile(d: &Dialect, range: DateRange) -> Query {
    let p = d.pipeline();
    let u = &p.universe;
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let record_marks = domain::reconcile::union_per_processor(p, |s| {
        format!(
            "SELECT {c}, {e}, 0, {bit}, 0, 0 FROM {t} WHERE {c} BETWEEN {start} AND {end}",
            c = s.date_column,
            t = d.table(&s.output_table),
            e = s.entity_column,
            bit = mask::processor_bit(s.id),
        )
    });
    let bit = processor_bit_sql(d.pipeline(), "processor_name");
    let null_int = d.null(SqlType::Int);
    let sql = format!(
        "WITH fails AS (
             SELECT {bit} AS bit, analysis_date AS d, entity_id, {NORMALISED_CATEGORY_SQL} AS category
             FROM {failures}
             WHERE analysis_date BETWEEN {start} AND {end}
         ),
         marks AS (
             SELECT {ud} AS d, {ue} AS p, 1 AS e, 0 AS r, 0 AS f, 0 AS i
             FROM {pgs}
             WHERE {ud} BETWEEN {start} AND {end} AND {who_is_expected}
             UNION ALL {record_marks}
             UNION ALL SELECT d, entity_id, 0, 0, bit,
                 CASE WHEN category IN ({expected_categories}) THEN 0 ELSE bit END
             FROM fails WHERE bit IS NOT NULL AND entity_id <> {date_level}
         ),
         per_player AS (
             SELECT d, MAX(e) AS e, BIT_OR(r) AS r, BIT_OR(f) AS f, BIT_OR(i) AS i
             FROM marks GROUP BY d, p
         ),
         runs AS ({latest_runs})
         SELECT {MASK_ROW} AS kind, d, r AS k, COUNT(*) AS n, {null_text} AS s1,
                {null_text} AS s2, e = 1 AS b, {null_int} AS ts, f AS k2, i AS k3,
                {null_text} AS s3
         FROM per_player GROUP BY d, e, r, f, i
         UNION ALL
         SELECT {FAILURE_ROW}, d, bit, COUNT(*), category, NULL, {any_date_level}, NULL, NULL, NULL,
                NULL
         FROM fails WHERE bit IS NOT NULL GROUP BY bit, d, category
         UNION ALL
         SELECT {RUN_ROW}, d, bit, n, run_id, status, NULL, {started}, NULL, NULL,
                CASE WHEN status = 'failed' THEN SUBSTR(error, 1, {error_chars}) END
         FROM runs",
        failures = d.failures(),
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
        expected_categories = expected_spellings_sql(),
        null_text = d.null(SqlType::Text),
        any_date_level = d.any(&format!("entity_id = {date_level}")),
        started = d.micros("started_at"),
        error_chars = domain::report::LAST_RUN_ERROR_CHARS,
        latest_runs = d.latest_runs(&format!(
            "SELECT {bit} AS bit, analysis_date AS d, run_id, status, started_at, error
             FROM {runs} WHERE analysis_date BETWEEN {start} AND {end}",
            runs = d.runs(),
        )),
    );
    b.finish(sql)
}

/// One row of [`reconcile`]: kind, date, record bits or processor bit,
/// count, category or last run id, last status, expected or date-level flag,
/// last start, failure bits, investigate bits, the last run's error when it
/// failed.
pub fn accounting_row(r: &dyn SqlRow) -> Result<AccountingRow> {
    let int = |i: usize| r.int(i)?.ok_or_else(|| missing("a reconciliation count"));
    Ok(AccountingRow {
        kind: int(0)?,
        date: r.required_date(1, "the cell date")?,
        key: int(2)?,
        count: int(3)?,
        text: r.text(4)?,
        status: r.text(5)?,
        flag: r.flag(6)?,
        started_at: r.micros(7)?,
        failure_bits: r.int(8)?,
        investigate_bits: r.int(9)?,
        error: r.text(10)?,
    })
}

/// Per date of the range with universe rows: games (the NBA box scores'
/// distinct games; another universe counts its rows), universe rows,
/// expected entities.
pub fn game_dates(d: &Dialect, range: DateRange) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let games = if u.is_nba() {
        "COUNT(DISTINCT game_id)"
    } else {
        "COUNT(*)"
    };
    let sql = format!(
        "SELECT {ud}, {games}, COUNT(*),
                COUNT(DISTINCT CASE WHEN {who_is_expected} THEN {ue} END)
         FROM {pgs} WHERE {ud} BETWEEN {start} AND {end}
         GROUP BY {ud} ORDER BY {ud}",
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
    );
    b.finish(sql)
}

/// The tables the overview counts, each once, with the date column each is
/// filtered on: the universe (with the NBA schedule), every processor's
/// table, the failures and the runs.
pub fn counted_tables(p: &Pipeline) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    if p.universe.is_nba() {
        out.push((SCHEDULE, "game_date"));
    }
    out.push((&p.universe.table, &p.universe.date_column));
    out.extend(
        p.processors
            .iter()
            .map(|s| (s.output_table.as_str(), s.date_column.as_str())),
    );
    out.extend([
        (p.failures_table.as_str(), "analysis_date"),
        (p.runs_table.as_str(), "analysis_date"),
    ]);
    let mut seen = std::collections::HashSet::new();
    out.retain(|(t, _)| seen.insert(*t));
    out
}

/// The rows of each [`counted_tables`] table within the range. Columns:
/// the table's position in that list, its rows.
pub fn table_counts(d: &Dialect, range: DateRange) -> Query {
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let sql = counted_tables(d.pipeline())
        .iter()
        .enumerate()
        .map(|(i, (t, c))| {
            format!(
                "SELECT {i} AS k, COUNT(*) AS n FROM {} WHERE {c} BETWEEN {start} AND {end}",
                d.table(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    b.finish(sql)
}

/// [`table_counts`]' rows as counts in [`counted_tables`] order.
pub fn table_counts_of(p: &Pipeline, rows: &[(i64, i64)]) -> Vec<crate::TableCount> {
    counted_tables(p)
        .iter()
        .enumerate()
        .map(|(i, (t, _))| crate::TableCount {
            table: (*t).to_string(),
            rows: rows
                .iter()
                .find(|(k, _)| *k == i as i64)
                .map_or(0, |(_, n)| *n),
        })
        .collect()
}

/// One row of [`table_counts`].
pub fn table_count_row(r: &dyn SqlRow) -> Result<(i64, i64)> {
    Ok((r.int(0)?.unwrap_or(-1), r.int(1)?.unwrap_or(0)))
}

/// The expected entities per date of the range, each once, by date then
/// entity (what a command reads on stdin). Columns: date, entity.
pub fn expected_entities(d: &Dialect, range: DateRange) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let sql = format!(
        "SELECT DISTINCT {ud}, {ue} FROM {pgs}
         WHERE {ud} BETWEEN {start} AND {end} AND {who_is_expected}
         ORDER BY {ud}, {ue}",
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
    );
    b.finish(sql)
}

/// One row of [`expected_entities`].
pub fn expected_entity_row(r: &dyn SqlRow) -> Result<(NaiveDate, String)> {
    Ok((
        r.required_date(0, "the universe date")?,
        r.text(1)?.unwrap_or_default(),
    ))
}

pub fn game_date_row(r: &dyn SqlRow) -> Result<GameDateSummary> {
    Ok(GameDateSummary {
        game_date: r.required_date(0, "game_date")?,
        games: r.int(1)?.unwrap_or(0),
        player_rows: r.int(2)?.unwrap_or(0),
        expected_players: r.int(3)?.unwrap_or(0),
    })
}

// ---- drill-downs --------------------------------------------------------------------

/// A page of a list: how many rows, from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    /// `limit` in `1..=MAX_PAGE`, `offset` not negative.
    pub fn within(limit: i64, offset: i64) -> Self {
        Self {
            limit: limit.clamp(1, crate::MAX_PAGE),
            offset: offset.max(0),
        }
    }

    /// Binds the page to a query under the names [`Query::first_row`] rewrites.
    fn bind(self, b: &mut Builder<'_>) -> String {
        let limit = b.int(LIMIT_ARG, self.limit);
        let offset = b.int(OFFSET_ARG, self.offset);
        format!(" LIMIT {limit} OFFSET {offset}")
    }
}

const LIMIT_ARG: &str = "lim";
const OFFSET_ARG: &str = "off";

/// The page that a paged query's rows make. Each row carries the filtered
/// total (`COUNT(*) OVER ()`), so only a page past the end cannot say it:
/// then this is `Err` with the query for the first row alone, whose total the
/// caller hands to [`past_the_end`]. One extra query, and only then.
pub fn page_of<R, T>(
    q: &Query,
    rows: Vec<(R, i64)>,
    item: impl FnMut(R) -> T,
) -> std::result::Result<Page<T>, Query> {
    let paging = q.paging();
    let total = match rows.first() {
        Some((_, total)) => *total,
        None if paging.offset > 0 => return Err(q.first_row()),
        None => 0,
    };
    Ok(Page {
        items: rows.into_iter().map(|(row, _)| row).map(item).collect(),
        total,
        offset: paging.offset,
        limit: paging.limit,
    })
}

/// The empty page past the end of `q`, with the total the first-row query
/// (`first_rows`) reported.
pub fn past_the_end<R, T>(q: &Query, first_rows: &[(R, i64)]) -> Page<T> {
    let paging = q.paging();
    Page {
        items: Vec::new(),
        total: first_rows.first().map_or(0, |(_, total)| *total),
        offset: paging.offset,
        limit: paging.limit,
    }
}

/// Expected players with neither a record nor a failure (player- or
/// date-level) in the selected cells of the range, optionally narrowed by a
/// player search and paged. Columns: code, date, player, total matching.
/// `processors` must not be empty.
pub fn unaccounted(
    d: &Dialect,
    range: DateRange,
    processors: &[ProcessorId],
    search: Option<&str>,
    paging: Option<Paging>,
) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (start, end) = (b.date("start", range.start()), b.date("end", range.end()));
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let needle = b.text("search", search);
    let page = paging.map(|p| p.bind(&mut b));
    let records = domain::reconcile::union_per_processor(d.pipeline(), |s| {
        format!(
            "SELECT {bit} AS bit, {c} AS d, {e} AS p FROM {t} WHERE {c} BETWEEN {start} AND {end}",
            bit = mask::processor_bit(s.id),
            c = s.date_column,
            t = d.table(&s.output_table),
            e = s.entity_column,
        )
    });
    let sql = format!(
        "WITH sel AS ({sel}),
         fails AS (
             SELECT {bit} AS bit, analysis_date AS d, entity_id FROM {failures}
             WHERE analysis_date BETWEEN {start} AND {end}
         ),
         expected AS (
             SELECT DISTINCT {ud} AS d, {ue} AS p FROM {pgs}
             WHERE {ud} BETWEEN {start} AND {end} AND {who_is_expected}
               AND {search}
         ),
         recs AS (SELECT DISTINCT bit, d, p FROM ({records}) AS r),
         player_fails AS (SELECT DISTINCT bit, d, entity_id FROM fails WHERE entity_id <> {date_level}),
         date_fails AS (SELECT DISTINCT bit, d FROM fails WHERE entity_id = {date_level})
         SELECT s.code, e.d, e.p, COUNT(*) OVER () AS total
         FROM sel AS s CROSS JOIN expected AS e
         LEFT JOIN recs AS r ON r.bit = s.bit AND r.d = e.d AND r.p = e.p
         LEFT JOIN player_fails AS pf ON pf.bit = s.bit AND pf.d = e.d AND pf.entity_id = e.p
         LEFT JOIN date_fails AS df ON df.bit = s.bit AND df.d = e.d
         WHERE r.p IS NULL AND pf.entity_id IS NULL AND df.d IS NULL
         ORDER BY e.d, s.bit, e.p{page}",
        sel = selected(d.pipeline(), processors),
        bit = processor_bit_sql(d.pipeline(), "processor_name"),
        failures = d.failures(),
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
        search = matches_search(&u.entity_column, &needle),
        page = page.unwrap_or_default(),
    );
    b.finish(sql)
}

/// One row of [`unaccounted`] and the total it reports.
pub fn unaccounted_row(
    p: &Pipeline,
    r: &dyn SqlRow,
) -> Result<((ProcessorId, NaiveDate, String), i64)> {
    let code = r.text(0)?.unwrap_or_default();
    Ok((
        (
            WarehouseError::stored_processor(p, &code)?,
            r.required_date(1, "date")?,
            r.text(2)?.unwrap_or_default(),
        ),
        r.int(3)?.unwrap_or(0),
    ))
}

/// `processor_name` is any spelling of `p` (bound: the code and the name).
fn names_processor(b: &mut Builder<'_>, p: ProcessorId) -> String {
    let spec = b.d.pipeline().spec(p);
    let code = b.text("code", Some(&spec.code));
    let name = b.text("name", Some(&spec.name));
    format!("UPPER(processor_name) IN (UPPER({code}), UPPER({name}))")
}

/// The cell's failure rows, by canonical category and a player search,
/// paged. Columns: see [`failure_row`].
pub fn failure_rows(d: &Dialect, p: ProcessorId, date: NaiveDate, filter: &FailureFilter) -> Query {
    let mut b = Builder::new(d);
    let day = b.date("date", date);
    let of_processor = names_processor(&mut b, p);
    let category = b.text("category", filter.category.as_deref());
    let needle = b.text("search", filter.search.as_deref());
    let scope = match filter.scope {
        FailureScope::Any => String::new(),
        FailureScope::Entity => format!(
            " AND entity_id <> {}",
            b.text("date_level", Some(DATE_LEVEL))
        ),
        FailureScope::DateLevel => format!(
            " AND entity_id = {}",
            b.text("date_level", Some(DATE_LEVEL))
        ),
    };
    let page = filter.paging().bind(&mut b);
    let sql = format!(
        "WITH matching AS (
             SELECT entity_id, COALESCE(failure_category, '') AS raw_category,
                    {code} AS category, COALESCE(failure_reason, '') AS reason,
                    COALESCE(can_retry, FALSE) AS can_retry, upstream_processor,
                    upstream_category, run_id
             FROM {failures}
             WHERE analysis_date = {day} AND {of_processor}{scope}
         )
         SELECT entity_id, raw_category, category, reason, can_retry, upstream_processor,
                upstream_category, run_id, COUNT(*) OVER () AS total
         FROM matching
         WHERE ({category} IS NULL OR category = {category}) AND {search}
         ORDER BY category, entity_id{page}",
        code = category_code_sql(),
        failures = d.failures(),
        search = matches_search("entity_id", &needle),
    );
    b.finish(sql)
}

/// One row of [`failure_rows`] and the total it reports.
pub fn failure_row(r: &dyn SqlRow) -> Result<(FailureRow, i64)> {
    Ok((
        FailureRow {
            entity_id: r.text(0)?.unwrap_or_default(),
            raw_category: r.text(1)?.unwrap_or_default(),
            category: domain::FailureCategory::from_key(&r.text(2)?.unwrap_or_default()),
            reason: r.text(3)?.unwrap_or_default(),
            can_retry: r.flag(4)?.unwrap_or(false),
            upstream_processor: r.text(5)?,
            upstream_category: r.text(6)?,
            run_id: r.text(7)?,
        },
        r.int(8)?.unwrap_or(0),
    ))
}

/// The runs that wrote a cell, newest first. Columns: see [`run_row`].
pub fn cell_runs(d: &Dialect, p: ProcessorId, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let day = b.date("date", date);
    let of_processor = names_processor(&mut b, p);
    let sql = format!(
        "SELECT run_id, job_id, status, COALESCE(records_written, 0), COALESCE(failures_written, 0),
                COALESCE(expected_count, 0), COALESCE(duration_ms, 0), error, {started}
         FROM {runs} WHERE analysis_date = {day} AND {of_processor}
         ORDER BY started_at DESC, run_id DESC",
        started = d.micros("started_at"),
        runs = d.runs(),
    );
    b.finish(sql)
}

pub fn run_row(r: &dyn SqlRow) -> Result<RunInfo> {
    Ok(RunInfo {
        run_id: r.text(0)?.unwrap_or_default(),
        job_id: r.text(1)?,
        status: r.text(2)?.unwrap_or_default().into(),
        records_written: r.int(3)?.unwrap_or(0),
        failures_written: r.int(4)?.unwrap_or(0),
        expected_count: r.int(5)?.unwrap_or(0),
        duration_ms: r.int(6)?.unwrap_or(0),
        error: r.text(7)?,
        started_at: r.micros(8)?,
    })
}

// ---- one player on one date -------------------------------------------------------------

/// How far from the date a box score makes a player known: a bounded
/// partition range, so the trace never scans a whole table.
pub const TRACE_WINDOW_DAYS: i64 = 730;

/// The dates a trace reads box scores from.
pub fn trace_window(date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let days = chrono::Duration::days(TRACE_WINDOW_DAYS);
    (date - days, date + days)
}

/// Columns: box scores of the player within the trace window, and whether
/// the player is expected on the date (0 or more).
pub fn player_known(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let u = d.universe();
    let who_is_expected = expected_condition(u);
    let mut b = Builder::new(d);
    let (lo, hi) = trace_window(date);
    let who = b.text("player", Some(player));
    let day = b.date("date", date);
    let (lo, hi) = (b.date("lo", lo), b.date("hi", hi));
    let sql = format!(
        "SELECT COUNT(*), COUNT(CASE WHEN {ud} = {day} AND {who_is_expected} THEN 1 END)
         FROM {pgs} WHERE {ue} = {who} AND {ud} BETWEEN {lo} AND {hi}",
        pgs = d.table(&u.table),
        ud = u.date_column,
        ue = u.entity_column,
    );
    b.finish(sql)
}

/// Columns: processor bit and the player's records on the date in its table.
pub fn player_records(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let who = b.text("player", Some(player));
    let day = b.date("date", date);
    let sql = domain::reconcile::union_per_processor(d.pipeline(), |s| {
        format!(
            "SELECT {bit} AS bit, COUNT(*) AS n FROM {t} WHERE {c} = {day} AND {e} = {who}",
            bit = mask::processor_bit(s.id),
            t = d.table(&s.output_table),
            e = s.entity_column,
            c = s.date_column,
        )
    });
    b.finish(sql)
}

/// Columns: processor code, entity, raw category, reason, upstream
/// processor, upstream category — the player's own failures before
/// date-level ones.
pub fn player_failures(d: &Dialect, player: &str, date: NaiveDate) -> Query {
    let mut b = Builder::new(d);
    let who = b.text("player", Some(player));
    let day = b.date("date", date);
    let date_level = b.text("date_level", Some(DATE_LEVEL));
    let sql = format!(
        "SELECT {code} AS code, entity_id, COALESCE(failure_category, ''), COALESCE(failure_reason, ''),
                upstream_processor, upstream_category
         FROM {failures}
         WHERE analysis_date = {day} AND entity_id IN ({who}, {date_level})
         ORDER BY CASE WHEN entity_id = {who} THEN 0 ELSE 1 END, entity_id",
        code = processor_code_sql(d.pipeline(), "processor_name"),
        failures = d.failures(),
    );
    b.finish(sql)
}

/// The trace from what a store read: the player, whether expected on the
/// date, the rows of [`player_records`] and [`player_failures`], and the
/// recent box scores (none for a universe other than the NBA's).
pub fn player_trace(
    pipeline: &Pipeline,
    player: &str,
    date: NaiveDate,
    expected: bool,
    record_bits: &[Option<i64>],
    failures: &[(Option<String>, TraceFailure)],
    recent_games: Vec<domain::game::PlayerGame>,
) -> domain::report::PlayerTrace {
    domain::report::PlayerTrace {
        player_lookup: player.to_string(),
        date,
        expected,
        links: trace_links(pipeline, record_bits, failures, expected),
        recent_games,
        explained: None,
    }
}

/// One row of [`player_records`]: the processor's bit when the player has a
/// record in its table.
pub fn record_bit(r: &dyn SqlRow) -> Result<Option<i64>> {
    Ok(if r.int(1)?.unwrap_or(0) > 0 {
        r.int(0)?
    } else {
        None
    })
}

/// One row of [`player_failures`]: the processor code (`None` for a
/// spelling Rollcall does not know) and the failure.
pub fn trace_failure_row(r: &dyn SqlRow) -> Result<(Option<String>, TraceFailure)> {
    Ok((
        r.text(0)?,
        TraceFailure {
            entity_id: r.text(1)?.unwrap_or_default(),
            raw_category: r.text(2)?.unwrap_or_default(),
            reason: r.text(3)?.unwrap_or_default(),
            upstream_processor: r.text(4)?,
            upstream_category: r.text(5)?,
        },
    ))
}

/// The trace's links from the rows of [`player_records`] and
/// [`player_failures`] (in their order): per processor a record, the failure
/// that accounts for the player (their own before a date-level one), or
/// neither.
pub fn trace_links(
    pipeline: &Pipeline,
    record_bits: &[Option<i64>],
    failures: &[(Option<String>, TraceFailure)],
    expected: bool,
) -> Vec<TraceLink> {
    pipeline
        .processors
        .iter()
        .map(|spec| {
            let bit = mask::processor_bit(spec.id);
            let has_record = record_bits.contains(&Some(bit));
            let failure = failures
                .iter()
                .find(|(code, _)| code.as_deref() == Some(spec.code.as_str()))
                .map(|(_, f)| f.clone());
            TraceLink {
                processor: spec.id,
                state: TraceState::of(has_record, failure, expected),
                failed_run: None,
            }
        })
        .collect()
}

// ---- jobs -------------------------------------------------------------------------------------

/// Cells of running jobs other than `me` that their job has not run yet
/// (no run row of that job for the cell), within `lo..=hi` (a partition
/// filter on the runs). `me`, `lo` and `hi` are SQL expressions — markers or
/// literals (a BigQuery script takes no parameters). Columns: job id,
/// processor code, date.
pub fn pending_elsewhere(d: &Dialect, me: &str, lo: &str, hi: &str) -> String {
    format!(
        "SELECT c.job_id, c.processor_name, c.analysis_date
         FROM {cells} AS c JOIN {jobs} AS j ON j.id = c.job_id
         WHERE j.state = 'running' AND j.id <> {me} AND c.analysis_date BETWEEN {lo} AND {hi}
           AND NOT EXISTS (
               SELECT 1 FROM {runs} AS r
               WHERE r.job_id = c.job_id AND r.analysis_date = c.analysis_date
                 AND {code} = c.processor_name
                 AND r.analysis_date BETWEEN {lo} AND {hi})",
        cells = d.table(JOB_CELLS),
        jobs = d.table(JOBS),
        runs = d.runs(),
        code = processor_code_sql(d.pipeline(), "r.processor_name"),
    )
}

/// The refusal of a job that overlaps `other`'s pending cell.
pub fn overlap_conflict(other: &str, processor: &str, date: NaiveDate) -> WarehouseError {
    WarehouseError::Conflict(format!(
        "job {other} is already running over {processor} {date}; wait for it or cancel it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Builtin;

    fn nba() -> Arc<Pipeline> {
        Arc::new(domain::pipeline::nba())
    }

    /// The shipped pipeline's processor running `b`.
    fn id(b: Builtin) -> ProcessorId {
        nba().builtin(b).unwrap()
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 11, d).unwrap()
    }

    /// PDC's failure page on 2021-11-10 on DuckDB.
    fn pdc_failures(search: Option<&str>, paging: Paging) -> Query {
        let filter = FailureFilter {
            search: search.map(String::from),
            limit: paging.limit,
            offset: paging.offset,
            ..FailureFilter::default()
        };
        failure_rows(&Dialect::duckdb(nba()), id(Builtin::Pdc), day(10), &filter)
    }

    #[test]
    fn a_failure_page_keeps_entity_rows_or_the_date_level_row() {
        let of = |scope| {
            let filter = FailureFilter {
                limit: 5,
                scope,
                ..FailureFilter::default()
            };
            failure_rows(&Dialect::duckdb(nba()), id(Builtin::Pdc), day(10), &filter)
        };
        assert!(!of(FailureScope::Any).sql.contains("entity_id <>"));
        let entity = of(FailureScope::Entity);
        assert!(entity.sql.contains("AND entity_id <> $"), "{}", entity.sql);
        let date_level = of(FailureScope::DateLevel);
        assert!(
            date_level.sql.contains("AND entity_id = $"),
            "{}",
            date_level.sql
        );
        assert!(date_level
            .args
            .iter()
            .any(|(n, v)| *n == "date_level" && *v == Value::Text(Some(DATE_LEVEL.into()))));
    }

    #[test]
    fn duckdb_numbers_each_argument_once() {
        let q = pdc_failures(Some("lebron"), Paging::within(5, 0));
        let names: Vec<&str> = q.args.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["date", "code", "name", "category", "search", "lim", "off"]
        );
        // `category` and `search` are used twice but bound once.
        assert_eq!(q.sql.matches("$4").count(), 2);
        assert!(!q.sql.contains('@'), "{}", q.sql);
    }

    #[test]
    fn bigquery_names_arguments_and_qualifies_tables() {
        let d = Dialect::bigquery(nba(), |t| format!("`p.x_{t}`"));
        let q = unaccounted(
            &d,
            DateRange::new(day(5), day(6), 10).unwrap(),
            &[id(Builtin::Psza)],
            None,
            None,
        );
        assert!(q.sql.contains("@start") && q.sql.contains("@date_level"));
        assert!(q.sql.contains("`p.x_nba_analytics.player_game_summary`"));
        assert!(!q.sql.contains("$1"));
        assert!(!q.sql.contains("LIMIT"));
    }

    #[test]
    fn user_text_is_never_in_the_sql() {
        let hostile = "x'); DROP TABLE jobs; --";
        for q in [
            failure_rows(
                &Dialect::duckdb(nba()),
                id(Builtin::Mlfs),
                day(7),
                &FailureFilter {
                    category: Some(hostile.into()),
                    search: Some(hostile.into()),
                    limit: 1,
                    ..FailureFilter::default()
                },
            ),
            player_known(&Dialect::duckdb(nba()), hostile, day(7)),
            player_failures(&Dialect::duckdb(nba()), hostile, day(7)),
        ] {
            assert!(!q.sql.contains("DROP"), "{}", q.sql);
            assert!(q
                .args
                .iter()
                .any(|(_, v)| *v == Value::Text(Some(hostile.into()))));
        }
    }

    #[test]
    fn a_page_past_the_end_asks_the_first_row_for_the_total() {
        let q = pdc_failures(None, Paging::within(20, 40));
        let first_row = page_of::<(), ()>(&q, Vec::new(), |r| r).unwrap_err();
        let int = |q: &Query, name| q.args.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(int(&first_row, "lim"), Value::Int(1));
        assert_eq!(int(&first_row, "off"), Value::Int(0));
        assert_eq!(first_row.sql, q.sql);
        let page: Page<()> = past_the_end(&q, &[((), 57)]);
        assert_eq!((page.total, page.offset, page.limit), (57, 40, 20));
        assert!(page.items.is_empty());

        // A page with rows reads the total off them; the first page, even empty, needs nothing more.
        let page = page_of(&q, vec![("a", 41), ("b", 41)], str::to_uppercase).unwrap();
        assert_eq!(
            (page.items, page.total),
            (vec!["A".to_string(), "B".into()], 41)
        );
        let first = pdc_failures(None, Paging::within(20, 0));
        assert_eq!(
            page_of::<(), ()>(&first, Vec::new(), |r| r).unwrap().total,
            0
        );
    }

    #[test]
    fn the_shipped_pipeline_file_names_these_tables() {
        let nba = domain::pipeline::nba();
        assert_eq!(nba.universe.table, PLAYER_GAMES);
        assert_eq!(nba.failures_table, FAILURES);
        assert_eq!(nba.runs_table, RUNS);
    }

    #[test]
    fn a_universe_of_its_own_is_a_table_of_its_declared_columns() {
        let nba = domain::pipeline::nba();
        assert_eq!(universe_table_columns(&nba.universe), None);
        let orders = Pipeline::parse(include_str!("../../pipelines/orders/pipeline.toml")).unwrap();
        assert_eq!(
            universe_table_columns(&orders.universe).unwrap(),
            vec![
                ("customer_id", ColumnKind::Text),
                ("order_date", ColumnKind::Date),
                ("order_id", ColumnKind::Text),
                ("amount", ColumnKind::Float),
                ("status", ColumnKind::Text),
            ]
        );
        // The overview counts the NBA pipeline's eight tables, in order.
        let counted: Vec<&str> = counted_tables(&nba).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            counted,
            vec![
                SCHEDULE,
                PLAYER_GAMES,
                "nba_precompute.player_shot_zone_analysis",
                "nba_precompute.player_daily_cache",
                "nba_precompute.player_composite_factors",
                "nba_predictions.ml_feature_store_v2",
                FAILURES,
                RUNS
            ]
        );
        let q = table_counts(
            &Dialect::duckdb(Arc::new(nba.clone())),
            DateRange::new(day(1), day(2), 10).unwrap(),
        );
        assert_eq!(q.sql.matches("UNION ALL").count(), 7);
        let counts = table_counts_of(&nba, &[(1, 40), (7, 3)]);
        assert_eq!((counts[1].rows, counts[7].rows, counts[0].rows), (40, 3, 0));
    }

    #[test]
    fn observed_tables_need_only_their_keys() {
        let text = domain::pipeline::NBA_PIPELINE;
        let other = |old: &str, new: &str| Pipeline::parse(&text.replacen(old, new, 1)).unwrap();
        let observed = other(
            "[\"PSZA\", \"PDC\", \"PCF\"]\nruns = \"builtin\"",
            "[\"PSZA\", \"PDC\", \"PCF\"]\nruns = \"observe\"",
        );
        let mlfs = &observed.processors[3];
        let table = pipeline_table(mlfs).unwrap();
        assert!(!table.exact);
        let cols: Vec<&str> = table.columns.into_iter().map(|(c, _)| c).collect();
        assert_eq!(cols, vec!["player_lookup", "game_date"]);
        assert_eq!(pipeline_table(&observed.processors[0]), None);
    }
}
