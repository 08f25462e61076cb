//! Reconciliation on hand-built fixtures: every status, flag and category
//! spelling pinned, and the grid checked against an independent per-cell recount.

use chrono::NaiveDate;
use domain::report::{CellCounts, CellStatus, TraceState};
use domain::{DateRange, ProcessorId as P};
use warehouse::{FailureFilter, PlayerFilter, Warehouse};
use warehouse_embedded::EmbeddedWarehouse;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const D1: &str = "2021-11-10";
const D2: &str = "2021-11-11";

fn pgs(player: &str, date: &str, minutes: f64, active: bool) -> String {
    let g = format!("{}_AAA_BBB", date.replace('-', ""));
    format!(
        "('{player}', '{player}', '{g}', DATE '{date}', 2021, 'AAA', 'BBB', true, true, {active}, {dnp},
          {minutes}, 10, 8, 4, 2, 1, 2, 1, 3, 2, 3, 1, 4, 2, 1, 20.0)",
        dnp = minutes == 0.0,
    )
}

fn fixture() -> EmbeddedWarehouse {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let mut rows = Vec::new();
    for date in [D1, D2] {
        for p in ["a", "b", "c", "d", "e"] {
            rows.push(pgs(p, date, 30.0, true));
        }
        rows.push(pgs("x", date, 0.0, true)); // DNP: not expected
        rows.push(pgs("y", date, 25.0, false)); // inactive: not expected
    }
    let rec = |table: &str, col_count: usize, player: &str, date: &str| {
        let nulls = vec!["NULL"; col_count].join(", ");
        format!("INSERT INTO {table} VALUES ('{player}', DATE '{date}', {nulls});")
    };
    let psza = |p: &str, date: &str| rec("nba_precompute.player_shot_zone_analysis", 15, p, date);
    let pdc = |p: &str, date: &str| rec("nba_precompute.player_daily_cache", 17, p, date);
    let pcf = |p: &str, date: &str| rec("nba_precompute.player_composite_factors", 8, p, date);
    let fail = |proc_name: &str, date: &str, entity: &str, cat: &str| {
        format!(
            "INSERT INTO nba_processing.precompute_failures VALUES
             ('{proc_name}', 'r1', DATE '{date}', '{entity}', '{cat}', 'reason for {entity}', true, NULL, NULL, TIMESTAMP '2021-11-10 06:00:00');"
        )
    };
    let run = |proc_name: &str, date: &str| {
        format!(
            "INSERT INTO nba_processing.precompute_processor_runs VALUES
             ('run-{proc_name}-{date}', NULL, '{proc_name}', DATE '{date}', 'success', 0, 0, 5, true, 12, 'test', NULL, TIMESTAMP '{date} 06:00:00');"
        )
    };
    let mut sql = format!(
        "INSERT INTO nba_analytics.player_game_summary VALUES {};\n",
        rows.join(",\n")
    );
    sql += "UPDATE nba_analytics.player_game_summary SET fg_attempts = 0, fg_makes = 0 WHERE player_lookup = 'x';\n";
    // D1 PSZA: a,b,c records, d expected failure, e silently dropped.
    for p in ["a", "b", "c"] {
        sql += &psza(p, D1);
    }
    sql += &fail(
        "PlayerShotZoneAnalysisProcessor",
        D1,
        "d",
        "INSUFFICIENT_DATA",
    );
    sql += &run("PlayerShotZoneAnalysisProcessor", D1);
    // D1 PDC: everyone, plus an extra record (x) and a stale legacy-spelled failure (a).
    for p in ["a", "b", "c", "d", "e", "x"] {
        sql += &pdc(p, D1);
    }
    sql += &fail("PDC", D1, "a", "calculation_error");
    sql += &run("PlayerDailyCacheProcessor", D1);
    // D1 PCF: date-level (legacy spelling) and a record for e, whose PSZA is missing.
    sql += &fail(
        "PlayerCompositeFactorsProcessor",
        D1,
        "DATE_LEVEL",
        "MISSING_DEPENDENCY",
    );
    sql += &pcf("e", D1);
    sql += &run("PlayerCompositeFactorsProcessor", D1);
    // D1 MLFS: never run.
    // D2 PSZA: an unknown category for a, records for the rest.
    sql += &fail("PlayerShotZoneAnalysisProcessor", D2, "a", "WEIRD_THING");
    for p in ["b", "c", "d", "e"] {
        sql += &psza(p, D2);
    }
    sql += &run("PlayerShotZoneAnalysisProcessor", D2);
    // D2 PDC: only expected failures.
    for p in ["a", "b", "c", "d", "e"] {
        sql += &fail("PlayerDailyCacheProcessor", D2, p, "INSUFFICIENT_DATA");
    }
    sql += &run("PlayerDailyCacheProcessor", D2);
    // D2 PCF: all records.
    for p in ["a", "b", "c", "d", "e"] {
        sql += &pcf(p, D2);
    }
    sql += &run("PlayerCompositeFactorsProcessor", D2);
    wh.execute_batch_for_tests(&sql).unwrap();
    wh
}

