//! Backfill jobs and their per-cell checkpoints.

use chrono::NaiveDate;
use domain::ProcessorId;
use duckdb::{params, Connection, OptionalExt};
use warehouse::sql::Dialect;
use warehouse::{CellState, JobCell, JobRecord, JobState, Result, WarehouseError};

use crate::query_err;

/// Each job cell with its state derived from the last run the job recorded
/// for it: `success` → done, `failed` → failed, none → pending. Writing the
/// run row is part of every cell write, so checkpoints cost no extra statement.
/// `$job_filter` narrows the runs read (a `WHERE` on `r.job_id`).
fn cell_states(d: &Dialect, job_filter: &str) -> String {
    format!(
        "last_runs AS (
             SELECT r.job_id, {code} AS processor_name, r.analysis_date,
                    arg_max(r.status, r.started_at) AS status
             FROM {runs} r
             WHERE ({job_filter}) AND {code} IS NOT NULL
             GROUP BY ALL
         ),
         cell_states AS (
             SELECT c.job_id, c.processor_name, c.analysis_date,
                    CASE lr.status WHEN 'success' THEN 'done' WHEN 'failed' THEN 'failed'
                                   ELSE 'pending' END AS state
             FROM rollcall_meta.job_cells c
             LEFT JOIN last_runs lr USING (job_id, processor_name, analysis_date)
         )",
        code = domain::reconcile::processor_code_sql(d.pipeline(), "r.processor_name"),
        runs = d.pipeline().runs_table,
    )
}

const JOB_COLUMNS: &str = "id, coalesce(requested_by, '') AS requested_by, request, state,
     coalesce(progress, '{}') AS progress, created_at, started_at, finished_at, error, snapshot";
/// The list leaves the snapshot out (see `Warehouse::jobs`).
const JOB_LIST_COLUMNS: &str = "id, coalesce(requested_by, '') AS requested_by, request, state,
     coalesce(progress, '{}') AS progress, created_at, started_at, finished_at, error,
     NULL::VARCHAR AS snapshot";

/// A job row, read by column name.
fn job_row(r: &duckdb::Row) -> duckdb::Result<JobRecord> {
    let state: String = r.get("state")?;
    Ok(JobRecord {
        id: r.get("id")?,
        requested_by: r.get("requested_by")?,
        request: r.get("request")?,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        progress: r.get("progress")?,
        created_at: r.get("created_at")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
        error: r.get("error")?,
        snapshot: r.get("snapshot")?,
    })
}

pub(crate) fn create(
    conn: &mut Connection,
    d: &Dialect,
    job: &JobRecord,
    cells: &[(ProcessorId, NaiveDate)],
) -> Result<()> {
    let tx = conn.transaction().map_err(query_err)?;
    tx.execute_batch(
        "CREATE OR REPLACE TEMP TABLE new_cells (processor_name VARCHAR, analysis_date DATE)",
    )
    .map_err(query_err)?;
    {
        let mut stmt = tx
            .prepare("INSERT INTO new_cells VALUES (?, ?)")
            .map_err(query_err)?;
        for (p, date) in cells {
            stmt.execute(params![d.pipeline().code(*p), date])
                .map_err(query_err)?;
        }
    }
    tx.execute(
        &format!(
            "INSERT INTO rollcall_meta.jobs ({JOB_COLUMNS_PLAIN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        params![
            job.id,
            job.requested_by,
            job.request,
            job.state.as_str(),
            job.progress,
            job.created_at,
            job.started_at,
            job.finished_at,
            job.error,
            job.snapshot,
        ],
    )
    .map_err(query_err)?;
    tx.execute(
        "INSERT INTO rollcall_meta.job_cells
         SELECT ?, processor_name, analysis_date, 'pending', ? FROM new_cells",
        params![job.id, job.created_at],
    )
    .map_err(query_err)?;
    tx.execute_batch("DROP TABLE new_cells")
        .map_err(query_err)?;
    // A queued job waits its turn; only a job that starts now must not overlap.
    if job.state == JobState::Running {
        if let Some(clash) = overlap(&tx, d, &job.id)? {
            let _ = tx.rollback();
            return Err(clash);
        }
    }
    tx.commit().map_err(query_err)
}

/// A running job other than `id` with a pending cell that `id` still has to run.
fn overlap(tx: &duckdb::Transaction, d: &Dialect, id: &str) -> Result<Option<WarehouseError>> {
    let clash: Option<(String, String, NaiveDate)> = tx
        .query_row(
            &format!(
                "WITH {states}
                 SELECT o.job_id, o.processor_name, o.analysis_date
                 FROM ({pending}) AS o
                 JOIN cell_states mine
                   ON mine.job_id = $1 AND mine.state <> 'done'
                  AND mine.processor_name = o.processor_name AND mine.analysis_date = o.analysis_date
                 ORDER BY o.analysis_date LIMIT 1",
                states = cell_states(d, "r.job_id = $1"),
                pending = warehouse::sql::pending_elsewhere(
                    d,
                    "$1",
                    "DATE '0001-01-01'",
                    "DATE '9999-12-31'"
                ),
            ),
            params![id],
            |r| {
                Ok((
                    r.get("job_id")?,
                    r.get("processor_name")?,
                    r.get("analysis_date")?,
                ))
            },
        )
        .optional()
        .map_err(query_err)?;
    Ok(clash.map(|(other, p, d)| warehouse::sql::overlap_conflict(&other, &p, d)))
}

