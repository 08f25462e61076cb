//! A pipeline's processors as it declares them. A [`ProcessorId`] is a
//! position in one pipeline's list (dependency order) and is read through
//! that pipeline (`Pipeline::spec`, `code`, `downstream`, …). [`Builtin`]
//! names Rollcall's own Rust processors, which a pipeline file may run
//! (`runs = "builtin"`).

use serde::{Deserialize, Serialize};

/// A processor of a pipeline: its position in that pipeline's dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcessorId(u16);

/// How a processor's cells get written. Every decision that depends on the
/// kind matches this exhaustively (no `==`, no `_`), so a new kind fails to
/// compile at each site that has to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Runner {
    /// One of Rollcall's own Rust processors.
    Builtin(Builtin),
    /// The team's own program. Server-side only: a page never carries
    /// command lines.
    Command(#[serde(skip)] CommandSpec),
    /// Someone else writes the table; Rollcall only reconciles it.
    Observe,
    /// Someone else writes the table, and Rollcall re-runs it by starting
    /// the team's own backfill program (`rerun = [...]`), which writes its
    /// tables itself: Rollcall records the run, then reconciles what it
    /// wrote. Server-side only, like a command.
    Rerun(#[serde(skip)] CommandSpec),
}

impl Runner {
    /// The pipeline file's word for the kind (`runs = "…"`).
    pub fn name(&self) -> &'static str {
        match self {
            Runner::Builtin(_) => "builtin",
            Runner::Command(_) => "command",
            Runner::Observe | Runner::Rerun(_) => "observe",
        }
    }

    /// Whether Rollcall itself writes the cells (so it can run and re-run
    /// them); an observed table is only read.
    pub fn runs_here(&self) -> bool {
        match self {
            Runner::Builtin(_) | Runner::Command(_) | Runner::Rerun(_) => true,
            Runner::Observe => false,
        }
    }

    /// The Rust processor, for a builtin.
    pub fn builtin(&self) -> Option<Builtin> {
        match self {
            Runner::Builtin(b) => Some(*b),
            Runner::Command(_) | Runner::Observe | Runner::Rerun(_) => None,
        }
    }

    /// The team's backfill program, for an observed processor that declares one.
    pub fn rerun(&self) -> Option<&CommandSpec> {
        match self {
            Runner::Rerun(c) => Some(c),
            Runner::Builtin(_) | Runner::Command(_) | Runner::Observe => None,
        }
    }

    /// Whether Rollcall writes the processor's table itself (a builtin or a
    /// command); an observed one, re-run or not, is someone else's.
    pub fn writes_table(&self) -> bool {
        match self {
            Runner::Builtin(_) | Runner::Command(_) => true,
            Runner::Observe | Runner::Rerun(_) => false,
        }
    }

    /// The program, for a command.
    pub fn command(&self) -> Option<&CommandSpec> {
        match self {
            Runner::Command(c) => Some(c),
            Runner::Builtin(_) | Runner::Observe | Runner::Rerun(_) => None,
        }
    }
}

/// One processor as the pipeline declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorSpec {
    pub id: ProcessorId,
    /// Short code used in URLs, the CLI and the heatmap (`PDC`).
    pub code: String,
    /// The name the pipeline writes into `processor_name` columns.
    pub name: String,
    /// Other spellings found in stored `processor_name` columns.
    pub spellings: Vec<String>,
    /// Fully qualified output table (`dataset.table`).
    pub output_table: String,
    /// The output table's date column (its partition column).
    pub date_column: String,
    /// The output table's entity column.
    pub entity_column: String,
    /// Upstream processors, each earlier in the list; empty = the universe only.
    pub depends_on: Vec<ProcessorId>,
    /// Minimum prior games for a record.
    pub min_games: usize,
    /// How its cells get written.
    pub runner: Runner,
    /// A command processor's own columns, after the date and entity columns.
    #[serde(skip)]
    pub columns: Vec<ColumnSpec>,
    /// When its cells are due (`expected_by`, `lag_days`); `None`: never
    /// late. Server-side only (a time of day would cost the page a parser).
    #[serde(skip)]
    pub deadline: Option<crate::watch::Deadline>,
}

