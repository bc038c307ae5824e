//! The widget as site owners embed it and as every customer meets it: in
//! four languages, light and dark, right to left, several on a page, under
//! Global Privacy Control, with a tag manager and IAB's `__uspapi` listening,
//! and checked by axe-core (WCAG 2.2 AA) in every state.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use e2e::{Browser, PageOptions, Stack, open_page, open_ready_privacy_page, save_picture};
use serde_json::{Value, json};

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";

/// How long each Campaign call takes while a busy state is looked at:
/// longer than axe takes to look twice (light and dark), well inside the
/// proxy's call timeout in these tests ([`patient_proxy`]).
const HOLD: Duration = Duration::from_millis(3_000);

/// The proxy waits for Campaign longer than [`HOLD`].
fn patient_proxy(settings: &mut ccpa_proxy::config::Settings) {
    settings.campaign.timeout_ms = 10_000;
}

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

/// Runs axe light and dark; with `held`, checks afterwards that the widget
/// was in that state all along.
async fn assert_accessible_in_both(browser: &Browser, context: &str, held: Option<&str>) {
    for dark in [false, true] {
        browser.prefer_dark(dark).await;
        assert_accessible(browser, &format!("{context}, dark {dark}")).await;
    }
    browser.prefer_dark(false).await;
    if let Some(state) = held {
        let shown = browser.state().await;
        assert_eq!(
            shown.as_deref(),
            Some(state),
            "{context}: still {state} when axe was done"
        );
    }
}

/// The second switch: the limit on the use of sensitive information.
const LIMIT: &str = "[data-testid=ccpa-optout-sensitive-switch]";

