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
    let problem = app.readiness().await["privacyService"]["problem"].clone();
    assert!(
        problem
            .as_str()
            .is_some_and(|p| p.contains("privacy_service.ims_org")),
        "{problem}"
    );
}

/// A credential without the Privacy Service API is answered `401`: the
/// token (Campaign's too) is renewed once, not at every attempt, so IMS
/// is not hammered and Campaign's calls do not pay. (Each attempt asked
/// IMS for a new token before.)
#[tokio::test]
async fn a_refused_token_is_renewed_at_most_once_a_minute() {
    let app = telling(tell_privacy_service).await;
    app.emulator
        .inject(Fault::privacy(FaultKind::Status { status: 401 }, u32::MAX));
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    let emulator = app.emulator.clone();
    let refused = move || {
        emulator
            .calls()
            .iter()
            .filter(|c| c.kind == campaign_emulator::store::CallKind::Consent)
            .count()
    };
    let enough = refused.clone();
    eventually("five refused calls", Duration::from_secs(10), move || {
        enough() >= 5
    })
    .await;
    assert_eq!(app.emulator.stats().token_requests, 1, "one renewal");
    let problem = app.readiness().await["privacyService"]["problem"].clone();
    assert!(
        problem.as_str().is_some_and(|p| p.contains("401")),
        "{problem}"
    );
    assert!(
        app.opt_out_of("CUST-1001"),
        "Campaign's delivery is untouched"
    );
}

/// A customer whose opt-out Campaign holds, reading from a browser Adobe
/// was not told of, has it told for that browser's ECID: once.
#[tokio::test]
async fn an_opt_out_campaign_holds_is_told_for_the_browser_the_customer_reads_from() {
    let app = spawn_app_with(tell_privacy_service).await;
    for _ in 0..2 {
        let read = app
            .http
            .get(app.api())
            .bearer_auth(token_for("CUST-1002"))
            .header("X-CCPA-ECID", ECID)
            .send()
            .await
            .unwrap();
        assert_eq!(state_of(read).await["ccpaOptOut"], true, "Grace opted out");
    }
    app.drained().await;
    assert_eq!(taken(&app.emulator.consents()), [the_ecid(true)]);
    let audit = app.audit().await;
    assert_eq!(audit.len(), 1, "once");
    assert_eq!(audit[0].subject, format!("ecid:{ECID}"));
    assert_eq!(app.emulator.stats().patches, 0);
}

/// An ECID as Adobe's Web SDK hands them out: 38 digits.
const ECID: &str = "12345678901234567890123456789012345678";

fn the_ecid(opt_out: bool) -> (bool, String, Vec<String>) {
    (opt_out, "ECID".into(), vec![ECID.into()])
}

impl TestApp {
    /// A PATCH of the opt-out by `token`, from a page whose ECID is `ecid`.
    async fn patch_from_page(&self, token: &str, value: bool, ecid: &str) -> reqwest::Response {
        self.http
            .patch(self.api())
            .bearer_auth(token)
            .header("X-CCPA-ECID", ecid)
            .json(&json!({ "ccpaOptOut": value }))
            .send()
            .await
            .unwrap()
    }

