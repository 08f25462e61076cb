//! The rules a pipeline file must keep beyond its shape: names, tables that
//! never meet, one-condition `expected`, builtins declared as they are.

use std::ops::Range;

use toml::Spanned;

use super::file::{ColumnForm, FileForm};
use super::{
    Universe, DEFAULT_COMMAND_TIMEOUT_SECONDS, MAX_BATCH_DATES, MAX_COMMAND_TIMEOUT_SECONDS,
};
use crate::processor::{Builtin, ColumnSpec, CommandSpec, ProcessorId, ProcessorSpec, Runner};
use crate::DomainError;

/// Columns a command's output table has besides its declared ones.
const RESERVED_COLUMNS: [&str; 2] = ["run_id", "processed_at"];

/// Refuses table names that would make two of Rollcall's writes meet: the
/// failure and run tables must be tables of their own (not the universe, a
/// processor's, a builtin's or Rollcall's `rollcall_meta`), and every table
/// Rollcall stages on BigQuery needs its own twin, `rollcall_meta.staged_<name>`,
/// so their last parts must differ too.
pub(super) fn check_table_names(
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
        // A command writes through a staging twin named after its table's last part.
        let staged = match spec.runner {
            Runner::Command(_) => true,
            Runner::Builtin(_) | Runner::Observe | Runner::Rerun(_) => false,
        };
        if staged {
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
pub(super) fn reserved_dataset(table: &str) -> Option<&'static str> {
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
    // BigQuery escapes quotes with a backslash, DuckDB does not: a string
    // this check and one of them would end in different places is refused.
    if condition.contains('\\') {
        return why("no backslash");
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
pub(super) fn builtin_of(
    spec: &ProcessorSpec,
    earlier: &[ProcessorSpec],
) -> Result<Builtin, String> {
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
        let runs_it = |up: &ProcessorId| earlier[up.order()].runner.builtin() == Some(*need);
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

pub(super) fn command_of(
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

/// The most consecutive days one run of a team's backfill program may be
/// handed (`rerun_batch_days`).
pub const MAX_RERUN_BATCH_DAYS: usize = 366;
/// Days per run of a team's backfill program unless `rerun_batch_days` says.
pub const DEFAULT_RERUN_BATCH_DAYS: usize = 31;
/// What a `rerun` argument may name, filled per run.
pub const RERUN_PLACEHOLDERS: [&str; 3] = ["{start}", "{end}", "{dates}"];

/// An observed processor's `rerun` program: like a command's, its
/// arguments may name only [`RERUN_PLACEHOLDERS`], and it is handed
/// consecutive days, up to `rerun_batch_days` per run.
pub(super) fn rerun_of(
    argv: &[String],
    timeout: Option<&Spanned<u64>>,
    days: Option<&Spanned<usize>>,
) -> Result<CommandSpec, (String, Option<Range<usize>>)> {
    let mut spec = command_of(argv, timeout, None)
        .map_err(|(m, span)| (m.replace("`command`", "`rerun`"), span))?;
    for arg in argv {
        let mut rest = arg.as_str();
        while let Some(open) = rest.find('{') {
            let named = RERUN_PLACEHOLDERS
                .iter()
                .find(|p| rest[open..].starts_with(**p));
            let Some(named) = named else {
                let shown: String = arg.chars().take(60).collect();
                return Err((
                    format!(
                        "`rerun` argument {shown:?}: the placeholders are {}",
                        RERUN_PLACEHOLDERS.join(", ")
                    ),
                    None,
                ));
            };
            rest = &rest[open + named.len()..];
        }
    }
    spec.batch_dates = match days {
        None => DEFAULT_RERUN_BATCH_DAYS,
        Some(d) if (1..=MAX_RERUN_BATCH_DAYS).contains(d.get_ref()) => *d.get_ref(),
        Some(d) => {
            return Err((
                format!(
                    "rerun_batch_days = {}: from 1 to {MAX_RERUN_BATCH_DAYS}",
                    d.get_ref()
                ),
                Some(d.span()),
            ))
        }
    };
    Ok(spec)
}

pub(super) fn columns_of(
    spec: &ProcessorSpec,
    forms: &[ColumnForm],
) -> Result<Vec<ColumnSpec>, (String, Range<usize>)> {
    let keys = [spec.date_column.as_str(), spec.entity_column.as_str()];
    declared_columns(&keys, &RESERVED_COLUMNS, forms)
}

/// Declared columns: identifiers, each once, none of the table's key
/// columns or of those Rollcall adds (`reserved`).
pub(super) fn declared_columns(
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
pub(super) fn check_name(name: &str, max_parts: usize) -> Result<(), String> {
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

pub(super) fn at_offset(text: &str, offset: usize, message: String) -> DomainError {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    DomainError::BadPipeline {
        line,
        column,
        message,
    }
}
