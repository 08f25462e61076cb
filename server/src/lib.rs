//! The HTTP side of the `rollcall` binary: `router(state)` builds the whole axum
//! app (SSR pages, server functions, static files, `/healthz`), so tests drive it
//! without a socket.

pub mod bench;
pub mod config;
pub mod progress;
pub mod validate;

use std::sync::Arc;

use app::{shell, App, ServerState};
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use axum::Router;
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, LeptosRoutes};
use warehouse::Warehouse;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub server: ServerState,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    pub fn new(
        warehouse: Arc<dyn Warehouse>,
        limits: engine::Limits,
        leptos_options: LeptosOptions,
    ) -> Self {
        Self {
            leptos_options,
            server: ServerState { warehouse, limits },
        }
    }
}

/// Leptos options for a site built by `scripts/build.sh` (the plain route:
/// wasm-bindgen output named `rollcall`, under `site_root/pkg`).
pub fn leptos_options(site_root: &str, addr: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("rollcall")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let server_state = state.server.clone();
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(server_state.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler(shell))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.server.warehouse.status().await {
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
