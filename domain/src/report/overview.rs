//! The overview: game dates and table row counts of a range.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DateRange;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameDateSummary {
    pub game_date: NaiveDate,
    pub games: i64,
    pub player_rows: i64,
    /// Active players with minutes or shot attempts (docs/DESIGN.md §1).
    pub expected_players: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    /// `dataset.table`.
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub range: DateRange,
    pub dates: Vec<GameDateSummary>,
    pub tables: Vec<TableCount>,
}

impl Overview {
    pub fn total_games(&self) -> i64 {
        self.dates.iter().map(|d| d.games).sum()
    }
    pub fn total_expected(&self) -> i64 {
        self.dates.iter().map(|d| d.expected_players).sum()
    }
}
