//! `rollcall bench snapshot` (issue [O]): freezing a season view beside a
//! plain reconciliation of it (goal: ≤ 1 s), the stored size (goal:
//! ≤ 1 MB), and `/s/{id}` beside the live coverage page, with and without
//! a drill-down (goal: as fast), interleaved in one run on the demo's
//! default state over loopback.

use std::path::Path;
use std::time::Instant;

use domain::ProcessorId;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

use super::{demo_pipeline, render_ms, write_section, Row, RECONCILE_RUNS};
use crate::error::{Result, ServerError};

pub async fn snapshot_bench(output: &Path) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir().map_err(ServerError::io("temp dir"))?;
    let wh = std::sync::Arc::new(EmbeddedWarehouse::open(
        &dir.path().join("bench.duckdb"),
        demo_pipeline(),
    )?);
    engine::demo::load_demo(wh.as_ref(), domain::demo::DEFAULT_SEED, &()).await?;
    let all: Vec<ProcessorId> = wh.pipeline().ids().collect();
    let (start, end) = (domain::demo::season_start(), domain::demo::season_end());
    let season = domain::DateRange::new(start, end, 400)?;
    let request = engine::snapshot::FreezeRequest {
        view: engine::reconcile::ReconcileRequest {
            start: Some(start.to_string()),
            end: Some(end.to_string()),
            processors: None,
        },
        note: "bench".into(),
        taken_by: "bench".into(),
        retention_days: 0,
    };
    wh.cell_counts(season, &all).await?;
    let (meta, mut freeze, mut reconcile) = freeze_runs(wh.as_ref(), &request, season).await?;
    let (_, frozen) = engine::snapshot::open(wh.as_ref(), &meta.id).await?;
    let json = serde_json::to_vec(&frozen)?.len();
    let mut rows = vec![
        Row {
            what: format!(
                "freeze 1 season ({} cells, {} not OK with their drill-downs; stored {} bytes, {} bytes as JSON)",
                meta.cells, meta.not_ok, meta.bytes, json
            ),
            seconds: median(&mut freeze),
            player_dates: meta.cells,
        },
        Row {
            what: "plain reconcile of the same season (floor)".into(),
            seconds: median(&mut reconcile),
            player_dates: 0,
        },
    ];

    // The season run: far fewer cells open, but each with failure rows to
    // keep (read for the whole range at once).
    let request_all = engine::backfill::BackfillRequest {
        processors: all.clone(),
        dates: engine::backfill::DateSpec::Range { start, end },
        only_gaps: false,
        legacy: false,
        stop_on: Default::default(),
    };
    let options = engine::backfill::RunOptions {
        resume: false,
        ..Default::default()
    };
    engine::backfill::backfill(
        wh.as_ref(),
        &request_all,
        &options,
        &(),
        &std::sync::atomic::AtomicBool::new(false),
    )
    .await?;
    let (ran, mut freeze, mut reconcile) = freeze_runs(wh.as_ref(), &request, season).await?;
    let (_, ran_frozen) = engine::snapshot::open(wh.as_ref(), &ran.id).await?;
    let failure_rows: usize = ran_frozen
        .details
        .iter()
        .map(|d| d.failures.items.len())
        .sum();
    rows.push(Row {
        what: format!(
            "freeze the same season after a full backfill ({} of {} cells not OK, {failure_rows} failure rows kept; stored {} bytes, {} bytes as JSON)",
            ran.not_ok,
            ran.cells,
            ran.bytes,
            serde_json::to_vec(&ran_frozen)?.len()
        ),
        seconds: median(&mut freeze),
        player_dates: ran.cells,
    });
    rows.push(Row {
        what: "plain reconcile of the same season (floor)".into(),
        seconds: median(&mut reconcile),
        player_dates: 0,
    });

    // Both pages rendered on every request (the read cache on, the page
    // cache off), over loopback.
    let options = crate::leptos_options("target/site", ([127, 0, 0, 1], 3000).into());
    let operator = crate::auth::Operator::new(([127, 0, 0, 1], 3000).into(), None);
    let view_cache = crate::ViewCache {
        pages: false,
        ..Default::default()
    };
    let state = crate::AppState::with_view_cache(
        wh.clone(),
        engine::Limits::default(),
        options,
        operator,
        Some(view_cache),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = crate::router(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    // A cell that ran and dropped players silently in the demo.
    let cell = "PDC:2021-11-10";
    let pairs = [
        (
            format!("/s/{}", meta.id),
            format!("/?start={start}&end={end}"),
            "the season",
        ),
        (
            format!("/s/{}?cell={cell}", meta.id),
            format!("/?start={start}&end={end}&cell={cell}"),
            "the season with a drill-down",
        ),
    ];
    for (frozen_path, live_path, label) in pairs {
        let (mut snap, mut live) = (Vec::new(), Vec::new());
        for _ in 0..RECONCILE_RUNS {
            for (path, times) in [(&frozen_path, &mut snap), (&live_path, &mut live)] {
                let t = Instant::now();
                let r = http.get(format!("{base}{path}")).send().await?;
                if !r.status().is_success() {
                    return Err(ServerError::Failed(format!("GET {path}: {}", r.status())));
                }
                r.bytes().await?;
                times.push(t.elapsed().as_secs_f64());
            }
        }
        rows.push(Row {
            what: format!("GET /s/{{id}}: the snapshot of {label}"),
            seconds: median(&mut snap),
            player_dates: 0,
        });
        rows.push(Row {
            what: format!("GET the live coverage page of {label} (floor)"),
            seconds: median(&mut live),
            player_dates: 0,
        });
    }
    server.abort();
    write_section(output, "snapshot", &render_ms(&rows))?;
    Ok(rows)
}

/// Freezes `request` [`RECONCILE_RUNS`] times, each beside a plain
/// reconciliation of `season`: the last snapshot and both timings.
async fn freeze_runs(
    wh: &dyn Warehouse,
    request: &engine::snapshot::FreezeRequest,
    season: domain::DateRange,
) -> Result<(domain::report::SnapshotMeta, Vec<f64>, Vec<f64>)> {
    let all: Vec<ProcessorId> = wh.pipeline().ids().collect();
    let (mut freeze, mut reconcile) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..RECONCILE_RUNS {
        let t = Instant::now();
        let now = chrono::Utc::now().naive_utc();
        let meta = engine::snapshot::freeze(wh, engine::Limits::default(), request, now).await?;
        freeze.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        wh.cell_counts(season, &all).await?;
        reconcile.push(t.elapsed().as_secs_f64());
        last = Some(meta);
    }
    let last = last.ok_or_else(|| ServerError::Failed("no snapshot taken".into()))?;
    Ok((last, freeze, reconcile))
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
