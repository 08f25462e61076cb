//! A small HTTP proxy between Rollcall and a BigQuery endpoint (the local
//! emulator), listening on 127.0.0.1 only. It counts the requests that start
//! BigQuery jobs (`jobs.query` and load uploads) for `rollcall bench
//! bigquery`, and injects faults for the retry-safety tests: answer 503
//! after forwarding (the request took effect, its reply is lost), answer 503
//! or 429 with `Retry-After` without forwarding, hold the reply past the
//! client's timeout, or cut the reply short (the connection reset mid-body,
//! or a complete HTTP message whose JSON stops half-way).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;

/// What a fault does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it, then answer 503: it happened, the client does not know.
    DropReply,
    /// Answer 503 without forwarding.
    Refuse,
    /// Forward it, then wait this long before answering.
    Delay(Duration),
    /// Answer 429 with `Retry-After` this many seconds, without forwarding.
    Throttle(u64),
    /// Forward it, then send half the reply and reset the connection (the
    /// declared length is the whole reply's).
    ResetMidReply,
    /// Forward it, then answer with the first half of the reply as a
    /// complete message (its length declared as sent).
    CutFramed,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A `jobs.query` whose SQL commits a transaction.
    CommitScript,
    /// A load upload (staging rows).
    Load,
    /// Any request that starts a job.
    AnyJob,
}

struct Rule {
    target: Target,
    fault: Fault,
    /// Matching requests to let through untouched before the fault applies.
    skip: usize,
    /// How many more times it applies.
    remaining: usize,
}

/// Counts of what went through, by kind.
#[derive(Debug, Default)]
pub struct Counts {
    pub queries: AtomicUsize,
    pub loads: AtomicUsize,
    pub other: AtomicUsize,
    pub faults: AtomicUsize,
}

impl Counts {
    /// Requests that started a BigQuery job (queries, scripts, loads).
    pub fn jobs(&self) -> usize {
        self.queries.load(Ordering::SeqCst) + self.loads.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    rules: Arc<Mutex<Vec<Rule>>>,
    counts: Arc<Counts>,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    /// The proxy's BigQuery base URL (`http://127.0.0.1:PORT/bigquery/v2`).
    pub base_url: String,
    pub counts: Arc<Counts>,
    rules: Arc<Mutex<Vec<Rule>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream_base` (a `…/bigquery/v2` URL).
    pub async fn start(upstream_base: &str) -> std::io::Result<Self> {
        let root = upstream_base
            .trim_end_matches('/')
            .trim_end_matches("/bigquery/v2")
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rules = Arc::new(Mutex::new(Vec::new()));
        let counts = Arc::new(Counts::default());
        let proxy = Proxy {
            upstream: root,
            http: reqwest::Client::new(),
            rules: Arc::clone(&rules),
            counts: Arc::clone(&counts),
        };
        let app = Router::new().fallback(forward).with_state(proxy);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url: format!("http://{addr}/bigquery/v2"),
            counts,
            rules,
            task,
        })
    }

    /// Applies `fault` to `times` matching requests after letting `skip` through.
    pub fn inject(&self, target: Target, fault: Fault, skip: usize, times: usize) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(Rule {
                target,
                fault,
                skip,
                remaining: times,
            });
        }
    }

    /// Disarms every fault not yet applied.
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// Faults armed but not yet applied.
    pub fn pending_faults(&self) -> usize {
        self.rules
            .lock()
            .map(|r| r.iter().map(|r| r.remaining).sum())
            .unwrap_or(0)
    }
}

fn unavailable() -> Response {
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"error":{"code":503,"message":"injected by the fault proxy","errors":[]}}"#,
        ))
        .unwrap_or_default()
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 256 * 1024 * 1024).await else {
        return unavailable();
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let is_post = parts.method == axum::http::Method::POST;
    let is_load = is_post && path.contains("uploadType=");
    let is_query = is_post && path.ends_with("/queries");
    let counter = if is_load {
        &proxy.counts.loads
    } else if is_query {
        &proxy.counts.queries
    } else {
        &proxy.counts.other
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let commits = is_query && String::from_utf8_lossy(&body).contains("COMMIT TRANSACTION");
    let fault = proxy.rules.lock().ok().and_then(|mut rules| {
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && match r.target {
                    Target::CommitScript => commits,
                    Target::Load => is_load,
                    Target::AnyJob => is_load || is_query,
                }
        })?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.remaining -= 1;
        Some(rule.fault)
    });
    if fault.is_some() {
        proxy.counts.faults.fetch_add(1, Ordering::SeqCst);
    }
    match fault {
        Some(Fault::Refuse) => return unavailable(),
        Some(Fault::Throttle(seconds)) => return throttled(seconds),
        _ => {}
    }
    let mut upstream = proxy
        .http
        .request(parts.method.clone(), format!("{}{path}", proxy.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else {
        return unavailable();
    };
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let Ok(bytes) = answer.bytes().await else {
        return unavailable();
    };
    let half = bytes.slice(..bytes.len() / 2);
    let mut response = Response::builder().status(status.as_u16());
    if let Some(ct) = content_type {
        response = response.header("content-type", ct);
    }
    let body = match fault {
        Some(Fault::DropReply) => return unavailable(),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            Body::from(bytes)
        }
        Some(Fault::ResetMidReply) => {
            response = response.header("content-length", bytes.len());
            let cut: [std::io::Result<axum::body::Bytes>; 2] = [
                Ok(half),
                Err(std::io::Error::other("reset by the fault proxy")),
            ];
            Body::from_stream(futures_util::stream::iter(cut))
        }
        Some(Fault::CutFramed) => Body::from(half),
        _ => Body::from(bytes),
    };
    response.body(body).unwrap_or_default()
}

fn throttled(seconds: u64) -> Response {
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("content-type", "application/json")
        .header("retry-after", seconds.to_string())
        .body(Body::from(
            r#"{"error":{"code":429,"message":"rate limited by the fault proxy","errors":[]}}"#,
        ))
        .unwrap_or_default()
}
