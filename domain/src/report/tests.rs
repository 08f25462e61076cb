//! The read models' rules: statuses, coverage, paging, traces, changes.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;
use crate::pipeline::shipped;
use crate::{Builtin, FailureCategory, ProcessorId};

/// A page of `total` rows as a store answers it (the items do not matter here).
fn page(total: i64, offset: i64, limit: i64) -> Page<()> {
    Page {
        items: Vec::new(),
        total,
        offset,
        limit,
    }
}

#[test]
fn page_neighbours_of_extreme_offsets_do_not_overflow() {
    assert_eq!(
        page(3, i64::MAX, 500).neighbours(),
        (Some(i64::MAX - 500), None)
    );
    assert_eq!(page(3, 0, 2).neighbours(), (None, Some(2)));
}

#[test]
fn trace_state_prefers_record_then_failure_then_expectation() {
    let failure = |entity: &str| TraceFailure {
        entity_id: entity.into(),
        raw_category: "upstream-missing".into(),
        reason: "r".into(),
        upstream_processor: Some("PDC".into()),
        upstream_category: None,
    };
    assert_eq!(
        TraceState::of(true, Some(failure("x")), true),
        TraceState::Record
    );
    assert_eq!(
        TraceState::of(false, Some(failure(crate::processors::DATE_LEVEL)), true),
        TraceState::DateLevel { reason: "r".into() }
    );
    match TraceState::of(false, Some(failure("x")), true) {
        TraceState::Failure { category, .. } => {
            assert_eq!(category, FailureCategory::MissingUpstream)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(TraceState::of(false, None, true), TraceState::Unaccounted);
    assert_eq!(TraceState::of(false, None, false), TraceState::NotExpected);
}

#[test]
fn before_and_after_are_classified() {
    let mut gap = cell();
    gap.unaccounted = 5;
    gap.has_record -= 5;
    assert!(gap.status().is_gap());
    let ok = cell();
    assert!(!ok.status().is_gap());
    let mut worse = cell();
    worse.investigate = 2;
    let mut other_day = cell();
    other_day.date = other_day.date.succ_opt().unwrap();
    let changes = compare_cells(std::slice::from_ref(&ok), std::slice::from_ref(&ok));
    assert_eq!(changes.len(), 1, "same cell paired");
    assert_eq!(changes[0].kind, ChangeKind::Unchanged);
    assert_eq!(
        compare_cells(std::slice::from_ref(&gap), std::slice::from_ref(&ok))[0].kind,
        ChangeKind::GapClosed
    );
    assert_eq!(
        compare_cells(std::slice::from_ref(&gap), std::slice::from_ref(&gap))[0].kind,
        ChangeKind::StillOpen
    );
    assert_eq!(
        compare_cells(std::slice::from_ref(&ok), &[worse])[0].kind,
        ChangeKind::NewInvestigate
    );
    let two = compare_cells(&[other_day.clone(), gap.clone()], &[ok.clone(), other_day]);
    assert_eq!(two.len(), 2);
    assert!(two[0].date < two[1].date, "date order");
    assert_eq!(change_counts(&two).get("gap closed"), Some(&1));
    // Issue [Q] 4: now covered by an expected date-level failure: closed.
    let mut date_level = cell();
    date_level.has_record = 0;
    date_level.date_level = true;
    date_level.failures_by_category = BTreeMap::from([("MISSING_DEPENDENCIES".to_string(), 1)]);
    assert_eq!(date_level.status(), CellStatus::DepsMissing);
    assert_eq!(
        compare_cells(
            std::slice::from_ref(&gap),
            std::slice::from_ref(&date_level)
        )[0]
        .kind,
        ChangeKind::GapClosed
    );
    // A run that failed says so, whatever the counts.
    let mut failed = gap.clone();
    failed.last_run = Some(LastRun {
        run_id: "r".into(),
        status: RunStatus::Failed,
        started_at: None,
        error: Some("boom".into()),
    });
    assert_eq!(
        compare_cells(std::slice::from_ref(&gap), std::slice::from_ref(&failed))[0].kind,
        ChangeKind::RunFailed
    );
}

/// Issue [Q] 2: a job's headline says what it left open.
#[test]
fn a_job_headline_says_what_it_left_open() {
    let ok = cell();
    let mut gap = cell();
    gap.unaccounted = 5;
    gap.has_record -= 5;
    let mut other = gap.clone();
    other.date = other.date.succ_opt().unwrap();
    let closed = compare_cells(std::slice::from_ref(&gap), std::slice::from_ref(&ok));
    assert_eq!(
        job_headline(JobState::Succeeded, 0, Some(&closed)),
        "succeeded — every touched cell is accounted for (1 cell closed)"
    );
    let open = compare_cells(&[gap.clone(), other.clone()], &[gap.clone(), other.clone()]);
    assert_eq!(
        job_headline(JobState::Succeeded, 0, Some(&open)),
        "succeeded — 2 cells still open (unaccounted, to investigate or never run)"
    );
    assert_eq!(
        job_headline(JobState::Failed, 23, Some(&closed)),
        "finished: 23 cells failed"
    );
    assert_eq!(
        job_headline(JobState::Failed, 1, Some(&open)),
        "finished: 1 cell failed, 2 cells still open (unaccounted, to investigate or never run)"
    );
    assert_eq!(job_headline(JobState::Running, 0, None), "running");
    assert_eq!(
        job_headline(JobState::Cancelled, 0, Some(&open)),
        "cancelled: 2 cells still open (unaccounted, to investigate or never run)"
    );
    let tally = tally_by_processor(&open);
    assert_eq!(tally.len(), 1);
    assert_eq!((tally[0].1.still_open, tally[0].1.left_open()), (2, 2));
}

#[test]
fn neighbours_of_pages() {
    assert_eq!(page(120, 50, 50).neighbours(), (Some(0), Some(100)));
    assert_eq!(page(120, 100, 50).neighbours(), (Some(50), None));
    assert_eq!(page(120, 500, 50).neighbours(), (Some(450), None));
    assert_eq!(page(0, 0, 50).neighbours(), (None, None));
}

#[test]
fn cell_keys_read_what_they_write() {
    let key: CellKey = CellKey::parse(shipped(), "pdc:2021-11-10").unwrap();
    assert_eq!(key.processor, crate::pipeline::shipped_id(Builtin::Pdc));
    assert_eq!(key.text(shipped()), "PDC:2021-11-10");
    assert_eq!(
        CellKey::parse(shipped(), &key.text(shipped())).unwrap(),
        key
    );
    for bad in [
        "PDC",
        "XYZ:2021-11-10",
        "PDC:2021-13-01",
        ":",
        "PDC:'; DROP",
    ] {
        let e = CellKey::parse(shipped(), bad).unwrap_err().to_string();
        assert!(e.contains("cell") || e.contains("processor"), "{bad}: {e}");
    }
}

#[test]
fn run_statuses_keep_foreign_words() {
    assert_eq!(RunStatus::from("success".to_string()), RunStatus::Success);
    let other = RunStatus::from("partial".to_string());
    assert_eq!(other, RunStatus::Other("partial".into()));
    // What is stored and sent is the word itself, whoever wrote it.
    assert_eq!(String::from(other), "partial");
    assert_eq!(String::from(RunStatus::Failed), "failed");
}

fn cell() -> CellCounts {
    CellCounts {
        processor: crate::pipeline::shipped_id(Builtin::Pdc),
        date: NaiveDate::from_ymd_opt(2021, 11, 10).unwrap(),
        expected: 10,
        has_record: 10,
        has_failure: 0,
        date_level: false,
        unaccounted: 0,
        investigate: 0,
        runs: 1,
        conflict: 0,
        extra: 0,
        cascade: 0,
        failures_by_category: BTreeMap::new(),
        last_run: None,
    }
}

#[test]
fn statuses_in_priority_order() {
    assert_eq!(cell().status(), CellStatus::Ok);
    let c = CellCounts {
        expected: 0,
        has_record: 0,
        ..cell()
    };
    assert_eq!(c.status(), CellStatus::NoGames);
    let c = CellCounts {
        has_record: 0,
        runs: 0,
        unaccounted: 10,
        ..cell()
    };
    assert_eq!(c.status(), CellStatus::NotRun);
    let c = CellCounts {
        has_record: 7,
        has_failure: 1,
        unaccounted: 2,
        investigate: 1,
        ..cell()
    };
    assert_eq!(c.status(), CellStatus::Untracked);
    assert!((c.coverage() - 0.8).abs() < 1e-9);
    let c = CellCounts {
        has_record: 9,
        has_failure: 1,
        investigate: 1,
        ..cell()
    };
    assert_eq!(c.status(), CellStatus::Investigate);
    let c = CellCounts {
        has_record: 0,
        date_level: true,
        ..cell()
    };
    assert_eq!(c.status(), CellStatus::DepsMissing);
    assert_eq!(c.coverage(), 1.0);
    let c = CellCounts {
        has_record: 8,
        has_failure: 2,
        ..cell()
    };
    assert_eq!(c.status(), CellStatus::ExpectedGaps);
    assert!(CellStatus::Untracked.is_gap() && !CellStatus::ExpectedGaps.is_gap());
}

fn fail(up: Option<&str>) -> TraceState {
    TraceState::Failure {
        category: FailureCategory::MissingUpstream,
        reason: String::new(),
        upstream_processor: up.map(String::from),
        upstream_category: None,
    }
}

#[test]
fn root_cause_is_the_first_failing_link() {
    let d = NaiveDate::from_ymd_opt(2021, 11, 10).unwrap();
    let trace = PlayerTrace {
        player_lookup: "p".into(),
        date: d,
        expected: true,
        links: vec![
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Psza),
                state: TraceState::Failure {
                    category: FailureCategory::InsufficientData,
                    reason: "4 games, need 10".into(),
                    upstream_processor: None,
                    upstream_category: None,
                },
                failed_run: None,
            },
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Pdc),
                state: TraceState::Record,
                failed_run: None,
            },
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Pcf),
                state: fail(Some("PSZA")),
                failed_run: None,
            },
            TraceLink {
                processor: crate::pipeline::shipped_id(Builtin::Mlfs),
                state: fail(Some("PCF")),
                failed_run: None,
            },
        ],
        recent_games: Vec::new(),
        explained: None,
    };
    assert_eq!(
        trace.root_cause(shipped()),
        Some(crate::pipeline::shipped_id(Builtin::Psza))
    );
    let ok = PlayerTrace {
        links: trace
            .links
            .iter()
            .map(|l| TraceLink {
                processor: l.processor,
                state: TraceState::Record,
                failed_run: None,
            })
            .collect(),
        ..trace.clone()
    };
    assert_eq!(ok.root_cause(shipped()), None);
    let mut unacc = ok.clone();
    unacc.links[2].state = TraceState::Unaccounted;
    unacc.links[3].state = fail(Some("PCF"));
    assert_eq!(
        unacc.root_cause(shipped()),
        Some(crate::pipeline::shipped_id(Builtin::Pcf))
    );
}

