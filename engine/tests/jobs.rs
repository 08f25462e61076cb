//! Server-side jobs: queue, cancel, interruption and resume, before/after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use domain::report::{ChangeKind, Progress};
use engine::backfill::{create_job, run_job, ProgressSink, RawBackfillRequest, RunOptions};
use engine::jobs::JobRunner;
use engine::Limits;
use warehouse::{JobState, Warehouse};
use warehouse_embedded::EmbeddedWarehouse;

#[path = "common/counting.rs"]
mod counting;
use counting::Counting;

/// The demo's default state: PDC/PCF/MLFS written by the legacy pipeline.
async fn demo_store() -> Arc<EmbeddedWarehouse> {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    engine::demo::load_demo(&wh, domain::demo::DEFAULT_SEED, &())
        .await
        .unwrap();
    Arc::new(wh)
}

fn pdc_downstream() -> RawBackfillRequest {
    RawBackfillRequest {
        processors: "PDC".into(),
        downstream: true,
        start: Some("2021-11-05".into()),
        end: Some("2021-11-15".into()),
        ..RawBackfillRequest::default()
    }
}

const CELL_TABLES: [(&str, &str, &str); 3] = [
    ("PDC", "nba_precompute.player_daily_cache", "cache_date"),
    (
        "PCF",
        "nba_precompute.player_composite_factors",
        "game_date",
    ),
    ("MLFS", "nba_predictions.ml_feature_store_v2", "game_date"),
];

/// Everything one cell owns: its output rows and its failure rows.
fn cell_rows(wh: &EmbeddedWarehouse, code: &str, date: &str) -> Vec<String> {
    let (_, table, column) = CELL_TABLES.iter().find(|t| t.0 == code).unwrap();
    let mut rows = wh
        .rows_for_tests(&format!(
            "SELECT * EXCLUDE (run_id, processed_at) FROM {table} WHERE {column} = DATE '{date}' ORDER BY ALL"
        ))
        .unwrap();
    rows.extend(
        wh.rows_for_tests(&format!(
            "SELECT * EXCLUDE (run_id, created_at) FROM nba_processing.precompute_failures
             WHERE analysis_date = DATE '{date}' AND processor_name IN (SELECT '{code}' UNION ALL
               SELECT name FROM (VALUES ('PDC', 'PlayerDailyCacheProcessor'), ('PCF', 'PlayerCompositeFactorsProcessor'),
                                        ('MLFS', 'MLFeatureStoreProcessor')) t(c, name) WHERE c = '{code}')
             ORDER BY ALL"
        ))
        .unwrap(),
    );
    rows
}

fn d0() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2021, 11, 5).unwrap()
}

fn dates() -> Vec<String> {
    (5..=15).map(|d| format!("2021-11-{d:02}")).collect()
}

