//! Evaluations that remember (issue [M] 1): reconcile the watch window,
//! find each open cell's entities, compare with the previous evaluation
//! (`domain::watch::compare`) and keep the result in the store. One
//! evaluator at a time: a lease in the store, across processes.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime};
use domain::reconcile::mask;
use domain::watch::{
    compare, ChangeFeed, FeedLine, Newsworthy, Observed, WatchSettings, WatchedCell,
};
use domain::{DateRange, ProcessorId};
use warehouse::{EvaluationRecord, Warehouse};

use crate::EngineError;

/// An evaluator holds the lease this long at most (renewed by nothing: an
/// evaluation is one pass), so a crashed one frees it.
const LEASE: chrono::Duration = chrono::Duration::minutes(10);

/// How long an evaluation waits for another one to end before it gives up.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// The dates; `None`: the watch window up to `as_of`'s date.
    pub window: Option<DateRange>,
    /// The evaluation's clock (UTC): deadlines and the default window.
    pub as_of: NaiveDateTime,
    /// Who asked (`cli`, `schedule`, `job <id>`, `demo`).
    pub trigger: String,
    /// Where alerts link to (`--public-url`): the dashboard's address.
    pub public_url: String,
}

/// An evaluation as kept, the cells it kept and the one it was compared with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub record: EvaluationRecord,
    pub cells: Vec<WatchedCell>,
    pub previous: Option<EvaluationRecord>,
    /// The alerts it sent (one per channel with news).
    pub deliveries: Vec<warehouse::DeliveryRecord>,
}

impl Evaluation {
    /// Cells open at this evaluation.
    pub fn open(&self) -> impl Iterator<Item = &WatchedCell> {
        self.cells.iter().filter(|c| c.is_open())
    }

    /// Cells that opened, got worse or resolved.
    pub fn news(&self) -> impl Iterator<Item = &WatchedCell> {
        self.cells.iter().filter(|c| c.change.is_news())
    }
}

/// The pipeline's watch settings (defaults when it has no `[watch]`).
pub fn settings(wh: &dyn Warehouse) -> WatchSettings {
    wh.pipeline().watch.clone().unwrap_or_default()
}

/// The window ending on `as_of`'s local date.
pub fn default_window(
    settings: &WatchSettings,
    local_today: NaiveDate,
) -> Result<DateRange, EngineError> {
    let start = local_today - chrono::Duration::days(i64::from(settings.window_days) - 1);
    Ok(DateRange::new(start, local_today, 400)?)
}

