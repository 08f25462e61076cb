//! Snapshots (issue [O]): `/snapshots/new` freezes the coverage page's view,
//! `/s/{id}` shows it as it was — the same heatmap, legend and summary
//! (the app's components, rendered here from the frozen numbers) and each
//! not-OK cell's frozen drill-down — read-only, with a banner saying how
//! many cells differ from now; `/s/{id}/compare` says how, in the job
//! before/after's words; `/s/{id}/report.html` is the same as one file that
//! needs no server. Plain pages: the hydrate bundle carries none of it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::pipeline::{capitalised, Pipeline};
use domain::report::{CellKey, Comparison, DrawnGrid, Frozen, SnapshotMeta};
use domain::DateRange;

use crate::error::ServerError;
use crate::feed_pages::{attribute, document, escape, html, minutes};
use crate::AppState;
use app::Caller;

pub const LIST_PATH: &str = "/snapshots";
pub const NEW_PATH: &str = "/snapshots/new";
/// `POST`: freeze (the CLI beside a server), the snapshot's row as JSON.
pub const API_PATH: &str = "/api/snapshots";
/// `GET`: the list as JSON (`rollcall snapshot --list` beside a server).
pub const API_LIST_PATH: &str = "/snapshots.json";

/// Opened snapshots, decoded: they never change, so the last few are kept
/// (a shared link is opened by a team at once).
#[derive(Default)]
pub struct Opened(Mutex<VecDeque<Arc<(SnapshotMeta, Frozen)>>>);

const OPENED_KEPT: usize = 8;

impl Opened {
    fn get(&self, id: &str) -> Option<Arc<(SnapshotMeta, Frozen)>> {
        let kept = self.0.lock().ok()?;
        kept.iter().find(|s| s.0.id == id).cloned()
    }

    /// After a freeze whose retention may have deleted some.
    fn forget_all(&self) {
        if let Ok(mut kept) = self.0.lock() {
            kept.clear();
        }
    }

    fn keep(&self, s: Arc<(SnapshotMeta, Frozen)>) {
        if let Ok(mut kept) = self.0.lock() {
            kept.retain(|k| k.0.id != s.0.id);
            kept.push_front(s);
            kept.truncate(OPENED_KEPT);
        }
    }
}

async fn open(state: &AppState, id: &str) -> Result<Arc<(SnapshotMeta, Frozen)>, ServerError> {
    if let Some(s) = state.snapshots.get(id) {
        return Ok(s);
    }
    let opened = Arc::new(engine::snapshot::open(state.server.warehouse.as_ref(), id).await?);
    state.snapshots.keep(Arc::clone(&opened));
    Ok(opened)
}

/// A freeze as typed: the view (`start`, `end`, `p`), a note, and who the
/// CLI says it is.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct FreezeInput {
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    /// Processor codes, comma-separated (none: all).
    #[serde(default)]
    pub p: Option<String>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub by: Option<String>,
}

impl FreezeInput {
    fn from_form(body: &str) -> Self {
        let mut input = FreezeInput::default();
        let mut processors: Vec<String> = Vec::new();
        for (k, v) in form_urlencoded::parse(body.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "start" => input.start = Some(v),
                "end" => input.end = Some(v),
                "p" if !v.trim().is_empty() => processors.push(v),
                "note" => input.note = v,
                _ => {}
            }
        }
        input.p = (!processors.is_empty()).then(|| processors.join(","));
        input
    }

    fn view(&self) -> engine::reconcile::ReconcileRequest {
        engine::reconcile::ReconcileRequest {
            start: self.start.clone(),
            end: self.end.clone(),
            processors: self.p.clone(),
        }
    }

    /// The query string of the view (the coverage page's, the form's).
    fn query(&self) -> String {
        let pairs = [("start", &self.start), ("end", &self.end), ("p", &self.p)];
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                pairs
                    .into_iter()
                    .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| (k, v))),
            )
            .finish()
    }
}

