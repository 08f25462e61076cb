//! Acknowledgements (issue [N] 1), alike on every store: an acknowledged
//! entity is counted apart from the unaccounted ones (never as accounted
//! for), leaves the drill-down's list and the watch's open entities, and
//! comes back when the acknowledgement is revoked, expires or its entity's
//! state changes.

use domain::ack::{AckEnd, AckReason, AckRequest};
use domain::report::CellStatus;
use domain::watch::Change;
use domain::DateRange;
use engine::watch::{evaluate, EvaluateOptions};
use warehouse::sql::AckScope;
use warehouse::Warehouse;

use crate::common::{backfill_range, d, expected_players, load_until};

fn ask(p: domain::ProcessorId, entities: Option<&[&str]>) -> AckRequest {
    AckRequest {
        processor: p,
        date: d("2021-11-03"),
        entities: entities.map(|l| l.iter().map(|e| e.to_string()).collect()),
        reason: AckReason::KnownUpstream,
        note: "the feed misses them".into(),
        ticket_url: Some("https://tickets.example/ROLL-7".into()),
        expires_in: None,
    }
}

/// What one store shows of acknowledgements, step by step.
pub async fn acknowledged(wh: &dyn Warehouse) -> Vec<String> {
    load_until(wh, "2021-11-03").await;
    let (psza, pdc) = (
        wh.pipeline().builtin(domain::Builtin::Psza).unwrap(),
        wh.pipeline().builtin(domain::Builtin::Pdc).unwrap(),
    );
    let day = DateRange::new(d("2021-11-03"), d("2021-11-03"), 1).unwrap();
    let players = expected_players("2021-11-03");
    let n = players.len() as i64;
    let (p0, p1) = (players[0].as_str(), players[1].as_str());
    let now = || chrono::Utc::now().naive_utc();
    let cell = |cells: &[domain::report::CellCounts], p| {
        cells.iter().find(|c| c.processor == p).unwrap().clone()
    };
    let counts = || async { wh.cell_counts(day, &[psza, pdc]).await.unwrap() };
    let eval = |minute: u32| EvaluateOptions {
        window: Some(day),
        as_of: d("2021-11-04").and_hms_opt(8, minute, 0).unwrap(),
        trigger: "test".into(),
        public_url: "http://127.0.0.1:3000".into(),
    };
    let mut out = Vec::new();
    let line = |step: &str, c: &domain::report::CellCounts| {
        format!(
            "{step}: {} u{} a{} {}",
            wh.pipeline().code(c.processor),
            c.unaccounted,
            c.acknowledged,
            c.status().code()
        )
    };
    evaluate(wh, &eval(0)).await.unwrap();

    // Two players of PSZA, and the whole PDC cell.
    let made = engine::acks::acknowledge(wh, ask(psza, Some(&[p1, p0])), "ops@example.com", now())
        .await
        .unwrap();
    assert_eq!(made.len(), 2);
    let whole = engine::acks::acknowledge(wh, ask(pdc, None), "ops@example.com", now())
        .await
        .unwrap();
    assert_eq!(whole[0].entity, None);
    let cells = counts().await;
    let (a, b) = (cell(&cells, psza), cell(&cells, pdc));
    assert_eq!((a.unaccounted, a.acknowledged), (n - 2, 2));
    assert_eq!(
        a.status(),
        CellStatus::NotRun,
        "still a gap: others are missing"
    );
    assert_eq!((b.unaccounted, b.acknowledged), (0, n));
    assert_eq!(b.status(), CellStatus::Acknowledged);
    assert_eq!(b.coverage(), 0.0, "acknowledged is not accounted for");
    out.extend([line("acked", &a), line("acked", &b)]);
    // The drill-down's list and the watch leave them out.
    let listed: Vec<String> = wh
        .unaccounted(day, &[psza])
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, e)| e)
        .collect();
    assert_eq!(listed.len() as i64, n - 2);
    assert!(!listed.iter().any(|e| e == p0 || e == p1));
    let e1 = engine::watch::evaluate_named(wh, &eval(10)).await.unwrap();
    let psza_cell = e1.cells.iter().find(|c| c.processor == psza).unwrap();
    assert_eq!(psza_cell.open_entities, n - 2);
    assert!(!psza_cell.entities.iter().any(|e| e == p0));
    assert!(
        e1.cells.iter().all(|c| c.processor != pdc || !c.is_open()),
        "an acknowledged cell is not open: no alert for it"
    );

    // Only unaccounted entities can be acknowledged.
    let refused = engine::acks::acknowledge(wh, ask(psza, Some(&["zz-nobody"])), "x", now()).await;
    assert!(matches!(refused, Err(e) if e.is_input()));

    // Revoked: the gap reopens, and the next evaluation says so.
    let p1_ack = made
        .iter()
        .find(|a| a.entity.as_deref() == Some(p1))
        .unwrap();
    let revoked = engine::acks::revoke(wh, &p1_ack.id, "lead@example.com", now())
        .await
        .unwrap();
    assert_eq!(revoked.end, Some(AckEnd::Revoked));
    assert_eq!(revoked.ended_by.as_deref(), Some("lead@example.com"));
    assert!(engine::acks::revoke(wh, &p1_ack.id, "x", now())
        .await
        .is_err());
    let a = cell(&counts().await, psza);
    assert_eq!((a.unaccounted, a.acknowledged), (n - 1, 1));
    out.push(line("revoked", &a));
    let e2 = evaluate(wh, &eval(20)).await.unwrap();
    let reopened = e2.cells.iter().find(|c| c.processor == psza).unwrap();
    assert_eq!(reopened.change, Change::Worse, "{reopened:?}");
    if n - 1 <= 200 {
        assert_eq!(reopened.new_entities, [p1.to_string()]);
    }

    // Made 40 days ago with the default 30: expired, counted as unaccounted.
    let long_ago = now() - chrono::Duration::days(40);
    let old = engine::acks::acknowledge(wh, ask(psza, Some(&[p1])), "ops@example.com", long_ago)
        .await
        .unwrap();
    let a = cell(&counts().await, psza);
    assert_eq!((a.unaccounted, a.acknowledged), (n - 1, 1));
    let in_force = wh
        .acknowledgements(AckScope::InForce, None, 100)
        .await
        .unwrap();
    assert_eq!(in_force.len(), 2, "p0 and the PDC cell");
    let all = wh.acknowledgements(AckScope::All, None, 100).await.unwrap();
    assert_eq!(all.len(), 4);
    let expired = all.iter().find(|x| x.id == old[0].id).unwrap();
    assert_eq!(expired.state(now()), "expired");
    assert_eq!(
        wh.acknowledgements(AckScope::All, Some((pdc, d("2021-11-03"))), 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // PSZA runs for the date: p0 gets a record or a failure, so its
    // acknowledgement ends; PDC's whole-cell one stays (PDC did not run).
    let job = backfill_range(wh, &[psza], "2021-11-03", "2021-11-03").await;
    assert_eq!(job.state, warehouse::JobState::Succeeded);
    let p0_ack = made
        .iter()
        .find(|a| a.entity.as_deref() == Some(p0))
        .unwrap();
    let ended = wh.acknowledgement(&p0_ack.id).await.unwrap().unwrap();
    assert_eq!(ended.end, Some(AckEnd::StateChanged));
    assert_eq!(ended.ended_by.as_deref(), Some(engine::acks::ROLLCALL));
    let still = wh.acknowledgement(&whole[0].id).await.unwrap().unwrap();
    assert!(still.is_active(now()));
    let cells = counts().await;
    let (a, b) = (cell(&cells, psza), cell(&cells, pdc));
    assert_eq!(a.acknowledged, 0);
    assert_eq!(b.acknowledged, n);
    out.extend([line("after psza ran", &a), line("after psza ran", &b)]);
    // Running the cell itself ends a whole-cell acknowledgement.
    let job = backfill_range(wh, &[pdc], "2021-11-03", "2021-11-03").await;
    assert_eq!(job.state, warehouse::JobState::Succeeded);
    let ended = wh.acknowledgement(&whole[0].id).await.unwrap().unwrap();
    assert_eq!(ended.end, Some(AckEnd::StateChanged));
    out.push(line("after pdc ran", &cell(&counts().await, pdc)));

    // On a fixed clock: made 2021-11-04 08:00 for the default 30 days, an
    // evaluation as of the next day leaves the player out; one after the
    // expiry reopens the gap, naming them.
    let pcf = wh.pipeline().builtin(domain::Builtin::Pcf).unwrap();
    let p3 = players[3].as_str();
    let made = d("2021-11-04").and_hms_opt(8, 0, 0).unwrap();
    engine::acks::acknowledge(wh, ask(pcf, Some(&[p3])), "ops@example.com", made)
        .await
        .unwrap();
    let as_of = |when: chrono::NaiveDateTime| EvaluateOptions {
        as_of: when,
        ..eval(0)
    };
    let pcf_cell = |e: &engine::watch::Evaluation| {
        e.cells.iter().find(|c| c.processor == pcf).unwrap().clone()
    };
    let within = evaluate(wh, &as_of(made + chrono::Duration::days(1)))
        .await
        .unwrap();
    let quiet = pcf_cell(&within);
    assert_eq!(quiet.unaccounted, n - 1, "{quiet:?}");
    assert!(
        !quiet.change.is_news() || quiet.change == Change::Open,
        "{quiet:?}"
    );
    let past = evaluate(wh, &as_of(made + chrono::Duration::days(31)))
        .await
        .unwrap();
    let reopened = pcf_cell(&past);
    assert_eq!(reopened.unaccounted, n, "{reopened:?}");
    assert_eq!(reopened.change, Change::Worse, "{reopened:?}");
    if n <= 200 {
        assert_eq!(reopened.new_entities, [p3.to_string()]);
    }
    out.push(format!(
        "pcf on a fixed clock: u{} then u{} {}",
        quiet.unaccounted,
        reopened.unaccounted,
        reopened.change.word()
    ));
    out
}
