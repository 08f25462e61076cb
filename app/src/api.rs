//! Server functions. Each one is thin: take the state from context, call one
//! `engine` operation, map the error. No SQL and no business rules here.
//!
//! Answers the browser reads are postcard ([`crate::wire::Answer`]); the full
//! grid (`coverage_grid`, for the CLI and scripts) is JSON; every error is
//! text ([`crate::error::ErrorText`]: its kind, then its message).

use domain::report::Overview;
use leptos::prelude::*;

use crate::AppError;

#[cfg(feature = "ssr")]
fn state() -> Result<crate::ServerState, AppError> {
    use_context::<crate::ServerState>()
        .ok_or_else(|| AppError::Internal("server state missing from context".into()))
}

/// Game dates and table row counts for `start..=end` (strings as typed by the user).
#[server(output = crate::wire::Answer)]
pub async fn coverage_overview(
    start: Option<String>,
    end: Option<String>,
) -> Result<Overview, AppError> {
    let state = state()?;
    let request = engine::OverviewRequest { start, end };
    Ok(engine::overview(state.views.as_ref(), state.limits, &request).await?)
}

/// The reconciliation grid for a range and processor filter (per-cell numbers
/// only: the browser never receives per-player rows for the grid).
#[server]
pub async fn coverage_grid(
    start: Option<String>,
    end: Option<String>,
    processors: Option<String>,
) -> Result<domain::report::Reconciliation, AppError> {
    let state = state()?;
    let request = engine::reconcile::ReconcileRequest {
        start,
        end,
        processors,
    };
    Ok(engine::reconcile::reconcile(state.views.as_ref(), state.limits, &request).await?)
}

/// The grid as the coverage page draws it: the numbers and statuses of
/// [`coverage_grid`], without what only a drill-down shows.
#[server(output = crate::wire::Answer)]
pub async fn coverage_heatmap(
    start: Option<String>,
    end: Option<String>,
    processors: Option<String>,
) -> Result<domain::report::DrawnGrid, AppError> {
    let state = state()?;
    let request = engine::reconcile::ReconcileRequest {
        start,
        end,
        processors,
    };
    Ok(engine::reconcile::heatmap(state.views.as_ref(), state.limits, &request).await?)
}

/// One cell's drill-down (`cell` = `PDC:2021-11-10`); failures and
/// unaccounted players paginated separately.
#[server(output = crate::wire::Answer)]
pub async fn cell_detail(
    cell: String,
    category: Option<String>,
    search: Option<String>,
    offset: Option<String>,
    unaccounted_offset: Option<String>,
) -> Result<domain::report::CellDetail, AppError> {
    let state = state()?;
    let query = engine::reconcile::CellQuery {
        cell,
        category,
        search,
        offset,
        unaccounted_offset,
    };
    Ok(engine::reconcile::cell_detail(state.warehouse.as_ref(), &query).await?)
}

/// One player on one date across every processor, with the root cause.
#[server(output = crate::wire::Answer)]
pub async fn player_trace(
    player: String,
    date: String,
) -> Result<domain::report::PlayerTrace, AppError> {
    let state = state()?;
    engine::reconcile::player_trace(state.warehouse.as_ref(), &player, &date)
        .await?
        .ok_or_else(|| {
            let u = &crate::pipeline().universe;
            AppError::not_found(format!("no {} '{player}' in {}", u.entity(), u.table))
        })
}

/// The re-run dialog's fields, as the form and the URL carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RerunForm {
    /// Processor codes, comma-separated.
    pub p: String,
    /// Explicit dates (comma-separated); otherwise `start`..`end`.
    pub dates: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// `gaps` (default: only cells that are not OK) or `all`.
    pub mode: Option<String>,
    /// `yes` (default) or `no`: add the downstream processors.
    pub downstream: Option<String>,
    /// `investigate,unaccounted`: stop after the in-flight write when a
    /// written cell has either (none by default).
    #[serde(default)]
    pub stop_on: Option<String>,
}

impl RerunForm {
    /// The dialog's state from the `/rerun` URL query (`p` may repeat or be a
    /// comma list, as the coverage page writes it).
    pub fn from_query(q: &leptos_router::params::ParamsMap) -> Self {
        let nonempty = |k: &str| q.get(k).filter(|v| !v.trim().is_empty());
        Self {
            p: crate::view_query::processor_codes(q).join(","),
            dates: nonempty("dates"),
            start: nonempty("start"),
            end: nonempty("end"),
            mode: nonempty("mode"),
            downstream: nonempty("downstream"),
            // Checkboxes: the name repeats.
            stop_on: Some(q.get_all("stop_on").unwrap_or_default().join(","))
                .filter(|s| !s.is_empty()),
        }
    }

    /// The `/rerun` page URL for this state.
    pub fn href(&self) -> String {
        let pairs = [
            ("p", Some(&self.p).filter(|p| !p.is_empty())),
            ("dates", self.dates.as_ref()),
            ("start", self.start.as_ref()),
            ("end", self.end.as_ref()),
            ("mode", self.mode.as_ref()),
            ("downstream", self.downstream.as_ref()),
            ("stop_on", self.stop_on.as_ref()),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))))
            .finish();
        format!("/rerun?{query}")
    }

    /// `mode`: `gaps` (the default) or `all`; anything else names `mode`.
    pub fn only_gaps(&self) -> Result<bool, domain::DomainError> {
        let mode = domain::params::choice("mode", self.mode.as_deref(), &["gaps", "all"], "gaps")?;
        Ok(mode == "gaps")
    }

    /// `downstream`: `yes` (the default) or `no`; anything else names it.
    pub fn with_downstream(&self) -> Result<bool, domain::DomainError> {
        let downstream = domain::params::choice(
            "downstream",
            self.downstream.as_deref(),
            &["yes", "no"],
            "yes",
        )?;
        Ok(downstream == "yes")
    }
}

