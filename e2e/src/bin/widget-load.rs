//! `widget-load`: how long a customer waits for the widget. Cold loads of
//! the shop's privacy page, from navigation start to the switch showing the
//! state the proxy read from Campaign, on four profiles ([`PROFILES`]):
//! loopback; loopback with the CPU slowed four times; a good 4G link; and
//! Lighthouse's mid-tier phone (the CPU four times slower on a 150 ms,
//! 1.6 Mbit/s link), where most visitors of a privacy page are.
//!
//! On each, one browser loads three pages in turn, its HTTP cache (and
//! with it the compiled-wasm cache) cleared and disabled before every load:
//! the widget's page with the widget's stylesheet linked in its head (as
//! the embedding guide advises), the same page leaving the stylesheet to
//! the loader, and the floor: a hand-written page of a few lines of plain
//! JavaScript that fetches the same token and the same read and shows a
//! `role="switch"` (the fastest anything could show the state). Loaded in
//! turn, all three meet the same moments of a noisy machine.
//!
//! Prints, with the date and the machine: the milestones of the widget's
//! loads on each profile (where the time goes), and a fresh browser per
//! load on loopback (Chromium starting its processes, which no page can
//! speed up); then each page's time, widget ÷ floor (medians) and the
//! Cumulative Layout Shift by the time its switch shows and half a second
//! after. Asserts none (`cargo xtask size` and `cargo xtask test` run it).
//!
//! `widget-load --against <dir>` compares this build with another one's
//! `dist/` instead, loaded in turn on each profile: runs minutes apart
//! differ by more than most changes do.

use std::path::PathBuf;
use std::time::Duration;

use e2e::{Browser, PageOptions, Profile, Stack, WATCH_LAYOUT_SHIFTS};
use serde_json::{Value, json};

/// Loads of each page on each profile unless `--loads` says otherwise (one
/// more first, not counted: a browser's first page is slower than the
/// rest).
const LOADS: usize = 20;

/// Where the pages are loaded.
const PROFILES: [Profile; 4] = [
    Profile::LOOPBACK,
    Profile::LOOPBACK_SLOW_CPU,
    Profile::GOOD_4G,
    Profile::PHONE,
];

/// Notes when the switch first shows the choice (`ready`: the loader's
/// first paint, the widget, or the floor), and when the widget itself
/// does, in the page's own clock (milliseconds since navigation start).
/// The layout shifts are summed by [`WATCH_LAYOUT_SHIFTS`].
const WATCH_READY: &str = "new MutationObserver((_, observer) => {
  const ready = (selector) => document.querySelector(selector + '[data-state=ready]');
  if (ready('[data-testid=ccpa-optout]') || ready('[data-ccpa-early]')) window.__ccpaReady ??= performance.now();
  if (ready('.ccpa-optout:not([data-ccpa-early])')) window.__ccpaWidgetReady ??= performance.now();
  if (window.__ccpaReady && window.__ccpaWidgetReady) observer.disconnect();
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });";

/// What one load gives: when the switch showed the state and the layout
/// shift by [`SETTLE`] after, then the milestones between, from the page's
/// Resource Timing (null where the page has no such request: the floor).
const READ_LOAD: &str = "const entry = (end) => performance.getEntriesByType('resource').find((e) => e.name.endsWith(end));
const [nav] = performance.getEntriesByType('navigation');
return [
  window.__ccpaReady,
  window.__ccpaShift,
  nav.responseEnd,
  entry('/ccpa-optout.js')?.startTime,
  entry('/token')?.startTime,
  entry('/api/v1/opt-out')?.startTime,
  entry('/api/v1/opt-out')?.responseEnd,
  entry('.wasm')?.responseEnd,
  window.__ccpaReady,
  window.__ccpaWidgetReady,
];";

/// The widget itself showing the choice, or the floor's switch.
const WIDGET_OR_FLOOR: &str = ".ccpa-optout:not([data-ccpa-early])[data-state=ready], div[data-testid=ccpa-optout][data-state=ready]";