/// Walks one language through every state, light and dark, running axe in
/// each: loading, off, saving, on, pending, the second switch pending, a
/// failed save of each (the switches still shown), signed out (the browser's switch and the email form), and the
/// form's answer. Busy states are held by a slow Campaign until axe is
/// done with them.
async fn every_state_is_accessible_in(tag: &str, title: &str) {
    let stack = Stack::start_with(patient_proxy).await;
    stack.emulator.set_latency(HOLD);
    let browser = open_page(&stack, "CUST-1001", &lang(tag)).await;
    browser.wait_for_state("loading").await;
    assert_eq!(
        browser.text(".ccpa-optout__title").await,
        title,
        "the widget speaks {tag}"
    );
    assert_accessible_in_both(&browser, &format!("{tag}, loading"), Some("loading")).await;

    browser.wait_for_state("ready").await;
    stack.emulator.set_latency(Duration::ZERO);
    assert_accessible_in_both(&browser, &format!("{tag}, off"), None).await;

    stack.emulator.set_latency(HOLD);
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("saving").await;
    assert_accessible_in_both(&browser, &format!("{tag}, saving"), Some("saving")).await;
    browser.wait_until_confirmed(true).await;
    stack.emulator.set_latency(Duration::ZERO);
    assert_accessible_in_both(&browser, &format!("{tag}, on"), None).await;

    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("pending").await;
    assert_accessible_in_both(&browser, &format!("{tag}, pending"), None).await;
    browser.wait_for(LIMIT).await.click().await.unwrap();
    browser
        .wait_for("[data-testid=ccpa-optout-sensitive-pending]:not([hidden])")
        .await;
    assert_accessible_in_both(&browser, &format!("{tag}, second switch pending"), None).await;
    stack.emulator.clear_faults();

    stack.stop_proxy().await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("error").await;
    assert!(
        browser.wait_for(SWITCH).await.is_displayed().await.unwrap(),
        "a failed save keeps the switch"
    );
    assert_accessible_in_both(&browser, &format!("{tag}, failed save"), Some("error")).await;
    browser.wait_for(LIMIT).await.click().await.unwrap();
    browser
        .wait_for("[data-testid=ccpa-optout-sensitive-error]")
        .await;
    assert_accessible_in_both(&browser, &format!("{tag}, second switch failed"), None).await;

    stack.start_proxy().await;
    let signed_out = PageOptions {
        email_form: true,
        ..lang(tag)
    };
    browser
        .goto(&stack.page_with("anonymous", &signed_out))
        .await;
    browser.wait_for_state("ready").await;
    browser.wait_for("[data-testid=ccpa-optout-email]").await;
    assert_accessible_in_both(&browser, &format!("{tag}, signed out"), None).await;
    let (answer, _) = browser.opt_out_by_email("someone@example.com").await;
    assert_eq!(answer, "sent", "{tag}");
    assert_accessible_in_both(&browser, &format!("{tag}, opted out by email"), None).await;
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

/// The "Your Privacy Choices" link (§ 7015) in a page's header gets its
/// title and the opt-out icon, an image file allowed by the strict policy,
/// with the Attorney General's alt text.
#[tokio::test]
async fn the_privacy_choices_link_gets_its_title_and_icon() {
    let stack = Stack::start().await;
    let options = PageOptions {
        link: true,
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1001", &options).await;
    let icon = browser
        .wait_for("a[data-ccpa-optout-link] img.ccpa-optout__choices-icon")
        .await;
    assert_eq!(
        icon.attr("alt").await.unwrap().as_deref(),
        Some("California Consumer Privacy Act (CCPA) Opt-Out Icon")
    );
    assert_eq!(
        browser.text("a[data-ccpa-optout-link]").await,
        "Your Privacy Choices"
    );
    let size = browser
        .script(
            "const img = document.querySelector('.ccpa-optout__choices-icon');
             return img.decode().then(() => [img.naturalWidth, img.height,
               parseFloat(getComputedStyle(img.parentElement).fontSize)]);",
        )
        .await;
    let [natural, height, text]: [f64; 3] = serde_json::from_value(size).unwrap();
    assert!(natural > 0.0, "the icon loaded");
    assert!(
        (height - text).abs() < 1.0,
        "about the size of its text: {height} vs {text}"
    );
    browser.wait_for_state("ready").await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}

/// The console check used throughout sees an error a page logs.
#[tokio::test]
async fn the_console_check_sees_an_error_a_page_logs() {
    let stack = Stack::without_proxy().await;
    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/logs-an-error", stack.host_url))
        .await;
    let errors = browser.console_errors().await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("an error this page logs on purpose")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn pictures_for_the_docs_light_dark_two_languages_and_an_error() {
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
    assert!(
        !notice.contains("To allow it anyway"),
        "Ada never chose to allow sale: no invitation to opt back in: {notice}"
    );
    let data_layer = browser.script("return window.dataLayer;").await;
    assert_eq!(
        data_layer.as_array().map(|events| events.len()),
        Some(1),
        "the opt-out the signal made is a change like a click: {data_layer}"
    );
    assert_eq!(data_layer[0]["ccpaOptOut"], json!(true));
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

#[tokio::test]
async fn a_signal_over_the_consumers_own_choice_to_allow_sale_is_told_once() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    // Grace has opted out; she allows sale by her own hand, no signal yet.
    browser.goto(&stack.page_for("CUST-1002")).await;
    browser.wait_until_confirmed(true).await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(false).await;

    browser.enable_gpc().await;
    browser.client.refresh().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let conflict = browser.text("[data-testid=ccpa-optout-gpc-conflict]").await;
    assert!(
        conflict.contains("overrides your earlier choice"),
        "{conflict}"
    );
    let data_layer = browser.script("return window.dataLayer;").await;
    assert_eq!(data_layer[0]["ccpaOptOut"], json!(true), "{data_layer}");
    assert_accessible(&browser, "GPC over her own choice").await;

    browser.client.refresh().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let notice = browser.text("[data-testid=ccpa-optout-gpc]").await;
    assert!(
        !notice.contains("To allow it anyway"),
        "told once: {notice}"
    );
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
        json!([{ "event": "ccpa-optout:change", "ccpaOptOut": true, "pending": false, "scope": "account", "limitSensitive": false }]),
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
    browser.enter_new_frame().await;
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

/// The widget's computed styles, the pointer over its switch (the hostile
/// theme has `:hover` rules for buttons).
async fn widget_styles(browser: &Browser, options: &PageOptions, stack: &Stack) -> Vec<String> {
    // Without motion: a transition the hover starts must not be caught
    // half-way in one measurement and finished in the other.
    browser
        .emulate_media("prefers-reduced-motion", "reduce")
        .await;
    browser.goto(&stack.page_with("CUST-1001", options)).await;
    browser.wait_for_state("ready").await;
    browser.hover(SWITCH).await;
    let hovered = browser
        .script(&format!(
            "return document.querySelector('{SWITCH}').matches(':hover');"
        ))
        .await;
    assert_eq!(hovered, json!(true), "the pointer is over the switch");
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
    // `iframe { display: block !important }` shows no locator frame.
    let locators = browser
        .script(
            "return [...document.querySelectorAll('iframe[name$=Locator]')]
               .map((frame) => [frame.name, frame.getClientRects().length]);",
        )
        .await;
    assert_eq!(
        locators,
        json!([["__uspapiLocator", 0], ["__gppLocator", 0]])
    );
    assert_accessible(&browser, "hostile theme").await;
}

/// Every selector of the widget's stylesheet names the widget, so no rule
/// can reach an element of the host page: its subject (the element it
/// styles) carries a `ccpa-optout` class (the root's, or a
/// `ccpa-optout__` element's, which only the widget renders), or is reached
/// from the root `.ccpa-optout` through descendant and child combinators
/// only (a sibling combinator would step outside).
#[test]
fn every_rule_of_the_stylesheet_is_scoped_to_the_widget() {
    let path = e2e::repo_root().join("frontend/style/ccpa-optout.css");
    let selectors = selectors_of(&std::fs::read_to_string(&path).unwrap());
    assert!(
        selectors.len() > 20,
        "the stylesheet was read: {selectors:?}"
    );
    let unscoped: Vec<_> = selectors.iter().filter(|s| !is_scoped(s)).collect();
    assert!(
        unscoped.is_empty(),
        "rules that could touch the host page: {unscoped:?}"
    );
}

#[test]
fn the_scope_check_tells_escaping_selectors_apart() {
    let scoped = [
        ".ccpa-optout",
        ".ccpa-optout.ccpa-optout *::before",
        "[data-theme=\"dark\"] > .ccpa-optout",
        ".ccpa-optout [hidden]",
        ".ccpa-optout .ccpa-optout__error p",
        ".ccpa-optout__switch[aria-checked=\"true\"]:dir(rtl) .ccpa-optout__thumb",
        ":where([data-ccpa-optout]:not([data-ccpa-mounted], [hidden]))",
    ];
    let escaping = [
        "p",
        "main .x",
        ".ccpa-optout + p",
        ".ccpa-optout ~ div span",
        ".ccpa-optoutx p",
        ":not(.ccpa-optout) p",
        "[class=\"ccpa-optout\"] ~ p",
        "[data-ccpa-optout]",
        "[data-ccpa-optout]:not([data-ccpa-mounted])",
        ":where([data-ccpa-optout])",
        ":where([data-ccpa-optout]:not([data-ccpa-mounted]))::before",
        ":where([data-ccpa-optout]:not([data-ccpa-mounted])) p",
        ":where([data-ccpa-optout]:not([data-ccpa-mounted])) + p",
        "[data-ccpa-optout-link]",
        "main :where([data-ccpa-optout]:not([data-ccpa-mounted]))",
    ];
    for selector in scoped {
        assert!(is_scoped(selector), "{selector} is scoped");
    }
    for selector in escaping {
        assert!(!is_scoped(selector), "{selector} escapes");
    }
}

/// Every selector of every rule in `css`, comments left out and at-rule
/// preludes (`@media …`) skipped.
fn selectors_of(css: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("comments are closed");
        rest = &rest[start + end + 2..];
    }
    text.push_str(rest);
    // A prelude is what stands before `{` since the last `{`, `}` or `;`.
    let mut selectors = Vec::new();
    let mut prelude = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                let trimmed = prelude.trim();
                if !trimmed.starts_with('@') {
                    selectors.extend(split_outside_brackets(trimmed, ','));
                }
                prelude.clear();
            }
            '}' | ';' => prelude.clear(),
            c => prelude.push(c),
        }
    }
    selectors
}

