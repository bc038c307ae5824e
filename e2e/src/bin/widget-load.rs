//! `widget-load`: how long a customer waits for the widget. Twenty cold loads
//! of the shop's privacy page, from navigation start to the switch showing
//! the state the proxy read from Campaign, in two settings:
//!
//! - **cold cache**: one running browser, its HTTP cache (and with it the
//!   compiled-wasm cache) cleared and disabled before every load: a visitor
//!   meeting the widget for the first time;
//! - **cold cache, emulated 4G**: the same, with every request held back by
//!   Chromium's network emulation ([`Browser::emulate_fast_4g`]): where
//!   round trips count, which loopback hides;
//! - **new browser**: a fresh browser and profile for every load, so the
//!   figure also holds Chromium starting its page and network processes,
//!   which no page can speed up.
//!
//! Then the widget against the floor: a hand-written page of a few lines of
//! plain JavaScript that fetches the same token and the same read and shows
//! a `role="switch"` (the fastest anything could show the state), loaded in
//! turn with the widget's page in one browser, cold, on loopback and on
//! emulated 4G (the widget's page twice: with the widget's stylesheet linked
//! in its head, and without); and the Cumulative Layout Shift of each page
//! by the time its switch shows.
//!
//! Prints the figures with the milestones between (where the time goes);
//! asserts none (`cargo xtask size` and `cargo xtask test` run it).
//!
//! `widget-load --against <dir>` compares this build with another one's
//! `dist/` instead: one browser loads the two in turn, cold, on loopback and
//! on emulated 4G, so that both meet the same moments of a noisy machine.
//! Runs minutes apart differ by more than most changes do.

use std::path::PathBuf;

use e2e::{Browser, PageOptions, Stack, WATCH_LAYOUT_SHIFTS};
use serde_json::{Value, json};

const LOADS: usize = 20;

/// Notes when the widget first reports `ready`, in the page's own clock
/// (milliseconds since navigation start). The layout shifts are summed by
/// [`WATCH_LAYOUT_SHIFTS`].
const WATCH_READY: &str = "new MutationObserver((_, observer) => {
  if (document.querySelector('[data-testid=ccpa-optout][data-state=ready]')) {
    window.__ccpaReady = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });";

/// The milestones of one load, in order, from the page's Resource Timing.
const MILESTONES: &str = "const entry = (end) => performance.getEntriesByType('resource').find((e) => e.name.endsWith(end));
const [nav] = performance.getEntriesByType('navigation');
return [
  nav.responseEnd,
  entry('/ccpa-optout.js').startTime,
  entry('/token').startTime,
  entry('/api/v1/opt-out').startTime,
  entry('/api/v1/opt-out').responseEnd,
  entry('.wasm').responseEnd,
  window.__ccpaReady,
];";

/// When the switch showed the state, and the layout shift until then (and
/// half a second after, [`SETTLE`]).
const READY: &str = "return [window.__ccpaReady, window.__ccpaShift];";

/// How long layout shifts are watched for after the switch shows.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// What each milestone is, for the table.
const NAMES: [&str; 7] = [
    "page received",
    "loader requested",
    "token requested (by the loader)",
    "state requested (by the loader, once the token is in)",
    "state from Campaign received",
    "wasm downloaded",
    "**switch shows the state from Campaign**",
];

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => report().await,
        (Some("--against"), Some(other)) => compare(PathBuf::from(other)).await,
        _ => panic!("usage: widget-load [--against <dist directory of another build>]"),
    }
}

/// The three settings for this build.
async fn report() {
    let stack = Stack::start().await;
    let page = stack.page_for("CUST-1001");

    let browser = cold_browser().await;
    let cold_cache = cold_loads(&browser, &[&page], MILESTONES).await.remove(0);
    browser.emulate_fast_4g().await;
    let mobile = cold_loads(&browser, &[&page], MILESTONES).await.remove(0);
    drop(browser);

    let mut new_browser = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        let browser = Browser::start().await;
        browser.on_every_page(WATCH_LAYOUT_SHIFTS).await;
        browser.on_every_page(WATCH_READY).await;
        new_browser.push(load(&browser, &page, MILESTONES).await);
    }

    println!(
        "\nwidget load time, {LOADS} cold loads in headless Chromium on loopback \
         (median ms from navigation start, p90 in brackets):"
    );
    print_table(
        &["cold cache", "cold cache, emulated 4G", "new browser"],
        &[cold_cache, mobile, new_browser],
    );
    against_the_floor(&stack, &page).await;
}

