//! Issue [P] 1 and 2 on both stores: a team's own failure table (16
//! columns, no `upstream_processor`) and run log (`status` words), mapped
//! by `[read]` and read beside Rollcall's own tables, with the team's
//! category spellings (`[categories]`). The same rows give the same cells
//! on the embedded store and on BigQuery, the team's tables are never
//! altered, and a mapped column the table lacks is named.

use crate::common::{bigquery, d, expected_players, load_until};
use domain::pipeline::Pipeline;
use domain::{DateRange, ProcessorId as P};
use std::sync::Arc;
use warehouse::reads::QueryPort;
use warehouse::sql::ColumnKind;
use warehouse::{Warehouse, WarehouseError};
use warehouse_embedded::EmbeddedWarehouse;

const ADOPTED: &str = r#"
[universe]
table = "nba_analytics.player_game_summary"
date_column = "game_date"
entity_column = "player_lookup"
expected = "is_active AND (minutes_played > 0 OR fg_attempts > 0)"

[tables]
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
filter = "resolution_status <> 'RESOLVED'"

[read.runs]
table = "team_reference.processor_run_history"
processor = "processor_name"
date = "data_date"
run_id = "run_id"
time = "started_at"
status = "status"
success_values = ["success"]
failure_values = ["failed", "partial"]
skipped_values = ["skipped"]
records = "records_processed"
error = "errors"

[categories]
EXPECTED_INCOMPLETE = "expected"
CIRCUIT_BREAKER_ACTIVE = "expected"
INCOMPLETE_UPSTREAM = "MISSING_UPSTREAM"

[[processor]]
code = "CACHE"
name = "PlayerDailyCacheProcessor"
output_table = "team_precompute.player_daily_cache"
date_column = "cache_date"
entity_column = "player_lookup"
runs = "observe"
"#;

fn install(text: &str) -> (Arc<Pipeline>, P) {
    let pipeline = Arc::new(Pipeline::parse(text).unwrap());
    let cache = pipeline.processor("CACHE").unwrap();
    (pipeline, cache)
}

/// The team's tables and rows, written the way its Python jobs write them,
/// with the known faults: a player dropped without a failure row, a stale
/// failure row beside a record, legacy and team spellings, a resolved row,
/// a date-level row and a partial run. `name` qualifies a declared table
/// for the store, `ty` names a column type.
fn team_rows(name: &dyn Fn(&str) -> String, ty: &dyn Fn(ColumnKind) -> String) -> Vec<String> {
    let players = expected_players("2021-11-02");
    let (text, int, boolean, ts) = (
        ty(ColumnKind::Text),
        ty(ColumnKind::Int),
        ty(ColumnKind::Bool),
        ty(ColumnKind::Timestamp),
    );
    let schema = |t: &str| {
        let q = name(t);
        match q.strip_suffix('`') {
            Some(inner) => format!("{}`", inner.rsplit_once('.').unwrap().0),
            None => q.rsplit_once('.').unwrap().0.to_string(),
        }
    };
    let failures = name("team_processing.precompute_failures");
    let runs = name("team_reference.processor_run_history");
    let cache = name("team_precompute.player_daily_cache");
    let fail = |entity: &str, date: &str, category: &str, status: &str| {
        format!(
            "('PlayerDailyCacheProcessor', 'r1', DATE '{date}', '{entity}', '{category}', \
             'why', TRUE, 'INCOMPLETE', FALSE, 5, 3, '', TRUE, '{status}', NULL, \
             TIMESTAMP '{date} 10:00:00')"
        )
    };
    let records: Vec<String> = players[..5]
        .iter()
        .map(|p| format!("('{p}', DATE '2021-11-02')"))
        .collect();
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {}", schema("team_processing.x")),
        format!("CREATE SCHEMA IF NOT EXISTS {}", schema("team_reference.x")),
        format!(
            "CREATE TABLE {failures} (processor_name {text}, run_id {text}, analysis_date DATE, \
             entity_id {text}, failure_category {text}, failure_reason {text}, can_retry {boolean}, \
             failure_type {text}, is_correctable {boolean}, expected_game_count {int}, \
             actual_game_count {int}, missing_game_dates {text}, raw_data_checked {boolean}, \
             resolution_status {text}, resolved_at {ts}, created_at {ts})"
        ),
        format!(
            "CREATE TABLE {runs} (processor_name {text}, run_id {text}, status {text}, \
             data_date DATE, started_at {ts}, processed_at {ts}, records_processed {int}, \
             errors {text})"
        ),
        format!(
            "INSERT INTO {cache} (player_lookup, cache_date) VALUES {}",
            records.join(", ")
        ),
        format!(
            "INSERT INTO {failures} VALUES {}, {}, {}, {}, {}, {}",
            // The team's spelling, expected.
            fail(&players[5], "2021-11-02", "EXPECTED_INCOMPLETE", "UNRESOLVED"),
            // A legacy spelling, lower-case: to investigate.
            fail(&players[6], "2021-11-02", "calculation_error", "INVESTIGATING"),
            // Resolved: left out by the filter, so the player is unaccounted.
            fail(&players[7], "2021-11-02", "CIRCUIT_BREAKER_ACTIVE", "RESOLVED"),
            // A stale failure beside a record.
            fail(&players[0], "2021-11-02", "INCOMPLETE_UPSTREAM", "UNRESOLVED"),
            // A date-level row and a player of the next date.
            fail("DATE_LEVEL", "2021-11-03", "MISSING_DEPENDENCY", "PERMANENT"),
            fail(&players[1], "2021-11-03", "CIRCUIT_BREAKER_ACTIVE", "UNRESOLVED"),
        ),
        format!(
            "INSERT INTO {runs} VALUES \
             ('PlayerDailyCacheProcessor', 'r1', 'success', DATE '2021-11-02', \
              TIMESTAMP '2021-11-02 10:00:00', TIMESTAMP '2021-11-02 10:05:00', 5, NULL), \
             ('PlayerDailyCacheProcessor', 'r2', 'PARTIAL', DATE '2021-11-03', \
              TIMESTAMP '2021-11-03 10:00:00', TIMESTAMP '2021-11-03 10:05:00', 0, 'timeout'), \
             ('PlayerDailyCacheProcessor', 'r3', 'Running', DATE '2021-11-01', \
              TIMESTAMP '2021-11-01 10:00:00', NULL, NULL, NULL)"
        ),
    ]
}

