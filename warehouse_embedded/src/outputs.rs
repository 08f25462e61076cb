//! Processor outputs, failures and runs: idempotent cell writes, the reads the
//! downstream processors need, and the set-based accounting query.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::processors::{
    PcfRecord, PdcRecord, PszaRecord, Records, Upstream, UpstreamSet, DATE_LEVEL, FEATURE_NAMES,
};
use domain::report::{FailureRow, Page, PlayerTrace, RunInfo, TraceFailure, TraceLink, TraceState};
use domain::{DateRange, ProcessorId, PROCESSORS};
use duckdb::{params, Connection, OptionalExt, Transaction};
use warehouse::{CellCounts, CellWrite, FailureFilter, Result, RunRow, WarehouseError};

use crate::query_err;

/// Writes every cell of the batch in one transaction: all or nothing. The
/// old rows of every cell go first; then each table gets one appender for
/// the whole batch (an appender per cell and table cost more than the rows).
pub(crate) fn write_cells(conn: &mut Connection, writes: &[CellWrite]) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    for w in writes {
        delete_cell(&tx, w)?;
    }
    for p in ProcessorId::all() {
        let mut of_p = writes.iter().filter(|w| w.output.processor == p).peekable();
        if of_p.peek().is_none() {
            continue;
        }
        if p == ProcessorId::Mlfs {
            append_mlfs(&tx, of_p)?;
            continue;
        }
        let spec = p.spec();
        let (schema, table) = spec
            .output_table
            .split_once('.')
            .unwrap_or(("main", spec.output_table));
        let mut app = tx.appender_to_db(table, schema).map_err(query_err)?;
        for w in of_p {
            append_records(&mut app, &w.output.records, &w.run.run_id, w.written_at)?;
        }
    }
    if writes
        .iter()
        .any(|w| !w.legacy && !w.output.failures.is_empty())
    {
        let mut app = tx
            .appender_to_db("precompute_failures", "nba_processing")
            .map_err(query_err)?;
        for w in writes.iter().filter(|w| !w.legacy) {
            let spec = w.output.processor.spec();
            for f in &w.output.failures {
                app.append_row(params![
                    spec.name,
                    w.run.run_id,
                    w.output.date,
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
    }
    // The run rows (with their job id) are also the job's checkpoints.
    append_runs(&tx, writes.iter().map(|w| &w.run))?;
    tx.commit().map_err(query_err)
}

/// Removes a cell's old output rows and, unless legacy, its failure rows
/// (nothing to remove when the engine saw the cell empty).
fn delete_cell(tx: &Transaction, w: &CellWrite) -> Result<()> {
    if w.known_empty {
        return Ok(());
    }
    let spec = w.output.processor.spec();
    let date = w.output.date;
    // Table and column names come from the static processor declaration.
    tx.prepare_cached(&format!(
        "DELETE FROM {} WHERE {} = ?",
        spec.output_table, spec.date_column
    ))
    .and_then(|mut s| s.execute(params![date]))
    .map_err(query_err)?;
    if !w.legacy {
        tx.prepare_cached(
            "DELETE FROM nba_processing.precompute_failures
             WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))",
        )
        .and_then(|mut s| s.execute(params![date, spec.name, spec.code]))
        .map_err(query_err)?;
    }
    Ok(())
}

/// Records runs that could not write; as run rows with the job id they also
/// mark the job's cells as failed (see `jobs::cell_states`).
pub(crate) fn record_failed_runs(conn: &mut Connection, runs: &[RunRow]) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    append_runs(&tx, runs.iter())?;
    tx.commit().map_err(query_err)
}

fn append_runs<'a>(tx: &Transaction, runs: impl Iterator<Item = &'a RunRow>) -> Result<()> {
    let mut app = tx
        .appender_to_db("precompute_processor_runs", "nba_processing")
        .map_err(query_err)?;
    for run in runs {
        app.append_row(params![
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
        ])
        .map_err(query_err)?;
    }
    Ok(())
}

fn append_records(
    app: &mut duckdb::Appender<'_>,
    records: &Records,
    run_id: &str,
    at: chrono::NaiveDateTime,
) -> Result<()> {
    match records {
        Records::Psza(rows) => {
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
            // Written by `append_mlfs` (LIST columns).
            return Err(WarehouseError::Query(format!(
                "{} feature rows cannot be appended row by row",
                rows.len()
            )));
        }
    }
    Ok(())
}

