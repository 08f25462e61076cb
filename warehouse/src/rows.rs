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

/// A query's result: its column names and its rows, one after another in
/// one vector (a row is `columns.len()` cells; one allocation per result,
/// not per row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    columns: Vec<String>,
    cells: Vec<Cell>,
}

impl ResultSet {
    pub fn new(columns: Vec<String>) -> Self {
        Self {
            columns,
            cells: Vec::new(),
        }
    }

    /// Appends a row; it must have a cell per column.
    pub fn push_row(&mut self, row: impl IntoIterator<Item = Cell>) -> Result<()> {
        let before = self.cells.len();
        self.cells.extend(row);
        let width = self.cells.len() - before;
        if width != self.columns.len() {
            self.cells.truncate(before);
            return Err(WarehouseError::Query(format!(
                "a row of {width} cells for {} columns",
                self.columns.len()
            )));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.cells
            .len()
            .checked_div(self.columns.len())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every row, each read once by `decode` (which takes its text out
    /// rather than copying it).
    pub fn decode<T>(
        mut self,
        mut decode: impl FnMut(&mut dyn SqlRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let width = self.columns.len();
        if width == 0 {
            return Ok(Vec::new());
        }
        let columns = &self.columns;
        self.cells
            .chunks_mut(width)
            .map(|cells| {
                decode(&mut Row {
                    columns,
                    cells,
                    cursor: Default::default(),
                })
            })
            .collect()
    }
}

/// Receives a query's rows one at a time, as the store reads them
/// ([`crate::QueryPort::fetch_each`]).
pub type RowSink = Box<dyn FnMut(&mut dyn SqlRow) -> Result<()> + Send>;

/// Typed reads of one result row, by column name (as the query aliases it;
/// a query is free to reorder its columns). A row is read once: `text`
/// hands over the cell's string.
pub trait SqlRow {
    fn text(&mut self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<Option<i64>>;
    fn float(&self, column: &str) -> Result<Option<f64>>;
    fn flag(&self, column: &str) -> Result<Option<bool>>;
    fn date(&self, column: &str) -> Result<Option<NaiveDate>>;

    /// A column selected through [`crate::sql::Dialect::micros`].
    fn micros(&self, column: &str) -> Result<Option<NaiveDateTime>> {
        Ok(self
            .int(column)?
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| t.naive_utc()))
    }

    fn required_date(&self, column: &str, what: &str) -> Result<NaiveDate> {
        self.date(column)?.ok_or_else(|| missing(what))
    }

    /// A non-null text column (its name says what is missing).
    fn required_text(&mut self, column: &str) -> Result<String> {
        self.text(column)?.ok_or_else(|| missing(column))
    }

    /// An integer column that fits 32 bits.
    fn int32(&self, column: &str) -> Result<Option<i32>> {
        self.int(column)?
            .map(|v| {
                i32::try_from(v).map_err(|_| {
                    WarehouseError::Query(format!("column {column}: {v} does not fit 32 bits"))
                })
            })
            .transpose()
    }
}

/// Where `column` sits in `columns`. Decoders read columns in the order the
/// query selects them, so the lookup starts where the last one ended
/// (`cursor`): one comparison per column of a row, not a scan.
pub fn column_position(
    columns: &[String],
    cursor: &std::cell::Cell<usize>,
    column: &str,
) -> Result<usize> {
    let start = cursor.get().min(columns.len());
    let (earlier, later) = columns.split_at(start);
    let found = later
        .iter()
        .position(|c| c == column)
        .map(|i| start + i)
        .or_else(|| earlier.iter().position(|c| c == column))
        // A store that folds case is the rare one, looked for last.
        .or_else(|| columns.iter().position(|c| c.eq_ignore_ascii_case(column)));
    match found {
        Some(i) => {
            cursor.set(i + 1);
            Ok(i)
        }
        None => Err(WarehouseError::Query(format!(
            "the query returned no column {column} (it has {})",
            columns.join(", ")
        ))),
    }
}

pub(crate) fn missing(what: &str) -> WarehouseError {
    WarehouseError::Query(format!("the warehouse returned no value for {what}"))
}

/// One row of a [`ResultSet`].
struct Row<'a> {
    columns: &'a [String],
    cells: &'a mut [Cell],
    cursor: std::cell::Cell<usize>,
}

impl Row<'_> {
    fn cell(&self, column: &str) -> Result<&Cell> {
        let i = self.position(column)?;
        Ok(&self.cells[i])
    }

    fn position(&self, column: &str) -> Result<usize> {
        column_position(self.columns, &self.cursor, column)
    }

    fn mistyped(&self, column: &str, want: &str, got: &Cell) -> WarehouseError {
        WarehouseError::Query(format!("column {column}: expected {want}, got {got:?}"))
    }
}

impl SqlRow for Row<'_> {
    fn text(&mut self, column: &str) -> Result<Option<String>> {
        let i = self.position(column)?;
        Ok(match &mut self.cells[i] {
            Cell::Null => None,
            Cell::Text(s) => Some(std::mem::take(s)),
            Cell::Int(v) => Some(v.to_string()),
            Cell::Float(v) => Some(v.to_string()),
            Cell::Bool(v) => Some(v.to_string()),
            Cell::Date(d) => Some(d.to_string()),
        })
    }

    fn int(&self, column: &str) -> Result<Option<i64>> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Float(v) => Ok(Some(*v as i64)),
            // BigQuery sends numbers as text (an INT64 as "3", a FLOAT64 sum as "3.0").
            Cell::Text(s) => s
                .parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| self.mistyped(column, "an integer", &Cell::Text(s.clone()))),
            other => Err(self.mistyped(column, "an integer", other)),
        }
    }

    fn float(&self, column: &str) -> Result<Option<f64>> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            Cell::Float(v) => Ok(Some(*v)),
            Cell::Int(v) => Ok(Some(*v as f64)),
            Cell::Text(s) => s
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.mistyped(column, "a number", &Cell::Text(s.clone()))),
            other => Err(self.mistyped(column, "a number", other)),
        }
    }

    fn flag(&self, column: &str) -> Result<Option<bool>> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            Cell::Bool(b) => Ok(Some(*b)),
            Cell::Text(s) => Ok(Some(s == "true")),
            other => Err(self.mistyped(column, "a boolean", other)),
        }
    }

    fn date(&self, column: &str) -> Result<Option<NaiveDate>> {
        match self.cell(column)? {
            Cell::Null => Ok(None),
            Cell::Date(d) => Ok(Some(*d)),
            Cell::Text(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| self.mistyped(column, "a date", &Cell::Text(s.clone()))),
            other => Err(self.mistyped(column, "a date", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cells: Vec<Cell>) -> ResultSet {
        let mut set = ResultSet::new((0..cells.len()).map(|i| format!("c{i}")).collect());
        set.push_row(cells).unwrap();
        set
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
            .decode(|r| {
                Ok((
                    r.int("c0")?,
                    r.int("C1")?,
                    r.flag("c2")?,
                    r.date("c3")?,
                    r.text("c4")?,
                ))
            })
            .unwrap();
        let day = NaiveDate::from_ymd_opt(2021, 11, 5);
        assert_eq!(read, vec![(Some(3), Some(2), Some(true), day, None)]);
    }

    #[test]
    fn columns_read_in_any_order_and_more_than_once_find_their_cell() {
        let rows = set(vec![
            Cell::Int(1),
            Cell::Text("2.5".into()),
            Cell::Float(3.0),
            Cell::Null,
        ]);
        let read = rows
            .decode(|r| {
                Ok((
                    r.float("c2")?,
                    r.float("c1")?,
                    r.int("c0")?,
                    r.float("c3")?,
                    r.float("c0")?,
                    r.int32("c0")?,
                ))
            })
            .unwrap();
        assert_eq!(
            read,
            vec![(Some(3.0), Some(2.5), Some(1), None, Some(1.0), Some(1))]
        );
    }

    #[test]
    fn an_integer_too_wide_for_32_bits_is_an_error_naming_its_column() {
        let rows = set(vec![Cell::Int(i64::from(i32::MAX) + 1)]);
        let e = rows.decode(|r| r.int32("c0")).unwrap_err().to_string();
        assert!(e.contains("c0") && e.contains("32 bits"), "{e}");
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused_and_leaves_the_set_as_it_was() {
        let mut rows = set(vec![Cell::Int(1), Cell::Int(2)]);
        assert!(rows.push_row([Cell::Int(3)]).is_err());
        assert_eq!(rows.len(), 1);
        rows.push_row([Cell::Int(3), Cell::Null]).unwrap();
        let read = rows.decode(|r| Ok((r.int("c0")?, r.int("c1")?))).unwrap();
        assert_eq!(read, vec![(Some(1), Some(2)), (Some(3), None)]);
    }

    #[test]
    fn a_wrong_type_or_a_missing_column_is_an_error_naming_it() {
        let rows = set(vec![Cell::Text("abc".into())]);
        let e = rows
            .clone()
            .decode(|r| r.int("c0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c0") && e.contains("integer"), "{e}");
        let e = rows.decode(|r| r.text("total")).unwrap_err().to_string();
        assert!(e.contains("no column total (it has c0)"), "{e}");
    }
}
