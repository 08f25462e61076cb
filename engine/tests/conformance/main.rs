//! One conformance suite over the `Warehouse` trait, run against the embedded
//! store, the read cache over it, and BigQuery through the local emulator
//! (`bqemulator`, started by `scripts/test.sh`, which exports
//! `ROLLCALL_BQ_URL`). All must give the same answers: reconciliation numbers, drill-downs, idempotent re-runs,
//! resume after an interruption, jobs.

mod acks;
#[path = "../common/mod.rs"]
mod common;
mod loads;
mod scenario;
mod snapshots;
mod watch;

use common::{bigquery, d, load_until};
use std::sync::atomic::AtomicBool;

use domain::report::CellCounts;
use domain::{DateRange, ProcessorId as P};
use engine::backfill::{backfill, BackfillRequest, DateSpec, RunOptions};
use warehouse::{FailureFilter, JobState, PlayerFilter, Warehouse};
use warehouse_bigquery::{BigQueryConfig, BigQueryWarehouse, Credentials};
use warehouse_embedded::EmbeddedWarehouse;

use scenario::scenario;

/// Every processor of the (shipped) pipeline.
fn all() -> Vec<P> {
    domain::pipeline::nba().ids().collect()
}

/// The shipped pipeline, as the stores are opened with it.
fn nba() -> std::sync::Arc<domain::pipeline::Pipeline> {
    std::sync::Arc::new(domain::pipeline::nba())
}

fn request(processors: &[P], start: &str, end: &str, legacy: bool) -> BackfillRequest {
    BackfillRequest {
        processors: processors.to_vec(),
        dates: DateSpec::Range {
            start: d(start),
            end: d(end),
        },
        only_gaps: false,
        legacy,
        stop_on: Default::default(),
    }
}

fn fresh() -> RunOptions {
    RunOptions {
        resume: false,
        ..RunOptions::default()
    }
}

/// A cell's numbers without the run ids and times (those differ by design).
fn numbers(cells: Vec<CellCounts>) -> Vec<String> {
    cells
        .into_iter()
        .map(|mut c| {
            let status = c.last_run.take().map(|r| r.status);
            format!("{c:?} last={status:?} status={:?}", c.status())
        })
        .collect()
}

/// Everything observable through the trait after the same operations.
#[derive(Debug, PartialEq)]
struct Observed {
    steps: Vec<(String, Vec<String>)>,
}

impl Observed {
    fn push(&mut self, step: &str, lines: Vec<String>) {
        self.steps.push((step.to_string(), lines));
    }
}

/// A store under test, with its way of planting rows a foreign writer left.
enum Store<'a> {
    Embedded(&'a EmbeddedWarehouse),
    BigQuery(&'a BigQueryWarehouse),
    /// The dashboard's read cache over an embedded store: planted rows go
    /// to the store beneath and the cache is told, as the server tells it of
    /// its jobs' writes.
    Cached(&'a engine::cache::CachedWarehouse, &'a EmbeddedWarehouse),
}

impl Store<'_> {
    fn warehouse(&self) -> &dyn Warehouse {
        match self {
            Store::Embedded(w) => *w,
            Store::BigQuery(w) => *w,
            Store::Cached(cache, _) => *cache,
        }
    }
    async fn plant(&self, sql: &str) {
        match self {
            Store::Embedded(w) => w.execute_batch_for_tests(sql).unwrap(),
            Store::BigQuery(w) => w.execute_for_tests(sql).await.unwrap(),
            Store::Cached(cache, w) => {
                w.execute_batch_for_tests(sql).unwrap();
                engine::cache::Changes::changed(*cache);
            }
        }
    }
}

