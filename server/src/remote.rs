//! The command line beside a running server. DuckDB lets one process hold
//! the embedded file, so while `rollcall serve` has it, `validate` and
//! `backfill` on the same store go through that server's API instead: the
//! server records its address and a random instance secret beside the store
//! (`<db>.server`, readable by its owner only), the command finds it there
//! and, before it sends anything else (the operator token above all), asks
//! whatever listens there to prove it holds the secret (an HMAC of a fresh
//! nonce). A file left by a killed server is removed when nothing listens
//! there and ignored when something else answers. Same output, progress bar
//! and exit codes as running locally.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::report::{JobView, PlannedCell, Reconciliation, RerunChoices};
use leptos::server_fn::ServerFn;

use crate::error::ServerError;

/// Where a server records its address for a store.
pub fn address_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".server");
    PathBuf::from(name)
}

/// The path of the proof a server gives of its store instance.
pub const INSTANCE_PATH: &str = "/rollcall-instance";

/// A server's store instance: a random secret it shares with its
/// `<db>.server` file only.
pub struct Instance {
    secret: String,
    key: ring::hmac::Key,
}

impl Instance {
    /// A fresh secret from the OS's randomness.
    pub fn generate() -> Result<Self, ServerError> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| ServerError::failed("the store instance secret", "no OS randomness"))?;
        Ok(Self::from_secret(&hex(&bytes)))
    }

    fn from_secret(secret: &str) -> Self {
        Self {
            secret: secret.to_string(),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
        }
    }

    /// HMAC-SHA256 of `nonce` under the secret, in hex.
    pub fn proof(&self, nonce: &str) -> String {
        hex(ring::hmac::sign(&self.key, nonce.as_bytes()).as_ref())
    }

    /// Whether `answer` proves the secret for `nonce` (in constant time).
    fn verifies(&self, nonce: &str, answer: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.proof(nonce);
        answer.len() == expected.len() && bool::from(answer.as_bytes().ct_eq(expected.as_bytes()))
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Instance([redacted])")
    }
}

/// `?nonce=` of [`INSTANCE_PATH`].
#[derive(Debug, serde::Deserialize)]
pub struct NonceQuery {
    pub nonce: Option<String>,
}

/// A nonce the server answers: 32 to 128 hex digits.
pub fn is_nonce(nonce: &str) -> bool {
    (32..=128).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) use engine::alerts::hex;

/// Removes the address file when the server stops.
pub struct AddressRecord(PathBuf);

impl Drop for AddressRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Records `addr` and the instance secret beside `db` (owner-only) for as
/// long as the returned value lives.
pub fn record_address(
    db: &Path,
    addr: SocketAddr,
    instance: &Instance,
) -> Result<AddressRecord, ServerError> {
    use std::io::Write;
    let path = address_file(db);
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_file(&path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        file.write_all(format!("{addr}\n{}\n", instance.secret).as_bytes())?;
        file.sync_all()
    };
    write().map_err(ServerError::io(format!("cannot write {}", path.display())))?;
    Ok(AddressRecord(path))
}

