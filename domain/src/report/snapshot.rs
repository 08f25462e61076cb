//! Snapshots (issue [O]): a view frozen with what its drill-downs showed,
//! so a link pasted into a handoff note shows Monday's numbers on Tuesday,
//! and how it compares with now.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::{compare_cells, CellChange, CellCounts, CellStatus, ChangeKind, FailureRow, Page};
use super::{Reconciliation, RunInfo};
use crate::pipeline::Pipeline;
use crate::{DateRange, DomainError, ProcessorId};

/// Unaccounted entities kept per frozen cell (the full count is kept): as
/// many as an evaluation keeps.
pub const FROZEN_UNACCOUNTED: i64 = crate::watch::ENTITIES_KEPT as i64;
/// Failure rows kept per frozen cell (the full count is kept).
pub const FROZEN_FAILURES: i64 = 100;
/// A note's longest length, in characters.
pub const NOTE_CHARS: usize = 500;

/// Who froze what, when: a snapshot's row without its body (the list page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub id: String,
    pub taken_at: NaiveDateTime,
    pub taken_by: String,
    pub note: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// The view's processor codes (all of them when the view named none).
    pub processors: Vec<String>,
    /// Cells in the view, and of them not OK.
    pub cells: i64,
    pub not_ok: i64,
    /// The stored body's size in bytes.
    pub bytes: i64,
}

/// What a snapshot keeps: the view's reconciliation and, per not-OK cell,
/// what its drill-down showed. Processor ids are positions in the pipeline
/// of the moment, so the codes of that moment travel with them
/// ([`Frozen::for_pipeline`] maps them onto today's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frozen {
    pub codes: Vec<String>,
    pub reconciliation: Reconciliation,
    pub details: Vec<FrozenCell>,
}

/// One not-OK cell's drill-down as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenCell {
    pub processor: ProcessorId,
    pub date: NaiveDate,
    /// The first [`FROZEN_UNACCOUNTED`], sorted; `total` is all of them.
    pub unaccounted: Page<String>,
    /// The first [`FROZEN_FAILURES`] entity-level failure rows.
    pub failures: Page<FailureRow>,
    pub date_level: Option<FailureRow>,
    #[serde(default)]
    pub runs: Vec<RunInfo>,
}

/// Whether a cell's drill-down is frozen with it: any status but OK and
/// no games (an expected gap's failure rows are kept too).
pub fn frozen_in_detail(c: &CellCounts) -> bool {
    !matches!(c.status(), CellStatus::Ok | CellStatus::NoGames)
}

impl Frozen {
    pub fn new(
        pipeline: &Pipeline,
        reconciliation: Reconciliation,
        details: Vec<FrozenCell>,
    ) -> Self {
        Self {
            codes: pipeline
                .ids()
                .map(|p| pipeline.code(p).to_string())
                .collect(),
            reconciliation,
            details,
        }
    }

    /// The snapshot in `pipeline`'s ids: a processor renamed away since is
    /// dropped, one that moved in the order follows its code.
    pub fn for_pipeline(mut self, pipeline: &Pipeline) -> Self {
        let now: Vec<String> = pipeline
            .ids()
            .map(|p| pipeline.code(p).to_string())
            .collect();
        if now == self.codes {
            return self;
        }
        let map = |p: ProcessorId| {
            self.codes
                .get(p.order())
                .and_then(|code| pipeline.processor(code).ok())
        };
        let rec = &mut self.reconciliation;
        rec.processors = rec.processors.iter().filter_map(|p| map(*p)).collect();
        rec.cells.retain_mut(|c| match map(c.processor) {
            Some(p) => {
                c.processor = p;
                true
            }
            None => false,
        });
        rec.cells.sort_by_key(|c| (c.date, c.processor.order()));
        self.details.retain_mut(|d| match map(d.processor) {
            Some(p) => {
                d.processor = p;
                true
            }
            None => false,
        });
        self.codes = now;
        self
    }

    pub fn detail(&self, processor: ProcessorId, date: NaiveDate) -> Option<&FrozenCell> {
        self.details
            .iter()
            .find(|d| d.processor == processor && d.date == date)
    }

    pub fn cell(&self, processor: ProcessorId, date: NaiveDate) -> Option<&CellCounts> {
        self.reconciliation
            .cells
            .iter()
            .find(|c| c.processor == processor && c.date == date)
    }

    /// The cells within `range` (a week or month column's days).
    pub fn within(&self, range: DateRange) -> Reconciliation {
        let rec = &self.reconciliation;
        Reconciliation {
            range,
            processors: rec.processors.clone(),
            cells: rec
                .cells
                .iter()
                .filter(|c| range.contains(c.date))
                .cloned()
                .collect(),
        }
    }
}

