//! User A must never read or change user B's choice, whatever A sends.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn user_a_cannot_read_or_change_user_b() {
    let app = spawn_app().await;
    let a = token_for("CUST-1001");
    let b_before = app.opt_out_of("CUST-1003");
    let b_pkey = app.emulator.profile("CUST-1003").unwrap().pkey;

    // Naming B in the path, the query or the body.
    let attempts = [
        app.http.get(format!("{}/CUST-1003", app.api())),
        app.http.get(format!("{}?customKey=CUST-1003", app.api())),
        app.http.get(format!("{}?PKey={b_pkey}", app.api())),
        app.http
            .get(format!("{}?email=alan@example.com", app.api())),
        app.http
            .patch(format!("{}/{b_pkey}", app.api()))
            .json(&json!({"ccpaOptOut": !b_before})),
        app.http
            .patch(format!("{}?sub=CUST-1003", app.api()))
            .json(&json!({"ccpaOptOut": !b_before})),
        app.http
            .patch(app.api())
            .json(&json!({"ccpaOptOut": !b_before, "PKey": b_pkey})),
        app.http
            .patch(app.api())
            .json(&json!({"ccpaOptOut": !b_before, "cusCustomerId": "CUST-1003"})),
        app.http
            .patch(app.api())
            .json(&json!({"ccpaOptOut": !b_before, "email": "alan@example.com"})),
    ];
    for attempt in attempts {
        let response = attempt.bearer_auth(&a).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            matches!(status, 400 | 404 | 405 | 422),
            "refused, got {status}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "a JSON error: {body}");
    }
    assert_eq!(app.opt_out_of("CUST-1003"), b_before, "B untouched");
    assert_eq!(
        app.emulator.stats().patches,
        0,
        "nothing was changed anywhere"
    );

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
        let response = app.get_opt_out(&token_for(sneaky)).await;
        let status = response.status().as_u16();
        assert!(matches!(status, 401 | 404), "{sneaky}: {status}");
    }
    assert_eq!(app.emulator.stats().patches, 0);
}
