//! A pipeline file (TOML): the entity universe, the failure and run tables,
//! and the processors with their tables, dependencies and how they run.
//! Parsed and validated here, from text (reading the file is the caller's
//! IO); every error is a [`DomainError::BadPipeline`] naming its line and column.
//!
//! A process serves one pipeline, the *active* one: [`install`]ed once at
//! start-up (the server from its `--pipeline` file, the browser from the
//! processors its page carries), before anything asks [`active`]. Until
//! then, and in tests, it is the shipped NBA pipeline, `pipelines/nba.toml`.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::processors::command::MAX_ENTITY_LEN;
use crate::processors::Value;

use crate::processor::{
    Builtin, ColumnSpec, ColumnType, CommandSpec, ProcessorId, ProcessorSpec, Runs,
};
use crate::DomainError;

/// The pipeline Rollcall ships and uses by default.
pub const NBA_PIPELINE: &str = include_str!("../../pipelines/nba.toml");

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
    /// first, then these; the NBA box scores have their DESIGN schema).
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
    /// The DESIGN box-score table, which the builtins and the demo season use.
    pub fn is_nba(&self) -> bool {
        self.table == NBA_UNIVERSE_TABLE
    }

    /// A row of a universe of the pipeline's own from its text fields, in
    /// [`Universe::all_columns`] order (a CSV line): the entity (1 to
    /// `command::MAX_ENTITY_LEN` bytes), the date, then each declared column
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

static ACTIVE: OnceLock<Pipeline> = OnceLock::new();

/// Makes `pipeline` the process's active pipeline. Refused once another one
/// is active (installed, or the default already in use).
pub fn install(pipeline: Pipeline) -> Result<&'static Pipeline, DomainError> {
    let active = ACTIVE.get_or_init(|| pipeline.clone());
    if *active != pipeline {
        return Err(DomainError::BadPipeline {
            line: 1,
            column: 1,
            message: "another pipeline is already active in this process".into(),
        });
    }
    Ok(active)
}

/// The active pipeline (see the module docs).
pub fn active() -> &'static Pipeline {
    ACTIVE.get_or_init(default_pipeline)
}

#[cfg(not(target_arch = "wasm32"))]
fn default_pipeline() -> Pipeline {
    nba()
}