/// A note as typed: trimmed, at most [`NOTE_CHARS`] characters, no control
/// characters but line breaks.
pub fn check_note(raw: &str) -> Result<String, DomainError> {
    let note = raw.trim();
    if note.chars().count() > NOTE_CHARS {
        return Err(DomainError::BadParameter {
            name: "note",
            message: format!("at most {NOTE_CHARS} characters"),
        });
    }
    if note
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(DomainError::BadParameter {
            name: "note",
            message: "control characters are not allowed".into(),
        });
    }
    Ok(note.to_string())
}

/// One cell then and now, with the entities that changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDiff {
    pub change: CellChange,
    /// Unaccounted now, not then (of the lists each side kept).
    pub newly_unaccounted: Vec<String>,
    /// Unaccounted then, not now.
    pub no_longer_unaccounted: Vec<String>,
    /// Either side's list was cut at its cap: the entity lists cover the
    /// names up to the shorter one's last.
    pub partial: bool,
    /// For new investigate failures: the entities with a failure row now
    /// and none then (of the kept rows).
    #[serde(default)]
    pub new_failures: Vec<String>,
}

/// A snapshot against now: the cells that differ, in date then dependency
/// order. The words are the job before/after's ([`compare_cells`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub snapshot: SnapshotMeta,
    pub differing: Vec<CellDiff>,
    /// Cells compared (then's and now's together).
    pub compared: usize,
}

impl Comparison {
    /// Cells per kind of change ("gap closed" → 3), for the summary line.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = Vec::new();
        for kind in ChangeKind::ALL {
            let n = self
                .differing
                .iter()
                .filter(|d| d.change.kind == kind)
                .count();
            if n > 0 {
                out.push((kind.label(), n));
            }
        }
        out
    }
}

/// Whether a cell differs from then, in the job before/after's words: a
/// gap closed, a new gap, new investigate failures or a failed run always;
/// a still-open gap when any count a reader compares moved; a cell fine
/// then and now never.
pub fn differs(change: &CellChange) -> bool {
    match change.kind {
        ChangeKind::Unchanged => false,
        ChangeKind::StillOpen => counts_moved(change),
        ChangeKind::GapClosed
        | ChangeKind::NewGap
        | ChangeKind::NewInvestigate
        | ChangeKind::RunFailed => true,
    }
}

fn counts_moved(change: &CellChange) -> bool {
    let key = |c: &Option<CellCounts>| {
        c.as_ref().map(|c| {
            (
                c.status(),
                c.expected,
                c.has_record,
                c.has_failure,
                c.date_level,
                c.unaccounted,
                c.acknowledged,
                c.investigate,
            )
        })
    };
    key(&change.before) != key(&change.after)
}

/// Then (the frozen cells) against now (the same view reconciled today):
/// the cells that differ; `now_unaccounted` gives a cell's unaccounted
/// entities now (the caller reads them, for differing cells only).
pub fn compare(
    snapshot: SnapshotMeta,
    then: &Frozen,
    now: &Reconciliation,
    mut now_unaccounted: impl FnMut(ProcessorId, NaiveDate) -> Option<Page<String>>,
) -> Comparison {
    let changes = compare_cells(&then.reconciliation.cells, &now.cells);
    let compared = changes.len();
    let differing = changes
        .into_iter()
        .filter(differs)
        .map(|change| {
            let before = then.detail(change.processor, change.date);
            let after = now_unaccounted(change.processor, change.date);
            entity_diff(change, before.map(|d| &d.unaccounted), after.as_ref())
        })
        .collect();
    Comparison {
        snapshot,
        differing,
        compared,
    }
}

