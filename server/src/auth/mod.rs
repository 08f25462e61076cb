//! Who may start, cancel and resume jobs. Viewing needs nothing. Every
//! request must address one of this server's own host names (loopback
//! names, the bind address, configured public names), so a page that
//! rebinds its DNS name to 127.0.0.1 reaches nothing. Every server function
//! not on the read-only list ([`READ_ONLY`]) is a mutation: mutations
//! accept POST only, refuse cross-origin requests (Origin / Host and
//! Sec-Fetch-Site), and need the operator token — from the `x-rollcall-token`
//! header or the `rollcall_token` cookie — unless the server listens on
//! loopback with no token configured and the request is local (a request
//! carrying `Forwarded` / `X-Forwarded-For` is not, unless a trusted proxy is
//! configured and names a loopback client). Tokens are compared in constant
//! time and never logged; the cookie carries a value derived from the token
//! (an HMAC), never the token; and wrong tokens are throttled: past
//! [`MAX_WRONG_TOKENS`] in [`GUESS_WINDOW`], no token is checked (429 with
//! `Retry-After`) until the window moves on.

pub mod identity;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::{AppError, OperatorAccess};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use leptos::server_fn::{ContentType, ServerFn};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::AppState;

pub const TOKEN_HEADER: &str = "x-rollcall-token";
pub const TOKEN_COOKIE: &str = "rollcall_token";
/// Where the token form posts (sets the cookie).
pub const TOKEN_PATH: &str = "/operator-token";

/// How long the token cookie lives.
const TOKEN_COOKIE_MAX_AGE_SECS: u64 = 12 * 3600;

/// Wrong tokens checked per [`GUESS_WINDOW`] (about one guess a second).
pub const MAX_WRONG_TOKENS: usize = 10;
pub const GUESS_WINDOW: Duration = Duration::from_secs(10);

/// When the last wrong tokens were offered (the newest [`MAX_WRONG_TOKENS`]).
#[derive(Default)]
struct Guesses(Mutex<VecDeque<Instant>>);

impl Guesses {
    /// Seconds until another token may be checked, while throttled.
    fn wait(&self) -> Option<u64> {
        let Ok(mut wrong) = self.0.lock() else {
            return Some(GUESS_WINDOW.as_secs());
        };
        while wrong.front().is_some_and(|t| t.elapsed() >= GUESS_WINDOW) {
            wrong.pop_front();
        }
        (wrong.len() >= MAX_WRONG_TOKENS).then(|| {
            let oldest = wrong.front().map_or(Duration::ZERO, Instant::elapsed);
            GUESS_WINDOW.saturating_sub(oldest).as_secs().max(1)
        })
    }

    fn wrong(&self) {
        if let Ok(mut wrong) = self.0.lock() {
            wrong.push_back(Instant::now());
            while wrong.len() > MAX_WRONG_TOKENS {
                wrong.pop_front();
            }
        }
    }
}

/// What the token cookie holds: HMAC-SHA256 of a fixed label under the
/// token, so a cookie that leaks (a log, a shared profile) does not give
/// the token away.
fn session_value(token: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    crate::remote::hex(ring::hmac::sign(&key, b"rollcall operator session v1").as_ref())
}

/// Where a request's token came from.
enum Offered {
    Header(String),
    Cookie(String),
}

