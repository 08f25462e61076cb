//! The read models' rules: statuses, coverage, paging, traces, changes.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;
use crate::pipeline::shipped;
use crate::{Builtin, ProcessorId};

mod drawn;
mod trace;

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
    // Issue [O] 2: fine before, a gap now.
    assert_eq!(
        compare_cells(std::slice::from_ref(&ok), std::slice::from_ref(&gap))[0].kind,
        ChangeKind::NewGap
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
        acknowledged: 0,
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
