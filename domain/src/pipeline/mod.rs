//! A pipeline file (TOML): the entity universe, the failure and run tables,
//! and the processors with their tables, dependencies and how they run.
//! Parsed and validated from text (`file`, `checks`; reading the file is the
//! caller's IO); every error is a [`DomainError::BadPipeline`] naming its line
//! and column.
//!
//! A [`Pipeline`] is a value: the stores are opened with one, the engine
//! reaches it through its store, and a [`ProcessorId`] means something only
//! through the pipeline it came from (`pipeline.spec(id)`). Nothing below
//! the pages keeps a process-wide copy, so one process may serve several.

mod adopt;
mod checks;
mod file;
pub mod shape;
mod watching;

pub use watching::parse_every;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;

use crate::processor::{
    Builtin, ColumnSpec, ColumnType, ProcessorId, ProcessorSpec, Value, MAX_ENTITY_LEN,
};
use crate::DomainError;

pub use adopt::{MappedColumn, ReadFailures, ReadRuns, ReadTables, RunOutcome};
pub use checks::{check_condition, is_sql_reserved};

/// The pipeline Rollcall ships and uses by default.
pub const NBA_PIPELINE: &str = include_str!("../../../pipelines/nba.toml");

/// Processors one pipeline may declare: each takes one bit (`1 << order`) of
/// the reconciliation mask's 64-bit words (`reconcile::Mask`), kept below the
/// sign bit of the warehouses' INT64.
pub const MAX_PROCESSORS: usize = 60;

/// A validated pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pipeline {
    pub universe: Universe,
    pub failures_table: String,
    pub runs_table: String,
    /// In dependency order.
    pub processors: Vec<ProcessorSpec>,
    /// The dates a link without a range shows (`[view]`; `None`: the NBA
    /// demo's November 2021, `DateRange::default_view`).
    pub default_view: Option<crate::DateRange>,
    /// Where command processors run (the pipeline file's directory; empty:
    /// the process's working directory). Not part of the file's text.
    pub directory: String,
    /// `[watch]`: scheduled evaluations (`None`: only `rollcall watch` evaluates).
    pub watch: Option<crate::watch::WatchSettings>,
    /// `[[alert]]` tables (server-side only: a page carries processors alone).
    pub alerts: Vec<crate::watch::AlertSpec>,
    /// `[read]`: the team's own failure table and run log, read beside
    /// `[tables]` and never written.
    pub read: ReadTables,
    /// `[categories]`: the team's spellings on top of the built-in taxonomy.
    pub categories: crate::failure::Taxonomy,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Universe {
    pub table: String,
    pub date_column: String,
    pub entity_column: String,
    /// Operator-written SQL over the universe table: which entities are expected.
    pub expected: String,
    /// The universe table's other columns, for a universe of the pipeline's
    /// own (the stores create the table with the entity and date columns
    /// first, then these; the NBA box scores have their docs/DESIGN.md §2 schema).
    pub columns: Vec<ColumnSpec>,
    /// A CSV file of demo rows (header: the entity, date and declared
    /// columns), relative to the pipeline file; empty: no demo data.
    pub demo: String,
    /// What one entity is called on the pages (`entity_name`; "player" for
    /// the NBA box scores, "entity" unless a pipeline says).
    pub entity_name: String,
    /// Their plural (`entities_name`, for words English does not pluralise
    /// with an s: "aircraft"); empty: made from `entity_name`.
    pub entities_name: String,
}

/// `word` with a capital first letter (a label's first word).
pub fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// One row of a universe table of the pipeline's own: the entity, the date,
/// the declared columns' values in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct UniverseRow {
    pub date: NaiveDate,
    pub entity: String,
    pub values: Vec<Value>,
}

/// The NBA box scores: the universe the builtin processors read.
pub const NBA_UNIVERSE_TABLE: &str = "nba_analytics.player_game_summary";

impl Universe {
    /// The docs/DESIGN.md §2 box-score table, which the builtins and the demo season use.
    pub fn is_nba(&self) -> bool {
        self.table == NBA_UNIVERSE_TABLE
    }

    /// A row of a universe of the pipeline's own from its text fields, in
    /// [`Universe::all_columns`] order (a CSV line): the entity (1 to
    /// [`MAX_ENTITY_LEN`] bytes), the date, then each declared column
    /// by its type (empty: NULL). `Err`: the column and what is wrong.
    pub fn row_from_text(&self, fields: &[&str]) -> Result<UniverseRow, (String, String)> {
        let columns = self.all_columns();
        if fields.len() != columns.len() {
            return Err((
                "-".into(),
                format!(
                    "{} fields where the universe has {} columns",
                    fields.len(),
                    columns.len()
                ),
            ));
        }
        let entity = fields[0].trim();
        if entity.is_empty() || entity.len() > MAX_ENTITY_LEN {
            return Err((
                self.entity_column.clone(),
                format!("an entity is 1 to {MAX_ENTITY_LEN} bytes"),
            ));
        }
        let date = crate::dates::parse_date("date", fields[1].trim())
            .map_err(|e| (self.date_column.clone(), e.to_string()))?;
        let mut values = Vec::with_capacity(self.columns.len());
        for (c, text) in self.columns.iter().zip(&fields[2..]) {
            let value = Value::from_text(c.ty, text).ok_or_else(|| {
                let shown: String = text.chars().take(40).collect();
                (
                    c.name.clone(),
                    format!("{shown:?} is not a {} value", c.ty.name()),
                )
            })?;
            values.push(value);
        }
        Ok(UniverseRow {
            date,
            entity: entity.to_string(),
            values,
        })
    }

    /// The entity's name, for labels ("player"; "entity" when unnamed).
    pub fn entity(&self) -> &str {
        if self.entity_name.is_empty() {
            "entity"
        } else {
            &self.entity_name
        }
    }

