//! Retry safety on BigQuery, proven by injecting the faults: a fault proxy
//! of ours sits between the warehouse and the emulator (`ROLLCALL_BQ_URL`,
//! started by `scripts/test.sh`) and, over an import and a backfill, drops
//! the replies of committed transactions, refuses stage loads, or holds
//! replies past the client's timeout. Afterwards the BigQuery tables must
//! equal one clean run (the embedded store's): same cells, same row counts
//! (so no duplicates), one success run per cell, no stage rows left.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::NaiveDate;
use domain::DateRange;
use engine::backfill::{backfill, BackfillRequest, DateSpec, RunOptions};
use server::faultproxy::{Fault, FaultProxy, Target};
use warehouse::{JobState, Warehouse};
use warehouse_bigquery::{BigQueryConfig, BigQueryWarehouse, Credentials, Timeouts};
use warehouse_embedded::EmbeddedWarehouse;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn emulator_url() -> String {
    std::env::var("ROLLCALL_BQ_URL").expect(
        "ROLLCALL_BQ_URL is not set: these tests need the BigQuery emulator; \
         run them with `make test` (scripts/test.sh starts it)",
    )
}

async fn bigquery_through(proxy: &FaultProxy, request_timeout: Duration) -> BigQueryWarehouse {
    bigquery_retrying(proxy, request_timeout, Duration::from_secs(60)).await
}

async fn bigquery_retrying(
    proxy: &FaultProxy,
    request_timeout: Duration,
    retry_total: Duration,
) -> BigQueryWarehouse {
    let prefix = format!(
        "f{}_{}_",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_000
    );
    BigQueryWarehouse::open(
        BigQueryConfig {
            project: std::env::var("ROLLCALL_BQ_PROJECT").unwrap_or_else(|_| "local-proj".into()),
            dataset_prefix: prefix,
            location: None,
            base_url: Some(proxy.base_url.clone()),
            credentials: Credentials::None,
            timeouts: Timeouts {
                request: request_timeout,
                job: Duration::from_secs(120),
                retry_total,
            },
            adopt_pipeline: false,
        },
        std::sync::Arc::new(domain::pipeline::nba()),
    )
    .await
    .expect("BigQuery warehouse opens through the proxy")
}

/// The first days of the demo season plus two days of PSZA history.
fn upstream() -> domain::demo::DemoSeason {
    let mut s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    s.games.retain(|g| g.game_date <= d("2021-11-04"));
    s.schedule.retain(|g| g.game_date <= d("2021-11-04"));
    s
}

fn request() -> BackfillRequest {
    BackfillRequest {
        processors: vec![
            domain::pipeline::nba()
                .builtin(domain::Builtin::Psza)
                .unwrap(),
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
        dates: DateSpec::Range {
            start: d("2021-11-02"),
            end: d("2021-11-03"),
        },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    }
}

/// Import then backfill: the scenario every fault is injected into.
async fn scenario(wh: &dyn Warehouse) -> engine::backfill::JobSummary {
    let s = upstream();
    wh.load_upstream_rows(s.schedule, s.games)
        .await
        .expect("the import survives the faults");
    let options = RunOptions {
        resume: false,
        ..RunOptions::default()
    };
    backfill(wh, &request(), &options, &(), &AtomicBool::new(false))
        .await
        .expect("the backfill survives the faults")
}

/// What a clean run leaves, in terms both stores answer alike.
async fn state(wh: &dyn Warehouse) -> Vec<String> {
    let range = DateRange::new(d("2021-10-19"), d("2021-11-04"), 400).unwrap();
    let mut out: Vec<String> = wh
        .table_counts(range)
        .await
        .unwrap()
        .into_iter()
        .map(|t| format!("{} {}", t.table, t.rows))
        .collect();
    for c in wh.cell_counts(range, &request().processors).await.unwrap() {
        let runs = wh.cell_runs(c.processor, c.date).await.unwrap();
        let successes = runs
            .iter()
            .filter(|r| r.status == warehouse::RunStatus::Success)
            .count();
        out.push(format!(
            "{} {} expected={} records={} failures={:?} unaccounted={} runs={} successes={successes}",
            domain::pipeline::nba().code(c.processor),
            c.date,
            c.expected,
            c.has_record,
            c.failures_by_category,
            c.unaccounted,
            runs.len()
        ));
    }
    out
}

async fn stage_rows(bq: &BigQueryWarehouse) -> i64 {
    let mut n = 0;
    for t in bq.stage_tables_for_tests() {
        n += bq
            .count_for_tests(&format!("SELECT COUNT(*) FROM {t}"))
            .await
            .unwrap();
    }
    n
}

async fn check_against_clean_run(proxy: &FaultProxy, bq: &BigQueryWarehouse, what: &str) {
    let clean = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let summary = scenario(&clean).await;
    assert_eq!(summary.state, JobState::Succeeded);
    let summary = scenario(bq).await;
    assert_eq!(summary.state, JobState::Succeeded, "{what}: {summary:?}");
    assert_eq!(
        proxy.pending_faults(),
        0,
        "{what}: every armed fault was applied"
    );
    assert!(
        proxy
            .counts
            .faults
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0,
        "{what}: faults were injected"
    );
    assert_eq!(state(bq).await, state(&clean).await, "{what}");
    assert_eq!(stage_rows(bq).await, 0, "{what}: no stage rows remain");
}

#[tokio::test]
async fn lost_replies_of_committed_transactions_change_nothing() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(60)).await;
    // The import's commit, the job's creation and the first cell batch: each
    // commits, then the client sees a 503 and sends the same script again.
    proxy.inject(Target::CommitScript, Fault::DropReply, 0, 3);
    check_against_clean_run(&proxy, &bq, "commit replies dropped").await;
}

