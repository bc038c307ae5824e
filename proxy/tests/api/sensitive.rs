//! The second choice § 7015 asks the choices page to offer: the limit on the
//! use of sensitive personal information, kept in a custom field of the
//! extended profile resource, with the opt-out's guarantees and apart from
//! it.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::store::{CallKind, SENSITIVE_FIELD};
use ccpa_proxy::audit::AuditRecord;
use ccpa_proxy::config::Settings;
use ccpa_proxy::startup::Application;
use reqwest::Response;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::*;

fn offered(settings: &mut Settings) {
    settings.campaign.sensitive_field = Some(SENSITIVE_FIELD.to_owned().try_into().unwrap());
}

impl TestApp {
    async fn patch_sensitive(&self, token: &str, body: Value) -> Response {
        self.http
            .patch(format!("{}/api/v1/opt-out/sensitive", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    fn limited(&self, custom_key: &str) -> bool {
        self.emulator
            .profile(custom_key)
            .expect("demo profile")
            .cus_limit_sensitive
    }
}

#[tokio::test]
async fn the_limit_is_kept_apart_from_the_opt_out_and_read_in_one_look_up() {
    let app = spawn_app_with(offered).await;
    let token = token_for("CUST-1001");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": false, "pending": false, "gpcHonored": false,
               "sensitive": {"limited": false, "pending": false}})
    );

    let limit = app
        .patch_sensitive(&token, json!({"limitSensitive": true}))
        .await;
    assert_eq!(limit.status(), 200);
    assert_eq!(
        limit.json::<Value>().await.unwrap(),
        json!({"limited": true, "pending": false})
    );
    assert!(app.limited("CUST-1001"));
    assert!(
        !app.opt_out_of("CUST-1001"),
        "the opt-out is another choice"
    );

    app.emulator.reset_stats();
    let calls_before = app.emulator.calls().len();
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        state["sensitive"],
        json!({"limited": true, "pending": false})
    );
    assert_eq!(state["ccpaOptOut"], false);
    let looked_up = app.emulator.calls()[calls_before..]
        .iter()
        .filter(|call| call.kind == CallKind::Lookup)
        .count();
    assert_eq!(looked_up, 1, "both choices come from one look-up");

    let lift = app
        .patch_sensitive(&token, json!({"limitSensitive": false}))
        .await;
    assert_eq!(lift.status(), 200);
    assert!(!app.limited("CUST-1001"));

    let audit = app.audit().await;
    let asked: Vec<_> = audit
        .iter()
        .map(|row| (row.choice.as_str(), row.requested, row.outcome.as_deref()))
        .collect();
    assert_eq!(
        asked,
        [
            ("sensitive", true, Some("applied")),
            ("sensitive", false, Some("applied"))
        ]
    );
    let nature: Vec<_> = audit
        .into_iter()
        .map(|row| AuditRecord::from(row).request)
        .collect();
    assert_eq!(nature, ["limit-sensitive-use", "allow-sensitive-use"]);
}

/// Campaign down: both choices are recorded, each its own pending change,
/// read back without Campaign, and both applied once it answers.
#[tokio::test]
async fn both_choices_wait_side_by_side_while_campaign_is_down() {
    let app = spawn_app_with(offered).await;
    let token = token_for("CUST-1003");
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, 1_000));
    let sale = app.patch_opt_out(&token, true).await;
    let limit = app
        .patch_sensitive(&token, json!({"limitSensitive": true}))
        .await;
    assert_eq!(
        (sale.status().as_u16(), limit.status().as_u16()),
        (202, 202)
    );
    assert_eq!(app.pending().await, 2);
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        (state["ccpaOptOut"].clone(), state["pending"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        state["sensitive"],
        json!({"limited": true, "pending": true})
    );

    app.emulator.clear_faults();
    app.drained().await;
    assert!(app.opt_out_of("CUST-1003") && app.limited("CUST-1003"));
}