/// The browser must not carry the TOML parser: it installs what its page says.
#[cfg(target_arch = "wasm32")]
fn default_pipeline() -> Pipeline {
    panic!("the page's processors are installed before hydration")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    universe: UniverseForm,
    tables: TablesForm,
    #[serde(default)]
    view: Option<ViewForm>,
    #[serde(rename = "processor")]
    processors: Vec<ProcessorForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UniverseForm {
    table: Spanned<String>,
    date_column: Spanned<String>,
    entity_column: Spanned<String>,
    expected: Spanned<String>,
    #[serde(default)]
    columns: Option<Spanned<Vec<ColumnForm>>>,
    #[serde(default)]
    demo: Option<Spanned<String>>,
    #[serde(default)]
    entity_name: Option<Spanned<String>>,
    #[serde(default)]
    entities_name: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewForm {
    start: Spanned<String>,
    end: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TablesForm {
    failures: Spanned<String>,
    runs: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessorForm {
    code: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    spellings: Vec<Spanned<String>>,
    output_table: Spanned<String>,
    date_column: Spanned<String>,
    entity_column: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    min_games: usize,
    runs: Spanned<Runs>,
    #[serde(default)]
    command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    timeout_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    batch_dates: Option<Spanned<usize>>,
    #[serde(default)]
    columns: Option<Spanned<Vec<ColumnForm>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnForm {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: ColumnType,
}

/// A command's time limit unless its processor sets `timeout_seconds`.
pub const DEFAULT_COMMAND_TIMEOUT_SECONDS: u64 = 300;
/// The longest `timeout_seconds` a pipeline may set (a day).
pub const MAX_COMMAND_TIMEOUT_SECONDS: u64 = 86_400;
/// The most dates one command run may be handed (`batch_dates`).
pub const MAX_BATCH_DATES: usize = 100;
/// Columns a command's output table has besides its declared ones.
const RESERVED_COLUMNS: [&str; 2] = ["run_id", "processed_at"];

/// The shipped NBA pipeline.
pub fn nba() -> Pipeline {
    Pipeline::parse(NBA_PIPELINE).expect("the shipped pipeline file is valid (tested)")
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

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let form: FileForm = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            at_offset(text, at, e.message().to_string())
        })?;
        let err = |span: Range<usize>, message: String| at_offset(text, span.start, message);
        let table = |s: &Spanned<String>| -> Result<String, DomainError> {
            check_name(s.get_ref(), 2).map_err(|m| err(s.span(), m))?;
            Ok(s.get_ref().clone())
        };
        let column = |s: &Spanned<String>| -> Result<String, DomainError> {
            check_name(s.get_ref(), 1).map_err(|m| err(s.span(), m))?;
            Ok(s.get_ref().clone())
        };
        let u = &form.universe;
        check_condition(u.expected.get_ref()).map_err(|m| err(u.expected.span(), m))?;
        let mut universe = Universe {
            table: table(&u.table)?,
            date_column: column(&u.date_column)?,
            entity_column: column(&u.entity_column)?,
            expected: u.expected.get_ref().trim().to_string(),
            columns: Vec::new(),
            demo: String::new(),
            entity_name: String::new(),
            entities_name: String::new(),
        };
        let word = |key: &str, name: &Spanned<String>| -> Result<String, DomainError> {
            let n = name.get_ref();
            let word = !n.is_empty()
                && n.len() <= 32
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '-');
            if !word {
                return Err(err(
                    name.span(),
                    format!("{key} = {n:?}: 1 to 32 lowercase letters, spaces or -"),
                ));
            }
            Ok(n.clone())
        };
        universe.entity_name = match &u.entity_name {
            Some(name) => word("entity_name", name)?,
            None if universe.is_nba() => "player".into(),
            None => String::new(),
        };
        if let Some(plural) = &u.entities_name {
            if u.entity_name.is_none() {
                return Err(err(
                    plural.span(),
                    "entities_name needs entity_name (the singular) beside it".into(),
                ));
            }
            universe.entities_name = word("entities_name", plural)?;
        }
        if universe.is_nba() {
            // The box scores have their DESIGN schema and the demo season.
            let keys = (
                universe.date_column.as_str(),
                universe.entity_column.as_str(),
            );
            if keys != ("game_date", "player_lookup") {
                return Err(err(
                    u.date_column.span(),
                    format!(
                        "{NBA_UNIVERSE_TABLE} is keyed by game_date and player_lookup; declare exactly those"
                    ),
                ));
            }
            if let Some(cols) = &u.columns {
                return Err(err(
                    cols.span(),
                    format!("{NBA_UNIVERSE_TABLE} has its own columns: declare none"),
                ));
            }
            if let Some(demo) = &u.demo {
                return Err(err(
                    demo.span(),
                    format!("{NBA_UNIVERSE_TABLE}'s demo is the generated season: declare none"),
                ));
            }
        } else {
            if let Some(cols) = &u.columns {
                let keys = [
                    universe.date_column.as_str(),
                    universe.entity_column.as_str(),
                ];
                universe.columns = declared_columns(&keys, &[], cols.get_ref())
                    .map_err(|(m, span)| err(span, m))?;
            }
            if let Some(demo) = &u.demo {
                let path = demo.get_ref();
                let relative = !path.is_empty()
                    && !path.starts_with('/')
                    && !path.split(['/', '\\']).any(|part| part == "..")
                    && !path.contains('\0');
                if !relative {
                    return Err(err(
                        demo.span(),
                        format!("demo = {path:?}: a file beside the pipeline file (a relative path, no `..`)"),
                    ));
                }
                universe.demo = path.clone();
            }
        }
        if form.processors.is_empty() {
            return Err(at_offset(
                text,
                0,
                "the pipeline declares no [[processor]]".into(),
            ));
        }
        if let Some(extra) = form.processors.get(MAX_PROCESSORS) {
            return Err(err(
                extra.code.span(),
                format!("a pipeline has at most {MAX_PROCESSORS} processors"),
            ));
        }
        let mut spelled: HashSet<String> = HashSet::new();
        let mut processors: Vec<ProcessorSpec> = Vec::new();
        for (order, p) in form.processors.iter().enumerate() {
            let code = p.code.get_ref();
            let valid_code = !code.is_empty()
                && code.len() <= 16
                && code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !valid_code {
                return Err(err(
                    p.code.span(),
                    format!("processor code {code:?}: 1-16 of A-Z, 0-9, _"),
                ));
            }
            let mut mine: HashSet<String> = HashSet::new();
            for s in std::iter::once(&p.code)
                .chain([&p.name])
                .chain(&p.spellings)
            {
                if s.get_ref().trim().is_empty() {
                    return Err(err(s.span(), "a processor spelling is empty".into()));
                }
                // Spellings become SQL string literals (`reconcile::processor_code_sql`).
                let literal_safe = s.get_ref().len() <= 128
                    && s.get_ref()
                        .chars()
                        .all(|c| c == ' ' || c.is_ascii_graphic())
                    && !s.get_ref().contains(['\'', '"', '\\']);
                if !literal_safe {
                    return Err(err(
                        s.span(),
                        format!(
                            "{:?}: a processor spelling is up to 128 printable ASCII \
                             characters without quotes or backslashes",
                            s.get_ref()
                        ),
                    ));
                }
                // A processor may spell itself alike twice (code `REST`, name
                // `Rest`); no two processors may share a spelling.
                let upper = s.get_ref().to_uppercase();
                if mine.insert(upper.clone()) && !spelled.insert(upper) {
                    return Err(err(
                        s.span(),
                        format!("{:?} already names another processor", s.get_ref()),
                    ));
                }
            }
            let mut depends_on = Vec::new();
            for up in &p.depends_on {
                let Some(declared) = processors.iter().find(|d| d.code == *up.get_ref()) else {
                    return Err(err(
                        up.span(),
                        format!(
                            "{code} depends on {:?}, which is not declared before it",
                            up.get_ref()
                        ),
                    ));
                };
                depends_on.push(declared.id);
            }
            let spec = ProcessorSpec {
                id: ProcessorId::at(order),
                code: code.clone(),
                name: p.name.get_ref().clone(),
                spellings: p.spellings.iter().map(|s| s.get_ref().clone()).collect(),
                output_table: table(&p.output_table)?,
                date_column: column(&p.date_column)?,
                entity_column: column(&p.entity_column)?,
                depends_on,
                min_games: p.min_games,
                runs: *p.runs.get_ref(),
                builtin: None,
                command: None,
                columns: Vec::new(),
            };
            let runs_span = p.runs.span();
            let only_commands = |what: &str, span: Range<usize>| {
                err(
                    span,
                    format!(
                        "{code}: `{what}` is only for runs = \"command\" (this one runs as {})",
                        p.runs.get_ref().name()
                    ),
                )
            };
            let builtin = match spec.runs {
                Runs::Builtin if !universe.is_nba() => {
                    return Err(err(
                        runs_span,
                        format!(
                            "{code}: the builtin processors read the NBA box scores \
                             ([universe] table = {NBA_UNIVERSE_TABLE:?}); this universe is {:?}: \
                             run it as a command",
                            universe.table
                        ),
                    ))
                }
                Runs::Builtin => {
                    Some(builtin_of(&spec, &processors).map_err(|m| err(runs_span.clone(), m))?)
                }
                Runs::Command | Runs::Observe => None,
            };
            let mut command = None;
            let mut columns = Vec::new();
            if spec.runs == Runs::Command {
                let Some(argv) = &p.command else {
                    return Err(err(
                        runs_span,
                        format!("{code} runs as a command: declare `command = [\"program\", \"arg\", …]`"),
                    ));
                };
                command = Some(
                    command_of(
                        argv.get_ref(),
                        p.timeout_seconds.as_ref(),
                        p.batch_dates.as_ref(),
                    )
                    .map_err(|(m, span)| err(span.unwrap_or(argv.span()), m))?,
                );
                if let Some(cols) = &p.columns {
                    columns =
                        columns_of(&spec, cols.get_ref()).map_err(|(m, span)| err(span, m))?;
                }
            } else if let Some(argv) = &p.command {
                return Err(only_commands("command", argv.span()));
            } else if let Some(t) = &p.timeout_seconds {
                return Err(only_commands("timeout_seconds", t.span()));
            } else if let Some(b) = &p.batch_dates {
                return Err(only_commands("batch_dates", b.span()));
            } else if let Some(cols) = &p.columns {
                return Err(only_commands("columns", cols.span()));
            }
            processors.push(ProcessorSpec {
                builtin,
                command,
                columns,
                ..spec
            });
        }
        let default_view = match &form.view {
            None => None,
            Some(v) => {
                let date = |s: &Spanned<String>, field| {
                    crate::dates::parse_date(field, s.get_ref())
                        .map_err(|e| err(s.span(), e.to_string()))
                };
                let (start, end) = (date(&v.start, "start")?, date(&v.end, "end")?);
                Some(
                    crate::DateRange::new(start, end, crate::DEFAULT_MAX_RANGE_DAYS)
                        .map_err(|e| err(v.start.span(), format!("[view]: {e}")))?,
                )
            }
        };
        let failures_table = table(&form.tables.failures)?;
        let runs_table = table(&form.tables.runs)?;
        check_table_names(&universe, &processors, &form).map_err(|(m, span)| err(span, m))?;
        Ok(Pipeline {
            universe,
            default_view,
            failures_table,
            runs_table,
            processors,
            directory: String::new(),
        })
    }
}

/// Refuses table names that would make two of Rollcall's writes meet: the
/// failure and run tables must be tables of their own (not the universe, a
/// processor's, a builtin's or Rollcall's `rollcall_meta`), and every table
/// Rollcall stages on BigQuery needs its own twin, `rollcall_meta.staged_<name>`,
/// so their last parts must differ too.
fn check_table_names(
    universe: &Universe,
    processors: &[ProcessorSpec],
    form: &FileForm,
) -> Result<(), (String, Range<usize>)> {
    let last = |t: &str| t.rsplit('.').next().unwrap_or(t).to_ascii_lowercase();
    if let Some(why) = reserved_dataset(&universe.table) {
        return Err((
            format!("[universe] table {:?}: {why}", universe.table),
            form.universe.table.span(),
        ));
    }
    let mut taken: Vec<(String, String)> = vec![(universe.table.clone(), "the universe".into())];
    // (table, who writes it): another table ending alike would share its twin.
    let mut twins: Vec<(String, String)> = Vec::new();
    let twin_of = |twins: &[(String, String)], table: &str| {
        twins
            .iter()
            .find(|(t, _)| last(t) == last(table) && !t.eq_ignore_ascii_case(table))
            .map(|(_, who)| who.clone())
    };
    for b in Builtin::ALL {
        let t = b.table();
        taken.push((t.output_table.into(), format!("the builtin {}", t.code)));
        twins.push((t.output_table.into(), format!("the builtin {}", t.code)));
    }
    if !universe.is_nba() {
        twins.push((universe.table.clone(), "the universe".into()));
    }
    for (spec, declared) in processors.iter().zip(&form.processors) {
        let who = format!("processor {}", spec.code);
        let own_builtin = format!("the builtin {}", spec.code);
        // Each processor's run replaces its table's rows for the date, and
        // the reconciliation credits a table's rows to one processor: two
        // writers of one table would wipe and credit each other.
        let other_writer = taken.iter().find(|(t, owner)| {
            // A processor with a builtin's code may write that builtin's
            // table (a team's command standing in for our Rust function).
            t.eq_ignore_ascii_case(&spec.output_table) && *owner != own_builtin
        });
        if let Some((_, other)) = other_writer {
            return Err((
                format!(
                    "{who}: output_table {:?} is the table of {other}; each processor needs a table of its own",
                    spec.output_table
                ),
                declared.output_table.span(),
            ));
        }
        if let Some(why) = reserved_dataset(&spec.output_table) {
            return Err((
                format!("{who}: output_table {:?}: {why}", spec.output_table),
                declared.output_table.span(),
            ));
        }
        if spec.runs == Runs::Command {
            if let Some(other) = twin_of(&twins, &spec.output_table) {
                return Err((
                    format!(
                        "{who}: output_table {:?} ends like the table of {other}; \
                         each table Rollcall writes needs a last name of its own \
                         (its staging twin is rollcall_meta.staged_<name>)",
                        spec.output_table
                    ),
                    declared.output_table.span(),
                ));
            }
            twins.push((spec.output_table.clone(), who.clone()));
        }
        taken.push((spec.output_table.clone(), who));
    }
    for (kind, declared) in [
        ("failures", &form.tables.failures),
        ("runs", &form.tables.runs),
    ] {
        let name = declared.get_ref();
        let refuse = |why: String| {
            Err((
                format!("[tables] {kind} = {name:?}: {why}"),
                declared.span(),
            ))
        };
        if let Some(why) = reserved_dataset(name) {
            return refuse(why.into());
        }
        if let Some((_, other)) = taken.iter().find(|(t, _)| t.eq_ignore_ascii_case(name)) {
            return refuse(format!("that is the table of {other}"));
        }
        if let Some(other) = twin_of(&twins, name) {
            return refuse(format!(
                "ends like the table of {other}; each table Rollcall writes needs a last \
                 name of its own (its staging twin is rollcall_meta.staged_<name>)"
            ));
        }
        taken.push((name.clone(), format!("[tables] {kind}")));
        twins.push((name.clone(), format!("[tables] {kind}")));
    }
    Ok(())
}

/// Rollcall's own dataset, or a database's catalog schemas: "why" of the
/// dataset of `table` when it is one a pipeline may not write into.
fn reserved_dataset(table: &str) -> Option<&'static str> {
    const RESERVED: [(&str, &str); 4] = [
        ("rollcall_meta", "rollcall_meta is Rollcall's own dataset"),
        (
            "information_schema",
            "information_schema is the database's catalog",
        ),
        ("pg_catalog", "pg_catalog is the database's catalog"),
        ("main", "main is DuckDB's own schema"),
    ];
    let (dataset, _) = table.split_once('.')?;
    RESERVED
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(dataset))
        .map(|(_, why)| why)
}

