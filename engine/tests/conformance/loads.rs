//! Streamed upstream loads on every store: many chunks land as one write
//! (a date split across chunks keeps all its rows); a source that fails
//! part-way, or a player and game repeated in a later chunk, leaves the
//! store as it was.

use std::collections::VecDeque;

use async_trait::async_trait;
use domain::game::PlayerGame;
use domain::DateRange;
use warehouse::{LoadRows, LoadSource, Warehouse, WarehouseError};

use crate::common::{d, load_until};

/// Chunks handed over one at a time; `fail_after` chunks, the source breaks.
struct Chunks {
    chunks: VecDeque<LoadRows>,
    fail_after: Option<usize>,
    handed: usize,
}

impl Chunks {
    fn of(games: &[PlayerGame], size: usize, fail_after: Option<usize>) -> Box<Self> {
        Box::new(Self {
            chunks: games
                .chunks(size)
                .map(|c| LoadRows::Games(c.to_vec()))
                .collect(),
            fail_after,
            handed: 0,
        })
    }
}

#[async_trait]
impl LoadSource for Chunks {
    async fn next_chunk(&mut self) -> warehouse::Result<Option<LoadRows>> {
        if Some(self.handed) == self.fail_after {
            return Err(WarehouseError::Query("the file broke on line 9000".into()));
        }
        self.handed += 1;
        Ok(self.chunks.pop_front())
    }
}

async fn per_date(wh: &dyn Warehouse) -> Vec<String> {
    let range = DateRange::new(d("2021-10-01"), d("2022-06-30"), 400).unwrap();
    wh.game_dates(range)
        .await
        .unwrap()
        .into_iter()
        .map(|g| format!("{} {} {}", g.game_date, g.player_rows, g.expected_players))
        .collect()
}

/// What one store shows after each streamed load.
pub async fn streamed_loads(wh: &dyn Warehouse) -> Vec<String> {
    load_until(wh, "2021-11-05").await;
    let before = per_date(wh).await;
    let season = domain::demo::generate(domain::demo::DEFAULT_SEED);
    // Box scores from a date already stored to the season's end, in chunks
    // that split dates between them.
    let games: Vec<PlayerGame> = season
        .games
        .into_iter()
        .filter(|g| g.game_date >= d("2021-11-05"))
        .collect();
    assert!(
        games.len() > 17_000,
        "more than one BigQuery load job's worth: {}",
        games.len()
    );
    let size = 1_733;
    let mut out = Vec::new();

    let broken = wh.load_rows(Chunks::of(&games, size, Some(5))).await;
    assert!(
        broken
            .as_ref()
            .is_err_and(|e| e.to_string().contains("line 9000")),
        "{broken:?}"
    );
    assert_eq!(per_date(wh).await, before, "a broken source writes nothing");

    let mut repeated = games.clone();
    repeated.push(games[7].clone());
    match wh.load_rows(Chunks::of(&repeated, size, None)).await {
        Err(WarehouseError::Repeated { key, .. }) => {
            assert_eq!(
                key,
                [games[7].player_lookup.clone(), games[7].game_id.clone()]
            );
        }
        other => panic!("a repeated player and game must be refused: {other:?}"),
    }
    assert_eq!(per_date(wh).await, before, "a refused load writes nothing");

    let load = wh.load_rows(Chunks::of(&games, size, None)).await.unwrap();
    assert_eq!(load.game_rows, games.len());
    out.push(format!(
        "loaded {} rows on {} dates",
        load.game_rows, load.dates
    ));
    // Applied twice: the same rows, none duplicated.
    let after = per_date(wh).await;
    wh.load_rows(Chunks::of(&games, size, None)).await.unwrap();
    assert_eq!(per_date(wh).await, after);
    let stored: i64 = after
        .iter()
        .filter(|l| l.as_str() >= "2021-11-05")
        .map(|l| l.split(' ').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(stored as usize, games.len(), "every chunk's rows, once");
    out.extend(after);
    out
}
