//! Orchestrators call Rollcall (issue [P] 5): `validate` exits 3 when the
//! warehouse cannot be reached (apart from 1, gaps, and 2, bad input); its
//! JSON is a versioned shape; `--openlineage-url` sends one OpenLineage run
//! event per processor, with the `rollcall.accounted` assertion and the
//! counts, to a receiver of the test's own.

use std::sync::{Arc, Mutex};

use crate::common::{rollcall, stderr, stdout};

const RANGE: [&str; 4] = ["--start-date", "2021-11-05", "--end-date", "2021-11-15"];

fn demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo", "--days", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, db)
}

fn validate_json(db: &std::path::Path) -> serde_json::Value {
    let mut args = vec!["validate"];
    args.extend(RANGE);
    args.extend(["--format", "json"]);
    let out = rollcall(db, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn the_json_shape_is_versioned_and_an_unreachable_warehouse_exits_3() {
    let (dir, db) = demo();
    let report = validate_json(&db);
    assert_eq!(report["format_version"], 1);
    // The documented top-level fields (README): removing or renaming one
    // is a new version.
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "acknowledged",
            "acknowledgements_expire",
            "cells",
            "clean",
            "end",
            "format_version",
            "investigate",
            "nothing_expected",
            "rerun_commands",
            "start",
            "totals",
            "unaccounted",
        ]
    );

    // Nobody answers at the BigQuery address: 3, not 1 or 2.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/bigquery/v2", closed.local_addr().unwrap());
    drop(closed);
    let mut args = vec![
        "--warehouse",
        "bigquery",
        "--project",
        "nowhere",
        "--bq-auth",
        "none",
        "--bigquery-url",
        &url,
        "--bq-retry-total",
        "1",
        "--bq-request-timeout",
        "2",
        "validate",
    ];
    args.extend(RANGE);
    let out = rollcall(&db, &args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: the warehouse"),
        "{}",
        stderr(&out)
    );
    // Bad input stays 2, whatever the warehouse: a date that does not exist.
    let bad_date: Vec<&str> = args
        .iter()
        .map(|a| if *a == "2021-11-05" { "2021-02-30" } else { *a })
        .collect();
    let out = rollcall(&db, &bad_date);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("2021-02-30"), "{}", stderr(&out));
    let mut args = vec!["validate"];
    args.extend(RANGE);
    args.extend(["--openlineage-url", "ftp://marquez"]);
    let out = rollcall(&db, &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--openlineage-url"),
        "{}",
        stderr(&out)
    );
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_sends_one_openlineage_event_per_processor_with_its_assertion() {
    let (_dir, db) = demo();
    // PSZA run over the range: accounted for, so its assertion passes.
    let mut args = vec!["backfill", "--processor", "PSZA"];
    args.extend(RANGE);
    let out = rollcall(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let kept = Arc::clone(&received);
    let receiver = axum::Router::new().route(
        "/api/v1/lineage",
        axum::routing::post(move |axum::Json(event): axum::Json<serde_json::Value>| {
            let kept = Arc::clone(&kept);
            async move {
                kept.lock().unwrap().push(event);
                axum::http::StatusCode::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let (db_path, url) = (db.clone(), base.clone());
    let out = tokio::task::spawn_blocking(move || {
        let mut args = vec!["validate"];
        args.extend(RANGE);
        args.extend(["--openlineage-url", &url]);
        rollcall(&db_path, &args)
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the verdict stands: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("4 OpenLineage events sent"),
        "{}",
        stderr(&out)
    );
    let report = tokio::task::spawn_blocking(move || validate_json(&db))
        .await
        .unwrap();
    let events = received.lock().unwrap().clone();
    assert_eq!(events.len(), 4);
    for (event, (code, totals)) in events.iter().zip(
        report["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t[0].as_str().unwrap(), &t[1])),
    ) {
        assert_eq!(event["eventType"], "COMPLETE");
        assert_eq!(event["job"]["namespace"], "rollcall");
        assert_eq!(event["job"]["name"], format!("validate.{code}"));
        assert!(uuid::Uuid::parse_str(event["run"]["runId"].as_str().unwrap()).is_ok());
        let input = &event["inputs"][0];
        assert!(
            input["namespace"]
                .as_str()
                .unwrap()
                .starts_with("duckdb://"),
            "{input}"
        );
        let assertion = &input["inputFacets"]["dataQualityAssertions"]["assertions"][0];
        assert_eq!(assertion["assertion"], "rollcall.accounted");
        let failed_run = report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["processor"] == code && !c["failed_run"].is_null());
        let clean = totals["unaccounted"] == 0 && totals["investigate"] == 0 && !failed_run;
        assert_eq!(assertion["success"], clean, "{code}: {totals}");
        assert_eq!(
            event["schemaURL"],
            "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        );
        assert!(event["producer"].as_str().unwrap().starts_with("https://"));
        assert!(chrono::DateTime::parse_from_rfc3339(event["eventTime"].as_str().unwrap()).is_ok());
        let facet = &input["inputFacets"]["dataQualityAssertions"];
        assert!(
            facet["_producer"].is_string() && facet["_schemaURL"].is_string(),
            "{facet}"
        );
        let counts = &input["inputFacets"]["rollcall_accounting"];
        for field in [
            "expected",
            "has_record",
            "has_failure",
            "unaccounted",
            "acknowledged",
            "investigate",
        ] {
            assert_eq!(counts[field], totals[field], "{code} {field}");
        }
    }
    let success = |code: &str| {
        events
            .iter()
            .find(|e| e["job"]["name"] == format!("validate.{code}"))
            .map(|e| {
                e["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"]
                    .clone()
            })
    };
    assert_eq!(
        success("PSZA"),
        Some(serde_json::json!(true)),
        "PSZA ran over the range"
    );
    assert_eq!(
        success("PDC"),
        Some(serde_json::json!(false)),
        "the demo's PDC drops players"
    );

    // A receiver that is gone: a warning, and the same verdict.
    server.abort();
    let _ = server.await;
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("d.duckdb");
        assert!(rollcall(&db, &["demo", "--days", "30"]).status.success());
        let mut args = vec!["validate"];
        args.extend(RANGE);
        args.extend(["--openlineage-url", &base]);
        rollcall(&db, &args)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: OpenLineage events not sent"),
        "{}",
        stderr(&out)
    );
}
