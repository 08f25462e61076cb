//! `rollcall watch` and `rollcall changes` (issue [M]): evaluations that
//! remember, and what changed between them. `watch` exits 0 when nothing in
//! the window is open, 1 when something is (unaccounted, to investigate,
//! late), 2 on bad input, 3 when the warehouse could not be reached.

use std::process::ExitCode;

use chrono::{NaiveDate, NaiveDateTime};
use clap::{Args, ValueEnum};
use domain::pipeline::Pipeline;
use domain::watch::{Change, WatchedCell};
use domain::{DateRange, DomainError};
use serde::Serialize;

use super::{open_store, Create};
use crate::config::Config;
use crate::error::{Result, ServerError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct WatchCmd {
    /// Evaluate once and exit (cron, CI); without it, evaluate every
    /// `[watch] every` until stopped.
    #[arg(long)]
    pub once: bool,
    /// First date of the window (YYYY-MM-DD); default: `[watch] window_days`
    /// up to `--as-of`'s date.
    #[arg(long, requires = "end_date")]
    pub start_date: Option<String>,
    /// Last date of the window (YYYY-MM-DD), inclusive.
    #[arg(long, requires = "start_date")]
    pub end_date: Option<String>,
    /// The evaluation's clock (`2021-11-11T10:00:00Z`, UTC unless an offset
    /// is given): deadlines and the default window. Default: now.
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ChangesCmd {
    /// How far back: `30m`, `24h`, `7d`.
    #[arg(long, default_value = "24h")]
    pub since: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The exit code when the warehouse cannot answer — unreachable, refusing,
/// or a query that fails (0 clean, 1 gaps, 2 bad input): `watch` and
/// `validate`.
pub(crate) const UNREACHABLE: u8 = 3;

pub(crate) async fn run_watch(config: &Config, cmd: WatchCmd) -> Result<ExitCode> {
    let pipeline = config.pipeline();
    let window = match (&cmd.start_date, &cmd.end_date) {
        (Some(s), Some(e)) => {
            let start = domain::dates::parse_date("start-date", s)?;
            let end = domain::dates::parse_date("end-date", e)?;
            Some(DateRange::new(start, end, config.limits().max_range_days)?)
        }
        _ => None,
    };
    let fixed_as_of = cmd.as_of.as_deref().map(parse_as_of).transpose()?;
    if let Some(remote) = super::running_server(&config.store).await {
        return watch_through(&pipeline, &remote, &cmd).await;
    }
    let wh = match open_store(config, Create::No).await {
        Ok(wh) => wh,
        Err(e) if e.is_input() => return Err(e),
        Err(e) => return Ok(unreachable(&e)),
    };
    let every = engine::watch::settings(wh.as_ref()).every_secs;
    loop {
        let opts = engine::watch::EvaluateOptions {
            window,
            as_of: fixed_as_of.unwrap_or_else(|| chrono::Utc::now().naive_utc()),
            trigger: "cli".into(),
            public_url: config.public_url.clone(),
        };
        let evaluation = match engine::watch::evaluate_named(wh.as_ref(), &opts).await {
            Ok(e) => e,
            Err(e) if e.is_input() => return Err(e.into()),
            Err(e) if cmd.once => return Ok(unreachable(&ServerError::from(e))),
            // Watching: a failed evaluation is reported, the next one runs.
            Err(e) => {
                eprintln!("error: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(every)).await;
                continue;
            }
        };
        print_evaluation(&pipeline, &evaluation, cmd.format)?;
        if cmd.once {
            return Ok(if evaluation.open().next().is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(every)).await;
    }
}

/// `watch` while a server holds the embedded store: the server evaluates
/// (one evaluator: its lease), the same output and exit codes.
async fn watch_through(
    pipeline: &Pipeline,
    remote: &crate::remote::Remote,
    cmd: &WatchCmd,
) -> Result<ExitCode> {
    let request = crate::watch_api::EvaluateRequest {
        start: cmd.start_date.clone(),
        end: cmd.end_date.clone(),
        as_of: cmd.as_of.clone(),
    };
    loop {
        let evaluation = match remote.evaluate(&request).await {
            Ok(e) => e,
            Err(e) if e.is_input() => return Err(e),
            Err(e) if cmd.once => return Ok(unreachable(&e)),
            Err(e) => {
                eprintln!("error: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                continue;
            }
        };
        print_evaluation(pipeline, &evaluation, cmd.format)?;
        if cmd.once {
            return Ok(if evaluation.open().next().is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        let every = pipeline.watch.clone().unwrap_or_default().every_secs;
        tokio::time::sleep(std::time::Duration::from_secs(every)).await;
    }
}

fn unreachable(e: &ServerError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(UNREACHABLE)
}

/// `--as-of`: RFC 3339, or a naive date-time or date taken as UTC.
pub(crate) fn parse_as_of(raw: &str) -> std::result::Result<NaiveDateTime, DomainError> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.naive_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(t);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    Err(DomainError::BadParameter {
        name: "as-of",
        message: format!(
            "{:?}: a time such as 2021-11-11T10:00:00Z (UTC unless an offset is given)",
            raw.chars().take(40).collect::<String>()
        ),
    })
}

pub(crate) use domain::watch::parse_since;

#[derive(Serialize)]
struct CellLine<'a> {
    evaluation: &'a str,
    change: &'static str,
    processor: &'a str,
    date: NaiveDate,
    expected: i64,
    unaccounted: i64,
    investigate: i64,
    expected_failures: i64,
    late: bool,
    open_since: NaiveDateTime,
    open_entities: i64,
    entities: &'a [String],
    new_entities: &'a [String],
    resolved_entities: &'a [String],
}

fn line<'a>(pipeline: &'a Pipeline, evaluation: &'a str, c: &'a WatchedCell) -> CellLine<'a> {
    CellLine {
        evaluation,
        change: c.change.word(),
        processor: pipeline.code(c.processor),
        date: c.date,
        expected: c.expected,
        unaccounted: c.unaccounted,
        investigate: c.investigate,
        expected_failures: c.expected_failures,
        late: c.late,
        open_since: c.open_since,
        open_entities: c.open_entities,
        entities: &c.entities,
        new_entities: &c.new_entities,
        resolved_entities: &c.resolved_entities,
    }
}

/// A few names, then how many more.
fn names(list: &[String], total: i64) -> String {
    let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
    let more = total - shown.len() as i64;
    match (shown.is_empty(), more > 0) {
        (true, _) => "-".into(),
        (false, true) => format!("{} (+{more})", shown.join(", ")),
        (false, false) => shown.join(", "),
    }
}

fn table(pipeline: &Pipeline, cells: &[(&str, &WatchedCell)]) -> String {
    let mut out = format!(
        "{:<9} {:<18} {:>11} {:>11} {:>5}  {}\n",
        "change",
        "cell",
        "unaccounted",
        "investigate",
        "late",
        pipeline.universe.entities()
    );
    for (_, c) in cells {
        let who = match c.change {
            Change::Resolved => format!(
                "resolved: {}",
                names(&c.resolved_entities, c.resolved_entities.len() as i64)
            ),
            Change::Opened | Change::Worse | Change::Open => {
                let new = if c.new_entities.is_empty() || c.change == Change::Opened {
                    String::new()
                } else {
                    format!(
                        "  new: {}",
                        names(&c.new_entities, c.new_entities.len() as i64)
                    )
                };
                format!("{}{new}", names(&c.entities, c.open_entities))
            }
        };
        out += &format!(
            "{:<9} {:<18} {:>11} {:>11} {:>5}  {who}\n",
            c.change.word(),
            c.key(pipeline),
            c.unaccounted,
            c.investigate,
            if c.late { "late" } else { "-" },
        );
    }
    out
}

fn print_evaluation(
    pipeline: &Pipeline,
    e: &engine::watch::Evaluation,
    format: Format,
) -> Result<()> {
    let id = e.record.id.as_str();
    match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                evaluation: &'a warehouse::EvaluationRecord,
                previous: Option<&'a str>,
                cells: Vec<CellLine<'a>>,
            }
            let out = Out {
                evaluation: &e.record,
                previous: e.previous.as_ref().map(|p| p.id.as_str()),
                cells: e.cells.iter().map(|c| line(pipeline, id, c)).collect(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| ServerError::failed("JSON", e))?
            );
        }
        Format::Table => {
            let r = &e.record;
            println!(
                "evaluation {id} as of {} UTC over {} – {} ({} ms); previous: {}",
                r.as_of.format("%Y-%m-%d %H:%M"),
                r.window_start,
                r.window_end,
                r.duration_ms,
                e.previous.as_ref().map_or("none".to_string(), |p| format!(
                    "{} as of {}",
                    p.id,
                    p.as_of.format("%Y-%m-%d %H:%M")
                ))
            );
            // The news; cells still open as before are counted below (JSON lists them).
            let cells: Vec<(&str, &WatchedCell)> = e.news().map(|c| (id, c)).collect();
            if !cells.is_empty() {
                print!("{}", table(pipeline, &cells));
            }
            let count = |k: Change| e.cells.iter().filter(|c| c.change == k).count();
            println!(
                "{} open cells: {} opened, {} worse, {} still open; {} resolved",
                e.open().count(),
                count(Change::Opened),
                count(Change::Worse),
                count(Change::Open),
                count(Change::Resolved)
            );
        }
    }
    Ok(())
}

pub(crate) async fn run_changes(config: &Config, cmd: ChangesCmd) -> Result<ExitCode> {
    let since = parse_since(&cmd.since)?;
    let pipeline = config.pipeline();
    let feed = match super::running_server(&config.store).await {
        Some(remote) => remote.changes(&cmd.since).await?,
        None => {
            let wh = open_store(config, Create::No).await?;
            engine::watch::changes(wh.as_ref(), chrono::Utc::now().naive_utc() - since).await?
        }
    };
    match cmd.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                since: NaiveDateTime,
                news: Vec<CellLine<'a>>,
                still_open: Vec<CellLine<'a>>,
            }
            let out = Out {
                since: feed.since,
                news: feed
                    .news
                    .iter()
                    .map(|l| line(&pipeline, &l.evaluation, &l.cell))
                    .collect(),
                still_open: feed
                    .still_open
                    .iter()
                    .map(|l| line(&pipeline, &l.evaluation, &l.cell))
                    .collect(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| ServerError::failed("JSON", e))?
            );
        }
        Format::Table => {
            println!(
                "changes since {} UTC ({} evaluations)",
                feed.since.format("%Y-%m-%d %H:%M"),
                feed.evaluations
            );
            let news: Vec<(&str, &WatchedCell)> = feed
                .news
                .iter()
                .map(|l| (l.evaluation.as_str(), &l.cell))
                .collect();
            if news.is_empty() {
                println!("nothing opened, got worse or resolved");
            } else {
                print!("{}", table(&pipeline, &news));
            }
            println!(
                "{} cells still open at the latest evaluation",
                feed.still_open.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_and_since_take_what_a_person_types_and_name_themselves_otherwise() {
        let t = parse_as_of("2021-11-11T10:00:00Z").unwrap();
        assert_eq!(t.to_string(), "2021-11-11 10:00:00");
        assert_eq!(parse_as_of("2021-11-11T12:00:00+02:00").unwrap(), t);
        assert_eq!(parse_as_of("2021-11-11 10:00").unwrap(), t);
        assert_eq!(
            parse_as_of("2021-11-11").unwrap().to_string(),
            "2021-11-11 00:00:00"
        );
        for bad in ["", "yesterday", "2021-13-01", "2021-11-11T25:00"] {
            let e = parse_as_of(bad).unwrap_err().to_string();
            assert!(e.starts_with("as-of:"), "{e}");
        }
        assert_eq!(parse_since("24h").unwrap(), chrono::Duration::hours(24));
        assert_eq!(parse_since("7d").unwrap(), chrono::Duration::days(7));
        for bad in ["", "h", "0h", "-1d", "24", "1y", "99999999999d"] {
            let e = parse_since(bad).unwrap_err().to_string();
            assert!(e.starts_with("since:"), "{bad}: {e}");
        }
    }
}
