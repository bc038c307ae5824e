//! Global Privacy Control on the server: `Sec-GPC: 1` from a signed-in
//! browser opts a profile out (and is audited as such), never back in, and
//! yields to a consumer who chose to allow sale despite it.

use campaign_emulator::faults::{Fault, FaultKind};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::*;

impl TestApp {
    async fn patch_with_gpc(&self, token: &str, value: bool) -> Response {
        self.http
            .patch(self.api())
            .bearer_auth(token)
            .header("Sec-GPC", "1")
            .json(&json!({ "ccpaOptOut": value }))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_signal_opts_out_once_and_is_audited_as_its_source() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    let state = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": false, "gpcHonored": true, "signalApplied": true}),
        "no conflict: Ada never chose to allow sale herself"
    );
    assert!(app.opt_out_of("CUST-1001"));

    let again = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        again,
        json!({"ccpaOptOut": true, "pending": false, "gpcHonored": true}),
        "the signal changes nothing the second time"
    );
    let audit = app.audit().await;
    assert_eq!(audit.len(), 1, "an opted-out profile needs no new request");
    assert_eq!(
        (audit[0].source.as_str(), audit[0].requested, audit[0].gpc),
        ("gpc", true, true)
    );
    assert_eq!(audit[0].outcome.as_deref(), Some("applied"));
}

#[tokio::test]
async fn a_signal_over_the_consumers_own_choice_to_allow_sale_is_told_once() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, false).await.status(), 200);
    let state = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        (
            state["ccpaOptOut"].as_bool(),
            state["signalApplied"].as_bool(),
            state["gpcConflict"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{state}"
    );
    let again = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(again.get("gpcConflict"), None, "told once: {again}");
}

#[tokio::test]
async fn after_their_own_opt_out_the_signal_invites_no_one_to_opt_back_in() {
    let app = spawn_app().await;
    let token = token_for("CUST-1003");
    // In, out again, by their own hand; then the signal comes.
    assert_eq!(app.patch_opt_out(&token, false).await.status(), 200);
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    let state = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": false, "gpcHonored": true}),
        "nothing to apply, nothing to tell"
    );
    assert_eq!(app.audit().await.len(), 2, "no request of the signal's");
}

#[tokio::test]
async fn the_widgets_own_header_carries_the_signal_where_scripts_see_it() {
    let app = spawn_app().await;
    let state = app
        .http
        .get(app.api())
        .bearer_auth(token_for("CUST-1001"))
        .header(ccpa_api::GPC_HEADER, "1")
        .send()
        .await
        .unwrap();
    assert_eq!(state_of(state).await["gpcHonored"], json!(true));
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.audit().await[0].source, "gpc");
}

#[tokio::test]
async fn a_consumer_may_still_allow_sale_and_the_signal_then_yields() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    state_of(app.get_with_gpc(&token).await).await;

    let state = state_of(app.patch_with_gpc(&token, false).await).await;
    assert_eq!(state["gpcHonored"], false);
    assert!(!app.opt_out_of("CUST-1001"), "their explicit choice holds");

    let state = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        (state["ccpaOptOut"].as_bool(), state["gpcHonored"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(
        app.audit().await.len(),
        2,
        "no new GPC request over their choice"
    );
}

#[tokio::test]
async fn the_signal_never_opts_anyone_in_and_is_absent_without_the_header() {
    let app = spawn_app().await;
    let grace = token_for("CUST-1002");
    let state = state_of(app.get_opt_out(&grace).await).await;
    assert_eq!(
        state["gpcHonored"], false,
        "no header, no claim of honouring it"
    );
    let state = state_of(app.get_with_gpc(&grace).await).await;
    assert_eq!(
        (state["ccpaOptOut"].as_bool(), state["gpcHonored"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(app.audit().await.is_empty());

    let ada = token_for("CUST-1001");
    let sneaky = app
        .http
        .get(app.api())
        .bearer_auth(&ada)
        .header("Sec-GPC", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        state_of(sneaky).await["ccpaOptOut"],
        false,
        "only \"1\" is a signal"
    );
}

#[tokio::test]
async fn the_signal_is_recorded_while_campaign_is_down() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, 2));
    let state = state_of(app.get_with_gpc(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": true, "gpcHonored": true, "signalApplied": true})
    );
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
}

#[tokio::test]
async fn the_site_declares_gpc_support() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/gpc.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["gpc"], true);
    assert!(body["lastUpdate"].as_str().is_some_and(|d| d.len() == 10));
}
