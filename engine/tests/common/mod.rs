//! What every conformance test binary shares: BigQuery on the emulator and
//! the demo's first days on any store.

use std::sync::Arc;

use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use warehouse::Warehouse;
use warehouse_bigquery::{BigQueryConfig, BigQueryWarehouse, Credentials};

pub fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// BigQuery on the emulator, in datasets of its own (a unique prefix that
/// starts with `tag`).
// orders_conformance opens its datasets twice, by prefix (`bigquery_at`).
#[allow(dead_code)]
pub async fn bigquery(tag: &str, pipeline: &Arc<Pipeline>) -> BigQueryWarehouse {
    bigquery_at(&unique_prefix(tag), pipeline)
        .await
        .expect("BigQuery warehouse opens on the emulator")
}

/// A dataset prefix no other test uses, starting with `tag`.
pub fn unique_prefix(tag: &str) -> String {
    format!(
        "{tag}{}_{}_",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_000
    )
}

/// BigQuery on the emulator in the datasets of `prefix` (opened again: the
/// same tables).
pub async fn bigquery_at(
    prefix: &str,
    pipeline: &Arc<Pipeline>,
) -> Result<BigQueryWarehouse, warehouse::WarehouseError> {
    let url = std::env::var("ROLLCALL_BQ_URL").expect(
        "ROLLCALL_BQ_URL is not set: these tests need the BigQuery emulator; \
         run them with `make test` (scripts/test.sh starts it) or start it with \
         scripts/bq-emulator.sh and export ROLLCALL_BQ_URL",
    );
    BigQueryWarehouse::open(
        BigQueryConfig {
            project: std::env::var("ROLLCALL_BQ_PROJECT").unwrap_or_else(|_| "local-proj".into()),
            dataset_prefix: prefix.to_string(),
            location: None,
            base_url: Some(url),
            credentials: Credentials::None,
            timeouts: Default::default(),
            adopt_pipeline: false,
        },
        Arc::clone(pipeline),
    )
    .await
}

/// The demo season's upstream rows up to `last` (inclusive).
// Not every test binary loads the NBA demo (orders_conformance has its own).
#[allow(dead_code)]
pub async fn load_until(wh: &dyn Warehouse, last: &str) -> warehouse::UpstreamLoad {
    let mut s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    s.games.retain(|g| g.game_date <= d(last));
    s.schedule.retain(|g| g.game_date <= d(last));
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap()
}

/// The demo's expected players of `date`, sorted, each once.
// Each test binary compiles this module; not all of them plant rows.
#[allow(dead_code)]
pub fn expected_players(date: &str) -> Vec<String> {
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let mut players: Vec<String> = season
        .games
        .iter()
        .filter(|g| g.game_date == d(date) && g.is_expected())
        .map(|g| g.player_lookup.clone())
        .collect();
    players.sort();
    players.dedup();
    players
}

/// What a store answers, without run ids and times (those differ by design).
// Each test binary compiles this module; not all of them compare cells.
#[allow(dead_code)]
pub fn numbers(pipeline: &Pipeline, cells: &[domain::report::CellCounts]) -> Vec<String> {
    cells
        .iter()
        .map(|c| {
            format!(
                "{} {} exp {} rec {} fail {} unacc {} inv {} extra {} {:?}",
                pipeline.code(c.processor),
                c.date,
                c.expected,
                c.has_record,
                c.has_failure,
                c.unaccounted,
                c.investigate,
                c.extra,
                c.failures_by_category
            )
        })
        .collect()
}

/// A fresh (not resumed) backfill of `processors` over `start..=end`.
// Each test binary compiles this module; not all of them run backfills.
#[allow(dead_code)]
pub async fn backfill_range(
    wh: &dyn Warehouse,
    processors: &[domain::ProcessorId],
    start: &str,
    end: &str,
) -> engine::backfill::JobSummary {
    use engine::backfill::{backfill, BackfillRequest, DateSpec, RunOptions};
    let request = BackfillRequest {
        processors: processors.to_vec(),
        dates: DateSpec::Range {
            start: d(start),
            end: d(end),
        },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    };
    let options = RunOptions {
        resume: false,
        ..RunOptions::default()
    };
    backfill(
        wh,
        &request,
        &options,
        &(),
        &std::sync::atomic::AtomicBool::new(false),
    )
    .await
    .unwrap()
}
