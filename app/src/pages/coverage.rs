use domain::report::Overview;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::coverage_overview;
use crate::components::{DateRangeForm, ErrorMessage};

/// `/?start=&end=`: the coverage page. Everything it shows is derived from the
/// URL query, so a copied link reproduces the view.
#[component]
pub fn CoveragePage() -> impl IntoView {
    let query = use_query_map();
    let start = move || query.read().get("start");
    let end = move || query.read().get("end");
    let overview = Resource::new(move || (start(), end()), |(s, e)| coverage_overview(s, e));

    view! {
        <h1 class="rc-title">"Coverage"</h1>
        <Suspense fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => {
                        let (s, e) = (o.range.start().to_string(), o.range.end().to_string());
                        view! {
                            <DateRangeForm start=s end=e/>
                            <OverviewSection overview=o/>
                        }
                            .into_any()
                    }
                    Err(err) => {
                        view! {
                            <DateRangeForm
                                start=start().unwrap_or_default()
                                end=end().unwrap_or_default()
                            />
                            <ErrorMessage error=err/>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn OverviewSection(overview: Overview) -> impl IntoView {
    let range_label = format!("{} – {}", overview.range.start(), overview.range.end());
    if overview.dates.is_empty() {
        return view! {
            <section class="rc-empty" aria-label="Coverage summary">
                <p>
                    "No games between " {range_label} ". "
                    "Load the demo season with " <code>"rollcall demo"</code>
                    " or import box scores with " <code>"rollcall import"</code> "."
                </p>
                <TableCounts overview=overview.clone()/>
            </section>
        }
        .into_any();
    }
    let summary = format!(
        "{} game dates, {} games, {} expected player-games",
        overview.dates.len(),
        overview.total_games(),
        overview.total_expected()
    );
    view! {
        <section class="rc-overview" aria-label="Coverage summary">
            <p class="rc-summary">{range_label} ": " {summary}</p>
            <table class="rc-table" aria-label="Game dates">
                <thead>
                    <tr>
                        <th scope="col">"Date"</th>
                        <th scope="col">"Games"</th>
                        <th scope="col">"Box-score rows"</th>
                        <th scope="col">"Expected players"</th>
                    </tr>
                </thead>
                <tbody>
                    {overview
                        .dates
                        .iter()
                        .map(|d| {
                            view! {
                                <tr>
                                    <td>{d.game_date.to_string()}</td>
                                    <td class="rc-num">{d.games}</td>
                                    <td class="rc-num">{d.player_rows}</td>
                                    <td class="rc-num">{d.expected_players}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <TableCounts overview=overview.clone()/>
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