/// Issue [Q] 3: roots follow each processor's own upstreams.
/// Issue [Q] 4: the headline keeps cells never run apart.
#[test]
fn the_headline_separates_cells_never_run() {
    let u = crate::pipeline::nba().universe;
    let mut ran = cell();
    ran.has_record = 7;
    ran.unaccounted = 3;
    let mut never = cell();
    never.date = ran.date + chrono::Duration::days(1);
    never.has_record = 0;
    never.runs = 0;
    never.unaccounted = 10;
    assert_eq!(never.status(), CellStatus::NotRun);
    let rec = Reconciliation {
        range: crate::DateRange::new(ran.date, never.date, 10).unwrap(),
        processors: vec![ran.processor],
        cells: vec![ran.clone(), never.clone()],
    };
    assert_eq!((rec.unaccounted(), rec.unaccounted_not_run()), (13, 10));
    let drawn = DrawnGrid::from(rec.clone());
    assert_eq!((drawn.unaccounted(), drawn.unaccounted_not_run()), (13, 10));
    assert_eq!(rec.totals(ran.processor).unaccounted_not_run, 10);
    assert_eq!(
        unaccounted_headline(&u, 13, 10),
        "3 players unaccounted for in cells that ran, and 10 players in cells never run"
    );
    assert_eq!(unaccounted_headline(&u, 1, 0), "1 player unaccounted for");
    assert_eq!(
        unaccounted_headline(&u, 10, 10),
        "No players unaccounted for in cells that ran; 10 players in cells never run"
    );
    assert_eq!(unaccounted_headline(&u, 0, 0), "All players accounted for");
}

