//! Nothing lost: whatever Campaign or IMS do, an accepted change is recorded
//! before the answer, applied later if need be, and audited once.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::store::CallKind;
use serde_json::{Value, json};

use crate::helpers::*;

/// PATCHes `true` for CUST-1001 while `break_it` keeps Campaign failing,
/// checks the 202 and the pending GET, then waits for the worker.
async fn survives(app: &TestApp, break_it: impl FnOnce(&TestApp)) {
    let token = token_for("CUST-1001");
    break_it(app);
    let response = app.patch_opt_out(&token, true).await;
    assert_eq!(response.status(), 202, "recorded, will apply");
    let state: Value = response.json().await.unwrap();
    assert_eq!(
        (state["ccpaOptOut"].clone(), state["pending"].clone()),
        (true.into(), true.into())
    );

    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"), "applied by the worker");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(state["pending"], false);
    let audit = app.audit().await;
    assert_eq!(audit.len(), 1, "one record per accepted change");
    assert_eq!(audit[0].outcome.as_deref(), Some("applied"));
    assert_eq!(audit[0].previous, None, "a change by key reads nothing");
    assert!(audit[0].decided_at.unwrap() >= audit[0].received_at);
}

fn fail(app: &TestApp, kind: FaultKind, count: u32) {
    app.emulator.inject(Fault::campaign(kind, count));
}

#[tokio::test]
async fn a_failing_campaign_delays_a_change_but_never_drops_it() {
    for status in [500, 502, 503] {
        let app = spawn_app().await;
        survives(&app, |app| fail(app, FaultKind::Status { status }, 3)).await;
    }
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let app = spawn_app().await;
    // A PATCH whose connection dropped may have landed: its retry waits a
    // lease (see misbehaving.rs), so one drop is enough here.
    survives(&app, |app| fail(app, FaultKind::Drop, 1)).await;
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let app = spawn_app_with(|s| s.campaign.timeout_ms = SHORT.as_millis() as u64).await;
    survives(&app, |app| fail(app, FaultKind::Delay { ms: 1_000 }, 1)).await;
}

#[tokio::test]
async fn an_ims_outage_is_retried() {
    let app = spawn_app().await;
    survives(&app, |app| {
        // The cached token is refused, and IMS cannot give another.
        app.emulator.expire_tokens();
        app.emulator
            .inject(Fault::ims(FaultKind::Status { status: 503 }, 3));
    })
    .await;
}

/// The attempt after a `429` comes no sooner than its `Retry-After`, as
/// the emulator saw the calls (the backoff alone would be ~50 ms here).
#[tokio::test]
async fn throttling_is_retried_no_sooner_than_retry_after() {
    let app = spawn_app().await;
    survives(&app, |app| {
        fail(
            app,
            FaultKind::Throttle {
                retry_after_secs: 1,
            },
            1,
        )
    })
    .await;
    let calls = app.emulator.calls();
    let throttled = calls
        .iter()
        .position(|call| call.status == 429)
        .expect("a throttled call");
    let next = calls[throttled + 1..]
        .iter()
        .find(|call| call.kind != CallKind::Token)
        .expect("a call after it");
    let waited = next.at_ms - calls[throttled].at_ms;
    assert!(waited >= 1_000, "the next attempt came {waited} ms later");
    assert!(waited < 3_000, "but not much later: {waited} ms");
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_without_a_delay() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    state_of(app.get_opt_out(&token).await).await;
    app.emulator.expire_tokens();
    let response = app.patch_opt_out(&token, true).await;
    assert_eq!(response.status(), 200, "renewed once, applied at once");
    assert_eq!(app.emulator.stats().token_requests, 1, "one renewal");
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_campaign_starts() {
    // Campaign's port is held, but nothing listens on it yet.
    let reserved = testkit::ReservedPort::new();
    let port = reserved.addr().port();
    let app = spawn_app_with(|s| campaign_on_port(s, port)).await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 202);
    assert_eq!(app.pending().await, 1);

    let campaign =
        campaign_emulator::Emulator::spawn(reserved.listen(), testkit::emulator_config()).unwrap();
    eventually(
        "the change reaches the new Campaign",
        Duration::from_secs(15),
        || campaign.profile("CUST-1001").unwrap().ccpa_opt_out,
    )
    .await;
}

#[tokio::test]
async fn the_latest_choice_wins_and_every_choice_is_audited() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    fail(&app, FaultKind::Status { status: 503 }, u32::MAX);
    for choice in [true, false, true] {
        assert_eq!(app.patch_opt_out(&token, choice).await.status(), 202);
        let state = state_of(app.get_opt_out(&token).await).await;
        assert_eq!(
            (state["ccpaOptOut"].as_bool(), state["pending"].as_bool()),
            (Some(choice), Some(true)),
            "GET reports the pending choice"
        );
    }
    app.emulator.clear_faults();
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(
        app.emulator.opt_out_history("CUST-1001"),
        [true],
        "one PATCH, the last choice"
    );
    let audit = app.audit().await;
    let outcomes: Vec<_> = audit
        .iter()
        .map(|r| (r.requested, r.outcome.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (true, Some("superseded")),
            (false, Some("superseded")),
            (true, Some("applied")),
        ]
    );
}

