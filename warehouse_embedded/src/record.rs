//! The store's row of `rollcall_meta.pipeline_record` (`warehouse::record`).

use domain::pipeline::Pipeline;
use duckdb::{params, Connection, OptionalExt};
use warehouse::Result;

use crate::query_err;

/// Refuses another pipeline than the one recorded (unless `adopt`).
pub(crate) fn check(
    conn: &Connection,
    pipeline: &Pipeline,
    adopt: bool,
    location: &str,
) -> Result<warehouse::record::Grown> {
    let recorded: Option<String> = conn
        .query_row(
            "SELECT shape FROM rollcall_meta.pipeline_record LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(query_err)?;
    warehouse::record::admit(recorded.as_deref(), pipeline, adopt, location)
}

/// Records `pipeline` as the store's (once its tables exist).
pub(crate) fn write(conn: &Connection, pipeline: &Pipeline) -> Result<()> {
    let shape = warehouse::record::recorded(pipeline);
    let same: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM rollcall_meta.pipeline_record WHERE shape = ?",
            params![shape],
            |r| r.get(0),
        )
        .optional()
        .map_err(query_err)?;
    if same.is_some() {
        return Ok(());
    }
    conn.execute_batch("BEGIN TRANSACTION; DELETE FROM rollcall_meta.pipeline_record;")
        .map_err(query_err)?;
    let written = conn
        .execute(
            "INSERT INTO rollcall_meta.pipeline_record (shape, recorded_at) VALUES (?, current_timestamp)",
            params![shape],
        )
        .map_err(query_err);
    match written {
        Ok(_) => conn.execute_batch("COMMIT").map_err(query_err),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
