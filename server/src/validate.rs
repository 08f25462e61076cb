//! `rollcall validate` output: the original script's shape (table), plus JSON
//! and CSV with the same numbers.

use domain::pipeline::Pipeline;
use std::fmt::Write as _;

use domain::report::CellStatus;
use domain::report::Reconciliation;
use serde::Serialize;

use crate::error::ServerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    /// The reconciliation tables as Markdown, for a handoff note.
    Markdown,
}

/// The version of `validate --format json`'s shape (README, "Orchestrators
/// call Rollcall"): a field removed or changing meaning bumps it; a field
/// added does not.
pub const JSON_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonReport<'a> {
    format_version: u32,
    start: String,
    end: String,
    unaccounted: i64,
    /// Unaccounted but acknowledged: still gaps, counted apart (a clean
    /// range may have some).
    acknowledged: i64,
    /// When the acknowledgements in force over the range expire: the
    /// first and the last.
    acknowledgements_expire: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
    investigate: i64,
    clean: bool,
    /// Nobody at all was expected in the range (no universe rows there).
    nothing_expected: bool,
    totals: Vec<(String, domain::report::Totals)>,
    cells: Vec<JsonCell<'a>>,
    rerun_commands: Vec<String>,
}

/// One cell: the processor by its code (once: `CellCounts` would add its
/// position under the same key), its status, coverage and counts, and the
/// latest run when it failed.
#[derive(Serialize)]
struct JsonCell<'a> {
    processor: &'a str,
    date: chrono::NaiveDate,
    status: &'static str,
    coverage: f64,
    expected: i64,
    has_record: i64,
    has_failure: i64,
    date_level: bool,
    unaccounted: i64,
    acknowledged: i64,
    investigate: i64,
    runs: i64,
    conflict: i64,
    extra: i64,
    cascade: i64,
    failures_by_category: &'a std::collections::BTreeMap<String, i64>,
    last_run: Option<&'a domain::report::LastRun>,
    /// The latest run failed; any rows counted are an earlier run's.
    failed_run: Option<String>,
    serves_older_run: bool,
}

impl<'a> JsonCell<'a> {
    fn of(pipeline: &'a Pipeline, c: &'a domain::report::CellCounts) -> Self {
        JsonCell {
            processor: pipeline.code(c.processor),
            date: c.date,
            status: c.status().code(),
            coverage: c.coverage(),
            expected: c.expected,
            has_record: c.has_record,
            has_failure: c.has_failure,
            date_level: c.date_level,
            unaccounted: c.unaccounted,
            acknowledged: c.acknowledged,
            investigate: c.investigate,
            runs: c.runs,
            conflict: c.conflict,
            extra: c.extra,
            cascade: c.cascade,
            failures_by_category: &c.failures_by_category,
            last_run: c.last_run.as_ref(),
            failed_run: c.failed_run().map(|r| r.failure_summary()),
            serves_older_run: c.serves_older_run(),
        }
    }
}

