//! Re-runs an observed processor by starting the team's own backfill
//! program (`rerun = ["python3", "backfill.py", "--start-date", "{start}",
//! "--end-date", "{end}"]`) over a span of consecutive days. The program
//! writes its tables itself; Rollcall keeps its output lines for the job
//! page, the tail of its stderr for the run rows, and its exit as the
//! cells' checkpoint. Started like a command: in the pipeline file's
//! directory, a process group of its own under the keeper, stopped at its
//! `timeout_seconds` or when the job is cancelled.

use std::process::Stdio;
use std::time::Duration;

use chrono::NaiveDate;
use domain::processor::{CommandSpec, ProcessorSpec};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use super::command::{
    left_running, tail_text, team_program, CommandError, Stop, STDERR_TAIL_BYTES,
};

/// The longest output line kept for the job page.
pub const MAX_LINE_CHARS: usize = 500;

/// `args` with the span's placeholders filled: `{start}` and `{end}` its
/// first and last day, `{dates}` every day, comma-separated.
pub fn fill(args: &[String], days: &[NaiveDate]) -> Vec<String> {
    let (first, last) = (
        days.first().map(ToString::to_string).unwrap_or_default(),
        days.last().map(ToString::to_string).unwrap_or_default(),
    );
    let all: Vec<String> = days.iter().map(ToString::to_string).collect();
    args.iter()
        .map(|a| {
            a.replace("{start}", &first)
                .replace("{end}", &last)
                .replace("{dates}", &all.join(","))
        })
        .collect()
}

/// The job's days as runs of the program: consecutive days, at most
/// `per_run` each (a gap starts a new run, so a run never covers a day
/// the job was not asked to re-run).
pub fn spans(days: &[NaiveDate], per_run: usize) -> Vec<Vec<NaiveDate>> {
    let mut out: Vec<Vec<NaiveDate>> = Vec::new();
    for day in days {
        match out.last_mut() {
            Some(span)
                if span.len() < per_run.max(1)
                    && span.last().and_then(|d| d.succ_opt()) == Some(*day) =>
            {
                span.push(*day)
            }
            _ => out.push(vec![*day]),
        }
    }
    out
}

/// Runs the program over `days`; each line it prints (stdout or stderr)
/// goes to `on_line` as it comes. `Ok`: it exited 0 (with a note when the
/// keeper stopped processes it left running).
pub async fn run_span(
    spec: &ProcessorSpec,
    program: &CommandSpec,
    days: &[NaiveDate],
    directory: &str,
    on_line: &(dyn Fn(String) + Sync),
) -> Result<Option<String>, CommandError> {
    let all: Vec<String> = days.iter().map(ToString::to_string).collect();
    let mut child = team_program(program, spec, directory, &all)
        .args(fill(&program.args, days))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CommandError::Spawn {
            program: program.program.clone(),
            source,
        })?;
    let mut stop = Stop(child.id());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let mut tail: Vec<u8> = Vec::new();
    let work = async {
        let (out, err) = tokio::join!(
            lines(stdout, on_line, None),
            lines(stderr, on_line, Some(&mut tail))
        );
        let status = child.wait().await;
        stop.0 = None;
        (out.and(err), status)
    };
    match tokio::time::timeout(Duration::from_secs(program.timeout_seconds), work).await {
        Err(_) => {
            drop(stop);
            Err(CommandError::Timeout {
                seconds: program.timeout_seconds,
                stderr: tail_text(&tail),
            })
        }
        Ok((read, status)) => {
            read.map_err(CommandError::Io)?;
            let stderr = tail_text(&tail);
            let status = status.map_err(CommandError::Io)?;
            if !status.success() {
                return Err(CommandError::Exit {
                    status: status.to_string(),
                    stderr,
                });
            }
            Ok(left_running(&stderr))
        }
    }
}

/// Reads `r` line by line to its end, each line (cut to
/// [`MAX_LINE_CHARS`]) to `on_line`; keeps the end of it in `tail`.
async fn lines(
    r: Option<impl AsyncRead + Unpin>,
    on_line: &(dyn Fn(String) + Sync),
    mut tail: Option<&mut Vec<u8>>,
) -> std::io::Result<()> {
    let Some(r) = r else { return Ok(()) };
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded: a line without an end is taken in pieces.
        let n = (&mut reader)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(kept) = tail.as_deref_mut() {
            kept.extend_from_slice(&line);
            if kept.len() > 2 * STDERR_TAIL_BYTES {
                kept.drain(..kept.len() - STDERR_TAIL_BYTES);
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if !text.is_empty() {
            on_line(text.chars().take(MAX_LINE_CHARS).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn spans_are_consecutive_days_up_to_the_batch() {
        let days = [
            d("2021-11-01"),
            d("2021-11-02"),
            d("2021-11-03"),
            d("2021-11-05"),
        ];
        assert_eq!(
            spans(&days, 2),
            vec![
                vec![d("2021-11-01"), d("2021-11-02")],
                vec![d("2021-11-03")],
                vec![d("2021-11-05")]
            ]
        );
        assert_eq!(spans(&days, 31).len(), 2, "a gap starts a new run");
    }

    #[test]
    fn placeholders_are_filled_per_run() {
        let args: Vec<String> = [
            "--start-date",
            "{start}",
            "--end-date",
            "{end}",
            "--dates={dates}",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            fill(&args, &[d("2021-11-01"), d("2021-11-02")]),
            [
                "--start-date",
                "2021-11-01",
                "--end-date",
                "2021-11-02",
                "--dates=2021-11-01,2021-11-02"
            ]
        );
    }
}
