//! `serve`'s evaluator (issue [M] 1): with a `[watch]` table, the pipeline
//! is evaluated at start, every `[watch] every`, and after each job ends
//! (the window then holds what the job touched). The store's lease keeps it
//! one evaluator at a time beside a cron-run `rollcall watch`.

use std::sync::Arc;
use std::time::Duration;

use engine::jobs::JobRunner;
use warehouse::Warehouse;

/// Starts the evaluator, or nothing when the pipeline has no `[watch]`.
pub fn spawn(
    warehouse: Arc<dyn Warehouse>,
    jobs: &JobRunner,
    public_url: String,
) -> Option<tokio::task::JoinHandle<()>> {
    let settings = warehouse.pipeline().watch.clone()?;
    let every = Duration::from_secs(settings.every_secs);
    let ended = jobs.job_ended();
    Some(tokio::spawn(async move {
        let mut trigger = "schedule";
        loop {
            let opts = engine::watch::EvaluateOptions {
                window: None,
                as_of: chrono::Utc::now().naive_utc(),
                trigger: trigger.into(),
                public_url: public_url.clone(),
            };
            match engine::watch::evaluate(warehouse.as_ref(), &opts).await {
                Ok(e) => tracing::info!(
                    evaluation = %e.record.id,
                    trigger,
                    open = e.open().count(),
                    news = e.news().count(),
                    "evaluated"
                ),
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
