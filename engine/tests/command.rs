//! A command processor run for real (`sh` scripts): what it prints becomes
//! the cell; a non-zero exit, a timeout or output it may not print fails the
//! cell with a message for the run row.

use chrono::NaiveDate;
use domain::pipeline::Pipeline;
use domain::processors::{EntityRow, Records, Value};
use domain::ProcessorSpec;
use engine::runners::command::{self, CommandError, STDERR_TAIL_BYTES};

/// A one-processor pipeline whose command is `sh -c SCRIPT sh DATE`.
fn spec(script: &str, timeout_seconds: u64) -> ProcessorSpec {
    let text = format!(
        r#"
[universe]
table = "nba_analytics.player_game_summary"
date_column = "game_date"
entity_column = "player_lookup"
expected = "is_active"

[tables]
failures = "nba_processing.precompute_failures"
runs = "nba_processing.precompute_processor_runs"

[[processor]]
code = "REST"
name = "Rest"
output_table = "team.rest"
date_column = "rest_date"
entity_column = "player_lookup"
runs = "command"
command = ["sh", "-c", {script:?}, "sh"]
timeout_seconds = {timeout_seconds}
columns = [{{ name = "days", type = "int" }}]
"#,
        script = script
    );
    Pipeline::parse(&text).unwrap().processors.remove(0)
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 11, 5).unwrap()
}

async fn run(
    script: &str,
    timeout_seconds: u64,
) -> Result<domain::processors::CellOutput, CommandError> {
    command::run(&spec(script, timeout_seconds), date(), &["ann", "bob"], "").await
}

#[tokio::test]
async fn what_the_command_prints_for_its_date_and_stdin_becomes_the_cell() {
    // Echoes each expected entity back with the date's day as its value.
    let script = r#"
        # The day of month without its leading zero (JSON has no 05).
        day=$(echo "$1" | cut -d- -f3 | sed 's/^0//')
        while read -r line; do
          e=$(echo "$line" | sed 's/.*"entity":"\([^"]*\)".*/\1/')
          if [ "$e" = bob ]; then
            echo "{\"entity\": \"$e\", \"failure\": {\"category\": \"INSUFFICIENT_DATA\"}}"
          else
            echo "{\"entity\": \"$e\", \"record\": {\"days\": $day}}"
          fi
        done
        echo "progress for $ROLLCALL_PROCESSOR on $ROLLCALL_DATE" >&2
    "#;
    let out = run(script, 30).await.unwrap();
    assert_eq!((out.date, out.expected), (date(), 2));
    assert_eq!(
        out.records,
        Records::Rows(vec![EntityRow {
            entity: "ann".into(),
            values: vec![Value::Int(5)],
        }])
    );
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].entity_id, "bob");
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_cell_with_the_end_of_stderr() {
    let script = r#"
        i=0; while [ $i -lt 500 ]; do echo "noise line $i" >&2; i=$((i+1)); done
        echo '{"entity": "ann", "record": {"days": 1}}'
        echo "the feed is down" >&2
        exit 3
    "#;
    let e = run(script, 30).await.unwrap_err();
    let CommandError::Exit { status, stderr } = &e else {
        panic!("{e}")
    };
    assert!(status.contains('3'), "{status}");
    assert!(stderr.len() <= STDERR_TAIL_BYTES, "{}", stderr.len());
    assert!(stderr.trim_end().ends_with("the feed is down"), "{stderr}");
    assert!(!stderr.contains("noise line 0\n"), "only the tail is kept");
    assert!(e.to_string().contains("the feed is down"), "{e}");
}

