//! The release-built widget, embedded on a host page with a strict CSP, in
//! headless Chromium, against the real proxy and the Campaign emulator.

use campaign_emulator::faults::{Fault, FaultKind};
use e2e::{
    Browser, PageOptions, Stack, open_page, open_privacy_page, open_ready_privacy_page,
    save_picture,
};
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";

/// The privacy page while the proxy is down, once the widget shows its error.
async fn open_with_the_proxy_down(customer: &str) -> (Stack, Browser) {
    let stack = Stack::without_proxy().await;
    let browser = open_page(&stack, customer, &PageOptions::default()).await;
    browser.wait_for_state("error").await;
    (stack, browser)
}

/// How many reads (GET) of the choice the page sent to the proxy.
async fn reads_sent(browser: &Browser) -> u64 {
    browser
        .script(
            "return performance.getEntriesByType('resource')
               .filter((e) => e.name.endsWith('/api/v1/opt-out') && e.initiatorType === 'fetch').length;",
        )
        .await
        .as_u64()
        .expect("a count")
}

async fn checked(browser: &Browser) -> String {
    let switch = browser.wait_for(SWITCH).await;
    switch
        .attr("aria-checked")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test]
async fn loads_flips_with_the_mouse_and_the_choice_survives_a_reload() {
    let (stack, browser) = open_privacy_page("CUST-1001").await;

    browser.wait_for_state("ready").await;
    assert_eq!(
        checked(&browser).await,
        "false",
        "Campaign says Ada allows sale"
    );
    let switch = browser.wait_for(SWITCH).await;
    assert_eq!(
        switch.attr("role").await.unwrap().as_deref(),
        Some("switch")
    );
    assert!(
        switch
            .text()
            .await
            .unwrap()
            .contains("Do not sell or share my personal information")
    );

    switch.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    assert_eq!(
        browser.text("[data-testid=ccpa-optout-status]").await,
        "Your choice has been saved."
    );
    assert!(
        stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out,
        "stored in Campaign"
    );

    let widget = browser.wait_for("[data-testid=ccpa-optout]").await;
    let png = widget.screenshot().await.unwrap();
    save_picture("widget.png", png);

    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "true", "the choice stuck");
    assert_eq!(
        browser.console_errors().await,
        Vec::<String>::new(),
        "no console errors"
    );
}

#[tokio::test]
async fn works_with_the_keyboard_alone() {
    let (stack, browser) = open_ready_privacy_page("CUST-1002").await;
    assert_eq!(checked(&browser).await, "true");

    // Tab from the top of the page reaches the switch first.
    let body = browser.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&char::from(Key::Tab).to_string())
        .await
        .unwrap();
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("data-testid").await.unwrap().as_deref(),
        Some("ccpa-optout-switch")
    );
    let outline = browser
        .script("return getComputedStyle(document.activeElement).outlineStyle")
        .await;
    assert_eq!(outline, "solid", "keyboard focus is visible");

    focused.send_keys(" ").await.unwrap();
    browser.wait_until_confirmed(false).await;
    assert!(!stack.emulator.profile("CUST-1002").unwrap().ccpa_opt_out);

    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("data-testid").await.unwrap().as_deref(),
        Some("ccpa-optout-switch"),
        "focus stays on the switch after saving"
    );
    focused
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-1002").unwrap().ccpa_opt_out);
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}

#[tokio::test]
async fn shows_a_friendly_error_and_retries_when_the_proxy_is_down() {
    let (stack, browser) = open_with_the_proxy_down("CUST-1003").await;
    let message = browser.text("[data-testid=ccpa-optout-error] p").await;
    assert!(
        message.starts_with("We could not load your current choice"),
        "{message}"
    );
    assert!(
        browser.client.find(Locator::Css(SWITCH)).await.is_err(),
        "no guessed state shown"
    );
    let alert = browser.wait_for("[data-testid=ccpa-optout-error]").await;
    assert_eq!(alert.attr("role").await.unwrap().as_deref(), Some("alert"));

    stack.start_proxy().await;
    browser
        .wait_for("[data-testid=ccpa-optout-retry]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "false");
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=ccpa-optout-error]"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_read_that_failed_is_tried_again_when_the_browser_comes_back_online() {
    let (stack, browser) = open_with_the_proxy_down("CUST-1003").await;

    stack.start_proxy().await;
    browser.cdp("Network.enable", json!({})).await;
    for offline in [true, false] {
        browser
            .cdp(
                "Network.emulateNetworkConditions",
                json!({ "offline": offline, "latency": 0,
                        "downloadThroughput": -1, "uploadThroughput": -1 }),
            )
            .await;
    }
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "false", "without a click");
}

