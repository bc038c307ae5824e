//! Adobe's Privacy Service, the second destination: every choice about
//! sale for an identity Adobe knows goes there too, as a delivery of its
//! own that neither waits for Campaign's nor holds it up.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::privacy::Consent;
use ccpa_proxy::config::Settings;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A proxy keyed by email that tells the emulator's Privacy Service;
/// `customize` adjusts it further.
async fn telling(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(testkit::emulator_config(), |settings| {
        settings.identity.key_claim = "email".into();
        settings.identity.key_kind = ccpa_proxy::config::KeyKind::Email;
        customize(settings);
    })
    .await
}

/// `(optOutOfSale, namespace, values)` of each consent taken.
fn taken(consents: &[Consent]) -> Vec<(bool, String, Vec<String>)> {
    consents
        .iter()
        .flat_map(|c| {
            c.entities
                .iter()
                .map(|e| (c.opt_out_of_sale, e.name_space.clone(), e.values.clone()))
        })
        .collect()
}

fn ada(opt_out: bool) -> (bool, String, Vec<String>) {
    (opt_out, "email".into(), vec!["ada@example.com".into()])
}

async fn consents_taken(app: &TestApp, count: usize) -> Vec<Consent> {
    let emulator = app.emulator.clone();
    eventually(
        &format!("{count} consents taken"),
        Duration::from_secs(10),
        move || emulator.consents().len() >= count,
    )
    .await;
    app.emulator.consents()
}

/// The audit trail's word on Privacy Service, per request, oldest first.
async fn told(app: &TestApp) -> Vec<Option<String>> {
    app.audit()
        .await
        .into_iter()
        .map(|row| row.privacy_service)
        .collect()
}

#[tokio::test]
async fn a_signed_in_choice_about_sale_reaches_privacy_service_and_an_opt_in_follows() {
    let app = telling(tell_privacy_service).await;
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    let first = consents_taken(&app, 1).await;
    assert_eq!(taken(&first), [ada(true)]);
    assert_eq!(app.patch_opt_out(&token, false).await.status(), 200);
    let both = consents_taken(&app, 2).await;
    assert_eq!(taken(&both), [ada(true), ada(false)]);
    app.drained().await;
    let applied = Some("email:applied".to_owned());
    assert_eq!(told(&app).await, [applied.clone(), applied]);
    let waiting = app.admin(Method::GET, "/changes/privacy-service").await;
    assert_eq!(waiting, json!({"changes": []}));
}

