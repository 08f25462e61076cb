//! A pipeline with a universe of its own on both stores: the shipped orders
//! example (`pipelines/orders`: customers per order date, two Python
//! scripts run as commands). Its demo rows are loaded, the scripts run
//! through the engine, and both stores must agree with each other and with
//! the expected customers computed here from the CSV itself; loading and
//! running twice changes nothing; a broken row changes nothing.

use crate::common::{d, numbers};
use chrono::NaiveDate;
use std::collections::BTreeSet;

use domain::{DateRange, FailureCategory, ProcessorId as P};
use warehouse::{JobState, PlayerFilter, Warehouse};
use warehouse_embedded::EmbeddedWarehouse;

const PIPELINE: &str = include_str!("../../../pipelines/orders/pipeline.toml");
const ORDERS: &str = include_str!("../../../pipelines/orders/orders.csv");
const FIRST: &str = "2024-03-01";
const LAST: &str = "2024-03-10";

fn install() -> (std::sync::Arc<domain::pipeline::Pipeline>, P, P) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders");
    let pipeline = domain::pipeline::Pipeline::parse(PIPELINE)
        .unwrap()
        .located_in(dir);
    let pipeline = std::sync::Arc::new(pipeline);
    let daily = pipeline.processor("DAILY").unwrap();
    let loyalty = pipeline.processor("loyalty_tiers").unwrap();
    (pipeline, daily, loyalty)
}

/// The demo file's rows up to `LAST` as `(line, fields)` (the file's
/// columns are the universe's, in order; no field is quoted).
fn demo_rows() -> Vec<(u64, Vec<String>)> {
    ORDERS
        .lines()
        .enumerate()
        .skip(1)
        .map(|(i, l)| (i as u64 + 1, l.split(',').map(String::from).collect()))
        .filter(|(_, f): &(u64, Vec<String>)| f[1].as_str() <= LAST)
        .collect()
}

/// Who the pipeline's rule expects on `date`, computed from the CSV here.
fn expected_customers(date: &str) -> Vec<String> {
    let set: BTreeSet<String> = demo_rows()
        .into_iter()
        .filter(|(_, f)| f[1] == date && f[4] != "cancelled")
        .map(|(_, f)| f[0].clone())
        .collect();
    set.into_iter().collect()
}

fn range() -> DateRange {
    DateRange::new(d(FIRST), d(LAST), 100).unwrap()
}

async fn run(wh: &dyn Warehouse, processors: &[P]) -> engine::backfill::JobSummary {
    crate::common::backfill_range(wh, processors, FIRST, LAST).await
}

async fn universe_rows(wh: &dyn Warehouse) -> i64 {
    wh.game_dates(range())
        .await
        .unwrap()
        .iter()
        .map(|g| g.player_rows)
        .sum()
}

