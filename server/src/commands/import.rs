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
    /// The pipeline's own universe table (`[universe] table`) from CSV with
    /// a header row naming its columns; dates in the file replace the
    /// stored rows of those dates.
    Universe {
        /// A .csv file.
        file: std::path::PathBuf,
    },
}

/// Parses and validates the whole file before opening the store.
pub(crate) async fn run(config: &Config, cmd: ImportCmd) -> Result<ExitCode> {
    let (file, load) = match cmd.what {
        ImportWhat::PlayerGameSummary { file } => {
            let rows = read_player_games(&file)?;
            let wh = open_store(config, Create::Yes).await?;
            let load = engine::import::import_player_games(wh.as_ref(), rows).await?;
            (file, load)
        }
        ImportWhat::Universe { file } => {
            let rows = read_universe_csv(&config.pipeline(), &file)?;
            let wh = open_store(config, Create::Yes).await?;
            let load = engine::import::import_universe(wh.as_ref(), rows).await?;
            (file, load)
        }
    };
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
            let mut record = csv::StringRecord::new();
            loop {
                // Each row keeps the line it starts on (a quoted field may
                // span lines, so counting rows would drift).
                let read = reader.read_record(&mut record).and_then(|more| {
                    more.then(|| record.deserialize::<domain::game::PlayerGame>(Some(&headers)))
                        .transpose()
                });
                match read {
                    Ok(None) => break,
                    Ok(Some(row)) => rows.push((record.position().map_or(0, |p| p.line()), row)),
                    Err(e) => {
                        let line = e.position().or(record.position()).map_or(0, |p| p.line());
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

/// A CSV of the pipeline's own universe: a header naming every universe
/// column once (any order), then rows; each row's fields are returned in
/// `Universe::all_columns` order with its line number.
pub(crate) fn read_universe_csv(
    pipeline: &domain::pipeline::Pipeline,
    file: &std::path::Path,
) -> Result<engine::import::TextRows> {
    let name = file.display().to_string();
    let bad = |message: String| ServerError::Input(format!("{name}: {message}"));
    let universe = &pipeline.universe;
    if universe.is_nba() {
        return Err(bad(format!(
            "{} holds box scores: import them with `import player-game-summary`",
            universe.table
        )));
    }
    let mut reader = csv::Reader::from_path(file).map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let columns = universe.all_columns();
    let mut positions = Vec::with_capacity(columns.len());
    for (column, _) in &columns {
        let found: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim().eq_ignore_ascii_case(column))
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [one] => positions.push(*one),
            [] => return Err(bad(format!("line 1: no column {column:?} in the header"))),
            _ => return Err(bad(format!("line 1: column {column:?} appears twice"))),
        }
    }
    if let Some(extra) = headers.iter().find(|h| {
        !columns
            .iter()
            .any(|(c, _)| h.trim().eq_ignore_ascii_case(c))
    }) {
        let wanted: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        return Err(bad(format!(
            "line 1: column {extra:?} is not in {} ({})",
            universe.table,
            wanted.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(format!("line {line}: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let fields = positions
            .iter()
            .map(|i| record.get(*i).unwrap_or_default().to_string())
            .collect();
        rows.push((line, fields));
    }
    Ok(rows)
}
