//! Evaluations that remember (issue [M] 1), alike on every store: the first
//! evaluation opens every gap with its entities, a repeat reports no news,
//! a backfill resolves what it fills; the lease keeps one evaluator at a
//! time, and deliveries are logged once.

use domain::watch::{Change, WatchedCell};
use domain::DateRange;
use engine::watch::{evaluate, EvaluateOptions};
use warehouse::{DeliveryRecord, Warehouse};

use crate::common::{backfill_range, d, load_until};

fn at(s: &str) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

/// A kept cell without what differs by design (run ids, times of the run).
fn cell_line(wh: &dyn Warehouse, c: &WatchedCell) -> String {
    format!(
        "{} {} u{} i{} x{} n{} late={} since={} new={:?} resolved={:?} first={:?}",
        c.key(wh.pipeline()),
        c.change.word(),
        c.unaccounted,
        c.investigate,
        c.expected_failures,
        c.open_entities,
        c.late,
        c.open_since,
        c.new_entities.len(),
        c.resolved_entities.len(),
        c.entities.first(),
    )
}

fn sorted(mut cells: Vec<WatchedCell>) -> Vec<WatchedCell> {
    cells.sort_by_key(|c| (c.processor, c.date));
    cells
}

/// What one store shows through the watch operations.
pub async fn watched(wh: &dyn Warehouse) -> Vec<String> {
    load_until(wh, "2021-11-05").await;
    let window = DateRange::new(d("2021-11-01"), d("2021-11-05"), 100).unwrap();
    let eval = |as_of: &str| EvaluateOptions {
        window: Some(window),
        as_of: at(as_of),
        trigger: "test".into(),
        public_url: "http://127.0.0.1:3000".into(),
    };
    let mut out = Vec::new();

    // Nothing has run: every cell is open, every entity unaccounted.
    let first = evaluate(wh, &eval("2021-11-06 08:00")).await.unwrap();
    assert!(first.previous.is_none());
    assert!(!first.cells.is_empty());
    assert!(first.cells.iter().all(|c| c.change == Change::Opened));
    for c in &first.cells {
        assert_eq!(c.open_entities, c.unaccounted, "{c:?}");
        assert_eq!(c.entities.len() as i64, c.open_entities.min(200));
    }
    out.extend(first.cells.iter().map(|c| cell_line(wh, c)));

    // The same again: still open, no news.
    let second = evaluate(wh, &eval("2021-11-06 09:00")).await.unwrap();
    assert_eq!(
        second.previous.as_ref().map(|p| &p.id),
        Some(&first.record.id)
    );
    assert_eq!(second.news().count(), 0, "no news on a repeat");
    assert_eq!(second.open().count(), first.open().count());
    // Unchanged sets are kept by key, their names not read nor written
    // again, and read back through the key as they were.
    assert!(second
        .cells
        .iter()
        .all(|c| c.entities.is_empty() && c.names_key.is_some()));
    let by_key = sorted(wh.evaluation_cells_by_key(&second.record.id).await.unwrap());
    let named = sorted(wh.evaluation_cells(&second.record.id).await.unwrap());
    assert!(by_key.iter().all(|c| c.entities.is_empty()));
    assert_eq!(
        sorted(wh.evaluation_cells(&first.record.id).await.unwrap()),
        sorted(first.cells.clone()),
        "the first evaluation's cells read back as kept"
    );
    assert_eq!(
        named.iter().map(|c| &c.entities).collect::<Vec<_>>(),
        sorted(first.cells.clone())
            .iter()
            .map(|c| &c.entities)
            .collect::<Vec<_>>(),
        "the second reads back, by key, the names the first kept"
    );
    let mut named_second = second.clone();
    engine::watch::read_names(wh, named_second.cells.iter_mut())
        .await
        .unwrap();
    assert_eq!(sorted(named_second.cells), named);

    // A backfill of PSZA over two dates: those cells resolve (or keep only
    // their failures to investigate), the rest stay as they were.
    let psza = wh.pipeline().builtin(domain::Builtin::Psza).unwrap();
    let job = backfill_range(wh, &[psza], "2021-11-01", "2021-11-02").await;
    assert_eq!(job.state, warehouse::JobState::Succeeded);
    let third = evaluate(wh, &eval("2021-11-06 10:00")).await.unwrap();
    let news: Vec<&WatchedCell> = third.news().collect();
    assert!(!news.is_empty(), "the backfill changed something");
    assert!(news
        .iter()
        .all(|c| c.processor == psza && c.date <= d("2021-11-02")));
    for c in news.iter().filter(|c| c.change == Change::Resolved) {
        assert!(!c.resolved_entities.is_empty(), "{c:?}");
        // The streak that ended began at the first evaluation.
        assert_eq!(c.open_since, at("2021-11-06 08:00"));
    }
    out.extend(third.cells.iter().map(|c| cell_line(wh, c)));

    // The feed since the first: the third's news, the latest's open cells.
    let feed = engine::watch::changes(wh, at("2021-11-06 07:00"))
        .await
        .unwrap();
    assert_eq!(feed.evaluations, 3);
    assert_eq!(
        feed.news.len(),
        first.cells.len() + news.len(),
        "the first evaluation's openings and the third's changes"
    );
    assert_eq!(feed.still_open.len(), third.open().count());
    out.push(format!(
        "feed {} news, {} open",
        feed.news.len(),
        feed.still_open.len()
    ));

    // One expected player of a date no one ran swapped for another: the
    // same count, another set. The fingerprint tells, and both names are
    // reported; the other dates' sets stay kept by key.
    let date = d("2021-11-04");
    let mut day = domain::demo::generate(domain::demo::DEFAULT_SEED);
    day.games.retain(|g| g.game_date == date);
    day.schedule.retain(|g| g.game_date == date);
    let gone = crate::common::expected_players("2021-11-04")[0].clone();
    for g in day.games.iter_mut().filter(|g| g.player_lookup == gone) {
        g.player_lookup = "zz-swapped-in".into();
    }
    wh.load_upstream_rows(day.schedule, day.games)
        .await
        .unwrap();
    let swapped = evaluate(wh, &eval("2021-11-06 10:30")).await.unwrap();
    let before_swap = sorted(third.cells.clone());
    for c in &swapped.cells {
        let was = before_swap
            .iter()
            .find(|b| (b.processor, b.date) == (c.processor, c.date))
            .unwrap();
        if c.date == date {
            assert_eq!(c.change, Change::Open, "the count did not change: {c:?}");
            assert_eq!(c.open_entities, was.open_entities);
            assert_ne!(c.names_key, was.names_key);
            assert_eq!(c.resolved_entities, std::slice::from_ref(&gone), "{c:?}");
            if c.open_entities <= 200 {
                assert_eq!(c.new_entities, ["zz-swapped-in"], "{c:?}");
            }
            assert!(c.entities.contains(&"zz-swapped-in".to_string()) || c.open_entities > 200);
        } else if c.is_open() && was.is_open() {
            assert_eq!(c.names_key, was.names_key, "unchanged: {c:?}");
            assert!(c.new_entities.is_empty() && c.resolved_entities.is_empty());
        }
    }
    out.extend(
        swapped
            .cells
            .iter()
            .filter(|c| c.date == date)
            .map(|c| cell_line(wh, c)),
    );
    let swapped_away: Vec<String> = before_swap
        .iter()
        .filter(|c| c.date == date)
        .filter_map(|c| c.names_key.clone())
        .collect();
    assert!(!swapped_away.is_empty());
    assert_eq!(
        wh.entity_lists(&swapped_away).await.unwrap().len(),
        swapped_away
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "still kept: earlier evaluations refer to them"
    );

    // Retention: an evaluation a year later deletes those before it.
    let much_later = evaluate(wh, &eval("2022-12-01 08:00")).await.unwrap();
    let kept = wh
        .evaluations_since(at("2000-01-01 00:00"), 100)
        .await
        .unwrap();
    assert_eq!(
        kept.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&much_later.record.id],
        "older evaluations are deleted past the retention"
    );
    // With them go the lists no kept cell refers to; the kept cells'
    // lists stay.
    assert!(
        wh.entity_lists(&swapped_away).await.unwrap().is_empty(),
        "the swapped-away sets' lists are gone"
    );
    let still: Vec<String> = much_later
        .cells
        .iter()
        .filter_map(|c| c.names_key.clone())
        .collect();
    let mut late_named = much_later.clone();
    engine::watch::read_names(wh, late_named.cells.iter_mut())
        .await
        .unwrap();
    assert!(late_named
        .cells
        .iter()
        .filter(|c| c.names_key.is_some())
        .all(|c| !c.entities.is_empty()));
    assert!(!still.is_empty());

    // One evaluator at a time (leases run on the real clock).
    let now = chrono::Utc::now().naive_utc();
    let until = now + chrono::Duration::minutes(10);
    assert!(wh.take_evaluator_lease("a-1", now, until).await.unwrap());
    assert!(!wh.take_evaluator_lease("b-2", now, until).await.unwrap());
    assert!(
        wh.take_evaluator_lease("a-1", now, until).await.unwrap(),
        "renewed"
    );
    // An evaluation waits for the other evaluator, then runs after it.
    let meanwhile = eval("2021-11-06 11:00");
    let (waited, ()) = tokio::join!(evaluate(wh, &meanwhile), async {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert!(
            !wh.take_evaluator_lease("b-2", now, until).await.unwrap(),
            "still a-1's while it runs"
        );
        wh.release_evaluator_lease("a-1").await.unwrap();
    });
    assert!(
        waited.is_ok(),
        "it ran once the other evaluator was done: {:?}",
        waited.err()
    );
    assert!(wh.take_evaluator_lease("b-2", now, until).await.unwrap());
    // An evaluator that holds on past the wait: refused, nothing kept.
    let before = wh
        .evaluations_since(at("2000-01-01 00:00"), 100)
        .await
        .unwrap()
        .len();
    let refused = engine::watch::evaluate_waiting(
        wh,
        &eval("2021-11-06 12:00"),
        std::time::Duration::from_millis(700),
    )
    .await;
    assert!(
        matches!(&refused, Err(engine::EngineError::Refused(why)) if why.contains("another evaluation")),
        "{:?}",
        refused.map(|e| e.record.id)
    );
    assert_eq!(
        wh.evaluations_since(at("2000-01-01 00:00"), 100)
            .await
            .unwrap()
            .len(),
        before
    );
    // An expired lease is anyone's.
    let later = until + chrono::Duration::seconds(1);
    assert!(wh
        .take_evaluator_lease("c-3", later, later + chrono::Duration::minutes(1))
        .await
        .unwrap());
    wh.release_evaluator_lease("c-3").await.unwrap();

    // A delivery logged twice is logged once.
    let delivery = DeliveryRecord {
        id: "dl-1".into(),
        evaluation_id: much_later.record.id.clone(),
        channel: "webhook:HOOK_URL".into(),
        sent_at: at("2021-11-06 11:00"),
        cells: 3,
        http_status: Some(200),
        error: None,
        attempts: 1,
    };
    wh.record_delivery(delivery.clone()).await.unwrap();
    wh.record_delivery(delivery.clone()).await.unwrap();
    assert_eq!(wh.deliveries(10).await.unwrap(), [delivery]);
    out
}
