//! The binary beside a running server, and an installed binary serving its
//! site.

use std::path::Path;
use std::process::Command;

use crate::common::{rollcall, stderr, stdout};

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
    let (mut server, port) = serve(&db);
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
    // The dry run and the backfill go through the server as typed choices.
    let out = rollcall(
        &db,
        &[
            "backfill",
            "--processor",
            "PDC",
            "--dates",
            "2021-11-05",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2021-11-05"), "{}", stdout(&out));
    let out = rollcall(
        &db,
        &["backfill", "--processor", "PDC", "--dates", "2021-11-05"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
    let out = rollcall(&db, &["backfill", "--status"]);
    assert!(
        out.status.success() && stdout(&out).contains("cli"),
        "the job says the CLI asked: {}",
        stdout(&out)
    );
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

/// `rollcall serve` on `db` on a free port, once it answers and has written
/// its server file.
fn serve(db: &Path) -> (std::process::Child, u16) {
    let port = free_port();
    let server = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("ROLLCALL_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !remote_file_exists(db) || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (server, port)
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

/// Issue [M] 1, 2: `watch` and `changes` beside a server holding the
/// embedded store go through it (DuckDB locks the file for one process):
/// the same output and exit codes.
#[test]
fn watch_and_changes_work_beside_a_server_holding_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("served.duckdb");
    let out = rollcall(&db, &["demo", "--days", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (mut server, _) = serve(&db);
    // The demo's evaluation is in the feed.
    let out = rollcall(&db, &["changes", "--since", "1h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("opened "), "{}", stdout(&out));
    // November's first days have gaps: exit 1, evaluated by the server.
    let out = rollcall(
        &db,
        &[
            "watch",
            "--once",
            "--start-date",
            "2021-11-01",
            "--end-date",
            "2021-11-05",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("open cells:"), "{}", stdout(&out));
    // Bad input is refused by name, through the server too.
    let out = rollcall(&db, &["changes", "--since", "forever"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = rollcall(
        &db,
        &[
            "watch",
            "--once",
            "--start-date",
            "2021-11-05",
            "--end-date",
            "2021-11-01",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let _ = server.kill();
    let _ = server.wait();
}

/// `ack`, `ack --list` and `unack` go through a server holding the store
/// (issue [N] 1), which keeps who asked beside its own word for them.
#[test]
fn acknowledgements_work_beside_a_server_holding_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("served.duckdb");
    let out = rollcall(&db, &["demo", "--days", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (mut server, _) = serve(&db);
    let out = rollcall(
        &db,
        &[
            "ack",
            "--processor",
            "PDC",
            "--date",
            "2021-11-10",
            "--cell",
            "--reason",
            "other",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("going through it"),
        "{}",
        stderr(&out)
    );
    let made: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let by = made[0]["created_by"].as_str().unwrap();
    assert!(
        by.starts_with("cli:") && by.ends_with("(operator on loopback)"),
        "{by}"
    );
    let out = rollcall(&db, &["ack", "--list"]);
    assert!(stdout(&out).contains("(whole cell)"), "{}", stdout(&out));
    // Bad input through the server is still exit 2, by name.
    let out = rollcall(
        &db,
        &[
            "ack",
            "--processor",
            "PDC",
            "--date",
            "2021-11-10",
            "--cell",
            "--reason",
            "nope",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("reason"), "{}", stderr(&out));
    let out = rollcall(&db, &["unack", made[0]["id"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked"), "{}", stdout(&out));

    // `snapshot` (issue [O]) too: frozen by the server, its file written
    // here, compared and listed through it.
    let file = dir.path().join("snap.html");
    let out = rollcall(
        &db,
        &[
            "snapshot",
            "--start-date",
            "2021-11-10",
            "--end-date",
            "2021-11-12",
            "--out",
            file.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("going through it"),
        "{}",
        stderr(&out)
    );
    let meta: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let id = meta["id"].as_str().unwrap();
    assert!(
        meta["taken_by"]
            .as_str()
            .unwrap()
            .ends_with("(operator on loopback)"),
        "{meta}"
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains("<svg"));
    let out = rollcall(&db, &["snapshot", "--compare", id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cells differ"), "{}", stdout(&out));
    let out = rollcall(&db, &["snapshot", "--compare", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = rollcall(&db, &["snapshot", "--list"]);
    assert!(stdout(&out).contains(id), "{}", stdout(&out));
    let _ = server.kill();
    let _ = server.wait();
}