/// The feature store's rows. Appending a LIST value per row costs about
/// 12 µs (two lists of 25 values each): most of a season's write time. So
/// the rows go to a connection-local staging table with the features as
/// text — Rust's shortest round-trip formatting, which DuckDB's parser
/// reads back to the same doubles — and one `INSERT … SELECT` builds the
/// lists inside DuckDB; the feature names are one constant list.
fn append_mlfs<'a>(tx: &Transaction, writes: impl Iterator<Item = &'a CellWrite>) -> Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS mlfs_stage (
             player_lookup VARCHAR, game_date DATE, feature_version VARCHAR, features VARCHAR,
             feature_quality_score DOUBLE, run_id VARCHAR, processed_at TIMESTAMP)",
    )
    .map_err(query_err)?;
    {
        let mut app = tx
            .appender_to_catalog_and_db("mlfs_stage", "temp", "main")
            .map_err(query_err)?;
        let mut features = String::new();
        for w in writes {
            let Records::Mlfs(rows) = &w.output.records else {
                continue;
            };
            for r in rows {
                features.clear();
                for (i, f) in r.features.iter().enumerate() {
                    if i > 0 {
                        features.push(',');
                    }
                    features.push_str(&f.to_string());
                }
                app.append_row(params![
                    r.player_lookup,
                    r.game_date,
                    r.feature_version,
                    features,
                    r.feature_quality_score,
                    w.run.run_id,
                    w.written_at,
                ])
                .map_err(query_err)?;
            }
        }
    }
    // The names are the static declaration, never input.
    let names = FEATURE_NAMES
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.prepare_cached(&format!(
        "INSERT INTO nba_predictions.ml_feature_store_v2
         SELECT player_lookup, game_date, feature_version, [{names}]::VARCHAR[],
                CASE WHEN features = '' THEN []::DOUBLE[]
                     ELSE CAST(string_split(features, ',') AS DOUBLE[]) END,
                feature_quality_score, run_id, processed_at
         FROM temp.main.mlfs_stage"
    ))
    .and_then(|mut s| s.execute([]))
    .map_err(query_err)?;
    tx.execute_batch("DELETE FROM temp.main.mlfs_stage")
        .map_err(query_err)
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
/// Every spelling of a processor in `processor_name` columns (code or class
/// name, compared upper-cased), with the processor's bit in the marks below.
pub(crate) fn proc_names_values() -> String {
    domain::processor::name_spellings()
        .map(|(raw, code, bit)| format!("('{raw}', '{code}', {bit})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The selected processors with their bit and the bits of their dependencies.
fn selected_values(processors: &[ProcessorId]) -> String {
    processors
        .iter()
        .map(|p| {
            let deps: u32 = p.spec().depends_on.iter().map(|d| 1u32 << d.order()).sum();
            format!("('{}', {}, {deps})", p.code(), 1u32 << p.order())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Canonical category per raw spelling, and whether it is an expected gap.
fn categories_values() -> String {
    domain::failure::spellings()
        .map(|(raw, code, expected)| format!("('{raw}', '{code}', {expected})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The common CTEs of the drill-down queries. `$1`/`$2` bound the dates.
fn ctes() -> String {
    let records_union = domain::reconcile::union_per_processor(|s| {
        format!(
                "SELECT DISTINCT '{}' AS code, {} AS d, player_lookup FROM {} WHERE {} BETWEEN $1 AND $2",
                s.code, s.date_column, s.output_table, s.date_column
            )
    });
    format!(
        "{common},
         expected AS (
             SELECT DISTINCT game_date AS d, player_lookup
             FROM nba_analytics.player_game_summary
             WHERE game_date BETWEEN $1 AND $2 AND {expected_player}
         ),
         recs AS ({records_union})",
        common = failure_ctes(),
        expected_player = EXPECTED_PLAYER,
    )
}

/// A player is expected on a date when they played (DESIGN §1).
const EXPECTED_PLAYER: &str = "is_active AND (minutes_played > 0 OR fg_attempts > 0)";

/// `proc_names`, `cats` and `fails` (failure rows of the range with their
/// processor and canonical category), shared by every reconciliation query.
fn failure_ctes() -> String {
    format!(
        "proc_names(raw, code, bit) AS (VALUES {names}),
         cats(raw, code, expected) AS (VALUES {cats}),
         fails AS (
             SELECT pn.code, pn.bit, f.analysis_date AS d, f.entity_id,
                    coalesce(c.code, 'UNKNOWN') AS category,
                    coalesce(c.expected, false) AS is_expected
             FROM nba_processing.precompute_failures f
             JOIN proc_names pn ON pn.raw = upper(f.processor_name)
             LEFT JOIN cats c
               ON c.raw = {normalised}
             WHERE f.analysis_date BETWEEN $1 AND $2
         )",
        names = proc_names_values(),
        cats = categories_values(),
        normalised = domain::failure::NORMALISED_CATEGORY_SQL,
    )
}

/// The reconciliation of a range as one set-based statement, whatever the
/// range length or the processors asked for. Each (date, player) seen anywhere
/// (expected, a record, a failure) gets one bit mask (`domain::reconcile::mask`),
/// so the accounting is one grouping over the range's rows; the statement
/// returns the few distinct masks per date with their player counts (kind 0),
/// failure rows per (processor, date, normalised category) (kind 1) and runs per
/// (processor, date) with the latest (kind 2). `domain::reconcile::cells` turns
/// them into cells. Columns: kind, date, mask or processor bit, count,
/// category or last run id, last status, date-level flag, last start.
///
/// Kept small on purpose: DuckDB re-plans a prepared statement that reads
/// tables on every execution, so planning is paid per call.
pub(crate) fn reconcile_sql() -> String {
    use domain::reconcile::{expected_spellings_sql, mask, processor_bit_sql};
    let record_marks = domain::reconcile::union_per_processor(|s| {
        format!(
            "SELECT {c}, player_lookup, {m} FROM {t} WHERE {c} BETWEEN $1 AND $2",
            c = s.date_column,
            t = s.output_table,
            m = mask::record(s.id),
        )
    });
    format!(
        "WITH fails AS (
             SELECT {failure_bit} AS bit, analysis_date AS d, entity_id, {category} AS category
             FROM nba_processing.precompute_failures
             WHERE analysis_date BETWEEN $1 AND $2
         ),
         marks AS (
             SELECT game_date AS d, player_lookup AS p, {expected} AS m
             FROM nba_analytics.player_game_summary
             WHERE game_date BETWEEN $1 AND $2 AND {expected_player}
             UNION ALL {record_marks}
             UNION ALL SELECT d, entity_id, (bit << {failure_shift})
                 | CASE WHEN category IN ({expected_categories}) THEN 0 ELSE bit << {investigate_shift} END
             FROM fails WHERE bit IS NOT NULL AND entity_id <> '{date_level}'
         )
         SELECT {mask_row} AS kind, d, m, count(*), NULL::VARCHAR, NULL::VARCHAR, NULL::BOOLEAN, NULL::TIMESTAMP
         FROM (SELECT d, bit_or(m) AS m FROM marks GROUP BY d, p) GROUP BY d, m
         UNION ALL
         SELECT {failure_row}, d, bit, count(*), category, NULL, bool_or(entity_id = '{date_level}'), NULL
         FROM fails WHERE bit IS NOT NULL GROUP BY bit, d, category
         UNION ALL
         SELECT {run_row}, analysis_date, {run_bit} AS bit, count(*), arg_max(run_id, started_at),
                arg_max(status, started_at), NULL, max(started_at)
         FROM nba_processing.precompute_processor_runs
         WHERE analysis_date BETWEEN $1 AND $2
         GROUP BY ALL HAVING bit IS NOT NULL",
        failure_bit = processor_bit_sql("processor_name"),
        run_bit = processor_bit_sql("processor_name"),
        category = domain::failure::NORMALISED_CATEGORY_SQL,
        expected = mask::EXPECTED,
        expected_player = EXPECTED_PLAYER,
        failure_shift = mask::FAILURE_SHIFT,
        investigate_shift = mask::INVESTIGATE_SHIFT,
        expected_categories = expected_spellings_sql(),
        mask_row = warehouse::accounting::MASK_ROW,
        failure_row = warehouse::accounting::FAILURE_ROW,
        run_row = warehouse::accounting::RUN_ROW,
        date_level = DATE_LEVEL,
    )
}

pub(crate) fn cell_counts(
    conn: &mut Connection,
    range: DateRange,
    processors: &[ProcessorId],
) -> Result<Vec<CellCounts>> {
    use warehouse::accounting::{Accounting, AccountingRow};
    if processors.is_empty() {
        return Ok(Vec::new());
    }
    // Built once: the text is the statement cache's key.
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let mut stmt = conn
        .prepare_cached(SQL.get_or_init(reconcile_sql))
        .map_err(query_err)?;
    let mut rows = stmt
        .query(params![range.start(), range.end()])
        .map_err(query_err)?;
    let mut accounting = Accounting::default();
    while let Some(r) = rows.next().map_err(query_err)? {
        accounting.push(AccountingRow {
            kind: r.get(0).map_err(query_err)?,
            date: r.get(1).map_err(query_err)?,
            key: r.get(2).map_err(query_err)?,
            count: r.get(3).map_err(query_err)?,
            text: r.get(4).map_err(query_err)?,
            status: r.get(5).map_err(query_err)?,
            date_level: r.get(6).map_err(query_err)?,
            started_at: r.get(7).map_err(query_err)?,
        })?;
    }
    Ok(accounting.cells(processors))
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
        "WITH {ctes}, sel(code, bit, deps) AS (VALUES {sel})
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
        let p = WarehouseError::stored_processor(&code)?;
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
               ON c.raw = {normalised}
             WHERE f.analysis_date = $1 AND upper(f.processor_name) IN (upper($2), upper($3))
               AND ($4 IS NULL OR coalesce(c.code, 'UNKNOWN') = $4)
               AND ($5 IS NULL OR contains(lower(f.entity_id), lower($5)))
         )
         SELECT *, count(*) OVER () AS total FROM rows
         ORDER BY category, entity_id LIMIT $6 OFFSET $7",
        cats = categories_values(),
        normalised = domain::failure::NORMALISED_CATEGORY_SQL,
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
type FailureColumns = (String, String, String, Option<String>, Option<String>);

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
        let failure: Option<FailureColumns> = conn
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
        let failure = failure.map(
            |(entity_id, raw_category, reason, upstream_processor, upstream_category)| {
                TraceFailure {
                    entity_id,
                    raw_category,
                    reason,
                    upstream_processor,
                    upstream_category,
                }
            },
        );
        let state = TraceState::of(has_record, failure, expected);
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
