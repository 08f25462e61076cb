//! Issue [P] 4: the shipped pipelines/nba-in-place example end to end on the
//! BigQuery emulator. The team's tables are made in their real shapes by
//! the team's own Python (Google's `google-cloud-bigquery` client), its
//! backfill script seeds them with the real pipeline's known faults,
//! Rollcall observes them, then re-runs the script until the gaps it can
//! close are closed. The walk-through README gives, as commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::common::{bigquery_flags, stderr, stdout};

const START: &str = "2021-10-19";
const END: &str = "2021-10-30";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/nba-in-place")
}

/// The team's environment: its Python (the emulator's venv, which has
/// google-cloud-bigquery) first on PATH, and where its warehouse is.
fn team_env(cmd: &mut Command, prefix: &str) {
    let venv = std::env::var("ROLLCALL_BQ_VENV").expect(
        "ROLLCALL_BQ_VENV is not set: this test needs the emulator's Python (make test sets it)",
    );
    let path = format!("{venv}/bin:{}", std::env::var("PATH").unwrap_or_default());
    cmd.env("PATH", path)
        .env("TEAM_BQ_URL", std::env::var("ROLLCALL_BQ_URL").unwrap())
        .env("TEAM_BQ_PROJECT", "local-proj")
        .env("TEAM_DATASET_PREFIX", prefix)
        .env("ROLLCALL_LOG", "error");
}

fn team(prefix: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("python3");
    cmd.current_dir(example()).args(args);
    team_env(&mut cmd, prefix);
    cmd.output().expect("python3 runs")
}

fn rollcall(flags: &[String], prefix: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    cmd.arg("--pipeline")
        .arg(example().join("pipeline.toml"))
        .args(flags)
        .args(args);
    team_env(&mut cmd, prefix);
    cmd.output().expect("binary runs")
}

fn validate(flags: &[String], prefix: &str) -> (Output, serde_json::Value) {
    let out = rollcall(
        flags,
        prefix,
        &[
            "validate",
            "--start-date",
            START,
            "--end-date",
            END,
            "--format",
            "json",
        ],
    );
    let json = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&out), stderr(&out)));
    (out, json)
}

fn total(json: &serde_json::Value, field: &str) -> i64 {
    json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[field].as_i64().unwrap_or(0))
        .sum()
}

