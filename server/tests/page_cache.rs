//! Issue [R] 5: rendered pages are kept while the views they show are
//! unchanged — many viewers of one page cost one render — and a job's end
//! makes the next view render again. Driven without a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use warehouse_embedded::EmbeddedWarehouse;

/// A store in the demo's default state (gaps in PDC/PCF/MLFS in November).
async fn demo_state() -> server::AppState {
    let wh = EmbeddedWarehouse::in_memory(Arc::new(domain::pipeline::nba())).unwrap();
    engine::demo::load_demo(&wh, domain::demo::DEFAULT_SEED, &())
        .await
        .unwrap();
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    server::AppState::new(Arc::new(wh), engine::Limits::default(), options)
}

async fn get(
    app: axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

const NOVEMBER: &str = "/?start=2021-11-01&end=2021-11-30";

#[tokio::test(flavor = "multi_thread")]
async fn many_viewers_of_a_page_cost_one_render_until_a_job_ends() {
    let state = demo_state().await;
    let pages = state.pages.clone().expect("a served state keeps pages");
    let app = server::router(state.clone());

    // Twenty viewers at once: one render, nineteen served what it rendered.
    let viewers: Vec<_> = (0..20)
        .map(|_| tokio::spawn(get(app.clone(), NOVEMBER, &[])))
        .collect();
    let mut bodies = Vec::new();
    for v in viewers {
        let (status, _, body) = v.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        bodies.push(body);
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "one page for all");
    let before = String::from_utf8(bodies[0].clone()).unwrap();
    assert!(before.contains("Coverage heatmap"), "{before}");
    assert_eq!(pages.stats(), (1, 19));

    // Compressed answers are kept apart, as sent.
    for round in 0..2 {
        let (status, headers, _) = get(app.clone(), NOVEMBER, &[("accept-encoding", "gzip")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-encoding"], "gzip", "round {round}");
    }
    assert_eq!(pages.stats(), (2, 20));

    // A kept page is no way past the host check.
    let (status, _, _) = get(app.clone(), NOVEMBER, &[("host", "evil.example")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Not pages: server functions, reports and probes are never kept.
    for uri in ["/healthz", "/report.csv?start=2021-11-01&end=2021-11-30"] {
        let (status, _, _) = get(app.clone(), uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    assert_eq!(pages.stats(), (2, 20));

    // A job re-runs November's PDC cells; once it has ended, the next view
    // renders again and shows it.
    let raw = engine::backfill::RawBackfillRequest {
        processors: "PDC".into(),
        start: Some("2021-11-01".into()),
        end: Some("2021-11-30".into()),
        ..Default::default()
    };
    let job = state
        .server
        .jobs
        .submit(&raw, engine::Limits::default(), "test")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while state.server.jobs.view(&job.id).await.unwrap().active {
        assert!(std::time::Instant::now() < deadline, "the job ends");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _, after) = get(app.clone(), NOVEMBER, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let after = String::from_utf8(after).unwrap();
    assert_ne!(after, before, "the page after the job is rendered again");
    assert_eq!(pages.stats().0, 3);
}
