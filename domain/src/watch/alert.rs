//! What an alert says (issue [M] 4): one message per evaluation and
//! channel, grouping the cells that opened, got worse or resolved, each
//! naming its entities and linking to its drill-down.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use super::{AlertOn, AlertSpec, Change, WatchedCell, CELLS_PER_MESSAGE, ENTITIES_PER_ALERT_CELL};
use crate::pipeline::Pipeline;

/// A cell an alert is about, with how it stood at the previous evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Newsworthy<'a> {
    pub now: &'a WatchedCell,
    pub before: Option<&'a WatchedCell>,
}

/// The cells of an evaluation `spec` alerts on: news whose trouble (now,
/// or before it resolved) is one the spec is `on`. Expected failures are
/// never trouble; a cell that stays the same is never news.
pub fn alerting<'a>(spec: &AlertSpec, news: &[Newsworthy<'a>]) -> Vec<Newsworthy<'a>> {
    news.iter()
        .filter(|n| n.now.change.is_news())
        .filter(|n| n.now.troubles(n.before).iter().any(|t| spec.on.contains(t)))
        .copied()
        .collect()
}

/// The drill-down of a cell, as an absolute link from `public_url`.
pub fn cell_url(public_url: &str, pipeline: &Pipeline, c: &WatchedCell) -> String {
    format!(
        "{}/?start={d}&end={d}&cell={code}:{d}",
        public_url.trim_end_matches('/'),
        d = c.date,
        code = pipeline.code(c.processor),
    )
}

/// One cell of the generic webhook's body (README documents the fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookCell {
    /// `opened`, `worse` or `resolved`.
    pub event: &'static str,
    /// `PDC:2021-11-10`: the same cell keeps the key across evaluations.
    pub dedup_key: String,
    pub processor: String,
    pub date: NaiveDate,
    pub expected: i64,
    pub unaccounted: i64,
    pub investigate: i64,
    pub expected_failures: i64,
    pub late: bool,
    /// Open entities now (all of them), and up to 20 of their names.
    pub open_entities: i64,
    pub entities: Vec<String>,
    pub new_entities: Vec<String>,
    pub resolved_entities: Vec<String>,
    /// For a resolved cell: how long it was open, in seconds.
    pub open_for_seconds: Option<i64>,
    pub url: String,
}

/// The generic webhook's body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookBody {
    pub evaluation: String,
    pub as_of: NaiveDateTime,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub cells: Vec<WebhookCell>,
}

fn first(names: &[String]) -> Vec<String> {
    names
        .iter()
        .take(ENTITIES_PER_ALERT_CELL)
        .cloned()
        .collect()
}

