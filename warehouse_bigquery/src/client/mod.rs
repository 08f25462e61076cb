//! The one way this crate talks to BigQuery:
//! - `jobs.query` with named parameters, every page of the result, errors
//!   checked in the body (the emulator answers SQL errors with HTTP 200);
//! - load jobs with an in-memory multipart upload (newline-delimited JSON),
//!   which stage rows far cheaper than DML (no DML quota, ~100× faster on the
//!   emulator than `INSERT … FROM UNNEST(@rows)`);
//! - retries as Google's client libraries do: on 429, 5xx, transport errors
//!   and replies cut short or unreadable, waiting what `Retry-After` asks or
//!   an exponential backoff with jitter, until a total budget
//!   (`Timeouts::retry_total`, 600 s by default) is spent. Every logical
//!   request keeps one id across its attempts (the `requestId` of
//!   `jobs.query`, the job id of a load), so BigQuery applies a retried
//!   request once, and a reply lost or cut short is the same as no reply;
//!   writes are also idempotent by construction (see `stage`), because the
//!   emulator ignores both ids;
//! - every HTTP request has a timeout and every job a deadline, each ending
//!   in an error that names the job.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::get_query_results_response::GetQueryResultsResponse;
use gcp_bigquery_client::model::query_parameter::QueryParameter;
use gcp_bigquery_client::model::query_parameter_type::QueryParameterType;
use gcp_bigquery_client::model::query_parameter_type_struct_types::QueryParameterTypeStructTypes;
use gcp_bigquery_client::model::query_parameter_value::QueryParameterValue;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::query_response::QueryResponse;
use gcp_bigquery_client::model::table_row::TableRow;
use gcp_bigquery_client::Client;
use serde_json::Value;
use warehouse::{Result, WarehouseError};

/// The first wait before a retry, and the longest (it doubles in between).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(32);
/// How long `jobs.query` waits server-side before answering "not complete".
const QUERY_WAIT_MS: i32 = 10_000;

/// Time limits of every call (configurable so tests can provoke them).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// One HTTP request, connect to last byte.
    pub request: Duration,
    /// One job, from submission until it is done (all polls included).
    pub job: Duration,
    /// How long one request keeps retrying, all waits included (Google's
    /// client libraries: 600 s).
    pub retry_total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(60),
            job: Duration::from_secs(600),
            retry_total: Duration::from_secs(600),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Bq {
    pub client: Arc<Client>,
    pub http: reqwest::Client,
    pub auth: Arc<dyn Authenticator>,
    /// `…/bigquery/v2` and its upload twin `…/upload/bigquery/v2`.
    pub v2_url: String,
    pub upload_url: String,
    pub project: String,
    pub location: Option<String>,
    pub timeouts: Timeouts,
}

/// Result rows as JSON values, one `Vec` per row in column order.
pub(crate) struct Rows {
    /// The result's column names (empty for a statement without a result).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// Rows changed by a DML statement.
    pub affected: i64,
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh id for one logical request (≤ 36 ASCII characters, as BigQuery's
/// `requestId` requires; letters, digits and `_` so it is also a job id).
pub(crate) fn request_id(kind: &str) -> String {
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = chrono::Utc::now().timestamp_micros();
    let pid = std::process::id();
    format!("rc{kind}_{t:x}_{pid:x}_{n:x}")
}

/// Why one attempt failed.
enum CallError {
    Bq(BQError),
    Http {
        status: u16,
        body: String,
        /// What the reply's `Retry-After` asked for.
        retry_after: Option<Duration>,
    },
    Transport(reqwest::Error),
    /// A successful status whose body is cut short or not the JSON asked for.
    Unreadable(String),
    /// The job is still running at its deadline.
    Deadline(String),
}

impl CallError {
    fn retryable(&self) -> bool {
        match self {
            CallError::Bq(BQError::ResponseError { error }) => {
                error.error.code == 429 || (500..600).contains(&error.error.code)
            }
            CallError::Bq(BQError::RequestError(r)) | CallError::Transport(r) => {
                r.is_timeout() || r.is_connect() || r.is_request() || r.is_body() || r.is_decode()
            }
            CallError::Http { status, .. } => *status == 429 || (500..600).contains(status),
            CallError::Unreadable(_) => true,
            _ => false,
        }
    }

    /// How long the server asked to wait before the next attempt.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn into_warehouse(self, what: &str) -> WarehouseError {
        match self {
            CallError::Bq(BQError::RequestError(e)) | CallError::Transport(e) if e.is_timeout() => {
                WarehouseError::Query(format!(
                    "{what}: no answer from BigQuery within the request timeout"
                ))
            }
            CallError::Bq(e) => WarehouseError::Query(format!("{what}: {}", bq_message(e))),
            CallError::Http { status, body, .. } => WarehouseError::Query(format!(
                "{what}: BigQuery {status}: {}",
                error_message(&body)
            )),
            CallError::Transport(e) => WarehouseError::Query(format!("{what}: BigQuery: {e}")),
            CallError::Unreadable(m) => {
                WarehouseError::Query(format!("{what}: BigQuery's reply was unreadable: {m}"))
            }
            CallError::Deadline(m) => WarehouseError::Query(format!("{what}: {m}")),
        }
    }
}

/// BigQuery's message in an error reply (`{"error": {"message": …}}`), or
/// the reply's first line.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .map(str::to_string);
    message
        .unwrap_or_else(|| body.lines().next().unwrap_or("").to_string())
        .chars()
        .take(300)
        .collect()
}

