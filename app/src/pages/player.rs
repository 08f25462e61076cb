use domain::report::TraceState;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::player_trace;
use crate::components::ErrorMessage;

/// `/trace/{entity}?date=` (and the older `/players/…`): one entity on one
/// date across every processor, with the root cause of a missing record
/// highlighted.
#[component]
pub fn PlayerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let trace = crate::wire::page_resource(
        move || {
            (
                params.read().get("player").unwrap_or_default(),
                query.read().get("date").unwrap_or_default(),
            )
        },
        |(p, d)| player_trace(p, d),
    );
    view! {
        <Suspense fallback=|| view! { <p class="rc-loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match trace.await {
                    Err(e) => view! { <h1>{format!("{} trace", domain::pipeline::capitalised(crate::pipeline().universe.entity()))}</h1><ErrorMessage error=e/> }.into_any(),
                    Ok(t) => {
                        // Explained on the server (the DAG walk stays out of the bundle).
                        let explained = t.explained.clone().unwrap_or_default();
                        let root = explained.root;
                        let root_kind = if explained.investigate { "investigate" } else { "an expected gap" };
                        let roots = explained.roots;
                        let games = t.recent_games.clone();
                        let back = format!("/?start={}&end={}", t.date, t.date);
                        view! {
                            <h1 class="rc-title">{format!("{} on {}", t.player_lookup, t.date)}</h1>
                            <p>
                                {match (t.expected, crate::pipeline().universe.is_nba()) {
                                    (true, true) => "Expected on this date (active, on the floor).",
                                    (false, true) => "Not expected on this date (did not play).",
                                    (true, false) => "Expected on this date.",
                                    (false, false) => "Not expected on this date.",
                                }}
                                " " <A href=back>"Back to the date"</A>
                            </p>
                            {root.map(|r| view! {
                                <p class="rc-root" role="note">"Root cause: " <strong>{crate::code(r)}</strong>{format!(" ({root_kind})")}</p>
                            })}
                            <ol class="rc-trace" aria-label="Trace">
                                {t.links
                                    .into_iter()
                                    .zip(roots.into_iter().chain(std::iter::repeat(None)))
                                    .map(|(l, link_root)| {
                                        let is_root = root == Some(l.processor);
                                        let caused_by = link_root
                                            .filter(|r| *r != l.processor)
                                            .map(|r| view! { " " <span class="rc-muted">{format!("(because of {})", crate::code(r))}</span> });
                                        let expected_badge = matches!(&l.state, TraceState::Failure { expected: true, .. })
                                            .then(|| view! { " " <span class="rc-badge rc-badge-expected">"expected"</span> });
                                        let key = domain::report::CellKey { processor: l.processor, date: t.date };
                                        let cell = format!("/?start={d}&end={d}&cell={}", key.text(crate::pipeline()), d = t.date);
                                        let (state, detail) = match l.state {
                                            TraceState::Record => ("record".to_string(), String::new()),
                                            TraceState::Failure { code, reason, upstream_processor, upstream_category, .. } => (
                                                code,
                                                format!(
                                                    "{reason}{}",
                                                    upstream_processor
                                                        .map(|u| format!(" (upstream {u}{})", upstream_category.map(|c| format!(": {c}")).unwrap_or_default()))
                                                        .unwrap_or_default()
                                                ),
                                            ),
                                            TraceState::DateLevel { reason } => ("date-level failure".into(), reason),
                                            TraceState::Unaccounted => ("UNACCOUNTED".into(), "no record and no failure".into()),
                                            TraceState::NotExpected => ("not expected".into(), String::new()),
                                        };
                                        let failed_run = l.failed_run.map(|r| view! {
                                            " " <span class="rc-badge rc-badge-investigate">{r.failure_summary()}</span>
                                        });
                                        view! {
                                            <li class=if is_root { "rc-link rc-link-root" } else { "rc-link" }>
                                                <A href=cell><strong>{crate::code(l.processor)}</strong></A>
                                                ": " <span class="rc-link-state">{state}</span>
                                                " " <span class="rc-muted">{detail}</span>
                                                {expected_badge}
                                                {caused_by}
                                                {failed_run}
                                                {is_root.then(|| view! { " " <span class="rc-badge rc-badge-investigate">"root cause"</span> })}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ol>
                            // Box scores are the NBA universe's; another universe has none.
                            {(!games.is_empty()).then(|| view! {
                            <h2>"Recent games"</h2>
                            <table class="rc-table" aria-label="Recent games">
                                <thead>
                                    <tr>
                                        <th scope="col">"Date"</th>
                                        <th scope="col">"Game"</th>
                                        <th scope="col">"Active"</th>
                                        <th scope="col">"Minutes"</th>
                                        <th scope="col">"Points"</th>
                                        <th scope="col">"FGM/FGA"</th>
                                        <th scope="col">"Paint/Mid/3PA"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {games
                                        .into_iter()
                                        .map(|g| {
                                            let active = if g.is_dnp { "DNP" } else if g.is_active { "yes" } else { "inactive" };
                                            let fg = format!("{}/{}", g.fg_makes.unwrap_or(0), g.fga());
                                            let zones = format!("{}/{}/{}", g.paint().0, g.mid().0, g.three().0);
                                            let minutes = domain::display::fixed(g.minutes(), 1);
                                            let points = g.pts();
                                            view! {
                                                <tr>
                                                    <td>{g.game_date.to_string()}</td>
                                                    <td>{g.game_id}</td>
                                                    <td>{active}</td>
                                                    <td class="rc-num">{minutes}</td>
                                                    <td class="rc-num">{points}</td>
                                                    <td class="rc-num">{fg}</td>
                                                    <td class="rc-num">{zones}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                            })}
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
