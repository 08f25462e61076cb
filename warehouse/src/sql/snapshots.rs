//! Snapshots (issue [O] 1): a frozen view kept as one row — who, when,
//! which view, and its body (the engine's encoding of
//! `domain::report::Frozen`) — read alike by both stores (each writes them
//! itself).

use domain::report::SnapshotMeta;

use super::*;

pub const SNAPSHOTS: &str = "rollcall_meta.snapshots";

const META_COLUMNS: &str = "id, {taken} AS taken_us, taken_by, note, start_date, end_date,
     processors, cells, not_ok, bytes";

fn columns(d: &Dialect) -> String {
    META_COLUMNS.replace("{taken}", &d.micros("taken_at"))
}

/// The newest snapshots (at most `limit`), without their bodies.
pub fn snapshots(d: &Dialect, limit: usize) -> Query {
    let mut b = Builder::new(d);
    let limit = b.int("limit", limit as i64);
    b.finish(format!(
        "SELECT {cols} FROM {t} ORDER BY taken_at DESC, id LIMIT {limit}",
        cols = columns(d),
        t = d.table(SNAPSHOTS),
    ))
}

/// One snapshot with its body.
pub fn snapshot(d: &Dialect, id: &str) -> Query {
    let mut b = Builder::new(d);
    let id = b.text("id", Some(id));
    b.finish(format!(
        "SELECT {cols}, body FROM {t} WHERE id = {id}",
        cols = columns(d),
        t = d.table(SNAPSHOTS),
    ))
}

pub fn snapshot_meta_row(r: &mut dyn SqlRow) -> Result<SnapshotMeta> {
    let processors = r.text("processors")?.unwrap_or_default();
    Ok(SnapshotMeta {
        id: r.required_text("id")?,
        taken_at: r
            .micros("taken_us")?
            .ok_or_else(|| missing("a snapshot's time"))?,
        taken_by: r.text("taken_by")?.unwrap_or_default(),
        note: r.text("note")?.unwrap_or_default(),
        start: r.required_date("start_date", "a snapshot's first date")?,
        end: r.required_date("end_date", "a snapshot's last date")?,
        processors: processors
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        cells: r.int("cells")?.unwrap_or(0),
        not_ok: r.int("not_ok")?.unwrap_or(0),
        bytes: r.int("bytes")?.unwrap_or(0),
    })
}
