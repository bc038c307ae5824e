//! `widget-load`: how long a customer waits for the widget. Twenty cold loads
//! of the shop's privacy page (each in a fresh browser profile: nothing
//! cached, nothing compiled), from navigation start to the switch showing
//! the state the proxy read from Campaign. Prints the figures; asserts none
//! (`cargo xtask bench-widget` runs it after printing the transfer sizes).

use e2e::{Browser, Stack};
use serde_json::json;

const LOADS: usize = 20;

/// Notes when the widget first reports `ready`, in the page's own clock
/// (milliseconds since navigation start), before any page script runs.
const WATCH_READY: &str = "new MutationObserver((_, observer) => {
  if (document.querySelector('[data-testid=ccpa-optout][data-state=ready]')) {
    window.__ccpaReady = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });";

#[tokio::main]
async fn main() {
    let stack = Stack::start().await;
    let mut ready = Vec::with_capacity(LOADS);
    let mut wasm = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        let browser = Browser::start().await;
        browser
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": WATCH_READY }),
            )
            .await;
        browser.goto(&stack.page_for("CUST-1001")).await;
        browser.wait_for_state("ready").await;
        let times = browser
            .client
            .execute(
                "const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'));
                 return [window.__ccpaReady, wasm ? wasm.responseEnd : null];",
                vec![],
            )
            .await
            .expect("timings");
        ready.push(times[0].as_f64().expect("the observer saw `ready`"));
        wasm.push(times[1].as_f64().unwrap_or(f64::NAN));
    }
    println!(
        "\nwidget load time, {LOADS} cold loads in headless Chromium on loopback (ms from navigation start):"
    );
    println!("| to | median | min | p90 | max |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (what, times) in [
        ("wasm downloaded", &mut wasm),
        ("switch shows the state from Campaign", &mut ready),
    ] {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let median = (times[(LOADS - 1) / 2] + times[LOADS / 2]) / 2.0;
        println!(
            "| {what} | **{median:.1}** | {:.1} | {:.1} | {:.1} |",
            at(0.0),
            at(0.9),
            at(1.0)
        );
    }
}
