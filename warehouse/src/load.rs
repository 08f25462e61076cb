//! Upstream loads that stream: rows reach a store one bounded chunk at a
//! time (an import of a 1 GB file never holds the file), and the store
//! writes them all or nothing. The store pulls chunks from a [`LoadSource`]
//! while its transaction (embedded) or its staged write (BigQuery) is open;
//! a source that fails aborts the load and nothing is written.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::game::{PlayerGame, ScheduledGame};
use domain::pipeline::UniverseRow;

use crate::{Result, UpstreamLoad, WarehouseError};

/// One chunk of rows for one upstream table.
#[derive(Debug, Clone)]
pub enum LoadRows {
    Schedule(Vec<ScheduledGame>),
    Games(Vec<PlayerGame>),
    /// Rows of the pipeline's own universe table.
    Universe(Vec<UniverseRow>),
}

impl LoadRows {
    pub fn len(&self) -> usize {
        match self {
            LoadRows::Schedule(r) => r.len(),
            LoadRows::Games(r) => r.len(),
            LoadRows::Universe(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a load's chunks come from.
#[async_trait]
pub trait LoadSource: Send {
    /// The next chunk; `None` once every row has been handed over. An error
    /// (a bad row further on, a reader that stopped) aborts the load.
    async fn next_chunk(&mut self) -> Result<Option<LoadRows>>;
}

/// Chunks already in memory (the demo, tests, the Vec-taking trait methods).
pub struct ChunksInMemory(std::vec::IntoIter<LoadRows>);

impl ChunksInMemory {
    pub fn new(chunks: Vec<LoadRows>) -> Box<Self> {
        Box::new(Self(chunks.into_iter()))
    }
}

#[async_trait]
impl LoadSource for ChunksInMemory {
    async fn next_chunk(&mut self) -> Result<Option<LoadRows>> {
        Ok(self.0.next())
    }
}

/// Which dates each table of a load receives (a store replaces exactly
/// those) and how many rows it took: what a store keeps while the rows
/// themselves stream past.
#[derive(Debug, Default)]
pub struct LoadTally {
    pub schedule_dates: BTreeSet<NaiveDate>,
    pub game_dates: BTreeSet<NaiveDate>,
    pub universe_dates: BTreeSet<NaiveDate>,
    schedule_rows: usize,
    game_rows: usize,
}

impl LoadTally {
    /// Counts `chunk` and returns the dates it is the first to bring to its
    /// table (the ones whose stored rows must go before its rows land).
    pub fn add(&mut self, chunk: &LoadRows) -> Vec<NaiveDate> {
        let (seen, dates): (&mut BTreeSet<NaiveDate>, Vec<NaiveDate>) = match chunk {
            LoadRows::Schedule(r) => {
                self.schedule_rows += r.len();
                (
                    &mut self.schedule_dates,
                    r.iter().map(|s| s.game_date).collect(),
                )
            }
            LoadRows::Games(r) => {
                self.game_rows += r.len();
                (
                    &mut self.game_dates,
                    r.iter().map(|g| g.game_date).collect(),
                )
            }
            LoadRows::Universe(r) => {
                self.game_rows += r.len();
                (&mut self.universe_dates, r.iter().map(|u| u.date).collect())
            }
        };
        let mut new: Vec<NaiveDate> = dates.into_iter().filter(|d| seen.insert(*d)).collect();
        new.sort_unstable();
        new
    }

    /// Refuses a universe chunk and a box-score chunk in one load (they
    /// are different pipelines' tables).
    pub fn check_one_kind(&self) -> Result<()> {
        let nba = !self.schedule_dates.is_empty() || !self.game_dates.is_empty();
        if nba && !self.universe_dates.is_empty() {
            return Err(WarehouseError::Query(
                "one load carries either box scores or universe rows, not both".into(),
            ));
        }
        Ok(())
    }

    pub fn outcome(&self) -> UpstreamLoad {
        let dates: BTreeSet<&NaiveDate> = self
            .schedule_dates
            .iter()
            .chain(&self.game_dates)
            .chain(&self.universe_dates)
            .collect();
        UpstreamLoad {
            schedule_rows: self.schedule_rows,
            game_rows: self.game_rows,
            dates: dates.len(),
        }
    }
}

/// The one box-score key a load may not repeat: a second row for a player
/// and game would make the history double-count the game.
pub const GAME_KEY_COLUMNS: &str = "player_lookup, game_id";
