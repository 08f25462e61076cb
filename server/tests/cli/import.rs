//! `import` (CSV, Parquet) and `demo`: all rows or none, and rows Rollcall
//! did not write are not replaced.

use std::path::Path;

use crate::common::{rollcall, stderr, stdout};

const CSV_HEADER: &str = "player_lookup,player_full_name,game_id,game_date,season_year,team_abbr,opponent_team_abbr,home_game,starter_flag,is_active,is_dnp,minutes_played,points,fg_attempts,fg_makes,three_pt_attempts,three_pt_makes,ft_attempts,ft_makes,paint_attempts,paint_makes,mid_range_attempts,mid_range_makes,rebounds,assists,turnovers,usage_rate";

fn csv_row(player: &str, date: &str) -> String {
    format!(
        "{player},{player},{}_BKN_MIL,{date},2021,BKN,MIL,false,true,true,false,31.5,22,17,8,6,2,4,4,6,4,5,2,7,5,3,27.1",
        date.replace('-', "")
    )
}

fn pgs_count(db: &Path) -> i64 {
    let wh = warehouse_embedded::EmbeddedWarehouse::open(
        db,
        std::sync::Arc::new(domain::pipeline::nba()),
    )
    .unwrap();
    wh.count_for_tests("SELECT count(*) FROM nba_analytics.player_game_summary")
        .unwrap()
}

