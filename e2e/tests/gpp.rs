//! The IAB Global Privacy Platform, as ad tech reads it: our encoder writes
//! the IAB's test vectors, and the strings the page gives decode, with the
//! `iab_gpp` crate, to the customer's confirmed choice, in the page and from
//! a frame.

use std::str::FromStr;

use e2e::{Browser, open_ready_privacy_page};
use iab_gpp::v1::GPPString;
use serde_json::{Value, json};

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";

/// Runs `body` (which may `await`, and returns a value) in the page.
async fn run(browser: &Browser, body: &str) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{ {body} }})().then(done, (e) => done('failed: ' + e));"
    );
    browser.client.execute_async(&script, vec![]).await.unwrap()
}

/// The decoded sections of `gpp`, as the `iab_gpp` crate reads them.
fn decoded(gpp: &str) -> Value {
    let gpp = GPPString::from_str(gpp).unwrap_or_else(|e| panic!("{gpp}: {e}"));
    let sections: Vec<_> = gpp
        .decode_all_sections()
        .into_iter()
        .map(|section| serde_json::to_value(section.unwrap()).unwrap())
        .collect();
    Value::Array(sections)
}

/// The IAB's test vectors (from the `iab_gpp` crate's tests), written by our
/// encoder from their field values.
#[tokio::test]
async fn the_encoder_writes_the_iab_test_vectors() {
    let (_stack, browser) = open_ready_privacy_page("CUST-1001").await;
    let ones = |n: usize| vec![1; n];
    let vectors = [
        (
            json!({"usca": {"fields": {
                "Version": 1, "SaleOptOutNotice": 1, "SharingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1, "SaleOptOut": 1, "SharingOptOut": 1,
                "SensitiveDataProcessing": ones(9), "KnownChildSensitiveDataConsents": [1, 1],
                "PersonalDataConsents": 1, "MspaCoveredTransaction": 1,
                "MspaOptOutOptionMode": 1, "MspaServiceProviderMode": 2}}}),
            "DBABBg~BVVVVVVY",
        ),
        (
            json!({"usca": {"gpc": true, "fields": {
                "Version": 1, "SaleOptOutNotice": 1, "SharingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1, "SaleOptOut": 2, "SharingOptOut": 2,
                "SensitiveDataProcessing": vec![2; 9], "KnownChildSensitiveDataConsents": [2, 2],
                "PersonalDataConsents": 2, "MspaCoveredTransaction": 1,
                "MspaOptOutOptionMode": 1, "MspaServiceProviderMode": 2}}}),
            "DBABBg~BVqqqqpY.YA",
        ),
        (
            json!({"usnat": {"gpc": true, "fields": {
                "Version": 1, "SharingNotice": 1, "SaleOptOutNotice": 1, "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1, "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1, "SaleOptOut": 1, "SharingOptOut": 1,
                "TargetedAdvertisingOptOut": 1, "SensitiveDataProcessing": ones(12),
                "KnownChildSensitiveDataConsents": [1, 1], "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 1, "MspaOptOutOptionMode": 1,
                "MspaServiceProviderMode": 2}}}),
            "DBABLA~BVVVVVVVVWA.YA",
        ),
    ];
    for (sections, expected) in vectors {
        let written = run(
            &browser,
            &format!(
                "const {{ encode }} = await import('/ccpa-gpp.js'); return encode({sections});"
            ),
        )
        .await;
        assert_eq!(written, json!(expected), "{sections}");
        assert!(!decoded(expected).as_array().unwrap().is_empty());
    }
}

