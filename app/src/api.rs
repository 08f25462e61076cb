//! Server functions. Each one is thin: take the state from context, call one
//! `engine` operation, map the error. No SQL and no business rules here.

use domain::report::Overview;
use leptos::prelude::*;

use crate::AppError;

#[cfg(feature = "ssr")]
fn state() -> Result<crate::ServerState, AppError> {
    use_context::<crate::ServerState>()
        .ok_or_else(|| AppError::Internal("server state missing from context".into()))
}

/// Game dates and table row counts for `start..=end` (strings as typed by the user).
#[server]
pub async fn coverage_overview(
    start: Option<String>,
    end: Option<String>,
) -> Result<Overview, AppError> {
    let state = state()?;
    let request = engine::OverviewRequest { start, end };
    Ok(engine::overview(state.warehouse.as_ref(), state.limits, &request).await?)
}

/// The reconciliation grid for a range and processor filter (per-cell numbers
/// only: the browser never receives per-player rows for the grid).
#[server]
pub async fn coverage_grid(
    start: Option<String>,
    end: Option<String>,
    processors: Option<String>,
) -> Result<domain::report::Reconciliation, AppError> {
    let state = state()?;
    let request = engine::reconcile::ReconcileRequest {
        start,
        end,
        processors,
    };
    Ok(engine::reconcile::reconcile(state.warehouse.as_ref(), state.limits, &request).await?)
}

/// One cell's drill-down (`cell` = `PDC:2021-11-10`); failures and
/// unaccounted players paginated separately.
#[server]
pub async fn cell_detail(
    cell: String,
    category: Option<String>,
    search: Option<String>,
    offset: Option<i64>,
    unaccounted_offset: Option<i64>,
) -> Result<domain::report::CellDetail, AppError> {
    let state = state()?;
    let filter = warehouse::FailureFilter {
        category,
        search,
        offset: offset.unwrap_or(0),
        limit: 50,
    };
    Ok(engine::reconcile::cell_detail(
        state.warehouse.as_ref(),
        &cell,
        filter,
        unaccounted_offset.unwrap_or(0),
    )
    .await?)
}

/// One player on one date across every processor, with the root cause.
#[server]
pub async fn player_trace(
    player: String,
    date: String,
) -> Result<domain::report::PlayerTrace, AppError> {
    let state = state()?;
    engine::reconcile::player_trace(state.warehouse.as_ref(), &player, &date)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no player '{player}' in player_game_summary")))
}
