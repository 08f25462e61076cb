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
/// Kind 3: a processor's bit (`key`) whose whole cell of the date an
/// acknowledgement in force covers, and when the newest was made
/// (`started_at`): it applies until a later run of the cell.
pub const ACK_CELL_ROW: i64 = 3;

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
    /// Whole cells acknowledged: (date, processor bit, made at).
    cell_acks: Vec<(NaiveDate, i64, Option<NaiveDateTime>)>,
}

impl<'p> Accounting<'p> {
    pub fn new(pipeline: &'p Pipeline) -> Self {
        Self {
            pipeline,
            masks: Vec::new(),
            fingerprints: Vec::new(),
            failures: Vec::new(),
            runs: Vec::new(),
            cell_acks: Default::default(),
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
            ACK_CELL_ROW => self.cell_acks.push((row.date, row.key, row.started_at)),
            other => {
                return Err(WarehouseError::Query(format!(
                    "unknown reconciliation row kind {other}"
                )))
            }
        }
        Ok(())
    }

    /// The mask groups, a whole cell's acknowledgement folded into each of
    /// its date's (it covers everyone of the date) unless a run of the cell
    /// started after it was made.
    fn masks(&self) -> Vec<MaskCount> {
        let mut bits: std::collections::BTreeMap<NaiveDate, i64> = Default::default();
        for &(date, bit, made) in &self.cell_acks {
            let ran_since = self.runs.iter().any(|r| {
                r.date == date
                    && domain::reconcile::mask::processor_bit(r.processor) == bit
                    && r.last
                        .as_ref()
                        .and_then(|l| l.started_at)
                        .zip(made)
                        .is_some_and(|(started, made)| started > made)
            });
            if !ran_since {
                *bits.entry(date).or_default() |= bit;
            }
        }
        self.masks
            .iter()
            .map(|m| {
                let mut m = *m;
                if let Some(b) = bits.get(&m.date) {
                    m.mask.acknowledged |= b;
                }
                m
            })
            .collect()
    }

    /// Who is open in each cell of the selected processors, as
    /// fingerprinted sets (a fingerprinted statement's rows).
    pub fn open_sets(
        &self,
        selected: &[ProcessorId],
    ) -> std::collections::HashMap<(ProcessorId, NaiveDate), domain::watch::OpenSet> {
        let groups: Vec<(MaskCount, i64)> = self
            .masks()
            .into_iter()
            .zip(self.fingerprints.iter().copied())
            .collect();
        domain::watch::open_sets(&groups, selected)
    }

    /// The cells of the selected processors.
    pub fn cells(&self, selected: &[ProcessorId]) -> Vec<CellCounts> {
        cells(
            self.pipeline,
            selected,
            &self.masks(),
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
    fn a_whole_cell_acknowledgement_covers_its_date_until_a_later_run() {
        let nba = domain::pipeline::nba();
        let pdc = nba.builtin(domain::Builtin::Pdc).unwrap();
        let bit = domain::reconcile::mask::processor_bit(pdc);
        let made = NaiveDate::from_ymd_opt(2021, 11, 6)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let mut a = Accounting::new(&nba);
        a.push(row(MASK_ROW, 0)).unwrap();
        a.push(AccountingRow {
            started_at: Some(made),
            ..row(ACK_CELL_ROW, bit)
        })
        .unwrap();
        let cell = a.cells(&[pdc]).remove(0);
        assert_eq!((cell.unaccounted, cell.acknowledged), (0, 3));
        // A run of the cell before it was made changes nothing; one after
        // shows the gap again.
        let run = |at: NaiveDateTime| AccountingRow {
            started_at: Some(at),
            ..row(RUN_ROW, bit)
        };
        let mut before = Accounting::new(&nba);
        before.push(row(MASK_ROW, 0)).unwrap();
        before
            .push(AccountingRow {
                started_at: Some(made),
                ..row(ACK_CELL_ROW, bit)
            })
            .unwrap();
        before.push(run(made - chrono::Duration::hours(1))).unwrap();
        assert_eq!(before.cells(&[pdc])[0].acknowledged, 3);
        a.push(run(made + chrono::Duration::hours(1))).unwrap();
        let cell = a.cells(&[pdc]).remove(0);
        assert_eq!((cell.unaccounted, cell.acknowledged), (3, 0));
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
