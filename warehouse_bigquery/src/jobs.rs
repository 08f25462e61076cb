//! Backfill jobs: rows in `rollcall_meta.jobs` and `job_cells`, checkpoints
//! derived from the run rows (a job cell is done when the last run the job
//! recorded for it succeeded, as in the embedded store), leases, and job
//! starts that check for overlapping running jobs atomically.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use domain::ProcessorId;
use serde_json::Value;
use warehouse::{
    checkpoint_state, JobCell, JobRecord, JobState, Result, RunStatus, WarehouseError,
};

use crate::client::{self, param, Param};
use crate::schema;
use crate::stage::{date_literal, Staging};
use crate::BigQueryWarehouse;

/// Cells of running jobs other than `me` that their job has not run yet,
/// restricted to dates in `lo..=hi` (the shared rule, `warehouse::sql`).
fn pending_elsewhere(wh: &BigQueryWarehouse, me: &str, lo: &str, hi: &str) -> String {
    warehouse::sql::pending_elsewhere(&wh.dialect, me, lo, hi)
}

/// The cells' date span (a fixed day for none, so SQL stays valid).
fn bounds(cells: &[(ProcessorId, NaiveDate)]) -> (NaiveDate, NaiveDate) {
    let none = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (
        cells.iter().map(|c| c.1).min().unwrap_or(none),
        cells.iter().map(|c| c.1).max().unwrap_or(none),
    )
}

/// Records the job and its cells in one transaction. A job created
/// `running` is inserted only if no other running job has any of its cells
/// pending (checked inside the transaction, which also updates the lock row:
/// BigQuery runs one of two such transactions and cancels the other).
pub(crate) async fn create_job(
    wh: &BigQueryWarehouse,
    job: JobRecord,
    cells: Vec<(ProcessorId, NaiveDate)>,
) -> Result<()> {
    let id = safe_job_id(&job.id)?.to_string();
    let mut staging = Staging::new();
    staging.push(&schema::JOBS, &job_values(&job));
    for (p, d) in &cells {
        staging.push(
            &schema::JOB_CELLS,
            &[
                Param::Str(Some(id.clone())),
                Param::Str(Some(wh.pipeline.code(*p).into())),
                Param::Date(Some(*d)),
                Param::Str(Some("pending".into())),
                Param::Timestamp(Some(job.created_at)),
            ],
        );
    }
    staging.load(wh).await?;
    let (lo, hi) = bounds(&cells);
    let (lo, hi) = (date_literal(lo), date_literal(hi));
    let me = format!("'{id}'");
    let w = &staging.id;
    let cells_stage = wh.names.stage(&schema::JOB_CELLS);
    let jobs_stage = wh.names.stage(&schema::JOBS);
    let mut body = format!(
        "UPDATE {lock} SET taken_at = CURRENT_TIMESTAMP() WHERE TRUE;
",
        lock = wh.table_name(&schema::JOB_LOCK)
    );
    body += &format!(
        "INSERT INTO {jobs} ({cols})
         SELECT {cols} FROM {jobs_stage} AS s
         WHERE s.write_id = '{w}'
           AND NOT EXISTS (SELECT 1 FROM {jobs} AS x WHERE x.id = {me})
           AND (s.state <> 'running' OR NOT EXISTS (
                SELECT 1 FROM ({pending}) AS o
                JOIN {cells_stage} AS m
                  ON m.write_id = '{w}' AND m.processor_name = o.processor_name
                 AND m.analysis_date = o.analysis_date))
         QUALIFY ROW_NUMBER() OVER (PARTITION BY s.seq ORDER BY s.seq) = 1;
",
        jobs = wh.table_name(&schema::JOBS),
        cols = schema::column_list(&schema::JOBS),
        pending = pending_elsewhere(wh, &me, &lo, &hi),
    );
    body += &format!(
        "INSERT INTO {target} ({cols})
         SELECT {cols} FROM {cells_stage} AS s
         WHERE s.write_id = '{w}'
           AND EXISTS (SELECT 1 FROM {jobs} AS x WHERE x.id = {me})
           AND NOT EXISTS (SELECT 1 FROM {target} AS y WHERE y.job_id = {me})
         QUALIFY ROW_NUMBER() OVER (PARTITION BY s.seq ORDER BY s.seq) = 1;
",
        target = wh.table_name(&schema::JOB_CELLS),
        cols = schema::column_list(&schema::JOB_CELLS),
        jobs = wh.table_name(&schema::JOBS),
    );
    body += &staging.clear_sql(wh);
    body += &staging.sweep_sql(wh);
    staging.commit(wh, &body).await?;
    if job_exists(wh, &id).await? {
        return Ok(());
    }
    Err(overlap_error(wh, &id, &cells).await?)
}