#[test]
fn each_link_is_explained_by_its_own_upstreams_only() {
    let [psza, pdc, pcf, mlfs] = Builtin::ALL.map(crate::pipeline::shipped_id);
    let insufficient = TraceState::Failure {
        category: FailureCategory::InsufficientData,
        reason: "4 games, need 10".into(),
        upstream_processor: None,
        upstream_category: None,
    };
    let trace = |states: [TraceState; 4]| PlayerTrace {
        player_lookup: "brandonsmartjr".into(),
        date: NaiveDate::from_ymd_opt(2021, 11, 1).unwrap(),
        expected: true,
        links: [psza, pdc, pcf, mlfs]
            .into_iter()
            .zip(states)
            .map(|(processor, state)| TraceLink {
                processor,
                state,
                failed_run: None,
            })
            .collect(),
        recent_games: Vec::new(),
        explained: None,
    };
    // PSZA's expected failure does not explain PDC's silent drop: PDC does
    // not read PSZA. PDC is its own root, to investigate.
    let t = trace([
        insufficient.clone(),
        TraceState::Unaccounted,
        TraceState::Unaccounted,
        TraceState::Unaccounted,
    ]);
    assert_eq!(t.root_cause(shipped()), Some(pdc));
    assert!(t.root_needs_investigation(shipped()));
    assert_eq!(t.root_of(shipped(), &t.links[1]), Some(pdc));
    // Every link accounted for on its own: no root cause.
    let t = trace([
        insufficient.clone(),
        TraceState::Record,
        TraceState::Record,
        TraceState::Record,
    ]);
    assert_eq!(t.root_cause(shipped()), None);
    assert!(!t.root_needs_investigation(shipped()));
    // A failure naming a processor it does not depend on is its own root.
    let t = trace([
        insufficient.clone(),
        fail(Some("PSZA")),
        TraceState::Record,
        TraceState::Record,
    ]);
    assert_eq!(t.root_of(shipped(), &t.links[1]), Some(pdc));
    // A chain along the DAG: the first link, an expected gap.
    let t = trace([
        insufficient,
        TraceState::Record,
        fail(Some("PSZA")),
        fail(Some("PCF")),
    ]);
    assert_eq!(t.root_of(shipped(), &t.links[3]), Some(psza));
    assert_eq!(t.root_cause(shipped()), Some(psza));
    assert!(!t.root_needs_investigation(shipped()));
    // A named upstream that has its record explains nothing.
    let t = trace([
        TraceState::Record,
        TraceState::Record,
        fail(Some("PSZA")),
        TraceState::Record,
    ]);
    assert_eq!(t.root_of(shipped(), &t.links[2]), Some(pcf));
}

