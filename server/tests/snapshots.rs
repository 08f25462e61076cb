//! Snapshots on the dashboard (issue [O]): freezing needs the operator role
//! and bad input keeps nothing; `/s/{id}` shows the frozen heatmap, summary
//! and drill-downs, read-only, after the cell is re-run until its gap
//! closes, with a banner counting the cells that differ from now; compare
//! says "gap closed" and names who; the Markdown is `validate`'s. Driven
//! through the real router without a socket.

#[path = "support/mod.rs"]
mod support;

use axum::http::StatusCode;
use server::auth::identity::Auth;
use support::{expected_players, send_local as send, upstream_store};
use warehouse::Warehouse;

async fn backfill_psza(wh: &dyn Warehouse, date: &str) {
    let psza = wh.pipeline().builtin(domain::Builtin::Psza).unwrap();
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let request = engine::backfill::BackfillRequest {
        processors: vec![psza],
        dates: engine::backfill::DateSpec::Range {
            start: day,
            end: day,
        },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    };
    let options = engine::backfill::RunOptions {
        resume: false,
        ..Default::default()
    };
    engine::backfill::backfill(
        wh,
        &request,
        &options,
        &(),
        &std::sync::atomic::AtomicBool::new(false),
    )
    .await
    .unwrap();
}

