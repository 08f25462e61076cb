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
        &["backfill", "--processor", "XYZ", "--start-date", "2021-11-01", "--end-date", "2021-11-02"],
        &["backfill", "--processor", "PDC", "--start-date", "2021-11-10", "--end-date", "2021-11-01"],
        &["backfill", "--processor", "PDC", "--start-date", "2001-01-01", "--end-date", "2021-01-01"],
        &["backfill", "--processor", "PDC", "--start-date", "2021-13-01", "--end-date", "2021-11-01"],
        &["backfill", "--processor", "PDC", "--dates", "2021-11-01,yesterday"],
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
