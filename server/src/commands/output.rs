//! What the subcommands print: the dry-run plan, job lines, job summaries,
//! and the Ctrl-C flag a backfill stops on.

use domain::pipeline::Pipeline;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use engine::backfill::{categories_in_order, JobSummary};

/// A flag Ctrl-C raises: the backfill stops after the cell in flight.
pub(crate) fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&cancel);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling after the cell in flight…");
            raised.store(true, Ordering::SeqCst);
        }
    });
    cancel
}

/// The dry run's table.
pub(crate) fn print_plan(pipeline: &Pipeline, cells: &[engine::backfill::PlannedCell]) {
    println!("{:<6} {:<12} {:>9}", "Proc", "Date", "Expected");
    for c in cells {
        println!(
            "{:<6} {:<12} {:>9}",
            pipeline.code(c.processor),
            c.date,
            c.expected
        );
    }
    println!(
        "{} cells, {} {}-dates (dry run: nothing written)",
        cells.len(),
        cells.iter().map(|c| c.expected).sum::<i64>(),
        pipeline.universe.entity()
    );
}

/// One line of `backfill --status`.
pub(crate) fn print_job_line(
    id: &str,
    state: warehouse::JobState,
    p: &engine::backfill::Progress,
    requested_by: &str,
    created_at: chrono::NaiveDateTime,
) {
    println!(
        "{id}  {:<11} {}/{} cells, {} failed  by {requested_by}  created {}",
        state.as_str(),
        p.cells_done,
        p.cells_total,
        p.cells_failed,
        domain::display::timestamp(created_at)
    );
}

/// `program` starts the printed retry commands (`Config::command_prefix`).
pub(crate) fn print_summary(pipeline: &Pipeline, s: &JobSummary, program: &str) {
    let p = &s.progress;
    let u = &pipeline.universe;
    println!(
        "job {}{}: {}",
        s.job_id,
        if s.resumed { " (resumed)" } else { "" },
        s.headline()
    );
    println!(
        "  {} ok, {} failed, {} {}-dates in {:.1}s ({:.0} {}/s)",
        domain::report::cells(p.cells_done - p.cells_failed),
        p.cells_failed,
        p.players_done,
        u.entity(),
        p.elapsed_ms as f64 / 1000.0,
        p.players_per_second(),
        u.entities()
    );
    for (cat, n) in categories_in_order(&p.failures_by_category) {
        println!(
            "  {:<26} {:>6}  {}",
            cat.code(),
            n,
            if cat.is_expected() {
                "expected"
            } else {
                "INVESTIGATE"
            }
        );
    }
    if let Some(error) = &s.error {
        println!("  {error}");
    }
    let tally = domain::report::tally_by_processor(&s.changes);
    if !tally.is_empty() {
        println!(
            "  {:<10} {:>8} {:>11} {:>16} {:>11} {:>10}",
            "processor", "closed", "still open", "new investigate", "run failed", "unchanged"
        );
        for (p, t) in tally {
            println!(
                "  {:<10} {:>8} {:>11} {:>16} {:>11} {:>10}",
                pipeline.code(p),
                t.closed,
                t.still_open,
                t.new_investigate,
                t.failed,
                t.unchanged
            );
        }
    }
    for cmd in s.retry_commands(pipeline, program) {
        println!("retry: {cmd}");
    }
}
