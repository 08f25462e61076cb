//! Running the `rollcall` binary, reading what it printed, and a copy of the
//! orders example to run it on.

use std::path::Path;
use std::process::{Command, Output};

pub fn rollcall(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("ROLLCALL_LOG", "error")
        .output()
        .expect("binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A copy of the orders example whose `expected` is `condition`, in `dir`.
pub fn orders_with_expected(dir: &Path, condition: &str) -> std::path::PathBuf {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        // Files only (a __pycache__ a run may leave is not the pipeline's).
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let file = dir.join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let old = r#"expected = "status <> 'cancelled'""#;
    assert!(text.contains(old));
    std::fs::write(
        &file,
        text.replacen(old, &format!("expected = {condition:?}"), 1),
    )
    .unwrap();
    file
}

/// The flags that put a command on the BigQuery emulator (`ROLLCALL_BQ_URL`,
/// which `make test` starts), in datasets of its own (`tag` + the pid).
pub fn bigquery_flags(tag: &str) -> Vec<String> {
    let url = std::env::var("ROLLCALL_BQ_URL").expect(
        "ROLLCALL_BQ_URL is not set: this test needs the BigQuery emulator (make test starts it)",
    );
    let prefix = format!("{tag}{}_", std::process::id());
    [
        "--warehouse",
        "bigquery",
        "--project",
        "local-proj",
        "--dataset-prefix",
        &prefix,
        "--bq-auth",
        "none",
        "--bigquery-url",
        &url,
    ]
    .map(String::from)
    .to_vec()
}
