use leptos::prelude::*;
use leptos_router::components::{Form, A};

use crate::view_query::ViewQuery;

/// Season and month presets of the NBA demo's 2021-22 season (shown for
/// the NBA universe only).
const PRESETS: [(&str, &str, &str); 7] = [
    ("Season 2021-22", "2021-10-19", "2022-04-10"),
    ("Oct 2021", "2021-10-19", "2021-10-31"),
    ("Nov 2021", "2021-11-01", "2021-11-30"),
    ("Dec 2021", "2021-12-01", "2021-12-31"),
    ("Jan 2022", "2022-01-01", "2022-01-31"),
    ("Feb 2022", "2022-02-01", "2022-02-28"),
    ("Mar–Apr 2022", "2022-03-01", "2022-04-10"),
];

/// Start/end inputs and the processor filter, submitted as the page's URL
/// query. Without JavaScript it is a plain GET form; hydrated, the router turns
/// the submission into a client-side navigation.
#[component]
pub fn DateRangeForm(start: String, end: String, view: ViewQuery) -> impl IntoView {
    let all = view.processors.is_empty();
    let checked: Vec<(&'static str, bool)> = crate::pipeline()
        .processors
        .iter()
        .map(|p| {
            (
                p.code.as_str(),
                all || view
                    .processors
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(&p.code)),
            )
        })
        .collect();
    let pipeline = crate::pipeline();
    let presets: Vec<(&'static str, String)> = if pipeline.universe.is_nba() {
        PRESETS
            .iter()
            .map(|(label, s, e)| (*label, view.with_range(s, e).href()))
            .collect()
    } else {
        // Another pipeline's dates are its own: only its default view.
        pipeline
            .default_view
            .map(|r| {
                let (s, e) = (r.start().to_string(), r.end().to_string());
                ("Default view", view.with_range(&s, &e).href())
            })
            .into_iter()
            .collect()
    };
    view! {
        <Form method="GET" action="">
            <fieldset class="rc-range">
                <legend>"Date range"</legend>
                <label>
                    "Start date" <input type="date" name="start" value=start/>
                </label>
                <label>
                    "End date" <input type="date" name="end" value=end/>
                </label>
                <span class="rc-procs" role="group" aria-label="Processors">
                    {checked
                        .into_iter()
                        .map(|(code, checked)| {
                            view! {
                                <label class="rc-check">
                                    <input type="checkbox" name="p" value=code checked=checked/>
                                    {code}
                                </label>
                            }
                        })
                        .collect_view()}
                </span>
                <button type="submit">"Show"</button>
            </fieldset>
        </Form>
        <nav class="rc-presets" aria-label="Presets">
            {presets
                .into_iter()
                .map(|(label, href)| view! { <A href=href>{label}</A> })
                .collect_view()}
        </nav>
    }
}