/// Where in a load's figures each thing is.
const READY: usize = 0;
const SHIFT: usize = 1;
const FIRST_MILESTONE: usize = 2;

/// What each milestone is, for the table.
const MILESTONES: [&str; 8] = [
    "page received",
    "loader requested",
    "token requested (by the loader)",
    "state requested (by the loader, once the token is in)",
    "state from Campaign received",
    "wasm downloaded",
    "**switch shows the state from Campaign**",
    "the widget (wasm) shows it",
];

/// How long layout shifts are watched for after the switch shows.
const SETTLE: Duration = Duration::from_millis(500);

/// One load's figures, as [`READ_LOAD`] orders them (NaN: not reached).
type Load = Vec<f64>;

const USAGE: &str =
    "usage: widget-load [--loads <n>] [--against <dist directory of another build>]";

#[tokio::main]
async fn main() {
    let mut loads = LOADS;
    let mut against = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--loads", Some(n)) => loads = n.parse().ok().filter(|&n| n > 0).expect(USAGE),
            ("--against", Some(other)) => against = Some(PathBuf::from(other)),
            _ => panic!("{USAGE}"),
        }
    }
    match against {
        None => report(loads).await,
        Some(other) => compare(other, loads).await,
    }
}

/// This build on every profile, against the floor.
async fn report(loads: usize) {
    let stack = Stack::start().await;
    let head = stack.page_for("CUST-1001");
    let late = PageOptions {
        late_stylesheet: true,
        ..PageOptions::default()
    };
    let late = stack.page_with("CUST-1001", &late);
    let floor = stack.floor_for("CUST-1001");
    let pages = [head.as_str(), late.as_str(), floor.as_str()];

    let browser = cold_browser().await;
    let mut runs = Vec::with_capacity(PROFILES.len());
    for profile in PROFILES {
        browser.emulate(profile).await;
        let loads: [Vec<Load>; 3] = cold_loads(&browser, &pages, loads)
            .await
            .try_into()
            .expect("three pages");
        runs.push((profile, loads));
    }
    drop(browser);
    let mut new_browser = Vec::with_capacity(loads);
    for _ in 0..loads {
        let browser = watching(Browser::start().await).await;
        new_browser.push(load(&browser, &head).await);
    }

    println!("\nwidget load time, {}", machine());
    println!(
        "\n{loads} cold loads of the widget's page per profile, one browser \
         (median ms from navigation start, p90 in brackets):"
    );
    let mut columns: Vec<&str> = runs.iter().map(|(profile, _)| profile.name).collect();
    columns.push("loopback, a new browser per load");
    let mut widget: Vec<&[Load]> = runs.iter().map(|(_, [head, ..])| head.as_slice()).collect();
    widget.push(&new_browser);
    print_milestones(&columns, &widget);

    println!(
        "\nthe widget against the floor (plain JavaScript: the same token and read, a switch), \
         {loads} cold loads of each in turn; ms until the switch shows the state, median (p90), \
         and Cumulative Layout Shift (median, max):"
    );
    println!("| profile | page | ms | ÷ floor (medians) | CLS |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for (profile, [head, late, floor]) in &runs {
        let rows = [
            ("widget, stylesheet in the head", head),
            ("widget, stylesheet left to the loader", late),
            ("floor", floor),
        ];
        for (name, loads) in rows {
            println!(
                "| {} | {name} | {} | {:.2}× | {} |",
                profile.name,
                summary(loads, READY),
                median(loads, READY) / median(floor, READY),
                shifts(loads),
            );
        }
    }
}

/// This build against the one in `other`, in turn, on every profile.
async fn compare(other: PathBuf, count: usize) {
    let stack = Stack::start_comparing(&other).await;
    let this = stack.page_for("CUST-1001");
    let other_build = PageOptions {
        other_build: true,
        ..PageOptions::default()
    };
    let that = stack.page_with("CUST-1001", &other_build);
    let browser = cold_browser().await;
    let mut columns = Vec::new();
    let mut loads = Vec::new();
    for profile in PROFILES {
        browser.emulate(profile).await;
        loads.extend(cold_loads(&browser, &[&this, &that], count).await);
        columns.extend([
            format!("{}: this", profile.name),
            format!("{}: other", profile.name),
        ]);
    }
    println!(
        "\nwidget load time, this build against {}, {}: {count} cold loads of each, in turn \
         (median ms from navigation start, p90 in brackets):",
        other.display(),
        machine()
    );
    let loads: Vec<&[Load]> = loads.iter().map(Vec::as_slice).collect();
    print_milestones(
        &columns.iter().map(String::as_str).collect::<Vec<_>>(),
        &loads,
    );
}

