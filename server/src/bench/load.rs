//! `rollcall bench load`: viewers polling a running server during a
//! season's backfill, written as a table into docs/benchmarks.md.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

use super::{demo_pipeline, write_section};
use crate::error::{Result, ServerError};

/// What `rollcall bench load` measures.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub viewers: usize,
    /// Viewers load the season page (server-rendered HTML, gzip, as a
    /// browser opening the link) instead of polling its data.
    pub pages: bool,
    /// Keep season jobs running back to back for this long (0: one job).
    pub seconds: u64,
}

/// How the server under load answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Serving {
    /// Every view read from the store.
    NoCache,
    /// The read cache only (before issue [R] 5's page cache).
    Views,
    /// The read cache and the rendered-page cache: as `serve` runs.
    ViewsAndPages,
}

/// `rollcall bench load`: viewers each fetching the season grid (its data,
/// or with `pages` the page) and the job list every second during
/// full-season backfills started from the dashboard's API — on 127.0.0.1
/// only, bounded in time. Runs side by side, each on a fresh store: the
/// backfill alone, then the viewers with no cache, with the read cache, and
/// with the read and page caches (as served).
pub async fn load_bench(output: &Path, options: LoadOptions) -> Result<String> {
    let what = if options.pages {
        "grid page (HTML)"
    } else {
        "grid data"
    };
    let mut table = format!(
        "| run | backfill s (jobs) | {what} p50 / p95 ms | jobs p50 / p95 ms | /healthz p95 ms | requests | errors | max RSS MB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let viewers = options.viewers;
    for (label, viewers, serving) in [
        ("backfill alone".to_string(), 0, Serving::ViewsAndPages),
        (
            format!("{viewers} viewers, no cache"),
            viewers,
            Serving::NoCache,
        ),
        (
            format!("{viewers} viewers, read cache"),
            viewers,
            Serving::Views,
        ),
        (
            format!("{viewers} viewers, read and page caches (as served)"),
            viewers,
            Serving::ViewsAndPages,
        ),
    ] {
        let r = load_run(LoadOptions { viewers, ..options }, serving).await?;
        let backfill = match r.backfill_s {
            Some(s) => format!("{s:.1} ({})", r.jobs_run),
            None => format!("not done in {} s", LOAD_RUN_LIMIT.as_secs()),
        };
        table.push_str(&format!(
            "| {label} | {backfill} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} | {} | {} | {:.0} |\n",
            r.grid.0,
            r.grid.1,
            r.jobs.0,
            r.jobs.1,
            r.healthz_p95,
            r.requests,
            r.errors,
            r.max_rss_mb
        ));
    }
    let name = if options.pages { "load-pages" } else { "load" };
    write_section(output, name, &table)?;
    Ok(table)
}

/// A run stops after this long, finished or not (bounded in time).
const LOAD_RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

struct LoadResult {
    /// The median season job's seconds; `None`: a season job had not
    /// finished within `LOAD_RUN_LIMIT`.
    backfill_s: Option<f64>,
    jobs_run: usize,
    grid: (f64, f64),
    jobs: (f64, f64),
    healthz_p95: f64,
    requests: usize,
    errors: usize,
    max_rss_mb: f64,
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Sends a request and reads its whole body, as a browser would (the time
/// measured includes the transfer): whether it succeeded.
async fn fetched(request: reqwest::RequestBuilder) -> reqwest::Result<bool> {
    let response = request.send().await?;
    let ok = response.status().is_success();
    response.bytes().await?;
    Ok(ok)
}

async fn load_run(options: LoadOptions, serving: Serving) -> Result<LoadResult> {
    let viewers = options.viewers;
    use leptos::server_fn::ServerFn;
    use std::sync::atomic::Ordering;
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    let embedded = EmbeddedWarehouse::in_memory(demo_pipeline())?;
    embedded
        .load_upstream_rows(season.schedule, season.games)
        .await?;
    let warehouse: std::sync::Arc<dyn Warehouse> = std::sync::Arc::new(embedded);
    // The server gets a runtime of its own, as it would in its own process:
    // the viewers' client tasks must not queue in front of its tasks.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-server")
        .build()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (jobs, server) = {
        let _inside = server_runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let options = crate::leptos_options("target/site", addr);
        let state = crate::AppState::with_view_cache(
            warehouse,
            engine::Limits::default(),
            options,
            crate::auth::Operator::new(addr, None),
            (serving != Serving::NoCache).then(|| crate::ViewCache {
                pages: serving == Serving::ViewsAndPages,
                ..Default::default()
            }),
        );
        let jobs = std::sync::Arc::clone(&state.server.jobs);
        let app = crate::router(state);
        let server = tokio::spawn(crate::serve::serve(
            listener,
            app,
            crate::serve::ServeLimits::default(),
            async {
                let _ = stop_rx.await;
            },
        ));
        (jobs, server)
    };
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(viewers + 8)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (start, end) = (domain::demo::season_start(), domain::demo::season_end());
    let grid_body = format!("start={start}&end={end}");
    let pages = options.pages;
    let running = std::sync::Arc::new(AtomicBool::new(true));
    let errors = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let samples = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new(), Vec::new())));
    let max_rss = std::sync::Arc::new(std::sync::Mutex::new(rss_mb()));
    let mut tasks = Vec::new();
    for v in 0..viewers {
        let (http, base, grid_body) = (http.clone(), base.clone(), grid_body.clone());
        let (running, errors, samples) = (running.clone(), errors.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            // Spread the viewers over the second.
            tokio::time::sleep(std::time::Duration::from_millis((v as u64 * 10) % 1000)).await;
            while running.load(Ordering::SeqCst) {
                let tick = Instant::now();
                for (kind, path, body) in [
                    (0, app::api::CoverageHeatmap::PATH, grid_body.clone()),
                    (1, app::api::JobsList::PATH, String::new()),
                ] {
                    let t = Instant::now();
                    let request = if kind == 0 && pages {
                        http.get(format!("{base}/?{grid_body}"))
                            .header("accept-encoding", "gzip")
                    } else {
                        http.post(format!("{base}{path}"))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(body)
                    };
                    let ok = fetched(request).await;
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    if !matches!(ok, Ok(true)) {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Ok(mut s) = samples.lock() {
                        if kind == 0 {
                            s.0.push(ms)
                        } else {
                            s.1.push(ms)
                        }
                    }
                }
                let rest = std::time::Duration::from_secs(1).saturating_sub(tick.elapsed());
                tokio::time::sleep(rest).await;
            }
        }));
    }
    {
        let (http, base, running, samples, errors, max_rss) = (
            http.clone(),
            base.clone(),
            running.clone(),
            samples.clone(),
            errors.clone(),
            max_rss.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::SeqCst) {
                let t = Instant::now();
                let ok = fetched(http.get(format!("{base}/healthz"))).await;
                if !matches!(ok, Ok(true)) {
                    errors.fetch_add(1, Ordering::SeqCst);
                }
                if let Ok(mut s) = samples.lock() {
                    s.2.push(t.elapsed().as_secs_f64() * 1e3);
                }
                if let Ok(mut m) = max_rss.lock() {
                    *m = m.max(rss_mb());
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }));
    }
    // Let the viewers settle, then start the season job through the API.
    tokio::time::sleep(std::time::Duration::from_secs(if viewers > 0 {
        2
    } else {
        0
    }))
    .await;
    let form = format!(
        "form%5Bp%5D=PSZA%2CPDC%2CPCF%2CMLFS&form%5Bstart%5D={start}&form%5Bend%5D={end}&form%5Bmode%5D=all&form%5Bdownstream%5D=no"
    );
    // Season jobs back to back until `seconds` have passed (at least one).
    let until = Instant::now() + std::time::Duration::from_secs(options.seconds);
    let mut durations = Vec::new();
    let backfill_s = loop {
        match season_job(&http, &base, &form).await? {
            Some(s) => durations.push(s),
            None => break None,
        }
        if Instant::now() >= until {
            break Some(percentiles(durations.clone()).0);
        }
    };
    running.store(false, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    // An unfinished job must not run on into the next measurement.
    server_runtime
        .spawn(async move { jobs.shutdown(std::time::Duration::from_secs(60)).await })
        .await
        .map_err(|e| ServerError::failed("stopping the job runner", e))?;
    server_runtime.shutdown_background();
    let (grid, jobs, health) = {
        let s = samples
            .lock()
            .map_err(|_| ServerError::Failed("latency samples poisoned".into()))?;
        (s.0.clone(), s.1.clone(), s.2.clone())
    };
    let requests = grid.len() + jobs.len() + health.len();
    let max_rss_mb = max_rss.lock().map(|m| *m).unwrap_or(0.0);
    Ok(LoadResult {
        backfill_s,
        jobs_run: durations.len(),
        grid: percentiles(grid),
        jobs: percentiles(jobs),
        healthz_p95: percentiles(health).1,
        requests,
        errors: errors.load(Ordering::SeqCst),
        max_rss_mb,
    })
}