#[tokio::test]
async fn refused_stage_loads_are_retried_without_duplicates() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(60)).await;
    // Several refusals in a row, and a load whose reply is lost after it
    // staged its rows (the emulator then stages them a second time).
    proxy.inject(Target::Load, Fault::Refuse, 0, 3);
    proxy.inject(Target::Load, Fault::DropReply, 2, 2);
    check_against_clean_run(&proxy, &bq, "stage loads refused and replies lost").await;
}

#[tokio::test]
async fn replies_slower_than_the_client_timeout_are_retried_safely() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(2)).await;
    proxy.inject(
        Target::CommitScript,
        Fault::Delay(Duration::from_secs(4)),
        0,
        2,
    );
    proxy.inject(Target::Load, Fault::Delay(Duration::from_secs(4)), 1, 1);
    check_against_clean_run(&proxy, &bq, "replies delayed past the timeout").await;
}

#[tokio::test]
async fn a_reopened_warehouse_lists_tables_instead_of_creating_them() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(60)).await;
    let created =
        proxy.counts.jobs() + proxy.counts.other.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        created > 6,
        "a fresh warehouse creates its tables ({created} calls)"
    );
    let before = proxy.counts.jobs() + proxy.counts.other.load(std::sync::atomic::Ordering::SeqCst);
    // Same datasets, everything exists now.
    let prefix = bq.dataset_prefix_for_tests();
    let again = BigQueryWarehouse::open(
        BigQueryConfig {
            project: std::env::var("ROLLCALL_BQ_PROJECT").unwrap_or_else(|_| "local-proj".into()),
            dataset_prefix: prefix,
            location: None,
            base_url: Some(proxy.base_url.clone()),
            credentials: Credentials::None,
            timeouts: Timeouts::default(),
            adopt_pipeline: false,
        },
        std::sync::Arc::new(domain::pipeline::nba()),
    )
    .await
    .unwrap();
    let after = proxy.counts.jobs() + proxy.counts.other.load(std::sync::atomic::Ordering::SeqCst);
    // One table listing per dataset (six), and one read of the pipeline
    // record the store keeps.
    assert!(
        after - before <= 7,
        "reopening took {} API calls",
        after - before
    );
    assert!(again.status().await.is_ok());
}

#[tokio::test]
async fn a_job_poll_past_its_deadline_names_the_job() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    // Retries end with their budget (5 s here), then the error names the request.
    let bq = bigquery_retrying(&proxy, Duration::from_secs(1), Duration::from_secs(5)).await;
    // Every attempt of the next request is held past the timeout.
    proxy.inject(Target::AnyJob, Fault::Delay(Duration::from_secs(3)), 0, 10);
    let err = bq.status().await.unwrap_err().to_string();
    assert!(err.contains("BigQuery request rc"), "{err}");
    assert!(err.contains("timeout"), "{err}");
    proxy.clear();
}