#[test]
fn the_drawn_grid_keeps_every_number_and_status_in_a_fraction_of_the_bytes() {
    let mut failing = cell();
    failing.has_record = 7;
    failing.has_failure = 3;
    failing.investigate = 1;
    failing.failures_by_category = BTreeMap::from([("PROCESSING_ERROR".to_string(), 3)]);
    failing.last_run = Some(LastRun {
        run_id: "run-1".into(),
        status: RunStatus::Success,
        started_at: None,
        error: None,
    });
    // A week of such cells: the per-processor sums are sent once.
    let week: Vec<CellCounts> = (0..7)
        .map(|i| CellCounts {
            date: failing.date + chrono::Duration::days(i),
            ..failing.clone()
        })
        .collect();
    let rec = Reconciliation {
        range: crate::DateRange::new(week[0].date, week[6].date, 10).unwrap(),
        processors: vec![failing.processor],
        cells: week,
    };
    let carried = DrawnGrid::from(rec.clone());
    let small = serde_json::to_string(&carried).unwrap().len();
    let full = serde_json::to_string(&rec).unwrap().len();
    assert!(small * 3 < full, "{small} bytes carried for {full}");
    let drawn = carried.days();
    let c = &drawn.cells[0];
    assert_eq!(c.status(), failing.status());
    assert_eq!(c.status(), CellStatus::Investigate);
    assert_eq!(drawn.totals(c.processor), rec.totals(c.processor));
    let sums = carried_totals_without_status_counts(&rec, c.processor);
    assert_eq!(DrawnGrid::from(rec.clone()).totals(c.processor), sums);
    assert_eq!(DrawnGrid::from(rec.clone()).gaps(c.processor), 7);
    assert_eq!((c.has_record, c.has_failure, c.runs), (7, 3, 1));
    assert!(c.failures_by_category.is_empty() && c.last_run.is_none());
    // A failed latest run is drawn: its status, mark and tooltip need it.
    let mut failed = rec.clone();
    for c in &mut failed.cells {
        c.last_run.as_mut().unwrap().status = RunStatus::Failed;
    }
    let drawn = DrawnGrid::from(failed.clone()).days();
    assert_eq!(drawn.cells[0].status(), CellStatus::RunFailed);
    assert_eq!(drawn.cells[0].last_run, failed.cells[0].last_run);
}