/// A limit lifted while the setting was there, still pending when an
/// operator removed the setting: it must wait, never land on `ccpaOptOut`
/// (that would opt the customer back in to sale).
#[tokio::test]
async fn a_pending_limit_waits_for_its_setting_and_never_lands_on_the_opt_out() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    offered(&mut settings);
    let first = Application::build(settings.clone()).await.unwrap();
    let url = format!("http://{}", first.addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(first.run_until(async {
        let _ = stopped.await;
    }));
    emulator.inject(Fault::campaign(FaultKind::Status { status: 503 }, 1_000));
    let token = token_for("CUST-1002");
    let lift = reqwest::Client::new()
        .patch(format!("{url}/api/v1/opt-out/sensitive"))
        .bearer_auth(&token)
        .json(&json!({"limitSensitive": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(lift.status(), 202);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    settings.campaign.sensitive_field = None;
    emulator.clear_faults();
    let (_, admin) = testkit::spawn_proxy_with_admin(settings).await;
    let grace = || emulator.profile("CUST-1002").unwrap();
    assert!(grace().ccpa_opt_out, "Grace opted out of sale before");
    let ready = || async {
        reqwest::get(format!("http://{admin}/health/ready"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = ready().await;
        if seen["upstream"] == "misconfigured" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["upstream"], "misconfigured", "{seen}");
    assert!(
        seen["problem"]
            .as_str()
            .unwrap()
            .contains("campaign.sensitive_field"),
        "{seen}"
    );
    assert_eq!(seen["pending"], 1, "still waiting");
    assert!(grace().ccpa_opt_out, "never opted back in to sale");
    let patched = emulator
        .calls()
        .iter()
        .filter(|call| call.kind == CallKind::Patch && call.status == 200)
        .count();
    assert_eq!(patched, 0, "nothing was changed");
}

#[tokio::test]
async fn without_the_setting_there_is_no_second_choice() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert!(state.get("sensitive").is_none(), "{state}");
    let (status, code) = error_of(
        app.patch_sensitive(&token, json!({"limitSensitive": true}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(!app.limited("CUST-1001"));
    assert!(app.audit().await.is_empty());
}

#[tokio::test]
async fn the_limit_takes_exactly_its_own_body() {
    let app = spawn_app_with(offered).await;
    let token = token_for("CUST-1001");
    for body in [
        json!({"ccpaOptOut": true}),
        json!({"limitSensitive": "true"}),
        json!({"limitSensitive": true, "PKey": "@Hk4wq9TzL2bYc"}),
    ] {
        let (status, code) = error_of(app.patch_sensitive(&token, body.clone()).await).await;
        assert_eq!((status, code.as_str()), (422, "invalid_body"), "{body}");
    }
    assert!(app.audit().await.is_empty());
    assert!(!app.limited("CUST-1001") && !app.limited("CUST-1002"));
}

#[tokio::test]
async fn a_sensitive_field_the_proxy_cannot_use_stops_it_at_start() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    offered(&mut settings);
    settings.identity.key_kind = ccpa_proxy::config::KeyKind::Email;
    let error = Application::build(settings).await.err().expect("refused");
    assert!(
        error
            .to_string()
            .contains("identity.key_kind = \"custom-key\""),
        "{error}"
    );
    for name in [
        "ccpaOptOut",
        "blackListEmail",
        "email",
        "cus",
        "cus limit",
        "cusLimit\u{2028}",
        "",
    ] {
        let refused: Result<ccpa_proxy::config::FieldName, _> = name.to_owned().try_into();
        assert!(refused.is_err(), "{name:?}");
    }
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    settings.campaign.sensitive_field = Some("cuscustomerid".to_owned().try_into().unwrap());
    let error = Application::build(settings).await.err().expect("refused");
    assert!(error.to_string().contains("custom key field"), "{error}");
}

/// A profile whose answer lacks the configured field (a misspelt setting)
/// is not read as "not limited", and does not stand in the way of the
/// opt-out: the GET answers without the limit, readiness names the field,
/// an opt-out applies, and a limit waits for the setting to be mended.
#[tokio::test]
async fn a_misspelt_sensitive_field_holds_up_the_limit_and_nothing_else() {
    let app = spawn_app_with(|settings| {
        settings.campaign.sensitive_field = Some("cusLimitSensitiv".to_owned().try_into().unwrap());
    })
    .await;
    let token = token_for("CUST-1001");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": false, "pending": false, "gpcHonored": false})
    );
    let ready = app.readiness().await;
    assert_eq!(ready["upstream"], "misconfigured", "{ready}");
    assert!(
        ready["problem"]
            .as_str()
            .unwrap()
            .contains("cusLimitSensitiv"),
        "{ready}"
    );

    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert!(app.opt_out_of("CUST-1001"));
    let limit = app
        .patch_sensitive(&token, json!({"limitSensitive": true}))
        .await;
    assert_eq!(limit.status(), 202);
    assert_eq!(app.pending().await, 1, "the limit waits");
    assert!(!app.limited("CUST-1001"));
}

/// With both choices offered, a Campaign outage still lets a GET answer
/// the opt-out (pending, or recorded from GPC); only the limit is left out.
#[tokio::test]
async fn campaign_down_costs_a_read_the_limit_only() {
    let app = spawn_app_with(offered).await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, 1_000));
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": true, "gpcHonored": false})
    );

    let gpc = app.get_with_gpc(&token_for("CUST-1003")).await;
    let state = state_of(gpc).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": true, "gpcHonored": true, "signalApplied": true})
    );
    let audit = app.audit().await;
    assert_eq!(
        audit.len(),
        2,
        "the signal is recorded while Campaign is down"
    );
    assert_eq!(audit[1].source, "gpc");
    app.emulator.clear_faults();
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001") && app.opt_out_of("CUST-1003"));
}

/// `byEmail` reads the standard resource, which has no custom fields: an
/// opt-out by email must not wait for a field it can never read.
#[tokio::test]
async fn an_opt_out_by_email_reaches_every_match_where_the_limit_is_offered() {
    let app = spawn_app_with(offered).await;
    let sent = app
        .http
        .post(format!("{}/api/v1/opt-out/email", app.url))
        .json(&json!({"email": "twin@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    app.drained().await;
    let twins: Vec<_> = app
        .emulator
        .profiles()
        .into_iter()
        .filter(|p| p.email == "twin@example.com")
        .collect();
    assert_eq!(twins.len(), 2);
    assert!(twins.iter().all(|p| p.ccpa_opt_out), "{twins:?}");
    let audit = app.audit().await;
    assert_eq!(audit[0].outcome.as_deref(), Some("applied"));
}