#[derive(Clone)]
pub struct Operator {
    pub access: OperatorAccess,
    token: Option<Secret>,
    /// Host names (lowercase, no port) requests may address.
    hosts: Vec<String>,
    /// A reverse proxy of ours sets `X-Forwarded-For` / `-Proto`.
    trusted_proxy: bool,
    guesses: Arc<Guesses>,
    /// How requests say who they are, and who the operators are.
    auth: identity::Auth,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("access", &self.access)
            .field("token", &self.token)
            .field("hosts", &self.hosts)
            .field("trusted_proxy", &self.trusted_proxy)
            .field("auth", &self.auth)
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
        let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "::1"].map(String::from).to_vec();
        if !addr.ip().is_unspecified() {
            hosts.push(addr.ip().to_string());
        }
        Self {
            access,
            token,
            hosts,
            trusted_proxy: false,
            guesses: Arc::default(),
            auth: identity::Auth::default(),
        }
    }

    /// Names requests by `auth`'s mode (issue [N] 2). Beyond the token mode
    /// nobody operates for being on loopback: roles come from who you are
    /// (`ROLLCALL_OPERATORS`) or the operator token.
    pub fn with_auth(mut self, auth: identity::Auth) -> Self {
        if auth.mode != identity::AuthMode::Token {
            self.access = if self.token.is_some() {
                OperatorAccess::TokenRequired
            } else {
                OperatorAccess::Disabled
            };
        }
        self.auth = auth;
        self
    }

    /// Who the request is: a name the proxy or IAP vouched for, or nobody
    /// in particular; a name from where none may come is refused.
    pub async fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<String>, identity::IdentityError> {
        match self.auth.mode {
            identity::AuthMode::Token => Ok(None),
            identity::AuthMode::Proxy => identity::proxy_email(headers, peer, &self.auth.trusted),
            identity::AuthMode::Iap => {
                let Some(assertion) = headers.get(identity::IAP_HEADER) else {
                    return Ok(None);
                };
                let assertion = assertion
                    .to_str()
                    .map_err(|_| identity::IdentityError::Assertion("not text".into()))?;
                match &self.auth.iap {
                    Some(verifier) => verifier.verify(assertion).await.map(Some),
                    None => Err(identity::IdentityError::Assertion(
                        "no IAP audience configured".into(),
                    )),
                }
            }
        }
    }

    /// A named operator (`ROLLCALL_OPERATORS`).
    fn is_operator(&self, email: Option<&str>) -> bool {
        email.is_some_and(|e| self.auth.operators.includes(e))
    }

    /// The request's caller for the pages and what it makes: its name, and
    /// what it may do (the token is not checked here: pages only say).
    pub fn caller(&self, headers: &HeaderMap, email: Option<&str>) -> app::Caller {
        let name = email.map_or_else(|| self.who(headers), str::to_string);
        let access = match (self.auth.mode, email) {
            (identity::AuthMode::Token, _) => app::Access::new(
                self.access != OperatorAccess::Disabled,
                self.access == OperatorAccess::TokenRequired,
                self.access.note(),
            ),
            (_, Some(e)) if self.is_operator(Some(e)) => app::Access::new(
                true,
                false,
                &format!(
                    "Signed in as {e}, an operator: you may start, cancel and resume jobs and acknowledge gaps."
                ),
            ),
            (_, Some(e)) => app::Access::new(
                false,
                false,
                &format!(
                    "Signed in as {e}, a viewer: starting, cancelling and resuming jobs and acknowledging gaps need the operator role (ROLLCALL_OPERATORS names who has it)."
                ),
            ),
            (_, None) => app::Access::new(
                false,
                self.token.is_some(),
                "Not signed in: reading only. Sign in through the proxy in front of Rollcall; the command line uses the operator token.",
            ),
        };
        app::Caller { name, access }
    }

    /// Adds the public host names this server answers to (behind a proxy or
    /// on a network address) and whether a proxy of ours forwards requests.
    pub fn with_public_hosts(mut self, public: &[String], trusted_proxy: bool) -> Self {
        for h in public {
            let h = h.trim().to_ascii_lowercase();
            if !h.is_empty() && !self.hosts.contains(&h) {
                self.hosts.push(h);
            }
        }
        self.trusted_proxy = trusted_proxy;
        self
    }

    /// The request's `Host` must be one of ours (absent: a non-browser client).
    fn check_host(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(raw) = headers.get(header::HOST) else {
            return Ok(());
        };
        let host = raw.to_str().ok().map(host_name).unwrap_or_default();
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
            return Ok(());
        }
        let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
        Err(format!(
            "Host '{shown}' is not this server's (it answers to {}; add names with ROLLCALL_PUBLIC_HOST)",
            self.hosts.join(", ")
        ))
    }

    /// Whether the request comes from this machine as far as we can tell.
    fn is_local(&self, headers: &HeaderMap) -> bool {
        let forwarded_for = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim);
        let forwarded = headers.contains_key("forwarded")
            || headers.contains_key("x-real-ip")
            || forwarded_for.is_some();
        if !forwarded {
            return true;
        }
        self.trusted_proxy
            && forwarded_for
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| ip.is_loopback())
    }

    /// Whether the client reached us over https (for the cookie's `Secure`).
    fn is_https(&self, headers: &HeaderMap) -> bool {
        let origin_https = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| o.starts_with("https://"));
        let proxied_https = self.trusted_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        origin_https || proxied_https
    }

    /// Whether `offered` is the token; a wrong one counts towards the throttle.
    fn matches(&self, offered: &str) -> bool {
        let right = self
            .token
            .as_ref()
            .is_some_and(|t| bool::from(t.expose().as_bytes().ct_eq(offered.as_bytes())));
        if !right {
            self.guesses.wrong();
        }
        right
    }

    /// Whether `offered` is the cookie value the token form gave out.
    fn session_matches(&self, offered: &str) -> bool {
        let right = self.token.as_ref().is_some_and(|t| {
            bool::from(
                session_value(t.expose())
                    .as_bytes()
                    .ct_eq(offered.as_bytes()),
            )
        });
        if !right {
            self.guesses.wrong();
        }
        right
    }

    /// Seconds to wait before a token is checked again, while too many
    /// wrong ones came in.
    fn throttled(&self) -> Option<u64> {
        match self.access {
            OperatorAccess::TokenRequired => self.guesses.wait(),
            OperatorAccess::OpenOnLoopback | OperatorAccess::Disabled => None,
        }
    }

    /// Who a request that passed [`Self::authorize`] is, as far as this
    /// server can tell (kept on what it makes: an acknowledgement, a job).
    pub fn who(&self, headers: &HeaderMap) -> String {
        match self.access {
            OperatorAccess::TokenRequired => match offered_token(headers) {
                Some(Offered::Header(_)) => "operator (token)".into(),
                Some(Offered::Cookie(_)) => "operator (token cookie)".into(),
                None => "anonymous".into(),
            },
            OperatorAccess::OpenOnLoopback => "operator on loopback".into(),
            OperatorAccess::Disabled => "anonymous".into(),
        }
    }

    /// May this request change something: the operator token (header or
    /// cookie) in every mode; a named operator behind a proxy or IAP; on
    /// loopback with no token in the token mode.
    fn authorize(&self, headers: &HeaderMap, email: Option<&str>) -> Result<(), String> {
        if self.auth.mode != identity::AuthMode::Token {
            if self.is_operator(email) {
                return Ok(());
            }
            let token_ok = match offered_token(headers) {
                Some(Offered::Header(t)) => self.matches(&t),
                Some(Offered::Cookie(v)) => self.session_matches(&v),
                None => false,
            };
            if token_ok {
                return Ok(());
            }
            return Err(match email {
                Some(e) => format!(
                    "{e} is a viewer: this needs the operator role (ROLLCALL_OPERATORS names who has it)"
                ),
                None => "sign in through the proxy in front of Rollcall, or give the operator token".into(),
            });
        }
        match self.access {
            OperatorAccess::OpenOnLoopback if self.is_local(headers) => Ok(()),
            OperatorAccess::OpenOnLoopback => Err(
                "a forwarded request is not local: set ROLLCALL_OPERATOR_TOKEN \
                 (or ROLLCALL_TRUSTED_PROXY when a proxy of yours is in front)"
                    .into(),
            ),
            OperatorAccess::Disabled => Err(
                "re-runs are disabled: this server listens beyond loopback and has no ROLLCALL_OPERATOR_TOKEN"
                    .into(),
            ),
            OperatorAccess::TokenRequired => match offered_token(headers) {
                None => Err(format!(
                    "the operator token is required (header {TOKEN_HEADER} or the token form on /jobs)"
                )),
                Some(Offered::Header(t)) if self.matches(&t) => Ok(()),
                Some(Offered::Cookie(v)) if self.session_matches(&v) => Ok(()),
                Some(_) => Err("wrong operator token".into()),
            },
        }
    }
}