/// `__gpp` in the page: ready once the widget shows the choice, the string
/// decodes to it; a change is heard by listeners and read back; a frame
/// gets the same through `__gppLocator`.
#[tokio::test]
async fn the_page_and_its_frames_read_the_choice_through_gpp() {
    let (_stack, browser) = open_ready_privacy_page("CUST-1001").await;
    let ping = run(
        &browser,
        "window.heard = [];
         __gpp('addEventListener', (event) => window.heard.push(event.eventName));
         return await new Promise((ok) => __gpp('ping', ok));",
    )
    .await;
    assert_eq!(
        (
            &ping["gppVersion"],
            &ping["cmpStatus"],
            &ping["signalStatus"]
        ),
        (&json!("1.1"), &json!("loaded"), &json!("ready"))
    );
    assert_eq!(ping["supportedAPIs"], json!(["8:usca", "7:usnat"]));
    let sections = decoded(ping["gppString"].as_str().unwrap());
    // Sale and sharing in both sections, targeted advertising in usnat,
    // and California's nine sensitive categories (not limited).
    assert_eq!(
        sections.to_string().matches("\"DidNotOptOut\"").count(),
        5 + 9,
        "{sections}"
    );
    assert_eq!(
        sections.to_string().matches("\"gpc\":false").count(),
        2,
        "{sections}"
    );

    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let after = run(
        &browser,
        "const field = await new Promise((ok) => __gpp('getField', ok, 'usca.SaleOptOut'));
         const ping = await new Promise((ok) => __gpp('ping', ok));
         return { field, gpp: ping.gppString, heard: window.heard };",
    )
    .await;
    assert_eq!(after["field"], 1, "usca.SaleOptOut: opted out");
    assert!(
        after["heard"]
            .as_array()
            .unwrap()
            .contains(&json!("sectionChange")),
        "{after}"
    );
    let sections = decoded(after["gpp"].as_str().unwrap());
    assert_eq!(
        sections.to_string().matches("\"OptedOut\"").count(),
        5,
        "{sections}"
    );

    browser.wait_for("iframe[name=__gppLocator][hidden]").await;
    browser.enter_new_frame().await;
    let answer = run(
        &browser,
        "let api = window;
         while (!api.frames.__gppLocator && api !== top) api = api.parent;
         const answer = new Promise((ok) => addEventListener('message', ({ data }) => {
           if (data.__gppReturn && data.__gppReturn.callId === 'ad-1') ok(data.__gppReturn);
         }));
         api.postMessage({ __gppCall: { command: 'ping', version: '1.1', callId: 'ad-1' } }, '*');
         return await answer;",
    )
    .await;
    assert_eq!(answer["success"], true);
    assert_eq!(answer["returnValue"]["gppString"], after["gpp"]);
}

/// The second switch (§ 7015): the limit on the use of sensitive
/// information lands in Campaign's custom field, not in `ccpaOptOut`, and
/// every sensitive category of both sections says it; the host page hears
/// of it, and a reload shows it.
#[tokio::test]
async fn the_limit_on_sensitive_information_reaches_campaign_and_gpp() {
    const LIMIT: &str = "[data-testid=ccpa-optout-sensitive-switch]";
    let (stack, browser) = open_ready_privacy_page("CUST-1001").await;
    let sections = "const usca = await new Promise((ok) => __gpp('getSection', ok, 'usca'));
         const usnat = await new Promise((ok) => __gpp('getSection', ok, 'usnat'));
         const ping = await new Promise((ok) => __gpp('ping', ok));";
    let before = run(
        &browser,
        &format!(
            "window.told = [];
             document.addEventListener('ccpa-optout:change', (e) => window.told.push(e.detail));
             {sections} return {{ usca, usnat }};"
        ),
    )
    .await;
    assert_eq!(before["usca"]["SensitiveDataLimitUseNotice"], 1);
    assert_eq!(before["usca"]["SensitiveDataProcessing"], json!(vec![2; 9]));
    assert_eq!(
        before["usnat"]["SensitiveDataProcessing"],
        json!(vec![0; 12]),
        "usnat's 2 is consent, which nobody gave"
    );

    browser.wait_for(LIMIT).await.click().await.unwrap();
    browser
        .wait_for(&format!("{LIMIT}[aria-checked=true][aria-busy=false]"))
        .await;
    let customer = stack.emulator.profile("CUST-1001").unwrap();
    assert!(customer.cus_limit_sensitive && !customer.ccpa_opt_out);
    assert_eq!(
        browser
            .text("[data-testid=ccpa-optout-status]")
            .await
            .trim(),
        "Your choice has been saved."
    );
    let after = run(
        &browser,
        &format!("{sections} return {{ usca, usnat, gpp: ping.gppString, told: window.told }};"),
    )
    .await;
    assert_eq!(after["usca"]["SensitiveDataProcessing"], json!(vec![1; 9]));
    assert_eq!(
        after["usnat"]["SensitiveDataProcessing"],
        json!(vec![1; 12])
    );
    assert_eq!(after["usca"]["SaleOptOut"], 2, "sale is another choice");
    assert_eq!(
        after["told"],
        json!([{"ccpaOptOut": false, "pending": false, "scope": "account", "limitSensitive": true}])
    );
    let decoded = decoded(after["gpp"].as_str().unwrap()).to_string();
    assert_eq!(decoded.matches("\"NoConsent\"").count(), 12, "{decoded}");
    assert_eq!(decoded.matches("\"OptedOut\"").count(), 9, "{decoded}");
    assert!(!decoded.contains("\"Consent\""), "{decoded}");

    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    browser
        .wait_for(&format!("{LIMIT}[aria-checked=true]"))
        .await;
}