#[tokio::test]
async fn a_failed_save_keeps_the_confirmed_state_and_can_be_retried() {
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;

    // The proxy restarts (a deployment) just as the customer clicks.
    stack.stop_proxy().await;
    // A refused connection and a lost answer look alike to a page: only an
    // answer could say that nothing changed.
    click_and_see_it_unconfirmed(&browser).await;

    stack.start_proxy().await;
    browser
        .wait_for("[data-testid=ccpa-optout-retry]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
}

/// Clicks the switch (off) and sees the save reported as unconfirmed, the
/// switch still showing the last confirmed value.
async fn click_and_see_it_unconfirmed(browser: &Browser) {
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("error").await;
    assert_eq!(
        checked(browser).await,
        "false",
        "never shows an unconfirmed value"
    );
    let message = browser.text("[data-testid=ccpa-optout-error] p").await;
    assert!(
        message.starts_with("We could not confirm that your choice was saved"),
        "{message}"
    );
}

/// A save whose answer never comes is given up on after the widget's
/// timeout, and said to be unconfirmed (it did reach the proxy, which
/// applies it); "Try again" sends it once more and confirms it.
#[tokio::test]
async fn a_save_left_unanswered_times_out_and_is_not_called_unchanged() {
    let stack = Stack::start().await;
    let options = PageOptions {
        timeout_ms: Some(1_000),
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1001", &options).await;
    browser.wait_for_state("ready").await;
    // Campaign answers the proxy after 1.5 s, beyond the widget's patience.
    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 1_500 }, 1));
    click_and_see_it_unconfirmed(&browser).await;
    // It had reached the proxy, which applies it all the same.
    for _ in 0..100 {
        if stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
    browser
        .wait_for("[data-testid=ccpa-optout-retry]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_until_confirmed(true).await;
}

/// Ada's privacy page, once her opt-out is recorded while Campaign is down.
async fn pending_while_campaign_is_down() -> (Stack, Browser) {
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("pending").await;
    (stack, browser)
}

#[tokio::test]
async fn while_campaign_is_down_the_choice_is_recorded_and_shown_as_pending() {
    let (stack, browser) = pending_while_campaign_is_down().await;
    assert_eq!(checked(&browser).await, "true", "the recorded choice");
    let note = browser.text("[data-testid=ccpa-optout-pending]").await;
    assert!(note.starts_with("Your choice is recorded"), "{note}");
    assert_eq!(
        browser.text("[data-testid=ccpa-optout-status]").await,
        "Your choice has been recorded."
    );
    save_picture(
        "widget-pending.png",
        browser.client.screenshot().await.unwrap(),
    );

    stack.emulator.clear_faults();
    // The widget looks again by itself and reports the change as saved.
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
    assert_eq!(
        browser.text("[data-testid=ccpa-optout-status]").await,
        "Your choice has been saved."
    );
    assert!(
        !browser
            .wait_for("[data-testid=ccpa-optout-pending]")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the note is gone once Campaign has it"
    );
}

/// The second switch's change waits for Campaign as the first's does, and
/// the widget looks again by itself until it is applied.
#[tokio::test]
async fn a_limit_recorded_while_campaign_is_down_turns_to_saved_by_itself() {
    const LIMIT: &str = "[data-testid=ccpa-optout-sensitive-switch]";
    const NOTE: &str = "[data-testid=ccpa-optout-sensitive-pending]";
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    browser.wait_for(LIMIT).await.click().await.unwrap();
    browser.wait_for(&format!("{NOTE}:not([hidden])")).await;
    assert_eq!(
        browser.text("[data-testid=ccpa-optout-status]").await,
        "Your choice has been recorded."
    );
    assert!(
        !stack
            .emulator
            .profile("CUST-1001")
            .unwrap()
            .cus_limit_sensitive
    );

    stack.emulator.clear_faults();
    browser.wait_for(&format!("{NOTE}[hidden]")).await;
    assert!(
        stack
            .emulator
            .profile("CUST-1001")
            .unwrap()
            .cus_limit_sensitive
    );
    let limit = browser.wait_for(LIMIT).await;
    assert_eq!(
        limit.attr("aria-checked").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        browser.text("[data-testid=ccpa-optout-status]").await,
        "Your choice has been saved."
    );
}

#[tokio::test]
async fn the_demo_page_signs_in_and_flips_under_the_proxys_own_csp() {
    let stack = Stack::without_proxy().await;
    let demo = stack.start_demo_proxy().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{demo}/")).await;
    browser.wait_for_state("ready").await;
    assert!(
        browser
            .text("[data-testid=ccpa-optout-scope]")
            .await
            .starts_with("You are not signed in"),
        "signed out, the switch covers this browser"
    );
    browser.wait_for("[data-testid=ccpa-optout-email]").await;
    let errors = browser.console_errors().await;
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e.contains("/demo/") && e.contains("401")),
        "the signed-out answers, and only those: {errors:?}"
    );

    let select = browser.wait_for("#demo-customer").await;
    select.select_by_value("CUST-1003").await.unwrap();
    browser
        .wait_for("form[action='/demo/sign-in'] button")
        .await
        .click()
        .await
        .unwrap();
    // The sign-in loads a new page: wait for it, not for the old one.
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = browser
            .script("return document.querySelector('[data-testid=demo-status]')?.textContent;")
            .await;
        if status == "Signed in as CUST-1003." {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "Signed in as CUST-1003.");
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "false");
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-1003").unwrap().ccpa_opt_out);
    // The footer links to what the emulated Privacy Service was told: the
    // opt-out, for the ECID of the demo's stand-in for the shop's Web SDK.
    let log = browser
        .script("return document.getElementById('demo-privacy-log').href;")
        .await;
    assert_eq!(log, format!("{}/_emulator/privacy", stack.emulator.url()));
    let emulator = stack.emulator.clone();
    let deadline = std::time::Instant::now() + e2e::PATIENCE;
    while !emulator
        .consents()
        .iter()
        .any(|c| c.opt_out_of_sale && c.entities.iter().any(|e| e.name_space == "ECID"))
    {
        assert!(std::time::Instant::now() < deadline, "Privacy Service told");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (received, built) = wasm_sizes(&browser).await;
    assert_eq!(received, built, "the proxy sends the brotli twin too");

    let png = browser.client.screenshot().await.unwrap();
    save_picture("demo.png", png);
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}