/// `Host` without its port, lowercase (`[::1]:3000` → `::1`).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.to_ascii_lowercase()
}

fn offered_token(headers: &HeaderMap) -> Option<Offered> {
    if let Some(v) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(Offered::Header(v.to_string()));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_COOKIE)
        .map(|(_, v)| Offered::Cookie(v.to_string()))
}

/// Too many wrong tokens: come back in `seconds`.
fn too_many_guesses(seconds: u64) -> Response {
    tracing::warn!(seconds, "operator token checks throttled");
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        format!("too many wrong operator tokens: try again in {seconds} s\n"),
    )
        .into_response()
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

/// Where the app's server functions are served (`#[server]`'s default
/// prefix; the test below checks every registered one is under it).
pub const SERVER_FN_PREFIX: &str = "/api/";

/// The server functions that only read. They need no token, so a page can
/// call them for anyone who may view it. Anything else under
/// [`SERVER_FN_PREFIX`] — start, cancel, resume, and any function added
/// without being listed here — is a mutation.
const READ_ONLY: [&str; 10] = [
    app::api::PreviewBackfill::PATH,
    app::api::CoverageOverview::PATH,
    app::api::CoverageGrid::PATH,
    app::api::CoverageHeatmap::PATH,
    app::api::CellDetail::PATH,
    app::api::PlayerTrace::PATH,
    app::api::RerunPreview::PATH,
    app::api::JobsList::PATH,
    app::api::JobStatus::PATH,
    app::api::OperatorAccess::PATH,
];

