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
/// Each set of open entities' kept list once, by its key
/// (`domain::watch::OpenSet::names_key`), shared by every cell that saw it.
pub const EVALUATION_NAMES: &str = "rollcall_meta.evaluation_names";

/// One expected entity of the range that some processor has no record for:
/// its date, name and the mask words (`domain::reconcile::Mask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEntityRow {
    pub date: NaiveDate,
    pub entity: String,
    pub records: i64,
    pub failures: i64,
    pub investigate: i64,
    pub acknowledged: i64,
}

/// The expected entities of the range open for at least one of
/// `processors` (no record, and no failure or one to investigate), from the
/// reconciliation's own per-entity marks (one statement, whatever the
/// number of cells).
pub fn open_entities(
    d: &Dialect,
    range: DateRange,
    processors: &[ProcessorId],
    at: NaiveDateTime,
) -> Query {
    let mut b = Builder::new(d);
    let marks = per_entity_marks(&mut b, range, at);
    let all: i64 = processors.iter().map(|p| mask::processor_bit(*p)).sum();
    // Open for a processor: no record, and a failure to investigate or
    // none and no acknowledgement (`domain::reconcile::Mask::open_for`).
    // Entities with only expected failures stay in the store.
    let sql = format!(
        "{marks}
         SELECT d, p, r, f, i, a FROM per_player
         WHERE e = 1 AND ((~r) & ((f & i) | ((~f) & (~a))) & {all}) <> 0
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
        acknowledged: r.int("a")?.unwrap_or(0),
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
     {entities} AS entities, c.open_entities, c.new_entities, c.resolved_entities, c.names_key";

/// The cells' columns, their lists of names read through `names_key`
/// (`named`: joined with [`EVALUATION_NAMES`] as `n`) or left as kept in
/// the row (empty when a key has them; a list kept before keys existed).
fn cell_select(d: &Dialect, named: bool) -> String {
    CELL_COLUMNS
        .replace("{open_since}", &d.micros("c.open_since"))
        .replace(
            "{entities}",
            if named {
                "COALESCE(n.names, c.entities)"
            } else {
                "c.entities"
            },
        )
}

/// The cells table as `c`, with each one's names as `n` when `named`.
fn cells_from(d: &Dialect, named: bool) -> String {
    let cells = d.table(EVALUATION_CELLS);
    if named {
        format!(
            "{cells} AS c LEFT JOIN {names} AS n ON n.names_key = c.names_key",
            names = d.table(EVALUATION_NAMES)
        )
    } else {
        format!("{cells} AS c")
    }
}

/// The cells one evaluation kept, by processor then date; `named`: with
/// their lists of names (otherwise only their keys: what comparing with
/// an unchanged set needs).
pub fn evaluation_cells(d: &Dialect, id: &str, named: bool) -> Query {
    let mut b = Builder::new(d);
    let id = b.text("id", Some(id));
    b.finish(format!(
        "SELECT {cols} FROM {from} WHERE c.evaluation_id = {id}
         ORDER BY c.processor_code, c.cell_date",
        cols = cell_select(d, named),
        from = cells_from(d, named),
    ))
}

/// The kept lists of names with these keys. Keys are inlined (a list of
/// any length has no fixed parameter names), so only keys of the form
/// `OpenSet::names_key` writes — digits, `-`, hex digits — are asked for.
pub fn entity_lists(d: &Dialect, keys: &[String]) -> Query {
    names_by_key(d, "names_key, names", keys)
}

/// Which of these keys have a kept list (what a write need not keep again).
pub fn kept_names_keys(d: &Dialect, keys: &[String]) -> Query {
    names_by_key(d, "names_key", keys)
}

fn names_by_key(d: &Dialect, columns: &str, keys: &[String]) -> Query {
    let wanted: Vec<String> = keys
        .iter()
        .filter(|k| is_names_key(k))
        .map(|k| format!("'{k}'"))
        .collect();
    Builder::new(d).finish(format!(
        "SELECT {columns} FROM {t} WHERE names_key IN ({wanted})",
        t = d.table(EVALUATION_NAMES),
        wanted = if wanted.is_empty() {
            d.null(SqlType::Text)
        } else {
            wanted.join(", ")
        },
    ))
}

/// `<count>-<16 hex digits>`, as `domain::watch::OpenSet::names_key` writes.
pub fn is_names_key(k: &str) -> bool {
    k.split_once('-').is_some_and(|(count, hex)| {
        !count.is_empty()
            && count.len() <= 19
            && count.bytes().all(|b| b.is_ascii_digit())
            && hex.len() == 16
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub fn entity_list_row(r: &mut dyn SqlRow) -> Result<(String, Vec<String>)> {
    Ok((r.required_text("names_key")?, names(r, "names")?))
}

/// The news (cells that opened, got worse or resolved) of the evaluations
/// run at or after `since`, newest evaluation first, at most `limit`.
pub fn news_since(d: &Dialect, since: NaiveDateTime, limit: usize) -> Query {
    let mut b = Builder::new(d);
    let since = b.int("since", since.and_utc().timestamp_micros());
    let limit = b.int("limit", limit as i64);
    b.finish(format!(
        "SELECT {cols} FROM {cells} JOIN {evals} AS e ON e.id = c.evaluation_id
         WHERE {started} >= {since} AND c.change IN ('opened', 'worse', 'resolved')
         ORDER BY e.started_at DESC, e.id DESC, c.processor_code, c.cell_date
         LIMIT {limit}",
        cols = cell_select(d, true),
        cells = cells_from(d, true),
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
        names_key: r.text("names_key")?.filter(|k| !k.is_empty()),
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

/// A cell's list to keep under its key: one it read (a cell whose set is
/// unchanged has its key only; the store has the list).
pub fn new_list(c: &WatchedCell) -> Option<(&str, &[String])> {
    match (&c.names_key, c.entities.is_empty()) {
        (Some(key), false) => Some((key.as_str(), c.entities.as_slice())),
        _ => None,
    }
}

/// The cell row's own `entities` column: empty when a key has them.
pub fn kept_inline(c: &WatchedCell) -> String {
    if c.names_key.is_some() {
        String::new()
    } else {
        names_json(&c.entities)
    }
}

/// A list of names as a kept column (JSON).
pub fn names_json(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}
