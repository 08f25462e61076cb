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
    let child = rollcall()
        .arg("--db")
        .arg(db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port, child)
}

fn wait_healthy(port: u16, mut child: Child) -> Child {
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

/// Waits until the job runs and has done `cells` cells (a resumed job's
/// progress counts the cells of its earlier runs). Returns its total.
fn wait_for_progress(port: u16, id: &str, cells: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let view = status(port, id);
        assert!(
            view.active,
            "the job ended before it could be stopped: {}",
            view.state
        );
        if view.state == warehouse::JobState::Running && view.progress.cells_done >= cells {
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
    let (mut total, mut done) = (None, 0);
    for kill in 0..5 {
        let this_run = wait_for_progress(port, &id, done + next(1, 40) as usize);
        // The whole job is counted, however often it resumes.
        assert_eq!(
            *total.get_or_insert(this_run),
            this_run,
            "after kill {kill}"
        );
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
        done = view.progress.cells_done;
        curl(port, "POST", app::api::ResumeJob::PATH, &format!("id={id}"))
            .expect("resume accepted");
    }
    let view = wait_until_done(port, &id);
    assert_eq!(view.state, warehouse::JobState::Succeeded);
    assert_eq!(
        (view.progress.cells_done, Some(view.progress.cells_total)),
        (view.progress.cells_total, total),
        "every cell of the job counted once"
    );
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
    wait_for_progress(port, &running, 10);
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

// ---- a command processor's processes --------------------------------------

/// What the orders example's DAILY command becomes: it starts a child that
/// keeps its stdout open and one detached by setsid and a double fork,
/// appends its own pid and theirs to `$ROLLCALL_TEST_PIDS` once both run,
/// pauses `$ROLLCALL_TEST_PAUSE` seconds, then runs the shipped script.
const LEAVES_PROCESSES: &str = r#"
mine=$(mktemp)
sh -c 'echo $$ >> "$0"; exec sleep 300' "$mine" &
( setsid sh -c 'echo $$ >> "$0"; exec sleep 300' "$mine" </dev/null >/dev/null 2>&1 & )
while [ "$(wc -l < "$mine")" -lt 2 ]; do sleep 0.05; done
cat "$mine" >> "$ROLLCALL_TEST_PIDS"; rm "$mine"
echo $$ >> "$ROLLCALL_TEST_PIDS"
sleep "${ROLLCALL_TEST_PAUSE:-0}"
exec python3 daily_totals.py "$@"
"#;

/// A copy of the orders example in `dir` whose DAILY command is
/// [`LEAVES_PROCESSES`], its universe imported into `db`.
fn orders_that_leave_processes(dir: &Path, db: &Path) -> std::path::PathBuf {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.join("leaves.sh"), LEAVES_PROCESSES).unwrap();
    let file = dir.join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let old = r#"command = ["python3", "daily_totals.py"]"#;
    assert!(text.contains(old));
    std::fs::write(
        &file,
        text.replacen(old, r#"command = ["sh", "leaves.sh"]"#, 1),
    )
    .unwrap();
    let ok = rollcall()
        .arg("--db")
        .arg(db)
        .arg("--pipeline")
        .arg(&file)
        .args(["import", "universe"])
        .arg(dir.join("orders.csv"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    file
}

/// The pids the commands left in `pids` so far.
fn pids_in(pids: &Path) -> Vec<String> {
    std::fs::read_to_string(pids)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn running(pid: &str) -> bool {
    // Gone, or a zombie its parent has yet to reap, is not running.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Waits until the commands have left at least `count` pids.
fn wait_for_pids(pids: &Path, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while pids_in(pids).len() < count {
        assert!(Instant::now() < deadline, "no command started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every pid in `pids` ends within five seconds.
fn assert_all_stopped(pids: &Path, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<String> = pids_in(pids).into_iter().filter(|p| running(p)).collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {after}, still running: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn with_pipeline(file: &Path, db: &Path, pids: &Path, pause: u32) -> Command {
    let mut c = rollcall();
    c.arg("--db")
        .arg(db)
        .arg("--pipeline")
        .arg(file)
        .env("ROLLCALL_TEST_PIDS", pids)
        .env("ROLLCALL_TEST_PAUSE", pause.to_string());
    c
}

fn dump_orders(db: &Path, file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let pipeline = domain::pipeline::Pipeline::parse(&text).unwrap();
    let wh = EmbeddedWarehouse::open(db, std::sync::Arc::new(pipeline)).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT * EXCLUDE (run_id, processed_at) FROM shop_metrics.customer_daily_totals ORDER BY ALL",
        "SELECT * EXCLUDE (run_id, created_at) FROM shop_ops.rollcall_failures ORDER BY ALL",
    ] {
        out.extend(wh.rows_for_tests(sql).unwrap());
        out.push("--".into());
    }
    out
}

#[test]
fn what_a_command_leaves_running_is_stopped_and_named_on_its_run_row() {
    let dir = tempfile::tempdir().unwrap();
    let (db, pids) = (dir.path().join("orders.duckdb"), dir.path().join("pids"));
    let file = orders_that_leave_processes(dir.path(), &db);
    // The child holding stdout would hold the cell until its 60 s timeout:
    // the cell succeeds instead, as the script did.
    let out = with_pipeline(&file, &db, &pids, 0)
        .args(["backfill", "--processor", "DAILY", "--dates", "2024-03-05"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pids_in(&pids).len(), 3);
    assert_all_stopped(&pids, "the cell");
    let text = std::fs::read_to_string(&file).unwrap();
    let pipeline = domain::pipeline::Pipeline::parse(&text).unwrap();
    let wh = EmbeddedWarehouse::open(&db, std::sync::Arc::new(pipeline)).unwrap();
    let runs = wh
        .rows_for_tests("SELECT status || ': ' || error FROM shop_ops.rollcall_runs")
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        runs[0].contains(
            "success: the command left 2 process(es) running after it exited; Rollcall stopped them"
        ),
        "{runs:?}"
    );
}

#[test]
fn kill_9_of_a_backfill_stops_the_command_and_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let (db, pids) = (dir.path().join("orders.duckdb"), dir.path().join("pids"));
    let file = orders_that_leave_processes(dir.path(), &db);
    let mut cli = with_pipeline(&file, &db, &pids, 300)
        .args(["backfill", "--processor", "DAILY", "--dates", "2024-03-05"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_pids(&pids, 3);
    cli.kill().unwrap(); // SIGKILL: no shutdown code runs
    cli.wait().unwrap();
    assert_all_stopped(&pids, "kill -9 of the CLI");
}

#[test]
fn a_command_job_killed_or_stopped_mid_cell_resumes_to_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (killed, reference) = (
        dir.path().join("killed.duckdb"),
        dir.path().join("reference.duckdb"),
    );
    let pids = dir.path().join("pids");
    let file = orders_that_leave_processes(dir.path(), &killed);
    orders_that_leave_processes(dir.path(), &reference);
    let port = free_port();
    let serve_orders = || {
        let child = with_pipeline(&file, &killed, &pids, 1)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_healthy(port, child)
    };
    let mut server = serve_orders();
    let body = "form%5Bp%5D=DAILY&form%5Bstart%5D=2024-03-01&form%5Bend%5D=2024-03-06&form%5Bmode%5D=all&form%5Bdownstream%5D=no";
    let id: String =
        app::wire::read_answer(&curl(port, "POST", app::api::StartRerun::PATH, body).unwrap())
            .unwrap();

    // kill -9 while the first command runs: nothing of it survives, and the
    // job still knows its six cells.
    wait_for_pids(&pids, 3);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_all_stopped(&pids, "kill -9 of the server");
    let mut server = serve_orders();
    let view = status(port, &id);
    assert_eq!(view.state, warehouse::JobState::Interrupted);
    assert_eq!(
        (view.progress.cells_done, view.progress.cells_total),
        (0, 6)
    );
    curl(port, "POST", app::api::ResumeJob::PATH, &format!("id={id}")).expect("resume accepted");

    // SIGTERM while a command runs: the server exits 0 and stops it all.
    let seen = pids_in(&pids).len();
    wait_for_pids(&pids, seen + 3);
    let exit = terminate(&mut server);
    assert!(exit.success(), "SIGTERM exits 0: {exit:?}");
    assert_all_stopped(&pids, "SIGTERM of the server");

    let mut server = serve_orders();
    assert_eq!(status(port, &id).state, warehouse::JobState::Interrupted);
    curl(port, "POST", app::api::ResumeJob::PATH, &format!("id={id}")).expect("resume accepted");
    assert_eq!(
        wait_until_done(port, &id).state,
        warehouse::JobState::Succeeded
    );
    server.kill().unwrap();
    server.wait().unwrap();
    assert_all_stopped(&pids, "the job");

    let ok = with_pipeline(&file, &reference, &pids, 0)
        .args([
            "backfill",
            "--processor",
            "DAILY",
            "--start-date",
            "2024-03-01",
            "--end-date",
            "2024-03-06",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let (a, b) = (dump_orders(&killed, &file), dump_orders(&reference, &file));
    assert!(a.len() > 100, "{} rows", a.len());
    assert_eq!(a, b, "resumed tables equal an uninterrupted run");
}