/// The textarea's text, unescaped.
fn markdown_of(page: &str) -> String {
    let start = page.find("id=\"rc-md\">").expect("a Markdown textarea") + "id=\"rc-md\">".len();
    let end = start + page[start..].find("</textarea>").unwrap();
    html_escape::decode_html_entities(&page[start..end]).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_keeps_what_it_showed_and_compares_with_now() {
    let wh = upstream_store().await;
    backfill_psza(wh.as_ref(), "2021-11-04").await;
    // No read cache: the test's own backfills bypass the server (the
    // server's jobs tell its cache; another writer waits out its age).
    let addr = "0.0.0.0:3000".parse().unwrap();
    let operator = server::auth::Operator::new(addr, Some("s3cret".parse().unwrap()));
    let state = server::AppState::with_view_cache(
        wh.clone(),
        engine::Limits::default(),
        server::leptos_options("target/site", addr),
        operator,
        None,
    );
    let app = server::router(state);
    let token = [("x-rollcall-token", "s3cret")];
    let view = "start=2021-11-03&end=2021-11-04&p=PSZA";

    // The form shows the view; anyone may read it.
    let (status, page, _) = send(&app, "GET", &format!("/snapshots/new?{view}"), "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("2021-11-03 – 2021-11-04"), "{page}");
    assert!(page.contains("needs the operator role"), "{page}");
    let (status, page, _) = send(&app, "GET", "/snapshots/new?start=2021-13-01", "", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("start"), "{page}");

    // A viewer's freeze is refused and keeps nothing.
    let form = format!("{view}&note=%3Cscript%3Ealert(1)%3C%2Fscript%3E+handoff");
    let (status, _, _) = send(&app, "POST", "/snapshots", &form, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad input is a 400 naming the parameter, and keeps nothing.
    for (bad, named) in [
        (form.replace("PSZA", "NOPE"), "NOPE"),
        (form.replace("2021-11-03", "2021-11-31"), "start"),
        (
            "start=2021-11-05&end=2021-11-03&p=PSZA".to_string(),
            "after end date",
        ),
        (
            format!("{view}&note={}", "n".repeat(domain::report::NOTE_CHARS + 1)),
            "note",
        ),
    ] {
        let (status, body, _) = send(&app, "POST", "/snapshots", &bad, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{named}: {body}");
        assert!(body.contains(named), "{named}: {body}");
    }
    assert!(wh.snapshots(10).await.unwrap().is_empty());

    // The operator's freeze opens the snapshot.
    let (status, body, location) = send(&app, "POST", "/snapshots", &form, &token).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.unwrap();
    let id = location.strip_prefix("/s/").unwrap().to_string();
    let kept = wh.snapshots(10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, id);
    assert_eq!(kept[0].taken_by, "operator (token)");

    let (status, page, _) = send(&app, "GET", &location, "", &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("by operator (token); no cell differs from now"),
        "{page}"
    );
    assert!(page.contains("aria-label=\"Coverage heatmap\""), "{page}");
    assert!(
        page.contains("aria-label=\"Reconciliation summary\""),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/s/{id}?start=2021-11-03")),
        "{page}"
    );
    assert!(
        !page.contains("href=\"/?start=2021-11-03&amp;end=2021-11-04&amp;cell"),
        "cells link into the snapshot"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)") && !page.contains("<script>alert(1)"),
        "{page}"
    );
    // Its Markdown is validate's tables of the same view, with the link.
    let psza = wh.pipeline().builtin(domain::Builtin::Psza).unwrap();
    let range = domain::DateRange::new(
        chrono::NaiveDate::from_ymd_opt(2021, 11, 3).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2021, 11, 4).unwrap(),
        10,
    )
    .unwrap();
    let rec = domain::report::Reconciliation {
        range,
        processors: vec![psza],
        cells: wh.cell_counts(range, &[psza]).await.unwrap(),
    };
    let md = markdown_of(&page);
    assert!(
        md.starts_with(&format!("Snapshot http://127.0.0.1:3000/s/{id} (as of ")),
        "{md}"
    );
    assert!(
        md.ends_with(&server::validate::markdown(wh.pipeline(), &rec)),
        "{md}"
    );
    assert!(md.contains("| **TOTAL** |"), "{md}");

    // The gap's drill-down, frozen.
    let players = expected_players("2021-11-03");
    let (status, cell, _) = send(
        &app,
        "GET",
        &format!("{location}?cell=PSZA:2021-11-03"),
        "",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        cell.contains(&format!("Unaccounted ({})", players.len())),
        "{cell}"
    );
    assert!(cell.contains(&format!("<li>{}</li>", players[0])), "{cell}");
    assert!(cell.contains("NOT_RUN (as frozen)"), "{cell}");

    // Re-run the cell until its gap closes: the snapshot still shows it,
    // and says a cell differs.
    backfill_psza(wh.as_ref(), "2021-11-03").await;
    let (_, cell, _) = send(
        &app,
        "GET",
        &format!("{location}?cell=PSZA:2021-11-03"),
        "",
        &[],
    )
    .await;
    assert!(cell.contains(&format!("<li>{}</li>", players[0])), "{cell}");
    assert!(cell.contains("1 cell differs from now"), "{cell}");
    let (status, cmp, _) = send(&app, "GET", &format!("{location}/compare"), "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cmp.contains("1 of 2 cells differ: 1 gap closed"), "{cmp}");
    assert!(
        cmp.contains(&players[0]),
        "the entities that changed are named: {cmp}"
    );
    let (status, json, _) = send(&app, "GET", &format!("{location}/compare.json"), "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["differing"][0]["change"]["kind"], "GapClosed");

    // The list shows it; bad ids and ranges are 4xx, never a 500.
    let (_, list, _) = send(&app, "GET", "/snapshots", "", &[]).await;
    assert!(list.contains(&format!("href=\"/s/{id}\"")), "{list}");
    for (path, want) in [
        ("/s/nope".to_string(), StatusCode::NOT_FOUND),
        ("/s/000000000000".to_string(), StatusCode::NOT_FOUND),
        ("/s/%3Cscript%3E/compare".to_string(), StatusCode::NOT_FOUND),
        (
            format!("{location}?start=2021-10-01"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{location}?cell=NOPE:2021-11-03"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body, _) = send(&app, "GET", &path, "", &[]).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(!body.contains("<script>"), "{body}");
    }

    // The file needs nothing else: no script, no stylesheet or image links.
    let (status, file, _) = send(&app, "GET", &format!("{location}/report.html"), "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        file.contains("<svg") && file.contains("<style>"),
        "{}",
        &file[..200]
    );
    assert!(!file.contains("<script") && !file.contains("<link") && !file.contains("src="));
    assert!(file.contains("PSZA 2021-11-03 — NOT_RUN"), "{file}");
    assert!(
        file.contains("Never run: everyone expected is unaccounted."),
        "{file}"
    );
    assert!(
        file.contains(&format!(">{}, {}, ", players[0], players[1])),
        "the names, folded: {file}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_freezes_for_the_cli_and_names_who_asked() {
    let wh = upstream_store().await;
    let app = support::app(&wh, "127.0.0.1:3000", None, Auth::default());
    // The list is rendered (and kept by the page cache) before the freeze.
    let (_, list, _) = send(&app, "GET", "/snapshots", "", &[]).await;
    assert!(list.contains("None yet"), "{list}");
    let body =
        r#"{"start":"2021-11-03","end":"2021-11-03","note":"","by":"cli:ana\n## forged\u0007"}"#;
    let (status, answer, _) = send(
        &app,
        "POST",
        "/api/snapshots",
        body,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let meta: domain::report::SnapshotMeta = serde_json::from_str(&answer).unwrap();
    // One line, no control characters: it is printed and pasted.
    assert_eq!(meta.taken_by, "cli:ana## forged (operator on loopback)");
    assert_eq!(meta.processors.len(), 4);
    assert!(meta.not_ok > 0 && meta.bytes > 0, "{meta:?}");
    // A freeze moves the cached pages on: the list shows it at once.
    let (_, list, _) = send(&app, "GET", "/snapshots", "", &[]).await;
    assert!(list.contains(&format!("href=\"/s/{}\"", meta.id)), "{list}");
}

/// Retention (issue [O] 1): a freeze deletes snapshots past it, and one
/// the server had open is gone from its pages too.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_past_their_retention_are_gone_after_the_next_freeze() {
    let wh = upstream_store().await;
    let addr = "127.0.0.1:3000".parse().unwrap();
    let state = server::AppState::with_operator(
        wh.clone(),
        engine::Limits::default(),
        server::leptos_options("target/site", addr),
        server::auth::Operator::new(addr, None),
    )
    .with_snapshot_retention(2);
    let app = server::router(state);
    let request = engine::snapshot::FreezeRequest {
        view: engine::reconcile::ReconcileRequest {
            start: Some("2021-11-03".into()),
            end: Some("2021-11-03".into()),
            processors: None,
        },
        note: String::new(),
        taken_by: "ops".into(),
        retention_days: 0,
    };
    let old_time = chrono::Utc::now().naive_utc() - chrono::Duration::days(3);
    let old = engine::snapshot::freeze(wh.as_ref(), engine::Limits::default(), &request, old_time)
        .await
        .unwrap();
    // Opened (and kept decoded by the server) while it exists.
    let (status, _, _) = send(&app, "GET", &format!("/s/{}", old.id), "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = send(
        &app,
        "POST",
        "/snapshots",
        "start=2021-11-03&end=2021-11-03",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let kept = wh.snapshots(10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_ne!(kept[0].id, old.id);
    let (status, _, _) = send(&app, "GET", &format!("/s/{}", old.id), "", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted by retention");
    let (_, list, _) = send(&app, "GET", "/snapshots", "", &[]).await;
    assert!(list.contains("older than 2 days are deleted"), "{list}");
}