#[cfg(feature = "ssr")]
impl RerunForm {
    fn raw(&self) -> Result<engine::backfill::RawBackfillRequest, engine::EngineError> {
        let dates = self.dates.clone().filter(|d| !d.trim().is_empty());
        Ok(engine::backfill::RawBackfillRequest {
            processors: self.p.clone(),
            downstream: self.with_downstream()?,
            start: dates.is_none().then(|| self.start.clone()).flatten(),
            end: dates.is_none().then(|| self.end.clone()).flatten(),
            dates,
            only_gaps: self.only_gaps()?,
            legacy: false,
            stop_on: self.stop_on.clone(),
        })
    }
}

#[cfg(feature = "ssr")]
fn raw_of(c: domain::report::RerunChoices) -> engine::backfill::RawBackfillRequest {
    let dates = c.dates.filter(|d| !d.trim().is_empty());
    engine::backfill::RawBackfillRequest {
        processors: c.processors,
        downstream: c.downstream,
        start: dates.is_none().then_some(c.start).flatten(),
        end: dates.is_none().then_some(c.end).flatten(),
        dates,
        only_gaps: c.only_gaps,
        legacy: false,
        stop_on: c.stop_on,
    }
}

/// The CLI's dry run beside a server: typed choices (JSON), the cells.
#[server(input = leptos::server_fn::codec::Json, output = crate::wire::Answer)]
pub async fn preview_backfill(
    choices: domain::report::RerunChoices,
) -> Result<Vec<domain::report::PlannedCell>, AppError> {
    let state = state()?;
    Ok(engine::jobs::preview(state.warehouse.as_ref(), state.limits, &raw_of(choices)).await?)
}

/// The CLI's backfill beside a server: typed choices (JSON), the job id.
/// Operator-only, as a dashboard re-run.
#[server(input = leptos::server_fn::codec::Json, output = crate::wire::Answer)]
pub async fn start_backfill(choices: domain::report::RerunChoices) -> Result<String, AppError> {
    let state = state()?;
    let job = state
        .jobs
        .submit(&raw_of(choices), state.limits, &requested_by("cli"))
        .await?;
    Ok(job.id)
}

/// Dry run: the exact cells a re-run would run, with expected players.
#[server(output = crate::wire::Answer)]
pub async fn rerun_preview(form: RerunForm) -> Result<Vec<domain::report::PlannedCell>, AppError> {
    let state = state()?;
    Ok(engine::jobs::preview(state.warehouse.as_ref(), state.limits, &form.raw()?).await?)
}

/// Queues a re-run and opens its job page. Operator-only (checked by the
/// server's middleware before this runs).
#[server(output = crate::wire::Answer)]
pub async fn start_rerun(form: RerunForm) -> Result<String, AppError> {
    let state = state()?;
    let job = state
        .jobs
        .submit(&form.raw()?, state.limits, &requested_by("dashboard"))
        .await?;
    leptos_axum::redirect(&format!("/jobs/{}", job.id));
    Ok(job.id)
}

/// The newest jobs.
#[server(output = crate::wire::Answer)]
pub async fn jobs_list() -> Result<Vec<domain::report::JobView>, AppError> {
    let state = state()?;
    Ok(state.jobs.list(50).await?)
}

/// One job with live progress and, once ended, its before/after.
#[server(output = crate::wire::Answer)]
pub async fn job_status(id: String) -> Result<domain::report::JobView, AppError> {
    let state = state()?;
    Ok(state.jobs.view(&id).await?)
}

/// Stops a job after its in-flight write. Operator-only.
#[server(output = crate::wire::Answer)]
pub async fn cancel_job(id: String) -> Result<(), AppError> {
    let state = state()?;
    state.jobs.cancel(&id).await?;
    leptos_axum::redirect(&format!("/jobs/{id}"));
    Ok(())
}

/// Re-queues an interrupted, cancelled or failed job. Operator-only.
#[server(output = crate::wire::Answer)]
pub async fn resume_job(id: String) -> Result<(), AppError> {
    let state = state()?;
    state.jobs.resume(&id).await?;
    leptos_axum::redirect(&format!("/jobs/{id}"));
    Ok(())
}

/// What this request may do here, and who it is (for the pages' note and
/// the Start button).
#[server(output = crate::wire::Answer)]
pub async fn operator_access() -> Result<crate::Access, AppError> {
    Ok(match crate::caller() {
        Some(c) => c.access,
        None => {
            let access = state()?.access;
            crate::Access::new(
                access != crate::OperatorAccess::Disabled,
                access == crate::OperatorAccess::TokenRequired,
                access.note(),
            )
        }
    })
}

/// Who asked, for a job's `requested_by`: `via` and the caller's name.
#[cfg(feature = "ssr")]
fn requested_by(via: &str) -> String {
    match crate::caller() {
        Some(c) => format!("{via}: {}", c.name),
        None => via.to_string(),
    }
}