/// How a `runs = "command"` processor is started: `program args… DATE`, in
/// the pipeline file's directory (see README, "Command processors").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    /// The command is killed, and its cells fail, after this long (per run).
    pub timeout_seconds: u64,
    /// Dates per run: the command is handed up to this many dates at once
    /// (`program args… DATE DATE …`; 1: one run per date). A re-run
    /// program's `rerun_batch_days`: consecutive days per run.
    pub batch_dates: usize,
}

/// A column of a command processor's output table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub ty: ColumnType,
}

/// The types a command's values may have (nullable, all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Int,
    Float,
    Text,
    Bool,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Text => "text",
            ColumnType::Bool => "bool",
        }
    }
}

/// Rollcall's own processors (the NBA pipeline's). Each writes its own typed
/// table and reads the records of the builtins it [`needs`](Builtin::needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Builtin {
    Psza,
    Pdc,
    Pcf,
    Mlfs,
}

/// What a builtin writes: a pipeline file must declare exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinTable {
    pub code: &'static str,
    pub output_table: &'static str,
    pub date_column: &'static str,
    pub entity_column: &'static str,
}

impl Builtin {
    pub const ALL: [Builtin; 4] = [Builtin::Psza, Builtin::Pdc, Builtin::Pcf, Builtin::Mlfs];

    pub fn table(self) -> BuiltinTable {
        let (code, output_table, date_column) = match self {
            Builtin::Psza => (
                "PSZA",
                "nba_precompute.player_shot_zone_analysis",
                "analysis_date",
            ),
            Builtin::Pdc => ("PDC", "nba_precompute.player_daily_cache", "cache_date"),
            Builtin::Pcf => (
                "PCF",
                "nba_precompute.player_composite_factors",
                "game_date",
            ),
            Builtin::Mlfs => ("MLFS", "nba_predictions.ml_feature_store_v2", "game_date"),
        };
        BuiltinTable {
            code,
            output_table,
            date_column,
            entity_column: "player_lookup",
        }
    }

    pub fn code(self) -> &'static str {
        self.table().code
    }

    pub fn from_code(code: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.code() == code)
    }

    /// The builtins whose records this one reads.
    pub fn needs(self) -> &'static [Builtin] {
        match self {
            Builtin::Psza | Builtin::Pdc => &[],
            Builtin::Pcf => &[Builtin::Pdc, Builtin::Psza],
            Builtin::Mlfs => &[Builtin::Psza, Builtin::Pdc, Builtin::Pcf],
        }
    }
}

impl ProcessorId {
    /// The id of the processor at `order` in a pipeline being built.
    pub(crate) const fn at(order: usize) -> Self {
        ProcessorId(order as u16)
    }

    /// Position in dependency order.
    pub fn order(self) -> usize {
        usize::from(self.0)
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The longest entity id a command may be handed or print.
pub const MAX_ENTITY_LEN: usize = 256;
/// The longest text value a command may print.
pub const MAX_TEXT_LEN: usize = 65_536;

/// A value of a command processor's column ([`ColumnType`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl Value {
    /// A value of type `ty` written as text (a CSV field): empty is NULL;
    /// booleans are `true`/`false`; text is kept as written, up to
    /// [`MAX_TEXT_LEN`] bytes. `None`: not a value of that type.
    pub fn from_text(ty: ColumnType, text: &str) -> Option<Value> {
        use ColumnType as T;
        if text.is_empty() {
            return Some(Value::Null);
        }
        let trimmed = text.trim();
        Some(match ty {
            T::Int => Value::Int(trimmed.parse().ok()?),
            T::Float => Value::Float(trimmed.parse::<f64>().ok().filter(|f| f.is_finite())?),
            T::Bool => match trimmed.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return None,
            },
            T::Text if text.len() <= MAX_TEXT_LEN => Value::Text(text.to_string()),
            T::Text => return None,
        })
    }
}
