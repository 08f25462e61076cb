//! Acknowledgements and snapshots on the embedded store: their writes (the
//! reads are shared, `warehouse::sql::acks` and `sql::snapshots`).

use chrono::NaiveDateTime;
use domain::ack::{AckEnd, Acknowledgement};
use duckdb::{params, Connection};
use warehouse::sql::Dialect;
use warehouse::Result;

use crate::query_err;

/// Keeps `acks` in one transaction; one kept again by id replaces itself.
pub(crate) fn record(conn: &mut Connection, d: &Dialect, acks: &[Acknowledgement]) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO rollcall_meta.acknowledgements
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(query_err)?;
        for a in acks {
            insert
                .execute(params![
                    a.id,
                    d.pipeline().code(a.processor),
                    a.date,
                    a.entity,
                    a.reason.code(),
                    a.note,
                    a.ticket_url,
                    a.created_by,
                    a.created_at,
                    a.expires_at,
                    a.ended_at,
                    a.ended_by,
                    a.end.map(AckEnd::code),
                ])
                .map_err(query_err)?;
        }
    }
    tx.commit().map_err(query_err)
}

/// Ends those of `ids` not ended yet; how many.
pub(crate) fn end(
    conn: &mut Connection,
    ids: &[String],
    at: NaiveDateTime,
    by: &str,
    end: AckEnd,
) -> Result<usize> {
    let tx = conn.transaction().map_err(query_err)?;
    let mut ended = 0;
    {
        let mut update = tx
            .prepare_cached(
                "UPDATE rollcall_meta.acknowledgements
                 SET ended_at = ?, ended_by = ?, end_reason = ?
                 WHERE id = ? AND ended_at IS NULL",
            )
            .map_err(query_err)?;
        for id in ids {
            ended += update
                .execute(params![at, by, end.code(), id])
                .map_err(query_err)?;
        }
    }
    tx.commit().map_err(query_err)?;
    Ok(ended)
}

/// Keeps a snapshot; kept again by id, it replaces itself.
pub(crate) fn record_snapshot(
    conn: &mut Connection,
    meta: &domain::report::SnapshotMeta,
    body: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO rollcall_meta.snapshots
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            meta.id,
            meta.taken_at,
            meta.taken_by,
            meta.note,
            meta.start,
            meta.end,
            meta.processors.join(","),
            meta.cells,
            meta.not_ok,
            meta.bytes,
            body,
        ])
    })
    .map_err(query_err)?;
    Ok(())
}

/// Deletes the snapshots taken before `before`; how many.
pub(crate) fn delete_snapshots_before(
    conn: &mut Connection,
    before: NaiveDateTime,
) -> Result<usize> {
    conn.execute(
        "DELETE FROM rollcall_meta.snapshots WHERE taken_at < ?",
        params![before],
    )
    .map_err(query_err)
}
