//! What the browser sees when Campaign or IMS misbehave.

use campaign_emulator::faults::{Fault, FaultKind};

use crate::helpers::*;

#[tokio::test]
async fn a_revoked_access_token_is_renewed_once() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    state_of(app.get_opt_out(&token).await).await;
    app.emulator.expire_tokens();
    let state = state_of(app.patch_opt_out(&token, true).await).await;
    assert_eq!(state["ccpaOptOut"], true);
    assert_eq!(
        app.emulator.stats().token_requests,
        1,
        "one renewal, no more"
    );
    assert!(app.opt_out_of("CUST-1001"));
}

#[tokio::test]
async fn a_campaign_500_is_a_clear_502_that_leaks_nothing() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 500 }, 1));
    let response = app.get_opt_out(&token).await;
    let body = response.text().await.unwrap();
    assert!(body.contains("upstream_unavailable"), "{body}");
    for secret in [
        "Injected",
        "ccpa-demo-secret",
        "Bearer",
        "mc.adobe",
        "127.0.0.1",
    ] {
        assert!(!body.contains(secret), "{secret} leaked: {body}");
    }

    assert_eq!(
        state_of(app.get_opt_out(&token).await).await["ccpaOptOut"],
        false,
        "reads work again once Campaign recovers"
    );
}

#[tokio::test]
async fn a_slow_campaign_is_a_timeout_not_a_hang() {
    let app = spawn_app_with(|s| s.campaign.timeout_ms = SHORT.as_millis() as u64).await;
    let token = token_for("CUST-1001");
    state_of(app.get_opt_out(&token).await).await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 2_000 }, 1));
    let (status, code) = error_of(app.get_opt_out(&token).await).await;
    assert_eq!((status, code.as_str()), (504, "upstream_timeout"));
    assert_eq!(
        app.emulator.in_flight(),
        1,
        "answered while Campaign was still working on the call"
    );
}

#[tokio::test]
async fn throttling_and_an_ims_outage_are_reported_not_hidden() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    app.emulator.expire_tokens();
    app.emulator
        .inject(Fault::ims(FaultKind::Status { status: 503 }, 1));
    assert_eq!(
        error_of(app.get_opt_out(&token).await).await,
        (502, "upstream_unavailable".into())
    );
    app.emulator.inject(Fault::campaign(
        FaultKind::Throttle {
            retry_after_secs: 1,
        },
        1,
    ));
    assert_eq!(
        error_of(app.get_opt_out(&token).await).await,
        (502, "upstream_unavailable".into())
    );
    assert_eq!(
        state_of(app.get_opt_out(&token).await).await["ccpaOptOut"],
        false
    );
}

#[tokio::test]
async fn an_unreachable_campaign_is_reported() {
    let app = spawn_app_with(|s| {
        s.campaign.base_url = "http://127.0.0.1:9".parse().unwrap();
        s.campaign.ims_token_url = "http://127.0.0.1:9/ims/token/v3".parse().unwrap();
    })
    .await;
    let (status, code) = error_of(app.get_opt_out(&token_for("CUST-1001")).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_unavailable"));
}