    /// The entities' name, for labels ("players", "entities").
    pub fn entities(&self) -> String {
        if !self.entities_name.is_empty() {
            return self.entities_name.clone();
        }
        let one = self.entity();
        match one.strip_suffix('y') {
            Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
            _ => format!("{one}s"),
        }
    }

    /// `n` entities, agreeing in number ("1 player", "3 players").
    pub fn count(&self, n: i64) -> String {
        if n == 1 {
            format!("1 {}", self.entity())
        } else {
            format!("{n} {}", self.entities())
        }
    }

    /// What a date without universe rows shows ("no games" for the NBA).
    pub fn nothing_expected(&self) -> &'static str {
        if self.is_nba() {
            "no games"
        } else {
            "nothing expected"
        }
    }

    /// Every column of a universe of the pipeline's own, in table order.
    pub fn all_columns(&self) -> Vec<(&str, Option<ColumnType>)> {
        [
            (self.entity_column.as_str(), None),
            (self.date_column.as_str(), None),
        ]
        .into_iter()
        .chain(self.columns.iter().map(|c| (c.name.as_str(), Some(c.ty))))
        .collect()
    }
}

/// A command's time limit unless its processor sets `timeout_seconds`.
pub const DEFAULT_COMMAND_TIMEOUT_SECONDS: u64 = 300;
/// The longest `timeout_seconds` a pipeline may set (a day).
pub const MAX_COMMAND_TIMEOUT_SECONDS: u64 = 86_400;
/// The most dates one command run may be handed (`batch_dates`).
pub const MAX_BATCH_DATES: usize = 100;

/// The shipped NBA pipeline.
pub fn nba() -> Pipeline {
    Pipeline::parse(NBA_PIPELINE).expect("the shipped pipeline file is valid (tested)")
}

/// The shipped NBA pipeline, parsed once for this crate's tests.
#[cfg(test)]
pub(crate) fn shipped() -> &'static Pipeline {
    static SHIPPED: std::sync::OnceLock<Pipeline> = std::sync::OnceLock::new();
    SHIPPED.get_or_init(nba)
}

/// The shipped pipeline's processor running `builtin`, for this crate's tests.
#[cfg(test)]
pub(crate) fn shipped_id(builtin: Builtin) -> ProcessorId {
    shipped()
        .builtin(builtin)
        .expect("the shipped pipeline runs every builtin")
}

impl Pipeline {
    /// What a browser knows of the server's pipeline: its processors.
    pub fn of_processors(processors: Vec<ProcessorSpec>) -> Self {
        Pipeline {
            processors,
            ..Pipeline::default()
        }
    }

    /// The same pipeline, its commands run in `directory`.
    pub fn located_in(self, directory: impl Into<String>) -> Self {
        Pipeline {
            directory: directory.into(),
            ..self
        }
    }

    /// The processor at `id`.
    pub fn spec(&self, id: ProcessorId) -> &ProcessorSpec {
        &self.processors[id.order()]
    }

    /// Its short code (`PDC`).
    pub fn code(&self, id: ProcessorId) -> &str {
        &self.spec(id).code
    }

    /// Every processor's id, in dependency order.
    pub fn ids(&self) -> impl Iterator<Item = ProcessorId> + '_ {
        self.processors.iter().map(|p| p.id)
    }

    /// The processor running `builtin`, if this pipeline runs it.
    pub fn builtin(&self, builtin: Builtin) -> Option<ProcessorId> {
        self.processors
            .iter()
            .find(|p| p.runner.builtin() == Some(builtin))
            .map(|p| p.id)
    }

    /// A processor by its code, its name or a legacy spelling, case-insensitively.
    pub fn processor(&self, raw: &str) -> Result<ProcessorId, DomainError> {
        let t = raw.trim();
        self.processors
            .iter()
            .find(|p| {
                std::iter::once(&p.code)
                    .chain([&p.name])
                    .chain(&p.spellings)
                    .any(|s| s.eq_ignore_ascii_case(t))
            })
            .map(|p| p.id)
            .ok_or_else(|| self.unknown(t))
    }

    /// A comma-separated list (`PDC,PCF`), deduplicated, in dependency order.
    pub fn processor_list(&self, raw: &str) -> Result<Vec<ProcessorId>, DomainError> {
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = self.processor(part)?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        if out.is_empty() {
            return Err(self.unknown(raw));
        }
        out.sort();
        Ok(out)
    }

    /// `raw` names none of this pipeline's processors.
    fn unknown(&self, raw: &str) -> DomainError {
        let known: Vec<&str> = self.processors.iter().map(|p| p.code.as_str()).collect();
        DomainError::UnknownProcessor {
            given: raw.chars().take(40).collect(),
            known: known.join(", "),
        }
    }

    /// Every processor that depends on `id`, directly or transitively, in order.
    pub fn downstream(&self, id: ProcessorId) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = Vec::new();
        for spec in &self.processors {
            let depends = spec
                .depends_on
                .iter()
                .any(|up| *up == id || out.contains(up));
            if depends {
                out.push(spec.id);
            }
        }
        out
    }

    /// Every processor `id` depends on, directly or transitively, in order.
    pub fn upstreams(&self, id: ProcessorId) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = self.spec(id).depends_on.clone();
        let mut i = 0;
        while i < out.len() {
            for up in &self.spec(out[i]).depends_on {
                if !out.contains(up) {
                    out.push(*up);
                }
            }
            i += 1;
        }
        out.sort();
        out
    }

    /// `set` plus everything downstream of it, in dependency order.
    pub fn with_downstream(&self, set: &[ProcessorId]) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = set.to_vec();
        for p in set {
            for d in self.downstream(*p) {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out.sort();
        out
    }
}
