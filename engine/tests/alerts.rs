//! Alerts on change, never on noise (issue [M] 4), against a webhook
//! receiver of this test's own on 127.0.0.1: one message for a gap, none
//! on a repeated evaluation, one `resolved` after a backfill closes it, a
//! valid signature, nothing for a cell with only expected failures, and a
//! channel that fails never stops an evaluation.

#[path = "common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};

use common::{d, load_until};
use domain::DateRange;
use engine::watch::{evaluate, EvaluateOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

/// What the receiver was sent: (headers, body) per request.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A minimal HTTP/1.1 receiver: reads each request whole, answers 200.
async fn receiver() -> (String, Received) {
    receiver_failing(0).await
}

/// [`receiver`], answering 503 to the first `failing` requests.
async fn receiver_failing(failing: usize) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook?token=abc", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let into = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let into = Arc::clone(&into);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                    .collect();
                let seen = {
                    let mut got = into.lock().unwrap();
                    got.push((headers, buf[head_end..head_end + length].to_vec()));
                    got.len()
                };
                let answer: &[u8] = if seen <= failing {
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = socket.write_all(answer).await;
            });
        }
    });
    (url, got)
}

fn pipeline() -> domain::pipeline::Pipeline {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    domain::pipeline::Pipeline::parse(&format!(
        "{shipped}
[[alert]]
channel = \"webhook\"
url_env = \"ROLLCALL_TEST_HOOK_URL\"
secret_env = \"ROLLCALL_TEST_HOOK_SECRET\"
on = [\"unaccounted\", \"investigate\"]

[[alert]]
channel = \"slack\"
url_env = \"ROLLCALL_TEST_UNSET_SLACK_URL\"
"
    ))
    .unwrap()
}

fn options(start: &str, end: &str) -> EvaluateOptions {
    EvaluateOptions {
        window: Some(DateRange::new(d(start), d(end), 100).unwrap()),
        as_of: d("2021-11-10").and_hms_opt(8, 0, 0).unwrap(),
        trigger: "test".into(),
        public_url: "https://rollcall.example".into(),
    }
}

async fn run_psza(wh: &dyn Warehouse, start: &str, end: &str) {
    let psza = wh.pipeline().builtin(domain::Builtin::Psza).unwrap();
    let job = common::backfill_range(wh, &[psza], start, end).await;
    assert_eq!(job.state, warehouse::JobState::Succeeded);
}

fn keys(body: &[u8]) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["event"].as_str().unwrap(),
                c["dedup_key"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_message_per_change_signed_and_none_for_noise() {
    let (url, got) = receiver().await;
    std::env::set_var("ROLLCALL_TEST_HOOK_URL", &url);
    std::env::set_var("ROLLCALL_TEST_HOOK_SECRET", "s3cret");
    std::env::remove_var("ROLLCALL_TEST_UNSET_SLACK_URL");
    let wh = EmbeddedWarehouse::in_memory(Arc::new(pipeline())).unwrap();
    load_until(&wh, "2021-11-05").await;

    // Nothing has run: every cell of the two dates opens — one message.
    let first = evaluate(&wh, &options("2021-11-01", "2021-11-02"))
        .await
        .unwrap();
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one message for the evaluation");
    let (headers, body) = &sent[0];
    let keys_sent = keys(body);
    assert_eq!(keys_sent.len(), first.cells.len());
    assert!(
        keys_sent.contains(&"opened PDC:2021-11-01".to_string()),
        "{keys_sent:?}"
    );
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let cell = &json["cells"][0];
    assert!(cell["unaccounted"].as_i64().unwrap() > 0);
    assert!(!cell["entities"].as_array().unwrap().is_empty());
    assert!(cell["entities"].as_array().unwrap().len() <= 20);
    assert!(
        cell["url"]
            .as_str()
            .unwrap()
            .starts_with("https://rollcall.example/?start="),
        "{cell}"
    );
    // The signature covers the timestamp and the body.
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let timestamp: i64 = header(engine::alerts::TIMESTAMP_HEADER)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        header(engine::alerts::SIGNATURE_HEADER).unwrap(),
        engine::alerts::signature("s3cret", timestamp, body)
    );
    assert_ne!(
        header(engine::alerts::SIGNATURE_HEADER).unwrap(),
        engine::alerts::signature("other", timestamp, body)
    );
    // The Slack channel has no URL: logged, and the evaluation went on.
    let slack = first
        .deliveries
        .iter()
        .find(|d| d.channel.starts_with("slack"))
        .unwrap();
    assert_eq!(
        slack.error.as_deref(),
        Some("ROLLCALL_TEST_UNSET_SLACK_URL is not set")
    );
    assert!(first
        .deliveries
        .iter()
        .any(|d| d.channel.starts_with("webhook") && d.http_status == Some(200)));

    // The same again: no message.
    evaluate(&wh, &options("2021-11-01", "2021-11-02"))
        .await
        .unwrap();
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "a cell that stays the same never re-alerts"
    );

    // PSZA runs on the first two dates: its cells resolve — one message,
    // `resolved`, naming how long they were open.
    run_psza(&wh, "2021-11-01", "2021-11-02").await;
    let later = EvaluateOptions {
        as_of: d("2021-11-10").and_hms_opt(9, 30, 0).unwrap(),
        ..options("2021-11-01", "2021-11-02")
    };
    evaluate(&wh, &later).await.unwrap();
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        keys(&sent[1].1),
        ["resolved PSZA:2021-11-01", "resolved PSZA:2021-11-02"]
    );
    let json: serde_json::Value = serde_json::from_slice(&sent[1].1).unwrap();
    assert_eq!(json["cells"][0]["open_for_seconds"], 5400);

    // A cell with only expected failures from the start never alerts:
    // PSZA on 2021-11-03 runs before its first evaluation.
    run_psza(&wh, "2021-11-03", "2021-11-03").await;
    let third_day = evaluate(&wh, &options("2021-11-03", "2021-11-03"))
        .await
        .unwrap();
    let psza = wh.pipeline().builtin(domain::Builtin::Psza).unwrap();
    let cell = wh
        .cell_counts(
            DateRange::new(d("2021-11-03"), d("2021-11-03"), 1).unwrap(),
            &[psza],
        )
        .await
        .unwrap();
    assert!(
        cell[0].has_failure > 0 && cell[0].unaccounted == 0 && cell[0].investigate == 0,
        "{:?}",
        cell[0]
    );
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    let keys_sent = keys(&sent[2].1);
    assert!(
        !keys_sent.iter().any(|k| k.contains("PSZA")),
        "{keys_sent:?}"
    );
    assert!(keys_sent.contains(&"opened PDC:2021-11-03".to_string()));
    assert_eq!(third_day.deliveries.len(), 2);

    // Every delivery is logged.
    let logged = wh.deliveries(10).await.unwrap();
    assert_eq!(
        logged.iter().filter(|d| d.http_status == Some(200)).count(),
        3
    );
}

