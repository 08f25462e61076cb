//! Reads: the overview, upstream rows, the outcomes downstream processors
//! read, reconciliation and drill-downs. Every query is parameterised and
//! filters partitioned tables on their partition column.

use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::processors::{Upstream, UpstreamSet, DATE_LEVEL};
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo};
use domain::{Builtin, DateRange, ProcessorId};
use serde_json::Value;
use warehouse::accounting::Accounting;
use warehouse::sql;
use warehouse::{
    CellCounts, FailureFilter, GameDateSummary, PlayerFilter, Result, TableCount, WarehouseError,
};

use crate::client::{self, param, P};
use crate::schema::{self, TableDef};
use crate::BigQueryWarehouse;

pub(crate) async fn failures_of(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<std::collections::HashMap<String, String>> {
    let rows = wh
        .q(
            &format!(
                "SELECT entity_id, COALESCE(failure_category, '') FROM {}
                 WHERE analysis_date = @date AND UPPER(processor_name) IN (UPPER(@code), UPPER(@name))
                   AND entity_id <> @date_level",
                wh.t(wh.tables.failures)
            ),
            vec![
                param("date", P::Date(Some(date))),
                param("code", P::Str(Some(wh.pipeline.code(p).into()))),
                param("name", P::Str(Some(wh.pipeline.spec(p).name.clone()))),
                param("date_level", P::Str(Some(DATE_LEVEL.into()))),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                client::s(r.first()?)?,
                client::s(r.get(1)?).unwrap_or_default(),
            ))
        })
        .collect())
}

pub(crate) async fn records_of<T: serde::de::DeserializeOwned>(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<Vec<T>> {
    let t = wh.tables.output(&wh.pipeline, p)?;
    let rows = wh
        .q(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.{} = @date",
                schema::select_list(t, "t"),
                wh.t(t),
                wh.pipeline.spec(p).date_column
            ),
            vec![param("date", P::Date(Some(date)))],
        )
        .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_value(Value::Object(schema::row_object(t, r)))
                .map_err(|e| WarehouseError::Query(format!("unreadable {} row: {e}", t.name)))
        })
        .collect()
}

/// One upstream processor's records and player failures on `date`.
pub(crate) async fn upstream_of<T: serde::de::DeserializeOwned>(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
    key: impl Fn(&T) -> String,
) -> Result<Upstream<T>> {
    Ok(Upstream {
        records: records_of::<T>(wh, p, date)
            .await?
            .into_iter()
            .map(|r| (key(&r), r))
            .collect(),
        failures: failures_of(wh, p, date).await?,
    })
}

pub(crate) async fn game_dates(
    wh: &BigQueryWarehouse,
    range: DateRange,
) -> Result<Vec<GameDateSummary>> {
    wh.rows(&sql::game_dates(&wh.dialect, range), sql::game_date_row)
        .await
}

pub(crate) async fn table_counts(
    wh: &BigQueryWarehouse,
    range: DateRange,
) -> Result<Vec<TableCount>> {
    let rows = wh
        .rows(&sql::table_counts(&wh.dialect, range), sql::table_count_row)
        .await?;
    Ok(sql::table_counts_of(&wh.pipeline, &rows))
}

pub(crate) async fn expected_entities(
    wh: &BigQueryWarehouse,
    range: DateRange,
) -> Result<Vec<(NaiveDate, String)>> {
    wh.rows(
        &sql::expected_entities(&wh.dialect, range),
        sql::expected_entity_row,
    )
    .await
}

pub(crate) async fn player_games(
    wh: &BigQueryWarehouse,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<PlayerGame>, Vec<ScheduledGame>)> {
    let params = || {
        vec![
            param("start", P::Date(Some(from))),
            param("end", P::Date(Some(to))),
        ]
    };
    let decode = |t: &TableDef, rows: Vec<Vec<Value>>| -> Result<Vec<Value>> {
        Ok(rows
            .iter()
            .map(|r| Value::Object(schema::row_object(t, r)))
            .collect())
    };
    let games = wh
        .q(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.game_date BETWEEN @start AND @end
                 ORDER BY t.game_date, t.player_lookup, t.game_id",
                schema::select_list(&schema::PLAYER_GAMES, "t"),
                wh.t(&schema::PLAYER_GAMES)
            ),
            params(),
        )
        .await?;
    let schedule = wh
        .q(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.game_date BETWEEN @start AND @end
                 ORDER BY t.game_date, t.game_id",
                schema::select_list(&schema::SCHEDULE, "t"),
                wh.t(&schema::SCHEDULE)
            ),
            params(),
        )
        .await?;
    let bad = |e: serde_json::Error| WarehouseError::Query(format!("unreadable upstream row: {e}"));
    let games = decode(&schema::PLAYER_GAMES, games)?
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(bad))
        .collect::<Result<Vec<PlayerGame>>>()?;
    let schedule = decode(&schema::SCHEDULE, schedule)?
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(bad))
        .collect::<Result<Vec<ScheduledGame>>>()?;
    Ok((games, schedule))
}