/// The webhook body for `cells` (every one of them: a machine reads it).
#[allow(clippy::too_many_arguments)]
pub fn webhook_body(
    pipeline: &Pipeline,
    public_url: &str,
    evaluation: &str,
    as_of: NaiveDateTime,
    window: (NaiveDate, NaiveDate),
    cells: &[Newsworthy<'_>],
) -> WebhookBody {
    WebhookBody {
        evaluation: evaluation.to_string(),
        as_of,
        window_start: window.0,
        window_end: window.1,
        cells: cells
            .iter()
            .map(|n| {
                let c = n.now;
                WebhookCell {
                    event: c.change.word(),
                    dedup_key: c.key(pipeline),
                    processor: pipeline.code(c.processor).to_string(),
                    date: c.date,
                    expected: c.expected,
                    unaccounted: c.unaccounted,
                    investigate: c.investigate,
                    expected_failures: c.expected_failures,
                    late: c.late,
                    open_entities: c.open_entities,
                    entities: first(&c.entities),
                    new_entities: first(&c.new_entities),
                    resolved_entities: first(&c.resolved_entities),
                    open_for_seconds: (c.change == Change::Resolved)
                        .then(|| (as_of - c.open_since).num_seconds()),
                    url: cell_url(public_url, pipeline, c),
                }
            })
            .collect(),
    }
}

/// A cell's line in a chat message: `PDC 2021-11-10: 3 players unaccounted
/// (opened): ann, bob, cy <link>`.
fn chat_line(
    pipeline: &Pipeline,
    public_url: &str,
    as_of: NaiveDateTime,
    n: &Newsworthy<'_>,
) -> String {
    let c = n.now;
    let entities = pipeline.universe.entities();
    let mut what = Vec::new();
    if c.unaccounted > 0 {
        what.push(format!("{} {entities} unaccounted", c.unaccounted));
    }
    if c.investigate > 0 {
        what.push(format!("{} to investigate", c.investigate));
    }
    if c.late {
        what.push("late".to_string());
    }
    let names = |list: &[String], total: usize| {
        let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
        let more = total.saturating_sub(shown.len());
        if more > 0 {
            format!("{}, … (+{more})", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let detail = match c.change {
        Change::Resolved => {
            let hours = (as_of - c.open_since).num_minutes() as f64 / 60.0;
            format!(
                "resolved after {hours:.1} h: {}",
                names(&c.resolved_entities, c.resolved_entities.len())
            )
        }
        Change::Opened => format!(
            "{} (opened): {}",
            what.join(", "),
            names(&c.entities, c.open_entities.max(0) as usize)
        ),
        Change::Worse | Change::Open => {
            let new = if c.new_entities.is_empty() {
                names(&c.entities, c.open_entities.max(0) as usize)
            } else {
                format!("new: {}", names(&c.new_entities, c.new_entities.len()))
            };
            format!("{} (worse): {new}", what.join(", "))
        }
    };
    format!(
        "• {} {}: {detail} <{}>",
        pipeline.code(c.processor),
        c.date,
        cell_url(public_url, pipeline, c)
    )
}

/// A chat message (Slack, Teams): up to [`CELLS_PER_MESSAGE`] lines, then
/// "and N more".
pub fn chat_text(
    pipeline: &Pipeline,
    public_url: &str,
    as_of: NaiveDateTime,
    cells: &[Newsworthy<'_>],
) -> String {
    let opened = cells
        .iter()
        .filter(|n| n.now.change != Change::Resolved)
        .count();
    let resolved = cells.len() - opened;
    let mut text = format!(
        "Rollcall: {opened} cell{} opened or got worse, {resolved} resolved",
        if opened == 1 { "" } else { "s" }
    );
    for n in cells.iter().take(CELLS_PER_MESSAGE) {
        text.push('\n');
        text.push_str(&chat_line(pipeline, public_url, as_of, n));
    }
    if cells.len() > CELLS_PER_MESSAGE {
        text.push_str(&format!("\n… and {} more", cells.len() - CELLS_PER_MESSAGE));
    }
    text
}

/// What a troubled cell is about, for `on` filters: the kinds it has now or
/// had before it resolved.
pub fn kinds(n: &Newsworthy<'_>) -> Vec<AlertOn> {
    n.now.troubles(n.before).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::WatchedCell;

    fn cell(day: u32, change: Change, names: &[&str]) -> WatchedCell {
        let d = NaiveDate::from_ymd_opt(2021, 11, day).unwrap();
        WatchedCell {
            processor: crate::ProcessorId::at(1),
            date: d,
            expected: 10,
            records: 7,
            expected_failures: 0,
            investigate: 0,
            unaccounted: if change == Change::Resolved {
                0
            } else {
                names.len() as i64
            },
            late: false,
            change,
            open_since: d.and_hms_opt(9, 0, 0).unwrap(),
            entities: names.iter().map(|s| s.to_string()).collect(),
            open_entities: names.len() as i64,
            new_entities: Vec::new(),
            resolved_entities: if change == Change::Resolved {
                names.iter().map(|s| s.to_string()).collect()
            } else {
                Vec::new()
            },
            names_key: None,
        }
    }

    #[test]
    fn a_chat_message_lists_ten_cells_then_how_many_more_each_naming_and_linking() {
        let pipeline = crate::pipeline::nba();
        let cells: Vec<WatchedCell> = (1..=12)
            .map(|day| {
                cell(
                    day,
                    Change::Opened,
                    &["lebronjames", "stephcurry", "kdurant"],
                )
            })
            .chain([cell(20, Change::Resolved, &["ann"])])
            .collect();
        let news: Vec<Newsworthy<'_>> = cells
            .iter()
            .map(|c| Newsworthy {
                now: c,
                before: None,
            })
            .collect();
        let as_of = NaiveDate::from_ymd_opt(2021, 11, 21)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let text = chat_text(&pipeline, "https://rollcall.example/", as_of, &news);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Rollcall: 12 cells opened or got worse, 1 resolved"
        );
        assert_eq!(
            lines[1],
            "• PDC 2021-11-01: 3 players unaccounted (opened): lebronjames, stephcurry, kdurant \
             <https://rollcall.example/?start=2021-11-01&end=2021-11-01&cell=PDC:2021-11-01>"
        );
        assert_eq!(
            lines.len(),
            12,
            "a heading, ten cells, and the rest counted"
        );
        assert_eq!(lines[11], "… and 3 more");
        // The webhook carries every cell, each with its resolution time.
        let body = webhook_body(
            &pipeline,
            "https://rollcall.example",
            "ev-1",
            as_of,
            (as_of.date(), as_of.date()),
            &news,
        );
        assert_eq!(body.cells.len(), 13);
        let resolved = body.cells.last().unwrap();
        assert_eq!(
            (resolved.event, resolved.open_for_seconds),
            ("resolved", Some(24 * 3600))
        );
        assert_eq!(resolved.dedup_key, "PDC:2021-11-20");
    }
}