/// Moves a job to `running` unless a running job overlaps it (atomically).
pub(crate) fn start(
    conn: &mut Connection,
    d: &Dialect,
    id: &str,
    at: chrono::NaiveDateTime,
) -> Result<JobRecord> {
    let tx = conn.transaction().map_err(query_err)?;
    if let Some(clash) = overlap(&tx, d, id)? {
        let _ = tx.rollback();
        return Err(clash);
    }
    let n = tx
        .execute(
            "UPDATE rollcall_meta.jobs SET state = 'running', started_at = ?, finished_at = NULL, error = NULL
             WHERE id = ?",
            params![at, id],
        )
        .map_err(query_err)?;
    if n == 0 {
        let _ = tx.rollback();
        return Err(WarehouseError::NotFound(format!("no job {id}")));
    }
    let job = tx
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM rollcall_meta.jobs WHERE id = ?"),
            params![id],
            job_row,
        )
        .map_err(query_err)?;
    tx.commit().map_err(query_err)?;
    Ok(job)
}

const JOB_COLUMNS_PLAIN: &str =
    "id, requested_by, request, state, progress, created_at, started_at, finished_at, error, snapshot";

pub(crate) fn get(conn: &mut Connection, id: &str) -> Result<Option<JobRecord>> {
    conn.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM rollcall_meta.jobs WHERE id = ?"),
        params![id],
        job_row,
    )
    .optional()
    .map_err(query_err)
}

pub(crate) fn list(conn: &mut Connection, limit: usize) -> Result<Vec<JobRecord>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {JOB_LIST_COLUMNS} FROM rollcall_meta.jobs ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .map_err(query_err)?;
    let rows = stmt
        .query_map(params![limit as i64], job_row)
        .map_err(query_err)?;
    rows.collect::<duckdb::Result<Vec<_>>>().map_err(query_err)
}

pub(crate) fn cells(conn: &mut Connection, d: &Dialect, id: &str) -> Result<Vec<JobCell>> {
    let mut stmt = conn
        .prepare(&format!(
            "WITH {states}
                 SELECT processor_name, analysis_date, state FROM cell_states
                 WHERE job_id = $1 ORDER BY analysis_date, processor_name",
            states = cell_states(d, "r.job_id = $1"),
        ))
        .map_err(query_err)?;
    let rows = stmt
        .query_map(params![id], |r| {
            Ok((
                r.get::<_, String>("processor_name")?,
                r.get::<_, NaiveDate>("analysis_date")?,
                r.get::<_, String>("state")?,
            ))
        })
        .map_err(query_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (p, date, state) = row.map_err(query_err)?;
        out.push(JobCell {
            processor: WarehouseError::stored_processor(d.pipeline(), &p)?,
            date,
            state: CellState::parse(&state).unwrap_or(CellState::Pending),
        });
    }
    out.sort_by_key(|c| (c.date, c.processor.order()));
    Ok(out)
}

pub(crate) fn update(conn: &mut Connection, job: &JobRecord) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE rollcall_meta.jobs SET state = ?, progress = ?, started_at = ?, finished_at = ?, error = ?,
                    snapshot = ?
             WHERE id = ?",
            params![
                job.state.as_str(),
                job.progress,
                job.started_at,
                job.finished_at,
                job.error,
                job.snapshot,
                job.id
            ],
        )
        .map_err(query_err)?;
    if n == 0 {
        return Err(WarehouseError::NotFound(format!("no job {}", job.id)));
    }
    Ok(())
}

pub(crate) fn heartbeat(conn: &mut Connection, id: &str, at: chrono::NaiveDateTime) -> Result<()> {
    conn.execute(
        "INSERT INTO rollcall_meta.job_leases VALUES (?, ?)
         ON CONFLICT (job_id) DO UPDATE SET heartbeat_at = greatest(heartbeat_at, excluded.heartbeat_at)",
        params![id, at],
    )
    .map_err(query_err)?;
    Ok(())
}

/// Running jobs whose lease (or start, if never renewed) is older than
/// `stale_before` become interrupted; `None`: every running job.
pub(crate) fn interrupt_stale(
    conn: &mut Connection,
    stale_before: Option<chrono::NaiveDateTime>,
) -> Result<usize> {
    match stale_before {
        None => conn.execute(
            "UPDATE rollcall_meta.jobs SET state = 'interrupted' WHERE state = 'running'",
            [],
        ),
        Some(cutoff) => conn.execute(
            "UPDATE rollcall_meta.jobs SET state = 'interrupted'
             WHERE state = 'running'
               AND coalesce(started_at, created_at) < $1
               AND id NOT IN (SELECT job_id FROM rollcall_meta.job_leases WHERE heartbeat_at >= $1)",
            params![cutoff],
        ),
    }
    .map_err(query_err)
}
