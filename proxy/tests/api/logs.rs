//! Logs never contain tokens, secrets or email addresses: the proxy's own
//! log output, at the level it runs with, read back after real requests.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

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

/// Installs (once per test binary) a subscriber like the proxy's, writing
/// into memory.
fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("info")
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

#[tokio::test]
async fn logs_hold_no_tokens_secrets_or_emails() {
    let logs = captured_logs();
    let app = spawn_app_with(|s| {
        s.identity.key_claim = "email".into();
        s.identity.key_kind = ccpa_proxy::config::KeyKind::Email;
    })
    .await;
    let mut claims = claims("host-user-42");
    claims["email"] = json!("ada@example.com");
    let token = sign(&claims);

    state_of(app.get_opt_out(&token).await).await;
    state_of(app.patch_opt_out(&token, true).await).await;
    app.emulator.expire_tokens();
    state_of(app.patch_opt_out(&token, false).await).await;
    app.emulator
        .inject(campaign_emulator::faults::Fault::campaign(
            campaign_emulator::faults::FaultKind::Status { status: 500 },
            1,
        ));
    let _ = app.get_opt_out(&token).await;
    let _ = app.get_opt_out("garbage.token.value").await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("opt-out choice recorded"),
        "the capture works: {text}"
    );
    for secret in [
        token.as_str(),
        "ada@example.com",
        "ada%40example.com",
        SECRET,
        "ccpa-demo-secret",
        "garbage.token.value",
        "Bearer",
        "access_token",
        "host-user-42",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} appears in the logs:\n{text}"
        );
    }
}
