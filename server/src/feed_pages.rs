//! `/changes` (issue [M] 2) and `/alerts` (issue [M] 4): plain pages the
//! server renders, as `/legend` is. They need no script, and the hydrate
//! bundle carries none of their code (issue [I]'s size budget): what
//! opened, got worse or resolved since a moment, each cell linking to its
//! drill-down, then what is still open; and every alert delivery.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::pipeline::{capitalised, Pipeline};
use domain::watch::{Change, FeedLine};

use crate::AppState;

pub(crate) fn escape(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

pub(crate) fn attribute(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// `2021-11-10 08:30`.
pub(crate) fn minutes(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// The document around a page: the app's stylesheet and header.
pub(crate) fn document(state: &AppState, title: &str, body: &str) -> String {
    let o = &state.leptos_options;
    let entity = state
        .server
        .warehouse
        .pipeline()
        .universe
        .entity()
        .to_string();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>Rollcall: {title}</title>\
         <link rel=\"stylesheet\" href=\"/{pkg}/{name}.css\"></head><body>\
         <header class=\"rc-header\"><a class=\"rc-brand\" href=\"/\">Rollcall</a>\
         <span class=\"rc-tagline\">every expected {entity} answers roll call</span>\
         <nav class=\"rc-nav\" aria-label=\"Main\"><a href=\"/\">Coverage</a><a href=\"/jobs\">Jobs</a>\
         <a href=\"/changes\">Changes</a><a href=\"/alerts\">Alerts</a>\
         <a href=\"/acknowledgements\">Known gaps</a><a href=\"/snapshots\">Snapshots</a></nav></header>\
         <main class=\"rc-main\"><h1 class=\"rc-title\">{title}</h1>{body}</main></body></html>",
        title = escape(title),
        pkg = attribute(&o.site_pkg_dir),
        name = attribute(&o.output_name),
        entity = escape(&entity),
    )
}

pub(crate) fn html(status: StatusCode, page: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// A few names, then how many more.
fn names(list: &[String], total: i64) -> String {
    let shown: Vec<&str> = list.iter().take(8).map(String::as_str).collect();
    let more = total - shown.len() as i64;
    match (shown.is_empty(), more > 0) {
        (true, _) => "–".into(),
        (false, true) => format!("{} and {more} more", shown.join(", ")),
        (false, false) => shown.join(", "),
    }
}

fn feed_table(pipeline: &Pipeline, label: &str, lines: &[FeedLine]) -> String {
    let mut out = format!(
        "<table class=\"rc-table\" aria-label=\"{label}\"><thead><tr>\
         <th scope=\"col\">Change</th><th scope=\"col\">Cell</th>\
         <th scope=\"col\">Unaccounted</th><th scope=\"col\">Investigate</th>\
         <th scope=\"col\">Late</th><th scope=\"col\">{entities}</th></tr></thead><tbody>",
        entities = escape(&capitalised(&pipeline.universe.entities())),
    );
    for FeedLine { cell: c, .. } in lines {
        let code = pipeline.code(c.processor);
        let who = match c.change {
            Change::Resolved => format!(
                "resolved: {}",
                names(&c.resolved_entities, c.resolved_entities.len() as i64)
            ),
            Change::Worse if !c.new_entities.is_empty() => {
                format!(
                    "new: {}",
                    names(&c.new_entities, c.new_entities.len() as i64)
                )
            }
            Change::Opened | Change::Worse | Change::Open => names(&c.entities, c.open_entities),
        };
        let _ = write!(
            out,
            "<tr><td class=\"rc-change rc-change-{word}\">{word}</td>\
             <td><a href=\"/?start={d}&amp;end={d}&amp;cell={code}:{d}\">{code} {d}</a></td>\
             <td class=\"rc-num\">{u}</td><td class=\"rc-num\">{i}</td><td>{late}</td><td>{who}</td></tr>",
            word = c.change.word(),
            d = c.date,
            code = escape(code),
            u = c.unaccounted,
            i = c.investigate,
            late = if c.late { "late" } else { "–" },
            who = escape(&who),
        );
    }
    out.push_str("</tbody></table>");
    out
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SinceQuery {
    pub since: Option<String>,
}

/// `GET /changes?since=24h`
pub async fn changes(State(state): State<AppState>, Query(q): Query<SinceQuery>) -> Response {
    let wh = state.server.views.as_ref();
    let pipeline = wh.pipeline().clone();
    let mut body = String::from("<nav class=\"rc-spans\" aria-label=\"Since\">");
    for (span, words) in [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")] {
        let _ = write!(body, "<a href=\"/changes?since={span}\">Last {words}</a>");
    }
    body.push_str("</nav>");
    match engine::watch::changes_since(wh, q.since.as_deref()).await {
        Err(e) => {
            let status = app::error::status_of(&e);
            let _ = write!(
                body,
                "<div class=\"rc-error\" role=\"alert\"><strong>Check the input</strong><p>{}</p></div>",
                escape(&e.to_string())
            );
            html(status, document(&state, "Changes", &body))
        }
        Ok(feed) => {
            let _ = write!(
                body,
                "<p>Since {} UTC: {} evaluation{}</p>",
                minutes(feed.since),
                feed.evaluations,
                if feed.evaluations == 1 { "" } else { "s" }
            );
            if feed.news.is_empty() {
                body.push_str("<p>Nothing opened, got worse or resolved.</p>");
            } else {
                body += &feed_table(&pipeline, "Changes", &feed.news);
            }
            let _ = write!(
                body,
                "<h2>Still open at the latest evaluation ({})</h2>",
                feed.still_open.len()
            );
            if !feed.still_open.is_empty() {
                body += &feed_table(&pipeline, "Still open", &feed.still_open);
            }
            html(StatusCode::OK, document(&state, "Changes", &body))
        }
    }
}

/// `GET /alerts`: the newest deliveries.
pub async fn alerts(State(state): State<AppState>) -> Response {
    let mut body = String::from(
        "<p>Every alert Rollcall sent (one per evaluation and channel with news), newest first.</p>",
    );
    match engine::watch::deliveries(state.server.views.as_ref(), 100).await {
        Err(e) => {
            let _ = write!(
                body,
                "<div class=\"rc-error\" role=\"alert\"><strong>Something went wrong</strong><p>{}</p></div>",
                escape(&e.to_string())
            );
            html(app::error::status_of(&e), document(&state, "Alerts", &body))
        }
        Ok(list) if list.is_empty() => {
            body.push_str(
                "<p>No alerts sent yet: declare [[alert]] channels in the pipeline file.</p>",
            );
            html(StatusCode::OK, document(&state, "Alerts", &body))
        }
        Ok(list) => {
            body.push_str(
                "<table class=\"rc-table\" aria-label=\"Alert deliveries\"><thead><tr>\
                 <th scope=\"col\">Sent (UTC)</th><th scope=\"col\">Channel</th>\
                 <th scope=\"col\">Cells</th><th scope=\"col\">Result</th>\
                 <th scope=\"col\">Attempts</th></tr></thead><tbody>",
            );
            for d in list {
                let result = match (d.http_status, &d.error) {
                    (Some(s), None) => format!("HTTP {s}"),
                    (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                    (None, Some(e)) => e.clone(),
                    (None, None) => "–".into(),
                };
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td class=\"rc-num\">{}</td><td>{}</td>\
                     <td class=\"rc-num\">{}</td></tr>",
                    minutes(d.sent_at),
                    escape(&d.channel),
                    d.cells,
                    escape(&result),
                    d.attempts
                );
            }
            body.push_str("</tbody></table>");
            html(StatusCode::OK, document(&state, "Alerts", &body))
        }
    }
}
