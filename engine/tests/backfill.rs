//! The backfill engine against the real embedded store.

use std::sync::atomic::AtomicBool;

use chrono::NaiveDate;
use domain::{DateRange, ProcessorId as P};
use engine::backfill::{backfill, plan, BackfillRequest, DateSpec, RunOptions};
use warehouse::{JobRecord, JobState, Warehouse, WarehouseError};
use warehouse_embedded::EmbeddedWarehouse;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Every processor of the (shipped) pipeline.
fn all() -> Vec<P> {
    domain::pipeline::nba().ids().collect()
}

/// A store with the demo season's box scores only (no processor output yet).
async fn season_store() -> EmbeddedWarehouse {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap();
    wh
}

fn request(processors: &[P], start: &str, end: &str) -> BackfillRequest {
    BackfillRequest {
        processors: processors.to_vec(),
        dates: DateSpec::Range {
            start: d(start),
            end: d(end),
        },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    }
}

fn fresh() -> RunOptions {
    RunOptions {
        resume: false,
        ..RunOptions::default()
    }
}

async fn run(wh: &dyn Warehouse, req: &BackfillRequest) -> engine::backfill::JobSummary {
    backfill(wh, req, &fresh(), &(), &AtomicBool::new(false))
        .await
        .unwrap()
}

