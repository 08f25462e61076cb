//! Runs a `runs = "command"` processor for one date or a batch of dates:
//! `program args… DATE…` in the pipeline file's directory, the dates'
//! expected entities on stdin, its
//! stdout read as the protocol of `domain::processors::command`. The command
//! never sees the warehouse: Rollcall writes what it printed with the same
//! atomic cell write as the builtins. A timeout, a non-zero exit or output
//! that cannot be taken as written fails the cell and writes nothing.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chrono::NaiveDate;
use domain::processor::{CommandSpec, ProcessorSpec};
use domain::processors::{command, CellOutput, FailureRecord};
use domain::FailureCategory;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

#[cfg(target_os = "linux")]
use super::keeper;

/// The most stdout a command may print for one date.
pub const MAX_STDOUT_BYTES: usize = 256 * 1024 * 1024;
/// How much of a command's stderr is kept (its end) for the run row.
pub const STDERR_TAIL_BYTES: usize = 2048;

/// Why a command's cell failed. Each message is what the run row keeps.
#[derive(Debug, Error)]
pub enum CommandError {
    #[error("could not start {program:?}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("timed out after {seconds} s (killed){}", tail(.stderr))]
    Timeout { seconds: u64, stderr: String },
    #[error("exited with {status}{}", tail(.stderr))]
    Exit { status: String, stderr: String },
    #[error("printed more than {MAX_STDOUT_BYTES} bytes (killed)")]
    TooMuchOutput,
    #[error("{source}{}", tail(.stderr))]
    Output {
        source: domain::DomainError,
        stderr: String,
    },
    #[error("reading its output: {0}")]
    Io(std::io::Error),
}

fn tail(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", stderr.trim_end())
    }
}

/// What one run of a command gave: a cell per date, and what the run row
/// should say besides (processes it left running, which were stopped).
#[derive(Debug)]
pub struct Ran {
    pub cells: Vec<CellOutput>,
    pub note: Option<String>,
}

/// Runs `spec`'s command for `date` over `expected` and validates its output.
pub async fn run(
    spec: &ProcessorSpec,
    date: NaiveDate,
    expected: &[&str],
    directory: &str,
) -> Result<CellOutput, CommandError> {
    let mut ran = run_batch(spec, &[(date, expected.to_vec())], directory).await?;
    ran.cells
        .pop()
        .ok_or_else(|| CommandError::Io(std::io::Error::other("no cell")))
}

/// Runs `spec`'s command once for several dates (each with its expected
/// entities, in date order): `program args… DATE DATE …`. Its cells, one per
/// date, or why the run failed — which fails every one of them.
pub async fn run_batch(
    spec: &ProcessorSpec,
    dates: &[(NaiveDate, Vec<&str>)],
    directory: &str,
) -> Result<Ran, CommandError> {
    let Some(cmd) = spec.runner.command() else {
        return Err(CommandError::Spawn {
            program: spec.code.clone(),
            source: std::io::Error::other("the processor declares no command"),
        });
    };
    // An entity id longer than a command may print back cannot be handed
    // to it: that entity alone fails, not its whole date.
    let (handed, too_long): (Vec<_>, Vec<_>) = dates
        .iter()
        .map(|(d, entities)| {
            let (ok, long): (Vec<&str>, Vec<&str>) = entities
                .iter()
                .partition(|e| e.len() <= command::MAX_ENTITY_LEN);
            ((*d, ok), (*d, long))
        })
        .unzip();
    let (stdout, stderr) = capture(cmd, spec, &handed, directory).await?;
    let expected: BTreeMap<NaiveDate, HashSet<&str>> = handed
        .iter()
        .map(|(d, e)| (*d, e.iter().copied().collect()))
        .collect();
    let text = String::from_utf8_lossy(&stdout);
    let note = left_running(&stderr);
    let mut cells = command::parse_batch_output(spec, &expected, &text)
        .map_err(|source| CommandError::Output { source, stderr })?;
    for cell in &mut cells {
        for (_, long) in too_long.iter().filter(|(d, _)| *d == cell.date) {
            for entity in long {
                cell.expected += 1;
                cell.failures.push(FailureRecord::player(
                    entity,
                    FailureCategory::ProcessingError,
                    format!(
                        "its id is {} bytes, over the {} a command may be handed: fix the \
                         universe row",
                        entity.len(),
                        command::MAX_ENTITY_LEN
                    ),
                ));
            }
        }
    }
    Ok(Ran { cells, note })
}

