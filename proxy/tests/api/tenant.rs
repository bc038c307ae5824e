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
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    customize(&mut settings);
    ccpa_proxy::startup::Application::build(settings)
        .await
        .err()
        .expect("the start is refused")
        .to_string()
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
    let refused = refused_start(|s| s.campaign.opt_out_field = ApiName::from("firstName")).await;
    assert!(
        refused.contains("firstName") && refused.contains("not a boolean"),
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

/// Campaign was down at start: the proxy served, and checked the tenant
/// once it answered; a tenant of the other API shows as misconfigured,
/// naming the setting, and no change is taken as made meanwhile.
#[tokio::test]
async fn a_tenant_checked_late_shows_the_wrong_api_in_readiness() {
    let reserved = testkit::ReservedPort::new();
    let port = reserved.addr().port();
    let app = spawn_app_with(|s| {
        s.campaign.api = the_other(s.campaign.api);
        s.campaign.health_check_ms = 200;
        s.campaign.base_url = format!("http://127.0.0.1:{port}").parse().unwrap();
        s.campaign.ims_token_url = format!("http://127.0.0.1:{port}/ims/token/v3")
            .parse()
            .unwrap();
    })
    .await;
    let _campaign =
        campaign_emulator::Emulator::spawn(reserved.listen(), testkit::emulator_config()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ready = app.readiness().await;
        let problem = ready["problem"].as_str().map(str::to_owned);
        if let Some(problem) = problem.filter(|p| p.contains("campaign.api")) {
            assert_eq!(ready["upstream"], "misconfigured", "{ready}");
            assert!(problem.starts_with("the tenant answers as"), "{problem}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never checked: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// "Some fields come back blank after migration": a blank opt-out is no
/// choice, read as sale allowed, and the customer's choice is written.
#[tokio::test]
async fn an_opt_out_left_blank_by_the_migration_reads_as_not_chosen() {
    let app = spawn_app_migrated().await;
    app.emulator.add_customer_left_blank("CUST-BLANK");
    let token = token_for("CUST-BLANK");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["ccpaOptOut"], false, "{state}");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert!(app.opt_out_of("CUST-BLANK"));
}
