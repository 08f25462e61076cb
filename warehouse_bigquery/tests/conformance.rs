//! One conformance suite over the `Warehouse` trait, run against the embedded
//! store and against BigQuery through the local emulator (`bqemulator`, started
//! by `scripts/test.sh`, which exports `ROLLCALL_BQ_URL`). Both must give the
//! same answers: reconciliation numbers, drill-downs, idempotent re-runs,
//! resume after an interruption, jobs.

mod common;

use common::{bigquery, d, load_until};
use std::sync::atomic::AtomicBool;

use domain::report::CellCounts;
use domain::{DateRange, ProcessorId as P};
use engine::backfill::{backfill, BackfillRequest, DateSpec, RunOptions};
use warehouse::{FailureFilter, JobState, PlayerFilter, Warehouse};
use warehouse_bigquery::{BigQueryConfig, BigQueryWarehouse, Credentials};
use warehouse_embedded::EmbeddedWarehouse;

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
}

impl Store<'_> {
    fn warehouse(&self) -> &dyn Warehouse {
        match self {
            Store::Embedded(w) => *w,
            Store::BigQuery(w) => *w,
        }
    }
    async fn plant(&self, sql: &str) {
        match self {
            Store::Embedded(w) => w.execute_batch_for_tests(sql).unwrap(),
            Store::BigQuery(w) => w.execute_for_tests(sql).await.unwrap(),
        }
    }
}

/// Failure rows as other tools write them — class names, lower case, legacy
/// and unknown categories, a date-level row, an unknown processor — on a date
/// nobody has run yet; returns the cells of that date.
async fn foreign_failures(store: &Store<'_>) -> Vec<CellCounts> {
    let wh = store.warehouse();
    let date = d("2021-11-04");
    let day = DateRange::new(date, date, 1).unwrap();
    let missing = wh
        .unaccounted(
            day,
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()],
        )
        .await
        .unwrap();
    let (a, b) = (&missing[0].2, &missing[1].2);
    let rows = [
        ("PDC", a.as_str(), "calculation_error"),
        ("PDC", "notaplayer", "INSUFFICIENT_DATA"),
        ("PlayerShotZoneAnalysisProcessor", a.as_str(), "  no-shots "),
        ("pcf", b.as_str(), "WEIRD_THING"),
        ("MLFS", "DATE_LEVEL", "MISSING_DEPENDENCY"),
        ("SomeOtherProcessor", a.as_str(), "ERROR"),
    ]
    .map(|(name, entity, category)| {
        format!("('{name}', DATE '2021-11-04', '{entity}', '{category}', 'planted')")
    })
    .join(", ");
    store
        .plant(&format!(
            "INSERT INTO nba_processing.precompute_failures
               (processor_name, analysis_date, entity_id, failure_category, failure_reason)
             VALUES {rows}"
        ))
        .await;
    let cells = wh.cell_counts(day, &all()).await.unwrap();
    let cell = |p: P| cells.iter().find(|c| c.processor == p).unwrap();
    let categories = |p: P| {
        cell(p)
            .failures_by_category
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let pdc = cell(
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pdc)
            .unwrap(),
    );
    assert_eq!((pdc.has_failure, pdc.investigate), (1, 1), "{pdc:?}");
    assert_eq!(
        categories(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()
        ),
        "INSUFFICIENT_DATA=1,PROCESSING_ERROR=1"
    );
    let psza = cell(
        domain::pipeline::nba()
            .builtin(domain::Builtin::Psza)
            .unwrap(),
    );
    assert_eq!((psza.has_failure, psza.investigate), (1, 0), "{psza:?}");
    assert_eq!(
        categories(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap()
        ),
        "NO_SHOT_ZONE=1"
    );
    assert_eq!(
        cell(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pcf)
                .unwrap()
        )
        .investigate,
        1
    );
    assert_eq!(
        categories(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pcf)
                .unwrap()
        ),
        "UNKNOWN=1"
    );
    let mlfs = cell(
        domain::pipeline::nba()
            .builtin(domain::Builtin::Mlfs)
            .unwrap(),
    );
    assert!(mlfs.date_level && mlfs.unaccounted == 0, "{mlfs:?}");
    assert_eq!(
        categories(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Mlfs)
                .unwrap()
        ),
        "MISSING_DEPENDENCIES=1"
    );
    cells
}

