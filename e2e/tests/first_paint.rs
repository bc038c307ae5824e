//! The loader's first paint: the switch drawn from the loader's own read
//! while the wasm is still on its way. It is the widget's view,
//! element for element, in every state it draws and every language; axe
//! finds nothing in either; the widget takes its place without a layout
//! shift; a click on it before the widget is there is honoured, and focus
//! follows; under Global Privacy Control there is none.

use e2e::{Browser, PageOptions, Stack, WATCH_LAYOUT_SHIFTS, WIDGET};
use serde_json::{Value, json};

const EARLY: &str = "[data-ccpa-early]";

/// A page whose wasm is held back 2.5 s, in `lang`.
fn slow_page(lang: &str) -> PageOptions {
    PageOptions {
        slow_wasm: true,
        lang: Some(lang.into()),
        ..PageOptions::default()
    }
}

/// What a screen and a screen reader get of the element `selector` finds:
/// its elements, their attributes (sorted; ids made alike; the paint's own
/// mark and test ids left out) and their texts, comments and blank text
/// aside.
async fn shape(browser: &Browser, selector: &str) -> Value {
    browser
        .script(&format!(
            "const shape = (node) => {{
               const attributes = [...node.attributes]
                 .filter((a) => a.name !== 'data-ccpa-early')
                 .map((a) => [a.name, a.value
                   .replace(/ccpa-optout-(early)?\\d+-/g, 'ccpa-optout-N-')
                   .replace(/^ccpa-optout-early(-status)?$/, 'ccpa-optout$1')])
                 .sort();
               const children = [];
               for (const child of node.childNodes) {{
                 if (child.nodeType === Node.ELEMENT_NODE) children.push(shape(child));
                 else if (child.nodeType === Node.TEXT_NODE && child.textContent.trim()) {{
                   if (typeof children.at(-1) === 'string') children[children.length - 1] += child.textContent;
                   else children.push(child.textContent);
                 }}
               }}
               return [node.tagName.toLowerCase(), attributes, children];
             }};
             return shape(document.querySelector('{selector}'));"
        ))
        .await
}

/// Every settled state the paint draws (a signed-in customer's choice:
/// allowing or opted out, the use of sensitive information limited or
/// not), in every language (and a Traditional Chinese reader, who gets
/// English from both), at a heading level of the page's: the paint and
/// the widget that takes its place are the same, and axe-clean.
#[tokio::test]
async fn the_first_paint_is_the_widgets_view_in_every_state_and_language() {
    let stack = Stack::start().await;
    let cases = [
        ("PAINT-ALLOW", false, false, "en"),
        ("PAINT-OUT", true, false, "es"),
        ("PAINT-OUT-LIMITED", true, true, "de"),
        ("PAINT-LIMITED", false, true, "zh"),
        ("PAINT-TW", false, false, "zh-TW"),
    ];
    for (customer, opted_out, limited, lang) in cases {
        stack
            .emulator
            .add_customer_choosing(customer, opted_out, limited);
        let mut options = slow_page(lang);
        options.heading_level = (lang == "de").then_some(3);
        let browser = e2e::open_page(&stack, customer, &options).await;
        let case = format!("{customer} in {lang}");
        browser
            .wait_for(&format!("{EARLY}[data-state=ready]"))
            .await;
        let painted = shape(&browser, EARLY).await;
        let widget_there = browser
            .script(&format!("return !!document.querySelector('{WIDGET}')"))
            .await;
        assert_eq!(widget_there, false, "{case}: painted before the wasm");
        let violations = browser.accessibility_violations_in(EARLY).await;
        assert!(violations.is_empty(), "{case}, the paint: {violations:?}");

        browser
            .wait_for(&format!("{WIDGET}[data-state=ready]"))
            .await;
        let gone = browser
            .script(&format!("return !document.querySelector('{EARLY}')"))
            .await;
        assert_eq!(gone, true, "{case}: the paint gave the widget its place");
        assert_eq!(shape(&browser, WIDGET).await, painted, "{case}");
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{case}, the widget: {violations:?}");
    }
}

/// The painted switch pressed from the keyboard, then clicked, before the
/// wasm has arrived: the switch says it is busy and the status that the
/// change is on its way; the widget makes the one change once it is there
/// (Campaign has it), focus is on the widget's switch, and nothing moved
/// on the page.
#[tokio::test]
async fn a_click_on_the_first_paint_is_honoured_by_the_widget() {
    let stack = Stack::start().await;
    stack
        .emulator
        .add_customer_choosing("PAINT-CLICK", false, false);
    let browser = Browser::start().await;
    browser.on_every_page(WATCH_LAYOUT_SHIFTS).await;
    browser
        .goto(&stack.page_with("PAINT-CLICK", &slow_page("en")))
        .await;
    let switch = browser
        .wait_for(&format!("{EARLY} [data-testid=ccpa-optout-switch]"))
        .await;
    switch.send_keys(" ").await.unwrap();
    switch.click().await.unwrap();
    assert_eq!(
        switch.attr("aria-busy").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        browser.text("[data-testid=ccpa-optout-early-status]").await,
        "Saving your choice…"
    );
    browser
        .wait_for(&format!(
            "{WIDGET} [data-testid=ccpa-optout-switch][aria-checked=true][aria-busy=false]"
        ))
        .await;
    assert!(stack.emulator.profile("PAINT-CLICK").unwrap().ccpa_opt_out);
    let after = browser
        .script(
            "return [document.activeElement.dataset.testid,
                     !!document.activeElement.closest('[data-ccpa-early]'),
                     window.__ccpaShift];",
        )
        .await;
    assert_eq!(after, json!(["ccpa-optout-switch", false, 0]));
}

/// Under Global Privacy Control the widget works out a notice the paint
/// cannot: no paint, the widget alone.
#[tokio::test]
async fn no_first_paint_under_global_privacy_control() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser.enable_gpc().await;
    browser
        .on_every_page(
            "window.painted = false;
             new MutationObserver(() => {
               window.painted ||= !!document.querySelector('[data-ccpa-early]');
             }).observe(document, { childList: true, subtree: true });",
        )
        .await;
    browser
        .goto(&stack.page_with("CUST-1003", &slow_page("en")))
        .await;
    browser
        .wait_for(&format!("{WIDGET}[data-state=ready]"))
        .await;
    assert_eq!(browser.script("return window.painted").await, false);
}
