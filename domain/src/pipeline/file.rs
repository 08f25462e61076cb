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
use crate::processor::{ColumnType, ProcessorId, ProcessorSpec, Runs};
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
    pub(super) runs: Spanned<Runs>,
    #[serde(default)]
    pub(super) command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(super) timeout_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) batch_dates: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) columns: Option<Spanned<Vec<ColumnForm>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ColumnForm {
    pub(super) name: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) ty: ColumnType,
}

impl Pipeline {
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
            // The box scores have their docs/DESIGN.md §2 schema and the demo season.
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
