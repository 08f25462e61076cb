//! `serve`'s evaluator (issue [M] 1): with a `[watch]` table, the pipeline
//! is evaluated at start, every `[watch] every`, and after each job ends
//! (the window then holds what the job touched). The store's lease keeps it
//! one evaluator at a time beside a cron-run `rollcall watch`. With
//! `auto_rerun = true` (issue [M] 5), cells of runnable processors that
//! newly opened get one gaps-only re-run with downstream, at most once per
//! cell per day (remembered across restarts: the store's jobs say what was
//! re-run today); the evaluation after that job says whether it closed them.

use std::collections::{BTreeSet, HashMap};

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use domain::ProcessorId;

use engine::jobs::JobRunner;
use warehouse::Warehouse;

/// Starts the evaluator. Without a `[watch]` table but with `[[alert]]`
/// channels, it evaluates only what each job touched (a stopped job's
/// alert goes out, issue [M] 5); with neither, nothing starts.
pub fn spawn(
    warehouse: Arc<dyn Warehouse>,
    jobs: &Arc<JobRunner>,
    public_url: String,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(settings) = warehouse.pipeline().watch.clone() else {
        return (!warehouse.pipeline().alerts.is_empty())
            .then(|| after_jobs_only(warehouse, jobs, public_url));
    };
    let every = Duration::from_secs(settings.every_secs);
    let ended = jobs.job_ended();
    let jobs = Arc::clone(jobs);
    Some(tokio::spawn(async move {
        let mut trigger = "schedule";
        let mut rerun_on: HashMap<(ProcessorId, NaiveDate), NaiveDate> = HashMap::new();
        loop {
            // After a job, the dates it touched outside the window too.
            if trigger == "job" {
                for (start, end) in jobs.take_ended_ranges() {
                    let Ok(range) = domain::DateRange::new(start, end, 100_000) else {
                        continue;
                    };
                    evaluate_once(warehouse.as_ref(), Some(range), "job", &public_url).await;
                }
            }
            let opts = engine::watch::EvaluateOptions {
                window: None,
                as_of: chrono::Utc::now().naive_utc(),
                trigger: trigger.into(),
                public_url: public_url.clone(),
            };
            match engine::watch::evaluate(warehouse.as_ref(), &opts).await {
                Ok(e) => {
                    tracing::info!(
                        evaluation = %e.record.id,
                        trigger,
                        open = e.open().count(),
                        news = e.news().count(),
                        "evaluated"
                    );
                    if settings.auto_rerun {
                        auto_rerun(warehouse.as_ref(), &jobs, &e, &mut rerun_on).await;
                    }
                }
                Err(engine::EngineError::Refused(why)) => {
                    tracing::info!(%why, "evaluation skipped")
                }
                Err(e) => tracing::warn!(error = %e, "evaluation failed"),
            }
            trigger = tokio::select! {
                _ = tokio::time::sleep(every) => "schedule",
                _ = ended.notified() => "job",
            };
        }
    }))
}

/// Queues one gaps-only re-run (with downstream) for the runnable cells `e`
/// found newly opened and not re-run today.
async fn auto_rerun(
    wh: &dyn Warehouse,
    jobs: &JobRunner,
    e: &engine::watch::Evaluation,
    rerun_on: &mut HashMap<(ProcessorId, NaiveDate), NaiveDate>,
) {
    let pipeline = wh.pipeline();
    let today = chrono::Utc::now().date_naive();
    rerun_on.retain(|_, day| *day == today);
    // A restarted server remembers what the store says it re-ran today.
    if rerun_on.is_empty() {
        match rerun_today(wh, today).await {
            Ok(cells) => rerun_on.extend(cells.into_iter().map(|key| (key, today))),
            Err(e) => tracing::warn!(error = %e, "today's auto re-runs not read"),
        }
    }
    let cells: Vec<(ProcessorId, NaiveDate)> = e
        .cells
        .iter()
        .filter(|c| c.change == domain::watch::Change::Opened)
        .filter(|c| pipeline.spec(c.processor).runner.runs_here())
        .map(|c| (c.processor, c.date))
        .filter(|key| !rerun_on.contains_key(key))
        .collect();
    if cells.is_empty() {
        return;
    }
    let processors: BTreeSet<ProcessorId> = cells.iter().map(|(p, _)| *p).collect();
    let dates: BTreeSet<NaiveDate> = cells.iter().map(|(_, d)| *d).collect();
    let raw = engine::backfill::RawBackfillRequest {
        processors: processors
            .iter()
            .map(|p| pipeline.code(*p))
            .collect::<Vec<_>>()
            .join(","),
        downstream: true,
        dates: Some(
            dates
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        only_gaps: true,
        ..Default::default()
    };
    match jobs
        .submit(&raw, engine::Limits::default(), AUTO_RERUN)
        .await
    {
        Ok(job) => {
            tracing::info!(job = %job.id, cells = cells.len(), "auto re-run queued");
            for key in cells {
                rerun_on.insert(key, today);
            }
        }
        Err(err) => tracing::warn!(error = %err, "auto re-run not queued"),
    }
}

/// Who starts the self-healing re-runs (a job's `requested_by`).
pub const AUTO_RERUN: &str = "auto-rerun";

/// The cells the store's auto re-runs created on `today` (UTC) touched:
/// at most once per cell per day, across restarts.
pub async fn rerun_today(
    wh: &dyn Warehouse,
    today: NaiveDate,
) -> warehouse::Result<BTreeSet<(ProcessorId, NaiveDate)>> {
    let mut cells = BTreeSet::new();
    for job in wh.jobs(200).await? {
        if job.requested_by == AUTO_RERUN && job.created_at.date() == today {
            cells.extend(
                wh.job_cells(&job.id)
                    .await?
                    .into_iter()
                    .map(|c| (c.processor, c.date)),
            );
        }
    }
    Ok(cells)
}

/// Evaluates the dates of each job that ends, and nothing else.
fn after_jobs_only(
    warehouse: Arc<dyn Warehouse>,
    jobs: &Arc<JobRunner>,
    public_url: String,
) -> tokio::task::JoinHandle<()> {
    let ended = jobs.job_ended();
    let jobs = Arc::clone(jobs);
    tokio::spawn(async move {
        loop {
            ended.notified().await;
            for (start, end) in jobs.take_ended_ranges() {
                let Ok(range) = domain::DateRange::new(start, end, 100_000) else {
                    continue;
                };
                evaluate_once(warehouse.as_ref(), Some(range), "job", &public_url).await;
            }
        }
    })
}

/// One evaluation of `window`, logged (a failure never stops the watcher).
async fn evaluate_once(
    wh: &dyn Warehouse,
    window: Option<domain::DateRange>,
    trigger: &str,
    public_url: &str,
) {
    let opts = engine::watch::EvaluateOptions {
        window,
        as_of: chrono::Utc::now().naive_utc(),
        trigger: trigger.into(),
        public_url: public_url.to_string(),
    };
    match engine::watch::evaluate(wh, &opts).await {
        Ok(e) => {
            tracing::info!(evaluation = %e.record.id, trigger, news = e.news().count(), "evaluated")
        }
        Err(e) => tracing::warn!(error = %e, trigger, "evaluation failed"),
    }
}
