//! `GET /metrics` (issue [M] 6): Prometheus' text format, read from the
//! last evaluation, parsed here by a Prometheus text parser; no label ever
//! names a date or an entity.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

async fn scrape(app: axum::Router) -> prometheus_parse::Scrape {
    let res = app
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text format")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_come_from_the_last_evaluation_without_dates_or_entities() {
    let wh = Arc::new(EmbeddedWarehouse::in_memory(Arc::new(domain::pipeline::nba())).unwrap());
    engine::demo::load_demo(wh.as_ref(), domain::demo::DEFAULT_SEED, &())
        .await
        .unwrap();
    let options = server::leptos_options("target/site", "127.0.0.1:3000".parse().unwrap());
    let state = server::AppState::new(wh.clone(), engine::Limits::default(), options);
    let app = server::router(state);

    // Before any evaluation: served, and it says so.
    let before = scrape(app.clone()).await;
    assert_eq!(
        value(&before, "rollcall_last_evaluation_timestamp_seconds", &[]),
        Some(0.0)
    );

    let evaluation = engine::watch::evaluate(
        wh.as_ref(),
        &engine::watch::EvaluateOptions {
            window: Some(domain::DateRange::default_view()),
            as_of: chrono::Utc::now().naive_utc(),
            trigger: "test".into(),
            public_url: "http://127.0.0.1:3000".into(),
        },
    )
    .await
    .unwrap();
    wh.record_delivery(warehouse::DeliveryRecord {
        id: "d1".into(),
        evaluation_id: evaluation.record.id.clone(),
        channel: "webhook:HOOK_URL".into(),
        sent_at: evaluation.record.as_of,
        cells: 2,
        http_status: Some(200),
        error: None,
        attempts: 1,
    })
    .await
    .unwrap();
    wh.record_delivery(warehouse::DeliveryRecord {
        id: "d2".into(),
        evaluation_id: evaluation.record.id.clone(),
        channel: "slack:SLACK_URL".into(),
        sent_at: evaluation.record.as_of,
        cells: 2,
        http_status: None,
        error: Some("SLACK_URL is not set <b>".into()),
        attempts: 0,
    })
    .await
    .unwrap();
    // /alerts lists both, with how each ended (escaped).
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/alerts")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(page.contains("aria-label=\"Alert deliveries\""), "{page}");
    assert!(
        page.contains("<td>webhook:HOOK_URL</td>") && page.contains("<td>HTTP 200</td>"),
        "{page}"
    );
    assert!(page.contains("SLACK_URL is not set &lt;b&gt;"), "{page}");
    let scraped = scrape(app).await;
    let summary: domain::watch::Summary = serde_json::from_str(&evaluation.record.summary).unwrap();
    let pdc = &summary["PDC"];
    assert!(pdc.unaccounted > 0, "the demo's November gaps");
    assert_eq!(
        value(
            &scraped,
            "rollcall_entities",
            &[("processor", "PDC"), ("state", "unaccounted")]
        ),
        Some(pdc.unaccounted as f64)
    );
    assert_eq!(
        value(
            &scraped,
            "rollcall_entities",
            &[("processor", "PSZA"), ("state", "record")]
        ),
        Some(summary["PSZA"].records as f64)
    );
    assert_eq!(
        value(&scraped, "rollcall_open_cells", &[("processor", "PDC")]),
        Some(pdc.open_cells as f64)
    );
    assert!(
        value(
            &scraped,
            "rollcall_cells",
            &[("processor", "PDC"), ("status", "UNTRACKED")]
        )
        .unwrap()
            > 0.0
    );
    assert!(value(
        &scraped,
        "rollcall_oldest_open_gap_age_seconds",
        &[("processor", "PDC")]
    )
    .is_some());
    assert_eq!(
        value(&scraped, "rollcall_last_evaluation_timestamp_seconds", &[]),
        Some(evaluation.record.started_at.and_utc().timestamp() as f64)
    );
    assert_eq!(
        value(
            &scraped,
            "rollcall_alert_deliveries_total",
            &[("channel", "webhook:HOOK_URL"), ("result", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scraped,
            "rollcall_alert_deliveries_total",
            &[("channel", "slack:SLACK_URL"), ("result", "failed")]
        ),
        Some(1.0)
    );
    assert!(value(&scraped, "rollcall_jobs", &[("state", "succeeded")]).unwrap() > 0.0);
    // Cardinality: processors, states, statuses and channels only.
    for s in &scraped.samples {
        for (label, _) in s.labels.iter() {
            assert!(
                ["processor", "state", "status", "channel", "result"].contains(&label.as_str()),
                "{} has label {label}",
                s.metric
            );
        }
    }
}
