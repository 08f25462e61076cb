//! Staged, retry-safe writes. A write that must be atomic (a batch of cells,
//! an upstream load, a new job) happens in two steps:
//!
//! 1. its rows are loaded into the tables' staging twins under one write id
//!    (load jobs: one per table, more only past `MAX_LOAD_BYTES`), each row
//!    numbered (`seq`);
//! 2. one parameter-free transaction replaces the target rows from the
//!    stage and deletes the write's stage rows.
//!
//! Why this survives lost replies: every statement of the transaction is
//! conditioned on the write's stage rows (deletes target only dates present
//! in the stage, inserts copy only staged rows), so once a transaction has
//! committed, applying it again finds an empty stage and changes nothing. A
//! load retried after a lost reply can stage a chunk twice on an emulator
//! that ignores job ids: the copy takes each `seq` once. A write that fails
//! removes its own stage rows on the way out, and every commit also removes
//! the rows of writes begun more than [`STALE_AFTER`] ago (a process killed
//! between its load and its commit; a new job sweeps every staging twin):
//! write ids sort by their start time.
//! The script carries
//! no parameters (the emulator cannot bind them inside a script): only the
//! generated write id, dates rendered from typed values and names from the
//! static declarations — never user input.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use serde_json::{Map, Value};
use warehouse::Result;

use crate::client::{param, Param};
use crate::schema::{self, TableDef};
use crate::BigQueryWarehouse;

/// Load jobs stay under this many bytes of JSON (multipart uploads are for
/// small payloads; BigQuery's request limit is far above it).
const MAX_LOAD_BYTES: usize = 8 * 1024 * 1024;

/// A write begun this long ago has ended, one way or the other: a load job
/// and a transaction each stop at the job deadline (600 s by default).
pub(crate) const STALE_AFTER: chrono::Duration = chrono::Duration::hours(6);

static WRITE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique id for one staged write (letters, digits and `_` only). It
/// starts with its start time in fixed-width hex, so ids sort by time.
pub(crate) fn write_id() -> String {
    let n = WRITE_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}_{:x}_{n:x}",
        write_id_at(chrono::Utc::now()),
        std::process::id()
    )
}

/// The time prefix of a write id begun at `t` (and the bound below which a
/// write id is older than `t`).
fn write_id_at(t: chrono::DateTime<chrono::Utc>) -> String {
    format!("w{:014x}", t.timestamp_micros().max(0))
}

pub(crate) use warehouse::sql::date_literal;

/// The rows of one write, per table, on their way to the stage: the rows
/// not loaded yet, and how many each table has staged in all (a streamed
/// load flushes as it goes, so a write's rows need not fit in memory).
pub(crate) struct Staging {
    pub id: String,
    staged_on: NaiveDate,
    tables: BTreeMap<&'static str, (&'static TableDef, Vec<Value>, usize)>,
    pending_bytes: usize,
}

impl Staging {
    pub fn new() -> Self {
        Self {
            id: write_id(),
            staged_on: chrono::Utc::now().date_naive(),
            tables: BTreeMap::new(),
            pending_bytes: 0,
        }
    }

    /// Adds a row: `values` in the order of `schema::stage_columns(t)`.
    pub fn push(&mut self, t: &'static TableDef, values: &[Param]) {
        let entry = self.tables.entry(t.name).or_insert((t, Vec::new(), 0));
        let mut row: Map<String, Value> = schema::row_json(&schema::stage_columns(t), values);
        row.insert("write_id".into(), Value::String(self.id.clone()));
        row.insert("seq".into(), Value::from(entry.2 as i64));
        row.insert(
            "staged_on".into(),
            Value::String(self.staged_on.to_string()),
        );
        let row = Value::Object(row);
        // A close estimate of its JSON line (what a load job carries).
        self.pending_bytes += 16 * values.len() + 64;
        entry.1.push(row);
        entry.2 += 1;
    }

    pub fn has_rows(&self, t: &TableDef) -> bool {
        self.rows(t) > 0
    }

    /// Rows staged for `t` by this write so far, loaded or not.
    pub fn rows(&self, t: &TableDef) -> usize {
        self.tables.get(t.name).map_or(0, |(_, _, staged)| *staged)
    }

    /// Whether the rows not loaded yet make a full load job's worth.
    pub fn pending_is_full(&self) -> bool {
        self.pending_bytes >= MAX_LOAD_BYTES
    }

    /// Step 1: one load job per table for the rows not loaded yet (split
    /// only past `MAX_LOAD_BYTES`); a streamed write calls it once per
    /// chunk. If a load fails, everything this write staged is removed.
    pub async fn load(&mut self, wh: &BigQueryWarehouse) -> Result<()> {
        let loaded = self.load_pending(wh).await;
        if loaded.is_err() {
            self.remove_own_rows(wh).await;
        }
        for (_, pending, _) in self.tables.values_mut() {
            pending.clear();
        }
        self.pending_bytes = 0;
        loaded
    }

