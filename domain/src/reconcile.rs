//! Reconciliation rules (docs/DESIGN.md §1): how who-has-what per (date, player)
//! becomes the numbers of each (processor, date) cell.
//!
//! The split with storage: a warehouse does the set-based part in one query —
//! one bit mask per (date, player) seen anywhere (expected, a record, a
//! failure), then the number of players per (date, mask) — plus failure rows
//! and runs grouped per cell. Those are a few rows per date whatever the
//! number of players; the rules below turn them into [`CellCounts`], the same
//! for every warehouse.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::pipeline::Pipeline;
use crate::report::{CellCounts, LastRun};
use crate::{ProcessorId, ProcessorSpec};

/// Who has what for one (date, player): one bit per processor (`1 << order`,
/// [`mask::processor_bit`]) in each of three words, so a pipeline of up to
/// [`crate::pipeline::MAX_PROCESSORS`] processors fits in 64-bit integers on
/// every warehouse.
pub mod mask {
    use crate::ProcessorId;

    /// `1 << order`: the processor's bit in every word of a [`super::Mask`]
    /// (an INT64 in SQL; positive, as orders stay below 62).
    pub fn processor_bit(p: ProcessorId) -> i64 {
        1 << p.order()
    }
    /// The bits of the processor's dependencies.
    pub fn dependencies(pipeline: &crate::pipeline::Pipeline, p: ProcessorId) -> i64 {
        pipeline
            .spec(p)
            .depends_on
            .iter()
            .map(|d| processor_bit(*d))
            .sum()
    }
}

/// One (date, player)'s marks: expected by the universe, and per processor a
/// record, a failure, a failure whose category needs investigation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mask {
    pub expected: bool,
    pub records: i64,
    pub failures: i64,
    pub investigate: i64,
    /// An acknowledgement in force covers the entity (`crate::ack`): if it
    /// is unaccounted, it is counted as acknowledged instead.
    pub acknowledged: i64,
}

impl Mask {
    /// Open for the processor of `bit` (what a watch names): expected, no
    /// record, and no failure or a failure to investigate.
    pub fn open_for(&self, bit: i64) -> bool {
        self.expected
            && self.records & bit == 0
            && if self.failures & bit == 0 {
                self.acknowledged & bit == 0
            } else {
                self.investigate & bit != 0
            }
    }
}

/// How many players of a date carry exactly this mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskCount {
    pub date: NaiveDate,
    pub mask: Mask,
    pub players: i64,
}

/// Failure rows of one cell with one normalised category spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    /// [`crate::failure::normalised_key`] of the stored category.
    pub category_key: String,
    /// At least one of the rows is a `DATE_LEVEL` failure.
    pub date_level: bool,
    pub rows: i64,
}

/// Runs recorded for one cell, and the latest of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunGroup {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    pub runs: i64,
    pub last: Option<LastRun>,
}

/// The cells of the selected processors on every date with expected players,
/// ordered by date then dependency order.
pub fn cells(
    pipeline: &Pipeline,
    selected: &[ProcessorId],
    masks: &[MaskCount],
    failures: &[FailureGroup],
    runs: &[RunGroup],
) -> Vec<CellCounts> {
    let mut by_date: BTreeMap<NaiveDate, Vec<(Mask, i64)>> = BTreeMap::new();
    for m in masks {
        by_date.entry(m.date).or_default().push((m.mask, m.players));
    }
    let mut failures_of: BTreeMap<(NaiveDate, ProcessorId), Vec<&FailureGroup>> = BTreeMap::new();
    for f in failures {
        failures_of
            .entry((f.date, f.processor))
            .or_default()
            .push(f);
    }
    let runs_of: BTreeMap<(NaiveDate, ProcessorId), &RunGroup> =
        runs.iter().map(|r| ((r.date, r.processor), r)).collect();
    let mut processors = selected.to_vec();
    processors.sort_by_key(|p| p.order());
    processors.dedup();

    let mut out = Vec::new();
    for (date, date_masks) in &by_date {
        let expected: i64 = date_masks
            .iter()
            .filter(|(m, _)| m.expected)
            .map(|(_, n)| n)
            .sum();
        if expected == 0 {
            continue;
        }
        for &p in &processors {
            let mut cell = count_cell(p, mask::dependencies(pipeline, p), *date, date_masks);
            for f in failures_of.get(&(*date, p)).into_iter().flatten() {
                cell.date_level |= f.date_level;
                *cell
                    .failures_by_category
                    .entry(
                        pipeline
                            .categories
                            .code_of_key(&f.category_key)
                            .0
                            .to_string(),
                    )
                    .or_default() += f.rows;
            }
            if cell.date_level {
                // A date-level failure covers every expected player of the date.
                cell.unaccounted = 0;
                cell.acknowledged = 0;
            }
            if let Some(r) = runs_of.get(&(*date, p)) {
                cell.runs = r.runs;
                cell.last_run = r.last.clone();
            }
            out.push(cell);
        }
    }
    out
}