/// Starts a season job through the dashboard's API and waits for it: its
/// seconds, or `None` past `LOAD_RUN_LIMIT`.
async fn season_job(http: &reqwest::Client, base: &str, form: &str) -> Result<Option<f64>> {
    use leptos::server_fn::ServerFn;
    let started = Instant::now();
    let answer = http
        .post(format!("{base}{}", app::api::StartRerun::PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await?;
    // The function answers the job id, or redirects to its page.
    let location = answer
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix("/jobs/"))
        .map(String::from);
    let status = answer.status();
    let body = answer.bytes().await?;
    let job_id = match app::wire::read_answer::<String>(&body).ok().or(location) {
        Some(id) => id,
        None => {
            return Err(ServerError::Failed(format!(
                "starting the season job failed ({status}): {}",
                String::from_utf8_lossy(&body)
            )))
        }
    };
    // Bounded: a season job takes seconds alone; stop at the limit.
    let deadline = Instant::now() + LOAD_RUN_LIMIT;
    loop {
        let body = http
            .post(format!("{base}{}", app::api::JobStatus::PATH))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("id={job_id}"))
            .send()
            .await?
            .bytes()
            .await?;
        let view: domain::report::JobView = app::wire::read_answer(&body)
            .map_err(|e| ServerError::Failed(format!("the season job's status: {e}")))?;
        if !view.active {
            if view.state != warehouse::JobState::Succeeded {
                return Err(ServerError::Failed(format!(
                    "the season job ended {}",
                    view.state
                )));
            }
            return Ok(Some(started.elapsed().as_secs_f64()));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
