//! The tenant checked at start against `campaign.api`, the opt-out field
//! and the email filter, and what only a migrated tenant does: 204 to a
//! PATCH, fields left blank. These run against the API the run plays
//! (`CCPA_TEST_CAMPAIGN_API`), and set the proxy for the other.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::store::CallKind;
use ccpa_proxy::config::{ApiName, CampaignApi, Settings};

use crate::helpers::*;

/// What stops a proxy, set by `customize`, in front of the run's tenant.
async fn refused_start(customize: impl FnOnce(&mut Settings)) -> String {
    refused_start_on(testkit::emulator_config(), customize).await
}

/// The same in front of a tenant `tenant` describes.
async fn refused_start_on(
    tenant: campaign_emulator::EmulatorConfig,
    customize: impl FnOnce(&mut Settings),
) -> String {
    let emulator = testkit::spawn_emulator_with(tenant).await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    customize(&mut settings);
    ccpa_proxy::startup::Application::build(settings)
        .await
        .err()
        .expect("the start is refused")
        .to_string()
}

/// A `200` no Campaign answer looks like: a strike.
fn maintenance_page() -> FaultKind {
    FaultKind::Answer {
        status: 200,
        content_type: "text/html".into(),
        body: "<html>maintenance</html>".into(),
    }
}

/// The status of a signed-in opt-out sent to a proxy that started in
/// front of a tenant the fault `fault` made (before the proxy's start
/// check) misbehave once, and the emulator.
async fn first_opt_out_after(
    fault: impl FnOnce(&campaign_emulator::Emulator) -> Fault,
) -> (campaign_emulator::Emulator, u16) {
    let emulator = testkit::spawn_emulator().await;
    emulator.inject(fault(&emulator));
    let database = testkit::database().await;
    let settings = testkit::proxy_settings(&emulator, database.url());
    let (proxy, _) = testkit::spawn_proxy_with_admin(settings).await;
    let answer = reqwest::Client::new()
        .patch(format!("http://{proxy}/api/v1/opt-out"))
        .bearer_auth(token_for("CUST-1001"))
        .json(&serde_json::json!({ "ccpaOptOut": true }))
        .send()
        .await
        .unwrap();
    (emulator, answer.status().as_u16())
}

/// Readiness in full, once its problem names `campaign.api` (within 10 s).
async fn readiness_naming_campaign_api(app: &TestApp) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ready = app.readiness().await;
        if ready["problem"]
            .as_str()
            .is_some_and(|p| p.contains("campaign.api"))
        {
            return ready;
        }
        assert!(std::time::Instant::now() < deadline, "never named: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn the_other(api: CampaignApi) -> CampaignApi {
    match api {
        CampaignApi::Standard => CampaignApi::V8Migrated,
        CampaignApi::V8Migrated => CampaignApi::Standard,
    }
}

#[tokio::test]
async fn a_proxy_set_for_the_other_api_stops_at_start_naming_campaign_api() {
    let refused = refused_start(|s| s.campaign.api = the_other(s.campaign.api)).await;
    assert!(refused.contains("campaign.api"), "{refused}");
    assert!(refused.starts_with("the tenant answers as"), "{refused}");
}

