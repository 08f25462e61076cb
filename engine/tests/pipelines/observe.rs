//! An observed processor on both stores: a table another system writes
//! (`runs = "observe"`), reconciled like any other but never run. Rows
//! planted the way that system would write them give the same answers on
//! the embedded store and on BigQuery through the emulator.

use crate::common::{bigquery, d, expected_players, load_until};
use domain::{DateRange, ProcessorId as P};
use engine::backfill::{BackfillRequest, RawBackfillRequest};
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

const OBSERVED: &str = r#"
[[processor]]
code = "PROPS"
name = "PlayerPropsFeed"
output_table = "vendor.player_props"
date_column = "prop_date"
entity_column = "player_lookup"
depends_on = ["PDC"]
runs = "observe"
"#;

fn install() -> (std::sync::Arc<domain::pipeline::Pipeline>, P) {
    let text = format!("{}{OBSERVED}", domain::pipeline::NBA_PIPELINE);
    let pipeline = domain::pipeline::Pipeline::parse(&text).unwrap();
    let pipeline = std::sync::Arc::new(pipeline);
    let props = pipeline.processor("PROPS").unwrap();
    (pipeline, props)
}

/// What the other system writes on 2021-11-02: a record for the first five
/// expected players, a failure for the sixth (SQL both stores run as is).
fn planted() -> (Vec<String>, Vec<String>) {
    let players = expected_players("2021-11-02");
    assert!(players.len() > 6);
    let values: Vec<String> = players[..5]
        .iter()
        .map(|p| format!("('{p}', DATE '2021-11-02')"))
        .collect();
    let records = format!(
        "INSERT INTO vendor.player_props (player_lookup, prop_date) VALUES {}",
        values.join(", ")
    );
    let failure = format!(
        "INSERT INTO nba_processing.precompute_failures
           (processor_name, analysis_date, entity_id, failure_category, failure_reason)
         VALUES ('PlayerPropsFeed', DATE '2021-11-02', '{}', 'no_line', 'no line posted')",
        players[5]
    );
    (vec![records, failure], players)
}

fn answers(cells: &[domain::report::CellCounts]) -> Vec<String> {
    cells
        .iter()
        .map(|c| {
            format!(
                "{} exp {} rec {} fail {} unacc {} inv {} runs {} {:?}",
                c.date,
                c.expected,
                c.has_record,
                c.has_failure,
                c.unaccounted,
                c.investigate,
                c.runs,
                c.failures_by_category
            )
        })
        .collect()
}

async fn reconcile(wh: &dyn Warehouse, props: P) -> Vec<String> {
    let range = DateRange::new(d("2021-11-01"), d("2021-11-03"), 10).unwrap();
    let cells = wh.cell_counts(range, &[props]).await.unwrap();
    answers(&cells)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_observed_table_is_reconciled_alike_on_both_stores_and_never_run() {
    let (pipeline, props) = install();
    let (statements, players) = planted();

    let embedded = EmbeddedWarehouse::in_memory(std::sync::Arc::clone(&pipeline)).unwrap();
    load_until(&embedded, "2021-11-03").await;
    for sql in &statements {
        embedded.execute_batch_for_tests(sql).unwrap();
    }
    let on_embedded = reconcile(&embedded, props).await;
    let day = on_embedded
        .iter()
        .find(|l| l.starts_with("2021-11-02"))
        .unwrap();
    let expected = players.len();
    assert!(
        day.starts_with(&format!(
            "2021-11-02 exp {expected} rec 5 fail 1 unacc {} inv 1 runs 0",
            expected - 6
        )),
        "{day}"
    );
    assert!(day.contains("UNKNOWN"), "an odd category is kept: {day}");

    let bq = bigquery("o", &pipeline).await;
    load_until(&bq, "2021-11-03").await;
    for sql in &statements {
        bq.execute_for_tests(sql).await.unwrap();
    }
    assert_eq!(reconcile(&bq, props).await, on_embedded);

    // Never run: named, it is refused; as a downstream it is left out.
    let raw = |processors: &str, downstream: bool| RawBackfillRequest {
        processors: processors.into(),
        downstream,
        dates: Some("2021-11-02".into()),
        ..RawBackfillRequest::default()
    };
    let e =
        BackfillRequest::parse(&pipeline, &raw("PROPS", false), Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("PROPS is observed")
            && e.to_string().contains("vendor.player_props"),
        "{e}"
    );
    let r = BackfillRequest::parse(&pipeline, &raw("PDC", true), Default::default()).unwrap();
    assert!(!r.processors.contains(&props), "{:?}", r.processors);
    assert!(r
        .processors
        .contains(&pipeline.builtin(domain::Builtin::Mlfs).unwrap()));
}