type Rows = dyn Fn(&dyn Fn(&str) -> String, &dyn Fn(ColumnKind) -> String) -> Vec<String>;

/// An embedded store of `pipeline` with the box scores and the team's rows.
async fn planted_embedded(pipeline: &Arc<Pipeline>, rows: &Rows) -> EmbeddedWarehouse {
    let wh = EmbeddedWarehouse::in_memory(Arc::clone(pipeline)).unwrap();
    load_until(&wh, "2021-11-03").await;
    let d_ = wh.dialect();
    for sql in rows(&|t| d_.table(t), &|k| d_.type_name(k).to_string()) {
        wh.execute_batch_for_tests(&sql).unwrap();
    }
    wh.check_read_tables().await.unwrap();
    wh
}

/// The same on BigQuery (the emulator), in datasets of `tag`.
async fn planted_bigquery(
    tag: &str,
    pipeline: &Arc<Pipeline>,
    rows: &Rows,
) -> warehouse_bigquery::BigQueryWarehouse {
    let bq = bigquery(tag, pipeline).await;
    load_until(&bq, "2021-11-03").await;
    let d_ = bq.dialect();
    for sql in rows(&|t| d_.table(t), &|k| d_.type_name(k).to_string()) {
        bq.execute_for_tests(&sql).await.unwrap();
    }
    bq.check_read_tables().await.unwrap();
    bq
}

fn answers(cells: &[domain::report::CellCounts]) -> Vec<String> {
    cells
        .iter()
        .map(|c| {
            format!(
                "{} exp {} rec {} fail {} unacc {} inv {} conflict {} dl {} runs {} last {:?} {:?}",
                c.date,
                c.expected,
                c.has_record,
                c.has_failure,
                c.unaccounted,
                c.investigate,
                c.conflict,
                c.date_level,
                c.runs,
                c.last_run.as_ref().map(|r| r.status.to_string()),
                c.failures_by_category
            )
        })
        .collect()
}

async fn reconcile(wh: &dyn Warehouse, cache: P) -> Vec<String> {
    let range = DateRange::new(d("2021-11-01"), d("2021-11-03"), 10).unwrap();
    answers(&wh.cell_counts(range, &[cache]).await.unwrap())
}

