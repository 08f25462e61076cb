//! The HTTP side of the `rollcall` binary: `router(state)` builds the whole axum
//! app (SSR pages, server functions, static files, `/healthz`), so tests drive it
//! without a socket.

pub mod ack_pages;
pub mod auth;
pub mod bench;
pub mod commands;
pub mod config;
pub mod error;
pub mod faultproxy;
pub mod feed_pages;
pub mod metrics;
pub mod openlineage;
pub mod page_cache;
pub mod progress;
pub mod remote;
pub mod report;
pub mod serve;
pub mod snapshot_file;
pub mod snapshot_pages;
pub mod validate;
pub mod watch_api;
pub mod watcher;

use std::sync::Arc;

use app::{shell, App, ServerState};
use axum::extract::{FromRef, Query, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::Response;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use axum::Router;
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use warehouse::Warehouse;

use crate::error::ServerError;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub server: ServerState,
    pub operator: auth::Operator,
    /// The secret this server shares with its store's `<db>.server` file,
    /// so the CLI can tell it from whatever else listens on that port.
    pub instance: Option<Arc<remote::Instance>>,
    /// Rendered pages, kept while the views they show are unchanged.
    pub pages: Option<Arc<page_cache::PageCache>>,
    /// Where alerts and snapshots link to (`--public-url`).
    pub public_url: String,
    /// Snapshots opened lately, decoded (they never change).
    pub snapshots: Arc<snapshot_pages::Opened>,
    /// Snapshots older than this many days go when one is taken (0: kept).
    pub snapshot_retention_days: u32,
}

impl FromRef<AppState> for Option<Arc<page_cache::PageCache>> {
    fn from_ref(state: &AppState) -> Self {
        state.pages.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// State for a server listening on loopback without a token (tests, the
    /// local default). Starts the job runner on the current tokio runtime.
    pub fn new(
        warehouse: Arc<dyn Warehouse>,
        limits: engine::Limits,
        leptos_options: LeptosOptions,
    ) -> Self {
        let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        Self::with_operator(
            warehouse,
            limits,
            leptos_options,
            auth::Operator::new(loopback, None),
        )
    }

    pub fn with_operator(
        warehouse: Arc<dyn Warehouse>,
        limits: engine::Limits,
        leptos_options: LeptosOptions,
        operator: auth::Operator,
    ) -> Self {
        Self::with_view_cache(
            warehouse,
            limits,
            leptos_options,
            operator,
            Some(ViewCache::default()),
        )
    }

    /// The full constructor: `view_cache: None` reads every view from the
    /// warehouse (for comparison in `bench load`).
    pub fn with_view_cache(
        warehouse: Arc<dyn Warehouse>,
        limits: engine::Limits,
        leptos_options: LeptosOptions,
        operator: auth::Operator,
        view_cache: Option<ViewCache>,
    ) -> Self {
        let (views, jobs, pages): (Arc<dyn Warehouse>, _, _) = match view_cache {
            Some(c) => {
                let cache = Arc::new(engine::cache::CachedWarehouse::new(
                    Arc::clone(&warehouse),
                    c.max_age,
                    c.stale_ok,
                ));
                let jobs =
                    engine::jobs::JobRunner::start_notifying(Arc::clone(&warehouse), cache.clone());
                let pages = c
                    .pages
                    .then(|| Arc::new(page_cache::PageCache::new(Arc::clone(&cache))));
                (cache, jobs, pages)
            }
            None => (
                Arc::clone(&warehouse),
                engine::jobs::JobRunner::start(Arc::clone(&warehouse)),
                None,
            ),
        };
        Self {
            leptos_options,
            server: ServerState {
                warehouse,
                views,
                limits,
                jobs,
                access: operator.access,
            },
            operator,
            instance: None,
            pages,
            public_url: "http://127.0.0.1:3000".into(),
            snapshots: Arc::default(),
            snapshot_retention_days: DEFAULT_SNAPSHOT_RETENTION_DAYS,
        }
    }

    /// Snapshots older than `days` go when one is taken (0: kept for ever).
    pub fn with_snapshot_retention(self, days: u32) -> Self {
        Self {
            snapshot_retention_days: days,
            ..self
        }
    }

    /// Alerts sent through this server link under `url`.
    pub fn with_public_url(self, url: String) -> Self {
        Self {
            public_url: url,
            ..self
        }
    }

    /// The server of an embedded store: proves it is with `instance`.
    pub fn with_instance(self, instance: Arc<remote::Instance>) -> Self {
        Self {
            instance: Some(instance),
            ..self
        }
    }
}

/// How long polled views may be reused: at most `max_age` (writers in other
/// processes), at most `stale_ok` after a write made here; `pages`: whether
/// rendered pages are kept too (`page_cache`).
#[derive(Debug, Clone, Copy)]
pub struct ViewCache {
    pub max_age: std::time::Duration,
    pub stale_ok: std::time::Duration,
    pub pages: bool,
}

impl Default for ViewCache {
    fn default() -> Self {
        Self {
            max_age: std::time::Duration::from_secs(5),
            stale_ok: std::time::Duration::from_secs(1),
            pages: true,
        }
    }
}

/// Where the built site lies relative to the executable, in order: installed
/// by `make install` (`<prefix>/bin/rollcall`, `<prefix>/share/rollcall/site`),
/// and in the build's target directory (`target/debug/rollcall`,
/// `target/site`).
const SITE_BESIDE_EXECUTABLE: [&str; 2] = ["../share/rollcall/site", "../site"];

/// The site root to serve: `explicit` (`--site-root`) if given, else the
/// first place beside `executable` that holds a built site; `None` when
/// there is none (pages then work without JavaScript only).
pub fn site_root(
    explicit: Option<&std::path::Path>,
    executable: Option<&std::path::Path>,
) -> Option<std::path::PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let dir = executable?.parent()?;
    SITE_BESIDE_EXECUTABLE
        .iter()
        .map(|relative| dir.join(relative))
        .find(|root| output_name(root).is_some())
}

