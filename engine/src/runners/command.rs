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
use domain::processors::{command, CellOutput};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

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

/// Runs `spec`'s command for `date` over `expected` and validates its output.
pub async fn run(
    spec: &ProcessorSpec,
    date: NaiveDate,
    expected: &[&str],
    directory: &str,
) -> Result<CellOutput, CommandError> {
    let mut cells = run_batch(spec, &[(date, expected.to_vec())], directory).await?;
    cells
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
) -> Result<Vec<CellOutput>, CommandError> {
    let Some(cmd) = spec.runner.command() else {
        return Err(CommandError::Spawn {
            program: spec.code.clone(),
            source: std::io::Error::other("the processor declares no command"),
        });
    };
    let (stdout, stderr) = capture(cmd, spec, dates, directory).await?;
    let expected: BTreeMap<NaiveDate, HashSet<&str>> = dates
        .iter()
        .map(|(d, e)| (*d, e.iter().copied().collect()))
        .collect();
    let text = String::from_utf8_lossy(&stdout);
    command::parse_batch_output(spec, &expected, &text)
        .map_err(|source| CommandError::Output { source, stderr })
}

/// The command's whole stdout and the tail of its stderr, once it exited 0.
async fn capture(
    cmd: &CommandSpec,
    spec: &ProcessorSpec,
    dates: &[(NaiveDate, Vec<&str>)],
    directory: &str,
) -> Result<(Vec<u8>, String), CommandError> {
    let day_args: Vec<String> = dates.iter().map(|(d, _)| d.to_string()).collect();
    let mut program = Command::new(&cmd.program);
    // The command leads a process group of its own, so a timeout stops
    // whatever it started too, not only the command itself.
    #[cfg(unix)]
    program.process_group(0);
    let mut child = program
        .args(&cmd.args)
        .args(&day_args)
        .current_dir(if directory.is_empty() {
            Path::new(".")
        } else {
            Path::new(directory)
        })
        .env(
            "ROLLCALL_DATE",
            day_args.first().cloned().unwrap_or_default(),
        )
        .env("ROLLCALL_DATES", day_args.join(","))
        .env("ROLLCALL_PROCESSOR", &spec.code)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A command that outlives its cell (timeout, error) is killed.
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CommandError::Spawn {
            program: cmd.program.clone(),
            source,
        })?;
    let group = child.id();
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
        (out, err, child.wait().await)
    };
    let seconds = cmd.timeout_seconds;
    match tokio::time::timeout(Duration::from_secs(seconds), work).await {
        Err(_) => {
            kill_group(group);
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

/// Stops the process group the command leads (its children, and theirs).
fn kill_group(leader: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = leader.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; `pid` is the group our child
        // leads (`process_group(0)`), so no other process group is touched.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = leader;
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
fn tail_text(kept: &[u8]) -> String {
    let from = kept.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&kept[from..]).into_owned()
}
