use std::fmt::Write;

use chrono::{Datelike, NaiveDate};
use domain::report::{
    columns, CellCounts, CellKey, CellStatus, ColumnCell, DrawnGrid, Period, Reconciliation,
    NARROW_AFTER_DAYS,
};
use domain::ProcessorId;
use leptos::prelude::*;

use crate::view_query::ViewQuery;

use crate::palette::coverage_colour;

/// The marks drawn in a cell, in a fixed order (also used by the legend).
pub fn marks(c: &CellCounts) -> String {
    let mut m = String::new();
    match c.status() {
        CellStatus::RunFailed => m.push('✗'),
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
    // A failed latest run leads: the counts below it are an older run's.
    let failed = c
        .failed_run()
        .map(|r| {
            let older = if c.serves_older_run() {
                " (rows shown are from an earlier run)"
            } else {
                ""
            };
            format!("; {}{older}", r.failure_summary())
        })
        .unwrap_or_default();
    format!(
        "{} {} — {}: expected {}, record {}, failure {}{}, unaccounted {}, investigate {}, conflict {}, cascade {}, coverage {}{failed}",
        crate::code(c.processor),
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
        domain::display::percent(c.coverage())
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
        Period::Day => view! { <DayColumns rec=grid.days() view picker narrow/> }.into_any(),
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
                            label: &tooltip(c),
                            mark: &marks(c),
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

/// A `<details>` disclosure (works without JavaScript) around `inner`, as
/// markup built as a string: static lists cost the bundle no view code.
pub fn disclosure(summary: &str, open: bool, inner: &str) -> String {
    format!(
        "<details class=\"rc-disclosure\"{}><summary>{}</summary>{inner}</details>",
        if open { " open" } else { "" },
        text(summary)
    )
}

/// `s` escaped for a double-quoted attribute of markup built as a string.
pub fn attr(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

/// `s` escaped as text of markup built as a string.
pub fn text(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_text(s)
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

/// What one heatmap cell links to and says.
struct CellLink<'a> {
    status: CellStatus,
    selected: bool,
    coverage: f64,
    /// The cell's data attribute: `data-cell` (a day) or `data-column`.
    data: (&'static str, &'a str),
    href: &'a str,
    label: &'a str,
    mark: &'a str,
}

// The grids' bodies are markup written as one string (escaped here):
// hydration takes it as it is instead of walking three nodes per cell, and
// the links and the delegated click handler work on it all the same.

fn write_row_header(out: &mut String, p: ProcessorId) {
    let _ = write!(
        out,
        r#"<tr><th scope="row" class="rc-heatmap-proc" title="{}">{}</th>"#,
        attr(crate::spec(p).name.as_str()),
        text(crate::code(p))
    );
}

/// A cell where nobody is expected; `what` names it (`PDC 2021-11-10`).
fn write_empty_cell(out: &mut String, what: &str) {
    let title = format!("{what}: {}", crate::pipeline().universe.nothing_expected());
    let _ = write!(
        out,
        r#"<td class="rc-cell rc-cell-nogames" title="{}"></td>"#,
        attr(&title)
    );
}

fn write_cell(out: &mut String, c: &CellLink<'_>) {
    let _ = write!(
        out,
        r#"<td class="rc-cell rc-status-{}{}" style="background:{}" {}="{}" data-status="{}"><a href="{}" title="{}" aria-label="{}">{}</a></td>"#,
        c.status.code().to_ascii_lowercase(),
        if c.selected { " rc-cell-selected" } else { "" },
        coverage_colour(c.coverage),
        c.data.0,
        attr(c.data.1),
        c.status.code(),
        attr(c.href),
        attr(c.label),
        attr(c.label),
        text(c.mark)
    );
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
            <span class="rc-swatch rc-cell-nogames"></span><span>{crate::pipeline().universe.nothing_expected()}</span>
            <span class="rc-mark">"!"</span><span>"investigate"</span>
            <span class="rc-mark">"D"</span><span>"date-level failure"</span>
            <span class="rc-mark">"✗"</span><span>"latest run failed (crash, timeout, bad output)"</span>
            <span class="rc-mark">"∅"</span><span>"not run"</span>
            <span class="rc-mark">"≠"</span><span>"conflict (record + failure)"</span>
            <span class="rc-mark">"↯"</span><span>"cascade (upstream missing)"</span>
            // Served apart (`/legend`, plain HTML from the server): the
            // explanations are text the bundle need not carry.
            <a href="/legend" rel="external">"What each status and category means"</a>
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
pub fn SummaryTable(grid: DrawnGrid) -> impl IntoView {
    view! {
        <table class="rc-table" aria-label="Reconciliation summary">
            <thead>
                <tr>
                    <th scope="col">"Processor"</th>
                    <th scope="col">"Expected"</th>
                    <th scope="col">"Has Record"</th>
                    <th scope="col">"Has Failure"</th>
                    <th scope="col">"Unaccounted"</th>
                    <th scope="col">"Of them, never run"</th>
                    <th scope="col">"Investigate"</th>
                    <th scope="col">"Coverage"</th>
                </tr>
            </thead>
            <tbody>
                {grid
                    .processors
                    .iter()
                    .map(|p| {
                        let t = grid.totals(*p);
                        view! {
                            <tr>
                                <th scope="row">{crate::code(p)}</th>
                                <td class="rc-num">{t.expected}</td>
                                <td class="rc-num">{t.has_record}</td>
                                <td class="rc-num">{t.has_failure}</td>
                                <td class=bad(t.unaccounted)>{t.unaccounted}</td>
                                <td class="rc-num">{t.unaccounted_not_run}</td>
                                <td class=bad(t.investigate)>{t.investigate}</td>
                                <td class="rc-num">{domain::display::percent(t.coverage)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body is written as markup: anything a pipeline file or a link
    /// puts in it arrives as text, never as markup.
    #[test]
    fn cell_markup_escapes_what_it_is_handed() {
        let hostile = r#"x" onmouseover="alert(1)<img src=x onerror=alert(2)>"#;
        let mut out = String::new();
        write_cell(
            &mut out,
            &CellLink {
                status: CellStatus::Untracked,
                selected: true,
                coverage: 0.5,
                data: ("data-cell", hostile),
                href: &format!("/?start=2021-11-01&cell={hostile}"),
                label: hostile,
                mark: "<b>!</b>",
            },
        );
        write_empty_cell(&mut out, hostile);
        assert!(!out.contains("<img") && !out.contains("<b>"), "{out}");
        assert!(!out.contains(r#"x" onmouseover"#), "{out}");
        assert!(out.contains("&lt;img src=x onerror=alert(2)&gt;"), "{out}");
        assert!(out.contains("&amp;cell="), "{out}");
        assert!(out.contains("&lt;b&gt;!&lt;/b&gt;</a></td>"), "{out}");
        // One link, two cells, the selected one marked.
        assert_eq!(out.matches("<a ").count(), 1);
        assert_eq!(out.matches("<td ").count(), 2);
        assert!(out.contains(r#"class="rc-cell rc-status-untracked rc-cell-selected""#));
    }

    /// Issue [Q] 1: a failed latest run has a mark of its own and its
    /// tooltip says when and why, and that the rows are an earlier run's.
    #[test]
    fn a_failed_run_is_marked_and_explained() {
        let mut c = CellCounts {
            processor: crate::pipeline().builtin(domain::Builtin::Pdc).unwrap(),
            date: NaiveDate::from_ymd_opt(2021, 11, 10).unwrap(),
            expected: 10,
            has_record: 4,
            has_failure: 0,
            date_level: false,
            unaccounted: 6,
            investigate: 0,
            runs: 2,
            conflict: 0,
            extra: 0,
            cascade: 0,
            failures_by_category: Default::default(),
            last_run: None,
        };
        assert_eq!(marks(&c), "");
        assert!(!tooltip(&c).contains("failed"));
        c.last_run = Some(domain::report::LastRun {
            run_id: "r2".into(),
            status: domain::report::RunStatus::Failed,
            started_at: NaiveDate::from_ymd_opt(2021, 11, 16)
                .unwrap()
                .and_hms_opt(9, 12, 0),
            error: Some("exited with exit status: 3; stderr: KeyError: 'minutes'".into()),
        });
        assert_eq!(marks(&c), "✗");
        let tip = tooltip(&c);
        assert!(tip.contains("RUN_FAILED"), "{tip}");
        assert!(
            tip.contains("latest run r2 failed at 2021-11-16 09:12:00"),
            "{tip}"
        );
        assert!(tip.contains("KeyError"), "{tip}");
        assert!(tip.contains("rows shown are from an earlier run"), "{tip}");
    }
}
