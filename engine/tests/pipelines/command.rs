//! A command processor on both stores: the shipped example pipeline
//! (`pipelines/nba-rest-days`: the NBA builtins plus REST, a Python script)
//! run through the engine on the embedded store and on BigQuery through the
//! emulator. Both must give the same answers; a re-run changes nothing; a
//! command that exits non-zero fails its cell, keeps the cell's old rows and
//! leaves its stderr on the run row.

use crate::common::{bigquery, d, load_until, numbers};
use std::path::Path;

use domain::report::CellCounts;
use domain::{DateRange, ProcessorId as P};
use warehouse::{FailureFilter, JobState, RunStatus, Warehouse};
use warehouse_embedded::EmbeddedWarehouse;

const PIPELINE: &str = include_str!("../../../pipelines/nba-rest-days/pipeline.toml");
const SCRIPT: &str = include_str!("../../../pipelines/nba-rest-days/rest_days.py");

/// Installs the example pipeline, its commands run in `dir` (a copy of the
/// example's directory, so a test can break the script).
fn install(dir: &Path) -> (std::sync::Arc<domain::pipeline::Pipeline>, P) {
    std::fs::write(dir.join("rest_days.py"), SCRIPT).unwrap();
    let pipeline = domain::pipeline::Pipeline::parse(PIPELINE)
        .unwrap()
        .located_in(dir.display().to_string());
    let pipeline = std::sync::Arc::new(pipeline);
    let rest = pipeline.processor("REST").unwrap();
    (pipeline, rest)
}

async fn run(
    wh: &dyn Warehouse,
    processors: &[P],
    start: &str,
    end: &str,
) -> engine::backfill::JobSummary {
    crate::common::backfill_range(wh, processors, start, end).await
}

async fn rest_cells(wh: &dyn Warehouse, rest: P) -> Vec<CellCounts> {
    let range = DateRange::new(d("2021-11-01"), d("2021-11-04"), 100).unwrap();
    let mut cells = wh.cell_counts(range, &[rest]).await.unwrap();
    cells.retain(|c| c.expected > 0);
    cells
}

/// The scenario on one store; returns its answers after the first run.
async fn scenario(wh: &dyn Warehouse, dir: &Path, rest: P) -> Vec<String> {
    load_until(wh, "2021-11-04").await;
    let pdc = wh.pipeline().builtin(domain::Builtin::Pdc).unwrap();

    let first = run(wh, &[pdc, rest], "2021-11-01", "2021-11-04").await;
    assert_eq!(first.state, JobState::Succeeded, "{first:?}");
    let cells = rest_cells(wh, rest).await;
    assert!(!cells.is_empty());
    for c in &cells {
        // Every expected player answers: a record, a failure, or unaccounted
        // (the script skips some on purpose).
        assert_eq!(
            c.has_record + c.has_failure + c.unaccounted,
            c.expected,
            "{c:?}"
        );
        assert_eq!(c.extra, 0, "{c:?}");
    }
    let sum = |f: fn(&CellCounts) -> i64| cells.iter().map(f).sum::<i64>();
    assert!(sum(|c| c.has_record) > 0 && sum(|c| c.has_failure) > 0 && sum(|c| c.unaccounted) > 0);
    let failures = wh
        .failure_rows(
            rest,
            d("2021-11-02"),
            FailureFilter {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        !failures.items.is_empty()
            && failures
                .items
                .iter()
                .all(|f| f.category == domain::FailureCategory::InsufficientData),
        "{failures:?}"
    );
    let answers = numbers(wh.pipeline(), &cells);

    // Applied twice: the same rows, none duplicated.
    run(wh, &[rest], "2021-11-01", "2021-11-04").await;
    assert_eq!(numbers(wh.pipeline(), &rest_cells(wh, rest).await), answers);

    // The script fails on one date: that cell fails, keeps its rows, and its
    // run row says why; the other dates are written.
    std::fs::write(
        dir.join("rest_days.py"),
        SCRIPT.replace(
            "date = sys.argv[1]\n",
            "date = sys.argv[1]\nif date == \"2021-11-03\":\n    sys.exit(\"the rest feed is down\")\n",
        ),
    )
    .unwrap();
    let broken = run(wh, &[rest], "2021-11-01", "2021-11-04").await;
    std::fs::write(dir.join("rest_days.py"), SCRIPT).unwrap();
    assert_eq!(broken.state, JobState::Failed, "{broken:?}");
    assert_eq!(broken.failed_cells, vec![(rest, d("2021-11-03"))]);
    assert_eq!(
        numbers(wh.pipeline(), &rest_cells(wh, rest).await),
        answers,
        "old rows kept"
    );
    let runs = wh.cell_runs(rest, d("2021-11-03")).await.unwrap();
    let last = runs.first().expect("newest first");
    assert_eq!(last.status, RunStatus::Failed, "{runs:?}");
    let error = last.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("exited with") && error.contains("the rest feed is down"),
        "{error}"
    );
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_processor_gives_the_same_answers_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline, rest) = install(dir.path());
    let count = "SELECT count(*) FROM team_scripts.player_rest_days";
    let embedded = EmbeddedWarehouse::in_memory(std::sync::Arc::clone(&pipeline)).unwrap();
    let on_embedded = scenario(&embedded, dir.path(), rest).await;
    let records: i64 = rest_cells(&embedded, rest)
        .await
        .iter()
        .map(|c| c.has_record)
        .sum();
    // Three runs wrote the table: each row is there once.
    assert_eq!(embedded.count_for_tests(count).unwrap(), records);
    let bq = bigquery("c", &pipeline).await;
    let on_bigquery = scenario(&bq, dir.path(), rest).await;
    assert_eq!(bq.count_for_tests(count).await.unwrap(), records);
    assert_eq!(on_bigquery, on_embedded);
}
