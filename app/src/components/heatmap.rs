//! The coverage heatmap: one row per processor, one column per day, week or
//! month.

use chrono::{Datelike, NaiveDate};
use domain::report::{
    columns, CellCounts, CellKey, ColumnCell, DrawnGrid, Period, Reconciliation, NARROW_AFTER_DAYS,
};
use domain::ProcessorId;
use leptos::prelude::*;

use super::cell_picker::CellPicker;
use super::heatmap_cells::{
    marks, tooltip, write_cell, write_empty_cell, write_row_header, CellLink,
};
use crate::view_query::ViewQuery;

/// Rows = processors in DAG order; columns = the range's days (every day, so
/// NO_GAMES days show as empty), or its weeks or months when the days would
/// not fit (`domain::report::Period`). Each cell is a link — to its
/// drill-down, or for a week or month to that period's days: keyboard
/// reachable, and it works without JavaScript. Plain `<a>`s: the router
/// still navigates them in the page, and unlike its `<A>` they hydrate
/// without a reactive "current page" check each (thousands on a long range).
#[component]
pub fn Heatmap(grid: DrawnGrid, view: ViewQuery, picker: CellPicker) -> impl IntoView {
    let period = Period::for_range(grid.range);
    let narrow = period != Period::Day || grid.range.days() > NARROW_AFTER_DAYS;
    let class = if narrow {
        "rc-heatmap rc-heatmap-narrow"
    } else {
        "rc-heatmap"
    };
    // Short ranges use the page's width, up to 3 rem a day (a week is not
    // stretched into posters): their cells are large enough for the marks.
    let style = (!narrow).then(|| format!("width: min(100%, {}rem)", 7 + 3 * grid.range.days()));
    // Type-erased: the two grids' nested view types overflow the release
    // build's query depth when combined.
    let body = match period {
        Period::Day => {
            let late = grid.late().iter().copied().collect();
            view! { <DayColumns rec=grid.days() late view picker narrow/> }.into_any()
        }
        _ => view! { <PeriodColumns grid view period/> }.into_any(),
    };
    view! {
        <div class="rc-heatmap-wrap">
            <table class=class style=style aria-label="Coverage heatmap" data-period=period.name()>
                {body}
            </table>
        </div>
    }
    .into_any()
}

/// Group header cells (`label`, columns spanned) for consecutive equal labels.
fn spans(labels: impl IntoIterator<Item = String>) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for label in labels {
        match out.last_mut() {
            Some((l, n)) if *l == label => *n += 1,
            _ => out.push((label, 1)),
        }
    }
    out
}

fn group_header(groups: Vec<(String, usize)>) -> impl IntoView {
    groups
        .into_iter()
        .map(
            |(m, n)| view! { <th colspan=n.to_string() class="rc-month" scope="colgroup">{m}</th> },
        )
        .collect_view()
}

/// One column per day; narrow columns label only Mondays.
///
/// The cells are static markup: one click handler on the body picks cells
/// (event delegation), and one effect marks the picked ones, instead of a
/// listener and a reactive class per cell (a season of 40 processors is
/// 6 960 cells to hydrate).
#[component]
fn DayColumns(
    rec: Reconciliation,
    /// The cells past their deadline and not complete.
    late: std::collections::HashSet<(ProcessorId, NaiveDate)>,
    view: ViewQuery,
    picker: CellPicker,
    narrow: bool,
) -> impl IntoView {
    let dates: Vec<NaiveDate> = rec.range.iter().collect();
    let months = spans(dates.iter().map(|d| domain::display::month_year(*d)));
    let selected = view.cell.clone();
    let by_cell: std::collections::HashMap<(ProcessorId, NaiveDate), CellCounts> = rec
        .cells
        .iter()
        .map(|c| ((c.processor, c.date), c.clone()))
        .collect();
    // Each row's cell keys in date order: what a shift-click spans.
    let row_keys: std::collections::HashMap<ProcessorId, Vec<String>> = rec
        .processors
        .iter()
        .map(|p| {
            let keys = dates
                .iter()
                .filter(|d| by_cell.contains_key(&(*p, **d)))
                .map(|d| {
                    CellKey {
                        processor: *p,
                        date: *d,
                    }
                    .text(crate::pipeline())
                })
                .collect();
            (*p, keys)
        })
        .collect();
    let row_keys = StoredValue::new(row_keys);
    let body = NodeRef::<leptos::html::Tbody>::new();
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if !picker.picking.get_untracked() {
            return;
        }
        let Some(key) = clicked_cell(&ev) else {
            return;
        };
        let Ok(cell) = CellKey::parse(crate::pipeline(), &key) else {
            return;
        };
        ev.prevent_default();
        row_keys.with_value(|rows| {
            let row = rows.get(&cell.processor).map(Vec::as_slice).unwrap_or(&[]);
            picker.pick(&key, ev.shift_key(), row);
        });
    };
    // Marks the picked cells; runs again when the picks change or the grid
    // is drawn anew (a refetch builds a new body with no marks).
    Effect::new(move |shown: Option<Vec<String>>| {
        let now = picker.picked.get();
        if let Some(body) = body.get() {
            let mark = |key: &str, on: bool| {
                // Keys are `CODE:YYYY-MM-DD` (A-Z, 0-9, _, -, :): safe in a quoted selector.
                if let Ok(Some(td)) = body.query_selector(&format!("td[data-cell=\"{key}\"]")) {
                    let classes = td.class_list();
                    let _ = if on {
                        classes.add_1("rc-picked")
                    } else {
                        classes.remove_1("rc-picked")
                    };
                }
            };
            for k in shown.iter().flatten().filter(|k| !now.contains(k)) {
                mark(k, false);
            }
            for k in &now {
                mark(k, true);
            }
        }
        now
    });
    let mut rows = String::new();
    for p in &rec.processors {
        let p: ProcessorId = *p;
        write_row_header(&mut rows, p);
        for d in &dates {
            let d = *d;
            match by_cell.get(&(p, d)) {
                None => write_empty_cell(&mut rows, &format!("{} {d}", crate::code(p))),
                Some(c) => {
                    let key = CellKey {
                        processor: p,
                        date: d,
                    }
                    .text(crate::pipeline());
                    write_cell(
                        &mut rows,
                        &CellLink {
                            status: c.status(),
                            selected: selected.as_deref() == Some(key.as_str()),
                            coverage: c.coverage(),
                            data: ("data-cell", &key),
                            href: &view.with_cell(Some(key.clone())).href(),
                            label: &late_label(tooltip(c), late.contains(&(p, d))),
                            mark: &late_mark(marks(c), late.contains(&(p, d))),
                        },
                    );
                }
            }
        }
        rows.push_str("</tr>");
    }
    view! {
        <thead>
            <tr>
                <th></th>
                {group_header(months)}
            </tr>
            <tr>
                <th scope="col">"Processor"</th>
                {dates
                    .iter()
                    .map(|d| {
                        let monday = d.weekday() == chrono::Weekday::Mon;
                        let class = if monday { "rc-day rc-week-start" } else { "rc-day" };
                        let label = (!narrow || monday).then(|| d.day().to_string());
                        view! {
                            <th scope="col" class=class title=d.to_string()>
                                <span class="rc-day-label">{label}</span>
                            </th>
                        }
                    })
                    .collect_view()}
            </tr>
        </thead>
        <tbody node_ref=body on:click=on_click inner_html=rows></tbody>
    }
}