/// The entities with a failure row now and none then (`then`: the frozen
/// rows; none kept: every one is new), sorted.
pub fn new_failures(then: Option<&Page<FailureRow>>, now: &Page<FailureRow>) -> Vec<String> {
    let before: BTreeSet<&str> = then
        .map(|p| p.items.iter().map(|r| r.entity_id.as_str()).collect())
        .unwrap_or_default();
    let mut out: Vec<String> = now
        .items
        .iter()
        .map(|r| r.entity_id.as_str())
        .filter(|e| !before.contains(e))
        .map(str::to_string)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn entity_diff(
    change: CellChange,
    then: Option<&Page<String>>,
    now: Option<&Page<String>>,
) -> CellDiff {
    let set = |p: Option<&Page<String>>| -> BTreeSet<String> {
        p.map(|p| p.items.iter().cloned().collect())
            .unwrap_or_default()
    };
    let cut = |p: Option<&Page<String>>| p.is_some_and(|p| (p.items.len() as i64) < p.total);
    // A side without a kept list had nobody unaccounted (an OK cell) only
    // when its counts say so; otherwise its list is unknown, hence partial.
    let unknown = |p: Option<&Page<String>>, c: &Option<CellCounts>| {
        p.is_none() && c.as_ref().is_some_and(|c| c.unaccounted > 0)
    };
    let (mut a, mut b) = (set(then), set(now));
    // A list cut at its cap says nothing of names past its last: compare
    // only up to the shorter of the cut lists' last names (lists are sorted).
    let bound = [then, now]
        .into_iter()
        .flatten()
        .filter(|p| (p.items.len() as i64) < p.total)
        .filter_map(|p| p.items.last().cloned())
        .min();
    if let Some(bound) = &bound {
        a.retain(|n| n <= bound);
        b.retain(|n| n <= bound);
    }
    CellDiff {
        newly_unaccounted: b.difference(&a).cloned().collect(),
        no_longer_unaccounted: a.difference(&b).cloned().collect(),
        partial: cut(then)
            || cut(now)
            || unknown(then, &change.before)
            || unknown(now, &change.after),
        new_failures: Vec::new(),
        change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(p: ProcessorId, date: NaiveDate, expected: i64, record: i64) -> CellCounts {
        CellCounts {
            processor: p,
            date,
            expected,
            has_record: record,
            has_failure: 0,
            date_level: false,
            unaccounted: expected - record,
            acknowledged: 0,
            investigate: 0,
            runs: 1,
            conflict: 0,
            extra: 0,
            cascade: 0,
            failures_by_category: Default::default(),
            last_run: None,
        }
    }

    fn page(items: &[&str], total: i64) -> Page<String> {
        Page {
            items: items.iter().map(|s| s.to_string()).collect(),
            total,
            offset: 0,
            limit: FROZEN_UNACCOUNTED,
        }
    }

    fn meta() -> SnapshotMeta {
        SnapshotMeta {
            id: "s1".into(),
            taken_at: NaiveDate::from_ymd_opt(2021, 11, 16)
                .unwrap()
                .and_hms_opt(9, 12, 0)
                .unwrap(),
            taken_by: "ana".into(),
            note: String::new(),
            start: NaiveDate::from_ymd_opt(2021, 11, 10).unwrap(),
            end: NaiveDate::from_ymd_opt(2021, 11, 11).unwrap(),
            processors: vec![],
            cells: 2,
            not_ok: 1,
            bytes: 0,
        }
    }

    #[test]
    fn a_closed_gap_is_named_with_the_entities_it_closed_and_an_unchanged_cell_is_not_listed() {
        let pipeline = crate::pipeline::nba();
        let p = pipeline.ids().next().unwrap();
        let d1 = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2021, 11, 11).unwrap();
        let range = DateRange::new(d1, d2, 10).unwrap();
        let then_rec = Reconciliation {
            range,
            processors: vec![p],
            cells: vec![cell(p, d1, 3, 1), cell(p, d2, 3, 3)],
        };
        let frozen = Frozen::new(
            &pipeline,
            then_rec,
            vec![FrozenCell {
                processor: p,
                date: d1,
                unaccounted: page(&["a", "b"], 2),
                failures: Page {
                    items: vec![],
                    total: 0,
                    offset: 0,
                    limit: 0,
                },
                date_level: None,
                runs: vec![],
            }],
        );
        let now = Reconciliation {
            range,
            processors: vec![p],
            cells: vec![cell(p, d1, 3, 3), cell(p, d2, 3, 3)],
        };
        let cmp = compare(meta(), &frozen, &now, |_, _| Some(page(&[], 0)));
        assert_eq!(cmp.compared, 2);
        assert_eq!(cmp.differing.len(), 1);
        let d = &cmp.differing[0];
        assert_eq!(d.change.kind, ChangeKind::GapClosed);
        assert_eq!(d.no_longer_unaccounted, vec!["a", "b"]);
        assert!(d.newly_unaccounted.is_empty() && !d.partial);
        assert_eq!(cmp.counts(), vec![("gap closed", 1)]);

        // The other way round: a new gap, its entities named.
        let back = compare(
            meta(),
            &Frozen::new(&pipeline, now.clone(), vec![]),
            &frozen.reconciliation,
            |_, _| Some(page(&["a", "b"], 2)),
        );
        assert_eq!(back.differing.len(), 1);
        assert_eq!(back.differing[0].change.kind, ChangeKind::NewGap);
        assert_eq!(back.differing[0].newly_unaccounted, vec!["a", "b"]);
    }

    #[test]
    fn lists_cut_at_their_cap_are_compared_only_as_far_as_both_go() {
        let pipeline = crate::pipeline::nba();
        let p = pipeline.ids().next().unwrap();
        let d = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
        let change = CellChange {
            processor: p,
            date: d,
            before: Some(cell(p, d, 10, 4)),
            after: Some(cell(p, d, 10, 5)),
            kind: ChangeKind::StillOpen,
        };
        // Then: a b c (of 6, cut); now: b c d e (of 5, cut). Past "c"
        // nothing is known of then: "d" and "e" are not news.
        let diff = entity_diff(
            change.clone(),
            Some(&page(&["a", "b", "c"], 6)),
            Some(&page(&["b", "c", "d", "e"], 5)),
        );
        assert_eq!(diff.no_longer_unaccounted, vec!["a"]);
        assert!(
            diff.newly_unaccounted.is_empty(),
            "{:?}",
            diff.newly_unaccounted
        );
        assert!(diff.partial);
        // Whole lists compare whole.
        let diff = entity_diff(
            change,
            Some(&page(&["a", "b"], 2)),
            Some(&page(&["b", "z"], 2)),
        );
        assert_eq!(
            (diff.no_longer_unaccounted, diff.newly_unaccounted),
            (vec!["a".to_string()], vec!["z".to_string()])
        );
        assert!(!diff.partial);
    }

    #[test]
    fn a_cell_fine_then_and_now_never_differs_and_a_still_open_one_only_when_it_moved() {
        let pipeline = crate::pipeline::nba();
        let p = pipeline.ids().next().unwrap();
        let d = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
        let change =
            |before: CellCounts, after: CellCounts| compare_cells(&[before], &[after]).remove(0);
        let fine = change(cell(p, d, 3, 3), cell(p, d, 4, 4));
        assert_eq!(fine.kind, ChangeKind::Unchanged);
        assert!(
            !differs(&fine),
            "more expected, all recorded: nothing to say"
        );
        assert!(!differs(&change(cell(p, d, 3, 1), cell(p, d, 3, 1))));
        assert!(
            differs(&change(cell(p, d, 3, 1), cell(p, d, 3, 2))),
            "a gap that shrank"
        );
        let mut failing = cell(p, d, 3, 3);
        failing.investigate = 1;
        assert!(differs(&change(cell(p, d, 3, 3), failing)));
    }

    #[test]
    fn new_failures_are_the_entities_without_a_row_then() {
        let row = |e: &str| FailureRow {
            entity_id: e.into(),
            raw_category: "PROCESSING_ERROR".into(),
            category: crate::FailureCategory::from_key("PROCESSING_ERROR"),
            code: String::new(),
            reason: String::new(),
            can_retry: false,
            upstream_processor: None,
            upstream_category: None,
            run_id: None,
        };
        let rows = |es: &[&str]| Page {
            items: es.iter().map(|e| row(e)).collect(),
            total: es.len() as i64,
            offset: 0,
            limit: 100,
        };
        assert_eq!(
            new_failures(Some(&rows(&["a"])), &rows(&["b", "a", "c"])),
            vec!["b", "c"]
        );
        assert_eq!(new_failures(None, &rows(&["a"])), vec!["a"]);
    }

    #[test]
    fn a_snapshot_follows_its_processors_by_code_when_the_order_changed() {
        let pipeline = crate::pipeline::nba();
        let ids: Vec<ProcessorId> = pipeline.ids().collect();
        let d = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
        let range = DateRange::new(d, d, 10).unwrap();
        let mut frozen = Frozen::new(
            &pipeline,
            Reconciliation {
                range,
                processors: vec![ids[0], ids[1]],
                cells: vec![cell(ids[0], d, 2, 1), cell(ids[1], d, 2, 2)],
            },
            vec![],
        );
        // As if taken under a pipeline whose first two processors were swapped.
        frozen.codes.swap(0, 1);
        let mapped = frozen.for_pipeline(&pipeline);
        assert_eq!(mapped.reconciliation.processors, vec![ids[1], ids[0]]);
        let first = mapped.cell(ids[1], d).unwrap();
        assert_eq!(first.has_record, 1);
        // A code the pipeline no longer has is dropped.
        let mut gone = Frozen::new(
            &pipeline,
            Reconciliation {
                range,
                processors: vec![ids[0]],
                cells: vec![cell(ids[0], d, 2, 1)],
            },
            vec![],
        );
        gone.codes[0] = "GONE".into();
        let gone = gone.for_pipeline(&pipeline);
        assert!(gone.reconciliation.cells.is_empty() && gone.reconciliation.processors.is_empty());
    }

    #[test]
    fn notes_are_checked() {
        assert_eq!(check_note("  handoff  ").unwrap(), "handoff");
        assert!(check_note(&"x".repeat(NOTE_CHARS + 1))
            .unwrap_err()
            .to_string()
            .contains("note"));
        assert!(check_note("a\u{0}b")
            .unwrap_err()
            .to_string()
            .contains("note"));
        assert_eq!(check_note("line\nline").unwrap(), "line\nline");
    }
}
