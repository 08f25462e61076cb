//! The `rollcall` binary: bad input exits non-zero with one line and writes nothing.

use std::path::Path;
use std::process::{Command, Output};

fn rollcall(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("ROLLCALL_LOG", "error")
        .output()
        .expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn bad_backfill_input_exits_2_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    let cases: [&[&str]; 5] = [
        &[
            "backfill",
            "--processor",
            "XYZ",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-02",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2021-11-10",
            "--end-date",
            "2021-11-01",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2001-01-01",
            "--end-date",
            "2021-01-01",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--start-date",
            "2021-13-01",
            "--end-date",
            "2021-11-01",
        ],
        &[
            "backfill",
            "--processor",
            "PDC",
            "--dates",
            "2021-11-01,yesterday",
        ],
    ];
    for args in cases {
        let out = rollcall(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!db.exists(), "{args:?} created the database");
    }
}

#[test]
fn a_file_that_is_not_a_rollcall_database_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.duckdb");
    std::fs::write(&junk, b"this is not a database at all, just text").unwrap();
    let before = std::fs::read(&junk).unwrap();
    let out = rollcall(&junk, &["backfill", "--status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("junk.duckdb"), "{err}");
    assert_eq!(std::fs::read(&junk).unwrap(), before, "file untouched");
}

#[test]
fn a_read_only_location_fails_at_start_up_in_one_line() {
    // /proc is read-only even for root (CI runs as root, which ignores file modes).
    let db = Path::new("/proc/rollcall-test/rollcall.duckdb");
    let out = rollcall(db, &["demo", "--days", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot open warehouse"), "{err}");
}

#[test]
fn help_explains_every_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "demo", "backfill"] {
        assert!(help.contains(cmd), "{help}");
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn validate_reconcile_finds_the_demo_gaps_and_a_rerun_closes_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    let out = rollcall(&db, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let range = ["--start-date", "2021-11-05", "--end-date", "2021-11-15"];
    let mut args = vec!["validate"];
    args.extend(range);
    args.push("--reconcile");
    let out = rollcall(&db, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Date") && text.contains("Has Record") && text.contains("TOTAL"));
    assert!(
        text.contains("players are unaccounted for - need investigation!"),
        "{text}"
    );
    // Printed as they run: with the --db this validate was given.
    assert!(
        text.contains(&format!(
            "rollcall --db {} backfill --processor PDC",
            db.display()
        )),
        "{text}"
    );

    // Issue [R] 8: a range with no upstream rows is not a green "100 %".
    let empty = [
        "validate",
        "--start-date",
        "2019-06-01",
        "--end-date",
        "2019-06-05",
    ];
    let out = rollcall(&db, &empty);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Nothing was expected"),
        "{}",
        stdout(&out)
    );
    let mut strict = empty.to_vec();
    strict.push("--require-expected");
    let out = rollcall(&db, &strict);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nothing was expected"),
        "{}",
        stderr(&out)
    );

    // JSON and CSV carry the same numbers.
    let mut json_args = vec!["validate"];
    json_args.extend(range);
    json_args.extend(["--format", "json"]);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&rollcall(&db, &json_args))).unwrap();
    let unaccounted = json["unaccounted"].as_i64().unwrap();
    assert!(unaccounted > 0);
    let mut csv_args = vec!["validate"];
    csv_args.extend(range);
    csv_args.extend(["--format", "csv"]);
    let csv = stdout(&rollcall(&db, &csv_args));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "unaccounted").unwrap();
    let csv_sum: i64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(csv_sum, unaccounted);
    for p in ["PDC", "PCF", "MLFS"] {
        let t = json["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t[0] == p)
            .unwrap();
        assert!(t[1]["unaccounted"].as_i64().unwrap() > 0, "{p:?}");
    }

    let mut bf = vec!["backfill", "--processor", "PDC", "--downstream"];
    bf.extend(range);
    let out = rollcall(&db, &bf);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));

    let out = rollcall(&db, &args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("All players accounted for (record or failure)")
            .count(),
        4
    );
    assert!(text.matches("100.0%").count() >= 4, "{text}");
}

#[test]
fn validate_rejects_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    for args in [
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-01",
        ][..],
        &["validate", "--start-date", "x", "--end-date", "2021-11-01"][..],
        &[
            "validate",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-02",
            "--processor",
            "NOPE",
        ][..],
    ] {
        let out = rollcall(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!db.exists());
    }
}

