//! `rollcall import`: real upstream rows from a file, streamed in chunks
//! and validated row by row; the store writes all of them or none.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use domain::game::PlayerGame;
use domain::DomainError;
use engine::import::{FileRows, ImportFile};
use engine::EngineError;

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

/// Checks the file's kind and header, then streams it: each row is
/// validated as it is read and the store writes all rows or none.
pub(crate) async fn run(config: &Config, cmd: ImportCmd) -> Result<ExitCode> {
    let (file, load) = match cmd.what {
        ImportWhat::PlayerGameSummary { file } => {
            let rows = player_games_file(&file)?;
            let wh = open_store(config, Create::Yes).await?;
            let load = engine::import::import_player_games(wh.as_ref(), rows).await;
            (file, load)
        }
        ImportWhat::Universe { file } => {
            let rows: Arc<dyn ImportFile<Vec<String>>> =
                Arc::new(UniverseCsv::open(&config.pipeline(), &file)?);
            let wh = open_store(config, Create::Yes).await?;
            let load = engine::import::import_universe(wh.as_ref(), rows).await;
            (file, load)
        }
    };
    let load = load.map_err(|e| match e {
        // A bad row is the file's: name it.
        EngineError::Input(e) => ServerError::Input(format!("{}: {e}", file.display())),
        other => other.into(),
    })?;
    println!(
        "imported {} rows on {} dates from {}",
        load.game_rows,
        load.dates,
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// CSV (header row, columns named as in player_game_summary) or Parquet.
fn player_games_file(file: &Path) -> Result<Arc<dyn ImportFile<PlayerGame>>> {
    let name = file.display().to_string();
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        // DuckDB's reader returns the whole file; Parquet files are the
        // compact ones (a CSV is what grows to gigabytes).
        Some("parquet") => Ok(engine::import::in_memory(
            warehouse_embedded::read_parquet_player_games(file)
                .map_err(|e| ServerError::Input(format!("{name}: {e}")))?,
        )),
        Some("csv") => {
            let csv = PlayerGameCsv(file.to_path_buf());
            // The header is checked before the store is opened.
            open_csv(file).map_err(|e| ServerError::Input(format!("{name}: {e}")))?;
            Ok(Arc::new(csv))
        }
        _ => Err(ServerError::Input(format!(
            "{name}: expected a .csv or .parquet file"
        ))),
    }
}

fn open_csv(
    file: &Path,
) -> std::result::Result<(csv::Reader<std::fs::File>, csv::StringRecord), DomainError> {
    let bad = |e: csv::Error| DomainError::BadImportRow {
        line: e.position().map_or(1, |p| p.line()),
        column: "-".into(),
        message: e.to_string(),
    };
    let mut reader = csv::Reader::from_path(file).map_err(bad)?;
    let headers = reader.headers().map_err(bad)?.clone();
    Ok((reader, headers))
}

/// A box-score CSV, read row by row.
struct PlayerGameCsv(PathBuf);

impl ImportFile<PlayerGame> for PlayerGameCsv {
    fn rows(&self) -> std::result::Result<FileRows<PlayerGame>, EngineError> {
        let (mut reader, headers) = open_csv(&self.0)?;
        let mut record = csv::StringRecord::new();
        let mut failed = false;
        Ok(Box::new(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            // Each row keeps the line it starts on (a quoted field may
            // span lines, so counting rows would drift).
            let read = reader.read_record(&mut record).and_then(|more| {
                more.then(|| record.deserialize::<PlayerGame>(Some(&headers)))
                    .transpose()
            });
            match read {
                Ok(None) => None,
                Ok(Some(row)) => Some(Ok((record.position().map_or(0, |p| p.line()), row))),
                Err(e) => {
                    failed = true;
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
                    Some(Err(DomainError::BadImportRow {
                        line,
                        column,
                        message,
                    }))
                }
            }
        })))
    }
}

/// A CSV of the pipeline's own universe: a header naming every universe
/// column once (any order), then rows; each row's fields come in
/// `Universe::all_columns` order with its line number.
pub(crate) struct UniverseCsv {
    path: PathBuf,
    /// For each of `Universe::all_columns`, its field in the file.
    positions: Vec<usize>,
}

impl UniverseCsv {
    /// Checks the header against the pipeline's universe.
    pub(crate) fn open(pipeline: &domain::pipeline::Pipeline, file: &Path) -> Result<Self> {
        let name = file.display().to_string();
        let bad = |message: String| ServerError::Input(format!("{name}: {message}"));
        let universe = &pipeline.universe;
        if universe.is_nba() {
            return Err(bad(format!(
                "{} holds box scores: import them with `import player-game-summary`",
                universe.table
            )));
        }
        let (_, headers) = open_csv(file).map_err(|e| bad(e.to_string()))?;
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
        Ok(Self {
            path: file.to_path_buf(),
            positions,
        })
    }
}

impl ImportFile<Vec<String>> for UniverseCsv {
    fn rows(&self) -> std::result::Result<FileRows<Vec<String>>, EngineError> {
        let (reader, _) = open_csv(&self.path)?;
        let positions = self.positions.clone();
        let mut failed = false;
        Ok(Box::new(reader.into_records().map_while(move |record| {
            if failed {
                return None;
            }
            Some(match record {
                Ok(record) => {
                    let line = record.position().map_or(0, |p| p.line());
                    let fields = positions
                        .iter()
                        .map(|i| record.get(*i).unwrap_or_default().to_string())
                        .collect();
                    Ok((line, fields))
                }
                Err(e) => {
                    failed = true;
                    Err(DomainError::BadImportRow {
                        line: e.position().map_or(0, |p| p.line()),
                        column: "-".into(),
                        message: e.to_string(),
                    })
                }
            })
        })))
    }
}

/// The whole universe CSV in memory (a pipeline's demo rows).
pub(crate) fn read_universe_csv(
    pipeline: &domain::pipeline::Pipeline,
    file: &Path,
) -> Result<engine::import::TextRows> {
    let rows = UniverseCsv::open(pipeline, file)?.rows()?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(|e| ServerError::Input(format!("{}: {e}", file.display())))
}