/// Evaluates and keeps the result (see the module's doc).
pub async fn evaluate(
    wh: &dyn Warehouse,
    opts: &EvaluateOptions,
) -> Result<Evaluation, EngineError> {
    let settings = settings(wh);
    let zone = crate::zone::Zone::named(&settings.timezone)?;
    let local_now = zone.local(opts.as_of);
    let window = match opts.window {
        Some(w) => w,
        None => default_window(&settings, local_now.date())?,
    };
    let holder = format!("{}-{}", std::process::id(), uuid_like());
    // Another evaluator running: wait for it (bounded), then evaluate after it.
    let waited = Instant::now();
    loop {
        let now = chrono::Utc::now().naive_utc();
        if wh.take_evaluator_lease(&holder, now, now + LEASE).await? {
            break;
        }
        if waited.elapsed() >= LEASE_WAIT {
            return Err(EngineError::Refused(format!(
                "another evaluation has been running on this store for over {} s; try again when it ends",
                LEASE_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let evaluated = evaluate_holding(wh, opts, &settings, window, local_now).await;
    let released = wh.release_evaluator_lease(&holder).await;
    let evaluation = evaluated?;
    released?;
    Ok(evaluation)
}

async fn evaluate_holding(
    wh: &dyn Warehouse,
    opts: &EvaluateOptions,
    settings: &WatchSettings,
    window: DateRange,
    local_now: NaiveDateTime,
) -> Result<Evaluation, EngineError> {
    // Stores keep microseconds.
    let started = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now().naive_utc(), 6);
    let clock = Instant::now();
    let pipeline = wh.pipeline();
    let processors: Vec<ProcessorId> = pipeline.ids().collect();
    // Three independent reads, side by side (each store runs them on
    // connections of their own): the window's cells, its open entities, and
    // the previous evaluation to compare with.
    let (cells, mut entities, (previous, previous_cells)) = tokio::try_join!(
        async { Ok::<_, EngineError>(wh.cell_counts(window, &processors).await?) },
        open_entities_by_cell(wh, window, &processors),
        previous_evaluation(wh, window),
    )?;
    let observed: Vec<Observed> = cells
        .into_iter()
        .map(|cell| {
            let late = pipeline
                .spec(cell.processor)
                .deadline
                .is_some_and(|d| d.is_late(&cell, local_now));
            let mut names = entities
                .remove(&(cell.processor, cell.date))
                .unwrap_or_default();
            if cell.date_level {
                // A date-level failure accounts for everyone still missing.
                names.retain(|(_, investigate)| *investigate);
            }
            Observed {
                late,
                entities: names.into_iter().map(|(name, _)| name).collect(),
                cell,
            }
        })
        .collect();
    let mut summary = domain::watch::summarize(pipeline, &observed);
    let kept = compare(&previous_cells, observed, window, opts.as_of);
    domain::watch::note_open(pipeline, &mut summary, &kept);
    let summary = serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into());
    let record = EvaluationRecord {
        id: format!("ev-{}", uuid_like()),
        trigger: opts.trigger.clone(),
        as_of: opts.as_of,
        window_start: window.start(),
        window_end: window.end(),
        started_at: started,
        duration_ms: clock.elapsed().as_millis() as i64,
        open_cells: kept.iter().filter(|c| c.is_open()).count() as i64,
        summary,
    };
    let keep_since = opts.as_of - chrono::Duration::days(i64::from(settings.retention_days));
    wh.record_evaluation(record.clone(), kept.clone(), keep_since)
        .await?;
    let before: BTreeMap<(ProcessorId, NaiveDate), &WatchedCell> = previous_cells
        .iter()
        .map(|c| ((c.processor, c.date), c))
        .collect();
    let news: Vec<Newsworthy<'_>> = kept
        .iter()
        .filter(|c| c.change.is_news())
        .map(|c| Newsworthy {
            now: c,
            before: before.get(&(c.processor, c.date)).copied(),
        })
        .collect();
    let deliveries = crate::alerts::deliver(wh, &record, &news, &opts.public_url).await;
    Ok(Evaluation {
        record,
        cells: kept,
        previous,
        deliveries,
    })
}

/// Evaluations looked back through for a window's baselines.
const BASELINES_READ: usize = 50;

/// The evaluation run last, and what to compare each date of `window`
/// with: the cells kept by the newest evaluation whose window covered that
/// date (evaluations over other windows — a CLI range, a stopped job's —
/// neither reopen nor hide a cell). A date no evaluation covered has no
/// baseline: its open cells are new.
async fn previous_evaluation(
    wh: &dyn Warehouse,
    window: DateRange,
) -> Result<(Option<EvaluationRecord>, Vec<WatchedCell>), EngineError> {
    let since = NaiveDate::MIN.and_time(chrono::NaiveTime::MIN);
    let recent = wh.evaluations_since(since, BASELINES_READ).await?;
    let mut uncovered: std::collections::BTreeSet<NaiveDate> = window.iter().collect();
    let mut cells = Vec::new();
    for e in &recent {
        if uncovered.is_empty() {
            break;
        }
        let covered: std::collections::BTreeSet<NaiveDate> = uncovered
            .range(e.window_start..=e.window_end)
            .copied()
            .collect();
        if covered.is_empty() {
            continue;
        }
        cells.extend(
            wh.evaluation_cells(&e.id)
                .await?
                .into_iter()
                .filter(|c| covered.contains(&c.date)),
        );
        uncovered.retain(|d| !covered.contains(d));
    }
    Ok((recent.into_iter().next(), cells))
}

/// Per cell, its open entities, sorted: (name, to investigate) —
/// unaccounted when neither a record nor a failure, to investigate when the
/// failure's category says so. The rows arrive by date then entity, so each
/// cell's list is built in order, without a search tree.
async fn open_entities_by_cell(
    wh: &dyn Warehouse,
    window: DateRange,
    processors: &[ProcessorId],
) -> Result<HashMap<(ProcessorId, NaiveDate), Vec<(String, bool)>>, EngineError> {
    let mut out: HashMap<(ProcessorId, NaiveDate), Vec<(String, bool)>> = HashMap::new();
    let bits: Vec<(ProcessorId, i64)> = processors
        .iter()
        .map(|p| (*p, mask::processor_bit(*p)))
        .collect();
    for row in wh.open_entities(window, processors).await? {
        for &(p, bit) in &bits {
            if row.records & bit != 0 {
                continue;
            }
            let unaccounted = row.failures & bit == 0;
            let investigate = row.investigate & bit != 0;
            if unaccounted || investigate {
                out.entry((p, row.date))
                    .or_default()
                    .push((row.entity.clone(), investigate));
            }
        }
    }
    Ok(out)
}

/// A short random id (evaluation ids, lease holders).
fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// At most this many lines of news (the latest first).
pub const FEED_LIMIT: usize = 1000;

pub async fn changes(wh: &dyn Warehouse, since: NaiveDateTime) -> Result<ChangeFeed, EngineError> {
    let evaluations = wh.evaluations_since(since, FEED_LIMIT).await?.len();
    let news = wh
        .news_since(since, FEED_LIMIT)
        .await?
        .into_iter()
        .map(|(evaluation, cell)| FeedLine { evaluation, cell })
        .collect();
    let still_open = match wh.latest_evaluation().await? {
        Some(latest) => wh
            .evaluation_cells(&latest.id)
            .await?
            .into_iter()
            .filter(WatchedCell::is_open)
            .map(|cell| FeedLine {
                evaluation: latest.id.clone(),
                cell,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(ChangeFeed {
        since,
        evaluations,
        news,
        still_open,
    })
}

/// The change feed since `since` as typed (`24h` when not given).
pub async fn changes_since(
    wh: &dyn Warehouse,
    since: Option<&str>,
) -> Result<ChangeFeed, EngineError> {
    let span = domain::watch::parse_since(since.filter(|s| !s.trim().is_empty()).unwrap_or("24h"))?;
    changes(wh, chrono::Utc::now().naive_utc() - span).await
}

/// The newest alert deliveries.
pub async fn deliveries(
    wh: &dyn Warehouse,
    limit: usize,
) -> Result<Vec<domain::watch::DeliveryRecord>, EngineError> {
    Ok(wh.deliveries(limit.min(1000)).await?)
}

/// The cells past their deadline at `now` (UTC) and not complete (none
/// when the watch's time zone cannot be read: logged, the grid still draws).
pub fn late_cells(
    pipeline: &domain::pipeline::Pipeline,
    cells: &[domain::report::CellCounts],
    now: NaiveDateTime,
) -> Vec<(ProcessorId, NaiveDate)> {
    if pipeline.processors.iter().all(|p| p.deadline.is_none()) {
        return Vec::new();
    }
    let settings = pipeline.watch.clone().unwrap_or_default();
    let local = match crate::zone::Zone::named(&settings.timezone) {
        Ok(zone) => zone.local(now),
        Err(e) => {
            tracing::warn!(error = %e, "deadlines not checked");
            return Vec::new();
        }
    };
    cells
        .iter()
        .filter(|c| {
            pipeline
                .spec(c.processor)
                .deadline
                .is_some_and(|d| d.is_late(c, local))
        })
        .map(|c| (c.processor, c.date))
        .collect()
}
