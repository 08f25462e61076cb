//! The `rollcall` command line. Exit codes: 0 success, 1 a failure or something
//! to investigate, 2 bad input (nothing was written).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use engine::backfill::{
    backfill, categories_in_order, plan, BackfillRequest, JobSummary, RawBackfillRequest,
    RunOptions,
};
use server::config::{ServeArgs, StoreArgs, WarehouseKind};
use server::progress::BarSink;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Backfill observability: every expected player answers roll call",
    long_about = "Rollcall runs a pipeline's processors over date ranges, records an output \
row or a failure with a reason for every expected player, and shows whether every \
player is accounted for: in the browser, as a shareable link, or on the command line."
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the dashboard (default http://127.0.0.1:3000) on the configured warehouse.
    Serve(ServeCmd),
    /// Write the synthetic 2021-22 demo season and the default demo state.
    Demo(DemoCmd),
    /// Run processors over dates, recording a record or a failure for every expected player.
    Backfill(BackfillCmd),
    /// Load real upstream rows from a file (validated first; all or nothing).
    Import(ImportCmd),
    /// Reconcile: is every expected player accounted for? Exit 0 if so, 1 if not, 2 on bad input.
    Validate(ValidateCmd),
    /// Measure performance and write the results into docs/benchmarks.md.
    Bench(BenchCmd),
}

#[derive(Debug, Args)]
struct ImportCmd {
    #[command(subcommand)]
    what: ImportWhat,
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// nba_analytics.player_game_summary rows from CSV (with a header row) or
    /// Parquet; dates in the file replace the stored rows of those dates.
    PlayerGameSummary {
        /// A .csv or .parquet file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
struct ValidateCmd {
    /// First date (YYYY-MM-DD).
    #[arg(long)]
    start_date: String,
    /// Last date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    end_date: String,
    /// Only these processors (comma-separated); default all.
    #[arg(long, value_name = "P[,P...]")]
    processor: Option<String>,
    /// Add a line per date and processor.
    #[arg(long)]
    details: bool,
    /// Print the Date/Expected/Has Record/Has Failure/Unaccounted/Coverage table per processor.
    #[arg(long)]
    reconcile: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = server::validate::Format::Table)]
    format: server::validate::Format,
}

#[derive(Debug, Args)]
struct BenchCmd {
    /// What to measure.
    #[arg(value_enum)]
    what: BenchWhat,
    /// Markdown file to update (its section for this benchmark is replaced).
    #[arg(long, default_value = "docs/benchmarks.md")]
    output: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BenchWhat {
    /// A full-season backfill of all four processors on a fresh embedded store.
    Backfill,
    /// Reconciliation latency for one and ten seasons, next to the raw SQL.
    Reconcile,
    /// BigQuery (pass the store options, e.g. an emulator) next to the embedded store.
    Bigquery,
    /// 100 viewers polling the dashboard during a season backfill (loopback only).
    Load,
}

#[derive(Debug, Args)]
struct ServeCmd {
    #[command(flatten)]
    serve: ServeArgs,
    /// Fill an empty store with the demo season before serving.
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, Args)]
struct DemoCmd {
    /// Random seed; the same seed writes identical tables.
    #[arg(long, default_value_t = domain::demo::DEFAULT_SEED)]
    seed: u64,
    /// Only the first N days of the season (a small demo, e.g. 30).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=400))]
    days: Option<u32>,
    /// Replace box-score rows the demo did not write (imported real data).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct BackfillCmd {
    /// Processors, comma-separated (PSZA, PDC, PCF, MLFS).
    #[arg(long, value_name = "P[,P...]", required_unless_present = "status")]
    processor: Option<String>,
    /// Add every processor downstream of the selected ones.
    #[arg(long)]
    downstream: bool,
    /// First analysis date (YYYY-MM-DD).
    #[arg(long, requires = "end_date", conflicts_with = "dates")]
    start_date: Option<String>,
    /// Last analysis date (YYYY-MM-DD), inclusive.
    #[arg(long, requires = "start_date")]
    end_date: Option<String>,
    /// Explicit dates, comma-separated.
    #[arg(long, value_name = "D[,D...]")]
    dates: Option<String>,
    /// Only cells that are not OK (unaccounted, investigate, date-level, never run).
    #[arg(long)]
    only_gaps: bool,
    /// List the cells and expected players without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Start a new job even if an unfinished one with the same request exists.
    #[arg(long)]
    no_resume: bool,
    /// Show recent jobs and exit.
    #[arg(long)]
    status: bool,
    /// Write records only, no failure rows (reproduces the pre-tracking pipeline).
    #[arg(long)]
    legacy: bool,
}