async fn job_exists(wh: &BigQueryWarehouse, id: &str) -> Result<bool> {
    let rows = wh
        .bq
        .query(
            &format!(
                "SELECT COUNT(*) AS n FROM {} WHERE id = @id",
                wh.table_name(&schema::JOBS)
            ),
            vec![param("id", Param::Str(Some(id.into())))],
        )
        .await?;
    let counts = client::result_set(rows)?.decode(|r| r.int("n"))?;
    Ok(counts.first().copied().flatten().unwrap_or(0) > 0)
}

/// The conflict that kept a job from starting, named for the user.
async fn overlap_error(
    wh: &BigQueryWarehouse,
    id: &str,
    cells: &[(ProcessorId, NaiveDate)],
) -> Result<WarehouseError> {
    let (lo, hi) = bounds(cells);
    let wanted: std::collections::BTreeSet<(String, NaiveDate)> = cells
        .iter()
        .map(|(p, d)| (wh.pipeline.code(*p).to_string(), *d))
        .collect();
    let rows = wh
        .bq
        .query(
            &format!(
                "SELECT o.job_id AS job_id, o.processor_name AS processor_name,
                        o.analysis_date AS analysis_date FROM ({}) AS o
                 ORDER BY o.analysis_date",
                pending_elsewhere(
                    wh,
                    &format!("'{}'", safe_job_id(id)?),
                    &date_literal(lo),
                    &date_literal(hi)
                )
            ),
            vec![],
        )
        .await?;
    let pending = client::result_set(rows)?.decode(|r| {
        Ok((
            r.text("job_id")?.unwrap_or_default(),
            r.text("processor_name")?,
            r.date("analysis_date")?,
        ))
    })?;
    let clash = pending.into_iter().find_map(|(other, p, d)| {
        let (p, d) = (p?, d?);
        wanted.contains(&(p.clone(), d)).then_some((other, p, d))
    });
    Ok(match clash {
        Some((other, p, d)) => warehouse::sql::overlap_conflict(&other, &p, d),
        None => WarehouseError::Conflict(format!(
            "job {id} could not start: another job started over the same cells; try again"
        )),
    })
}

/// Moves a job to `running` with one conditional `UPDATE` (a single DML
/// statement is atomic; two on the same table do not run concurrently).
pub(crate) async fn start_job(wh: &BigQueryWarehouse, id: &str) -> Result<JobRecord> {
    let id = safe_job_id(id)?.to_string();
    let mine: Vec<(ProcessorId, NaiveDate)> = job_cells(wh, &id)
        .await?
        .into_iter()
        .filter(|c| c.state != warehouse::CellState::Done)
        .map(|c| (c.processor, c.date))
        .collect();
    let now = chrono::Utc::now().naive_utc();
    if mine.is_empty() {
        // Nothing left to run, so nothing can overlap (and an empty
        // `UNNEST` parameter is one the emulator cannot bind): only the
        // job itself must exist.
        if !job_exists(wh, &id).await? {
            return Err(WarehouseError::NotFound(format!("no job {id}")));
        }
        wh.query_rows(
            &format!(
                "UPDATE {jobs} SET state = 'running', started_at = @now, finished_at = NULL, error = NULL
                 WHERE id = @id",
                jobs = wh.table_name(&schema::JOBS),
            ),
            vec![
                param("now", Param::Timestamp(Some(now))),
                param("id", Param::Str(Some(id.clone()))),
            ],
        )
        .await?;
        heartbeat(wh, &id, now).await?;
        return job(wh, &id)
            .await?
            .ok_or_else(|| WarehouseError::NotFound(format!("no job {id}")));
    }
    let (lo, hi) = bounds(&mine);
    let me = format!("'{id}'");
    let rows: Vec<Vec<Param>> = mine
        .iter()
        .map(|(p, d)| {
            vec![
                Param::Str(Some(wh.pipeline.code(*p).into())),
                Param::Date(Some(*d)),
            ]
        })
        .collect();
    let changed = wh
        .bq
        .query(
            &format!(
                "UPDATE {jobs} SET state = 'running', started_at = @now, finished_at = NULL, error = NULL
                 WHERE id = @id AND NOT EXISTS (
                     SELECT 1 FROM ({pending}) AS o
                     JOIN UNNEST(@mine) AS m ON m.p = o.processor_name AND m.d = o.analysis_date)",
                jobs = wh.table_name(&schema::JOBS),
                pending = pending_elsewhere(wh, &me, &date_literal(lo), &date_literal(hi)),
            ),
            vec![
                param("now", Param::Timestamp(Some(now))),
                param("id", Param::Str(Some(id.clone()))),
                client::rows_param("mine", &["p", "d"], &[Param::Str(None), Param::Date(None)], rows),
            ],
        )
        .await?;
    if changed.affected == 0 {
        if !job_exists(wh, &id).await? {
            return Err(WarehouseError::NotFound(format!("no job {id}")));
        }
        return Err(overlap_error(wh, &id, &mine).await?);
    }
    heartbeat(wh, &id, now).await?;
    job(wh, &id)
        .await?
        .ok_or_else(|| WarehouseError::NotFound(format!("no job {id}")))
}

