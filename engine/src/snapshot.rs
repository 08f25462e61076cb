//! Snapshots (issue [O]): freeze a view with what its drill-downs show,
//! open one, and compare it with now. The body is `domain::report::Frozen`
//! as gzipped JSON in base64 (a season's names repeat from cell to cell:
//! stored, it is about a twentieth of its JSON), one row per snapshot in
//! either store.

use std::collections::HashMap;
use std::io::{Read, Write};

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime};
use domain::report::{
    frozen_in_detail, CellStatus, ChangeKind, Comparison, FailureRow, Frozen, FrozenCell, Page,
    SnapshotMeta, FROZEN_FAILURES, FROZEN_UNACCOUNTED,
};
use domain::{DateRange, ProcessorId};
use warehouse::{FailureFilter, FailureScope, Warehouse};

use crate::reconcile::ReconcileRequest;
use crate::{EngineError, Limits};

/// A snapshot id: 12 lowercase hex digits (48 random bits).
pub const ID_LEN: usize = 12;

/// How many snapshots the list page shows.
pub const LIST_LIMIT: usize = 200;

/// What to freeze, as typed (the coverage page's view, or the CLI's flags).
#[derive(Debug, Clone, Default)]
pub struct FreezeRequest {
    pub view: ReconcileRequest,
    pub note: String,
    pub taken_by: String,
    /// Snapshots taken more than this many days before now are deleted
    /// (0: kept for ever).
    pub retention_days: u32,
}

