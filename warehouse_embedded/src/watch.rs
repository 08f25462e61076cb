//! Evaluations and alert deliveries: the embedded store's writes (the
//! reads are shared, `warehouse::sql::watch`; the evaluator's lease is in
//! memory, lib.rs).

use chrono::NaiveDateTime;
use domain::watch::WatchedCell;
use duckdb::{params, Connection};
use warehouse::sql::{names_json, Dialect};
use warehouse::{DeliveryRecord, EvaluationRecord, Result};

use crate::query_err;

/// The evaluation and its cells in one transaction, with evaluations whose
/// `as_of` is before `keep_since` (and their cells) deleted.
pub(crate) fn record_evaluation(
    conn: &mut Connection,
    d: &Dialect,
    e: &EvaluationRecord,
    cells: &[WatchedCell],
    keep_since: NaiveDateTime,
) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    tx.execute(
        "DELETE FROM rollcall_meta.evaluation_cells WHERE evaluation_id IN (
             SELECT id FROM rollcall_meta.evaluations WHERE as_of < ?)",
        params![keep_since],
    )
    .map_err(query_err)?;
    tx.execute(
        "DELETE FROM rollcall_meta.evaluations WHERE as_of < ?",
        params![keep_since],
    )
    .map_err(query_err)?;
    tx.execute(
        "DELETE FROM rollcall_meta.alert_deliveries WHERE sent_at < ?",
        params![keep_since],
    )
    .map_err(query_err)?;
    tx.execute(
        "INSERT INTO rollcall_meta.evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            e.id,
            e.trigger,
            e.as_of,
            e.window_start,
            e.window_end,
            e.started_at,
            e.duration_ms,
            e.open_cells,
            e.summary
        ],
    )
    .map_err(query_err)?;
    {
        let mut app = tx
            .appender_to_db("evaluation_cells", "rollcall_meta")
            .map_err(query_err)?;
        for c in cells {
            app.append_row(params![
                e.id,
                d.pipeline().code(c.processor),
                c.date,
                c.expected,
                c.records,
                c.expected_failures,
                c.investigate,
                c.unaccounted,
                c.late,
                c.change.word(),
                c.open_since,
                names_json(&c.entities),
                c.open_entities,
                names_json(&c.new_entities),
                names_json(&c.resolved_entities),
            ])
            .map_err(query_err)?;
        }
    }
    tx.commit().map_err(query_err)
}

pub(crate) fn record_delivery(conn: &mut Connection, r: &DeliveryRecord) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO rollcall_meta.alert_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            r.id,
            r.evaluation_id,
            r.channel,
            r.sent_at,
            r.cells,
            r.http_status,
            r.error,
            r.attempts
        ],
    )
    .map_err(query_err)?;
    Ok(())
}
