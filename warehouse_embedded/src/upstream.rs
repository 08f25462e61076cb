//! The universe tables the processors read (docs/DESIGN.md §2: the NBA
//! schedule and box scores, or a pipeline's own universe table): bulk loads
//! and reads.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::pipeline::UniverseRow;
use duckdb::{params, Connection, Transaction};
use warehouse::{
    LoadRows, LoadSource, LoadTally, Result, UpstreamLoad, WarehouseError, GAME_KEY_COLUMNS,
};

use warehouse::sql::{box_score_row, Dialect, BOX_SCORE_COLUMNS};

use crate::query_err;

/// Pulls the source's chunks inside one transaction: each chunk first
/// deletes the stored rows of the dates it is the first to bring to its
/// table, then appends its rows (DuckDB writes a large transaction's rows
/// to the file as it goes, so memory stays at a chunk). A failing source or
/// a repeated player and game rolls everything back.
pub(crate) fn load_rows(
    conn: &mut Connection,
    d: &Dialect,
    mut source: Box<dyn LoadSource>,
) -> Result<UpstreamLoad> {
    // Called on a blocking thread of the runtime: the source may await.
    let runtime = tokio::runtime::Handle::current();
    let tx = conn.transaction().map_err(query_err)?;
    let mut tally = LoadTally::default();
    while let Some(chunk) = runtime.block_on(source.next_chunk())? {
        let new_dates = tally.add(&chunk);
        tally.check_one_kind()?;
        match &chunk {
            LoadRows::Schedule(rows) => {
                delete_dates(&tx, "nba_reference.nba_schedule", "game_date", &new_dates)?;
                append_schedule(&tx, rows)?;
            }
            LoadRows::Games(rows) => {
                delete_dates(&tx, PGS, "game_date", &new_dates)?;
                append_games(&tx, rows)?;
            }
            LoadRows::Universe(rows) => {
                let universe = &d.pipeline().universe;
                if warehouse::sql::universe_table_columns(universe).is_none() {
                    return Err(WarehouseError::Query(format!(
                        "{} loads as box scores (import player-game-summary), not as a universe of its own",
                        universe.table
                    )));
                }
                // Names come from the validated pipeline file (identifiers only).
                delete_dates(&tx, &universe.table, &universe.date_column, &new_dates)?;
                append_universe(&tx, &universe.table, rows)?;
            }
        }
    }
    no_repeated_game(&tx, &tally.game_dates)?;
    tx.commit().map_err(query_err)?;
    Ok(tally.outcome())
}

const PGS: &str = "nba_analytics.player_game_summary";

fn delete_dates(tx: &Transaction, table: &str, column: &str, dates: &[NaiveDate]) -> Result<()> {
    if dates.is_empty() {
        return Ok(());
    }
    let mut delete = tx
        .prepare(&format!("DELETE FROM {table} WHERE {column} = ?"))
        .map_err(query_err)?;
    for d in dates {
        delete.execute(params![d]).map_err(query_err)?;
    }
    Ok(())
}

