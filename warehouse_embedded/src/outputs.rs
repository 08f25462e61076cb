//! Processor outputs, failures and runs: idempotent cell writes, the reads the
//! downstream processors need, and the set-based accounting query.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use domain::processors::{
    PcfRecord, PdcRecord, PszaRecord, Records, Upstream, UpstreamSet, Value, DATE_LEVEL,
    FEATURE_NAMES,
};
use domain::{Builtin, ProcessorId, Runner};
use duckdb::{params, Connection, Transaction};
use warehouse::sql::{self, Dialect};
use warehouse::{CellWrite, Result, RunRow, WarehouseError};

use crate::query_err;

/// Writes every cell of the batch in one transaction: all or nothing. The
/// old rows of every cell go first; then each table gets one appender for
/// the whole batch (an appender per cell and table cost more than the rows).
pub(crate) fn write_cells(conn: &mut Connection, d: &Dialect, writes: &[CellWrite]) -> Result<()> {
    let pipeline = d.pipeline();
    let tx = conn.transaction().map_err(query_err)?;
    for w in writes {
        delete_cell(&tx, pipeline, w)?;
    }
    for p in pipeline.ids() {
        let mut of_p = writes.iter().filter(|w| w.output.processor == p).peekable();
        if of_p.peek().is_none() {
            continue;
        }
        let spec = pipeline.spec(p);
        if spec.runner == Runner::Builtin(Builtin::Mlfs) {
            append_mlfs(&tx, of_p)?;
            continue;
        }
        let (schema, table) = sql::dataset_and_table(&spec.output_table);
        let mut app = tx.appender_to_db(table, schema).map_err(query_err)?;
        for w in of_p {
            append_records(
                &mut app,
                &w.output.records,
                w.output.date,
                &w.run.run_id,
                w.written_at,
            )?;
        }
    }
    if writes
        .iter()
        .any(|w| !w.legacy && !w.output.failures.is_empty())
    {
        let (schema, table) = sql::dataset_and_table(&pipeline.failures_table);
        let mut app = tx.appender_to_db(table, schema).map_err(query_err)?;
        for w in writes.iter().filter(|w| !w.legacy) {
            let spec = pipeline.spec(w.output.processor);
            for f in &w.output.failures {
                app.append_row(params![
                    &spec.name,
                    w.run.run_id,
                    w.output.date,
                    f.entity_id,
                    f.category.code(),
                    f.reason,
                    f.can_retry,
                    f.upstream_processor.map(|u| pipeline.code(u)),
                    f.upstream_category,
                    w.written_at,
                ])
                .map_err(query_err)?;
            }
        }
    }
    // The run rows (with their job id) are also the job's checkpoints.
    append_runs(&tx, pipeline, writes.iter().map(|w| &w.run))?;
    tx.commit().map_err(query_err)
}

/// Removes a cell's old output rows and, unless legacy, its failure rows
/// (nothing to remove when the engine saw the cell empty).
fn delete_cell(tx: &Transaction, pipeline: &Pipeline, w: &CellWrite) -> Result<()> {
    if w.known_empty {
        return Ok(());
    }
    let spec = pipeline.spec(w.output.processor);
    let date = w.output.date;
    // Table and column names come from the validated pipeline declaration.
    tx.prepare_cached(&format!(
        "DELETE FROM {} WHERE {} = ?",
        spec.output_table, spec.date_column
    ))
    .and_then(|mut s| s.execute(params![date]))
    .map_err(query_err)?;
    if !w.legacy {
        tx.prepare_cached(&format!(
            "DELETE FROM {} WHERE analysis_date = ? AND upper(processor_name) IN (upper(?), upper(?))",
            pipeline.failures_table
        ))
        .and_then(|mut s| s.execute(params![date, &spec.name, &spec.code]))
        .map_err(query_err)?;
    }
    Ok(())
}

/// Records runs that could not write; as run rows with the job id they also
/// mark the job's cells as failed (see `jobs::cell_states`).
pub(crate) fn record_failed_runs(
    conn: &mut Connection,
    d: &Dialect,
    runs: &[RunRow],
) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    append_runs(&tx, d.pipeline(), runs.iter())?;
    tx.commit().map_err(query_err)
}