/// What the drill-down shows of the mixed day: each row's reading.
async fn drill(wh: &dyn Warehouse, pipeline: &Pipeline, cache: P) -> Vec<String> {
    let page = wh
        .failure_rows(
            cache,
            d("2021-11-02"),
            warehouse::FailureFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    page.items
        .iter()
        .map(|f| {
            let (code, expected) = pipeline.categories.read(&f.raw_category);
            format!("{} {code} {expected}", f.raw_category)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teams_own_tables_are_read_as_they_are_alike_on_both_stores() {
    let (pipeline, cache) = install(ADOPTED);
    let players = expected_players("2021-11-02");

    let embedded = planted_embedded(&pipeline, &team_rows).await;
    let on_embedded = reconcile(&embedded, cache).await;
    let day = on_embedded
        .iter()
        .find(|l| l.starts_with("2021-11-02"))
        .unwrap();
    let expected = players.len();
    // Records 0..5; failures 5 (expected) and 6 (to investigate); 7's row
    // is resolved, so 7 and everyone else is unaccounted; 0 conflicts.
    assert!(
        day.starts_with(&format!(
            "2021-11-02 exp {expected} rec 5 fail 2 unacc {} inv 1 conflict 1 dl false runs 1 \
             last Some(\"success\")",
            expected - 7
        )),
        "{day}"
    );
    assert!(
        day.ends_with(
            "{\"EXPECTED_INCOMPLETE\": 1, \"MISSING_UPSTREAM\": 1, \"PROCESSING_ERROR\": 1}"
        ),
        "the team's spellings are read by its taxonomy: {day}"
    );
    let next = on_embedded
        .iter()
        .find(|l| l.starts_with("2021-11-03"))
        .unwrap();
    assert!(
        next.contains("unacc 0 inv 0")
            && next.contains("dl true runs 1 last Some(\"failed\")")
            && next.contains("\"CIRCUIT_BREAKER_ACTIVE\": 1")
            && next.contains("\"MISSING_DEPENDENCIES\": 1"),
        "a date-level row covers the date; `PARTIAL` is a failed run: {next}"
    );
    let first = on_embedded
        .iter()
        .find(|l| l.starts_with("2021-11-01"))
        .unwrap();
    assert!(
        first.contains("last Some(\"running\")"),
        "another word is kept, lower-cased: {first}"
    );
    let rows = drill(&embedded, &pipeline, cache).await;
    assert!(
        rows.contains(&"EXPECTED_INCOMPLETE EXPECTED_INCOMPLETE true".to_string())
            && rows.contains(&"calculation_error PROCESSING_ERROR false".to_string())
            && rows.contains(&"INCOMPLETE_UPSTREAM MISSING_UPSTREAM true".to_string())
            && rows.len() == 3,
        "{rows:?}"
    );

    let bq = planted_bigquery("adopt", &pipeline, &team_rows).await;
    assert_eq!(reconcile(&bq, cache).await, on_embedded);
    assert_eq!(drill(&bq, &pipeline, cache).await, rows);
    // Never altered: the team's table keeps its 16 columns and its rows
    // after the store opened it again.
    let again = crate::common::bigquery_at(&bq.dataset_prefix_for_tests(), &pipeline)
        .await
        .unwrap();
    assert_eq!(reconcile(&again, cache).await, on_embedded);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapped_column_the_team_table_lacks_is_named() {
    let typo = ADOPTED.replace("entity = \"entity_id\"", "entity = \"entity_idx\"");
    let (pipeline, _) = install(&typo);
    let embedded = EmbeddedWarehouse::in_memory(Arc::clone(&pipeline)).unwrap();
    let d_ = embedded.dialect();
    // Before the team's tables exist: the table is named.
    match embedded.check_read_tables().await {
        Err(WarehouseError::Mapped { section, key, .. }) => {
            assert_eq!((section, key), ("read.failures", "table"))
        }
        other => panic!("{other:?}"),
    }
    for sql in team_rows(&|t| d_.table(t), &|k| d_.type_name(k).to_string()) {
        embedded.execute_batch_for_tests(&sql).unwrap();
    }
    match embedded.check_read_tables().await {
        Err(WarehouseError::Mapped {
            section,
            key,
            message,
        }) => {
            assert_eq!((section, key), ("read.failures", "entity"));
            assert!(message.contains("entity_idx"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The error points at the file's line.
    let e = Pipeline::at_mapped(&typo, "read.failures", "entity", "x".into());
    let line = typo.lines().position(|l| l.contains("entity_idx")).unwrap() + 1;
    assert!(
        matches!(e, domain::DomainError::BadPipeline { line: l, .. } if l == line),
        "{e:?}"
    );
}

/// The shipped pipeline plus TEAM: observed, downstream of PDC, re-run by
/// the team's program (`sh -c SCRIPT`, its placeholders filled per run).
fn with_team_job(script: &str, extra: &str) -> (Arc<Pipeline>, P) {
    let text = format!(
        r#"{}
[[processor]]
code = "TEAM"
name = "TeamCacheJob"
output_table = "team_precompute.team_cache"
date_column = "cache_date"
entity_column = "player_lookup"
depends_on = ["PDC"]
runs = "observe"
rerun = ["sh", "-c", {script:?}, "job"]
rerun_batch_days = 2
{extra}
"#,
        domain::pipeline::NBA_PIPELINE
    );
    let pipeline = Arc::new(Pipeline::parse(&text).unwrap());
    let team = pipeline.processor("TEAM").unwrap();
    (pipeline, team)
}

/// Re-runs PDC and its downstream (TEAM among them) over three days.
async fn rerun(
    wh: &dyn Warehouse,
) -> (engine::backfill::JobSummary, Vec<domain::report::Progress>) {
    struct Kept(std::sync::Mutex<Vec<domain::report::Progress>>);
    impl engine::backfill::ProgressSink for Kept {
        fn update(&self, p: &domain::report::Progress) {
            self.0.lock().unwrap().push(p.clone());
        }
    }
    let raw = engine::backfill::RawBackfillRequest {
        processors: "PDC".into(),
        downstream: true,
        start: Some("2021-11-01".into()),
        end: Some("2021-11-03".into()),
        ..Default::default()
    };
    let request =
        engine::backfill::BackfillRequest::parse(wh.pipeline(), &raw, Default::default()).unwrap();
    let kept = Kept(Default::default());
    let summary = engine::backfill::backfill(
        wh,
        &request,
        &Default::default(),
        &kept,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .await
    .unwrap();
    (summary, kept.0.into_inner().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_program_is_re_run_after_its_upstreams_its_lines_on_the_job_page() {
    let (pipeline, team) = with_team_job(r#"echo "team job {start}..{end}"; echo careful >&2"#, "");
    let wh = EmbeddedWarehouse::in_memory(Arc::clone(&pipeline)).unwrap();
    load_until(&wh, "2021-11-03").await;
    let (summary, progress) = rerun(&wh).await;
    assert_eq!(
        summary.state,
        warehouse::JobState::Succeeded,
        "{:?}",
        summary.error
    );
    // Two runs of the program: two days, then one (rerun_batch_days = 2).
    let output = &progress.last().unwrap().output;
    for line in [
        "team job 2021-11-01..2021-11-02",
        "team job 2021-11-03..2021-11-03",
        "careful",
    ] {
        assert!(output.iter().any(|l| l == line), "{line}: {output:?}");
    }
    assert!(
        output.iter().any(|l| l.starts_with("TEAM: sh -c")),
        "each run is announced: {output:?}"
    );
    // Lines reached the sink while the job ran, not only at its end.
    assert!(progress.iter().any(|p| p.output.len() == 1), "{progress:?}");
    // The run is the cell's checkpoint, after every upstream cell was written.
    let pdc = pipeline.processor("PDC").unwrap();
    let mut last_upstream = None;
    for day in ["2021-11-01", "2021-11-02", "2021-11-03"] {
        let runs = wh.cell_runs(pdc, d(day)).await.unwrap();
        last_upstream = last_upstream.max(runs.iter().filter_map(|r| r.started_at).max());
        let runs = wh.cell_runs(team, d(day)).await.unwrap();
        assert_eq!(runs.len(), 1, "{day}: {runs:?}");
        assert_eq!(runs[0].status.as_str(), "success");
        assert_eq!(runs[0].job_id.as_deref(), Some(summary.job_id.as_str()));
        assert!(
            runs[0].started_at > last_upstream && last_upstream.is_some(),
            "{day}: TEAM ran before PDC was written"
        );
    }
    // Rollcall never wrote the team's table: TEAM's cells are as they were.
    let range = DateRange::new(d("2021-11-01"), d("2021-11-03"), 10).unwrap();
    for c in wh.cell_counts(range, &[team]).await.unwrap() {
        assert_eq!((c.has_record, c.extra), (0, 0), "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_program_that_fails_or_hangs_fails_its_cells_with_its_last_words() {
    for (script, extra, said) in [
        (
            "echo 'Traceback: boom' >&2; exit 3",
            "",
            "exit status: 3; stderr: Traceback: boom",
        ),
        (
            "echo started; sleep 30",
            "timeout_seconds = 1",
            "timed out after 1 s",
        ),
    ] {
        let (pipeline, team) = with_team_job(script, extra);
        let wh = EmbeddedWarehouse::in_memory(Arc::clone(&pipeline)).unwrap();
        load_until(&wh, "2021-11-03").await;
        let started = std::time::Instant::now();
        let (summary, _) = rerun(&wh).await;
        assert!(
            started.elapsed().as_secs() < 20,
            "{script}: the timeout stopped it"
        );
        assert_eq!(summary.state, warehouse::JobState::Failed, "{script}");
        let runs = wh.cell_runs(team, d("2021-11-02")).await.unwrap();
        assert_eq!(runs[0].status.as_str(), "failed", "{script}");
        let error = runs[0].error.clone().unwrap_or_default();
        assert!(error.contains(said), "{script}: {error}");
        assert!(
            summary.error.as_deref().unwrap_or("").contains("TEAM"),
            "{:?}",
            summary.error
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_log_with_a_success_boolean_is_read_alike_on_both_stores() {
    // The older run log, `precompute_processor_runs`: `success` BOOL, `run_date`.
    let (head, rest) = ADOPTED.split_once("[read.runs]\n").unwrap();
    let tail = &rest[rest.find("[categories]").unwrap()..];
    let text = format!(
        r#"{head}[read.runs]
table = "team_processing.precompute_processor_runs"
processor = "processor_name"
date = "analysis_date"
run_id = "run_id"
time = "run_date"
succeeded = "success"

{tail}"#
    );

    assert_ne!(text, ADOPTED);
    let (pipeline, cache) = install(&text);
    let rows = |name: &dyn Fn(&str) -> String, ty: &dyn Fn(ColumnKind) -> String| {
        let runs = name("team_processing.precompute_processor_runs");
        let mut sql = team_rows(name, ty);
        sql.push(format!(
            "CREATE TABLE {runs} (processor_name {t}, run_id {t}, run_date {ts}, success {b}, \
             analysis_date DATE, records_processed {i})",
            t = ty(ColumnKind::Text),
            ts = ty(ColumnKind::Timestamp),
            b = ty(ColumnKind::Bool),
            i = ty(ColumnKind::Int),
        ));
        sql.push(format!(
            "INSERT INTO {runs} VALUES \
             ('PlayerDailyCacheProcessor', 'a', TIMESTAMP '2021-11-02 09:00:00', TRUE, DATE '2021-11-02', 5), \
             ('PlayerDailyCacheProcessor', 'b', TIMESTAMP '2021-11-03 09:00:00', FALSE, DATE '2021-11-03', 0)"
        ));
        sql
    };
    let last_runs = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                l.split(" last ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let embedded = planted_embedded(&pipeline, &rows).await;
    let on_embedded = reconcile(&embedded, cache).await;
    assert_eq!(
        last_runs(on_embedded.clone()),
        ["None", "Some(\"success\")", "Some(\"failed\")"],
        "{on_embedded:?}"
    );
    let bq = planted_bigquery("adoptb", &pipeline, &rows).await;
    assert_eq!(reconcile(&bq, cache).await, on_embedded);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_stops_a_team_program_and_records_nothing_of_its_run() {
    let (pipeline, team) = with_team_job("echo started; sleep 30", "");
    let wh = EmbeddedWarehouse::in_memory(Arc::clone(&pipeline)).unwrap();
    load_until(&wh, "2021-11-03").await;
    let raw = engine::backfill::RawBackfillRequest {
        processors: "TEAM".into(),
        start: Some("2021-11-01".into()),
        end: Some("2021-11-03".into()),
        ..Default::default()
    };
    let request =
        engine::backfill::BackfillRequest::parse(&pipeline, &raw, Default::default()).unwrap();
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let started = std::time::Instant::now();
    let summary = engine::backfill::backfill(&wh, &request, &Default::default(), &(), &cancel)
        .await
        .unwrap();
    assert!(
        started.elapsed().as_secs() < 10,
        "the cancel did not wait for the program"
    );
    assert_eq!(summary.state, warehouse::JobState::Cancelled);
    for day in ["2021-11-01", "2021-11-02", "2021-11-03"] {
        assert!(
            wh.cell_runs(team, d(day)).await.unwrap().is_empty(),
            "{day}"
        );
    }
}
