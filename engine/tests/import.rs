//! `engine::import` (issue [R] 10): a file streams to the store a chunk at
//! a time — the reader never runs more than two chunks ahead of the store —
//! and a bad row or a repeated player and game in a late chunk writes
//! nothing and is named by its line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use domain::game::PlayerGame;
use domain::DomainError;
use engine::import::{import_player_games, FileRows, ImportFile, CHUNK_ROWS};
use engine::EngineError;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

#[path = "common/counting.rs"]
mod counting;
use counting::Counting;

/// A generated box-score file of `rows` rows (a thousand players a date),
/// counting the rows it hands out; `broken` puts a bad row at that index,
/// `repeat` repeats row 3 at the end.
struct Generated {
    rows: usize,
    read: Arc<AtomicUsize>,
    broken: Option<usize>,
    repeat: bool,
}

fn letters(mut n: usize) -> String {
    let mut s = String::from("player");
    for _ in 0..4 {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    s
}

fn row(template: &PlayerGame, i: usize) -> PlayerGame {
    let mut g = template.clone();
    g.game_date = chrono::NaiveDate::from_ymd_opt(2021, 11, 1).unwrap()
        + chrono::Duration::days((i / 1000) as i64);
    g.game_id = format!("{}_BKN_MIL", g.game_date.format("%Y%m%d"));
    g.player_lookup = letters(i % 1000);
    g
}

impl ImportFile<PlayerGame> for Generated {
    fn rows(&self) -> Result<FileRows<PlayerGame>, EngineError> {
        let template = domain::demo::generate(domain::demo::DEFAULT_SEED).games[0].clone();
        let (read, broken) = (Arc::clone(&self.read), self.broken);
        let last = if self.repeat { Some(3) } else { None };
        let rows = (0..self.rows)
            .map(Some)
            .chain([last.map(Some).unwrap_or(None)]);
        Ok(Box::new(rows.flatten().enumerate().map(
            move |(line, i)| {
                read.fetch_add(1, Ordering::SeqCst);
                let mut g = row(&template, i);
                if Some(line) == broken {
                    g.season_year = 21;
                }
                // Line 1 is the header.
                Ok((line as u64 + 2, g))
            },
        )))
    }
}

fn file(wh: &Counting, rows: usize, broken: Option<usize>, repeat: bool) -> Arc<Generated> {
    Arc::new(Generated {
        rows,
        read: Arc::clone(&wh.rows_read),
        broken,
        repeat,
    })
}

async fn stored(wh: &dyn Warehouse) -> i64 {
    let range = domain::DateRange::new(
        chrono::NaiveDate::from_ymd_opt(2021, 10, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2022, 6, 30).unwrap(),
        400,
    )
    .unwrap();
    wh.game_dates(range)
        .await
        .unwrap()
        .iter()
        .map(|g| g.player_rows)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_streams_chunks_and_writes_all_or_nothing() {
    let inner = EmbeddedWarehouse::in_memory(Arc::new(domain::pipeline::nba())).unwrap();
    let wh = Counting::new(Arc::new(inner));
    let rows = 10 * CHUNK_ROWS;

    let load = import_player_games(wh.as_ref(), file(&wh, rows, None, false))
        .await
        .unwrap();
    assert_eq!(load.game_rows, rows);
    assert_eq!(load.dates, rows / 1000);
    assert_eq!(stored(wh.as_ref()).await, rows as i64);
    let ahead = wh.most_ahead.load(Ordering::SeqCst);
    assert!(
        ahead <= 2 * CHUNK_ROWS,
        "the reader ran {ahead} rows ahead of the store (a chunk is {CHUNK_ROWS})"
    );

    // A bad row in the last chunk: named by its line, nothing written.
    let e = import_player_games(wh.as_ref(), file(&wh, rows, Some(rows - 5), false))
        .await
        .unwrap_err();
    match &e {
        EngineError::Input(DomainError::BadImportRow { line, column, .. }) => {
            assert_eq!((*line, column.as_str()), (rows as u64 - 3, "season_year"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stored(wh.as_ref()).await, rows as i64);

    // Row 3 again after the last: found by the store, named by both lines.
    let e = import_player_games(wh.as_ref(), file(&wh, rows, None, true))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("line {}", rows + 2)) && e.contains("first on line 5"),
        "{e}"
    );
    assert_eq!(stored(wh.as_ref()).await, rows as i64);
}
