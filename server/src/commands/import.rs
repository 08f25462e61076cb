//! `rollcall import`: real upstream rows from a file, validated first, all
//! or nothing.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{open_store, Create};
use crate::config::Config;
use crate::error::{Result, ServerError};

#[derive(Debug, Args)]
pub struct ImportCmd {
    #[command(subcommand)]
    pub what: ImportWhat,
}

#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// nba_analytics.player_game_summary rows from CSV (with a header row) or
    /// Parquet; dates in the file replace the stored rows of those dates.
    PlayerGameSummary {
        /// A .csv or .parquet file.
        file: std::path::PathBuf,
    },
}

/// Parses and validates the whole file before opening the store.
pub(crate) async fn run(config: &Config, cmd: ImportCmd) -> Result<ExitCode> {
    let ImportWhat::PlayerGameSummary { file } = cmd.what;
    let rows = read_player_games(&file)?;
    let wh = open_store(&config.store, Create::Yes).await?;
    let load = engine::import::import_player_games(wh.as_ref(), rows).await?;
    println!(
        "imported {} rows on {} dates from {}",
        load.game_rows,
        load.dates,
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// CSV (header row, columns named as in player_game_summary) or Parquet.
fn read_player_games(file: &std::path::Path) -> Result<Vec<(u64, domain::game::PlayerGame)>> {
    let name = file.display().to_string();
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("parquet") => warehouse_embedded::read_parquet_player_games(file)
            .map_err(|e| ServerError::Input(format!("{name}: {e}"))),
        Some("csv") => {
            let mut reader = csv::Reader::from_path(file)
                .map_err(|e| ServerError::Input(format!("{name}: {e}")))?;
            let headers = reader
                .headers()
                .map_err(|e| ServerError::Input(format!("{name}: {e}")))?
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
                        return Err(ServerError::Input(format!(
                            "{name}: line {line}, column {column}: {message}"
                        )));
                    }
                }
            }
            Ok(rows)
        }
        _ => Err(ServerError::Input(format!(
            "{name}: expected a .csv or .parquet file"
        ))),
    }
}