/// Where `scripts/build.sh` writes the bundle's name, `rollcall.<hash>`.
pub const OUTPUT_NAME_FILE: &str = "output-name";

/// The name of the site's bundle under `pkg/` (`<name>.js`, `<name>_bg.wasm`,
/// `<name>.css`): the content-hashed name `scripts/build.sh` recorded in
/// [`OUTPUT_NAME_FILE`], or `rollcall` for a site built without hashes;
/// `None` when `site_root` holds no site.
pub fn output_name(site_root: &std::path::Path) -> Option<String> {
    let recorded = std::fs::read_to_string(site_root.join(OUTPUT_NAME_FILE)).ok();
    match recorded.as_deref().map(str::trim) {
        Some(name)
            if !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            Some(name.to_string())
        }
        _ => site_root
            .join("pkg/rollcall.js")
            .is_file()
            .then(|| "rollcall".to_string()),
    }
}

/// Leptos options for a site built by `scripts/build.sh` (the plain route:
/// wasm-bindgen output under `site_root/pkg`, named by [`output_name`]).
pub fn leptos_options(site_root: &str, addr: std::net::SocketAddr) -> LeptosOptions {
    let name = output_name(std::path::Path::new(site_root)).unwrap_or_else(|| "rollcall".into());
    LeptosOptions::builder()
        .output_name(name)
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// The app's routes, generated once per process. Generating them sets a
/// process-wide "suppress resource loads" flag, and a resource first polled
/// while it is set never resolves (leptos#4773): a second `router()` call —
/// tests build one router each, in parallel — could hang another's render.
fn routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = routes();
    let server_state = state.server.clone();
    let options = state.leptos_options.clone();
    Router::new()
        .nest_service("/pkg", assets(&state.leptos_options))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route(remote::INSTANCE_PATH, get(instance_proof))
        .route("/legend", get(legend))
        .route("/changes", get(feed_pages::changes))
        .route(watch_api::CHANGES_PATH, get(watch_api::changes))
        .route(
            watch_api::EVALUATE_PATH,
            axum::routing::post(watch_api::evaluate),
        )
        .route("/alerts", get(feed_pages::alerts))
        .route(
            ack_pages::ACK_PATH,
            get(ack_pages::form).post(ack_pages::submit),
        )
        .route(ack_pages::LIST_PATH, get(ack_pages::page))
        .route(
            ack_pages::REVOKE_PATH,
            axum::routing::post(ack_pages::revoke),
        )
        .route(ack_pages::API_LIST_PATH, get(ack_pages::api_list))
        .route(
            ack_pages::API_ACK_PATH,
            axum::routing::post(ack_pages::api_acknowledge),
        )
        .route(
            ack_pages::API_REVOKE_PATH,
            axum::routing::post(ack_pages::api_revoke),
        )
        .route(
            snapshot_pages::LIST_PATH,
            get(snapshot_pages::list_page).post(snapshot_pages::create),
        )
        .route(snapshot_pages::NEW_PATH, get(snapshot_pages::new_form))
        .route(snapshot_pages::API_LIST_PATH, get(snapshot_pages::api_list))
        .route(
            snapshot_pages::API_PATH,
            axum::routing::post(snapshot_pages::api_create),
        )
        .route("/s/{id}", get(snapshot_pages::page))
        .route("/s/{id}/compare", get(snapshot_pages::compare_page))
        .route("/s/{id}/compare.json", get(snapshot_pages::api_compare))
        .route("/s/{id}/report.html", get(snapshot_pages::report_file))
        .route("/report.csv", get(report_csv))
        .route("/report.png", get(report_png))
        .route("/report.svg", get(report_svg))
        .route(auth::TOKEN_PATH, axum::routing::post(auth::remember_token))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(server_state.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(bad_arguments_are_400))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(limit_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        // Pages and server-function answers change with the data: revalidate
        // every time (assets under /pkg set their own).
        .layer(security_header(header::CACHE_CONTROL, "no-cache"))
        // Compressed on the fly when the client asks; responses that are
        // already encoded (the precompressed assets) pass through.
        .layer(tower_http::compression::CompressionLayer::new())
        // Outside compression: a kept page is kept as sent.
        .layer(axum::middleware::from_fn_with_state(
            state.pages.clone(),
            page_cache::serve,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `/pkg`: the bundle and stylesheet, sent as the `.br`/`.gz` twins
/// `scripts/build.sh` wrote beside them when the client accepts those. A
/// content-hashed name never changes meaning, so it may be cached for good;
/// an unhashed one is revalidated.
fn assets(options: &LeptosOptions) -> Router {
    let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let files = tower_http::services::ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip();
    let hashed = options.output_name.contains('.');
    Router::new()
        .fallback_service(files)
        .layer(axum::middleware::map_response(
            move |mut response: Response| async move {
                let policy = if hashed && response.status().is_success() {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                };
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    axum::http::HeaderValue::from_static(policy),
                );
                response
            },
        ))
}

/// How long snapshots are kept unless configured (`--snapshot-retention-days`).
pub const DEFAULT_SNAPSHOT_RETENTION_DAYS: u32 = 365;

/// Longest a request may take end to end (a season's export takes well under
/// a second); past it the client gets a 503 instead of waiting forever.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Largest request body accepted (server-function arguments are small); a
/// larger one is a 413 before anything reads it.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Our own scripts, styles and wasm only; no framing by anyone. The
/// hydration loader is an inline module script, the bundle needs
/// `wasm-unsafe-eval`.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

fn security_header(
    name: header::HeaderName,
    value: &'static str,
) -> tower_http::set_header::SetResponseHeaderLayer<axum::http::HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        name,
        axum::http::HeaderValue::from_static(value),
    )
}

/// Bodies over `MAX_BODY_BYTES` are a 413 before any handler reads them,
/// whether they announce their length or stream it.
pub(crate) fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body over {MAX_BODY_BYTES} bytes\n"),
    )
        .into_response()
}

