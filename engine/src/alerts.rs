//! Alert deliveries (issue [M] 4): after an evaluation, one message per
//! `[[alert]]` channel for the cells that opened, got worse or resolved —
//! none when nothing changed. A delivery has a timeout and bounded retries
//! and is logged in the store whatever its end; a failing channel never
//! stops an evaluation. URLs and signing secrets come from the environment.

use std::time::Duration;

use domain::watch::{alerting, chat_text, webhook_body, AlertSpec, Channel, Newsworthy};
use warehouse::{DeliveryRecord, EvaluationRecord, Warehouse};

/// One attempt's time limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per delivery; retried on no answer, 429 and 5xx only.
const ATTEMPTS: u32 = 3;

/// The header carrying the webhook body's signature: `sha256=` and the
/// hex HMAC-SHA256 of `{timestamp}.{body}` under the secret.
pub const SIGNATURE_HEADER: &str = "x-rollcall-signature";
/// The Unix time the signature covers (replayed bodies can be refused).
pub const TIMESTAMP_HEADER: &str = "x-rollcall-timestamp";

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature of `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(format!("{timestamp}.").as_bytes());
    ctx.update(body);
    format!("sha256={}", hex(ctx.sign().as_ref()))
}

/// Sends the evaluation's alerts; the deliveries, as logged.
pub async fn deliver(
    wh: &dyn Warehouse,
    evaluation: &EvaluationRecord,
    news: &[Newsworthy<'_>],
    public_url: &str,
) -> Vec<DeliveryRecord> {
    let pipeline = wh.pipeline();
    let mut out = Vec::new();
    for spec in &pipeline.alerts {
        let cells = alerting(spec, news);
        if cells.is_empty() {
            continue;
        }
        let (status, error, attempts) = match body_of(wh, spec, evaluation, &cells, public_url) {
            Ok(body) => send(spec, &body).await,
            Err(e) => (None, Some(e), 0),
        };
        if let Some(e) = &error {
            tracing::warn!(channel = %spec.label(), error = %e, "an alert was not delivered");
        }
        let record = DeliveryRecord {
            // One delivery per evaluation and channel: logging it again
            // replaces it.
            id: format!("{}:{}", evaluation.id, spec.label()),
            evaluation_id: evaluation.id.clone(),
            channel: spec.label(),
            sent_at: chrono::SubsecRound::trunc_subsecs(chrono::Utc::now().naive_utc(), 6),
            cells: cells.len() as i64,
            http_status: status.map(i64::from),
            error,
            attempts: i64::from(attempts),
        };
        if let Err(e) = wh.record_delivery(record.clone()).await {
            tracing::warn!(error = %e, "logging an alert delivery failed");
        }
        out.push(record);
    }
    out
}

fn body_of(
    wh: &dyn Warehouse,
    spec: &AlertSpec,
    e: &EvaluationRecord,
    cells: &[Newsworthy<'_>],
    public_url: &str,
) -> Result<Vec<u8>, String> {
    let pipeline = wh.pipeline();
    let json = match spec.channel {
        Channel::Webhook => serde_json::to_vec(&webhook_body(
            pipeline,
            public_url,
            &e.id,
            e.as_of,
            (e.window_start, e.window_end),
            cells,
        )),
        Channel::Slack | Channel::Teams => serde_json::to_vec(&serde_json::json!({
            "text": chat_text(pipeline, public_url, e.as_of, cells),
        })),
    };
    json.map_err(|e| format!("cannot encode the message: {e}"))
}

/// Posts `body` to the channel's URL: (last HTTP status, error, attempts).
async fn send(spec: &AlertSpec, body: &[u8]) -> (Option<u16>, Option<String>, u32) {
    let Ok(url) = std::env::var(&spec.url_env) else {
        return (None, Some(format!("{} is not set", spec.url_env)), 0);
    };
    let secret = match &spec.secret_env {
        Some(name) => match std::env::var(name) {
            Ok(s) => Some(s),
            Err(_) => return (None, Some(format!("{name} is not set")), 0),
        },
        None => None,
    };
    let client = match reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return (None, Some(e.to_string()), 0),
    };
    let mut last = (None, None);
    for attempt in 1..=ATTEMPTS {
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(secret) = &secret {
            let now = chrono::Utc::now().timestamp();
            request = request
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, signature(secret, now, body));
        }
        let retry = match request.send().await {
            Ok(r) if r.status().is_success() => return (Some(r.status().as_u16()), None, attempt),
            Ok(r) => {
                let status = r.status();
                last = (Some(status.as_u16()), Some(format!("answered {status}")));
                status.as_u16() == 429 || status.is_server_error()
            }
            // The URL may carry a token: name the failure, not the URL.
            Err(e) => {
                last = (None, Some(describe(&e)));
                true
            }
        };
        if !retry || attempt == ATTEMPTS {
            return (last.0, last.1, attempt);
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
    }
    (last.0, last.1, ATTEMPTS)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}