/// A `Retry-After` in seconds (BigQuery's form; an HTTP date is rare and
/// falls back to the backoff).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// The wait before the next attempt: what the server asked for, or the
/// backoff with "equal jitter" (half fixed, half random), so clients that
/// failed together do not retry together.
fn wait_before_retry(asked: Option<Duration>, backoff: Duration) -> Duration {
    asked.unwrap_or_else(|| backoff / 2 + backoff.mul_f64(fastrand::f64() / 2.0))
}

impl Bq {
    /// Runs one statement and returns every row of every page. Retries reuse
    /// the statement's `requestId`, so a mutation whose reply was lost is not
    /// applied again by BigQuery.
    pub async fn query(&self, sql: &str, params: Vec<QueryParameter>) -> Result<Rows> {
        let id = request_id("q");
        let what = format!("BigQuery request {id}");
        let mut request = QueryRequest::new(sql);
        request.use_legacy_sql = false;
        request.location = self.location.clone();
        request.request_id = Some(id.clone());
        request.timeout_ms = Some(QUERY_WAIT_MS);
        if !params.is_empty() {
            request.parameter_mode = Some("NAMED".into());
            request.query_parameters = Some(params);
        }
        let deadline = Instant::now() + self.timeouts.job;
        let url = format!("{}/projects/{}/queries", self.v2_url, self.project);
        let response: QueryResponse = self
            .retrying(&what, || self.send(|http| http.post(&url).json(&request)))
            .await?;
        let job_id = response.job_reference.and_then(|j| j.job_id);
        let what = match &job_id {
            Some(job) => format!("BigQuery job {job}"),
            None => what,
        };
        check_errors(&what, response.errors.as_deref())?;
        let affected = response
            .num_dml_affected_rows
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // A reply for a query still running has no schema yet; a later page does.
        let mut columns = column_names(response.schema.as_ref());
        let mut rows = Vec::new();
        collect(&mut rows, response.rows);
        let mut page_token = response.page_token;
        let mut complete = response.job_complete.unwrap_or(true);
        // Further pages (or the rest of a query that did not finish in time).
        while let (Some(job_id), true) = (&job_id, page_token.is_some() || !complete) {
            if !complete && Instant::now() > deadline {
                return Err(CallError::Deadline(format!(
                    "still running after {} s (the job deadline); it may still finish",
                    self.timeouts.job.as_secs()
                ))
                .into_warehouse(&what));
            }
            let url = format!("{}/projects/{}/queries/{job_id}", self.v2_url, self.project);
            let mut query = vec![("timeoutMs", QUERY_WAIT_MS.to_string())];
            query.extend(page_token.clone().map(|t| ("pageToken", t)));
            query.extend(self.location.clone().map(|l| ("location", l)));
            let page: GetQueryResultsResponse = self
                .retrying(&what, || self.send(|http| http.get(&url).query(&query)))
                .await?;
            check_errors(&what, page.errors.as_deref())?;
            complete = page.job_complete.unwrap_or(true);
            if columns.is_empty() {
                columns = column_names(page.schema.as_ref());
            }
            if complete {
                collect(&mut rows, page.rows);
                page_token = page.page_token;
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(Rows {
            columns,
            rows,
            affected,
        })
    }

    /// Appends `rows` (JSON objects by column name) to `dataset.table` with
    /// one load job, and waits until it is done. The job id is fixed for all
    /// attempts: a retry after a lost reply finds the job already there
    /// (409) instead of loading twice.
    pub async fn load_json(&self, dataset: &str, table: &str, rows: &[Value]) -> Result<()> {
        let job_id = request_id("load");
        let what = format!("BigQuery load job {job_id} into {dataset}.{table}");
        let mut body_rows = Vec::with_capacity(rows.len() * 256);
        for row in rows {
            serde_json::to_writer(&mut body_rows, row)
                .map_err(|e| WarehouseError::Query(format!("{what}: cannot encode a row: {e}")))?;
            body_rows.push(b'\n');
        }
        let mut job_reference = serde_json::json!({"projectId": self.project, "jobId": job_id});
        if let Some(loc) = &self.location {
            job_reference["location"] = Value::String(loc.clone());
        }
        let envelope = serde_json::json!({
            "jobReference": job_reference,
            "configuration": {"load": {
                "destinationTable": {"projectId": self.project, "datasetId": dataset, "tableId": table},
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "writeDisposition": "WRITE_APPEND",
                "createDisposition": "CREATE_NEVER",
            }},
        });
        const BOUNDARY: &str = "rollcall_load_boundary_7f3a";
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{envelope}\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&body_rows);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let url = format!(
            "{}/projects/{}/jobs?uploadType=multipart",
            self.upload_url, self.project
        );
        let deadline = Instant::now() + self.timeouts.job;
        let job: Value = self
            .retrying(&what, || async {
                let sent = self
                    .send(|http| {
                        http.post(&url)
                            .header(
                                "Content-Type",
                                format!("multipart/related; boundary={BOUNDARY}"),
                            )
                            .body(body.clone())
                    })
                    .await;
                match sent {
                    // Our earlier attempt created it: follow that job.
                    Err(CallError::Http { status: 409, .. }) => {
                        Ok(serde_json::json!({"jobReference": {"jobId": job_id}}))
                    }
                    other => other,
                }
            })
            .await?;
        // The emulator names jobs itself; follow the id it answered with.
        let id = job["jobReference"]["jobId"]
            .as_str()
            .unwrap_or(&job_id)
            .to_string();
        let mut state = job;
        loop {
            if state["status"]["state"].as_str() == Some("DONE") {
                return match state["status"].get("errorResult") {
                    Some(err) if !err.is_null() => Err(WarehouseError::Query(format!(
                        "{what}: {}",
                        err["message"].as_str().unwrap_or("failed")
                    ))),
                    _ => Ok(()),
                };
            }
            if Instant::now() > deadline {
                return Err(CallError::Deadline(format!(
                    "not done after {} s (the job deadline)",
                    self.timeouts.job.as_secs()
                ))
                .into_warehouse(&what));
            }
            if !state["status"].is_null() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            state = self.get_job(&what, &id).await?;
        }
    }

    async fn get_job(&self, what: &str, job_id: &str) -> Result<Value> {
        let mut url = format!("{}/projects/{}/jobs/{job_id}", self.v2_url, self.project);
        if let Some(loc) = &self.location {
            url += &format!("?location={loc}");
        }
        self.retrying(what, || self.send(|http| http.get(&url)))
            .await
    }

    /// One attempt: sends the request `build` makes, reads the whole reply
    /// and decodes it. A body cut short, a reset mid-reply and JSON that
    /// does not parse are errors like any other, to be retried.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> std::result::Result<T, CallError> {
        let token = self.auth.access_token().await.map_err(CallError::Bq)?;
        let response = build(&self.http)
            .bearer_auth(token)
            .send()
            .await
            .map_err(CallError::Transport)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(CallError::Transport)?;
        if !(200..300).contains(&status) {
            return Err(CallError::Http {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
                retry_after,
            });
        }
        serde_json::from_slice(&body).map_err(|e| CallError::Unreadable(e.to_string()))
    }

