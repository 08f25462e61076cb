//! Processor outputs, failures and runs: idempotent cell writes, the reads the
//! downstream processors need, and the set-based accounting query.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::failure::{ALIASES, CATEGORIES};
use domain::processors::{
    PcfRecord, PdcRecord, PszaRecord, Records, Upstream, UpstreamSet, DATE_LEVEL, FEATURE_NAMES,
};
use domain::{DateRange, ProcessorId, PROCESSORS};
use duckdb::{params, Connection, Transaction};
use warehouse::{CellCounts, CellWrite, Result, RunRow, WarehouseError};

use crate::query_err;

pub(crate) fn write_cell(conn: &mut Connection, w: &CellWrite) -> Result<()> {
    let p = w.output.processor;
    let spec = p.spec();
    let date = w.output.date;
    let tx = conn.transaction().map_err(query_err)?;
    // Table and column names come from the static processor declaration.
    tx.execute(
        &format!("DELETE FROM {} WHERE {} = ?", spec.output_table, spec.date_column),
        params![date],
    )
    .map_err(query_err)?;
    if !w.legacy {
        tx.execute(
            "DELETE FROM nba_processing.precompute_failures
             WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))",
            params![date, spec.name, spec.code],
        )
        .map_err(query_err)?;
    }
    insert_records(&tx, &w.output.records, &w.run.run_id, w.written_at)?;
    if !w.legacy {
        let mut app = tx
            .appender_to_db("precompute_failures", "nba_processing")
            .map_err(query_err)?;
        for f in &w.output.failures {
            app.append_row(params![
                spec.name,
                w.run.run_id,
                date,
                f.entity_id,
                f.category.code(),
                f.reason,
                f.can_retry,
                f.upstream_processor.map(|u| u.code()),
                f.upstream_category,
                w.written_at,
            ])
            .map_err(query_err)?;
        }
    }
    insert_run(&tx, &w.run)?;
    if let Some(job) = &w.job_id {
        mark_cell(&tx, job, p, date, "done", w.written_at)?;
    }
    tx.commit().map_err(query_err)
}

pub(crate) fn record_failed_run(
    conn: &mut Connection,
    run: &RunRow,
    job_id: Option<&str>,
) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    insert_run(&tx, run)?;
    if let Some(job) = job_id {
        mark_cell(&tx, job, run.processor, run.analysis_date, "failed", run.started_at)?;
    }
    tx.commit().map_err(query_err)
}

fn mark_cell(
    tx: &Transaction,
    job: &str,
    p: ProcessorId,
    date: NaiveDate,
    state: &str,
    at: chrono::NaiveDateTime,
) -> Result<()> {
    tx.execute(
        "UPDATE rollcall.job_cells SET state = ?, updated_at = ?
         WHERE job_id = ? AND processor_name = ? AND analysis_date = ?",
        params![state, at, job, p.code(), date],
    )
    .map_err(query_err)?;
    Ok(())
}

fn insert_run(tx: &Transaction, run: &RunRow) -> Result<()> {
    tx.execute(
        "INSERT INTO nba_processing.precompute_processor_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            run.run_id,
            run.job_id,
            run.processor.name(),
            run.analysis_date,
            run.status,
            run.records_written,
            run.failures_written,
            run.expected_count,
            run.dependency_check_passed,
            run.duration_ms,
            run.processor_version,
            run.error,
            run.started_at,
        ],
    )
    .map_err(query_err)?;
    Ok(())
}