#[test]
fn the_teams_pipeline_is_observed_then_re_run_until_its_gaps_close() {
    let flags = bigquery_flags("inplace");
    let prefix = flags[flags.iter().position(|f| f == "--dataset-prefix").unwrap() + 1].clone();
    let ok = |what: &str, out: &Output| {
        assert!(
            out.status.success(),
            "{what}: {} {}",
            stdout(out),
            stderr(out)
        );
    };

    // Before the team's tables exist, Rollcall refuses at the file's line
    // (in datasets of their own: opening creates a missing observed table).
    let elsewhere = bigquery_flags("inplacenone");
    let out = rollcall(&elsewhere, &prefix, &["demo", "--days", "12"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let line = std::fs::read_to_string(example().join("pipeline.toml"))
        .unwrap()
        .lines()
        .position(|l| l == "table = \"nba_processing.precompute_failures\"")
        .unwrap()
        + 1;
    assert!(
        stderr(&out).contains(&format!("pipeline.toml:{line}:"))
            && stderr(&out).contains("[read.failures] table"),
        "{}",
        stderr(&out)
    );

    ok("team tables", &team(&prefix, &["team_tables.py"]));
    ok(
        "demo",
        &rollcall(&flags, &prefix, &["demo", "--days", "12"]),
    );
    ok(
        "the team's first, faulty backfill",
        &team(
            &prefix,
            &[
                "pdc_backfill.py",
                "--start-date",
                START,
                "--end-date",
                END,
                "--faults",
            ],
        ),
    );

    // Observed: silent drops are unaccounted, the legacy spelling is to
    // investigate, the team's own is expected, the date-level row covers
    // its date, the stale row beside a record is a conflict.
    let (out, json) = validate(&flags, &prefix);
    assert_eq!(out.status.code(), Some(1), "gaps: {}", stderr(&out));
    let before = total(&json, "unaccounted");
    assert!(before > 0, "{json}");
    assert!(total(&json, "investigate") > 0, "{json}");
    assert!(total(&json, "conflict") > 0, "{json}");
    let cells = json["cells"].as_array().unwrap();
    let first = cells.iter().find(|c| c["date"] == START).unwrap();
    assert_eq!(first["date_level"], true, "{first}");
    assert!(first["failures_by_category"]["MISSING_DEPENDENCIES"].as_i64() == Some(1));
    let categories: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c["failures_by_category"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
        })
        .collect();
    for code in [
        "EXPECTED_INCOMPLETE",
        "PROCESSING_ERROR",
        "MISSING_UPSTREAM",
    ] {
        assert!(
            categories.iter().any(|c| c == code),
            "{code}: {categories:?}"
        );
    }
    assert!(
        cells.iter().all(|c| c["last_run"]["status"] == "success"),
        "{json}"
    );

    // A mapped column the team's table lacks: every subcommand stops at
    // the mapping's line, the pipeline check first.
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("pipeline.toml");
    let text = std::fs::read_to_string(example().join("pipeline.toml")).unwrap();
    std::fs::write(
        &typo,
        text.replacen("entity = \"entity_id\"", "entity = \"entity_idx\"", 1),
    )
    .unwrap();
    let line = text
        .lines()
        .position(|l| l == "entity = \"entity_id\"")
        .unwrap()
        + 1;
    for args in [
        &["pipeline"][..],
        &["validate", "--start-date", START, "--end-date", END],
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
        cmd.arg("--pipeline").arg(&typo).args(&flags).args(args);
        team_env(&mut cmd, &prefix);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("pipeline.toml:{line}:"))
                && stderr(&out).contains("entity_idx"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // `rollcall pipeline` says what it reads and how it re-runs.
    let out = rollcall(&flags, &prefix, &["pipeline"]);
    ok("pipeline", &out);
    for said in [
        "reads     nba_processing.precompute_failures as failures",
        "reads     nba_reference.processor_run_history as runs",
        "category  CIRCUIT_BREAKER_ACTIVE = CIRCUIT_BREAKER_ACTIVE (expected)",
        "rerun: python3 pdc_backfill.py --start-date {start} --end-date {end}",
    ] {
        assert!(stdout(&out).contains(said), "{said}: {}", stdout(&out));
    }
    assert!(!stdout(&out).contains("locked"), "{}", stdout(&out));

    // The re-run starts the team's fixed script over the days (one run:
    // rerun_batch_days = 14) and closes every gap it can.
    let out = rollcall(
        &flags,
        &prefix,
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            START,
            "--end-date",
            END,
        ],
    );
    ok("re-run", &out);
    let closed: usize = stdout(&out)
        .split(" cells closed)")
        .next()
        .and_then(|head| head.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        closed > 0,
        "the job says how many cells it closed: {}",
        stdout(&out)
    );
    let (out, json) = validate(&flags, &prefix);
    assert_eq!(
        (
            total(&json, "unaccounted"),
            total(&json, "investigate"),
            total(&json, "conflict")
        ),
        (0, 0, 0),
        "{json}"
    );
    ok("validate after the re-run", &out);
    // Early-season players stay expected failures in the team's spelling.
    let cells = json["cells"].as_array().unwrap();
    assert!(
        cells
            .iter()
            .any(|c| c["failures_by_category"]["EXPECTED_INCOMPLETE"].as_i64() > Some(0)),
        "{json}"
    );
    assert!(cells.iter().all(|c| c["date_level"] == false), "{json}");
}

#[test]
fn on_the_embedded_store_the_check_says_a_team_program_cannot_write_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--pipeline")
        .arg(example().join("pipeline.toml"))
        .arg("--db")
        .arg(dir.path().join("none.duckdb"))
        .arg("pipeline")
        .env("ROLLCALL_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("PDC re-run by the team's own program")
            && stdout(&out).contains("locked"),
        "{}",
        stdout(&out)
    );
}
