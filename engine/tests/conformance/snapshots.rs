//! Snapshots (issue [O]), alike on every store: a frozen view keeps its
//! numbers and drill-downs after the cell is re-run until its gap closes
//! and after its source rows are deleted, and compare says what changed in
//! the job before/after's words.

use domain::report::{CellStatus, ChangeKind, FROZEN_UNACCOUNTED};
use domain::DateRange;
use engine::reconcile::ReconcileRequest;
use engine::snapshot::FreezeRequest;

use crate::common::{backfill_range, d, expected_players, load_until};
use crate::Store;

fn freeze_request(note: &str, retention_days: u32) -> FreezeRequest {
    FreezeRequest {
        view: ReconcileRequest {
            start: Some("2021-11-03".into()),
            end: Some("2021-11-04".into()),
            processors: Some("PSZA".into()),
        },
        note: note.into(),
        taken_by: "ops@example.com".into(),
        retention_days,
    }
}

/// What one store shows of a snapshot, step by step (ids and times left out).
pub async fn frozen_and_compared(store: Store<'_>) -> Vec<String> {
    let wh = store.warehouse();
    load_until(wh, "2021-11-04").await;
    let psza = wh.pipeline().builtin(domain::Builtin::Psza).unwrap();
    let (gap_day, done_day) = (d("2021-11-03"), d("2021-11-04"));
    backfill_range(wh, &[psza], "2021-11-04", "2021-11-04").await;
    let limits = engine::Limits::default();
    let taken_at = d("2021-11-05").and_hms_opt(9, 12, 0).unwrap();
    let mut out = Vec::new();

    // Bad input writes nothing.
    let mut bad = freeze_request("x", 0);
    bad.view.processors = Some("NOPE".into());
    assert!(engine::snapshot::freeze(wh, limits, &bad, taken_at)
        .await
        .is_err_and(|e| e.is_input()));
    let long = freeze_request(&"n".repeat(domain::report::NOTE_CHARS + 1), 0);
    let refused = engine::snapshot::freeze(wh, limits, &long, taken_at).await;
    assert!(matches!(&refused, Err(e) if e.is_input() && e.to_string().contains("note")));
    assert!(wh.snapshots(10).await.unwrap().is_empty(), "nothing kept");

    let meta = engine::snapshot::freeze(wh, limits, &freeze_request("handoff", 0), taken_at)
        .await
        .unwrap();
    assert!(engine::snapshot::valid_id(&meta.id), "{}", meta.id);
    // The day that ran has the early season's expected gaps: not OK either.
    assert_eq!((meta.cells, meta.not_ok), (2, 2));
    assert_eq!(meta.processors, vec!["PSZA"]);
    let (read, then) = engine::snapshot::open(wh, &meta.id).await.unwrap();
    assert_eq!(read, meta, "the row reads back as written");
    let players = {
        let mut p = expected_players("2021-11-03");
        p.sort();
        p
    };
    let n = players.len() as i64;
    let gap = then
        .detail(psza, gap_day)
        .expect("the gap's drill-down is frozen");
    assert_eq!(gap.unaccounted.total, n);
    let kept = players.len().min(FROZEN_UNACCOUNTED as usize);
    assert_eq!(gap.unaccounted.items, players[..kept].to_vec());
    let done = then.cell(psza, done_day).unwrap();
    assert_eq!(done.status(), CellStatus::ExpectedGaps, "{done:?}");
    let frozen_done = then.detail(psza, done_day).unwrap();
    assert_eq!(frozen_done.unaccounted.total, 0);
    assert_eq!(frozen_done.failures.total, done.has_failure);
    assert!(!frozen_done.failures.items.is_empty());
    // One read for the range gives what the drill-down's own read gives.
    let drill = wh
        .failure_rows(
            psza,
            done_day,
            warehouse::FailureFilter {
                limit: domain::report::FROZEN_FAILURES,
                scope: warehouse::FailureScope::Entity,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(frozen_done.failures.items, drill.items);
    assert_eq!(frozen_done.failures.total, drill.total);
    assert_eq!(
        then.cell(psza, gap_day).unwrap().status(),
        CellStatus::NotRun
    );
    out.push(format!(
        "frozen: {} cells, {} not OK, {} unaccounted",
        meta.cells,
        meta.not_ok,
        then.reconciliation.unaccounted()
    ));
    let same = engine::snapshot::compare(wh, meta.clone(), &then)
        .await
        .unwrap();
    assert!(same.differing.is_empty(), "{:?}", same.differing);

    // Re-run the cell until its gap closes: the snapshot still shows it.
    backfill_range(wh, &[psza], "2021-11-03", "2021-11-03").await;
    let (_, still) = engine::snapshot::open(wh, &meta.id).await.unwrap();
    assert_eq!(still, then, "a snapshot never changes");
    assert_eq!(still.cell(psza, gap_day).unwrap().unaccounted, n);
    let closed = engine::snapshot::compare(wh, meta.clone(), &still)
        .await
        .unwrap();
    assert_eq!(closed.differing.len(), 1, "{:?}", closed.differing);
    let cell = &closed.differing[0];
    assert_eq!(cell.change.kind, ChangeKind::GapClosed);
    assert_eq!(cell.change.date, gap_day);
    assert_eq!(cell.no_longer_unaccounted, players[..kept].to_vec());
    assert!(cell.newly_unaccounted.is_empty());
    assert_eq!(closed.counts(), vec![("gap closed", 1)]);
    out.push(format!("after the re-run: {:?}", closed.counts()));

    // Delete the source rows: the snapshot still opens, the same; now the
    // OK day is a new gap, named.
    let spec = wh.pipeline().spec(psza).clone();
    for table in [
        &spec.output_table,
        &wh.pipeline().failures_table,
        &wh.pipeline().runs_table,
    ] {
        store
            .plant(&format!("DELETE FROM {table} WHERE TRUE"))
            .await;
    }
    let (_, survived) = engine::snapshot::open(wh, &meta.id).await.unwrap();
    assert_eq!(survived, then);
    let day = DateRange::new(done_day, done_day, 1).unwrap();
    assert_eq!(
        wh.cell_counts(day, &[psza]).await.unwrap()[0].status(),
        CellStatus::NotRun
    );
    let gone = engine::snapshot::compare(wh, meta.clone(), &survived)
        .await
        .unwrap();
    let new_gap = gone
        .differing
        .iter()
        .find(|c| c.change.date == done_day)
        .unwrap();
    assert_eq!(new_gap.change.kind, ChangeKind::NewGap);
    let cap = FROZEN_UNACCOUNTED as usize;
    assert_eq!(
        new_gap.newly_unaccounted.len(),
        expected_players("2021-11-04").len().min(cap)
    );
    out.push(format!("after deleting the rows: {:?}", gone.counts()));

    // Kept again by id, a snapshot stays one row; retention drops old ones.
    let (m, body) = wh.snapshot(&meta.id).await.unwrap().unwrap();
    wh.record_snapshot(m.clone(), body.clone()).await.unwrap();
    wh.record_snapshot(m, body).await.unwrap();
    assert_eq!(
        wh.snapshots(10).await.unwrap().len(),
        1,
        "applied twice, one row"
    );
    let later = taken_at + chrono::Duration::days(3);
    let next = engine::snapshot::freeze(wh, limits, &freeze_request("", 2), later)
        .await
        .unwrap();
    let listed: Vec<String> = wh
        .snapshots(10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        listed,
        vec![next.id.clone()],
        "the first is past 2 days' retention"
    );
    assert!(matches!(
        engine::snapshot::open(wh, &meta.id).await,
        Err(engine::EngineError::NotFound(_))
    ));
    assert!(matches!(
        engine::snapshot::open(wh, "../etc/passwd").await,
        Err(engine::EngineError::NotFound(_))
    ));
    out.push(format!("listed after retention: {}", listed.len()));
    out
}
