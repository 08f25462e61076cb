//! `GET /metrics` (issue [M] 6) in Prometheus' text format, read from the
//! last evaluation kept in the store — a scrape runs no reconciliation —
//! plus the job list (through the read cache) and the alert delivery log.
//! Labels are processors, states, statuses and channels only: never a date
//! or an entity (cardinality).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use app::ServerState;

use crate::error::{Result, ServerError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessorLabel {
    processor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntityState {
    processor: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CellStatus {
    processor: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobState {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Delivery {
    channel: String,
    result: String,
}

/// Deliveries counted per scrape (the newest of the log).
const DELIVERIES_READ: usize = 10_000;
/// Jobs counted per scrape (the newest).
const JOBS_READ: usize = 500;

/// The metrics text.
pub async fn render(state: &ServerState) -> Result<String> {
    let mut registry = Registry::default();
    let entities = Family::<EntityState, Gauge>::default();
    registry.register(
        "rollcall_entities",
        "Expected entity-dates in the last evaluation's window, by processor and state (record, expected_failure, investigate, unaccounted)",
        entities.clone(),
    );
    let cells = Family::<CellStatus, Gauge>::default();
    registry.register(
        "rollcall_cells",
        "Cells of the last evaluation's window by processor and status",
        cells.clone(),
    );
    let open = Family::<ProcessorLabel, Gauge>::default();
    registry.register(
        "rollcall_open_cells",
        "Cells open at the last evaluation (unaccounted, to investigate or late)",
        open.clone(),
    );
    let late = Family::<ProcessorLabel, Gauge>::default();
    registry.register(
        "rollcall_late_cells",
        "Cells past their completeness deadline at the last evaluation",
        late.clone(),
    );
    let oldest = Family::<ProcessorLabel, Gauge>::default();
    registry.register(
        "rollcall_oldest_open_gap_age_seconds",
        "Seconds since the oldest open cell's gap opened (0 when none is open)",
        oldest.clone(),
    );
    let evaluated_at = Gauge::<i64>::default();
    registry.register(
        "rollcall_last_evaluation_timestamp_seconds",
        "When the last evaluation ran (Unix time; 0: never)",
        evaluated_at.clone(),
    );
    let duration = Gauge::<f64, AtomicU64>::default();
    registry.register(
        "rollcall_last_evaluation_duration_seconds",
        "How long the last evaluation took",
        duration.clone(),
    );
    let jobs = Family::<JobState, Gauge>::default();
    registry.register(
        "rollcall_jobs",
        "Jobs by state (the newest 500)",
        jobs.clone(),
    );
    let deliveries = Family::<Delivery, Counter>::default();
    registry.register(
        "rollcall_alert_deliveries",
        "Alert deliveries by channel and result (ok: a 2xx answer)",
        deliveries.clone(),
    );

    let now = chrono::Utc::now().naive_utc();
    if let Some(e) = state.warehouse.latest_evaluation().await? {
        let summary: domain::watch::Summary = serde_json::from_str(&e.summary)
            .map_err(|err| ServerError::failed("the last evaluation's summary", err))?;
        for (code, s) in summary {
            let processor = || ProcessorLabel {
                processor: code.clone(),
            };
            for (name, n) in [
                ("record", s.records),
                ("expected_failure", s.expected_failures),
                ("investigate", s.investigate),
                ("unaccounted", s.unaccounted),
            ] {
                entities
                    .get_or_create(&EntityState {
                        processor: code.clone(),
                        state: name.into(),
                    })
                    .set(n);
            }
            for (status, n) in &s.cells {
                cells
                    .get_or_create(&CellStatus {
                        processor: code.clone(),
                        status: status.clone(),
                    })
                    .set(*n);
            }
            open.get_or_create(&processor()).set(s.open_cells);
            late.get_or_create(&processor()).set(s.late_cells);
            let age = s
                .oldest_open_since
                .map_or(0, |since| (now - since).num_seconds().max(0));
            oldest.get_or_create(&processor()).set(age);
        }
        evaluated_at.set(e.started_at.and_utc().timestamp());
        duration.set(e.duration_ms as f64 / 1000.0);
    }
    for job in state.views.jobs(JOBS_READ).await? {
        jobs.get_or_create(&JobState {
            state: job.state.to_string(),
        })
        .inc();
    }
    for d in state.warehouse.deliveries(DELIVERIES_READ).await? {
        let ok = d.http_status.is_some_and(|s| (200..300).contains(&s));
        deliveries
            .get_or_create(&Delivery {
                channel: d.channel,
                result: if ok { "ok" } else { "failed" }.into(),
            })
            .inc();
    }
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|e| ServerError::failed("encoding the metrics", e))?;
    Ok(text)
}