/// `expected` is spliced into SQL as one parenthesised condition
/// (`AND ({expected})`), so it must be one: not empty, no statement
/// separator, no comment (a `--` would swallow the closing parenthesis), and
/// parentheses and quotes balanced outside string literals.
pub fn check_condition(condition: &str) -> Result<(), String> {
    let why = |what: &str| Err(format!("`expected` must be one SQL condition: {what}"));
    if condition.trim().is_empty() {
        return why("it is empty");
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut chars = condition.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                // A doubled quote inside a literal is the quote itself.
                if chars.peek() == Some(&q) {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            ';' => return why("no `;`"),
            '-' if chars.peek() == Some(&'-') => return why("no `--` comment"),
            '/' if chars.peek() == Some(&'*') => return why("no `/*` comment"),
            '(' => depth += 1,
            ')' if depth == 0 => return why("a `)` closes nothing"),
            ')' => depth -= 1,
            _ => {}
        }
    }
    if quote.is_some() {
        return why("a quote is never closed");
    }
    if depth > 0 {
        return why("a `(` is never closed");
    }
    Ok(())
}

/// The builtin a `runs = "builtin"` processor names by its code, if the
/// declaration matches what that builtin writes and reads.
fn builtin_of(spec: &ProcessorSpec, earlier: &[ProcessorSpec]) -> Result<Builtin, String> {
    let Some(builtin) = Builtin::from_code(&spec.code) else {
        let known: Vec<&str> = Builtin::ALL.iter().map(|b| b.code()).collect();
        return Err(format!(
            "{}: no builtin processor has this code (builtins: {})",
            spec.code,
            known.join(", ")
        ));
    };
    let t = builtin.table();
    let declared = (
        spec.output_table.as_str(),
        spec.date_column.as_str(),
        spec.entity_column.as_str(),
    );
    if declared != (t.output_table, t.date_column, t.entity_column) {
        return Err(format!(
            "builtin {} writes {} ({}, {}); declare exactly that",
            t.code, t.output_table, t.date_column, t.entity_column
        ));
    }
    for need in builtin.needs() {
        let runs_it = |up: &ProcessorId| earlier[up.order()].builtin == Some(*need);
        if !spec.depends_on.iter().any(runs_it) {
            return Err(format!(
                "builtin {} reads {}'s records: depend on the builtin {}",
                t.code,
                need.code(),
                need.code()
            ));
        }
    }
    Ok(builtin)
}

