//! The reads every store shares, written once over [`QueryPort`]: the
//! SQL comes from [`crate::sql`] in the store's dialect, the store only runs
//! it. [`crate::Warehouse`]'s read methods default to these.

use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::processors::{Upstream, UpstreamSet};
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo};
use domain::{Builtin, DateRange, ProcessorId, Runner};

use std::sync::{Arc, Mutex};

use crate::accounting::Accounting;
use crate::rows::{RowSink, SqlRow};
use crate::sql::{self, Dialect, Query};
use crate::{
    CellCounts, FailureFilter, GameDateSummary, PlayerFilter, Result, ResultSet, TableCount,
    WarehouseError,
};

/// What the shared reads need of a store: its dialect, and running a query.
#[async_trait::async_trait]
pub trait QueryPort: Send + Sync {
    /// The SQL flavour and the pipeline the store was opened with.
    fn dialect(&self) -> &Dialect;

    /// Every row of `q` (parameters bound by name or position, as the
    /// dialect wrote them).
    async fn fetch(&self, q: &Query) -> Result<ResultSet>;

    /// Every row of `q` handed to `sink` in turn. A store that reads rows
    /// itself decodes them there, with no cells in between (the
    /// reconciliation returns thousands); the default goes through `fetch`.
    async fn fetch_each(&self, q: &Query, mut sink: RowSink) -> Result<()> {
        self.fetch(q).await?.decode(|r| sink(r)).map(|_| ())
    }
}

async fn rows<P, T>(
    port: &P,
    q: &Query,
    decode: impl FnMut(&mut dyn SqlRow) -> Result<T>,
) -> Result<Vec<T>>
where
    P: QueryPort + ?Sized,
{
    port.fetch(q).await?.decode(decode)
}

/// Every row of `q` through the store's row sink: a store that reads rows
/// itself decodes them there, with no cells in between (the reads of a
/// season hand back tens of thousands).
async fn each_row<P, T>(
    port: &P,
    q: &Query,
    decode: fn(&mut dyn SqlRow) -> Result<T>,
) -> Result<Vec<T>>
where
    P: QueryPort + ?Sized,
    T: Send + 'static,
{
    let read = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&read);
    let sink: RowSink = Box::new(move |r| {
        let row = decode(r)?;
        into.lock().map_err(|_| poisoned())?.push(row);
        Ok(())
    });
    port.fetch_each(q, sink).await?;
    let read = std::mem::take(&mut *read.lock().map_err(|_| poisoned())?);
    Ok(read)
}

/// One page of a paged query (`sql::page_of`), asking once more for the
/// total only when the page is past the end.
async fn page<P, R, T>(
    port: &P,
    q: &Query,
    mut decode: impl FnMut(&mut dyn SqlRow) -> Result<(R, i64)>,
    item: impl FnMut(R) -> T,
) -> Result<Page<T>>
where
    P: QueryPort + ?Sized,
{
    let found = rows(port, q, &mut decode).await?;
    match sql::page_of(q, found, item) {
        Ok(page) => Ok(page),
        Err(first_row) => Ok(sql::past_the_end(q, &rows(port, &first_row, decode).await?)),
    }
}

fn poisoned() -> WarehouseError {
    WarehouseError::Query("a reader panicked while collecting rows".into())
}

pub async fn game_dates<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
) -> Result<Vec<GameDateSummary>> {
    let q = sql::game_dates(port.dialect(), range);
    rows(port, &q, sql::game_date_row).await
}

/// One statement for all tables: a bounded number of queries per request.
pub async fn table_counts<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
) -> Result<Vec<TableCount>> {
    let q = sql::table_counts(port.dialect(), range);
    let counted = rows(port, &q, sql::table_count_row).await?;
    Ok(sql::table_counts_of(port.dialect().pipeline(), &counted))
}

pub async fn expected_entities<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
) -> Result<Vec<(NaiveDate, String)>> {
    let q = sql::expected_entities(port.dialect(), range);
    rows(port, &q, sql::expected_entity_row).await
}

