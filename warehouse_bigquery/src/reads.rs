//! The reads of typed tables (box scores, the builtins' outputs) that
//! downstream processors and the trace need; the shared reads run through
//! `QueryPort` (`warehouse::reads`). Every query is parameterised and
//! filters partitioned tables on their partition column.

use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::processors::{Upstream, UpstreamSet, DATE_LEVEL};
use domain::{Builtin, ProcessorId, Runner};
use serde_json::Value;
use warehouse::{Result, WarehouseError};

use crate::client::{self, param, Param};
use crate::schema::{self, TableDef};
use crate::BigQueryWarehouse;

pub(crate) async fn failures_of(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<std::collections::HashMap<String, String>> {
    let rows = wh
        .query_rows(
            &format!(
                "SELECT entity_id, COALESCE(failure_category, '') FROM {}
                 WHERE analysis_date = @date AND UPPER(processor_name) IN (UPPER(@code), UPPER(@name))
                   AND entity_id <> @date_level",
                wh.table_name(wh.tables.failures)
            ),
            vec![
                param("date", Param::Date(Some(date))),
                param("code", Param::Str(Some(wh.pipeline.code(p).into()))),
                param("name", Param::Str(Some(wh.pipeline.spec(p).name.clone()))),
                param("date_level", Param::Str(Some(DATE_LEVEL.into()))),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some((
                client::text(r.first()?)?,
                client::text(r.get(1)?).unwrap_or_default(),
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
        .query_rows(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.{} = @date",
                schema::select_list(t, "t"),
                wh.table_name(t),
                wh.pipeline.spec(p).date_column
            ),
            vec![param("date", Param::Date(Some(date)))],
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

pub(crate) async fn player_games(
    wh: &BigQueryWarehouse,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<PlayerGame>, Vec<ScheduledGame>)> {
    let params = || {
        vec![
            param("start", Param::Date(Some(from))),
            param("end", Param::Date(Some(to))),
        ]
    };
    let decode = |t: &TableDef, rows: Vec<Vec<Value>>| -> Result<Vec<Value>> {
        Ok(rows
            .iter()
            .map(|r| Value::Object(schema::row_object(t, r)))
            .collect())
    };
    let games = wh
        .query_rows(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.game_date BETWEEN @start AND @end
                 ORDER BY t.game_date, t.player_lookup, t.game_id",
                schema::select_list(&schema::PLAYER_GAMES, "t"),
                wh.table_name(&schema::PLAYER_GAMES)
            ),
            params(),
        )
        .await?;
    let schedule = wh
        .query_rows(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.game_date BETWEEN @start AND @end
                 ORDER BY t.game_date, t.game_id",
                schema::select_list(&schema::SCHEDULE, "t"),
                wh.table_name(&schema::SCHEDULE)
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
        match wh.pipeline.spec(*p).runner {
            Runner::Builtin(Builtin::Psza) => {
                up.psza = upstream_of(wh, *p, date, |r: &domain::processors::PszaRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Runner::Builtin(Builtin::Pdc) => {
                up.pdc = upstream_of(wh, *p, date, |r: &domain::processors::PdcRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Runner::Builtin(Builtin::Pcf) => {
                up.pcf = upstream_of(wh, *p, date, |r: &domain::processors::PcfRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            Runner::Builtin(Builtin::Mlfs) | Runner::Command(_) | Runner::Observe => {
                return Err(WarehouseError::Query(format!(
                    "{} is not a builtin that others read: its outputs are not read as upstream",
                    wh.pipeline.code(*p)
                )))
            }
        }
    }
    Ok(up)
}

/// The player's last ten box scores up to the date, within the trace window.
pub(crate) async fn recent_box_scores(
    wh: &BigQueryWarehouse,
    player: &str,
    date: NaiveDate,
) -> Result<Vec<PlayerGame>> {
    let (lo, _) = warehouse::sql::trace_window(date);
    let window = vec![
        param("player", Param::Str(Some(player.into()))),
        param("date", Param::Date(Some(date))),
        param("lo", Param::Date(Some(lo))),
    ];
    let pgs = wh.table_name(&schema::PLAYER_GAMES);
    let recent = wh
        .query_rows(
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
