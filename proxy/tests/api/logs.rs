//! Logs never contain tokens, secrets or email addresses: the proxy's own
//! subscriber, as `main` installs it, writing into memory, read back after
//! real requests, including the failures whose errors would name a URL.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use campaign_emulator::faults::{Fault, FaultKind};
use serde_json::json;

use crate::helpers::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) the proxy's subscriber, writing into
/// memory.
fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        ccpa_proxy::telemetry::init_with(true, move || writer.clone());
        logs
    })
    .clone()
}

fn by_email(app_settings: &mut ccpa_proxy::config::Settings) {
    app_settings.identity.key_claim = "email".into();
    app_settings.identity.key_kind = ccpa_proxy::config::KeyKind::Email;
}

#[tokio::test]
async fn logs_hold_no_tokens_secrets_or_emails() {
    let logs = captured_logs();
    let app = spawn_app_with(by_email).await;
    let mut claims = claims("host-user-42");
    claims["email"] = json!("Ada@Example.com");
    let token = sign(&claims);

    state_of(app.get_opt_out(&token).await).await;
    state_of(app.patch_opt_out(&token, true).await).await;
    app.emulator.expire_tokens();
    state_of(app.patch_opt_out(&token, false).await).await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 500 }, 1));
    let _ = app.get_opt_out(&token).await;
    app.emulator.inject(Fault::campaign(FaultKind::Drop, 1));
    let _ = app.get_opt_out(&token).await;
    let _ = app.get_opt_out("garbage.token.value").await;
    // Paths are the client's to fill.
    for path in [
        "/api/v1/opt-out/Ada@Example.com",
        "/x/ada%40example.com",
        "/host-user-42",
    ] {
        assert_eq!(app.get(path).await.status(), 404);
    }

    // Campaign unreachable in email mode: the client's error would name
    // the byEmail URL, and the address in it, unless it is stripped.
    let unreachable = spawn_app_with(|s| {
        by_email(s);
        s.campaign.base_url = "http://127.0.0.1:9".parse().unwrap();
    })
    .await;
    assert_eq!(unreachable.get_opt_out(&token).await.status(), 502);
    assert_eq!(unreachable.patch_opt_out(&token, true).await.status(), 202);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "opt-out choice recorded",
        "error sending request",
        "will be retried",
    ] {
        assert!(
            text.contains(expected),
            "the capture lacks {expected:?}:\n{text}"
        );
    }
    let access_tokens = [
        app.emulator.issued_tokens(),
        unreachable.emulator.issued_tokens(),
    ]
    .concat();
    assert!(
        access_tokens.len() >= 3,
        "IMS tokens were issued: {access_tokens:?}"
    );
    let mut secrets = vec![
        token.clone(),
        "Ada@Example.com".into(),
        "ada@example.com".into(),
        "ada%40example.com".into(),
        "Ada%40Example.com".into(),
        "host-user-42".into(),
        SECRET.into(),
        app.emulator.config().client_secret.clone(),
        "garbage.token.value".into(),
        "Bearer".into(),
        "access_token".into(),
        // The unkeyed digest anyone could compute from a guessed subject.
        plain_tag("host-user-42"),
    ];
    secrets.extend(access_tokens);
    assert!(text.contains(r#""subject":""#), "subjects are tagged");
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{secret} appears in the logs:\n{text}"
        );
    }
}

