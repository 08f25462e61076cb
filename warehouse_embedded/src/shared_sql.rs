//! Runs the queries both stores share (`warehouse::sql`) on DuckDB.

use chrono::NaiveDate;
use domain::report::Page;
use duckdb::types::ToSql;
use duckdb::Connection;
use warehouse::sql::{self, Query, SqlRow, Value};
use warehouse::Result;

use crate::query_err;

/// A DuckDB row read through the shared decoders.
struct DuckRow<'a, 'b>(&'a duckdb::Row<'b>);

impl SqlRow for DuckRow<'_, '_> {
    fn text(&self, i: usize) -> Result<Option<String>> {
        self.0.get(i).map_err(query_err)
    }
    fn int(&self, i: usize) -> Result<Option<i64>> {
        self.0.get(i).map_err(query_err)
    }
    fn flag(&self, i: usize) -> Result<Option<bool>> {
        self.0.get(i).map_err(query_err)
    }
    fn date(&self, i: usize) -> Result<Option<NaiveDate>> {
        self.0.get(i).map_err(query_err)
    }
}

/// Every row of `q`, each read by `decode`. The statement is cached by its
/// text, so a query run often (the reconciliation) is parsed once.
pub(crate) fn rows<T>(
    conn: &Connection,
    q: &Query,
    mut decode: impl FnMut(&dyn SqlRow) -> Result<T>,
) -> Result<Vec<T>> {
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
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(query_err)? {
        out.push(decode(&DuckRow(r))?);
    }
    Ok(out)
}

/// One page of a paged query (`warehouse::sql::page_of`), asking once more
/// for the total only when the page is past the end.
pub(crate) fn page<R, T>(
    conn: &Connection,
    q: &Query,
    mut decode: impl FnMut(&dyn SqlRow) -> Result<(R, i64)>,
    item: impl FnMut(R) -> T,
) -> Result<Page<T>> {
    let found = rows(conn, q, &mut decode)?;
    match sql::page_of(q, found, item) {
        Ok(page) => Ok(page),
        Err(first_row) => Ok(sql::past_the_end(q, &rows(conn, &first_row, decode)?)),
    }
}
