use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::{operator_access, rerun_preview, RerunForm, StartRerun};
use crate::components::{ErrorMessage, OperatorNote, PostForm};

/// `/rerun?p=PDC,PCF&dates=…|start=…&end=…&mode=gaps|all&downstream=yes|no`:
/// the re-run dialog, prefilled from a heatmap selection or a drill-down. Its
/// dry run lists the exact cells and expected players before anything is
/// written; Start queues the job and opens its page.
#[component]
pub fn RerunPage() -> impl IntoView {
    let query = use_query_map();
    let form = Memo::new(move |_| RerunForm::from_query(&query.read()));
    let preview = crate::wire::page_resource(move || form.get(), rerun_preview);
    let access = crate::wire::page_resource(|| (), |_| operator_access());
    let start = ServerAction::<StartRerun>::new();
    view! {
        <h1 class="rc-title">"Re-run"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                access.await.ok().map(|a| view! { <OperatorNote access=a/> })
            })}
        </Suspense>
        {move || view! { <RerunFields form=form.get()/> }}
        <Suspense fallback=|| view! { <p class="rc-loading">"Planning…"</p> }>
            {move || Suspend::new(async move {
                let f = form.get_untracked();
                // A viewer sees the plan, and why Start is off (the note above).
                let may_operate = access.await.map_or(true, |a| a.may_operate);
                match preview.await {
                    Err(e) => view! { <ErrorMessage error=e/> }.into_any(),
                    Ok(cells) => {
                        let players: i64 = cells.iter().map(|c| c.expected).sum();
                        let n = cells.len();
                        let entities = crate::pipeline().universe.entities();
                        // Per processor: cells, first and last date, entities.
                        // Per processor (cells come in dependency then date
                        // order): cells, first and last date, entities. A
                        // list, not a map: smaller in the bundle.
                        let mut per: Vec<(domain::ProcessorId, usize, chrono::NaiveDate, chrono::NaiveDate, i64)> = Vec::new();
                        for c in &cells {
                            match per.iter_mut().find(|e| e.0 == c.processor) {
                                Some(e) => {
                                    e.1 += 1;
                                    e.2 = e.2.min(c.date);
                                    e.3 = e.3.max(c.date);
                                    e.4 += c.expected;
                                }
                                None => per.push((c.processor, 1, c.date, c.date, c.expected)),
                            }
                        }
                        // Static rows: markup built as a string.
                        let mut summary_rows = String::new();
                        for (p, count, first, last, expected) in per {
                            summary_rows += &format!(
                                "<tr><th scope=\"row\">{}</th><td class=\"rc-num\">{count}</td>\
                                 <td>{first} – {last}</td><td class=\"rc-num\">{expected}</td></tr>",
                                crate::components::text(crate::code(p))
                            );
                        }
                        let many = n > 20;
                        let mut list = format!(
                            "<table class=\"rc-table\" aria-label=\"Cells to run\"><thead><tr>\
                             <th scope=\"col\">Processor</th><th scope=\"col\">Date</th>\
                             <th scope=\"col\">Expected {}</th></tr></thead><tbody>",
                            crate::components::text(&entities)
                        );
                        for c in &cells {
                            list += &format!(
                                "<tr><td>{}</td><td>{}</td><td class=\"rc-num\">{}</td></tr>",
                                crate::components::text(crate::code(c.processor)),
                                c.date,
                                c.expected
                            );
                        }
                        list.push_str("</tbody></table>");
                        let all_cells = crate::components::disclosure(
                            &format!("All {}", domain::report::cells(n)),
                            !many,
                            &list,
                        );
                        view! {
                            <section class="rc-preview" aria-label="Dry run">
                                <h2>"Dry run"</h2>
                                <p data-testid="preview-summary">
                                    {format!("{}, {players} expected {entities}. Nothing has been written yet.", domain::report::cells(n))}
                                </p>
                                <PostForm action=start input=StartRerun { form: f.clone() }>
                                    <input type="hidden" name="form[p]" value=f.p.clone()/>
                                    <input type="hidden" name="form[dates]" value=f.dates.clone().unwrap_or_default()/>
                                    <input type="hidden" name="form[start]" value=f.start.clone().unwrap_or_default()/>
                                    <input type="hidden" name="form[end]" value=f.end.clone().unwrap_or_default()/>
                                    <input type="hidden" name="form[mode]" value=f.mode.clone().unwrap_or_default()/>
                                    <input type="hidden" name="form[downstream]" value=f.downstream.clone().unwrap_or_default()/>
                                    <input type="hidden" name="form[stop_on]" value=f.stop_on.clone().unwrap_or_default()/>
                                    <button type="submit" disabled=n == 0 || !may_operate>"Start re-run"</button>
                                </PostForm>
                                <table class="rc-table" aria-label="Cells per processor">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Processor"</th>
                                            <th scope="col">"Cells"</th>
                                            <th scope="col">"Dates"</th>
                                            <th scope="col">{format!("Expected {entities}")}</th>
                                        </tr>
                                    </thead>
                                    <tbody inner_html=summary_rows></tbody>
                                </table>
                                // The full list stays folded when long: Start is above it.
                                <div inner_html=all_cells></div>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
        {move || match start.value().get() {
            Some(Err(e)) => Some(view! { <ErrorMessage error=e/> }),
            _ => None,
        }}
    }
}

/// The editable request: processors, dates, mode, downstream (a GET form, so
/// the preview follows the URL and works without JavaScript).
#[component]
fn RerunFields(form: RerunForm) -> impl IntoView {
    let chosen: Vec<String> = form
        .p
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    // A value that is not a choice is refused by the preview (400 naming
    // it); the radios show the defaults meanwhile.
    let gaps = form.only_gaps().unwrap_or(true);
    let downstream = form.with_downstream().unwrap_or(true);
    let stop_on = form.stop_on.clone().unwrap_or_default();
    view! {
        <Form method="GET" action="/rerun">
            <fieldset class="rc-range">
                <legend>"Request"</legend>
                <span class="rc-procs" role="group" aria-label="Processors">
                    {crate::pipeline().processors
                        .iter()
                        .map(|p| {
                            let code = p.code.as_str();
                            let checked = chosen.iter().any(|c| c == code);
                            view! {
                                <label class="rc-check">
                                    <input type="checkbox" name="p" value=code checked=checked/>
                                    {code}
                                </label>
                            }
                        })
                        .collect_view()}
                </span>
                <label>
                    "Dates (comma-separated)"
                    <input type="text" name="dates" value=form.dates.clone().unwrap_or_default()/>
                </label>
                <label>"Start date" <input type="date" name="start" value=form.start.clone().unwrap_or_default()/></label>
                <label>"End date" <input type="date" name="end" value=form.end.clone().unwrap_or_default()/></label>
                <span role="radiogroup" aria-label="Mode">
                    <label class="rc-check">
                        <input type="radio" name="mode" value="gaps" checked=gaps/>
                        "Only cells that are not OK"
                    </label>
                    <label class="rc-check">
                        <input type="radio" name="mode" value="all" checked=!gaps/>
                        "All cells"
                    </label>
                </span>
                <span role="radiogroup" aria-label="Downstream">
                    <label class="rc-check">
                        <input type="radio" name="downstream" value="yes" checked=downstream/>
                        "Include downstream"
                    </label>
                    <label class="rc-check">
                        <input type="radio" name="downstream" value="no" checked=!downstream/>
                        "Only these processors"
                    </label>
                </span>
                <span class="rc-procs" role="group" aria-label="Stop when a written cell has">
                    <label class="rc-check">
                        <input type="checkbox" name="stop_on" value="investigate" checked=stop_on.contains("investigate")/>
                        "Entities to investigate"
                    </label>
                    <label class="rc-check">
                        <input type="checkbox" name="stop_on" value="unaccounted" checked=stop_on.contains("unaccounted")/>
                        "Unaccounted entities"
                    </label>
                </span>
                <button type="submit">"Preview"</button>
            </fieldset>
        </Form>
    }
}
