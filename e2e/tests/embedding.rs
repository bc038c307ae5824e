//! The widget as site owners embed it and as every customer meets it: in
//! four languages, light and dark, right to left, several on a page, under
//! Global Privacy Control, with a tag manager and IAB's `__uspapi` listening,
//! and checked by axe-core (WCAG 2.2 AA) in every state.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use e2e::{Browser, PageOptions, Stack, save_picture};
use serde_json::{Value, json};

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";

/// An upstream delay that keeps a busy state long enough for axe to look
/// at it (each Campaign call waits this long), below the proxy's 2 s timeout.
const SLOW: Duration = Duration::from_millis(1_200);

fn lang(tag: &str) -> PageOptions {
    PageOptions {
        lang: Some(tag.into()),
        ..PageOptions::default()
    }
}

async fn open(stack: &Stack, customer: &str, options: &PageOptions) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&stack.page_with(customer, options)).await;
    browser
}

async fn assert_accessible(browser: &Browser, context: &str) {
    let violations = browser.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{context}: axe-core found {violations:#?}"
    );
}

/// A README picture of the widget alone.
async fn picture_of_widget(browser: &Browser, name: &str) {
    let widget = browser.wait_for("[data-testid=ccpa-optout]").await;
    save_picture(name, widget.screenshot().await.unwrap());
}

/// Walks one language through every state, dark and light, running axe in
/// each: loading, off, saving, on, pending, error.
async fn every_state_is_accessible_in(tag: &str, title: &str) {
    let stack = Stack::start().await;
    stack.emulator.set_latency(SLOW);
    let browser = open(&stack, "CUST-1001", &lang(tag)).await;
    browser.wait_for_state("loading").await;
    assert_eq!(
        browser.text(".ccpa-optout__title").await,
        title,
        "the widget speaks {tag}"
    );
    assert_accessible(&browser, &format!("{tag}, loading")).await;

    browser.wait_for_state("ready").await;
    stack.emulator.set_latency(Duration::ZERO);
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        assert_accessible(&browser, &format!("{tag}, off, dark {dark}")).await;
    }
    browser.prefer_dark(false).await;

    stack.emulator.set_latency(SLOW);
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("saving").await;
    assert_accessible(&browser, &format!("{tag}, saving")).await;
    browser.wait_until_confirmed(true).await;
    stack.emulator.set_latency(Duration::ZERO);
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        assert_accessible(&browser, &format!("{tag}, on, dark {dark}")).await;
    }

    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("pending").await;
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        assert_accessible(&browser, &format!("{tag}, pending, dark {dark}")).await;
    }
    stack.emulator.clear_faults();

    browser
        .goto(&stack.page_with("anonymous", &lang(tag)))
        .await;
    browser.wait_for_state("error").await;
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        assert_accessible(&browser, &format!("{tag}, error, dark {dark}")).await;
    }
}

#[tokio::test]
async fn every_state_is_accessible_in_english() {
    every_state_is_accessible_in("en", "Do Not Sell or Share My Personal Information").await;
}

#[tokio::test]
async fn every_state_is_accessible_in_spanish() {
    every_state_is_accessible_in("es", "No vender ni compartir mi información personal").await;
}

#[tokio::test]
async fn every_state_is_accessible_in_german() {
    every_state_is_accessible_in(
        "de",
        "Meine personenbezogenen Daten nicht verkaufen oder weitergeben",
    )
    .await;
}

#[tokio::test]
async fn every_state_is_accessible_in_chinese() {
    every_state_is_accessible_in("zh-CN", "请勿出售或共享我的个人信息").await;
}

#[tokio::test]
async fn without_an_attribute_the_browsers_languages_choose() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser.prefer_languages("fr-FR,fr,de-DE,de").await;
    browser.goto(&stack.page_for("CUST-1001")).await;
    browser.wait_for_state("ready").await;
    let widget = browser.wait_for("[data-testid=ccpa-optout]").await;
    assert_eq!(widget.attr("lang").await.unwrap().as_deref(), Some("de"));
    assert_eq!(
        browser.text(".ccpa-optout__title").await,
        "Meine personenbezogenen Daten nicht verkaufen oder weitergeben"
    );
}

