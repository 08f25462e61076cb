//! `validate` and `backfill` on a demo store: gaps found and closed, dry
//! runs, and a failed latest run reported as such.

use std::path::Path;
use std::process::Command;

use crate::common::{orders_with_expected, rollcall, stderr, stdout};

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
    // Printed as they run: with the --db this validate was given.
    assert!(
        text.contains(&format!(
            "rollcall --db {} backfill --processor PDC",
            db.display()
        )),
        "{text}"
    );

    // Issue [R] 8: a range with no upstream rows is not a green "100 %".
    let empty = [
        "validate",
        "--start-date",
        "2019-06-01",
        "--end-date",
        "2019-06-05",
    ];
    let out = rollcall(&db, &empty);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Nothing was expected"),
        "{}",
        stdout(&out)
    );
    let mut strict = empty.to_vec();
    strict.push("--require-expected");
    let out = rollcall(&db, &strict);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nothing was expected"),
        "{}",
        stderr(&out)
    );

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
        assert!(t[1]["unaccounted"].as_i64().unwrap() > 0, "{p:?}");
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

/// Issue [Q] 1: a cell whose latest run failed is not a silent drop. After
/// a good run, the same processor's program crashes: validate says
/// RUN_FAILED with when and the error's first lines, that the rows shown
/// are the earlier run's, in the table, CSV and JSON, and exits 1.
#[test]
fn a_failed_latest_run_is_reported_not_taken_for_a_silent_drop() {
    let dir = tempfile::tempdir().unwrap();
    let good = orders_with_expected(dir.path(), "status <> 'cancelled'");
    let good = good.to_str().unwrap();
    let db = dir.path().join("orders.duckdb");
    let day = "2024-03-05";
    let out = rollcall(&db, &["--pipeline", good, "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let text = std::fs::read_to_string(good).unwrap();
    let command = r#"command = ["python3", "daily_totals.py"]"#;
    assert!(text.contains(command));
    let crashing = dir.path().join("crashing.toml");
    std::fs::write(
        &crashing,
        text.replacen(
            command,
            r#"command = ["sh", "-c", "sleep 0.3; echo 'Traceback (most recent call last):' >&2; echo 'KeyError: amount' >&2; exit 3"]"#,
            1,
        ),
    )
    .unwrap();
    let crashing = crashing.to_str().unwrap();
    let out = rollcall(
        &db,
        &[
            "--pipeline",
            crashing,
            "backfill",
            "--processor",
            "DAILY",
            "--dates",
            day,
        ],
    );
    assert!(
        !out.status.success(),
        "a failed cell fails the backfill: {}",
        stdout(&out)
    );
    // The job says why, not only how many.
    assert!(
        stdout(&out).contains(": finished: 1 cell failed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("1 cell failed: DAILY {day}: command: exited with"))
            && stdout(&out).contains("Traceback"),
        "{}",
        stdout(&out)
    );

    let validate = |format: &str| {
        rollcall(
            &db,
            &[
                "--pipeline",
                good,
                "validate",
                "--start-date",
                day,
                "--end-date",
                day,
                "--processor",
                "DAILY",
                "--reconcile",
                "--format",
                format,
            ],
        )
    };
    let out = validate("json");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let cell = &json["cells"][0];
    assert_eq!(cell["status"], "RUN_FAILED", "{cell}");
    assert_eq!(cell["processor"], "DAILY", "{cell}");
    assert_eq!(cell["serves_older_run"], true, "{cell}");
    let failed = cell["failed_run"].as_str().unwrap();
    assert!(
        failed.contains("failed at 20")
            && failed.contains("Traceback")
            && failed.contains("KeyError: amount"),
        "{failed}"
    );
    assert_eq!(json["clean"], false);
    // One "processor" key per cell: the text has it as often as cells.
    let text = stdout(&out);
    assert_eq!(text.matches("\"processor\"").count(), 1, "{text}");

    let out = validate("table");
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    assert!(table.contains("RUN FAILED"), "{table}");
    assert!(table.contains("Cells whose latest run failed"), "{table}");
    assert!(
        table.contains("KeyError: amount") && table.contains("earlier run"),
        "{table}"
    );

    let out = validate("csv");
    let csv = stdout(&out);
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(",failed_run"), "{header}");
    assert!(csv.lines().nth(1).unwrap().contains("RUN_FAILED"), "{csv}");
    assert!(csv.contains("KeyError: amount"), "{csv}");

    // Issue [Q] 5: the suggested re-run runs as printed (with the
    // --pipeline and --db given), and with the program fixed the cell is
    // itself again.
    let printed = table
        .lines()
        .find(|l| l.trim_start().starts_with("rollcall ") && l.contains(" backfill "))
        .unwrap_or_else(|| panic!("no re-run command: {table}"))
        .trim()
        .to_string();
    assert!(
        printed.contains("--pipeline") && printed.contains("--db"),
        "{printed}"
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_rollcall"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", &printed])
        .env("PATH", path)
        .env("ROLLCALL_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{printed}: {} {}",
        stdout(&out),
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&validate("json"))).unwrap();
    assert_ne!(json["cells"][0]["status"], "RUN_FAILED");
    assert!(json["cells"][0]["failed_run"].is_null());

    // Issue [Q] 4: the fixed run resumed the failed job, with a run id of
    // its own; the crashed run's row carries the time the program took.
    let runs = dir.path().join("runs.csv");
    warehouse_embedded::EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba()))
        .unwrap()
        .execute_batch_for_tests(&format!(
            "ATTACH '{}' AS o (READ_ONLY);
             COPY (SELECT run_id, job_id, status, duration_ms FROM o.shop_ops.rollcall_runs
                   WHERE analysis_date = DATE '{day}'
                     AND processor_name = 'CustomerDailyTotalsProcessor'
                   ORDER BY started_at) TO '{}' (HEADER false);",
            db.display(),
            runs.display()
        ))
        .unwrap();
    let text = std::fs::read_to_string(&runs).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let (crashed, fixed) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
    assert_eq!((crashed[2], fixed[2]), ("failed", "success"), "{text}");
    assert_eq!(
        crashed[1], fixed[1],
        "the fix resumed the failed job: {text}"
    );
    assert_ne!(
        crashed[0], fixed[0],
        "a resumed run has an id of its own: {text}"
    );
    let took: i64 = crashed[3].parse().unwrap();
    assert!(took >= 250, "the crashed run took its 0.3 s: {text}");

    // Issue [Q] 2: a job that succeeded over gaps it did not close says so
    // (the script leaves weekend customers out), with a line per processor.
    let out = rollcall(
        &db,
        &[
            "--pipeline",
            good,
            "backfill",
            "--processor",
            "DAILY",
            "--start-date",
            "2024-03-01",
            "--end-date",
            "2024-03-10",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains(": succeeded — ") && text.contains("still open"),
        "{text}"
    );
    assert!(
        text.contains("closed") && text.contains("\n  DAILY "),
        "{text}"
    );
}

