//! What a store hands back for a query ([`crate::QueryPort::fetch`]): the
//! column names and rows of plain cells, whatever the backend's own types.
//! The shared decoders (`sql::*_row`) read them through [`SqlRow`].

use chrono::{NaiveDate, NaiveDateTime};

use crate::{Result, WarehouseError};

/// One value of a result row. A store that returns every value as text
/// (BigQuery's JSON replies) hands back `Text`; the typed reads parse it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
}

/// A query's result: its column names and its rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl ResultSet {
    /// Every row, each read by `decode`.
    pub fn decode<T>(&self, mut decode: impl FnMut(&dyn SqlRow) -> Result<T>) -> Result<Vec<T>> {
        self.rows
            .iter()
            .map(|cells| {
                decode(&Row {
                    columns: &self.columns,
                    cells,
                })
            })
            .collect()
    }
}

/// Typed reads of one result row, by column position.
pub trait SqlRow {
    fn text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<Option<i64>>;
    fn flag(&self, i: usize) -> Result<Option<bool>>;
    fn date(&self, i: usize) -> Result<Option<NaiveDate>>;

    /// A column selected through [`crate::sql::Dialect::micros`].
    fn micros(&self, i: usize) -> Result<Option<NaiveDateTime>> {
        Ok(self
            .int(i)?
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| t.naive_utc()))
    }

    fn required_date(&self, i: usize, what: &str) -> Result<NaiveDate> {
        self.date(i)?.ok_or_else(|| missing(what))
    }
}

pub(crate) fn missing(what: &str) -> WarehouseError {
    WarehouseError::Query(format!("the warehouse returned no value for {what}"))
}

/// One row of a [`ResultSet`].
struct Row<'a> {
    columns: &'a [String],
    cells: &'a [Cell],
}

impl Row<'_> {
    fn cell(&self, i: usize) -> Result<&Cell> {
        self.cells.get(i).ok_or_else(|| {
            WarehouseError::Query(format!(
                "the query returned {} columns ({}), not {}",
                self.cells.len(),
                self.columns.join(", "),
                i + 1
            ))
        })
    }

    fn mistyped(&self, i: usize, want: &str, got: &Cell) -> WarehouseError {
        let name = self.columns.get(i).map_or("?", String::as_str);
        WarehouseError::Query(format!("column {name}: expected {want}, got {got:?}"))
    }
}

impl SqlRow for Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>> {
        Ok(match self.cell(i)? {
            Cell::Null => None,
            Cell::Text(s) => Some(s.clone()),
            Cell::Int(v) => Some(v.to_string()),
            Cell::Float(v) => Some(v.to_string()),
            Cell::Bool(v) => Some(v.to_string()),
            Cell::Date(d) => Some(d.to_string()),
        })
    }

    fn int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Float(v) => Ok(Some(*v as i64)),
            // BigQuery sends numbers as text (an INT64 as "3", a FLOAT64 sum as "3.0").
            Cell::Text(s) => s
                .parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| self.mistyped(i, "an integer", &Cell::Text(s.clone()))),
            other => Err(self.mistyped(i, "an integer", other)),
        }
    }

    fn flag(&self, i: usize) -> Result<Option<bool>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Bool(b) => Ok(Some(*b)),
            Cell::Text(s) => Ok(Some(s == "true")),
            other => Err(self.mistyped(i, "a boolean", other)),
        }
    }

    fn date(&self, i: usize) -> Result<Option<NaiveDate>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Date(d) => Ok(Some(*d)),
            Cell::Text(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| self.mistyped(i, "a date", &Cell::Text(s.clone()))),
            other => Err(self.mistyped(i, "a date", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cells: Vec<Cell>) -> ResultSet {
        ResultSet {
            columns: (0..cells.len()).map(|i| format!("c{i}")).collect(),
            rows: vec![cells],
        }
    }

    #[test]
    fn text_from_a_remote_store_reads_as_typed_values() {
        let rows = set(vec![
            Cell::Text("3".into()),
            Cell::Text("2.0".into()),
            Cell::Text("true".into()),
            Cell::Text("2021-11-05".into()),
            Cell::Null,
        ]);
        let read = rows
            .decode(|r| Ok((r.int(0)?, r.int(1)?, r.flag(2)?, r.date(3)?, r.text(4)?)))
            .unwrap();
        let day = NaiveDate::from_ymd_opt(2021, 11, 5);
        assert_eq!(read, vec![(Some(3), Some(2), Some(true), day, None)]);
    }

    #[test]
    fn a_wrong_type_or_a_missing_column_is_an_error_naming_it() {
        let rows = set(vec![Cell::Text("abc".into())]);
        let e = rows.decode(|r| r.int(0)).unwrap_err().to_string();
        assert!(e.contains("c0") && e.contains("integer"), "{e}");
        let e = rows.decode(|r| r.text(3)).unwrap_err().to_string();
        assert!(e.contains("1 columns"), "{e}");
    }
}
