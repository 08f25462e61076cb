//! Fragments of the jobs' statements both stores share.

use super::*;

/// Cells of running jobs other than `me` that their job has not run yet
/// (no run row of that job for the cell), within `lo..=hi` (a partition
/// filter on the runs). `me`, `lo` and `hi` are SQL expressions — markers or
/// literals (a BigQuery script takes no parameters). Columns: job id,
/// processor code, date.
pub fn pending_elsewhere(d: &Dialect, me: &str, lo: &str, hi: &str) -> String {
    format!(
        "SELECT c.job_id, c.processor_name, c.analysis_date
         FROM {cells} AS c JOIN {jobs} AS j ON j.id = c.job_id
         WHERE j.state = 'running' AND j.id <> {me} AND c.analysis_date BETWEEN {lo} AND {hi}
           AND NOT EXISTS (
               SELECT 1 FROM {runs} AS r
               WHERE r.job_id = c.job_id AND r.analysis_date = c.analysis_date
                 AND {code} = c.processor_name
                 AND r.analysis_date BETWEEN {lo} AND {hi})",
        cells = d.table(JOB_CELLS),
        jobs = d.table(JOBS),
        runs = d.runs(),
        code = processor_code_sql(d.pipeline(), "r.processor_name"),
    )
}

/// The refusal of a job that overlaps `other`'s pending cell.
pub fn overlap_conflict(other: &str, processor: &str, date: NaiveDate) -> WarehouseError {
    WarehouseError::Conflict(format!(
        "job {other} is already running over {processor} {date}; wait for it or cancel it"
    ))
}