pub struct Remote {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Remote {
    /// The server recorded beside `db`, if one is there and proves it is
    /// this store's (nothing else is sent before that, the token least of
    /// all). A file nobody answers for is a dead server's: removed.
    pub async fn find(db: &Path, token: Option<String>) -> Option<Self> {
        let file = address_file(db);
        let text = std::fs::read_to_string(&file).ok()?;
        let mut lines = text.lines();
        let addr: SocketAddr = lines.next()?.trim().parse().ok()?;
        // Only a server on this machine: the file is ours, not a redirect.
        if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
            return None;
        }
        let Some(instance) = lines.next().map(str::trim).filter(|s| !s.is_empty()) else {
            tracing::warn!(file = %file.display(), "ignoring a server file without an instance secret");
            return None;
        };
        let instance = Instance::from_secret(instance);
        let port = addr.port();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        let nonce = Instance::generate().ok()?.secret;
        let answer = http
            .get(format!("{base}{INSTANCE_PATH}?nonce={nonce}"))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        let proven = match answer {
            Err(e) if e.is_connect() => {
                // Nothing listens: the server that wrote the file is gone.
                let _ = std::fs::remove_file(&file);
                return None;
            }
            Err(_) => false,
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(body) => instance.verifies(&nonce, body.trim()),
                Err(_) => false,
            },
            Ok(_) => false,
        };
        if !proven {
            eprintln!(
                "ignoring {}: what answers on {base} is not this store's server",
                file.display()
            );
            return None;
        }
        Some(Self { base, http, token })
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
        self.send(path, "application/x-www-form-urlencoded", body, read)
            .await
    }

    /// A server function taking typed `choices` as JSON.
    async fn call_json<T>(
        &self,
        path: &str,
        choices: &RerunChoices,
        read: fn(&[u8]) -> Option<T>,
    ) -> Result<T, ServerError> {
        let body = serde_json::json!({ "choices": choices }).to_string();
        self.send(path, "application/json", body, read).await
    }

    async fn send<T>(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        read: fn(&[u8]) -> Option<T>,
    ) -> Result<T, ServerError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
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

    /// An evaluation by the server (`rollcall watch` beside it).
    pub async fn evaluate(
        &self,
        request: &crate::watch_api::EvaluateRequest,
    ) -> Result<engine::watch::Evaluation, ServerError> {
        let body = serde_json::to_string(request).map_err(|e| ServerError::failed("JSON", e))?;
        self.send(
            crate::watch_api::EVALUATE_PATH,
            "application/json",
            body,
            |b| serde_json::from_slice(b).ok(),
        )
        .await
    }

    /// The change feed from the server (`rollcall changes` beside it).
    pub async fn changes(&self, since: &str) -> Result<domain::watch::ChangeFeed, ServerError> {
        self.get_json(crate::watch_api::CHANGES_PATH, &[("since", since)])
            .await
    }

    /// Acknowledgements made by the server (`rollcall ack` beside it).
    pub async fn acknowledge(
        &self,
        input: &crate::ack_pages::AckInput,
    ) -> Result<Vec<domain::ack::Acknowledgement>, ServerError> {
        let body = serde_json::to_string(input).map_err(|e| ServerError::failed("JSON", e))?;
        self.send(
            crate::ack_pages::API_ACK_PATH,
            "application/json",
            body,
            |b| serde_json::from_slice(b).ok(),
        )
        .await
    }

    /// An acknowledgement revoked by the server (`rollcall unack` beside it).
    pub async fn unacknowledge(
        &self,
        input: &crate::ack_pages::RevokeInput,
    ) -> Result<domain::ack::Acknowledgement, ServerError> {
        let body = serde_json::to_string(input).map_err(|e| ServerError::failed("JSON", e))?;
        self.send(
            crate::ack_pages::API_REVOKE_PATH,
            "application/json",
            body,
            |b| serde_json::from_slice(b).ok(),
        )
        .await
    }

    /// The acknowledgements the server lists (`rollcall ack --list`).
    pub async fn acknowledgements(
        &self,
        all: bool,
    ) -> Result<Vec<domain::ack::Acknowledgement>, ServerError> {
        let all = if all { "1" } else { "0" };
        self.get_json(crate::ack_pages::API_LIST_PATH, &[("all", all)])
            .await
    }

    /// A snapshot taken by the server (`rollcall snapshot` beside it).
    pub async fn freeze(
        &self,
        input: &crate::snapshot_pages::FreezeInput,
    ) -> Result<domain::report::SnapshotMeta, ServerError> {
        let body = serde_json::to_string(input).map_err(|e| ServerError::failed("JSON", e))?;
        self.send(
            crate::snapshot_pages::API_PATH,
            "application/json",
            body,
            |b| serde_json::from_slice(b).ok(),
        )
        .await
    }

    /// The snapshots the server lists (`rollcall snapshot --list`).
    pub async fn snapshots(&self) -> Result<Vec<domain::report::SnapshotMeta>, ServerError> {
        self.get_json(crate::snapshot_pages::API_LIST_PATH, &[])
            .await
    }

    /// A snapshot compared with now by the server.
    pub async fn snapshot_compare(
        &self,
        id: &str,
    ) -> Result<domain::report::Comparison, ServerError> {
        let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
        self.get_json(&format!("/s/{id}/compare.json"), &[]).await
    }

    /// A snapshot's self-contained HTML file, as the server writes it.
    pub async fn snapshot_file(&self, id: &str) -> Result<String, ServerError> {
        let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let bytes = self.get(&format!("/s/{id}/report.html"), &[]).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A JSON answer to a GET (a 4xx is the caller's input).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ServerError> {
        let bytes = self.get(path, query).await?;
        serde_json::from_slice(&bytes).map_err(|e| ServerError::Remote {
            addr: self.base.clone(),
            message: e.to_string(),
        })
    }

    /// A GET's body (a 4xx is the caller's input).
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<u8>, ServerError> {
        let failed = |message: String| ServerError::Remote {
            addr: self.base.clone(),
            message,
        };
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let text = first_line(&String::from_utf8_lossy(&bytes));
        if status.is_client_error() {
            Err(ServerError::Input(text))
        } else {
            Err(failed(text))
        }
    }

    pub async fn preview(&self, choices: &RerunChoices) -> Result<Vec<PlannedCell>, ServerError> {
        self.call_json(app::api::PreviewBackfill::PATH, choices, answer)
            .await
    }

    pub async fn start(&self, choices: &RerunChoices) -> Result<String, ServerError> {
        self.call_json(app::api::StartBackfill::PATH, choices, answer)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_holder_of_the_secret_proves_the_instance() {
        let server = Instance::generate().unwrap();
        let nonce = Instance::generate().unwrap().secret;
        assert!(is_nonce(&nonce));
        let file = Instance::from_secret(&server.secret);
        assert!(file.verifies(&nonce, &server.proof(&nonce)));
        let other = Instance::generate().unwrap();
        assert!(!file.verifies(&nonce, &other.proof(&nonce)));
        assert!(!file.verifies(&nonce, "ok"));
        assert!(!file.verifies("another nonce", &server.proof(&nonce)));
        assert_eq!(format!("{server:?}"), "Instance([redacted])");
        assert!(!is_nonce("short") && !is_nonce(&"z".repeat(40)));
    }
}
