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
