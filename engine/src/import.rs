//! `rollcall import player-game-summary FILE`: validate every row up front,
//! then load all of them in one transaction — or nothing.

use domain::game::PlayerGame;
use domain::DomainError;
use warehouse::{UpstreamLoad, Warehouse};

use crate::EngineError;

/// `rows` are (line or row number, row) as parsed from the file.
pub async fn import_player_games(
    wh: &dyn Warehouse,
    rows: Vec<(u64, PlayerGame)>,
) -> Result<UpstreamLoad, EngineError> {
    if rows.is_empty() {
        return Err(no_data_rows());
    }
    for (line, row) in &rows {
        if let Some((column, message)) = row.import_problem() {
            return Err(DomainError::BadImportRow {
                line: *line,
                column: column.into(),
                message,
            }
            .into());
        }
    }
    // One row per (player, game): a second one would make the store's
    // history double-count the game.
    let mut seen: std::collections::HashMap<(&str, &str), u64> = std::collections::HashMap::new();
    for (line, row) in &rows {
        if let Some(first) = seen.insert((&row.player_lookup, &row.game_id), *line) {
            return Err(DomainError::BadImportRow {
                line: *line,
                column: "player_lookup, game_id".into(),
                message: format!(
                    "{} in {} again (first on line {first}): one row per player and game",
                    row.player_lookup, row.game_id
                ),
            }
            .into());
        }
    }
    let games = rows.into_iter().map(|(_, g)| g).collect();
    Ok(wh.load_upstream_rows(Vec::new(), games).await?)
}

/// A file's rows as text: each row's line number and its fields, in
/// `Universe::all_columns` order.
pub type TextRows = Vec<(u64, Vec<String>)>;

/// `rollcall import universe FILE`: rows of the pipeline's own universe,
/// each `(line, fields)` with the fields in `Universe::all_columns` order.
/// Every row is validated before anything is written; then the file's dates
/// are replaced in one load.
pub async fn import_universe(
    wh: &dyn Warehouse,
    rows: TextRows,
) -> Result<UpstreamLoad, EngineError> {
    let universe = &wh.pipeline().universe;
    if universe.is_nba() {
        return Err(DomainError::BadParameter {
            name: "what",
            message: format!(
                "{} holds box scores: import them with `import player-game-summary`",
                universe.table
            ),
        }
        .into());
    }
    if rows.is_empty() {
        return Err(no_data_rows());
    }
    let mut parsed = Vec::with_capacity(rows.len());
    for (line, fields) in &rows {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let row = universe
            .row_from_text(&fields)
            .map_err(|(column, message)| DomainError::BadImportRow {
                line: *line,
                column,
                message,
            })?;
        parsed.push(row);
    }
    Ok(wh.load_universe(parsed).await?)
}

fn no_data_rows() -> EngineError {
    DomainError::BadImportRow {
        line: 1,
        column: "-".into(),
        message: "the file has no data rows".into(),
    }
    .into()
}