/// The request says its body is over [`MAX_BODY_BYTES`].
pub(crate) fn announced_too_large(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
}

async fn limit_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if announced_too_large(req.headers()) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Err(_) => too_large(),
    }
}

/// Server functions answer arguments they cannot decode with
/// `AppError::BadInput` but leptos sends it as a 500: make it the 400 it is.
async fn bad_arguments_are_400(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let response = next.run(req).await;
    if !is_api || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let error = std::str::from_utf8(&bytes)
        .ok()
        .and_then(app::AppError::from_text);
    if matches!(error, Some(app::AppError::BadInput(_))) {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Through the read cache: a monitor polling every second must not queue
/// behind a hundred viewers for a store connection. The status is at most a
/// few seconds old, and a failed check is reported on the next request.
/// `GET /rollcall-instance?nonce=N`: the HMAC of `N` under this server's
/// store instance secret, so the CLI knows it reached this store's server
/// before it sends a token (`remote::Remote::find`). 404 when the server
/// has no store file of its own (BigQuery, tests).
async fn instance_proof(
    State(state): State<AppState>,
    Query(q): Query<remote::NonceQuery>,
) -> Response {
    match (&state.instance, q.nonce.as_deref()) {
        (None, _) => StatusCode::NOT_FOUND.into_response(),
        (Some(instance), Some(nonce)) if remote::is_nonce(nonce) => {
            instance.proof(nonce).into_response()
        }
        (Some(_), _) => {
            ServerError::Input("nonce: 32 to 128 hexadecimal digits".into()).into_response()
        }
    }
}

/// `GET /legend`: what every cell status and failure category means, as a
/// plain page linked from the heatmap's legend (text the bundle need not
/// carry). The words are Rollcall's own constants, escaped all the same.
async fn legend() -> Response {
    use std::fmt::Write as _;
    let escape = |s: &str| html_escape::encode_text(s).into_owned();
    let mut page = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Rollcall: statuses and failure categories</title></head><body>\
         <h1>Statuses and failure categories</h1>\
         <table aria-label=\"Cell statuses\"><thead><tr><th scope=\"col\">Status</th>\
         <th scope=\"col\">Meaning</th></tr></thead><tbody>",
    );
    for status in domain::report::CellStatus::ALL {
        let _ = write!(
            page,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td></tr>",
            status.code(),
            escape(status.meaning())
        );
    }
    page.push_str(
        "</tbody></table><table aria-label=\"Failure categories\"><thead><tr>\
         <th scope=\"col\">Category</th><th scope=\"col\">Expected?</th>\
         <th scope=\"col\">Meaning</th></tr></thead><tbody>",
    );
    for c in &domain::failure::CATEGORIES {
        let expected = if c.expected {
            "expected"
        } else {
            "investigate"
        };
        let _ = write!(
            page,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{expected}</td><td>{}</td></tr>",
            c.code,
            escape(c.meaning)
        );
    }
    page.push_str("</tbody></table><p><a href=\"/\">Back to the coverage</a></p></body></html>");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.server.views.status().await {
        Ok(status) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "warehouse": status })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "error", "error": e.to_string() })),
        ),
    }
}

