//! Processor outputs, failures and runs: idempotent cell writes, the reads the
//! downstream processors need, and the set-based accounting query.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::failure::{ALIASES, CATEGORIES};
use domain::processors::{
    PcfRecord, PdcRecord, PszaRecord, Records, Upstream, UpstreamSet, DATE_LEVEL, FEATURE_NAMES,
};
use domain::report::{FailureRow, LastRun, Page, PlayerTrace, RunInfo, TraceLink, TraceState};
use domain::{DateRange, ProcessorId, PROCESSORS};
use duckdb::{params, Connection, OptionalExt, Transaction};
use warehouse::{CellCounts, CellWrite, FailureFilter, Result, RunRow, WarehouseError};

use crate::query_err;

pub(crate) fn write_cell(conn: &mut Connection, w: &CellWrite) -> Result<()> {
    let p = w.output.processor;
    let spec = p.spec();
    let date = w.output.date;
    let tx = conn.transaction().map_err(query_err)?;
    // Table and column names come from the static processor declaration.
    tx.execute(
        &format!(
            "DELETE FROM {} WHERE {} = ?",
            spec.output_table, spec.date_column
        ),
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
        mark_cell(
            &tx,
            job,
            run.processor,
            run.analysis_date,
            "failed",
            run.started_at,
        )?;
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
        "UPDATE rollcall_meta.job_cells SET state = ?, updated_at = ?
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
            tx.execute_batch("DROP TABLE mlfs_stage")
                .map_err(query_err)?;
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
fn processors_values() -> String {
    PROCESSORS
        .iter()
        .map(|s| format!("('{}', '{}')", s.code, s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn selected_values(processors: &[ProcessorId]) -> String {
    processors
        .iter()
        .map(|p| format!("('{}')", p.code()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn deps_values() -> String {
    let v: Vec<String> = PROCESSORS
        .iter()
        .flat_map(|s| {
            s.depends_on
                .iter()
                .map(move |d| format!("('{}', '{}')", s.code, d.code()))
        })
        .collect();
    v.join(", ")
}

/// Canonical category per raw spelling, and whether it is an expected gap.
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

/// The common CTEs of every reconciliation query. `$1`/`$2` bound the dates.
fn ctes() -> String {
    let records_union = PROCESSORS
        .iter()
        .map(|s| {
            format!(
                "SELECT DISTINCT '{}' AS code, {} AS d, player_lookup FROM {} WHERE {} BETWEEN $1 AND $2",
                s.code, s.date_column, s.output_table, s.date_column
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "procs(code, name) AS (VALUES {procs}),
         deps(code, dep) AS (VALUES {deps}),
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
                    coalesce(c.code, 'UNKNOWN') AS category,
                    coalesce(c.expected, false) AS is_expected
             FROM nba_processing.precompute_failures f
             JOIN procs p ON upper(f.processor_name) IN (upper(p.code), upper(p.name))
             LEFT JOIN cats c
               ON c.raw = upper(replace(replace(trim(coalesce(f.failure_category, '')), '-', '_'), ' ', '_'))
             WHERE f.analysis_date BETWEEN $1 AND $2
         ),
         player_fails AS (
             SELECT code, d, entity_id, bool_and(is_expected) AS all_expected
             FROM fails WHERE entity_id <> '{date_level}' GROUP BY ALL
         ),
         date_fails AS (SELECT DISTINCT code, d FROM fails WHERE entity_id = '{date_level}')",
        procs = processors_values(),
        deps = deps_values(),
        cats = categories_values(),
        date_level = DATE_LEVEL,
    )
}

/// Reconciliation for a range: two set-based queries whatever the range length
/// (the cells, then failure counts by category).
/// The two reconciliation statements (cells, categories) for `processors`.
pub(crate) fn reconcile_sql(processors: &[ProcessorId]) -> (String, String) {
    let cells = format!(
        "WITH {ctes},
         sel(code) AS (VALUES {sel}),
         runs AS (
             SELECT p.code, r.analysis_date AS d, count(*) AS n,
                    arg_max(r.run_id, r.started_at) AS last_run,
                    arg_max(r.status, r.started_at) AS last_status,
                    max(r.started_at) AS last_at
             FROM nba_processing.precompute_processor_runs r
             JOIN procs p ON upper(r.processor_name) IN (upper(p.code), upper(p.name))
             WHERE r.analysis_date BETWEEN $1 AND $2
             GROUP BY ALL
         ),
         base AS (
             SELECT s.code, e.d,
                    count(*) AS expected,
                    count(r.player_lookup) AS has_record,
                    count(*) FILTER (WHERE r.player_lookup IS NULL AND pf.entity_id IS NOT NULL) AS has_failure,
                    bool_or(df.d IS NOT NULL) AS date_level,
                    count(*) FILTER (WHERE r.player_lookup IS NULL AND pf.entity_id IS NULL AND df.d IS NULL) AS unaccounted,
                    count(*) FILTER (WHERE r.player_lookup IS NULL AND pf.entity_id IS NOT NULL AND NOT pf.all_expected) AS investigate
             FROM sel s CROSS JOIN expected e
             LEFT JOIN recs r ON r.code = s.code AND r.d = e.d AND r.player_lookup = e.player_lookup
             LEFT JOIN player_fails pf ON pf.code = s.code AND pf.d = e.d AND pf.entity_id = e.player_lookup
             LEFT JOIN date_fails df ON df.code = s.code AND df.d = e.d
             GROUP BY s.code, e.d
         ),
         conflicts AS (
             SELECT r.code, r.d, count(*) AS n FROM recs r
             JOIN player_fails pf ON pf.code = r.code AND pf.d = r.d AND pf.entity_id = r.player_lookup
             GROUP BY ALL
         ),
         extras AS (
             SELECT r.code, r.d, count(*) AS n FROM recs r
             ANTI JOIN expected e ON e.d = r.d AND e.player_lookup = r.player_lookup
             GROUP BY ALL
         ),
         cascades AS (
             SELECT r.code, r.d, count(DISTINCT r.player_lookup) AS n
             FROM recs r JOIN deps ON deps.code = r.code
             ANTI JOIN recs u ON u.code = deps.dep AND u.d = r.d AND u.player_lookup = r.player_lookup
             GROUP BY ALL
         )
         SELECT b.code, b.d, b.expected, b.has_record, b.has_failure, b.date_level,
                CASE WHEN b.date_level THEN 0 ELSE b.unaccounted END,
                b.investigate, coalesce(ru.n, 0),
                coalesce(c.n, 0), coalesce(x.n, 0), coalesce(k.n, 0),
                ru.last_run, ru.last_status, ru.last_at
         FROM base b
         LEFT JOIN runs ru ON ru.code = b.code AND ru.d = b.d
         LEFT JOIN conflicts c ON c.code = b.code AND c.d = b.d
         LEFT JOIN extras x ON x.code = b.code AND x.d = b.d
         LEFT JOIN cascades k ON k.code = b.code AND k.d = b.d",
        ctes = ctes(),
        sel = selected_values(processors),
    );
    let categories = format!(
        "WITH {ctes}, sel(code) AS (VALUES {sel})
         SELECT code, d, category, count(*) FROM fails WHERE code IN (SELECT code FROM sel)
         GROUP BY ALL",
        ctes = ctes(),
        sel = selected_values(processors),
    );
    (cells, categories)
}

pub(crate) fn cell_counts(
    conn: &mut Connection,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let (sql, cat_sql) = reconcile_sql(processors);
    let mut stmt = conn.prepare(&sql).map_err(query_err)?;
    let rows = stmt
        .query_map(params![range.start(), range.end()], |r| {
            let last_run: Option<String> = r.get(12)?;
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
                    conflict: r.get(9)?,
                    extra: r.get(10)?,
                    cascade: r.get(11)?,
                    failures_by_category: Default::default(),
                    last_run: match last_run {
                        Some(run_id) => Some(LastRun {
                            run_id,
                            status: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                            started_at: r.get(14)?,
                        }),
                        None => None,
                    },
                },
            ))
        })
        .map_err(query_err)?;
    let mut out: HashMap<(String, NaiveDate), CellCounts> = HashMap::new();
    for row in rows {
        let (code, mut c) = row.map_err(query_err)?;
        c.processor =
            ProcessorId::parse(&code).map_err(|e| WarehouseError::Query(e.to_string()))?;
        out.insert((code, c.date), c);
    }
    let mut stmt = conn.prepare(&cat_sql).map_err(query_err)?;
    let rows = stmt
        .query_map(params![range.start(), range.end()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, NaiveDate>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .map_err(query_err)?;
    for row in rows {
        let (code, d, cat, n) = row.map_err(query_err)?;
        if let Some(c) = out.get_mut(&(code, d)) {
            c.failures_by_category.insert(cat, n);
        }
    }
    let mut out: Vec<CellCounts> = out.into_values().collect();
    out.sort_by_key(|c| (c.date, c.processor.order()));
    Ok(out)
}

/// Expected players with neither a record nor a failure (player- or
/// date-level), for every selected cell of the range, in one query.
pub(crate) fn unaccounted(
    conn: &mut Connection,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<(ProcessorId, NaiveDate, String)>> {
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "WITH {ctes}, sel(code) AS (VALUES {sel})
         SELECT s.code, e.d, e.player_lookup FROM sel s CROSS JOIN expected e
         WHERE NOT EXISTS (SELECT 1 FROM recs r WHERE r.code = s.code AND r.d = e.d AND r.player_lookup = e.player_lookup)
           AND NOT EXISTS (SELECT 1 FROM fails f WHERE f.code = s.code AND f.d = e.d
                           AND f.entity_id IN (e.player_lookup, '{date_level}'))
         ORDER BY e.d, s.code, e.player_lookup",
        ctes = ctes(),
        sel = selected_values(processors),
        date_level = DATE_LEVEL,
    );
    let mut stmt = conn.prepare(&sql).map_err(query_err)?;
    let rows = stmt
        .query_map(params![range.start(), range.end()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, NaiveDate>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(query_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (code, d, player) = row.map_err(query_err)?;
        let p = ProcessorId::parse(&code).map_err(|e| WarehouseError::Query(e.to_string()))?;
        out.push((p, d, player));
    }
    out.sort_by(|a, b| (a.1, a.0.order(), &a.2).cmp(&(b.1, b.0.order(), &b.2)));
    Ok(out)
}

pub(crate) fn failure_rows(
    conn: &mut Connection,
    p: ProcessorId,
    date: NaiveDate,
    filter: &FailureFilter,
) -> Result<Page<FailureRow>> {
    let spec = p.spec();
    let limit = filter.limit.clamp(1, 500);
    let offset = filter.offset.max(0);
    // Filters are bound parameters; `contains` matches the search literally.
    let sql = format!(
        "WITH cats(raw, code, expected) AS (VALUES {cats}),
         rows AS (
             SELECT f.entity_id, coalesce(f.failure_category, '') AS raw_category,
                    coalesce(c.code, 'UNKNOWN') AS category, coalesce(f.failure_reason, '') AS reason,
                    coalesce(f.can_retry, false) AS can_retry, f.upstream_processor,
                    f.upstream_category, f.run_id
             FROM nba_processing.precompute_failures f
             LEFT JOIN cats c
               ON c.raw = upper(replace(replace(trim(coalesce(f.failure_category, '')), '-', '_'), ' ', '_'))
             WHERE f.analysis_date = $1 AND upper(f.processor_name) IN (upper($2), upper($3))
               AND ($4 IS NULL OR coalesce(c.code, 'UNKNOWN') = $4)
               AND ($5 IS NULL OR contains(lower(f.entity_id), lower($5)))
         )
         SELECT *, count(*) OVER () AS total FROM rows
         ORDER BY category, entity_id LIMIT $6 OFFSET $7",
        cats = categories_values(),
    );
    let mut stmt = conn.prepare(&sql).map_err(query_err)?;
    let mut total = 0i64;
    let rows = stmt
        .query_map(
            params![
                date,
                spec.code,
                spec.name,
                filter.category,
                filter.search,
                limit,
                offset
            ],
            |r| {
                Ok((
                    FailureRow {
                        entity_id: r.get(0)?,
                        raw_category: r.get(1)?,
                        category: r.get(2)?,
                        reason: r.get(3)?,
                        can_retry: r.get(4)?,
                        upstream_processor: r.get(5)?,
                        upstream_category: r.get(6)?,
                        run_id: r.get(7)?,
                    },
                    r.get::<_, i64>(8)?,
                ))
            },
        )
        .map_err(query_err)?;
    let mut items = Vec::new();
    for row in rows {
        let (item, t) = row.map_err(query_err)?;
        total = t;
        items.push(item);
    }
    if items.is_empty() && offset > 0 {
        // Past the end: still report the true total.
        let mut f = filter.clone();
        f.offset = 0;
        f.limit = 1;
        total = failure_rows(conn, p, date, &f)?.total;
    }
    Ok(Page {
        items,
        total,
        offset,
        limit,
    })
}

pub(crate) fn cell_runs(
    conn: &mut Connection,
    p: ProcessorId,
    date: NaiveDate,
) -> Result<Vec<RunInfo>> {
    let spec = p.spec();
    let mut stmt = conn
        .prepare(
            "SELECT run_id, job_id, status, coalesce(records_written, 0), coalesce(failures_written, 0),
                    coalesce(expected_count, 0), coalesce(duration_ms, 0), error, started_at
             FROM nba_processing.precompute_processor_runs
             WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))
             ORDER BY started_at DESC NULLS LAST, run_id DESC",
        )
        .map_err(query_err)?;
    let rows = stmt
        .query_map(params![date, spec.code, spec.name], |r| {
            Ok(RunInfo {
                run_id: r.get(0)?,
                job_id: r.get(1)?,
                status: r.get(2)?,
                records_written: r.get(3)?,
                failures_written: r.get(4)?,
                expected_count: r.get(5)?,
                duration_ms: r.get(6)?,
                error: r.get(7)?,
                started_at: r.get(8)?,
            })
        })
        .map_err(query_err)?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(query_err)
}

/// (entity, raw category, reason, upstream processor, upstream category)
type TraceFailure = (String, String, String, Option<String>, Option<String>);

pub(crate) fn player_trace(
    conn: &mut Connection,
    player: &str,
    date: NaiveDate,
) -> Result<Option<PlayerTrace>> {
    let known: i64 = conn
        .query_row(
            "SELECT count(*) FROM nba_analytics.player_game_summary WHERE player_lookup = ?",
            params![player],
            |r| r.get(0),
        )
        .map_err(query_err)?;
    if known == 0 {
        return Ok(None);
    }
    let expected: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM nba_analytics.player_game_summary
             WHERE player_lookup = ? AND game_date = ?
               AND is_active AND (minutes_played > 0 OR fg_attempts > 0)",
            params![player, date],
            |r| r.get(0),
        )
        .map_err(query_err)?;
    let mut links = Vec::new();
    for spec in PROCESSORS.iter() {
        let has_record: bool = conn
            .query_row(
                &format!(
                    "SELECT count(*) > 0 FROM {} WHERE {} = ? AND player_lookup = ?",
                    spec.output_table, spec.date_column
                ),
                params![date, player],
                |r| r.get(0),
            )
            .map_err(query_err)?;
        let failure: Option<TraceFailure> = conn
            .query_row(
                "SELECT entity_id, coalesce(failure_category, ''), coalesce(failure_reason, ''),
                        upstream_processor, upstream_category
                 FROM nba_processing.precompute_failures
                 WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))
                   AND entity_id IN (?, ?)
                 ORDER BY entity_id = ? DESC LIMIT 1",
                params![date, spec.code, spec.name, player, DATE_LEVEL, player],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(query_err)?;
        let state = if has_record {
            TraceState::Record
        } else if let Some((entity, raw, reason, up, up_cat)) = failure {
            if entity == DATE_LEVEL {
                TraceState::DateLevel { reason }
            } else {
                TraceState::Failure {
                    category: domain::FailureCategory::normalise(&raw).code().to_string(),
                    reason,
                    upstream_processor: up,
                    upstream_category: up_cat,
                }
            }
        } else if expected {
            TraceState::Unaccounted
        } else {
            TraceState::NotExpected
        };
        links.push(TraceLink {
            processor: spec.id,
            state,
        });
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM nba_analytics.player_game_summary
             WHERE player_lookup = ? AND game_date <= ?
             ORDER BY game_date DESC, game_id DESC LIMIT 10",
            crate::upstream::PGS_COLUMNS
        ))
        .map_err(query_err)?;
    let recent_games = stmt
        .query_map(params![player, date], crate::upstream::pgs_row)
        .map_err(query_err)?
        .collect::<duckdb::Result<Vec<_>>>()
        .map_err(query_err)?;
    Ok(Some(PlayerTrace {
        player_lookup: player.to_string(),
        date,
        expected,
        links,
        recent_games,
    }))
}
