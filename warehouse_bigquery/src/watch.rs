//! Evaluations, alert deliveries and the evaluator's lease on BigQuery:
//! staged writes applied by one transaction (see `stage`: retry-safe), the
//! reads shared (`warehouse::sql::watch`).

use chrono::NaiveDateTime;
use domain::watch::WatchedCell;
use warehouse::sql::{kept_inline, names_json, new_list};
use warehouse::{DeliveryRecord, EvaluationRecord, Result};

use crate::client::{self, param, Param};
use crate::schema;
use crate::stage::Staging;
use crate::BigQueryWarehouse;

/// A timestamp literal (scripts take no parameters; rendered from a typed value).
fn timestamp_literal(t: NaiveDateTime) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
}

pub(crate) async fn record_evaluation(
    wh: &BigQueryWarehouse,
    e: EvaluationRecord,
    cells: Vec<WatchedCell>,
    keep_since: NaiveDateTime,
) -> Result<()> {
    let mut staging = Staging::new();
    staging.push(
        &schema::EVALUATIONS,
        &[
            Param::Str(Some(e.id.clone())),
            Param::Str(Some(e.trigger.clone())),
            Param::Timestamp(Some(e.as_of)),
            Param::Date(Some(e.window_start)),
            Param::Date(Some(e.window_end)),
            Param::Timestamp(Some(e.started_at)),
            Param::Int(Some(e.duration_ms)),
            Param::Int(Some(e.open_cells)),
            Param::Str(Some(e.summary.clone())),
        ],
    );
    for c in &cells {
        staging.push(
            &schema::EVALUATION_CELLS,
            &[
                Param::Str(Some(e.id.clone())),
                Param::Str(Some(wh.pipeline.code(c.processor).to_string())),
                Param::Date(Some(c.date)),
                Param::Int(Some(c.expected)),
                Param::Int(Some(c.records)),
                Param::Int(Some(c.expected_failures)),
                Param::Int(Some(c.investigate)),
                Param::Int(Some(c.unaccounted)),
                Param::Bool(Some(c.late)),
                Param::Str(Some(c.change.word().into())),
                Param::Timestamp(Some(c.open_since)),
                Param::Str(Some(kept_inline(c))),
                Param::Int(Some(c.open_entities)),
                Param::Str(Some(names_json(&c.new_entities))),
                Param::Str(Some(names_json(&c.resolved_entities))),
                Param::Str(c.names_key.clone()),
            ],
        );
    }
    // One row per key: two processors may share a set.
    let lists: std::collections::BTreeMap<&str, &[String]> =
        cells.iter().filter_map(new_list).collect();
    for (key, list) in lists {
        staging.push(
            &schema::EVALUATION_NAMES,
            &[
                Param::Str(Some(key.to_string())),
                Param::Str(Some(names_json(list))),
            ],
        );
    }
    staging.load(wh).await?;
    let (evals, cells_table, names) = (
        wh.table_name(&schema::EVALUATIONS),
        wh.table_name(&schema::EVALUATION_CELLS),
        wh.table_name(&schema::EVALUATION_NAMES),
    );
    let mut body = staging.copy_sql(wh, &schema::EVALUATIONS);
    if staging.has_rows(&schema::EVALUATION_CELLS) {
        body += &staging.copy_sql(wh, &schema::EVALUATION_CELLS);
    }
    if staging.has_rows(&schema::EVALUATION_NAMES) {
        // Kept by key: a list kept again replaces itself.
        body += &format!(
            "DELETE FROM {names} WHERE names_key IN (
                 SELECT names_key FROM {stage} WHERE write_id = '{w}');\n",
            stage = wh.names.stage(&schema::EVALUATION_NAMES),
            w = staging.id,
        );
        body += &staging.copy_sql(wh, &schema::EVALUATION_NAMES);
    }
    // Retention after the new cells are in, so a list they share with an
    // old evaluation stays.
    let keep = timestamp_literal(keep_since);
    let deliveries = wh.table_name(&schema::ALERT_DELIVERIES);
    body += &format!(
        "DELETE FROM {cells_table} WHERE evaluation_id IN (SELECT id FROM {evals} WHERE as_of < {keep});
         DELETE FROM {evals} WHERE as_of < {keep};
         DELETE FROM {names} WHERE names_key NOT IN (
             SELECT names_key FROM {cells_table} WHERE names_key IS NOT NULL);
         DELETE FROM {deliveries} WHERE sent_at < {keep};\n"
    );
    body += &staging.clear_sql(wh);
    staging.commit(wh, &body).await
}

pub(crate) async fn record_delivery(wh: &BigQueryWarehouse, r: DeliveryRecord) -> Result<()> {
    let mut staging = Staging::new();
    staging.push(
        &schema::ALERT_DELIVERIES,
        &[
            Param::Str(Some(r.id.clone())),
            Param::Str(Some(r.evaluation_id.clone())),
            Param::Str(Some(r.channel.clone())),
            Param::Timestamp(Some(r.sent_at)),
            Param::Int(Some(r.cells)),
            Param::Int(r.http_status),
            Param::Str(r.error.clone()),
            Param::Int(Some(r.attempts)),
        ],
    );
    staging.load(wh).await?;
    // Logged by id: a delivery logged again replaces itself.
    let body = staging.replace_by_key_sql(wh, &schema::ALERT_DELIVERIES, "id");
    staging.commit(wh, &body).await
}

/// Takes the lease when it is free, expired or `holder`'s already, in one
/// transaction (BigQuery serialises transactions on one table: two racing
/// evaluators cannot both take it); whether `holder` has it then.
pub(crate) async fn take_lease(
    wh: &BigQueryWarehouse,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool> {
    let lease = wh.table_name(&schema::EVALUATOR_LEASE);
    // `holder` is generated by the engine: digits, letters and `-`.
    let me: String = holder
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let script = format!(
        "BEGIN TRANSACTION;
         DELETE FROM {lease} WHERE name = 'watch' AND (until_at < {now} OR holder = '{me}');
         INSERT INTO {lease} (name, holder, until_at)
           SELECT 'watch', '{me}', {until} FROM (SELECT 1 AS one) AS x
           WHERE NOT EXISTS (SELECT 1 FROM {lease} WHERE name = 'watch');
         COMMIT TRANSACTION;",
        now = timestamp_literal(now),
        until = timestamp_literal(until),
    );
    wh.bq.query(&script, vec![]).await?;
    let rows = wh
        .bq
        .query(
            &format!("SELECT holder FROM {lease} WHERE name = 'watch'"),
            vec![],
        )
        .await?;
    let holders = client::result_set(rows)?.decode(|r| r.text("holder"))?;
    Ok(holders.first().cloned().flatten().as_deref() == Some(me.as_str()))
}

pub(crate) async fn release_lease(wh: &BigQueryWarehouse, holder: &str) -> Result<()> {
    let lease = wh.table_name(&schema::EVALUATOR_LEASE);
    wh.bq
        .query(
            &format!("DELETE FROM {lease} WHERE name = 'watch' AND holder = @h"),
            vec![param("h", Param::Str(Some(holder.to_string())))],
        )
        .await?;
    Ok(())
}