/// Runs the pipeline's `expected` condition over the universe table: an
/// error is the store's own message about it.
pub async fn check_expected<P: QueryPort + ?Sized>(port: &P) -> Result<()> {
    let q = sql::expected_probe(port.dialect());
    rows(port, &q, |r| r.int("n")).await.map(|_| ())
}

/// [`crate::Warehouse::check_read_tables`]: the mapped tables as the reads
/// take them, at once; on an error, each mapped column alone, to name it.
pub async fn check_read_tables<P: QueryPort + ?Sized>(port: &P) -> Result<()> {
    let d = port.dialect();
    let p = d.pipeline();
    if p.read.failures.is_none() && p.read.runs.is_none() {
        return Ok(());
    }
    let Err(whole) = rows(port, &sql::read_tables_probe(d), |r| r.int("n")).await else {
        return Ok(());
    };
    // A store that cannot answer at all is not a mapping's fault.
    rows(port, &sql::one_probe(d), |r| r.int("n")).await?;
    let mut tables: Vec<(&'static str, &str)> = Vec::new();
    for m in p.mapped_columns() {
        if !tables.contains(&(m.section, m.table)) {
            tables.push((m.section, m.table));
            let table = domain::pipeline::MappedColumn {
                key: "table",
                column: "1",
                ..m.clone()
            };
            if let Err(e) = rows(port, &sql::mapped_column_probe(d, &table), |r| r.int("n")).await {
                return Err(WarehouseError::Mapped {
                    section: m.section,
                    key: "table",
                    message: format!("{} cannot be read: {}", m.table, first_line(&e.to_string())),
                });
            }
        }
        let q = sql::mapped_column_probe(d, &m);
        if let Err(e) = rows(port, &q, |r| r.int("n")).await {
            return Err(WarehouseError::Mapped {
                section: m.section,
                key: m.key,
                message: format!(
                    "{}.{} cannot be read: {}",
                    m.table,
                    m.column,
                    first_line(&e.to_string())
                ),
            });
        }
    }
    for (section, filter) in sql::read_filters(p) {
        let q = sql::read_filter_probe(d, section);
        if let Err(e) = rows(port, &q, |r| r.int("n")).await {
            return Err(WarehouseError::Mapped {
                section,
                key: "filter",
                message: format!("{filter:?} fails: {}", first_line(&e.to_string())),
            });
        }
    }
    // Every column reads alone, so the mapping's types do not fit (a
    // `succeeded` that is not a boolean, a date that is not one).
    Err(WarehouseError::Mapped {
        section: if p.read.failures.is_some() {
            "read.failures"
        } else {
            "read.runs"
        },
        key: "table",
        message: format!(
            "its columns do not read as mapped: {}",
            first_line(&whole.to_string())
        ),
    })
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

pub async fn cell_counts<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let d = port.dialect();
    cells_of(port, &sql::reconcile(d, range), processors).await
}

/// [`cell_counts`] by the reconciliation before acknowledgements (issue
/// [N]): what the benchmark runs beside it.
pub async fn cell_counts_before_acknowledgements<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    let d = port.dialect();
    let q = sql::reconcile_without_acknowledgements(d, range);
    cells_of(port, &q, processors).await
}

async fn cells_of<P: QueryPort + ?Sized>(
    port: &P,
    q: &Query,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    let read = each_row(port, q, sql::accounting_row).await?;
    let mut accounting = Accounting::new(port.dialect().pipeline());
    for row in read {
        accounting.push(row)?;
    }
    Ok(accounting.cells(processors))
}

/// Expected entities with neither a record nor a failure (entity- or
/// date-level), for every selected cell of the range, in one query.
pub async fn unaccounted<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let d = port.dialect();
    let q = sql::unaccounted(d, range, processors, None, None);
    let found = rows(port, &q, |r| sql::unaccounted_row(d.pipeline(), r)).await?;
    Ok(found.into_iter().map(|(row, _)| row).collect())
}

