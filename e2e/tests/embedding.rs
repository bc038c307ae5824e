//! The widget as site owners embed it and as every customer meets it: in
//! four languages, light and dark, right to left, several on a page, under
//! Global Privacy Control, with a tag manager and IAB's `__uspapi` listening,
//! and checked by axe-core (WCAG 2.2 AA) in every state.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use e2e::{Browser, PageOptions, Stack, open_page, open_ready_privacy_page, save_picture};
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
    let browser = open_page(&stack, "CUST-1001", &lang(tag)).await;
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
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
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
    browser.script("let answer; window.__uspapi('getUSPData', 1, (data, ok) => { answer = ok && data.uspString; }); return answer;").await
}

#[tokio::test]
async fn two_widgets_on_a_page_a_tag_manager_hears_each_change_and_uspapi_answers() {
    let stack = Stack::start().await;
    let options = PageOptions {
        widgets: Some(2),
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1001", &options).await;
    browser.wait_for_state("ready").await;
    let widgets = browser
        .client
        .find_all(fantoccini::Locator::Css(SWITCH))
        .await
        .unwrap();
    assert_eq!(widgets.len(), 2);
    let ids: Value = browser
        .script("return [...document.querySelectorAll('[id]')].map((e) => e.id);")
        .await;
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
    let data_layer = browser.script("return window.dataLayer;").await;
    assert_eq!(
        data_layer,
        json!([{ "event": "ccpa-optout:change", "ccpaOptOut": true, "pending": false }]),
        "one event for one confirmed change, none for loading"
    );
    assert_eq!(usp_string(&browser).await, json!("1YYN"));
    assert_accessible(&browser, "two widgets").await;
}

/// What an ad tag in a frame does to read the US Privacy string: find the
/// `__uspapiLocator` frame up its window chain and ask by postMessage, in
/// JSON text.
const AD_FRAME_ASKS: &str = "const done = arguments[arguments.length - 1];
let api = window;
while (!api.frames.__uspapiLocator && api !== top) api = api.parent;
addEventListener('message', ({ data }) => {
  const answer = JSON.parse(data).__uspapiReturn;
  if (answer && answer.callId === 'ad-1') done(answer);
});
api.postMessage(JSON.stringify({ __uspapiCall: { command: 'getUSPData', version: 1, callId: 'ad-1' } }), '*');";

#[tokio::test]
async fn an_ad_in_a_frame_reads_the_us_privacy_string_by_post_message() {
    let (_stack, browser) = open_ready_privacy_page("CUST-1002").await;
    browser
        .wait_for("iframe[name=__uspapiLocator][hidden]")
        .await;
    let frame = browser
        .script(
            "const ad = document.createElement('iframe');
             document.querySelector('main').append(ad);
             return Array.from({ length: window.frames.length }, (_, i) => window.frames[i]).indexOf(ad.contentWindow);",
        )
        .await;
    let frame = u16::try_from(frame.as_u64().expect("a frame index")).unwrap();
    browser.client.enter_frame(frame).await.unwrap();
    let answer = browser
        .client
        .execute_async(AD_FRAME_ASKS, vec![])
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({ "returnValue": { "version": 1, "uspString": "1YYN" }, "success": true, "callId": "ad-1" }),
        "CUST-1002 has opted out"
    );
}

#[tokio::test]
async fn widgets_added_later_mount_and_widgets_taken_away_stop() {
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
    // A single-page app leaves the privacy page and comes back to it: the
    // widget's element goes, a new one like it comes.
    browser
        .script(
            "const host = document.querySelector('[data-ccpa-optout]');
             host.remove();
             window.departed = host;
             const again = host.cloneNode(false);
             again.removeAttribute('data-ccpa-mounted');
             document.querySelector('main').append(again);",
        )
        .await;
    browser.wait_for_state("ready").await;
    assert_eq!(
        browser
            .script(
                "return [departed.childElementCount, departed.hasAttribute('data-ccpa-mounted')];"
            )
            .await,
        json!([0, false]),
        "the departed widget was unmounted"
    );
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);

    // The same element, put back, gets a widget again.
    browser
        .script("departed.id = 'back'; document.querySelector('main').append(departed);")
        .await;
    browser
        .wait_for("#back [data-testid=ccpa-optout][data-state=ready] [aria-checked=true]")
        .await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}

