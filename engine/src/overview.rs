use domain::report::Overview;
use serde::{Deserialize, Serialize};
use warehouse::Warehouse;

use crate::{EngineError, Limits};

/// The range as the user typed it (strings: parsing is part of the operation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewRequest {
    pub start: Option<String>,
    pub end: Option<String>,
}

/// Game dates and table row counts within a user-supplied range.
pub async fn overview(
    warehouse: &dyn Warehouse,
    limits: Limits,
    request: &OverviewRequest,
) -> Result<Overview, EngineError> {
    let range = crate::parse_range(
        warehouse.pipeline(),
        limits,
        request.start.as_deref(),
        request.end.as_deref(),
    )?;
    let dates = warehouse.game_dates(range).await?;
    let tables = warehouse.table_counts(range).await?;
    Ok(Overview {
        range,
        dates,
        tables,
    })
}
