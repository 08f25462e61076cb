//! The embedded store: creation, migrations, refusal of foreign files,
//! concurrent readers during a write, and the overview queries.

use std::sync::Arc;

use chrono::NaiveDate;
use domain::DateRange;
use warehouse::{Warehouse, WarehouseError};
use warehouse_embedded::{EmbeddedWarehouse, LATEST_SCHEMA_VERSION};

fn range(a: &str, b: &str) -> DateRange {
    DateRange::new(
        NaiveDate::parse_from_str(a, "%Y-%m-%d").unwrap(),
        NaiveDate::parse_from_str(b, "%Y-%m-%d").unwrap(),
        1000,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_every_design_table_and_reopens_without_remigrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/rollcall.duckdb");
    {
        let wh =
            EmbeddedWarehouse::open(&path, std::sync::Arc::new(domain::pipeline::nba())).unwrap();
        let st = wh.status().await.unwrap();
        assert_eq!(st.backend, "embedded");
        assert_eq!(st.schema_version, LATEST_SCHEMA_VERSION);
        let tables = wh
            .rows_for_tests(
                "SELECT table_schema || '.' || table_name AS qualified FROM information_schema.tables ORDER BY 1",
            )
            .unwrap()
            .join("\n");
        for t in [
            "nba_reference.nba_schedule",
            "nba_analytics.player_game_summary",
            "nba_precompute.player_shot_zone_analysis",
            "nba_precompute.player_daily_cache",
            "nba_precompute.player_composite_factors",
            "nba_predictions.ml_feature_store_v2",
            "nba_processing.precompute_failures",
            "nba_processing.precompute_processor_runs",
            "rollcall_meta.jobs",
            "rollcall_meta.job_cells",
            "rollcall_meta.schema_migrations",
        ] {
            assert!(tables.contains(t), "{t} missing in {tables}");
        }
    }
    let wh = EmbeddedWarehouse::open(&path, std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let migrations = wh
        .count_for_tests("SELECT count(*) FROM rollcall_meta.schema_migrations")
        .unwrap();
    assert_eq!(migrations, LATEST_SCHEMA_VERSION);
}

#[test]
fn refuses_a_duckdb_file_that_rollcall_did_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.duckdb");
    {
        let conn = duckdb::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE customers (id INTEGER); INSERT INTO customers VALUES (1);",
        )
        .unwrap();
    }
    let err = EmbeddedWarehouse::open(&path, std::sync::Arc::new(domain::pipeline::nba()))
        .err()
        .expect("refused");
    assert!(matches!(err, WarehouseError::NotRollcall { .. }), "{err}");
    let conn = duckdb::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema <> 'main'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "nothing was created in the foreign file");
}

#[test]
fn refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello").unwrap();
    let err = EmbeddedWarehouse::open(&path, std::sync::Arc::new(domain::pipeline::nba()))
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn overview_queries_count_games_rows_and_expected_players() {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let season = domain::demo::generate(1);
    let nov5: Vec<_> = season
        .games
        .iter()
        .filter(|g| g.game_date.to_string() == "2021-11-05")
        .cloned()
        .collect();
    let expected_players = {
        let mut v: Vec<_> = nov5
            .iter()
            .filter(|g| g.is_expected())
            .map(|g| g.player_lookup.clone())
            .collect();
        v.sort();
        v.dedup();
        v.len() as i64
    };
    let games = {
        let mut v: Vec<_> = nov5.iter().map(|g| g.game_id.clone()).collect();
        v.sort();
        v.dedup();
        v.len() as i64
    };
    let rows = nov5.len() as i64;
    wh.load_upstream_rows(season.schedule, season.games)
        .await
        .unwrap();
    let dates = wh
        .game_dates(range("2021-11-05", "2021-11-05"))
        .await
        .unwrap();
    assert_eq!(dates.len(), 1);
    assert_eq!(dates[0].games, games);
    assert_eq!(dates[0].player_rows, rows);
    assert_eq!(dates[0].expected_players, expected_players);
    let counts = wh
        .table_counts(range("2021-11-05", "2021-11-05"))
        .await
        .unwrap();
    assert_eq!(counts.len(), 8);
    assert_eq!(counts[1].table, "nba_analytics.player_game_summary");
    assert_eq!(counts[1].rows, rows);
}

