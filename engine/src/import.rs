//! `rollcall import`: rows from a file, each validated as it is read and
//! handed to the store in chunks of [`CHUNK_ROWS`] (an import holds a chunk,
//! not the file), which writes them all or nothing: a bad row on the last
//! line leaves the store as it was.

use std::sync::Arc;

use async_trait::async_trait;
use domain::game::PlayerGame;
use domain::DomainError;
use tokio::sync::mpsc;
use warehouse::{LoadRows, LoadSource, UpstreamLoad, Warehouse, WarehouseError};

use crate::EngineError;

/// Rows per chunk: a few MB of box scores, and many chunks per load job on
/// BigQuery (which sends a load job per 8 MB staged).
pub const CHUNK_ROWS: usize = 10_000;

/// A file's rows in order, each with the line (or row number) it starts on;
/// a row that cannot be read is a `BadImportRow` naming its line.
pub type FileRows<T> = Box<dyn Iterator<Item = Result<(u64, T), DomainError>> + Send>;

/// A file to import. It may be read twice: a key the store finds repeated
/// is named by its lines on a second read (so no pass keeps every key).
pub trait ImportFile<T>: Send + Sync {
    fn rows(&self) -> Result<FileRows<T>, EngineError>;
}

/// A file's rows as text: each row's line number and its fields, in
/// `Universe::all_columns` order.
pub type TextRows = Vec<(u64, Vec<String>)>;

/// Rows already in memory (the demo, tests) as a file to import.
pub fn in_memory<T: Clone + Send + Sync + 'static>(rows: Vec<(u64, T)>) -> Arc<dyn ImportFile<T>> {
    Arc::new(RowsInMemory(rows))
}

struct RowsInMemory<T>(Vec<(u64, T)>);

impl<T: Clone + Send + Sync + 'static> ImportFile<T> for RowsInMemory<T> {
    fn rows(&self) -> Result<FileRows<T>, EngineError> {
        Ok(Box::new(self.0.clone().into_iter().map(Ok)))
    }
}

/// `rollcall import player-game-summary FILE`: dates in the file replace
/// the stored box scores of those dates.
pub async fn import_player_games(
    wh: &dyn Warehouse,
    file: Arc<dyn ImportFile<PlayerGame>>,
) -> Result<UpstreamLoad, EngineError> {
    let rows = file.rows()?;
    let check = |line: u64, row: PlayerGame| match row.import_problem() {
        Some((column, message)) => Err(DomainError::BadImportRow {
            line,
            column: column.into(),
            message,
        }),
        None => Ok(row),
    };
    match stream_into(wh, rows, check, LoadRows::Games).await {
        Err(EngineError::Warehouse(WarehouseError::Repeated { key, .. })) => {
            let reread = tokio::task::spawn_blocking(move || repeated_game(file.as_ref(), &key));
            Err(reread
                .await
                .map_err(|e| EngineError::Internal(format!("import reader: {e}")))?)
        }
        other => other,
    }
}

/// `rollcall import universe FILE`: rows of the pipeline's own universe,
/// each's fields in `Universe::all_columns` order; the file's dates are
/// replaced.
pub async fn import_universe(
    wh: &dyn Warehouse,
    file: Arc<dyn ImportFile<Vec<String>>>,
) -> Result<UpstreamLoad, EngineError> {
    let pipeline = Arc::clone(wh.pipeline());
    if pipeline.universe.is_nba() {
        return Err(DomainError::BadParameter {
            name: "what",
            message: format!(
                "{} holds box scores: import them with `import player-game-summary`",
                pipeline.universe.table
            ),
        }
        .into());
    }
    let rows = file.rows()?;
    let check = move |line: u64, fields: Vec<String>| {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        pipeline
            .universe
            .row_from_text(&fields)
            .map_err(|(column, message)| DomainError::BadImportRow {
                line,
                column,
                message,
            })
    };
    stream_into(wh, rows, check, LoadRows::Universe).await
}

/// Validates the rows on a blocking thread and hands them to the store a
/// chunk at a time (a channel of one chunk: the reader stays at most a
/// chunk ahead of the store). A row that fails validation stops the load;
/// its error is the answer, not the store's "the source stopped".
async fn stream_into<T, R>(
    wh: &dyn Warehouse,
    rows: FileRows<T>,
    check: impl Fn(u64, T) -> Result<R, DomainError> + Send + 'static,
    chunk: fn(Vec<R>) -> LoadRows,
) -> Result<UpstreamLoad, EngineError>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Option<LoadRows>>(1);
    let reader = tokio::task::spawn_blocking(move || -> Result<(), EngineError> {
        let mut buffer = Vec::with_capacity(CHUNK_ROWS);
        let mut any = false;
        for item in rows {
            let (line, row) = item?;
            buffer.push(check(line, row)?);
            any = true;
            // A closed channel means the store gave up: its error is the answer.
            if buffer.len() == CHUNK_ROWS
                && tx
                    .blocking_send(Some(chunk(std::mem::take(&mut buffer))))
                    .is_err()
            {
                return Ok(());
            }
        }
        if !any {
            return Err(no_data_rows());
        }
        if !buffer.is_empty() && tx.blocking_send(Some(chunk(buffer))).is_err() {
            return Ok(());
        }
        let _ = tx.blocking_send(None);
        Ok(())
    });
    let loaded = wh.load_rows(Box::new(ChannelSource(rx))).await;
    reader
        .await
        .map_err(|e| EngineError::Internal(format!("import reader: {e}")))??;
    Ok(loaded?)
}

/// Chunks from the reader; `None` on the channel marks the file's end, a
/// channel closed without it a reader that stopped.
struct ChannelSource(mpsc::Receiver<Option<LoadRows>>);

#[async_trait]
impl LoadSource for ChannelSource {
    async fn next_chunk(&mut self) -> warehouse::Result<Option<LoadRows>> {
        match self.0.recv().await {
            Some(chunk) => Ok(chunk),
            None => Err(WarehouseError::Query(
                "the import's reader stopped before the file's end".into(),
            )),
        }
    }
}

/// The second read: the lines of the first two rows with the repeated
/// player and game.
fn repeated_game(file: &dyn ImportFile<PlayerGame>, key: &[String]) -> EngineError {
    let repeated = |line: u64, first: u64, row: &PlayerGame| DomainError::BadImportRow {
        line,
        column: warehouse::GAME_KEY_COLUMNS.into(),
        message: format!(
            "{} in {} again (first on line {first}): one row per player and game",
            row.player_lookup, row.game_id
        ),
    };
    let rows = match file.rows() {
        Ok(rows) => rows,
        Err(e) => return e,
    };
    let mut first = None;
    for item in rows {
        let (line, row) = match item {
            Ok(r) => r,
            Err(e) => return e.into(),
        };
        if [&row.player_lookup, &row.game_id]
            .into_iter()
            .eq(key.iter())
        {
            match first {
                None => first = Some(line),
                Some(first) => return repeated(line, first, &row).into(),
            }
        }
    }
    // The file changed between the reads: say what the store found.
    DomainError::BadImportRow {
        line: 0,
        column: warehouse::GAME_KEY_COLUMNS.into(),
        message: format!(
            "{} appears twice: one row per player and game",
            key.join(", ")
        ),
    }
    .into()
}

fn no_data_rows() -> EngineError {
    DomainError::BadImportRow {
        line: 1,
        column: "-".into(),
        message: "the file has no data rows".into(),
    }
    .into()
}