fn command_of(
    argv: &[String],
    timeout: Option<&Spanned<u64>>,
    batch: Option<&Spanned<usize>>,
) -> Result<CommandSpec, (String, Option<Range<usize>>)> {
    let Some((program, args)) = argv.split_first() else {
        return Err(("`command` is empty: name the program to run".into(), None));
    };
    if program.trim().is_empty() {
        return Err(("`command`'s program is empty".into(), None));
    }
    if let Some(bad) = argv.iter().find(|a| a.contains('\0') || a.len() > 4096) {
        let shown: String = bad.chars().take(40).collect();
        return Err((
            format!("`command` argument {shown:?}: at most 4096 bytes, no NUL"),
            None,
        ));
    }
    let timeout_seconds = match timeout {
        None => DEFAULT_COMMAND_TIMEOUT_SECONDS,
        Some(t) if (1..=MAX_COMMAND_TIMEOUT_SECONDS).contains(t.get_ref()) => *t.get_ref(),
        Some(t) => {
            return Err((
                format!(
                    "timeout_seconds = {}: from 1 to {MAX_COMMAND_TIMEOUT_SECONDS}",
                    t.get_ref()
                ),
                Some(t.span()),
            ))
        }
    };
    let batch_dates = match batch {
        None => 1,
        Some(b) if (1..=MAX_BATCH_DATES).contains(b.get_ref()) => *b.get_ref(),
        Some(b) => {
            return Err((
                format!("batch_dates = {}: from 1 to {MAX_BATCH_DATES}", b.get_ref()),
                Some(b.span()),
            ))
        }
    };
    Ok(CommandSpec {
        program: program.clone(),
        args: args.to_vec(),
        timeout_seconds,
        batch_dates,
    })
}

fn columns_of(
    spec: &ProcessorSpec,
    forms: &[ColumnForm],
) -> Result<Vec<ColumnSpec>, (String, Range<usize>)> {
    let keys = [spec.date_column.as_str(), spec.entity_column.as_str()];
    declared_columns(&keys, &RESERVED_COLUMNS, forms)
}

/// Declared columns: identifiers, each once, none of the table's key
/// columns or of those Rollcall adds (`reserved`).
fn declared_columns(
    keys: &[&str],
    reserved: &[&str],
    forms: &[ColumnForm],
) -> Result<Vec<ColumnSpec>, (String, Range<usize>)> {
    let mut out: Vec<ColumnSpec> = Vec::new();
    for c in forms {
        let name = c.name.get_ref();
        check_name(name, 1).map_err(|m| (m, c.name.span()))?;
        let taken = keys
            .iter()
            .chain(reserved)
            .copied()
            .chain(out.iter().map(|o| o.name.as_str()))
            .any(|t| t.eq_ignore_ascii_case(name));
        if taken {
            let added = if reserved.is_empty() {
                String::new()
            } else {
                format!(", or one Rollcall adds ({})", reserved.join(", "))
            };
            return Err((
                format!(
                    "column {name:?} is declared twice, or is the date or entity column{added}"
                ),
                c.name.span(),
            ));
        }
        out.push(ColumnSpec {
            name: name.clone(),
            ty: c.ty,
        });
    }
    Ok(out)
}

/// A SQL name of at most `max_parts` dotted identifiers.
fn check_name(name: &str, max_parts: usize) -> Result<(), String> {
    let parts: Vec<&str> = name.split('.').collect();
    let identifier = |p: &&str| {
        let mut chars = p.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && p.len() <= 128
    };
    if parts.len() > max_parts || !parts.iter().all(identifier) {
        let shape = if max_parts > 1 {
            "dataset.table"
        } else {
            "a column"
        };
        return Err(format!(
            "{name:?} is not an identifier ({shape}: letters, digits, _)"
        ));
    }
    // Names go into SQL as they are: a keyword would change the statement.
    if let Some(word) = parts.iter().find(|p| is_sql_reserved(p)) {
        return Err(format!(
            "{name:?}: {word:?} is a reserved SQL word in DuckDB or BigQuery; choose another name"
        ));
    }
    Ok(())
}