/// The widget's page and the floor's, in turn, cold, in one browser; the
/// widget's page twice: linking the widget's stylesheet in its head, as the
/// embedding guide advises, and leaving it to the loader.
async fn against_the_floor(stack: &Stack, page: &str) {
    let late = PageOptions {
        late_stylesheet: true,
        ..PageOptions::default()
    };
    let late = stack.page_with("CUST-1001", &late);
    let floor = stack.floor_for("CUST-1001");
    let pages = [page, late.as_str(), floor.as_str()];
    let browser = cold_browser().await;
    let loopback = cold_loads(&browser, &pages, READY).await;
    browser.emulate_fast_4g().await;
    let mobile = cold_loads(&browser, &pages, READY).await;
    // The pages have a footer below the switch: what a shift would move.
    println!(
        "\nthe widget against the floor (plain JavaScript: the same token and read, a switch), \
         {LOADS} cold loads of each in turn; ms until the switch shows the state, median (p90), \
         and Cumulative Layout Shift (median, max):"
    );
    println!("| link | page | ms | ÷ floor (medians) | CLS |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for (link, [head, late, floor]) in [("loopback", loopback), ("emulated 4G", mobile)]
        .map(|(link, loads)| (link, <[_; 3]>::try_from(loads).expect("three pages")))
    {
        let rows = [
            ("widget, stylesheet in the head", &head),
            ("widget, stylesheet left to the loader", &late),
            ("floor", &floor),
        ];
        for (name, loads) in rows {
            println!(
                "| {link} | {name} | {} | {:.2}× | {} |",
                summary(loads, 0),
                median(loads, 0) / median(&floor, 0),
                shifts(loads),
            );
        }
    }
}

/// This build against the one in `other`, load by load.
async fn compare(other: PathBuf) {
    let stack = Stack::start_comparing(&other).await;
    let this = stack.page_for("CUST-1001");
    let other_build = PageOptions {
        other_build: true,
        ..PageOptions::default()
    };
    let that = stack.page_with("CUST-1001", &other_build);
    let pages = [this.as_str(), that.as_str()];
    let browser = cold_browser().await;
    let loopback = cold_loads(&browser, &pages, MILESTONES).await;
    browser.emulate_fast_4g().await;
    let mobile = cold_loads(&browser, &pages, MILESTONES).await;
    println!(
        "\nwidget load time, this build against {}: {LOADS} cold loads of each, in turn \
         (median ms from navigation start, p90 in brackets):",
        other.display()
    );
    print_table(
        &[
            "loopback: this",
            "loopback: other",
            "emulated 4G: this",
            "emulated 4G: other",
        ],
        &[loopback, mobile].concat(),
    );
}

/// A browser whose loads will all be cold, and that notes when the widget
/// is ready.
async fn cold_browser() -> Browser {
    let browser = Browser::start().await;
    browser.cdp("Network.enable", json!({})).await;
    browser.on_every_page(WATCH_LAYOUT_SHIFTS).await;
    browser.on_every_page(WATCH_READY).await;
    browser
}

/// [`LOADS`] loads of each of `pages`, in turn, the browser's caches cleared
/// and disabled before each; one round first, not counted: a browser's
/// first page is slower than the rest.
async fn cold_loads(browser: &Browser, pages: &[&str], script: &str) -> Vec<Vec<Vec<f64>>> {
    let mut loads = vec![Vec::with_capacity(LOADS); pages.len()];
    for round in 0..=LOADS {
        for (page, loads) in pages.iter().zip(&mut loads) {
            browser.goto("about:blank").await;
            browser.cdp("Network.clearBrowserCache", json!({})).await;
            browser
                .cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
                .await;
            let milestones = load(browser, page, script).await;
            if round > 0 {
                loads.push(milestones);
            }
        }
    }
    loads
}

/// One row per milestone, one column per set of loads.
fn print_table(columns: &[&str], loads: &[Vec<Vec<f64>>]) {
    println!("| milestone | {} |", columns.join(" | "));
    println!("| --- |{}", " ---: |".repeat(columns.len()));
    for (i, name) in NAMES.iter().enumerate() {
        let cells: Vec<String> = loads.iter().map(|column| summary(column, i)).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

/// One load of `page`: what `script` reads then (its milestones in ms
/// since navigation start).
async fn load(browser: &Browser, page: &str, script: &str) -> Vec<f64> {
    browser.goto(page).await;
    browser.wait_for_state("ready").await;
    if script == READY {
        tokio::time::sleep(SETTLE).await;
    }
    browser
        .script(script)
        .await
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| Value::as_f64(t).expect("every milestone was reached"))
        .collect()
}

/// `median, max` of the layout shift (the second figure of [`READY`]).
fn shifts(loads: &[Vec<f64>]) -> String {
    let most = loads.iter().map(|load| load[1]).fold(0.0, f64::max);
    format!("{:.3}, {most:.3}", median(loads, 1))
}

/// `median (p90)` of milestone `i` over all loads.
fn summary(loads: &[Vec<f64>], i: usize) -> String {
    let times = sorted(loads, i);
    let p90 = times[((times.len() - 1) as f64 * 0.9).round() as usize];
    format!("{:.1} ({p90:.1})", median(loads, i))
}

/// The median of milestone `i` over all loads.
fn median(loads: &[Vec<f64>], i: usize) -> f64 {
    let times = sorted(loads, i);
    let n = times.len();
    (times[(n - 1) / 2] + times[n / 2]) / 2.0
}

fn sorted(loads: &[Vec<f64>], i: usize) -> Vec<f64> {
    let mut times: Vec<f64> = loads.iter().map(|load| load[i]).collect();
    times.sort_by(f64::total_cmp);
    times
}
