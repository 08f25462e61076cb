//! Adopting a team's warehouse as it is (issue [P]): `[read.failures]` and
//! `[read.runs]` map the columns of the team's own failure table and run
//! log onto what Rollcall reads, and `[categories]` adds the team's
//! spellings to the taxonomy. Rollcall never writes these tables: its own
//! writes go to `[tables]`, and the reads take both (warehouse's
//! `Dialect::failures`/`runs`).

use serde::Deserialize;
use toml::Spanned;

use super::checks::check_condition;
use super::file::Source;
use crate::failure::Taxonomy;
use crate::DomainError;

/// The team's tables Rollcall reads beside its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadTables {
    pub failures: Option<ReadFailures>,
    pub runs: Option<ReadRuns>,
}

/// A team's failure table, column by column. `None`: the table has no such
/// column (its value reads as NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailures {
    pub table: String,
    pub processor: String,
    pub date: String,
    pub entity: String,
    pub category: String,
    pub reason: Option<String>,
    pub run_id: Option<String>,
    pub time: Option<String>,
    pub upstream: Option<String>,
    pub can_retry: Option<String>,
    /// Operator-written SQL: which of the table's rows count (say, not the
    /// resolved ones); one condition, like `expected`.
    pub filter: Option<String>,
}

/// A team's run log, column by column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRuns {
    pub table: String,
    pub processor: String,
    pub date: String,
    pub run_id: String,
    pub time: String,
    pub outcome: RunOutcome,
    pub records: Option<String>,
    pub error: Option<String>,
    pub filter: Option<String>,
}

/// How a run log says how a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// A status column and the values that mean each outcome; any other
    /// value (`running`) is kept as it is written.
    Status {
        column: String,
        success: Vec<String>,
        failure: Vec<String>,
        skipped: Vec<String>,
    },
    /// A boolean column, true when the run succeeded.
    Succeeded { column: String },
}

