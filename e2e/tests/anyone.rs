//! Every visitor can opt out, in the browser: without an account (this
//! browser's choice, or by email), signed in though Campaign has no profile
//! yet, and signed out first, then signed in.

use e2e::{Browser, PageOptions, Stack, open_page};
use serde_json::{Value, json};

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";
const SCOPE: &str = "[data-testid=ccpa-optout-scope]";

fn with_email_form() -> PageOptions {
    PageOptions {
        email_form: true,
        ..PageOptions::default()
    }
}

async fn checked(browser: &Browser) -> String {
    browser
        .wait_for(SWITCH)
        .await
        .attr("aria-checked")
        .await
        .unwrap()
        .unwrap()
}

/// Signed out: the switch, not an error; on survives a reload (the proxy's
/// cookie), off again as easily; the page hears each change, scoped to the
/// browser, and Campaign hears nothing.
#[tokio::test]
async fn signed_out_a_visitor_opts_this_browser_out_and_it_sticks() {
    let stack = Stack::start().await;
    let browser = open_page(&stack, "anonymous", &with_email_form()).await;
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "false");
    assert!(browser.text(SCOPE).await.contains("this browser only"));

    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let events = browser.script("return window.dataLayer;").await;
    assert_eq!(
        events,
        json!([{ "event": "ccpa-optout:change", "ccpaOptOut": true, "pending": false, "scope": "browser" }])
    );
    let usp = browser
        .script("let a; window.__uspapi('getUSPData', 1, (d) => { a = d.uspString; }); return a;")
        .await;
    assert_eq!(usp, json!("1YYN"));

    // The proxy's cookie alone keeps it: not the page's storage.
    browser.script("localStorage.clear(); return true;").await;
    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "true", "kept across a reload");
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(false).await;
    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "false", "and off again");
    assert_eq!(
        stack.emulator.stats().campaign_requests,
        0,
        "nothing sent anywhere"
    );
}

/// A page without the widget (the loader there for the link and the tags)
/// tells the page's tags what the proxy's cookie says, storage cleared.
#[tokio::test]
async fn a_page_without_the_widget_tells_tags_the_browsers_choice() {
    let stack = Stack::start().await;
    let browser = open_page(&stack, "anonymous", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    browser.script("localStorage.clear(); return true;").await;

    let elsewhere = PageOptions {
        widgets: Some(0),
        link: true,
        ..PageOptions::default()
    };
    browser
        .goto(&stack.page_with("anonymous", &elsewhere))
        .await;
    let heard = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const ask = () => __gpp('ping', (ping) => {
               if (ping.signalStatus !== 'ready') return setTimeout(ask, 50);
               __gpp('getField', (field) => __uspapi('getUSPData', 1, (usp) =>
                 done([field, usp.uspString])), 'usnat.SaleOptOut');
             });
             ask();",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(heard, json!([1, "1YYN"]));
}

/// The requests a page made whose URL ends in `path`.
async fn requests_to(browser: &Browser, path: &str) -> usize {
    let count = browser
        .script(&format!(
            "return performance.getEntriesByType('resource').filter((e) => e.name.endsWith('{path}')).length;"
        ))
        .await;
    usize::try_from(count.as_u64().expect("a count")).expect("a small count")
}

/// Waits until the page's tags have been told this browser's choice (the
/// loader has heard from the proxy).
async fn tags_told(browser: &Browser) {
    browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const ask = () => __gpp('ping', (ping) =>
               ping.signalStatus === 'ready' ? done(true) : setTimeout(ask, 50));
             ask();",
            vec![],
        )
        .await
        .unwrap();
}

/// GPC is to be honoured wherever the site receives it: the loader alone,
/// on a page without the widget, tells the proxy for a signed-in customer,
/// once a session, and downloads no wasm.
#[tokio::test]
async fn gpc_on_any_page_opts_the_signed_in_customer_out_once_a_session() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser.enable_gpc().await;
    let elsewhere = PageOptions {
        widgets: Some(0),
        link: true,
        ..PageOptions::default()
    };
    for page in 1..=2 {
        browser
            .goto(&stack.page_with("CUST-1001", &elsewhere))
            .await;
        tags_told(&browser).await;
        let told = tokio::time::timeout(e2e::PATIENCE, async {
            while !stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(told.is_ok(), "Ada ends opted out");
        // Anything sent would be in by now, the answers of the first page
        // took as long.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(
            requests_to(&browser, "/api/v1/opt-out").await,
            usize::from(page == 1),
            "page {page}: one read with the signal a session"
        );
        assert_eq!(requests_to(&browser, ".wasm").await, 0, "no wasm");
    }
    assert_eq!(stack.emulator.opt_out_history("CUST-1001"), [true]);
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}

/// The form answers a known, an unknown and an ambiguous address alike;
/// Campaign then has each opted out (the unknown one created so).
#[tokio::test]
async fn the_email_form_answers_every_address_alike_and_opts_it_out() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    let mut said = Vec::new();
    for email in [
        "grace@example.com",
        "someone.new@example.com",
        "twin@example.com",
    ] {
        browser
            .goto(&stack.page_with("anonymous", &with_email_form()))
            .await;
        browser.wait_for_state("ready").await;
        said.push(browser.opt_out_by_email(email).await);
    }
    assert_eq!(said[0].0, "sent", "{said:?}");
    assert!(said[0].1.starts_with("Thank you."), "{said:?}");
    assert!(said.iter().all(|s| *s == said[0]), "alike: {said:?}");

    let all_opted_out = |email: &str| {
        let profiles = stack.emulator.profiles();
        let matching: Vec<_> = profiles.iter().filter(|p| p.email == email).collect();
        !matching.is_empty() && matching.iter().all(|p| p.ccpa_opt_out)
    };
    for _ in 0..150 {
        if [
            "grace@example.com",
            "someone.new@example.com",
            "twin@example.com",
        ]
        .iter()
        .all(|e| all_opted_out(e))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for email in [
        "grace@example.com",
        "someone.new@example.com",
        "twin@example.com",
    ] {
        assert!(all_opted_out(email), "{email}");
    }
}

/// Signed in but unknown to Campaign: the switch, and turning it on
/// creates the profile, flagged.
#[tokio::test]
async fn a_customer_campaign_does_not_know_opts_out_with_the_switch() {
    let stack = Stack::start().await;
    let browser = open_page(&stack, "CUST-4040", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "false");
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    assert!(stack.emulator.profile("CUST-4040").unwrap().ccpa_opt_out);
}

/// Opted out while signed out, then signed in: the account is opted out
/// too, and the page says so.
#[tokio::test]
async fn a_browser_opted_out_before_sign_in_opts_the_account_out() {
    let stack = Stack::start().await;
    let browser = open_page(&stack, "anonymous", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;

    browser.goto(&stack.page_for("CUST-1001")).await;
    browser.wait_for_state("ready").await;
    assert_eq!(checked(&browser).await, "true");
    assert!(browser.text(SCOPE).await.contains("saved to your account"));
    assert!(stack.emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
    let data: Value = browser
        .script("return localStorage.getItem('ccpa-optout:browser');")
        .await;
    assert_eq!(data, json!("applied"), "applied to the account, once");
}
