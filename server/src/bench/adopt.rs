//! `rollcall bench adopt` (issue [P]): a season's reconciliation reading
//! the failure and run rows from Rollcall's own tables, beside the same rows
//! read from a team's tables through `[read]` (a `UNION ALL` with Rollcall's
//! own, columns cast, a `filter`), interleaved in one run on the embedded
//! store.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use domain::pipeline::Pipeline;
use domain::ProcessorId;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

use super::snapshot::median;
use super::{full_season_backfill, render_ms, write_section, Row, RECONCILE_RUNS};
use crate::error::{Result, ServerError};

/// The shipped pipeline with its failures and runs in tables of its own and
/// the same rows read from the team's copies through `[read]`.
fn mapped_pipeline() -> Result<Pipeline> {
    let shipped = domain::pipeline::NBA_PIPELINE;
    let tables = "[tables]\nfailures = \"nba_processing.precompute_failures\"\nruns = \"nba_processing.precompute_processor_runs\"\n";
    if !shipped.contains(tables) {
        return Err(ServerError::Failed(
            "the shipped pipeline's [tables] moved: update bench/adopt.rs".into(),
        ));
    }
    let text = shipped.replacen(
        tables,
        r#"[tables]
failures = "rollcall_own.failures"
runs = "rollcall_own.runs"

[read.failures]
table = "team_processing.precompute_failures"
processor = "processor_name"
date = "analysis_date"
entity = "entity_id"
category = "failure_category"
reason = "failure_reason"
run_id = "run_id"
time = "created_at"
can_retry = "can_retry"
upstream = "upstream_processor"
filter = "entity_id IS NOT NULL"

[read.runs]
table = "team_reference.processor_run_history"
processor = "processor_name"
date = "analysis_date"
run_id = "run_id"
time = "started_at"
status = "status"
success_values = ["success"]
failure_values = ["failed"]
records = "records_written"
error = "error"
"#,
        1,
    );
    Pipeline::parse(&text).map_err(|e| ServerError::Failed(format!("the bench's pipeline: {e}")))
}

pub async fn adopt_bench(output: &Path) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir().map_err(ServerError::io("temp dir"))?;
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let plain = EmbeddedWarehouse::open(&dir.path().join("plain.duckdb"), super::demo_pipeline())?;
    plain
        .load_upstream_rows(season.schedule.clone(), season.games.clone())
        .await?;
    full_season_backfill(&plain).await?;
    let mapped = EmbeddedWarehouse::open(
        &dir.path().join("mapped.duckdb"),
        Arc::new(mapped_pipeline()?),
    )?;
    mapped
        .load_upstream_rows(season.schedule, season.games)
        .await?;
    // The team's tables hold what the backfill wrote; Rollcall's own are empty.
    mapped.execute_batch_for_tests(
        "CREATE SCHEMA team_processing; CREATE SCHEMA team_reference;
         CREATE TABLE team_processing.precompute_failures AS
           SELECT * FROM rollcall_own.failures WHERE FALSE;
         CREATE TABLE team_reference.processor_run_history AS
           SELECT * FROM rollcall_own.runs WHERE FALSE;",
    )?;
    full_season_backfill(&mapped).await?;
    mapped.execute_batch_for_tests(
        "INSERT INTO team_processing.precompute_failures SELECT * FROM rollcall_own.failures;
         INSERT INTO team_reference.processor_run_history SELECT * FROM rollcall_own.runs;
         DELETE FROM rollcall_own.failures; DELETE FROM rollcall_own.runs;",
    )?;
    mapped.check_read_tables().await?;

    let range = domain::DateRange::new(
        domain::demo::season_start(),
        domain::demo::season_end(),
        400,
    )?;
    let all: Vec<ProcessorId> = plain.pipeline().ids().collect();
    // The two backfills ran apart: run ids and times differ, counts may not.
    let counts = |cells: Vec<domain::report::CellCounts>| -> Vec<String> {
        cells
            .into_iter()
            .map(|c| {
                format!(
                    "{:?} {} {} {} {} {} {} {} {:?} {:?}",
                    c.processor,
                    c.date,
                    c.expected,
                    c.has_record,
                    c.has_failure,
                    c.unaccounted,
                    c.investigate,
                    c.runs,
                    c.failures_by_category,
                    c.last_run.map(|r| r.status)
                )
            })
            .collect()
    };
    let (a, b) = (
        counts(plain.cell_counts(range, &all).await?),
        counts(mapped.cell_counts(range, &all).await?),
    );
    if a != b {
        return Err(ServerError::Failed(
            "the team's tables read through [read] give other cells than Rollcall's own".into(),
        ));
    }
    // Interleaved, so both sides see the same background noise.
    let (mut own, mut team) = (Vec::new(), Vec::new());
    for _ in 0..RECONCILE_RUNS {
        let t = Instant::now();
        plain.cell_counts(range, &all).await?;
        own.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        mapped.cell_counts(range, &all).await?;
        team.push(t.elapsed().as_secs_f64());
    }
    let rows = vec![
        Row {
            what: format!(
                "reconcile 1 season ({} cells), failures and runs read from a team's tables through [read]",
                a.len()
            ),
            seconds: median(&mut team),
            player_dates: a.len() as i64,
        },
        Row {
            what: "the same rows in Rollcall's own tables (floor)".into(),
            seconds: median(&mut own),
            player_dates: a.len() as i64,
        },
    ];
    write_section(output, "adopt", &render_ms(&rows))?;
    Ok(rows)
}