/// One row per player and game among the loaded dates (their stored rows
/// are gone, so these are the load's own).
fn no_repeated_game(tx: &Transaction, dates: &BTreeSet<NaiveDate>) -> Result<()> {
    let (Some(lo), Some(hi)) = (dates.first(), dates.last()) else {
        return Ok(());
    };
    // NaiveDate's Display is digits and dashes only, so the list is safe to inline.
    let in_list = dates
        .iter()
        .map(|d| format!("DATE '{d}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = tx
        .prepare(&format!(
            "SELECT player_lookup, game_id FROM {PGS}
             WHERE game_date BETWEEN DATE '{lo}' AND DATE '{hi}' AND game_date IN ({in_list})
             GROUP BY {GAME_KEY_COLUMNS} HAVING COUNT(*) > 1
             ORDER BY {GAME_KEY_COLUMNS} LIMIT 1"
        ))
        .map_err(query_err)?;
    let mut rows = stmt.query([]).map_err(query_err)?;
    match rows.next().map_err(query_err)? {
        Some(row) => Err(WarehouseError::Repeated {
            columns: GAME_KEY_COLUMNS,
            key: vec![
                row.get::<_, String>(0).map_err(query_err)?,
                row.get::<_, String>(1).map_err(query_err)?,
            ],
        }),
        None => Ok(()),
    }
}

fn append_schedule(tx: &Transaction, schedule: &[ScheduledGame]) -> Result<()> {
    let mut app = tx
        .appender_to_db("nba_schedule", "nba_reference")
        .map_err(query_err)?;
    for s in schedule {
        app.append_row(params![
            s.game_id,
            s.game_date,
            s.season_year,
            s.home_team_abbr,
            s.away_team_abbr,
            s.game_status
        ])
        .map_err(query_err)?;
    }
    Ok(())
}

fn append_games(tx: &Transaction, games: &[PlayerGame]) -> Result<()> {
    let mut app = tx
        .appender_to_db("player_game_summary", "nba_analytics")
        .map_err(query_err)?;
    for g in games {
        app.append_row(params![
            g.player_lookup,
            g.player_full_name,
            g.game_id,
            g.game_date,
            g.season_year,
            g.team_abbr,
            g.opponent_team_abbr,
            g.home_game,
            g.starter_flag,
            g.is_active,
            g.is_dnp,
            g.minutes_played,
            g.points,
            g.fg_attempts,
            g.fg_makes,
            g.three_pt_attempts,
            g.three_pt_makes,
            g.ft_attempts,
            g.ft_makes,
            g.paint_attempts,
            g.paint_makes,
            g.mid_range_attempts,
            g.mid_range_makes,
            g.rebounds,
            g.assists,
            g.turnovers,
            g.usage_rate,
        ])
        .map_err(query_err)?;
    }
    Ok(())
}

fn append_universe(tx: &Transaction, table: &str, rows: &[UniverseRow]) -> Result<()> {
    let (schema, table) = warehouse::sql::dataset_and_table(table);
    let mut app = tx.appender_to_db(table, schema).map_err(query_err)?;
    for r in rows {
        let values: Vec<duckdb::types::Value> =
            r.values.iter().map(crate::outputs::duck_value).collect();
        let mut row: Vec<&dyn duckdb::ToSql> = Vec::with_capacity(values.len() + 2);
        row.push(&r.entity);
        row.push(&r.date);
        row.extend(values.iter().map(|v| v as &dyn duckdb::ToSql));
        app.append_row(duckdb::appender_params_from_iter(row))
            .map_err(query_err)?;
    }
    Ok(())
}

/// Column names and types of `player_game_summary`, in table order.
const PGS_TYPES: [(&str, &str); 27] = [
    ("player_lookup", "VARCHAR"),
    ("player_full_name", "VARCHAR"),
    ("game_id", "VARCHAR"),
    ("game_date", "DATE"),
    ("season_year", "INTEGER"),
    ("team_abbr", "VARCHAR"),
    ("opponent_team_abbr", "VARCHAR"),
    ("home_game", "BOOLEAN"),
    ("starter_flag", "BOOLEAN"),
    ("is_active", "BOOLEAN"),
    ("is_dnp", "BOOLEAN"),
    ("minutes_played", "DOUBLE"),
    ("points", "INTEGER"),
    ("fg_attempts", "INTEGER"),
    ("fg_makes", "INTEGER"),
    ("three_pt_attempts", "INTEGER"),
    ("three_pt_makes", "INTEGER"),
    ("ft_attempts", "INTEGER"),
    ("ft_makes", "INTEGER"),
    ("paint_attempts", "INTEGER"),
    ("paint_makes", "INTEGER"),
    ("mid_range_attempts", "INTEGER"),
    ("mid_range_makes", "INTEGER"),
    ("rebounds", "INTEGER"),
    ("assists", "INTEGER"),
    ("turnovers", "INTEGER"),
    ("usage_rate", "DOUBLE"),
];

/// Reads `player_game_summary` rows from a Parquet file with DuckDB's reader
/// (an in-memory connection: nothing touches the warehouse). Returns
/// (row number, row) pairs for validation.
pub fn read_parquet_player_games(path: &std::path::Path) -> Result<Vec<(u64, PlayerGame)>> {
    // DuckDB reads globs (`*`, `?`, `[`) and URLs in `read_parquet`: the
    // path must name one existing local file, taken literally. The bytes go
    // through a temporary file whose name has none of those characters.
    let not_a_file = || WarehouseError::Query(format!("{}: no such file", path.display()));
    if !path.is_file() {
        return Err(not_a_file());
    }
    let bytes = std::fs::read(path)
        .map_err(|e| WarehouseError::Query(format!("{}: {e}", path.display())))?;
    let copy = tempfile::Builder::new()
        .prefix("rollcall-import-")
        .suffix(".parquet")
        .tempfile()
        .map_err(|e| WarehouseError::Query(format!("cannot stage the import: {e}")))?;
    std::fs::write(copy.path(), bytes)
        .map_err(|e| WarehouseError::Query(format!("cannot stage the import: {e}")))?;
    let conn = Connection::open_in_memory().map_err(query_err)?;
    // A temporary path of our own, quoted as an SQL string literal.
    let literal = copy.path().to_string_lossy().replace('\'', "''");
    let columns = PGS_TYPES
        .iter()
        .map(|(c, t)| format!("CAST({c} AS {t}) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH src AS (SELECT {columns} FROM read_parquet('{literal}'))
         SELECT {BOX_SCORE_COLUMNS} FROM src"
    );
    let rows = crate::shared_sql::decode_all(&conn, &sql, box_score_row)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, g)| (i as u64 + 1, g))
        .collect())
}
