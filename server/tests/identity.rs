//! Who a request is (issue [N] 2), through the real router without a
//! socket: a proxy's email header is believed only from its trusted
//! address, IAP's assertion only when its signature, audience, issuer and
//! expiry hold; a viewer may read but neither start a re-run nor
//! acknowledge; what an operator makes carries their name.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use leptos::server_fn::ServerFn;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use server::auth::identity::{Auth, AuthMode, IapVerifier, Operators};
use warehouse::sql::AckScope;
use warehouse::Warehouse;
use warehouse_embedded::EmbeddedWarehouse;

const DAY: &str = "2021-11-03";
const AUDIENCE: &str = "/projects/42/global/backendServices/7";

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let (status, body, _) = support::send(app, method, path, body, peer, headers).await;
    (status, body)
}

fn app(wh: &Arc<EmbeddedWarehouse>, auth: Auth) -> axum::Router {
    support::app(wh, "0.0.0.0:3000", Some("s3cret"), auth)
}

fn first_player() -> String {
    support::expected_players(DAY).remove(0)
}

fn ack_form() -> String {
    format!(
        "processor=PSZA&date={DAY}&entity={}&reason=other",
        first_player()
    )
}

const START: &str =
    "form%5Bp%5D=PSZA&form%5Bstart%5D=2021-11-05&form%5Bend%5D=2021-11-05&form%5Bmode%5D=all&form%5Bdownstream%5D=no";

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_the_header_counts_only_from_it_and_viewers_only_read() {
    let wh = support::upstream_store().await;
    let auth = Auth {
        mode: AuthMode::Proxy,
        trusted: server::auth::identity::parse_networks(&["127.0.0.1".into()]).unwrap(),
        operators: Operators::parse(&["@ops.example.com".into()]),
        iap: None,
    };
    let app = app(&wh, auth);
    let viewer = [("x-forwarded-email", "val@example.com")];
    let operator = [("x-auth-request-email", "ann@ops.example.com")];

    // A forged header from anywhere else is refused, not believed.
    let (status, body) = send(&app, "GET", "/acknowledgements", "", "192.0.2.7", &operator).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("not a trusted proxy"), "{body}");
    let (status, _) = send(
        &app,
        "POST",
        "/acknowledge",
        &ack_form(),
        "192.0.2.7",
        &operator,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A viewer reads, and is told who they are and why they may not act.
    let (status, page) = send(&app, "GET", "/acknowledgements", "", "127.0.0.1", &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Signed in as val@example.com, a viewer"),
        "{page}"
    );
    let (status, body) = send(
        &app,
        "POST",
        "/acknowledge",
        &ack_form(),
        "127.0.0.1",
        &viewer,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("val@example.com is a viewer"), "{body}");
    let (status, _) = send(
        &app,
        "POST",
        app::api::StartRerun::PATH,
        START,
        "127.0.0.1",
        &viewer,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nobody signed in, on loopback: no longer enough beyond the token mode.
    let (status, _) = send(&app, "POST", "/acknowledge", &ack_form(), "127.0.0.1", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(wh
        .acknowledgements(AckScope::All, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(wh.jobs(10).await.unwrap().is_empty());

    // Someone guessing tokens throttles token checks, not named operators.
    for _ in 0..12 {
        send(
            &app,
            "POST",
            "/acknowledge",
            &ack_form(),
            "127.0.0.1",
            &[
                ("x-forwarded-email", "val@example.com"),
                ("x-rollcall-token", "guess"),
            ],
        )
        .await;
    }
    let (status, _) = send(
        &app,
        "POST",
        "/acknowledge",
        &ack_form(),
        "127.0.0.1",
        &[("x-rollcall-token", "s3cret")],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the token is throttled"
    );
    assert!(wh
        .acknowledgements(AckScope::All, None, 10)
        .await
        .unwrap()
        .is_empty());

    // An operator acts under their own name.
    let (status, body) = send(
        &app,
        "POST",
        "/acknowledge",
        &ack_form(),
        "127.0.0.1",
        &operator,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let acks = wh.acknowledgements(AckScope::All, None, 10).await.unwrap();
    assert_eq!(acks[0].created_by, "ann@ops.example.com");
    let (status, body) = send(
        &app,
        "POST",
        app::api::StartRerun::PATH,
        START,
        "127.0.0.1",
        &operator,
    )
    .await;
    assert!(
        status.is_success() || status.is_redirection(),
        "{status}: {body}"
    );
    let jobs = wh.jobs(10).await.unwrap();
    assert_eq!(jobs[0].requested_by, "dashboard: ann@ops.example.com");
    // The CLI's operator token still works behind the proxy (once the
    // guesses have aged out of the window).
    tokio::time::sleep(server::auth::GUESS_WINDOW).await;
    let (status, body) = send(
        &app,
        "POST",
        "/acknowledgements/revoke",
        &format!("id={}", acks[0].id),
        "127.0.0.1",
        &[("x-rollcall-token", "s3cret")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

/// An ES256 key of the test's own, as a PKCS#8 document and a JWK set.
fn key(kid: &str) -> (Vec<u8>, serde_json::Value) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64(&point[1..33]), "y": b64(&point[33..65]),
    });
    (pkcs8.as_ref().to_vec(), jwk)
}

fn assertion(pkcs8: &[u8], kid: &str, audience: &str, expires_in: i64, email: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.into());
    let claims = serde_json::json!({
        "iss": "https://cloud.google.com/iap", "aud": audience, "iat": now - 10,
        "exp": now + expires_in, "email": email, "sub": "accounts.google.com:1",
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_iap_only_a_valid_assertion_names_anyone() {
    let wh = support::upstream_store().await;
    let (pkcs8, jwk) = key("k1");
    let (other, _) = key("k1");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("iap-keys.json");
    std::fs::write(&keys, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let auth = Auth {
        mode: AuthMode::Iap,
        trusted: Vec::new(),
        operators: Operators::parse(&["ann@example.com".into()]),
        iap: Some(Arc::new(IapVerifier::from_file(AUDIENCE, &keys).unwrap())),
    };
    let app = app(&wh, auth);
    let header = |jwt: &str| [("x-goog-iap-jwt-assertion", jwt.to_string())];
    let post = |jwt: String| {
        let app = app.clone();
        async move {
            let h = header(&jwt);
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(
                &app,
                "POST",
                "/acknowledge",
                &ack_form(),
                "198.51.100.4",
                &h,
            )
            .await
        }
    };
    for (why, jwt) in [
        (
            "wrong audience",
            assertion(&pkcs8, "k1", "/projects/1/other", 600, "ann@example.com"),
        ),
        (
            "expired",
            assertion(&pkcs8, "k1", AUDIENCE, -600, "ann@example.com"),
        ),
        (
            "another key",
            assertion(&other, "k1", AUDIENCE, 600, "ann@example.com"),
        ),
        (
            "unknown key id",
            assertion(&pkcs8, "k9", AUDIENCE, 600, "ann@example.com"),
        ),
        ("not a JWT", "abc.def.ghi".to_string()),
    ] {
        let (status, body) = post(jwt).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert!(body.contains("IAP assertion was refused"), "{why}: {body}");
    }
    assert!(wh
        .acknowledgements(AckScope::All, None, 10)
        .await
        .unwrap()
        .is_empty());

    // A valid assertion of a viewer: reads, may not acknowledge.
    let viewer = assertion(
        &pkcs8,
        "k1",
        AUDIENCE,
        600,
        "accounts.google.com:val@example.com",
    );
    let (status, _) = post(viewer.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let h = header(&viewer);
    let (status, page) = send(
        &app,
        "GET",
        "/acknowledgements",
        "",
        "198.51.100.4",
        &[(h[0].0, h[0].1.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Signed in as val@example.com, a viewer"),
        "{page}"
    );
    // The operator's is kept under their name.
    let (status, body) = post(assertion(&pkcs8, "k1", AUDIENCE, 600, "ann@example.com")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let acks = wh.acknowledgements(AckScope::All, None, 10).await.unwrap();
    assert_eq!(acks[0].created_by, "ann@example.com");
}
