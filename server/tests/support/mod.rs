//! What the router tests share: a store with the demo's upstream rows, the
//! router over it with an access policy, and a request sent without a
//! socket (from a peer address, as the listener would tell).
// Each test binary compiles this module; not all of them use every part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

/// An in-memory store with the demo season's upstream rows (nothing run).
pub async fn upstream_store() -> Arc<EmbeddedWarehouse> {
    let wh = EmbeddedWarehouse::in_memory(Arc::new(domain::pipeline::nba())).unwrap();
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    wh.load_upstream_rows(s.schedule, s.games).await.unwrap();
    Arc::new(wh)
}

/// The router over `wh`, listening on `addr`, with `token` and `auth`.
pub fn app(
    wh: &Arc<EmbeddedWarehouse>,
    addr: &str,
    token: Option<&str>,
    auth: server::auth::identity::Auth,
) -> axum::Router {
    let addr = addr.parse().unwrap();
    let options = server::leptos_options("target/site", addr);
    let operator =
        server::auth::Operator::new(addr, token.map(|t| t.parse().unwrap())).with_auth(auth);
    let state =
        server::AppState::with_operator(wh.clone(), engine::Limits::default(), options, operator);
    server::router(state)
}

/// A form request from `peer` with `headers`: status, body, `Location`.
pub async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:3000");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body.to_string())).unwrap();
    let peer: SocketAddr = format!("{peer}:50000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or_default().to_string());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        location,
    )
}

/// [`send`] from 127.0.0.1 (the tests' usual peer).
pub async fn send_local(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    send(app, method, path, body, "127.0.0.1", headers).await
}

/// The demo's expected players of `date`, sorted, each once.
pub fn expected_players(date: &str) -> Vec<String> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let mut p: Vec<String> = domain::demo::generate(domain::demo::DEFAULT_SEED)
        .games
        .into_iter()
        .filter(|g| g.game_date == day && g.is_expected())
        .map(|g| g.player_lookup)
        .collect();
    p.sort();
    p.dedup();
    p
}
