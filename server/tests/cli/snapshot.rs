//! `rollcall snapshot` (issue [O]): freezing prints the link and writes the
//! self-contained file, whose numbers are `validate`'s; `--compare` exits 0
//! while nothing differs and 1, saying "gap closed", once a re-run closed a
//! frozen gap; bad input exits 2 naming the parameter and keeps nothing.

use crate::common::{rollcall, stderr, stdout};

fn listed(db: &std::path::Path) -> Vec<serde_json::Value> {
    let out = rollcall(db, &["snapshot", "--list", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn a_snapshot_prints_its_link_writes_its_file_and_compares_with_now() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = dir.path().join("report.html");
    let view = [
        "--start-date",
        "2022-03-01",
        "--end-date",
        "2022-03-02",
        "--processor",
        "PSZA,PDC",
    ];
    let mut args = vec!["snapshot"];
    args.extend(view);
    args.extend(["--note", "handoff", "--out", file.to_str().unwrap()]);
    let out = rollcall(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let link = stdout(&out).trim().to_string();
    let id = link
        .strip_prefix("http://127.0.0.1:3000/s/")
        .unwrap_or_else(|| panic!("{link}"));
    assert!(engine::snapshot::valid_id(id), "{id}");
    assert!(stderr(&out).contains("bytes kept"), "{}", stderr(&out));

    // The file's summary carries validate's numbers.
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(
        html.contains("<svg") && !html.contains("<script"),
        "{}",
        &html[..300]
    );
    assert!(html.contains(&link), "the file links to the snapshot");
    let mut args = vec!["validate"];
    args.extend(view);
    args.extend(["--format", "json"]);
    let out = rollcall(&db, &args);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for (code, t) in report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap(), &p[1]))
    {
        let row = format!(
            "<tr><th scope=\"row\">{code}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            t["expected"], t["has_record"], t["has_failure"]
        );
        assert!(html.contains(&row), "{row} not in the file");
        assert!(
            html.contains(&format!(
                ">{}</td><td class=\"n\">{}</td>",
                t["unaccounted"], t["acknowledged"]
            )),
            "{code}"
        );
    }

    // Nothing changed yet: exit 0.
    let out = rollcall(&db, &["snapshot", "--compare", id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 of 4 cells differ"),
        "{}",
        stdout(&out)
    );

    // Re-run PSZA's first day: its gap closed, named; exit 1.
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "PSZA",
            "--start-date",
            "2022-03-01",
            "--end-date",
            "2022-03-01",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rollcall(&db, &["snapshot", "--compare", id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("PSZA 2022-03-01: NOT_RUN"), "{text}");
    assert!(text.contains("gap closed"), "{text}");
    assert!(text.contains("no longer unaccounted: "), "{text}");
    let out = rollcall(&db, &["snapshot", "--compare", id, "--format", "json"]);
    let cmp: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(cmp["differing"][0]["change"]["kind"], "GapClosed");

    // Bad input exits 2, names the parameter, and keeps nothing.
    assert_eq!(listed(&db).len(), 1);
    let missing_dir = dir.path().join("no/such/dir/r.html");
    for (args, named) in [
        (vec!["snapshot", "--compare", "nope"], "no snapshot"),
        (
            vec![
                "snapshot",
                "--start-date",
                "2022-02-30",
                "--end-date",
                "2022-03-01",
            ],
            "start",
        ),
        (
            vec![
                "snapshot",
                "--start-date",
                "2022-03-02",
                "--end-date",
                "2022-03-01",
            ],
            "after end date",
        ),
        (
            vec![
                "snapshot",
                "--start-date",
                "2022-03-01",
                "--end-date",
                "2022-03-01",
                "--processor",
                "NOPE",
            ],
            "NOPE",
        ),
        (
            vec![
                "snapshot",
                "--start-date",
                "2022-03-01",
                "--end-date",
                "2022-03-01",
                "--out",
                missing_dir.to_str().unwrap(),
            ],
            "--out",
        ),
    ] {
        let out = rollcall(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
    let kept = listed(&db);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["note"], "handoff");
    assert_eq!(kept[0]["processors"], serde_json::json!(["PSZA", "PDC"]));
}
