//! Reconciliation: the accounting identity per (processor, date) for a range,
//! totals per processor, and the re-run commands that would close the gaps.

use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use domain::report::{CellCounts, CellDetail, CellStatus, PlayerTrace, Reconciliation};
use domain::{DateRange, ProcessorId};
use serde::{Deserialize, Serialize};
use warehouse::{FailureFilter, FailureScope, PlayerFilter, Warehouse};

use crate::{EngineError, Limits};

/// Range and processor filter as typed by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    pub start: Option<String>,
    pub end: Option<String>,
    /// Comma-separated codes; empty or missing = all processors.
    pub processors: Option<String>,
}

pub fn parse_processors(
    pipeline: &Pipeline,
    raw: Option<&str>,
) -> Result<Vec<ProcessorId>, EngineError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(pipeline.ids().collect()),
        Some(list) => Ok(pipeline.processor_list(list)?),
    }
}

impl ReconcileRequest {
    /// The range and the processors, checked against `pipeline` and `limits`.
    pub fn parse(
        &self,
        pipeline: &Pipeline,
        limits: Limits,
    ) -> Result<(DateRange, Vec<ProcessorId>), EngineError> {
        let range =
            crate::parse_range(pipeline, limits, self.start.as_deref(), self.end.as_deref())?;
        Ok((
            range,
            parse_processors(pipeline, self.processors.as_deref())?,
        ))
    }
}

pub async fn reconcile(
    wh: &dyn Warehouse,
    limits: Limits,
    request: &ReconcileRequest,
) -> Result<Reconciliation, EngineError> {
    let (range, processors) = request.parse(wh.pipeline(), limits)?;
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
    let rec = reconcile(wh, limits, request).await?;
    let late = crate::watch::late_cells(wh.pipeline(), &rec.cells, chrono::Utc::now().naive_utc());
    Ok(domain::report::DrawnGrid::from(rec).with_late(late))
}

/// `PDC:2021-11-10` → the cell.
pub fn parse_cell(pipeline: &Pipeline, raw: &str) -> Result<(ProcessorId, NaiveDate), EngineError> {
    let key = domain::report::CellKey::parse(pipeline, raw)?;
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
    let (processor, date) = parse_cell(wh.pipeline(), &query.cell)?;
    let filter = FailureFilter {
        category: domain::params::text("cat", query.category.as_deref())?,
        search: domain::params::text("q", query.search.as_deref())?,
        offset: domain::params::offset("offset", query.offset.as_deref())?,
        limit: DRILLDOWN_PAGE,
        scope: FailureScope::Entity,
    };
    let unaccounted_filter = PlayerFilter {
        search: filter.search.clone(),
        offset: domain::params::offset("uoff", query.unaccounted_offset.as_deref())?,
        limit: filter.limit,
    };
    let day = DateRange::new(date, date, 1)?;
    let counts = wh.cell_counts(day, &[processor]).await?.into_iter().next();
    let failures = wh.failure_rows(processor, date, filter).await?;
    // On its own: whatever the search, category or page, the banner shows.
    let date_level_only = FailureFilter {
        limit: 1,
        scope: FailureScope::DateLevel,
        ..FailureFilter::default()
    };
    let date_level = wh
        .failure_rows(processor, date, date_level_only)
        .await?
        .items
        .into_iter()
        .next();
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
    // Any pipeline's entity ids (`N123-AB`, `C0004`, `lebronjames`): a
    // bound parameter, so only emptiness, length and control characters matter.
    let player = player.trim();
    if player.is_empty() || player.len() > 256 || player.chars().any(char::is_control) {
        return Ok(None);
    }
    let Some(mut trace) = wh.player_trace(player, date).await? else {
        return Ok(None);
    };
    // Each link says when its processor's latest run of the date failed
    // (the cell's reconciliation carries the run and its error).
    let processors: Vec<ProcessorId> = trace.links.iter().map(|l| l.processor).collect();
    let cells = wh
        .cell_counts(DateRange::new(date, date, 1)?, &processors)
        .await?;
    for link in &mut trace.links {
        link.failed_run = cells
            .iter()
            .find(|c| c.processor == link.processor)
            .and_then(|c| c.failed_run().cloned());
    }
    trace.explained = Some(trace.explain(wh.pipeline()));
    Ok(Some(trace))
}

/// Every unaccounted (processor, date, player) of a range (the CSV export).
pub async fn unaccounted_list(
    wh: &dyn Warehouse,
    limits: Limits,
    request: &ReconcileRequest,
) -> Result<Vec<(ProcessorId, NaiveDate, String)>, EngineError> {
    let (range, processors) = request.parse(wh.pipeline(), limits)?;
    Ok(wh.unaccounted(range, &processors).await?)
}