fn insert_records(
    tx: &Transaction,
    records: &Records,
    run_id: &str,
    at: chrono::NaiveDateTime,
) -> Result<()> {
    match records {
        Records::Psza(rows) => {
            let mut app = tx
                .appender_to_db("player_shot_zone_analysis", "nba_precompute")
                .map_err(query_err)?;
            for r in rows {
                app.append_row(params![
                    r.player_lookup,
                    r.analysis_date,
                    r.paint_rate_last_10,
                    r.mid_range_rate_last_10,
                    r.three_pt_rate_last_10,
                    r.paint_pct_last_10,
                    r.mid_range_pct_last_10,
                    r.three_pt_pct_last_10,
                    r.paint_rate_last_20,
                    r.paint_pct_last_20,
                    r.attempts_per_game,
                    r.total_shots_last_10,
                    r.games_in_sample,
                    r.primary_scoring_zone,
                    r.sample_quality,
                    run_id,
                    at,
                ])
                .map_err(query_err)?;
            }
        }
        Records::Pdc(rows) => {
            let mut app = tx
                .appender_to_db("player_daily_cache", "nba_precompute")
                .map_err(query_err)?;
            for r in rows {
                app.append_row(params![
                    r.player_lookup,
                    r.cache_date,
                    r.points_avg_last_5,
                    r.points_avg_last_10,
                    r.points_avg_season,
                    r.points_std_last_10,
                    r.minutes_avg_last_10,
                    r.usage_rate_last_10,
                    r.ts_pct_last_10,
                    r.games_played_season,
                    r.games_in_last_7_days,
                    r.games_in_last_14_days,
                    r.minutes_in_last_7_days,
                    r.minutes_in_last_14_days,
                    r.back_to_backs_last_14_days,
                    r.team_pace_last_10,
                    r.early_season_flag,
                    run_id,
                    at,
                ])
                .map_err(query_err)?;
            }
        }
        Records::Pcf(rows) => {
            let mut app = tx
                .appender_to_db("player_composite_factors", "nba_precompute")
                .map_err(query_err)?;
            for r in rows {
                app.append_row(params![
                    r.player_lookup,
                    r.game_date,
                    r.opponent_team_abbr,
                    r.fatigue_score,
                    r.shot_zone_mismatch_score,
                    r.pace_score,
                    r.usage_spike_score,
                    r.total_composite_adjustment,
                    run_id,
                    at,
                ])
                .map_err(query_err)?;
            }
        }
        Records::Mlfs(rows) => {
            if rows.is_empty() {
                return Ok(());
            }
            // The appender cannot bind LIST values: stage the vectors as text and
            // cast them in one INSERT … SELECT.
            tx.execute_batch(
                "CREATE OR REPLACE TEMP TABLE mlfs_stage (
                    player_lookup VARCHAR, game_date DATE, feature_version VARCHAR,
                    features VARCHAR, feature_quality_score DOUBLE)",
            )
            .map_err(query_err)?;
            let mut stmt = tx
                .prepare("INSERT INTO mlfs_stage VALUES (?, ?, ?, ?, ?)")
                .map_err(query_err)?;
            for r in rows {
                let features = format!(
                    "[{}]",
                    r.features
                        .iter()
                        .map(|f| format!("{f:?}"))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                stmt.execute(params![
                    r.player_lookup,
                    r.game_date,
                    r.feature_version,
                    features,
                    r.feature_quality_score
                ])
                .map_err(query_err)?;
            }
            let names = FEATURE_NAMES
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(",");
            tx.execute(
                &format!(
                    "INSERT INTO nba_predictions.ml_feature_store_v2
                     SELECT player_lookup, game_date, feature_version, [{names}]::VARCHAR[],
                            CAST(features AS DOUBLE[]), feature_quality_score, ?, ?
                     FROM mlfs_stage"
                ),
                params![run_id, at],
            )
            .map_err(query_err)?;
            tx.execute_batch("DROP TABLE mlfs_stage").map_err(query_err)?;
        }
    }
    Ok(())
}

fn failures_of(
    conn: &Connection,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<HashMap<String, String>> {
    let spec = p.spec();
    let mut stmt = conn
        .prepare(
            "SELECT entity_id, coalesce(failure_category, '') FROM nba_processing.precompute_failures
             WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))
               AND entity_id <> ?",
        )
        .map_err(query_err)?;
    let rows = stmt
        .query_map(params![date, spec.name, spec.code, DATE_LEVEL], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(query_err)?;
    rows.collect::<duckdb::Result<HashMap<_, _>>>()
        .map_err(query_err)
}

pub(crate) fn upstream_outcomes(
    conn: &mut Connection,
    date: NaiveDate,
    processors: &[ProcessorId],
) -> Result<UpstreamSet> {
    let mut up = UpstreamSet::default();
    for p in processors {
        match p {
            ProcessorId::Psza => {
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
                            primary_scoring_zone: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                            sample_quality: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        })
                    })
                    .map_err(query_err)?;
                up.psza = Upstream {
                    records: rows
                        .map(|r| r.map(|x| (x.player_lookup.clone(), x)))
                        .collect::<duckdb::Result<_>>()
                        .map_err(query_err)?,
                    failures: failures_of(conn, *p, date)?,
                };
            }
            ProcessorId::Pdc => {
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
                    failures: failures_of(conn, *p, date)?,
                };
            }
            ProcessorId::Pcf => {
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
                    failures: failures_of(conn, *p, date)?,
                };
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

