//! Nothing lost when the parts misbehave: a slow IMS, answers that are not
//! Campaign's, settings Campaign says are wrong, answers that never make
//! sense, and one address spelt two ways.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use serde_json::json;

use crate::helpers::*;

/// IMS takes longer than a lease: the first attempt must end inside its
/// lease, so that it cannot send its (older) choice after the attempt that
/// took over sent the newer one.
#[tokio::test]
async fn a_late_attempt_cannot_overwrite_the_last_choice() {
    let app = spawn_app_with(|s| {
        s.campaign.timeout_ms = 5_000;
        s.delivery.attempt_timeout_ms = Some(500);
        s.delivery.lease_ms = Some(1_500);
    })
    .await;
    let token = token_for("CUST-1001");
    // The next token request waits 2.5 s: longer than the lease.
    app.emulator.expire_tokens();
    app.emulator
        .inject(Fault::ims(FaultKind::Delay { ms: 2_500 }, 1));
    let statuses = two_flips(&app, &token, true, false, Duration::from_millis(100)).await;
    assert_eq!(statuses, (202, 202));

    app.drained().await;
    // Whatever the first attempt still had in flight has landed by now.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        !app.opt_out_of("CUST-1001"),
        "Campaign holds the last choice"
    );
    assert_eq!(
        app.emulator.opt_out_history("CUST-1001"),
        [false],
        "only the last choice landed (sent whatever Campaign showed, as the \
         first attempt was still under way when it came)"
    );
    let outcomes: Vec<_> = app
        .audit()
        .await
        .iter()
        .map(|r| (r.requested, r.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (true, Some("superseded".into())),
            (false, Some("applied".into()))
        ]
    );
}

/// A PATCH whose answer never came may still land: the next choice waits
/// until it has, and is then sent whatever Campaign shows, so the late
/// PATCH cannot land after it and invert it.
#[tokio::test]
async fn a_patch_whose_answer_never_came_cannot_land_after_the_next_choice() {
    let app = spawn_app_with(|s| {
        s.campaign.timeout_ms = 500;
        s.delivery.attempt_timeout_ms = Some(1_000);
        s.delivery.lease_ms = Some(2_500);
    })
    .await;
    let token = token_for("CUST-1002");
    // Campaign takes the first PATCH only after 1.5 s, long after the
    // proxy stopped waiting for the answer.
    app.emulator
        .inject(Fault::campaign(FaultKind::Late { ms: 1_500 }, 1).only("PATCH"));
    assert_eq!(app.patch_opt_out(&token, false).await.status(), 202);
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    app.drained().await;
    assert!(
        app.opt_out_of("CUST-1002"),
        "Campaign holds the last choice"
    );
    assert_eq!(
        app.emulator.opt_out_history("CUST-1002"),
        [false, true],
        "the late PATCH landed first"
    );
    let outcomes: Vec<_> = app.audit().await.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Some("superseded".into()), Some("applied".into())]
    );
}

/// A request whose attempt succeeded is `applied`, with Campaign's value
/// before, even when a newer choice arrived while it was under way.
#[tokio::test]
async fn an_attempt_that_succeeds_is_audited_applied_though_a_newer_choice_waits() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    app.emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 600 }, 1).only("PATCH"));
    let statuses = two_flips(&app, &token, true, false, Duration::from_millis(200)).await;
    assert_eq!(statuses, (200, 202));
    app.drained().await;
    assert_eq!(app.emulator.opt_out_history("CUST-1001"), [true, false]);
    let outcomes: Vec<_> = app
        .audit()
        .await
        .iter()
        .map(|r| (r.outcome.clone(), r.previous))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some("applied".into()), None),
            (Some("applied".into()), Some(true))
        ]
    );
}