#[tokio::test]
async fn a_command_past_its_time_limit_is_killed_with_what_it_started() {
    // The command starts a child of its own and a detached one, leaves
    // their pids, and waits.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = format!(
        "{}; echo 'stuck waiting for the feed' >&2; sleep 30 & echo $! >> {}; wait",
        detached(&pid_file),
        pid_file.display()
    );
    let e = run(&script, 1).await.unwrap_err();
    assert!(matches!(e, CommandError::Timeout { seconds: 1, .. }), "{e}");
    // What it wrote to stderr before the limit is kept for the run row.
    assert!(
        e.to_string()
            .contains("timed out after 1 s (killed); stderr: stuck waiting for the feed"),
        "{e}"
    );
    assert_all_stopped(&pid_file, 2, "the timeout");
}

/// Shell that starts a process detached from the command — its own session,
/// by a double fork, so it is nobody's child once its parent exits — which
/// appends its pid to `pids` and sleeps.
fn detached(pids: &std::path::Path) -> String {
    format!(
        "( setsid sh -c 'echo $$ >> {}; exec sleep 300' </dev/null >/dev/null 2>&1 & )",
        pids.display()
    )
}

/// The `count` pids in `pids` end within five seconds (gone, or a zombie
/// waiting for its parent to reap it).
fn assert_all_stopped(pids: &std::path::Path, count: usize, after: &str) {
    let mut listed = Vec::new();
    let mut alive = Vec::new();
    for _ in 0..50 {
        listed = std::fs::read_to_string(pids)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        alive = listed
            .iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| {
                        let state = s.rsplit(')').next().unwrap_or("").trim_start();
                        !state.starts_with('Z')
                    })
                    .unwrap_or(false)
            })
            .cloned()
            .collect();
        if listed.len() >= count && alive.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("after {after}: of {listed:?} (expected {count}), still running: {alive:?}");
}

#[tokio::test]
async fn what_a_command_leaves_running_is_stopped_and_named_on_its_run() {
    // A child that keeps the command's stdout open (it would hold the cell
    // until its timeout), and one detached by setsid and a double fork.
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sh -c 'echo $$ >> {p}; exec sleep 300' & {detached}; \
         while [ \"$(wc -l < {p})\" -lt 2 ]; do sleep 0.05; done; \
         cat > /dev/null",
        p = pids.display(),
        detached = detached(&pids),
    );
    let ran = command::run_batch(&spec(&script, 120), &[(date(), vec!["ann"])], "")
        .await
        .unwrap();
    assert_eq!(ran.cells.len(), 1);
    assert_eq!(
        ran.note.as_deref(),
        Some("the command left 2 process(es) running after it exited; Rollcall stopped them")
    );
    assert_all_stopped(&pids, 2, "the command exited");
}

#[tokio::test]
async fn a_command_that_leaves_nothing_running_has_no_note() {
    let ran = command::run_batch(
        &spec("cat > /dev/null; echo done >&2", 30),
        &[(date(), vec!["ann"])],
        "",
    )
    .await
    .unwrap();
    assert_eq!(ran.note, None);
}

#[tokio::test]
async fn a_cancelled_cell_stops_the_command_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "echo $$ >> {p}; {detached}; sleep 300",
        p = pids.display(),
        detached = detached(&pids),
    );
    let s = spec(&script, 120);
    let dates = [(date(), vec!["ann"])];
    let running = command::run_batch(&s, &dates, "");
    // The cell is dropped (a cancelled job, a server shutting down) once
    // both processes run.
    let waited = tokio::time::timeout(std::time::Duration::from_secs(2), running).await;
    assert!(waited.is_err(), "the command ended by itself");
    assert_all_stopped(&pids, 2, "the cell was dropped");
}

#[tokio::test]
async fn output_that_cannot_be_taken_as_written_names_its_line() {
    let script = r#"
        echo '{"entity": "ann", "record": {"days": 1}}'
        echo '{"entity": "zed", "record": {"days": 1}}'
    "#;
    let e = run(script, 30).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("stdout line 2: entity \"zed\" is not expected"),
        "{e}"
    );
    let e = run(r#"echo '{"entity": "ann", "record": {"hours": 1}}'"#, 30)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown column \"hours\""), "{e}");
}

