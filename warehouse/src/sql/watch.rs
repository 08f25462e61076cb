//! Watching (issue [M]): the open entities of a range, and the stored
//! evaluations, their cells and alert deliveries — read alike by both stores.

use chrono::NaiveDateTime;
use domain::watch::{Change, WatchedCell};

use super::*;
use crate::{DeliveryRecord, EvaluationRecord};

pub const EVALUATIONS: &str = "rollcall_meta.evaluations";
pub const EVALUATION_CELLS: &str = "rollcall_meta.evaluation_cells";
pub const ALERT_DELIVERIES: &str = "rollcall_meta.alert_deliveries";
pub const EVALUATOR_LEASE: &str = "rollcall_meta.evaluator_lease";

/// One expected entity of the range that some processor has no record for:
/// its date, name and the mask words (`domain::reconcile::Mask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEntityRow {
    pub date: NaiveDate,
    pub entity: String,
    pub records: i64,
    pub failures: i64,
    pub investigate: i64,
}

/// The expected entities of the range open for at least one of
/// `processors` (no record, and no failure or one to investigate), from the
/// reconciliation's own per-entity marks (one statement, whatever the
/// number of cells).
pub fn open_entities(d: &Dialect, range: DateRange, processors: &[ProcessorId]) -> Query {
    let mut b = Builder::new(d);
    let marks = per_entity_marks(&mut b, range);
    let all: i64 = processors.iter().map(|p| mask::processor_bit(*p)).sum();
    // Open for a processor: no record, and no failure or one to
    // investigate. Entities with only expected failures stay in the store.
    let sql = format!(
        "{marks}
         SELECT d, p, r, f, i FROM per_player
         WHERE e = 1 AND ((~r) & ((~f) | i) & {all}) <> 0
         ORDER BY d, p"
    );
    b.finish(sql)
}

pub fn open_entity_row(r: &mut dyn SqlRow) -> Result<OpenEntityRow> {
    Ok(OpenEntityRow {
        date: r.required_date("d", "the entity's date")?,
        entity: r.required_text("p")?,
        records: r.int("r")?.unwrap_or(0),
        failures: r.int("f")?.unwrap_or(0),
        investigate: r.int("i")?.unwrap_or(0),
    })
}

const EVALUATION_SELECT: &str = "id, trigger_name, {as_of} AS as_of_us, window_start, window_end,
     {started} AS started_us, duration_ms, open_cells, summary";

fn evaluation_select(d: &Dialect) -> String {
    EVALUATION_SELECT
        .replace("{as_of}", &d.micros("as_of"))
        .replace("{started}", &d.micros("started_at"))
}

/// The evaluation run last (whatever clock `--as-of` gave it): what the
/// next one is compared with.
pub fn latest_evaluation(d: &Dialect) -> Query {
    Builder::new(d).finish(format!(
        "SELECT {cols} FROM {t} ORDER BY started_at DESC, id DESC LIMIT 1",
        cols = evaluation_select(d),
        t = d.table(EVALUATIONS),
    ))
}

/// Evaluations run at or after `since`, newest first.
pub fn evaluations_since(d: &Dialect, since: NaiveDateTime, limit: usize) -> Query {
    let mut b = Builder::new(d);
    let since = b.int("since", since.and_utc().timestamp_micros());
    let limit = b.int("limit", limit as i64);
    b.finish(format!(
        "SELECT {cols} FROM {t} WHERE {started} >= {since}
         ORDER BY started_at DESC, id DESC LIMIT {limit}",
        cols = evaluation_select(d),
        t = d.table(EVALUATIONS),
        started = d.micros("started_at"),
    ))
}

pub fn evaluation_row(r: &mut dyn SqlRow) -> Result<EvaluationRecord> {
    Ok(EvaluationRecord {
        id: r.required_text("id")?,
        trigger: r.text("trigger_name")?.unwrap_or_default(),
        as_of: r
            .micros("as_of_us")?
            .ok_or_else(|| missing("an evaluation's as_of"))?,
        window_start: r.required_date("window_start", "an evaluation's window")?,
        window_end: r.required_date("window_end", "an evaluation's window")?,
        started_at: r
            .micros("started_us")?
            .ok_or_else(|| missing("an evaluation's start"))?,
        duration_ms: r.int("duration_ms")?.unwrap_or(0),
        open_cells: r.int("open_cells")?.unwrap_or(0),
        summary: r.text("summary")?.unwrap_or_default(),
    })
}

