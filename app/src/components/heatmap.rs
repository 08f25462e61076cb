use chrono::{Datelike, NaiveDate};
use domain::report::{CellCounts, CellKey, CellStatus, Reconciliation};
use domain::ProcessorId;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::view_query::ViewQuery;

use crate::palette::coverage_colour;

/// The marks drawn in a cell, in a fixed order (also used by the legend).
pub fn marks(c: &CellCounts) -> String {
    let mut m = String::new();
    match c.status() {
        CellStatus::NotRun => m.push('∅'),
        CellStatus::Investigate => m.push('!'),
        CellStatus::DepsMissing => m.push('D'),
        _ => {}
    }
    if c.investigate > 0 && c.status() != CellStatus::Investigate {
        m.push('!');
    }
    if c.conflict > 0 {
        m.push('≠');
    }
    if c.cascade > 0 {
        m.push('↯');
    }
    m
}

pub fn tooltip(c: &CellCounts) -> String {
    format!(
        "{} {} — {}: expected {}, record {}, failure {}{}, unaccounted {}, investigate {}, conflict {}, cascade {}, coverage {:.1}%",
        c.processor.code(),
        c.date,
        c.status().code(),
        c.expected,
        c.has_record,
        c.has_failure,
        if c.date_level { " (date-level)" } else { "" },
        c.unaccounted,
        c.investigate,
        c.conflict,
        c.cascade,
        c.coverage() * 100.0
    )
}

/// Cells picked for a re-run on the heatmap (browser only): `picking` turns
/// clicks into picks; shift-click picks the run of cells in the same row since
/// the last pick.
#[derive(Debug, Clone, Copy)]
pub struct CellPicker {
    pub picking: RwSignal<bool>,
    pub picked: RwSignal<Vec<String>>,
    pub anchor: RwSignal<Option<String>>,
}

impl CellPicker {
    pub fn new() -> Self {
        Self {
            picking: RwSignal::new(false),
            picked: RwSignal::new(Vec::new()),
            anchor: RwSignal::new(None),
        }
    }

    /// Toggles `key`, or with `extend` adds the cells of `row` between the
    /// anchor and `key`.
    fn pick(&self, key: &str, extend: bool, row: &[String]) {
        let anchor = self.anchor.get_untracked();
        let span = anchor.as_ref().and_then(|a| {
            let i = row.iter().position(|k| k == a)?;
            let j = row.iter().position(|k| k == key)?;
            Some(row[i.min(j)..=i.max(j)].to_vec())
        });
        self.picked.update(|picked| match span.filter(|_| extend) {
            Some(span) => {
                for k in span {
                    if !picked.contains(&k) {
                        picked.push(k);
                    }
                }
            }
            None => match picked.iter().position(|k| k == key) {
                Some(i) => {
                    picked.remove(i);
                }
                None => picked.push(key.to_string()),
            },
        });
        self.anchor.set(Some(key.to_string()));
    }
}

impl Default for CellPicker {
    fn default() -> Self {
        Self::new()
    }
}