#[tokio::test]
async fn clicks_while_saving_are_ignored_so_one_click_is_one_change() {
    // Campaign holds the first save 4 s (the proxy waits up to 10 s), and
    // the widget is checked to be still saving after the clicks: they fell
    // inside the save, not after it.
    let stack = Stack::start_with(|s| s.campaign.timeout_ms = 10_000).await;
    let browser = open_page(&stack, "CUST-1003", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 4_000 }, 1));
    let switch = browser.wait_for(SWITCH).await;
    switch.click().await.unwrap();
    browser.wait_for_state("saving").await;
    assert_eq!(
        switch.attr("aria-disabled").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        checked(&browser).await,
        "false",
        "not flipped before Campaign confirms"
    );
    switch.click().await.unwrap();
    switch.click().await.unwrap();
    let state = browser.state().await;
    assert_eq!(
        state.as_deref(),
        Some("saving"),
        "the clicks came while saving"
    );

    browser.wait_until_confirmed(true).await;
    assert_eq!(stack.emulator.stats().patches, 1, "one click, one change");
    assert!(stack.emulator.profile("CUST-1003").unwrap().ccpa_opt_out);
}

#[tokio::test]
async fn an_expired_sign_in_token_is_renewed_without_bothering_the_user() {
    let (stack, browser) = open_ready_privacy_page("CUST-1002+stale").await;
    assert_eq!(checked(&browser).await, "true");
    assert_eq!(
        stack.tokens_minted(),
        2,
        "the expired token was replaced once"
    );
    assert_eq!(
        reads_sent(&browser).await,
        2,
        "the loader's read was refused, the widget read again"
    );
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(false).await;
    assert!(!stack.emulator.profile("CUST-1002").unwrap().ccpa_opt_out);
}

