//! The processors of the active pipeline ([`crate::pipeline::active`]): the
//! DAG, the heatmap rows, the CLI and the re-run ordering all read
//! [`processors`]; nothing else lists them. A [`ProcessorId`] is a position
//! in that list (dependency order). [`Builtin`] names Rollcall's own Rust
//! processors, which a pipeline file may run (`runs = "builtin"`).

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A processor of the active pipeline: its position in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcessorId(u16);

/// How a processor's cells get written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runs {
    /// One of Rollcall's own Rust processors ([`Builtin`]).
    Builtin,
    /// The team's own program.
    Command,
    /// Someone else writes the table; Rollcall only reconciles it.
    Observe,
}

impl Runs {
    pub fn name(self) -> &'static str {
        match self {
            Runs::Builtin => "builtin",
            Runs::Command => "command",
            Runs::Observe => "observe",
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
    pub runs: Runs,
    /// The Rust processor behind `runs = "builtin"`.
    pub builtin: Option<Builtin>,
    /// The program behind `runs = "command"`. Server-side only: a page never
    /// carries command lines.
    #[serde(skip)]
    pub command: Option<CommandSpec>,
    /// A command processor's own columns, after the date and entity columns.
    #[serde(skip)]
    pub columns: Vec<ColumnSpec>,
}

/// How a `runs = "command"` processor is started: `program args… DATE`, in
/// the pipeline file's directory (see README, "Command processors").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    /// The command is killed, and its cells fail, after this long (per run).
    pub timeout_seconds: u64,
    /// Dates per run: the command is handed up to this many dates at once
    /// (`program args… DATE DATE …`; 1: one run per date).
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

    /// The active pipeline's processor running this builtin. Only asked by a
    /// builtin that needs it (or by tests on the shipped pipeline), and the
    /// pipeline file's validation makes every need a declared dependency.
    pub fn id(self) -> ProcessorId {
        processors()
            .iter()
            .find(|p| p.builtin == Some(self))
            .map(|p| p.id)
            .unwrap_or_else(|| panic!("the active pipeline runs no {}", self.code()))
    }
}

/// The active pipeline's processors, in dependency order.
pub fn processors() -> &'static [ProcessorSpec] {
    &crate::pipeline::active().processors
}

/// How `processor_name` columns may spell each processor (code, name and
/// legacy spellings, compared upper-cased), with the processor's code and its
/// bit (`1 << order`) in the reconciliation masks of both warehouses.
pub fn name_spellings() -> impl Iterator<Item = (String, &'static str, i64)> {
    processors().iter().flat_map(|s| {
        let bit = crate::reconcile::mask::processor_bit(s.id);
        std::iter::once(&s.code)
            .chain([&s.name])
            .chain(&s.spellings)
            .map(move |raw| (raw.to_uppercase(), s.code.as_str(), bit))
    })
}

impl ProcessorId {
    /// The id of the processor at `order` in a pipeline being built.
    pub(crate) const fn at(order: usize) -> Self {
        ProcessorId(order as u16)
    }

    pub fn spec(self) -> &'static ProcessorSpec {
        &processors()[self.order()]
    }
    pub fn code(self) -> &'static str {
        &self.spec().code
    }
    pub fn name(self) -> &'static str {
        &self.spec().name
    }
    /// Position in dependency order.
    pub fn order(self) -> usize {
        usize::from(self.0)
    }
    pub fn all() -> impl Iterator<Item = ProcessorId> {
        processors().iter().map(|p| p.id)
    }

    /// Accepts the code, the name or a legacy spelling, case-insensitively.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let t = raw.trim();
        processors()
            .iter()
            .find(|p| {
                std::iter::once(&p.code)
                    .chain([&p.name])
                    .chain(&p.spellings)
                    .any(|s| s.eq_ignore_ascii_case(t))
            })
            .map(|p| p.id)
            .ok_or_else(|| unknown(t))
    }

    /// Parses a comma-separated list (`PDC,PCF`), deduplicated, in dependency order.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, DomainError> {
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = Self::parse(part)?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        if out.is_empty() {
            return Err(unknown(raw));
        }
        out.sort();
        Ok(out)
    }

    /// Every processor that depends on `self`, directly or transitively, in order.
    pub fn downstream(self) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = Vec::new();
        for spec in processors() {
            let depends = spec
                .depends_on
                .iter()
                .any(|up| *up == self || out.contains(up));
            if depends {
                out.push(spec.id);
            }
        }
        out
    }

    /// Every processor `self` depends on, directly or transitively, in order.
    pub fn upstreams(self) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = self.spec().depends_on.clone();
        let mut i = 0;
        while i < out.len() {
            for up in &out[i].spec().depends_on.clone() {
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
    pub fn with_downstream(set: &[ProcessorId]) -> Vec<ProcessorId> {
        let mut out: Vec<ProcessorId> = set.to_vec();
        for p in set {
            for d in p.downstream() {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out.sort();
        out
    }
}

/// `raw` names no processor of the active pipeline.
fn unknown(raw: &str) -> DomainError {
    let known: Vec<&str> = processors().iter().map(|p| p.code.as_str()).collect();
    DomainError::UnknownProcessor {
        given: raw.chars().take(40).collect(),
        known: known.join(", "),
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::fmt::Display for ProcessorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_is_in_dependency_order() {
        for (i, spec) in processors().iter().enumerate() {
            assert_eq!(spec.id.order(), i);
            for up in &spec.depends_on {
                assert!(
                    up.order() < i,
                    "{} depends on later {}",
                    spec.code,
                    up.code()
                );
            }
        }
    }

    #[test]
    fn parses_codes_and_names() {
        assert_eq!(ProcessorId::parse("pdc").unwrap(), Builtin::Pdc.id());
        assert_eq!(
            ProcessorId::parse("MLFeatureStoreProcessor").unwrap(),
            Builtin::Mlfs.id()
        );
        assert!(ProcessorId::parse("XYZ").is_err());
        assert_eq!(
            ProcessorId::parse_list("MLFS, PDC,PDC").unwrap(),
            vec![Builtin::Pdc.id(), Builtin::Mlfs.id()]
        );
        assert!(ProcessorId::parse_list(" , ").is_err());
    }

    #[test]
    fn downstream_follows_the_dag() {
        let [psza, pdc, pcf, mlfs] = Builtin::ALL.map(Builtin::id);
        assert_eq!(pdc.downstream(), vec![pcf, mlfs]);
        assert_eq!(pcf.downstream(), vec![mlfs]);
        assert!(mlfs.downstream().is_empty());
        assert_eq!(mlfs.upstreams(), vec![psza, pdc, pcf]);
        assert_eq!(pcf.upstreams(), vec![psza, pdc]);
        assert!(pdc.upstreams().is_empty() && psza.upstreams().is_empty());
        assert_eq!(ProcessorId::with_downstream(&[psza]), vec![psza, pcf, mlfs]);
    }
}
