//! The listener against slow and greedy clients, on 127.0.0.1: a client
//! that never finishes its request head is cut off, so a bound on
//! connections cannot be exhausted by a handful of them (slowloris); a
//! shutdown lets the request in flight finish.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slow ok"
            }),
        )
        .route(
            "/echo",
            axum::routing::post(|body: String| async move { format!("got {} bytes", body.len()) }),
        )
}

async fn start(
    limits: server::serve::ServeLimits,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve::serve(listener, app(), limits, async {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

async fn get_path(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off_and_cannot_exhaust_the_connections() {
    let (addr, _stop, _task) = start(server::serve::ServeLimits {
        max_connections: 4,
        header_timeout: Duration::from_secs(1),
        drain: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    // Four clients take every connection and dribble an unfinished head.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), get_path(addr, "/"))
        .await
        .expect("a normal client is served once the slow ones time out");
    assert!(answer.ends_with("ok"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The slow ones were closed by the server.
    for mut s in slow {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server closed the slow connection")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            n == 0 || text.contains("408") || text.contains("400"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_the_request_in_flight_finish() {
    let (addr, stop, task) = start(server::serve::ServeLimits::default()).await;
    let in_flight = tokio::spawn(get_path(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.ends_with("slow ok"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns after draining")
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// A client that announces a body and sends a byte every 200 ms; what it
/// is answered (the status line) once the server answers or closes.
async fn trickle_body(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    for _ in 0..100 {
        let mut buf = [0u8; 256];
        tokio::select! {
            read = s.read(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        break;
                    }
                }
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if s.write_all(b"a").await.is_err() {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_bodies_get_408_and_everyone_else_is_served() {
    let (addr, _stop, _task) = start(server::serve::ServeLimits {
        body_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let slow: Vec<_> = (0..32).map(|_| tokio::spawn(trickle_body(addr))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile a plain request and a whole body are answered at once.
    assert!(get_path(addr, "/").await.ends_with("ok"));
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with("got 5 bytes"), "{out}");
    for client in slow {
        let status = client.await.unwrap();
        assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    }
}