/// A channel that answers 503 is tried again (bounded), logged with what
/// it answered, and never stops the evaluation.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_channel_is_retried_a_bounded_number_of_times_and_logged() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    let pipeline = domain::pipeline::Pipeline::parse(&format!(
        "{shipped}\n[[alert]]\nchannel = \"webhook\"\nurl_env = \"ROLLCALL_TEST_RETRY_URL\"\n"
    ))
    .unwrap();
    let wh = EmbeddedWarehouse::in_memory(Arc::new(pipeline)).unwrap();
    load_until(&wh, "2021-11-05").await;

    // Two 503s, then 200: delivered on the third attempt.
    let (url, got) = receiver_failing(2).await;
    std::env::set_var("ROLLCALL_TEST_RETRY_URL", &url);
    let first = evaluate(&wh, &options("2021-11-01", "2021-11-01"))
        .await
        .unwrap();
    assert_eq!(got.lock().unwrap().len(), 3);
    let d = &first.deliveries[0];
    assert_eq!(
        (d.http_status, d.attempts, d.error.as_deref()),
        (Some(200), 3, None)
    );

    // Always 503: three attempts, then logged as failed; the evaluation
    // is kept all the same.
    let (url, got) = receiver_failing(usize::MAX).await;
    std::env::set_var("ROLLCALL_TEST_RETRY_URL", &url);
    let second = evaluate(&wh, &options("2021-11-02", "2021-11-02"))
        .await
        .unwrap();
    assert_eq!(got.lock().unwrap().len(), 3, "bounded");
    let d = &second.deliveries[0];
    assert_eq!((d.http_status, d.attempts), (Some(503), 3));
    assert!(
        d.error.as_deref().unwrap_or_default().contains("503"),
        "{d:?}"
    );
    assert_eq!(
        wh.latest_evaluation().await.unwrap().map(|e| e.id),
        Some(second.record.id.clone())
    );
}

/// Issue [M] 3, 4: a channel `on = ["late"]` hears of a cell once it is
/// past its deadline, and of nothing before.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_cell_alerts_a_channel_on_late() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pipelines/nba.toml"
    ))
    .unwrap();
    let pipeline = domain::pipeline::Pipeline::parse(&format!(
        "{}\n[[alert]]\nchannel = \"webhook\"\nurl_env = \"ROLLCALL_TEST_LATE_URL\"\non = [\"late\"]\n",
        shipped.replacen("min_games = 3\n", "min_games = 3\nexpected_by = \"09:00\"\n", 1)
    ))
    .unwrap();
    let wh = EmbeddedWarehouse::in_memory(Arc::new(pipeline)).unwrap();
    load_until(&wh, "2021-11-05").await;
    let (url, got) = receiver().await;
    std::env::set_var("ROLLCALL_TEST_LATE_URL", &url);
    let at = |s: &str| EvaluateOptions {
        as_of: chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap(),
        ..options("2021-11-05", "2021-11-05")
    };
    // Before PDC's deadline (2021-11-06 09:00 UTC): open, but not late —
    // nothing for a channel on late only.
    evaluate(&wh, &at("2021-11-06 08:59")).await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 0);
    // Past it: PDC 2021-11-05 is late (never run): one message, that cell.
    evaluate(&wh, &at("2021-11-06 09:00")).await.unwrap();
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let json: serde_json::Value = serde_json::from_slice(&sent[0].1).unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1, "{json}");
    assert_eq!(
        (cells[0]["dedup_key"].as_str(), cells[0]["late"].as_bool()),
        (Some("PDC:2021-11-05"), Some(true))
    );
    assert_eq!(cells[0]["event"], "worse");
}
