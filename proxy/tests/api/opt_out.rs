use campaign_emulator::store::CallKind;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn reads_then_changes_the_signed_in_users_choice() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");

    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": false, "pending": false, "gpcHonored": false})
    );

    let state = state_of(app.patch_opt_out(&token, true).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": false, "gpcHonored": false})
    );
    assert!(app.opt_out_of("CUST-1001"), "Campaign holds the new choice");

    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], true);

    state_of(app.patch_opt_out(&token, false).await).await;
    assert!(
        !app.opt_out_of("CUST-1001"),
        "opting back in is possible too"
    );
}

#[tokio::test]
async fn answers_only_the_choice_never_the_rest_of_the_profile() {
    let app = spawn_app().await;
    let response = app.get_opt_out(&token_for("CUST-1002")).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"ccpaOptOut":true,"pending":false,"gpcHonored":false}"#
    );
}

#[tokio::test]
async fn finds_profiles_by_email_when_configured_so() {
    let app = spawn_app_keyed_by_email().await;
    let with_email = |email: &str| token_with_email("host-user-7", email);

    let state = state_of(
        app.patch_opt_out(&with_email("grace@example.com"), false)
            .await,
    )
    .await;
    assert_eq!(state["ccpaOptOut"], false);
    assert!(!app.opt_out_of("CUST-1002"));

    let state = state_of(app.get_opt_out(&with_email("twin@example.com")).await).await;
    assert_eq!(
        state["ccpaOptOut"], false,
        "several matches: opted out only when every one is"
    );

    let state = state_of(app.get_opt_out(&with_email("nobody@example.com")).await).await;
    assert_eq!(
        state["ccpaOptOut"], false,
        "no profile: no opt-out on record"
    );

    let (status, code) = error_of(app.get_opt_out(&with_email("not-an-email")).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_token"));
}

#[tokio::test]
async fn an_address_several_profiles_share_opts_them_all_out_and_allows_sale_on_none() {
    let app = spawn_app_keyed_by_email().await;
    let token = token_with_email("host-user-9", "twin@example.com");
    let twins = || {
        app.emulator
            .profiles()
            .into_iter()
            .filter(|p| p.email == "twin@example.com")
            .map(|p| p.ccpa_opt_out)
            .collect::<Vec<_>>()
    };
    let state = state_of(app.patch_opt_out(&token, true).await).await;
    assert_eq!(state["ccpaOptOut"], true, "the protective side wins");
    assert_eq!(twins(), [true, true]);
    let (status, code) = error_of(app.patch_opt_out(&token, false).await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "ambiguous_profile"),
        "allowing sale is no guess to make"
    );
    assert_eq!(twins(), [true, true]);
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], true, "every match is opted out");
    let audit = app.audit().await;
    let trail: Vec<_> = audit
        .iter()
        .map(|r| (r.requested, r.outcome.as_deref(), r.profiles_changed))
        .collect();
    assert_eq!(
        trail,
        [
            (true, Some("applied"), Some(2)),
            (false, Some("denied"), None)
        ]
    );
}

/// A GPC signal for an address several profiles share opts every one of
/// them out, and is audited: it used to leave no record at all.
#[tokio::test]
async fn a_signal_for_an_address_several_profiles_share_is_applied_to_all() {
    let app = spawn_app_keyed_by_email().await;
    let token = token_with_email("host-user-9", "twin@example.com");
    let state = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        (&state["ccpaOptOut"], &state["signalApplied"]),
        (&json!(true), &json!(true))
    );
    assert!(
        app.emulator
            .profiles()
            .iter()
            .filter(|p| p.email == "twin@example.com")
            .all(|p| p.ccpa_opt_out)
    );
    let audit = app.audit().await;
    assert_eq!(
        (audit[0].source.as_str(), audit[0].outcome.as_deref()),
        ("gpc", Some("applied"))
    );
}

#[tokio::test]
async fn two_hundred_requests_on_a_revoked_token_renew_it_once_with_few_connections() {
    let app = spawn_app_with(|s| s.campaign.max_concurrency = 8).await;
    app.emulator
        .set_latency(std::time::Duration::from_millis(20));
    app.emulator.expire_tokens();
    let token = token_for("CUST-1003");
    let requests = (0..200).map(|_| app.get_opt_out(&token));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), 200);
    }
    let stats = app.emulator.stats();
    assert_eq!(stats.token_requests, 1, "single flight");
    assert!(
        stats.peak_concurrent_requests <= 8,
        "bounded: {} Campaign calls at once",
        stats.peak_concurrent_requests
    );
}

#[tokio::test]
async fn liveness_answers() {
    let app = spawn_app().await;
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn cors_admits_only_configured_origins() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.api())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PATCH")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight(ALLOWED_ORIGIN).await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        ALLOWED_ORIGIN
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// The kinds of the Campaign calls since the proxy started, IMS left out.
fn campaign_calls(app: &TestApp) -> Vec<CallKind> {
    app.emulator
        .calls()
        .into_iter()
        .map(|call| call.kind)
        .filter(|kind| *kind != CallKind::Token)
        .collect()
}

#[tokio::test]
async fn a_change_by_custom_key_is_one_campaign_call() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert_eq!(campaign_calls(&app), [CallKind::Patch]);
    assert!(app.opt_out_of("CUST-1001"));
    let audit = app.audit().await;
    assert_eq!(
        (audit[0].outcome.as_deref(), audit[0].previous),
        (Some("applied"), None),
        "applied; the value before was not read"
    );
}

#[tokio::test]
async fn a_read_that_applies_gpc_makes_two_campaign_calls() {
    let app = spawn_app().await;
    let read = app.get_with_gpc(&token_for("CUST-1001")).await;
    assert_eq!(state_of(read).await["ccpaOptOut"], json!(true));
    assert_eq!(campaign_calls(&app), [CallKind::Lookup, CallKind::Patch]);
}

#[tokio::test]
async fn a_key_campaign_does_not_address_is_looked_up_then_created() {
    let app = spawn_app().await;
    let token = token_for("CUST-NEW-1");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert_eq!(
        campaign_calls(&app),
        [CallKind::Patch, CallKind::Lookup, CallKind::Create]
    );
    assert!(app.opt_out_of("CUST-NEW-1"));
    assert_eq!(app.audit().await[0].outcome.as_deref(), Some("created"));
}
