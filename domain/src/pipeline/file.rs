//! Reading a pipeline file: the TOML forms and [`Pipeline::parse`], one
//! function per part of the file.

use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::checks::{
    at_offset, builtin_of, check_condition, check_name, check_table_names, columns_of, command_of,
    declared_columns,
};
use super::{Pipeline, Universe, MAX_PROCESSORS, NBA_UNIVERSE_TABLE};
use crate::processor::{ColumnType, ProcessorId, ProcessorSpec, Runner};
use crate::DomainError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileForm {
    pub(super) universe: UniverseForm,
    pub(super) tables: TablesForm,
    #[serde(default)]
    pub(super) view: Option<ViewForm>,
    #[serde(rename = "processor")]
    pub(super) processors: Vec<ProcessorForm>,
    #[serde(default)]
    pub(super) watch: Option<super::watching::WatchForm>,
    #[serde(default, rename = "alert")]
    pub(super) alerts: Vec<super::watching::AlertForm>,
    #[serde(default)]
    pub(super) read: Option<super::adopt::ReadForm>,
    #[serde(default)]
    pub(super) categories: Option<super::adopt::CategoriesForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UniverseForm {
    pub(super) table: Spanned<String>,
    pub(super) date_column: Spanned<String>,
    pub(super) entity_column: Spanned<String>,
    pub(super) expected: Spanned<String>,
    #[serde(default)]
    pub(super) columns: Option<Spanned<Vec<ColumnForm>>>,
    #[serde(default)]
    pub(super) demo: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) entity_name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) entities_name: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ViewForm {
    pub(super) start: Spanned<String>,
    pub(super) end: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TablesForm {
    pub(super) failures: Spanned<String>,
    pub(super) runs: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProcessorForm {
    pub(super) code: Spanned<String>,
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) spellings: Vec<Spanned<String>>,
    pub(super) output_table: Spanned<String>,
    pub(super) date_column: Spanned<String>,
    pub(super) entity_column: Spanned<String>,
    #[serde(default)]
    pub(super) depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) min_games: usize,
    pub(super) runs: Spanned<RunsWord>,
    #[serde(default)]
    pub(super) command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(super) timeout_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) batch_dates: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) columns: Option<Spanned<Vec<ColumnForm>>>,
    #[serde(default)]
    pub(super) rerun: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(super) rerun_batch_days: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) expected_by: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) lag_days: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ColumnForm {
    pub(super) name: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) ty: ColumnType,
}

/// The `runs = "…"` word as written; [`Pipeline::parse`] turns it into a
/// [`Runner`] once the processor's other keys are read.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum RunsWord {
    Builtin,
    Command,
    Observe,
}

impl RunsWord {
    fn name(self) -> &'static str {
        match self {
            RunsWord::Builtin => "builtin",
            RunsWord::Command => "command",
            RunsWord::Observe => "observe",
        }
    }
}

/// The file's text, for errors that point at a line and column.
pub(super) struct Source<'a>(&'a str);

impl Source<'_> {
    pub(super) fn err(&self, span: Range<usize>, message: String) -> DomainError {
        at_offset(self.0, span.start, message)
    }

    /// A `dataset.table` name.
    pub(super) fn table(&self, s: &Spanned<String>) -> Result<String, DomainError> {
        check_name(s.get_ref(), 2).map_err(|m| self.err(s.span(), m))?;
        Ok(s.get_ref().clone())
    }

    pub(super) fn column(&self, s: &Spanned<String>) -> Result<String, DomainError> {
        check_name(s.get_ref(), 1).map_err(|m| self.err(s.span(), m))?;
        Ok(s.get_ref().clone())
    }

    /// A word the pages use for the entities (`player`, `orders`).
    fn word(&self, key: &str, name: &Spanned<String>) -> Result<String, DomainError> {
        let n = name.get_ref();
        let word = !n.is_empty()
            && n.len() <= 32
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '-');
        if !word {
            return Err(self.err(
                name.span(),
                format!("{key} = {n:?}: 1 to 32 lowercase letters, spaces or -"),
            ));
        }
        Ok(n.clone())
    }
}

impl Pipeline {
    /// `message` about the file's `expected`, placed at its line and column
    /// (for what only a store can tell: a column the condition names that
    /// the universe table lacks).
    pub fn at_expected(text: &str, message: String) -> DomainError {
        let at = toml::from_str::<FileForm>(text).map_or(0, |f| f.universe.expected.span().start);
        at_offset(text, at, message)
    }