    async fn retrying<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, CallError>>,
    {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if e.retryable() => {
                    let wait = wait_before_retry(e.retry_after(), backoff);
                    if started.elapsed() + wait > self.timeouts.retry_total {
                        return Err(e.into_warehouse(what));
                    }
                    tracing::warn!(
                        attempt,
                        request = what,
                        wait_ms = wait.as_millis() as u64,
                        "BigQuery request failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                Err(e) => return Err(e.into_warehouse(what)),
            }
        }
    }
}

fn column_names(
    schema: Option<&gcp_bigquery_client::model::table_schema::TableSchema>,
) -> Vec<String> {
    schema
        .and_then(|s| s.fields.as_ref())
        .map(|fields| fields.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default()
}

fn collect(out: &mut Vec<Vec<Value>>, rows: Option<Vec<TableRow>>) {
    for row in rows.unwrap_or_default() {
        out.push(
            row.columns
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.value.unwrap_or(Value::Null))
                .collect(),
        );
    }
}

/// BigQuery's own message for an error.
fn bq_message(e: BQError) -> String {
    match e {
        BQError::ResponseError { error } => {
            format!("BigQuery {}: {}", error.error.code, error.error.message)
        }
        other => format!("BigQuery: {other}"),
    }
}

/// The typed warehouse error, keeping BigQuery's own message.
pub(crate) fn bq_error(e: BQError) -> WarehouseError {
    WarehouseError::Query(bq_message(e))
}

/// Whether a BigQuery API error is a 404 (a dataset or table that is not there).
pub(crate) fn is_not_found(e: &BQError) -> bool {
    matches!(e, BQError::ResponseError { error } if error.error.code == 404)
}

fn check_errors(
    what: &str,
    errors: Option<&[gcp_bigquery_client::model::error_proto::ErrorProto]>,
) -> Result<()> {
    match errors {
        Some(errs) if !errs.is_empty() => Err(WarehouseError::Query(format!(
            "{what}: {}",
            errs.iter()
                .filter_map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        _ => Ok(()),
    }
}

mod params;

pub(crate) use params::*;