/// Whether `raw` can be a snapshot id (anything else is a 404, unread).
pub fn valid_id(raw: &str) -> bool {
    raw.len() == ID_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn new_id() -> Result<String, EngineError> {
    let mut bytes = [0u8; ID_LEN / 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| EngineError::Internal("no randomness for a snapshot id".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn empty<T>(cap: i64) -> Page<T> {
    Page {
        items: Vec::new(),
        total: 0,
        offset: 0,
        limit: cap,
    }
}

/// Each cell's unaccounted entities, sorted, the first `cap` kept with
/// their count (one read for the whole range).
async fn unaccounted_by_cell(
    wh: &dyn Warehouse,
    range: DateRange,
    processors: &[ProcessorId],
    cap: i64,
) -> Result<HashMap<(ProcessorId, NaiveDate), Page<String>>, EngineError> {
    let mut by: HashMap<(ProcessorId, NaiveDate), Vec<String>> = HashMap::new();
    for (p, d, entity) in wh.unaccounted(range, processors).await? {
        by.entry((p, d)).or_default().push(entity);
    }
    Ok(by
        .into_iter()
        .map(|(key, mut names)| {
            names.sort_unstable();
            names.dedup();
            let total = names.len() as i64;
            names.truncate(usize::try_from(cap).unwrap_or(0));
            let page = Page {
                items: names,
                total,
                offset: 0,
                limit: cap,
            };
            (key, page)
        })
        .collect())
}

/// Freezes the view: its reconciliation, and per not-OK cell its
/// unaccounted entities, failure rows and (when its latest run failed) its
/// runs, each up to a cap with the full count. Bad input writes nothing.
pub async fn freeze(
    wh: &dyn Warehouse,
    limits: Limits,
    request: &FreezeRequest,
    now: NaiveDateTime,
) -> Result<SnapshotMeta, EngineError> {
    let pipeline = wh.pipeline().clone();
    let (range, processors) = request.view.parse(&pipeline, limits)?;
    let note = domain::report::check_note(&request.note)?;
    let cells = wh.cell_counts(range, &processors).await?;
    let mut unaccounted = unaccounted_by_cell(wh, range, &processors, FROZEN_UNACCOUNTED).await?;
    // One read for every cell's failure rows, not three per cell (a
    // season on BigQuery would take minutes).
    let mut failures: HashMap<(ProcessorId, NaiveDate), (Page<FailureRow>, Option<FailureRow>)> =
        wh.failure_rows_in_range(range, &processors, FROZEN_FAILURES)
            .await?
            .into_iter()
            .map(|(p, d, rows, date_level)| ((p, d), (rows, date_level)))
            .collect();
    let mut details = Vec::new();
    for c in cells.iter().filter(|c| frozen_in_detail(c)) {
        let (failures, date_level) = failures
            .remove(&(c.processor, c.date))
            .unwrap_or_else(|| (empty(FROZEN_FAILURES), None));
        // Few cells' latest run failed: their runs one by one.
        let runs = if c.status() == CellStatus::RunFailed {
            wh.cell_runs(c.processor, c.date).await?
        } else {
            Vec::new()
        };
        details.push(FrozenCell {
            processor: c.processor,
            date: c.date,
            unaccounted: unaccounted
                .remove(&(c.processor, c.date))
                .unwrap_or_else(|| empty(FROZEN_UNACCOUNTED)),
            failures,
            date_level,
            runs,
        });
    }
    let meta_cells = cells.len() as i64;
    let not_ok = details.len() as i64;
    let frozen = Frozen::new(
        &pipeline,
        domain::report::Reconciliation {
            range,
            processors: processors.clone(),
            cells,
        },
        details,
    );
    let body = encode(&frozen)?;
    let meta = SnapshotMeta {
        id: new_id()?,
        taken_at: now,
        taken_by: request.taken_by.clone(),
        note,
        start: range.start(),
        end: range.end(),
        processors: processors
            .iter()
            .map(|p| pipeline.code(*p).to_string())
            .collect(),
        cells: meta_cells,
        not_ok,
        bytes: body.len() as i64,
    };
    if request.retention_days > 0 {
        let before = now - chrono::Duration::days(i64::from(request.retention_days));
        let deleted = wh.delete_snapshots_before(before).await?;
        if deleted > 0 {
            tracing::info!(deleted, %before, "snapshots past their retention deleted");
        }
    }
    wh.record_snapshot(meta.clone(), body).await?;
    Ok(meta)
}

/// The body as stored: gzipped JSON, base64.
pub fn encode(frozen: &Frozen) -> Result<String, EngineError> {
    let json = serde_json::to_vec(frozen)
        .map_err(|e| EngineError::Internal(format!("snapshot body: {e}")))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json)
        .and_then(|()| gz.finish())
        .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
        .map_err(|e| EngineError::Internal(format!("snapshot body: {e}")))
}

/// A stored body back; a corrupt one is the store's fault, named.
pub fn decode(body: &str) -> Result<Frozen, EngineError> {
    let corrupt = |e: String| {
        EngineError::Warehouse(warehouse::WarehouseError::Query(format!(
            "a stored snapshot cannot be read: {e}"
        )))
    };
    let gz = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| corrupt(e.to_string()))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut json)
        .map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
}

/// One snapshot, in the store's pipeline's ids; `NotFound` for an unknown
/// (or malformed) id.
pub async fn open(wh: &dyn Warehouse, id: &str) -> Result<(SnapshotMeta, Frozen), EngineError> {
    let missing = || {
        EngineError::NotFound(format!(
            "no snapshot '{}'",
            id.chars().take(40).collect::<String>()
        ))
    };
    if !valid_id(id) {
        return Err(missing());
    }
    let (meta, body) = wh.snapshot(id).await?.ok_or_else(missing)?;
    let frozen = decode(&body)?.for_pipeline(wh.pipeline());
    Ok((meta, frozen))
}

pub async fn list(wh: &dyn Warehouse) -> Result<Vec<SnapshotMeta>, EngineError> {
    Ok(wh.snapshots(LIST_LIMIT).await?)
}

/// The snapshot against the same view reconciled now: the cells that
/// differ, with the entities that changed.
pub async fn compare(
    wh: &dyn Warehouse,
    meta: SnapshotMeta,
    frozen: &Frozen,
) -> Result<Comparison, EngineError> {
    let rec = &frozen.reconciliation;
    let cells = wh.cell_counts(rec.range, &rec.processors).await?;
    let now = domain::report::Reconciliation {
        range: rec.range,
        processors: rec.processors.clone(),
        cells,
    };
    let mut unaccounted =
        unaccounted_by_cell(wh, rec.range, &rec.processors, FROZEN_UNACCOUNTED).await?;
    let mut cmp = domain::report::compare(meta, frozen, &now, |p, d| {
        // A cell with nobody unaccounted has no list: an empty one.
        Some(
            unaccounted
                .remove(&(p, d))
                .unwrap_or_else(|| empty(FROZEN_UNACCOUNTED)),
        )
    });
    // New investigate failures: the entities whose failure rows are new.
    for diff in &mut cmp.differing {
        let c = &diff.change;
        if c.kind != ChangeKind::NewInvestigate {
            continue;
        }
        let filter = FailureFilter {
            limit: FROZEN_FAILURES,
            scope: FailureScope::Entity,
            ..FailureFilter::default()
        };
        let now_rows = wh.failure_rows(c.processor, c.date, filter).await?;
        let then = frozen.detail(c.processor, c.date);
        diff.new_failures = domain::report::new_failures(then.map(|d| &d.failures), &now_rows);
    }
    Ok(cmp)
}
