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
    let path = dir.path().join("bench.duckdb");
    // Copies of the store before any evaluation: a first evaluation (every
    // set new, every name read and kept) can only be timed on a fresh one.
    let fresh: Vec<std::path::PathBuf> = {
        let wh = EmbeddedWarehouse::open(&path, demo_pipeline())?;
        engine::demo::load_demo(&wh, domain::demo::DEFAULT_SEED, &()).await?;
        drop(wh);
        (0..FIRST_RUNS)
            .map(|i| {
                let copy = dir.path().join(format!("fresh-{i}.duckdb"));
                std::fs::copy(&path, &copy)
                    .map(|_| copy)
                    .map_err(crate::error::ServerError::io("copy the bench store"))
            })
            .collect::<Result<_>>()?
    };
    let wh = std::sync::Arc::new(EmbeddedWarehouse::open(&path, demo_pipeline())?);
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
    // On each fresh store: a plain reconcile first (it also warms the
    // store as the timed runs below are warm), then the first evaluation.
    let (mut first, mut first_floor) = (Vec::new(), Vec::new());
    let mut first_cells = 0;
    for copy in &fresh {
        let store = EmbeddedWarehouse::open(copy, demo_pipeline())?;
        store.cell_counts(season, &all).await?;
        let t = Instant::now();
        store.cell_counts(season, &all).await?;
        first_floor.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let e = engine::watch::evaluate(&store, &options(season)).await?;
        first.push(t.elapsed().as_secs_f64());
        first_cells = e.cells.len();
    }
    rows.push(Row {
        what: format!(
            "first evaluation of 1 season on a fresh store (every set new: {first_cells} cells' names read, compared and kept; median of {FIRST_RUNS})"
        ),
        seconds: median(&mut first),
        player_dates: first_cells as i64,
    });
    rows.push(Row {
        what: "plain reconcile of the same season on that store (floor)".into(),
        seconds: median(&mut first_floor),
        player_dates: 0,
    });
    for (label, range) in [("14 days", fortnight), ("1 season", season)] {
        let (mut evaluate, mut reconcile, mut before) = (Vec::new(), Vec::new(), Vec::new());
        let mut cells = 0;
        for _ in 0..RECONCILE_RUNS {
            let t = Instant::now();
            let e = engine::watch::evaluate(wh.as_ref(), &options(range)).await?;
            evaluate.push(t.elapsed().as_secs_f64());
            cells = e.cells.len();
            let t = Instant::now();
            wh.cell_counts(range, &all).await?;
            reconcile.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            warehouse::reads::cell_counts_before_acknowledgements(wh.as_ref(), range, &all).await?;
            before.push(t.elapsed().as_secs_f64());
        }
        rows.push(Row {
            what: format!(
                "evaluate {label} again (reconcile with open sets' fingerprints, compare with the previous, keep {cells} cells; unchanged sets by key)"
            ),
            seconds: median(&mut evaluate),
            player_dates: cells as i64,
        });
        rows.push(Row {
            what: format!("plain reconcile of the same {label} (floor)"),
            seconds: median(&mut reconcile),
            player_dates: 0,
        });
        // What acknowledgements cost the reconciliation (issue [N]).
        rows.push(Row {
            what: format!("plain reconcile of the same {label}"),
            seconds: median(&mut reconcile.clone()),
            player_dates: 0,
        });
        rows.push(Row {
            what: "the same reconcile without acknowledgements, as before [N] (floor)".into(),
            seconds: median(&mut before),
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

/// Fresh stores timed for a first evaluation.
const FIRST_RUNS: usize = 5;

fn options(range: domain::DateRange) -> engine::watch::EvaluateOptions {
    engine::watch::EvaluateOptions {
        window: Some(range),
        as_of: chrono::Utc::now().naive_utc(),
        trigger: "bench".into(),
        public_url: "http://127.0.0.1:3000".into(),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