/// `text` split at `separator` where it stands outside `[…]`, `(…)` and quotes.
fn split_outside_brackets(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let (mut depth, mut quote) = (0, None);
    for c in text.chars() {
        match (c, quote) {
            (q @ ('"' | '\''), None) => quote = Some(q),
            (q, Some(open)) if q == open => quote = None,
            ('[' | '(', None) => depth += 1,
            (']' | ')', None) => depth -= 1,
            (c, None) if c == separator && depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().unwrap().push(c);
    }
    parts.into_iter().map(|p| p.trim().to_owned()).collect()
}

/// The compound selectors of `selector`, each with the combinator before
/// it (`' '`, `'>'`, `'+'`, `'~'`; none for the first).
fn compounds(selector: &str) -> Vec<(Option<char>, String)> {
    let mut found: Vec<(Option<char>, String)> = vec![(None, String::new())];
    let (mut depth, mut quote, mut pending) = (0, None, None::<char>);
    for c in selector.chars() {
        let outside = depth == 0 && quote.is_none();
        match c {
            ' ' | '>' | '+' | '~' if outside => {
                // A run of spaces around `>` is one combinator: the symbol.
                if c != ' ' || pending.is_none() {
                    pending = Some(c);
                }
                continue;
            }
            '"' | '\'' if quote.is_none() => quote = Some(c),
            c if Some(c) == quote => quote = None,
            '[' | '(' if quote.is_none() => depth += 1,
            ']' | ')' if quote.is_none() => depth -= 1,
            _ => {}
        }
        if let Some(combinator) = pending.take() {
            found.push((Some(combinator), String::new()));
        }
        found.last_mut().unwrap().1.push(c);
    }
    found
}

/// The classes a compound names itself (not those inside `:not(…)` and
/// the like, nor attribute values).
fn classes(compound: &str) -> Vec<String> {
    let mut classes = Vec::new();
    let (mut depth, mut current) = (0, None::<String>);
    for c in compound.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            _ => {}
        }
        if let Some(name) = current.as_mut() {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                name.push(c);
                continue;
            }
            classes.extend(current.take());
        }
        if c == '.' && depth == 0 {
            current = Some(String::new());
        }
    }
    classes.extend(current);
    classes
}

fn is_scoped(selector: &str) -> bool {
    let compounds = compounds(selector);
    let (_, subject) = compounds.last().expect("a selector has a subject");
    let widget = |class: &String| class == "ccpa-optout" || class.starts_with("ccpa-optout__");
    if classes(subject).iter().any(widget) {
        return true;
    }
    // The host element itself, alone, until the widget is in it, without
    // specificity: the space kept for the widget.
    if compounds.len() == 1
        && subject.starts_with(":where([data-ccpa-optout]:not(")
        && subject.contains("[data-ccpa-mounted]")
        && !subject.contains("::")
    {
        return true;
    }
    // The nearest root to the left, with only descendant or child steps
    // from it to the subject.
    for (index, (_, compound)) in compounds.iter().enumerate().rev().skip(1) {
        let steps_inward = compounds[index + 1..]
            .iter()
            .all(|(combinator, _)| matches!(combinator, Some(' ' | '>')));
        if !steps_inward {
            return false;
        }
        if classes(compound).iter().any(|c| c == "ccpa-optout") {
            return true;
        }
    }
    false
}
