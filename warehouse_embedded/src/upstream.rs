//! The universe tables the processors read (docs/DESIGN.md §2: the NBA
//! schedule and box scores, or a pipeline's own universe table): bulk loads
//! and reads.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::pipeline::UniverseRow;
use duckdb::{params, Connection};
use warehouse::{Result, UpstreamLoad, WarehouseError};

use warehouse::sql::{box_score_row, Dialect, BOX_SCORE_COLUMNS};

use crate::query_err;

pub(crate) fn load(
    conn: &mut Connection,
    schedule: &[ScheduledGame],
    games: &[PlayerGame],
) -> Result<UpstreamLoad> {
    // Replace by date, each table only for the dates it receives.
    let schedule_dates: BTreeSet<NaiveDate> = schedule.iter().map(|s| s.game_date).collect();
    let game_dates: BTreeSet<NaiveDate> = games.iter().map(|g| g.game_date).collect();
    let dates: BTreeSet<NaiveDate> = schedule_dates.union(&game_dates).copied().collect();
    let tx = conn.transaction().map_err(query_err)?;
    // NaiveDate's Display is digits and dashes only, so the lists are safe to inline.
    let in_list = |set: &BTreeSet<NaiveDate>| {
        set.iter()
            .map(|d| format!("DATE '{d}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !schedule_dates.is_empty() {
        tx.execute_batch(&format!(
            "DELETE FROM nba_reference.nba_schedule WHERE game_date IN ({})",
            in_list(&schedule_dates)
        ))
        .map_err(query_err)?;
    }
    if !game_dates.is_empty() {
        tx.execute_batch(&format!(
            "DELETE FROM nba_analytics.player_game_summary WHERE game_date IN ({})",
            in_list(&game_dates)
        ))
        .map_err(query_err)?;
    }
    {
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
    }
    tx.commit().map_err(query_err)?;
    Ok(UpstreamLoad {
        schedule_rows: schedule.len(),
        game_rows: games.len(),
        dates: dates.len(),
    })
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

/// Replaces a universe of the pipeline's own, date by date, in one
/// transaction: the dates present in `rows` lose their old rows, then one
/// appender writes the new ones.
pub(crate) fn load_universe(
    conn: &mut Connection,
    d: &Dialect,
    rows: &[UniverseRow],
) -> Result<UpstreamLoad> {
    let universe = &d.pipeline().universe;
    if warehouse::sql::universe_table_columns(universe).is_none() {
        return Err(WarehouseError::Query(format!(
            "{} loads as box scores (import player-game-summary), not as a universe of its own",
            universe.table
        )));
    }
    let dates: BTreeSet<NaiveDate> = rows.iter().map(|r| r.date).collect();
    let tx = conn.transaction().map_err(query_err)?;
    {
        // Names come from the validated pipeline file (identifiers only).
        let mut delete = tx
            .prepare(&format!(
                "DELETE FROM {} WHERE {} = ?",
                universe.table, universe.date_column
            ))
            .map_err(query_err)?;
        for d in &dates {
            delete.execute(params![d]).map_err(query_err)?;
        }
        let (schema, table) = warehouse::sql::dataset_and_table(&universe.table);
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
    }
    tx.commit().map_err(query_err)?;
    Ok(UpstreamLoad {
        schedule_rows: 0,
        game_rows: rows.len(),
        dates: dates.len(),
    })
}