#[tokio::test]
async fn an_opt_out_by_email_reaches_privacy_service_in_every_spelling() {
    let app = spawn_app_with(tell_privacy_service).await;
    let response = app
        .http
        .post(format!("{}/api/v1/opt-out/email", app.url))
        .json(&json!({"email": " Nobody@Example.ORG"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let consents = consents_taken(&app, 1).await;
    let spellings = [
        "Nobody@Example.ORG",
        "Nobody@example.org",
        "nobody@example.org",
    ];
    assert_eq!(
        taken(&consents),
        [(true, "email".into(), spellings.map(String::from).to_vec())]
    );
}

#[tokio::test]
async fn nothing_goes_to_privacy_service_when_off_or_for_a_key_adobe_does_not_know() {
    let off = spawn_app_keyed_by_email().await;
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(off.patch_opt_out(&token, true).await.status(), 200);
    // A custom key is the host's own: Adobe's products know no one by it.
    let custom = spawn_app_with(tell_privacy_service).await;
    assert_eq!(
        custom
            .patch_opt_out(&token_for("CUST-1001"), true)
            .await
            .status(),
        200
    );
    off.drained().await;
    custom.drained().await;
    assert!(off.emulator.consents().is_empty());
    assert!(custom.emulator.consents().is_empty());
    assert_eq!(told(&off).await, [None]);
    assert_eq!(told(&custom).await, [None]);
}

#[tokio::test]
async fn privacy_service_down_holds_its_own_deliveries_only_and_the_admin_listener_shows_them() {
    let app = telling(tell_privacy_service).await;
    app.emulator
        .inject(Fault::privacy(FaultKind::Status { status: 503 }, u32::MAX));
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(
        app.patch_opt_out(&token, true).await.status(),
        200,
        "Campaign took it at once"
    );
    let admin = app.admin.clone();
    let http = app.http.clone();
    let listed = || async {
        let listed: Value = http
            .get(format!("{admin}/changes/privacy-service"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["changes"].as_array().unwrap().clone()
    };
    let mut waiting = listed().await;
    for _ in 0..100 {
        if waiting
            .first()
            .is_some_and(|c| c["attempts"].as_i64() > Some(0))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiting = listed().await;
    }
    let change = &waiting[0];
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        change["campaign"], "applied",
        "in Campaign, not yet in Adobe"
    );
    assert_eq!(change["namespace"], "email");
    assert_eq!(change["optOut"], true);
    assert!(change["deadline"].is_string(), "{change}");
    assert!(
        change["lastError"].as_str().unwrap().contains("503"),
        "{change}"
    );
    assert!(!change.to_string().contains("ada@"), "never the identity");
    assert_eq!(told(&app).await, [Some("email:pending".into())]);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("ccpa_privacy_service_pending 1"),
        "{metrics}"
    );

    app.emulator.clear_faults();
    app.drained().await;
    assert_eq!(taken(&app.emulator.consents()), [ada(true)]);
    assert_eq!(told(&app).await, [Some("email:applied".into())]);
    assert!(listed().await.is_empty());
}

#[tokio::test]
async fn campaign_down_does_not_hold_privacy_service_back() {
    let app = telling(tell_privacy_service).await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    let consents = consents_taken(&app, 1).await;
    assert_eq!(taken(&consents), [ada(true)]);
    for _ in 0..100 {
        if told(&app).await == [Some("email:applied".into())] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audit = app.audit().await;
    assert_eq!(audit[0].outcome, None, "still waiting for Campaign");
    assert_eq!(audit[0].privacy_service.as_deref(), Some("email:applied"));
    app.emulator.clear_faults();
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
}

#[tokio::test]
async fn choices_made_while_privacy_service_is_down_reach_it_as_the_last_one() {
    let app = telling(tell_privacy_service).await;
    app.emulator
        .inject(Fault::privacy(FaultKind::Status { status: 503 }, u32::MAX));
    let token = token_with_email("ada", "ada@example.com");
    for value in [true, false, true] {
        assert_eq!(app.patch_opt_out(&token, value).await.status(), 200);
    }
    app.emulator.clear_faults();
    app.drained().await;
    assert_eq!(taken(&app.emulator.consents()), [ada(true)]);
    let superseded = Some("email:superseded".to_owned());
    assert_eq!(
        told(&app).await,
        [superseded.clone(), superseded, Some("email:applied".into())]
    );
}

/// A consent whose answer never came may still land: the newer choice
/// waits a whole lease, so that the late one is not the last Adobe took.
/// (Sent after the usual backoff, the opt-in landed first and Adobe was
/// left with the opt-out.)
#[tokio::test]
async fn a_consent_whose_answer_was_lost_is_not_overtaken_by_the_next() {
    let app = telling(|s| {
        tell_privacy_service(s);
        s.privacy_service.timeout_ms = 300;
        s.campaign.timeout_ms = 500;
    })
    .await;
    app.emulator
        .inject(Fault::privacy(FaultKind::Late { ms: 1_500 }, 1));
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    // The opt-out's call has arrived: it lands at 1.5 s, long after its
    // attempt gave up on the answer (300 ms). The opt-in comes meanwhile.
    let emulator = app.emulator.clone();
    eventually("the opt-out's call", Duration::from_secs(5), move || {
        emulator.stats().faults_injected == 1
    })
    .await;
    assert_eq!(app.patch_opt_out(&token, false).await.status(), 200);
    let consents = consents_taken(&app, 2).await;
    assert_eq!(
        taken(&consents),
        [ada(true), ada(false)],
        "in the order made"
    );
    app.drained().await;
    assert_eq!(
        told(&app).await,
        [
            Some("email:superseded".into()),
            Some("email:applied".into())
        ]
    );
}

#[tokio::test]
async fn a_refusal_ends_among_the_dead_letters_after_the_last_strike() {
    let app = telling(|s| {
        tell_privacy_service(s);
        s.delivery.max_strikes = 2;
    })
    .await;
    app.emulator
        .inject(Fault::privacy(FaultKind::Status { status: 400 }, u32::MAX));
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    app.drained().await;
    let ready = app.counted().await;
    assert_eq!(ready["privacyService"]["deadLetters"], 1, "{ready}");
    assert_eq!(told(&app).await, [Some("email:failed".into())]);
    assert!(app.opt_out_of("CUST-1001"), "Campaign's delivery stands");
}

/// A credential of another organization is refused by Adobe's gateway:
/// the settings are wrong, so it is retried (not struck) and the admin
/// listener says which setting.
#[tokio::test]
async fn another_organization_is_named_and_retried() {
    let app = telling(|s| {
        tell_privacy_service(s);
        s.privacy_service.ims_org = Some("FFFFFFFFFFFFFFFFFFFFFFFF@AdobeOrg".into());
        s.delivery.max_strikes = 1;
    })
    .await;
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    let mut change = Value::Null;
    for _ in 0..100 {
        let listed = app.admin(Method::GET, "/changes/privacy-service").await;
        change = listed["changes"][0].clone();
        if change["attempts"].as_i64() >= Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(change["attempts"].as_i64() >= Some(2), "{change}");
    let error = change["lastError"].as_str().unwrap();
    assert!(error.contains("privacy_service.ims_org"), "{error}");
    assert!(app.emulator.consents().is_empty());
}