/// The request's person as the server knows them, and what the CLI says
/// (one line of at most 100 characters: it is printed and pasted).
fn who(caller: &Caller, claimed: Option<&str>) -> String {
    let known = caller.name.clone();
    let claimed: Option<String> = claimed.map(|c| {
        c.chars()
            .filter(|ch| !ch.is_control())
            .take(100)
            .collect::<String>()
            .trim()
            .to_string()
    });
    match claimed.filter(|c| !c.is_empty()) {
        Some(c) => format!("{c} ({known})"),
        None => known,
    }
}

async fn freeze(
    state: &AppState,
    input: &FreezeInput,
    by: String,
) -> Result<SnapshotMeta, ServerError> {
    let request = engine::snapshot::FreezeRequest {
        view: input.view(),
        note: input.note.clone(),
        taken_by: by,
        retention_days: state.snapshot_retention_days,
    };
    let now = chrono::Utc::now().naive_utc();
    // The store itself, not the read cache: every part of a snapshot is
    // read from the same place, as it is now.
    let meta = engine::snapshot::freeze(
        state.server.warehouse.as_ref(),
        state.server.limits,
        &request,
        now,
    )
    .await?;
    if state.snapshot_retention_days > 0 {
        state.snapshots.forget_all();
    }
    Ok(meta)
}

fn error_box(what: &str, e: &ServerError) -> String {
    format!(
        "<div class=\"rc-error\" role=\"alert\"><strong>{what}</strong><p>{}</p></div>",
        escape(&e.to_string())
    )
}

/// A page saying what failed, with the error's status.
fn failed(state: &AppState, title: &str, what: &str, e: &ServerError) -> Response {
    html(e.status(), document(state, title, &error_box(what, e)))
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// `GET /snapshots/new?start=&end=&p=`: what would be frozen, a note, and
/// the Freeze button (the coverage page links here with its view).
pub async fn new_form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(input): Query<FreezeInput>,
) -> Response {
    let title = "Freeze this view";
    let pipeline = state.server.warehouse.pipeline().clone();
    let (range, processors) = match input.view().parse(&pipeline, state.server.limits) {
        Ok(v) => v,
        Err(e) => {
            let e = ServerError::from(e);
            return failed(&state, title, "Cannot freeze", &e);
        }
    };
    let codes: Vec<&str> = processors.iter().map(|p| pipeline.code(*p)).collect();
    let lead = if caller.access.token_form() {
        "<p>Freezing needs the operator role: the operator token.</p>"
    } else {
        ""
    };
    let body = format!(
        "<p>A snapshot keeps this view as it is now — the heatmap, the summary, and each not-OK \
         cell's unaccounted {entities} and failure rows (up to {u} and {f} per cell, with the full \
         counts) — with who took it and when. Its link keeps showing these numbers after the rows \
         are re-run or deleted, and compares them with now.</p>\
         <div class=\"rc-note\" role=\"note\" aria-label=\"Operator access\">{lead}{note}</div>\
         <form method=\"post\" action=\"{LIST_PATH}\" class=\"rc-freeze\">\
         <p>View: <strong>{start} – {end}</strong>, {codes}</p>\
         <input type=\"hidden\" name=\"start\" value=\"{start}\">\
         <input type=\"hidden\" name=\"end\" value=\"{end}\">\
         <input type=\"hidden\" name=\"p\" value=\"{p}\">\
         <label>Note (optional) <textarea name=\"note\" maxlength=\"{max}\" rows=\"3\"></textarea></label>\
         <button type=\"submit\" class=\"rc-button\">Freeze</button></form>\
         <p><a href=\"{LIST_PATH}\">All snapshots</a></p>",
        entities = escape(&pipeline.universe.entities()),
        u = domain::report::FROZEN_UNACCOUNTED,
        f = domain::report::FROZEN_FAILURES,
        note = caller.access.note_html,
        start = range.start(),
        end = range.end(),
        codes = escape(&codes.join(", ")),
        p = attribute(input.p.as_deref().unwrap_or_default()),
        max = domain::report::NOTE_CHARS,
    );
    html(StatusCode::OK, document(&state, title, &body))
}