/// The cache answers as the store beneath it does, step by step: every
/// trait method it forwards or caches is exercised by the same scenario.
#[tokio::test(flavor = "multi_thread")]
async fn the_read_cache_gives_the_store_s_answers() {
    let embedded =
        EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let expected = scenario(Store::Embedded(&embedded)).await;
    let beneath = std::sync::Arc::new(EmbeddedWarehouse::in_memory(nba()).unwrap());
    // Answers kept an hour, none served stale: each read after a write is
    // fresh, each repeated read a hit.
    let hour = std::time::Duration::from_secs(3600);
    let cache =
        engine::cache::CachedWarehouse::new(beneath.clone(), hour, std::time::Duration::ZERO);
    let got = scenario(Store::Cached(&cache, &beneath)).await;
    for ((step, want), (_, have)) in expected.steps.iter().zip(&got.steps) {
        assert_eq!(want, have, "step '{step}' differs through the cache");
    }
    assert_eq!(expected.steps.len(), got.steps.len());
    // And it does cache: a repeated read is a hit with the same answer.
    let (hits, misses) = cache.stats();
    assert!(misses > 0, "{misses}");
    let range = DateRange::new(d("2021-10-30"), d("2021-11-04"), 100).unwrap();
    let first = cache.game_dates(range).await.unwrap();
    assert_eq!(cache.game_dates(range).await.unwrap(), first);
    assert!(cache.stats().0 > hits, "{:?}", cache.stats());
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_and_bigquery_give_the_same_answers() {
    let embedded =
        EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let expected = scenario(Store::Embedded(&embedded)).await;
    let bq = bigquery("t", &nba()).await;
    let status = bq.status().await.unwrap();
    assert_eq!(status.backend, "bigquery");
    let got = scenario(Store::BigQuery(&bq)).await;
    for ((step, want), (_, have)) in expected.steps.iter().zip(&got.steps) {
        assert_eq!(
            want, have,
            "step '{step}' differs between embedded and BigQuery"
        );
    }
    assert_eq!(expected.steps.len(), got.steps.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn bigquery_refuses_overlapping_jobs_and_bad_configuration() {
    let bq = bigquery("t", &nba()).await;
    let load = load_until(&bq, "2021-11-04").await;
    assert!(load.game_rows > 3000, "{load:?}");
    let now = chrono::Utc::now().naive_utc();
    let running = warehouse::JobRecord {
        id: "job-other".into(),
        requested_by: "someone".into(),
        request: "{}".into(),
        state: JobState::Running,
        progress: "{}".into(),
        created_at: now,
        started_at: Some(now),
        finished_at: None,
        error: None,
        snapshot: None,
    };
    bq.create_job(
        running,
        vec![(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d("2021-11-02"),
        )],
    )
    .await
    .unwrap();
    let err = backfill(
        &bq,
        &request(
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()],
            "2021-11-01",
            "2021-11-03",
            false,
        ),
        &fresh(),
        &(),
        &AtomicBool::new(false),
    )
    .await
    .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        bq.jobs(10).await.unwrap().len(),
        1,
        "the refused job left nothing"
    );

    for (project, prefix) in [("bad project!", ""), ("p", "x`; DROP TABLE y; --")] {
        let e = BigQueryWarehouse::open(
            BigQueryConfig {
                project: project.into(),
                dataset_prefix: prefix.into(),
                location: None,
                base_url: Some("http://127.0.0.1:9".into()),
                credentials: Credentials::None,
                timeouts: Default::default(),
                adopt_pipeline: false,
            },
            nba(),
        )
        .await
        .err()
        .expect("refused");
        assert!(e.to_string().contains("may contain only"), "{e}");
    }
    // Hostile strings are bound parameters: found nothing, broke nothing.
    let page = bq
        .failure_rows(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d("2021-11-02"),
            FailureFilter {
                category: Some("x' OR '1'='1".into()),
                search: Some("%'; DROP TABLE x; --".into()),
                offset: 0,
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 0);
    assert!(bq.status().await.is_ok());
}

fn job_record(id: &str, started: chrono::NaiveDateTime) -> warehouse::JobRecord {
    warehouse::JobRecord {
        id: id.into(),
        requested_by: "test".into(),
        request: "{}".into(),
        state: JobState::Running,
        progress: "{}".into(),
        created_at: started,
        started_at: Some(started),
        finished_at: None,
        error: None,
        snapshot: None,
    }
}

/// A running job is interrupted only once its lease has run out.
async fn leases(wh: &dyn Warehouse) -> Vec<String> {
    let now = chrono::Utc::now().naive_utc();
    let long_ago = now - chrono::Duration::minutes(30);
    wh.create_job(
        job_record("job-alive", long_ago),
        vec![(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d("2021-11-02"),
        )],
    )
    .await
    .unwrap();
    wh.create_job(
        job_record("job-dead", long_ago),
        vec![(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            d("2021-11-02"),
        )],
    )
    .await
    .unwrap();
    wh.heartbeat("job-alive", now).await.unwrap();
    let lease_start = now - chrono::Duration::minutes(2);
    let first = wh.interrupt_stale_jobs(Some(lease_start)).await.unwrap();
    let state = |id: &'static str| async move {
        wh.job(id)
            .await
            .unwrap()
            .map(|j| j.state.as_str().to_string())
    };
    let mut out = vec![
        format!("interrupted {first}"),
        format!("alive {:?}", state("job-alive").await),
        format!("dead {:?}", state("job-dead").await),
    ];
    // Its lease runs out too.
    let later = wh
        .interrupt_stale_jobs(Some(now + chrono::Duration::seconds(1)))
        .await
        .unwrap();
    out.push(format!("interrupted later {later}"));
    out.push(format!("alive {:?}", state("job-alive").await));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn leases_decide_which_running_jobs_are_dead_on_both_stores() {
    let embedded =
        EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let want = leases(&embedded).await;
    assert_eq!(
        want,
        [
            "interrupted 1",
            "alive Some(\"running\")",
            "dead Some(\"interrupted\")",
            "interrupted later 1",
            "alive Some(\"interrupted\")"
        ]
    );
    let bq = bigquery("t", &nba()).await;
    assert_eq!(leases(&bq).await, want);
}

/// Two clients (separate connections, as two processes would have) start
/// overlapping jobs at the same moment: exactly one gets them.
#[tokio::test(flavor = "multi_thread")]
async fn two_clients_racing_for_the_same_cells_start_one_job() {
    let a = bigquery("t", &nba()).await;
    let b = BigQueryWarehouse::open(
        BigQueryConfig {
            project: std::env::var("ROLLCALL_BQ_PROJECT").unwrap_or_else(|_| "local-proj".into()),
            dataset_prefix: a.dataset_prefix_for_tests(),
            location: None,
            base_url: std::env::var("ROLLCALL_BQ_URL").ok(),
            credentials: Credentials::None,
            timeouts: Default::default(),
            adopt_pipeline: false,
        },
        nba(),
    )
    .await
    .unwrap();
    let now = chrono::Utc::now().naive_utc();
    for round in 0..3 {
        let cells = vec![(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d("2021-11-02") + chrono::Duration::days(round),
        )];
        let (x, y) = tokio::join!(
            a.create_job(job_record(&format!("job-a{round}"), now), cells.clone()),
            b.create_job(job_record(&format!("job-b{round}"), now), cells.clone()),
        );
        let won = [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(won, 1, "round {round}: {x:?} / {y:?}");
        let lost = x.err().or(y.err()).unwrap();
        assert!(
            matches!(lost, warehouse::WarehouseError::Conflict(_)),
            "{lost}"
        );
    }
    assert_eq!(
        a.jobs(10).await.unwrap().len(),
        3,
        "the losers left nothing"
    );
}

/// Streamed loads (issue [R] 10) give the same answers on both stores.
#[tokio::test(flavor = "multi_thread")]
async fn streamed_loads_are_all_or_nothing_on_both_stores() {
    let embedded = EmbeddedWarehouse::in_memory(nba()).unwrap();
    let want = loads::streamed_loads(&embedded).await;
    let bq = bigquery("l", &nba()).await;
    assert_eq!(loads::streamed_loads(&bq).await, want);
}

/// Evaluations, their comparison, retention, the lease and deliveries
/// (issue [M] 1) give the same answers on both stores.
#[tokio::test(flavor = "multi_thread")]
async fn evaluations_remember_alike_on_both_stores() {
    let embedded = EmbeddedWarehouse::in_memory(nba()).unwrap();
    let want = watch::watched(&embedded).await;
    let bq = bigquery("w", &nba()).await;
    assert_eq!(watch::watched(&bq).await, want);
}

/// A BigQuery store made before cells kept their names by key (no
/// `names_key` column, on the table or its staging twin) gains the column
/// when opened, and its kept evaluations read back as they were.
#[tokio::test(flavor = "multi_thread")]
async fn a_bigquery_store_made_before_names_had_keys_gains_the_column() {
    let prefix = common::unique_prefix("k");
    let bq = common::bigquery_at(&prefix, &nba()).await.unwrap();
    load_until(&bq, "2021-11-02").await;
    let window = DateRange::new(d("2021-11-01"), d("2021-11-02"), 100).unwrap();
    let opts = |as_of: &str| engine::watch::EvaluateOptions {
        window: Some(window),
        as_of: chrono::NaiveDateTime::parse_from_str(as_of, "%Y-%m-%d %H:%M").unwrap(),
        trigger: "test".into(),
        public_url: "http://127.0.0.1:3000".into(),
    };
    let first = engine::watch::evaluate(&bq, &opts("2021-11-03 08:00"))
        .await
        .unwrap();
    let mut as_kept = bq.evaluation_cells(&first.record.id).await.unwrap();
    // As an older Rollcall kept them: the names in the cell's row.
    bq.execute_for_tests(
        "UPDATE rollcall_meta.evaluation_cells AS c SET entities = n.names
         FROM rollcall_meta.evaluation_names AS n WHERE n.names_key = c.names_key;",
    )
    .await
    .unwrap();
    bq.execute_for_tests(
        "ALTER TABLE rollcall_meta.evaluation_cells DROP COLUMN names_key;
         ALTER TABLE rollcall_meta.staged_evaluation_cells DROP COLUMN names_key;
         DROP TABLE rollcall_meta.evaluation_names;
         DROP TABLE rollcall_meta.staged_evaluation_names;",
    )
    .await
    .unwrap();
    let reopened = common::bigquery_at(&prefix, &nba()).await.unwrap();
    let kept = reopened.evaluation_cells(&first.record.id).await.unwrap();
    for c in &mut as_kept {
        c.names_key = None;
    }
    assert_eq!(kept, as_kept, "kept before keys: the names in the row");
    assert!(kept.iter().any(|c| !c.entities.is_empty()));
    // The next evaluation compares with those names and keeps its own by key.
    let next = engine::watch::evaluate_named(&reopened, &opts("2021-11-03 09:00"))
        .await
        .unwrap();
    assert_eq!(next.news().count(), 0, "the same gaps: no news");
    assert!(next.cells.iter().all(|c| c.names_key.is_some()));
    let mut read = reopened.evaluation_cells(&next.record.id).await.unwrap();
    read.sort_by_key(|c| (c.processor, c.date));
    assert_eq!(read, next.cells);
}

/// Acknowledgements (issue [N] 1) count apart, leave the lists and the
/// watch, and end alike on both stores.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledgements_count_apart_and_end_alike_on_both_stores() {
    let embedded = EmbeddedWarehouse::in_memory(nba()).unwrap();
    let want = acks::acknowledged(&embedded).await;
    let bq = bigquery("a", &nba()).await;
    assert_eq!(acks::acknowledged(&bq).await, want);
}

/// A whole cell's acknowledgement stops counting as soon as a later run of
/// the cell is recorded — one Rollcall did not make too — before anything
/// ends it for good (issue [N] 1), alike on both stores.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_outside_rollcall_stops_a_whole_cell_acknowledgement() {
    let embedded = EmbeddedWarehouse::in_memory(nba()).unwrap();
    let bq = bigquery("o", &nba()).await;
    for store in [Store::Embedded(&embedded), Store::BigQuery(&bq)] {
        let wh = store.warehouse();
        load_until(wh, "2021-11-03").await;
        let pdc = wh.pipeline().builtin(domain::Builtin::Pdc).unwrap();
        let day = DateRange::new(d("2021-11-03"), d("2021-11-03"), 1).unwrap();
        let request = domain::ack::AckRequest {
            processor: pdc,
            date: d("2021-11-03"),
            entities: None,
            reason: domain::ack::AckReason::Retention,
            note: String::new(),
            ticket_url: None,
            expires_in: None,
        };
        let now = chrono::Utc::now().naive_utc();
        engine::acks::acknowledge(
            wh,
            request,
            "ops@example.com",
            now - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
        let cell = wh.cell_counts(day, &[pdc]).await.unwrap()[0].clone();
        assert!(cell.acknowledged > 0 && cell.unaccounted == 0, "{cell:?}");
        store
            .plant(&format!(
                "INSERT INTO nba_processing.precompute_processor_runs
                   (run_id, processor_name, analysis_date, status, started_at)
                 VALUES ('outside-1', 'PDC', DATE '2021-11-03', 'success', TIMESTAMP '{}')",
                now.format("%Y-%m-%d %H:%M:%S")
            ))
            .await;
        let after = wh.cell_counts(day, &[pdc]).await.unwrap()[0].clone();
        assert_eq!(after.acknowledged, 0, "{after:?}");
        assert_eq!(after.unaccounted, cell.acknowledged, "the gap shows again");
        // The next evaluation ends it for good.
        assert_eq!(engine::acks::end_changed(wh, now).await.unwrap(), 1);
    }
}

/// Snapshots (issue [O]) keep what they showed through a re-run and a
/// deletion, and compare alike on both stores and through the read cache.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_keep_what_they_showed_alike_on_every_store() {
    let embedded = EmbeddedWarehouse::in_memory(nba()).unwrap();
    let want = snapshots::frozen_and_compared(Store::Embedded(&embedded)).await;
    let beneath = std::sync::Arc::new(EmbeddedWarehouse::in_memory(nba()).unwrap());
    let hour = std::time::Duration::from_secs(3600);
    let cache =
        engine::cache::CachedWarehouse::new(beneath.clone(), hour, std::time::Duration::ZERO);
    assert_eq!(
        snapshots::frozen_and_compared(Store::Cached(&cache, &beneath)).await,
        want
    );
    let bq = bigquery("snap", &nba()).await;
    assert_eq!(
        snapshots::frozen_and_compared(Store::BigQuery(&bq)).await,
        want
    );
}