#[tokio::test]
async fn an_opt_out_field_the_tenant_lacks_stops_the_start_naming_it() {
    let refused = refused_start(|s| s.campaign.opt_out_field = ApiName::from("cusDoNotSel")).await;
    assert!(
        refused.contains("no field cusDoNotSel: check campaign.opt_out_field"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_opt_out_field_that_is_not_a_boolean_stops_the_start() {
    let refused = refused_start(|s| s.campaign.opt_out_field = ApiName::from("cusSegment")).await;
    assert!(
        refused.contains("cusSegment") && refused.contains("not a boolean"),
        "{refused}"
    );
    assert!(refused.contains("campaign.opt_out_field"), "{refused}");
}

#[tokio::test]
async fn an_email_filter_the_tenant_lacks_stops_the_start_naming_it() {
    let refused = refused_start(|s| s.campaign.email_filter = Some(ApiName::from("byMail"))).await;
    assert!(
        refused.contains("no filter byMail: check campaign.email_filter"),
        "{refused}"
    );
}

/// Where nothing finds profiles by email (custom keys, no email route),
/// the email filter is not asked for.
#[tokio::test]
async fn the_email_filter_is_not_checked_where_nothing_uses_it() {
    let app = spawn_app_with(|s| {
        s.email_opt_out.enabled = false;
        s.campaign.email_filter = Some(ApiName::from("byMail"));
    })
    .await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
}

/// A tenant whose extended resource does not find a profile by its custom
/// key (Adobe documents it for Campaign Standard, not for a migrated
/// tenant) stops the start: every "not found" would be wrong there.
#[tokio::test]
async fn a_tenant_that_does_not_find_profiles_by_custom_key_stops_the_start() {
    let tenant = campaign_emulator::EmulatorConfig {
        custom_keys: false,
        ..testkit::emulator_config()
    };
    let refused = refused_start_on(tenant, |_| {}).await;
    assert!(
        refused.contains("does not find its profileAndServicesExt profiles by their cusCustomerId"),
        "{refused}"
    );
    assert!(refused.contains("identity.key_kind"), "{refused}");
}

/// Campaign Standard's answer to a PKey it cannot decrypt is not
/// documented (a 500, some say): a 500 to the probe stops nothing. On
/// Campaign Standard it is taken as its own, and the change is made; set
/// for a migrated tenant, which always says "Unable to decrypt PKey", the
/// change waits until the tenant has said it, a moment later.
#[tokio::test]
async fn a_probe_answered_500_tells_nothing_and_the_start_goes_on() {
    let (emulator, answer) =
        first_opt_out_after(|_| Fault::campaign(FaultKind::Status { status: 500 }, 1).only("GET"))
            .await;
    assert_eq!(emulator.stats().faults_injected, 1, "the probe met it");
    let waited = match emulator.config().api {
        campaign_emulator::Api::Standard => 200,
        campaign_emulator::Api::V8Migrated => 202,
    };
    assert_eq!(answer, waited);
    eventually("the change is made", Duration::from_secs(15), || {
        emulator.opt_out_history("CUST-1001") == [true]
    })
    .await;
}

/// A filter of the company's own that answers a profile with another
/// address (a part of it, or anything) gets nobody's profile changed.
#[tokio::test]
async fn a_filter_answering_another_address_changes_nobody() {
    let app = spawn_app().await;
    let config = app.emulator.config();
    let resource = match config.api {
        campaign_emulator::Api::Standard => "profileAndServices",
        campaign_emulator::Api::V8Migrated => "profileAndServicesExt",
    };
    let alan = app.emulator.profile("CUST-1003").unwrap();
    let href = format!(
        "{}/{}/campaign/{resource}/profile/{}",
        app.emulator.url(),
        config.organization,
        alan.pkey
    );
    let page = serde_json::json!({ "content": [{
        "PKey": alan.pkey, "href": href, "email": alan.email, &config.opt_out_field: false,
    }] });
    let stranger = FaultKind::Answer {
        status: 200,
        content_type: "application/json".into(),
        body: page.to_string(),
    };
    app.emulator
        .inject(Fault::campaign(stranger, 1).only("GET"));
    let answer = app
        .by_email(serde_json::json!({ "email": "ada@example.com" }))
        .await;
    assert_eq!(answer.status(), 202);
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"), "Ada, on the next attempt");
    assert!(!app.opt_out_of("CUST-1003"), "never Alan");
    assert!(app.emulator.opt_out_history("CUST-1003").is_empty());
}

/// Campaign was down at start: the proxy served, and checked the tenant
/// once it answered; a tenant of the other API shows as misconfigured,
/// naming the setting, and no change is sent to it meanwhile.
#[tokio::test]
async fn a_tenant_checked_late_shows_the_wrong_api_in_readiness() {
    let reserved = testkit::ReservedPort::new();
    let port = reserved.addr().port();
    let app = spawn_app_with(|s| {
        s.campaign.api = the_other(s.campaign.api);
        s.campaign.health_check_ms = 200;
        campaign_on_port(s, port);
    })
    .await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    let campaign =
        campaign_emulator::Emulator::spawn(reserved.listen(), testkit::emulator_config()).unwrap();
    let ready = readiness_naming_campaign_api(&app).await;
    assert_eq!(ready["upstream"], "misconfigured", "{ready}");
    let problem = ready["problem"].as_str().unwrap();
    assert!(problem.starts_with("the tenant answers as"), "{problem}");
    // Reads answer meanwhile; what the check found stands, and the change
    // waits for the settings, attempt after attempt (they come at most a
    // second apart here).
    assert_eq!(app.get_opt_out(&token).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(app.readiness().await["upstream"], "misconfigured");
    assert!(campaign.opt_out_history("CUST-1001").is_empty());
    assert_eq!(app.pending().await, 1);
}

/// A change answered `204 No Content` and made: done, after reading it
/// back, not sent again.
#[tokio::test]
async fn a_change_answered_204_is_read_back_and_counts_once_it_holds() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    app.emulator
        .inject(Fault::campaign(FaultKind::NoContent, 1).only("PATCH"));
    let answer = app.patch_opt_out(&token, true).await;
    assert_eq!(answer.status(), 200, "applied, on the profile's word");
    let calls: Vec<CallKind> = app.emulator.calls().iter().map(|c| c.kind).collect();
    assert_eq!(
        calls,
        [CallKind::Patch, CallKind::Lookup],
        "one PATCH, read back"
    );
    assert_eq!(app.emulator.opt_out_history("CUST-1001"), [true]);
}

/// A change answered `204` that the profile does not hold (a migrated
/// tenant's answer to a PATCH it ignored) is not made: it waits and is
/// sent again, never audited applied on the 204.
#[tokio::test]
async fn a_change_answered_204_that_did_nothing_is_not_taken_as_made() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    let nothing = FaultKind::Answer {
        status: 204,
        content_type: "application/json".into(),
        body: String::new(),
    };
    app.emulator
        .inject(Fault::campaign(nothing, 1).only("PATCH"));
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    assert!(!app.opt_out_of("CUST-1001"));
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"), "sent again, and made");
}

/// "Some fields come back blank after migration": a blank opt-out nobody
/// chose through the proxy is no choice, read as sale allowed, and the
/// customer's choice is written.
#[tokio::test]
async fn an_opt_out_left_blank_by_the_migration_reads_as_not_chosen() {
    let app = spawn_app_migrated(|_| {}).await;
    app.emulator.add_customer("CUST-BLANK");
    app.emulator.leave_blank("CUST-BLANK");
    let token = token_for("CUST-BLANK");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], false, "{state}");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert!(app.opt_out_of("CUST-BLANK"));
}

