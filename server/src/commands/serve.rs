//! `rollcall serve`: the dashboard on the configured warehouse.

use clap::Args;

use super::{interrupt_dead_jobs, open_store, Create};
use crate::config::{Config, ServeArgs, WarehouseKind};
use crate::error::{Result, ServerError};
use crate::progress::BarSink;

#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Fill an empty store with the demo season before serving.
    #[arg(long)]
    pub demo: bool,
}

pub(crate) async fn run(config: &Config, cmd: ServeCmd) -> Result<()> {
    let store = &config.store;
    let args = cmd.serve;
    let create = if cmd.demo { Create::Yes } else { Create::No };
    let warehouse = open_store(config, create).await?;
    // The pages render with the store's pipeline (the one copy they keep).
    app::install_pipeline(warehouse.pipeline().as_ref().clone()).map_err(ServerError::Input)?;
    if store.warehouse == WarehouseKind::Bigquery {
        let lease = chrono::Duration::from_std(engine::backfill::JOB_LEASE)
            .map_err(|e| ServerError::Input(e.to_string()))?;
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
        .map_err(|e| ServerError::Input(e.to_string()))?;
        let empty = warehouse.game_dates(everything).await?.is_empty();
        if empty {
            eprintln!("empty store: writing the demo (once)…");
            let rows = super::demo::own_universe_demo(&config.pipeline())?;
            let sink = BarSink::new("demo", config.pipeline().universe.entities());
            super::demo::write_demo(
                warehouse.as_ref(),
                rows,
                domain::demo::DEFAULT_SEED,
                None,
                &sink,
                &config.public_url,
            )
            .await?;
            sink.finish();
        }
    }
    let executable = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok());
    let site_root = match crate::site_root(args.site_root.as_deref(), executable.as_deref()) {
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
    let options = crate::leptos_options(&site_root, args.addr);
    let limits = config.limits();
    if crate::config::token_on_command_line(std::env::args()) {
        tracing::warn!(
            "--operator-token on the command line shows in `ps` to every user of this machine: \
             use ROLLCALL_OPERATOR_TOKEN or --operator-token-file"
        );
    }
    let operator = crate::auth::Operator::new(args.addr, args.operator_token()?)
        .with_public_hosts(&args.public_host, args.trusted_proxy)
        .with_auth(args.auth()?);
    tracing::info!(access = ?operator.access, "operator access");
    // Dashboards poll: repeated views are lookups, at most a second behind a
    // job's writes, fresh once it ends, and at most `cache_max_age` behind
    // writers elsewhere.
    let view_cache = crate::ViewCache {
        max_age: std::time::Duration::from_secs(args.cache_max_age_secs),
        ..Default::default()
    };
    let instance = std::sync::Arc::new(crate::remote::Instance::generate()?);
    let state =
        crate::AppState::with_view_cache(warehouse, limits, options, operator, Some(view_cache))
            .with_instance(std::sync::Arc::clone(&instance))
            .with_public_url(config.public_url.clone())
            .with_snapshot_retention(config.snapshot_retention_days);
    let jobs = std::sync::Arc::clone(&state.server.jobs);
    let watcher = crate::watcher::spawn(
        std::sync::Arc::clone(&state.server.warehouse),
        &jobs,
        config.public_url.clone(),
    );
    let app = crate::router(state);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(ServerError::io(format!("cannot listen on {}", args.addr)))?;
    tracing::info!(addr = %args.addr, db = %store.db.display(), "serving http://{}", args.addr);
    // Commands on the same embedded store find this server here and go
    // through it (the file is locked by this process).
    let _address = match store.warehouse {
        WarehouseKind::Embedded => {
            let local = listener.local_addr()?;
            Some(crate::remote::record_address(&store.db, local, &instance)?)
        }
        WarehouseKind::Bigquery => None,
    };
    let serve_limits = crate::serve::ServeLimits {
        max_connections: args.max_connections,
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        body_timeout: std::time::Duration::from_secs(args.body_timeout_secs),
        ..Default::default()
    };
    crate::serve::serve(listener, app, serve_limits, crate::serve::shutdown_signal()).await;
    // The running job stops after its in-flight write and stays resumable.
    jobs.shutdown(serve_limits.drain).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