#[test]
fn backfill_dry_run_lists_cells_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");
    assert!(rollcall(&db, &["demo"]).status.success());
    let count = |db: &Path| {
        let out = rollcall(db, &["backfill", "--status"]);
        stdout(&out).lines().count()
    };
    let jobs_before = count(&db);
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "PCF",
            "--downstream",
            "--dates",
            "2021-12-01,2021-12-03",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PCF") && text.contains("MLFS") && text.contains("2021-12-03"),
        "{text}"
    );
    assert!(text.contains("4 cells"), "{text}");
    assert_eq!(count(&db), jobs_before);
}

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
fn commands_that_read_a_store_refuse_one_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.duckdb");
    for args in [
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-06",
        ][..],
        &["backfill", "--processor", "PDC", "--dates", "2021-11-05"],
        &["backfill", "--status"],
        &["serve", "--addr", "127.0.0.1:0"],
    ] {
        let out = rollcall(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("no such store"), "{}", stderr(&out));
        assert!(!db.exists(), "{args:?} created nothing");
    }
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn validate_and_backfill_work_beside_a_server_holding_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("served.duckdb");
    let out = rollcall(&db, &["demo", "--days", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("ROLLCALL_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !remote_file_exists(&db) || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let validate = |db: &Path| {
        rollcall(
            db,
            &[
                "validate",
                "--start-date",
                "2021-11-05",
                "--end-date",
                "2021-11-05",
                "--processor",
                "PDC",
                "--reconcile",
            ],
        )
    };
    // The demo leaves PDC unaccounted on 2021-11-05: exit 1, as locally.
    let out = validate(&db);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("unaccounted"), "{}", stdout(&out));
    let out = rollcall(
        &db,
        &["backfill", "--processor", "PDC", "--dates", "2021-11-05"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
    let out = validate(&db);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Bad input is still exit 2, through the server too.
    let out = rollcall(
        &db,
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-01",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Issue [R] 2: demo on a store a server holds says so in one line.
    let out = rollcall(&db, &["demo", "--days", "30"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is held by another process"),
        "{}",
        stderr(&out)
    );

    // kill -9: the server file stays behind. Whatever answers on its port
    // next is not this store's server: it never hears the token, and the
    // command runs on the store itself.
    let _ = server.kill();
    let _ = server.wait();
    assert!(remote_file_exists(&db), "a killed server leaves its file");
    let impostor = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let heard = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let listening = {
        let heard = std::sync::Arc::clone(&heard);
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            impostor.set_nonblocking(false).unwrap();
            // Bounded: answers at most a few requests, then stops.
            for stream in impostor.incoming().take(3) {
                let Ok(mut stream) = stream else { break };
                stream
                    .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                    .unwrap();
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                heard
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        })
    };
    let with_token = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .env("ROLLCALL_LOG", "error")
            .env("ROLLCALL_OPERATOR_TOKEN", "the-operators-secret")
            .output()
            .unwrap()
    };
    let out = with_token(&[
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-05",
        "--processor",
        "PDC",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "ran on the store itself: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("is not this store's server"),
        "{}",
        stderr(&out)
    );
    let heard_text = heard.lock().unwrap().clone();
    assert!(
        heard_text.contains("GET /rollcall-instance?nonce="),
        "{heard_text}"
    );
    assert!(
        !heard_text.contains("the-operators-secret")
            && !heard_text.to_ascii_lowercase().contains("x-rollcall-token"),
        "the token went to an impostor: {heard_text}"
    );
    // Once nothing listens there, the stale file is removed.
    let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    listening.join().unwrap();
    let out = with_token(&[
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-05",
    ]);
    assert!(out.status.code() != Some(2), "{}", stderr(&out));
    assert!(!remote_file_exists(&db), "the stale server file is removed");
}

fn remote_file_exists(db: &Path) -> bool {
    server::remote::address_file(db).exists()
}

#[test]
fn an_installed_binary_serves_the_site_installed_beside_it() {
    // `make install`'s layout, started from a directory with no build in it
    // and without --site-root: the assets are found beside the executable.
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let bin = prefix.join("bin");
    let pkg = prefix.join("share/rollcall/site/pkg");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    let installed = bin.join("rollcall");
    std::fs::copy(env!("CARGO_BIN_EXE_rollcall"), &installed).unwrap();
    let bundle = "// the installed bundle\n";
    std::fs::write(pkg.join("rollcall.js"), bundle).unwrap();
    let db = dir.path().join("s.duckdb");
    let out = rollcall(&db, &["demo", "--days", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let port = free_port();
    let mut server = Command::new(&installed)
        .current_dir(dir.path())
        .env_remove("ROLLCALL_SITE_ROOT")
        .env("ROLLCALL_LOG", "error")
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/pkg/rollcall.js");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let body = loop {
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!("{url} never answered 200");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(body, bundle);
}

/// The shipped pipeline file with `old` replaced by `new`, written beside `db`.
fn pipeline_file(dir: &Path, old: &str, new: &str) -> std::path::PathBuf {
    let shipped = include_str!("../../pipelines/nba.toml");
    assert!(shipped.contains(old), "{old}");
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, shipped.replacen(old, new, 1)).unwrap();
    path
}

fn expected_total(json: &serde_json::Value, processor: &str) -> i64 {
    json["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == processor)
        .unwrap()[1]["expected"]
        .as_i64()
        .unwrap()
}

#[test]
fn the_pipeline_file_is_read_at_start_up_and_drives_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.duckdb");

    // The shipped pipeline, listed.
    let out = rollcall(&db, &["pipeline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("valid, 4 processors"), "{text}");
    assert!(
        text.contains("PCF") && text.contains("depends on: PDC, PSZA"),
        "{text}"
    );

    // A legacy spelling and a stricter `expected` condition take effect.
    let stricter = pipeline_file(
        dir.path(),
        r#"expected = "is_active AND (minutes_played > 0 OR fg_attempts > 0)""#,
        r#"expected = "is_active AND minutes_played >= 30""#,
    );
    let shipped = std::fs::read_to_string(&stricter).unwrap();
    std::fs::write(
        &stricter,
        shipped.replacen(
            "name = \"PlayerDailyCacheProcessor\"\n",
            "name = \"PlayerDailyCacheProcessor\"\nspellings = [\"daily_cache_v1\"]\n",
            1,
        ),
    )
    .unwrap();
    let with_file = |args: &[&str]| {
        let mut all = vec!["--pipeline", stricter.to_str().unwrap()];
        all.extend(args);
        rollcall(&db, &all)
    };
    let out = with_file(&["pipeline"]);
    assert!(
        stdout(&out).contains("minutes_played >= 30"),
        "{}",
        stdout(&out)
    );
    assert!(rollcall(&db, &["demo"]).status.success());
    let day = [
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-05",
        "--format",
        "json",
    ];
    let json = |o: Output| -> serde_json::Value { serde_json::from_str(&stdout(&o)).unwrap() };
    let shipped_expected = expected_total(&json(rollcall(&db, &day)), "PDC");
    let strict_expected = expected_total(&json(with_file(&day)), "PDC");
    assert!(
        0 < strict_expected && strict_expected < shipped_expected,
        "{strict_expected} of {shipped_expected}"
    );
    let out = with_file(&[
        "backfill",
        "--processor",
        "DAILY_CACHE_V1",
        "--dates",
        "2021-11-05",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("PDC"), "{}", stdout(&out));
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "DAILY_CACHE_V1",
            "--dates",
            "2021-11-05",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("known: PSZA, PDC, PCF, MLFS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_pipeline_file_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    let bad = pipeline_file(dir.path(), "min_games = 3", "min_games = \"three\"");
    let line = std::fs::read_to_string(&bad)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"three\""))
        .unwrap()
        + 1;
    for command in [
        &["pipeline"][..],
        &[
            "validate",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-05",
        ],
    ] {
        let mut args = vec!["--pipeline", bad.to_str().unwrap()];
        args.extend(command);
        let out = rollcall(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let prefix = format!("error: {}:{line}:", bad.display());
        assert!(
            stderr(&out).starts_with(&prefix),
            "{} / {prefix}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert!(!db.exists(), "nothing was opened");

    // Valid TOML, but builtins over another universe: refused by name.
    let orders = pipeline_file(
        dir.path(),
        "table = \"nba_analytics.player_game_summary\"",
        "table = \"shop.orders\"",
    );
    let out = rollcall(&db, &["--pipeline", orders.to_str().unwrap(), "pipeline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"shop.orders\": run it as a command"),
        "{}",
        stderr(&out)
    );
    // Failures recorded over Rollcall's own job table: refused by name.
    let failures = pipeline_file(
        dir.path(),
        "failures = \"nba_processing.precompute_failures\"",
        "failures = \"rollcall_meta.jobs\"",
    );
    let out = rollcall(&db, &["--pipeline", failures.to_str().unwrap(), "pipeline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "[tables] failures = \"rollcall_meta.jobs\": rollcall_meta is Rollcall's own dataset"
        ),
        "{}",
        stderr(&out)
    );

    let out = rollcall(
        &db,
        &["--pipeline", "/nonexistent/pipeline.toml", "pipeline"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read the pipeline file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_example_command_pipeline_runs_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rest.duckdb");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba-rest-days/pipeline.toml"
    );
    let with_file = |args: &[&str]| {
        let mut all = vec!["--pipeline", file];
        all.extend(args);
        rollcall(&db, &all)
    };
    let out = with_file(&["pipeline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("valid, 5 processors"), "{text}");
    assert!(
        text.contains("command: python3 rest_days.py DATE")
            && text.contains("columns: rest_days int, back_to_back bool"),
        "{text}"
    );

    assert!(with_file(&["demo"]).status.success());
    let out = with_file(&[
        "backfill",
        "--processor",
        "REST",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-06",
    ]);
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("INSUFFICIENT_DATA"),
        "{}",
        stdout(&out)
    );
    let out = with_file(&[
        "validate",
        "--start-date",
        "2021-11-05",
        "--end-date",
        "2021-11-06",
        "--processor",
        "REST",
        "--format",
        "json",
    ]);
    // The script leaves some players out on purpose: unaccounted, exit 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let totals = &json["totals"][0][1];
    let n = |k: &str| totals[k].as_i64().unwrap();
    assert!(
        n("has_record") > 0 && n("has_failure") > 0 && n("unaccounted") > 0,
        "{totals}"
    );
    assert_eq!(
        n("has_record") + n("has_failure") + n("unaccounted"),
        n("expected"),
        "{totals}"
    );
    // The shipped pipeline does not know REST.
    let out = rollcall(
        &db,
        &["backfill", "--processor", "REST", "--dates", "2021-11-05"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_orders_example_runs_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.duckdb");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/orders/pipeline.toml"
    );
    let with_file = |args: &[&str]| {
        let mut all = vec!["--pipeline", file];
        all.extend(args);
        rollcall(&db, &all)
    };
    let validate_daily = || {
        with_file(&[
            "validate",
            "--start-date",
            "2024-03-01",
            "--end-date",
            "2024-03-28",
            "--processor",
            "DAILY",
            "--format",
            "json",
        ])
    };
    let out = with_file(&["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1004 rows of shop.orders on 28 dates")
            && stdout(&out).contains("customer-dates in"),
        "{}",
        stdout(&out)
    );
    // The scripts left customers unaccounted on weekends: exit 1, every
    // customer in the identity.
    let out = validate_daily();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let totals = &json["totals"][0][1];
    let n = |k: &str| totals[k].as_i64().unwrap();
    assert!(n("has_record") > 0 && n("unaccounted") > 0, "{totals}");
    assert_eq!(
        n("has_record") + n("has_failure") + n("unaccounted"),
        n("expected"),
        "{totals}"
    );
    let totals = |o: &Output| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&stdout(o)).unwrap()["totals"].clone()
    };
    // The demo again changes nothing: its rows are the store's.
    assert!(with_file(&["demo"]).status.success());
    let again = validate_daily();
    assert_eq!(totals(&again), totals(&out));

    // A broken CSV is refused by line and column, and nothing changes.
    let csv = dir.path().join("more.csv");
    std::fs::write(
        &csv,
        "order_date,customer_id,order_id,amount,status\n2024-03-05,C9999,O-1,12.5,paid\n2024-03-05,C9998,O-2,lots,paid\n",
    )
    .unwrap();
    let out = with_file(&["import", "universe", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 3, column amount"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&csv, "customer_id,order_date,colour\nC1,2024-03-05,red\n").unwrap();
    let out = with_file(&["import", "universe", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 1: no column \"order_id\""),
        "{}",
        stderr(&out)
    );
    let unchanged = validate_daily();
    assert_eq!(totals(&unchanged), totals(&again));
    // The shipped pipeline's box scores are not a universe to import.
    let out = rollcall(&db, &["import", "universe", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("player-game-summary"),
        "{}",
        stderr(&out)
    );
}

/// A copy of the orders example whose `expected` is `condition`, in `dir`.
fn orders_with_expected(dir: &Path, condition: &str) -> std::path::PathBuf {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/orders");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        // Files only (a __pycache__ a run may leave is not the pipeline's).
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let file = dir.join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let old = r#"expected = "status <> 'cancelled'""#;
    assert!(text.contains(old));
    std::fs::write(
        &file,
        text.replacen(old, &format!("expected = {condition:?}"), 1),
    )
    .unwrap();
    file
}

/// Customers with an order on `date` in the shipped orders CSV.
fn customers_ordering_on(date: &str) -> i64 {
    let csv = include_str!("../../pipelines/orders/orders.csv");
    let set: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1] == date)
        .map(|f| f[0])
        .collect();
    set.len() as i64
}

/// Issue [R] 0: an `expected` with a top-level OR stays inside the date
/// filter, on both stores; a condition that cannot be one is refused by line.
#[test]
fn an_expected_condition_with_or_stays_inside_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let file = orders_with_expected(dir.path(), "status = 'paid' OR status = 'cancelled'");
    let file = file.to_str().unwrap();
    let day = "2024-03-05";
    let everyone = customers_ordering_on(day);
    let bq_url = std::env::var("ROLLCALL_BQ_URL").expect(
        "ROLLCALL_BQ_URL is not set: this test needs the BigQuery emulator (make test starts it)",
    );
    let prefix = format!("or{}_", std::process::id());
    let bigquery = [
        "--warehouse",
        "bigquery",
        "--project",
        "local-proj",
        "--dataset-prefix",
        prefix.as_str(),
        "--bq-auth",
        "none",
        "--bigquery-url",
        bq_url.as_str(),
    ];
    let db = dir.path().join("orders.duckdb");
    for store in [&[][..], &bigquery[..]] {
        let with_file = |args: &[&str]| {
            let mut all = vec!["--pipeline", file];
            all.extend(store);
            all.extend(args);
            rollcall(&db, &all)
        };
        let out = with_file(&["demo"]);
        assert!(out.status.success(), "{store:?}: {}", stderr(&out));
        let out = with_file(&[
            "validate",
            "--start-date",
            day,
            "--end-date",
            day,
            "--processor",
            "DAILY",
            "--format",
            "json",
        ]);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let totals = &json["totals"][0][1];
        assert_eq!(
            totals["expected"].as_i64(),
            Some(everyone),
            "{store:?}: {totals}"
        );
    }
    for bad in ["status = 'paid' -- paid only", "(status = 'paid'"] {
        let file = orders_with_expected(dir.path(), bad);
        let out = rollcall(&db, &["--pipeline", file.to_str().unwrap(), "pipeline"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("one SQL condition"),
            "{}",
            stderr(&out)
        );
    }
}

/// Issue [Q] 1: a cell whose latest run failed is not a silent drop. After
/// a good run, the same processor's program crashes: validate says
/// RUN_FAILED with when and the error's first lines, that the rows shown
/// are the earlier run's, in the table, CSV and JSON, and exits 1.
#[test]
fn a_failed_latest_run_is_reported_not_taken_for_a_silent_drop() {
    let dir = tempfile::tempdir().unwrap();
    let good = orders_with_expected(dir.path(), "status <> 'cancelled'");
    let good = good.to_str().unwrap();
    let db = dir.path().join("orders.duckdb");
    let day = "2024-03-05";
    let out = rollcall(&db, &["--pipeline", good, "demo"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let text = std::fs::read_to_string(good).unwrap();
    let command = r#"command = ["python3", "daily_totals.py"]"#;
    assert!(text.contains(command));
    let crashing = dir.path().join("crashing.toml");
    std::fs::write(
        &crashing,
        text.replacen(
            command,
            r#"command = ["sh", "-c", "sleep 0.3; echo 'Traceback (most recent call last):' >&2; echo 'KeyError: amount' >&2; exit 3"]"#,
            1,
        ),
    )
    .unwrap();
    let crashing = crashing.to_str().unwrap();
    let out = rollcall(
        &db,
        &[
            "--pipeline",
            crashing,
            "backfill",
            "--processor",
            "DAILY",
            "--dates",
            day,
        ],
    );
    assert!(
        !out.status.success(),
        "a failed cell fails the backfill: {}",
        stdout(&out)
    );
    // The job says why, not only how many.
    assert!(
        stdout(&out).contains(": finished: 1 cell failed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("1 cell failed: DAILY {day}: command: exited with"))
            && stdout(&out).contains("Traceback"),
        "{}",
        stdout(&out)
    );

    let validate = |format: &str| {
        rollcall(
            &db,
            &[
                "--pipeline",
                good,
                "validate",
                "--start-date",
                day,
                "--end-date",
                day,
                "--processor",
                "DAILY",
                "--reconcile",
                "--format",
                format,
            ],
        )
    };
    let out = validate("json");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let cell = &json["cells"][0];
    assert_eq!(cell["status"], "RUN_FAILED", "{cell}");
    assert_eq!(cell["processor"], "DAILY", "{cell}");
    assert_eq!(cell["serves_older_run"], true, "{cell}");
    let failed = cell["failed_run"].as_str().unwrap();
    assert!(
        failed.contains("failed at 20")
            && failed.contains("Traceback")
            && failed.contains("KeyError: amount"),
        "{failed}"
    );
    assert_eq!(json["clean"], false);
    // One "processor" key per cell: the text has it as often as cells.
    let text = stdout(&out);
    assert_eq!(text.matches("\"processor\"").count(), 1, "{text}");

    let out = validate("table");
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    assert!(table.contains("RUN FAILED"), "{table}");
    assert!(table.contains("Cells whose latest run failed"), "{table}");
    assert!(
        table.contains("KeyError: amount") && table.contains("earlier run"),
        "{table}"
    );

    let out = validate("csv");
    let csv = stdout(&out);
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(",failed_run"), "{header}");
    assert!(csv.lines().nth(1).unwrap().contains("RUN_FAILED"), "{csv}");
    assert!(csv.contains("KeyError: amount"), "{csv}");

    // Issue [Q] 5: the suggested re-run runs as printed (with the
    // --pipeline and --db given), and with the program fixed the cell is
    // itself again.
    let printed = table
        .lines()
        .find(|l| l.trim_start().starts_with("rollcall ") && l.contains(" backfill "))
        .unwrap_or_else(|| panic!("no re-run command: {table}"))
        .trim()
        .to_string();
    assert!(
        printed.contains("--pipeline") && printed.contains("--db"),
        "{printed}"
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_rollcall"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", &printed])
        .env("PATH", path)
        .env("ROLLCALL_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{printed}: {} {}",
        stdout(&out),
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&validate("json"))).unwrap();
    assert_ne!(json["cells"][0]["status"], "RUN_FAILED");
    assert!(json["cells"][0]["failed_run"].is_null());

    // Issue [Q] 4: the fixed run resumed the failed job, with a run id of
    // its own; the crashed run's row carries the time the program took.
    let runs = dir.path().join("runs.csv");
    warehouse_embedded::EmbeddedWarehouse::in_memory(std::sync::Arc::new(domain::pipeline::nba()))
        .unwrap()
        .execute_batch_for_tests(&format!(
            "ATTACH '{}' AS o (READ_ONLY);
             COPY (SELECT run_id, job_id, status, duration_ms FROM o.shop_ops.rollcall_runs
                   WHERE analysis_date = DATE '{day}'
                     AND processor_name = 'CustomerDailyTotalsProcessor'
                   ORDER BY started_at) TO '{}' (HEADER false);",
            db.display(),
            runs.display()
        ))
        .unwrap();
    let text = std::fs::read_to_string(&runs).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let (crashed, fixed) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
    assert_eq!((crashed[2], fixed[2]), ("failed", "success"), "{text}");
    assert_eq!(
        crashed[1], fixed[1],
        "the fix resumed the failed job: {text}"
    );
    assert_ne!(
        crashed[0], fixed[0],
        "a resumed run has an id of its own: {text}"
    );
    let took: i64 = crashed[3].parse().unwrap();
    assert!(took >= 250, "the crashed run took its 0.3 s: {text}");

    // Issue [Q] 2: a job that succeeded over gaps it did not close says so
    // (the script leaves weekend customers out), with a line per processor.
    let out = rollcall(
        &db,
        &[
            "--pipeline",
            good,
            "backfill",
            "--processor",
            "DAILY",
            "--start-date",
            "2024-03-01",
            "--end-date",
            "2024-03-10",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains(": succeeded — ") && text.contains("still open"),
        "{text}"
    );
    assert!(
        text.contains("closed") && text.contains("\n  DAILY "),
        "{text}"
    );
}