/// A later wish to allow sale that never reached Campaign (it failed, and
/// is among the dead letters) is the consumer's latest word: the opt-out
/// before it is not restored over it.
#[tokio::test]
async fn a_later_wish_that_failed_is_not_overruled_by_a_restore() {
    let app = spawn_app_migrated(|s| s.delivery.max_strikes = 1).await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    let nonsense = maintenance_page();
    app.emulator
        .inject(Fault::campaign(nonsense, 1).only("PATCH"));
    let _ = app.patch_opt_out(&token, false).await;
    app.drained().await;
    let audit = app.audit().await;
    let wish = audit.last().unwrap();
    assert_eq!(
        (wish.requested, wish.outcome.as_deref()),
        (false, Some("failed")),
        "the wish to allow sale is among the dead letters"
    );
    app.emulator.leave_blank("CUST-1001");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], false, "{state}");
    assert!(app.audit().await.iter().all(|row| row.source != "restored"));
}

/// An opt-out (and a limit) the proxy applied, which the migration left
/// blank: shown as chosen and sent again, audited `restored`, never shown
/// as sale allowed.
#[tokio::test]
async fn choices_a_migration_lost_are_sent_again() {
    let app = spawn_app_migrated(|s| {
        s.campaign.sensitive_field = Some("cusLimitSensitive".to_owned().try_into().unwrap());
    })
    .await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    let limit = app
        .http
        .patch(format!("{}/sensitive", app.api()))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "limitSensitive": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(limit.status(), 200);
    app.emulator.leave_blank("CUST-1001");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], true, "{state}");
    assert_ne!(state["signalApplied"], true, "their own choice: {state}");
    assert_eq!(state["sensitive"]["limited"], true, "{state}");
    app.drained().await;
    let ada = app.emulator.profile("CUST-1001").unwrap();
    assert!(ada.ccpa_opt_out && !ada.opt_out_blank, "written again");
    assert!(ada.cus_limit_sensitive && !ada.sensitive_blank);
    let restored = app
        .audit()
        .await
        .into_iter()
        .filter(|row| row.source == "restored")
        .count();
    assert_eq!(restored, 2, "one each, audited as restored");
}

/// A filter that refuses the address the start check calls it with (a
/// `400`: Campaign may validate it) is there all the same: the start goes
/// on, and changes are made.
#[tokio::test]
async fn a_filter_refusing_the_checks_address_holds_nothing_back() {
    let (emulator, answer) = first_opt_out_after(|emulator| {
        let filter = format!("/{}", emulator.config().api.email_filter());
        Fault::campaign(FaultKind::Status { status: 400 }, 1).at(&filter)
    })
    .await;
    assert_eq!(answer, 200);
    assert_eq!(emulator.stats().faults_injected, 1, "the check met it");
}