/// One cell's unaccounted entities matching the filter's search, paged.
pub async fn unaccounted_players<P: QueryPort + ?Sized>(
    port: &P,
    processor: ProcessorId,
    date: NaiveDate,
    filter: &PlayerFilter,
) -> Result<Page<String>> {
    let d = port.dialect();
    let day = DateRange::new(date, date, 1).map_err(|e| WarehouseError::Query(e.to_string()))?;
    let q = sql::unaccounted(
        d,
        day,
        &[processor],
        filter.search.as_deref(),
        Some(filter.paging()),
    );
    page(
        port,
        &q,
        |r| sql::unaccounted_row(d.pipeline(), r),
        |(_, _, entity)| entity,
    )
    .await
}

pub async fn failure_rows<P: QueryPort + ?Sized>(
    port: &P,
    processor: ProcessorId,
    date: NaiveDate,
    filter: &FailureFilter,
) -> Result<Page<FailureRow>> {
    let q = sql::failure_rows(port.dialect(), processor, date, filter);
    page(port, &q, sql::failure_row, |row| row).await
}

/// Per cell of the range with any failure rows: its entity rows (the first
/// `cap`, with their total) and its date-level row.
pub async fn failure_rows_in_range<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
    processors: &[ProcessorId],
    cap: i64,
) -> Result<Vec<(ProcessorId, NaiveDate, Page<FailureRow>, Option<FailureRow>)>> {
    let d = port.dialect();
    let q = sql::failure_rows_in_range(d, range, processors, cap);
    let rows = rows(port, &q, |r| sql::failure_in_range_row(d.pipeline(), r)).await?;
    let mut out: Vec<(ProcessorId, NaiveDate, Page<FailureRow>, Option<FailureRow>)> = Vec::new();
    for ((p, date, date_level), row, total) in rows {
        if !out.last().is_some_and(|c| c.0 == p && c.1 == date) {
            let empty = Page {
                items: Vec::new(),
                total: 0,
                offset: 0,
                limit: cap,
            };
            out.push((p, date, empty, None));
        }
        if let Some(cell) = out.last_mut() {
            if date_level {
                cell.3 = Some(row);
            } else {
                cell.2.total = total;
                cell.2.items.push(row);
            }
        }
    }
    Ok(out)
}

pub async fn cell_runs<P: QueryPort + ?Sized>(
    port: &P,
    processor: ProcessorId,
    date: NaiveDate,
) -> Result<Vec<RunInfo>> {
    let q = sql::cell_runs(port.dialect(), processor, date);
    rows(port, &q, sql::run_row).await
}

/// One entity on one date across every processor, `None` if the universe
/// has no row of it; without box scores (the caller adds them).
pub async fn player_trace<P: QueryPort + ?Sized>(
    port: &P,
    player: &str,
    date: NaiveDate,
) -> Result<Option<PlayerTrace>> {
    let d = port.dialect();
    let known = rows(port, &sql::player_known(d, player, date), |r| {
        Ok((
            r.int("games")?.unwrap_or(0),
            r.int("expected")?.unwrap_or(0) > 0,
        ))
    })
    .await?;
    let Some(&(_, expected)) = known.first().filter(|(games, _)| *games > 0) else {
        return Ok(None);
    };
    let records = rows(port, &sql::player_records(d, player, date), sql::record_bit).await?;
    let failures = rows(
        port,
        &sql::player_failures(d, player, date),
        sql::trace_failure_row,
    )
    .await?;
    Ok(Some(sql::player_trace(
        d.pipeline(),
        player,
        date,
        expected,
        &records,
        &failures,
        Vec::new(),
    )))
}