    /// Reads and checks a pipeline file: the universe, then each processor
    /// in order (each may depend only on those before it), then the tables
    /// across all of them. An error names the line and column.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let form: FileForm = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            at_offset(text, at, e.message().to_string())
        })?;
        let src = Source(text);
        let universe = universe_of(&src, &form.universe)?;
        if form.processors.is_empty() {
            return Err(at_offset(
                text,
                0,
                "the pipeline declares no [[processor]]".into(),
            ));
        }
        if let Some(extra) = form.processors.get(MAX_PROCESSORS) {
            return Err(src.err(
                extra.code.span(),
                format!("a pipeline has at most {MAX_PROCESSORS} processors"),
            ));
        }
        let mut spelled: HashSet<String> = HashSet::new();
        let mut processors: Vec<ProcessorSpec> = Vec::new();
        for (order, p) in form.processors.iter().enumerate() {
            check_spellings(&src, p, &mut spelled)?;
            let spec = processor_of(&src, &universe, &processors, order, p)?;
            processors.push(spec);
        }
        let default_view = view_of(&src, form.view.as_ref())?;
        let failures_table = src.table(&form.tables.failures)?;
        let runs_table = src.table(&form.tables.runs)?;
        check_table_names(&universe, &processors, &form).map_err(|(m, span)| src.err(span, m))?;
        let watch = super::watching::watch_of(&src, form.watch.as_ref())?;
        let alerts = super::watching::alerts_of(&src, &form.alerts)?;
        let read = super::adopt::read_of(&src, form.read.as_ref())?;
        check_read_names(&src, &form, &read, &failures_table, &runs_table)?;
        let categories = super::adopt::categories_of(&src, form.categories.as_ref())?;
        Ok(Pipeline {
            read,
            categories,
            universe,
            default_view,
            failures_table,
            runs_table,
            processors,
            directory: String::new(),
            watch,
            alerts,
        })
    }
}

/// `[universe]`: the table every expected entity comes from.
fn universe_of(src: &Source, u: &UniverseForm) -> Result<Universe, DomainError> {
    check_condition(u.expected.get_ref()).map_err(|m| src.err(u.expected.span(), m))?;
    let mut universe = Universe {
        table: src.table(&u.table)?,
        date_column: src.column(&u.date_column)?,
        entity_column: src.column(&u.entity_column)?,
        expected: u.expected.get_ref().trim().to_string(),
        columns: Vec::new(),
        demo: String::new(),
        entity_name: String::new(),
        entities_name: String::new(),
    };
    universe.entity_name = match &u.entity_name {
        Some(name) => src.word("entity_name", name)?,
        None if universe.is_nba() => "player".into(),
        None => String::new(),
    };
    if let Some(plural) = &u.entities_name {
        if u.entity_name.is_none() {
            return Err(src.err(
                plural.span(),
                "entities_name needs entity_name (the singular) beside it".into(),
            ));
        }
        universe.entities_name = src.word("entities_name", plural)?;
    }
    if universe.is_nba() {
        check_nba_universe(src, u, &universe)?;
        return Ok(universe);
    }
    if let Some(cols) = &u.columns {
        let keys = [
            universe.date_column.as_str(),
            universe.entity_column.as_str(),
        ];
        universe.columns =
            declared_columns(&keys, &[], cols.get_ref()).map_err(|(m, span)| src.err(span, m))?;
    }
    if let Some(demo) = &u.demo {
        let path = demo.get_ref();
        let relative = !path.is_empty()
            && !path.starts_with('/')
            && !path.split(['/', '\\']).any(|part| part == "..")
            && !path.contains('\0');
        if !relative {
            return Err(src.err(
                demo.span(),
                format!(
                    "demo = {path:?}: a file beside the pipeline file (a relative path, no `..`)"
                ),
            ));
        }
        universe.demo = path.clone();
    }
    Ok(universe)
}

