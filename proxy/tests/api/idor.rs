//! User A must never read or change user B's choice, whatever A sends.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn user_a_cannot_read_or_change_user_b() {
    let app = spawn_app().await;
    let a = token_for("CUST-1001");
    let b_before = app.opt_out_of("CUST-1003");
    let b_pkey = app.emulator.profile("CUST-1003").unwrap().pkey;

    // Naming B in the path, the query or the body: each refused for what
    // it is, with a JSON error.
    let attempts = [
        (
            app.http.get(format!("{}/CUST-1003", app.api())),
            404,
            "not_found",
        ),
        (
            app.http.get(format!("{}?customKey=CUST-1003", app.api())),
            400,
            "unexpected_parameter",
        ),
        (
            app.http.get(format!("{}?PKey={b_pkey}", app.api())),
            400,
            "unexpected_parameter",
        ),
        (
            app.http
                .get(format!("{}?email=alan@example.com", app.api())),
            400,
            "unexpected_parameter",
        ),
        (
            app.http
                .patch(format!("{}/{b_pkey}", app.api()))
                .json(&json!({"ccpaOptOut": !b_before})),
            404,
            "not_found",
        ),
        (
            app.http
                .patch(format!("{}?sub=CUST-1003", app.api()))
                .json(&json!({"ccpaOptOut": !b_before})),
            400,
            "unexpected_parameter",
        ),
        (
            app.http
                .patch(app.api())
                .json(&json!({"ccpaOptOut": !b_before, "PKey": b_pkey})),
            422,
            "invalid_body",
        ),
        (
            app.http
                .patch(app.api())
                .json(&json!({"ccpaOptOut": !b_before, "cusCustomerId": "CUST-1003"})),
            422,
            "invalid_body",
        ),
        (
            app.http
                .patch(app.api())
                .json(&json!({"ccpaOptOut": !b_before, "email": "alan@example.com"})),
            422,
            "invalid_body",
        ),
    ];
    for (attempt, status, code) in attempts {
        let response = attempt.bearer_auth(&a).send().await.unwrap();
        assert_eq!(error_of(response).await, (status, code.into()));
    }
    assert_eq!(
        app.emulator.stats().campaign_requests,
        0,
        "nothing was forwarded"
    );
    assert_eq!(app.opt_out_of("CUST-1003"), b_before, "B untouched");

    // A's own request only ever reaches A's profile.
    state_of(app.patch_opt_out(&a, true).await).await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.opt_out_of("CUST-1003"), b_before);
}

#[tokio::test]
async fn a_key_that_looks_like_a_path_cannot_escape_its_profile() {
    let app = spawn_app().await;
    for sneaky in [
        "../profileAndServices/profile",
        "CUST-1001/../CUST-1003",
        "%2e%2e",
        "CUST-1003?x=1",
    ] {
        // No profile has such a key: no opt-out on record.
        let state = state_of(app.get_opt_out(&token_for(sneaky)).await).await;
        assert_eq!(state["ccpaOptOut"], false, "{sneaky}");
    }
    // Each was one look-up of one (missing) profile: none reached the
    // collection or another resource.
    let calls = app.emulator.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.kind == campaign_emulator::store::CallKind::Lookup && c.status == 404),
        "{calls:?}"
    );
}