/// `[encoded, decoded]` size of the wasm as the page received it, and the
/// sizes of the files the build made: the brotli twin (Chromium takes
/// brotli, over loopback too) and the wasm itself.
async fn wasm_sizes(browser: &Browser) -> ([f64; 2], [f64; 2]) {
    let received = browser
        .script(
            "const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'));
             return [wasm.encodedBodySize, wasm.decodedBodySize];",
        )
        .await;
    let received = [0, 1].map(|i| received[i].as_f64().expect("a size"));
    let built = ["ccpa-widget_bg.wasm.br", "ccpa-widget_bg.wasm"]
        .map(|file| std::fs::metadata(e2e::dist_dir().join(file)).unwrap().len() as f64);
    (received, built)
}

#[tokio::test]
async fn the_files_travel_compressed_and_the_loader_asks_for_the_token_and_the_choice() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    // When the widget appears: only once the wasm is in and running.
    browser
        .on_every_page(
            "new MutationObserver((_, watching) => {
               if (document.querySelector('[data-testid=ccpa-optout]')) {
                 window.mountedAt = performance.now();
                 watching.disconnect();
               }
             }).observe(document, { childList: true, subtree: true });",
        )
        .await;
    browser.goto(&stack.page_for("CUST-1001")).await;
    browser.wait_for_state("ready").await;
    let (received, built) = wasm_sizes(&browser).await;
    assert_eq!(received, built, "what `cargo xtask size` counts travels");
    let times = browser
        .script(
            "const entry = (end) => performance.getEntriesByType('resource').find((e) => e.name.endsWith(end));
             return [entry('/token').startTime, window.mountedAt];",
        )
        .await;
    let [token_asked, mounted] = [0, 1].map(|i| times[i].as_f64().expect("a time"));
    // The loader asks for the token as it asks for the wasm, in the same
    // task: before the widget could run, not by the widget once it does.
    // (Not against the wasm's first byte: on loopback that may beat the
    // rest of the task.)
    assert!(token_asked < mounted, "{token_asked} ms vs {mounted} ms");
    assert_eq!(
        stack.tokens_minted(),
        1,
        "the widget used the loader's token"
    );
    // The loader reads the choice as soon as the token is in; had the
    // widget not taken that answer, it would have read a second time.
    assert_eq!(
        reads_sent(&browser).await,
        1,
        "the widget used the loader's read"
    );
}

#[tokio::test]
async fn a_page_rendered_with_the_token_in_it_is_read_at_once() {
    let stack = Stack::start().await;
    let inline = PageOptions {
        inline_token: true,
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1002", &inline).await;
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "true");
    assert_eq!(stack.tokens_minted(), 0, "no token URL to ask");
    assert_eq!(reads_sent(&browser).await, 1);
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(false).await;
    assert!(!stack.emulator.profile("CUST-1002").unwrap().ccpa_opt_out);
}

/// One change a minute, one read a minute: the proxy's limits as a crowd
/// of requests would meet them.
fn tight_limits(settings: &mut ccpa_proxy::config::Settings) {
    settings.limits.changes_per_minute = 1;
    settings.limits.reads_per_minute = 1;
}