/// The box scores have their docs/DESIGN.md §2 schema and the demo season:
/// a file declares only their name and keys.
fn check_nba_universe(
    src: &Source,
    u: &UniverseForm,
    universe: &Universe,
) -> Result<(), DomainError> {
    let keys = (
        universe.date_column.as_str(),
        universe.entity_column.as_str(),
    );
    if keys != ("game_date", "player_lookup") {
        return Err(src.err(
            u.date_column.span(),
            format!(
                "{NBA_UNIVERSE_TABLE} is keyed by game_date and player_lookup; declare exactly those"
            ),
        ));
    }
    if let Some(cols) = &u.columns {
        return Err(src.err(
            cols.span(),
            format!("{NBA_UNIVERSE_TABLE} has its own columns: declare none"),
        ));
    }
    if let Some(demo) = &u.demo {
        return Err(src.err(
            demo.span(),
            format!("{NBA_UNIVERSE_TABLE}'s demo is the generated season: declare none"),
        ));
    }
    Ok(())
}

/// The code, name and spellings: each a safe SQL literal, none naming
/// another processor.
fn check_spellings(
    src: &Source,
    p: &ProcessorForm,
    spelled: &mut HashSet<String>,
) -> Result<(), DomainError> {
    let code = p.code.get_ref();
    let valid_code = !code.is_empty()
        && code.len() <= 16
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid_code {
        return Err(src.err(
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
            return Err(src.err(s.span(), "a processor spelling is empty".into()));
        }
        // Spellings become SQL string literals (`reconcile::processor_code_sql`).
        let literal_safe = s.get_ref().len() <= 128
            && s.get_ref()
                .chars()
                .all(|c| c == ' ' || c.is_ascii_graphic())
            && !s.get_ref().contains(['\'', '"', '\\']);
        if !literal_safe {
            return Err(src.err(
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
            return Err(src.err(
                s.span(),
                format!("{:?} already names another processor", s.get_ref()),
            ));
        }
    }
    Ok(())
}

/// One `[[processor]]`, its dependencies among `earlier`.
fn processor_of(
    src: &Source,
    universe: &Universe,
    earlier: &[ProcessorSpec],
    order: usize,
    p: &ProcessorForm,
) -> Result<ProcessorSpec, DomainError> {
    let code = p.code.get_ref();
    let mut depends_on = Vec::new();
    for up in &p.depends_on {
        let Some(declared) = earlier.iter().find(|d| d.code == *up.get_ref()) else {
            return Err(src.err(
                up.span(),
                format!(
                    "{code} depends on {:?}, which is not declared before it",
                    up.get_ref()
                ),
            ));
        };
        depends_on.push(declared.id);
    }
    let mut spec = ProcessorSpec {
        id: ProcessorId::at(order),
        code: code.clone(),
        name: p.name.get_ref().clone(),
        spellings: p.spellings.iter().map(|s| s.get_ref().clone()).collect(),
        output_table: src.table(&p.output_table)?,
        date_column: src.column(&p.date_column)?,
        entity_column: src.column(&p.entity_column)?,
        depends_on,
        min_games: p.min_games,
        runner: Runner::Observe,
        columns: Vec::new(),
        deadline: super::watching::deadline_of(src, p.expected_by.as_ref(), p.lag_days.as_ref())?,
    };
    let runs = *p.runs.get_ref();
    spec.runner = match runs {
        RunsWord::Builtin if !universe.is_nba() => {
            return Err(src.err(
                p.runs.span(),
                format!(
                    "{code}: the builtin processors read the NBA box scores \
                     ([universe] table = {NBA_UNIVERSE_TABLE:?}); this universe is {:?}: \
                     run it as a command",
                    universe.table
                ),
            ))
        }
        RunsWord::Builtin => {
            Runner::Builtin(builtin_of(&spec, earlier).map_err(|m| src.err(p.runs.span(), m))?)
        }
        RunsWord::Command => {
            let Some(argv) = &p.command else {
                return Err(src.err(
                    p.runs.span(),
                    format!(
                        "{code} runs as a command: declare `command = [\"program\", \"arg\", …]`"
                    ),
                ));
            };
            if let Some(cols) = &p.columns {
                spec.columns =
                    columns_of(&spec, cols.get_ref()).map_err(|(m, span)| src.err(span, m))?;
            }
            Runner::Command(
                command_of(
                    argv.get_ref(),
                    p.timeout_seconds.as_ref(),
                    p.batch_dates.as_ref(),
                )
                .map_err(|(m, span)| src.err(span.unwrap_or(argv.span()), m))?,
            )
        }
        RunsWord::Observe => match &p.rerun {
            None => Runner::Observe,
            Some(argv) => Runner::Rerun(
                super::checks::rerun_of(
                    argv.get_ref(),
                    p.timeout_seconds.as_ref(),
                    p.rerun_batch_days.as_ref(),
                )
                .map_err(|(m, span)| src.err(span.unwrap_or(argv.span()), m))?,
            ),
        },
    };
    if !matches!(runs, RunsWord::Command) {
        refuse_command_keys(src, p, runs)?;
    }
    if !matches!(runs, RunsWord::Observe) {
        let rerun_keys = [
            ("rerun", p.rerun.as_ref().map(Spanned::span)),
            (
                "rerun_batch_days",
                p.rerun_batch_days.as_ref().map(Spanned::span),
            ),
        ];
        if let Some((key, span)) = rerun_keys
            .into_iter()
            .find_map(|(key, span)| Some((key, span?)))
        {
            return Err(src.err(
                span,
                format!(
                    "{code}: `{key}` is for an observed processor (runs = \"observe\"), \
                     whose team program Rollcall starts to re-run it"
                ),
            ));
        }
    } else if p.rerun.is_none() {
        if let Some(days) = &p.rerun_batch_days {
            return Err(src.err(
                days.span(),
                format!("{code}: `rerun_batch_days` needs `rerun = [\"program\", …]`"),
            ));
        }
    }
    Ok(spec)
}

/// A builtin or observed processor declares no command keys.
fn refuse_command_keys(src: &Source, p: &ProcessorForm, runs: RunsWord) -> Result<(), DomainError> {
    // An observed processor's `rerun` program has a time limit too.
    let timed = matches!(runs, RunsWord::Observe) && p.rerun.is_some();
    let keys = [
        ("command", p.command.as_ref().map(Spanned::span)),
        (
            "timeout_seconds",
            p.timeout_seconds
                .as_ref()
                .filter(|_| !timed)
                .map(Spanned::span),
        ),
        ("batch_dates", p.batch_dates.as_ref().map(Spanned::span)),
        ("columns", p.columns.as_ref().map(Spanned::span)),
    ];
    match keys.into_iter().find_map(|(key, span)| Some((key, span?))) {
        Some((key, span)) => Err(src.err(
            span,
            format!(
                "{}: `{key}` is only for runs = \"command\" (this one runs as {})",
                p.code.get_ref(),
                runs.name()
            ),
        )),
        None => Ok(()),
    }
}

/// `[view]`: the range the dashboard opens on.
fn view_of(src: &Source, view: Option<&ViewForm>) -> Result<Option<crate::DateRange>, DomainError> {
    let Some(v) = view else {
        return Ok(None);
    };
    let date = |s: &Spanned<String>, field| {
        crate::dates::parse_date(field, s.get_ref()).map_err(|e| src.err(s.span(), e.to_string()))
    };
    let (start, end) = (date(&v.start, "start")?, date(&v.end, "end")?);
    crate::DateRange::new(start, end, crate::DEFAULT_MAX_RANGE_DAYS)
        .map(Some)
        .map_err(|e| src.err(v.start.span(), format!("[view]: {e}")))
}

/// A table Rollcall only reads is never one it writes: not `[tables]`, a
/// processor's or Rollcall's own dataset.
fn check_read_names(
    src: &Source,
    form: &FileForm,
    read: &super::ReadTables,
    failures_table: &str,
    runs_table: &str,
) -> Result<(), DomainError> {
    let tables = [
        (
            "read.failures",
            read.failures.as_ref().map(|f| f.table.as_str()),
        ),
        ("read.runs", read.runs.as_ref().map(|r| r.table.as_str())),
    ];
    for (section, table) in tables {
        let Some(table) = table else { continue };
        let written = [
            Some(("[tables] failures", failures_table)),
            Some(("[tables] runs", runs_table)),
        ]
        .into_iter()
        .flatten()
        .chain(
            form.processors
                .iter()
                .map(|p| ("an output_table", p.output_table.get_ref().as_str())),
        )
        .find(|(_, t)| t.eq_ignore_ascii_case(table));
        let why = match (written, super::checks::reserved_dataset(table)) {
            (Some((who, _)), _) => format!(
                "it is {who}, which Rollcall writes; Rollcall never writes a table it only reads"
            ),
            (None, Some(why)) => why.to_string(),
            (None, None) => continue,
        };
        let at = form
            .read
            .as_ref()
            .and_then(|r| r.span_of(section, "table"))
            .unwrap_or_default();
        return Err(src.err(at, format!("[{section}] table = {table:?}: {why}")));
    }
    Ok(())
}
