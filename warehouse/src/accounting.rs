//! The rows of the reconciliation statement (`sql::reconcile`, one text for
//! every store), gathered for `domain::reconcile`, which applies the rules.

use chrono::{NaiveDate, NaiveDateTime};
use domain::pipeline::Pipeline;
use domain::reconcile::{cells, processor_of_bit, FailureGroup, Mask, MaskCount, RunGroup};
use domain::report::{CellCounts, LastRun};
use domain::ProcessorId;

use crate::{Result, WarehouseError};

/// Kind 0: players of a date with one mask.
pub const MASK_ROW: i64 = 0;
/// Kind 1: failure rows of a cell with one normalised category.
pub const FAILURE_ROW: i64 = 1;
/// Kind 2: the runs of a cell and the latest one.
pub const RUN_ROW: i64 = 2;

/// One row as the statement returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountingRow {
    pub kind: i64,
    pub date: NaiveDate,
    /// The record bits (kind 0) or the processor bit (kinds 1 and 2).
    pub key: i64,
    pub count: i64,
    /// The normalised category (kind 1) or the last run id (kind 2).
    pub text: Option<String>,
    pub status: Option<String>,
    /// Expected (kind 0) or date-level (kind 1).
    pub flag: Option<bool>,
    pub started_at: Option<NaiveDateTime>,
    /// Kind 0: the failure bits and the investigate-failure bits.
    pub failure_bits: Option<i64>,
    pub investigate_bits: Option<i64>,
    /// Kind 2: the last run's error (its first characters) when it failed.
    pub error: Option<String>,
    /// Kind 0 of a fingerprinted reconciliation: the XOR of the group's
    /// entities' fingerprints.
    pub fingerprint: Option<i64>,
    /// Kind 0: the bits of acknowledgements in force.
    pub acknowledged_bits: Option<i64>,
}

/// The rows of one reconciliation of `pipeline`'s tables.
#[derive(Debug)]
pub struct Accounting<'p> {
    pipeline: &'p Pipeline,
    masks: Vec<MaskCount>,
    /// Each mask group's fingerprint (0 when the statement had none).
    fingerprints: Vec<i64>,
    failures: Vec<FailureGroup>,
    runs: Vec<RunGroup>,
}

impl<'p> Accounting<'p> {
    pub fn new(pipeline: &'p Pipeline) -> Self {
        Self {
            pipeline,
            masks: Vec::new(),
            fingerprints: Vec::new(),
            failures: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, row: AccountingRow) -> Result<()> {
        let processor = || {
            processor_of_bit(self.pipeline, row.key)
                .ok_or_else(|| WarehouseError::Query(format!("no processor has bit {}", row.key)))
        };
        match row.kind {
            MASK_ROW => {
                // Processor bits are positive: a negative word is corrupt.
                let bits = |word: Option<i64>| match word.unwrap_or(0) {
                    w if w >= 0 => Ok(w),
                    w => Err(WarehouseError::Query(format!("bad mask word {w}"))),
                };
                self.fingerprints.push(row.fingerprint.unwrap_or(0));
                self.masks.push(MaskCount {
                    date: row.date,
                    mask: Mask {
                        expected: row.flag.unwrap_or(false),
                        records: bits(Some(row.key))?,
                        failures: bits(row.failure_bits)?,
                        investigate: bits(row.investigate_bits)?,
                        acknowledged: bits(row.acknowledged_bits)?,
                    },
                    players: row.count,
                })
            }
            FAILURE_ROW => self.failures.push(FailureGroup {
                processor: processor()?,
                date: row.date,
                category_key: row.text.unwrap_or_default(),
                date_level: row.flag.unwrap_or(false),
                rows: row.count,
            }),
            RUN_ROW => self.runs.push(RunGroup {
                processor: processor()?,
                date: row.date,
                runs: row.count,
                last: row.text.map(|run_id| LastRun {
                    run_id,
                    status: row.status.unwrap_or_default().into(),
                    started_at: row.started_at,
                    error: row.error,
                }),
            }),
            other => {
                return Err(WarehouseError::Query(format!(
                    "unknown reconciliation row kind {other}"
                )))
            }
        }
        Ok(())
    }

    /// Who is open in each cell of the selected processors, as
    /// fingerprinted sets (a fingerprinted statement's rows).
    pub fn open_sets(
        &self,
        selected: &[ProcessorId],
    ) -> std::collections::HashMap<(ProcessorId, NaiveDate), domain::watch::OpenSet> {
        let groups: Vec<(MaskCount, i64)> = self
            .masks
            .iter()
            .copied()
            .zip(self.fingerprints.iter().copied())
            .collect();
        domain::watch::open_sets(&groups, selected)
    }

    /// The cells of the selected processors.
    pub fn cells(&self, selected: &[ProcessorId]) -> Vec<CellCounts> {
        cells(
            self.pipeline,
            selected,
            &self.masks,
            &self.failures,
            &self.runs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: i64, key: i64) -> AccountingRow {
        AccountingRow {
            kind,
            date: NaiveDate::from_ymd_opt(2021, 11, 5).unwrap(),
            key,
            count: 3,
            text: Some("r1".into()),
            status: Some("success".into()),
            flag: Some(true),
            started_at: None,
            failure_bits: Some(0),
            investigate_bits: Some(0),
            error: None,
            fingerprint: None,
            acknowledged_bits: Some(0),
        }
    }

    #[test]
    fn rows_become_cells_and_corrupt_rows_are_errors() {
        let nba = domain::pipeline::nba();
        let mut a = Accounting::new(&nba);
        // Expected, no record: the PDC cell's one player group is unaccounted.
        a.push(row(MASK_ROW, 0)).unwrap();
        a.push(row(RUN_ROW, 2)).unwrap();
        let cells = a.cells(&[nba.builtin(domain::Builtin::Pdc).unwrap()]);
        assert_eq!(cells.len(), 1);
        assert_eq!(
            (cells[0].expected, cells[0].unaccounted, cells[0].runs),
            (3, 3, 3)
        );
        assert_eq!(cells[0].last_run.as_ref().unwrap().run_id, "r1");
        assert!(a.push(row(RUN_ROW, 3)).is_err(), "no processor has bit 3");
        assert!(a.push(row(MASK_ROW, -1)).is_err());
        assert!(a.push(row(7, 1)).is_err());
    }
}
