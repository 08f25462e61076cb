//! Rendered pages reused while nothing they show can have changed: two
//! hundred viewers opening the season page cost one render, not two hundred
//! (issue [R] 5: a render is ~15 ms of CPU and 400 KB of HTML, so on two
//! cores page loads, not data reads, were what queued).
//!
//! A page is kept under its request's URI, `Host` and `Accept-Encoding`
//! (the body is stored as sent, compressed or not), with the view cache's
//! generation when its render began — which moves on every write and every
//! refreshed answer — and served for at most [`PAGE_TTL`]: nothing a page
//! shows is older than that plus the view cache's own `stale_ok`, and a page
//! rendered before a job ended is not served after it. Once the
//! generation moves on (or the page is half its TTL old) the kept page is
//! still served while one background render replaces it
//! (stale-while-revalidate, as the view cache does), so under a stream of
//! writes no viewer waits for a render; with nothing kept, concurrent
//! requests for one page wait for one render. Only complete `200 text/html`
//! answers without `Set-Cookie` are kept.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::cache::CachedWarehouse;

/// How long a rendered page may be reused at most.
pub const PAGE_TTL: Duration = Duration::from_secs(1);

/// Pages larger than this are sent but not kept.
const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// Kept bytes before the cache starts over.
const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    uri: String,
    host: Vec<u8>,
    encoding: Vec<u8>,
}

struct Kept {
    /// The view cache's generation when the render began.
    generation: u64,
    at: Instant,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// What a lookup found.
enum Found {
    /// Rendered at the current generation, recently: serve it.
    Fresh(Response),
    /// Servable (younger than the TTL), but the views moved on or it is
    /// half its TTL old: serve it and render again in the background.
    Stale(Response),
    /// Nothing servable: render while the viewer waits.
    Missing,
}

pub struct PageCache {
    views: Arc<CachedWarehouse>,
    ttl: Duration,
    kept: Mutex<(HashMap<Key, Kept>, usize)>,
    /// One lock per page rendered while viewers wait: the first request
    /// renders, the others wait and take its answer.
    rendering: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    /// Pages being rendered again in the background (one at a time each).
    refreshing: Mutex<HashSet<Key>>,
    renders: AtomicU64,
    hits: AtomicU64,
}

impl PageCache {
    pub fn new(views: Arc<CachedWarehouse>) -> Self {
        Self::with_ttl(views, PAGE_TTL)
    }

    pub fn with_ttl(views: Arc<CachedWarehouse>, ttl: Duration) -> Self {
        Self {
            views,
            ttl,
            kept: Mutex::new((HashMap::new(), 0)),
            rendering: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
            renders: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// (pages rendered for a keepable request, pages served from the cache).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.renders.load(Ordering::Relaxed),
            self.hits.load(Ordering::Relaxed),
        )
    }

    fn key(req: &Request) -> Key {
        let bytes = |name| {
            req.headers()
                .get(name)
                .map(|v: &header::HeaderValue| v.as_bytes().to_vec())
                .unwrap_or_default()
        };
        Key {
            uri: req.uri().to_string(),
            host: bytes(header::HOST),
            encoding: bytes(header::ACCEPT_ENCODING),
        }
    }

    fn lookup(&self, key: &Key) -> Found {
        let generation = self.views.generation();
        let settled = self.views.settled_generation();
        // Each update is one insert or clear: a panic cannot leave it half-done.
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        // A page from before a job ended is never served: views are fresh
        // once it ends.
        let servable = |p: &&Kept| p.at.elapsed() < self.ttl && p.generation >= settled;
        let Some(page) = kept.0.get(key).filter(servable) else {
            return Found::Missing;
        };
        let mut response = Response::new(Body::from(page.body.clone()));
        *response.status_mut() = page.status;
        *response.headers_mut() = page.headers.clone();
        if page.generation == generation && page.at.elapsed() < self.ttl / 2 {
            Found::Fresh(response)
        } else {
            Found::Stale(response)
        }
    }