/// What went wrong, and which exit code it earns.
enum CliError {
    Input(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

impl From<server::remote::RemoteError> for CliError {
    fn from(e: server::remote::RemoteError) -> Self {
        match e {
            server::remote::RemoteError::Input(m) => CliError::Input(m),
            other => CliError::Failed(anyhow::anyhow!(other)),
        }
    }
}

/// The server holding this embedded store, if one runs (see `server::remote`).
async fn running_server(store: &StoreArgs) -> Option<server::remote::Remote> {
    if store.warehouse != WarehouseKind::Embedded {
        return None;
    }
    let token = std::env::var("ROLLCALL_OPERATOR_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let remote = server::remote::Remote::find(&store.db, token).await?;
    eprintln!(
        "the store is served by {}: going through it",
        remote.address()
    );
    Some(remote)
}

impl From<engine::EngineError> for CliError {
    fn from(e: engine::EngineError) -> Self {
        if e.is_input() {
            CliError::Input(e.to_string())
        } else {
            CliError::Failed(e.into())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(CliError::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Serve(cmd) => serve(&cli.store, cmd).await.map(|_| ExitCode::SUCCESS),
        Command::Demo(cmd) => demo(&cli.store, cmd).await,
        Command::Backfill(cmd) => backfill_cmd(&cli.store, cmd).await,
        Command::Import(ImportCmd {
            what: ImportWhat::PlayerGameSummary { file },
        }) => {
            // Parse and validate the whole file before opening the store.
            let rows = read_player_games(&file)?;
            let wh = open_store(&cli.store, Create::Yes).await?;
            let load = engine::import::import_player_games(wh.as_ref(), rows).await?;
            println!(
                "imported {} rows on {} dates from {}",
                load.game_rows,
                load.dates,
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate(cmd) => {
            let request = engine::reconcile::ReconcileRequest {
                start: Some(cmd.start_date),
                end: Some(cmd.end_date),
                processors: cmd.processor,
            };
            // Validate the input before touching (or creating) the store.
            engine::reconcile::parse_processors(request.processors.as_deref())?;
            domain::DateRange::parse(
                request.start.as_deref(),
                request.end.as_deref(),
                domain::DateRange::default_view(),
                engine::Limits::default().max_range_days,
            )
            .map_err(|e| CliError::Input(e.to_string()))?;
            let rec = match running_server(&cli.store).await {
                Some(remote) => remote
                    .reconcile(
                        request.start.as_deref().unwrap_or_default(),
                        request.end.as_deref().unwrap_or_default(),
                        request.processors.as_deref(),
                    )
                    .await
                    .map_err(CliError::from)?,
                None => {
                    let wh = open_store(&cli.store, Create::No).await?;
                    engine::reconcile::reconcile(wh.as_ref(), engine::Limits::default(), &request)
                        .await?
                }
            };
            let out = server::validate::render(&rec, cmd.format, cmd.details, cmd.reconcile)
                .map_err(anyhow::Error::from)?;
            print!("{out}");
            Ok(if rec.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench(cmd) => {
            let text = match cmd.what {
                BenchWhat::Backfill => {
                    server::bench::render(&server::bench::backfill_bench(&cmd.output).await?)
                }
                BenchWhat::Reconcile => {
                    server::bench::render_ms(&server::bench::reconcile_bench(&cmd.output).await?)
                }
                BenchWhat::Bigquery => server::bench::render(
                    &server::bench::bigquery_bench(&cmd.output, cli.store.bigquery()?).await?,
                ),
                BenchWhat::Load => server::bench::load_bench(&cmd.output, 100).await?,
            };
            print!("{text}");
            println!("written to {}", cmd.output.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether opening may create a missing embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    Yes,
    No,
}

/// Opens the configured store. The embedded file is locked by this process,
/// so any job still marked `running` belongs to a process that died: mark it
/// interrupted. On BigQuery, where processes share the datasets, only `serve`
/// does that, and only for jobs whose lease ran out (a CLI backfill running
/// beside the server renews its lease and stays `running`).
async fn open_store(store: &StoreArgs, create: Create) -> Result<Arc<dyn Warehouse>, CliError> {
    if store.warehouse == WarehouseKind::Embedded && create == Create::No && !store.db.exists() {
        // A mistyped path must not turn into an empty store and a false green.
        return Err(CliError::Input(format!(
            "no such store: {} (create one with `rollcall demo` or `rollcall import`, or pass --db)",
            store.db.display()
        )));
    }
    let wh: Arc<dyn Warehouse> = match store.warehouse {
        WarehouseKind::Embedded => Arc::new(
            EmbeddedWarehouse::open_with(&store.db, &store.embedded_limits())
                .map_err(anyhow::Error::from)?,
        ),
        WarehouseKind::Bigquery => {
            return Ok(Arc::new(
                warehouse_bigquery::BigQueryWarehouse::open(store.bigquery()?)
                    .await
                    .map_err(anyhow::Error::from)?,
            ))
        }
    };
    interrupt_dead_jobs(wh.as_ref(), None).await?;
    Ok(wh)
}

async fn interrupt_dead_jobs(
    wh: &dyn Warehouse,
    stale_before: Option<chrono::NaiveDateTime>,
) -> anyhow::Result<()> {
    let interrupted = wh.interrupt_stale_jobs(stale_before).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "jobs left running by a stopped process are now interrupted"
        );
    }
    Ok(())
}

async fn serve(store: &StoreArgs, cmd: ServeCmd) -> Result<(), CliError> {
    let args = cmd.serve;
    let create = if cmd.demo { Create::Yes } else { Create::No };
    let warehouse = open_store(store, create).await?;
    if store.warehouse == WarehouseKind::Bigquery {
        let lease = chrono::Duration::from_std(engine::backfill::JOB_LEASE)
            .map_err(|e| CliError::Input(e.to_string()))?;
        interrupt_dead_jobs(
            warehouse.as_ref(),
            Some(chrono::Utc::now().naive_utc() - lease),
        )
        .await?;
    }
    if cmd.demo {
        let everything = domain::DateRange::new(
            chrono::NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid"),
            chrono::NaiveDate::from_ymd_opt(2200, 1, 1).expect("valid"),
            i64::MAX,
        )
        .map_err(|e| CliError::Input(e.to_string()))?;
        let empty = warehouse
            .game_dates(everything)
            .await
            .map_err(anyhow::Error::from)?
            .is_empty();
        if empty {
            eprintln!("empty store: writing the demo season (once)…");
            let sink = BarSink::new("demo");
            engine::demo::load_demo(warehouse.as_ref(), domain::demo::DEFAULT_SEED, &sink).await?;
            sink.finish();
        }
    }
    let executable = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok());
    let site_root = match server::site_root(args.site_root.as_deref(), executable.as_deref()) {
        Some(root) => root,
        None => {
            tracing::warn!(
                "no built site beside the executable: pages work without JavaScript only \
                 (run `make build`, or pass --site-root)"
            );
            std::path::PathBuf::from("target/site")
        }
    };
    tracing::info!(site_root = %site_root.display(), "serving the site's assets");
    let site_root = site_root.to_string_lossy().to_string();
    let options = server::leptos_options(&site_root, args.addr);
    let limits = engine::Limits {
        max_range_days: args.max_range_days,
    };
    let operator = server::auth::Operator::new(args.addr, args.operator_token.clone())
        .with_public_hosts(&args.public_host, args.trusted_proxy);
    tracing::info!(access = ?operator.access, "operator access");
    // Dashboards poll: repeated views are lookups, at most a second behind a
    // job's writes, fresh once it ends, and at most `cache_max_age` behind
    // writers elsewhere.
    let view_cache = server::ViewCache {
        max_age: std::time::Duration::from_secs(args.cache_max_age_secs),
        ..Default::default()
    };
    let state =
        server::AppState::with_view_cache(warehouse, limits, options, operator, Some(view_cache));
    let jobs = std::sync::Arc::clone(&state.server.jobs);
    let app = server::router(state);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    tracing::info!(addr = %args.addr, db = %store.db.display(), "serving http://{}", args.addr);
    // Commands on the same embedded store find this server here and go
    // through it (the file is locked by this process).
    let _address = match store.warehouse {
        WarehouseKind::Embedded => {
            let local = listener.local_addr().map_err(anyhow::Error::from)?;
            Some(server::remote::record_address(&store.db, local).map_err(anyhow::Error::from)?)
        }
        WarehouseKind::Bigquery => None,
    };
    let serve_limits = server::serve::ServeLimits {
        max_connections: args.max_connections,
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        ..Default::default()
    };
    server::serve::serve(
        listener,
        app,
        serve_limits,
        server::serve::shutdown_signal(),
    )
    .await;
    // The running job stops after its in-flight write and stays resumable.
    jobs.shutdown(serve_limits.drain).await;
    tracing::info!("stopped");
    Ok(())
}

async fn demo(store: &StoreArgs, cmd: DemoCmd) -> Result<ExitCode, CliError> {
    let wh = open_store(store, Create::Yes).await?;
    if !cmd.force {
        if let Some(found) = engine::demo::foreign_rows(wh.as_ref(), cmd.seed, cmd.days).await? {
            return Err(CliError::Input(format!(
                "the store has rows the demo did not write ({found}); \
                 nothing was changed — pass --force to replace them with the demo's"
            )));
        }
    }
    let sink = BarSink::new("demo");
    let report = engine::demo::load_demo_days(wh.as_ref(), cmd.seed, cmd.days, &sink).await?;
    sink.finish();
    println!(
        "demo season written to {}: {} games on {} dates, {} box-score rows",
        store.db.display(),
        report.load.schedule_rows,
        report.load.dates,
        report.load.game_rows
    );
    for job in &report.jobs {
        print_summary(job);
    }
    Ok(ExitCode::SUCCESS)
}

async fn backfill_cmd(store: &StoreArgs, cmd: BackfillCmd) -> Result<ExitCode, CliError> {
    let limits = engine::Limits::default();
    // Validate everything before opening (and possibly creating) the store.
    let request = if cmd.status {
        None
    } else {
        let raw = RawBackfillRequest {
            processors: cmd.processor.clone().unwrap_or_default(),
            downstream: cmd.downstream,
            start: cmd.start_date.clone(),
            end: cmd.end_date.clone(),
            dates: cmd.dates.clone(),
            only_gaps: cmd.only_gaps,
            legacy: cmd.legacy,
        };
        Some(BackfillRequest::parse(&raw, limits).map_err(|e| CliError::Input(e.to_string()))?)
    };
    if let Some(remote) = running_server(store).await {
        return backfill_through(&remote, &cmd, request.is_none()).await;
    }
    let wh = open_store(store, Create::No).await?;
    let Some(request) = request else {
        return job_status(wh.as_ref()).await;
    };
    if cmd.dry_run {
        let cells = plan(wh.as_ref(), &request).await?;
        print_plan(&cells);
        return Ok(ExitCode::SUCCESS);
    }
    let cancel = cancel_on_ctrl_c();
    let options = RunOptions {
        resume: !cmd.no_resume,
        ..RunOptions::default()
    };
    let sink = BarSink::new("backfill");
    let summary = backfill(wh.as_ref(), &request, &options, &sink, &cancel).await?;
    sink.finish();
    print_summary(&summary);
    Ok(
        if summary.failed_cells.is_empty() && summary.state == warehouse::JobState::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// `backfill` while a server holds the store: the same request as a
/// dashboard re-run, followed with the same progress bar and exit codes.
async fn backfill_through(
    remote: &server::remote::Remote,
    cmd: &BackfillCmd,
    status_only: bool,
) -> Result<ExitCode, CliError> {
    if status_only {
        for j in remote.jobs().await? {
            print_job_line(&j.id, &j.state, &j.progress, &j.requested_by, j.created_at);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if cmd.legacy {
        return Err(CliError::Input(
            "--legacy needs the store to itself: stop the server first".into(),
        ));
    }
    let form = app::api::RerunForm {
        p: cmd.processor.clone().unwrap_or_default(),
        dates: cmd.dates.clone(),
        start: cmd.start_date.clone(),
        end: cmd.end_date.clone(),
        mode: Some(if cmd.only_gaps { "gaps" } else { "all" }.into()),
        downstream: Some(if cmd.downstream { "yes" } else { "no" }.into()),
    };
    if cmd.dry_run {
        let cells = remote.preview(&form).await?;
        print_plan(&cells);
        return Ok(ExitCode::SUCCESS);
    }
    let id = remote.start(&form).await?;
    let cancel = cancel_on_ctrl_c();
    let sink = BarSink::new("backfill");
    let mut cancel_sent = false;
    let view = loop {
        let view = remote.job(&id).await?;
        engine::backfill::ProgressSink::update(&sink, &view.progress);
        if !view.active {
            break view;
        }
        if cancel.load(Ordering::SeqCst) && !cancel_sent {
            remote.cancel(&id).await?;
            cancel_sent = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    sink.finish();
    let state = warehouse::JobState::parse(&view.state).unwrap_or(warehouse::JobState::Failed);
    print_summary(&JobSummary {
        job_id: view.id.clone(),
        state,
        resumed: false,
        progress: view.progress.clone(),
        failed_cells: Vec::new(),
    });
    Ok(
        if state == warehouse::JobState::Succeeded && view.progress.cells_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// A flag Ctrl-C raises: the backfill stops after the cell in flight.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&cancel);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling after the cell in flight…");
            raised.store(true, Ordering::SeqCst);
        }
    });
    cancel
}

/// The dry run's table.
fn print_plan(cells: &[engine::backfill::PlannedCell]) {
    println!("{:<6} {:<12} {:>9}", "Proc", "Date", "Expected");
    for c in cells {
        println!("{:<6} {:<12} {:>9}", c.processor.code(), c.date, c.expected);
    }
    println!(
        "{} cells, {} player-dates (dry run: nothing written)",
        cells.len(),
        cells.iter().map(|c| c.expected).sum::<i64>()
    );
}

/// One line of `backfill --status`.
fn print_job_line(
    id: &str,
    state: &str,
    p: &engine::backfill::Progress,
    requested_by: &str,
    created_at: chrono::NaiveDateTime,
) {
    println!(
        "{id}  {state:<11} {}/{} cells, {} failed  by {requested_by}  created {}",
        p.cells_done,
        p.cells_total,
        p.cells_failed,
        created_at.format("%Y-%m-%d %H:%M:%S")
    );
}

fn print_summary(s: &JobSummary) {
    let p = &s.progress;
    println!(
        "job {} {}{}: {} cells ok, {} failed, {} player-dates in {:.1}s ({:.0} players/s)",
        s.job_id,
        s.state.as_str(),
        if s.resumed { " (resumed)" } else { "" },
        p.cells_done - p.cells_failed,
        p.cells_failed,
        p.players_done,
        p.elapsed_ms as f64 / 1000.0,
        p.players_per_second()
    );
    for (cat, n) in categories_in_order(&p.failures_by_category) {
        println!(
            "  {:<26} {:>6}  {}",
            cat.code(),
            n,
            if cat.is_expected() {
                "expected"
            } else {
                "INVESTIGATE"
            }
        );
    }
    for cmd in s.retry_commands() {
        println!("retry: {cmd}");
    }
}

async fn job_status(wh: &dyn Warehouse) -> Result<ExitCode, CliError> {
    let jobs = wh.jobs(20).await.map_err(anyhow::Error::from)?;
    if jobs.is_empty() {
        println!("no jobs yet");
    }
    for j in jobs {
        let p: engine::backfill::Progress = serde_json::from_str(&j.progress).unwrap_or_default();
        print_job_line(&j.id, j.state.as_str(), &p, &j.requested_by, j.created_at);
    }
    Ok(ExitCode::SUCCESS)
}

/// CSV (header row, columns named as in player_game_summary) or Parquet.
fn read_player_games(
    file: &std::path::Path,
) -> Result<Vec<(u64, domain::game::PlayerGame)>, CliError> {
    let name = file.display().to_string();
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("parquet") => warehouse_embedded::read_parquet_player_games(file)
            .map_err(|e| CliError::Input(format!("{name}: {e}"))),
        Some("csv") => {
            let mut reader = csv::Reader::from_path(file)
                .map_err(|e| CliError::Input(format!("{name}: {e}")))?;
            let headers = reader
                .headers()
                .map_err(|e| CliError::Input(format!("{name}: {e}")))?
                .clone();
            let mut rows = Vec::new();
            for record in reader.deserialize::<domain::game::PlayerGame>() {
                match record {
                    Ok(row) => rows.push((rows.len() as u64 + 2, row)),
                    Err(e) => {
                        let line = e.position().map(|p| p.line()).unwrap_or(0);
                        let (column, message) = match e.kind() {
                            csv::ErrorKind::Deserialize { err, .. } => (
                                err.field()
                                    .and_then(|i| headers.get(i as usize))
                                    .unwrap_or("-")
                                    .to_string(),
                                err.kind().to_string(),
                            ),
                            _ => ("-".to_string(), e.to_string()),
                        };
                        return Err(CliError::Input(format!(
                            "{name}: line {line}, column {column}: {message}"
                        )));
                    }
                }
            }
            Ok(rows)
        }
        _ => Err(CliError::Input(format!(
            "{name}: expected a .csv or .parquet file"
        ))),
    }
}
