//! Many users flipping at once while Campaign fails on and off: afterwards
//! Campaign holds every user's last choice (of both switches: the opt-out,
//! and the limit on sensitive information), every profile saw its changes
//! in order, and the audit trail has one record per accepted request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use campaign_emulator::Emulator;
use campaign_emulator::faults::{Fault, FaultKind};

use serde_json::json;

use crate::helpers::*;

/// What one user did: their choices in the order the proxy accepted them.
struct User {
    key: String,
    /// Of the opt-out.
    accepted: Vec<bool>,
    /// Of the limit on the use of sensitive information.
    limits: Vec<bool>,
    /// How many of them were answered `202`: recorded, to be applied later.
    recorded: usize,
    refused: usize,
}

/// `users` customers each flip `rounds` times, spread over `proxies`, while
/// faults come and go; then faults stop and every proxy drains.
/// How many addresses nobody has are opted out by email during a storm.
const STORM_EMAILS: usize = 40;

async fn storm(
    emulator: &Emulator,
    proxies: &[TestApp],
    users: usize,
    rounds: usize,
) -> (Vec<User>, Vec<String>) {
    let keys: Vec<String> = (0..users).map(|i| format!("LOAD-{i:04}")).collect();
    for key in &keys {
        emulator.add_customer(key);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let chaos = tokio::spawn(inject_faults(emulator.clone(), stop.clone()));
    let urls: Vec<String> = proxies.iter().map(TestApp::api).collect();
    let flips = keys.into_iter().map(|key| {
        let urls = urls.clone();
        tokio::spawn(async move { flip(key, &urls, rounds).await })
    });
    let emails = tokio::spawn(opt_out_by_email(proxies[0].url.clone()));
    let mut done = Vec::new();
    for user in futures_util::future::join_all(flips).await {
        done.push(user.unwrap());
    }
    let emails = emails.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    chaos.await.unwrap();
    emulator.clear_faults();
    for proxy in proxies {
        proxy.drained().await;
    }
    (done, emails)
}

/// Opts out [`STORM_EMAILS`] addresses nobody has, by email, one after
/// another; returns those accepted.
async fn opt_out_by_email(proxy: String) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut accepted = Vec::new();
    for n in 0..STORM_EMAILS {
        let email = format!("storm-{n}@example.com");
        let response = http
            .post(format!("{proxy}/api/v1/opt-out/email"))
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{email}");
        accepted.push(email);
    }
    accepted
}

/// The ECID of the browser `key` flips from: 38 digits, one per user.
fn ecid_of(key: &str) -> String {
    let n: u64 = key
        .trim_start_matches("LOAD-")
        .parse()
        .expect("a storm key");
    format!("9{n:037}")
}

async fn flip(key: String, urls: &[String], rounds: usize) -> User {
    let http = reqwest::Client::new();
    let token = token_for(&key);
    let mut user = User {
        key,
        accepted: Vec::new(),
        limits: Vec::new(),
        recorded: 0,
        refused: 0,
    };
    for round in 0..rounds {
        let choice = rand::random::<bool>();
        // The first flip is of the opt-out; after it, one in three is of
        // the limit: the two choices' changes interleave.
        let limit = round > 0 && rand::random_range(0..3) == 0;
        let api = &urls[round % urls.len()];
        let (url, body, accepted) = match limit {
            false => (
                api.clone(),
                json!({ "ccpaOptOut": choice }),
                &mut user.accepted,
            ),
            true => (
                format!("{api}/sensitive"),
                json!({ "limitSensitive": choice }),
                &mut user.limits,
            ),
        };
        let response = http
            .patch(url)
            .bearer_auth(&token)
            .header("X-CCPA-ECID", ecid_of(&user.key))
            .json(&body)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => accepted.push(choice),
            202 => {
                accepted.push(choice);
                user.recorded += 1;
            }
            _ => user.refused += 1,
        }
    }
    user
}