/// The job's cells with their checkpoint state from the job's runs.
pub(crate) async fn job_cells(wh: &BigQueryWarehouse, id: &str) -> Result<Vec<JobCell>> {
    let rows = wh
        .bq
        .query(
            &format!(
                "SELECT processor_name, analysis_date FROM {} WHERE job_id = @id",
                wh.table_name(&schema::JOB_CELLS)
            ),
            vec![param("id", Param::Str(Some(id.into())))],
        )
        .await?;
    let cells = client::result_set(rows)?.decode(|r| {
        Ok((
            WarehouseError::stored_processor(
                &wh.pipeline,
                &r.text("processor_name")?.unwrap_or_default(),
            )?,
            r.required_date("analysis_date", "a job cell's analysis_date")?,
        ))
    })?;
    if cells.is_empty() {
        return Ok(Vec::new());
    }
    let (lo, hi) = bounds(&cells);
    let runs = wh
        .bq
        .query(
            &format!(
                "SELECT processor_name, analysis_date, status, UNIX_MICROS(started_at) AS started FROM {}
                 WHERE job_id = @id AND analysis_date BETWEEN @lo AND @hi",
                wh.table_name(wh.tables.runs)
            ),
            vec![
                param("id", Param::Str(Some(id.into()))),
                param("lo", Param::Date(Some(lo))),
                param("hi", Param::Date(Some(hi))),
            ],
        )
        .await?;
    // The last run per cell (by start time; a failure recorded at the same
    // instant as a success is the later word).
    let mut last: BTreeMap<(usize, NaiveDate), (i64, RunStatus)> = BTreeMap::new();
    let runs = client::result_set(runs)?.decode(|r| {
        Ok((
            r.text("processor_name")?.unwrap_or_default(),
            r.date("analysis_date")?,
            r.text("status")?.unwrap_or_default(),
            r.int("started")?.unwrap_or(0),
        ))
    })?;
    for (code, d, status, at) in runs {
        let (Ok(p), Some(d)) = (WarehouseError::stored_processor(&wh.pipeline, &code), d) else {
            continue;
        };
        let status = RunStatus::from(status);
        let entry = last
            .entry((p.order(), d))
            .or_insert((i64::MIN, RunStatus::Other(String::new())));
        let failed = |s: &RunStatus| *s == RunStatus::Failed;
        if (at, failed(&status)) >= (entry.0, failed(&entry.1)) {
            *entry = (at, status);
        }
    }
    let mut out: Vec<JobCell> = cells
        .into_iter()
        .map(|(processor, date)| JobCell {
            processor,
            date,
            state: checkpoint_state(last.get(&(processor.order(), date)).map(|l| &l.1)),
        })
        .collect();
    out.sort_by_key(|c| (c.date, c.processor.order()));
    Ok(out)
}

