//! Reads: the overview, upstream rows, the outcomes downstream processors
//! read, reconciliation and drill-downs. Every query is parameterised and
//! filters partitioned tables on their partition column.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::processors::{Upstream, UpstreamSet, DATE_LEVEL};
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo, TraceLink, TraceState};
use domain::{DateRange, ProcessorId, PROCESSORS};
use serde_json::Value;
use warehouse::{CellCounts, FailureFilter, GameDateSummary, Result, TableCount, WarehouseError};

use crate::client::{self, param, rows_param, P};
use crate::schema::{self, TableDef};
use crate::{reconcile, BigQueryWarehouse};

pub(crate) fn range_params(
    range: DateRange,
) -> Vec<gcp_bigquery_client::model::query_parameter::QueryParameter> {
    vec![
        param("start", P::Date(Some(range.start()))),
        param("end", P::Date(Some(range.end()))),
    ]
}

/// The tables counted on the overview, in the embedded store's order and names.
const COUNTED: [&TableDef; 8] = [
    &schema::SCHEDULE,
    &schema::PLAYER_GAMES,
    &schema::PSZA,
    &schema::PDC,
    &schema::PCF,
    &schema::MLFS,
    &schema::FAILURES,
    &schema::RUNS,
];

pub(crate) fn procs_param() -> gcp_bigquery_client::model::query_parameter::QueryParameter {
    let rows = domain::processor::name_spellings()
        .map(|(raw, code, bit)| {
            vec![
                P::Str(Some(raw)),
                P::Str(Some(code.into())),
                P::Int(Some(i64::from(bit))),
            ]
        })
        .collect();
    rows_param(
        "procs",
        &["raw", "code", "bit"],
        &[P::Str(None), P::Str(None), P::Int(None)],
        rows,
    )
}

pub(crate) fn cats_param() -> gcp_bigquery_client::model::query_parameter::QueryParameter {
    let rows = domain::failure::spellings()
        .map(|(raw, code, expected)| {
            vec![
                P::Str(Some(raw.into())),
                P::Str(Some(code.into())),
                P::Bool(Some(expected)),
            ]
        })
        .collect();
    rows_param(
        "cats",
        &["raw", "code", "expected"],
        &[P::Str(None), P::Str(None), P::Bool(None)],
        rows,
    )
}

pub(crate) fn sel_param(
    processors: &[ProcessorId],
) -> gcp_bigquery_client::model::query_parameter::QueryParameter {
    let rows = processors
        .iter()
        .map(|p| {
            let deps: i64 = p.spec().depends_on.iter().map(|d| 1i64 << d.order()).sum();
            vec![
                P::Str(Some(p.code().into())),
                P::Int(Some(1i64 << p.order())),
                P::Int(Some(deps)),
            ]
        })
        .collect();
    rows_param(
        "sel",
        &["code", "bit", "deps"],
        &[P::Str(None), P::Int(None), P::Int(None)],
        rows,
    )
}

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
                wh.t(&schema::FAILURES)
            ),
            vec![
                param("date", P::Date(Some(date))),
                param("code", P::Str(Some(p.code().into()))),
                param("name", P::Str(Some(p.name().into()))),
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
    let t = schema::output_table(p);
    let rows = wh
        .q(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.{} = @date",
                schema::select_list(t, "t"),
                wh.t(t),
                p.spec().date_column
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
    let rows = wh
        .q(
            &format!(
                "SELECT game_date, COUNT(DISTINCT game_id), COUNT(*),
                        COUNT(DISTINCT IF(is_active AND (minutes_played > 0 OR fg_attempts > 0), player_lookup, NULL))
                 FROM {} WHERE game_date BETWEEN @start AND @end
                 GROUP BY game_date ORDER BY game_date",
                wh.t(&schema::PLAYER_GAMES)
            ),
            range_params(range),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(GameDateSummary {
                game_date: client::d(&r[0]).ok_or_else(|| client::missing("game_date"))?,
                games: client::i(&r[1]).unwrap_or(0),
                player_rows: client::i(&r[2]).unwrap_or(0),
                expected_players: client::i(&r[3]).unwrap_or(0),
            })
        })
        .collect()
}

