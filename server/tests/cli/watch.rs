//! `watch` and `changes` (issue [M] 1, 2): exit 0 with nothing open, 1 with
//! something open, 2 on bad input (nothing written), 3 when the warehouse
//! cannot be reached; the demo's feed has something in it from the start.

use crate::common::{rollcall, stderr, stdout};

#[test]
fn watch_exits_by_what_is_open_and_changes_lists_what_moved() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The demo evaluated its view: the feed shows November's gaps opening.
    let out = rollcall(&db, &["changes", "--since", "1h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let feed = stdout(&out);
    assert!(feed.contains("opened    PDC:2021-11-10"), "{feed}");
    assert!(feed.contains("(1 evaluations)"), "{feed}");

    // November still has gaps: exit 1, and no news against the demo's
    // evaluation.
    let november = [
        "watch",
        "--once",
        "--start-date",
        "2021-11-01",
        "--end-date",
        "2021-11-30",
    ];
    let out = rollcall(&db, &november);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 opened, 0 worse"),
        "{}",
        stdout(&out)
    );

    // A re-run closes PDC's first ten days: they resolve, by name.
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-10",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rollcall(&db, &[&november[..], &["--format", "json"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let resolved: Vec<&serde_json::Value> = json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] == "resolved")
        .collect();
    assert_eq!(resolved.len(), 10, "{json}");
    assert!(
        resolved
            .iter()
            .all(|c| c["processor"] == "PDC"
                && !c["resolved_entities"].as_array().unwrap().is_empty())
    );

    // A window with nobody expected has nothing open: exit 0.
    let out = rollcall(
        &db,
        &[
            "watch",
            "--once",
            "--start-date",
            "2021-07-01",
            "--end-date",
            "2021-07-03",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The feed as JSON: the resolutions are news.
    let out = rollcall(&db, &["changes", "--since", "24h", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let news = json["news"].as_array().unwrap();
    assert!(news.iter().filter(|c| c["change"] == "resolved").count() >= 10);
}

#[test]
fn watch_and_changes_refuse_bad_input_and_say_when_the_warehouse_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    for (args, said) in [
        (vec!["watch", "--once", "--as-of", "yesterday"], "as-of"),
        (
            vec![
                "watch",
                "--once",
                "--start-date",
                "2021-11-31",
                "--end-date",
                "2021-12-01",
            ],
            "start-date",
        ),
        (
            vec![
                "watch",
                "--once",
                "--start-date",
                "2021-12-01",
                "--end-date",
                "2021-11-01",
            ],
            "after end date",
        ),
        (vec!["changes", "--since", "forever"], "since"),
    ] {
        let out = rollcall(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
        assert!(!db.exists(), "{args:?}: nothing written");
    }
    // Nothing listens there: the warehouse is unreachable, exit 3.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "--warehouse",
            "bigquery",
            "--project",
            "local-proj",
            "--bq-auth",
            "none",
            "--bigquery-url",
            "http://127.0.0.1:9/bigquery/v2",
            "--bq-retry-total",
            "1",
            "watch",
            "--once",
        ])
        .env("ROLLCALL_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

/// Issue [M] 3: a deadline is local time in `[watch] timezone`, on the day
/// after the date; with a fixed `--as-of` a cell turns late exactly then.
#[test]
fn deadlines_follow_the_watch_time_zone_with_a_fixed_as_of() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    let file = dir.path().join("nba-deadlines.toml");
    std::fs::write(
        &file,
        shipped.replacen(
            "min_games = 3\n",
            "min_games = 3\nexpected_by = \"09:00\"\n",
            1,
        ) + "\n[watch]\ntimezone = \"America/New_York\"\n",
    )
    .unwrap();
    let db = dir.path().join("demo.duckdb");
    let pipeline = file.to_str().unwrap();
    let out = rollcall(&db, &["--pipeline", pipeline, "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pdc_late = |as_of: &str| -> (bool, String) {
        let out = rollcall(
            &db,
            &[
                "--pipeline",
                pipeline,
                "watch",
                "--once",
                "--start-date",
                "2021-11-10",
                "--end-date",
                "2021-11-10",
                "--as-of",
                as_of,
                "--format",
                "json",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let pdc = json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["processor"] == "PDC")
            .cloned()
            .unwrap();
        (
            pdc["late"].as_bool().unwrap(),
            pdc["change"].as_str().unwrap().to_string(),
        )
    };
    // Due 2021-11-11 09:00 in New York: 14:00 UTC (EST).
    assert!(
        !pdc_late("2021-11-11T13:59:00Z").0,
        "not late a minute before"
    );
    assert_eq!(
        pdc_late("2021-11-11T14:00:00Z"),
        (true, "worse".to_string())
    );
}

/// Each date is compared with the newest evaluation that covered it: an
/// evaluation over another window neither reopens November's cells nor
/// hides what changed there.
#[test]
fn evaluations_over_other_windows_neither_reopen_nor_hide_cells() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let window = |start: &str, end: &str| {
        let out = rollcall(
            &db,
            &[
                "watch",
                "--once",
                "--start-date",
                start,
                "--end-date",
                end,
                "--format",
                "json",
            ],
        );
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let count = |change: &str| {
            json["cells"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["change"] == change)
                .count()
        };
        (count("opened"), count("resolved"), count("open"))
    };
    // December was never evaluated: its open cells are new.
    let (opened, _, _) = window("2021-12-01", "2021-12-05");
    assert!(opened > 0);
    // November again, after December: compared with the demo's evaluation
    // of November, nothing is new.
    let (opened, resolved, open) = window("2021-11-01", "2021-11-30");
    assert_eq!((opened, resolved), (0, 0));
    assert!(open > 0);
    // A re-run of PDC's first days, then December, then November: the
    // resolutions are still found.
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-03",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    window("2021-12-01", "2021-12-05");
    let (opened, resolved, _) = window("2021-11-01", "2021-11-30");
    assert_eq!((opened, resolved), (0, 3));
}
