//! Re-runs from the dashboard: who may start them, and what a refused request
//! leaves behind (nothing). Driven through the real router without a socket.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use leptos::server_fn::ServerFn;
use tower::ServiceExt;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

async fn store() -> Arc<EmbeddedWarehouse> {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap();
    Arc::new(wh)
}

fn app(wh: &Arc<EmbeddedWarehouse>, addr: &str, token: Option<&str>) -> axum::Router {
    let addr = addr.parse().unwrap();
    let options = server::leptos_options("target/site", addr);
    let operator = server::auth::Operator::new(addr, token.map(|t| t.parse().unwrap()));
    let state =
        server::AppState::with_operator(wh.clone(), engine::Limits::default(), options, operator);
    server::router(state)
}

const START_BODY: &str =
    "form%5Bp%5D=PSZA&form%5Bstart%5D=2021-11-05&form%5Bend%5D=2021-11-06&form%5Bmode%5D=all&form%5Bdownstream%5D=no";

async fn post(
    app: axum::Router,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "127.0.0.1:3000")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn nothing_written(wh: &EmbeddedWarehouse) {
    // Give a wrongly accepted job time to start writing before checking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(wh.jobs(10).await.unwrap().is_empty(), "no job recorded");
    let runs = wh
        .count_for_tests("SELECT count(*) FROM nba_processing.precompute_processor_runs")
        .unwrap();
    assert_eq!(runs, 0, "no cell written");
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_a_start_without_the_token_is_refused_and_writes_nothing() {
    let wh = store().await;
    let app = app(&wh, "0.0.0.0:3000", Some("s3cret"));
    let path = app::api::StartRerun::PATH;
    let (status, body) = post(app.clone(), path, START_BODY, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("operator token is required"), "{body}");
    let (status, body) = post(
        app.clone(),
        path,
        START_BODY,
        &[("x-rollcall-token", "guess")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("wrong operator token"), "{body}");
    let (status, _) = post(
        app.clone(),
        path,
        START_BODY,
        &[("cookie", "rollcall_token=nope")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    nothing_written(&wh).await;

    // The right token (header, or the cookie the token form sets) is accepted.
    let (status, _) = post(app.clone(), "/operator-token", "token=guess", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/operator-token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("token=s3cret"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let cookie = cookie.split(';').next().unwrap().to_string();
    let (status, body) = post(app.clone(), path, START_BODY, &[("cookie", &cookie)]).await;
    assert!(
        status.is_success() || status.is_redirection(),
        "{status} {body}"
    );
    let jobs = wh.jobs(10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].requested_by, "dashboard: operator (token cookie)");
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_without_a_configured_token_nobody_may_start() {
    let wh = store().await;
    let app = app(&wh, "0.0.0.0:3000", None);
    let (status, body) = post(
        app,
        app::api::StartRerun::PATH,
        START_BODY,
        &[("x-rollcall-token", "")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("disabled"), "{body}");
    nothing_written(&wh).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_origin_post_is_refused_even_on_loopback() {
    let wh = store().await;
    let app = app(&wh, "127.0.0.1:3000", None);
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
    ] {
        let (status, body) = post(
            app.clone(),
            app::api::StartRerun::PATH,
            START_BODY,
            &headers,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(body.contains("cross-origin"), "{body}");
    }
    // Mutations are POST only.
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri(format!("{}?{START_BODY}", app::api::StartRerun::PATH))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    nothing_written(&wh).await;

    // Same origin on loopback without a token: allowed.
    let (status, body) = post(
        app,
        app::api::StartRerun::PATH,
        START_BODY,
        &[("origin", "http://127.0.0.1:3000")],
    )
    .await;
    assert!(
        status.is_success() || status.is_redirection(),
        "{status} {body}"
    );
    let job = wh.jobs(10).await.unwrap().remove(0);
    for _ in 0..300 {
        if !wh.job(&job.id).await.unwrap().unwrap().state.is_active() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = wh.job(&job.id).await.unwrap().unwrap();
    assert_eq!(done.state, warehouse::JobState::Succeeded);
    let runs = wh
        .count_for_tests("SELECT count(*) FROM nba_processing.precompute_processor_runs")
        .unwrap();
    assert_eq!(runs, 2, "PSZA on two dates");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_tokens_are_throttled_and_the_cookie_never_holds_the_token() {
    let wh = store().await;
    let app = app(&wh, "0.0.0.0:3000", Some("s3cret"));
    let path = app::api::StartRerun::PATH;
    // The cookie the token form sets is derived from the token.
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/operator-token")
                .header("host", "127.0.0.1:3000")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("token=s3cret"))
                .unwrap(),
        )
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(!cookie.contains("s3cret"), "{cookie}");
    // Guesses: each is refused, and past the limit no token is checked.
    for _ in 0..server::auth::MAX_WRONG_TOKENS {
        let (status, _) = post(
            app.clone(),
            path,
            START_BODY,
            &[("x-rollcall-token", "guess")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri(path)
                .header("host", "127.0.0.1:3000")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-rollcall-token", "s3cret")
                .body(Body::from(START_BODY))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=server::auth::GUESS_WINDOW.as_secs()).contains(&wait),
        "{wait}"
    );
    nothing_written(&wh).await;
}