/// The scenario on one store; returns its answers.
async fn scenario(wh: &dyn Warehouse, daily: P, loyalty: P) -> Vec<String> {
    let rows = demo_rows();
    let load = engine::import::import_universe(wh, engine::import::in_memory(rows.clone()))
        .await
        .unwrap();
    assert_eq!(load.game_rows, rows.len());
    assert_eq!(load.dates, 10);

    // The universe and its rule: per date, the customers computed from the file.
    let stored = wh.expected_entities(range()).await.unwrap();
    for date in ["2024-03-01", "2024-03-02", "2024-03-10"] {
        let on_date: Vec<String> = stored
            .iter()
            .filter(|(day, _)| *day == d(date))
            .map(|(_, c)| c.clone())
            .collect();
        assert_eq!(on_date, expected_customers(date), "{date}");
        assert!(!on_date.is_empty());
    }
    let dates = wh.game_dates(range()).await.unwrap();
    assert_eq!(dates.len(), 10);
    for g in &dates {
        let day = g.game_date.to_string();
        assert_eq!(g.expected_players, expected_customers(&day).len() as i64);
    }

    let job = run(wh, &[daily, loyalty]).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    let cells = wh.cell_counts(range(), &[daily, loyalty]).await.unwrap();
    assert_eq!(cells.len(), 20);
    for c in &cells {
        // Every expected customer answers roll call.
        assert_eq!(
            c.has_record + c.has_failure + c.unaccounted,
            c.expected,
            "{c:?}"
        );
        assert_eq!(c.extra, 0, "{c:?}");
    }
    // DAILY forgets customers ending in 7 on weekends (2024-03-02 is a
    // Saturday): those, and only those, are unaccounted.
    let saturday = d("2024-03-02");
    let missing = wh
        .unaccounted_players(
            daily,
            saturday,
            PlayerFilter {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sevens: Vec<String> = expected_customers("2024-03-02")
        .into_iter()
        .filter(|c| c.ends_with('7'))
        .collect();
    assert!(!sevens.is_empty());
    assert_eq!(missing.items, sevens);
    let weekday = cells
        .iter()
        .find(|c| c.processor == daily && c.date == d("2024-03-04"))
        .unwrap();
    assert_eq!(weekday.unaccounted, 0, "{weekday:?}");
    // LOYALTY has no tier for first-time customers: an expected gap.
    let first_day = cells
        .iter()
        .find(|c| c.processor == loyalty && c.date == d(FIRST))
        .unwrap();
    assert_eq!(first_day.has_failure, first_day.expected, "{first_day:?}");
    assert_eq!(
        first_day
            .failures_by_category
            .get(FailureCategory::InsufficientData.code()),
        Some(&first_day.expected)
    );
    assert!(cells
        .iter()
        .any(|c| c.processor == loyalty && c.has_record > 0));

    // One customer's trace: both processors, no box scores.
    let who = &expected_customers("2024-03-04")[0];
    let trace = wh
        .player_trace(who, d("2024-03-04"))
        .await
        .unwrap()
        .expect("a known customer");
    assert!(trace.expected && trace.recent_games.is_empty());
    assert_eq!(trace.links.len(), 2);

    let answers = numbers(wh.pipeline(), &cells);
    // Loaded and run twice: the same rows, none duplicated.
    let before = universe_rows(wh).await;
    engine::import::import_universe(wh, engine::import::in_memory(rows.clone()))
        .await
        .unwrap();
    assert_eq!(universe_rows(wh).await, before);
    run(wh, &[daily, loyalty]).await;
    let again = wh.cell_counts(range(), &[daily, loyalty]).await.unwrap();
    assert_eq!(numbers(wh.pipeline(), &again), answers);

    // LOYALTY runs a week of dates at once (`batch_dates = 7`): a run that
    // fails fails its week's cells, which keep their rows; the next week runs.
    std::env::set_var("LOYALTY_FAIL_ON", "2024-03-03");
    let broken = run(wh, &[loyalty]).await;
    std::env::remove_var("LOYALTY_FAIL_ON");
    assert_eq!(broken.state, JobState::Failed, "{broken:?}");
    let week: Vec<(P, NaiveDate)> = (1..=7)
        .map(|k| (loyalty, d(&format!("2024-03-0{k}"))))
        .collect();
    assert_eq!(broken.failed_cells, week);
    let kept = wh.cell_counts(range(), &[daily, loyalty]).await.unwrap();
    assert_eq!(numbers(wh.pipeline(), &kept), answers, "old rows kept");
    let runs = wh.cell_runs(loyalty, d("2024-03-05")).await.unwrap();
    let error = runs[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("the loyalty feed for 2024-03-03 is missing")
            && error.contains("one run over 7 dates"),
        "{error}"
    );
    let next_week = wh.cell_runs(loyalty, d("2024-03-08")).await.unwrap();
    assert_eq!(next_week[0].status, warehouse::RunStatus::Success);

    // A broken row: refused by line and column, nothing written.
    let mut broken = rows.clone();
    broken[3].1[3] = "twelve".into();
    let e = engine::import::import_universe(wh, engine::import::in_memory(broken))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 5") && e.contains("amount"), "{e}");
    assert_eq!(universe_rows(wh).await, before);
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn a_universe_of_its_own_gives_the_same_answers_on_both_stores() {
    let (pipeline, daily, loyalty) = install();
    let count = "SELECT count(*) FROM shop_metrics.customer_daily_totals";
    let embedded = EmbeddedWarehouse::in_memory(std::sync::Arc::clone(&pipeline)).unwrap();
    let on_embedded = scenario(&embedded, daily, loyalty).await;
    let records: i64 = embedded
        .cell_counts(range(), &[daily])
        .await
        .unwrap()
        .iter()
        .map(|c| c.has_record)
        .sum();
    // Two runs wrote the table: each row is there once.
    assert_eq!(embedded.count_for_tests(count).unwrap(), records);
    let prefix = crate::common::unique_prefix("o");
    let bq = crate::common::bigquery_at(&prefix, &pipeline)
        .await
        .unwrap();
    let on_bigquery = scenario(&bq, daily, loyalty).await;
    assert_eq!(bq.count_for_tests(count).await.unwrap(), records);
    assert_eq!(on_bigquery, on_embedded);

    // Failures and runs went to the pipeline's own [tables], not the docs/DESIGN.md §2 ones.
    let failures = "SELECT count(*) FROM shop_ops.rollcall_failures";
    let runs = "SELECT count(*) FROM shop_ops.rollcall_runs";
    let failed = embedded.count_for_tests(failures).unwrap();
    assert!(failed > 0);
    assert_eq!(bq.count_for_tests(failures).await.unwrap(), failed);
    let ran = embedded.count_for_tests(runs).unwrap();
    assert!(ran >= 20, "{ran}");
    assert_eq!(bq.count_for_tests(runs).await.unwrap(), ran);
    for design in [
        "SELECT count(*) FROM nba_processing.precompute_failures",
        "SELECT count(*) FROM nba_processing.precompute_processor_runs",
    ] {
        assert_eq!(embedded.count_for_tests(design).unwrap(), 0, "{design}");
    }

    // Opened again: the tables fit. A command's table someone changed, or a
    // universe that lost a column, is refused at open, naming both lists.
    assert!(crate::common::bigquery_at(&prefix, &pipeline).await.is_ok());
    for (table, ddl, needed_by) in [
        (
            "shop_metrics.customer_loyalty",
            "(customer_id STRING, order_date DATE, tier STRING)",
            "processor LOYALTY",
        ),
        (
            "shop.orders",
            "(customer_id STRING, order_date DATE, order_id STRING)",
            "the universe",
        ),
        (
            "shop_ops.rollcall_runs",
            "(run_id STRING, processor_name STRING, analysis_date DATE, status STRING)",
            "[tables] runs",
        ),
    ] {
        bq.execute_for_tests(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
        bq.execute_for_tests(&format!("CREATE TABLE {table} {ddl}"))
            .await
            .unwrap();
        let e = crate::common::bigquery_at(&prefix, &pipeline)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!("{table} has columns")) && e.contains(needed_by),
            "{e}"
        );
        bq.execute_for_tests(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}

/// The embedded store checks the pipeline's own failure and run tables at
/// open too: one somebody made with other columns is refused, naming both.
#[test]
fn the_embedded_store_refuses_a_failure_table_of_other_columns() {
    let (pipeline, _, _) = install();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.duckdb");
    let wh = EmbeddedWarehouse::open(&path, std::sync::Arc::clone(&pipeline)).unwrap();
    wh.execute_batch_for_tests(
        "DROP TABLE shop_ops.rollcall_failures;
         CREATE TABLE shop_ops.rollcall_failures (entity_id VARCHAR, reason VARCHAR);",
    )
    .unwrap();
    drop(wh);
    let e = EmbeddedWarehouse::open(&path, std::sync::Arc::clone(&pipeline))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("shop_ops.rollcall_failures has columns") && e.contains("[tables] failures"),
        "{e}"
    );
}
