//! The one scenario every store (and the cache) runs: loads, backfills,
//! foreign rows, drill-downs; what the trait shows after each step.

use super::*;

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

pub(crate) async fn scenario(store: Store<'_>) -> Observed {
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
    o.push(
        "recent box scores",
        trace
            .recent_games
            .iter()
            .map(|g| {
                format!(
                    "{} {} {:?} {:?}",
                    g.game_date, g.game_id, g.points, g.minutes_played
                )
            })
            .collect(),
    );
    // What the downstream builtins read, decoded alike by every store.
    let builtins = [
        domain::Builtin::Psza,
        domain::Builtin::Pdc,
        domain::Builtin::Pcf,
    ]
    .map(|b| domain::pipeline::nba().builtin(b).unwrap());
    let up = wh
        .upstream_outcomes(d("2021-11-02"), &builtins)
        .await
        .unwrap();
    assert!(
        !up.pdc.records.is_empty() && !up.psza.failures.is_empty(),
        "{} {} {}",
        up.psza.records.len(),
        up.pdc.records.len(),
        up.psza.failures.len()
    );
    assert!(!trace.recent_games.is_empty());
    let mut outcomes = vec![format!(
        "records {} {} {}, failures {} {} {}",
        up.psza.records.len(),
        up.pdc.records.len(),
        up.pcf.records.len(),
        up.psza.failures.len(),
        up.pdc.failures.len(),
        up.pcf.failures.len()
    )];
    let first = |keys: Vec<&String>| keys.into_iter().min().cloned().unwrap_or_default();
    let p = first(up.psza.records.keys().collect());
    outcomes.push(format!("{:?}", up.psza.records.get(&p)));
    let p = first(up.pdc.records.keys().collect());
    outcomes.push(format!("{:?}", up.pdc.records.get(&p)));
    let p = first(up.pcf.records.keys().collect());
    outcomes.push(format!("{:?}", up.pcf.records.get(&p)));
    let mut failed: Vec<String> = up
        .psza
        .failures
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    failed.sort();
    outcomes.extend(failed);
    o.push("upstream outcomes", outcomes);
    let (games, schedule) = wh
        .player_games(d("2021-11-01"), d("2021-11-03"))
        .await
        .unwrap();
    assert!(!games.is_empty() && !schedule.is_empty());
    o.push(
        "player games",
        vec![
            format!("{} games, {} scheduled", games.len(), schedule.len()),
            format!("{:?}", games.first()),
            format!("{:?}", schedule.last()),
        ],
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