/// Past the proxy's limit, the widget says so kindly: a change that was not
/// recorded says it was not saved (the switch stays), and a read is tried
/// again by itself.
#[tokio::test]
async fn past_the_proxys_limit_the_widget_says_so_kindly() {
    let stack = Stack::start_with(tight_limits).await;
    let browser = open_page(&stack, "CUST-1001", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("error").await;
    let said = browser.text("[data-testid=ccpa-optout-error] p").await;
    assert!(said.starts_with("Many changes came in just now"), "{said}");
    assert_eq!(checked(&browser).await, "true", "not saved, not shown");
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);

    browser.client.refresh().await.unwrap();
    browser.wait_for_state("error").await;
    let said = browser.text("[data-testid=ccpa-optout-error] p").await;
    assert!(said.starts_with("Many requests came in just now"), "{said}");
    // It asks again by itself (and is refused again, within the minute).
    browser
        .script(
            "const widget = document.querySelector('[data-testid=ccpa-optout]');
             window.seen = [];
             new MutationObserver(() => window.seen.push(widget.dataset.state))
               .observe(widget, { attributes: true, attributeFilter: ['data-state'] });",
        )
        .await;
    let mut seen = json!([]);
    for _ in 0..100 {
        seen = browser.script("return window.seen;").await;
        if seen.as_array().unwrap().contains(&json!("loading")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        seen.as_array().unwrap().contains(&json!("loading")),
        "{seen}"
    );
    let errors = browser.console_errors().await;
    assert!(
        !errors.is_empty() && errors.iter().all(|e| e.contains("429")),
        "the refused requests, and only those: {errors:?}"
    );
}

const STATUS: &str = "[data-testid=ccpa-optout-status]";

#[tokio::test]
async fn the_live_region_is_in_the_accessibility_tree_before_a_save_and_speaks_after() {
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
    assert_eq!(
        browser.spoken_status(STATUS).await.as_deref(),
        Some(""),
        "an empty live region, there to be listened to before anything is said"
    );
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
    assert_eq!(
        browser.spoken_status(STATUS).await.as_deref(),
        Some("Your choice has been saved.")
    );
}

/// Presses `key` on the element that has focus.
async fn press(browser: &Browser, key: Key) {
    let focused = browser.client.active_element().await.unwrap();
    focused
        .send_keys(&char::from(key).to_string())
        .await
        .unwrap();
}

/// Presses Tab until the element of class `class` has focus (a few times
/// at most: the widget has few controls).
async fn tab_to(browser: &Browser, class: &str) {
    for _ in 0..6 {
        if focused_class(browser).await.contains(class) {
            return;
        }
        press(browser, Key::Tab).await;
    }
    panic!("Tab never reached .{class}");
}

/// Waits (a second at most) until the element of class `class` has focus.
async fn focus_comes_to(browser: &Browser, class: &str) {
    for _ in 0..20 {
        if focused_class(browser).await.contains(class) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "focus is on {:?}, not .{class}",
        focused_class(browser).await
    );
}

/// The element that has focus, by its class.
async fn focused_class(browser: &Browser) -> String {
    let focused = browser.client.active_element().await.unwrap();
    focused.attr("class").await.unwrap().unwrap_or_default()
}

#[tokio::test]
async fn try_again_by_keyboard_leaves_focus_in_the_widget() {
    let (stack, browser) = open_with_the_proxy_down("CUST-1001").await;
    stack.start_proxy().await;
    tab_to(&browser, "ccpa-optout__retry").await;
    press(&browser, Key::Enter).await;
    browser.wait_for_state("ready").await;
    // Held on the heading while there is no switch, then on the switch.
    focus_comes_to(&browser, "ccpa-optout__switch").await;

    // A save that fails, retried from the keyboard: focus goes to the switch.
    tab_to(&browser, "ccpa-optout__switch").await;
    stack.stop_proxy().await;
    press(&browser, Key::Enter).await;
    browser.wait_for_state("error").await;
    stack.start_proxy().await;
    tab_to(&browser, "ccpa-optout__retry").await;
    press(&browser, Key::Enter).await;
    browser.wait_until_confirmed(true).await;
    focus_comes_to(&browser, "ccpa-optout__switch").await;
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
}

#[tokio::test]
async fn in_forced_colours_the_switch_keeps_an_outline_and_shows_its_state() {
    let (_stack, browser) = open_ready_privacy_page("CUST-1001").await;
    browser.emulate_media("forced-colors", "active").await;
    let drawn = || async {
        browser
            .script(
                "const track = document.querySelector('.ccpa-optout__track');
                 const thumb = document.querySelector('.ccpa-optout__thumb');
                 const t = getComputedStyle(track), h = getComputedStyle(thumb);
                 return [t.outlineStyle, t.outlineWidth, t.backgroundColor, h.backgroundColor];",
            )
            .await
    };
    let off = drawn().await;
    assert_eq!(off[0], "solid", "{off}");
    assert_ne!(off[1], "0px", "{off}");
    assert_ne!(off[2], off[3], "the thumb stands out from the track: {off}");
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let on = drawn().await;
    assert_eq!(on[0], "solid", "{on}");
    assert_ne!(on[2], off[2], "on and off look different: {on} {off}");
}

#[tokio::test]
async fn the_heading_takes_the_level_the_page_asks_for() {
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
    for (asked, tag) in [(None, "h2"), (Some(3), "h3"), (Some(9), "h2")] {
        let options = PageOptions {
            heading_level: asked,
            ..PageOptions::default()
        };
        browser.goto(&stack.page_with("CUST-1001", &options)).await;
        browser.wait_for_state("ready").await;
        let title = browser.wait_for(".ccpa-optout__title").await;
        assert_eq!(title.tag_name().await.unwrap(), tag, "{asked:?}");
    }
}

/// Hides the page from the widget, or shows it again, as a switch of tabs
/// would: `document.hidden` and a `visibilitychange` event.
async fn set_hidden(browser: &Browser, hidden: bool) {
    browser
        .script(&format!(
            "Object.defineProperty(document, 'hidden', {{ configurable: true, get: () => {hidden} }});
             document.dispatchEvent(new Event('visibilitychange'));"
        ))
        .await;
}

#[tokio::test]
async fn a_pending_change_is_not_looked_at_while_the_page_is_hidden() {
    let (stack, browser) = pending_while_campaign_is_down().await;
    set_hidden(&browser, true).await;
    let before = reads_sent(&browser).await;
    // Past the first look (5 s after the change), and then some.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(reads_sent(&browser).await, before, "no look while hidden");

    stack.emulator.clear_faults();
    let applied = tokio::time::timeout(e2e::PATIENCE, async {
        while !stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(applied.is_ok(), "the proxy applied it meanwhile");
    let shown = std::time::Instant::now();
    set_hidden(&browser, false).await;
    // The overdue look comes as soon as the page shows, not a backoff later.
    browser.wait_until_confirmed(true).await;
    assert!(
        shown.elapsed() < std::time::Duration::from_secs(3),
        "looked {:?} after the page showed",
        shown.elapsed()
    );
    assert_eq!(reads_sent(&browser).await, before + 1);
}

/// The page below the widget does not move while the widget loads and
/// shows the choice, on a page that links the widget's stylesheet in its
/// head, as the embedding guide says (it moved two or three times before
/// the stylesheet kept the widget's space). Cold loads, as a first visit.
#[tokio::test]
async fn the_page_does_not_move_as_the_widget_loads() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser.on_every_page(e2e::WATCH_LAYOUT_SHIFTS).await;
    browser.cdp("Network.enable", json!({})).await;
    browser
        .cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    for load in 0..3 {
        browser.goto(&stack.page_for("CUST-1001")).await;
        browser.wait_for_state("ready").await;
        // Anything the answer moves has moved by the next frames.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let shift = browser.script("return window.__ccpaShift;").await;
        assert_eq!(shift.as_f64(), Some(0.0), "load {load} moved the page");
    }
}

/// A widget that cannot start (here its wasm is missing) gives back the
/// space the stylesheet kept for it: no empty box stays on the page, and
/// the loader's read, in after the failure, paints nothing there.
#[tokio::test]
async fn a_widget_that_cannot_start_leaves_no_empty_space() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    let broken = PageOptions {
        broken_build: true,
        ..PageOptions::default()
    };
    browser.goto(&stack.page_with("CUST-1001", &broken)).await;
    browser
        .wait_for("[data-ccpa-optout][data-ccpa-failed]")
        .await;
    // The loader's read comes in after the failure: no first paint in the
    // space given back (one would stand there for good, a switch that
    // does nothing).
    let read_in = "performance.getEntriesByType('resource').some((e) => e.name.endsWith('/api/v1/opt-out') && e.responseEnd > 0)";
    for _ in 0..100 {
        if browser.script(&format!("return {read_in};")).await == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(browser.script(&format!("return {read_in};")).await, true);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        browser
            .script("return document.querySelector('[data-ccpa-early]') === null;")
            .await,
        true,
        "no first paint in a widget that could not start"
    );
    let height = browser
        .script(
            "return document.querySelector('[data-ccpa-optout]').getBoundingClientRect().height;",
        )
        .await;
    assert_eq!(height.as_f64(), Some(0.0), "the kept space is given back");
    let errors = browser.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("could not start")),
        "the failure is reported: {errors:?}"
    );
}