#[test]
fn a_failed_latest_run_is_its_own_status_and_says_when_rows_are_older() {
    let mut c = cell();
    c.has_record = 0;
    c.unaccounted = c.expected;
    c.runs = 1;
    assert_eq!(c.status(), CellStatus::Untracked);
    c.last_run = Some(LastRun {
        run_id: "run-2".into(),
        status: RunStatus::Failed,
        started_at: NaiveDate::from_ymd_opt(2021, 11, 16)
            .unwrap()
            .and_hms_opt(9, 12, 0),
        error: Some(
            "\nTraceback (most recent call last):\n  File \"x.py\"\nKeyError: 'minutes'\n".into(),
        ),
    });
    assert_eq!(c.status(), CellStatus::RunFailed);
    assert!(c.status().is_gap());
    assert!(!c.serves_older_run(), "nothing left by an earlier run");
    let summary = c.failed_run().unwrap().failure_summary();
    assert_eq!(
        summary,
        "latest run run-2 failed at 2021-11-16 09:12:00: Traceback (most recent call last): / File \"x.py\""
    );
    c.has_record = 3;
    c.unaccounted -= 3;
    assert!(c.serves_older_run());
    assert_eq!(
        c.status(),
        CellStatus::RunFailed,
        "old rows do not hide the failure"
    );
    c.last_run.as_mut().unwrap().status = RunStatus::Success;
    assert_eq!(c.status(), CellStatus::Untracked);
}

/// `rec.totals(p)` as the page carries it: no per-status cell counts.
fn carried_totals_without_status_counts(rec: &Reconciliation, p: ProcessorId) -> Totals {
    Totals {
        cells_by_status: BTreeMap::new(),
        ..rec.totals(p)
    }
}

#[test]
fn long_ranges_arrive_folded_into_the_columns_the_page_draws() {
    let (a, b) = (
        crate::pipeline::shipped_id(Builtin::Pdc),
        crate::pipeline::shipped_id(Builtin::Pcf),
    );
    let first = NaiveDate::from_ymd_opt(2021, 10, 19).unwrap();
    let range = crate::DateRange::new(first, first + chrono::Duration::days(399), 1000).unwrap();
    let mut cells = Vec::new();
    for (i, date) in range.iter().enumerate() {
        for p in [a, b] {
            let mut c = cell();
            c.processor = p;
            c.date = date;
            // Every status in turn, some days with nobody expected.
            match i % 5 {
                0 => c.unaccounted = 2,
                1 => c.investigate = 1,
                2 => c.expected = 0,
                3 => c.date_level = i % 2 == 0,
                _ => {}
            }
            c.failures_by_category = BTreeMap::from([("NO_DATA".to_string(), 1)]);
            cells.push(c);
        }
    }
    let rec = Reconciliation {
        range,
        processors: vec![a, b],
        cells,
    };
    let period = Period::for_range(range);
    assert_eq!(period, Period::Week);
    let cols = columns(range, period);
    let grid = DrawnGrid::from(rec.clone());
    let bare = |mut c: CellCounts| {
        c.failures_by_category.clear();
        c.last_run = None;
        c
    };
    for p in [a, b] {
        let want: Vec<ColumnCell> = rec
            .column_cells(p, &cols)
            .into_iter()
            .map(|cc| ColumnCell {
                totals: Totals {
                    cells_by_status: BTreeMap::new(),
                    ..cc.totals
                },
                worst: cc.worst.map(bare),
                ..cc
            })
            .collect();
        assert_eq!(grid.columns_of(p), want);
        assert_eq!(
            grid.totals(p),
            carried_totals_without_status_counts(&rec, p)
        );
        let gaps = rec.cells_of(p).filter(|c| c.status().is_gap()).count();
        assert!(gaps > 0);
        assert_eq!(grid.gaps(p), gaps);
    }
    assert_eq!(grid.unaccounted(), rec.unaccounted());
    // No days on the wire: the columns instead, a fraction of the bytes.
    assert!(grid.days().cells.is_empty());
    let folded = serde_json::to_string(&grid).unwrap().len();
    let mut by_day = rec.clone();
    by_day.range = crate::DateRange::new(first, first, 10).unwrap();
    let days = serde_json::to_string(&DrawnGrid::from(by_day))
        .unwrap()
        .len();
    assert!(folded * 3 < days, "{folded} bytes folded, {days} by day");
}