/// Plain pages' form posts that change something: mutations like a
/// server function's (POST only, same origin, the operator role).
const FORM_MUTATIONS: [&str; 3] = [
    crate::ack_pages::ACK_PATH,
    crate::ack_pages::REVOKE_PATH,
    crate::snapshot_pages::LIST_PATH,
];

/// Refuses by default: a server-function path is a mutation unless it is
/// on [`READ_ONLY`].
fn is_mutation(path: &str) -> bool {
    path.starts_with(SERVER_FN_PREFIX) && !READ_ONLY.contains(&path)
}

/// A 403 whose body is the server functions' error encoding, so the page
/// shows the message inline.
fn forbidden(message: String) -> Response {
    tracing::warn!(%message, "mutation refused");
    let body = AppError::Forbidden(message).to_text();
    let text = [(header::CONTENT_TYPE, app::error::ErrorText::CONTENT_TYPE)];
    (StatusCode::FORBIDDEN, text, body).into_response()
}

/// The middleware in front of every route.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(m) = state.operator.check_host(req.headers()) {
        tracing::warn!(%m, "request for a foreign host refused");
        return (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response();
    }
    // Who it is, before anything else: a name from where none may come, or
    // an assertion that does not hold, is refused, not believed.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let email = match state.operator.identify(req.headers(), peer).await {
        Ok(email) => email,
        Err(e) => {
            tracing::warn!(error = %e, "identity refused");
            return (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
        }
    };
    let caller = state.operator.caller(req.headers(), email.as_deref());
    let mut req = req;
    req.extensions_mut().insert(caller);
    let path = req.uri().path().to_string();
    let path = path.as_str();
    // A page's form that changes something (acknowledge, revoke): its GET
    // is a page anyone may read, its POST a mutation.
    let form_mutation = req.method() == Method::POST && FORM_MUTATIONS.contains(&path);
    if !is_mutation(path) && path != TOKEN_PATH && !form_mutation {
        return next.run(req).await;
    }
    if req.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "POST only\n").into_response();
    }
    if let Err(m) = same_origin(req.headers()) {
        return forbidden(m);
    }
    // Wrong tokens throttle token checks; a named operator (who offers
    // none) is not locked out by someone else's guesses.
    let named_operator = state.operator.is_operator(email.as_deref());
    if let Some(seconds) = state.operator.throttled().filter(|_| !named_operator) {
        return too_many_guesses(seconds);
    }
    if is_mutation(path) || form_mutation {
        if let Err(m) = state.operator.authorize(req.headers(), email.as_deref()) {
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
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !state.operator.matches(&form.token) {
        return (StatusCode::FORBIDDEN, "wrong operator token\n").into_response();
    }
    let secure = if state.operator.is_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={TOKEN_COOKIE_MAX_AGE_SECS}{secure}",
        session_value(&form.token)
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
mod tests;