/// SQL `VALUES` rows built from static declarations only (never user input).
fn processors_values(processors: &[ProcessorId]) -> String {
    PROCESSORS
        .iter()
        .filter(|s| processors.contains(&s.id))
        .map(|s| {
            format!(
                "('{}', '{}', '{}', '{}')",
                s.code, s.name, s.output_table, s.date_column
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Canonical category per raw spelling, and whether it needs investigation.
fn categories_values() -> String {
    CATEGORIES
        .iter()
        .map(|c| (c.code, c.code, c.expected))
        .chain(
            ALIASES
                .iter()
                .map(|(alias, cat)| (*alias, cat.code(), cat.is_expected())),
        )
        .map(|(raw, code, expected)| format!("('{raw}', '{code}', {expected})"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn cell_counts(
    conn: &mut Connection,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let records_union = PROCESSORS
        .iter()
        .filter(|s| processors.contains(&s.id))
        .map(|s| {
            format!(
                "SELECT DISTINCT '{}' AS code, {} AS d, player_lookup FROM {} WHERE {} BETWEEN $1 AND $2",
                s.code, s.date_column, s.output_table, s.date_column
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!(
        "WITH procs(code, name, tbl, col) AS (VALUES {procs}),
         cats(raw, code, expected) AS (VALUES {cats}),
         expected AS (
             SELECT DISTINCT game_date AS d, player_lookup
             FROM nba_analytics.player_game_summary
             WHERE game_date BETWEEN $1 AND $2
               AND is_active AND (minutes_played > 0 OR fg_attempts > 0)
         ),
         recs AS ({records_union}),
         fails AS (
             SELECT p.code, f.analysis_date AS d, f.entity_id,
                    coalesce(c.expected, false) AS is_expected
             FROM nba_processing.precompute_failures f
             JOIN procs p ON upper(f.processor_name) IN (upper(p.code), upper(p.name))
             LEFT JOIN cats c ON c.raw = upper(replace(replace(trim(f.failure_category), '-', '_'), ' ', '_'))
             WHERE f.analysis_date BETWEEN $1 AND $2
         ),
         player_fails AS (
             SELECT code, d, entity_id, bool_and(is_expected) AS all_expected
             FROM fails WHERE entity_id <> '{date_level}' GROUP BY ALL
         ),
         date_fails AS (SELECT DISTINCT code, d FROM fails WHERE entity_id = '{date_level}'),
         runs AS (
             SELECT p.code, r.analysis_date AS d, count(*) AS n
             FROM nba_processing.precompute_processor_runs r
             JOIN procs p ON upper(r.processor_name) IN (upper(p.code), upper(p.name))
             WHERE r.analysis_date BETWEEN $1 AND $2
             GROUP BY ALL
         )
         SELECT p.code, e.d,
                count(*) AS expected,
                count(r.player_lookup) AS has_record,
                count(*) FILTER (WHERE r.player_lookup IS NULL AND pf.entity_id IS NOT NULL) AS has_failure,
                bool_or(df.d IS NOT NULL) AS date_level,
                count(*) FILTER (WHERE r.player_lookup IS NULL AND pf.entity_id IS NULL AND df.d IS NULL) AS unaccounted,
                count(*) FILTER (WHERE r.player_lookup IS NULL AND pf.entity_id IS NOT NULL AND NOT pf.all_expected) AS investigate,
                coalesce(any_value(ru.n), 0) AS runs
         FROM procs p CROSS JOIN expected e
         LEFT JOIN recs r ON r.code = p.code AND r.d = e.d AND r.player_lookup = e.player_lookup
         LEFT JOIN player_fails pf ON pf.code = p.code AND pf.d = e.d AND pf.entity_id = e.player_lookup
         LEFT JOIN date_fails df ON df.code = p.code AND df.d = e.d
         LEFT JOIN runs ru ON ru.code = p.code AND ru.d = e.d
         GROUP BY p.code, e.d
         ORDER BY e.d, p.code",
        procs = processors_values(processors),
        cats = categories_values(),
        date_level = DATE_LEVEL,
    );
    let mut stmt = conn.prepare(&sql).map_err(query_err)?;
    let rows = stmt
        .query_map(params![range.start(), range.end()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                CellCounts {
                    processor: ProcessorId::Psza,
                    date: r.get(1)?,
                    expected: r.get(2)?,
                    has_record: r.get(3)?,
                    has_failure: r.get(4)?,
                    date_level: r.get(5)?,
                    unaccounted: r.get(6)?,
                    investigate: r.get(7)?,
                    runs: r.get(8)?,
                },
            ))
        })
        .map_err(query_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (code, mut c) = row.map_err(query_err)?;
        c.processor = ProcessorId::parse(&code)
            .map_err(|e| WarehouseError::Query(e.to_string()))?;
        out.push(c);
    }
    out.sort_by_key(|c| (c.date, c.processor.order()));
    Ok(out)
}