#[tokio::test]
async fn a_program_that_cannot_start_is_named() {
    let mut s = spec("true", 30);
    let domain::Runner::Command(c) = &mut s.runner else {
        panic!("a command processor: {:?}", s.runner);
    };
    c.program = "/nonexistent/rollcall-cmd".into();
    let e = command::run(&s, date(), &["ann"], "").await.unwrap_err();
    assert!(matches!(e, CommandError::Spawn { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/rollcall-cmd"), "{e}");
}

#[tokio::test]
async fn a_command_that_ignores_stdin_and_prints_nothing_leaves_everyone_unaccounted() {
    let out = run("exit 0", 30).await.unwrap();
    assert_eq!(out.records, Records::Rows(Vec::new()));
    assert!(out.failures.is_empty());
    assert_eq!(out.expected, 2);
}

#[tokio::test]
async fn one_run_over_several_dates_is_handed_them_all_and_answers_each() {
    // Answers every (date, entity) it is handed with the number of dates
    // it was given; fails unless ROLLCALL_DATES lists them.
    let script = r#"
        while read -r line; do
          d=$(echo "$line" | sed 's/.*"date":"\([^"]*\)".*/\1/')
          e=$(echo "$line" | sed 's/.*"entity":"\([^"]*\)".*/\1/')
          echo "{\"date\": \"$d\", \"entity\": \"$e\", \"record\": {\"days\": $#}}"
        done
        [ "$ROLLCALL_DATES" = "$1,$2" ] || exit 3
    "#;
    let next = date().succ_opt().unwrap();
    let cells = command::run_batch(
        &spec(script, 30),
        &[(date(), vec!["ann", "bob"]), (next, vec!["ann"])],
        "",
    )
    .await
    .unwrap()
    .cells;
    assert_eq!(cells.len(), 2);
    assert_eq!((cells[0].date, cells[1].date), (date(), next));
    assert_eq!(cells[0].records.players(), vec!["ann", "bob"]);
    assert_eq!(cells[1].records.players(), vec!["ann"]);
    let Records::Rows(rows) = &cells[1].records else {
        panic!("{:?}", cells[1].records)
    };
    assert_eq!(rows[0].values, vec![Value::Int(2)]);

    // A line without its date, when the run has several: every cell fails.
    let undated = r#"cat >/dev/null; echo '{"entity": "ann", "record": {"days": 1}}'"#;
    let e = command::run_batch(
        &spec(undated, 30),
        &[(date(), vec!["ann"]), (next, vec!["ann"])],
        "",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs its \"date\""), "{e}");
}

/// Issue [R] 10: a command printing past the cap is reported as such, not
/// by the broken pipe it then dies of.
#[tokio::test]
async fn output_past_the_cap_says_so_not_broken_pipe() {
    let over = command::MAX_STDOUT_BYTES + 4096;
    let e = run(&format!("yes | head -c {over}"), 60).await.unwrap_err();
    assert!(matches!(e, CommandError::TooMuchOutput), "{e}");
    assert!(e.to_string().contains("printed more than"), "{e}");
}

#[tokio::test]
async fn an_entity_id_too_long_to_hand_over_fails_alone() {
    // Echoes every expected entity back as a record.
    let script = r#"
        while read -r line; do
          e=$(echo "$line" | sed 's/.*"entity":"\([^"]*\)".*/\1/')
          echo "{\"entity\":\"$e\",\"record\":{\"days\":1}}"
        done
    "#;
    let long = "x".repeat(domain::processors::command::MAX_ENTITY_LEN + 1);
    let cell = command::run(&spec(script, 30), date(), &["ann", &long, "bob"], "")
        .await
        .unwrap();
    assert_eq!(cell.expected, 3);
    assert_eq!(cell.records.players(), vec!["ann", "bob"]);
    assert_eq!(cell.failures.len(), 1);
    assert_eq!(cell.failures[0].entity_id, long);
    assert!(
        cell.failures[0].reason.contains("257 bytes, over the 256"),
        "{}",
        cell.failures[0].reason
    );
}
