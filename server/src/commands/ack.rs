//! `rollcall ack` and `rollcall unack` (issue [N] 1): acknowledge known
//! gaps — some unaccounted entities of a cell, or the whole cell — list
//! them, revoke one. Beside a server holding the embedded store they go
//! through it (with the operator token), as `watch` does.

use std::process::ExitCode;

use clap::Args;
use domain::ack::Acknowledgement;
use domain::pipeline::Pipeline;
use warehouse::sql::AckScope;

use super::{open_store, Create};
use crate::ack_pages::{AckInput, RevokeInput};
use crate::commands::watch::Format;
use crate::config::Config;
use crate::error::Result;

#[derive(Debug, Args)]
pub struct AckCmd {
    /// List the acknowledgements in force (with `--all`, ended ones too)
    /// instead of making one.
    #[arg(long, conflicts_with_all = ["processor", "date", "entity", "cell", "reason"])]
    pub list: bool,
    /// With `--list`: ended and expired ones too.
    #[arg(long, requires = "list")]
    pub all: bool,
    /// The cell's processor (code or name).
    #[arg(long, required_unless_present = "list")]
    pub processor: Option<String>,
    /// The cell's date (YYYY-MM-DD).
    #[arg(long, required_unless_present = "list")]
    pub date: Option<String>,
    /// Unaccounted entities of the cell, comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with = "cell", required_unless_present_any = ["list", "cell"])]
    pub entity: Vec<String>,
    /// The whole cell: everyone unaccounted in it.
    #[arg(long)]
    pub cell: bool,
    /// known_upstream, retention, wont_fix, false_positive or other.
    #[arg(long, required_unless_present = "list")]
    pub reason: Option<String>,
    #[arg(long, default_value = "")]
    pub note: String,
    /// A ticket's http(s) URL.
    #[arg(long, default_value = "")]
    pub ticket: String,
    /// How long until it expires: `7d`, `12h` (default 30d).
    #[arg(long, default_value = "")]
    pub expires: String,
    /// When it is made (`2021-11-11T10:00:00Z`); default now. Its expiry
    /// counts from here.
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct UnackCmd {
    /// The acknowledgement's id (`rollcall ack --list` shows it).
    pub id: String,
}

/// Who the CLI says it is: `cli:$USER`.
fn me() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub(crate) async fn run_ack(config: &Config, cmd: AckCmd) -> Result<ExitCode> {
    let pipeline = config.pipeline();
    let remote = super::running_server(&config.store).await;
    if cmd.list {
        let acks = match &remote {
            Some(r) => r.acknowledgements(cmd.all).await?,
            None => {
                let scope = if cmd.all {
                    AckScope::All
                } else {
                    AckScope::InForce
                };
                open_store(config, Create::No)
                    .await?
                    .acknowledgements(scope, None, engine::acks::LIST_LIMIT)
                    .await?
            }
        };
        print(&pipeline, &acks, cmd.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let input = AckInput {
        processor: cmd.processor.clone().unwrap_or_default(),
        date: cmd.date.clone().unwrap_or_default(),
        entities: cmd.entity.clone(),
        cell: cmd.cell,
        reason: cmd.reason.clone().unwrap_or_default(),
        note: cmd.note.clone(),
        ticket: cmd.ticket.clone(),
        expires: cmd.expires.clone(),
        as_of: cmd.as_of.clone(),
        by: Some(me()),
    };
    let made = match &remote {
        Some(r) => r.acknowledge(&input).await?,
        None => {
            // Checked before the store is opened: bad input writes nothing.
            let request = input.request(&pipeline)?;
            let at = input.at()?;
            let wh = open_store(config, Create::No).await?;
            engine::acks::acknowledge(wh.as_ref(), request, &me(), at).await?
        }
    };
    print(&pipeline, &made, cmd.format)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn run_unack(config: &Config, cmd: UnackCmd) -> Result<ExitCode> {
    let pipeline = config.pipeline();
    let ack = match super::running_server(&config.store).await {
        Some(r) => {
            r.unacknowledge(&RevokeInput {
                id: cmd.id.clone(),
                by: Some(me()),
            })
            .await?
        }
        None => {
            let wh = open_store(config, Create::No).await?;
            engine::acks::revoke(
                wh.as_ref(),
                cmd.id.trim(),
                &me(),
                chrono::Utc::now().naive_utc(),
            )
            .await?
        }
    };
    print(&pipeline, &[ack], Format::Table)?;
    Ok(ExitCode::SUCCESS)
}

fn print(pipeline: &Pipeline, acks: &[Acknowledgement], format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(acks)?),
        Format::Table => {
            let now = chrono::Utc::now().naive_utc();
            if acks.is_empty() {
                println!("no acknowledgements");
            }
            for a in acks {
                println!(
                    "{id}  {code} {date}  {who}  {reason}  by {by}  expires {expires}  {state}{note}",
                    id = a.id,
                    code = pipeline.code(a.processor),
                    date = a.date,
                    who = a.entity.as_deref().unwrap_or("(whole cell)"),
                    reason = a.reason.code(),
                    by = a.created_by,
                    expires = a.expires_at.format("%Y-%m-%d %H:%M"),
                    state = a.state(now),
                    note = if a.note.is_empty() {
                        String::new()
                    } else {
                        format!("  — {}", a.note)
                    },
                );
            }
        }
    }
    Ok(())
}
