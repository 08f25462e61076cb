//! The command line beside a running server. DuckDB lets one process hold
//! the embedded file, so while `rollcall serve` has it, `validate` and
//! `backfill` on the same store go through that server's API instead: the
//! server records its address beside the store (`<db>.server`), the command
//! finds it there and checks it answers. Same output, progress bar and exit
//! codes as running locally.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use app::api::RerunForm;
use domain::report::{JobView, PlannedCell, Reconciliation};
use leptos::server_fn::ServerFn;

use crate::error::ServerError;

/// Where a server records its address for a store.
pub fn address_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".server");
    PathBuf::from(name)
}

/// Removes the address file when the server stops.
pub struct AddressRecord(PathBuf);

impl Drop for AddressRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Records `addr` beside `db` for as long as the returned value lives.
pub fn record_address(db: &Path, addr: SocketAddr) -> Result<AddressRecord, ServerError> {
    let path = address_file(db);
    std::fs::write(&path, format!("{addr}\n"))
        .map_err(ServerError::io(format!("cannot write {}", path.display())))?;
    Ok(AddressRecord(path))
}

pub struct Remote {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Remote {
    /// The server recorded beside `db`, if one is there and answers.
    pub async fn find(db: &Path, token: Option<String>) -> Option<Self> {
        let text = std::fs::read_to_string(address_file(db)).ok()?;
        let addr: SocketAddr = text.trim().parse().ok()?;
        // Only a server on this machine: the file is ours, not a redirect.
        if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
            return None;
        }
        let port = addr.port();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        let healthy = http
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        healthy.then_some(Self { base, http, token })
    }

    pub fn address(&self) -> &str {
        &self.base
    }

    /// Calls a server function. `read` decodes a successful answer: server
    /// functions answer in their own format (`app::wire`), errors in JSON.
    async fn call<T>(
        &self,
        path: &str,
        body: String,
        read: fn(&[u8]) -> Option<T>,
    ) -> Result<T, ServerError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(token) = &self.token {
            request = request.header(crate::auth::TOKEN_HEADER, token);
        }
        let failed = |message: String| ServerError::Remote {
            addr: self.base.clone(),
            message,
        };
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(String::from);
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        let text = String::from_utf8_lossy(&bytes);
        if status.is_success() || status.is_redirection() {
            if let Some(value) = read(&bytes) {
                return Ok(value);
            }
            // A redirect to the new job's page carries its id.
            if let Some(id) = location.as_deref().and_then(|l| l.strip_prefix("/jobs/")) {
                if let Some(value) = app::wire::write_answer(&id).ok().and_then(|b| read(&b)) {
                    return Ok(value);
                }
            }
            return Err(failed(format!("unreadable answer: {}", first_line(&text))));
        }
        let message = match app::AppError::from_text(&text) {
            Some(e) => e.to_string(),
            None => first_line(&text),
        };
        if status.is_client_error() {
            Err(ServerError::Input(message))
        } else {
            Err(failed(message))
        }
    }

    pub async fn reconcile(
        &self,
        start: &str,
        end: &str,
        processors: Option<&str>,
    ) -> Result<Reconciliation, ServerError> {
        let mut pairs = vec![("start", start), ("end", end)];
        if let Some(p) = processors {
            pairs.push(("processors", p));
        }
        self.call(app::api::CoverageGrid::PATH, encode(&pairs), |b| {
            serde_json::from_slice(b).ok()
        })
        .await
    }

    pub async fn preview(&self, form: &RerunForm) -> Result<Vec<PlannedCell>, ServerError> {
        self.call(app::api::RerunPreview::PATH, form_body(form), answer)
            .await
    }

    pub async fn start(&self, form: &RerunForm) -> Result<String, ServerError> {
        self.call(app::api::StartRerun::PATH, form_body(form), answer)
            .await
    }

    pub async fn job(&self, id: &str) -> Result<JobView, ServerError> {
        self.call(app::api::JobStatus::PATH, encode(&[("id", id)]), answer)
            .await
    }

    pub async fn jobs(&self) -> Result<Vec<JobView>, ServerError> {
        self.call(app::api::JobsList::PATH, String::new(), answer)
            .await
    }

    pub async fn cancel(&self, id: &str) -> Result<(), ServerError> {
        self.call::<()>(app::api::CancelJob::PATH, encode(&[("id", id)]), answer)
            .await
    }
}

fn answer<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    app::wire::read_answer(bytes).ok()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The re-run form as the server function takes it (`form[p]=…`).
fn form_body(form: &RerunForm) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![("form[p]", &form.p)];
    for (k, v) in [
        ("form[dates]", &form.dates),
        ("form[start]", &form.start),
        ("form[end]", &form.end),
        ("form[mode]", &form.mode),
        ("form[downstream]", &form.downstream),
    ] {
        if let Some(v) = v {
            pairs.push((k, v));
        }
    }
    encode(&pairs)
}
