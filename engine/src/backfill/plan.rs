//! Planning a backfill: which cells it runs (date, then dependency order),
//! with their expected entities, and how they split into write batches.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use domain::report::{CellCounts, PlannedCell};
use domain::{DateRange, ProcessorId};
use warehouse::Warehouse;

use super::BackfillRequest;
use crate::EngineError;

/// The exact cells a request will run, in execution order (date, then DAG).
pub async fn plan(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
) -> Result<Vec<PlannedCell>, EngineError> {
    let pipeline = wh.pipeline();
    let (start, end) = request.bounds();
    let range = DateRange::new(start, end, i64::MAX)?;
    let dates = wh.game_dates(range).await?;
    let expected: BTreeMap<NaiveDate, i64> = dates
        .iter()
        .filter(|d| d.expected_players > 0 && request.includes(d.game_date))
        .map(|d| (d.game_date, d.expected_players))
        .collect();
    let mut cells: BTreeSet<(NaiveDate, usize)> = BTreeSet::new();
    if request.only_gaps {
        let counts = wh.cell_counts(range, &request.processors).await?;
        let mut ran: BTreeSet<(NaiveDate, ProcessorId)> = BTreeSet::new();
        for c in &counts {
            ran.insert((c.date, c.processor));
            let not_ok = c.status().is_gap();
            if not_ok && expected.contains_key(&c.date) {
                cells.insert((c.date, c.processor.order()));
            }
        }
        // A selected downstream re-runs wherever its upstream re-runs.
        let gap_list: Vec<(NaiveDate, usize)> = cells.iter().copied().collect();
        for (d, order) in gap_list {
            let p = pipeline.processors[order].id;
            for q in pipeline.downstream(p) {
                if request.processors.contains(&q) {
                    cells.insert((d, q.order()));
                }
            }
        }
    } else {
        for d in expected.keys() {
            for p in &request.processors {
                cells.insert((*d, p.order()));
            }
        }
    }
    Ok(cells
        .into_iter()
        .map(|(date, order)| PlannedCell {
            processor: pipeline.processors[order].id,
            date,
            expected: expected.get(&date).copied().unwrap_or(0),
        })
        .collect())
}

/// Current counts of exactly these cells (one set-based query over their span).
pub(super) async fn counts_of(
    wh: &dyn Warehouse,
    cells: &[(ProcessorId, NaiveDate)],
) -> Result<Vec<CellCounts>, EngineError> {
    let (Some(first), Some(last)) = (
        cells.iter().map(|c| c.1).min(),
        cells.iter().map(|c| c.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let mut processors: Vec<ProcessorId> = cells.iter().map(|c| c.0).collect();
    processors.sort_by_key(|p| p.order());
    processors.dedup();
    let wanted: BTreeSet<(ProcessorId, NaiveDate)> = cells.iter().copied().collect();
    let range = DateRange::new(first, last, i64::MAX)?;
    Ok(wh
        .cell_counts(range, &processors)
        .await?
        .into_iter()
        .filter(|c| wanted.contains(&(c.processor, c.date)))
        .collect())
}

pub(super) async fn plan_expected(
    wh: &dyn Warehouse,
    request: &BackfillRequest,
) -> Result<BTreeMap<NaiveDate, i64>, EngineError> {
    let (start, end) = request.bounds();
    let range = DateRange::new(start, end, i64::MAX)?;
    Ok(wh
        .game_dates(range)
        .await?
        .into_iter()
        .map(|d| (d.game_date, d.expected_players))
        .collect())
}

/// Consecutive cells of whole dates (dates are never split unless one date
/// alone exceeds the batch), at most `limit.max_cells` cells and about
/// `limit.max_rows` expected players.
pub(super) fn next_batch(cells: &[PlannedCell], limit: warehouse::WriteBatch) -> usize {
    let max_cells = limit.max_cells.max(1);
    let mut end = 0;
    let mut rows = 0usize;
    while end < cells.len() {
        let date = cells[end].date;
        let date_end = end + cells[end..].iter().take_while(|c| c.date == date).count();
        let date_rows: usize = cells[end..date_end]
            .iter()
            .map(|c| c.expected.max(0) as usize)
            .sum();
        let fits = date_end <= max_cells && rows.saturating_add(date_rows) <= limit.max_rows;
        if !fits {
            // The first date alone is too big: split it in DAG order.
            return if end == 0 {
                date_end.min(max_cells)
            } else {
                end
            };
        }
        rows += date_rows;
        end = date_end;
    }
    end
}