/// `program` starts the printed re-run commands (`Config::command_prefix`);
/// `expiries`: when the acknowledgements in force over the range expire
/// (the first and the last), if any.
pub fn render(
    pipeline: &Pipeline,
    rec: &Reconciliation,
    format: Format,
    details: bool,
    reconcile: bool,
    program: &str,
    expiries: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
) -> Result<String, ServerError> {
    match format {
        Format::Json => {
            let report = JsonReport {
                format_version: JSON_FORMAT_VERSION,
                start: rec.range.start().to_string(),
                end: rec.range.end().to_string(),
                unaccounted: rec.unaccounted(),
                acknowledged: rec.acknowledged(),
                acknowledgements_expire: expiries,
                investigate: rec.investigate(),
                clean: rec.is_clean(),
                nothing_expected: rec.cells.iter().all(|c| c.expected == 0),
                totals: rec
                    .processors
                    .iter()
                    .map(|p| (pipeline.code(*p).to_string(), rec.totals(*p)))
                    .collect(),
                cells: rec
                    .cells
                    .iter()
                    .map(|c| JsonCell::of(pipeline, c))
                    .collect(),
                rerun_commands: rec.rerun_commands(pipeline, program),
            };
            Ok(serde_json::to_string_pretty(&report)? + "\n")
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "processor",
                "date",
                "status",
                "expected",
                "has_record",
                "has_failure",
                "date_level",
                "unaccounted",
                "acknowledged",
                "investigate",
                "conflict",
                "extra",
                "cascade",
                "coverage",
                "failed_run",
            ])?;
            for c in &rec.cells {
                w.write_record([
                    pipeline.code(c.processor).to_string(),
                    c.date.to_string(),
                    c.status().code().to_string(),
                    c.expected.to_string(),
                    c.has_record.to_string(),
                    c.has_failure.to_string(),
                    c.date_level.to_string(),
                    c.unaccounted.to_string(),
                    c.acknowledged.to_string(),
                    c.investigate.to_string(),
                    c.conflict.to_string(),
                    c.extra.to_string(),
                    c.cascade.to_string(),
                    format!("{:.4}", c.coverage()),
                    c.failed_run()
                        .map(|r| r.failure_summary())
                        .unwrap_or_default(),
                ])?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| ServerError::Csv(e.into_error().into()))?;
            String::from_utf8(bytes).map_err(|e| ServerError::failed("CSV output", e))
        }
        Format::Table => Ok(table(pipeline, rec, details, reconcile, program, expiries)),
        Format::Markdown => Ok(markdown(pipeline, rec)),
    }
}

/// The line under a processor's TOTAL: all accounted for, or how many
/// are not (the original script's words; the Markdown handoff's too).
fn verdict(pipeline: &Pipeline, t: &domain::report::Totals) -> String {
    let u = &pipeline.universe;
    if t.unaccounted == 0 {
        return format!("All {} accounted for (record or failure)", u.entities());
    }
    let never_run = if t.unaccounted_not_run > 0 {
        format!(" ({} of them in cells never run)", t.unaccounted_not_run)
    } else {
        String::new()
    };
    format!(
        "WARNING: {} {} unaccounted for{never_run} - need investigation!",
        u.count(t.unaccounted),
        if t.unaccounted == 1 { "is" } else { "are" }
    )
}

/// A cell's failures as `validate` counts them: a date-level failure
/// accounts for everyone without a record.
fn failures(c: &domain::report::CellCounts) -> i64 {
    if c.date_level {
        c.expected - c.has_record
    } else {
        c.has_failure
    }
}

/// The handoff note's tables (issue [O] 3): per processor `validate
/// --reconcile`'s columns as Markdown, a TOTAL row, the verdict line.
pub fn markdown(pipeline: &Pipeline, rec: &Reconciliation) -> String {
    let mut s = format!(
        "## Reconciliation {} to {}\n",
        rec.range.start(),
        rec.range.end()
    );
    // Text from the pipeline file or a failure row could break a table.
    let cell_text = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    for p in &rec.processors {
        let t = rec.totals(*p);
        let _ = writeln!(
            s,
            "\n### {} ({})\n\n| Date | Expected | Has Record | Has Failure | Unaccounted | Coverage |\n|---|---:|---:|---:|---:|---:|",
            cell_text(pipeline.code(*p)),
            cell_text(&pipeline.spec(*p).name)
        );
        for c in rec.cells_of(*p) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.1}% |",
                c.date,
                c.expected,
                c.has_record,
                failures(c),
                c.unaccounted,
                c.coverage() * 100.0
            );
        }
        let _ = writeln!(
            s,
            "| **TOTAL** | {} | {} | {} | {} | {:.1}% |\n\n{}",
            t.expected,
            t.has_record,
            t.has_failure,
            t.unaccounted,
            t.coverage * 100.0,
            verdict(pipeline, &t)
        );
    }
    s
}