/// What a log tag would be without the proxy's key: a plain SHA-256 prefix.
fn plain_tag(subject: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(subject.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The proxy names every request itself: a client's `X-Request-Id` can
/// neither fill the append-only audit trail nor pass for another request's
/// id; it survives, cut short and sanitized, in the request's log span only.
#[tokio::test]
async fn a_clients_request_id_is_neither_trusted_nor_stored() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let given = format!("shop-7f3<script>=cmd|'{}", "x".repeat(4_000));
    let response = app
        .http
        .patch(app.api())
        .bearer_auth(token_for("CUST-1001"))
        .header("X-Request-Id", &given)
        .json(&json!({"ccpaOptOut": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let audit = app.audit().await;
    assert_eq!(audit[0].request_id, id, "the trail holds the proxy's id");

    let kept = format!(
        "shop-7f3scriptcmd{}",
        "x".repeat(64 - "shop-7f3scriptcmd".len())
    );
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains(&format!(r#""client_id":"{kept}""#)),
        "the client's id, sanitized and cut, in the span"
    );
    assert!(!text.contains("<script>") && !text.contains(&"x".repeat(65)));
}

/// The log lines of `logs` whose message is `message`, parsed.
fn lines_saying(logs: &Captured, message: &str) -> Vec<serde_json::Value> {
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == message)
        .collect()
}

/// The names of the spans a log line was in, outermost first, and whether
/// one of them carries `id`.
fn spans_of(line: &serde_json::Value, id: &str) -> (Vec<String>, bool) {
    let spans = line["spans"].as_array().cloned().unwrap_or_default();
    let names = spans
        .iter()
        .map(|span| span["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    (names, spans.iter().any(|span| span["id"] == id))
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A request's id goes with it from the handler through delivery to the
/// Campaign call, and with the worker's later attempt too; the worker
/// reports its backlog.
#[tokio::test]
async fn a_requests_id_follows_it_to_campaign_and_the_worker_reports_its_backlog() {
    let logs = captured_logs();
    let app = spawn_app_with(|s| {
        s.delivery.report_interval_ms = 1_000;
        // The retry waits 2 to 4 s: a report or two falls within.
        s.delivery.backoff_base_ms = 4_000;
        s.delivery.backoff_max_ms = 4_000;
    })
    .await;
    let token = token_for("CUST-1002");
    state_of(app.get_opt_out(&token).await).await;

    // Campaign refuses the cached access token: said inside the call.
    app.emulator.expire_tokens();
    let answered = app.patch_opt_out(&token, true).await;
    assert_eq!(answered.status(), 200);
    let id = request_id(&answered);
    let refused = lines_saying(&logs, "Campaign refused the access token; renewing it once");
    assert!(
        refused.iter().any(|line| spans_of(line, &id)
            == (
                vec!["request".into(), "delivery".into(), "campaign".into()],
                true
            )),
        "the call's line is in the request's, the delivery's and the call's spans, with id {id}: {refused:?}"
    );

    // Campaign fails: the worker applies the change later, under its id.
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 500 }, 1));
    let recorded = app.patch_opt_out(&token, false).await;
    assert_eq!(recorded.status(), 202);
    let id = request_id(&recorded);
    app.drained().await;
    let applied = lines_saying(&logs, "change applied in Campaign");
    assert!(
        applied
            .iter()
            .any(|line| spans_of(line, &id) == (vec!["delivery".into()], true)),
        "the worker's attempt carries id {id}: {applied:?}"
    );
    let backlog = lines_saying(&logs, "delivery backlog");
    assert!(
        backlog.iter().any(|line| line["fields"]["pending"] == 1),
        "a report counted the waiting change: {backlog:?}"
    );
}

/// A change failing past `delivery.stuck_after_ms` is warned of at each
/// failed attempt, under its request's id, with its response deadline.
#[tokio::test]
async fn a_stuck_change_is_warned_of_with_its_deadline() {
    let logs = captured_logs();
    let app = spawn_app_with(|s| s.delivery.stuck_after_ms = 0).await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    let recorded = app.patch_opt_out(&token_for("CUST-1003"), true).await;
    assert_eq!(recorded.status(), 202);
    let id = request_id(&recorded);
    let message =
        "a change has been failing for longer than delivery.stuck_after_ms; it is still retried";
    let warned = lines_saying(&logs, message);
    let ours = warned
        .iter()
        .find(|line| spans_of(line, &id).1)
        .unwrap_or_else(|| panic!("no warning under id {id}: {warned:?}"));
    assert_eq!(ours["level"], "WARN");
    assert!(
        ours["fields"]["deadline"]
            .as_str()
            .is_some_and(|d| ccpa_proxy::audit::parse_time(d).is_ok()),
        "{ours}"
    );
    app.emulator.clear_faults();
    app.drained().await;
}
