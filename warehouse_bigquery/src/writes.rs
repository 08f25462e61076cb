//! Writes: batches of cells, failed runs and upstream loads, each through one
//! staged, retry-safe transaction (see `stage`).

use std::collections::BTreeSet;

use domain::processor::ColumnType;
use domain::processors::Records;
use serde_json::Value;
use warehouse::{CellWrite, Result, RunRow, WarehouseError};

use crate::client::Param;
use crate::schema;
use crate::stage::{date_literal, Staging};
use crate::BigQueryWarehouse;
use domain::pipeline::Pipeline;

/// A run row's values in the runs' staging-twin order (`wh.tables.runs` columns, then
/// `RUN_STAGE_EXTRAS`).
fn staged_run(pipeline: &Pipeline, run: &RunRow, replace_failures: bool) -> Vec<Param> {
    let spec = pipeline.spec(run.processor);
    vec![
        Param::Str(Some(run.run_id.clone())),
        Param::Str(run.job_id.clone()),
        Param::Str(Some(spec.name.clone())),
        Param::Date(Some(run.analysis_date)),
        Param::Str(Some(run.status.to_string())),
        Param::Int(Some(run.records_written)),
        Param::Int(Some(run.failures_written)),
        Param::Int(Some(run.expected_count)),
        Param::Bool(Some(run.dependency_check_passed)),
        Param::Int(Some(run.duration_ms)),
        Param::Str(Some(run.processor_version.clone())),
        Param::Str(run.error.clone()),
        Param::Timestamp(Some(run.started_at)),
        Param::Str(Some(spec.code.clone())),
        Param::Bool(Some(replace_failures)),
    ]
}

/// A command's value as a parameter of its column's type (NULLs typed).
pub(crate) fn command_value(ty: ColumnType, v: &domain::processors::Value) -> Param {
    use domain::processors::Value as V;
    match (ty, v) {
        (_, V::Int(i)) => Param::Int(Some(*i)),
        (_, V::Float(f)) => Param::Float(Some(*f)),
        (_, V::Text(t)) => Param::Str(Some(t.clone())),
        (_, V::Bool(b)) => Param::Bool(Some(*b)),
        (ColumnType::Int, V::Null) => Param::Int(None),
        (ColumnType::Float, V::Null) => Param::Float(None),
        (ColumnType::Text, V::Null) => Param::Str(None),
        (ColumnType::Bool, V::Null) => Param::Bool(None),
    }
}

pub(crate) fn encode<T: serde::Serialize>(items: &[T]) -> Result<Vec<Value>> {
    items
        .iter()
        .map(serde_json::to_value)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| WarehouseError::Query(format!("cannot encode rows: {e}")))
}

