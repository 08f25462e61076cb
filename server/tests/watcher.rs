//! `serve`'s evaluator (issue [M] 1): with a `[watch]` table it evaluates
//! at start and after each job ends; without one it does not start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

fn pipeline(watch: &str) -> domain::pipeline::Pipeline {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    domain::pipeline::Pipeline::parse(&format!("{shipped}\n{watch}")).unwrap()
}

async fn triggers(wh: &dyn Warehouse) -> Vec<String> {
    let since = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut t: Vec<String> = wh
        .evaluations_since(since, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.trigger)
        .collect();
    t.reverse();
    t
}

/// Waits (bounded) until `wh` holds `n` evaluations.
async fn until_evaluations(wh: &dyn Warehouse, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = triggers(wh).await;
        if t.len() >= n || Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_evaluates_at_start_and_after_each_job() {
    // A window wide enough for the demo's dates whatever today is.
    let wh = Arc::new(
        EmbeddedWarehouse::in_memory(Arc::new(pipeline(
            "[watch]\nwindow_days = 366\nevery = \"1h\"\n",
        )))
        .unwrap(),
    );
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(season.schedule, season.games)
        .await
        .unwrap();
    let jobs = engine::jobs::JobRunner::start(wh.clone());
    let watcher = server::watcher::spawn(wh.clone(), &jobs, "http://127.0.0.1:3000".into())
        .expect("a [watch] table starts the evaluator");
    assert_eq!(until_evaluations(wh.as_ref(), 1).await, ["schedule"]);
    let raw = engine::backfill::RawBackfillRequest {
        processors: "PSZA".into(),
        start: Some("2021-11-01".into()),
        end: Some("2021-11-01".into()),
        ..Default::default()
    };
    jobs.submit(&raw, engine::Limits::default(), "test")
        .await
        .unwrap();
    // After the job: its dates, then the rolling window.
    assert_eq!(
        until_evaluations(wh.as_ref(), 3).await,
        ["schedule", "job", "job"]
    );
    watcher.abort();

    // No [watch] and no [[alert]]: no evaluator.
    let plain = Arc::new(EmbeddedWarehouse::in_memory(Arc::new(pipeline(""))).unwrap());
    let jobs = engine::jobs::JobRunner::start(plain.clone());
    assert!(server::watcher::spawn(plain, &jobs, String::new()).is_none());
}

/// Issue [M] 5: with `[[alert]]` channels and no `[watch]`, a job that stops
/// itself still has its cells evaluated, so its alert goes out (here to a
/// channel nobody answers: the delivery is logged with its error).
#[tokio::test(flavor = "multi_thread")]
async fn without_a_watch_table_a_stopped_job_still_alerts() {
    std::env::set_var("ROLLCALL_TEST_STOP_HOOK", "http://127.0.0.1:9/hook");
    let wh = Arc::new(
        EmbeddedWarehouse::in_memory(Arc::new(pipeline(
            "[[alert]]\nchannel = \"webhook\"\nurl_env = \"ROLLCALL_TEST_STOP_HOOK\"\non = [\"unaccounted\", \"investigate\"]\n",
        )))
        .unwrap(),
    );
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(season.schedule, season.games)
        .await
        .unwrap();
    let jobs = engine::jobs::JobRunner::start(wh.clone());
    let watcher = server::watcher::spawn(wh.clone(), &jobs, "http://127.0.0.1:3000".into())
        .expect("[[alert]] channels start the after-job evaluator");
    assert!(
        triggers(wh.as_ref()).await.is_empty(),
        "nothing on a schedule"
    );
    // PDC the legacy way (no failures recorded): unaccounted players, so
    // the stop rule trips after the first write.
    let raw = engine::backfill::RawBackfillRequest {
        processors: "PDC".into(),
        start: Some("2021-10-19".into()),
        end: Some("2021-11-03".into()),
        legacy: true,
        stop_on: Some("unaccounted".into()),
        ..Default::default()
    };
    jobs.submit(&raw, engine::Limits::default(), "test")
        .await
        .unwrap();
    assert_eq!(until_evaluations(wh.as_ref(), 1).await, ["job"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let deliveries = loop {
        let d = wh.deliveries(10).await.unwrap();
        if !d.is_empty() || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(deliveries.len(), 1, "one message for the evaluation");
    assert!(deliveries[0].error.is_some(), "{deliveries:?}");
    let job = &wh.jobs(10).await.unwrap()[0];
    assert_eq!(job.state, warehouse::JobState::Stopped, "{job:?}");
    watcher.abort();
}

/// Issue [M] 3: a cell past its deadline and not complete is marked late
/// on the heatmap (a processor without a deadline never is).
#[tokio::test(flavor = "multi_thread")]
async fn late_cells_are_marked_on_the_heatmap() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    let with_deadline = shipped.replacen(
        "min_games = 3\n",
        "min_games = 3\nexpected_by = \"09:00\"\n",
        1,
    );
    let pipeline = domain::pipeline::Pipeline::parse(&with_deadline).unwrap();
    let wh = Arc::new(EmbeddedWarehouse::in_memory(Arc::new(pipeline)).unwrap());
    engine::demo::load_demo(wh.as_ref(), domain::demo::DEFAULT_SEED, &())
        .await
        .unwrap();
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    let app = server::router(server::AppState::new(
        wh,
        engine::Limits::default(),
        options,
    ));
    let res = app
        .oneshot(
            Request::builder()
                .uri("/?start=2021-11-10&end=2021-11-10")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let cell = |code: &str| {
        let at = body
            .find(&format!("data-cell=\"{code}:2021-11-10\""))
            .unwrap_or_else(|| panic!("{code} cell drawn"));
        body[at..at + body[at..].find("</td>").unwrap()].to_string()
    };
    // PDC has gaps in the demo's November and a deadline long past.
    assert!(
        cell("PDC").contains("late: past its deadline"),
        "{}",
        cell("PDC")
    );
    assert!(cell("PDC").contains('⏰'));
    // PCF has gaps too, but no deadline.
    assert!(!cell("PCF").contains("late"), "{}", cell("PCF"));
}

/// Issue [M] 5: with `auto_rerun = true`, cells that newly opened get one
/// gaps-only re-run with downstream, and the evaluation after that job
/// reports them resolved; a later evaluation queues nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn auto_rerun_queues_one_job_for_newly_opened_cells_and_reports_it_closed() {
    let today = chrono::Utc::now().date_naive();
    let wh = Arc::new(
        EmbeddedWarehouse::in_memory(Arc::new(pipeline(
            "[watch]\nwindow_days = 7\nevery = \"1h\"\nauto_rerun = true\n",
        )))
        .unwrap(),
    );
    load_two_recent_days(wh.as_ref(), today).await;
    let jobs = engine::jobs::JobRunner::start(wh.clone());
    let watcher =
        server::watcher::spawn(wh.clone(), &jobs, "http://127.0.0.1:3000".into()).unwrap();
    // The first evaluation opens every cell and queues the re-run; the
    // job's end brings the second, which finds them resolved.
    let triggers = until_evaluations(wh.as_ref(), 3).await;
    assert_eq!(triggers, ["schedule", "job", "job"]);
    let auto: Vec<_> = wh
        .jobs(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.requested_by == "auto-rerun")
        .collect();
    assert_eq!(auto.len(), 1, "one re-run for the cells that opened");
    // The first evaluation after the job (over its dates) reports what it
    // closed; none after it finds anything newly opened.
    let since = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let evaluations = wh.evaluations_since(since, 10).await.unwrap();
    let after_job = &evaluations[evaluations.len() - 2];
    let closed = wh.evaluation_cells(&after_job.id).await.unwrap();
    assert!(
        closed
            .iter()
            .any(|c| c.change == domain::watch::Change::Resolved),
        "the evaluation after the job reports what it closed"
    );
    let latest = wh.latest_evaluation().await.unwrap().unwrap();
    let cells = wh.evaluation_cells(&latest.id).await.unwrap();
    assert!(
        cells
            .iter()
            .all(|c| c.change != domain::watch::Change::Opened),
        "nothing newly opened to re-run again"
    );
    watcher.abort();
    // A restarted server reads back what was re-run today: those cells are
    // not re-run again the same day.
    let remembered = server::watcher::rerun_today(wh.as_ref(), today)
        .await
        .unwrap();
    let job_cells = wh.job_cells(&auto[0].id).await.unwrap();
    assert!(!job_cells.is_empty());
    assert!(job_cells
        .iter()
        .all(|c| remembered.contains(&(c.processor, c.date))));
    assert!(
        server::watcher::rerun_today(wh.as_ref(), today - chrono::Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two days of box scores ending the day before yesterday (a watch window
/// is relative to today): the demo's 2021-11-09 and -10, moved.
async fn load_two_recent_days(wh: &dyn Warehouse, today: chrono::NaiveDate) {
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let moved: Vec<domain::game::PlayerGame> = season
        .games
        .into_iter()
        .filter_map(|mut g| {
            let back = match g.game_date.to_string().as_str() {
                "2021-11-09" => 3,
                "2021-11-10" => 2,
                _ => return None,
            };
            let old = g.game_date.format("%Y%m%d").to_string();
            g.game_date = today - chrono::Duration::days(back);
            g.game_id = g
                .game_id
                .replacen(&old, &g.game_date.format("%Y%m%d").to_string(), 1);
            Some(g)
        })
        .collect();
    wh.load_upstream_rows(Vec::new(), moved).await.unwrap();
}

/// Issue [P] 3: [M]'s self-healing starts a team's `rerun` program like any
/// processor of the re-run (after its upstream), over the days that opened.
#[tokio::test(flavor = "multi_thread")]
async fn auto_rerun_starts_a_teams_rerun_program() {
    let today = chrono::Utc::now().date_naive();
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("ran.txt");
    let team = format!(
        r#"[watch]
window_days = 7
every = "1h"
auto_rerun = true

[[processor]]
code = "TEAM"
name = "TeamCacheJob"
output_table = "team_precompute.team_cache"
date_column = "cache_date"
entity_column = "player_lookup"
depends_on = ["PDC"]
runs = "observe"
rerun = ["sh", "-c", "echo healed {{start}}..{{end}} >> {}"]
"#,
        said.display()
    );
    let wh = Arc::new(EmbeddedWarehouse::in_memory(Arc::new(pipeline(&team))).unwrap());
    load_two_recent_days(wh.as_ref(), today).await;
    let jobs = engine::jobs::JobRunner::start(wh.clone());
    let watcher =
        server::watcher::spawn(wh.clone(), &jobs, "http://127.0.0.1:3000".into()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !said.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (first, last) = (
        today - chrono::Duration::days(3),
        today - chrono::Duration::days(2),
    );
    let text = std::fs::read_to_string(&said).unwrap_or_default();
    assert_eq!(
        text.trim(),
        format!("healed {first}..{last}"),
        "one run over both days"
    );
    let auto = wh
        .jobs(10)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.requested_by == "auto-rerun")
        .expect("the auto re-run");
    let team = wh.pipeline().processor("TEAM").unwrap();
    let cells = wh.job_cells(&auto.id).await.unwrap();
    assert_eq!(
        cells.iter().filter(|c| c.processor == team).count(),
        2,
        "{cells:?}"
    );
    watcher.abort();
}