#[tokio::test(flavor = "multi_thread")]
async fn reloading_upstream_rows_replaces_instead_of_duplicating() {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let season = domain::demo::generate(3);
    let n = season.games.len() as i64;
    wh.load_upstream_rows(season.schedule.clone(), season.games.clone())
        .await
        .unwrap();
    wh.load_upstream_rows(season.schedule, season.games)
        .await
        .unwrap();
    assert_eq!(
        wh.count_for_tests("SELECT count(*) FROM nba_analytics.player_game_summary")
            .unwrap(),
        n
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_see_a_consistent_snapshot_while_a_writer_works() {
    let wh = Arc::new(
        EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap(),
    );
    let season = domain::demo::generate(5);
    let writer = {
        let wh = Arc::clone(&wh);
        tokio::spawn(async move { wh.load_upstream_rows(season.schedule, season.games).await })
    };
    // Readers run concurrently; each sees either nothing or the whole load.
    let mut seen = Vec::new();
    for _ in 0..20 {
        let d = wh
            .game_dates(range("2021-10-01", "2022-05-01"))
            .await
            .unwrap();
        seen.push(d.len());
        tokio::task::yield_now().await;
    }
    writer.await.unwrap().unwrap();
    let full = wh
        .game_dates(range("2021-10-01", "2022-05-01"))
        .await
        .unwrap()
        .len();
    assert!(full > 150);
    assert!(seen.iter().all(|n| *n == 0 || *n == full), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn feature_rows_keep_every_double_exactly() {
    use domain::processors::{CellOutput, MlfsRecord, Records};
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let date = NaiveDate::from_ymd_opt(2021, 11, 5).unwrap();
    // Values whose text forms are where a lossy round trip would show.
    let tricky = vec![
        0.1 + 0.2,
        1.0 / 3.0,
        -0.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        123_456_789.123_456_79,
        -2.5e-10,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let rows = vec![
        MlfsRecord {
            player_lookup: "a".into(),
            game_date: date,
            feature_version: "v2".into(),
            features: tricky.clone(),
            feature_quality_score: 0.5,
        },
        MlfsRecord {
            player_lookup: "b".into(),
            game_date: date,
            feature_version: "v2".into(),
            features: Vec::new(),
            feature_quality_score: 1.0,
        },
    ];
    let now = chrono::Utc::now().naive_utc();
    wh.write_cells(vec![warehouse::CellWrite {
        output: CellOutput {
            processor: domain::pipeline::nba()
                .builtin(domain::Builtin::Mlfs)
                .unwrap(),
            date,
            expected: 2,
            records: Records::Mlfs(rows),
            failures: Vec::new(),
            dependency_check_passed: true,
        },
        run: warehouse::RunRow {
            run_id: "run-1".into(),
            job_id: None,
            processor: domain::pipeline::nba()
                .builtin(domain::Builtin::Mlfs)
                .unwrap(),
            analysis_date: date,
            status: "success".into(),
            records_written: 2,
            failures_written: 0,
            expected_count: 2,
            dependency_check_passed: true,
            duration_ms: 1,
            processor_version: "test".into(),
            error: None,
            started_at: now,
        },
        legacy: false,
        job_id: None,
        written_at: now,
        known_empty: true,
    }])
    .await
    .unwrap();
    let back = wh
        .double_lists_for_tests(
            "SELECT features FROM nba_predictions.ml_feature_store_v2 ORDER BY player_lookup",
        )
        .unwrap();
    assert_eq!(back.len(), 2);
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back[0]), bits(&tricky), "bit for bit");
    assert!(back[1].is_empty());
    assert_eq!(
        wh.count_for_tests(
            "SELECT count(*) FROM nba_predictions.ml_feature_store_v2
             WHERE len(feature_names) = 25 AND run_id = 'run-1'"
        )
        .unwrap(),
        2
    );
}

/// Pipeline names go into SQL bare, so the validator refuses reserved
/// words: every word the linked DuckDB reserves must be on its list.
#[test]
fn the_pipeline_validator_knows_every_word_duckdb_reserves() {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let reserved = wh
        .rows_for_tests(
            "SELECT keyword_name AS t FROM duckdb_keywords() WHERE keyword_category = 'reserved'",
        )
        .unwrap();
    assert!(reserved.len() > 50, "{reserved:?}");
    let missing: Vec<&String> = reserved
        .iter()
        .filter(|w| !domain::pipeline::is_sql_reserved(w))
        .collect();
    assert!(missing.is_empty(), "not refused: {missing:?}");
}

#[tokio::test]
async fn an_unknown_job_is_not_found_and_nothing_changes() {
    let wh = EmbeddedWarehouse::in_memory(Arc::new(domain::pipeline::nba())).unwrap();
    let e = wh.start_job("job-that-never-was").await.unwrap_err();
    assert!(matches!(e, WarehouseError::NotFound(_)), "{e:?}");
    assert!(e.to_string().contains("job-that-never-was"), "{e}");
    assert!(wh.jobs(10).await.unwrap().is_empty());
}

/// An evaluation kept before sets had keys (schema 6: names in the cell's
/// row) reads back the same after the migration to keys, with no key, so
/// the next evaluation compares with its names as kept.
#[tokio::test(flavor = "multi_thread")]
async fn cells_kept_before_names_had_keys_read_back_after_the_migration() {
    use domain::watch::{Change, WatchedCell};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.duckdb");
    let pipeline = Arc::new(domain::pipeline::nba());
    let day = NaiveDate::from_ymd_opt(2021, 11, 3).unwrap();
    let at = day.and_hms_opt(9, 0, 0).unwrap();
    let cell = WatchedCell {
        processor: pipeline.builtin(domain::Builtin::Pdc).unwrap(),
        date: day,
        expected: 3,
        records: 1,
        expected_failures: 0,
        investigate: 0,
        unaccounted: 2,
        late: false,
        change: Change::Opened,
        open_since: at,
        entities: vec!["ann".into(), "bob".into()],
        open_entities: 2,
        new_entities: vec!["ann".into(), "bob".into()],
        resolved_entities: Vec::new(),
        names_key: None,
    };
    let record = warehouse::EvaluationRecord {
        id: "ev-old".into(),
        trigger: "test".into(),
        as_of: at,
        window_start: day,
        window_end: day,
        started_at: at,
        duration_ms: 1,
        open_cells: 1,
        summary: "{}".into(),
    };
    {
        let wh = EmbeddedWarehouse::open(&path, pipeline.clone()).unwrap();
        wh.record_evaluation(record, vec![cell.clone()], at - chrono::Duration::days(30))
            .await
            .unwrap();
    }
    // Back to schema 6, as a store made before keys would be.
    {
        let conn = duckdb::Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE rollcall_meta.evaluation_cells DROP COLUMN names_key;
             DROP TABLE rollcall_meta.evaluation_names;
             DROP TABLE rollcall_meta.acknowledgements;
             DROP TABLE rollcall_meta.snapshots;
             DELETE FROM rollcall_meta.schema_migrations WHERE version >= 7;",
        )
        .unwrap();
    }
    let wh = EmbeddedWarehouse::open(&path, pipeline).unwrap();
    assert_eq!(
        wh.status().await.unwrap().schema_version,
        LATEST_SCHEMA_VERSION
    );
    assert_eq!(
        wh.evaluation_cells("ev-old").await.unwrap(),
        std::slice::from_ref(&cell)
    );
    assert_eq!(
        wh.evaluation_cells_by_key("ev-old").await.unwrap(),
        [cell],
        "no key: the names are the row's own"
    );
}
