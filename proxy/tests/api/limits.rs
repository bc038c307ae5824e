//! Limits where abuse would hurt: one customer's reads and changes, and
//! every client address (Campaign Standard throttles no caller: the proxy
//! must). The tests' proxies have them off; these turn them on.

use campaign_emulator::store::CallKind;
use ccpa_proxy::config::LimitSettings;

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::helpers::*;

/// What a bucket of `burst` refilling one every `every` seconds may have
/// let through over `took`: the burst, and at most one more per refill.
fn within(burst: usize, took: Duration, every: f64) -> RangeInclusive<usize> {
    burst..=burst + (took.as_secs_f64() / every).ceil() as usize
}

/// The defaults, as a proxy without a `[limits]` section has them.
fn defaults() -> LimitSettings {
    LimitSettings::default()
}

#[tokio::test]
async fn one_customer_gets_their_changes_and_reads_then_429_and_nobody_else_is_slowed() {
    let app = spawn_app_with(|s| s.limits = defaults()).await;
    let (token, other) = (token_for("CUST-1001"), token_for("CUST-1003"));
    let started = Instant::now();
    let mut statuses = Vec::new();
    for n in 0..40 {
        statuses.push(app.patch_opt_out(&token, n % 2 == 0).await);
    }
    // 20 at once, and one more every 3 s the loop took.
    let refused: Vec<_> = statuses.iter().filter(|r| r.status() == 429).collect();
    let accepted = 40 - refused.len();
    assert!(
        within(20, started.elapsed(), 3.0).contains(&accepted),
        "{accepted}"
    );
    assert!(refused[0].headers().contains_key("retry-after"));
    assert_eq!(
        app.audit().await.len(),
        accepted,
        "a refused change is not recorded"
    );
    assert_eq!(app.patch_opt_out(&other, true).await.status(), 200);

    app.emulator.reset_stats();
    let before = app.emulator.calls().len();
    let started = Instant::now();
    let mut read = 0;
    for _ in 0..100 {
        read += usize::from(app.get_opt_out(&token).await.status() == 200);
    }
    assert!(within(60, started.elapsed(), 1.0).contains(&read), "{read}");
    let looked_up = app.emulator.calls()[before..]
        .iter()
        .filter(|c| c.kind == CallKind::Lookup)
        .count();
    assert_eq!(looked_up, read, "a refused read asks Campaign nothing");
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
    let started = Instant::now();
    let mut answered = 0;
    for _ in 0..30 {
        answered += usize::from(app.get("/health/live").await.status() == 200);
    }
    assert_eq!(answered, 30);
    // Take what refilled meanwhile (one every 2 s) until one is refused.
    let mut extra = 0;
    while app.get("/health/live").await.status() == 200 {
        extra += 1;
    }
    assert!(
        within(0, started.elapsed(), 2.0).contains(&extra),
        "{extra}"
    );
    for path in ["/health/live", "/health/ready", "/api/v1/opt-out/browser"] {
        let (status, code) = error_of(app.get(path).await).await;
        assert_eq!((status, code.as_str()), (429, "rate_limited"), "{path}");
    }
}

/// The proxy paces its calls to Campaign (which throttles no one): at 5 a
/// second, no second of Campaign's log holds more than the bucket (5) and
/// its refill (5), however many customers ask at once.
#[tokio::test]
async fn calls_to_campaign_keep_to_the_pace() {
    let app = spawn_app_with(|s| s.campaign.max_calls_per_second = 5).await;
    let keys: Vec<String> = (0..15).map(|n| format!("PACE-{n}")).collect();
    for key in &keys {
        app.emulator.add_customer(key);
    }
    // The start's own check took a token: let the bucket fill again.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let reads = keys.iter().map(|key| app.get_opt_out_owned(token_for(key)));
    let statuses: Vec<u16> = futures_util::future::join_all(reads).await;
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 5,
        "{statuses:?}"
    );
    // Past the pace within the call timeout: 429, the proxy's own limit,
    // not a Campaign outage.
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429)),
        "{statuses:?}"
    );
    assert_eq!(app.readiness().await["upstream"], "ok");
    let at: Vec<u64> = app
        .emulator
        .calls()
        .iter()
        .filter(|c| c.kind == CallKind::Lookup)
        .map(|c| c.at_ms)
        .collect();
    for first in &at {
        let in_a_second = at
            .iter()
            .filter(|t| (*first..first + 1_000).contains(t))
            .count();
        // The bucket (5), a second's refill (5), and one more for the time
        // a granted call takes to reach Campaign's log.
        assert!(
            in_a_second <= 11,
            "{in_a_second} calls within a second: {at:?}"
        );
    }
}