/// A new choice starts afresh: the strikes of the one before do not count
/// against it.
#[tokio::test]
async fn a_new_choice_does_not_inherit_the_strikes_of_the_last() {
    let app = spawn_app_with(|s| s.delivery.max_strikes = 2).await;
    let token = token_for("CUST-1001");
    let refusal = refusal(422);
    app.emulator
        .inject(Fault::campaign(refusal, 2).only("PATCH"));
    assert_eq!(
        app.patch_opt_out(&token, true).await.status(),
        202,
        "strike one"
    );
    assert_eq!(
        app.patch_opt_out(&token, true).await.status(),
        202,
        "its own strike one, not the second"
    );
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.readiness().await["deadLetters"], 0);
}

/// Campaign's "document not found" to a PATCH (the link it gave a moment
/// ago leads nowhere) is retried: the next look-up decides.
#[tokio::test]
async fn a_patch_answered_document_not_found_is_retried_not_denied() {
    let app = spawn_app().await;
    let message = "RST-360011 An error has occurred - please contact your administrator. \
                   Unable to find document";
    let gone = FaultKind::Answer {
        status: 404,
        content_type: "application/json".into(),
        body: json!({"code": 404, "message": message}).to_string(),
    };
    // The PATCH by key, then the one to the link the look-up gave.
    app.emulator.inject(Fault::campaign(gone, 2).only("PATCH"));
    assert_eq!(
        app.patch_opt_out(&token_for("CUST-1001"), true)
            .await
            .status(),
        202
    );
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.audit().await[0].outcome.as_deref(), Some("applied"));
}

/// A profile stored with capitals is found by the spelling the token gave,
/// though the pending change is keyed lowercased.
#[tokio::test]
async fn an_address_is_looked_up_as_the_token_spells_it_first() {
    let app = spawn_app_keyed_by_email().await;
    app.emulator
        .add_customer_with_email("CUST-7007", "Grace.H@Example.com");
    let token = token_with_email("host-user-7", "Grace.H@Example.com");
    let state = state_of(app.patch_opt_out(&token, true).await).await;
    assert_eq!(state["pending"], false);
    assert!(app.opt_out_of("CUST-7007"));
}

/// A sender that hangs up (a widget's timeout, a closed tab) does not
/// cancel the attempt under way: the change lands at once, not when its
/// lease ends.
#[tokio::test]
async fn a_sender_who_hangs_up_does_not_stall_the_change() {
    let app = spawn_app().await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 600 }, 1));
    let impatient = app
        .http
        .patch(app.api())
        .bearer_auth(token_for("CUST-1001"))
        .json(&json!({"ccpaOptOut": true}))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(impatient.is_err(), "the sender gave up");
    eventually(
        "the change lands well before its lease ends",
        Duration::from_secs(3),
        || app.opt_out_of("CUST-1001"),
    )
    .await;
    app.drained().await;
    assert_eq!(app.audit().await[0].outcome.as_deref(), Some("applied"));
}

#[tokio::test]
async fn a_lease_an_attempt_could_outlive_is_refused_at_start() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    settings.delivery.attempt_timeout_ms = Some(5_000);
    settings.delivery.lease_ms = Some(5_500);
    let error = ccpa_proxy::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .contains("delivery.lease_ms (5500 ms) must exceed"),
        "{error}"
    );
}

/// A 404 that is not Campaign's "document not found" says nothing about
/// the profile: it is retried, and readiness names the likely cause.
#[tokio::test]
async fn a_404_campaign_did_not_mean_is_retried_and_shown_as_misconfiguration() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 404 }, 3));
    let response = app.patch_opt_out(&token, true).await;
    assert_eq!(response.status(), 202, "recorded, not denied");
    let ready = app.readiness().await;
    assert_eq!(
        (ready["status"].as_str(), ready["upstream"].as_str()),
        (Some("degraded"), Some("misconfigured"))
    );
    assert!(
        ready["problem"]
            .as_str()
            .is_some_and(|p| p.contains("campaign.organization")),
        "{ready}"
    );
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.audit().await[0].outcome.as_deref(), Some("applied"));
    assert_eq!(
        app.readiness().await["upstream"],
        "ok",
        "cleared by success"
    );
}

