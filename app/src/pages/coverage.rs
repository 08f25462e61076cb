use domain::report::Overview;
use leptos::prelude::*;
use leptos_meta::Meta;
use leptos_router::hooks::use_query_map;

use crate::api::{cell_detail, coverage_heatmap, coverage_overview, jobs_list, RerunForm};
use crate::components::{
    poll_while, CellDetailView, CellPicker, CopyLink, DateRangeForm, ErrorMessage, Heatmap, Legend,
    SummaryTable,
};
use crate::view_query::ViewQuery;

/// `/?start=&end=&p=&cell=&cat=&q=&offset=`: the coverage page. Everything it
/// shows is derived from the URL query, so a copied link reproduces the view.
#[component]
pub fn CoveragePage() -> impl IntoView {
    let query = use_query_map();
    let view_state = Memo::new(move |_| ViewQuery::from_params(&query.read()));
    let grid = crate::wire::page_resource(
        move || {
            let v = view_state.get();
            let p = v.processor_list();
            (v.start, v.end, p)
        },
        |(s, e, p)| coverage_heatmap(s, e, p),
    );
    let overview = crate::wire::page_resource(
        move || {
            let v = view_state.get();
            (v.start, v.end)
        },
        |(s, e)| coverage_overview(s, e),
    );
    let detail = crate::wire::page_resource(
        move || {
            let v = view_state.get();
            (v.cell, v.category, v.search, v.offset, v.unaccounted_offset)
        },
        |(cell, cat, q, offset, uoffset)| async move {
            match cell {
                None => None,
                Some(cell) => Some(cell_detail(cell, cat, q, offset, uoffset).await),
            }
        },
    );

    // While a job runs, the grid refreshes as its cells complete (and once
    // more after it ends).
    let jobs = crate::wire::page_resource(|| (), |_| jobs_list());
    let was_active = StoredValue::new(false);
    let running = move || {
        let now = jobs
            .get_untracked()
            .and_then(|r| r.ok())
            .is_some_and(|js| js.iter().any(|j| j.active));
        let before = was_active.get_value();
        was_active.set_value(now);
        now || before
    };
    poll_while(
        running,
        move || {
            grid.refetch();
            jobs.refetch();
        },
        2000,
    );
    let picker = CellPicker::new();

    view! {
        <h1 class="rc-title">"Coverage"</h1>
        <Transition fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let v = view_state.get_untracked();
                match grid.await {
                    Ok(grid) => {
                        let (s, e) = (grid.range.start().to_string(), grid.range.end().to_string());
                        let image = format!("/report.png?start={s}&end={e}");
                        let export_query = format!(
                            "start={s}&end={e}{}",
                            v.processor_list().map(|p| format!("&p={p}")).unwrap_or_default()
                        );
                        // Static markup as one string: three links hydrate as one node.
                        let exports = format!(
                            "<a href=\"/report.csv?{q}\">CSV</a> <a href=\"/report.png?{q}\">PNG</a> \
                             <a href=\"/snapshots/new?{q}\" rel=\"external\">Freeze</a>",
                            q = crate::components::attr(&export_query)
                        );
                        let headline = domain::report::unaccounted_headline(
                            &crate::pipeline().universe,
                            grid.unaccounted(),
                            grid.unaccounted_not_run(),
                        );
                        view! {
                            <Meta property="og:image" content=image.clone()/>
                            <Meta name="twitter:image" content=image/>
                            <DateRangeForm start=s.clone() end=e.clone() view=v.clone()/>
                            <p class="rc-headline">
                                {format!("{s} – {e}: ")}<strong>{headline}</strong>" "
                                <CopyLink/>" "
                                <span inner_html=exports></span>
                            </p>
                            <RerunBar grid=grid.clone() picker=picker/>
                            <Heatmap grid=grid.clone() view=v.clone() picker=picker/>
                            <Legend/>
                            <SummaryTable grid=grid/>
                        }
                            .into_any()
                    }
                    Err(err) => {
                        view! {
                            <DateRangeForm
                                start=v.start.clone().unwrap_or_default()
                                end=v.end.clone().unwrap_or_default()
                                view=v.clone()
                            />
                            <ErrorMessage error=err/>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let v = view_state.get_untracked();
                match detail.await {
                    None => ().into_any(),
                    Some(Ok(d)) => view! { <CellDetailView detail=d view=v/> }.into_any(),
                    Some(Err(err)) => view! { <ErrorMessage error=err/> }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <OverviewSection overview=o/> }.into_any(),
                    Err(_) => ().into_any(),
                }
            })}
        </Suspense>
    }
}