    fn keep(&self, key: Key, page: Kept) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (pages, bytes) = &mut *kept;
        pages.retain(|_, p| p.at.elapsed() < self.ttl);
        *bytes = pages.values().map(|p| p.body.len()).sum();
        if *bytes + page.body.len() > MAX_TOTAL_BYTES {
            pages.clear();
            *bytes = 0;
        }
        *bytes += page.body.len();
        pages.insert(key, page);
    }

    fn turn(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut rendering = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(rendering.entry(key.clone()).or_default())
    }

    /// Renders the page and keeps it if it may be kept; the response as sent.
    async fn render(&self, key: Key, req: Request, next: Next) -> Response {
        let generation = self.views.generation();
        let response = next.run(req).await;
        if !is_keepable(&response) {
            return response;
        }
        self.renders.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "rendering a page failed mid-body");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page failed to render\n",
                )
                    .into_response();
            }
        };
        if body.len() <= MAX_PAGE_BYTES {
            self.keep(
                key,
                Kept {
                    generation,
                    at: Instant::now(),
                    status: parts.status,
                    headers: parts.headers.clone(),
                    body: body.clone(),
                },
            );
        }
        Response::from_parts(parts, Body::from(body))
    }
}

/// Paths that are never pages: assets, probes, reports, the token form.
fn never_a_page(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path.starts_with("/api/")
        || path.starts_with("/report.")
        || path == "/healthz"
        // Change with every freeze (a list, a snapshot retention deleted),
        // which moves no cached view on; a snapshot is kept decoded anyway.
        || path == crate::snapshot_pages::LIST_PATH
        || path == crate::snapshot_pages::API_LIST_PATH
        || path.starts_with("/s/")
        || path == crate::remote::INSTANCE_PATH
        || path == crate::auth::TOKEN_PATH
}

fn is_keepable(response: &Response) -> bool {
    response.status() == StatusCode::OK
        && !response.headers().contains_key(header::SET_COOKIE)
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"))
}

/// The middleware: serves a kept page (rendering it again in the
/// background when the views moved on), or renders it once for everyone
/// asking at the same time.
pub async fn serve(
    State(cache): State<Option<Arc<PageCache>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(cache) = cache else {
        return next.run(req).await;
    };
    if req.method() != Method::GET || never_a_page(req.uri().path()) {
        return next.run(req).await;
    }
    let key = PageCache::key(&req);
    match cache.lookup(&key) {
        Found::Fresh(page) => {
            cache.hits.fetch_add(1, Ordering::Relaxed);
            return page;
        }
        Found::Stale(page) => {
            cache.hits.fetch_add(1, Ordering::Relaxed);
            let first = cache
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone());
            if first {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move {
                    let _refreshing = Refreshing {
                        cache: &cache,
                        key: key.clone(),
                    };
                    cache.render(key.clone(), req, next).await;
                });
            }
            return page;
        }
        Found::Missing => {}
    }
    let lock = cache.turn(&key);
    let _rendering = Turn {
        cache: &cache,
        key: key.clone(),
    };
    let _turn = lock.lock().await;
    if let Found::Fresh(page) | Found::Stale(page) = cache.lookup(&key) {
        cache.hits.fetch_add(1, Ordering::Relaxed);
        return page;
    }
    cache.render(key, req, next).await
}

/// A render viewers wait for: its lock leaves the map when the render ends,
/// however it ends (a client gone mid-render drops the future).
struct Turn<'a> {
    cache: &'a PageCache,
    key: Key,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut rendering = self
            .cache
            .rendering
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rendering.remove(&self.key);
    }
}

/// A background render: the next stale hit may start another once it ends.
struct Refreshing<'a> {
    cache: &'a PageCache,
    key: Key,
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        let mut refreshing = self
            .cache
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        refreshing.remove(&self.key);
    }
}
