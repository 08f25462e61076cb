use domain::display::fixed;
use domain::report::{change_counts, JobView, Progress};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use std::fmt::Write as _;

use crate::api::{job_status, jobs_list, operator_access, CancelJob, ResumeJob};
use crate::components::{poll_while, ErrorMessage, OperatorNote, PostForm};

fn percent(p: &Progress) -> f64 {
    if p.cells_total == 0 {
        0.0
    } else {
        100.0 * p.cells_done as f64 / p.cells_total as f64
    }
}

fn bar(label: String, done: usize, total: usize) -> impl IntoView {
    view! {
        <progress max=total.max(1).to_string() value=done.to_string() aria-label=label></progress>
    }
}

/// `/jobs`: every recent job with its state and progress.
#[component]
pub fn JobsPage() -> impl IntoView {
    let jobs = crate::wire::page_resource(|| (), |_| jobs_list());
    let access = crate::wire::page_resource(|| (), |_| operator_access());
    let any_active = move || {
        jobs.get_untracked()
            .and_then(|r| r.ok())
            .is_some_and(|js| js.iter().any(|j| j.active))
    };
    poll_while(any_active, move || jobs.refetch(), 1000);
    view! {
        <h1 class="rc-title">"Jobs"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                access.await.ok().map(|a| view! { <OperatorNote access=a/> })
            })}
        </Suspense>
        <p><a href="/jobs">"Refresh"</a></p>
        <Transition fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match jobs.await {
                    Err(e) => view! { <ErrorMessage error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p>"No jobs yet. Start one from the heatmap (" <A href="/">"Coverage"</A> ")."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="rc-table" aria-label="Jobs">
                            <thead>
                                <tr>
                                    <th scope="col">"Job"</th>
                                    <th scope="col">"State"</th>
                                    <th scope="col">"Result"</th>
                                    <th scope="col">"Request"</th>
                                    <th scope="col">"Progress"</th>
                                    <th scope="col">"Created"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|j| {
                                    let id = j.id.clone();
                                    let link_text = id.clone();
                                    let href = format!("/jobs/{id}");
                                    let label = format!("Progress of {}", j.id);
                                    let pct = format!("{}%", fixed(percent(&j.progress), 0));
                                    view! {
                                        <tr data-job=id>
                                            <td><A href=href>{link_text}</A></td>
                                            <td data-testid="job-state">{j.state.as_str()}</td>
                                            <td>{j.headline.clone()}</td>
                                            <td>{j.summary.clone()}</td>
                                            <td>{bar(label, j.progress.cells_done, j.progress.cells_total)}" " {pct}</td>
                                            <td>{domain::display::timestamp(j.created_at)}</td>
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

/// `/jobs/{id}`: live progress, Cancel/Resume, and before/after once ended.
#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let cancel = ServerAction::<CancelJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    let job = crate::wire::page_resource(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                cancel.version().get(),
                resume.version().get(),
            )
        },
        |(id, _, _)| job_status(id),
    );
    let access = crate::wire::page_resource(|| (), |_| operator_access());
    let active = move || {
        job.get_untracked()
            .and_then(|r| r.ok())
            .is_some_and(|j| j.active)
    };
    poll_while(active, move || job.refetch(), 1000);
    let action_error = move || {
        let err = match (cancel.value().get(), resume.value().get()) {
            (Some(Err(e)), _) | (_, Some(Err(e))) => Some(e),
            _ => None,
        };
        err.map(|e| view! { <ErrorMessage error=e/> })
    };
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                access.await.ok().map(|a| view! { <OperatorNote access=a/> })
            })}
        </Suspense>
        {action_error}
        <Transition fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match job.await {
                    Err(e) => view! { <h1>"Job"</h1><ErrorMessage error=e/> }.into_any(),
                    Ok(j) => view! { <JobDetail job=j cancel=cancel resume=resume/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn JobDetail(
    job: JobView,
    cancel: ServerAction<CancelJob>,
    resume: ServerAction<ResumeJob>,
) -> impl IntoView {
    let p = job.progress.clone();
    let throughput = p.players_per_second();
    let entities = crate::pipeline().universe.entities();
    let eta = p
        .eta_seconds()
        .filter(|_| job.active)
        .map(|s| format!("{} s", fixed(s, 0)))
        .unwrap_or_else(|| "–".into());
    let self_href = format!("/jobs/{}", job.id);
    let queued = job.queued_behind.clone().map(|other| {
        let href = format!("/jobs/{other}");
        view! {
            <p class="rc-note" role="note">
                "Queued behind " <A href=href>{other.clone()}</A>
                ", which is running; this job starts when it ends."
            </p>
        }
    });
    let controls = {
        let id = job.id.clone();
        let cancel_form = job.active.then(|| {
            let id = id.clone();
            view! {
                <PostForm action=cancel input=CancelJob { id: id.clone() }>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit">"Cancel"</button>
                </PostForm>
            }
        });
        let resume_form = job.resumable.then(|| {
            view! {
                <PostForm action=resume input=ResumeJob { id: id.clone() }>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit">"Resume"</button>
                </PostForm>
            }
        });
        view! { <div class="rc-controls">{cancel_form}{resume_form}</div> }
    };
    let per_processor = p
        .per_processor
        .iter()
        .map(|(code, (done, total))| {
            let label = format!("{code} progress");
            view! {
                <li>{code.clone()} " " {bar(label, *done, *total)} {format!(" {done} / {total} dates")}</li>
            }
        })
        .collect_view();
    let failures = p
        .failures_by_category
        .iter()
        .map(|(c, n)| view! { <li><code>{c.clone()}</code> " " {*n}</li> })
        .collect_view();
    let headline = job.headline.clone();
    let changes = job.changes.clone().map(|changes| {
        // Static rows: markup built as a string (codes are checked names).
        let mut tally = String::new();
        for (proc_id, t) in &job.tally {
            let _ = write!(
                tally,
                "<tr><th scope=\"row\">{}</th><td class=\"rc-num\">{}</td><td class=\"{}\">{}</td>\
                 <td class=\"{}\">{}</td><td class=\"{}\">{}</td><td class=\"rc-num\">{}</td></tr>",
                crate::components::text(crate::code(proc_id)),
                t.closed,
                bad_num(t.still_open),
                t.still_open,
                bad_num(t.new_investigate),
                t.new_investigate,
                bad_num(t.failed),
                t.failed,
                t.unchanged
            );
        }
        let picture = compact_picture(&changes);
        let many = changes.len() > TOUCHED_SHOWN_OPEN;
        let total = changes.len();
        let counts = change_counts(&changes)
            .into_iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Static rows, folded when long: markup built as a string.
        let status = |x: &Option<domain::report::CellCounts>| {
            x.as_ref()
                .map(|x| {
                    format!(
                        "{} ({} unaccounted, {} investigate)",
                        x.status().code(),
                        x.unaccounted,
                        x.investigate
                    )
                })
                .unwrap_or_else(|| "–".into())
        };
        let mut rows = String::from(
            "<table class=\"rc-table\" aria-label=\"Touched cells\"><thead><tr>\
             <th scope=\"col\">Cell</th><th scope=\"col\">Before</th>\
             <th scope=\"col\">After</th><th scope=\"col\">Change</th></tr></thead><tbody>",
        );
        for c in &changes {
            let code = crate::components::text(crate::code(c.processor));
            let _ = write!(
                rows,
                "<tr data-change=\"{kind}\"><td><a href=\"/?start={d}&amp;end={d}&amp;cell={code}:{d}\">{code} {d}</a></td>\
                 <td>{}</td><td>{}</td><td>{kind}</td></tr>",
                status(&c.before),
                status(&c.after),
                kind = c.kind.label(),
                d = c.date,
            );
        }
        rows.push_str("</tbody></table>");
        let touched = crate::components::disclosure(
            &format!("All {} touched", domain::report::cells(total)),
            !many,
            &rows,
        );
        view! {
            <section aria-label="Before and after">
                <h2>"Before and after"</h2>
                <p data-testid="change-counts">{counts}</p>
                <table class="rc-table" aria-label="Result per processor">
                    <thead>
                        <tr>
                            <th scope="col">"Processor"</th>
                            <th scope="col">"Closed"</th>
                            <th scope="col">"Still open"</th>
                            <th scope="col">"New investigate"</th>
                            <th scope="col">"Run failed"</th>
                            <th scope="col">"Unchanged"</th>
                        </tr>
                    </thead>
                    <tbody inner_html=tally></tbody>
                </table>
                {picture}
                // Long lists stay folded: the summary above says what matters.
                <div inner_html=touched></div>
            </section>
        }
    });
    view! {
        <h1 class="rc-title">{format!("Job {}", job.id)}</h1>
        <p class="rc-headline" role="status" data-testid="job-headline"><strong>{headline}</strong></p>
        <p>{job.summary.clone()} " · requested by " {job.requested_by.clone()} " · " <a href=self_href>"Refresh"</a></p>
        {queued}
        <dl class="rc-counts" aria-label="Job progress">
            <dt>"State"</dt><dd data-testid="job-state">{job.state.as_str()}</dd>
            <dt>"Cells"</dt><dd data-testid="job-cells">{format!("{} / {}", p.cells_done, p.cells_total)}</dd>
            <dt>"Done"</dt><dd data-testid="job-percent">{format!("{}%", fixed(percent(&p), 0))}</dd>
            <dt>{domain::pipeline::capitalised(&entities)}</dt><dd>{format!("{} / {}", p.players_done, p.players_total)}</dd>
            <dt>"Throughput"</dt><dd>{format!("{} {entities}/s", fixed(throughput, 0))}</dd>
            <dt>"ETA"</dt><dd>{eta}</dd>
            <dt>"Current cell"</dt><dd>{p.current.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Failed cells"</dt><dd>{p.cells_failed}</dd>
        </dl>
        {bar("Overall progress".into(), p.cells_done, p.cells_total)}
        {job.error.clone().map(|e| view! { <p class="rc-error" role="alert">{e}</p> })}
        {controls}
        // A team's re-run program's last lines, as it prints them.
        {(!p.output.is_empty()).then(|| view! {
            <h2>"Program output"</h2>
            <pre class="rc-output" aria-label="Program output">{p.output.join("\n")}</pre>
        })}
        <h2>"Per processor"</h2>
        <ul class="rc-per-proc">{per_processor}</ul>
        <h2>"Failures by category so far"</h2>
        <ul class="rc-categories">{failures}</ul>
        {changes}
    }
}

/// Touched cells listed unfolded up to this many.
const TOUCHED_SHOWN_OPEN: usize = 20;

fn bad_num(n: usize) -> &'static str {
    if n > 0 {
        "rc-num rc-bad"
    } else {
        "rc-num"
    }
}

/// One small square per touched cell, per processor a row before and a row
/// after, coloured by whether the cell needed a look: the job's effect at a
/// glance, however many cells it touched. Static markup built as a string.
fn compact_picture(changes: &[domain::report::CellChange]) -> impl IntoView {
    use domain::report::{CellCounts, CellStatus};
    let class = |c: &Option<CellCounts>| match c.as_ref().map(CellCounts::status) {
        None | Some(CellStatus::NoGames) => "rc-sq rc-sq-none",
        Some(CellStatus::RunFailed) => "rc-sq rc-sq-failed",
        Some(s) if s.is_open() => "rc-sq rc-sq-open",
        Some(_) => "rc-sq rc-sq-ok",
    };
    // Changes come in date order: each processor's row reads left to right.
    // A few processors at most: a list, not a map (smaller in the bundle).
    let mut rows: Vec<(domain::ProcessorId, String, String)> = Vec::new();
    for c in changes {
        let title = format!("{} {}", crate::code(c.processor), c.date);
        let i = match rows.iter().position(|r| r.0 == c.processor) {
            Some(i) => i,
            None => {
                rows.push((c.processor, String::new(), String::new()));
                rows.len() - 1
            }
        };
        let _ = write!(
            rows[i].1,
            "<i class=\"{}\" title=\"{title}\"></i>",
            class(&c.before)
        );
        let _ = write!(
            rows[i].2,
            "<i class=\"{}\" title=\"{title}\"></i>",
            class(&c.after)
        );
    }
    rows.sort_by_key(|r| r.0);
    let mut markup = String::new();
    for (p, before, after) in rows {
        let code = crate::components::text(crate::code(p));
        for (when, cells) in [("before", before), ("after", after)] {
            let _ = write!(
                markup,
                "<div class=\"rc-picture-row\"><span class=\"rc-picture-label\">{code} {when}</span>\
                 <span class=\"rc-picture-cells\">{cells}</span></div>"
            );
        }
    }
    markup.push_str(
        "<p class=\"rc-muted\">Green: accounted for · red: open · dark red: run failed</p>",
    );
    view! { <div class="rc-picture" role="figure" aria-label="Touched cells before and after" inner_html=markup></div> }
}