    /// Gives up a write before its commit: removes whatever it staged.
    pub async fn abandon(&self, wh: &BigQueryWarehouse) {
        self.remove_own_rows(wh).await;
    }

    async fn load_pending(&self, wh: &BigQueryWarehouse) -> Result<()> {
        let dataset = wh.names.dataset(schema::STAGE_DATASET);
        for (t, rows, _) in self.tables.values() {
            let table = schema::stage_name(t);
            let mut chunk_start = 0;
            let mut bytes = 0;
            for (i, row) in rows.iter().enumerate() {
                let size = row.to_string().len() + 1;
                if bytes + size > MAX_LOAD_BYTES && i > chunk_start {
                    wh.bq
                        .load_json(&dataset, &table, &rows[chunk_start..i])
                        .await?;
                    chunk_start = i;
                    bytes = 0;
                }
                bytes += size;
            }
            if chunk_start < rows.len() {
                wh.bq
                    .load_json(&dataset, &table, &rows[chunk_start..])
                    .await?;
            }
        }
        Ok(())
    }

    /// `INSERT INTO t SELECT … FROM stage` for this write, each row once.
    pub fn copy_sql(&self, wh: &BigQueryWarehouse, t: &TableDef) -> String {
        let cols = schema::column_list(t);
        format!(
            "INSERT INTO {target} ({cols})
             SELECT {cols} FROM {stage} WHERE write_id = '{id}'
             QUALIFY ROW_NUMBER() OVER (PARTITION BY seq ORDER BY seq) = 1;\n",
            target = wh.names.of(t),
            stage = wh.names.stage(t),
            id = self.id,
        )
    }

    /// The rows staged for `t` replacing those with the same `key` (a
    /// write applied again replaces itself), then this write's stage rows
    /// cleared: a whole commit body.
    pub fn replace_by_key_sql(&self, wh: &BigQueryWarehouse, t: &TableDef, key: &str) -> String {
        format!(
            "DELETE FROM {target} WHERE {key} IN (SELECT {key} FROM {stage} WHERE write_id = '{w}');\n",
            target = wh.names.of(t),
            stage = wh.names.stage(t),
            w = self.id,
        ) + &self.copy_sql(wh, t)
            + &self.clear_sql(wh)
    }

    /// Deletes this write's stage rows from every table it staged, and any
    /// left there by a write begun before [`STALE_AFTER`] (one statement).
    pub fn clear_sql(&self, wh: &BigQueryWarehouse) -> String {
        let stale = write_id_at(chrono::Utc::now() - STALE_AFTER);
        self.tables
            .values()
            .map(|(t, _, _)| {
                format!(
                    "DELETE FROM {} WHERE write_id = '{}' OR write_id < '{stale}';\n",
                    wh.names.stage(t),
                    self.id
                )
            })
            .collect()
    }

    /// Deletes the stale rows (begun before [`STALE_AFTER`]) of every other
    /// staging twin. A new job's transaction carries it, so a table none of
    /// the job's writes stages is swept too.
    pub fn sweep_sql(&self, wh: &BigQueryWarehouse) -> String {
        let stale = write_id_at(chrono::Utc::now() - STALE_AFTER);
        wh.tables
            .all()
            .filter(|t| t.staged && !self.tables.contains_key(t.name))
            .map(|t| {
                format!(
                    "DELETE FROM {} WHERE write_id < '{stale}';\n",
                    wh.names.stage(t)
                )
            })
            .collect()
    }

    /// Step 2: runs `body` (which must end with `clear_sql`) as one
    /// transaction. If it fails, the write's stage rows are removed (best
    /// effort: partition expiration removes whatever this misses).
    pub async fn commit(&self, wh: &BigQueryWarehouse, body: &str) -> Result<()> {
        let script = format!("BEGIN TRANSACTION;\n{body}COMMIT TRANSACTION;");
        let committed = wh.bq.query(&script, vec![]).await;
        if committed.is_err() {
            self.remove_own_rows(wh).await;
        }
        committed.map(|_| ())
    }

    /// Best effort: a failed write's stage rows (partition expiration, or
    /// the next commit once they are stale, removes whatever this misses).
    async fn remove_own_rows(&self, wh: &BigQueryWarehouse) {
        for (t, _, _) in self.tables.values() {
            let _ = wh
                .bq
                .query(
                    &format!("DELETE FROM {} WHERE write_id = @w", wh.names.stage(t)),
                    vec![param("w", Param::Str(Some(self.id.clone())))],
                )
                .await;
        }
    }
}