/// The date and the machine, for the figures' heading.
fn machine() -> String {
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!(
        "{}, {} cores ({cpu}), {}",
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        std::thread::available_parallelism().map_or(0, usize::from),
        run("chromium", &["--version"]),
    )
}

/// A browser that notes when the switch shows the state and sums the
/// layout shifts, on every page.
async fn watching(browser: Browser) -> Browser {
    browser.on_every_page(WATCH_LAYOUT_SHIFTS).await;
    browser.on_every_page(WATCH_READY).await;
    browser
}

/// A browser whose loads will all be cold.
async fn cold_browser() -> Browser {
    let browser = watching(Browser::start().await).await;
    browser.cdp("Network.enable", json!({})).await;
    browser
}

/// `count` loads of each of `pages`, in turn, the browser's caches cleared
/// and disabled before each.
async fn cold_loads(browser: &Browser, pages: &[&str], count: usize) -> Vec<Vec<Load>> {
    let mut loads = vec![Vec::with_capacity(count); pages.len()];
    for round in 0..=count {
        for (page, loads) in pages.iter().zip(&mut loads) {
            browser.goto("about:blank").await;
            browser.cdp("Network.clearBrowserCache", json!({})).await;
            browser
                .cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
                .await;
            let figures = load(browser, page).await;
            if round > 0 {
                loads.push(figures);
            }
        }
    }
    loads
}

/// One load of `page`, and its figures once it has settled: the widget
/// (where the page has one) has shown the choice too, and the layout had
/// [`SETTLE`] more to shift.
async fn load(browser: &Browser, page: &str) -> Load {
    browser.goto(page).await;
    browser.wait_for_state("ready").await;
    browser.wait_for(WIDGET_OR_FLOOR).await;
    tokio::time::sleep(SETTLE).await;
    let figures = browser.script(READ_LOAD).await;
    let figures: Load = figures
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| Value::as_f64(t).unwrap_or(f64::NAN))
        .collect();
    assert!(!figures[READY].is_nan(), "the switch showed the state");
    figures
}

/// One row per milestone, one column per set of loads.
fn print_milestones(columns: &[&str], loads: &[&[Load]]) {
    println!("| milestone | {} |", columns.join(" | "));
    println!("| --- |{}", " ---: |".repeat(columns.len()));
    for (i, name) in MILESTONES.iter().enumerate() {
        let cells: Vec<String> = loads
            .iter()
            .map(|column| summary(column, FIRST_MILESTONE + i))
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

/// `median, max` of the layout shift.
fn shifts(loads: &[Load]) -> String {
    let most = loads.iter().map(|load| load[SHIFT]).fold(0.0, f64::max);
    format!("{:.3}, {most:.3}", median(loads, SHIFT))
}

/// `median (p90)` of figure `i` over all loads.
fn summary(loads: &[Load], i: usize) -> String {
    let times = sorted(loads, i);
    let p90 = times[((times.len() - 1) as f64 * 0.9).round() as usize];
    format!("{:.1} ({p90:.1})", median(loads, i))
}

/// The median of figure `i` over all loads.
fn median(loads: &[Load], i: usize) -> f64 {
    let times = sorted(loads, i);
    let n = times.len();
    (times[(n - 1) / 2] + times[n / 2]) / 2.0
}

fn sorted(loads: &[Load], i: usize) -> Vec<f64> {
    let mut times: Vec<f64> = loads.iter().map(|load| load[i]).collect();
    times.sort_by(f64::total_cmp);
    times
}
