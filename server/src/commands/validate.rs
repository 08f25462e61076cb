//! `rollcall validate`: is every expected player accounted for? Exit 0 if
//! so, 1 if not, 2 on bad input, 3 if the warehouse cannot be reached
//! (what an orchestrator retries, apart from what it reports).

use std::process::ExitCode;

use clap::Args;

use super::{open_store, running_server, Create};
use crate::config::{Config, WarehouseKind};
use crate::error::{Result, ServerError};

#[derive(Debug, Args)]
pub struct ValidateCmd {
    /// First date (YYYY-MM-DD).
    #[arg(long)]
    pub start_date: String,
    /// Last date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub end_date: String,
    /// Only these processors (comma-separated); default all.
    #[arg(long, value_name = "P[,P...]")]
    pub processor: Option<String>,
    /// Add a line per date and processor.
    #[arg(long)]
    pub details: bool,
    /// Print the Date/Expected/Has Record/Has Failure/Unaccounted/Coverage table per processor.
    #[arg(long)]
    pub reconcile: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::validate::Format::Table)]
    pub format: crate::validate::Format,
    /// Exit 1 when nobody at all is expected in the range (the universe has
    /// no rows there: in cron, the day the upstream load failed).
    #[arg(long)]
    pub require_expected: bool,
    /// Send one OpenLineage run event per processor to this server's
    /// `/api/v1/lineage` (Marquez, DataHub, …), with a data-quality
    /// assertion `rollcall.accounted` and the counts.
    #[arg(long, env = "OPENLINEAGE_URL", value_name = "URL")]
    pub openlineage_url: Option<String>,
}

pub(crate) async fn run(config: &Config, cmd: ValidateCmd) -> Result<ExitCode> {
    let limits = config.limits();
    let request = engine::reconcile::ReconcileRequest {
        start: Some(cmd.start_date),
        end: Some(cmd.end_date),
        processors: cmd.processor,
    };
    // Validate the input before touching (or creating) the store.
    request.parse(&config.pipeline(), limits)?;
    let lineage = cmd
        .openlineage_url
        .as_deref()
        .map(crate::openlineage::endpoint)
        .transpose()
        .map_err(|m| ServerError::Input(format!("--openlineage-url: {m}")))?;
    let (rec, acks) = match read(config, &request).await {
        Ok(read) => read,
        Err(e) if e.is_input() => return Err(e),
        Err(e) => {
            eprintln!("error: the warehouse: {e}");
            return Ok(ExitCode::from(super::watch::UNREACHABLE));
        }
    };
    let expiries = domain::ack::expiry_span(&acks, rec.range, &rec.processors);
    print!(
        "{}",
        crate::validate::render(
            &config.pipeline(),
            &rec,
            cmd.format,
            cmd.details,
            cmd.reconcile,
            &config.command_prefix(),
            expiries,
        )?
    );
    if let Some(endpoint) = lineage {
        let events = crate::openlineage::events(
            &config.pipeline(),
            &rec,
            &datasets(config),
            chrono::Utc::now(),
        );
        // The verdict stands whatever the lineage server says: a warning.
        match crate::openlineage::emit(&endpoint, &events).await {
            Ok(()) => eprintln!(
                "{} OpenLineage events sent to {}",
                events.len(),
                crate::openlineage::shown(&endpoint)
            ),
            Err(e) => eprintln!("warning: OpenLineage events not sent: {e}"),
        }
    }
    let nothing_expected = rec.cells.iter().all(|c| c.expected == 0);
    if nothing_expected && cmd.require_expected {
        eprintln!("--require-expected: nothing was expected in the range");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if rec.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How OpenLineage names the store's tables.
fn datasets(config: &Config) -> crate::openlineage::Datasets {
    let store = &config.store;
    match store.warehouse {
        WarehouseKind::Embedded => crate::openlineage::Datasets {
            namespace: format!(
                "duckdb://{}",
                std::path::absolute(&store.db)
                    .unwrap_or_else(|_| store.db.clone())
                    .display()
            ),
            prefix: String::new(),
        },
        WarehouseKind::Bigquery => crate::openlineage::Datasets {
            namespace: "bigquery".into(),
            prefix: format!(
                "{}.{}",
                store.project.as_deref().unwrap_or_default(),
                store.dataset_prefix
            ),
        },
    }
}

/// The range's reconciliation and the acknowledgements in force: through a
/// server holding the embedded store, or from the store.
async fn read(
    config: &Config,
    request: &engine::reconcile::ReconcileRequest,
) -> Result<(
    domain::report::Reconciliation,
    Vec<domain::ack::Acknowledgement>,
)> {
    let limits = config.limits();
    Ok(match running_server(&config.store).await {
        Some(remote) => (
            remote
                .reconcile(
                    request.start.as_deref().unwrap_or_default(),
                    request.end.as_deref().unwrap_or_default(),
                    request.processors.as_deref(),
                )
                .await?,
            remote.acknowledgements(false).await?,
        ),
        None => {
            let wh = open_store(config, Create::No).await?;
            (
                engine::reconcile::reconcile(wh.as_ref(), limits, request).await?,
                wh.acknowledgements(
                    warehouse::sql::AckScope::InForce,
                    None,
                    engine::acks::LIST_LIMIT,
                )
                .await?,
            )
        }
    })
}