/// The run row's note when the keeper stopped processes the command left
/// running after it exited (its last word on stderr).
#[cfg(target_os = "linux")]
pub(super) fn left_running(stderr: &str) -> Option<String> {
    let line = stderr.lines().rev().find(|l| !l.trim().is_empty())?;
    let count = line.strip_prefix(keeper::LEFT_RUNNING)?.trim();
    Some(format!(
        "the command left {count} process(es) running after it exited; Rollcall stopped them"
    ))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn left_running(_: &str) -> Option<String> {
    None
}

/// The command's whole stdout and the tail of its stderr, once it exited 0.
async fn capture(
    cmd: &CommandSpec,
    spec: &ProcessorSpec,
    dates: &[(NaiveDate, Vec<&str>)],
    directory: &str,
) -> Result<(Vec<u8>, String), CommandError> {
    let day_args: Vec<String> = dates.iter().map(|(d, _)| d.to_string()).collect();
    let mut program = team_program(cmd, spec, directory, &day_args);
    let mut child = program
        .args(&cmd.args)
        .args(&day_args)
        .env(
            "ROLLCALL_DATE",
            day_args.first().cloned().unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CommandError::Spawn {
            program: cmd.program.clone(),
            source,
        })?;
    // A command that outlives its cell (timeout, error, a cancelled job)
    // is stopped with whatever it started.
    let mut stop = Stop(child.id());
    let input = command::stdin_lines(
        dates
            .iter()
            .flat_map(|(d, entities)| entities.iter().map(move |e| (*d, *e))),
    );
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    // Filled as the command writes, so a timeout still has its last words.
    let mut tail: Vec<u8> = Vec::new();
    let work = async {
        let feed = async move {
            if let Some(mut s) = stdin {
                // A command may not read its stdin at all: a broken pipe is fine.
                let _ = s.write_all(input.as_bytes()).await;
            }
        };
        let (_, out, err) = tokio::join!(feed, read_capped(stdout), read_tail(stderr, &mut tail));
        let status = child.wait().await;
        // Reaped: its pid may be anyone's now.
        stop.0 = None;
        (out, err, status)
    };
    let seconds = cmd.timeout_seconds;
    match tokio::time::timeout(Duration::from_secs(seconds), work).await {
        Err(_) => {
            drop(stop);
            Err(CommandError::Timeout {
                seconds,
                stderr: tail_text(&tail),
            })
        }
        Ok((out, err, status)) => {
            err.map_err(CommandError::Io)?;
            let stderr = tail_text(&tail);
            let status = status.map_err(CommandError::Io)?;
            // Past the cap first: the command then dies of the pipe we
            // closed, and "BrokenPipe" would hide why.
            let Some(out) = out.map_err(CommandError::Io)? else {
                return Err(CommandError::TooMuchOutput);
            };
            if !status.success() {
                return Err(CommandError::Exit {
                    status: status.to_string(),
                    stderr,
                });
            }
            Ok((out, stderr))
        }
    }
}

/// A team's program as Rollcall starts it (a command or a re-run
/// program): in the pipeline file's directory, with `ROLLCALL_DATES` and
/// `ROLLCALL_PROCESSOR`; its keeper leads a process group of its own (a
/// terminal's Ctrl-C reaches Rollcall, which stops it) and keeps the
/// program's processes on a leash (keeper.rs).
pub(super) fn team_program(
    cmd: &CommandSpec,
    spec: &ProcessorSpec,
    directory: &str,
    days: &[String],
) -> Command {
    let mut program = Command::new(&cmd.program);
    #[cfg(unix)]
    program.process_group(0);
    #[cfg(target_os = "linux")]
    keeper::install(&mut program);
    program
        .current_dir(if directory.is_empty() {
            Path::new(".")
        } else {
            Path::new(directory)
        })
        .env("ROLLCALL_DATES", days.join(","))
        .env("ROLLCALL_PROCESSOR", &spec.code);
    program
}

/// Stops a command not yet reaped when dropped: on Linux its keeper, asked
/// with SIGTERM, stops every process the command started; elsewhere the
/// group the command leads is killed.
pub(super) struct Stop(pub(super) Option<u32>);

impl Drop for Stop {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.take().and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: only signals are sent, to our own child not yet reaped
            // (so its pid is still ours) or the group it leads.
            unsafe {
                if cfg!(target_os = "linux") {
                    libc::kill(pid, libc::SIGTERM);
                } else {
                    libc::killpg(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// All of `r`, or `None` past [`MAX_STDOUT_BYTES`].
async fn read_capped(r: Option<impl AsyncRead + Unpin>) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    if let Some(r) = r {
        r.take(MAX_STDOUT_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .await?;
    }
    Ok((out.len() <= MAX_STDOUT_BYTES).then_some(out))
}

/// Reads `r` to its end, keeping at least its last [`STDERR_TAIL_BYTES`]
/// in `kept` as it goes.
async fn read_tail(r: Option<impl AsyncRead + Unpin>, kept: &mut Vec<u8>) -> std::io::Result<()> {
    if let Some(mut r) = r {
        let mut buf = [0u8; 8192];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > 2 * STDERR_TAIL_BYTES {
                kept.drain(..kept.len() - STDERR_TAIL_BYTES);
            }
        }
    }
    Ok(())
}

/// The last [`STDERR_TAIL_BYTES`] of what [`read_tail`] kept, as text.
pub(super) fn tail_text(kept: &[u8]) -> String {
    let from = kept.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&kept[from..]).into_owned()
}
