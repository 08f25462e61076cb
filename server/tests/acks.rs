//! Known gaps on the dashboard (issue [N] 1): the acknowledge form lists a
//! cell's unaccounted entities, posting it needs the operator role (a
//! viewer's post is refused and keeps nothing), the list shows who and
//! until when and revokes; hostile text is escaped. Driven through the real
//! router without a socket.

#[path = "support/mod.rs"]
mod support;

use axum::http::StatusCode;
use server::auth::identity::Auth;
use support::{expected_players, send_local as send, upstream_store};
use warehouse::sql::AckScope;
use warehouse::Warehouse;

const DAY: &str = "2021-11-03";

#[tokio::test(flavor = "multi_thread")]
async fn the_form_acknowledges_for_an_operator_only_and_the_list_revokes() {
    let wh = upstream_store().await;
    let app = support::app(&wh, "0.0.0.0:3000", Some("s3cret"), Auth::default());
    let players = expected_players(DAY);

    // Anyone may read the form: the cell's unaccounted players to pick.
    let (status, page, _) = send(
        &app,
        "GET",
        &format!("/acknowledge?processor=PSZA&date={DAY}"),
        "",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("value=\"{}\"", players[0])),
        "{page}"
    );
    assert!(page.contains("needs the operator role"), "{page}");

    // A viewer's post is refused and keeps nothing.
    let form = format!(
        "processor=PSZA&date={DAY}&entity={}&entity={}&reason=known_upstream&note=%3Cscript%3Ealert(1)%3C%2Fscript%3E&expires=7d",
        players[0], players[1]
    );
    let (status, body, _) = send(&app, "POST", "/acknowledge", &form, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = send(
        &app,
        "POST",
        "/acknowledge",
        &form,
        &[("x-rollcall-token", "guess")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(wh
        .acknowledgements(AckScope::All, None, 10)
        .await
        .unwrap()
        .is_empty());

    // The operator's is kept, and leads to the cell's list.
    let token = [("x-rollcall-token", "s3cret")];
    let (status, body, location) = send(&app, "POST", "/acknowledge", &form, &token).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        location.as_deref(),
        Some(format!("/acknowledgements?processor=PSZA&date={DAY}").as_str())
    );
    let kept = wh
        .acknowledgements(AckScope::InForce, None, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].created_by, "operator (token)");
    let day = domain::DateRange::new(kept[0].date, kept[0].date, 1).unwrap();
    let cells = wh.cell_counts(day, &[kept[0].processor]).await.unwrap();
    assert_eq!(cells[0].acknowledged, 2);

    // Bad input is a 400 naming the parameter, and keeps nothing more.
    for (bad, named) in [
        (form.replace("known_upstream", "because"), "reason"),
        (form.replace(&players[0], "zz-nobody"), "entity"),
        (form.replace("7d", "400d"), "expires"),
        (form.replace(DAY, "2021-02-30"), "date"),
        (format!("{form}&cell=1"), "not both"),
    ] {
        let (status, body, _) = send(&app, "POST", "/acknowledge", &bad, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{named}: {body}");
        assert!(body.contains(named), "{named}: {body}");
    }
    assert_eq!(
        wh.acknowledgements(AckScope::All, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // The list shows them, the hostile note as text, each with Revoke.
    let (status, list, _) = send(&app, "GET", "/acknowledgements", "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains(&players[0]) && list.contains("operator (token)"),
        "{list}"
    );
    assert!(
        list.contains("&lt;script&gt;") && !list.contains("<script>"),
        "{list}"
    );
    assert_eq!(list.matches(">Revoke</button>").count(), 2);

    // Revoking needs the role too; then the gap is unaccounted again.
    let revoke = format!("id={}", kept[0].id);
    let (status, _, _) = send(&app, "POST", "/acknowledgements/revoke", &revoke, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&app, "POST", "/acknowledgements/revoke", &revoke, &token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cells = wh.cell_counts(day, &[kept[0].processor]).await.unwrap();
    assert_eq!(cells[0].acknowledged, 1);
    let (status, body, _) = send(&app, "POST", "/acknowledgements/revoke", &revoke, &token).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, all, _) = send(&app, "GET", "/acknowledgements?all=1", "", &[]).await;
    assert!(all.contains("revoked"), "{all}");
}
