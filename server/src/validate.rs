//! `rollcall validate` output: the original script's shape (table), plus JSON
//! and CSV with the same numbers.

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
}

#[derive(Serialize)]
struct JsonReport<'a> {
    start: String,
    end: String,
    unaccounted: i64,
    investigate: i64,
    clean: bool,
    totals: Vec<(String, domain::report::Totals)>,
    cells: Vec<JsonCell<'a>>,
    rerun_commands: Vec<String>,
}

#[derive(Serialize)]
struct JsonCell<'a> {
    processor: &'static str,
    status: &'static str,
    coverage: f64,
    #[serde(flatten)]
    counts: &'a domain::report::CellCounts,
}

pub fn render(
    rec: &Reconciliation,
    format: Format,
    details: bool,
    reconcile: bool,
) -> Result<String, ServerError> {
    match format {
        Format::Json => {
            let report = JsonReport {
                start: rec.range.start().to_string(),
                end: rec.range.end().to_string(),
                unaccounted: rec.unaccounted(),
                investigate: rec.investigate(),
                clean: rec.is_clean(),
                totals: rec
                    .processors
                    .iter()
                    .map(|p| (p.code().to_string(), rec.totals(*p)))
                    .collect(),
                cells: rec
                    .cells
                    .iter()
                    .map(|c| JsonCell {
                        processor: c.processor.code(),
                        status: c.status().code(),
                        coverage: c.coverage(),
                        counts: c,
                    })
                    .collect(),
                rerun_commands: rec.rerun_commands(),
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
                "investigate",
                "conflict",
                "extra",
                "cascade",
                "coverage",
            ])?;
            for c in &rec.cells {
                w.write_record([
                    c.processor.code().to_string(),
                    c.date.to_string(),
                    c.status().code().to_string(),
                    c.expected.to_string(),
                    c.has_record.to_string(),
                    c.has_failure.to_string(),
                    c.date_level.to_string(),
                    c.unaccounted.to_string(),
                    c.investigate.to_string(),
                    c.conflict.to_string(),
                    c.extra.to_string(),
                    c.cascade.to_string(),
                    format!("{:.4}", c.coverage()),
                ])?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| ServerError::Csv(e.into_error().into()))?;
            String::from_utf8(bytes).map_err(|e| ServerError::failed("CSV output", e))
        }
        Format::Table => Ok(table(rec, details, reconcile)),
    }
}

fn table(rec: &Reconciliation, details: bool, reconcile: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Validation {} to {} ({} processors)",
        rec.range.start(),
        rec.range.end(),
        rec.processors.len()
    );
    for p in &rec.processors {
        let t = rec.totals(*p);
        let _ = writeln!(s, "\n{} ({})", p.code(), p.name());
        if reconcile {
            let _ = writeln!(
                s,
                "{:<12} {:>9} {:>11} {:>12} {:>12} {:>9}",
                "Date", "Expected", "Has Record", "Has Failure", "Unaccounted", "Coverage"
            );
            for c in rec.cells_of(*p) {
                let failure = if c.date_level {
                    c.expected - c.has_record
                } else {
                    c.has_failure
                };
                let _ = writeln!(
                    s,
                    "{:<12} {:>9} {:>11} {:>12} {:>12} {:>8.1}%",
                    c.date.to_string(),
                    c.expected,
                    c.has_record,
                    failure,
                    c.unaccounted,
                    c.coverage() * 100.0
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
            if t.unaccounted == 0 {
                let _ = writeln!(s, "All players accounted for (record or failure)");
            } else {
                let _ = writeln!(
                    s,
                    "WARNING: {} players are unaccounted for - need investigation!",
                    t.unaccounted
                );
            }
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
                .filter(|(k, _)| !domain::FailureCategory::normalise(k).is_expected())
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(s, "  {} {}: {}", c.processor.code(), c.date, cats);
        }
    }
    let cmds = rec.rerun_commands();
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
