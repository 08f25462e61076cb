use domain::report::CellDetail;
use leptos::prelude::*;
use leptos_router::components::{Form, A};

use crate::view_query::ViewQuery;

fn badge(expected: bool) -> impl IntoView {
    view! {
        <span class=if expected { "rc-badge rc-badge-expected" } else { "rc-badge rc-badge-investigate" }>
            {if expected { "expected" } else { "investigate" }}
        </span>
    }
}

fn page_label(offset: i64, limit: i64, total: i64) -> String {
    format!(
        "{}–{} of {total}",
        offset.saturating_add(1).min(total),
        offset.saturating_add(limit).min(total)
    )
}

/// The drill-down of one cell: counts, failures by category, unaccounted
/// players, the date-level failure, and the runs that wrote it.
#[component]
pub fn CellDetailView(detail: CellDetail, view: ViewQuery) -> impl IntoView {
    let title = format!(
        "{} {} — {}",
        crate::code(detail.processor),
        detail.date,
        detail.status.code()
    );
    let date = detail.date;
    let universe = &crate::pipeline().universe;
    let trace = move |entity: &str| format!("/trace/{entity}?date={date}");
    let counts = detail.counts.clone().map(|c| {
        view! {
            <dl class="rc-counts">
                <dt>"Expected"</dt><dd>{c.expected}</dd>
                <dt>"Has record"</dt><dd>{c.has_record}</dd>
                <dt>"Has failure"</dt><dd>{c.has_failure}</dd>
                <dt>"Unaccounted"</dt><dd data-testid="unaccounted-count">{c.unaccounted}</dd>
                <dt>"Investigate"</dt><dd>{c.investigate}</dd>
                <dt>"Conflict"</dt><dd>{c.conflict}</dd>
                <dt>"Extra"</dt><dd>{c.extra}</dd>
                <dt>"Cascade"</dt><dd>{c.cascade}</dd>
                <dt>"Coverage"</dt><dd>{domain::display::percent(c.coverage())}</dd>
            </dl>
            <ul class="rc-categories" aria-label="Failures by category">
                {c.failures_by_category
                    .into_iter()
                    .map(|(cat, n)| {
                        let b = badge(crate::pipeline().categories.is_expected_code(&cat));
                        view! { <li><code>{cat}</code>" " {n} " " {b}</li> }
                    })
                    .collect_view()}
            </ul>
        }
    });
    let date_level = detail.date_level.clone().map(|f| {
        view! {
            <p class="rc-datelevel" role="note">
                <strong>"Date-level failure: "</strong><code>{f.code().to_string()}</code>" — " {f.reason}
            </p>
        }
    });
    // A failed latest run is said first: the counts are not a silent drop,
    // and any rows shown are an earlier run's.
    let failed_run = detail.counts.as_ref().and_then(|c| {
        let run = c.failed_run()?;
        let older = c.serves_older_run().then_some(
            " The rows below are from an earlier run that succeeded; re-run the cell to replace them.",
        );
        Some(view! {
            <div class="rc-runfailed" role="alert" aria-label="Latest run failed">
                <p><strong>{run.failure_summary()}</strong>{older}</p>
                <div class="rc-runerror">{run.error.clone().unwrap_or_default()}</div>
            </div>
        })
    });
    let page = detail.failures.clone();
    let (prev, next) = page.neighbours();
    let at_offset = |offset: i64| ViewQuery {
        offset: Some(offset.to_string()),
        ..view.clone()
    };
    let (prev, next) = (
        prev.map(|o| at_offset(o).href()),
        next.map(|o| at_offset(o).href()),
    );
    let unaccounted = detail.unaccounted.clone();
    let (uprev, unext) = unaccounted.neighbours();
    let at_uoffset = |offset: i64| ViewQuery {
        unaccounted_offset: Some(offset.to_string()),
        ..view.clone()
    };
    let (uprev, unext) = (
        uprev.map(|o| at_uoffset(o).href()),
        unext.map(|o| at_uoffset(o).href()),
    );
    let close = view.with_cell(None).href();
    let acks_line = format!(
        "Acknowledged: <span data-testid=\"acknowledged-count\">{}</span> · \
         <a href=\"/acknowledge?{q}\" rel=\"external\">Acknowledge…</a> · \
         <a href=\"/acknowledgements?{q}\" rel=\"external\">Known gaps of this cell</a>",
        detail.counts.as_ref().map_or(0, |c| c.acknowledged),
        q = crate::components::attr(&format!(
            "processor={}&date={}",
            crate::code(detail.processor),
            detail.date
        )),
    );
    let rerun_href = crate::api::RerunForm {
        p: crate::code(detail.processor).to_string(),
        dates: Some(detail.date.to_string()),
        mode: Some("all".into()),
        ..Default::default()
    }
    .href();
    let spec = crate::spec(detail.processor);
    // An observed table is written by another system: nothing to re-run.
    let rerun = if !spec.runner.runs_here() {
        let why = format!(
            "Observed: {} is written by another system; Rollcall reconciles it but cannot re-run it.",
            spec.output_table
        );
        leptos::either::Either::Left(
            view! { <p class="rc-note" role="note" aria-label="Observed processor">{why}</p> },
        )
    } else {
        leptos::either::Either::Right(
            view! { <a href=rerun_href class="rc-button">"Re-run this cell"</a> },
        )
    };
    let cell_value = view.cell.clone().unwrap_or_default();
    // The categories the cell has (the date-level one is its banner), and
    // the one asked for even when the cell has none of it.
    let mut categories: Vec<String> = detail
        .counts
        .as_ref()
        .map(|c| c.failures_by_category.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(asked) = view.category.clone().filter(|c| !categories.contains(c)) {
        categories.push(asked);
    }
    // Static options: markup built as a string, the asked one selected.
    let selected = |on: bool| if on { " selected" } else { "" };
    let mut category_options = format!(
        "<option value=\"\"{}>All categories</option>",
        selected(view.category.is_none())
    );
    for cat in &categories {
        category_options += &format!(
            "<option value=\"{}\"{}>{}</option>",
            crate::components::attr(cat),
            selected(view.category.as_deref() == Some(cat.as_str())),
            crate::components::text(cat)
        );
    }
    let category_control =
        format!("<label>Category <select name=\"cat\">{category_options}</select></label>");
    view! {
        <section class="rc-detail" aria-label="Cell detail">
            <header class="rc-detail-head">
                <h2>{title}</h2>
                {rerun}
                <A href=close attr:class="rc-close">"Close"</A>
            </header>
            {failed_run}
            {counts}
            {date_level}
            <h3>{format!("Unaccounted {} ({})", universe.entities(), unaccounted.total)}</h3>
            <ul class="rc-players" aria-label=format!("Unaccounted {}", universe.entities())>
                {unaccounted
                    .items
                    .into_iter()
                    .map(|p| {
                        let href = trace(&p);
                        view! { <li><A href=href>{p}</A></li> }
                    })
                    .collect_view()}
            </ul>
            <nav class="rc-pager" aria-label="Unaccounted pages">
                {uprev.map(|h| view! { <A href=h>"Previous"</A> })}
                <span>{page_label(unaccounted.offset, unaccounted.limit, unaccounted.total)}</span>
                {unext.map(|h| view! { <A href=h>"Next"</A> })}
            </nav>
            // Known gaps are served apart (plain server pages, no script);
            // static markup, as a string.
            <p class="rc-acks" inner_html=acks_line></p>
            <h3>"Failures (" {page.total} ")"</h3>
            // Everything else in the view rides along (a new filter starts
            // at the first page of both lists).
            <Form method="GET" action="">
                <input type="hidden" name="start" value=view.start.clone().unwrap_or_default()/>
                <input type="hidden" name="end" value=view.end.clone().unwrap_or_default()/>
                <input type="hidden" name="p" value=view.processor_list().unwrap_or_default()/>
                <input type="hidden" name="cell" value=cell_value/>
                <label>{format!("Search {} ", universe.entity())} <input type="search" name="q" value=view.search.clone().unwrap_or_default()/></label>
                <span inner_html=category_control></span>
                <button type="submit">"Filter"</button>
            </Form>
            <table class="rc-table" aria-label="Failure rows">
                <thead>
                    <tr>
                        <th scope="col">{domain::pipeline::capitalised(universe.entity())}</th>
                        <th scope="col">"Category"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Upstream"</th>
                    </tr>
                </thead>
                <tbody>
                    {page
                        .items
                        .into_iter()
                        .map(|f| {
                            let code = f.code().to_string();
                            let expected = crate::pipeline().categories.is_expected_code(&code);
                            let raw = (f.raw_category != code).then(|| format!(" (written as {})", f.raw_category));
                            let upstream = f.upstream_processor.clone().map(|u| {
                                format!("{u}{}", f.upstream_category.as_deref().map(|c| format!(": {c}")).unwrap_or_default())
                            });
                            let href = trace(&f.entity_id);
                            let badge_view = badge(expected);
                            view! {
                                <tr>
                                    <td><A href=href>{f.entity_id.clone()}</A></td>
                                    <td><code>{code}</code>{raw}" " {badge_view}</td>
                                    <td>{f.reason}</td>
                                    <td>{upstream}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <nav class="rc-pager" aria-label="Failure pages">
                {prev.map(|h| view! { <A href=h>"Previous"</A> })}
                <span>{page_label(page.offset, page.limit, page.total)}</span>
                {next.map(|h| view! { <A href=h>"Next"</A> })}
            </nav>
            <h3>"Runs that wrote this cell"</h3>
            <table class="rc-table" aria-label="Runs">
                <thead>
                    <tr>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Records"</th>
                        <th scope="col">"Failures"</th>
                        <th scope="col">"Expected"</th>
                        <th scope="col">"Duration"</th>
                        <th scope="col">"Run"</th>
                        <th scope="col">"Error"</th>
                    </tr>
                </thead>
                <tbody>
                    {detail
                        .runs
                        .into_iter()
                        .map(|r| view! {
                            <tr>
                                <td>{r.started_at.map(domain::display::timestamp).unwrap_or_default()}</td>
                                <td>{r.status.to_string()}</td>
                                <td class="rc-num">{r.records_written}</td>
                                <td class="rc-num">{r.failures_written}</td>
                                <td class="rc-num">{r.expected_count}</td>
                                <td class="rc-num">{format!("{} ms", r.duration_ms)}</td>
                                <td><code>{r.run_id}</code></td>
                                <td class="rc-runerror">{r.error.unwrap_or_default()}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}
