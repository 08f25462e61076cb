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
        return Err(DomainError::BadImportRow {
            line: 1,
            column: "-".into(),
            message: "the file has no data rows".into(),
        }
        .into());
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
