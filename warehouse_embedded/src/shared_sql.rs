//! Runs the queries both stores share (`warehouse::sql`) on DuckDB: the
//! store's side of [`warehouse::QueryPort`].

use duckdb::types::{TimeUnit, ToSql, ValueRef};
use duckdb::Connection;
use warehouse::sql::{Query, SqlRow, Value};
use warehouse::{Cell, Result, ResultSet, RowSink, WarehouseError};

use crate::query_err;

/// Every row of `q`, as plain cells. The statement is cached by its text, so
/// a query run often (the reconciliation) is parsed once.
pub(crate) fn fetch(conn: &Connection, q: &Query) -> Result<ResultSet> {
    let mut out: Option<ResultSet> = None;
    // One buffer for every row: the reconciliation returns thousands.
    let mut row: Vec<Cell> = Vec::new();
    run(conn, q, |r| {
        let width = r.as_ref().column_count();
        let out = out.get_or_insert_with(|| ResultSet::new(r.as_ref().column_names()));
        row.clear();
        for i in 0..width {
            row.push(cell(r.get_ref(i).map_err(query_err)?)?);
        }
        out.push_row(row.drain(..))
    })?;
    Ok(out.unwrap_or_default())
}

/// Every row of `q` handed to `sink`, read straight from DuckDB's row.
pub(crate) fn each(conn: &Connection, q: &Query, mut sink: RowSink) -> Result<()> {
    let mut columns: Option<Vec<String>> = None;
    run(conn, q, |r| {
        let columns = columns.get_or_insert_with(|| r.as_ref().column_names());
        sink(&mut DuckRow::new(columns, r))
    })
}

/// Every row of a statement of the store's own (no arguments), decoded by
/// a shared decoder.
pub(crate) fn decode_all<T>(
    conn: &Connection,
    sql: &str,
    decode: fn(&mut dyn SqlRow) -> Result<T>,
) -> Result<Vec<T>> {
    let q = Query {
        sql: sql.to_string(),
        args: Vec::new(),
    };
    let mut columns: Option<Vec<String>> = None;
    let mut out = Vec::new();
    run(conn, &q, |r| {
        let columns = columns.get_or_insert_with(|| r.as_ref().column_names());
        out.push(decode(&mut DuckRow::new(columns, r))?);
        Ok(())
    })?;
    Ok(out)
}

/// How many rows `q` returns, reading none of them: the engine's floor
/// the benchmark compares the shared reads against.
pub(crate) fn count_rows(conn: &Connection, q: &Query) -> Result<usize> {
    let mut n = 0;
    run(conn, q, |_| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// Runs `q` with its arguments bound, handing each row to `each`.
fn run(
    conn: &Connection,
    q: &Query,
    mut each: impl FnMut(&duckdb::Row<'_>) -> Result<()>,
) -> Result<()> {
    let values: Vec<Box<dyn ToSql>> = q
        .args
        .iter()
        .map(|(_, v)| -> Box<dyn ToSql> {
            match v {
                Value::Date(d) => Box::new(*d),
                Value::Text(t) => Box::new(t.clone()),
                Value::Int(i) => Box::new(*i),
            }
        })
        .collect();
    let refs: Vec<&dyn ToSql> = values.iter().map(|v| v.as_ref()).collect();
    let mut stmt = conn.prepare_cached(&q.sql).map_err(query_err)?;
    let mut rows = stmt.query(refs.as_slice()).map_err(query_err)?;
    while let Some(r) = rows.next().map_err(query_err)? {
        each(r)?;
    }
    Ok(())
}

/// A DuckDB row read by column name through the shared decoders.
struct DuckRow<'a, 'b> {
    columns: &'a [String],
    row: &'a duckdb::Row<'b>,
    cursor: std::cell::Cell<usize>,
}

impl<'a, 'b> DuckRow<'a, 'b> {
    fn new(columns: &'a [String], row: &'a duckdb::Row<'b>) -> Self {
        Self {
            columns,
            row,
            cursor: Default::default(),
        }
    }

    fn get<T: duckdb::types::FromSql>(&self, column: &str) -> Result<T> {
        let i = warehouse::rows::column_position(self.columns, &self.cursor, column)?;
        self.row.get(i).map_err(query_err)
    }
}

impl SqlRow for DuckRow<'_, '_> {
    fn text(&mut self, column: &str) -> Result<Option<String>> {
        self.get(column)
    }
    fn int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column)
    }
    fn float(&self, column: &str) -> Result<Option<f64>> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> Result<Option<bool>> {
        self.get(column)
    }
    fn date(&self, column: &str) -> Result<Option<chrono::NaiveDate>> {
        self.get(column)
    }
}

fn cell(v: ValueRef<'_>) -> Result<Cell> {
    Ok(match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Boolean(b) => Cell::Bool(b),
        ValueRef::TinyInt(i) => Cell::Int(i.into()),
        ValueRef::SmallInt(i) => Cell::Int(i.into()),
        ValueRef::Int(i) => Cell::Int(i.into()),
        ValueRef::BigInt(i) => Cell::Int(i),
        ValueRef::HugeInt(i) => Cell::Int(i64::try_from(i).map_err(|_| too_big(i))?),
        ValueRef::UTinyInt(i) => Cell::Int(i.into()),
        ValueRef::USmallInt(i) => Cell::Int(i.into()),
        ValueRef::UInt(i) => Cell::Int(i.into()),
        ValueRef::UBigInt(i) => Cell::Int(i64::try_from(i).map_err(|_| too_big(i))?),
        ValueRef::Float(f) => Cell::Float(f.into()),
        ValueRef::Double(f) => Cell::Float(f),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Date32(days) => Cell::Date(
            chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .map(|t| t.date_naive())
                .ok_or_else(|| WarehouseError::Query(format!("date out of range: {days}")))?,
        ),
        ValueRef::Timestamp(unit, v) => {
            let micros = match unit {
                TimeUnit::Second => v.saturating_mul(1_000_000),
                TimeUnit::Millisecond => v.saturating_mul(1_000),
                TimeUnit::Microsecond => v,
                TimeUnit::Nanosecond => v / 1_000,
            };
            // As the shared queries select timestamps: integer microseconds.
            Cell::Int(micros)
        }
        other => {
            return Err(WarehouseError::Query(format!(
                "a shared query returned a {:?} value, which no decoder reads",
                other.data_type()
            )))
        }
    })
}

fn too_big(v: impl std::fmt::Display) -> WarehouseError {
    WarehouseError::Query(format!("{v} does not fit a 64-bit integer"))
}
