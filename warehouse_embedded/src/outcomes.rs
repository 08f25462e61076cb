//! Typed-table reads: the outcomes downstream builtins read and a
//! player's recent box scores (the shared reads are `warehouse::reads`).

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use domain::processors::{PcfRecord, PdcRecord, PszaRecord, Upstream, UpstreamSet, DATE_LEVEL};
use domain::{Builtin, ProcessorId, Runner};
use duckdb::{params, Connection};
use warehouse::sql::Dialect;
use warehouse::{Result, WarehouseError};

use crate::query_err;

fn failures_of(
    conn: &Connection,
    pipeline: &Pipeline,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<HashMap<String, String>> {
    let spec = pipeline.spec(p);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT entity_id, coalesce(failure_category, '') FROM {}
             WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))
               AND entity_id <> ?",
            pipeline.failures_table
        ))
        .map_err(query_err)?;
    let rows = stmt
        .query_map(params![date, &spec.name, &spec.code, DATE_LEVEL], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(query_err)?;
    rows.collect::<duckdb::Result<HashMap<_, _>>>()
        .map_err(query_err)
}

pub(crate) fn upstream_outcomes(
    conn: &mut Connection,
    d: &Dialect,
    date: NaiveDate,
    processors: &[ProcessorId],
) -> Result<UpstreamSet> {
    let pipeline = d.pipeline();
    let mut up = UpstreamSet::default();
    for p in processors {
        match pipeline.spec(*p).runner {
            Runner::Builtin(Builtin::Psza) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT player_lookup, analysis_date, paint_rate_last_10, mid_range_rate_last_10,
                                three_pt_rate_last_10, paint_pct_last_10, mid_range_pct_last_10,
                                three_pt_pct_last_10, paint_rate_last_20, paint_pct_last_20,
                                attempts_per_game, total_shots_last_10, games_in_sample,
                                primary_scoring_zone, sample_quality
                         FROM nba_precompute.player_shot_zone_analysis WHERE analysis_date = ?",
                    )
                    .map_err(query_err)?;
                let rows = stmt
                    .query_map(params![date], |r| {
                        Ok(PszaRecord {
                            player_lookup: r.get(0)?,
                            analysis_date: r.get(1)?,
                            paint_rate_last_10: r.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                            mid_range_rate_last_10: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                            three_pt_rate_last_10: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
                            paint_pct_last_10: r.get(5)?,
                            mid_range_pct_last_10: r.get(6)?,
                            three_pt_pct_last_10: r.get(7)?,
                            paint_rate_last_20: r.get(8)?,
                            paint_pct_last_20: r.get(9)?,
                            attempts_per_game: r.get::<_, Option<f64>>(10)?.unwrap_or(0.0),
                            total_shots_last_10: r.get::<_, Option<i32>>(11)?.unwrap_or(0),
                            games_in_sample: r.get::<_, Option<i32>>(12)?.unwrap_or(0),
                            primary_scoring_zone: r
                                .get::<_, Option<String>>(13)?
                                .unwrap_or_default(),
                            sample_quality: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        })
                    })
                    .map_err(query_err)?;
                up.psza = Upstream {
                    records: rows
                        .map(|r| r.map(|x| (x.player_lookup.clone(), x)))
                        .collect::<duckdb::Result<_>>()
                        .map_err(query_err)?,
                    failures: failures_of(conn, pipeline, *p, date)?,
                };
            }
            Runner::Builtin(Builtin::Pdc) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT player_lookup, cache_date, points_avg_last_5, points_avg_last_10,
                                points_avg_season, points_std_last_10, minutes_avg_last_10,
                                usage_rate_last_10, ts_pct_last_10, games_played_season,
                                games_in_last_7_days, games_in_last_14_days, minutes_in_last_7_days,
                                minutes_in_last_14_days, back_to_backs_last_14_days,
                                team_pace_last_10, early_season_flag
                         FROM nba_precompute.player_daily_cache WHERE cache_date = ?",
                    )
                    .map_err(query_err)?;
                let f = |r: &duckdb::Row, i: usize| -> duckdb::Result<f64> {
                    Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(0.0))
                };
                let n = |r: &duckdb::Row, i: usize| -> duckdb::Result<i32> {
                    Ok(r.get::<_, Option<i32>>(i)?.unwrap_or(0))
                };
                let rows = stmt
                    .query_map(params![date], |r| {
                        Ok(PdcRecord {
                            player_lookup: r.get(0)?,
                            cache_date: r.get(1)?,
                            points_avg_last_5: f(r, 2)?,
                            points_avg_last_10: f(r, 3)?,
                            points_avg_season: f(r, 4)?,
                            points_std_last_10: f(r, 5)?,
                            minutes_avg_last_10: f(r, 6)?,
                            usage_rate_last_10: r.get(7)?,
                            ts_pct_last_10: r.get(8)?,
                            games_played_season: n(r, 9)?,
                            games_in_last_7_days: n(r, 10)?,
                            games_in_last_14_days: n(r, 11)?,
                            minutes_in_last_7_days: f(r, 12)?,
                            minutes_in_last_14_days: f(r, 13)?,
                            back_to_backs_last_14_days: n(r, 14)?,
                            team_pace_last_10: r.get(15)?,
                            early_season_flag: r.get::<_, Option<bool>>(16)?.unwrap_or(false),
                        })
                    })
                    .map_err(query_err)?;
                up.pdc = Upstream {
                    records: rows
                        .map(|r| r.map(|x| (x.player_lookup.clone(), x)))
                        .collect::<duckdb::Result<_>>()
                        .map_err(query_err)?,
                    failures: failures_of(conn, pipeline, *p, date)?,
                };
            }
            Runner::Builtin(Builtin::Pcf) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT player_lookup, game_date, coalesce(opponent_team_abbr, ''),
                                coalesce(fatigue_score, 0), coalesce(shot_zone_mismatch_score, 0),
                                coalesce(pace_score, 0), coalesce(usage_spike_score, 0),
                                coalesce(total_composite_adjustment, 0)
                         FROM nba_precompute.player_composite_factors WHERE game_date = ?",
                    )
                    .map_err(query_err)?;
                let rows = stmt
                    .query_map(params![date], |r| {
                        Ok(PcfRecord {
                            player_lookup: r.get(0)?,
                            game_date: r.get(1)?,
                            opponent_team_abbr: r.get(2)?,
                            fatigue_score: r.get(3)?,
                            shot_zone_mismatch_score: r.get(4)?,
                            pace_score: r.get(5)?,
                            usage_spike_score: r.get(6)?,
                            total_composite_adjustment: r.get(7)?,
                        })
                    })
                    .map_err(query_err)?;
                up.pcf = Upstream {
                    records: rows
                        .map(|r| r.map(|x| (x.player_lookup.clone(), x)))
                        .collect::<duckdb::Result<_>>()
                        .map_err(query_err)?,
                    failures: failures_of(conn, pipeline, *p, date)?,
                };
            }
            Runner::Builtin(Builtin::Mlfs) | Runner::Command(_) | Runner::Observe => {
                return Err(WarehouseError::Query(format!(
                    "{} is not a builtin that others read: its outputs are not read as upstream",
                    pipeline.code(*p)
                )))
            }
        }
    }
    Ok(up)
}

/// The player's last ten box scores up to the date.
pub(crate) fn recent_box_scores(
    conn: &Connection,
    player: &str,
    date: NaiveDate,
) -> Result<Vec<domain::game::PlayerGame>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM nba_analytics.player_game_summary
             WHERE player_lookup = ? AND game_date <= ?
             ORDER BY game_date DESC, game_id DESC LIMIT 10",
            crate::upstream::PGS_COLUMNS
        ))
        .map_err(query_err)?;
    let games = stmt
        .query_map(params![player, date], crate::upstream::pgs_row)
        .map_err(query_err)?
        .collect::<duckdb::Result<Vec<_>>>()
        .map_err(query_err)?;
    Ok(games)
}
