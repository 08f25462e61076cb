//! The read cache in front of the warehouse: repeated views are lookups, and
//! every write through it makes the next view fresh.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use domain::DateRange;
use engine::backfill::{backfill, BackfillRequest, DateSpec, RunOptions};
use engine::cache::CachedWarehouse;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A queued job as another writer would record it.
fn queued_job(id: &str, snapshot: Option<&str>) -> warehouse::JobRecord {
    warehouse::JobRecord {
        id: id.into(),
        requested_by: "other".into(),
        request: "{}".into(),
        state: warehouse::JobState::Queued,
        progress: "{}".into(),
        created_at: chrono::Utc::now().naive_utc(),
        started_at: None,
        finished_at: None,
        error: None,
        snapshot: snapshot.map(String::from),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn views_are_cached_until_a_write_or_their_age() {
    let inner = Arc::new(
        EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap(),
    );
    let s = domain::demo::generate(domain::demo::DEFAULT_SEED);
    inner.load_upstream_rows(s.schedule, s.games).await.unwrap();
    let cached = CachedWarehouse::new(inner.clone(), Duration::from_secs(3600), Duration::ZERO);
    let range = DateRange::new(d("2021-11-01"), d("2021-11-10"), 400).unwrap();
    let before = cached
        .cell_counts(
            range,
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        before,
        cached
            .cell_counts(
                range,
                &[domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap()]
            )
            .await
            .unwrap()
    );
    assert_eq!(cached.stats(), (1, 1), "the second view was a lookup");
    assert!(before.iter().all(|c| c.has_record == 0));

    // A backfill through the cache: the next view sees its records.
    let request = BackfillRequest {
        processors: vec![domain::pipeline::nba()
            .builtin(domain::Builtin::Pdc)
            .unwrap()],
        dates: DateSpec::Range {
            start: d("2021-11-05"),
            end: d("2021-11-05"),
        },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    };
    let options = RunOptions {
        resume: false,
        ..RunOptions::default()
    };
    backfill(&cached, &request, &options, &(), &AtomicBool::new(false))
        .await
        .unwrap();
    let after = cached
        .cell_counts(
            range,
            &[domain::pipeline::nba()
                .builtin(domain::Builtin::Pdc)
                .unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        after,
        inner
            .cell_counts(
                range,
                &[domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap()]
            )
            .await
            .unwrap()
    );
    assert!(
        after.iter().any(|c| c.has_record > 0),
        "fresh after the write"
    );

    // A writer the cache does not see: only the age ends the answer.
    let short = CachedWarehouse::new(inner.clone(), Duration::from_millis(50), Duration::ZERO);
    let jobs = short.jobs(10).await.unwrap().len();
    inner
        .create_job(
            queued_job("job-elsewhere", None),
            vec![(
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap(),
                d("2021-11-06"),
            )],
        )
        .await
        .unwrap();
    assert_eq!(short.jobs(10).await.unwrap().len(), jobs, "still cached");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(short.jobs(10).await.unwrap().len(), jobs + 1, "expired");

    // Tolerated staleness: right after a write the old answer may still serve.
    let lenient = CachedWarehouse::new(
        inner.clone(),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let first = lenient.jobs(10).await.unwrap().len();
    lenient
        .update_job(&inner.job("job-elsewhere").await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(lenient.jobs(10).await.unwrap().len(), first);
    assert_eq!(
        lenient.stats().0,
        1,
        "served from the cache after the write"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn past_stale_ok_the_old_answer_serves_while_one_refresh_runs() {
    use engine::cache::Changes;
    let inner = Arc::new(
        EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba())).unwrap(),
    );
    let cached = CachedWarehouse::new(
        inner.clone(),
        Duration::from_secs(3600),
        Duration::from_millis(50),
    );
    let first = cached.jobs(10).await.unwrap();
    assert!(first.is_empty());
    assert_eq!(cached.stats(), (0, 1));
    // A writer around the cache reports its write; the answer may lag.
    inner
        .create_job(
            queued_job("job-around", Some("{\"before\":[]}")),
            vec![(
                domain::pipeline::nba()
                    .builtin(domain::Builtin::Pdc)
                    .unwrap(),
                d("2021-11-06"),
            )],
        )
        .await
        .unwrap();
    cached.changed();
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Past `stale_ok`: the viewer gets the old answer at once, and a refresh starts.
    assert!(cached.jobs(10).await.unwrap().is_empty(), "served stale");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = cached.jobs(10).await.unwrap();
        if now.len() == 1 {
            assert_eq!(now[0].snapshot, None, "the list carries no snapshots");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refreshed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cached.stats().1, 1, "no viewer waited for a recomputation");

    // A settled change (a job ended) is visible to the very next view.
    let mut job = inner.job("job-around").await.unwrap().unwrap();
    job.state = warehouse::JobState::Cancelled;
    inner.update_job(&job).await.unwrap();
    cached.settled();
    assert_eq!(
        cached.jobs(10).await.unwrap()[0].state,
        warehouse::JobState::Cancelled
    );
}
