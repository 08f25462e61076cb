//! Reconciliation: the accounting identity per (processor, date) for a range,
//! totals per processor, and the re-run commands that would close the gaps.

use chrono::NaiveDate;
use domain::report::{CellCounts, CellDetail, CellStatus, PlayerTrace, Reconciliation};
use domain::{DateRange, ProcessorId};
use serde::{Deserialize, Serialize};
use warehouse::{FailureFilter, PlayerFilter, Warehouse};

use crate::{EngineError, Limits};

/// Range and processor filter as typed by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    pub start: Option<String>,
    pub end: Option<String>,
    /// Comma-separated codes; empty or missing = all processors.
    pub processors: Option<String>,
}

pub fn parse_processors(raw: Option<&str>) -> Result<Vec<ProcessorId>, EngineError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(ProcessorId::all().collect()),
        Some(list) => Ok(ProcessorId::parse_list(list)?),
    }
}

pub async fn reconcile(
    wh: &dyn Warehouse,
    limits: Limits,
    request: &ReconcileRequest,
) -> Result<Reconciliation, EngineError> {
    let range = crate::parse_range(limits, request.start.as_deref(), request.end.as_deref())?;
    let processors = parse_processors(request.processors.as_deref())?;
    let cells = wh.cell_counts(range, &processors).await?;
    Ok(Reconciliation {
        range,
        processors,
        cells,
    })
}

/// What the coverage page draws: [`reconcile`] without the per-cell details
/// only a drill-down shows ([`domain::report::DrawnGrid`]).
pub async fn heatmap(
    wh: &dyn Warehouse,
    limits: Limits,
    request: &ReconcileRequest,
) -> Result<domain::report::DrawnGrid, EngineError> {
    Ok(reconcile(wh, limits, request).await?.into())
}

/// `PDC:2021-11-10` → the cell.
pub fn parse_cell(raw: &str) -> Result<(ProcessorId, NaiveDate), EngineError> {
    let key: domain::report::CellKey = raw.parse()?;
    Ok((key.processor, key.date))
}

/// A drill-down request as typed in a URL: every field is checked here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellQuery {
    /// `PDC:2021-11-10`
    pub cell: String,
    pub category: Option<String>,
    pub search: Option<String>,
    pub offset: Option<String>,
    pub unaccounted_offset: Option<String>,
}

/// Failure rows per drill-down page.
pub const DRILLDOWN_PAGE: i64 = 50;

pub async fn cell_detail(wh: &dyn Warehouse, query: &CellQuery) -> Result<CellDetail, EngineError> {
    let (processor, date) = parse_cell(&query.cell)?;
    let filter = FailureFilter {
        category: domain::params::text("cat", query.category.as_deref())?,
        search: domain::params::text("q", query.search.as_deref())?,
        offset: domain::params::offset("offset", query.offset.as_deref())?,
        limit: DRILLDOWN_PAGE,
    };
    let unaccounted_filter = PlayerFilter {
        search: filter.search.clone(),
        offset: domain::params::offset("uoff", query.unaccounted_offset.as_deref())?,
        limit: filter.limit,
    };
    let day = DateRange::new(date, date, 1)?;
    let counts = wh.cell_counts(day, &[processor]).await?.into_iter().next();
    let mut failures = wh.failure_rows(processor, date, filter).await?;
    let date_level = failures
        .items
        .iter()
        .position(|f| f.entity_id == domain::processors::DATE_LEVEL)
        .map(|i| failures.items.remove(i));
    let unaccounted = wh
        .unaccounted_players(processor, date, unaccounted_filter)
        .await?;
    let runs = wh.cell_runs(processor, date).await?;
    Ok(CellDetail {
        processor,
        date,
        status: counts
            .as_ref()
            .map(CellCounts::status)
            .unwrap_or(CellStatus::NoGames),
        counts,
        failures,
        date_level,
        unaccounted,
        runs,
    })
}

pub async fn player_trace(
    wh: &dyn Warehouse,
    player: &str,
    raw_date: &str,
) -> Result<Option<PlayerTrace>, EngineError> {
    let date = domain::dates::parse_date("date", raw_date.trim())?;
    let player = player.trim();
    if player.is_empty() || player.len() > 64 || !player.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Ok(None);
    }
    Ok(wh.player_trace(player, date).await?)
}

/// Every unaccounted (processor, date, player) of a range (the CSV export).
pub async fn unaccounted_list(
    wh: &dyn Warehouse,
    limits: Limits,
    request: &ReconcileRequest,
) -> Result<Vec<(ProcessorId, NaiveDate, String)>, EngineError> {
    let range = crate::parse_range(limits, request.start.as_deref(), request.end.as_deref())?;
    let processors = parse_processors(request.processors.as_deref())?;
    Ok(wh.unaccounted(range, &processors).await?)
}
