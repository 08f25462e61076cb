//! Who may start, cancel and resume jobs. Viewing needs nothing. Mutating
//! endpoints accept POST only, refuse cross-origin requests (Origin / Host and
//! Sec-Fetch-Site), and need the operator token — from the `x-rollcall-token`
//! header or the `rollcall_token` cookie — unless the server listens on
//! loopback with no token configured. Tokens are compared in constant time and
//! never logged.

use std::net::SocketAddr;

use app::{AppError, OperatorAccess};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use leptos::server_fn::ServerFn;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::AppState;

pub const TOKEN_HEADER: &str = "x-rollcall-token";
pub const TOKEN_COOKIE: &str = "rollcall_token";
/// Where the token form posts (sets the cookie).
pub const TOKEN_PATH: &str = "/operator-token";

#[derive(Clone)]
pub struct Operator {
    pub access: OperatorAccess,
    token: Option<Secret>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("access", &self.access)
            .field("token", &self.token)
            .finish()
    }
}

impl Operator {
    /// The policy for a server listening on `addr` with `token` configured.
    pub fn new(addr: SocketAddr, token: Option<Secret>) -> Self {
        let token = token.filter(|t| !t.expose().is_empty());
        let access = match (&token, addr.ip().is_loopback()) {
            (Some(_), _) => OperatorAccess::TokenRequired,
            (None, true) => OperatorAccess::OpenOnLoopback,
            (None, false) => OperatorAccess::Disabled,
        };
        Self { access, token }
    }

    fn matches(&self, offered: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| bool::from(t.expose().as_bytes().ct_eq(offered.as_bytes())))
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), String> {
        match self.access {
            OperatorAccess::OpenOnLoopback => Ok(()),
            OperatorAccess::Disabled => Err(
                "re-runs are disabled: this server listens beyond loopback and has no ROLLCALL_OPERATOR_TOKEN"
                    .into(),
            ),
            OperatorAccess::TokenRequired => match offered_token(headers) {
                None => Err(format!(
                    "the operator token is required (header {TOKEN_HEADER} or the token form on /jobs)"
                )),
                Some(t) if self.matches(&t) => Ok(()),
                Some(_) => Err("wrong operator token".into()),
            },
        }
    }
}

fn offered_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// A browser always sends `Origin` on a cross-origin POST; it must name this
/// host. `Sec-Fetch-Site` (when sent) must say same-origin or none.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let refused = || Err("cross-origin request refused".to_string());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return refused();
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => refused(),
    }
}

fn is_mutation(path: &str) -> bool {
    [
        app::api::StartRerun::PATH,
        app::api::CancelJob::PATH,
        app::api::ResumeJob::PATH,
    ]
    .contains(&path)
}

/// A 403 whose body is the server functions' error encoding, so the page
/// shows the message inline.
fn forbidden(message: String) -> Response {
    tracing::warn!(%message, "mutation refused");
    (StatusCode::FORBIDDEN, Json(AppError::Forbidden(message))).into_response()
}

/// The middleware in front of every route.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !is_mutation(path) && path != TOKEN_PATH {
        return next.run(req).await;
    }
    if req.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "POST only\n").into_response();
    }
    if let Err(m) = same_origin(req.headers()) {
        return forbidden(m);
    }
    if is_mutation(path) {
        if let Err(m) = state.operator.authorize(req.headers()) {
            return forbidden(m);
        }
    }
    next.run(req).await
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    token: String,
}

/// `POST /operator-token`: checks the token and keeps it in a cookie.
pub async fn remember_token(
    State(state): State<AppState>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !state.operator.matches(&form.token) {
        return (StatusCode::FORBIDDEN, "wrong operator token\n").into_response();
    }
    let cookie = format!(
        "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        form.token
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/jobs".into()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn access_follows_the_bind_address_and_token() {
        let lo: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let t: Secret = "s3cret".parse().unwrap();
        assert_eq!(
            Operator::new(lo, None).access,
            OperatorAccess::OpenOnLoopback
        );
        assert_eq!(Operator::new(any, None).access, OperatorAccess::Disabled);
        assert_eq!(
            Operator::new(any, Some(t.clone())).access,
            OperatorAccess::TokenRequired
        );
        assert_eq!(
            Operator::new(lo, Some(t)).access,
            OperatorAccess::TokenRequired
        );
        assert!(
            !format!("{:?}", Operator::new(any, Some("s3cret".parse().unwrap())))
                .contains("s3cret")
        );
    }

    #[test]
    fn tokens_come_from_header_or_cookie() {
        let op = Operator::new(
            "0.0.0.0:1".parse().unwrap(),
            Some("s3cret".parse().unwrap()),
        );
        assert!(op.authorize(&headers(&[(TOKEN_HEADER, "s3cret")])).is_ok());
        assert!(op
            .authorize(&headers(&[("cookie", "a=b; rollcall_token=s3cret")]))
            .is_ok());
        assert_eq!(
            op.authorize(&headers(&[(TOKEN_HEADER, "s3cre")]))
                .unwrap_err(),
            "wrong operator token"
        );
        assert!(op
            .authorize(&headers(&[]))
            .unwrap_err()
            .contains("required"));
    }

    #[test]
    fn cross_origin_is_refused() {
        let host = ("host", "127.0.0.1:3000");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:3000")])).is_ok());
        assert!(same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(same_origin(&headers(&[host, ("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(
            same_origin(&headers(&[host])).is_ok(),
            "non-browser clients"
        );
    }
}
