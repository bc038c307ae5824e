//! User A must never read or change user B's choice, whatever A sends.

use serde_json::json;

use crate::helpers::*;

/// A key Campaign would read as one of its own routes (a filter, the
/// collection's count) or an email whose domain is no host name is
/// refused at the token: Campaign is asked nothing. (`byEmail` was PATCHed
/// as the filter route; `grace@example.com;` got a profile of its own.)
#[tokio::test]
async fn keys_campaign_would_read_as_routes_are_refused_at_the_token() {
    let app = spawn_app().await;
    for key in ["byEmail", "_count", "email", "cusCustomerId"] {
        let (status, code) = error_of(app.patch_opt_out(&token_for(key), true).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"), "{key}");
    }
    let by_email = spawn_app_keyed_by_email().await;
    for email in [
        "grace@example.com;",
        "grace@example.com%00",
        "grace@localhost",
    ] {
        let token = token_with_email("host-user-5", email);
        let (status, code) = error_of(by_email.patch_opt_out(&token, true).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"), "{email}");
    }
    assert!(app.emulator.calls().is_empty() && by_email.emulator.calls().is_empty());
    assert!(app.audit().await.is_empty() && by_email.audit().await.is_empty());
}

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

/// A key claim that could name something else in Campaign's URL (the
/// collection, another resource, another profile by its PKey) is refused
/// at the token, before Campaign is asked anything.
#[tokio::test]
async fn a_key_that_looks_like_a_path_or_a_pkey_is_refused_before_campaign() {
    let app = spawn_app().await;
    let b_pkey = app.emulator.profile("CUST-1003").unwrap().pkey;
    for sneaky in [
        ".",
        "..",
        "../profileAndServices/profile",
        "CUST-1001/../CUST-1003",
        "%2e%2e",
        "CUST-1003?x=1",
        "CUST-1003;x",
        b_pkey.as_str(),
    ] {
        let token = token_for(sneaky);
        let read = error_of(app.get_opt_out(&token).await).await;
        assert_eq!(read, (401, "invalid_token".into()), "{sneaky}");
        let change = error_of(app.patch_opt_out(&token, true).await).await;
        assert_eq!(change, (401, "invalid_token".into()), "{sneaky}");
    }
    assert!(
        app.emulator.calls().is_empty(),
        "Campaign was asked nothing"
    );
    assert!(app.audit().await.is_empty());
    assert!(!app.opt_out_of("CUST-1003"));
}

/// Two `Authorization` headers: which would win depends on who reads
/// them, so neither does. The scheme's case does not matter (RFC 9110).
#[tokio::test]
async fn two_authorization_headers_are_refused_and_the_scheme_is_any_case() {
    let app = spawn_app().await;
    let (a, b) = (token_for("CUST-1001"), token_for("CUST-1003"));
    let both = app
        .http
        .patch(app.api())
        .header("Authorization", format!("Bearer {a}"))
        .header("Authorization", format!("Bearer {b}"))
        .json(&json!({"ccpaOptOut": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(both).await, (401, "invalid_token".into()));
    assert!(!app.opt_out_of("CUST-1001") && !app.opt_out_of("CUST-1003"));
    let lower = app
        .http
        .get(app.api())
        .header("Authorization", format!("bearer {a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200);
}

/// A look-up answered with another customer's profile (a caching proxy, a
/// bug): the proxy neither shows nor changes it.
#[tokio::test]
async fn a_look_up_answered_with_another_customers_profile_is_refused() {
    let app = spawn_app().await;
    let b = app.emulator.profile("CUST-1003").unwrap();
    let href = format!(
        "{}/{}/campaign/profileAndServicesExt/profile/{}",
        app.emulator.url(),
        app.emulator.config().organization,
        b.pkey
    );
    let answer = json!({"PKey": b.pkey, "href": href, "cusCustomerId": "CUST-1003",
                        "email": b.email, "ccpaOptOut": false});
    // The next look-up answers with B's profile.
    let mislead = || {
        app.emulator.inject(
            campaign_emulator::faults::Fault::campaign(
                campaign_emulator::faults::FaultKind::Answer {
                    status: 200,
                    content_type: "application/json".into(),
                    body: answer.to_string(),
                },
                1,
            )
            .only("GET"),
        )
    };
    mislead();
    let a = token_for("CUST-1001");
    let (status, _) = error_of(app.get_opt_out(&a).await).await;
    assert_eq!(status, 502);
    // An opt-out goes to A's own key, in one call: no look-up to mislead.
    assert_eq!(app.patch_opt_out(&a, true).await.status(), 200);
    assert!(app.opt_out_of("CUST-1001"));
    // An opt-in goes by the look-up, which must carry A's key: misled, it
    // is retried, and never lands on B.
    mislead();
    assert_eq!(app.patch_opt_out(&a, false).await.status(), 202);
    app.drained().await;
    assert!(
        !app.opt_out_of("CUST-1001"),
        "A's own, once Campaign answers right"
    );
    let patched: Vec<_> = app.emulator.opt_out_history("CUST-1003");
    assert!(patched.is_empty(), "B untouched: {patched:?}");
}