    /// This browser's choice, set from a page whose ECID is `ecid`.
    async fn put_browser_from_page(&self, value: bool, ecid: &str) -> reqwest::Response {
        self.http
            .put(format!("{}/api/v1/opt-out/browser", self.url))
            .header("X-CCPA-ECID", ecid)
            .json(&json!({ "ccpaOptOut": value }))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_pages_ecid_goes_with_a_signed_in_choice_besides_the_address() {
    let app = telling(tell_privacy_service).await;
    let token = token_with_email("ada", "ada@example.com");
    assert_eq!(app.patch_from_page(&token, true, ECID).await.status(), 200);
    consents_taken(&app, 2).await;
    assert_eq!(app.patch_from_page(&token, false, ECID).await.status(), 200);
    app.drained().await;
    let mut taken = taken(&app.emulator.consents());
    taken.sort();
    assert_eq!(
        taken,
        [the_ecid(false), ada(false), the_ecid(true), ada(true)]
    );
    let both = Some("ECID:applied email:applied".to_owned());
    assert_eq!(told(&app).await, [both.clone(), both]);
}

#[tokio::test]
async fn a_browsers_own_choice_is_told_for_its_ecid_and_recorded() {
    let app = spawn_app_with(tell_privacy_service).await;
    let opted_out = app.put_browser_from_page(true, ECID).await;
    assert_eq!(opted_out.status(), 200);
    assert!(opted_out.headers().contains_key("set-cookie"));
    consents_taken(&app, 1).await;
    assert_eq!(app.put_browser_from_page(false, ECID).await.status(), 200);
    app.drained().await;
    assert_eq!(
        taken(&app.emulator.consents()),
        [the_ecid(true), the_ecid(false)],
        "the consumer's own action opts back in"
    );
    let audit = app.audit().await;
    assert_eq!(audit.len(), 2);
    let subject = format!("ecid:{ECID}");
    for (row, requested) in audit.iter().zip([true, false]) {
        assert_eq!(
            (row.subject.as_str(), row.source.as_str(), row.requested),
            (subject.as_str(), "browser", requested)
        );
        assert_eq!(
            row.outcome.as_deref(),
            Some("applied"),
            "kept in the cookie"
        );
        assert_eq!(row.profiles_changed, Some(0), "no Campaign profile");
        assert_eq!(row.privacy_service.as_deref(), Some("ECID:applied"));
    }
    assert_eq!(app.emulator.stats().patches, 0, "Campaign is not asked");
}

#[tokio::test]
async fn a_browsers_choice_records_nothing_without_an_ecid_or_while_privacy_service_is_off() {
    let telling = spawn_app_with(tell_privacy_service).await;
    let response = telling
        .http
        .put(format!("{}/api/v1/opt-out/browser", telling.url))
        .json(&json!({ "ccpaOptOut": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let off = spawn_app().await;
    assert_eq!(off.put_browser_from_page(true, ECID).await.status(), 200);
    for app in [&telling, &off] {
        app.drained().await;
        assert!(app.audit().await.is_empty());
        assert!(app.emulator.consents().is_empty());
    }
}

#[tokio::test]
async fn an_ecid_not_shaped_as_one_is_refused_and_nothing_is_recorded() {
    let app = spawn_app_with(tell_privacy_service).await;
    let token = token_for("CUST-1001");
    for ecid in ["1234", "abc", &"9".repeat(41), "12345678901234567890 1"] {
        let patched = app.patch_from_page(&token, true, ecid).await;
        assert_eq!(
            error_of(patched).await,
            (400, "invalid_header".into()),
            "{ecid}"
        );
        let put = app.put_browser_from_page(true, ecid).await;
        assert!(!put.headers().contains_key("set-cookie"));
        assert_eq!(
            error_of(put).await,
            (400, "invalid_header".into()),
            "{ecid}"
        );
    }
    let two = app
        .http
        .get(app.api())
        .bearer_auth(&token)
        .header("X-CCPA-ECID", ECID)
        .header("X-CCPA-ECID", ECID)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(two).await, (400, "invalid_header".into()));
    assert!(app.audit().await.is_empty());
    assert_eq!(app.emulator.stats().campaign_requests, 0);
    assert!(app.emulator.consents().is_empty());
}

/// Past a client's limit the choice is kept in the browser's cookie as
/// ever, and not told: Privacy Service never stands in the way of the
/// visitor's own choice. (It was refused, `429`, cookie and all.)
#[tokio::test]
async fn past_a_clients_limit_a_browsers_choice_is_kept_and_not_told() {
    let app = spawn_app_with(|s| {
        tell_privacy_service(s);
        s.privacy_service.per_client_per_minute = 2;
    })
    .await;
    for value in [true, false] {
        assert_eq!(app.put_browser_from_page(value, ECID).await.status(), 200);
    }
    let third = app.put_browser_from_page(true, ECID).await;
    assert!(third.headers().contains_key("set-cookie"), "kept");
    assert_eq!(state_of(third).await["ccpaOptOut"], true);
    app.drained().await;
    assert_eq!(app.audit().await.len(), 2);
    assert!(
        app.metrics()
            .await
            .contains("ccpa_rate_limited_total{limit=\"browser\"} 1")
    );
}

#[tokio::test]
async fn global_privacy_control_applied_at_a_read_is_told_for_the_pages_ecid() {
    let app = spawn_app_with(tell_privacy_service).await;
    let read = app
        .http
        .get(app.api())
        .bearer_auth(token_for("CUST-1001"))
        .header("Sec-GPC", "1")
        .header("X-CCPA-ECID", ECID)
        .send()
        .await
        .unwrap();
    assert_eq!(state_of(read).await["signalApplied"], true);
    app.drained().await;
    assert_eq!(taken(&app.emulator.consents()), [the_ecid(true)]);
    assert_eq!(app.audit().await[0].source, "gpc");
}

/// Global Privacy Control from a browser without an account reaches Adobe
/// for the page's ECID, once however many pages carry it, and not where
/// the visitor waived it with the switch.
#[tokio::test]
async fn a_browsers_gpc_is_told_for_its_ecid_once() {
    let app = spawn_app_with(tell_privacy_service).await;
    let read = |ecid: &str, cookie: &str| {
        app.http
            .get(format!("{}/api/v1/opt-out/browser", app.url))
            .header("Sec-GPC", "1")
            .header("X-CCPA-ECID", ecid)
            .header("Cookie", cookie)
            .send()
    };
    for _ in 0..3 {
        let state = state_of(read(ECID, "other=1").await.unwrap()).await;
        assert_eq!(state["gpcHonored"], true);
    }
    app.drained().await;
    assert_eq!(taken(&app.emulator.consents()), [the_ecid(true)]);
    let audit = app.audit().await;
    assert_eq!(audit.len(), 1, "recorded once");
    assert_eq!(
        (audit[0].source.as_str(), audit[0].requested, audit[0].gpc),
        ("gpc", true, true)
    );
    // Waived with the switch: the signal is not this visitor's choice.
    let other = "98765432109876543210987654321098765432";
    let waived = read(other, "ccpa_optout=waived").await.unwrap();
    assert_eq!(state_of(waived).await["gpcHonored"], false);
    app.drained().await;
    assert_eq!(app.audit().await.len(), 1);
}

/// An opt-out this browser's cookie keeps (made before Privacy Service was
/// told) is told for the page's ECID at a later read, once; an allow the
/// visitor chose while sending GPC is not overridden by the signal, even
/// where the cookie did not come back.
#[tokio::test]
async fn a_cookies_opt_out_is_told_once_and_a_recorded_waiver_stands() {
    let app = spawn_app_with(tell_privacy_service).await;
    let browser_url = format!("{}/api/v1/opt-out/browser", app.url);
    for _ in 0..2 {
        let read = app
            .http
            .get(&browser_url)
            .header("X-CCPA-ECID", ECID)
            .header("Cookie", "ccpa_optout=1")
            .send()
            .await
            .unwrap();
        assert_eq!(state_of(read).await["ccpaOptOut"], true);
    }
    let other = "98765432109876543210987654321098765432";
    let waived = app
        .http
        .put(&browser_url)
        .header("X-CCPA-ECID", other)
        .header("Sec-GPC", "1")
        .json(&json!({ "ccpaOptOut": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(state_of(waived).await["gpcHonored"], false);
    let without_the_cookie = app
        .http
        .get(&browser_url)
        .header("X-CCPA-ECID", other)
        .header("Sec-GPC", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(state_of(without_the_cookie).await["gpcHonored"], true);
    app.drained().await;
    let subjects: Vec<(String, bool)> = app
        .audit()
        .await
        .into_iter()
        .map(|row| (row.subject, row.requested))
        .collect();
    assert_eq!(
        subjects,
        [
            (format!("ecid:{ECID}"), true),
            (format!("ecid:{other}"), false)
        ],
        "the cookie's opt-out once; the waiver, and no signal over it"
    );
}