#[test]
fn import_csv_loads_all_rows_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("import.duckdb");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!(
            "{CSV_HEADER}\n{}\n{}\n{}\n",
            csv_row("kevindurant", "2021-11-05"),
            csv_row("jamesharden", "2021-11-05"),
            csv_row("kevindurant", "2021-11-07")
        ),
    )
    .unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", good.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported 3 rows on 2 dates"));
    assert_eq!(pgs_count(&db), 3);

    // A bad value on line 3: one-line error naming line and column, nothing written.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{CSV_HEADER}\n{}\n{}\n",
            csv_row("newplayer", "2021-11-09"),
            csv_row("otherplayer", "2021-11-09").replace("31.5", "lots")
        ),
    )
    .unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 3, column minutes_played"), "{err}");
    assert_eq!(pgs_count(&db), 3, "all or nothing");

    // A hostile lookup is refused by validation, again naming the line.
    let hostile = dir.path().join("hostile.csv");
    std::fs::write(
        &hostile,
        format!(
            "{CSV_HEADER}\n{}\n",
            csv_row("x", "2021-11-09").replacen("x,x,", "'; DROP TABLE t; --,x,", 1)
        ),
    )
    .unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", hostile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 2, column player_lookup"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pgs_count(&db), 3);

    // Broken CSV (a missing column) and unknown extensions.
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "player_lookup,game_date\nabc,2021-11-05\n").unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", broken.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing field"), "{}", stderr(&out));
    let out = rollcall(&db, &["import", "player-game-summary", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_parquet_round_trips() {
    use warehouse::Warehouse;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("pgs.parquet");
    let source = warehouse_embedded::EmbeddedWarehouse::in_memory(std::sync::Arc::new(
        domain::pipeline::nba(),
    ))
    .unwrap();
    let season = domain::demo::generate(4);
    let november: Vec<_> = season
        .games
        .into_iter()
        .filter(|g| g.game_date.to_string().starts_with("2021-11-0"))
        .collect();
    let n = november.len() as i64;
    source
        .load_upstream_rows(Vec::new(), november)
        .await
        .unwrap();
    source
        .execute_batch_for_tests(&format!(
            "COPY (SELECT * FROM nba_analytics.player_game_summary) TO '{}' (FORMAT PARQUET)",
            parquet.display()
        ))
        .unwrap();
    let db = dir.path().join("import.duckdb");
    let out = rollcall(
        &db,
        &["import", "player-game-summary", parquet.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pgs_count(&db), n);
}

#[test]
fn demo_refuses_to_replace_rows_it_did_not_write_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("real.duckdb");
    let file = dir.path().join("real.csv");
    std::fs::write(
        &file,
        format!("{CSV_HEADER}\n{}\n", csv_row("kevindurant", "2021-10-20")),
    )
    .unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rollcall(&db, &["demo", "--days", "5"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("did not write"), "{}", stderr(&out));
    assert_eq!(pgs_count(&db), 1, "nothing replaced");
    let out = rollcall(&db, &["demo", "--days", "5", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pgs_count(&db) > 100);
    // The demo's own rows: a second demo needs no --force.
    let out = rollcall(&db, &["demo", "--days", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn import_rejects_duplicate_rows_and_takes_paths_literally() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("import.duckdb");
    let dup = dir.path().join("dup.csv");
    std::fs::write(
        &dup,
        format!(
            "{CSV_HEADER}\n{}\n{}\n{}\n",
            csv_row("kevindurant", "2021-11-05"),
            csv_row("jamesharden", "2021-11-05"),
            csv_row("kevindurant", "2021-11-05")
        ),
    )
    .unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", dup.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 4") && err.contains("first on line 2"),
        "{err}"
    );
    assert!(!db.exists() || pgs_count(&db) == 0, "nothing written");
    // A quoted name over two lines: the rows after it keep their own lines.
    let spanning =
        csv_row("jamesharden", "2021-11-05").replacen(",jamesharden,", ",\"James\nHarden\",", 1);
    std::fs::write(
        &dup,
        format!(
            "{CSV_HEADER}\n{}\n{spanning}\n{}\n",
            csv_row("kevindurant", "2021-11-05"),
            csv_row("kevindurant", "2021-11-05")
        ),
    )
    .unwrap();
    let out = rollcall(
        &db,
        &["import", "player-game-summary", dup.to_str().unwrap()],
    );
    let err = stderr(&out);
    assert!(
        err.contains("line 5") && err.contains("first on line 2"),
        "{err}"
    );
    // A glob or a URL is a file name like any other: here, one that is not there.
    std::fs::write(dir.path().join("x.parquet"), b"PAR1").unwrap();
    for path in [
        dir.path().join("*.parquet").to_string_lossy().to_string(),
        "http://127.0.0.1:9/data.parquet".to_string(),
    ] {
        let out = rollcall(&db, &["import", "player-game-summary", &path]);
        assert_eq!(out.status.code(), Some(2), "{path}: {}", stderr(&out));
        assert!(stderr(&out).contains("no such file"), "{}", stderr(&out));
    }
}

/// Issue [R] 10: a CSV of several chunks streams in (the reader holds a
/// chunk, not the file); a bad row on its last line or a player and game
/// repeated chunks apart writes nothing and is named by its lines.
#[test]
fn a_csv_of_many_chunks_imports_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("import.duckdb");
    let csv = dir.path().join("many.csv");
    let name = |i: usize| -> String {
        (0..3)
            .map(|k| (b'a' + (i / 26usize.pow(k) % 26) as u8) as char)
            .collect()
    };
    let day = |i: usize| {
        (chrono::NaiveDate::from_ymd_opt(2021, 11, 1).unwrap()
            + chrono::Duration::days((i / 500) as i64))
        .to_string()
    };
    let rows: Vec<String> = (0..25_000)
        .map(|i| csv_row(&format!("player{}", name(i % 500)), &day(i)))
        .collect();
    let write = |extra: &str| {
        std::fs::write(&csv, format!("{CSV_HEADER}\n{}\n{extra}", rows.join("\n"))).unwrap()
    };
    let import = || {
        rollcall(
            &db,
            &["import", "player-game-summary", csv.to_str().unwrap()],
        )
    };

    write("");
    let out = import();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported 25000 rows on 50 dates"));
    assert_eq!(pgs_count(&db), 25_000);

    write(&csv_row("playerzzz", "2021-11-01").replace(",31.5,", ",lots,"));
    let out = import();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 25002, column minutes_played"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pgs_count(&db), 25_000, "all or nothing");

    write(&rows[2]);
    let out = import();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 25002") && stderr(&out).contains("first on line 4"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pgs_count(&db), 25_000, "all or nothing");
}
