//! Every visitor can opt out: without an account (this browser's choice,
//! or by email), and signed in though Campaign has no profile yet.

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::store::CallKind;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::*;

impl TestApp {
    fn browser_url(&self) -> String {
        format!("{}/api/v1/opt-out/browser", self.url)
    }

    async fn browser_get(&self, cookie: Option<&str>, gpc: bool) -> Response {
        let mut request = self.http.get(self.browser_url());
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        if gpc {
            request = request.header("Sec-GPC", "1");
        }
        request.send().await.unwrap()
    }

    async fn browser_put(&self, value: bool, gpc: bool) -> Response {
        let mut request = self
            .http
            .put(self.browser_url())
            .json(&json!({ "ccpaOptOut": value }));
        if gpc {
            request = request.header("Sec-GPC", "1");
        }
        request.send().await.unwrap()
    }

    pub async fn by_email(&self, body: Value) -> Response {
        self.http
            .post(format!("{}/api/v1/opt-out/email", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// The `name=value` part of a response's `Set-Cookie`, and the whole header.
fn cookie_of(response: &Response) -> (String, String) {
    let header = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let pair = header.split(';').next().unwrap().to_owned();
    (pair, header)
}

#[tokio::test]
async fn a_visitor_without_an_account_opts_this_browser_out_and_back_in() {
    let app = spawn_app().await;
    let state = state_of(app.browser_get(None, false).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": false, "pending": false, "gpcHonored": false})
    );

    let response = app.browser_put(true, false).await;
    let (cookie, header) = cookie_of(&response);
    assert_eq!(cookie, "ccpa_optout=1");
    for attribute in ["Path=/", "Max-Age=34128000", "HttpOnly", "SameSite=Lax"] {
        assert!(header.contains(attribute), "{header}");
    }
    assert_eq!(state_of(response).await["ccpaOptOut"], true);
    let read = app.browser_get(Some(&cookie), false).await;
    assert_eq!(
        cookie_of(&read).0,
        cookie,
        "set again: 13 months from the last visit"
    );
    assert_eq!(
        state_of(read).await["ccpaOptOut"],
        true,
        "kept across reloads"
    );

    let response = app.browser_put(false, false).await;
    let (cookie, _) = cookie_of(&response);
    assert_eq!(cookie, "ccpa_optout=0", "as easy back as out");
    assert_eq!(
        state_of(app.browser_get(Some(&cookie), false).await).await["ccpaOptOut"],
        false
    );
    assert!(app.emulator.calls().is_empty(), "nothing sent to Campaign");
    assert!(app.audit().await.is_empty(), "nothing identifying recorded");
}

#[tokio::test]
async fn global_privacy_control_opts_a_browser_out_until_its_visitor_chooses_otherwise() {
    let app = spawn_app().await;
    let state = state_of(app.browser_get(None, true).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": true, "pending": false, "gpcHonored": true})
    );
    let allowed = app.browser_put(false, true).await;
    let (cookie, _) = cookie_of(&allowed);
    assert_eq!(cookie, "ccpa_optout=waived");
    let state = state_of(app.browser_get(Some(&cookie), true).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": false, "pending": false, "gpcHonored": false})
    );
    // An "allowed" chosen without the signal does not stand against it.
    let state = state_of(app.browser_get(Some("ccpa_optout=0"), true).await).await;
    assert_eq!(state["ccpaOptOut"], true);
}

/// A known, an unknown and an ambiguous address get the same answer, while
/// Campaign is down even; then every profile with the address is opted
/// out, and the unknown one gets a profile flagged so.
#[tokio::test]
async fn an_opt_out_by_email_is_answered_alike_and_reaches_every_match() {
    let app = spawn_app().await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    let mut answers = Vec::new();
    for email in [
        "ada@example.com",
        "New.Person@example.com",
        "twin@example.com",
    ] {
        let response = app.by_email(json!({ "email": email })).await;
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert_eq!(answers[0], (202, r#"{"received":true}"#.to_owned()));
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    app.emulator.clear_faults();
    app.drained().await;

    let profiles = app.emulator.profiles();
    let by = |email: &str| {
        profiles
            .iter()
            .filter(|p| p.email == email)
            .map(|p| p.ccpa_opt_out)
            .collect::<Vec<_>>()
    };
    assert_eq!(by("ada@example.com"), [true]);
    assert_eq!(by("twin@example.com"), [true, true], "every match");
    assert_eq!(
        by("new.person@example.com"),
        [true],
        "a suppression record, keyed as every later spelling finds it"
    );
    let creates = app
        .emulator
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Create)
        .count();
    assert_eq!(creates, 1);
    let audit = app.audit().await;
    let trail: Vec<_> = audit
        .iter()
        .map(|r| (r.source.as_str(), r.requested, r.outcome.as_deref()))
        .collect();
    assert_eq!(
        trail,
        [
            ("email", true, Some("applied")),
            ("email", true, Some("created")),
            ("email", true, Some("applied")),
        ]
    );
}

#[tokio::test]
async fn the_email_route_takes_an_address_and_nothing_else() {
    let app = spawn_app().await;
    for body in [
        json!({"email": "ada@example.com", "ccpaOptOut": false}),
        json!({"email": "not-an-address"}),
        json!({"email": true}),
        json!({}),
    ] {
        let (status, code) = error_of(app.by_email(body.clone()).await).await;
        assert_eq!((status, code.as_str()), (422, "invalid_body"), "{body}");
    }
    assert!(app.audit().await.is_empty());
}

#[tokio::test]
async fn opting_out_by_email_is_limited_per_address_and_per_client() {
    let app = spawn_app().await;
    // Campaign down: the first opt-outs wait, and cover the fourth.
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    for _ in 0..3 {
        assert_eq!(
            app.by_email(json!({"email": "ada@example.com"}))
                .await
                .status(),
            202
        );
    }
    // A fourth for the address: answered alike, recorded as a repeat the
    // waiting opt-out covers, and not sent again.
    let fourth = app.by_email(json!({"email": "Ada@Example.com "})).await;
    assert_eq!(fourth.status(), 202);
    assert_eq!(fourth.text().await.unwrap(), r#"{"received":true}"#);
    // Four from this client so far: ten after six more.
    for n in 0..6 {
        let email = format!("person{n}@example.com");
        assert_eq!(app.by_email(json!({ "email": email })).await.status(), 202);
    }
    let refused = app.by_email(json!({"email": "one-more@example.com"})).await;
    // Ten a minute: one more every 6 s.
    assert_eq!(refused.headers()["retry-after"], "6");
    let (status, _) = error_of(refused).await;
    assert_eq!(status, 429, "ten a minute from one client");
    app.emulator.clear_faults();
    app.drained().await;
    let audit = app.audit().await;
    assert_eq!(audit.len(), 10, "every request has its record");
    let outcomes: Vec<_> = audit.iter().map(|r| r.outcome.as_deref()).collect();
    assert!(
        outcomes[..3]
            .iter()
            .all(|o| matches!(o, Some("applied" | "superseded"))),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[3], Some("repeat"));
    assert!(
        audit[3]
            .basis
            .as_deref()
            .is_some_and(|b| b.contains("cover"))
    );
}

/// An address whose opt-outs this hour have been applied, and since
/// undone (its owner allowed sale), is opted out again by the next request
/// past its limit: a used-up limit never leaves an opt-out unsent. (It was
/// recorded as a repeat, and Campaign kept allowing sale.)
#[tokio::test]
async fn past_its_limit_an_address_is_still_opted_out_when_nothing_waits() {
    let app = spawn_app_keyed_by_email().await;
    for _ in 0..3 {
        assert_eq!(
            app.by_email(json!({"email": "ada@example.com"}))
                .await
                .status(),
            202
        );
        app.drained().await;
    }
    assert!(app.opt_out_of("CUST-1001"));
    let owner = token_with_email("host-user-1", "ada@example.com");
    state_of(app.patch_opt_out(&owner, false).await).await;
    assert!(!app.opt_out_of("CUST-1001"));
    assert_eq!(
        app.by_email(json!({"email": "ada@example.com"}))
            .await
            .status(),
        202
    );
    app.drained().await;
    assert!(app.opt_out_of("CUST-1001"), "opted out again");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(
        (last.source.as_str(), last.outcome.as_deref()),
        ("email", Some("applied"))
    );
}

#[tokio::test]
async fn the_email_route_is_off_unless_enabled() {
    let app = spawn_app_with(|s| s.email_opt_out.enabled = false).await;
    let (status, code) = error_of(app.by_email(json!({"email": "ada@example.com"})).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

/// Signed in but unknown to Campaign: the switch shows "allowed", and an
/// opt-out creates the profile, flagged; the answer and audit say so.
#[tokio::test]
async fn an_unknown_customer_sees_the_switch_and_opting_out_creates_their_profile() {
    let app = spawn_app().await;
    let token = token_for("CUST-4040");
    let state = state_of(app.get_opt_out(&token).await).await;
    assert_eq!(
        state,
        json!({"ccpaOptOut": false, "pending": false, "gpcHonored": false})
    );
    let state = state_of(app.patch_opt_out(&token, true).await).await;
    assert_eq!(state["ccpaOptOut"], true);
    assert!(app.opt_out_of("CUST-4040"), "created, flagged");
    assert_eq!(app.audit().await[0].outcome.as_deref(), Some("created"));
    state_of(app.patch_opt_out(&token, false).await).await;
    assert!(!app.opt_out_of("CUST-4040"), "and known from then on");
}

#[tokio::test]
async fn allowing_sale_for_an_unknown_customer_changes_nothing_and_says_so() {
    let app = spawn_app().await;
    let (status, code) = error_of(app.patch_opt_out(&token_for("CUST-5050"), false).await).await;
    assert_eq!((status, code.as_str()), (404, "profile_not_found"));
    assert!(app.emulator.profile("CUST-5050").is_none());
    let audit = app.audit().await;
    assert_eq!(audit[0].outcome.as_deref(), Some("denied"));
    assert!(
        audit[0]
            .basis
            .as_deref()
            .is_some_and(|b| b.contains("no opt-out to undo")),
        "{:?}",
        audit[0].basis
    );
}

#[tokio::test]
async fn without_profile_creation_an_unknown_customers_opt_out_is_denied() {
    let app = spawn_app_with(|s| s.campaign.create_missing_profiles = false).await;
    let (status, code) = error_of(app.patch_opt_out(&token_for("CUST-4040"), true).await).await;
    assert_eq!((status, code.as_str()), (404, "profile_not_found"));
    assert!(app.emulator.profile("CUST-4040").is_none());
}

/// A browser that opted out before its owner signed in: the opt-out
/// applies to the account (source `browser`), from the cookie or, when the
/// cookie was not kept, from the widget's header; the cookie then says it
/// was applied, so that the account's own later choice stands.
#[tokio::test]
async fn a_browsers_opt_out_applies_to_the_account_once_signed_in() {
    let app = spawn_app().await;
    let read = |customer: &str, header: (&'static str, &'static str)| {
        app.http
            .get(app.api())
            .bearer_auth(token_for(customer))
            .header(header.0, header.1)
            .send()
    };
    let response = read("CUST-1001", ("Cookie", "ccpa_optout=1"))
        .await
        .unwrap();
    assert_eq!(cookie_of(&response).0, "ccpa_optout=applied");
    assert_eq!(state_of(response).await["ccpaOptOut"], true);
    let response = read("CUST-1003", ("X-CCPA-Browser-Opt-Out", "1"))
        .await
        .unwrap();
    assert_eq!(state_of(response).await["ccpaOptOut"], true);
    assert!(app.opt_out_of("CUST-1001") && app.opt_out_of("CUST-1003"));
    let sources: Vec<_> = app.audit().await.into_iter().map(|r| r.source).collect();
    assert_eq!(sources, ["browser", "browser"]);

    // They allow sale; the browser's applied opt-out does not undo it.
    state_of(app.patch_opt_out(&token_for("CUST-1001"), false).await).await;
    let response = read("CUST-1001", ("Cookie", "ccpa_optout=applied"))
        .await
        .unwrap();
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(
        state_of(response).await["ccpaOptOut"],
        false,
        "their choice holds"
    );
    // Signed out, the browser is still opted out.
    let state = state_of(app.browser_get(Some("ccpa_optout=applied"), false).await).await;
    assert_eq!(state["ccpaOptOut"], true);
}

/// `count` profiles sharing `email`, keyed `<prefix>-00`, `<prefix>-01`, …
fn share(app: &TestApp, prefix: &str, email: &str, count: usize) {
    for n in 0..count {
        app.emulator
            .add_customer_with_email(&format!("{prefix}-{n:02}"), email);
    }
}

fn opted_out_with(app: &TestApp, email: &str) -> (usize, usize) {
    let profiles = app.emulator.profiles();
    let with: Vec<_> = profiles.iter().filter(|p| p.email == email).collect();
    (with.iter().filter(|p| p.ccpa_opt_out).count(), with.len())
}

/// Campaign pages `byEmail` at 25: an opt-out by email follows the `next`
/// links to the last page, on a table large enough that Campaign gives
/// them only when asked (`_forcePagination`), and says how many profiles
/// it changed. (It stopped at the first page: 5 of 30 kept allowing sale.)
#[tokio::test]
async fn an_opt_out_by_email_reaches_every_page_of_matches() {
    let app = spawn_app().await;
    share(&app, "SHARED", "shared@example.com", 30);
    app.emulator.set_big_table_threshold(10);
    let answered = app.by_email(json!({"email": "shared@example.com"})).await;
    assert_eq!(answered.status(), 202);
    app.drained().await;
    assert_eq!(opted_out_with(&app, "shared@example.com"), (30, 30));
    let audit = app.audit().await;
    assert_eq!(
        (audit[0].outcome.as_deref(), audit[0].profiles_changed),
        (Some("applied"), Some(30))
    );
    let look_ups = app
        .emulator
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::ByEmail)
        .count();
    assert_eq!(look_ups, 2, "two pages of 25");
}

/// More profiles on one address than `campaign.max_email_matches`: none is
/// changed unseen; the request is held for an operator, never `applied`.
#[tokio::test]
async fn an_address_on_more_profiles_than_the_ceiling_is_held_for_an_operator() {
    let app = spawn_app_with(|s| s.campaign.max_email_matches = 10).await;
    share(&app, "SHARED", "shared@example.com", 30);
    assert_eq!(
        app.by_email(json!({"email": "shared@example.com"}))
            .await
            .status(),
        202
    );
    app.drained().await;
    assert_eq!(opted_out_with(&app, "shared@example.com"), (0, 30));
    let audit = app.audit().await;
    assert_eq!(audit[0].outcome.as_deref(), Some("held"));
    assert!(
        audit[0]
            .basis
            .as_deref()
            .is_some_and(|b| b.contains("more than 10") && b.contains("max_email_matches")),
        "{:?}",
        audit[0].basis
    );
    assert_eq!(
        app.counted().await["deadLetters"],
        1,
        "among the dead letters"
    );
}

/// One address is one profile, however it is typed: case, Unicode form and
/// padding. (Each spelling created a suppression profile of its own.)
#[tokio::test]
async fn spellings_of_one_unknown_address_create_one_profile() {
    let app = spawn_app().await;
    let sequential = [
        "New.Kid@Example.com",
        "new.kid@EXAMPLE.COM",
        " NEW.KID@example.com",
    ];
    for spelling in sequential {
        assert_eq!(
            app.by_email(json!({ "email": spelling })).await.status(),
            202
        );
        app.drained().await;
    }
    let nfc = "Zoë@example.com";
    let nfd = "Zoe\u{308}@example.com";
    let (first, second) = tokio::join!(
        app.by_email(json!({ "email": nfc })),
        app.by_email(json!({ "email": nfd })),
    );
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (202, 202)
    );
    let (first, second) = tokio::join!(
        app.by_email(json!({ "email": "Twice@Example.com" })),
        app.by_email(json!({ "email": "twice@example.com" })),
    );
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (202, 202)
    );
    app.drained().await;
    let mut emails: Vec<String> = app
        .emulator
        .profiles()
        .into_iter()
        .filter(|p| p.cus_customer_id.is_none() && !p.email.starts_with("twin"))
        .map(|p| p.email)
        .collect();
    // Made in the order the worker came to them, which is not the test's.
    emails.sort();
    assert_eq!(
        emails,
        [
            "new.kid@example.com",
            "twice@example.com",
            "zoë@example.com"
        ],
        "one each, under the key every spelling looks for"
    );
}

/// A customer signed in as `New.Kid@…`, later as `new.kid@…`: one profile,
/// which both sessions read.
#[tokio::test]
async fn a_customer_signed_in_under_two_spellings_has_one_profile() {
    let app = spawn_app_keyed_by_email().await;
    let shouted = token_with_email("host-user-3", "New.Kid@Example.com");
    let quiet = token_with_email("host-user-3", "new.kid@example.com");
    let opted_out = |response| async { state_of(response).await["ccpaOptOut"].clone() };
    assert_eq!(
        opted_out(app.patch_opt_out(&shouted, true).await).await,
        true
    );
    assert_eq!(opted_out(app.get_opt_out(&quiet).await).await, true);
    assert_eq!(
        opted_out(app.patch_opt_out(&quiet, false).await).await,
        false
    );
    assert_eq!(opted_out(app.get_opt_out(&shouted).await).await, false);
    let creates = app
        .emulator
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Create)
        .count();
    assert_eq!(creates, 1);
}

/// Under HTTPS only the `__Host-` cookie is believed: a sibling subdomain
/// or a plain-HTTP page can set the unprefixed one, and must not make a
/// browser opted out, or waive its GPC signal.
#[tokio::test]
async fn under_https_a_planted_unprefixed_cookie_is_ignored() {
    let app = spawn_app_with(|s| s.server.secure_cookies = true).await;
    let planted = state_of(app.browser_get(Some("ccpa_optout=1"), false).await).await;
    assert_eq!(planted["ccpaOptOut"], false);
    let waived = state_of(app.browser_get(Some("ccpa_optout=waived"), true).await).await;
    assert_eq!(
        (&waived["ccpaOptOut"], &waived["gpcHonored"]),
        (&json!(true), &json!(true)),
        "the signal still counts"
    );
    let own = state_of(app.browser_get(Some("__Host-ccpa_optout=1"), false).await).await;
    assert_eq!(own["ccpaOptOut"], true);
    let response = app
        .http
        .get(app.api())
        .bearer_auth(token_for("CUST-1001"))
        .header("Cookie", "ccpa_optout=1")
        .send()
        .await
        .unwrap();
    assert_eq!(state_of(response).await["ccpaOptOut"], false);
    assert!(app.audit().await.is_empty(), "no opt-out taken from it");
}
