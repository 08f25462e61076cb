//! Acknowledgements on the embedded store: its writes (the reads are
//! shared, `warehouse::sql::acks`).

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
