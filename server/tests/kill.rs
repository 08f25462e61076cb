//! A real `rollcall serve` process killed (SIGKILL) in the middle of a job,
//! five times at random moments: each restarted server shows the job
//! interrupted, and resuming it ends with the same tables as an
//! uninterrupted run. SIGTERM stops the server gracefully (exit 0, the job
//! interrupted, queued jobs still there after the restart).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::report::JobView;
use leptos::server_fn::ServerFn;
use warehouse_embedded::EmbeddedWarehouse;

fn rollcall() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.env("ROLLCALL_LOG", "error");
    // Small write batches: a season job then has some forty checkpoints,
    // so five kills fall inside it (the default batch makes it six).
    c.env("ROLLCALL_DUCKDB_BATCH_CELLS", "16");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(db: &Path, port: u16) -> Child {
    let mut child = rollcall()
        .arg("--db")
        .arg(db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if curl(port, "GET", "/healthz", "").is_some() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server on port {port} did not become healthy");
}

/// The body of a successful response (curl is already used by the test scripts).
fn curl(port: u16, method: &str, path: &str, body: &str) -> Option<Vec<u8>> {
    let out = Command::new("curl")
        .args(["-sf", "-X", method])
        .args(["-H", "content-type: application/x-www-form-urlencoded"])
        .args(["--data-raw", body])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl runs");
    out.status.success().then_some(out.stdout)
}

fn status(port: u16, id: &str) -> JobView {
    let body = curl(port, "POST", app::api::JobStatus::PATH, &format!("id={id}"))
        .expect("job status answers");
    app::wire::read_answer(&body).unwrap()
}

fn demo(db: &Path) {
    let ok = rollcall().arg("--db").arg(db).arg("demo").status().unwrap();
    assert!(ok.success());
}

fn dump(db: &Path) -> Vec<String> {
    let wh = EmbeddedWarehouse::open(db, std::sync::Arc::new(domain::pipeline::nba())).unwrap();
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

fn start_season_job(port: u16, start: &str, end: &str) -> String {
    let body = format!(
        "form%5Bp%5D=PSZA&form%5Bstart%5D={start}&form%5Bend%5D={end}&form%5Bmode%5D=all&form%5Bdownstream%5D=yes"
    );
    app::wire::read_answer(&curl(port, "POST", app::api::StartRerun::PATH, &body).unwrap()).unwrap()
}

/// Waits until the job runs and has done `cells` cells in this run; a
/// resumed run has fewer cells to do than `below_total` (the last run's),
/// which tells its live progress from the stored one of the run before.
/// Returns this run's total.
fn wait_for_progress(port: u16, id: &str, cells: usize, below_total: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let view = status(port, id);
        assert!(
            view.active,
            "the job ended before it could be stopped: {}",
            view.state
        );
        if view.state == warehouse::JobState::Running
            && view.progress.cells_total < below_total
            && view.progress.cells_done >= cells
        {
            return view.progress.cells_total;
        }
        assert!(Instant::now() < deadline, "job made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until_done(port: u16, id: &str) -> JobView {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let view = status(port, id);
        if !view.active {
            return view;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn reference_run(db: &Path, start: &str, end: &str) {
    let ok = rollcall()
        .arg("--db")
        .arg(db)
        .args([
            "backfill",
            "--processor",
            "PSZA",
            "--downstream",
            "--start-date",
            start,
            "--end-date",
            end,
        ])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn five_kills_at_random_moments_then_resume_equal_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (killed, reference) = (
        dir.path().join("killed.duckdb"),
        dir.path().join("reference.duckdb"),
    );
    demo(&killed);
    demo(&reference);
    // The whole demo season, started from the dashboard's API.
    let (start, end) = ("2021-10-19", "2022-04-10");
    // Kill points drawn from a seeded generator: random, and reproducible
    // when this test fails.
    let seed: u64 = std::env::var("ROLLCALL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64);
    eprintln!("kill points from seed {seed} (set ROLLCALL_KILL_SEED to repeat)");
    let mut state = seed | 1;
    let mut next = move |lo: u64, hi: u64| {
        // xorshift64: enough randomness for kill points.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lo + state % (hi - lo)
    };

    let port = free_port();
    let mut server = serve(&killed, port);
    let id = start_season_job(port, start, end);
    let mut total = usize::MAX;
    for kill in 0..5 {
        total = wait_for_progress(port, &id, next(1, 40) as usize, total);
        // Sometimes also mid-cell: a few milliseconds after the threshold.
        std::thread::sleep(Duration::from_millis(next(0, 25)));
        server.kill().unwrap(); // SIGKILL: no shutdown code runs
        server.wait().unwrap();
        server = serve(&killed, port);
        let view = status(port, &id);
        assert_eq!(
            view.state,
            warehouse::JobState::Interrupted,
            "after kill {kill}"
        );
        assert!(view.resumable);
        curl(port, "POST", app::api::ResumeJob::PATH, &format!("id={id}"))
            .expect("resume accepted");
    }
    let view = wait_until_done(port, &id);
    assert_eq!(view.state, warehouse::JobState::Succeeded);
    server.kill().unwrap();
    server.wait().unwrap();

    reference_run(&reference, start, end);
    let (a, b) = (dump(&killed), dump(&reference));
    assert!(a.len() > 1000, "{} rows", a.len());
    assert_eq!(a, b, "resumed tables equal an uninterrupted run");
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_gracefully_and_queued_jobs_survive_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (stopped, reference) = (
        dir.path().join("stopped.duckdb"),
        dir.path().join("reference.duckdb"),
    );
    demo(&stopped);
    demo(&reference);
    let (start, end) = ("2021-10-19", "2021-12-31");
    let port = free_port();
    let mut server = serve(&stopped, port);
    let running = start_season_job(port, start, end);
    // A second request over the same cells waits behind the first.
    let queued = start_season_job(port, start, end);
    assert_eq!(status(port, &queued).state, warehouse::JobState::Queued);
    wait_for_progress(port, &running, 10, usize::MAX);
    let exit = terminate(&mut server);
    assert!(exit.success(), "SIGTERM exits 0: {exit:?}");

    let mut server = serve(&stopped, port);
    let view = status(port, &running);
    assert_eq!(
        view.state,
        warehouse::JobState::Interrupted,
        "stopped after its in-flight write"
    );
    assert!(view.resumable);
    // The queued job was queued again at start-up and runs now.
    let view = wait_until_done(port, &queued);
    assert_eq!(view.state, warehouse::JobState::Succeeded);
    curl(
        port,
        "POST",
        app::api::ResumeJob::PATH,
        &format!("id={running}"),
    )
    .expect("resume accepted");
    assert_eq!(
        wait_until_done(port, &running).state,
        warehouse::JobState::Succeeded
    );
    let exit = terminate(&mut server);
    assert!(exit.success(), "{exit:?}");

    reference_run(&reference, start, end);
    assert_eq!(dump(&stopped), dump(&reference));
}
