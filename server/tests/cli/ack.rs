//! `ack` and `unack` (issue [N] 1): an acknowledged gap is counted apart,
//! `validate` passes when only acknowledged gaps remain and says when they
//! expire; bad input exits 2 naming the parameter and writes nothing; an
//! acknowledgement made on an old clock has expired.

use crate::common::{rollcall, stderr, stdout};

const DAY: &str = "2022-03-01";

fn expected_players(date: &str) -> Vec<String> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let mut players: Vec<String> = season
        .games
        .iter()
        .filter(|g| g.game_date == day && g.is_expected())
        .map(|g| g.player_lookup.clone())
        .collect();
    players.sort();
    players.dedup();
    players
}

fn acks(db: &std::path::Path) -> Vec<serde_json::Value> {
    let out = rollcall(db, &["ack", "--list", "--all", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn validate(db: &std::path::Path, processor: &str, format: &str) -> std::process::Output {
    rollcall(
        db,
        &[
            "validate",
            "--start-date",
            DAY,
            "--end-date",
            DAY,
            "--processor",
            processor,
            "--format",
            format,
        ],
    )
}

#[test]
fn acknowledged_gaps_pass_validate_until_revoked_and_bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let players = expected_players(DAY);
    assert!(players.len() > 2);
    // Never run in the demo: everyone is unaccounted.
    assert_eq!(validate(&db, "PSZA", "table").status.code(), Some(1));

    // The whole PSZA cell: validate passes, and says what it let pass.
    let out = rollcall(
        &db,
        &[
            "ack",
            "--processor",
            "PSZA",
            "--date",
            DAY,
            "--cell",
            "--reason",
            "retention",
            "--note",
            "past the feed's retention",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(whole cell)  retention"),
        "{}",
        stdout(&out)
    );
    let out = validate(&db, "PSZA", "table");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("Acknowledged: "), "{text}");
    assert!(text.contains("they expire "), "{text}");
    let csv = stdout(&validate(&db, "PSZA", "csv"));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "acknowledged").unwrap();
    assert_eq!(row[column], players.len().to_string());
    let status = header.iter().position(|h| *h == "status").unwrap();
    assert_eq!(row[status], "ACKNOWLEDGED");

    // Two players of PDC: the others stay unaccounted, so it still fails.
    let two = format!("{},{}", players[0], players[1]);
    let out = rollcall(
        &db,
        &[
            "ack",
            "--processor",
            "PDC",
            "--date",
            DAY,
            "--entity",
            &two,
            "--reason",
            "known_upstream",
            "--expires",
            "7d",
            "--ticket",
            "https://tickets.example/R-1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = validate(&db, "PDC", "json");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["acknowledged"], 2);
    assert_eq!(report["unaccounted"], players.len() as i64 - 2);
    assert_eq!(acks(&db).len(), 3);

    // Bad input: exit 2, the parameter named, nothing kept.
    for (args, named) in [
        (
            vec!["--entity", &players[2], "--reason", "because"],
            "reason",
        ),
        (vec!["--entity", "zz-nobody", "--reason", "other"], "entity"),
        (
            vec![
                "--entity",
                &players[2],
                "--reason",
                "other",
                "--ticket",
                "javascript:alert(1)",
            ],
            "ticket",
        ),
        (
            vec![
                "--entity",
                &players[2],
                "--reason",
                "other",
                "--expires",
                "400d",
            ],
            "expires",
        ),
        (
            vec![
                "--entity",
                &players[2],
                "--reason",
                "other",
                "--as-of",
                "yesterday",
            ],
            "as-of",
        ),
        (
            vec![
                "--entity",
                &players[2],
                "--reason",
                "other",
                "--as-of",
                "2999-01-01",
            ],
            "in the future",
        ),
    ] {
        let mut full = vec!["ack", "--processor", "PDC", "--date", DAY];
        full.extend(args.iter().copied());
        let out = rollcall(&db, &full);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{named}: {}", stderr(&out));
    }
    for (processor, date, named) in [("NOPE", DAY, "NOPE"), ("PDC", "2022-13-01", "date")] {
        let out = rollcall(
            &db,
            &[
                "ack",
                "--processor",
                processor,
                "--date",
                date,
                "--cell",
                "--reason",
                "other",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(named), "{}", stderr(&out));
    }
    let out = rollcall(
        &db,
        &[
            "ack",
            "--processor",
            "PDC",
            "--date",
            DAY,
            "--cell",
            "--entity",
            "a",
            "--reason",
            "other",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "both --cell and --entity");
    assert_eq!(acks(&db).len(), 3, "bad input kept nothing");

    // Made on a clock 40 days back with the default 30: expired at once.
    let out = rollcall(
        &db,
        &[
            "ack",
            "--processor",
            "PDC",
            "--date",
            DAY,
            "--entity",
            &players[2],
            "--reason",
            "other",
            "--as-of",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("expired"), "{}", stdout(&out));
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&validate(&db, "PDC", "json"))).unwrap();
    assert_eq!(
        report["acknowledged"], 2,
        "the expired one counts as unaccounted"
    );
    let out = rollcall(&db, &["ack", "--list", "--format", "json"]);
    let in_force: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(in_force.len(), 3);

    // Revoked: the PSZA cell fails again; revoking twice is refused.
    let cell_ack = acks(&db)
        .into_iter()
        .find(|a| a["entity"].is_null())
        .unwrap();
    let id = cell_ack["id"].as_str().unwrap().to_string();
    let out = rollcall(&db, &["unack", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked"), "{}", stdout(&out));
    assert_eq!(validate(&db, "PSZA", "table").status.code(), Some(1));
    let out = rollcall(&db, &["unack", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ended already"), "{}", stderr(&out));
    let out = rollcall(&db, &["unack", "ack-nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no acknowledgement"),
        "{}",
        stderr(&out)
    );
}