/// `POST /snapshots` (the form): freezes, then opens the snapshot.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Response {
    let input = FreezeInput::from_form(&body);
    match freeze(&state, &input, who(&caller, None)).await {
        Ok(meta) => see_other(&format!("/s/{}", meta.id)),
        Err(e) => {
            let back = format!(
                "<p><a href=\"{NEW_PATH}?{}\">Back</a></p>",
                attribute(&input.query())
            );
            let page = error_box("Not frozen", &e) + &back;
            html(e.status(), document(&state, "Freeze this view", &page))
        }
    }
}

/// `POST /api/snapshots` (JSON): the snapshot's row.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(input): Json<FreezeInput>,
) -> Response {
    let by = who(&caller, input.by.as_deref());
    match freeze(&state, &input, by).await {
        Ok(meta) => Json(meta).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /snapshots.json`: the newest snapshots' rows.
pub async fn api_list(State(state): State<AppState>) -> Response {
    match engine::snapshot::list(state.server.warehouse.as_ref()).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => ServerError::from(e).into_response(),
    }
}

/// `GET /snapshots`: the newest snapshots.
pub async fn list_page(State(state): State<AppState>) -> Response {
    let title = "Snapshots";
    let list = match engine::snapshot::list(state.server.warehouse.as_ref()).await {
        Ok(l) => l,
        Err(e) => {
            let e = ServerError::from(e);
            return failed(&state, title, "Something went wrong", &e);
        }
    };
    let retention = match state.snapshot_retention_days {
        0 => "Snapshots are kept until deleted by hand.".to_string(),
        n => format!("Snapshots older than {n} days are deleted when the next one is taken."),
    };
    let mut body = format!(
        "<p>Frozen views: each link shows its numbers as they were, and how they compare with \
         now. Take one from the coverage page (“Freeze this view”) or with `rollcall snapshot`. \
         {retention}</p>"
    );
    if list.is_empty() {
        body.push_str("<p>None yet.</p>");
        return html(StatusCode::OK, document(&state, title, &body));
    }
    body.push_str(
        "<table class=\"rc-table\" aria-label=\"Snapshots\"><thead><tr>\
         <th scope=\"col\">Snapshot</th><th scope=\"col\">View</th><th scope=\"col\">Taken (UTC)</th>\
         <th scope=\"col\">By</th><th scope=\"col\">Not-OK cells</th><th scope=\"col\">Note</th>\
         </tr></thead><tbody>",
    );
    for s in &list {
        let _ = write!(
            body,
            "<tr><td><a href=\"/s/{id}\">{id}</a></td><td>{start} – {end} {codes}</td>\
             <td>{taken}</td><td>{by}</td><td class=\"rc-num\">{not_ok} of {cells}</td><td>{note}</td></tr>",
            id = escape(&s.id),
            start = s.start,
            end = s.end,
            codes = escape(&s.processors.join(", ")),
            taken = minutes(s.taken_at),
            by = escape(&s.taken_by),
            not_ok = s.not_ok,
            cells = s.cells,
            note = escape(&s.note),
        );
    }
    body.push_str("</tbody></table>");
    html(StatusCode::OK, document(&state, title, &body))
}

/// `/s/{id}`'s query: a narrower range (a week's or month's column) and a
/// cell's drill-down.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SnapshotQuery {
    pub start: Option<String>,
    pub end: Option<String>,
    pub cell: Option<String>,
}

/// The part of the frozen range `q` asks for (all of it by default); a
/// date outside it names the parameter.
fn sub_range(frozen: &DateRange, q: &SnapshotQuery) -> Result<DateRange, ServerError> {
    let date = |name: &'static str, raw: &Option<String>, default| match raw
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Ok(default),
        Some(raw) => {
            let d = domain::dates::parse_date(name, raw)?;
            if frozen.contains(d) {
                Ok(d)
            } else {
                Err(ServerError::Input(format!(
                    "{name}: {d} is outside the snapshot ({} – {})",
                    frozen.start(),
                    frozen.end()
                )))
            }
        }
    };
    let start = date("start", &q.start, frozen.start())?;
    let end = date("end", &q.end, frozen.end())?;
    Ok(DateRange::new(start, end, frozen.days())?)
}

/// How many cells of the snapshot differ from now (the banner's count;
/// counts only, through the read cache: the page stays as fast as the
/// live one).
async fn differing_now(state: &AppState, frozen: &Frozen) -> Result<usize, ServerError> {
    let rec = &frozen.reconciliation;
    let now = state
        .server
        .views
        .cell_counts(rec.range, &rec.processors)
        .await?;
    Ok(domain::report::compare_cells(&rec.cells, &now)
        .iter()
        .filter(|c| domain::report::differs(c))
        .count())
}

fn banner(meta: &SnapshotMeta, differing: Result<usize, ServerError>) -> String {
    let note = if meta.note.is_empty() {
        String::new()
    } else {
        format!("<p class=\"rc-snapshot-note\">“{}”</p>", escape(&meta.note))
    };
    let now = match differing {
        Ok(0) => "no cell differs from now".to_string(),
        Ok(1) => format!(
            "1 cell differs from now → <a href=\"/s/{}/compare\">compare</a>",
            meta.id
        ),
        Ok(n) => format!(
            "{n} cells differ from now → <a href=\"/s/{}/compare\">compare</a>",
            meta.id
        ),
        Err(e) => format!("now cannot be read ({})", escape(&e.to_string())),
    };
    format!(
        "<div class=\"rc-note rc-snapshot-banner\" role=\"status\" aria-label=\"Snapshot\">\
         <p><strong>Snapshot</strong>, read-only: as of {at} UTC by {by}; {now}.</p>{note}</div>",
        at = minutes(meta.taken_at),
        by = escape(&meta.taken_by),
    )
}

/// `&amp;p=…` when the snapshot's view named fewer than every processor.
fn live_processors(pipeline: &Pipeline, meta: &SnapshotMeta) -> String {
    if meta.processors.len() >= pipeline.ids().count() {
        return String::new();
    }
    let codes: String =
        form_urlencoded::byte_serialize(meta.processors.join(",").as_bytes()).collect();
    format!("&amp;p={}", attribute(&codes))
}

/// The snapshot's Markdown (its tables, `validate --format markdown`'s,
/// and its link).
pub fn markdown(pipeline: &Pipeline, meta: &SnapshotMeta, frozen: &Frozen, link: &str) -> String {
    let note = if meta.note.is_empty() {
        String::new()
    } else {
        format!(" — {}", meta.note.replace('\n', " "))
    };
    format!(
        "Snapshot {link} (as of {} UTC by {}{note})\n\n{}",
        minutes(meta.taken_at),
        meta.taken_by,
        crate::validate::markdown(pipeline, &frozen.reconciliation)
    )
}

/// One frozen cell's drill-down, read-only.
fn drill_down(pipeline: &Pipeline, frozen: &Frozen, key: &CellKey) -> String {
    let code = pipeline.code(key.processor);
    let Some(c) = frozen.cell(key.processor, key.date) else {
        return format!(
            "<section class=\"rc-detail\" aria-label=\"Cell detail\"><h2>{} {}</h2>\
             <p>Not in this snapshot's view.</p></section>",
            escape(code),
            key.date
        );
    };
    let entity = capitalised(pipeline.universe.entity());
    let mut out = format!(
        "<section class=\"rc-detail\" aria-label=\"Cell detail\"><div class=\"rc-detail-head\">\
         <h2>{code} {date} — {status} (as frozen)</h2></div>\
         <p class=\"rc-counts\">Expected {e} · has record {r} · has failure {f}{dl} · unaccounted {u} \
         · acknowledged {a} · investigate {i} · coverage {cov}</p>",
        code = escape(code),
        date = key.date,
        status = c.status().code(),
        e = c.expected,
        r = c.has_record,
        f = c.has_failure,
        dl = if c.date_level { " (date-level)" } else { "" },
        u = c.unaccounted,
        a = c.acknowledged,
        i = c.investigate,
        cov = domain::display::percent(c.coverage()),
    );
    let Some(d) = frozen.detail(key.processor, key.date) else {
        out.push_str("<p>An OK cell: everyone expected had a record or a failure; nothing more was frozen.</p></section>");
        return out;
    };
    if let Some(dl) = &d.date_level {
        let _ = write!(
            out,
            "<p class=\"rc-datelevel\">Date-level failure: {} — {}</p>",
            escape(&dl.raw_category),
            escape(&dl.reason)
        );
    }
    for r in d.runs.iter().filter(|r| r.error.is_some()).take(1) {
        let _ = write!(
            out,
            "<p class=\"rc-runfailed\">Run {} {}: {}</p>",
            escape(&r.run_id),
            r.status.as_str(),
            escape(r.error.as_deref().unwrap_or_default())
        );
    }
    let shown = d.unaccounted.items.len();
    let _ = write!(
        out,
        "<h3>Unaccounted ({total}{cut})</h3>",
        total = d.unaccounted.total,
        cut = if (shown as i64) < d.unaccounted.total {
            format!(", the first {shown} kept")
        } else {
            String::new()
        }
    );
    if shown == 0 {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str("<ul class=\"rc-players\" aria-label=\"Unaccounted\">");
        for name in &d.unaccounted.items {
            let _ = write!(out, "<li>{}</li>", escape(name));
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<h3>Failures ({total}{cut})</h3>",
        total = d.failures.total,
        cut = if (d.failures.items.len() as i64) < d.failures.total {
            format!(", the first {} kept", d.failures.items.len())
        } else {
            String::new()
        }
    );
    if !d.failures.items.is_empty() {
        let _ = write!(
            out,
            "<table class=\"rc-table\" aria-label=\"Failures\"><thead><tr><th scope=\"col\">{}</th>\
             <th scope=\"col\">Category</th><th scope=\"col\">Reason</th><th scope=\"col\">Retry</th></tr></thead><tbody>",
            escape(&entity)
        );
        for f in &d.failures.items {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&f.entity_id),
                escape(&f.raw_category),
                escape(&f.reason),
                if f.can_retry { "yes" } else { "no" }
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
    out
}

/// `GET /s/{id}`: the frozen view.
pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<SnapshotQuery>,
) -> Response {
    let title = "Snapshot";
    let opened = match open(&state, &id).await {
        Ok(s) => s,
        Err(e) => return failed(&state, title, "No snapshot", &e),
    };
    let (meta, frozen) = (&opened.0, &opened.1);
    let pipeline = state.server.warehouse.pipeline().clone();
    let range = match sub_range(&frozen.reconciliation.range, &q) {
        Ok(r) => r,
        Err(e) => return failed(&state, title, "Bad request", &e),
    };
    let key = match q.cell.as_deref().filter(|c| !c.trim().is_empty()) {
        None => None,
        Some(raw) => match CellKey::parse(&pipeline, raw.trim()) {
            Ok(k) => Some(k),
            Err(e) => {
                let e = ServerError::from(e);
                return failed(&state, title, "Bad request", &e);
            }
        },
    };
    let differing = differing_now(&state, frozen).await;
    let grid = DrawnGrid::from(frozen.within(range));

    let view = app::frozen::ViewQuery {
        start: Some(range.start().to_string()),
        end: Some(range.end().to_string()),
        cell: key.as_ref().map(|k| k.text(&pipeline)),
        ..Default::default()
    };
    // The components link to the live page; here, to the snapshot.
    let heatmap = app::frozen::heatmap_markup(grid, view)
        .replace("href=\"/?", &format!("href=\"/s/{}?", meta.id))
        .replace("href=\"/\"", &format!("href=\"/s/{}\"", meta.id));
    let link = format!("{}/s/{}", state.public_url, meta.id);
    let md = markdown(&pipeline, meta, frozen, &link);
    let shown = frozen.within(range);
    let mut body = banner(meta, differing);
    let _ = write!(
        body,
        "<p class=\"rc-headline\">{start} – {end}: <strong>{headline}</strong> \
         <a href=\"/s/{id}/report.html\" download=\"rollcall-snapshot-{id}.html\">HTML file</a> \
         <a href=\"/s/{id}/compare\">Compare with now</a> \
         <a href=\"/?start={start}&amp;end={end}{p}\">Live view</a></p>",
        p = live_processors(&pipeline, meta),
        start = range.start(),
        end = range.end(),
        headline = escape(&domain::report::unaccounted_headline(
            &pipeline.universe,
            shown.unaccounted(),
            shown.unaccounted_not_run()
        )),
        id = meta.id,
    );
    body += &heatmap;
    if let Some(k) = &key {
        body += &drill_down(&pipeline, frozen, k);
    }
    let _ = write!(
        body,
        "<section class=\"rc-markdown\" aria-label=\"Markdown\"><h2>Markdown</h2>\
         <p><button type=\"button\" class=\"rc-button\" id=\"rc-copy-md\" hidden>Copy as Markdown</button> \
         The tables of a handoff note, with this link.</p>\
         <textarea readonly rows=\"8\" aria-label=\"Snapshot as Markdown\" id=\"rc-md\">{md}</textarea>\
         <script>(function(){{var b=document.getElementById('rc-copy-md'),t=document.getElementById('rc-md');\
         b.hidden=false;b.onclick=function(){{t.select();(navigator.clipboard?navigator.clipboard.writeText(t.value):\
         Promise.reject()).then(function(){{b.textContent='Copied'}},function(){{document.execCommand('copy');b.textContent='Copied'}});}};}})();</script></section>\
         <p><a href=\"{LIST_PATH}\">All snapshots</a></p>",
        md = escape(&md),
    );
    let title = format!("Snapshot {} – {} ({})", meta.start, meta.end, meta.id);
    html(StatusCode::OK, document(&state, &title, &body))
}

/// `GET /s/{id}/report.html`: the snapshot as one file that needs no
/// server and no script.
pub async fn report_file(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let opened = match open(&state, &id).await {
        Ok(s) => s,
        Err(e) => {
            return html(
                e.status(),
                document(&state, "Snapshot", &error_box("No snapshot", &e)),
            )
        }
    };
    let link = format!("{}/s/{}", state.public_url, opened.0.id);
    let pipeline = state.server.warehouse.pipeline().clone();
    match crate::snapshot_file::render(&pipeline, &opened.0, &opened.1, &link) {
        Ok(file) => html(StatusCode::OK, file),
        Err(e) => e.into_response(),
    }
}

/// Through the read cache, as the banner's count: the two agree.
async fn comparison(state: &AppState, id: &str) -> Result<Comparison, ServerError> {
    let opened = open(state, id).await?;
    Ok(engine::snapshot::compare(state.server.views.as_ref(), opened.0.clone(), &opened.1).await?)
}

/// `GET /s/{id}/compare.json`: the comparison (`rollcall snapshot --compare`
/// beside a server).
pub async fn api_compare(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match comparison(&state, &id).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A few names, then how many more.
fn names(list: &[String]) -> String {
    let shown: Vec<String> = list.iter().take(12).map(|n| escape(n)).collect();
    match list.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn counts_cell(c: &Option<domain::report::CellCounts>) -> String {
    match c {
        None => "–".into(),
        Some(c) => format!(
            "{} · {} unaccounted, {} investigate",
            c.status().code(),
            c.unaccounted,
            c.investigate
        ),
    }
}

/// `GET /s/{id}/compare`: per differing cell, then and now, the change in
/// the job before/after's words, and who changed.
pub async fn compare_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let title = "Snapshot compared with now";
    let cmp = match comparison(&state, &id).await {
        Ok(c) => c,
        Err(e) => return failed(&state, title, "Cannot compare", &e),
    };
    let pipeline = state.server.warehouse.pipeline().clone();
    let meta = &cmp.snapshot;
    let summary: Vec<String> = cmp
        .counts()
        .into_iter()
        .map(|(label, n)| format!("{n} {label}"))
        .collect();
    let mut body = format!(
        "<p>Snapshot <a href=\"/s/{id}\">{id}</a> ({start} – {end}, as of {at} UTC by {by}) against \
         the same view now: {n} of {compared} cells differ{summary}.</p>",
        id = escape(&meta.id),
        start = meta.start,
        end = meta.end,
        at = minutes(meta.taken_at),
        by = escape(&meta.taken_by),
        n = cmp.differing.len(),
        compared = cmp.compared,
        summary = if summary.is_empty() {
            String::new()
        } else {
            format!(": {}", summary.join(", "))
        },
    );
    if !cmp.differing.is_empty() {
        body.push_str(
            "<table class=\"rc-table\" aria-label=\"Cells that differ\"><thead><tr>\
             <th scope=\"col\">Cell</th><th scope=\"col\">Then</th><th scope=\"col\">Now</th>\
             <th scope=\"col\">Change</th><th scope=\"col\">Newly unaccounted</th>\
             <th scope=\"col\">No longer unaccounted</th><th scope=\"col\">New failures</th></tr></thead><tbody>",
        );
        for d in &cmp.differing {
            let c = &d.change;
            let code = pipeline.code(c.processor);
            let partial = if d.partial {
                " (of the kept lists)"
            } else {
                ""
            };
            let _ = write!(
                body,
                "<tr><td><a href=\"/s/{id}?cell={code}:{date}\">{code} {date}</a> \
                 (<a href=\"/?start={date}&amp;end={date}&amp;cell={code}:{date}\">now</a>)</td>\
                 <td>{then}</td><td>{now}</td><td>{kind}</td><td>{new}{partial}</td><td>{gone}{partial}</td><td>{failed}</td></tr>",
                id = escape(&meta.id),
                code = escape(code),
                date = c.date,
                then = counts_cell(&c.before),
                now = counts_cell(&c.after),
                kind = c.kind.label(),
                new = names(&d.newly_unaccounted),
                gone = names(&d.no_longer_unaccounted),
                failed = names(&d.new_failures),
            );
        }
        body.push_str("</tbody></table>");
    }
    html(StatusCode::OK, document(&state, title, &body))
}

/// The comparison as text (the CLI's `--compare`).
pub fn comparison_text(pipeline: &Pipeline, cmp: &Comparison) -> String {
    let meta = &cmp.snapshot;
    let summary: Vec<String> = cmp
        .counts()
        .into_iter()
        .map(|(label, n)| format!("{n} {label}"))
        .collect();
    let mut s = format!(
        "Snapshot {} ({} – {}, as of {} UTC by {}) against now: {} of {} cells differ{}\n",
        meta.id,
        meta.start,
        meta.end,
        minutes(meta.taken_at),
        meta.taken_by,
        cmp.differing.len(),
        cmp.compared,
        if summary.is_empty() {
            String::new()
        } else {
            format!(": {}", summary.join(", "))
        }
    );
    for d in &cmp.differing {
        let c = &d.change;
        let side = |c: &Option<domain::report::CellCounts>| match c {
            None => "–".to_string(),
            Some(c) => format!("{} ({} unaccounted)", c.status().code(), c.unaccounted),
        };
        let _ = writeln!(
            s,
            "  {} {}: {} → {}  {}",
            pipeline.code(c.processor),
            c.date,
            side(&c.before),
            side(&c.after),
            c.kind.label()
        );
        let partial = if d.partial {
            " (of the kept lists)"
        } else {
            ""
        };
        if !d.newly_unaccounted.is_empty() {
            let _ = writeln!(
                s,
                "      newly unaccounted{partial}: {}",
                d.newly_unaccounted.join(", ")
            );
        }
        if !d.no_longer_unaccounted.is_empty() {
            let _ = writeln!(
                s,
                "      no longer unaccounted{partial}: {}",
                d.no_longer_unaccounted.join(", ")
            );
        }
        if !d.new_failures.is_empty() {
            let _ = writeln!(s, "      new failures: {}", d.new_failures.join(", "));
        }
    }
    s
}