pub(crate) async fn table_counts(
    wh: &BigQueryWarehouse,
    range: DateRange,
) -> Result<Vec<TableCount>> {
    let sql = COUNTED
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "SELECT {i} AS k, COUNT(*) AS n FROM {} WHERE {} BETWEEN @start AND @end",
                wh.t(t),
                t.partition.unwrap_or("game_date")
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = wh.q(&sql, range_params(range)).await?;
    let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &rows {
        counts.insert(
            client::i(&r[0]).unwrap_or(-1),
            client::i(&r[1]).unwrap_or(0),
        );
    }
    Ok(COUNTED
        .iter()
        .enumerate()
        .map(|(i, t)| TableCount {
            table: format!("{}.{}", t.dataset, t.name),
            rows: counts.get(&(i as i64)).copied().unwrap_or(0),
        })
        .collect())
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
        match p {
            ProcessorId::Psza => {
                up.psza = upstream_of(wh, *p, date, |r: &domain::processors::PszaRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            ProcessorId::Pdc => {
                up.pdc = upstream_of(wh, *p, date, |r: &domain::processors::PdcRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            ProcessorId::Pcf => {
                up.pcf = upstream_of(wh, *p, date, |r: &domain::processors::PcfRecord| {
                    r.player_lookup.clone()
                })
                .await?
            }
            ProcessorId::Mlfs => {
                return Err(WarehouseError::Query(
                    "MLFS has no downstream; its outputs are not read as upstream".into(),
                ))
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
    let mut params = range_params(range);
    params.push(param("date_level", P::Str(Some(DATE_LEVEL.into()))));
    let rows = wh.q(&reconcile::cells_sql(&wh.names), params).await?;
    reconcile::cells_from_rows(&rows, processors)
}

pub(crate) async fn unaccounted(
    wh: &BigQueryWarehouse,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = range_params(range);
    params.extend([
        procs_param(),
        cats_param(),
        sel_param(processors),
        param("date_level", P::Str(Some(DATE_LEVEL.into()))),
    ]);
    let rows = wh.q(&reconcile::unaccounted_sql(&wh.names), params).await?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok((
                WarehouseError::stored_processor(&client::s(&r[0]).unwrap_or_default())?,
                client::d(&r[1]).ok_or_else(|| client::missing("date"))?,
                client::s(&r[2]).unwrap_or_default(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (a.1, a.0.order(), &a.2).cmp(&(b.1, b.0.order(), &b.2)));
    Ok(out)
}

pub(crate) async fn failure_rows(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
    filter: FailureFilter,
) -> Result<Page<FailureRow>> {
    let limit = filter.limit.clamp(1, 500);
    let offset = filter.offset.max(0);
    let params = vec![
        param("date", P::Date(Some(date))),
        param("code", P::Str(Some(p.code().into()))),
        param("name", P::Str(Some(p.name().into()))),
        param("category", P::Str(filter.category.clone())),
        param("search", P::Str(filter.search.clone())),
        param("lim", P::Int(Some(limit))),
        param("off", P::Int(Some(offset))),
        cats_param(),
    ];
    let rows = wh
        .q(&reconcile::failure_rows_sql(&wh.names), params)
        .await?;
    let mut total = 0;
    let mut items = Vec::new();
    for r in &rows {
        total = client::i(&r[8]).unwrap_or(0);
        items.push(FailureRow {
            entity_id: client::s(&r[0]).unwrap_or_default(),
            raw_category: client::s(&r[1]).unwrap_or_default(),
            category: client::s(&r[2]).unwrap_or_default(),
            reason: client::s(&r[3]).unwrap_or_default(),
            can_retry: client::b(&r[4]).unwrap_or(false),
            upstream_processor: client::s(&r[5]),
            upstream_category: client::s(&r[6]),
            run_id: client::s(&r[7]),
        });
    }
    if items.is_empty() && offset > 0 {
        let mut f = filter.clone();
        f.offset = 0;
        f.limit = 1;
        total = Box::pin(failure_rows(wh, p, date, f)).await?.total;
    }
    Ok(Page {
        items,
        total,
        offset,
        limit,
    })
}

pub(crate) async fn cell_runs(
    wh: &BigQueryWarehouse,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<Vec<RunInfo>> {
    let rows = wh
        .q(
            &format!(
                "SELECT run_id, job_id, status, COALESCE(records_written, 0), COALESCE(failures_written, 0),
                        COALESCE(expected_count, 0), COALESCE(duration_ms, 0), error, UNIX_MICROS(started_at)
                 FROM {} WHERE analysis_date = @date AND UPPER(processor_name) IN (UPPER(@code), UPPER(@name))
                 ORDER BY started_at DESC, run_id DESC",
                wh.t(&schema::RUNS)
            ),
            vec![
                param("date", P::Date(Some(date))),
                param("code", P::Str(Some(p.code().into()))),
                param("name", P::Str(Some(p.name().into()))),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RunInfo {
            run_id: client::s(&r[0]).unwrap_or_default(),
            job_id: client::s(&r[1]),
            status: client::s(&r[2]).unwrap_or_default(),
            records_written: client::i(&r[3]).unwrap_or(0),
            failures_written: client::i(&r[4]).unwrap_or(0),
            expected_count: client::i(&r[5]).unwrap_or(0),
            duration_ms: client::i(&r[6]).unwrap_or(0),
            error: client::s(&r[7]),
            started_at: client::ts(&r[8]),
        })
        .collect())
}

pub(crate) async fn player_trace(
    wh: &BigQueryWarehouse,
    player: &str,
    date: NaiveDate,
) -> Result<Option<PlayerTrace>> {
    // A player is known when they have a box score within two years of the
    // date (a bounded partition range, unlike the embedded store's "ever").
    let window = vec![
        param("player", P::Str(Some(player.into()))),
        param("date", P::Date(Some(date))),
        param("lo", P::Date(Some(date - chrono::Duration::days(730)))),
        param("hi", P::Date(Some(date + chrono::Duration::days(730)))),
    ];
    let pgs = wh.t(&schema::PLAYER_GAMES);
    let rows = wh
        .q(
            &format!(
                "SELECT COUNT(*), COUNTIF(game_date = @date AND is_active AND (minutes_played > 0 OR fg_attempts > 0))
                 FROM {pgs} WHERE player_lookup = @player AND game_date BETWEEN @lo AND @hi"
            ),
            window.clone(),
        )
        .await?;
    let known = rows.first().and_then(|r| client::i(&r[0])).unwrap_or(0);
    if known == 0 {
        return Ok(None);
    }
    let expected = rows.first().and_then(|r| client::i(&r[1])).unwrap_or(0) > 0;
    let records_sql = PROCESSORS
        .iter()
        .map(|s| {
            format!(
                "SELECT '{}' AS code, COUNT(*) AS n FROM {} WHERE {} = @date AND player_lookup = @player",
                s.code,
                wh.t(schema::output_table(s.id)),
                s.date_column
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let with_records: BTreeSet<String> = wh
        .q(&records_sql, window.clone())
        .await?
        .iter()
        .filter(|r| client::i(&r[1]).unwrap_or(0) > 0)
        .filter_map(|r| client::s(&r[0]))
        .collect();
    let failures = wh
        .q(
            &format!(
                "SELECT UPPER(processor_name), entity_id, COALESCE(failure_category, ''), COALESCE(failure_reason, ''),
                        upstream_processor, upstream_category
                 FROM {} WHERE analysis_date = @date AND entity_id IN (@player, @date_level)
                 ORDER BY entity_id = @player DESC",
                wh.t(&schema::FAILURES)
            ),
            vec![
                param("player", P::Str(Some(player.into()))),
                param("date", P::Date(Some(date))),
                param("date_level", P::Str(Some(DATE_LEVEL.into()))),
            ],
        )
        .await?;
    let mut links = Vec::new();
    for spec in PROCESSORS.iter() {
        let names = [spec.code.to_uppercase(), spec.name.to_uppercase()];
        let failure = failures
            .iter()
            .find(|r| client::s(&r[0]).is_some_and(|n| names.contains(&n)));
        let failure = failure.map(|r| domain::report::TraceFailure {
            entity_id: client::s(&r[1]).unwrap_or_default(),
            raw_category: client::s(&r[2]).unwrap_or_default(),
            reason: client::s(&r[3]).unwrap_or_default(),
            upstream_processor: client::s(&r[4]),
            upstream_category: client::s(&r[5]),
        });
        let state = TraceState::of(with_records.contains(spec.code), failure, expected);
        links.push(TraceLink {
            processor: spec.id,
            state,
        });
    }
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
    let recent_games = recent
        .iter()
        .map(|r| {
            serde_json::from_value(Value::Object(schema::row_object(&schema::PLAYER_GAMES, r)))
                .map_err(|e| WarehouseError::Query(format!("unreadable box score: {e}")))
        })
        .collect::<Result<Vec<PlayerGame>>>()?;
    Ok(Some(PlayerTrace {
        player_lookup: player.to_string(),
        date,
        expected,
        links,
        recent_games,
    }))
}