/// The key (`data-cell`) of the heatmap cell a click landed in, if any.
fn clicked_cell(ev: &leptos::ev::MouseEvent) -> Option<String> {
    use leptos::wasm_bindgen::JsCast;
    let target = ev.target()?.dyn_into::<leptos::web_sys::Element>().ok()?;
    target
        .closest("td[data-cell]")
        .ok()??
        .get_attribute("data-cell")
}

/// One column per week or month: the days' numbers summed, the worst day's
/// status and marks, a link to that period's days.
#[component]
fn PeriodColumns(grid: DrawnGrid, view: ViewQuery, period: Period) -> impl IntoView {
    let cols = columns(grid.range, period);
    let groups = spans(cols.iter().map(|c| match period {
        Period::Month => c.first.year().to_string(),
        _ => domain::display::month_year(c.first),
    }));
    let mut rows = String::new();
    for p in &grid.processors {
        write_row_header(&mut rows, *p);
        for cc in grid.columns_of(*p) {
            write_period_cell(&mut rows, &cc, period, &view);
        }
        rows.push_str("</tr>");
    }
    view! {
        <thead>
            <tr>
                <th></th>
                {group_header(groups)}
            </tr>
            <tr>
                <th scope="col">"Processor"</th>
                {cols
                    .iter()
                    .map(|c| {
                        let (label, title) = match period {
                            Period::Month => (
                                domain::display::month_abbreviation(c.first).chars().take(1).collect::<String>(),
                                format!("{} {}", domain::display::month_name(c.first), c.first.year()),
                            ),
                            _ => (String::new(), format!("week of {}", c.first)),
                        };
                        view! {
                            <th scope="col" class="rc-day" title=title>
                                <span class="rc-day-label">{label}</span>
                            </th>
                        }
                    })
                    .collect_view()}
            </tr>
        </thead>
        <tbody inner_html=rows></tbody>
    }
}

fn write_period_cell(out: &mut String, cc: &ColumnCell, period: Period, view: &ViewQuery) {
    let (first, last) = (cc.column.first, cc.column.last);
    let code = crate::code(cc.processor);
    let Some(worst) = &cc.worst else {
        return write_empty_cell(out, &format!("{code} {first} to {last}"));
    };
    let status = worst.status();
    let t = &cc.totals;
    let label = format!(
        "{code} {} {first} to {last} — worst {} on {}: {} dates, {} to look at; expected {}, record {}, failure {}, unaccounted {}, investigate {}, coverage {}",
        period.name(),
        status.code(),
        worst.date,
        cc.dates,
        cc.gaps,
        t.expected,
        t.has_record,
        t.has_failure,
        t.unaccounted,
        t.investigate,
        domain::display::percent(t.coverage)
    );
    write_cell(
        out,
        &CellLink {
            status,
            selected: false,
            coverage: t.coverage,
            data: ("data-column", &first.to_string()),
            href: &view
                .with_range(&first.to_string(), &last.to_string())
                .href(),
            label: &label,
            mark: &marks(worst),
        },
    );
}

/// A late cell (past its deadline, not complete) says so in its tooltip.
fn late_label(label: String, late: bool) -> String {
    if late {
        label + "; late: past its deadline"
    } else {
        label
    }
}

/// …and carries the clock mark.
fn late_mark(mark: String, late: bool) -> String {
    if late {
        mark + "⏰"
    } else {
        mark
    }
}