fn append_runs<'a>(
    tx: &Transaction,
    pipeline: &Pipeline,
    runs: impl Iterator<Item = &'a RunRow>,
) -> Result<()> {
    let (schema, table) = sql::dataset_and_table(&pipeline.runs_table);
    let mut app = tx.appender_to_db(table, schema).map_err(query_err)?;
    for run in runs {
        app.append_row(params![
            run.run_id,
            run.job_id,
            pipeline.spec(run.processor).name,
            run.analysis_date,
            run.status.as_str(),
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

pub(crate) fn duck_value(v: &Value) -> duckdb::types::Value {
    use duckdb::types::Value as Duck;
    match v {
        Value::Null => Duck::Null,
        Value::Int(i) => Duck::BigInt(*i),
        Value::Float(f) => Duck::Double(*f),
        Value::Text(t) => Duck::Text(t.clone()),
        Value::Bool(b) => Duck::Boolean(*b),
    }
}

/// Creates the tables of the pipeline's command and observed
/// processors when missing (`sql::pipeline_table`), and refuses one
/// whose columns do not fit, naming both lists: a command's table must be
/// exactly its declaration; an observed table (someone else's) must have the
/// entity and date columns.
pub(crate) fn create_pipeline_tables(conn: &Connection, d: &Dialect, location: &str) -> Result<()> {
    let pipeline = d.pipeline();
    let universe = &pipeline.universe;
    if let Some(columns) = sql::universe_table_columns(universe) {
        // Someone else's table may have more columns; it must have these.
        ensure_table(
            conn,
            d,
            location,
            &universe.table,
            &columns,
            false,
            "the universe",
        )?;
    }
    // The docs/DESIGN.md §2 failure and run tables come with the migrations; another
    // pipeline's are created here and must be exactly these columns.
    for (table, columns, needed_by) in [
        (
            pipeline.failures_table.as_str(),
            &sql::FAILURE_COLUMNS[..],
            "[tables] failures",
        ),
        (
            pipeline.runs_table.as_str(),
            &sql::RUN_COLUMNS[..],
            "[tables] runs",
        ),
    ] {
        if table != sql::FAILURES && table != sql::RUNS {
            ensure_table(conn, d, location, table, columns, true, needed_by)?;
        }
    }
    for spec in &pipeline.processors {
        let Some(own) = sql::pipeline_table(spec) else {
            continue;
        };
        ensure_table(
            conn,
            d,
            location,
            &spec.output_table,
            &own.columns,
            own.exact,
            &format!("processor {}", spec.code),
        )?;
    }
    Ok(())
}

/// Creates `name` with `columns` when missing; refuses an existing table
/// that lacks them (or, when `exact`, has anything else).
fn ensure_table(
    conn: &Connection,
    d: &Dialect,
    location: &str,
    name: &str,
    columns: &[(&str, sql::ColumnKind)],
    exact: bool,
    needed_by: &str,
) -> Result<()> {
    let (schema, table) = sql::dataset_and_table(name);
    // Names come from the validated pipeline file (identifiers only).
    let defs: Vec<String> = columns
        .iter()
        .map(|(name, kind)| format!("{name} {}", d.type_name(*kind)))
        .collect();
    conn.execute_batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {name} ({});",
        defs.join(", ")
    ))
    .map_err(query_err)?;
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(query_err)?;
    let found: Vec<String> = stmt
        .query_map(params![schema, table], |r| {
            Ok(format!("{} {}", r.get::<_, String>(0)?, r.get::<_, String>(1)?).to_lowercase())
        })
        .map_err(query_err)?
        .collect::<duckdb::Result<_>>()
        .map_err(query_err)?;
    let wanted: Vec<String> = defs.iter().map(|f| f.to_lowercase()).collect();
    let fits = if exact {
        found == wanted
    } else {
        wanted.iter().all(|w| found.contains(w))
    };
    if !fits {
        return Err(WarehouseError::Open {
            location: location.to_string(),
            message: format!(
                "{name} has columns ({}), but {needed_by} needs ({})",
                found.join(", "),
                defs.join(", ")
            ),
        });
    }
    Ok(())
}

fn append_records(
    app: &mut duckdb::Appender<'_>,
    records: &Records,
    date: NaiveDate,
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
        Records::Rows(rows) => {
            for r in rows {
                let values: Vec<duckdb::types::Value> = r.values.iter().map(duck_value).collect();
                let mut row: Vec<&dyn duckdb::ToSql> = Vec::with_capacity(values.len() + 4);
                row.push(&r.entity);
                row.push(&date);
                row.extend(values.iter().map(|v| v as &dyn duckdb::ToSql));
                row.push(&run_id);
                row.push(&at);
                app.append_row(duckdb::appender_params_from_iter(row))
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
