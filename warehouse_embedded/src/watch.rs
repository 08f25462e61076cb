//! Evaluations and alert deliveries: the embedded store's writes (the
//! reads are shared, `warehouse::sql::watch`; the evaluator's lease is in
//! memory, lib.rs).

use chrono::NaiveDateTime;
use domain::watch::WatchedCell;
use duckdb::{params, Connection};
use warehouse::sql::{kept_inline, names_json, new_list, Dialect};
use warehouse::{DeliveryRecord, EvaluationRecord, Result};

use crate::query_err;

/// The evaluation, its cells and their new lists of names in one
/// transaction; then evaluations whose `as_of` is before `keep_since` (with
/// their cells) and lists no cell refers to any more are deleted — after
/// the new cells are in, so a list they share with an old one stays.
pub(crate) fn record_evaluation(
    conn: &mut Connection,
    d: &Dialect,
    e: &EvaluationRecord,
    cells: &[WatchedCell],
    keep_since: NaiveDateTime,
) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    tx.execute(
        "INSERT OR REPLACE INTO rollcall_meta.evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    // Applied twice, an evaluation keeps its cells once.
    tx.execute(
        "DELETE FROM rollcall_meta.evaluation_cells WHERE evaluation_id = ?",
        params![e.id],
    )
    .map_err(query_err)?;
    {
        // One row per key (two processors may share a set), appended only
        // where the key is new: a list kept again is the same list.
        let mut lists: std::collections::BTreeMap<&str, &[String]> =
            cells.iter().filter_map(new_list).collect();
        if !lists.is_empty() {
            let keys: Vec<String> = lists.keys().map(|k| k.to_string()).collect();
            let known = warehouse::sql::kept_names_keys(d, &keys);
            let mut stmt = tx.prepare(&known.sql).map_err(query_err)?;
            let present = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(query_err)?;
            for key in present {
                lists.remove(key.map_err(query_err)?.as_str());
            }
        }
        let mut app = tx
            .appender_to_db("evaluation_names", "rollcall_meta")
            .map_err(query_err)?;
        for (key, list) in lists {
            app.append_row(params![key, names_json(list)])
                .map_err(query_err)?;
        }
    }
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
                kept_inline(c),
                c.open_entities,
                names_json(&c.new_entities),
                names_json(&c.resolved_entities),
                c.names_key,
            ])
            .map_err(query_err)?;
        }
    }
    let dropped = tx
        .execute(
            "DELETE FROM rollcall_meta.evaluations WHERE as_of < ?",
            params![keep_since],
        )
        .map_err(query_err)?;
    if dropped > 0 {
        tx.execute_batch(
            "DELETE FROM rollcall_meta.evaluation_cells WHERE evaluation_id NOT IN (
                 SELECT id FROM rollcall_meta.evaluations);
             DELETE FROM rollcall_meta.evaluation_names WHERE names_key NOT IN (
                 SELECT names_key FROM rollcall_meta.evaluation_cells WHERE names_key IS NOT NULL);",
        )
        .map_err(query_err)?;
    }
    tx.execute(
        "DELETE FROM rollcall_meta.alert_deliveries WHERE sent_at < ?",
        params![keep_since],
    )
    .map_err(query_err)?;
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