pub(crate) async fn upstream_outcomes(
    wh: &BigQueryWarehouse,
    date: NaiveDate,
    processors: &[ProcessorId],
) -> Result<UpstreamSet> {
    let mut up = UpstreamSet::default();
    for p in processors {
        match wh.pipeline.spec(*p).builtin {
            Some(Builtin::Psza) => {
                up.psza = upstream_of(wh, *p, date, |r: &domain::processors::PszaRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Some(Builtin::Pdc) => {
                up.pdc = upstream_of(wh, *p, date, |r: &domain::processors::PdcRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Some(Builtin::Pcf) => {
                up.pcf = upstream_of(wh, *p, date, |r: &domain::processors::PcfRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Some(Builtin::Mlfs) | None => {
                return Err(WarehouseError::Query(format!(
                    "{} is not a builtin that others read: its outputs are not read as upstream",
                    wh.pipeline.code(*p)
                )))
            }
        }
    }
    Ok(up)
}

pub(crate) async fn cell_counts(
    wh: &BigQueryWarehouse,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let mut accounting = Accounting::new(&wh.pipeline);
    for row in wh
        .rows(&sql::reconcile(&wh.dialect, range), sql::accounting_row)
        .await?
    {
        accounting.push(row)?;
    }
    Ok(accounting.cells(processors))
}

pub(crate) async fn unaccounted(
    wh: &BigQueryWarehouse,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let q = sql::unaccounted(&wh.dialect, range, processors, None, None);
    let rows = wh
        .rows(&q, |r| sql::unaccounted_row(&wh.pipeline, r))
        .await?;
    Ok(rows.into_iter().map(|(row, _)| row).collect())
}

pub(crate) async fn unaccounted_players(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
    filter: PlayerFilter,
) -> Result<Page<String>> {
    let day = DateRange::new(date, date, 1).map_err(|e| WarehouseError::Query(e.to_string()))?;
    let paging = filter.paging();
    let q = sql::unaccounted(
        &wh.dialect,
        day,
        &[p],
        filter.search.as_deref(),
        Some(paging),
    );
    wh.page(
        &q,
        |r| sql::unaccounted_row(&wh.pipeline, r),
        |(_, _, player)| player,
    )
    .await
}

pub(crate) async fn failure_rows(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
    filter: FailureFilter,
) -> Result<Page<FailureRow>> {
    let q = sql::failure_rows(&wh.dialect, p, date, &filter);
    wh.page(&q, sql::failure_row, |row| row).await
}

pub(crate) async fn cell_runs(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<Vec<RunInfo>> {
    wh.rows(&sql::cell_runs(&wh.dialect, p, date), sql::run_row)
        .await
}

pub(crate) async fn player_trace(
    wh: &BigQueryWarehouse,
    player: &str,
    date: NaiveDate,
) -> Result<Option<PlayerTrace>> {
    let d = &wh.dialect;
    let known = wh
        .rows(&sql::player_known(d, player, date), |r| {
            Ok((r.int(0)?.unwrap_or(0), r.int(1)?.unwrap_or(0) > 0))
        })
        .await?;
    let Some(&(_, expected)) = known.first().filter(|(games, _)| *games > 0) else {
        return Ok(None);
    };
    let records = wh
        .rows(&sql::player_records(d, player, date), sql::record_bit)
        .await?;
    let failures = wh
        .rows(
            &sql::player_failures(d, player, date),
            sql::trace_failure_row,
        )
        .await?;
    // Box scores are the NBA universe's; another universe has none.
    let recent_games = if wh.pipeline.universe.is_nba() {
        recent_box_scores(wh, player, date).await?
    } else {
        Vec::new()
    };
    Ok(Some(sql::player_trace(
        &wh.pipeline,
        player,
        date,
        expected,
        &records,
        &failures,
        recent_games,
    )))
}

/// The player's last ten box scores up to the date, within the trace window.
async fn recent_box_scores(
    wh: &BigQueryWarehouse,
    player: &str,
    date: NaiveDate,
) -> Result<Vec<PlayerGame>> {
    let (lo, _) = sql::trace_window(date);
    let window = vec![
        param("player", P::Str(Some(player.into()))),
        param("date", P::Date(Some(date))),
        param("lo", P::Date(Some(lo))),
    ];
    let pgs = wh.t(&schema::PLAYER_GAMES);
    let recent = wh
        .q(
            &format!(
                "SELECT {} FROM {pgs} AS t WHERE t.player_lookup = @player AND t.game_date BETWEEN @lo AND @date
                 ORDER BY t.game_date DESC, t.game_id DESC LIMIT 10",
                schema::select_list(&schema::PLAYER_GAMES, "t")
            ),
            window,
        )
        .await?;
    recent
        .iter()
        .map(|r| {
            serde_json::from_value(Value::Object(schema::row_object(&schema::PLAYER_GAMES, r)))
                .map_err(|e| WarehouseError::Query(format!("unreadable box score: {e}")))
        })
        .collect()
}
