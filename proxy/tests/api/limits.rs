//! Limits where abuse would hurt: one customer's reads and changes, and
//! every client address (Campaign Standard throttles no caller: the proxy
//! must). The tests' proxies have them off; these turn them on.

use campaign_emulator::store::CallKind;
use ccpa_proxy::config::LimitSettings;

use crate::helpers::*;

/// The defaults, as a proxy without a `[limits]` section has them.
fn defaults() -> LimitSettings {
    LimitSettings::default()
}

#[tokio::test]
async fn one_customer_gets_their_changes_and_reads_then_429_and_nobody_else_is_slowed() {
    let app = spawn_app_with(|s| s.limits = defaults()).await;
    let (token, other) = (token_for("CUST-1001"), token_for("CUST-1003"));
    let mut statuses = Vec::new();
    for n in 0..40 {
        statuses.push(app.patch_opt_out(&token, n % 2 == 0).await);
    }
    let refused: Vec<_> = statuses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!(refused.len(), 20, "20 at once, then refused");
    assert!(refused[0].headers().contains_key("retry-after"));
    assert_eq!(
        app.audit().await.len(),
        20,
        "a refused change is not recorded"
    );
    assert_eq!(app.patch_opt_out(&other, true).await.status(), 200);

    app.emulator.reset_stats();
    let before = app.emulator.calls().len();
    let mut read = 0;
    for _ in 0..100 {
        read += usize::from(app.get_opt_out(&token).await.status() == 200);
    }
    assert_eq!(read, 60);
    let looked_up = app.emulator.calls()[before..]
        .iter()
        .filter(|c| c.kind == CallKind::Lookup)
        .count();
    assert_eq!(looked_up, 60, "a refused read asks Campaign nothing");
    let (status, code) = error_of(app.get_opt_out(&token).await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
}

#[tokio::test]
async fn one_client_address_is_limited_on_every_route() {
    let app = spawn_app_with(|s| {
        s.limits = LimitSettings {
            per_client_per_minute: 30,
            ..defaults()
        }
    })
    .await;
    let mut answered = 0;
    for _ in 0..30 {
        answered += usize::from(app.get("/health/live").await.status() == 200);
    }
    assert_eq!(answered, 30);
    for path in [
        "/health/live",
        "/health/ready",
        "/api/v1/opt-out/browser",
        "/x",
    ] {
        let (status, code) = error_of(app.get(path).await).await;
        assert_eq!((status, code.as_str()), (429, "rate_limited"), "{path}");
    }
}
