//! `rollcall bench watch` (issue [M]): an evaluation beside a plain
//! reconciliation of the same range (goal: at most 3×), for a 14-day window
//! and a whole season, and a `/metrics` scrape beside `/healthz` (goal: at
//! most 5 ms), interleaved in one run on the demo's default state.

use std::path::Path;
use std::time::Instant;

use domain::ProcessorId;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

use super::{demo_pipeline, render_ms, write_section, Row, RECONCILE_RUNS};
use crate::error::Result;

pub async fn watch_bench(output: &Path) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir().map_err(crate::error::ServerError::io("temp dir"))?;
    let wh = std::sync::Arc::new(EmbeddedWarehouse::open(
        &dir.path().join("bench.duckdb"),
        demo_pipeline(),
    )?);
    engine::demo::load_demo(wh.as_ref(), domain::demo::DEFAULT_SEED, &()).await?;
    let all: Vec<ProcessorId> = wh.pipeline().ids().collect();
    let fortnight = domain::DateRange::new(
        chrono::NaiveDate::from_ymd_opt(2021, 11, 1).unwrap_or_default(),
        chrono::NaiveDate::from_ymd_opt(2021, 11, 14).unwrap_or_default(),
        400,
    )?;
    let season = domain::DateRange::new(
        domain::demo::season_start(),
        domain::demo::season_end(),
        400,
    )?;
    let mut rows = Vec::new();
    for (label, range) in [("14 days", fortnight), ("1 season", season)] {
        let (mut evaluate, mut reconcile) = (Vec::new(), Vec::new());
        let mut cells = 0;
        for _ in 0..RECONCILE_RUNS {
            let t = Instant::now();
            let e = engine::watch::evaluate(
                wh.as_ref(),
                &engine::watch::EvaluateOptions {
                    window: Some(range),
                    as_of: chrono::Utc::now().naive_utc(),
                    trigger: "bench".into(),
                    public_url: "http://127.0.0.1:3000".into(),
                },
            )
            .await?;
            evaluate.push(t.elapsed().as_secs_f64());
            cells = e.cells.len();
            let t = Instant::now();
            wh.cell_counts(range, &all).await?;
            reconcile.push(t.elapsed().as_secs_f64());
        }
        rows.push(Row {
            what: format!(
                "evaluate {label} (reconcile, open entities, compare with the previous, keep {cells} cells)"
            ),
            seconds: median(&mut evaluate),
            player_dates: cells as i64,
        });
        rows.push(Row {
            what: format!("plain reconcile of the same {label} (floor)"),
            seconds: median(&mut reconcile),
            player_dates: 0,
        });
    }
    let options = crate::leptos_options("target/site", ([127, 0, 0, 1], 3000).into());
    let app = crate::router(crate::AppState::new(
        wh.clone(),
        engine::Limits::default(),
        options,
    ));
    // Over loopback, as Prometheus scrapes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let (mut metrics, mut health) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        for (path, times) in [("/metrics", &mut metrics), ("/healthz", &mut health)] {
            let t = Instant::now();
            http.get(format!("{base}{path}"))
                .send()
                .await?
                .bytes()
                .await?;
            times.push(t.elapsed().as_secs_f64());
        }
    }
    server.abort();
    rows.push(Row {
        what: "GET /metrics over loopback (median of 50)".into(),
        seconds: median(&mut metrics),
        player_dates: 0,
    });
    rows.push(Row {
        what: "GET /healthz, the same way (floor)".into(),
        seconds: median(&mut health),
        player_dates: 0,
    });
    write_section(output, "watch", &render_ms(&rows))?;
    Ok(rows)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