async fn scenario(store: Store<'_>) -> Observed {
    let wh = store.warehouse();
    let mut o = Observed { steps: Vec::new() };
    let range = DateRange::new(d("2021-10-30"), d("2021-11-04"), 100).unwrap();
    let cancel = AtomicBool::new(false);
    let load = load_until(wh, "2021-11-04").await;
    assert!(load.game_rows > 3000, "{load:?}");
    let unknown = wh.start_job("job-that-never-was").await.unwrap_err();
    assert!(
        matches!(unknown, warehouse::WarehouseError::NotFound(_)),
        "{unknown:?}"
    );
    o.push(
        "game dates",
        wh.game_dates(range)
            .await
            .unwrap()
            .iter()
            .map(|g| format!("{g:?}"))
            .collect(),
    );

    // The pre-tracking pipeline (records only) for PDC+, then PSZA tracked.
    backfill(
        wh,
        &request(
            &[
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap(),
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pcf)
                    .unwrap(),
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Mlfs)
                    .unwrap(),
            ],
            "2021-11-01",
            "2021-11-02",
            true,
        ),
        &fresh(),
        &(),
        &cancel,
    )
    .await
    .unwrap();
    backfill(
        wh,
        &request(
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap()],
            "2021-11-01",
            "2021-11-03",
            false,
        ),
        &fresh(),
        &(),
        &cancel,
    )
    .await
    .unwrap();
    let before = wh.cell_counts(range, &all()).await.unwrap();
    assert!(
        before.iter().any(|c| c.unaccounted > 0),
        "legacy cells leave gaps"
    );
    o.push("legacy + psza", numbers(before));
    let unaccounted = wh
        .unaccounted(
            range,
            &[
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap(),
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Mlfs)
                    .unwrap(),
            ],
        )
        .await
        .unwrap();
    o.push(
        "unaccounted",
        unaccounted.iter().map(|u| format!("{u:?}")).collect(),
    );
    // One cell's players, searched and paged in the store: the search is a
    // case-blind substring of one of them, the page starts past the first.
    let (p, day, player) = unaccounted.first().cloned().expect("legacy gaps");
    let needle: String = player
        .chars()
        .skip(1)
        .take(2)
        .collect::<String>()
        .to_uppercase();
    let searched = |offset| {
        wh.unaccounted_players(
            p,
            day,
            PlayerFilter {
                search: Some(needle.clone()),
                offset,
                limit: 2,
            },
        )
    };
    let first = searched(0).await.unwrap();
    assert!(
        first.items.contains(&player) || first.total > 2,
        "{first:?}"
    );
    o.push(
        "unaccounted searched",
        vec![
            format!("{first:?}"),
            format!("{:?}", searched(1).await.unwrap()),
            format!("{:?}", searched(1000).await.unwrap()),
        ],
    );

    // Failure tracking over the same cells closes every gap.
    let tracked = request(&all(), "2021-11-01", "2021-11-03", false);
    let summary = backfill(wh, &tracked, &fresh(), &(), &cancel)
        .await
        .unwrap();
    assert_eq!(summary.state, JobState::Succeeded);
    let after = wh.cell_counts(range, &all()).await.unwrap();
    for c in after
        .iter()
        .filter(|c| c.date >= d("2021-11-01") && c.date <= d("2021-11-03"))
    {
        assert_eq!(c.unaccounted, 0, "{c:?}");
    }
    o.push("tracked", numbers(after.clone()));

    // Re-running is idempotent: same numbers, one more run per cell.
    backfill(wh, &tracked, &fresh(), &(), &cancel)
        .await
        .unwrap();
    let again = wh.cell_counts(range, &all()).await.unwrap();
    for (a, b) in after.iter().zip(&again) {
        assert_eq!(
            (
                a.expected,
                a.has_record,
                a.has_failure,
                a.unaccounted,
                &a.failures_by_category
            ),
            (
                b.expected,
                b.has_record,
                b.has_failure,
                b.unaccounted,
                &b.failures_by_category
            )
        );
        if a.runs > 0 && a.date <= d("2021-11-03") && a.date >= d("2021-11-01") {
            assert_eq!(b.runs, a.runs + 1, "{b:?}");
        }
    }
    o.push("rerun", numbers(again));
    o.push(
        "table counts",
        wh.table_counts(range)
            .await
            .unwrap()
            .iter()
            .map(|t| format!("{t:?}"))
            .collect(),
    );

    o.push(
        "foreign failure rows",
        numbers(foreign_failures(&store).await),
    );

    // Drill-downs.
    let page = wh
        .failure_rows(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            d("2021-11-02"),
            FailureFilter {
                category: None,
                search: None,
                offset: 2,
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(page.total > 5, "{page:?}");
    let mut lines: Vec<String> = page
        .items
        .iter()
        .map(|f| format!("{f:?}").replace(&f.run_id.clone().unwrap_or_default(), "RUN"))
        .collect();
    lines.push(format!(
        "total={} offset={} limit={}",
        page.total, page.offset, page.limit
    ));
    let needle = page.items[0].entity_id[..3].to_string();
    let searched = wh
        .failure_rows(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            d("2021-11-02"),
            FailureFilter {
                category: Some("INSUFFICIENT_DATA".into()),
                search: Some(needle.to_uppercase()),
                offset: 0,
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(searched.items.iter().all(|f| f.entity_id.contains(&needle)
        && f.category == domain::FailureCategory::InsufficientData));
    lines.push(format!("searched total={}", searched.total));
    o.push("failure rows", lines);
    let runs = wh
        .cell_runs(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Mlfs)
                .unwrap(),
            d("2021-11-02"),
        )
        .await
        .unwrap();
    o.push(
        "cell runs",
        runs.iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.status, r.records_written, r.failures_written, r.expected_count
                )
            })
            .collect(),
    );
    let player = page.items[0].entity_id.clone();
    let trace = wh
        .player_trace(&player, d("2021-11-02"))
        .await
        .unwrap()
        .unwrap();
    o.push(
        "trace",
        vec![format!(
            "{:?} {:?} {:?} games={}",
            trace.expected,
            trace.links,
            trace.root_cause(&domain::pipeline::nba()),
            trace.recent_games.len()
        )],
    );
    assert!(wh
        .player_trace("nobodyatall", d("2021-11-02"))
        .await
        .unwrap()
        .is_none());

    // A job that dies after 3 cells resumes to the same tables.
    let crashed = request(
        &[
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pcf)
                .unwrap(),
        ],
        "2021-11-03",
        "2021-11-04",
        false,
    );
    let options = RunOptions {
        resume: false,
        crash_after: Some(3),
        ..RunOptions::default()
    };
    let partial = backfill(wh, &crashed, &options, &(), &cancel)
        .await
        .unwrap();
    assert_eq!(
        partial.state,
        JobState::Running,
        "left running, as a killed process"
    );
    assert_eq!(wh.interrupt_stale_jobs(None).await.unwrap(), 1);
    // Checkpoints advance per write batch (one cell on the embedded store,
    // many on BigQuery): exactly the cells not yet done re-run.
    let done_before = wh
        .job_cells(&partial.job_id)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.state == warehouse::CellState::Done)
        .count();
    assert_eq!(done_before % wh.write_batch().max_cells.min(4), 0);
    let resumed = backfill(wh, &crashed, &RunOptions::default(), &(), &cancel)
        .await
        .unwrap();
    assert!(resumed.resumed);
    assert_eq!(resumed.state, JobState::Succeeded);
    assert_eq!(
        resumed.progress.cells_total,
        4 - done_before,
        "only the unfinished cells re-run"
    );
    o.push(
        "after resume",
        numbers(wh.cell_counts(range, &all()).await.unwrap()),
    );
    let jobs = wh.jobs(20).await.unwrap();
    o.push(
        "jobs",
        jobs.iter()
            .map(|j| format!("{} {}", j.state.as_str(), j.requested_by))
            .collect(),
    );
    // The list leaves the snapshots out; one job carries its own.
    assert!(
        jobs.iter().all(|j| j.snapshot.is_none()),
        "list without snapshots"
    );
    let one = wh.job(&jobs[0].id).await.unwrap().unwrap();
    let snapshot = engine::backfill::JobSnapshot::parse(&one).expect("a job's snapshot");
    o.push(
        "snapshot",
        vec![format!(
            "{} before, {} after",
            snapshot.before.len(),
            snapshot.after.map_or(0, |a| a.len())
        )],
    );
    let cells = wh.job_cells(&jobs[0].id).await.unwrap();
    o.push(
        "job cells",
        cells.iter().map(|c| format!("{c:?}")).collect(),
    );
    o
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
