//! A real `rollcall serve` process killed (SIGKILL) in the middle of a job:
//! the restarted server shows the job interrupted, and resuming it ends with
//! the same tables as an uninterrupted run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::report::JobView;
use leptos::server_fn::ServerFn;
use warehouse_embedded::EmbeddedWarehouse;

fn rollcall() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.env("ROLLCALL_LOG", "error");
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
fn curl(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "-X", method, "-H", "accept: application/json"])
        .args(["-H", "content-type: application/x-www-form-urlencoded"])
        .args(["--data-raw", body])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn status(port: u16, id: &str) -> JobView {
    let body = curl(port, "POST", app::api::JobStatus::PATH, &format!("id={id}"))
        .expect("job status answers");
    serde_json::from_str(&body).unwrap()
}

fn demo(db: &Path) {
    let ok = rollcall().arg("--db").arg(db).arg("demo").status().unwrap();
    assert!(ok.success());
}

fn dump(db: &Path) -> Vec<String> {
    let wh = EmbeddedWarehouse::open(db).unwrap();
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

#[test]
fn a_killed_server_leaves_the_job_interrupted_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (killed, reference) = (
        dir.path().join("killed.duckdb"),
        dir.path().join("reference.duckdb"),
    );
    demo(&killed);
    demo(&reference);
    let (start, end) = ("2021-10-19", "2021-12-31");

    let port = free_port();
    let mut server = serve(&killed, port);
    let body = format!(
        "form%5Bp%5D=PSZA&form%5Bstart%5D={start}&form%5Bend%5D={end}&form%5Bmode%5D=all&form%5Bdownstream%5D=yes"
    );
    let id: String =
        serde_json::from_str(&curl(port, "POST", app::api::StartRerun::PATH, &body).unwrap())
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let view = status(port, &id);
        assert!(
            view.active,
            "the job ended before it could be killed: {}",
            view.state
        );
        if view.progress.cells_done >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "job made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill().unwrap(); // SIGKILL: no shutdown code runs
    server.wait().unwrap();

    let mut server = serve(&killed, port);
    let view = status(port, &id);
    assert_eq!(view.state, "interrupted");
    assert!(view.resumable);
    assert!(view.progress.cells_done < view.progress.cells_total);
    curl(port, "POST", app::api::ResumeJob::PATH, &format!("id={id}")).expect("resume accepted");
    let deadline = Instant::now() + Duration::from_secs(180);
    let view = loop {
        let view = status(port, &id);
        if !view.active {
            break view;
        }
        assert!(Instant::now() < deadline, "resumed job did not finish");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(view.state, "succeeded");
    server.kill().unwrap();
    server.wait().unwrap();

    let ok = rollcall()
        .arg("--db")
        .arg(&reference)
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
    let (a, b) = (dump(&killed), dump(&reference));
    assert!(a.len() > 1000, "{} rows", a.len());
    assert_eq!(a, b, "resumed tables equal an uninterrupted run");
}