#[tokio::test]
async fn a_missing_profile_is_denied_with_its_basis() {
    let app = spawn_app_with(|s| s.campaign.create_missing_profiles = false).await;
    let (status, code) = error_of(app.patch_opt_out(&token_for("CUST-9999"), true).await).await;
    assert_eq!((status, code.as_str()), (404, "profile_not_found"));
    let audit = app.audit().await;
    assert_eq!(audit[0].outcome.as_deref(), Some("denied"));
    assert_eq!(
        audit[0].basis.as_deref(),
        Some("no Campaign profile has the user's key, and none may be created")
    );
    assert_eq!(app.pending().await, 0, "nothing left to retry");
}

/// Readiness reports what the latest call found, field by field, and asks
/// IMS and Campaign nothing itself, however often it is probed.
#[tokio::test]
async fn readiness_reports_storage_and_upstream_apart() {
    let app = spawn_app().await;
    assert_eq!(
        app.readiness().await,
        json!({"status": "ready", "storage": "ok", "upstream": "ok", "problem": null,
               "pending": 0, "oldestPendingMs": null, "deadLetters": 0,
               "heldCreations": 0, "stuck": 0,
               "privacyService": {"pending": 0, "deadLetters": 0, "problem": null}})
    );
    // The cached token is refused, and IMS cannot give another.
    app.emulator.expire_tokens();
    app.emulator
        .inject(Fault::ims(FaultKind::Status { status: 503 }, 1));
    let (status, _) = error_of(app.get_opt_out(&token_for("CUST-1001")).await).await;
    assert_eq!(status, 502);
    let before = app.emulator.stats();
    for _ in 0..5 {
        let response = app.get("/health/ready").await;
        assert_eq!(response.status(), 200, "still taking requests durably");
        let ready: Value = response.json().await.unwrap();
        assert_eq!(
            (
                ready["status"].as_str(),
                ready["storage"].as_str(),
                ready["upstream"].as_str()
            ),
            (Some("degraded"), Some("ok"), Some("unreachable"))
        );
        assert!(ready.get("problem").is_none(), "what is wrong: admin only");
        assert_eq!(
            app.readiness().await["problem"],
            "upstream unavailable: IMS answered 503 Service Unavailable"
        );
    }
    assert_eq!(app.emulator.stats(), before, "the probes asked nothing");

    state_of(app.get_opt_out(&token_for("CUST-1001")).await).await;
    assert_eq!(
        app.readiness().await["status"],
        "ready",
        "the next call succeeded"
    );
}

/// IMS refusing the credential is a configuration problem, and says so.
#[tokio::test]
async fn readiness_names_a_refused_credential_as_misconfiguration() {
    let app = spawn_app().await;
    app.emulator.expire_tokens();
    app.emulator
        .inject(Fault::ims(FaultKind::Status { status: 401 }, 1));
    let (status, _) = error_of(app.get_opt_out(&token_for("CUST-1001")).await).await;
    assert_eq!(status, 502);
    let ready = app.readiness().await;
    assert_eq!(ready["upstream"], "misconfigured");
    assert!(
        ready["problem"]
            .as_str()
            .is_some_and(|p| p.contains("IMS refused the credential")),
        "{ready}"
    );
}

/// With nothing asking, the proxy checks Campaign itself now and then, so
/// readiness does not keep an outage that has passed.
#[tokio::test]
async fn readiness_learns_that_campaign_is_back_without_a_request() {
    let app = spawn_app_with(|s| s.campaign.health_check_ms = 100).await;
    app.emulator.expire_tokens();
    app.emulator
        .inject(Fault::ims(FaultKind::Status { status: 503 }, 1));
    let _ = app.get_opt_out(&token_for("CUST-1001")).await;
    assert_eq!(app.readiness().await["upstream"], "unreachable");
    let mut upstream = Value::Null;
    for _ in 0..50 {
        upstream = app.readiness().await["upstream"].clone();
        if upstream == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream, "ok");
}