/// Box scores and scheduled games with their date in `from..=to`.
pub async fn player_games<P: QueryPort + ?Sized>(
    port: &P,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<PlayerGame>, Vec<ScheduledGame>)> {
    let d = port.dialect();
    let games = each_row(port, &sql::box_scores(d, from, to), sql::box_score_row).await?;
    let schedule = each_row(port, &sql::schedule(d, from, to), sql::schedule_row).await?;
    Ok((games, schedule))
}

/// The player's last ten box scores up to the date.
pub async fn recent_box_scores<P: QueryPort + ?Sized>(
    port: &P,
    player: &str,
    date: NaiveDate,
) -> Result<Vec<PlayerGame>> {
    let q = sql::recent_box_scores(port.dialect(), player, date);
    each_row(port, &q, sql::box_score_row).await
}

/// What the builtins among `processors` left for the date: records and
/// player-level failures, as the downstream builtins read them.
pub async fn upstream_outcomes<P: QueryPort + ?Sized>(
    port: &P,
    date: NaiveDate,
    processors: &[ProcessorId],
) -> Result<UpstreamSet> {
    let pipeline = port.dialect().pipeline();
    let mut up = UpstreamSet::default();
    for &p in processors {
        match pipeline.spec(p).runner {
            Runner::Builtin(Builtin::Psza) => {
                up.psza = upstream_of(port, p, date, sql::PSZA_COLUMNS, sql::psza_row, |r| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Runner::Builtin(Builtin::Pdc) => {
                up.pdc = upstream_of(port, p, date, sql::PDC_COLUMNS, sql::pdc_row, |r| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Runner::Builtin(Builtin::Pcf) => {
                up.pcf = upstream_of(port, p, date, sql::PCF_COLUMNS, sql::pcf_row, |r| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Runner::Builtin(Builtin::Mlfs)
            | Runner::Command(_)
            | Runner::Observe
            | Runner::Rerun(_) => {
                return Err(WarehouseError::Query(format!(
                    "{} is not a builtin that others read: its outputs are not read as upstream",
                    pipeline.code(p)
                )))
            }
        }
    }
    Ok(up)
}

/// One builtin's records and player failures on the date.
async fn upstream_of<P, T>(
    port: &P,
    p: ProcessorId,
    date: NaiveDate,
    columns: &str,
    decode: fn(&mut dyn SqlRow) -> Result<T>,
    key: fn(&T) -> String,
) -> Result<Upstream<T>>
where
    P: QueryPort + ?Sized,
    T: Send + 'static,
{
    let d = port.dialect();
    let records = each_row(port, &sql::builtin_records(d, p, date, columns), decode).await?;
    let failures = each_row(
        port,
        &sql::player_failure_categories(d, p, date),
        sql::failure_category_row,
    )
    .await?;
    Ok(Upstream {
        records: records.into_iter().map(|r| (key(&r), r)).collect(),
        failures: failures.into_iter().collect(),
    })
}

pub async fn open_entities<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
    processors: &[ProcessorId],
    at: chrono::NaiveDateTime,
) -> Result<Vec<sql::OpenEntityRow>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let q = sql::open_entities(port.dialect(), range, processors, at);
    each_row(port, &q, sql::open_entity_row).await
}

pub async fn latest_evaluation<P: QueryPort + ?Sized>(
    port: &P,
) -> Result<Option<crate::EvaluationRecord>> {
    let q = sql::latest_evaluation(port.dialect());
    Ok(rows(port, &q, sql::evaluation_row)
        .await?
        .into_iter()
        .next())
}

/// The cells of the range as [`cell_counts`] reads them, and who is open
/// in each as a fingerprinted set, from the same statement.
pub async fn watched_cell_counts<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
    processors: &[ProcessorId],
    at: chrono::NaiveDateTime,
) -> Result<(Vec<CellCounts>, OpenSets)> {
    if processors.is_empty() {
        return Ok(Default::default());
    }
    let d = port.dialect();
    let read = each_row(
        port,
        &sql::reconcile_fingerprinted(d, range, at),
        sql::accounting_row,
    )
    .await?;
    let mut accounting = Accounting::new(d.pipeline());
    for row in read {
        accounting.push(row)?;
    }
    Ok((
        accounting.cells(processors),
        accounting.open_sets(processors),
    ))
}

/// Who is open per (processor, date), as fingerprinted sets.
pub type OpenSets = std::collections::HashMap<(ProcessorId, NaiveDate), domain::watch::OpenSet>;

pub async fn entity_lists<P: QueryPort + ?Sized>(
    port: &P,
    keys: &[String],
) -> Result<Vec<(String, Vec<String>)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    rows(
        port,
        &sql::entity_lists(port.dialect(), keys),
        sql::entity_list_row,
    )
    .await
}

pub async fn evaluation_cells<P: QueryPort + ?Sized>(
    port: &P,
    id: &str,
    named: bool,
) -> Result<Vec<domain::watch::WatchedCell>> {
    let d = port.dialect();
    let q = sql::evaluation_cells(d, id, named);
    let read = rows(port, &q, |r| sql::watched_cell_row(d, r)).await?;
    Ok(read.into_iter().map(|(_, c)| c).collect())
}

pub async fn evaluations_since<P: QueryPort + ?Sized>(
    port: &P,
    since: chrono::NaiveDateTime,
    limit: usize,
) -> Result<Vec<crate::EvaluationRecord>> {
    let q = sql::evaluations_since(port.dialect(), since, limit);
    rows(port, &q, sql::evaluation_row).await
}

pub async fn news_since<P: QueryPort + ?Sized>(
    port: &P,
    since: chrono::NaiveDateTime,
    limit: usize,
) -> Result<Vec<(String, domain::watch::WatchedCell)>> {
    let d = port.dialect();
    let q = sql::news_since(d, since, limit);
    rows(port, &q, |r| sql::watched_cell_row(d, r)).await
}

pub async fn deliveries<P: QueryPort + ?Sized>(
    port: &P,
    limit: usize,
) -> Result<Vec<crate::DeliveryRecord>> {
    let q = sql::deliveries(port.dialect(), limit);
    rows(port, &q, sql::delivery_row).await
}

pub async fn acknowledgements<P: QueryPort + ?Sized>(
    port: &P,
    scope: sql::AckScope,
    cell: Option<(ProcessorId, NaiveDate)>,
    limit: usize,
) -> Result<Vec<domain::ack::Acknowledgement>> {
    let d = port.dialect();
    let q = sql::acknowledgements(d, scope, cell, limit);
    rows(port, &q, |r| sql::acknowledgement_row(d, r)).await
}

pub async fn acknowledgement<P: QueryPort + ?Sized>(
    port: &P,
    id: &str,
) -> Result<Option<domain::ack::Acknowledgement>> {
    let d = port.dialect();
    let q = sql::acknowledgement(d, id);
    Ok(rows(port, &q, |r| sql::acknowledgement_row(d, r))
        .await?
        .into_iter()
        .next())
}

pub async fn changed_acknowledgements<P: QueryPort + ?Sized>(
    port: &P,
    range: DateRange,
) -> Result<Vec<String>> {
    let q = sql::changed_acknowledgements(port.dialect(), range);
    rows(port, &q, |r| r.required_text("id")).await
}

pub async fn snapshots<P: QueryPort + ?Sized>(
    port: &P,
    limit: usize,
) -> Result<Vec<domain::report::SnapshotMeta>> {
    let q = sql::snapshots(port.dialect(), limit);
    rows(port, &q, sql::snapshot_meta_row).await
}

pub async fn snapshot<P: QueryPort + ?Sized>(
    port: &P,
    id: &str,
) -> Result<Option<(domain::report::SnapshotMeta, String)>> {
    let q = sql::snapshot(port.dialect(), id);
    Ok(rows(port, &q, |r| {
        let meta = sql::snapshot_meta_row(r)?;
        Ok((meta, r.text("body")?.unwrap_or_default()))
    })
    .await?
    .into_iter()
    .next())
}