/// Renews the lease (one idempotent statement).
pub(crate) async fn heartbeat(wh: &BigQueryWarehouse, id: &str, at: NaiveDateTime) -> Result<()> {
    wh.query_rows(
        &format!(
            "MERGE {leases} AS l USING (SELECT @id AS job_id, @at AS heartbeat_at) AS s
             ON l.job_id = s.job_id
             WHEN MATCHED AND l.heartbeat_at < s.heartbeat_at THEN UPDATE SET heartbeat_at = s.heartbeat_at
             WHEN NOT MATCHED THEN INSERT (job_id, heartbeat_at) VALUES (s.job_id, s.heartbeat_at)",
            leases = wh.table_name(&schema::JOB_LEASES)
        ),
        vec![
            param("id", Param::Str(Some(id.into()))),
            param("at", Param::Timestamp(Some(at))),
        ],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn interrupt_stale_jobs(
    wh: &BigQueryWarehouse,
    stale_before: Option<NaiveDateTime>,
) -> Result<usize> {
    let jobs = wh.table_name(&schema::JOBS);
    let changed = match stale_before {
        None => {
            wh.bq
                .query(
                    &format!("UPDATE {jobs} SET state = 'interrupted' WHERE state = 'running'"),
                    vec![],
                )
                .await?
        }
        Some(cutoff) => {
            wh.bq
                .query(
                    &format!(
                        "UPDATE {jobs} SET state = 'interrupted'
                         WHERE state = 'running' AND COALESCE(started_at, created_at) < @cutoff
                           AND id NOT IN (SELECT job_id FROM {leases} WHERE heartbeat_at >= @cutoff)",
                        leases = wh.table_name(&schema::JOB_LEASES)
                    ),
                    vec![param("cutoff", Param::Timestamp(Some(cutoff)))],
                )
                .await?
        }
    };
    Ok(changed.affected.max(0) as usize)
}

fn job_values(job: &JobRecord) -> Vec<Param> {
    vec![
        Param::Str(Some(job.id.clone())),
        Param::Str(Some(job.requested_by.clone())),
        Param::Str(Some(job.request.clone())),
        Param::Str(Some(job.state.as_str().into())),
        Param::Str(Some(job.progress.clone())),
        Param::Timestamp(Some(job.created_at)),
        Param::Timestamp(job.started_at),
        Param::Timestamp(job.finished_at),
        Param::Str(job.error.clone()),
        Param::Str(job.snapshot.clone()),
    ]
}

pub(crate) fn job_from(row: &[Value]) -> Result<JobRecord> {
    let object = schema::row_object(&schema::JOBS, row);
    let get = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    let text = |k: &str| get(k).as_str().map(String::from);
    let time = |k: &str| text(k).and_then(|s| s.parse().ok());
    Ok(JobRecord {
        id: text("id").ok_or_else(|| client::missing("job id"))?,
        requested_by: text("requested_by").unwrap_or_default(),
        request: text("request").unwrap_or_default(),
        state: text("state")
            .and_then(|s| JobState::parse(&s))
            .unwrap_or(JobState::Failed),
        progress: text("progress").unwrap_or_else(|| "{}".into()),
        created_at: time("created_at").ok_or_else(|| client::missing("job created_at"))?,
        started_at: time("started_at"),
        finished_at: time("finished_at"),
        error: text("error"),
        snapshot: text("snapshot"),
    })
}

pub(crate) fn safe_job_id(id: &str) -> Result<&str> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(WarehouseError::Query(format!("malformed job id {id:?}")))
    }
}

pub(crate) async fn job(wh: &BigQueryWarehouse, id: &str) -> Result<Option<JobRecord>> {
    let rows = wh
        .query_rows(
            &format!(
                "SELECT {} FROM {} AS t WHERE t.id = @id",
                schema::select_list(&schema::JOBS, "t"),
                wh.table_name(&schema::JOBS)
            ),
            vec![param("id", Param::Str(Some(id.into())))],
        )
        .await?;
    rows.first().map(|r| job_from(r)).transpose()
}

pub(crate) async fn jobs(wh: &BigQueryWarehouse, limit: usize) -> Result<Vec<JobRecord>> {
    let rows = wh
        .query_rows(
            &format!(
                "SELECT {} FROM {} AS t ORDER BY t.created_at DESC, t.id DESC LIMIT @lim",
                // The list leaves the snapshot out (see `Warehouse::jobs`).
                schema::select_list_without(&schema::JOBS, "t", &["snapshot"]),
                wh.table_name(&schema::JOBS)
            ),
            vec![param("lim", Param::Int(Some(limit as i64)))],
        )
        .await?;
    rows.iter().map(|r| job_from(r)).collect()
}

pub(crate) async fn update_job(wh: &BigQueryWarehouse, job: &JobRecord) -> Result<()> {
    let changed = wh
        .bq
        .query(
            &format!(
                "UPDATE {} SET state = @state, progress = @progress, started_at = @started,
                        finished_at = @finished, error = @error, snapshot = @snapshot
                 WHERE id = @id",
                wh.table_name(&schema::JOBS)
            ),
            vec![
                param("id", Param::Str(Some(job.id.clone()))),
                param("state", Param::Str(Some(job.state.as_str().into()))),
                param("progress", Param::Str(Some(job.progress.clone()))),
                param("started", Param::Timestamp(job.started_at)),
                param("finished", Param::Timestamp(job.finished_at)),
                param("error", Param::Str(job.error.clone())),
                param("snapshot", Param::Str(job.snapshot.clone())),
            ],
        )
        .await?;
    if changed.affected == 0 {
        return Err(WarehouseError::NotFound(format!("no job {}", job.id)));
    }
    Ok(())
}