/// Re-run entry points: every not-OK cell in view (a plain link, works
/// without JavaScript), or the cells picked on the heatmap.
#[component]
fn RerunBar(grid: domain::report::DrawnGrid, picker: CellPicker) -> impl IntoView {
    // Observed processors are reconciled, never run.
    let runnable = |p: &domain::ProcessorId| crate::spec(p).runner.runs_here();
    let codes: Vec<&str> = grid
        .processors
        .iter()
        .filter(|p| runnable(p))
        .map(|p| crate::code(p))
        .collect();
    let gaps = RerunForm {
        p: codes.join(","),
        start: Some(grid.range.start().to_string()),
        end: Some(grid.range.end().to_string()),
        mode: Some("gaps".into()),
        ..RerunForm::default()
    };
    let not_ok: usize = grid
        .processors
        .iter()
        .filter(|p| runnable(p))
        .map(|p| grid.gaps(*p))
        .sum();
    let selected = move || {
        let picked = picker.picked.get();
        (!picked.is_empty()).then(|| {
            let mut procs: Vec<domain::ProcessorId> = Vec::new();
            let mut dates: Vec<String> = Vec::new();
            for key in &picked {
                let Ok(cell) = domain::report::CellKey::parse(crate::pipeline(), key) else {
                    continue;
                };
                if runnable(&cell.processor) && !procs.contains(&cell.processor) {
                    procs.push(cell.processor);
                }
                let date = cell.date.to_string();
                if !dates.contains(&date) {
                    dates.push(date);
                }
            }
            procs.sort_by_key(|p| p.order());
            dates.sort();
            let form = RerunForm {
                p: procs
                    .iter()
                    .map(|p| crate::code(p))
                    .collect::<Vec<_>>()
                    .join(","),
                dates: Some(dates.join(",")),
                mode: Some("gaps".into()),
                ..RerunForm::default()
            };
            let href = form.href();
            let label = format!("Re-run selected ({})", picked.len());
            view! { <a href=href class="rc-button">{label}</a> }
        })
    };
    view! {
        <div class="rc-rerun-bar" role="group" aria-label="Re-run">
            <a href=gaps.href() class="rc-button">{format!("Re-run not-OK cells in view ({not_ok})")}</a>
            <label class="rc-check">
                <input
                    type="checkbox"
                    prop:checked=move || picker.picking.get()
                    on:change=move |ev| picker.picking.set(event_target_checked(&ev))
                />
                "Select cells (shift-click for a run)"
            </label>
            {selected}
        </div>
    }
}

/// What an empty range says, in the pipeline's words.
fn empty_range_text(range_label: &str) -> String {
    let u = &crate::pipeline().universe;
    if u.is_nba() {
        format!(
            "No games between {range_label}. Load the demo season with `rollcall demo` \
             or import box scores with `rollcall import player-game-summary`."
        )
    } else {
        format!(
            "Nothing expected between {range_label}: {} has no rows there. Load its demo \
             with `rollcall demo` or its rows with `rollcall import universe`.",
            u.table
        )
    }
}

#[component]
fn OverviewSection(overview: Overview) -> impl IntoView {
    let range_label = format!("{} – {}", overview.range.start(), overview.range.end());
    if overview.dates.is_empty() {
        return view! {
            <section class="rc-empty" aria-label="Coverage summary">
                <p>{empty_range_text(&range_label)}</p>
                <TableCounts overview=overview.clone()/>
            </section>
        }
        .into_any();
    }
    let universe = &crate::pipeline().universe;
    // The NBA box scores count games; another universe, its rows.
    let nba = universe.is_nba();
    let summary = if nba {
        format!(
            "{} game dates, {} games, {} expected player-games",
            overview.dates.len(),
            overview.total_games(),
            overview.total_expected()
        )
    } else {
        format!(
            "{} dates, {} rows, {} expected {}-dates",
            overview.dates.len(),
            overview.total_games(),
            overview.total_expected(),
            universe.entity()
        )
    };
    let (dates_label, rows_label) = if nba {
        ("Game dates", "Box-score rows")
    } else {
        ("Dates", "Rows")
    };
    let expected_label = format!("Expected {}", universe.entities());
    // The per-date table and the table counts, folded under the summary line:
    // static markup built as a string (a season is 166 rows).
    let text = crate::components::text;
    let mut table = format!(
        "<table class=\"rc-table\" aria-label=\"{dates_label}\"><thead><tr><th scope=\"col\">Date</th>{}\
         <th scope=\"col\">{rows_label}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        if nba { "<th scope=\"col\">Games</th>" } else { "" },
        text(&expected_label)
    );
    for d in &overview.dates {
        let games = if nba {
            format!("<td class=\"rc-num\">{}</td>", d.games)
        } else {
            String::new()
        };
        table += &format!(
            "<tr><td>{}</td>{games}<td class=\"rc-num\">{}</td><td class=\"rc-num\">{}</td></tr>",
            d.game_date, d.player_rows, d.expected_players
        );
    }
    table.push_str(
        "</tbody></table><table class=\"rc-table rc-table-counts\" aria-label=\"Rows per table in range\">\
         <thead><tr><th scope=\"col\">Table</th><th scope=\"col\">Rows in range</th></tr></thead><tbody>",
    );
    for t in &overview.tables {
        table += &format!(
            "<tr><td><code>{}</code></td><td class=\"rc-num\">{}</td></tr>",
            text(&t.table),
            t.rows
        );
    }
    table.push_str("</tbody></table>");
    let upstream = crate::components::disclosure(
        &format!(
            "{dates_label} and table row counts ({} dates)",
            overview.dates.len()
        ),
        false,
        &table,
    );
    view! {
        <section class="rc-overview" aria-label="Coverage summary">
            <h2>"Upstream data"</h2>
            <p class="rc-summary">{range_label} ": " {summary}</p>
            // One line under the heatmap; the per-date table (a screen per
            // month) behind a disclosure that works without JavaScript.
            <div inner_html=upstream></div>
        </section>
    }
    .into_any()
}

#[component]
fn TableCounts(overview: Overview) -> impl IntoView {
    view! {
        <table class="rc-table rc-table-counts" aria-label="Rows per table in range">
            <thead>
                <tr>
                    <th scope="col">"Table"</th>
                    <th scope="col">"Rows in range"</th>
                </tr>
            </thead>
            <tbody>
                {overview
                    .tables
                    .into_iter()
                    .map(|t| {
                        view! {
                            <tr>
                                <td>
                                    <code>{t.table}</code>
                                </td>
                                <td class="rc-num">{t.rows}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
