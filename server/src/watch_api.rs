//! The watch's operations over HTTP, for the CLI beside a server that holds
//! an embedded store (DuckDB locks the file for one process): `POST
//! /api/watch-evaluate` (a mutation: same origin and the operator token, as
//! a backfill) and `GET /changes.json?since=24h`. Thin: parse, one engine
//! operation, the error mapped.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Json, Response};

use crate::error::ServerError;
use crate::AppState;

pub const EVALUATE_PATH: &str = "/api/watch-evaluate";
pub const CHANGES_PATH: &str = "/changes.json";

/// What `rollcall watch` asks for, as typed.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EvaluateRequest {
    pub start: Option<String>,
    pub end: Option<String>,
    pub as_of: Option<String>,
}

pub async fn evaluate(State(state): State<AppState>, Json(r): Json<EvaluateRequest>) -> Response {
    let run = async {
        let window = match (&r.start, &r.end) {
            (Some(s), Some(e)) => Some(domain::DateRange::new(
                domain::dates::parse_date("start-date", s)?,
                domain::dates::parse_date("end-date", e)?,
                state.server.limits.max_range_days,
            )?),
            _ => None,
        };
        let as_of = match r.as_of.as_deref() {
            Some(raw) => crate::commands::parse_as_of(raw)?,
            None => chrono::Utc::now().naive_utc(),
        };
        let opts = engine::watch::EvaluateOptions {
            window,
            as_of,
            trigger: "cli".into(),
            public_url: state.public_url.clone(),
        };
        Ok::<_, ServerError>(
            engine::watch::evaluate_named(state.server.warehouse.as_ref(), &opts).await?,
        )
    };
    match run.await {
        Ok(evaluation) => Json(evaluation).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SinceQuery {
    pub since: Option<String>,
}

pub async fn changes(State(state): State<AppState>, Query(q): Query<SinceQuery>) -> Response {
    match engine::watch::changes_since(state.server.views.as_ref(), q.since.as_deref()).await {
        Ok(feed) => Json(feed).into_response(),
        Err(e) => ServerError::from(e).into_response(),
    }
}
