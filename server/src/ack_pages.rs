//! Known gaps (issue [N] 1): acknowledging unaccounted entities of a cell,
//! and listing and revoking acknowledgements. Plain pages the server
//! renders (forms that work without script; the hydrate bundle carries none
//! of their code), and the same operations as JSON for the CLI beside a
//! server. Thin: parse, one engine operation, the error mapped. Posting
//! needs the operator role (`auth::guard`).

use std::fmt::Write as _;

use app::Caller;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::Extension;
use domain::ack::{AckReason, AckRequest, Acknowledgement};
use domain::pipeline::{capitalised, Pipeline};
use domain::{DateRange, DomainError};
use warehouse::sql::AckScope;

use crate::error::ServerError;
use crate::feed_pages::{attribute, document, escape, html, minutes};
use crate::AppState;

pub const ACK_PATH: &str = "/acknowledge";
pub const LIST_PATH: &str = "/acknowledgements";
pub const REVOKE_PATH: &str = "/acknowledgements/revoke";
pub const API_ACK_PATH: &str = "/api/acknowledge";
pub const API_REVOKE_PATH: &str = "/api/unacknowledge";
pub const API_LIST_PATH: &str = "/acknowledgements.json";

/// An acknowledgement as typed (the page's form, the CLI's flags), checked
/// by [`AckInput::request`].
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct AckInput {
    pub processor: String,
    pub date: String,
    /// The entities; empty with `cell` for the whole cell.
    #[serde(default)]
    pub entities: Vec<String>,
    #[serde(default)]
    pub cell: bool,
    pub reason: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub ticket: String,
    /// `7d`, `12h`; empty: the default (30 days).
    #[serde(default)]
    pub expires: String,
    /// When it was made (the CLI's `--as-of`); default now.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Who the CLI says it is (kept beside the server's own word for it).
    #[serde(default)]
    pub by: Option<String>,
}

impl AckInput {
    pub fn request(&self, pipeline: &Pipeline) -> Result<AckRequest, DomainError> {
        let processor = pipeline.processor(self.processor.trim())?;
        let date = domain::dates::parse_date("date", self.date.trim())?;
        let entities = match (self.cell, self.entities.is_empty()) {
            (true, true) => None,
            (false, false) => Some(self.entities.clone()),
            (true, false) => {
                return Err(DomainError::BadParameter {
                    name: "entity",
                    message: "give entities or the whole cell, not both".into(),
                })
            }
            (false, true) => {
                return Err(DomainError::BadParameter {
                    name: "entity",
                    message: "pick at least one entity, or the whole cell".into(),
                })
            }
        };
        let expires = self.expires.trim();
        Ok(AckRequest {
            processor,
            date,
            entities,
            reason: AckReason::parse(&self.reason)?,
            note: self.note.clone(),
            ticket_url: Some(self.ticket.clone()).filter(|t| !t.trim().is_empty()),
            expires_in: (!expires.is_empty())
                .then(|| domain::ack::parse_expiry(expires))
                .transpose()?,
        })
    }

    /// When it is made: `as_of` (never later than now: an acknowledgement
    /// from the future would outlive every run) or now.
    pub fn at(&self) -> Result<chrono::NaiveDateTime, DomainError> {
        let now = chrono::Utc::now().naive_utc();
        match self.as_of.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(raw) => {
                let at = crate::commands::parse_as_of(raw)?;
                if at > now + chrono::Duration::minutes(5) {
                    return Err(DomainError::BadParameter {
                        name: "as-of",
                        message: format!("{at} is in the future"),
                    });
                }
                Ok(at)
            }
            None => Ok(now),
        }
    }

    /// The form's fields: repeated `entity`, the rest once.
    fn from_form(body: &str) -> Self {
        let mut input = AckInput::default();
        for (k, v) in form_urlencoded::parse(body.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "processor" => input.processor = v,
                "date" => input.date = v,
                "entity" => input.entities.push(v),
                "cell" => input.cell = !v.is_empty(),
                "reason" => input.reason = v,
                "note" => input.note = v,
                "ticket" => input.ticket = v,
                "expires" => input.expires = v,
                _ => {}
            }
        }
        input
    }
}