/// Issue [O] 3: `validate --format markdown` is the handoff note's tables —
/// per processor `validate --reconcile`'s columns, a TOTAL row, the verdict —
/// with the numbers `--format json` gives for the same range.
#[test]
fn markdown_tables_carry_validate_s_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    assert!(rollcall(&db, &["demo"]).status.success());
    let range = [
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-07",
        "--processor",
        "PDC,PCF",
        "--format",
    ];
    let run = |format: &str| {
        let mut args = range.to_vec();
        args.push(format);
        rollcall(&db, &args)
    };
    let md = run("markdown");
    assert_eq!(md.status.code(), Some(1), "gaps: exit 1 as the table does");
    let md = stdout(&md);
    let json: serde_json::Value = serde_json::from_str(&stdout(&run("json"))).unwrap();
    assert!(
        md.starts_with("## Reconciliation 2021-11-05 to 2021-11-07"),
        "{md}"
    );
    assert!(md.contains("### PDC (PlayerDailyCacheProcessor)"), "{md}");
    assert!(md.contains("| Date | Expected | Has Record | Has Failure | Unaccounted | Coverage |"));
    let mut rows = 0;
    for cell in json["cells"].as_array().unwrap() {
        let failure = if cell["date_level"].as_bool().unwrap() {
            cell["expected"].as_i64().unwrap() - cell["has_record"].as_i64().unwrap()
        } else {
            cell["has_failure"].as_i64().unwrap()
        };
        let line = format!(
            "| {} | {} | {} | {} | {} | {:.1}% |",
            cell["date"].as_str().unwrap(),
            cell["expected"],
            cell["has_record"],
            failure,
            cell["unaccounted"],
            cell["coverage"].as_f64().unwrap() * 100.0
        );
        assert!(md.contains(&line), "{line} in\n{md}");
        rows += 1;
    }
    assert_eq!(rows, 6, "two processors, three dates");
    for (code, totals) in json["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (&t[0], &t[1]))
    {
        let total = format!(
            "| **TOTAL** | {} | {} | {} | {} |",
            totals["expected"], totals["has_record"], totals["has_failure"], totals["unaccounted"]
        );
        assert!(md.contains(&total), "{code}: {total} in\n{md}");
    }
    assert_eq!(md.matches("WARNING: ").count(), 2, "{md}");
}