#[tokio::test]
async fn pictures_for_the_readme_light_dark_two_languages_and_an_error() {
    let stack = Stack::start().await;
    let browser = open(&stack, "CUST-1001", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    picture_of_widget(&browser, "widget-light.png").await;
    browser.prefer_dark(true).await;
    picture_of_widget(&browser, "widget-dark.png").await;
    browser.prefer_dark(false).await;

    for (tag, picture) in [("es", "widget-es.png"), ("zh", "widget-zh.png")] {
        browser
            .goto(&stack.page_with("CUST-1002", &lang(tag)))
            .await;
        browser.wait_for_state("ready").await;
        picture_of_widget(&browser, picture).await;
    }

    stack.stop_proxy().await;
    browser.goto(&stack.page_for("CUST-1001")).await;
    browser.wait_for_state("error").await;
    picture_of_widget(&browser, "widget-error.png").await;
}

#[tokio::test]
async fn global_privacy_control_is_honored_shown_and_can_be_set_aside() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser.enable_gpc().await;
    browser.goto(&stack.page_for("CUST-1001")).await;
    browser.wait_until_confirmed(true).await;
    assert!(
        stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out,
        "the signal reached the proxy (Chromium sends no Sec-GPC: the widget said it)"
    );
    let notice = browser.text("[data-testid=ccpa-optout-gpc]").await;
    assert!(notice.starts_with("Opt-Out Request Honored"), "{notice}");
    assert_accessible(&browser, "GPC honored").await;
    picture_of_widget(&browser, "widget-gpc.png").await;

    // Allowing sale anyway is the consumer's call, and it sticks.
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(false).await;
    let notice = browser.text("[data-testid=ccpa-optout-gpc]").await;
    assert!(notice.contains("you chose to allow"), "{notice}");
    browser.client.refresh().await.unwrap();
    browser.wait_until_confirmed(false).await;
    assert!(!stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
    assert_accessible(&browser, "GPC set aside").await;
}

/// `__uspapi("getUSPData", 1, cb)`'s string, called as an ad tag would.
async fn usp_string(browser: &Browser) -> Value {
    browser
        .client
        .execute(
            "let answer; window.__uspapi('getUSPData', 1, (data, ok) => { answer = ok && data.uspString; }); return answer;",
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn two_widgets_on_a_page_a_tag_manager_hears_each_change_and_uspapi_answers() {
    let stack = Stack::start().await;
    let options = PageOptions {
        widgets: Some(2),
        ..PageOptions::default()
    };
    let browser = open(&stack, "CUST-1001", &options).await;
    browser.wait_for_state("ready").await;
    let widgets = browser
        .client
        .find_all(fantoccini::Locator::Css(SWITCH))
        .await
        .unwrap();
    assert_eq!(widgets.len(), 2);
    let ids: Value = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[id]')].map((e) => e.id);",
            vec![],
        )
        .await
        .unwrap();
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .flat_map(Value::as_str)
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "ids are unique per widget: {ids:?}"
    );
    assert_eq!(usp_string(&browser).await, json!("1YNN"));

    widgets[0].click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let data_layer = browser
        .client
        .execute("return window.dataLayer;", vec![])
        .await
        .unwrap();
    assert_eq!(
        data_layer,
        json!([{ "event": "ccpa-optout:change", "ccpaOptOut": true, "pending": false }]),
        "one event for one confirmed change, none for loading"
    );
    assert_eq!(usp_string(&browser).await, json!("1YYN"));
    assert_accessible(&browser, "two widgets").await;
}

#[tokio::test]
async fn right_to_left_pages_mirror_the_switch_and_reduced_motion_stills_it() {
    let stack = Stack::start().await;
    let options = PageOptions {
        dir: Some("rtl".into()),
        ..PageOptions::default()
    };
    let browser = open(&stack, "CUST-1002", &options).await;
    browser.wait_for_state("ready").await;
    let geometry = browser
        .client
        .execute(
            "const r = (s) => document.querySelector(s).getBoundingClientRect();
             return [r('.ccpa-optout__track').left, r('.ccpa-optout__label').left];",
            vec![],
        )
        .await
        .unwrap();
    let (track, label) = (geometry[0].as_f64().unwrap(), geometry[1].as_f64().unwrap());
    assert!(track > label, "the switch starts on the right: {geometry}");
    assert_accessible(&browser, "right to left").await;

    browser
        .emulate_media("prefers-reduced-motion", "reduce")
        .await;
    let transition = browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector('.ccpa-optout__thumb')).transitionDuration;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(transition, json!("0s"));
}