/// Every processor of the (shipped) pipeline.
fn all() -> Vec<P> {
    domain::pipeline::nba().ids().collect()
}

async fn cells(wh: &EmbeddedWarehouse) -> Vec<CellCounts> {
    wh.cell_counts(DateRange::new(d(D1), d(D2), 10).unwrap(), &all())
        .await
        .unwrap()
}

fn cell<'a>(cells: &'a [CellCounts], p: P, date: &str) -> &'a CellCounts {
    cells
        .iter()
        .find(|c| c.processor == p && c.date == d(date))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_status_and_flag_is_pinned() {
    let wh = fixture();
    let cells = cells(&wh).await;
    assert_eq!(cells.len(), 8);

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Psza)
            .unwrap(),
        D1,
    );
    assert_eq!(
        (c.expected, c.has_record, c.has_failure, c.unaccounted),
        (5, 3, 1, 1)
    );
    assert_eq!(c.status(), CellStatus::Untracked);
    assert_eq!(c.failures_by_category.get("INSUFFICIENT_DATA"), Some(&1));
    assert_eq!(
        c.last_run.as_ref().unwrap().run_id,
        "run-PlayerShotZoneAnalysisProcessor-2021-11-10"
    );

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pdc)
            .unwrap(),
        D1,
    );
    assert_eq!((c.has_record, c.has_failure, c.unaccounted), (5, 0, 0));
    assert_eq!(c.conflict, 1, "a has a record and a stale failure");
    assert_eq!(c.extra, 1, "x is not expected");
    assert_eq!(
        c.failures_by_category.get("PROCESSING_ERROR"),
        Some(&1),
        "alias normalised"
    );
    assert_eq!(c.status(), CellStatus::Ok);

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pcf)
            .unwrap(),
        D1,
    );
    assert!(c.date_level);
    assert_eq!(c.unaccounted, 0);
    assert_eq!(c.status(), CellStatus::DepsMissing);
    assert_eq!(c.cascade, 1, "PCF record for e without a PSZA record");
    assert_eq!(c.failures_by_category.get("MISSING_DEPENDENCIES"), Some(&1));
    assert_eq!(c.coverage(), 1.0);

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Mlfs)
            .unwrap(),
        D1,
    );
    assert_eq!((c.runs, c.unaccounted), (0, 5));
    assert_eq!(c.status(), CellStatus::NotRun);

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Psza)
            .unwrap(),
        D2,
    );
    assert_eq!(c.investigate, 1);
    assert_eq!(c.failures_by_category.get("UNKNOWN"), Some(&1));
    assert_eq!(c.status(), CellStatus::Investigate);

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pdc)
            .unwrap(),
        D2,
    );
    assert_eq!(c.status(), CellStatus::ExpectedGaps);
    assert_eq!(c.has_failure, 5);

    let c = cell(
        &cells,
        domain::pipeline::nba()
            .builtin(domain::Builtin::Pcf)
            .unwrap(),
        D2,
    );
    assert_eq!(c.status(), CellStatus::Ok);
    assert_eq!(c.cascade, 5, "no PDC records on D2 under any PCF record");
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_downs_keep_raw_categories_and_filter_safely() {
    let wh = fixture();
    let all = |search: Option<&str>| PlayerFilter {
        search: search.map(str::to_string),
        offset: 0,
        limit: 500,
    };
    let players = |p, search| {
        let wh = &wh;
        async move { wh.unaccounted_players(p, d(D1), all(search)).await.unwrap() }
    };
    assert_eq!(
        players(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            None
        )
        .await
        .items,
        vec!["e"]
    );
    assert_eq!(
        players(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pcf)
                .unwrap(),
            None
        )
        .await
        .items,
        Vec::<String>::new()
    );
    let mlfs = players(
        domain::pipeline::nba()
            .builtin(domain::Builtin::Mlfs)
            .unwrap(),
        None,
    )
    .await;
    assert_eq!((mlfs.items.len(), mlfs.total), (5, 5));
    // The players' search is the failures' search: a literal, case-blind substring.
    assert_eq!(
        players(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            Some("E")
        )
        .await
        .items,
        vec!["e"]
    );
    assert_eq!(
        players(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            Some("%")
        )
        .await
        .total,
        0
    );
    let second = wh
        .unaccounted_players(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Mlfs)
                .unwrap(),
            d(D1),
            PlayerFilter {
                search: None,
                offset: 2,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items, mlfs.items[2..4].to_vec());
    assert_eq!(second.total, 5);
    let past = wh
        .unaccounted_players(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Mlfs)
                .unwrap(),
            d(D1),
            PlayerFilter {
                search: None,
                offset: 50,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!((past.items.len(), past.total), (0, 5));

    let page = wh
        .failure_rows(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
            d(D2),
            FailureFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].raw_category, "WEIRD_THING");
    assert_eq!(page.items[0].category, domain::FailureCategory::Unknown);

    let all = |filter: FailureFilter| {
        let wh = &wh;
        async move {
            wh.failure_rows(
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap(),
                d(D2),
                filter,
            )
            .await
            .unwrap()
        }
    };
    let p = all(FailureFilter {
        limit: 2,
        offset: 0,
        ..Default::default()
    })
    .await;
    assert_eq!((p.items.len(), p.total), (2, 5));
    let p = all(FailureFilter {
        limit: 2,
        offset: 4,
        ..Default::default()
    })
    .await;
    assert_eq!((p.items.len(), p.total), (1, 5));
    let p = all(FailureFilter {
        limit: 2,
        offset: 40,
        ..Default::default()
    })
    .await;
    assert_eq!((p.items.len(), p.total), (0, 5));
    let p = all(FailureFilter {
        search: Some("C".into()),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(
        p.items
            .iter()
            .map(|f| f.entity_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c"]
    );
    // Hostile search strings are matched literally, never interpreted.
    for hostile in ["%", "_", "' OR 1=1 --", "\"; DROP TABLE x; --"] {
        let p = all(FailureFilter {
            search: Some(hostile.into()),
            limit: 10,
            ..Default::default()
        })
        .await;
        assert_eq!(p.total, 0, "{hostile}");
    }
    let p = all(FailureFilter {
        category: Some("NO_SHOT_ZONE".into()),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(p.total, 0);

    let runs = wh
        .cell_runs(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap(),
            d(D1),
        )
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].expected_count, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn player_trace_follows_the_lineage() {
    let wh = fixture();
    let t = wh.player_trace("e", d(D1)).await.unwrap().unwrap();
    assert!(t.expected);
    assert_eq!(t.links[0].state, TraceState::Unaccounted);
    assert_eq!(t.links[1].state, TraceState::Record);
    assert_eq!(t.links[2].state, TraceState::Record);
    assert_eq!(
        t.root_cause(&domain::pipeline::nba()),
        Some(
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap()
        )
    );
    let t = wh.player_trace("x", d(D1)).await.unwrap().unwrap();
    assert!(!t.expected);
    assert!(wh.player_trace("nobody", d(D1)).await.unwrap().is_none());
}

/// The grid's numbers equal a naive per-cell recount (one query per cell and
/// counter, no shared CTEs) over the raw rows.
#[tokio::test(flavor = "multi_thread")]
async fn grid_equals_an_independent_recount() {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    engine_free_demo(&wh).await;
    let range = DateRange::new(d("2021-11-01"), d("2021-11-12"), 100).unwrap();
    let grid = wh.cell_counts(range, &all()).await.unwrap();
    assert!(!grid.is_empty());
    for c in &grid {
        let nba = domain::pipeline::nba();
        let spec = nba.spec(c.processor);
        let expected_set = format!(
            "SELECT DISTINCT player_lookup FROM nba_analytics.player_game_summary
             WHERE game_date = DATE '{}' AND is_active AND (minutes_played > 0 OR fg_attempts > 0)",
            c.date
        );
        let count = |sql: String| wh.count_for_tests(&sql).unwrap();
        assert_eq!(
            count(format!("SELECT count(*) FROM ({expected_set})")),
            c.expected
        );
        assert_eq!(
            count(format!(
                "SELECT count(*) FROM ({expected_set}) e WHERE player_lookup IN
                 (SELECT player_lookup FROM {} WHERE {} = DATE '{}')",
                spec.output_table, spec.date_column, c.date
            )),
            c.has_record,
            "{c:?}"
        );
        let dl = count(format!(
            "SELECT count(*) FROM nba_processing.precompute_failures
             WHERE processor_name = '{}' AND analysis_date = DATE '{}' AND entity_id = 'DATE_LEVEL'",
            spec.name, c.date
        ));
        assert_eq!(dl > 0, c.date_level, "{c:?}");
        let failed = count(format!(
            "SELECT count(*) FROM ({expected_set}) e WHERE player_lookup NOT IN
               (SELECT player_lookup FROM {} WHERE {} = DATE '{}')
             AND player_lookup IN (SELECT entity_id FROM nba_processing.precompute_failures
               WHERE processor_name = '{}' AND analysis_date = DATE '{}')",
            spec.output_table, spec.date_column, c.date, spec.name, c.date
        ));
        assert_eq!(failed, c.has_failure, "{c:?}");
        let unaccounted = if dl > 0 {
            0
        } else {
            c.expected - c.has_record - failed
        };
        assert_eq!(unaccounted, c.unaccounted, "{c:?}");
    }
}

/// Demo rows plus processor output written through the trait (no engine).
async fn engine_free_demo(wh: &EmbeddedWarehouse) {
    use domain::processors::{run, SeasonIndex, UpstreamSet};
    let season = domain::demo::generate(11);
    wh.load_upstream_rows(season.schedule.clone(), season.games.clone())
        .await
        .unwrap();
    let index = SeasonIndex::new(season.games, &season.schedule);
    let now = chrono::Utc::now().naive_utc();
    for date in index
        .dates()
        .filter(|x| *x <= d("2021-11-12"))
        .collect::<Vec<_>>()
    {
        let mut up = UpstreamSet::default();
        for (i, p) in all().iter().enumerate() {
            let nba = domain::pipeline::nba();
            let out = run(
                &nba,
                nba.spec(*p).runner.builtin().unwrap(),
                date,
                &index,
                &up,
            );
            up.absorb(&out);
            // Every other date writes MLFS in legacy mode (records only).
            let legacy = *p
                == domain::pipeline::nba()
                    .builtin(domain::Builtin::Mlfs)
                    .unwrap()
                && date.to_string().ends_with(['1', '3', '5', '7', '9']);
            let run_row = warehouse::RunRow {
                run_id: format!("t-{i}-{date}"),
                job_id: None,
                processor: *p,
                analysis_date: date,
                status: "success".into(),
                records_written: out.records.len() as i64,
                failures_written: out.failures.len() as i64,
                expected_count: out.expected as i64,
                dependency_check_passed: out.dependency_check_passed,
                duration_ms: 1,
                processor_version: "t".into(),
                error: None,
                started_at: now,
            };
            wh.write_cell(warehouse::CellWrite {
                output: out,
                run: run_row,
                legacy,
                job_id: None,
                written_at: now,
                known_empty: false,
            })
            .await
            .unwrap();
        }
    }
}
