//! What the coverage page shows beside the heatmap: its legend and the
//! per-processor summary table.

use domain::report::DrawnGrid;
use leptos::prelude::*;

use crate::palette::coverage_colour;

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
