//! A wide pipeline on both stores: the NBA builtins plus 36 observed tables,
//! 40 processors, so the last ones sit past bit 31 of the reconciliation
//! masks. Rows planted for the last two give the same, exact answers on the
//! embedded store and on BigQuery through the emulator.

use crate::common::{bigquery, d, expected_players, load_until};
use domain::{DateRange, ProcessorId as P};
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

const OBSERVED: usize = 36;

/// Installs NBA + O0..O35; each observed O<i> depends on the one before it.
fn install() -> (std::sync::Arc<domain::pipeline::Pipeline>, P, P) {
    let mut text = String::from(domain::pipeline::NBA_PIPELINE);
    for i in 0..OBSERVED {
        let depends = if i == 0 {
            "PDC".to_string()
        } else {
            format!("O{}", i - 1)
        };
        text.push_str(&format!(
            "\n[[processor]]\ncode = \"O{i}\"\nname = \"ObservedFeed{i}\"\n\
             output_table = \"vendor.feed_{i}\"\ndate_column = \"feed_date\"\n\
             entity_column = \"player_lookup\"\ndepends_on = [\"{depends}\"]\nruns = \"observe\"\n"
        ));
    }
    let pipeline = domain::pipeline::Pipeline::parse(&text).unwrap();
    assert_eq!(pipeline.processors.len(), 40);
    let pipeline = std::sync::Arc::new(pipeline);
    let last = pipeline.processor(&format!("O{}", OBSERVED - 1)).unwrap();
    let before = pipeline.processor(&format!("O{}", OBSERVED - 2)).unwrap();
    assert!(domain::reconcile::mask::processor_bit(last) > 1 << 32);
    (pipeline, before, last)
}

/// On 2021-11-02: the last feed has records for players 0..5 and a failure
/// for player 5; the one before it has records for players 0..3 only, so two
/// of the last feed's records stand on a missing upstream (cascade).
fn planted() -> (Vec<String>, usize) {
    let players = expected_players("2021-11-02");
    assert!(players.len() > 6);
    let rows = |table: usize, n: usize| {
        let values: Vec<String> = players[..n]
            .iter()
            .map(|p| format!("('{p}', DATE '2021-11-02')"))
            .collect();
        format!(
            "INSERT INTO vendor.feed_{table} (player_lookup, feed_date) VALUES {}",
            values.join(", ")
        )
    };
    let failure = format!(
        "INSERT INTO nba_processing.precompute_failures
           (processor_name, analysis_date, entity_id, failure_category, failure_reason)
         VALUES ('ObservedFeed{}', DATE '2021-11-02', '{}', 'INSUFFICIENT_DATA', 'new player')",
        OBSERVED - 1,
        players[5]
    );
    (
        vec![rows(OBSERVED - 1, 5), rows(OBSERVED - 2, 3), failure],
        players.len(),
    )
}

async fn answers(wh: &dyn Warehouse, processors: &[P]) -> Vec<String> {
    let range = DateRange::new(d("2021-11-02"), d("2021-11-02"), 10).unwrap();
    let cells = wh.cell_counts(range, processors).await.unwrap();
    cells
        .iter()
        .map(|c| {
            format!(
                "{} exp {} rec {} fail {} unacc {} inv {} cascade {} {:?}",
                wh.pipeline().code(c.processor),
                c.expected,
                c.has_record,
                c.has_failure,
                c.unaccounted,
                c.investigate,
                c.cascade,
                c.failures_by_category
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_processors_reconcile_exactly_and_alike_on_both_stores() {
    let (pipeline, before, last) = install();
    let (statements, expected) = planted();

    let embedded = EmbeddedWarehouse::in_memory(std::sync::Arc::clone(&pipeline)).unwrap();
    load_until(&embedded, "2021-11-03").await;
    for sql in &statements {
        embedded.execute_batch_for_tests(sql).unwrap();
    }
    let on_embedded = answers(&embedded, &[before, last]).await;
    assert_eq!(
        on_embedded,
        vec![
            format!(
                "O34 exp {expected} rec 3 fail 0 unacc {} inv 0 cascade 3 {{}}",
                expected - 3
            ),
            format!(
                "O35 exp {expected} rec 5 fail 1 unacc {} inv 0 cascade 2 {{\"INSUFFICIENT_DATA\": 1}}",
                expected - 6
            ),
        ]
    );
    // Every processor has its cell; the untouched ones are all unaccounted.
    let all: Vec<P> = pipeline.ids().collect();
    let every = answers(&embedded, &all).await;
    assert_eq!(every.len(), 40);
    assert!(every[4].starts_with(&format!("O0 exp {expected} rec 0 fail 0 unacc {expected}")));

    let bq = bigquery("w", &pipeline).await;
    load_until(&bq, "2021-11-03").await;
    for sql in &statements {
        bq.execute_for_tests(sql).await.unwrap();
    }
    assert_eq!(answers(&bq, &[before, last]).await, on_embedded);
    assert_eq!(answers(&bq, &all).await, every);
}