/// Output, failure and run-independent content of every processor table.
fn dump(wh: &EmbeddedWarehouse) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT * EXCLUDE (run_id, processed_at) FROM nba_precompute.player_shot_zone_analysis ORDER BY ALL",
        "SELECT * EXCLUDE (run_id, processed_at) FROM nba_precompute.player_daily_cache ORDER BY ALL",
        "SELECT * EXCLUDE (run_id, processed_at) FROM nba_precompute.player_composite_factors ORDER BY ALL",
        "SELECT * EXCLUDE (run_id, processed_at) FROM nba_predictions.ml_feature_store_v2 ORDER BY ALL",
        "SELECT * EXCLUDE (run_id, created_at) FROM nba_processing.precompute_failures ORDER BY ALL",
    ] {
        out.extend(wh.rows_for_tests(sql).unwrap());
        out.push("--".into());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn accounting_identity_holds_after_a_full_season() {
    let wh = season_store().await;
    let summary = run(&wh, &request(&all(), "2021-10-19", "2022-04-10")).await;
    assert_eq!(summary.state, JobState::Succeeded);
    assert!(summary.failed_cells.is_empty());
    let season = DateRange::new(d("2021-10-19"), d("2022-04-10"), 400).unwrap();
    let cells = wh.cell_counts(season, &all()).await.unwrap();
    assert!(cells.len() > 600, "{} cells", cells.len());
    for c in &cells {
        assert_eq!(c.unaccounted, 0, "{c:?}");
        if !c.date_level {
            assert_eq!(c.has_record + c.has_failure, c.expected, "{c:?}");
        }
        assert_eq!(c.runs, 1, "{c:?}");
    }
    // Independent recount from raw rows: every expected (processor, date,
    // player) has a record, a failure, or a date-level failure.
    let silent = wh
        .count_for_tests(
            "WITH e AS (SELECT DISTINCT game_date d, player_lookup p FROM nba_analytics.player_game_summary
                        WHERE is_active AND (minutes_played > 0 OR fg_attempts > 0))
             SELECT count(*) FROM e WHERE
                NOT EXISTS (SELECT 1 FROM nba_precompute.player_daily_cache r WHERE r.cache_date = e.d AND r.player_lookup = e.p)
                AND NOT EXISTS (SELECT 1 FROM nba_processing.precompute_failures f
                                WHERE f.processor_name = 'PlayerDailyCacheProcessor' AND f.analysis_date = e.d
                                  AND f.entity_id IN (e.p, 'DATE_LEVEL'))",
        )
        .unwrap();
    assert_eq!(silent, 0);
    // The injected faults surface with the right categories.
    let categories = wh
        .rows_for_tests(
            "SELECT DISTINCT failure_category FROM nba_processing.precompute_failures ORDER BY 1",
        )
        .unwrap();
    for expected in [
        "INCOMPLETE_DATA",
        "INSUFFICIENT_DATA",
        "MISSING_DEPENDENCIES",
        "MISSING_UPSTREAM",
        "NO_SHOT_ZONE",
        "PROCESSING_ERROR",
    ] {
        assert!(
            categories.iter().any(|c| c.contains(expected)),
            "{expected} missing from {categories:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rerunning_a_date_twice_leaves_identical_tables() {
    let wh = season_store().await;
    let req = request(&all(), "2021-11-08", "2021-11-10");
    run(&wh, &req).await;
    let first = dump(&wh);
    run(&wh, &req).await;
    assert_eq!(dump(&wh), first, "no duplicates, no drift");
    let runs = wh
        .count_for_tests("SELECT count(*) FROM nba_processing.precompute_processor_runs")
        .unwrap();
    assert_eq!(runs, 2 * 3 * 4, "run rows are appended, one per run");
}

/// Downstream cells of a job read their upstream from memory; one processor
/// per job reads it back from the warehouse. Both must write the same tables.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_read_from_memory_equals_upstream_read_from_the_store() {
    let together = season_store().await;
    run(&together, &request(&all(), "2021-11-18", "2021-11-26")).await;
    let apart = season_store().await;
    for p in all() {
        run(&apart, &request(&[p], "2021-11-18", "2021-11-26")).await;
    }
    let dumped = dump(&together);
    assert!(
        dumped.len() > 5 * 100,
        "the range writes rows: {}",
        dumped.len()
    );
    assert_eq!(dumped, dump(&apart));
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_failures_are_removed_even_when_the_new_run_has_none() {
    let wh = season_store().await;
    // A late-season date on which PDC fails nobody... except the injected
    // faults; pick a player who has a record and plant a stale failure row.
    let req = request(
        &[domain::pipeline::nba()
            .builtin(domain::Builtin::Psza)
            .unwrap()],
        "2022-01-10",
        "2022-01-10",
    );
    run(&wh, &req).await;
    let failures_before = wh
        .count_for_tests("SELECT count(*) FROM nba_processing.precompute_failures WHERE analysis_date = DATE '2022-01-10'")
        .unwrap();
    wh.execute_batch_for_tests(
        "INSERT INTO nba_processing.precompute_failures
         SELECT 'PlayerShotZoneAnalysisProcessor', 'old-run', DATE '2022-01-10', player_lookup,
                'calculation_error', 'stale', true, NULL, NULL, TIMESTAMP '2021-11-10 06:00:00'
         FROM nba_precompute.player_shot_zone_analysis WHERE analysis_date = DATE '2022-01-10' LIMIT 3",
    )
    .unwrap();
    run(&wh, &req).await;
    let stale = wh
        .count_for_tests(
            "SELECT count(*) FROM nba_processing.precompute_failures WHERE run_id = 'old-run'",
        )
        .unwrap();
    assert_eq!(stale, 0);
    let failures_after = wh
        .count_for_tests("SELECT count(*) FROM nba_processing.precompute_failures WHERE analysis_date = DATE '2022-01-10'")
        .unwrap();
    assert_eq!(failures_after, failures_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_job_resumes_to_the_same_tables() {
    // More dates than one write batch holds, so the crash falls in the second.
    let req = request(&all(), "2021-10-19", "2022-01-31");
    let reference = season_store().await;
    run(&reference, &req).await;

    let wh = season_store().await;
    // Crash inside the second batch (a batch is whole dates, 4 cells each):
    // the first batch is committed, the second is lost and redone.
    let batch = wh.write_batch().max_cells;
    let planned = engine::backfill::plan(&wh, &req).await.unwrap().len();
    assert!(batch % 4 == 0 && batch + 5 < planned, "{batch} {planned}");
    let crash = RunOptions {
        resume: false,
        crash_after: Some(batch + 5),
        ..RunOptions::default()
    };
    let partial = backfill(&wh, &req, &crash, &(), &AtomicBool::new(false))
        .await
        .unwrap();
    assert_eq!(partial.state, JobState::Running);
    // The next process start marks it interrupted; a plain re-run resumes it.
    assert_eq!(wh.interrupt_stale_jobs(None).await.unwrap(), 1);
    let resumed = backfill(
        &wh,
        &req,
        &RunOptions::default(),
        &(),
        &AtomicBool::new(false),
    )
    .await
    .unwrap();
    assert!(resumed.resumed);
    assert_eq!(resumed.job_id, partial.job_id);
    assert_eq!(resumed.state, JobState::Succeeded);
    // Its progress counts the whole job, the cells of the first run too.
    assert_eq!(
        (resumed.progress.cells_done, resumed.progress.cells_total),
        (planned, planned)
    );
    assert_eq!(dump(&wh), dump(&reference));
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_jobs_are_refused() {
    let wh = season_store().await;
    let now = chrono::Utc::now().naive_utc();
    let running = JobRecord {
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
    wh.create_job(
        running.clone(),
        vec![(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d("2021-11-10"),
        )],
    )
    .await
    .unwrap();
    let err = backfill(
        &wh,
        &request(
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()],
            "2021-11-09",
            "2021-11-11",
        ),
        &fresh(),
        &(),
        &AtomicBool::new(false),
    )
    .await
    .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("job-other"), "{err}");
    assert_eq!(
        wh.jobs(10).await.unwrap().len(),
        1,
        "the refused job left nothing"
    );
    // A queued job may wait behind it, but cannot start while it runs.
    let queued = JobRecord {
        id: "job-queued".into(),
        state: JobState::Queued,
        started_at: None,
        ..running.clone()
    };
    wh.create_job(
        queued,
        vec![(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d("2021-11-10"),
        )],
    )
    .await
    .unwrap();
    assert!(matches!(
        wh.start_job("job-queued").await,
        Err(WarehouseError::Conflict(_))
    ));
    assert_eq!(
        wh.job("job-queued").await.unwrap().unwrap().state,
        JobState::Queued
    );
    // A disjoint request still runs.
    let ok = run(
        &wh,
        &request(
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()],
            "2021-11-12",
            "2021-11-12",
        ),
    )
    .await;
    assert_eq!(ok.state, JobState::Succeeded);
    // Once the other job is over, the queued one starts.
    wh.update_job(&JobRecord {
        state: JobState::Succeeded,
        ..running
    })
    .await
    .unwrap();
    let started = wh.start_job("job-queued").await.unwrap();
    assert_eq!(started.state, JobState::Running);
    assert!(started.started_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_state_has_gaps_and_a_rerun_closes_them() {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    engine::demo::load_demo(&wh, domain::demo::DEFAULT_SEED, &())
        .await
        .unwrap();
    let nov = DateRange::new(d("2021-11-05"), d("2021-11-30"), 400).unwrap();
    let before = wh.cell_counts(nov, &all()).await.unwrap();
    for p in [
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pdc)
            .unwrap(),
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pcf)
            .unwrap(),
        domain::pipeline::nba()
            .builtin(domain::Builtin::Mlfs)
            .unwrap(),
    ] {
        let gaps: i64 = before
            .iter()
            .filter(|c| c.processor == p)
            .map(|c| c.unaccounted)
            .sum();
        assert!(
            gaps > 0,
            "{p:?} should have unaccounted players in the demo state"
        );
    }
    let psza_gaps: i64 = before
        .iter()
        .filter(|c| {
            c.processor
                == domain::pipeline::nba()
                    .builtin(domain::Builtin::Psza)
                    .unwrap()
        })
        .map(|c| c.unaccounted)
        .sum();
    assert_eq!(psza_gaps, 0, "PSZA ran with failure tracking");
    assert!(
        wh.cell_counts(
            DateRange::new(d("2021-12-01"), d("2021-12-31"), 400).unwrap(),
            &all()
        )
        .await
        .unwrap()
        .iter()
        .all(|c| c.runs == 0),
        "nothing after November"
    );

    let mut req = request(
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
        "2021-11-05",
        "2021-11-30",
    );
    req.only_gaps = true;
    let cells = plan(&wh, &req).await.unwrap();
    assert!(!cells.is_empty());
    run(&wh, &req).await;
    let after = wh.cell_counts(nov, &all()).await.unwrap();
    for c in &after {
        assert_eq!(c.unaccounted, 0, "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plan_lists_cells_with_expected_counts_and_writes_nothing() {
    let wh = season_store().await;
    let cells = plan(
        &wh,
        &request(
            &[
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap(),
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pcf)
                    .unwrap(),
            ],
            "2021-11-05",
            "2021-11-06",
        ),
    )
    .await
    .unwrap();
    assert_eq!(cells.len(), 4);
    assert_eq!(
        cells[0].processor,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pdc)
            .unwrap()
    );
    assert_eq!(
        cells[1].processor,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pcf)
            .unwrap()
    );
    assert!(cells.iter().all(|c| c.expected > 100));
    let jobs = wh.jobs(10).await.unwrap();
    assert!(jobs.is_empty());
}

/// Issue [L] 5: the drill-down reads the date-level failure on its own, so
/// a search, a category or a page never hides it, and the failure page is
/// exactly its size and its total counts entity rows only.
#[tokio::test(flavor = "multi_thread")]
async fn the_date_level_failure_shows_whatever_the_failure_page() {
    use engine::reconcile::{cell_detail, CellQuery, DRILLDOWN_PAGE};
    let wh = season_store().await;
    let entities = DRILLDOWN_PAGE + 10;
    let mut sql = String::from(
        "INSERT INTO nba_processing.precompute_failures
             (processor_name, run_id, analysis_date, entity_id, failure_category, failure_reason)
         VALUES ('PCF', 'r1', DATE '2021-11-10', 'DATE_LEVEL', 'MISSING_DEPENDENCIES', 'PDC has no rows')",
    );
    for i in 0..entities {
        sql += &format!(
            ", ('PCF', 'r1', DATE '2021-11-10', 'player{i:03}', 'INSUFFICIENT_DATA', '{i} games')"
        );
    }
    wh.execute_batch_for_tests(&sql).unwrap();
    let query = |search: Option<&str>, category: Option<&str>, offset: Option<&str>| CellQuery {
        cell: "PCF:2021-11-10".into(),
        search: search.map(String::from),
        category: category.map(String::from),
        offset: offset.map(String::from),
        ..CellQuery::default()
    };
    for (q, page_len, total) in [
        (query(None, None, None), DRILLDOWN_PAGE, entities),
        (query(None, None, Some("50")), 10, entities),
        (query(Some("player00"), None, None), 10, 10),
        (
            query(Some("PLAYER"), Some("INSUFFICIENT_DATA"), None),
            DRILLDOWN_PAGE,
            entities,
        ),
        (query(None, Some("MISSING_DEPENDENCIES"), None), 0, 0),
    ] {
        let detail = cell_detail(&wh, &q).await.unwrap();
        let banner = detail.date_level.as_ref().map(|f| f.entity_id.as_str());
        assert_eq!(banner, Some("DATE_LEVEL"), "{q:?}");
        assert_eq!(
            (detail.failures.items.len() as i64, detail.failures.total),
            (page_len, total),
            "{q:?}"
        );
        assert!(
            detail
                .failures
                .items
                .iter()
                .all(|f| f.entity_id != "DATE_LEVEL"),
            "{q:?}"
        );
    }
}

/// Issue [L] 5: neither a range nor a list of dates has its own message.
#[test]
fn a_request_without_dates_says_what_to_give() {
    let raw = engine::backfill::RawBackfillRequest {
        processors: "PDC".into(),
        start: Some("2021-11-05".into()),
        ..Default::default()
    };
    let e = BackfillRequest::parse(&domain::pipeline::nba(), &raw, engine::Limits::default())
        .unwrap_err();
    assert_eq!(e, domain::DomainError::MissingDates);
    assert!(!e.to_string().contains("is not a date"), "{e}");
    assert!(e.to_string().contains("--dates"), "{e}");
}

/// Issue [Q] 4: run rows carry their duration, never a flat 0 ms.
#[tokio::test(flavor = "multi_thread")]
async fn run_rows_carry_their_duration() {
    let wh = season_store().await;
    run(&wh, &request(&all(), "2021-11-10", "2021-11-10")).await;
    for p in all() {
        let runs = wh.cell_runs(p, d("2021-11-10")).await.unwrap();
        assert_eq!(runs.len(), 1, "{p:?}");
        assert!(
            runs[0].duration_ms >= 1,
            "{p:?}: {} ms",
            runs[0].duration_ms
        );
    }
}

/// Issue [M] 5: `--stop-on unaccounted` stops a legacy backfill (records
/// only: anyone without one is unaccounted) after the first write that
/// trips it — stopped, the cells named, the rest pending and resumable —
/// while a rule the cells do not trip lets the job run to the end.
#[tokio::test(flavor = "multi_thread")]
async fn stop_rules_stop_after_the_write_that_trips_them() {
    let wh = season_store().await;
    let pdc = domain::pipeline::nba().processor("PDC").unwrap();
    let season = (
        domain::demo::season_start().to_string(),
        domain::demo::season_end().to_string(),
    );
    let mut req = request(&[pdc], &season.0, &season.1);
    req.legacy = true;
    req.stop_on = domain::watch::StopOn::parse("unaccounted").unwrap();
    let summary = run(&wh, &req).await;
    assert_eq!(summary.state, JobState::Stopped, "{summary:?}");
    let error = summary.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("stopped by --stop-on unaccounted: PDC 2021-10-19 ("),
        "{error}"
    );
    assert!(
        summary.progress.cells_done < summary.progress.cells_total,
        "stopped before the end: {:?}",
        summary.progress
    );
    assert!(JobState::Stopped.is_resumable());
    let job = wh.job(&summary.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Stopped);
    assert_eq!(job.error.as_deref(), Some(error.as_str()));

    // Tracked failures on the first days: nobody is unaccounted, and a rule
    // on unaccounted entities does not stop the job.
    let mut tracked = request(&[pdc], "2021-10-19", "2021-10-21");
    tracked.stop_on = domain::watch::StopOn::parse("unaccounted").unwrap();
    let summary = run(&wh, &tracked).await;
    assert_eq!(summary.state, JobState::Succeeded, "{summary:?}");
    // A bad rule is refused by name.
    let raw = engine::backfill::RawBackfillRequest {
        processors: "PDC".into(),
        start: Some("2021-10-19".into()),
        end: Some("2021-10-21".into()),
        stop_on: Some("unaccounted,everything".into()),
        ..Default::default()
    };
    let e = BackfillRequest::parse(&domain::pipeline::nba(), &raw, engine::Limits::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("stop-on: \"everything\""), "{e}");
}
