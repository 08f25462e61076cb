//! The axum router driven without a socket (tower::ServiceExt::oneshot).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

async fn app_with_demo_rows() -> axum::Router {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap();
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    let state = server::AppState::new(Arc::new(wh), engine::Limits::default(), options);
    server::router(state)
}

async fn get(app: axum::Router, uri: &str) -> (StatusCode, String) {
    let res = app
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_reports_the_warehouse() {
    let (status, body) = get(app_with_demo_rows().await, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["warehouse"]["backend"], "embedded");
    assert_eq!(
        json["warehouse"]["schema_version"],
        warehouse_embedded::LATEST_SCHEMA_VERSION
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn coverage_page_is_server_rendered_from_the_warehouse() {
    let (status, body) = get(
        app_with_demo_rows().await,
        "/?start=2021-11-05&end=2021-11-07",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("2021-11-05 – 2021-11-07"), "{body}");
    // Three game dates, each a table row rendered inline (no JS needed).
    for date in ["2021-11-05", "2021-11-06", "2021-11-07"] {
        assert!(body.contains(&format!(">{date}")), "{date}");
    }
    assert!(!body.contains(">2021-11-08"));
    assert!(
        body.contains("/pkg/rollcall.js"),
        "hydration script is linked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ranges_render_a_message_with_status_400() {
    let app = app_with_demo_rows().await;
    let (status, body) = get(app.clone(), "/?start=not-a-date").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("is not a date"), "{body}");
    let (status, body) = get(app.clone(), "/?start=2021-11-10&end=2021-11-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("is after end date"));
    let (status, body) = get(app, "/?start=1990-01-01&end=2021-11-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("longer than the maximum"));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_function_answers_400_for_bad_input_and_its_answer_for_good() {
    use leptos::server_fn::ServerFn;
    let app = app_with_demo_rows().await;
    let post = |body: &'static str| {
        Request::builder()
            .method("POST")
            .uri(app::api::CoverageOverview::PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let res = app
        .clone()
        .oneshot(post("start=2021-11-05&end=nope"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The error is text a person can read (kind, then message) and the
    // browser can decode.
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("BadInput\nend"), "{text}");
    assert!(
        matches!(app::AppError::from_text(&text), Some(app::AppError::BadInput(m)) if m.contains("nope"))
    );
    let res = app
        .oneshot(post("start=2021-11-05&end=2021-11-06"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let overview: domain::report::Overview = app::wire::read_answer(&body).unwrap();
    assert_eq!(overview.dates.len(), 2);
    assert!(overview.total_expected() > 250);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_404() {
    let (status, body) = get(app_with_demo_rows().await, "/nope/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Not found"));
}

async fn get_bytes(app: axum::Router, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let res = app
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, ctype, body)
}

/// A store in the demo's default state (gaps in PDC/PCF/MLFS in November).
async fn app_with_demo_state() -> axum::Router {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    engine::demo::load_demo(&wh, domain::demo::DEFAULT_SEED, &())
        .await
        .unwrap();
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    let state = server::AppState::new(Arc::new(wh), engine::Limits::default(), options);
    server::router(state)
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_match_the_grid() {
    let app = app_with_demo_state().await;
    let q = "start=2021-11-05&end=2021-11-15";
    let (status, ctype, csv) = get_bytes(app.clone(), &format!("/report.csv?{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 11 * 4,
        "header + 11 dates × 4 processors"
    );
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "unaccounted").unwrap();
    let total: i64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse::<i64>().unwrap())
        .sum();
    assert!(total > 0);

    let (status, _, list) =
        get_bytes(app.clone(), &format!("/report.csv?{q}&kind=unaccounted")).await;
    assert_eq!(status, StatusCode::OK);
    let list = String::from_utf8(list).unwrap();
    assert_eq!(
        list.lines().count() as i64 - 1,
        total,
        "one line per unaccounted player"
    );

    let (status, ctype, png) = get_bytes(app.clone(), &format!("/report.png?{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "image/png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), (server::report::WIDTH, server::report::HEIGHT));

    let (status, ctype, svg) = get_bytes(app.clone(), &format!("/report.svg?{q}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "image/svg+xml");
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("2021-11-05"));

    for bad in [
        "/report.csv?start=nope",
        "/report.png?start=2021-11-10&end=2021-11-01",
        "/report.csv?p=XYZ",
        "/report.csv?kind=bogus",
    ] {
        let (status, _, _) = get_bytes(app.clone(), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// `/report.csv` carries exactly the numbers the dashboard's grid server
/// function returns for the same query (range and processor filter).
#[tokio::test(flavor = "multi_thread")]
async fn csv_export_equals_the_grid_server_function() {
    use leptos::server_fn::ServerFn;
    let app = app_with_demo_state().await;
    let (status, _, csv) = get_bytes(
        app.clone(),
        "/report.csv?start=2021-11-05&end=2021-11-15&p=PDC,MLFS",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let res = app
        .oneshot(
            Request::builder()
                .method("POST")
                .uri(app::api::CoverageGrid::PATH)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(
                    "start=2021-11-05&end=2021-11-15&processors=PDC%2CMLFS",
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let grid: domain::report::Reconciliation = serde_json::from_slice(&body).unwrap();
    assert_eq!(grid.cells.len(), 11 * 2);

    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), grid.cells.len());
    for (row, cell) in rows.iter().zip(&grid.cells) {
        let field = |i: usize| row.get(i).unwrap().to_string();
        assert_eq!(field(0), domain::pipeline::nba().code(cell.processor));
        assert_eq!(field(1), cell.date.to_string());
        assert_eq!(field(2), cell.status().code());
        let numbers = [
            cell.expected,
            cell.has_record,
            cell.has_failure,
            cell.unaccounted,
        ];
        for (i, n) in [3, 4, 5, 7].into_iter().zip(numbers) {
            assert_eq!(field(i), n.to_string(), "column {i} of {row:?}");
        }
        for (i, n) in [8, 9, 10, 11].into_iter().zip([
            cell.investigate,
            cell.conflict,
            cell.extra,
            cell.cascade,
        ]) {
            assert_eq!(field(i), n.to_string(), "column {i} of {row:?}");
        }
    }
    assert!(
        grid.cells.iter().any(|c| c.unaccounted > 0),
        "the demo state has gaps to compare"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn heatmap_and_drilldown_render_on_the_server() {
    let app = app_with_demo_state().await;
    let (status, body) = get(
        app.clone(),
        "/?start=2021-11-05&end=2021-11-15&cell=PDC:2021-11-10",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("aria-label=\"Coverage heatmap\""));
    assert_eq!(body.matches("data-cell=\"").count(), 11 * 4);
    assert!(body.contains("aria-label=\"Cell detail\""));
    assert!(body.contains("og:image"));
    assert!(body.contains("/report.png?start=2021-11-05"));

    let (status, body) = get(app.clone(), "/players/nobodyatall?date=2021-11-10").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no player"));
    let (status, _) = get(app, "/players/x?date=garbage").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The unaccounted players of a cell come in pages of 50, searchable, with
/// their own offset in the URL (`uoff`).
#[tokio::test(flavor = "multi_thread")]
async fn unaccounted_players_are_paginated_and_searchable() {
    let app = app_with_demo_state().await;
    // Legacy PDC on 2021-10-21: all 102 expected players are unaccounted.
    let base = "/?start=2021-10-19&end=2021-10-24&cell=PDC:2021-10-21";
    let listed = |body: &str| -> Vec<String> {
        let start = body
            .find("aria-label=\"Unaccounted players\"")
            .expect("unaccounted list");
        let end = start + body[start..].find("</ul>").unwrap();
        body[start..end]
            .split("/trace/")
            .skip(1)
            .map(|s| s.split('?').next().unwrap().to_string())
            .collect()
    };
    let (status, first) = get(app.clone(), base).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first.contains("Unaccounted players (102)"),
        "{}",
        &first[..200]
    );
    let first = listed(&first);
    assert_eq!(first.len(), 50);
    let (_, third) = get(app.clone(), &format!("{base}&uoff=100")).await;
    let third = listed(&third);
    assert_eq!(third.len(), 2);
    assert!(
        first.iter().all(|p| !third.contains(p)),
        "pages do not overlap"
    );
    let needle = &third[0][..4];
    let (_, found) = get(app.clone(), &format!("{base}&q={needle}")).await;
    let found = listed(&found);
    assert!(!found.is_empty() && found.iter().all(|p| p.contains(needle)));
    let (status, body) = get(app, &format!("{base}&uoff=-7")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a hostile offset is refused"
    );
    assert!(body.contains("uoff: "), "named in the message");
}

/// Building routers while another renders must not stall that render: route
/// generation sets a process-wide flag that parks resources first polled
/// meanwhile (leptos#4773), so `server::router` generates the routes once.
/// Renders run on a thread of their own so a stall fails the test (after a
/// timeout) instead of hanging it.
#[test]
fn renders_finish_while_other_routers_are_built() {
    use std::sync::atomic::{AtomicBool, Ordering};
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(app_with_demo_rows());
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_builder = StopOnDrop(Arc::clone(&stop));
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    // The state starts a job worker, so it is made inside the runtime.
    let state = runtime.block_on(async {
        server::AppState::new(Arc::new(wh), engine::Limits::default(), options)
    });
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            drop(server::router(state.clone()));
        }
    });
    let (done, renders) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..40 {
            let render = get(app.clone(), "/?start=2021-11-05&end=2021-11-06");
            if done.send(runtime.block_on(render).0).is_err() {
                return;
            }
        }
    });
    for _ in 0..40 {
        let status = renders
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("a render stalled while routers were being built");
        assert_eq!(status, StatusCode::OK);
    }
}

async fn get_with(
    app: axum::Router,
    uri: &str,
    accept_encoding: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(uri);
    if let Some(encodings) = accept_encoding {
        request = request.header("accept-encoding", encodings);
    }
    let res = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn hashed_assets_are_sent_precompressed_and_cached_for_good_pages_revalidated() {
    // A site as scripts/build.sh lays it out: hashed names, .br/.gz twins.
    let site = tempfile::tempdir().unwrap();
    let name = "rollcall.0123456789abcdef";
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        site.path().join(server::OUTPUT_NAME_FILE),
        format!("{name}\n"),
    )
    .unwrap();
    std::fs::write(pkg.join(format!("{name}.js")), "raw js").unwrap();
    std::fs::write(pkg.join(format!("{name}.js.br")), "brotli js").unwrap();
    std::fs::write(pkg.join(format!("{name}.js.gz")), "gzip js").unwrap();
    std::fs::write(pkg.join(format!("{name}.css")), "raw css").unwrap();
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap();
    let options = server::leptos_options(
        site.path().to_str().unwrap(),
        "127.0.0.1:3000".parse().unwrap(),
    );
    let app = server::router(server::AppState::new(
        Arc::new(wh),
        engine::Limits::default(),
        options,
    ));
    let js = format!("/pkg/{name}.js");
    let immutable = "public, max-age=31536000, immutable";

    let (status, headers, body) = get_with(app.clone(), &js, Some("gzip, br")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(body, b"brotli js");
    assert_eq!(headers["cache-control"], immutable);
    let (_, headers, body) = get_with(app.clone(), &js, Some("gzip")).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(body, b"gzip js");
    let (_, headers, body) = get_with(app.clone(), &js, None).await;
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(body, b"raw js");
    let (status, headers, _) = get_with(app.clone(), "/pkg/rollcall.0000.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["cache-control"], "no-cache", "a miss is not cached");

    // The page links the hashed names, is compressed on the fly and revalidated.
    let uri = "/?start=2021-11-05&end=2021-11-07";
    let (status, headers, page) = get_with(app.clone(), uri, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-cache");
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(&format!("/pkg/{name}.js")), "{page}");
    assert!(page.contains(&format!("/pkg/{name}_bg.wasm")));
    assert!(page.contains(&format!("/pkg/{name}.css")));
    let (_, headers, gzipped) = get_with(app.clone(), uri, Some("gzip")).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert!(
        gzipped.len() * 3 < page.len(),
        "{} vs {}",
        gzipped.len(),
        page.len()
    );
}

/// Issue [L] 5: `mode` and `downstream` take only their documented values;
/// anything else is a 400 naming the parameter (the function and the page).
#[tokio::test(flavor = "multi_thread")]
async fn rerun_mode_and_downstream_accept_only_their_values() {
    use leptos::server_fn::ServerFn;
    let app = app_with_demo_rows().await;
    let preview = |body: String| {
        Request::builder()
            .method("POST")
            .uri(app::api::RerunPreview::PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let base = "form[p]=PDC&form[start]=2021-11-05&form[end]=2021-11-06";
    for (extra, name) in [
        ("&form[mode]=everything", "mode"),
        ("&form[mode]=ALL", "mode"),
        ("&form[downstream]=maybe", "downstream"),
        ("&form[downstream]=0", "downstream"),
    ] {
        let res = app
            .clone()
            .oneshot(preview(format!("{base}{extra}")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{extra}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.starts_with(&format!("BadInput\n{name}: ")),
            "{extra}: {text}"
        );
    }
    for extra in [
        "&form[mode]=all&form[downstream]=no",
        "&form[mode]=gaps",
        "",
    ] {
        let res = app
            .clone()
            .oneshot(preview(format!("{base}{extra}")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{extra}");
    }
    let (status, body) = get(
        app,
        "/rerun?p=PDC&start=2021-11-05&end=2021-11-06&mode=everything",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("mode: "), "{body}");
}

/// Issue [Q] 5/6: the legend links to a page explaining every status and
/// every failure category.
#[tokio::test(flavor = "multi_thread")]
async fn the_legend_page_explains_every_status_and_category() {
    let app = app_with_demo_rows().await;
    let (status, page) = get(app.clone(), "/?start=2021-11-05&end=2021-11-07").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"href="/legend""#), "the legend links to it");
    let (status, body) = get(app, "/legend").await;
    assert_eq!(status, StatusCode::OK);
    for s in domain::report::CellStatus::ALL {
        assert!(
            body.contains(&format!("<code>{}</code>", s.code())),
            "{}",
            s.code()
        );
        assert!(
            body.contains(&html_escape_free(s.meaning())),
            "{}",
            s.code()
        );
    }
    for c in domain::FailureCategory::all() {
        assert!(
            body.contains(&format!("<code>{}</code>", c.code())),
            "{}",
            c.code()
        );
    }
    assert!(body.contains("RUN_FAILED") && body.contains("investigate"));
}

/// The meanings are plain words: no markup to escape.
fn html_escape_free(s: &str) -> String {
    assert!(!s.contains(['<', '>', '&']), "{s}");
    s.to_string()
}
