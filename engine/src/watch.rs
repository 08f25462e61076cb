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
    evaluate_waiting(wh, opts, LEASE_WAIT).await
}

/// [`evaluate`], waiting at most `wait` for another evaluator to end.
pub async fn evaluate_waiting(
    wh: &dyn Warehouse,
    opts: &EvaluateOptions,
    wait: std::time::Duration,
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
        if waited.elapsed() >= wait {
            return Err(EngineError::Refused(format!(
                "another evaluation has been running on this store for over {} s; try again when it ends",
                wait.as_secs()
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

/// [`evaluate`] for a person to read (the CLI and its API): every kept
/// cell with its names, those of unchanged sets read back by key.
pub async fn evaluate_named(
    wh: &dyn Warehouse,
    opts: &EvaluateOptions,
) -> Result<Evaluation, EngineError> {
    let mut evaluation = evaluate(wh, opts).await?;
    read_names(wh, evaluation.cells.iter_mut()).await?;
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
    // An acknowledgement whose entity's state changed ends first: its gap
    // counts as open again in this evaluation (and alerts).
    crate::acks::end_changed(wh, chrono::Utc::now().naive_utc()).await?;
    let pipeline = wh.pipeline();
    let processors: Vec<ProcessorId> = pipeline.ids().collect();
    // Two independent reads, side by side: the window's cells with who is
    // open in each as a fingerprinted set (one statement), and what the
    // previous evaluations kept (keys, no names).
    let ((cells, sets), (previous, mut previous_cells)) = tokio::try_join!(
        // Acknowledgements as in force at the evaluation's clock.
        async {
            Ok::<_, EngineError>(
                wh.watched_cell_counts(window, &processors, opts.as_of)
                    .await?,
            )
        },
        previous_evaluation(wh, window),
    )?;
    let mut observed: Vec<Observed> = cells
        .into_iter()
        .map(|cell| {
            let late = pipeline
                .spec(cell.processor)
                .deadline
                .is_some_and(|d| d.is_late(&cell, local_now));
            let set = sets
                .get(&(cell.processor, cell.date))
                .copied()
                .unwrap_or_default();
            // A date-level failure accounts for everyone still missing:
            // only those to investigate are named.
            let open_count = if cell.date_level {
                set.investigate
            } else {
                set.count
            };
            Observed {
                late,
                open_count,
                names_key: set.names_key(cell.date_level),
                entities: None,
                cell,
            }
        })
        .collect();
    read_changed_names(
        wh,
        window,
        &processors,
        opts.as_of,
        &mut observed,
        &mut previous_cells,
    )
    .await?;
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
    // An alert names who is open: a cell that is news with an unchanged set
    // (it only became late) has its names read back.
    let mut kept = kept;
    read_names(wh, kept.iter_mut().filter(|c| c.change.is_news())).await?;
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
            wh.evaluation_cells_by_key(&e.id)
                .await?
                .into_iter()
                .filter(|c| covered.contains(&c.date)),
        );
        uncovered.retain(|d| !covered.contains(d));
    }
    Ok((recent.into_iter().next(), cells))
}

/// Reads the names only where the set changed: for each observed cell
/// whose set is not the one its baseline kept (another key, or none), its
/// open entities, and the baseline's list it is compared with; the store
/// keeps an unchanged set's list already. A cell whose names disagree with
/// its count (a write landed between the two reads) keeps its list in its
/// row instead of under the key, so the next evaluation reads it again.
async fn read_changed_names(
    wh: &dyn Warehouse,
    window: DateRange,
    processors: &[ProcessorId],
    at: chrono::NaiveDateTime,
    observed: &mut [Observed],
    previous: &mut [WatchedCell],
) -> Result<(), EngineError> {
    let baseline_keys: HashMap<(ProcessorId, NaiveDate), Option<&str>> = previous
        .iter()
        .filter(|c| c.is_open())
        .map(|c| ((c.processor, c.date), c.names_key.as_deref()))
        .collect();
    let unchanged = |o: &Observed| {
        o.names_key.is_some()
            && baseline_keys
                .get(&(o.cell.processor, o.cell.date))
                .copied()
                .flatten()
                == o.names_key.as_deref()
    };
    let changed: Vec<usize> = observed
        .iter()
        .enumerate()
        .filter(|(_, o)| o.open_count > 0 && !unchanged(o))
        .map(|(i, _)| i)
        .collect();
    // The baseline lists compared with: those of cells not unchanged now.
    let still_same: std::collections::HashSet<(ProcessorId, NaiveDate)> = observed
        .iter()
        .filter(|o| unchanged(o))
        .map(|o| (o.cell.processor, o.cell.date))
        .collect();
    let wanted: Vec<String> = previous
        .iter()
        .filter(|c| c.entities.is_empty() && !still_same.contains(&(c.processor, c.date)))
        .filter_map(|c| c.names_key.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let dates: Vec<NaiveDate> = changed.iter().map(|&i| observed[i].cell.date).collect();
    let span = match (dates.iter().min(), dates.iter().max()) {
        (Some(&first), Some(&last)) => Some(DateRange::new(first, last, window.days())?),
        _ => None,
    };
    let (mut names, lists) = tokio::try_join!(
        async {
            match span {
                Some(span) => open_entities_by_cell(wh, span, processors, at).await,
                None => Ok(HashMap::new()),
            }
        },
        async { Ok::<_, EngineError>(wh.entity_lists(&wanted).await?) },
    )?;
    for i in changed {
        let o = &mut observed[i];
        let mut list = names
            .remove(&(o.cell.processor, o.cell.date))
            .unwrap_or_default();
        if o.cell.date_level {
            list.retain(|(_, investigate)| *investigate);
        }
        let list: Vec<String> = list.into_iter().map(|(name, _)| name).collect();
        if list.len() as i64 != o.open_count {
            o.names_key = None;
            o.open_count = list.len() as i64;
        }
        o.entities = Some(list);
    }
    let lists: HashMap<String, Vec<String>> = lists.into_iter().collect();
    for c in previous.iter_mut() {
        if let Some(list) = c.names_key.as_ref().and_then(|k| lists.get(k)) {
            if c.entities.is_empty() {
                c.entities = list.clone();
            }
        }
    }
    Ok(())
}

/// Fills the lists of cells kept by key without them (an unchanged set's
/// names are the store's): what a person reading the evaluation sees.
pub async fn read_names<'a>(
    wh: &dyn Warehouse,
    cells: impl IntoIterator<Item = &'a mut WatchedCell>,
) -> Result<(), EngineError> {
    let mut cells: Vec<&mut WatchedCell> = cells.into_iter().collect();
    let wanted: Vec<String> = cells
        .iter()
        .filter(|c| c.entities.is_empty())
        .filter_map(|c| c.names_key.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let lists: HashMap<String, Vec<String>> = wh.entity_lists(&wanted).await?.into_iter().collect();
    for c in cells.iter_mut().filter(|c| c.entities.is_empty()) {
        if let Some(list) = c.names_key.as_ref().and_then(|k| lists.get(k)) {
            c.entities = list.clone();
        }
    }
    Ok(())
}

/// Per cell, its open entities, sorted: (name, to investigate) —
/// unaccounted when neither a record nor a failure, to investigate when the
/// failure's category says so. The rows arrive by date then entity, so each
/// date's lists are built in order, one per processor, and a name is copied
/// only for the processors that share it (the last one takes it).
async fn open_entities_by_cell(
    wh: &dyn Warehouse,
    window: DateRange,
    processors: &[ProcessorId],
    at: chrono::NaiveDateTime,
) -> Result<HashMap<(ProcessorId, NaiveDate), Vec<(String, bool)>>, EngineError> {
    let rows = wh.open_entities(window, processors, at).await?;
    let bits: Vec<i64> = processors.iter().map(|p| mask::processor_bit(*p)).collect();
    let mut out: HashMap<(ProcessorId, NaiveDate), Vec<(String, bool)>> = HashMap::new();
    let mut lists: Vec<Vec<(String, bool)>> = vec![Vec::new(); processors.len()];
    let mut day: Option<NaiveDate> = None;
    let mut flush = |day: NaiveDate, lists: &mut Vec<Vec<(String, bool)>>| {
        for (p, list) in processors.iter().zip(lists.iter_mut()) {
            if !list.is_empty() {
                // `append`: rows out of date order lose nothing.
                out.entry((*p, day)).or_default().append(list);
            }
        }
    };
    let mut open_for: Vec<(usize, bool)> = Vec::with_capacity(processors.len());
    for row in rows {
        if day != Some(row.date) {
            if let Some(d) = day {
                flush(d, &mut lists);
            }
            day = Some(row.date);
        }
        open_for.clear();
        for (i, &bit) in bits.iter().enumerate() {
            if row.records & bit != 0 {
                continue;
            }
            let unaccounted = row.failures & bit == 0 && row.acknowledged & bit == 0;
            let investigate = row.investigate & bit != 0;
            if unaccounted || investigate {
                open_for.push((i, investigate));
            }
        }
        if let Some((&(last, investigate), others)) = open_for.split_last() {
            for &(i, investigate) in others {
                lists[i].push((row.entity.clone(), investigate));
            }
            lists[last].push((row.entity, investigate));
        }
    }
    if let Some(d) = day {
        flush(d, &mut lists);
    }
    Ok(out)
}

/// A short random id (evaluation ids, lease holders).
pub(crate) fn uuid_like() -> String {
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