#[tokio::test]
async fn a_wrong_organization_stops_the_proxy_at_start() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    settings.campaign.organization = "another-org".into();
    let error = ccpa_proxy::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .contains("Campaign answered 404 for the resource"),
        "{error}"
    );
}

/// A `200` is success only with the documented `{"PKey", "href"}`: a
/// gateway's HTML page or garbled JSON means Campaign never got the change.
#[tokio::test]
async fn a_success_that_is_not_campaigns_answer_is_not_taken_as_applied() {
    let bodies = [
        ("text/html", "<html><body>Service maintenance</body></html>"),
        ("application/json", "{\"PKey\": "),
        ("application/json", "{\"status\": \"ok\"}"),
    ];
    for (content_type, body) in bodies {
        // Whether Campaign took it is unknown: the retry waits a lease.
        let app = spawn_app_with(|s| {
            s.delivery.attempt_timeout_ms = Some(1_000);
            s.delivery.lease_ms = Some(2_000);
        })
        .await;
        let answer = FaultKind::Answer {
            status: 200,
            content_type: content_type.into(),
            body: body.into(),
        };
        app.emulator
            .inject(Fault::campaign(answer, 1).only("PATCH"));
        let response = app.patch_opt_out(&token_for("CUST-1001"), true).await;
        assert_eq!(response.status(), 202, "{body}: not applied yet");
        app.drained().await;
        assert!(app.opt_out_of("CUST-1001"));
        assert_eq!(
            app.emulator.opt_out_history("CUST-1001"),
            [true],
            "{body}: applied once, by the retry"
        );
        assert_eq!(app.audit().await[0].outcome.as_deref(), Some("applied"));
    }
}

/// Answers that never make sense end visibly after `max_strikes`: audited
/// `failed` with the reason, counted in readiness, no longer retried; and
/// the profile takes the next request as usual.
#[tokio::test]
async fn answers_that_never_make_sense_end_among_the_dead_letters() {
    let app = spawn_app_with(|s| s.delivery.max_strikes = 3).await;
    let token = token_for("CUST-1001");
    let refusal = refusal(422);
    app.emulator
        .inject(Fault::campaign(refusal, u32::MAX).only("PATCH"));
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    app.drained().await;
    let ready = app.readiness().await;
    assert_eq!(ready["deadLetters"], 1, "{ready}");
    let patches = app
        .emulator
        .calls()
        .iter()
        .filter(|c| c.kind == campaign_emulator::store::CallKind::Patch)
        .count();
    assert_eq!(patches, 3, "tried max_strikes times, then given up");
    let audit = app.audit().await;
    assert_eq!(audit[0].outcome.as_deref(), Some("failed"));
    assert!(
        audit[0].basis.as_deref().is_some_and(|b| b.contains("422")),
        "{:?}",
        audit[0].basis
    );

    app.emulator.clear_faults();
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert!(app.opt_out_of("CUST-1001"));
}

/// Two spellings of one address are one profile: one pending change, one
/// lease, the later choice applied once.
#[tokio::test]
async fn two_spellings_of_one_email_share_one_pending_change() {
    let app = spawn_app_keyed_by_email().await;
    let with_email = |email: &str| token_with_email("host-user-1", email);
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    let shouted = with_email("Ada@Example.COM");
    assert_eq!(app.patch_opt_out(&shouted, false).await.status(), 202);
    assert_eq!(
        app.patch_opt_out(&with_email("ada@example.com"), true)
            .await
            .status(),
        202
    );
    assert_eq!(app.pending().await, 1, "one row for one address");
    let state = state_of(app.get_opt_out(&shouted).await).await;
    assert_eq!(
        (state["ccpaOptOut"].as_bool(), state["pending"].as_bool()),
        (Some(true), Some(true))
    );
    app.emulator.clear_faults();
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.emulator.opt_out_history("CUST-1001"), [true]);
    let outcomes: Vec<_> = app.audit().await.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Some("superseded".into()), Some("applied".into())]
    );
}