/// Makes the acknowledgements `input` asks for, as `who` — through the
/// read cache, whose writes clear it: the pages show them at once.
async fn make(
    state: &AppState,
    input: &AckInput,
    who: String,
) -> Result<Vec<Acknowledgement>, ServerError> {
    let wh = state.server.views.as_ref();
    let request = input.request(wh.pipeline())?;
    Ok(engine::acks::acknowledge(wh, request, &who, input.at()?).await?)
}

/// The request's person as the server knows them (`auth::guard`), and
/// what the CLI says.
fn who(caller: &Caller, claimed: Option<&str>) -> String {
    let known = caller.name.clone();
    match claimed.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => format!("{} ({known})", c.chars().take(100).collect::<String>()),
        None => known,
    }
}

/// `POST /api/acknowledge` (JSON): the acknowledgements made.
pub async fn api_acknowledge(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(input): Json<AckInput>,
) -> Response {
    let by = who(&caller, input.by.as_deref());
    match make(&state, &input, by).await {
        Ok(acks) => Json(acks).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RevokeInput {
    pub id: String,
    #[serde(default)]
    pub by: Option<String>,
}

/// `POST /api/unacknowledge` (JSON): the acknowledgement, revoked.
pub async fn api_revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(input): Json<RevokeInput>,
) -> Response {
    let by = who(&caller, input.by.as_deref());
    let now = chrono::Utc::now().naive_utc();
    match engine::acks::revoke(state.server.views.as_ref(), input.id.trim(), &by, now).await {
        Ok(ack) => Json(ack).into_response(),
        Err(e) => ServerError::from(e).into_response(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    pub all: Option<String>,
    pub processor: Option<String>,
    pub date: Option<String>,
}

impl ListQuery {
    fn scope(&self) -> AckScope {
        match self.all.as_deref() {
            Some("1" | "true" | "yes") => AckScope::All,
            _ => AckScope::InForce,
        }
    }

    fn cell(
        &self,
        pipeline: &Pipeline,
    ) -> Result<Option<(domain::ProcessorId, chrono::NaiveDate)>, DomainError> {
        match (self.processor.as_deref(), self.date.as_deref()) {
            (Some(p), Some(d)) if !p.is_empty() && !d.is_empty() => Ok(Some((
                pipeline.processor(p.trim())?,
                domain::dates::parse_date("date", d.trim())?,
            ))),
            _ => Ok(None),
        }
    }
}

async fn list(state: &AppState, q: &ListQuery) -> Result<Vec<Acknowledgement>, ServerError> {
    let wh = state.server.views.as_ref();
    let cell = q.cell(wh.pipeline())?;
    Ok(wh
        .acknowledgements(q.scope(), cell, engine::acks::LIST_LIMIT)
        .await?)
}

/// `GET /acknowledgements.json?all=1`
pub async fn api_list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    match list(&state, &q).await {
        Ok(acks) => Json(acks).into_response(),
        Err(e) => e.into_response(),
    }
}

fn error_box(e: &ServerError) -> String {
    format!(
        "<div class=\"rc-error\" role=\"alert\"><strong>Not acknowledged</strong><p>{}</p></div>",
        escape(&e.to_string())
    )
}

/// Who you are and whether you may post (the forms say it before anyone
/// tries).
fn role_note(caller: &Caller) -> String {
    let lead = if caller.access.token_form() {
        "<p>Acknowledging needs the operator role: the operator token.</p>"
    } else {
        ""
    };
    format!(
        "<div class=\"rc-note\" role=\"note\" aria-label=\"Operator access\">{lead}{}</div>",
        caller.access.note_html
    )
}

/// `GET /acknowledge?processor=P&date=D`: the cell's unaccounted entities
/// to pick from, the reason, a note, a ticket and the expiry.
pub async fn form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let wh = state.server.views.as_ref();
    let pipeline = wh.pipeline().clone();
    let title = "Acknowledge a known gap";
    let cell = match q.cell(&pipeline) {
        Ok(Some(cell)) => cell,
        Ok(None) => {
            return html(
                StatusCode::BAD_REQUEST,
                document(
                    &state,
                    title,
                    &error_box(&ServerError::Input(
                        "processor and date: open this page from a cell's drill-down".into(),
                    )),
                ),
            )
        }
        Err(e) => {
            return html(
                StatusCode::BAD_REQUEST,
                document(&state, title, &error_box(&e.into())),
            )
        }
    };
    let (p, date) = cell;
    let open = match DateRange::new(date, date, 1) {
        Ok(day) => wh.unaccounted(day, &[p]).await.map_err(ServerError::from),
        Err(e) => Err(e.into()),
    };
    let open = match open {
        Ok(rows) => rows,
        Err(e) => return html(e.status(), document(&state, title, &error_box(&e))),
    };
    html(
        StatusCode::OK,
        document(
            &state,
            title,
            &form_body(&caller, &pipeline, p, date, &open),
        ),
    )
}

fn form_body(
    caller: &Caller,
    pipeline: &Pipeline,
    p: domain::ProcessorId,
    date: chrono::NaiveDate,
    open: &[(domain::ProcessorId, chrono::NaiveDate, String)],
) -> String {
    let code = pipeline.code(p);
    let entities = capitalised(&pipeline.universe.entities());
    let mut body = format!(
        "<p>{code} {date}: {n} unaccounted. An acknowledged {entity} is still unaccounted \
         underneath: it is counted apart, and the gap shows again when the acknowledgement \
         expires, is revoked, or a later run records or fails it.</p>{role}\
         <form method=\"post\" action=\"{ACK_PATH}\" class=\"rc-ackform\">\
         <input type=\"hidden\" name=\"processor\" value=\"{code_attr}\">\
         <input type=\"hidden\" name=\"date\" value=\"{date}\">",
        code = escape(code),
        code_attr = attribute(code),
        n = open.len(),
        entity = escape(pipeline.universe.entity()),
        role = role_note(caller),
    );
    if open.is_empty() {
        body.push_str("<p>Nothing to acknowledge: no one is unaccounted in this cell.</p></form>");
        return body;
    }
    let _ = write!(
        body,
        "<fieldset><legend>{entities}</legend>\
         <label><input type=\"checkbox\" name=\"cell\" value=\"1\"> The whole cell (everyone unaccounted, now and until it ends)</label>\
         <ul class=\"rc-players\" aria-label=\"Unaccounted {entities_lower}\">",
        entities = escape(&entities),
        entities_lower = attribute(&pipeline.universe.entities()),
    );
    for (_, _, e) in open.iter().take(domain::ack::MAX_ENTITIES) {
        let _ = write!(
            body,
            "<li><label><input type=\"checkbox\" name=\"entity\" value=\"{v}\"> {t}</label></li>",
            v = attribute(e),
            t = escape(e)
        );
    }
    body.push_str("</ul></fieldset><label>Reason <select name=\"reason\">");
    for r in AckReason::ALL {
        let _ = write!(body, "<option value=\"{c}\">{c}</option>", c = r.code());
    }
    let _ = write!(
        body,
        "</select></label>\
         <label>Note <textarea name=\"note\" maxlength=\"{note}\"></textarea></label>\
         <label>Ticket URL <input type=\"url\" name=\"ticket\" maxlength=\"{ticket}\"></label>\
         <label>Expires in <input name=\"expires\" value=\"{days}d\" size=\"6\"></label>\
         <button type=\"submit\">Acknowledge</button></form>",
        note = domain::ack::MAX_NOTE_CHARS,
        ticket = domain::ack::MAX_TICKET_CHARS,
        days = domain::ack::DEFAULT_EXPIRY_DAYS,
    );
    body
}

/// `POST /acknowledge` (the form): made, then to the cell's list.
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Response {
    let input = AckInput::from_form(&body);
    let by = who(&caller, None);
    match make(&state, &input, by).await {
        Ok(_) => see_other(&format!(
            "{LIST_PATH}?processor={}&date={}",
            urlencoding(&input.processor),
            urlencoding(&input.date)
        )),
        Err(e) => html(
            e.status(),
            document(&state, "Acknowledge a known gap", &error_box(&e)),
        ),
    }
}

/// `POST /acknowledgements/revoke` (the list's button): revoked, back to
/// the list.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: String,
) -> Response {
    let id = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let by = who(&caller, None);
    let now = chrono::Utc::now().naive_utc();
    match engine::acks::revoke(state.server.views.as_ref(), id.trim(), &by, now).await {
        Ok(_) => see_other(LIST_PATH),
        Err(e) => {
            let e = ServerError::from(e);
            html(e.status(), document(&state, "Known gaps", &error_box(&e)))
        }
    }
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn urlencoding(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /acknowledgements[?all=1][&processor=P&date=D]`: the
/// acknowledgements in force (or all), each with Revoke.
pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let title = "Known gaps";
    let pipeline = state.server.views.pipeline().clone();
    let acks = match list(&state, &q).await {
        Ok(acks) => acks,
        Err(e) => return html(e.status(), document(&state, title, &error_box(&e))),
    };
    let now = chrono::Utc::now().naive_utc();
    let mut body = format!(
        "<p>Acknowledged gaps are still gaps: counted apart from the unaccounted ones, never as \
         accounted for.</p>{}<nav class=\"rc-spans\" aria-label=\"Which\">\
         <a href=\"{LIST_PATH}\">In force</a><a href=\"{LIST_PATH}?all=1\">All, with ended ones</a></nav>",
        role_note(&caller)
    );
    if acks.is_empty() {
        body.push_str("<p>None.</p>");
        return html(StatusCode::OK, document(&state, title, &body));
    }
    let _ = write!(
        body,
        "<table class=\"rc-table\" aria-label=\"Acknowledgements\"><thead><tr>\
         <th scope=\"col\">Cell</th><th scope=\"col\">{entity}</th><th scope=\"col\">Reason</th>\
         <th scope=\"col\">Note</th><th scope=\"col\">By</th><th scope=\"col\">Made (UTC)</th>\
         <th scope=\"col\">Expires (UTC)</th><th scope=\"col\">State</th><th scope=\"col\"></th></tr></thead><tbody>",
        entity = escape(&capitalised(pipeline.universe.entity())),
    );
    for a in &acks {
        let code = pipeline.code(a.processor);
        let ticket = a
            .ticket_url
            .as_deref()
            .map(|t| {
                format!(
                    " <a href=\"{}\" rel=\"noopener noreferrer\">ticket</a>",
                    attribute(t)
                )
            })
            .unwrap_or_default();
        let state_word = a.state(now);
        let ended = match (&a.ended_at, &a.ended_by) {
            (Some(t), Some(by)) => format!(" {} by {}", minutes(*t), escape(by)),
            _ => String::new(),
        };
        let action = if state_word == "active" {
            format!(
                "<form method=\"post\" action=\"{REVOKE_PATH}\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
                 <button type=\"submit\" aria-label=\"Revoke {}\">Revoke</button></form>",
                attribute(&a.id),
                attribute(&format!(
                    "{code} {} {}",
                    a.date,
                    a.entity.as_deref().unwrap_or("whole cell")
                )),
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"/?start={d}&amp;end={d}&amp;cell={c}:{d}\">{c} {d}</a></td>\
             <td>{entity}</td><td>{reason}</td><td>{note}{ticket}</td><td>{by}</td>\
             <td>{made}</td><td>{expires}</td><td>{state_word}{ended}</td><td>{action}</td></tr>",
            d = a.date,
            c = escape(code),
            entity = a
                .entity
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "<em>whole cell</em>".into()),
            reason = a.reason.code(),
            note = escape(&a.note),
            by = escape(&a.created_by),
            made = minutes(a.created_at),
            expires = minutes(a.expires_at),
        );
    }
    body.push_str("</tbody></table>");
    html(StatusCode::OK, document(&state, title, &body))
}
