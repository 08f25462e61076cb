//! The `rollcall` command line.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::config::{ServeArgs, StoreArgs};
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Backfill observability: every expected entity answers roll call",
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
    Serve(ServeArgs),
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(&cli.store, args).await,
    }
}

fn open_store(store: &StoreArgs) -> anyhow::Result<Arc<dyn Warehouse>> {
    let wh = EmbeddedWarehouse::open(&store.db)?;
    Ok(Arc::new(wh))
}

async fn serve(store: &StoreArgs, args: ServeArgs) -> anyhow::Result<()> {
    let warehouse = open_store(store)?;
    let site_root = args.site_root.to_string_lossy().to_string();
    let options = server::leptos_options(&site_root, args.addr);
    let limits = engine::Limits {
        max_range_days: args.max_range_days,
    };
    let state = server::AppState::new(warehouse, limits, options);
    let app = server::router(state);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    tracing::info!(addr = %args.addr, db = %store.db.display(), "serving http://{}", args.addr);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("server stopped with an error")
}