/// The player counts of one cell from the masks of its date.
fn count_cell(p: ProcessorId, deps: i64, date: NaiveDate, masks: &[(Mask, i64)]) -> CellCounts {
    let bit = mask::processor_bit(p);
    let mut c = CellCounts {
        processor: p,
        date,
        expected: 0,
        has_record: 0,
        has_failure: 0,
        date_level: false,
        unaccounted: 0,
        acknowledged: 0,
        investigate: 0,
        runs: 0,
        conflict: 0,
        extra: 0,
        cascade: 0,
        failures_by_category: BTreeMap::new(),
        last_run: None,
    };
    for &(m, n) in masks {
        let has_record = m.records & bit != 0;
        let has_failure = m.failures & bit != 0;
        if m.expected {
            c.expected += n;
            if has_record {
                c.has_record += n;
            } else if has_failure {
                c.has_failure += n;
            } else if m.acknowledged & bit != 0 {
                // Still unaccounted underneath; counted apart.
                c.acknowledged += n;
            } else {
                c.unaccounted += n;
            }
            if !has_record && m.investigate & bit != 0 {
                c.investigate += n;
            }
        } else if has_record {
            c.extra += n;
        }
        if has_record && has_failure {
            c.conflict += n;
        }
        // Built without its upstreams' records: only for an expected
        // entity (a record for anyone else is `extra`, and its upstreams
        // rightly wrote nothing for it).
        if m.expected && has_record && m.records & deps != deps {
            c.cascade += n;
        }
    }
    c
}

/// How `processor_name` columns may spell each processor (code, name and
/// legacy spellings, compared upper-cased), with the processor's code and
/// its bit (`1 << order`) in the reconciliation masks of both warehouses.
pub fn name_spellings(pipeline: &Pipeline) -> impl Iterator<Item = (String, &str, i64)> {
    pipeline.processors.iter().flat_map(|s| {
        let bit = mask::processor_bit(s.id);
        std::iter::once(&s.code)
            .chain([&s.name])
            .chain(&s.spellings)
            .map(move |raw| (raw.to_uppercase(), s.code.as_str(), bit))
    })
}

/// `CASE` expression giving the processor bit (`1 << order`) of a
/// `processor_name` column in any accepted spelling, NULL for names Rollcall
/// does not know. Valid in DuckDB and BigQuery.
pub fn processor_bit_sql(pipeline: &Pipeline, column: &str) -> String {
    let arms: String = name_spellings(pipeline)
        .map(|(raw, _, bit)| format!(" WHEN '{raw}' THEN {bit}"))
        .collect();
    format!("CASE upper({column}){arms} END")
}

/// `CASE` expression giving the processor code of a `processor_name` column
/// in any accepted spelling, NULL for names Rollcall does not know.
pub fn processor_code_sql(pipeline: &Pipeline, column: &str) -> String {
    let arms: String = name_spellings(pipeline)
        .map(|(raw, code, _)| format!(" WHEN '{raw}' THEN '{code}'"))
        .collect();
    format!("CASE upper({column}){arms} END")
}