#[tokio::test]
async fn replies_cut_short_are_retried_like_lost_ones() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(60)).await;
    // Commits (the import's, the job's creation, cell batches), loads and
    // plain queries: the connection reset half-way through the reply, or a
    // complete message whose JSON stops half-way.
    proxy.inject(Target::CommitScript, Fault::ResetMidReply, 0, 2);
    proxy.inject(Target::CommitScript, Fault::CutFramed, 0, 1);
    proxy.inject(Target::Load, Fault::ResetMidReply, 0, 1);
    proxy.inject(Target::Load, Fault::CutFramed, 0, 1);
    proxy.inject(Target::AnyJob, Fault::ResetMidReply, 3, 1);
    proxy.inject(Target::AnyJob, Fault::CutFramed, 0, 1);
    check_against_clean_run(&proxy, &bq, "replies cut short").await;
}

#[tokio::test]
async fn throttled_requests_wait_as_retry_after_asks() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(60)).await;
    let range = DateRange::new(d("2021-10-19"), d("2021-11-04"), 400).unwrap();
    // Six 429s asking for a second each: more attempts and a longer wait
    // than a fixed five-attempt budget allowed.
    proxy.inject(Target::AnyJob, Fault::Throttle(1), 0, 6);
    let started = std::time::Instant::now();
    bq.game_dates(range)
        .await
        .expect("the read waits out the throttling");
    assert_eq!(proxy.pending_faults(), 0);
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "each retry waited what Retry-After asked: {:?}",
        started.elapsed()
    );

    // Past the configured total, the error names what refused.
    let impatient =
        bigquery_retrying(&proxy, Duration::from_secs(60), Duration::from_secs(2)).await;
    proxy.inject(Target::AnyJob, Fault::Throttle(1), 0, 100);
    let e = impatient.game_dates(range).await.unwrap_err().to_string();
    assert!(e.contains("429") && e.contains("rate limited"), "{e}");
    proxy.clear();
}

#[tokio::test]
async fn a_backfill_that_fails_leaves_no_running_job_behind() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_retrying(&proxy, Duration::from_secs(60), Duration::from_secs(2)).await;
    let s = upstream();
    bq.load_upstream_rows(s.schedule, s.games).await.unwrap();
    // The job is created (the first commit), then every cell write is
    // refused past the retry budget: the backfill fails.
    proxy.inject(Target::CommitScript, Fault::Refuse, 1, 1000);
    let options = RunOptions {
        resume: false,
        ..RunOptions::default()
    };
    let cancel = AtomicBool::new(false);
    let e = backfill(&bq, &request(), &options, &(), &cancel)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("503"), "{e}");
    proxy.clear();
    let jobs = bq.jobs(10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed, "{:?}", jobs[0]);
    assert!(
        jobs[0].error.as_deref().is_some_and(|m| m.contains("503")),
        "{:?}",
        jobs[0].error
    );
    // Nothing holds the cells: the same backfill runs at once.
    let summary = backfill(&bq, &request(), &options, &(), &cancel)
        .await
        .expect("not refused as already running");
    assert_eq!(summary.state, JobState::Succeeded);
    assert_eq!(
        stage_rows(&bq).await,
        0,
        "the failed writes left no stage rows"
    );
}

#[tokio::test]
async fn stage_rows_a_killed_writer_left_are_removed_by_the_next_write() {
    let proxy = FaultProxy::start(&emulator_url()).await.unwrap();
    let bq = bigquery_through(&proxy, Duration::from_secs(60)).await;
    // A writer killed between its load and its commit a day ago, and one
    // writing right now (its rows must stay).
    let now = chrono::Utc::now();
    let stale = format!(
        "w{:014x}_1_0",
        (now - chrono::Duration::days(1)).timestamp_micros()
    );
    let live = format!("w{:014x}_2_0", now.timestamp_micros());
    let tables = bq.stage_tables_for_tests();
    for t in &tables {
        bq.execute_for_tests(&format!(
            "INSERT INTO {t} (write_id, seq, staged_on) VALUES
               ('{stale}', 0, CURRENT_DATE()), ('{live}', 0, CURRENT_DATE())"
        ))
        .await
        .unwrap();
    }
    scenario(&bq).await;
    let mut left = Vec::new();
    for t in &tables {
        let mut counts = Vec::new();
        for id in [&stale, &live] {
            let sql = format!("SELECT COUNT(*) FROM {t} WHERE write_id = '{id}'");
            counts.push(bq.count_for_tests(&sql).await.unwrap());
        }
        left.push((t.clone(), counts[0], counts[1]));
    }
    assert!(
        left.iter()
            .all(|(_, stale, live)| (*stale, *live) == (0, 1)),
        "(table, stale rows, live rows): {left:?}"
    );
}
