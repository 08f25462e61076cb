//! Bad input exits non-zero with one line and writes nothing.

use std::path::Path;
use std::process::Command;

use crate::common::{rollcall, stderr};

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
    let out = rollcall(db, &["demo", "--days", "3"]);
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
fn commands_that_read_a_store_refuse_one_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.duckdb");
    for args in [
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-06",
        ][..],
        &["backfill", "--processor", "PDC", "--dates", "2021-11-05"],
        &["backfill", "--status"],
        &["serve", "--addr", "127.0.0.1:0"],
    ] {
        let out = rollcall(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("no such store"), "{}", stderr(&out));
        assert!(!db.exists(), "{args:?} created nothing");
    }
}

/// Issue [R] 8: DuckDB names a file's database after its stem, so a store
/// named like one of its schemas is refused before the file is touched.
#[test]
fn a_store_named_like_one_of_its_schemas_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["nba_precompute.duckdb", "rollcall_meta.duckdb"] {
        let db = dir.path().join(name);
        let out = rollcall(&db, &["demo", "--days", "2"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            stderr(&out).contains("may not be named like one of its schemas"),
            "{name}: {}",
            stderr(&out)
        );
        assert!(!db.exists(), "{name}: nothing written");
    }
    let file = crate::common::orders_with_expected(dir.path(), "status <> 'cancelled'");
    let db = dir.path().join("shop.duckdb");
    let out = rollcall(&db, &["--pipeline", file.to_str().unwrap(), "demo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("(shop)"), "{}", stderr(&out));
    assert!(!db.exists());
    // Any other name is fine.
    let db = dir.path().join("shop-store.duckdb");
    let out = rollcall(&db, &["--pipeline", file.to_str().unwrap(), "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Issue [R] 10: a pipeline file is read up to a cap, never to the end of
/// an endless one.
#[test]
fn a_pipeline_file_past_its_size_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("any.duckdb");
    let out = rollcall(&db, &["--pipeline", "/dev/zero", "pipeline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a pipeline file may hold at most 1048576 bytes"),
        "{}",
        stderr(&out)
    );
}
