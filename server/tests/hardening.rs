//! Hostile links, bodies and hosts against the real router (no socket):
//! never a panic, a hang or a 500; bad input is a 4xx naming the parameter;
//! refused requests change nothing; every page refuses to be framed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use leptos::server_fn::ServerFn;
use proptest::prelude::*;
use tower::ServiceExt;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

async fn store() -> Arc<EmbeddedWarehouse> {
    let wh = EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap();
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap();
    Arc::new(wh)
}

fn app(wh: &Arc<EmbeddedWarehouse>) -> axum::Router {
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    let state = server::AppState::new(wh.clone(), engine::Limits::default(), options);
    server::router(state)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

/// Sends a request; a hang is a failure (bounded wait).
async fn send(app: &axum::Router, req: Request<Body>) -> Answer {
    let res = tokio::time::timeout(Duration::from_secs(30), app.clone().oneshot(req))
        .await
        .expect("the server answered within 30 s")
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header("host", "127.0.0.1:3000")
        .body(Body::empty())
        .unwrap()
}

fn post_form(path: &str, body: impl Into<Body>, extra: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "127.0.0.1:3000")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(body.into()).unwrap()
}

/// What the tables hold: every count the overview shows, plus the jobs.
async fn tables(wh: &EmbeddedWarehouse) -> Vec<String> {
    let all = domain::DateRange::new(
        chrono::NaiveDate::from_ymd_opt(2021, 10, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2022, 5, 1).unwrap(),
        400,
    )
    .unwrap();
    let mut out: Vec<String> = wh
        .table_counts(all)
        .await
        .unwrap()
        .into_iter()
        .map(|t| format!("{} {}", t.table, t.rows))
        .collect();
    out.push(format!("jobs {}", wh.jobs(100).await.unwrap().len()));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn extreme_offsets_in_a_shared_link_are_a_400_naming_them() {
    let wh = store().await;
    let app = app(&wh);
    for (param, value) in [
        ("uoff", "9223372036854775807"),
        ("offset", "9223372036854775807"),
        ("offset", "abc"),
        ("uoff", "-5"),
    ] {
        let a = send(
            &app,
            get(&format!(
                "/?start=2021-11-05&end=2021-11-07&cell=PDC:2021-11-05&{param}={value}"
            )),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{param}={value}");
        assert!(
            a.body.contains(&format!("{param}: ")),
            "{param}: {}",
            a.body
        );
    }
    // Within bounds, far past the end: an empty page, not an error.
    let a = send(
        &app,
        get("/?start=2021-11-05&end=2021-11-07&cell=PDC:2021-11-05&uoff=1000000"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_server_function_arguments_are_400_and_huge_bodies_413() {
    let wh = store().await;
    let app = app(&wh);
    let path = app::api::CellDetail::PATH;
    let a = send(
        &app,
        post_form(path, "cell=PDC%3A2021-11-05&offset=abc", &[]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("offset"), "{}", a.body);
    // Not even the right shape of arguments.
    let a = send(&app, post_form(path, "%%%=&&&", &[])).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let big = "q=".to_string() + &"x".repeat(3 * 1024 * 1024);
    let a = send(&app, post_form(path, big, &[])).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebound_host_or_a_forwarded_request_cannot_start_a_job_on_loopback() {
    let wh = store().await;
    let before = tables(&wh).await;
    let app = app(&wh);
    let body = "form%5Bp%5D=PSZA&form%5Bstart%5D=2021-11-05&form%5Bend%5D=2021-11-06&form%5Bmode%5D=all&form%5Bdownstream%5D=no";
    let path = app::api::StartRerun::PATH;
    // DNS rebinding: the attacker's name, pointed at 127.0.0.1, with a
    // matching Origin.
    let mut req = post_form(path, body, &[("origin", "http://rebind.example:3000")]);
    req.headers_mut()
        .insert("host", "rebind.example:3000".parse().unwrap());
    let a = send(&app, req).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("rebind.example"), "{}", a.body);
    // Pages are refused for a foreign host too.
    let mut page = get("/");
    page.headers_mut()
        .insert("host", "rebind.example:3000".parse().unwrap());
    assert_eq!(send(&app, page).await.status, StatusCode::BAD_REQUEST);
    for forwarded in [
        ("x-forwarded-for", "203.0.113.7"),
        ("forwarded", "for=203.0.113.7"),
    ] {
        let a = send(&app, post_form(path, body, &[forwarded])).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{forwarded:?}: {}", a.body);
        assert!(a.body.contains("forwarded"), "{}", a.body);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tables(&wh).await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_refuses_framing() {
    let wh = store().await;
    let app = app(&wh);
    for uri in [
        "/",
        "/jobs",
        "/healthz",
        "/report.csv?start=2021-11-05&end=2021-11-06",
        "/nope",
    ] {
        let a = send(&app, get(uri)).await;
        assert_eq!(a.headers["x-frame-options"], "DENY", "{uri}");
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_cookie_expires_and_is_secure_over_https() {
    let wh = store().await;
    let addr = "0.0.0.0:3000".parse().unwrap();
    let options = server::leptos_options("target/site", addr);
    let operator = server::auth::Operator::new(addr, Some("s3cret".parse().unwrap()))
        .with_public_hosts(&["rollcall.example".into()], false);
    let state =
        server::AppState::with_operator(wh.clone(), engine::Limits::default(), options, operator);
    let app = server::router(state);
    let mut req = post_form(
        server::auth::TOKEN_PATH,
        "token=s3cret",
        &[("origin", "https://rollcall.example")],
    );
    req.headers_mut()
        .insert("host", "rollcall.example".parse().unwrap());
    let a = send(&app, req).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let cookie = a.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Max-Age="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let mut plain = post_form(server::auth::TOKEN_PATH, "token=s3cret", &[]);
    plain
        .headers_mut()
        .insert("host", "rollcall.example".parse().unwrap());
    let a = send(&app, plain).await;
    assert!(!a.headers["set-cookie"].to_str().unwrap().contains("Secure"));
}

/// Query strings made of the parameters the pages read, with hostile values.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("2021-11-05".to_string()),
        Just("PDC:2021-11-05".to_string()),
        Just("PDC,PCF,NOPE".to_string()),
        Just("%00%FF%".to_string()),
        Just("' OR 1=1 --".to_string()),
        "[0-9]{1,25}",
        "[a-zA-Z0-9:,%-]{0,40}",
        "\\PC{0,20}",
    ]
}

fn hostile_query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("start"),
        Just("end"),
        Just("p"),
        Just("cell"),
        Just("cat"),
        Just("q"),
        Just("offset"),
        Just("uoff"),
        Just("kind"),
        Just("dates"),
        Just("mode"),
        Just("downstream"),
        Just("date"),
    ];
    proptest::collection::vec((key, hostile_value()), 0..6).prop_map(|pairs| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    })
}

#[test]
fn generated_links_and_bodies_never_fail_the_server_or_change_tables() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let wh = runtime.block_on(store());
    let before = runtime.block_on(tables(&wh));
    let router = runtime.block_on(async { app(&wh) });
    let paths = [
        "/",
        "/rerun",
        "/jobs",
        "/report.csv",
        "/report.svg",
        "/players/lebronjames",
    ];
    let functions = [
        app::api::CellDetail::PATH,
        app::api::CoverageGrid::PATH,
        app::api::CoverageHeatmap::PATH,
        app::api::CoverageOverview::PATH,
        app::api::PlayerTrace::PATH,
        app::api::RerunPreview::PATH,
        app::api::JobStatus::PATH,
        app::api::CancelJob::PATH,
        app::api::ResumeJob::PATH,
    ];
    // Bounded: a fixed number of cases (and shrinking steps), each answered
    // within the 30 s `send` allows.
    let config = ProptestConfig {
        cases: 48,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(query in hostile_query(), path_i in 0..6usize, fn_i in 0..8usize)| {
        let (page, function) = runtime.block_on(async {
            let page = send(&router, get(&format!("{}?{query}", paths[path_i]))).await;
            let function = send(&router, post_form(functions[fn_i], query.clone(), &[])).await;
            (page, function)
        });
        prop_assert!(page.status.as_u16() < 500, "{} ?{query} → {}: {}", paths[path_i], page.status, page.body.chars().take(300).collect::<String>());
        prop_assert!(function.status.as_u16() < 500, "{} {query} → {}: {}", functions[fn_i], function.status, function.body);
    });
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(tables(&wh).await, before, "nothing was written");
    });
}