fn table(
    pipeline: &Pipeline,
    rec: &Reconciliation,
    details: bool,
    reconcile: bool,
    program: &str,
    expiries: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Validation {} to {} ({} processors)",
        rec.range.start(),
        rec.range.end(),
        rec.processors.len()
    );
    if rec.cells.iter().all(|c| c.expected == 0) {
        // Not "100 %": nobody was there to count (no upstream rows at all).
        let u = &pipeline.universe;
        let _ = writeln!(
            s,
            "Nothing was expected: {} has no rows that make a {} expected from {} to {} \
             (did the upstream load run? `--require-expected` makes this exit 1)",
            u.table,
            u.entity(),
            rec.range.start(),
            rec.range.end()
        );
    }
    for p in &rec.processors {
        let t = rec.totals(*p);
        let _ = writeln!(s, "\n{} ({})", pipeline.code(*p), pipeline.spec(*p).name);
        if reconcile {
            let _ = writeln!(
                s,
                "{:<12} {:>9} {:>11} {:>12} {:>12} {:>9}",
                "Date", "Expected", "Has Record", "Has Failure", "Unaccounted", "Coverage"
            );
            for c in rec.cells_of(*p) {
                let failure = failures(c);
                let _ = writeln!(
                    s,
                    "{:<12} {:>9} {:>11} {:>12} {:>12} {:>8.1}%{}",
                    c.date.to_string(),
                    c.expected,
                    c.has_record,
                    failure,
                    c.unaccounted,
                    c.coverage() * 100.0,
                    if c.failed_run().is_some() {
                        "  RUN FAILED"
                    } else {
                        ""
                    }
                );
            }
            let _ = writeln!(
                s,
                "{:<12} {:>9} {:>11} {:>12} {:>12} {:>8.1}%",
                "TOTAL",
                t.expected,
                t.has_record,
                t.has_failure,
                t.unaccounted,
                t.coverage * 100.0
            );
            let _ = writeln!(s, "{}", verdict(pipeline, &t));
        } else {
            let statuses = t
                .cells_by_status
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                s,
                "  dates: {}  expected {}  records {}  failures {}  unaccounted {}  coverage {:.1}%",
                statuses,
                t.expected,
                t.has_record,
                t.has_failure,
                t.unaccounted,
                t.coverage * 100.0
            );
        }
        if details && !reconcile {
            for c in rec.cells_of(*p) {
                let _ = writeln!(
                    s,
                    "  {}  {:<13} expected {:>4}  record {:>4}  failure {:>4}  unaccounted {:>4}{}",
                    c.date,
                    c.status().code(),
                    c.expected,
                    c.has_record,
                    c.has_failure,
                    c.unaccounted,
                    if c.date_level { "  (date-level)" } else { "" }
                );
            }
        }
    }
    let investigate: Vec<_> = rec
        .cells
        .iter()
        .filter(|c| c.investigate > 0 || c.status() == CellStatus::Investigate)
        .collect();
    if !investigate.is_empty() {
        let _ = writeln!(s, "\nErrors requiring investigation:");
        for c in investigate {
            let cats = c
                .failures_by_category
                .iter()
                .filter(|(k, _)| !pipeline.categories.is_expected_code(k))
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(s, "  {} {}: {}", pipeline.code(c.processor), c.date, cats);
        }
    }
    let failed: Vec<_> = rec
        .cells
        .iter()
        .filter(|c| c.failed_run().is_some())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "\nCells whose latest run failed (not a silent drop):");
        for c in failed {
            let older = if c.serves_older_run() {
                " [rows shown are from an earlier run]"
            } else {
                ""
            };
            if let Some(run) = c.failed_run() {
                let _ = writeln!(
                    s,
                    "  {} {}: {}{older}",
                    pipeline.code(c.processor),
                    c.date,
                    run.failure_summary()
                );
            }
        }
    }
    let acknowledged = rec.acknowledged();
    if acknowledged > 0 {
        let until = match expiries {
            Some((first, last)) if first == last => {
                format!("; they expire {}", first.format("%Y-%m-%d %H:%M UTC"))
            }
            Some((first, last)) => format!(
                "; they expire from {} to {}",
                first.format("%Y-%m-%d %H:%M"),
                last.format("%Y-%m-%d %H:%M UTC")
            ),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "\nAcknowledged: {} still unaccounted but known (counted apart, not accounted for){until}. \
             List them: {program} ack --list",
            pipeline.universe.count(acknowledged),
        );
    }
    let cmds = rec.rerun_commands(pipeline, program);
    if !cmds.is_empty() {
        let _ = writeln!(
            s,
            "\nTo re-run the cells that are not OK (in dependency order):"
        );
        for c in cmds {
            let _ = writeln!(s, "  {c}");
        }
    }
    s
}