/// A change sent to a profile's link and answered `204` is read back from
/// that link, and only that profile's answer counts: another profile
/// holding the value proves nothing.
#[tokio::test]
async fn a_204_is_proven_only_by_the_profile_it_was_sent_to() {
    let app = spawn_app_with(|s| {
        s.campaign.sensitive_field = Some("cusLimitSensitive".to_owned().try_into().unwrap());
        // What Campaign did is unknown: the change waits out its lease.
        s.delivery.attempt_timeout_ms = Some(1_000);
        s.delivery.lease_ms = Some(2_000);
    })
    .await;
    let config = app.emulator.config();
    let (ada, grace) = (
        app.emulator.profile("CUST-1001").unwrap(),
        app.emulator.profile("CUST-1002").unwrap(),
    );
    let grace_href = format!(
        "{}/{}/campaign/profileAndServicesExt/profile/{}",
        app.emulator.url(),
        config.organization,
        grace.pkey
    );
    let stranger = serde_json::json!({
        "PKey": grace.pkey, "href": grace_href, "email": grace.email,
        &config.opt_out_field: true, "cusCustomerId": "CUST-1002", "cusLimitSensitive": true,
    });
    let nothing = FaultKind::Answer {
        status: 204,
        content_type: "application/json".into(),
        body: String::new(),
    };
    let read_back = FaultKind::Answer {
        status: 200,
        content_type: "application/json".into(),
        body: stranger.to_string(),
    };
    app.emulator
        .inject(Fault::campaign(nothing, 1).only("PATCH"));
    let ada_link = format!("/{}", ada.pkey);
    app.emulator
        .inject(Fault::campaign(read_back, 1).only("GET").at(&ada_link));
    let limit = app
        .http
        .patch(format!("{}/sensitive", app.api()))
        .bearer_auth(token_for("CUST-1001"))
        .json(&serde_json::json!({ "limitSensitive": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(limit.status(), 202, "not on another profile's word");
    app.drained().await;
    assert!(
        app.emulator
            .profile("CUST-1001")
            .unwrap()
            .cus_limit_sensitive
    );
    assert!(
        !app.emulator
            .profile("CUST-1002")
            .unwrap()
            .cus_limit_sensitive
    );
}

/// A restore that did not land (among the dead letters) does not hide the
/// opt-out that did: the next visit restores it again, never showing sale
/// allowed.
#[tokio::test]
async fn a_restore_that_failed_does_not_hide_the_opt_out() {
    let app = spawn_app_migrated(|s| s.delivery.max_strikes = 1).await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    app.emulator.leave_blank("CUST-1001");
    let nonsense = maintenance_page();
    app.emulator
        .inject(Fault::campaign(nonsense, 1).only("PATCH"));
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], true, "{state}");
    app.drained().await;
    let failed = app.audit().await;
    assert_eq!(
        failed
            .last()
            .map(|row| (row.source.as_str(), row.outcome.as_deref())),
        Some(("restored", Some("failed"))),
        "the first restore is among the dead letters"
    );
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], true, "restored again: {state}");
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
}

/// A tenant Adobe migrates under a running proxy: the watcher's periodic
/// probe finds it speaking the other API, readiness names `campaign.api`,
/// and changes wait for the settings rather than meet a field the tenant
/// no longer has.
#[tokio::test]
async fn a_tenant_migrated_under_a_running_proxy_holds_its_changes() {
    let app = spawn_app_with(|s| s.campaign.health_check_ms = 100).await;
    let other = match app.emulator.config().api {
        campaign_emulator::Api::Standard => "Unable to decrypt PKey",
        campaign_emulator::Api::V8Migrated => "RST-360011 Unable to find document",
    };
    let answer = FaultKind::Answer {
        status: 404,
        content_type: "application/json".into(),
        body: serde_json::json!({ "code": 404, "message": other }).to_string(),
    };
    app.emulator
        .inject(Fault::campaign(answer, u32::MAX).at("/@ccpaOptOutTenantProbe"));
    readiness_naming_campaign_api(&app).await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    assert!(app.emulator.opt_out_history("CUST-1001").is_empty());
    assert_eq!(app.pending().await, 1, "kept, for the settings");
}
