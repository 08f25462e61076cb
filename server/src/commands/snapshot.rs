//! `rollcall snapshot` (issue [O]): freeze a view and print its link
//! (`--out report.html` also writes it as one self-contained file), list
//! the snapshots, or compare one with now. Beside a server holding the
//! embedded store it goes through it, as `ack` does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{open_store, Create};
use crate::commands::watch::Format;
use crate::config::Config;
use crate::error::{Result, ServerError};
use crate::snapshot_pages::FreezeInput;

#[derive(Debug, Args)]
pub struct SnapshotCmd {
    /// First date of the view (YYYY-MM-DD).
    #[arg(long, required_unless_present_any = ["compare", "list"])]
    pub start_date: Option<String>,
    /// Last date of the view, inclusive.
    #[arg(long, required_unless_present_any = ["compare", "list"])]
    pub end_date: Option<String>,
    /// Only these processors (comma-separated); default all.
    #[arg(long, value_name = "P[,P...]")]
    pub processor: Option<String>,
    /// A note kept with the snapshot (a handoff's why).
    #[arg(long, default_value = "")]
    pub note: String,
    /// Also write the snapshot as one HTML file that opens with no server.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compare snapshot ID with now instead of taking one (exit 1 if any
    /// cell differs).
    #[arg(long, value_name = "ID", conflicts_with_all = ["start_date", "end_date", "processor", "note", "out", "list"])]
    pub compare: Option<String>,
    /// List the snapshots instead of taking one.
    #[arg(long, conflicts_with_all = ["start_date", "end_date", "processor", "note", "out"])]
    pub list: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Who the CLI says it is: `cli:$USER`.
fn me() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub(crate) async fn run(config: &Config, cmd: SnapshotCmd) -> Result<ExitCode> {
    let pipeline = config.pipeline();
    let remote = super::running_server(&config.store).await;
    if let Some(id) = &cmd.compare {
        let id = id.trim();
        let cmp = match &remote {
            Some(r) => r.snapshot_compare(id).await?,
            None => {
                let wh = open_store(config, Create::No).await?;
                // An id that names no snapshot is the caller's input (exit 2).
                let (meta, frozen) =
                    engine::snapshot::open(wh.as_ref(), id)
                        .await
                        .map_err(|e| match e {
                            engine::EngineError::NotFound(m) => ServerError::Input(m),
                            other => other.into(),
                        })?;
                engine::snapshot::compare(wh.as_ref(), meta, &frozen).await?
            }
        };
        match cmd.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&cmp)?),
            Format::Table => print!(
                "{}",
                crate::snapshot_pages::comparison_text(&pipeline, &cmp)
            ),
        }
        return Ok(if cmp.differing.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if cmd.list {
        let list = match &remote {
            Some(r) => r.snapshots().await?,
            None => engine::snapshot::list(open_store(config, Create::No).await?.as_ref()).await?,
        };
        match cmd.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
            Format::Table => {
                if list.is_empty() {
                    println!("no snapshots");
                }
                for s in &list {
                    println!(
                        "{}  {} – {}  {}  by {}  {} of {} cells not OK{}",
                        s.id,
                        s.start,
                        s.end,
                        s.taken_at.format("%Y-%m-%d %H:%M"),
                        s.taken_by,
                        s.not_ok,
                        s.cells,
                        if s.note.is_empty() {
                            String::new()
                        } else {
                            format!("  — {}", s.note)
                        }
                    );
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let input = FreezeInput {
        start: cmd.start_date.clone(),
        end: cmd.end_date.clone(),
        p: cmd.processor.clone(),
        note: cmd.note.clone(),
        by: Some(me()),
    };
    if let Some(out) = &cmd.out {
        // Checked before anything is written: a directory that is not there.
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(ServerError::Input(format!(
                "--out: no such directory for {}",
                out.display()
            )));
        }
    }
    let (meta, file) = match &remote {
        Some(r) => {
            let meta = r.freeze(&input).await?;
            let file = match &cmd.out {
                Some(_) => Some(r.snapshot_file(&meta.id).await?),
                None => None,
            };
            (meta, file)
        }
        None => {
            let wh = open_store(config, Create::No).await?;
            let request = engine::snapshot::FreezeRequest {
                view: engine::reconcile::ReconcileRequest {
                    start: input.start.clone(),
                    end: input.end.clone(),
                    processors: input.p.clone(),
                },
                note: input.note.clone(),
                taken_by: me(),
                retention_days: config.snapshot_retention_days,
            };
            let now = chrono::Utc::now().naive_utc();
            let meta =
                engine::snapshot::freeze(wh.as_ref(), config.limits(), &request, now).await?;
            let file = match &cmd.out {
                Some(_) => {
                    let (meta, frozen) = engine::snapshot::open(wh.as_ref(), &meta.id).await?;
                    let link = format!("{}/s/{}", config.public_url, meta.id);
                    Some(crate::snapshot_file::render(
                        &pipeline, &meta, &frozen, &link,
                    )?)
                }
                None => None,
            };
            (meta, file)
        }
    };
    if let (Some(out), Some(file)) = (&cmd.out, file) {
        std::fs::write(out, file).map_err(ServerError::io(format!("writing {}", out.display())))?;
    }
    match cmd.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&meta)?),
        Format::Table => {
            println!("{}/s/{}", config.public_url, meta.id);
            eprintln!(
                "snapshot {} of {} – {}: {} cells, {} not OK, {} bytes kept{}",
                meta.id,
                meta.start,
                meta.end,
                meta.cells,
                meta.not_ok,
                meta.bytes,
                cmd.out
                    .as_ref()
                    .map(|o| format!("; written to {}", o.display()))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