/// The reserved words of DuckDB (`duckdb_keywords()`, category `reserved`,
/// checked against the linked DuckDB by a test in `warehouse_embedded`) and
/// of BigQuery (GoogleSQL's lexical structure, "Reserved keywords").
#[rustfmt::skip]
const SQL_RESERVED: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "assert_rows_modified",
    "asymmetric", "at", "between", "both", "by", "case", "cast", "check", "collate", "column",
    "constraint", "contains", "create", "cross", "cube", "current", "default", "deferrable",
    "define", "desc", "describe", "distinct", "do", "else", "end", "enum", "escape", "except",
    "exclude", "exists", "extract", "false", "fetch", "following", "for", "foreign", "from",
    "full", "group", "grouping", "groups", "hash", "having", "if", "ignore", "in", "include",
    "initially", "inner", "intersect", "interval", "into", "is", "join", "lambda", "lateral",
    "leading", "left", "like", "limit", "lookup", "merge", "natural", "new", "no", "not",
    "null", "nulls", "of", "offset", "on", "only", "or", "order", "outer", "over", "partition",
    "pivot", "pivot_longer", "pivot_wider", "placing", "preceding", "primary", "proto",
    "qualify", "range", "recursive", "references", "respect", "returning", "right", "rollup",
    "rows", "select", "set", "show", "some", "struct", "summarize", "symmetric", "table",
    "tablesample", "then", "to", "trailing", "treat", "true", "unbounded", "union", "unique",
    "unnest", "unpivot", "using", "variadic", "when", "where", "window", "with", "within",
];

/// A word neither store accepts as a bare name (case-blind).
pub fn is_sql_reserved(word: &str) -> bool {
    SQL_RESERVED.contains(&word.to_ascii_lowercase().as_str())
}

