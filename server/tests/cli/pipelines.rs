//! Pipeline files: read at start-up, errors by file, line and column, and
//! the shipped examples run as the README says.

use std::path::Path;
use std::process::Output;

use crate::common::{bigquery_flags, orders_with_expected, rollcall, stderr, stdout};

/// The shipped pipeline file with `old` replaced by `new`, written beside `db`.
fn pipeline_file(dir: &Path, old: &str, new: &str) -> std::path::PathBuf {
    let shipped = include_str!("../../../pipelines/nba.toml");
    assert!(shipped.contains(old), "{old}");
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, shipped.replacen(old, new, 1)).unwrap();
    path
}

fn expected_total(json: &serde_json::Value, processor: &str) -> i64 {
    json["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == processor)
        .unwrap()[1]["expected"]
        .as_i64()
        .unwrap()
}

#[test]
fn the_pipeline_file_is_read_at_start_up_and_drives_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");

    // The shipped pipeline, listed.
    let out = rollcall(&db, &["pipeline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("valid, 4 processors"), "{text}");
    assert!(
        text.contains("PCF") && text.contains("depends on: PDC, PSZA"),
        "{text}"
    );

    // A legacy spelling and a stricter `expected` condition take effect.
    let stricter = pipeline_file(
        dir.path(),
        r#"expected = "is_active AND (minutes_played > 0 OR fg_attempts > 0)""#,
        r#"expected = "is_active AND minutes_played >= 30""#,
    );
    let shipped = std::fs::read_to_string(&stricter).unwrap();
    std::fs::write(
        &stricter,
        shipped.replacen(
            "name = \"PlayerDailyCacheProcessor\"\n",
            "name = \"PlayerDailyCacheProcessor\"\nspellings = [\"daily_cache_v1\"]\n",
            1,
        ),
    )
    .unwrap();
    let with_file = |args: &[&str]| {
        let mut all = vec!["--pipeline", stricter.to_str().unwrap()];
        all.extend(args);
        rollcall(&db, &all)
    };
    let out = with_file(&["pipeline"]);
    assert!(
        stdout(&out).contains("minutes_played >= 30"),
        "{}",
        stdout(&out)
    );
    assert!(rollcall(&db, &["demo"]).status.success());
    let day = [
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-05",
        "--format",
        "json",
    ];
    let json = |o: Output| -> serde_json::Value { serde_json::from_str(&stdout(&o)).unwrap() };
    let shipped_expected = expected_total(&json(rollcall(&db, &day)), "PDC");
    let strict_expected = expected_total(&json(with_file(&day)), "PDC");
    assert!(
        0 < strict_expected && strict_expected < shipped_expected,
        "{strict_expected} of {shipped_expected}"
    );
    let out = with_file(&[
        "backfill",
        "--processor",
        "DAILY_CACHE_V1",
        "--dates",
        "2021-11-05",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("PDC"), "{}", stdout(&out));
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "DAILY_CACHE_V1",
            "--dates",
            "2021-11-05",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("known: PSZA, PDC, PCF, MLFS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_pipeline_file_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    let bad = pipeline_file(dir.path(), "min_games = 3", "min_games = \"three\"");
    let line = std::fs::read_to_string(&bad)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"three\""))
        .unwrap()
        + 1;
    for command in [
        &["pipeline"][..],
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-05",
        ],
    ] {
        let mut args = vec!["--pipeline", bad.to_str().unwrap()];
        args.extend(command);
        let out = rollcall(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let prefix = format!("error: {}:{line}:", bad.display());
        assert!(
            stderr(&out).starts_with(&prefix),
            "{} / {prefix}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert!(!db.exists(), "nothing was opened");

    // Valid TOML, but builtins over another universe: refused by name.
    let orders = pipeline_file(
        dir.path(),
        "table = \"nba_analytics.player_game_summary\"",
        "table = \"shop.orders\"",
    );
    let out = rollcall(&db, &["--pipeline", orders.to_str().unwrap(), "pipeline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"shop.orders\": run it as a command"),
        "{}",
        stderr(&out)
    );
    // Failures recorded over Rollcall's own job table: refused by name.
    let failures = pipeline_file(
        dir.path(),
        "failures = \"nba_processing.precompute_failures\"",
        "failures = \"rollcall_meta.jobs\"",
    );
    let out = rollcall(&db, &["--pipeline", failures.to_str().unwrap(), "pipeline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "[tables] failures = \"rollcall_meta.jobs\": rollcall_meta is Rollcall's own dataset"
        ),
        "{}",
        stderr(&out)
    );

    let out = rollcall(
        &db,
        &["--pipeline", "/nonexistent/pipeline.toml", "pipeline"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read the pipeline file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_example_command_pipeline_runs_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rest.duckdb");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba-rest-days/pipeline.toml"
    );
    let with_file = |args: &[&str]| {
        let mut all = vec!["--pipeline", file];
        all.extend(args);
        rollcall(&db, &all)
    };
    let out = with_file(&["pipeline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("valid, 5 processors"), "{text}");
    assert!(
        text.contains("command: python3 rest_days.py DATE")
            && text.contains("columns: rest_days int, back_to_back bool"),
        "{text}"
    );

    assert!(with_file(&["demo"]).status.success());
    let out = with_file(&[
        "backfill",
        "--processor",
        "REST",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-06",
    ]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("INSUFFICIENT_DATA"),
        "{}",
        stdout(&out)
    );
    let out = with_file(&[
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-06",
        "--processor",
        "REST",
        "--format",
        "json",
    ]);
    // The script leaves some players out on purpose: unaccounted, exit 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let totals = &json["totals"][0][1];
    let n = |k: &str| totals[k].as_i64().unwrap();
    assert!(
        n("has_record") > 0 && n("has_failure") > 0 && n("unaccounted") > 0,
        "{totals}"
    );
    assert_eq!(
        n("has_record") + n("has_failure") + n("unaccounted"),
        n("expected"),
        "{totals}"
    );
    // The shipped pipeline does not know REST.
    let out = rollcall(
        &db,
        &["backfill", "--processor", "REST", "--dates", "2021-11-05"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_orders_example_runs_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.duckdb");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/orders/pipeline.toml"
    );
    let with_file = |args: &[&str]| {
        let mut all = vec!["--pipeline", file];
        all.extend(args);
        rollcall(&db, &all)
    };
    let validate_daily = || {
        with_file(&[
            "validate",
            "--start-date",
            "2024-03-01",
            "--end-date",
            "2024-03-28",
            "--processor",
            "DAILY",
            "--format",
            "json",
        ])
    };
    let out = with_file(&["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1004 rows of shop.orders on 28 dates")
            && stdout(&out).contains("customer-dates in"),
        "{}",
        stdout(&out)
    );
    // The scripts left customers unaccounted on weekends: exit 1, every
    // customer in the identity.
    let out = validate_daily();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let totals = &json["totals"][0][1];
    let n = |k: &str| totals[k].as_i64().unwrap();
    assert!(n("has_record") > 0 && n("unaccounted") > 0, "{totals}");
    assert_eq!(
        n("has_record") + n("has_failure") + n("unaccounted"),
        n("expected"),
        "{totals}"
    );
    let totals = |o: &Output| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&stdout(o)).unwrap()["totals"].clone()
    };
    // The demo again changes nothing: its rows are the store's.
    assert!(with_file(&["demo"]).status.success());
    let again = validate_daily();
    assert_eq!(totals(&again), totals(&out));

    // A broken CSV is refused by line and column, and nothing changes.
    let csv = dir.path().join("more.csv");
    std::fs::write(
        &csv,
        "order_date,customer_id,order_id,amount,status\n2024-03-05,C9999,O-1,12.5,paid\n2024-03-05,C9998,O-2,lots,paid\n",
    )
    .unwrap();
    let out = with_file(&["import", "universe", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 3, column amount"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&csv, "customer_id,order_date,colour\nC1,2024-03-05,red\n").unwrap();
    let out = with_file(&["import", "universe", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 1: no column \"order_id\""),
        "{}",
        stderr(&out)
    );
    let unchanged = validate_daily();
    assert_eq!(totals(&unchanged), totals(&again));
    // The shipped pipeline's box scores are not a universe to import.
    let out = rollcall(&db, &["import", "universe", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("player-game-summary"),
        "{}",
        stderr(&out)
    );
}

/// Customers with an order on `date` in the shipped orders CSV.
fn customers_ordering_on(date: &str) -> i64 {
    let csv = include_str!("../../../pipelines/orders/orders.csv");
    let set: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1] == date)
        .map(|f| f[0])
        .collect();
    set.len() as i64
}

/// Issue [R] 0: an `expected` with a top-level OR stays inside the date
/// filter, on both stores; a condition that cannot be one is refused by line.
#[test]
fn an_expected_condition_with_or_stays_inside_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let file = orders_with_expected(dir.path(), "status = 'paid' OR status = 'cancelled'");
    let file = file.to_str().unwrap();
    let day = "2024-03-05";
    let everyone = customers_ordering_on(day);
    let bigquery = bigquery_flags("or");
    let bigquery: Vec<&str> = bigquery.iter().map(String::as_str).collect();
    let db = dir.path().join("orders.duckdb");
    for store in [&[][..], &bigquery[..]] {
        let with_file = |args: &[&str]| {
            let mut all = vec!["--pipeline", file];
            all.extend(store);
            all.extend(args);
            rollcall(&db, &all)
        };
        let out = with_file(&["demo"]);
        assert!(out.status.success(), "{store:?}: {}", stderr(&out));
        let out = with_file(&[
            "validate",
            "--start-date",
            day,
            "--end-date",
            day,
            "--processor",
            "DAILY",
            "--format",
            "json",
        ]);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let totals = &json["totals"][0][1];
        assert_eq!(
            totals["expected"].as_i64(),
            Some(everyone),
            "{store:?}: {totals}"
        );
    }
    for bad in ["status = 'paid' -- paid only", "(status = 'paid'"] {
        let file = orders_with_expected(dir.path(), bad);
        let out = rollcall(&db, &["--pipeline", file.to_str().unwrap(), "pipeline"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("one SQL condition"),
            "{}",
            stderr(&out)
        );
    }
}

/// `validate` reported (0: all accounted for, 1: gaps), no error.
fn reported(out: &std::process::Output) -> bool {
    matches!(out.status.code(), Some(0 | 1)) && stderr(out).is_empty() && !stdout(out).is_empty()
}

/// Issue [R] 6: a store remembers its pipeline. Forgetting `--pipeline` is
/// refused, naming both pipelines and the way out (no report on the wrong
/// tables); a command's new column is added to its table; a column whose
/// type changed is refused by name. On both stores.
#[test]
fn a_store_remembers_its_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let file = orders_with_expected(dir.path(), "status <> 'cancelled'");
    let file = file.to_str().unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    let daily_columns = r#"{ name = "revenue", type = "float" },"#;
    assert!(text.contains(daily_columns));
    let grown = dir.path().join("grown.toml");
    std::fs::write(
        &grown,
        text.replacen(
            daily_columns,
            &format!("{daily_columns}\n  {{ name = \"discount\", type = \"float\" }},"),
            1,
        ),
    )
    .unwrap();
    let retyped = dir.path().join("retyped.toml");
    std::fs::write(
        &retyped,
        text.replacen(
            r#"{ name = "orders", type = "int" }"#,
            r#"{ name = "orders", type = "text" }"#,
            1,
        ),
    )
    .unwrap();
    let bigquery = bigquery_flags("rec");
    let bigquery: Vec<&str> = bigquery.iter().map(String::as_str).collect();
    let db = dir.path().join("orders.duckdb");
    let day = ["--start-date", "2024-03-05", "--end-date", "2024-03-05"];
    for store in [&[][..], &bigquery[..]] {
        let run = |pipeline: Option<&str>, args: &[&str]| {
            let mut all: Vec<&str> = Vec::new();
            if let Some(p) = pipeline {
                all.extend(["--pipeline", p]);
            }
            all.extend(store);
            all.extend(args);
            rollcall(&db, &all)
        };
        let out = run(Some(file), &["demo"]);
        assert!(out.status.success(), "{store:?}: {}", stderr(&out));

        // --pipeline forgotten: the NBA pipeline is refused.
        let mut validate = vec!["validate"];
        validate.extend(day);
        let out = run(None, &validate);
        assert_eq!(out.status.code(), Some(2), "{store:?}: {}", stdout(&out));
        let e = stderr(&out);
        assert!(
            e.contains("it was made for the pipeline over shop.orders (DAILY, LOYALTY), and this run uses the pipeline over nba_analytics.player_game_summary (PSZA, PDC, PCF, MLFS)")
                && e.contains("--adopt-pipeline"),
            "{store:?}: {e}"
        );
        assert!(stdout(&out).is_empty(), "{store:?}: no report");

        // A new nullable column of DAILY: added, and the cell runs.
        let grown = grown.to_str().unwrap();
        let out = run(
            Some(grown),
            &["backfill", "--processor", "DAILY", "--dates", "2024-03-05"],
        );
        assert!(out.status.success(), "{store:?}: {}", stderr(&out));
        let out = run(Some(grown), &validate);
        assert!(reported(&out), "{store:?}: {}", stderr(&out));
        // The store now records the grown pipeline: the first one would
        // drop the column, which is refused by name.
        let out = run(Some(file), &validate);
        assert_eq!(out.status.code(), Some(2), "{store:?}");
        assert!(
            stderr(&out).contains("its pipeline changed in a way Rollcall cannot migrate: processor DAILY's column discount is gone"),
            "{store:?}: {}",
            stderr(&out)
        );

        // Said to be intended: the other pipeline is recorded and runs.
        let mut adopting = vec!["--adopt-pipeline"];
        adopting.extend(&validate);
        let out = run(None, &adopting);
        assert!(reported(&out), "{store:?}: {}", stderr(&out));
        let out = run(Some(grown), &validate);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{store:?}: the NBA pipeline is its own now"
        );

        // A column whose type changed cannot be migrated: named.
        let mut adopting = vec!["--adopt-pipeline"];
        adopting.extend(&validate);
        let out = run(Some(grown), &adopting);
        assert!(reported(&out), "{store:?}: {}", stderr(&out));
        let out = run(Some(retyped.to_str().unwrap()), &validate);
        assert_eq!(out.status.code(), Some(2), "{store:?}");
        assert!(
            stderr(&out).contains("processor DAILY's column orders is text, was int"),
            "{store:?}: {}",
            stderr(&out)
        );
    }
}

/// Issue [R] 7: `expected` is run on the store when there is one: a typo
/// (a column the universe table lacks) fails at the file's line.
#[test]
fn a_typo_in_expected_fails_at_pipeline_with_the_file_s_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = orders_with_expected(dir.path(), "status <> 'cancelled'");
    let db = dir.path().join("orders.duckdb");
    let with = |file: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--pipeline", file.to_str().unwrap()];
        all.extend(args);
        rollcall(&db, &all)
    };
    assert!(with(&file, &["demo"]).status.success());
    assert!(with(&file, &["pipeline"]).status.success());
    let typo = orders_with_expected(dir.path(), "statuss <> 'cancelled'");
    let text = std::fs::read_to_string(&typo).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("expected"))
        .unwrap()
        + 1;
    let out = with(&typo, &["pipeline"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("pipeline.toml:{line}:"))
            && e.contains("`expected` fails on the store")
            && e.contains("statuss"),
        "{e}"
    );
}