/// Stages the cells' rows, then replaces them in one transaction.
pub(crate) async fn write_cells(wh: &BigQueryWarehouse, writes: Vec<CellWrite>) -> Result<()> {
    let (Some(lo), Some(hi)) = (
        writes.iter().map(|w| w.output.date).min(),
        writes.iter().map(|w| w.output.date).max(),
    ) else {
        return Ok(());
    };
    let mut staging = Staging::new();
    let feature_names = Param::StrArray(
        domain::processors::FEATURE_NAMES
            .iter()
            .map(|n| (*n).to_string())
            .collect(),
    );
    let mut processors: BTreeSet<usize> = BTreeSet::new();
    let mut tracks_failures = false;
    for w in &writes {
        let p = w.output.processor;
        processors.insert(p.order());
        let out = wh.tables.output(&wh.pipeline, p)?;
        let at = Param::Timestamp(Some(w.written_at));
        let run_id = Param::Str(Some(w.run.run_id.clone()));
        let values = match &w.output.records {
            Records::Psza(r) => encode(r)?,
            Records::Pdc(r) => encode(r)?,
            Records::Pcf(r) => encode(r)?,
            Records::Mlfs(r) => encode(r)?,
            Records::Rows(rows) => {
                // A command's rows: entity, date, its columns, run id, time.
                for r in rows {
                    let mut row = vec![
                        Param::Str(Some(r.entity.clone())),
                        Param::Date(Some(w.output.date)),
                    ];
                    row.extend(
                        wh.pipeline
                            .spec(p)
                            .columns
                            .iter()
                            .zip(&r.values)
                            .map(|(c, v)| command_value(c.ty, v)),
                    );
                    row.extend([run_id.clone(), at.clone()]);
                    staging.push(out, &row);
                }
                Vec::new()
            }
        };
        for o in values.iter().filter_map(Value::as_object) {
            let row = schema::row_params(
                out,
                o,
                &[
                    ("run_id", run_id.clone()),
                    ("processed_at", at.clone()),
                    ("feature_names", feature_names.clone()),
                ],
            );
            staging.push(out, &row);
        }
        if !w.legacy {
            tracks_failures = true;
            for f in &w.output.failures {
                staging.push(
                    wh.tables.failures,
                    &[
                        Param::Str(Some(wh.pipeline.spec(p).name.clone())),
                        run_id.clone(),
                        Param::Date(Some(w.output.date)),
                        Param::Str(Some(f.entity_id.clone())),
                        Param::Str(Some(f.category.code().into())),
                        Param::Str(Some(f.reason.clone())),
                        Param::Bool(Some(f.can_retry)),
                        Param::Str(f.upstream_processor.map(|u| wh.pipeline.code(u).into())),
                        Param::Str(f.upstream_category.clone()),
                        at.clone(),
                    ],
                );
            }
        }
        staging.push(wh.tables.runs, &staged_run(&wh.pipeline, &w.run, !w.legacy));
    }
    staging.load(wh).await?;
    let runs_stage = wh.names.stage(wh.tables.runs);
    let id = &staging.id;
    let (lo, hi) = (date_literal(lo), date_literal(hi));
    let mut body = String::new();
    for order in processors {
        let spec = &wh.pipeline.processors[order];
        let out = wh.tables.output(&wh.pipeline, spec.id)?;
        // The dates this write replaces for the processor are the dates of its
        // staged runs: once the stage is cleared, this deletes nothing.
        body += &format!(
            "DELETE FROM {target} AS t WHERE t.{col} BETWEEN {lo} AND {hi}
               AND t.{col} IN (SELECT s.analysis_date FROM {runs_stage} AS s
                               WHERE s.write_id = '{id}' AND s.processor_code = '{code}');\n",
            target = wh.names.of(out),
            col = spec.date_column,
            code = spec.code,
        );
        if staging.has_rows(out) {
            body += &staging.copy_sql(wh, out);
        }
    }
    if tracks_failures {
        body += &format!(
            "DELETE FROM {failures} AS f WHERE f.analysis_date BETWEEN {lo} AND {hi}
               AND EXISTS (SELECT 1 FROM {runs_stage} AS s
                           WHERE s.write_id = '{id}' AND s.replace_failures
                             AND s.analysis_date = f.analysis_date
                             AND UPPER(f.processor_name) IN (UPPER(s.processor_name), s.processor_code));\n",
            failures = wh.table_name(wh.tables.failures),
        );
        if staging.has_rows(wh.tables.failures) {
            body += &staging.copy_sql(wh, wh.tables.failures);
        }
    }
    body += &staging.copy_sql(wh, wh.tables.runs);
    body += &staging.clear_sql(wh);
    staging.commit(wh, &body).await
}

/// Appends run rows without a cell write (`Warehouse::record_runs`) in one
/// staged transaction.
pub(crate) async fn record_runs(wh: &BigQueryWarehouse, runs: Vec<RunRow>) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let mut staging = Staging::new();
    for run in &runs {
        staging.push(wh.tables.runs, &staged_run(&wh.pipeline, run, false));
    }
    staging.load(wh).await?;
    let body = staging.copy_sql(wh, wh.tables.runs) + &staging.clear_sql(wh);
    staging.commit(wh, &body).await
}

/// How many cells and rows one BigQuery write carries. Each batch costs
/// about eight jobs (a load per staged table, one transaction, the job's
/// progress), so a season of 4 × 166 cells takes ~11 batches; the row bound
/// keeps each load well under `stage::MAX_LOAD_BYTES` per table and the
/// transaction's rows within a few seconds of BigQuery time.
pub(crate) const WRITE_BATCH: warehouse::WriteBatch = warehouse::WriteBatch {
    max_cells: 64,
    max_rows: 24_000,
};