/// `GET /metrics`: Prometheus' text format (`metrics`).
async fn metrics_text(State(state): State<AppState>) -> Response {
    match metrics::render(&state.server).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The coverage page's query parameters (same names, so a page link's query
/// works on the exports).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ReportQuery {
    pub start: Option<String>,
    pub end: Option<String>,
    pub p: Option<String>,
    pub kind: Option<String>,
}

impl ReportQuery {
    fn request(&self) -> engine::reconcile::ReconcileRequest {
        engine::reconcile::ReconcileRequest {
            start: self.start.clone(),
            end: self.end.clone(),
            processors: self.p.clone(),
        }
    }
}

async fn reconciliation(
    state: &AppState,
    q: &ReportQuery,
) -> Result<domain::report::Reconciliation, Response> {
    engine::reconcile::reconcile(
        state.server.warehouse.as_ref(),
        state.server.limits,
        &q.request(),
    )
    .await
    .map_err(|e| ServerError::from(e).into_response())
}

async fn report_csv(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> Response {
    let body = match q.kind.as_deref() {
        None | Some("grid") => match reconciliation(&state, &q).await {
            Ok(rec) => validate::render(
                state.server.warehouse.pipeline(),
                &rec,
                validate::Format::Csv,
                false,
                false,
                "rollcall",
                None,
            ),
            Err(r) => return r,
        },
        Some("unaccounted") => match engine::reconcile::unaccounted_list(
            state.server.warehouse.as_ref(),
            state.server.limits,
            &q.request(),
        )
        .await
        {
            Ok(rows) => report::unaccounted_csv(state.server.warehouse.pipeline(), &rows),
            Err(e) => return ServerError::from(e).into_response(),
        },
        Some(_) => Err(ServerError::Input(
            "kind must be 'grid' or 'unaccounted'".into(),
        )),
    };
    match body {
        Ok(csv) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn report_png(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> Response {
    let rec = match reconciliation(&state, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let pipeline = std::sync::Arc::clone(state.server.warehouse.pipeline());
    match tokio::task::spawn_blocking(move || report::png(&pipeline, &rec)).await {
        Ok(Ok(png)) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ServerError::failed("drawing the heatmap", e).into_response(),
    }
}

async fn report_svg(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> Response {
    let rec = match reconciliation(&state, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match report::svg(state.server.warehouse.pipeline(), &rec) {
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::site_root;

    #[test]
    fn the_site_is_found_beside_the_executable() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("target/debug/rollcall");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        assert_eq!(site_root(None, Some(&exe)), None, "nothing built yet");
        let built = dir.path().join("target/site");
        std::fs::create_dir_all(built.join("pkg")).unwrap();
        std::fs::write(built.join("pkg/rollcall.js"), "").unwrap();
        assert_eq!(
            site_root(None, Some(&exe)),
            Some(dir.path().join("target/debug/../site"))
        );
        let explicit = dir.path().join("elsewhere");
        assert_eq!(
            site_root(Some(&explicit), Some(&exe)),
            Some(explicit.clone()),
            "--site-root wins"
        );
        // Installed: <prefix>/bin/rollcall beside <prefix>/share/rollcall/site.
        let exe = dir.path().join("bin/rollcall");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        let installed = dir.path().join("share/rollcall/site/pkg");
        std::fs::create_dir_all(&installed).unwrap();
        std::fs::write(installed.join("rollcall.js"), "").unwrap();
        assert_eq!(
            site_root(None, Some(&exe)),
            Some(dir.path().join("bin/../share/rollcall/site"))
        );
    }
}