/// Every 25 ms another fault: failures, resets, throttling, slowness beyond
/// the timeout, an IMS outage, revoked tokens.
async fn inject_faults(emulator: Emulator, stop: Arc<AtomicBool>) {
    let faults = [
        Fault::campaign(FaultKind::Status { status: 503 }, 5),
        Fault::campaign(FaultKind::Drop, 3),
        Fault::campaign(FaultKind::Status { status: 500 }, 3),
        Fault::campaign(
            FaultKind::Throttle {
                retry_after_secs: 1,
            },
            2,
        ),
        Fault::campaign(FaultKind::Delay { ms: 900 }, 2),
        Fault::ims(FaultKind::Status { status: 503 }, 2),
        Fault::privacy(FaultKind::Status { status: 503 }, 3),
        Fault::privacy(FaultKind::Drop, 2),
        Fault::privacy(
            FaultKind::Throttle {
                retry_after_secs: 1,
            },
            1,
        ),
        Fault::privacy(FaultKind::Late { ms: 900 }, 1),
    ];
    for round in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match faults.get(round % (faults.len() + 1)) {
            Some(fault) => emulator.inject(fault.clone()),
            None => emulator.expire_tokens(),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What the storm left: counted from Campaign and the audit trail.
struct Verdict {
    accepted: usize,
    /// Accepted requests answered `202`, applied later by the worker.
    recorded: usize,
    /// Users whose last choice differs from where their profile started:
    /// without them, "Campaign holds the last choice" could hold by doing
    /// nothing.
    moved: usize,
    /// Accepted requests whose effect is missing: a user whose profile does
    /// not hold their last choice, or a request without its audit record
    /// and final outcome.
    lost: usize,
    /// Choices Privacy Service was to be told and was not: no consent
    /// taken for the address, or no `applied` on record.
    lost_by_privacy_service: usize,
}

/// Checks the end state against what every user was told, and that each
/// address opted out by email has one profile, created flagged.
async fn verify(emulator: &Emulator, database: &str, users: &[User], emails: &[String]) -> Verdict {
    let audit = audit_of(database).await;
    let mut verdict = Verdict {
        accepted: 0,
        recorded: 0,
        moved: 0,
        lost: 0,
        lost_by_privacy_service: 0,
    };
    for user in users {
        assert_eq!(user.refused, 0, "{}: every request was accepted", user.key);
        let last = *user.accepted.last().expect("accepted choices");
        verdict.accepted += user.accepted.len() + user.limits.len();
        verdict.recorded += user.recorded;
        verdict.moved += usize::from(last);
        if emulator.profile(&user.key).unwrap().ccpa_opt_out != last {
            verdict.lost += 1;
        }
        // Every accepted choice is on record, in the order accepted, and
        // decided: the last applied, the others superseded or applied.
        verdict.lost += limits_lost(emulator, &audit, user);
        verdict.lost_by_privacy_service += untold(emulator, &audit, user);
        let records: Vec<_> = audit
            .iter()
            .filter(|r| r.subject == user.key && r.choice == "sale")
            .collect();
        let requested: Vec<bool> = records.iter().map(|r| r.requested).collect();
        assert_eq!(
            requested, user.accepted,
            "{}: the audit trail's sequence",
            user.key
        );
        verdict.lost += records
            .iter()
            .filter(|r| !matches!(r.outcome.as_deref(), Some("applied" | "superseded")))
            .count();
        assert_eq!(
            records.last().and_then(|r| r.outcome.as_deref()),
            Some("applied"),
            "{}: the last choice is applied",
            user.key
        );
        // Campaign saw the changes in the order chosen: every PATCH sets
        // the opposite of the value before, so its history is the chosen
        // sequence with repeats and replaced choices left out.
        let history = emulator.opt_out_history(&user.key);
        assert!(
            is_in_order(&history, &user.accepted),
            "{}: applied {history:?} is not in the order chosen {:?}",
            user.key,
            user.accepted
        );
        assert_eq!(
            history.last().copied().unwrap_or(false),
            last,
            "{}",
            user.key
        );
    }
    let profiles = emulator.profiles();
    for email in emails {
        verdict.accepted += 1;
        let held: Vec<bool> = profiles
            .iter()
            .filter(|p| &p.email == email)
            .map(|p| p.ccpa_opt_out)
            .collect();
        let recorded = audit
            .iter()
            .filter(|r| r.subject == format!("email:{email}"))
            .all(|r| r.source == "email" && r.outcome.as_deref() == Some("created"));
        if held != [true] || !recorded {
            verdict.lost += 1;
        }
        if !told_privacy_service(emulator, &audit, email) {
            verdict.lost_by_privacy_service += 1;
        }
    }
    verdict
}

/// A user's choices of sale Privacy Service was to be told for their
/// browser's ECID and was not: the last one it took is not the user's last
/// (it took them in the order made, or the last would be another), or a
/// record is not decided `applied` or `superseded` for the ECID.
fn untold(emulator: &Emulator, audit: &[ccpa_proxy::store::AuditRow], user: &User) -> usize {
    let ecid = ecid_of(&user.key);
    let taken: Vec<bool> = emulator
        .consents()
        .iter()
        .filter(|c| c.entities.iter().any(|e| e.values == [ecid.as_str()]))
        .map(|c| c.opt_out_of_sale)
        .collect();
    let last_taken_is_last_chosen = taken.last() == user.accepted.last();
    let undecided = audit
        .iter()
        .filter(|r| r.subject == user.key && r.choice == "sale")
        .filter(|r| {
            !matches!(
                r.privacy_service.as_deref(),
                Some("ECID:applied" | "ECID:superseded")
            )
        })
        .count();
    usize::from(!last_taken_is_last_chosen) + undecided
}

/// Whether Privacy Service took the opt-out of `email` (the storm's
/// addresses are all lower-case: one spelling), and the trail says so.
fn told_privacy_service(
    emulator: &Emulator,
    audit: &[ccpa_proxy::store::AuditRow],
    email: &str,
) -> bool {
    let taken = emulator.consents().iter().any(|consent| {
        consent.opt_out_of_sale
            && consent
                .entities
                .iter()
                .any(|e| e.name_space == "email" && e.values == [email])
    });
    let recorded = audit
        .iter()
        .filter(|r| r.subject == format!("email:{email}"))
        .all(|r| r.privacy_service.as_deref() == Some("email:applied"));
    taken && recorded
}

/// Accepted limits whose effect is missing: Campaign's field not at the
/// user's last limit, or a record undecided or failed. Their records are
/// the limits in the order accepted.
fn limits_lost(emulator: &Emulator, audit: &[ccpa_proxy::store::AuditRow], user: &User) -> usize {
    let records: Vec<_> = audit
        .iter()
        .filter(|r| r.subject == user.key && r.choice == "sensitive")
        .collect();
    let requested: Vec<bool> = records.iter().map(|r| r.requested).collect();
    assert_eq!(requested, user.limits, "{}: the limits on record", user.key);
    let held = emulator.profile(&user.key).unwrap().cus_limit_sensitive;
    let last = user.limits.last().copied().unwrap_or(false);
    let undecided = records
        .iter()
        .filter(|r| !matches!(r.outcome.as_deref(), Some("applied" | "superseded")))
        .count();
    usize::from(held != last) + undecided
}

/// Whether `applied` is a subsequence of `chosen`: changes may be skipped
/// (a newer choice replaced them) but never reordered.
fn is_in_order(applied: &[bool], chosen: &[bool]) -> bool {
    let mut chosen = chosen.iter();
    applied.iter().all(|a| chosen.any(|c| c == a))
}

#[test]
fn the_order_check_tells_reordered_sequences_apart() {
    assert!(is_in_order(&[true, false], &[true, true, false]));
    assert!(is_in_order(&[], &[true]));
    assert!(!is_in_order(&[false, true], &[true, false]), "reordered");
    assert!(!is_in_order(&[true, true], &[true]), "applied twice");
}

#[tokio::test]
async fn durability_under_load() {
    const USERS: usize = 200;
    const ROUNDS: usize = 5;
    let app = spawn_app_with(stormy).await;
    let started = Instant::now();
    let (users, emails) = storm(&app.emulator, std::slice::from_ref(&app), USERS, ROUNDS).await;
    let elapsed = started.elapsed();
    let verdict = verify(&app.emulator, app.database.url(), &users, &emails).await;
    let stats = app.emulator.stats();
    let backend = if testkit::on_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let limits: usize = users.iter().map(|u| u.limits.len()).sum();
    let failed_consents = app
        .emulator
        .calls()
        .iter()
        .filter(|c| c.kind == campaign_emulator::store::CallKind::Consent && c.status != 202)
        .count();
    println!(
        "durability under load ({backend}): {USERS} users × {ROUNDS} flips = {} requests \
         ({limits} of them of the limit on sensitive information), \
         and {STORM_EMAILS} opt-outs by email of addresses nobody has: {} accepted ({} answered \
         202, applied later), {} users ended opted out, {} faults \
         injected, {} Campaign PATCHes, {} IMS token requests, {} consents taken by Privacy \
         Service (after {} failed calls), lost = {} (Campaign), {} (Privacy Service), all applied {:.1} s after the \
         first request",
        USERS * ROUNDS,
        verdict.accepted,
        verdict.recorded,
        verdict.moved,
        stats.faults_injected,
        stats.patches,
        stats.token_requests,
        app.emulator.consents().len(),
        failed_consents,
        verdict.lost,
        verdict.lost_by_privacy_service,
        elapsed.as_secs_f64()
    );
    assert_eq!(verdict.accepted, USERS * ROUNDS + STORM_EMAILS);
    assert!(stats.faults_injected > 0, "faults were injected");
    assert!(
        verdict.recorded > 0,
        "some requests had to wait for Campaign"
    );
    assert!(
        verdict.moved > 0,
        "some users end elsewhere than they started"
    );
    assert!(limits > 0, "the limit was changed too");
    assert!(failed_consents > 0, "Privacy Service failed too");
    assert_eq!((verdict.lost, verdict.lost_by_privacy_service), (0, 0));
}

/// The storm's proxy: quick timeouts, room for the email opt-outs, both
/// choices offered, and both destinations.
fn stormy(settings: &mut ccpa_proxy::config::Settings) {
    settings.campaign.timeout_ms = 500;
    tell_privacy_service(settings);
    settings.privacy_service.timeout_ms = 500;
    settings.email_opt_out.per_client_per_minute = 1_000;
    let field = campaign_emulator::store::SENSITIVE_FIELD.to_owned();
    settings.campaign.sensitive_field = Some(field.try_into().unwrap());
}

/// Replicas share PostgreSQL: a change one accepted reads as pending
/// through the other, and under the storm they behave as one. A SQLite file
/// serves one process: there the second replica is refused at start.
#[tokio::test]
async fn two_replicas_on_one_database_behave_as_one() {
    let first = spawn_app_with(stormy).await;
    let mut settings = testkit::proxy_settings(&first.emulator, first.database.url());
    stormy(&mut settings);
    if !testkit::on_postgres() {
        let refused = ccpa_proxy::startup::Application::build(settings).await;
        let error = refused.err().expect("a second process on one SQLite file");
        assert!(
            format!("{error:#}").contains("another ccpa-proxy process"),
            "{error:#}"
        );
        return;
    }
    let (public, admin) = testkit::spawn_proxy_with_admin(settings).await;
    let second = TestApp {
        url: format!("http://{public}"),
        admin: format!("http://{admin}"),
        emulator: first.emulator.clone(),
        http: reqwest::Client::new(),
        database: first.database.clone(),
    };
    let token = token_for("CUST-1001");
    first
        .emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    assert_eq!(first.patch_opt_out(&token, true).await.status(), 202);
    let state = state_of(second.get_opt_out(&token).await).await;
    assert_eq!(
        (state["ccpaOptOut"].as_bool(), state["pending"].as_bool()),
        (Some(true), Some(true)),
        "the other replica reads the pending change"
    );
    first.emulator.clear_faults();
    second.drained().await;
    assert!(first.opt_out_of("CUST-1001"));

    let (emulator, database) = (first.emulator.clone(), first.database.clone());
    // Busier than the one-proxy storm: more flips per profile, so that
    // accepts supersede changes the other replica is finishing. A deadlock
    // would refuse a request (503) or fail a finish.
    let (users, emails) = storm(&emulator, &[first, second], 80, 10).await;
    let verdict = verify(&emulator, database.url(), &users, &emails).await;
    assert_eq!(
        (
            verdict.accepted,
            verdict.lost,
            verdict.lost_by_privacy_service
        ),
        (800 + STORM_EMAILS, 0, 0)
    );
}