fn at_offset(text: &str, offset: usize, message: String) -> DomainError {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    DomainError::BadPipeline {
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_runs_the_four_builtins() {
        let nba = nba();
        assert_eq!(nba.universe.expected, crate::game::EXPECTED_PLAYER_SQL);
        let builtins: Vec<Option<Builtin>> = nba.processors.iter().map(|p| p.builtin).collect();
        assert_eq!(builtins, Builtin::ALL.map(Some));
        for p in &nba.processors {
            let needs: Vec<ProcessorId> =
                p.builtin.unwrap().needs().iter().map(|b| b.id()).collect();
            assert_eq!(p.depends_on, needs, "{}", p.code);
        }
        assert_eq!(nba.processors[0].min_games, 10);
        assert_eq!(*active(), nba, "tests run on the shipped pipeline");
        assert!(
            install(nba).is_ok(),
            "installing the active one again is harmless"
        );
        assert!(install(Pipeline::default()).is_err());
    }

    #[test]
    fn builtins_must_be_declared_as_they_are() {
        // Not a builtin's code.
        let text = with(r#"code = "PDC""#, r#"code = "PDX""#);
        let e = refused(&text);
        assert!(e.message.contains("no builtin"), "{e:?}");
        // A builtin's table is its own.
        let text = with(
            r#"output_table = "nba_precompute.player_daily_cache""#,
            r#"output_table = "nba_precompute.elsewhere""#,
        );
        let e = refused(&text);
        assert!(e.message.contains("player_daily_cache"), "{e:?}");
        // PCF reads PDC's records: it must depend on it.
        let text = with(
            r#"depends_on = ["PDC", "PSZA"]"#,
            r#"depends_on = ["PSZA"]"#,
        );
        let e = refused(&text);
        assert!(e.message.contains("reads PDC"), "{e:?}");
        // The same processors run as commands are fine.
        let text = NBA_PIPELINE.replace(
            r#"runs = "builtin""#,
            "runs = \"command\"\ncommand = [\"./run.sh\", \"--fast\"]",
        );
        let p = Pipeline::parse(&text).unwrap();
        assert!(p.processors.iter().all(|p| p.builtin.is_none()));
        let c = p.processors[0].command.as_ref().unwrap();
        assert_eq!(
            (c.program.as_str(), c.args.as_slice()),
            ("./run.sh", &["--fast".to_string()][..])
        );
        assert_eq!(c.timeout_seconds, DEFAULT_COMMAND_TIMEOUT_SECONDS);
    }

    #[test]
    fn commands_declare_their_program_time_limit_and_columns() {
        let command = |extra: &str| {
            with(
                "runs = \"builtin\"\n\n[[processor]]\ncode = \"PCF\"",
                &format!("runs = \"builtin\"\n\n[[processor]]\ncode = \"REST\"\nname = \"Rest\"\n\
                 output_table = \"team.rest\"\ndate_column = \"rest_date\"\n\
                 entity_column = \"player_lookup\"\nruns = \"command\"\n{extra}\n\n[[processor]]\ncode = \"PCF\""),
            )
        };
        let ok = command(
            "command = [\"python3\", \"rest.py\"]\ntimeout_seconds = 30\n\
             columns = [{ name = \"rest_days\", type = \"int\" }, { name = \"note\", type = \"text\" }]",
        );
        let p = Pipeline::parse(&ok).unwrap();
        let rest = p.processors.iter().find(|p| p.code == "REST").unwrap();
        assert_eq!(rest.command.as_ref().unwrap().timeout_seconds, 30);
        assert_eq!(rest.command.as_ref().unwrap().batch_dates, 1);
        let batched = Pipeline::parse(&command("command = [\"x\"]\nbatch_dates = 7")).unwrap();
        let weekly = batched
            .processors
            .iter()
            .find(|p| p.code == "REST")
            .unwrap();
        assert_eq!(weekly.command.as_ref().unwrap().batch_dates, 7);
        let cols: Vec<(&str, ColumnType)> = rest
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty))
            .collect();
        assert_eq!(
            cols,
            vec![("rest_days", ColumnType::Int), ("note", ColumnType::Text)]
        );
        assert_eq!(
            p.processors.iter().filter(|p| p.command.is_some()).count(),
            1
        );

        for (extra, says, on) in [
            ("", "declare `command", "runs = \"command\""),
            ("command = []", "empty", "command = []"),
            ("command = [\"x\"]\ntimeout_seconds = 0", "from 1 to", "timeout_seconds"),
            ("command = [\"x\"]\nbatch_dates = 0", "from 1 to", "batch_dates"),
            ("command = [\"x\"]\nbatch_dates = 101", "from 1 to", "batch_dates"),
            (
                "command = [\"x\"]\ncolumns = [{ name = \"rest_date\", type = \"int\" }]",
                "date or entity column",
                "columns",
            ),
            (
                "command = [\"x\"]\ncolumns = [{ name = \"a\", type = \"int\" }, { name = \"A\", type = \"text\" }]",
                "twice",
                "columns",
            ),
            ("command = [\"x\"]\ncolumns = [{ name = \"a b\", type = \"int\" }]", "identifier", "columns"),
            ("command = [\"x\"]\ncolumns = [{ name = \"a\", type = \"blob\" }]", "blob", "columns"),
        ] {
            let text = command(extra);
            let e = refused(&text);
            assert!(e.message.contains(says), "{extra}: {e:?}");
            assert_eq!(e.line, line_of(&text, on), "{extra}: {e:?}");
        }
        // Only commands have a command line.
        let text = with("min_games = 3", "min_games = 3\ncommand = [\"x\"]");
        let e = refused(&text);
        assert!(e.message.contains("only for runs = \"command\""), "{e:?}");
        assert_eq!(e.line, line_of(&text, "command = "));
    }

    #[test]
    fn a_pipeline_fits_the_reconciliation_mask() {
        let mut text = String::from(&NBA_PIPELINE[..NBA_PIPELINE.find("[[processor]]").unwrap()]);
        for i in 0..=MAX_PROCESSORS {
            text.push_str(&format!(
                "[[processor]]\ncode = \"P{i}\"\nname = \"proc{i}\"\noutput_table = \"d.t{i}\"\n\
                 date_column = \"d\"\nentity_column = \"e\"\nruns = \"observe\"\n"
            ));
        }
        let e = refused(&text);
        let one_too_many = format!("\"P{MAX_PROCESSORS}\"");
        assert_eq!(e.line, line_of(&text, &one_too_many), "{e:?}");
        let most = &text[..text
            .find(&format!("[[processor]]\ncode = {one_too_many}"))
            .unwrap()];
        let pipeline = Pipeline::parse(most).unwrap();
        assert_eq!(pipeline.processors.len(), MAX_PROCESSORS);
        let last = pipeline.processors.last().unwrap().id;
        assert!(crate::reconcile::mask::processor_bit(last) < 1 << 62);
    }

    const ORDERS_PIPELINE: &str = include_str!("../../pipelines/orders/pipeline.toml");

    #[test]
    fn the_orders_example_has_a_universe_of_its_own() {
        let p = Pipeline::parse(ORDERS_PIPELINE).unwrap();
        assert!(!p.universe.is_nba());
        assert_eq!(p.universe.demo, "orders.csv");
        assert_eq!(
            (p.universe.entity(), p.universe.entities()),
            ("customer", "customers".into())
        );
        assert_eq!(nba().universe.entities(), "players");
        let unnamed = ORDERS_PIPELINE.replace("entity_name = \"customer\"\n", "");
        let unnamed = Pipeline::parse(&unnamed).unwrap().universe;
        assert_eq!(
            (unnamed.entity(), unnamed.entities()),
            ("entity", "entities".into())
        );
        let shouting = ORDERS_PIPELINE.replace("\"customer\"", "\"<b>Customer</b>\"");
        assert_eq!(refused(&shouting).line, line_of(&shouting, "entity_name"));
        let columns: Vec<(&str, Option<ColumnType>)> = p.universe.all_columns();
        assert_eq!(
            columns,
            vec![
                ("customer_id", None),
                ("order_date", None),
                ("order_id", Some(ColumnType::Text)),
                ("amount", Some(ColumnType::Float)),
                ("status", Some(ColumnType::Text)),
            ]
        );
        assert!(p.processors.iter().all(|s| s.runs == Runs::Command));
        assert_eq!(p.processors[1].depends_on, vec![p.processors[0].id]);
        let view = p.default_view.unwrap();
        assert_eq!(
            (view.start().to_string(), view.end().to_string()),
            ("2024-03-01".into(), "2024-03-28".into())
        );
        for (old, new) in [
            ("start = \"2024-03-01\"", "start = \"March\""),
            ("start = \"2024-03-01\"", "start = \"2024-04-01\""),
        ] {
            let text = ORDERS_PIPELINE.replace(old, new);
            assert_eq!(refused(&text).line, line_of(&text, "start = "), "{new}");
        }

        // A row from text: typed, empty is NULL, errors name the column.
        let row = p
            .universe
            .row_from_text(&["C1", "2024-03-01", "O-1", "", "paid"])
            .unwrap();
        assert_eq!(row.date.to_string(), "2024-03-01");
        assert_eq!(
            row.values,
            vec![
                Value::Text("O-1".into()),
                Value::Null,
                Value::Text("paid".into())
            ]
        );
        for (fields, column) in [
            (["C1", "2024-13-01", "O-1", "1", "paid"], "order_date"),
            (["", "2024-03-01", "O-1", "1", "paid"], "customer_id"),
            (["C1", "2024-03-01", "O-1", "NaN", "paid"], "amount"),
            (["C1", "2024-03-01", "O-1", "1e999", "paid"], "amount"),
        ] {
            let (at, _) = p.universe.row_from_text(&fields).unwrap_err();
            assert_eq!(at, column, "{fields:?}");
        }
        assert!(p.universe.row_from_text(&["C1", "2024-03-01"]).is_err());
    }

    #[test]
    fn builtins_need_the_nba_universe_and_it_has_its_own_schema() {
        // A builtin over another universe.
        let text = with(
            r#"table = "nba_analytics.player_game_summary""#,
            r#"table = "shop.orders""#,
        );
        let e = refused(&text);
        assert!(e.message.contains("run it as a command"), "{e:?}");
        assert_eq!(e.line, line_of(&text, "runs = \"builtin\""));
        // The box scores declare no columns or demo file, and their keys.
        for (old, new, says) in [
            (
                r#"entity_column = "player_lookup"
expected"#,
                "entity_column = \"player_lookup\"\ncolumns = [{ name = \"x\", type = \"int\" }]\nexpected",
                "declare none",
            ),
            (
                r#"entity_column = "player_lookup"
expected"#,
                "entity_column = \"player_lookup\"\ndemo = \"x.csv\"\nexpected",
                "generated season",
            ),
            (
                r#"date_column = "game_date"
entity"#,
                "date_column = \"day\"\nentity",
                "keyed by game_date",
            ),
        ] {
            let e = refused(&with(old, new));
            assert!(e.message.contains(says), "{new}: {e:?}");
        }
        // Another universe's demo file stays beside the pipeline file.
        for demo in ["../etc/passwd", "/etc/passwd", ""] {
            let text =
                ORDERS_PIPELINE.replace("demo = \"orders.csv\"", &format!("demo = {demo:?}"));
            let e = refused(&text);
            assert!(e.message.contains("relative path"), "{demo}: {e:?}");
            assert_eq!(e.line, line_of(&text, "demo = "));
        }
        // Its columns are identifiers, each once, never the key columns.
        let text = ORDERS_PIPELINE.replace(
            "{ name = \"status\", type = \"text\" }",
            "{ name = \"customer_id\", type = \"text\" }",
        );
        assert!(refused(&text).message.contains("entity column"));
    }

    /// Where and why `text` is refused.
    fn refused(text: &str) -> Refusal {
        match Pipeline::parse(text) {
            Err(DomainError::BadPipeline { line, message, .. }) => Refusal { line, message },
            other => panic!("not refused as a pipeline: {other:?}"),
        }
    }

    #[derive(Debug)]
    struct Refusal {
        line: usize,
        message: String,
    }

    /// The shipped file with one line replaced.
    fn with(old: &str, new: &str) -> String {
        assert!(NBA_PIPELINE.contains(old), "{old}");
        NBA_PIPELINE.replacen(old, new, 1)
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn errors_name_the_line() {
        let text = with(
            r#"depends_on = ["PDC", "PSZA"]"#,
            r#"depends_on = ["PDC", "NOPE"]"#,
        );
        let e = refused(&text);
        assert_eq!(e.line, line_of(&text, "\"NOPE\""), "{e:?}");
        assert!(e.message.contains("NOPE"), "{e:?}");

        let text = with("min_games = 3", "min_games = \"three\"");
        assert_eq!(refused(&text).line, line_of(&text, "\"three\""));

        let text = with("runs = \"builtin\"", "runs = \"sometimes\"");
        assert_eq!(refused(&text).line, line_of(&text, "sometimes"));

        let text = with("min_games = 10", "min_games = 10\ncolour = \"red\"");
        let e = refused(&text);
        assert_eq!(e.line, line_of(&text, "colour"), "{e:?}");

        let e = refused("[universe\ntable = 1");
        assert_eq!(e.line, 1, "{e:?}");
    }

    #[test]
    fn hostile_names_duplicates_and_cycles_are_refused() {
        for (old, new) in [
            (
                r#"output_table = "nba_precompute.player_daily_cache""#,
                r#"output_table = "x; DROP TABLE jobs; --""#,
            ),
            (r#"date_column = "cache_date""#, r#"date_column = "a.b""#),
            (
                r#"name = "PlayerDailyCacheProcessor""#,
                r#"name = "Daily' THEN 1 END; --""#,
            ),
            (r#"code = "PDC""#, r#"code = "PSZA""#),
            (r#"code = "PDC""#, r#"code = "pdc""#),
            (
                r#"name = "PlayerDailyCacheProcessor""#,
                r#"name = "playershotzoneanalysisprocessor""#,
            ),
            (
                r#"expected = "is_active AND (minutes_played > 0 OR fg_attempts > 0)""#,
                r#"expected = "TRUE; DELETE FROM x""#,
            ),
        ] {
            let text = with(old, new);
            let e = refused(&text);
            let replaced = NBA_PIPELINE[..NBA_PIPELINE.find(old).unwrap()]
                .lines()
                .count()
                + 1;
            assert_eq!(e.line, replaced, "{new}: {e:?}");
        }
        // A processor may only depend on one declared before it: no cycles.
        let text = with(
            "min_games = 10\n",
            "min_games = 10\ndepends_on = [\"MLFS\"]\n",
        );
        assert!(refused(&text).message.contains("not declared before"));
    }

    #[test]
    fn the_file_may_give_the_plural_and_counts_agree_in_number() {
        let named = ORDERS_PIPELINE.replacen(
            "entity_name = \"customer\"\n",
            "entity_name = \"aircraft\"\nentities_name = \"aircraft\"\n",
            1,
        );
        let u = Pipeline::parse(&named).unwrap().universe;
        assert_eq!(
            (u.entity(), u.entities().as_str()),
            ("aircraft", "aircraft")
        );
        assert_eq!(
            (u.count(1), u.count(3)),
            ("1 aircraft".to_string(), "3 aircraft".to_string())
        );
        let u = Pipeline::parse(ORDERS_PIPELINE).unwrap().universe;
        assert_eq!(
            (u.count(1), u.count(0)),
            ("1 customer".to_string(), "0 customers".to_string())
        );
        let alone = ORDERS_PIPELINE.replacen(
            "entity_name = \"customer\"\n",
            "entities_name = \"folk\"\n",
            1,
        );
        assert!(refused(&alone).message.contains("needs entity_name"));
        let shouting = ORDERS_PIPELINE.replacen(
            "entity_name = \"customer\"\n",
            "entity_name = \"customer\"\nentities_name = \"CUSTOMERS\"\n",
            1,
        );
        assert!(refused(&shouting).message.contains("entities_name"));
    }

    #[test]
    fn expected_must_be_one_balanced_condition() {
        let expected = r#"expected = "status <> 'cancelled'""#;
        let orders = |condition: &str| {
            assert!(ORDERS_PIPELINE.contains(expected));
            ORDERS_PIPELINE.replacen(expected, &format!("expected = {condition:?}"), 1)
        };
        for fine in [
            "status = 'paid' OR status = 'cancelled'",
            "(status = 'paid' OR (amount > 0 AND status <> 'x')) OR amount IS NULL",
            "status = 'it''s; -- not a comment (really'",
            "status <> 'a/*b'",
        ] {
            let p = Pipeline::parse(&orders(fine)).unwrap_or_else(|e| panic!("{fine}: {e}"));
            assert_eq!(p.universe.expected, fine);
        }
        for (bad, why) in [
            ("status = 'paid' -- only paid", "`--`"),
            ("status = 'paid' /* only paid */", "`/*`"),
            ("(status = 'paid'", "never closed"),
            ("status = 'paid')", "closes nothing"),
            ("status = 'paid') OR (TRUE", "closes nothing"),
            ("status = 'paid", "quote"),
            ("TRUE; DELETE FROM x", "`;`"),
            ("   ", "empty"),
        ] {
            let text = orders(bad);
            let e = refused(&text);
            assert!(e.message.contains(why), "{bad}: {e:?}");
            assert_eq!(e.line, line_of(&text, "expected = "), "{bad}: {e:?}");
        }
    }

    #[test]
    fn two_processors_never_share_a_table() {
        let daily = r#"output_table = "shop_metrics.customer_daily_totals""#;
        let loyalty = r#"output_table = "shop_metrics.customer_loyalty""#;
        for (new, why) in [
            (
                r#"output_table = "shop_metrics.customer_daily_totals""#,
                "table of processor DAILY",
            ),
            (
                r#"output_table = "SHOP_METRICS.Customer_Daily_Totals""#,
                "table of processor DAILY",
            ),
            (r#"output_table = "shop.orders""#, "table of the universe"),
            (
                r#"output_table = "nba_precompute.player_daily_cache""#,
                "table of the builtin PDC",
            ),
            (r#"output_table = "rollcall_meta.loyalty""#, "rollcall_meta"),
            (
                r#"output_table = "information_schema.loyalty""#,
                "information_schema",
            ),
            (r#"output_table = "pg_catalog.loyalty""#, "pg_catalog"),
            (r#"output_table = "Main.loyalty""#, "main"),
        ] {
            assert!(ORDERS_PIPELINE.contains(daily));
            let text = ORDERS_PIPELINE.replacen(loyalty, new, 1);
            let e = refused(&text);
            assert!(e.message.contains(why), "{new}: {e:?}");
            assert!(e.message.contains("LOYALTY"), "{new}: {e:?}");
            let line = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(new))
                .last()
                .unwrap()
                .0
                + 1;
            assert_eq!(e.line, line, "{new}: {e:?}");
        }
        let text = ORDERS_PIPELINE.replacen(
            r#"table = "shop.orders""#,
            r#"table = "rollcall_meta.orders""#,
            1,
        );
        assert!(refused(&text).message.contains("rollcall_meta"));
    }

    #[test]
    fn reserved_sql_words_are_refused_as_names() {
        for (old, new) in [
            (r#"date_column = "cache_date""#, r#"date_column = "Order""#),
            (
                r#"output_table = "nba_precompute.player_daily_cache""#,
                r#"output_table = "select.player_daily_cache""#,
            ),
        ] {
            let text = with(old, new);
            let e = refused(&text);
            assert!(e.message.contains("reserved SQL word"), "{e:?}");
            assert_eq!(e.line, line_of(&text, new), "{e:?}");
        }
        let text = ORDERS_PIPELINE.replacen(
            r#"{ name = "revenue", type = "float" }"#,
            r#"{ name = "group", type = "float" }"#,
            1,
        );
        let e = refused(&text);
        assert!(
            e.message.contains("\"group\" is a reserved SQL word"),
            "{e:?}"
        );
        assert!(!is_sql_reserved("orders") && is_sql_reserved("WHERE"));
    }

    #[test]
    fn failure_and_run_tables_are_tables_of_their_own() {
        let orders = |failures: &str, runs: &str| {
            ORDERS_PIPELINE
                .replacen(
                    r#"failures = "shop_ops.rollcall_failures""#,
                    &format!("failures = {failures:?}"),
                    1,
                )
                .replacen(
                    r#"runs = "shop_ops.rollcall_runs""#,
                    &format!("runs = {runs:?}"),
                    1,
                )
        };
        let p = Pipeline::parse(&orders(
            "shop_ops.rollcall_failures",
            "shop_ops.rollcall_runs",
        ))
        .unwrap();
        assert_eq!(
            (p.failures_table.as_str(), p.runs_table.as_str()),
            ("shop_ops.rollcall_failures", "shop_ops.rollcall_runs")
        );
        for (failures, runs, why) in [
            ("shop.orders", "ops.runs", "the universe"),
            ("ops.same", "OPS.SAME", "[tables] failures"),
            (
                "ops.failures",
                "rollcall_meta.jobs",
                "Rollcall's own dataset",
            ),
            (
                "shop_metrics.customer_daily_totals",
                "ops.runs",
                "processor DAILY",
            ),
            (
                "ops.failures",
                "nba_precompute.player_daily_cache",
                "the builtin PDC",
            ),
            // Another dataset, but the same staging twin as a command's table.
            (
                "ops.customer_daily_totals",
                "ops.runs",
                "ends like the table of processor DAILY",
            ),
            (
                "ops.orders",
                "ops.runs",
                "ends like the table of the universe",
            ),
        ] {
            let text = orders(failures, runs);
            let e = refused(&text);
            assert!(e.message.contains(why), "{failures}, {runs}: {e:?}");
            let bad = if e.message.contains("[tables] runs") {
                format!("runs = {runs:?}")
            } else {
                format!("failures = {failures:?}")
            };
            assert_eq!(e.line, line_of(&text, &bad), "{e:?}");
        }
        // Two commands whose tables would share a staging twin.
        let text = ORDERS_PIPELINE.replacen(
            r#"output_table = "shop_metrics.customer_loyalty""#,
            r#"output_table = "other.customer_daily_totals""#,
            1,
        );
        let e = refused(&text);
        assert!(e.message.contains("processor LOYALTY"), "{e:?}");
        assert_eq!(
            e.line,
            line_of(&text, "other.customer_daily_totals"),
            "{e:?}"
        );
    }
}
