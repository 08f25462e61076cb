//! The drawn grid: what the page carries, and long ranges folded into
//! columns.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;

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