/// One mapped column: where the file names it and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedColumn<'a> {
    /// `read.failures` or `read.runs`.
    pub section: &'static str,
    /// The key that maps it (`entity`).
    pub key: &'static str,
    pub table: &'a str,
    pub column: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReadForm {
    #[serde(default)]
    failures: Option<FailuresForm>,
    #[serde(default)]
    runs: Option<RunsForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailuresForm {
    table: Spanned<String>,
    processor: Spanned<String>,
    date: Spanned<String>,
    entity: Spanned<String>,
    category: Spanned<String>,
    #[serde(default)]
    reason: Option<Spanned<String>>,
    #[serde(default)]
    run_id: Option<Spanned<String>>,
    #[serde(default)]
    time: Option<Spanned<String>>,
    #[serde(default)]
    upstream: Option<Spanned<String>>,
    #[serde(default)]
    can_retry: Option<Spanned<String>>,
    #[serde(default)]
    filter: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsForm {
    table: Spanned<String>,
    processor: Spanned<String>,
    date: Spanned<String>,
    run_id: Spanned<String>,
    time: Spanned<String>,
    #[serde(default)]
    status: Option<Spanned<String>>,
    #[serde(default)]
    success_values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    failure_values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    skipped_values: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    succeeded: Option<Spanned<String>>,
    #[serde(default)]
    records: Option<Spanned<String>>,
    #[serde(default)]
    error: Option<Spanned<String>>,
    #[serde(default)]
    filter: Option<Spanned<String>>,
}

impl ReadForm {
    /// The span of `key` in `section`, for an error only a store can find
    /// (a mapped column the table lacks).
    pub(super) fn span_of(&self, section: &str, key: &str) -> Option<std::ops::Range<usize>> {
        let opt = |s: &Option<Spanned<String>>| s.as_ref().map(Spanned::span);
        match section {
            "read.failures" => {
                let f = self.failures.as_ref()?;
                match key {
                    "table" => Some(f.table.span()),
                    "processor" => Some(f.processor.span()),
                    "date" => Some(f.date.span()),
                    "entity" => Some(f.entity.span()),
                    "category" => Some(f.category.span()),
                    "reason" => opt(&f.reason),
                    "run_id" => opt(&f.run_id),
                    "time" => opt(&f.time),
                    "upstream" => opt(&f.upstream),
                    "can_retry" => opt(&f.can_retry),
                    "filter" => opt(&f.filter),
                    _ => None,
                }
            }
            "read.runs" => {
                let r = self.runs.as_ref()?;
                match key {
                    "table" => Some(r.table.span()),
                    "processor" => Some(r.processor.span()),
                    "date" => Some(r.date.span()),
                    "run_id" => Some(r.run_id.span()),
                    "time" => Some(r.time.span()),
                    "status" => opt(&r.status),
                    "succeeded" => opt(&r.succeeded),
                    "records" => opt(&r.records),
                    "error" => opt(&r.error),
                    "filter" => opt(&r.filter),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// `[read]`: the team's tables, checked as names (whether the columns
/// exist only the store can tell: `Pipeline::mapped_columns`).
pub(super) fn read_of(src: &Source, form: Option<&ReadForm>) -> Result<ReadTables, DomainError> {
    let Some(form) = form else {
        return Ok(ReadTables::default());
    };
    let column = |s: &Spanned<String>| src.column(s);
    let optional = |s: &Option<Spanned<String>>| s.as_ref().map(column).transpose();
    let filter = |s: &Option<Spanned<String>>| -> Result<Option<String>, DomainError> {
        let Some(s) = s else { return Ok(None) };
        check_condition(s.get_ref())
            .map_err(|m| src.err(s.span(), m.replace("`expected`", "`filter`")))?;
        Ok(Some(s.get_ref().trim().to_string()))
    };
    let failures = match &form.failures {
        None => None,
        Some(f) => Some(ReadFailures {
            table: src.table(&f.table)?,
            processor: column(&f.processor)?,
            date: column(&f.date)?,
            entity: column(&f.entity)?,
            category: column(&f.category)?,
            reason: optional(&f.reason)?,
            run_id: optional(&f.run_id)?,
            time: optional(&f.time)?,
            upstream: optional(&f.upstream)?,
            can_retry: optional(&f.can_retry)?,
            filter: filter(&f.filter)?,
        }),
    };
    let runs = match &form.runs {
        None => None,
        Some(r) => Some(ReadRuns {
            table: src.table(&r.table)?,
            processor: column(&r.processor)?,
            date: column(&r.date)?,
            run_id: column(&r.run_id)?,
            time: column(&r.time)?,
            outcome: outcome_of(src, r)?,
            records: optional(&r.records)?,
            error: optional(&r.error)?,
            filter: filter(&r.filter)?,
        }),
    };
    Ok(ReadTables { failures, runs })
}

/// A status column with its values, or a success boolean: one of them.
fn outcome_of(src: &Source, r: &RunsForm) -> Result<RunOutcome, DomainError> {
    let values_keys = [
        ("success_values", &r.success_values),
        ("failure_values", &r.failure_values),
        ("skipped_values", &r.skipped_values),
    ];
    match (&r.status, &r.succeeded) {
        (Some(status), None) => {
            let mut lists: Vec<Vec<String>> = Vec::new();
            for (key, values) in values_keys {
                let list = values
                    .as_ref()
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_default();
                for v in &list {
                    // Values become SQL string literals.
                    let safe = !v.is_empty()
                        && v.len() <= 64
                        && v.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_- ".contains(c));
                    if !safe {
                        let span = values.as_ref().map_or(status.span(), Spanned::span);
                        return Err(src.err(
                            span,
                            format!(
                                "{key}: {v:?} is not 1 to 64 letters, digits, `_`, `-` or spaces"
                            ),
                        ));
                    }
                }
                lists.push(list);
            }
            if lists[0].is_empty() || lists[1].is_empty() {
                return Err(src.err(
                    status.span(),
                    "a status column needs success_values and failure_values (the values \
                     that mean a run succeeded or failed)"
                        .into(),
                ));
            }
            let skipped = lists.pop().unwrap_or_default();
            let failure = lists.pop().unwrap_or_default();
            let success = lists.pop().unwrap_or_default();
            Ok(RunOutcome::Status {
                column: src.column(status)?,
                success,
                failure,
                skipped,
            })
        }
        (None, Some(succeeded)) => {
            if let Some((key, Some(v))) = values_keys.iter().find(|(_, v)| v.is_some()) {
                return Err(src.err(
                    v.span(),
                    format!("{key} is for a status column; `succeeded` is a boolean column"),
                ));
            }
            Ok(RunOutcome::Succeeded {
                column: src.column(succeeded)?,
            })
        }
        (Some(status), Some(_)) => Err(src.err(
            status.span(),
            "declare either `status` (with its values) or `succeeded` (a boolean), not both".into(),
        )),
        (None, None) => Err(src.err(
            r.table.span(),
            "[read.runs] says how a run ended: `status` with success_values and \
             failure_values, or `succeeded`, a boolean column"
                .into(),
        )),
    }
}

/// `[categories]`: the team's spellings, each `"expected"`,
/// `"investigate"` or one of Rollcall's categories.
pub(super) fn categories_of(
    src: &Source,
    form: Option<&CategoriesForm>,
) -> Result<Taxonomy, DomainError> {
    let mut taxonomy = Taxonomy::default();
    for (spelling, meaning) in form.into_iter().flatten() {
        taxonomy
            .declare(spelling.get_ref(), meaning.get_ref())
            .map_err(|m| src.err(spelling.span(), format!("[categories] {m}")))?;
    }
    Ok(taxonomy)
}

/// `[categories]` as written: spelling = meaning.
pub(super) type CategoriesForm = std::collections::BTreeMap<Spanned<String>, Spanned<String>>;

impl super::Pipeline {
    /// Every column `[read]` maps, for the store to check at open.
    pub fn mapped_columns(&self) -> Vec<MappedColumn<'_>> {
        let mut out = Vec::new();
        if let Some(f) = &self.read.failures {
            let columns: [(&'static str, Option<&String>); 9] = [
                ("processor", Some(&f.processor)),
                ("date", Some(&f.date)),
                ("entity", Some(&f.entity)),
                ("category", Some(&f.category)),
                ("reason", f.reason.as_ref()),
                ("run_id", f.run_id.as_ref()),
                ("time", f.time.as_ref()),
                ("upstream", f.upstream.as_ref()),
                ("can_retry", f.can_retry.as_ref()),
            ];
            out.extend(columns.into_iter().filter_map(|(key, c)| {
                Some(MappedColumn {
                    section: "read.failures",
                    key,
                    table: &f.table,
                    column: c?,
                })
            }));
        }
        if let Some(r) = &self.read.runs {
            let status = match &r.outcome {
                RunOutcome::Status { column, .. } => ("status", column),
                RunOutcome::Succeeded { column } => ("succeeded", column),
            };
            let columns: [(&'static str, Option<&String>); 7] = [
                ("processor", Some(&r.processor)),
                ("date", Some(&r.date)),
                ("run_id", Some(&r.run_id)),
                ("time", Some(&r.time)),
                (status.0, Some(status.1)),
                ("records", r.records.as_ref()),
                ("error", r.error.as_ref()),
            ];
            out.extend(columns.into_iter().filter_map(|(key, c)| {
                Some(MappedColumn {
                    section: "read.runs",
                    key,
                    table: &r.table,
                    column: c?,
                })
            }));
        }
        out
    }

    /// `message` placed at `[section] key` in the file's text (for what
    /// only a store can tell: a mapped column its table lacks).
    pub fn at_mapped(text: &str, section: &str, key: &str, message: String) -> DomainError {
        let at = toml::from_str::<super::file::FileForm>(text)
            .ok()
            .and_then(|f| f.read.and_then(|r| r.span_of(section, key)))
            .map_or(0, |s| s.start);
        super::checks::at_offset(text, at, message)
    }
}
