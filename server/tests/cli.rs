//! The `rollcall` binary: bad input exits non-zero with one line and writes nothing.

use std::path::Path;
use std::process::{Command, Output};

fn rollcall(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("ROLLCALL_LOG", "error")
        .output()
        .expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn bad_backfill_input_exits_2_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    let cases: [&[&str]; 5] = [
        &[
            "backfill",
            "--processor",
            "XYZ",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-02",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2021-11-10",
            "--end-date",
            "2021-11-01",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2001-01-01",
            "--end-date",
            "2021-01-01",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2021-13-01",
            "--end-date",
            "2021-11-01",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--dates",
            "2021-11-01,yesterday",
        ],
    ];
    for args in cases {
        let out = rollcall(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!db.exists(), "{args:?} created the database");
    }
}

#[test]
fn a_file_that_is_not_a_rollcall_database_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.duckdb");
    std::fs::write(&junk, b"this is not a database at all, just text").unwrap();
    let before = std::fs::read(&junk).unwrap();
    let out = rollcall(&junk, &["backfill", "--status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("junk.duckdb"), "{err}");
    assert_eq!(std::fs::read(&junk).unwrap(), before, "file untouched");
}

#[test]
fn a_read_only_location_fails_at_start_up_in_one_line() {
    // /proc is read-only even for root (CI runs as root, which ignores file modes).
    let db = Path::new("/proc/rollcall-test/rollcall.duckdb");
    let out = rollcall(db, &["backfill", "--status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot open warehouse"), "{err}");
}

#[test]
fn help_explains_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "demo", "backfill"] {
        assert!(help.contains(cmd), "{help}");
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn validate_reconcile_finds_the_demo_gaps_and_a_rerun_closes_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let range = ["--start-date", "2021-11-05", "--end-date", "2021-11-15"];
    let mut args = vec!["validate"];
    args.extend(range);
    args.push("--reconcile");
    let out = rollcall(&db, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Date") && text.contains("Has Record") && text.contains("TOTAL"));
    assert!(
        text.contains("players are unaccounted for - need investigation!"),
        "{text}"
    );
    assert!(text.contains("rollcall backfill --processor PDC"), "{text}");

    // JSON and CSV carry the same numbers.
    let mut json_args = vec!["validate"];
    json_args.extend(range);
    json_args.extend(["--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&rollcall(&db, &json_args))).unwrap();
    let unaccounted = json["unaccounted"].as_i64().unwrap();
    assert!(unaccounted > 0);
    let mut csv_args = vec!["validate"];
    csv_args.extend(range);
    csv_args.extend(["--format", "csv"]);
    let csv = stdout(&rollcall(&db, &csv_args));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "unaccounted").unwrap();
    let csv_sum: i64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(csv_sum, unaccounted);
    for p in ["PDC", "PCF", "MLFS"] {
        let t = json["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t[0] == p)
            .unwrap();
        assert!(t[1]["unaccounted"].as_i64().unwrap() > 0, "{p}");
    }

    let mut bf = vec!["backfill", "--processor", "PDC", "--downstream"];
    bf.extend(range);
    let out = rollcall(&db, &bf);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));

    let out = rollcall(&db, &args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("All players accounted for (record or failure)")
            .count(),
        4
    );
    assert!(text.matches("100.0%").count() >= 4, "{text}");
}

#[test]
fn validate_rejects_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    for args in [
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-01",
        ][..],
        &["validate", "--start-date", "x", "--end-date", "2021-11-01"][..],
        &[
            "validate",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-02",
            "--processor",
            "NOPE",
        ][..],
    ] {
        let out = rollcall(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!db.exists());
    }
}

#[test]
fn backfill_dry_run_lists_cells_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    assert!(rollcall(&db, &["demo"]).status.success());
    let count = |db: &Path| {
        let out = rollcall(db, &["backfill", "--status"]);
        stdout(&out).lines().count()
    };
    let jobs_before = count(&db);
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "PCF",
            "--downstream",
            "--dates",
            "2021-12-01,2021-12-03",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PCF") && text.contains("MLFS") && text.contains("2021-12-03"),
        "{text}"
    );
    assert!(text.contains("4 cells"), "{text}");
    assert_eq!(count(&db), jobs_before);
}
