//! Processor outputs, failures and runs written: idempotent cell writes
//! (one transaction per batch, appenders per table) and failed runs.

use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use domain::processors::{Records, Value, FEATURE_NAMES};
use domain::{Builtin, Runner};
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
pub(crate) fn record_runs(conn: &mut Connection, d: &Dialect, runs: &[RunRow]) -> Result<()> {
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
