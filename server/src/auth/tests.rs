//! The access policy's unit tests: hosts, tokens, origins, throttling.

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn access_follows_the_bind_address_and_token() {
    let lo: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
    let t: Secret = "s3cret".parse().unwrap();
    assert_eq!(
        Operator::new(lo, None).access,
        OperatorAccess::OpenOnLoopback
    );
    assert_eq!(Operator::new(any, None).access, OperatorAccess::Disabled);
    assert_eq!(
        Operator::new(any, Some(t.clone())).access,
        OperatorAccess::TokenRequired
    );
    assert_eq!(
        Operator::new(lo, Some(t)).access,
        OperatorAccess::TokenRequired
    );
    assert!(
        !format!("{:?}", Operator::new(any, Some("s3cret".parse().unwrap()))).contains("s3cret")
    );
}

#[test]
fn tokens_come_from_header_or_cookie() {
    let op = Operator::new(
        "0.0.0.0:1".parse().unwrap(),
        Some("s3cret".parse().unwrap()),
    );
    assert!(op
        .authorize(&headers(&[(TOKEN_HEADER, "s3cret")]), None)
        .is_ok());
    let cookie = format!("a=b; rollcall_token={}", session_value("s3cret"));
    assert!(op.authorize(&headers(&[("cookie", &cookie)]), None).is_ok());
    // The cookie holds the derived value, never the token itself.
    assert!(!cookie.contains("s3cret"));
    assert!(op
        .authorize(&headers(&[("cookie", "rollcall_token=s3cret")]), None)
        .is_err());
    assert_eq!(
        op.authorize(&headers(&[(TOKEN_HEADER, "s3cre")]), None)
            .unwrap_err(),
        "wrong operator token"
    );
    assert!(op
        .authorize(&headers(&[]), None)
        .unwrap_err()
        .contains("required"));
}

#[test]
fn wrong_tokens_past_the_limit_stop_every_check_for_a_while() {
    let op = Operator::new(
        "0.0.0.0:1".parse().unwrap(),
        Some("s3cret".parse().unwrap()),
    );
    for _ in 0..MAX_WRONG_TOKENS - 1 {
        assert!(op
            .authorize(&headers(&[(TOKEN_HEADER, "guess")]), None)
            .is_err());
        assert_eq!(op.throttled(), None);
    }
    assert!(op
        .authorize(&headers(&[(TOKEN_HEADER, "guess")]), None)
        .is_err());
    let wait = op.throttled().expect("throttled after the limit");
    assert!((1..=GUESS_WINDOW.as_secs()).contains(&wait), "{wait}");
    // A right token does not count.
    let fresh = Operator::new(
        "0.0.0.0:1".parse().unwrap(),
        Some("s3cret".parse().unwrap()),
    );
    for _ in 0..2 * MAX_WRONG_TOKENS {
        assert!(fresh
            .authorize(&headers(&[(TOKEN_HEADER, "s3cret")]), None)
            .is_ok());
    }
    assert_eq!(fresh.throttled(), None);
}

#[test]
fn only_our_host_names_are_served() {
    let lo = Operator::new("127.0.0.1:3000".parse().unwrap(), None);
    for ok in [
        "127.0.0.1:3000",
        "localhost:3000",
        "LOCALHOST",
        "[::1]:3000",
    ] {
        assert!(lo.check_host(&headers(&[("host", ok)])).is_ok(), "{ok}");
    }
    let err = lo
        .check_host(&headers(&[("host", "rebind.example:3000")]))
        .unwrap_err();
    assert!(err.contains("rebind.example"), "{err}");
    assert!(lo.check_host(&headers(&[])).is_ok(), "non-browser clients");
    let public = Operator::new("0.0.0.0:3000".parse().unwrap(), None)
        .with_public_hosts(&["Rollcall.Example.com".into()], false);
    assert!(public
        .check_host(&headers(&[("host", "rollcall.example.com")]))
        .is_ok());
    assert!(public
        .check_host(&headers(&[("host", "0.0.0.0:3000")]))
        .is_err());
}

#[test]
fn forwarded_requests_are_not_local_without_a_trusted_proxy() {
    let lo = Operator::new("127.0.0.1:3000".parse().unwrap(), None);
    assert!(lo.authorize(&headers(&[]), None).is_ok());
    for h in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let v = if h == "forwarded" {
            "for=127.0.0.1"
        } else {
            "127.0.0.1"
        };
        assert!(lo.authorize(&headers(&[(h, v)]), None).is_err(), "{h}");
    }
    let proxied = lo.clone().with_public_hosts(&[], true);
    assert!(proxied
        .authorize(&headers(&[("x-forwarded-for", "127.0.0.1")]), None)
        .is_ok());
    assert!(proxied
        .authorize(
            &headers(&[("x-forwarded-for", "203.0.113.9, 127.0.0.1")]),
            None
        )
        .is_err());
}

/// Every registered server function is classified: read-only (listed in
/// [`READ_ONLY`]) or one of the known mutations. A new server function
/// fails this until it is put on one of the two lists.
#[test]
fn every_server_function_is_read_only_or_a_mutation() {
    let mutations = [
        app::api::StartRerun::PATH,
        app::api::StartBackfill::PATH,
        app::api::CancelJob::PATH,
        app::api::ResumeJob::PATH,
    ];
    let mut registered: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    registered.sort_unstable();
    registered.dedup();
    assert!(!registered.is_empty(), "no server functions registered");
    for path in &registered {
        assert!(
            path.starts_with(SERVER_FN_PREFIX),
            "{path} is not under {SERVER_FN_PREFIX}"
        );
        assert!(
            READ_ONLY.contains(path) || mutations.contains(path),
            "server function {path} is unclassified: add it to READ_ONLY \
             (server/src/auth.rs) or to this test's mutations"
        );
        assert_eq!(is_mutation(path), mutations.contains(path), "{path}");
    }
    assert_eq!(
        registered.len(),
        READ_ONLY.len() + mutations.len(),
        "a listed path is not a registered server function: {registered:?}"
    );
    for path in mutations {
        assert!(is_mutation(path), "{path}");
    }
    for path in READ_ONLY {
        assert!(!is_mutation(path), "{path}");
    }
    // Unknown paths under the prefix are refused by default.
    let near_miss = format!("{}x", app::api::CoverageOverview::PATH);
    for path in ["/api/drop_everything", "/api/", near_miss.as_str()] {
        assert!(is_mutation(path), "{path}");
    }
    for path in [
        "/",
        "/jobs",
        "/report.csv",
        "/healthz",
        "/apiary",
        TOKEN_PATH,
    ] {
        assert!(!is_mutation(path), "{path}");
    }
}

#[test]
fn cross_origin_is_refused() {
    let host = ("host", "127.0.0.1:3000");
    assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:3000")])).is_ok());
    assert!(same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
    assert!(same_origin(&headers(&[host, ("origin", "null")])).is_err());
    assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
    assert!(
        same_origin(&headers(&[host])).is_ok(),
        "non-browser clients"
    );
}