const CELL_COLUMNS: &str = "c.evaluation_id, c.processor_code, c.cell_date, c.expected, c.records,
     c.expected_failures, c.investigate, c.unaccounted, c.late, c.change, {open_since} AS open_since_us,
     c.entities, c.open_entities, c.new_entities, c.resolved_entities";

fn cell_select(d: &Dialect) -> String {
    CELL_COLUMNS.replace("{open_since}", &d.micros("c.open_since"))
}

/// The cells one evaluation kept, by processor then date.
pub fn evaluation_cells(d: &Dialect, id: &str) -> Query {
    let mut b = Builder::new(d);
    let id = b.text("id", Some(id));
    b.finish(format!(
        "SELECT {cols} FROM {t} AS c WHERE c.evaluation_id = {id}
         ORDER BY c.processor_code, c.cell_date",
        cols = cell_select(d),
        t = d.table(EVALUATION_CELLS),
    ))
}

/// The news (cells that opened, got worse or resolved) of the evaluations
/// run at or after `since`, newest evaluation first, at most `limit`.
pub fn news_since(d: &Dialect, since: NaiveDateTime, limit: usize) -> Query {
    let mut b = Builder::new(d);
    let since = b.int("since", since.and_utc().timestamp_micros());
    let limit = b.int("limit", limit as i64);
    b.finish(format!(
        "SELECT {cols} FROM {cells} AS c JOIN {evals} AS e ON e.id = c.evaluation_id
         WHERE {started} >= {since} AND c.change IN ('opened', 'worse', 'resolved')
         ORDER BY e.started_at DESC, e.id DESC, c.processor_code, c.cell_date
         LIMIT {limit}",
        cols = cell_select(d),
        cells = d.table(EVALUATION_CELLS),
        evals = d.table(EVALUATIONS),
        started = d.micros("e.started_at"),
    ))
}

fn names(r: &mut dyn SqlRow, column: &str) -> Result<Vec<String>> {
    let text = r.text(column)?.unwrap_or_default();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&text)
        .map_err(|e| WarehouseError::Query(format!("{column}: not a list of names: {e}")))
}

/// A kept cell, with the id of its evaluation.
pub fn watched_cell_row(d: &Dialect, r: &mut dyn SqlRow) -> Result<(String, WatchedCell)> {
    let code = r.required_text("processor_code")?;
    let change = r.required_text("change")?;
    let cell = WatchedCell {
        processor: WarehouseError::stored_processor(d.pipeline(), &code)?,
        date: r.required_date("cell_date", "a watched cell's date")?,
        expected: r.int("expected")?.unwrap_or(0),
        records: r.int("records")?.unwrap_or(0),
        expected_failures: r.int("expected_failures")?.unwrap_or(0),
        investigate: r.int("investigate")?.unwrap_or(0),
        unaccounted: r.int("unaccounted")?.unwrap_or(0),
        late: r.flag("late")?.unwrap_or(false),
        change: Change::parse(&change)
            .ok_or_else(|| WarehouseError::Query(format!("unknown cell change {change:?}")))?,
        open_since: r
            .micros("open_since_us")?
            .ok_or_else(|| missing("a watched cell's open_since"))?,
        entities: names(r, "entities")?,
        open_entities: r.int("open_entities")?.unwrap_or(0),
        new_entities: names(r, "new_entities")?,
        resolved_entities: names(r, "resolved_entities")?,
    };
    Ok((r.required_text("evaluation_id")?, cell))
}

/// The latest alert deliveries, newest first.
pub fn deliveries(d: &Dialect, limit: usize) -> Query {
    let mut b = Builder::new(d);
    let limit = b.int("limit", limit as i64);
    b.finish(format!(
        "SELECT id, evaluation_id, channel, {sent} AS sent_us, cells, http_status, error, attempts
         FROM {t} ORDER BY sent_at DESC, id DESC LIMIT {limit}",
        sent = d.micros("sent_at"),
        t = d.table(ALERT_DELIVERIES),
    ))
}

pub fn delivery_row(r: &mut dyn SqlRow) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.required_text("id")?,
        evaluation_id: r.text("evaluation_id")?.unwrap_or_default(),
        channel: r.text("channel")?.unwrap_or_default(),
        sent_at: r
            .micros("sent_us")?
            .ok_or_else(|| missing("a delivery's time"))?,
        cells: r.int("cells")?.unwrap_or(0),
        http_status: r.int("http_status")?,
        error: r.text("error")?,
        attempts: r.int("attempts")?.unwrap_or(0),
    })
}

/// A list of names as a kept column (JSON).
pub fn names_json(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}