/// One `SELECT` per processor's output table, joined with `UNION ALL`;
/// `select` writes the one for a processor (in the warehouse's dialect and
/// table names).
pub fn union_per_processor(
    pipeline: &Pipeline,
    select: impl Fn(&ProcessorSpec) -> String,
) -> String {
    pipeline
        .processors
        .iter()
        .map(select)
        .collect::<Vec<_>>()
        .join("\n UNION ALL ")
}

/// The processor of a bit from [`processor_bit_sql`].
pub fn processor_of_bit(pipeline: &Pipeline, bit: i64) -> Option<ProcessorId> {
    pipeline.ids().find(|p| mask::processor_bit(*p) == bit)
}

/// SQL list (`'A', 'B'`) of the normalised spellings that are expected gaps;
/// any other normalised category needs investigation.
pub fn expected_spellings_sql(taxonomy: &crate::failure::Taxonomy) -> String {
    taxonomy
        .spellings()
        .filter(|(_, _, expected)| *expected)
        .map(|(raw, _, _)| format!("'{raw}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::shipped;
    use crate::Builtin;

    // The shipped pipeline's processors, by position.
    const PSZA: ProcessorId = ProcessorId::at(0);
    const PDC: ProcessorId = ProcessorId::at(1);
    const PCF: ProcessorId = ProcessorId::at(2);
    const MLFS: ProcessorId = ProcessorId::at(3);

    #[test]
    fn the_positions_are_the_builtins() {
        assert_eq!(
            [PSZA, PDC, PCF, MLFS],
            Builtin::ALL.map(crate::pipeline::shipped_id)
        );
    }

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 11, day).unwrap()
    }

    /// One player: expected?, records, failures, investigate-failures.
    type Player<'a> = (
        bool,
        &'a [ProcessorId],
        &'a [ProcessorId],
        &'a [ProcessorId],
    );

    /// The mask counts of one date's players.
    fn players(date: NaiveDate, list: &[Player]) -> Vec<MaskCount> {
        let bits = |ps: &[ProcessorId]| ps.iter().map(|p| mask::processor_bit(*p)).sum::<i64>();
        let mut counts: BTreeMap<Mask, i64> = BTreeMap::new();
        for (expected, recs, fails, inv) in list {
            let m = Mask {
                expected: *expected,
                records: bits(recs),
                failures: bits(fails),
                investigate: bits(inv),
                acknowledged: 0,
            };
            *counts.entry(m).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(mask, players)| MaskCount {
                date,
                mask,
                players,
            })
            .collect()
    }

    fn cell(cells: &[CellCounts], p: ProcessorId, date: NaiveDate) -> &CellCounts {
        cells
            .iter()
            .find(|c| c.processor == p && c.date == date)
            .unwrap()
    }

    #[test]
    fn every_expected_player_lands_in_exactly_one_bucket() {
        let masks = players(
            d(5),
            &[
                (true, &[PSZA, PDC, PCF, MLFS], &[], &[]),
                (true, &[PSZA, PDC], &[PCF, MLFS], &[]),
                (true, &[], &[PSZA, PDC], &[PSZA]),
                (true, &[], &[], &[]),
            ],
        );
        let cells = cells(
            shipped(),
            &shipped().ids().collect::<Vec<_>>(),
            &masks,
            &[],
            &[],
        );
        assert_eq!(cells.len(), 4);
        for c in &cells {
            assert_eq!(c.expected, 4);
            assert_eq!(c.has_record + c.has_failure + c.unaccounted, c.expected);
        }
        let psza = cell(&cells, PSZA, d(5));
        assert_eq!(
            (psza.has_record, psza.has_failure, psza.unaccounted),
            (2, 1, 1)
        );
        assert_eq!(psza.investigate, 1);
        let pcf = cell(&cells, PCF, d(5));
        assert_eq!(
            (pcf.has_record, pcf.has_failure, pcf.unaccounted),
            (1, 1, 2)
        );
        assert_eq!(pcf.investigate, 0);
    }

    #[test]
    fn conflict_extra_and_cascade() {
        let masks = players(
            d(6),
            &[
                // Record and a stale failure: conflict, still a record.
                (true, &[PSZA], &[PSZA], &[PSZA]),
                // Not expected but written: extra.
                (false, &[PSZA, PDC], &[], &[]),
                // PCF without its PSZA upstream: cascade.
                (true, &[PDC, PCF], &[], &[]),
            ],
        );
        let cells = cells(shipped(), &[PSZA, PCF], &masks, &[], &[]);
        assert_eq!(cells.len(), 2, "only the selected processors");
        let psza = cell(&cells, PSZA, d(6));
        assert_eq!((psza.conflict, psza.extra, psza.has_record), (1, 1, 1));
        assert_eq!(psza.investigate, 0, "a record wins over its failure");
        let pcf = cell(&cells, PCF, d(6));
        assert_eq!((pcf.cascade, pcf.has_record, pcf.extra), (1, 1, 0));
        // Issue [Q] 4: a record for someone not expected is extra, never a
        // cascade (its upstreams rightly wrote nothing for it).
        let masks = players(
            d(6),
            &[
                (false, &[PCF], &[], &[]),
                (true, &[PSZA, PDC, PCF], &[], &[]),
            ],
        );
        let only_pcf = super::cells(shipped(), &[PCF], &masks, &[], &[]);
        let pcf = cell(&only_pcf, PCF, d(6));
        assert_eq!((pcf.cascade, pcf.has_record, pcf.extra), (0, 1, 1));
    }

    #[test]
    fn dates_without_expected_players_have_no_cells() {
        let masks = players(d(7), &[(false, &[PSZA], &[], &[])]);
        assert!(cells(shipped(), &[PSZA], &masks, &[], &[]).is_empty());
    }

    #[test]
    fn date_level_failures_cover_the_date_and_categories_are_normalised() {
        let masks = players(d(8), &[(true, &[], &[], &[]), (true, &[], &[], &[])]);
        let failures = vec![
            FailureGroup {
                processor: PCF,
                date: d(8),
                category_key: "MISSING_DEPENDENCY".into(),
                date_level: true,
                rows: 1,
            },
            FailureGroup {
                processor: PCF,
                date: d(8),
                category_key: "MISSING_DEPENDENCIES".into(),
                date_level: false,
                rows: 2,
            },
            FailureGroup {
                processor: PCF,
                date: d(8),
                category_key: "SOMETHING_NEW".into(),
                date_level: false,
                rows: 3,
            },
        ];
        let last = LastRun {
            run_id: "r1".into(),
            status: "success".into(),
            started_at: None,
            error: None,
        };
        let runs = vec![RunGroup {
            processor: PCF,
            date: d(8),
            runs: 2,
            last: Some(last.clone()),
        }];
        let cells = cells(shipped(), &[PSZA, PCF], &masks, &failures, &runs);
        let pcf = cell(&cells, PCF, d(8));
        assert!(pcf.date_level);
        assert_eq!(pcf.unaccounted, 0);
        assert_eq!(
            pcf.failures_by_category.get("MISSING_DEPENDENCIES"),
            Some(&3)
        );
        assert_eq!(pcf.failures_by_category.get("UNKNOWN"), Some(&3));
        assert_eq!((pcf.runs, pcf.last_run.as_ref()), (2, Some(&last)));
        let psza = cell(&cells, PSZA, d(8));
        assert!(!psza.date_level);
        assert_eq!((psza.unaccounted, psza.runs), (2, 0));
    }

    #[test]
    fn processor_bits_round_trip() {
        for p in shipped().ids() {
            assert_eq!(processor_of_bit(shipped(), mask::processor_bit(p)), Some(p));
        }
        assert_eq!(processor_of_bit(shipped(), 0), None);
        assert!(processor_bit_sql(shipped(), "processor_name")
            .contains("'PLAYERDAILYCACHEPROCESSOR' THEN 2"));
    }
}