/// Campaign unreachable (its port closed) while IMS answers: a cached
/// token says nothing about Campaign.
#[tokio::test]
async fn readiness_says_when_campaign_is_unreachable_and_what_waits() {
    let app = spawn_app_with(|s| s.campaign.base_url = "http://127.0.0.1:9".parse().unwrap()).await;
    assert_eq!(
        app.patch_opt_out(&token_for("CUST-1001"), true)
            .await
            .status(),
        202
    );
    let ready = app.readiness().await;
    assert_eq!(
        (
            ready["status"].as_str(),
            ready["upstream"].as_str(),
            ready["pending"].as_i64()
        ),
        (Some("degraded"), Some("unreachable"), Some(1))
    );
    assert!(
        ready["problem"]
            .as_str()
            .is_some_and(|p| p.contains("error sending request")),
        "{ready}"
    );
    assert!(
        ready["oldestPendingMs"].as_i64().is_some_and(|ms| ms >= 0),
        "{ready}"
    );
}

#[tokio::test]
async fn the_audit_trail_cannot_be_rewritten() {
    use sqlx::Executor;
    let app = spawn_app().await;
    state_of(app.patch_opt_out(&token_for("CUST-1001"), true).await).await;
    let mut db = app.database_connection().await;
    let mut rewrites = vec![
        "UPDATE audit SET requested = 0",
        "DELETE FROM audit",
        "UPDATE audit_outcome SET outcome = 'denied'",
        "DELETE FROM audit_outcome",
    ];
    if testkit::on_postgres() {
        // TRUNCATE skips row triggers; SQLite has no TRUNCATE.
        rewrites.extend(["TRUNCATE audit_outcome", "TRUNCATE audit CASCADE"]);
    }
    for rewrite in rewrites {
        let error = db.execute(rewrite).await.expect_err(rewrite);
        assert!(
            error.to_string().contains("append-only"),
            "{rewrite}: {error}"
        );
    }
    assert_eq!(app.audit().await.len(), 1);
}

#[tokio::test]
async fn a_request_that_cannot_be_recorded_is_refused_and_not_forwarded() {
    use sqlx::Executor;
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    state_of(app.get_opt_out(&token).await).await;
    let mut db = app.database_connection().await;
    db.execute("DROP TABLE pending_change").await.unwrap();
    let before = app.emulator.stats().campaign_requests;

    let (status, code) = error_of(app.patch_opt_out(&token, true).await).await;
    assert_eq!((status, code.as_str()), (503, "storage_unavailable"));
    assert_eq!(
        app.emulator.stats().campaign_requests,
        before,
        "nothing forwarded that is not on record"
    );
    assert!(!app.opt_out_of("CUST-1001"));
    assert_eq!(app.get("/health/ready").await.status(), 503);
}

/// A change Campaign keeps failing is not retried in silence: past
/// `delivery.stuck_after_ms` it is counted, listed on the admin listener
/// with its § 7026 deadline, and still retried. (It was retried forever
/// and reached no operator.)
#[tokio::test]
async fn a_change_that_keeps_failing_is_flagged_and_still_retried() {
    let app = spawn_app_with(|s| s.delivery.stuck_after_ms = 300).await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    let response = app.patch_opt_out(&token_for("CUST-1001"), true).await;
    assert_eq!(response.status(), 202);
    let request = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let attempts = app.emulator.calls().len();
    assert_eq!(app.counted().await["stuck"], 1);
    let listed = app.admin(reqwest::Method::GET, "/changes/stuck").await;
    let stuck = &listed["changes"][0];
    assert_eq!(stuck["requestId"], request.as_str());
    assert!(
        stuck["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{stuck}"
    );
    let deadline = stuck["deadline"].as_str().unwrap();
    let received =
        ccpa_proxy::audit::parse_time(deadline).unwrap() - stuck["pendingSince"].as_i64().unwrap();
    assert!(
        (19 * 86_400_000..=21 * 86_400_000).contains(&received),
        "15 business days are three weeks: {deadline}"
    );
    eventually("still retried", Duration::from_secs(5), || {
        app.emulator.calls().len() > attempts
    })
    .await;
    app.emulator.clear_faults();
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(app.counted().await["stuck"], 0);
}

/// Campaign breaks right after a request and nothing asks it anything
/// more: readiness says so within `health_check_ms` and one call's
/// timeout. (The check ran late, and a call that failed was not recorded:
/// readiness said `ok` for good.)
#[tokio::test]
async fn readiness_learns_of_an_outage_without_traffic() {
    let app = spawn_app_with(|s| {
        s.campaign.health_check_ms = 300;
        s.campaign.timeout_ms = 500;
    })
    .await;
    state_of(app.get_opt_out(&token_for("CUST-1001")).await).await;
    assert_eq!(app.readiness().await["upstream"], "ok");
    app.emulator
        .inject(Fault::campaign(FaultKind::Drop, u32::MAX));
    let broke = std::time::Instant::now();
    let mut upstream = Value::Null;
    while broke.elapsed() < Duration::from_millis(300 + 500 + 700) {
        upstream = app.readiness().await["upstream"].clone();
        if upstream == "unreachable" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upstream, "unreachable", "after {:?}", broke.elapsed());
}