async fn wait_until_over(wh: &dyn Warehouse, id: &str) -> JobState {
    for _ in 0..600 {
        let job = wh.job(id).await.unwrap().unwrap();
        if !job.state.is_active() {
            return job.state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end within 60 s");
}

/// Cancels once `after` cells are done.
struct CancelAfter<'a> {
    after: usize,
    flag: &'a AtomicBool,
}

impl ProgressSink for CancelAfter<'_> {
    fn update(&self, p: &Progress) {
        if p.cells_done >= self.after {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_job_leaves_every_cell_fully_old_or_fully_new() {
    let wh = demo_store().await;
    let finished = demo_store().await;
    let limits = Limits::default();
    // More dates than one write batch holds, so the job can stop between two.
    let raw = RawBackfillRequest {
        end: Some("2022-01-31".into()),
        ..pdc_downstream()
    };
    let request =
        engine::backfill::BackfillRequest::parse(&domain::pipeline::nba(), &raw, limits).unwrap();
    let span: Vec<String> = (0..88)
        .map(|i| (d0() + chrono::Duration::days(i)).to_string())
        .collect();
    let cells = |wh: &EmbeddedWarehouse| cells_on(wh, &span);

    let old: Vec<Vec<String>> = cells(&wh);
    let job = create_job(finished.as_ref(), &request, "test", JobState::Running)
        .await
        .unwrap()
        .job;
    run_job(
        finished.as_ref(),
        &job.id,
        &RunOptions::default(),
        &(),
        &AtomicBool::new(false),
    )
    .await
    .unwrap();
    let new: Vec<Vec<String>> = cells(&finished);

    let flag = AtomicBool::new(false);
    let job = create_job(wh.as_ref(), &request, "test", JobState::Running)
        .await
        .unwrap()
        .job;
    let summary = run_job(
        wh.as_ref(),
        &job.id,
        &RunOptions::default(),
        &CancelAfter {
            after: 7,
            flag: &flag,
        },
        &flag,
    )
    .await
    .unwrap();
    assert_eq!(summary.state, JobState::Cancelled);
    // Cells are written in batches of whole dates: the job stops after the
    // batch in flight when the flag was raised, before the end.
    let done = summary.progress.cells_done;
    assert!(
        done >= 7 && done < summary.progress.cells_total,
        "stops after the in-flight batch: {done} of {} done",
        summary.progress.cells_total
    );
    let now = cells(&wh);
    let (mut kept_old, mut became_new) = (0, 0);
    for (i, rows) in now.iter().enumerate() {
        if *rows == new[i] {
            became_new += 1;
        } else {
            assert_eq!(*rows, old[i], "cell {i} is neither fully old nor fully new");
            kept_old += 1;
        }
    }
    assert!(
        became_new >= done && kept_old > 0,
        "{became_new} new, {kept_old} old, {done} done"
    );
    // The cancelled job resumes and finishes the rest.
    let resumed = run_job(
        wh.as_ref(),
        &job.id,
        &RunOptions::default(),
        &(),
        &AtomicBool::new(false),
    )
    .await
    .unwrap();
    assert_eq!(resumed.state, JobState::Succeeded);
    assert_eq!(cells(&wh), new);
}

fn cells(wh: &EmbeddedWarehouse) -> Vec<Vec<String>> {
    cells_on(wh, &dates())
}

fn cells_on(wh: &EmbeddedWarehouse, dates: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for date in dates {
        for (code, _, _) in CELL_TABLES {
            out.push(cell_rows(wh, code, date));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_job_resumes_to_the_same_tables_and_reports_before_and_after() {
    let limits = Limits::default();
    // Uninterrupted, through the runner.
    let clean = demo_store().await;
    let runner = JobRunner::start(clean.clone());
    let job = runner
        .submit(&pdc_downstream(), limits, "test")
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(
        wait_until_over(clean.as_ref(), &job.id).await,
        JobState::Succeeded
    );
    let view = runner.view(&job.id).await.unwrap();
    assert_eq!(view.progress.cells_done, view.progress.cells_total);
    let changes = view.changes.expect("before/after once ended");
    assert!(!changes.is_empty());
    assert!(
        changes.iter().any(|c| c.kind == ChangeKind::GapClosed),
        "legacy gaps close: {changes:?}"
    );
    assert!(changes
        .iter()
        .all(|c| c.after.as_ref().is_some_and(|a| a.unaccounted == 0)));

    // Killed after 9 cells (left `running`, as a dead process leaves it).
    let wh = demo_store().await;
    let doomed = JobRunner::start_with(wh.clone(), Some(9));
    let job = doomed
        .submit(&pdc_downstream(), limits, "test")
        .await
        .unwrap();
    for _ in 0..600 {
        let cells = wh.job_cells(&job.id).await.unwrap();
        if cells
            .iter()
            .filter(|c| c.state == warehouse::CellState::Done)
            .count()
            >= 9
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        wh.job(&job.id).await.unwrap().unwrap().state,
        JobState::Running
    );
    // The restart: the new process marks it interrupted, then one click resumes.
    assert_eq!(wh.interrupt_stale_jobs(None).await.unwrap(), 1);
    let restarted = JobRunner::start(wh.clone());
    let view = restarted.view(&job.id).await.unwrap();
    assert_eq!(view.state, warehouse::JobState::Interrupted);
    assert!(view.resumable);
    restarted.resume(&job.id).await.unwrap();
    assert_eq!(
        wait_until_over(wh.as_ref(), &job.id).await,
        JobState::Succeeded
    );
    assert_eq!(cells(&wh), cells(&clean));

    // Finished jobs cannot be resumed or cancelled; unknown ones are not found.
    assert!(restarted.resume(&job.id).await.unwrap_err().is_conflict());
    assert!(restarted.cancel(&job.id).await.unwrap_err().is_conflict());
    assert!(matches!(
        restarted.view("job-nope").await,
        Err(engine::EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_request_queues_behind_the_running_one_and_can_be_cancelled_there() {
    let wh = demo_store().await;
    let runner = JobRunner::start(wh.clone());
    let first = runner
        .submit(&pdc_downstream(), Limits::default(), "a")
        .await
        .unwrap();
    let second = runner
        .submit(&pdc_downstream(), Limits::default(), "b")
        .await
        .unwrap();
    let view = runner.view(&second.id).await.unwrap();
    assert_eq!(view.state, warehouse::JobState::Queued);
    runner.cancel(&second.id).await.unwrap();
    assert_eq!(
        wait_until_over(wh.as_ref(), &first.id).await,
        JobState::Succeeded
    );
    assert_eq!(
        wait_until_over(wh.as_ref(), &second.id).await,
        JobState::Cancelled
    );
    let runs = wh
        .count_for_tests(&format!(
            "SELECT count(*) FROM nba_processing.precompute_processor_runs WHERE job_id = '{}'",
            second.id
        ))
        .unwrap();
    assert_eq!(runs, 0, "a job cancelled in the queue writes nothing");
    // Bad input is refused before anything is recorded.
    let jobs_before = wh.jobs(100).await.unwrap().len();
    let bad = RawBackfillRequest {
        processors: "PDC,NOPE".into(),
        ..pdc_downstream()
    };
    assert!(runner
        .submit(&bad, Limits::default(), "c")
        .await
        .unwrap_err()
        .is_input());
    assert_eq!(wh.jobs(100).await.unwrap().len(), jobs_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_inside_a_job_fails_that_job_and_the_queue_goes_on() {
    let wh = demo_store().await;
    let runner = JobRunner::start(wh.clone());
    runner.panic_next_job_for_tests();
    let first = runner
        .submit(&pdc_downstream(), Limits::default(), "test")
        .await
        .unwrap();
    assert_eq!(
        wait_until_over(wh.as_ref(), &first.id).await,
        JobState::Failed
    );
    let failed = wh.job(&first.id).await.unwrap().unwrap();
    assert!(
        failed.error.as_deref().unwrap_or("").contains("panic"),
        "{:?}",
        failed.error
    );
    let second = runner
        .submit(&pdc_downstream(), Limits::default(), "test")
        .await
        .unwrap();
    assert_eq!(
        wait_until_over(wh.as_ref(), &second.id).await,
        JobState::Succeeded,
        "the worker survived the panic"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_jobs_run_after_a_restart() {
    let wh = demo_store().await;
    let request = engine::backfill::BackfillRequest::parse(
        &domain::pipeline::nba(),
        &pdc_downstream(),
        Limits::default(),
    )
    .unwrap();
    // Recorded as queued by a server that then stopped before running it.
    let job = create_job(wh.as_ref(), &request, "test", JobState::Queued)
        .await
        .unwrap()
        .job;
    let _runner = JobRunner::start(wh.clone());
    assert_eq!(
        wait_until_over(wh.as_ref(), &job.id).await,
        JobState::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_leaves_the_running_job_interrupted_and_resumable() {
    let wh = demo_store().await;
    let runner = JobRunner::start(wh.clone());
    let job = runner
        .submit(
            &RawBackfillRequest {
                processors: "PSZA".into(),
                downstream: true,
                start: Some("2021-10-19".into()),
                end: Some("2022-01-31".into()),
                ..RawBackfillRequest::default()
            },
            Limits::default(),
            "test",
        )
        .await
        .unwrap();
    for _ in 0..600 {
        if wh.job(&job.id).await.unwrap().unwrap().state == JobState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runner.shutdown(Duration::from_secs(30)).await;
    let stopped = wh.job(&job.id).await.unwrap().unwrap();
    assert_eq!(stopped.state, JobState::Interrupted);
    assert!(stopped.state.is_resumable());
    let cells = wh.job_cells(&job.id).await.unwrap();
    assert!(
        cells
            .iter()
            .any(|c| c.state == warehouse::CellState::Pending),
        "stopped before the end"
    );
}

/// Issue [L] 4: a fresh job runs the plan it was created with — planned
/// once, never read back — from the CLI and from the server's queue; only a
/// resumed job is read back and planned again.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_job_is_planned_once_and_only_a_resume_reads_it_back() {
    let limits = Limits::default();
    let request = engine::backfill::BackfillRequest::parse(
        &domain::pipeline::nba(),
        &pdc_downstream(),
        limits,
    )
    .unwrap();

    // The CLI's path.
    let wh = Counting::new(demo_store().await);
    let options = RunOptions {
        resume: false,
        ..RunOptions::default()
    };
    let summary = engine::backfill::backfill(
        wh.as_ref(),
        &request,
        &options,
        &(),
        &AtomicBool::new(false),
    )
    .await
    .unwrap();
    assert_eq!(summary.state, JobState::Succeeded);
    assert_eq!(
        wh.counts(),
        (0, 1),
        "(job reads, plannings) of a CLI backfill"
    );

    // The server's queue: one read of the job's state before it runs.
    let wh = Counting::new(demo_store().await);
    let runner = JobRunner::start(wh.clone());
    let job = runner
        .submit(&pdc_downstream(), limits, "test")
        .await
        .unwrap();
    assert_eq!(
        wait_until_over(wh.inner.as_ref(), &job.id).await,
        JobState::Succeeded
    );
    let (reads, plannings) = wh.counts();
    assert_eq!(plannings, 1, "planned once ({reads} job reads)");

    // A resumed job is read back and planned again.
    let wh = Counting::new(demo_store().await);
    let crash = RunOptions {
        resume: false,
        crash_after: Some(3),
        ..RunOptions::default()
    };
    let cancel = AtomicBool::new(false);
    engine::backfill::backfill(wh.as_ref(), &request, &crash, &(), &cancel)
        .await
        .unwrap();
    assert_eq!(wh.inner.interrupt_stale_jobs(None).await.unwrap(), 1);
    let resumed =
        engine::backfill::backfill(wh.as_ref(), &request, &RunOptions::default(), &(), &cancel)
            .await
            .unwrap();
    assert!(resumed.resumed);
    let (reads, plannings) = wh.counts();
    assert!(reads >= 1 && plannings == 2, "({reads}, {plannings})");
}