#[tokio::test]
async fn right_to_left_pages_mirror_the_switch_and_reduced_motion_stills_it() {
    let stack = Stack::start().await;
    let options = PageOptions {
        dir: Some("rtl".into()),
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1002", &options).await;
    browser.wait_for_state("ready").await;
    let geometry = browser
        .script(
            "const r = (s) => document.querySelector(s).getBoundingClientRect();
             return [r('.ccpa-optout__track').left, r('.ccpa-optout__label').left];",
        )
        .await;
    let (track, label) = (geometry[0].as_f64().unwrap(), geometry[1].as_f64().unwrap());
    assert!(track > label, "the switch starts on the right: {geometry}");
    assert_accessible(&browser, "right to left").await;

    browser
        .emulate_media("prefers-reduced-motion", "reduce")
        .await;
    let transition = browser.script("return getComputedStyle(document.querySelector('.ccpa-optout__thumb')).transitionDuration;").await;
    assert_eq!(transition, json!("0s"));
}

/// Every element of the first widget, with the computed styles a host's
/// rules could change, and the generated content of its pseudo-elements.
const STYLES: &str = "const props = ['display', 'position', 'float', 'visibility', 'opacity', 'box-sizing',
  'font-family', 'font-size', 'font-style', 'font-weight', 'line-height', 'letter-spacing', 'word-spacing',
  'text-transform', 'text-indent', 'text-shadow', 'text-align', 'color', 'background-color', 'box-shadow',
  'border-top-style', 'border-top-width', 'border-radius', 'margin-top', 'margin-left', 'padding-top',
  'padding-left', 'transform'];
const root = document.querySelector('.ccpa-optout');
return [root, ...root.querySelectorAll('*')].map((el) => {
  const style = getComputedStyle(el);
  const size = el.closest('.ccpa-optout__switch') ? ` ${el.offsetWidth}x${el.offsetHeight}` : '';
  const content = ['::before', '::after'].map((p) => getComputedStyle(el, p).content).join(' ');
  return `${el.tagName}.${el.className}${size} ${props.map((p) => style.getPropertyValue(p)).join('|')} ${content}`;
});";

async fn widget_styles(browser: &Browser, options: &PageOptions, stack: &Stack) -> Vec<String> {
    browser.goto(&stack.page_with("CUST-1001", options)).await;
    browser.wait_for_state("ready").await;
    let styles = browser.script(STYLES).await;
    serde_json::from_value(styles).unwrap()
}

#[tokio::test]
async fn a_hostile_host_theme_changes_nothing_inside_the_widget() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    let plain = widget_styles(&browser, &PageOptions::default(), &stack).await;
    let hostile = PageOptions {
        hostile: true,
        ..PageOptions::default()
    };
    let themed = widget_styles(&browser, &hostile, &stack).await;
    assert!(plain.len() >= 8, "the widget was measured: {plain:#?}");
    let changed: Vec<_> = plain.iter().zip(&themed).filter(|(a, b)| a != b).collect();
    assert!(
        changed.is_empty() && plain.len() == themed.len(),
        "the host's theme reached into the widget (plain, themed): {changed:#?}"
    );
    // The theme's rules still apply to the page itself.
    let heading = browser
        .script("return getComputedStyle(document.querySelector('h1')).textTransform;")
        .await;
    assert_eq!(heading, json!("uppercase"));
    assert_accessible(&browser, "hostile theme").await;
}

/// Every selector of the widget's stylesheet names the widget's class, so no
/// rule can reach an element of the host page.
#[test]
fn every_rule_of_the_stylesheet_is_scoped_to_the_widget() {
    let path = e2e::repo_root().join("frontend/style/ccpa-optout.css");
    let css = std::fs::read_to_string(&path).unwrap();
    let mut selectors = Vec::new();
    let mut text = String::new();
    let mut rest = css.as_str();
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("comments are closed");
        rest = &rest[start + end + 2..];
    }
    text.push_str(rest);
    // A prelude is what stands before `{` since the last `{`, `}` or `;`.
    let mut prelude = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                let trimmed = prelude.trim();
                if !trimmed.starts_with('@') {
                    selectors.extend(trimmed.split(',').map(|s| s.trim().to_owned()));
                }
                prelude.clear();
            }
            '}' | ';' => prelude.clear(),
            c => prelude.push(c),
        }
    }
    assert!(
        selectors.len() > 20,
        "the stylesheet was read: {selectors:?}"
    );
    let unscoped: Vec<_> = selectors
        .iter()
        .filter(|s| !s.contains(".ccpa-optout"))
        .collect();
    assert!(
        unscoped.is_empty(),
        "rules that could touch the host page: {unscoped:?}"
    );
}