/// Rows = processors in DAG order, columns = dates (every day of the range, so
/// NO_GAMES days show as empty), grouped by month. Each cell is a link to its
/// drill-down: keyboard reachable, and it works without JavaScript.
#[component]
pub fn Heatmap(rec: Reconciliation, view: ViewQuery, picker: CellPicker) -> impl IntoView {
    let dates: Vec<NaiveDate> = rec.range.iter().collect();
    let mut months: Vec<(String, usize)> = Vec::new();
    for d in &dates {
        let label = d.format("%b %Y").to_string();
        match months.last_mut() {
            Some((l, n)) if *l == label => *n += 1,
            _ => months.push((label, 1)),
        }
    }
    let selected = view.cell.clone();
    let by_cell: std::collections::HashMap<(ProcessorId, NaiveDate), CellCounts> = rec
        .cells
        .iter()
        .map(|c| ((c.processor, c.date), c.clone()))
        .collect();
    let rows = rec
        .processors
        .iter()
        .map(|p| {
            let p: ProcessorId = *p;
            let row_keys: std::sync::Arc<Vec<String>> = std::sync::Arc::new(
                dates
                    .iter()
                    .filter(|d| by_cell.contains_key(&(p, **d)))
                    .map(|d| CellKey { processor: p, date: *d }.to_string())
                    .collect(),
            );
            let cells = dates
                .iter()
                .map(|d| {
                    let d = *d;
                    match by_cell.get(&(p, d)).cloned() {
                        None => {
                            let title = format!("{} {d}: no games", p.code());
                            view! { <td class="rc-cell rc-cell-nogames" title=title></td> }
                                .into_any()
                        }
                        Some(c) => {
                            let key = CellKey { processor: p, date: d }.to_string();
                            let is_selected = selected.as_deref() == Some(key.as_str());
                            let href = view.with_cell(Some(key.clone())).href();
                            let class = format!(
                                "rc-cell rc-status-{}{}",
                                c.status().code().to_lowercase(),
                                if is_selected { " rc-cell-selected" } else { "" }
                            );
                            let style = format!("background:{}", coverage_colour(c.coverage()));
                            let label = tooltip(&c);
                            let status = c.status().code();
                            let mark = marks(&c);
                            let (row, picked_key, click_key) =
                                (row_keys.clone(), key.clone(), key.clone());
                            let on_click = move |ev: leptos::ev::MouseEvent| {
                                if picker.picking.get_untracked() {
                                    ev.prevent_default();
                                    picker.pick(&click_key, ev.shift_key(), &row);
                                }
                            };
                            view! {
                                <td
                                    class=class
                                    class:rc-picked=move || picker.picked.with(|s| s.contains(&picked_key))
                                    style=style
                                    data-cell=key
                                    data-status=status
                                    on:click=on_click
                                >
                                    <A href=href attr:title=label.clone() attr:aria-label=label>
                                        {mark}
                                    </A>
                                </td>
                            }
                            .into_any()
                        }
                    }
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row" class="rc-heatmap-proc" title=p.name()>{p.code()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="rc-heatmap-wrap">
            <table class="rc-heatmap" aria-label="Coverage heatmap">
                <thead>
                    <tr>
                        <th></th>
                        {months
                            .into_iter()
                            .map(|(m, n)| {
                                view! { <th colspan=n.to_string() class="rc-month" scope="colgroup">{m}</th> }
                            })
                            .collect_view()}
                    </tr>
                    <tr>
                        <th scope="col">"Processor"</th>
                        {dates
                            .iter()
                            .map(|d| {
                                let class = if d.weekday() == chrono::Weekday::Mon {
                                    "rc-day rc-week-start"
                                } else {
                                    "rc-day"
                                };
                                view! {
                                    <th scope="col" class=class title=d.to_string()>
                                        {d.day().to_string()}
                                    </th>
                                }
                            })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[component]
pub fn Legend() -> impl IntoView {
    let ramp = [(0.0, "0 %"), (0.5, "50 %"), (0.9, "90 %"), (1.0, "100 %")];
    view! {
        <section class="rc-legend" aria-label="Legend">
            <span class="rc-legend-title">"Coverage "</span>
            {ramp
                .into_iter()
                .map(|(c, l)| view! { <span class="rc-swatch" style=format!("background:{}", coverage_colour(c))></span><span>{l}</span> })
                .collect_view()}
            <span class="rc-swatch rc-cell-nogames"></span><span>"no games"</span>
            <span class="rc-mark">"!"</span><span>"investigate"</span>
            <span class="rc-mark">"D"</span><span>"date-level failure"</span>
            <span class="rc-mark">"∅"</span><span>"not run"</span>
            <span class="rc-mark">"≠"</span><span>"conflict (record + failure)"</span>
            <span class="rc-mark">"↯"</span><span>"cascade (upstream missing)"</span>
        </section>
    }
}

fn bad(n: i64) -> &'static str {
    if n > 0 {
        "rc-num rc-bad"
    } else {
        "rc-num"
    }
}

/// The `--reconcile` totals per processor for the range.
#[component]
pub fn SummaryTable(rec: Reconciliation) -> impl IntoView {
    view! {
        <table class="rc-table" aria-label="Reconciliation summary">
            <thead>
                <tr>
                    <th scope="col">"Processor"</th>
                    <th scope="col">"Expected"</th>
                    <th scope="col">"Has Record"</th>
                    <th scope="col">"Has Failure"</th>
                    <th scope="col">"Unaccounted"</th>
                    <th scope="col">"Investigate"</th>
                    <th scope="col">"Coverage"</th>
                </tr>
            </thead>
            <tbody>
                {rec
                    .processors
                    .iter()
                    .map(|p| {
                        let t = rec.totals(*p);
                        view! {
                            <tr>
                                <th scope="row">{p.code()}</th>
                                <td class="rc-num">{t.expected}</td>
                                <td class="rc-num">{t.has_record}</td>
                                <td class="rc-num">{t.has_failure}</td>
                                <td class=bad(t.unaccounted)>{t.unaccounted}</td>
                                <td class=bad(t.investigate)>{t.investigate}</td>
                                <td class="rc-num">{format!("{:.1}%", t.coverage * 100.0)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
