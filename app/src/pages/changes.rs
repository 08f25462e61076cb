//! `/changes` (issue [M] 2): what opened, got worse or resolved across the
//! evaluations since a moment, with the entities that changed and a link
//! to each cell's drill-down; and `/alerts` (issue [M] 4): the alert
//! deliveries and how each ended.

use domain::watch::{Change, FeedLine};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{alert_deliveries, change_feed};
use crate::components::ErrorMessage;

/// The spans the page offers (any `since=…` a link carries works too).
const SPANS: [(&str, &str); 3] = [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")];

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

fn cell_href(code: &str, date: chrono::NaiveDate) -> String {
    format!("/?start={date}&end={date}&cell={code}:{date}")
}

fn rows(lines: Vec<FeedLine>) -> impl IntoView {
    lines
        .into_iter()
        .map(|l| {
            let c = l.cell;
            let code = crate::pipeline().code(c.processor).to_string();
            let who = match c.change {
                Change::Resolved => format!(
                    "resolved: {}",
                    names(&c.resolved_entities, c.resolved_entities.len() as i64)
                ),
                Change::Worse if !c.new_entities.is_empty() => format!(
                    "new: {}",
                    names(&c.new_entities, c.new_entities.len() as i64)
                ),
                Change::Opened | Change::Worse | Change::Open => names(&c.entities, c.open_entities),
            };
            view! {
                <tr>
                    <td class=format!("rc-change rc-change-{}", c.change.word())>{c.change.word()}</td>
                    <td><a href=cell_href(&code, c.date)>{format!("{code} {}", c.date)}</a></td>
                    <td class="rc-num">{c.unaccounted}</td>
                    <td class="rc-num">{c.investigate}</td>
                    <td>{if c.late { "late" } else { "–" }}</td>
                    <td>{who}</td>
                </tr>
            }
        })
        .collect_view()
}

fn table(label: &'static str, lines: Vec<FeedLine>) -> impl IntoView {
    let entities = crate::pipeline().universe.entities();
    view! {
        <table class="rc-table" aria-label=label>
            <thead>
                <tr>
                    <th scope="col">"Change"</th>
                    <th scope="col">"Cell"</th>
                    <th scope="col">"Unaccounted"</th>
                    <th scope="col">"Investigate"</th>
                    <th scope="col">"Late"</th>
                    <th scope="col">{domain::pipeline::capitalised(&entities)}</th>
                </tr>
            </thead>
            <tbody>{rows(lines)}</tbody>
        </table>
    }
}

/// `/changes?since=24h`
#[component]
pub fn ChangesPage() -> impl IntoView {
    let query = use_query_map();
    let since = move || query.read().get("since");
    let feed = crate::wire::page_resource(since, change_feed);
    view! {
        <h1 class="rc-title">"Changes"</h1>
        <nav class="rc-spans" aria-label="Since">
            {SPANS
                .map(|(span, words)| view! { <a href=format!("/changes?since={span}")>{format!("Last {words}")}</a> })
                .collect_view()}
        </nav>
        <Transition fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match feed.await {
                    Err(e) => view! { <ErrorMessage error=e/> }.into_any(),
                    Ok(feed) => {
                        let heading = format!(
                            "Since {} UTC: {} evaluation{}",
                            feed.since.format("%Y-%m-%d %H:%M"),
                            feed.evaluations,
                            if feed.evaluations == 1 { "" } else { "s" }
                        );
                        let open = feed.still_open.len();
                        view! {
                            <p>{heading}</p>
                            {if feed.news.is_empty() {
                                view! { <p>"Nothing opened, got worse or resolved."</p> }.into_any()
                            } else {
                                table("Changes", feed.news).into_any()
                            }}
                            <h2>{format!("Still open at the latest evaluation ({open})")}</h2>
                            {(open > 0).then(|| table("Still open", feed.still_open))}
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `/alerts`: the newest deliveries.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let deliveries = crate::wire::page_resource(|| (), |_| alert_deliveries());
    view! {
        <h1 class="rc-title">"Alerts"</h1>
        <p>"Every alert Rollcall sent (one per evaluation and channel with news), newest first."</p>
        <Transition fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match deliveries.await {
                    Err(e) => view! { <ErrorMessage error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p>"No alerts sent yet: declare [[alert]] channels in the pipeline file."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="rc-table" aria-label="Alert deliveries">
                            <thead>
                                <tr>
                                    <th scope="col">"Sent (UTC)"</th>
                                    <th scope="col">"Channel"</th>
                                    <th scope="col">"Cells"</th>
                                    <th scope="col">"Result"</th>
                                    <th scope="col">"Attempts"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|d| {
                                    let result = match (d.http_status, &d.error) {
                                        (Some(s), None) => format!("HTTP {s}"),
                                        (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                                        (None, Some(e)) => e.clone(),
                                        (None, None) => "–".into(),
                                    };
                                    view! {
                                        <tr>
                                            <td>{d.sent_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                            <td>{d.channel}</td>
                                            <td class="rc-num">{d.cells}</td>
                                            <td>{result}</td>
                                            <td class="rc-num">{d.attempts}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
