//! The IAB Global Privacy Platform, as ad tech reads it: the strings the
//! page gives in every state decode, with two decoders nobody here wrote
//! (the `iab_gpp` crate and the IAB's own `@iabgpp/cmpapi`), to the choice
//! shown, and the IAB's encoder writes the very same strings; the CMP API's
//! stub, frames and events are what the specification asks; Prebid.js in a
//! frame of another origin reads what the switch shows.

use std::str::FromStr;

use e2e::readers::iab;
use e2e::{Browser, PageOptions, Stack, open_page, open_ready_privacy_page};
use iab_gpp::v1::GPPString;
use serde_json::{Value, json};

const SWITCH: &str = "[data-testid=ccpa-optout-switch]";
const LIMIT: &str = "[data-testid=ccpa-optout-sensitive-switch]";

/// Runs `body` (which may `await`, and returns a value) in the page.
async fn run(browser: &Browser, body: &str) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{ {body} }})().then(done, (e) => done('failed: ' + e));"
    );
    browser.client.execute_async(&script, vec![]).await.unwrap()
}

/// The page's `__gpp('ping')`.
async fn ping(browser: &Browser) -> Value {
    run(
        browser,
        "return await new Promise((ok) => __gpp('ping', ok));",
    )
    .await
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

/// Checks a page's `ping` against both decoders and the IAB's encoder:
/// the string decodes with `iab_gpp`; the IAB's library decodes it to the
/// `parsedSections` the page gives, field for field; and the IAB's
/// encoder, given those fields, writes the very same string. Returns the
/// `iab_gpp` decoding, for the caller's own checks.
fn read_by_both_decoders(ping: &Value) -> String {
    let gpp = ping["gppString"].as_str().expect("a GPP string");
    let parsed = &ping["parsedSections"];
    let theirs = &iab("decode", &json!([gpp]))[0];
    for (name, fields) in parsed.as_object().expect("parsed sections") {
        for (field, value) in fields.as_object().unwrap() {
            assert_eq!(
                &theirs[name][field], value,
                "{name}.{field} of {gpp}: the IAB's library read {}",
                theirs[name]
            );
        }
    }
    assert_eq!(
        iab("encode", parsed),
        json!(gpp),
        "the IAB's encoder writes the same string"
    );
    decoded(gpp).to_string()
}

/// What our encoder writes for `sections` (`{name: {fields, gpc}}`).
async fn our_encoding(browser: &Browser, sections: &Value) -> Value {
    run(
        browser,
        &format!("const {{ encode }} = await import('/ccpa-gpp.js'); return encode({sections});"),
    )
    .await
}

/// Our encoder against the IAB's, on the IAB's test vectors (the `iab_gpp`
/// crate's: California, and US National version 2) and on the national
/// section fully set: the same string, which both decoders read.
#[tokio::test]
async fn the_encoder_writes_what_the_iabs_encoder_writes() {
    let (_stack, browser) = open_ready_privacy_page("CUST-1001").await;
    let usca = |sale: u8, gpc: Option<bool>| {
        let mut fields = json!({
            "Version": 1, "SaleOptOutNotice": 1, "SharingOptOutNotice": 1,
            "SensitiveDataLimitUseNotice": 1, "SaleOptOut": sale, "SharingOptOut": sale,
            "SensitiveDataProcessing": vec![sale; 9], "KnownChildSensitiveDataConsents": [sale, sale],
            "PersonalDataConsents": sale, "MspaCoveredTransaction": 1,
            "MspaOptOutOptionMode": 1, "MspaServiceProviderMode": 2});
        if let Some(gpc) = gpc {
            fields["Gpc"] = json!(gpc);
        }
        fields
    };
    let usnat = json!({
        "Version": 2, "SharingNotice": 1, "SaleOptOutNotice": 1, "SharingOptOutNotice": 1,
        "TargetedAdvertisingOptOutNotice": 1, "SensitiveDataProcessingOptOutNotice": 1,
        "SensitiveDataLimitUseNotice": 1, "SaleOptOut": 1, "SharingOptOut": 1,
        "TargetedAdvertisingOptOut": 1, "SensitiveDataProcessing": [1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1],
        "KnownChildSensitiveDataConsents": [1, 0, 2], "PersonalDataConsents": 1,
        "MspaCoveredTransaction": 2, "MspaOptOutOptionMode": 0, "MspaServiceProviderMode": 0,
        "Gpc": true});
    // The iab_gpp crate's US National version 2 vector: everything not
    // applicable but consents from 16 to 17 and to other uses refused.
    let usnat_vector = json!({
        "Version": 2, "SensitiveDataProcessing": vec![0; 16],
        "KnownChildSensitiveDataConsents": [0, 0, 1], "PersonalDataConsents": 1,
        "MspaCoveredTransaction": 2, "Gpc": false});
    let cases = [
        (json!({ "usca": usca(1, None) }), Some("DBABBg~BVVVVVVY")),
        (
            json!({ "usca": usca(2, Some(true)) }),
            Some("DBABBg~BVqqqqpY.YA"),
        ),
        (json!({ "usnat": usnat_vector }), None),
        (
            json!({ "usnat": usnat, "usca": usca(1, Some(false)) }),
            None,
        ),
    ];
    for (fields, vector) in cases {
        let as_sections: serde_json::Map<String, Value> = fields
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, fields)| {
                let mut section = json!({ "fields": fields });
                if let Some(gpc) = section["fields"].as_object_mut().unwrap().remove("Gpc") {
                    section["gpc"] = gpc;
                }
                (name.clone(), section)
            })
            .collect();
        let ours = our_encoding(&browser, &Value::Object(as_sections)).await;
        assert_eq!(ours, iab("encode", &fields), "{fields}");
        if let Some(vector) = vector {
            assert_eq!(ours, json!(vector), "the IAB's test vector");
        }
        assert!(
            !decoded(ours.as_str().unwrap())
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    // The crate's own vector reads alike in both decoders.
    let vector = "DBABLA~CAAAAAAAAAWA.Q";
    assert!(decoded(vector).to_string().contains("\"V2\""));
    assert_eq!(iab("decode", &json!([vector]))[0]["usnat"]["Version"], 2);
}

/// Every state a visitor can be in, as the page's `__gpp` gives it: signed
/// in or not, opted out or not, with Global Privacy Control, with the limit
/// on sensitive information on and off, and with the national section
/// alone (the default) or both sections. Each string is read alike by both
/// decoders and written alike by the IAB's encoder; its fields say the
/// switch's choice. The states' strings are printed.
#[tokio::test]
async fn every_state_of_the_page_reads_as_its_choice_in_both_decoders() {
    let stack = Stack::start().await;
    let mut states = Vec::new();

    // Signed in, the limit offered: the national section, version 2.
    let browser = open_page(&stack, "CUST-1001", &PageOptions::default()).await;
    browser.wait_for_state("ready").await;
    let allowed = ping(&browser).await;
    assert_eq!(allowed["applicableSections"], json!([7]));
    assert_eq!(allowed["supportedAPIs"], json!(["7:usnat"]));
    assert_eq!(allowed["parsedSections"]["usnat"]["Version"], 2);
    assert!(allowed["parsedSections"].get("usnatv1").is_none());
    let read = read_by_both_decoders(&allowed);
    assert_eq!(read.matches("\"DidNotOptOut\"").count(), 3, "{read}");
    states.push(("signed in, allowing sale, not limited", allowed));

    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    let opted_out = ping(&browser).await;
    let read = read_by_both_decoders(&opted_out);
    assert_eq!(read.matches("\"OptedOut\"").count(), 3, "{read}");
    states.push(("signed in, opted out, not limited", opted_out));

    browser.wait_for(LIMIT).await.click().await.unwrap();
    browser
        .wait_for(&format!("{LIMIT}[aria-checked=true][aria-busy=false]"))
        .await;
    let limited = ping(&browser).await;
    assert_eq!(
        limited["parsedSections"]["usnat"]["SensitiveDataProcessing"],
        json!(vec![1; 16])
    );
    let read = read_by_both_decoders(&limited);
    assert_eq!(read.matches("\"NoConsent\"").count(), 16, "{read}");
    states.push(("signed in, opted out, limited", limited));

    // Both sections, as a site that applies California's too.
    let both = PageOptions {
        gpp_sections: Some("usnat,usca".into()),
        ..PageOptions::default()
    };
    browser.goto(&stack.page_with("CUST-1001", &both)).await;
    browser.wait_for_state("ready").await;
    let both_sections = ping(&browser).await;
    assert_eq!(both_sections["applicableSections"], json!([7, 8]));
    assert_eq!(both_sections["parsedSections"]["usca"]["SaleOptOut"], 1);
    read_by_both_decoders(&both_sections);
    states.push((
        "signed in, opted out, limited, usnat and usca",
        both_sections,
    ));

    // Signed out: this browser's own choice.
    let anonymous = open_page(&stack, "anonymous", &PageOptions::default()).await;
    anonymous.wait_for_state("ready").await;
    let browser_allows = ping(&anonymous).await;
    assert_eq!(browser_allows["parsedSections"]["usnat"]["SaleOptOut"], 2);
    read_by_both_decoders(&browser_allows);
    states.push(("signed out, allowing sale", browser_allows));
    anonymous.wait_for(SWITCH).await.click().await.unwrap();
    anonymous.wait_until_confirmed(true).await;
    let browser_opted_out = ping(&anonymous).await;
    assert_eq!(
        browser_opted_out["parsedSections"]["usnat"]["SaleOptOut"],
        1
    );
    read_by_both_decoders(&browser_opted_out);
    states.push(("signed out, opted out", browser_opted_out));

    // Global Privacy Control: opted out, and said so in the sub-section.
    let signal = Browser::start().await;
    signal.enable_gpc().await;
    signal
        .goto(&stack.page_with("anonymous", &PageOptions::default()))
        .await;
    signal.wait_for_state("ready").await;
    let under_gpc = ping(&signal).await;
    assert_eq!(
        (
            &under_gpc["parsedSections"]["usnat"]["SaleOptOut"],
            &under_gpc["parsedSections"]["usnat"]["Gpc"]
        ),
        (&json!(1), &json!(true))
    );
    let read = read_by_both_decoders(&under_gpc);
    assert!(read.contains("\"gpc\":true"), "{read}");
    states.push(("signed out, Global Privacy Control", under_gpc));

    for (state, ping) in states {
        eprintln!("gpp: {state}: {}", ping["gppString"].as_str().unwrap());
    }
}

/// The second switch (§ 7015): the limit on the use of sensitive
/// information lands in Campaign's custom field, not in `ccpaOptOut`, and
/// every sensitive category of both sections says it; the host page hears
/// of it, and a reload shows it.
#[tokio::test]
async fn the_limit_on_sensitive_information_reaches_campaign_and_gpp() {
    let stack = Stack::start().await;
    let both = PageOptions {
        gpp_sections: Some("usnat,usca".into()),
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1001", &both).await;
    browser.wait_for_state("ready").await;
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
        json!(vec![0; 16]),
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
        json!(vec![1; 16])
    );
    assert_eq!(after["usca"]["SaleOptOut"], 2, "sale is another choice");
    assert_eq!(
        after["told"],
        json!([{"ccpaOptOut": false, "pending": false, "scope": "account", "limitSensitive": true}])
    );
    let decoded = decoded(after["gpp"].as_str().unwrap()).to_string();
    assert_eq!(decoded.matches("\"NoConsent\"").count(), 16, "{decoded}");
    assert_eq!(decoded.matches("\"OptedOut\"").count(), 9, "{decoded}");
    assert!(!decoded.contains("\"Consent\""), "{decoded}");

    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    browser
        .wait_for(&format!("{LIMIT}[aria-checked=true]"))
        .await;
}

/// Events as the CMP API 1.1 describes them, counted: a listener is told
/// it is registered; a flip is "not ready", one `sectionChange` per
/// section, "ready"; an attribute change that changes no signal, nothing;
/// a listener added before the API has loaded hears `cmpStatus` "loaded"
/// and the first "ready" once; a removed listener is gone.
#[tokio::test]
async fn events_follow_the_cmp_api() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    // A tag on a page whose API is seconds away: it finds the stub.
    browser
        .on_every_page(
            "window.heard = [];
             document.addEventListener('DOMContentLoaded', () =>
               __gpp('addEventListener', (e) => window.heard.push([e.eventName, e.data])));",
        )
        .await;
    let both = PageOptions {
        gpp_sections: Some("usca,usnat".into()),
        slow_wasm: true,
        ..PageOptions::default()
    };
    browser.goto(&stack.page_with("CUST-1001", &both)).await;
    browser.wait_for_state("ready").await;
    eventually_heard(&browser, "signalStatus").await;
    assert_eq!(
        heard(&browser).await,
        json!([
            ["listenerRegistered", true],
            ["cmpStatus", "loaded"],
            ["sectionChange", "usnat"],
            ["sectionChange", "usca"],
            ["signalStatus", "ready"],
        ]),
        "a listener from before the API loaded"
    );

    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_until_confirmed(true).await;
    assert_eq!(
        heard(&browser).await,
        json!([
            ["signalStatus", "not ready"],
            ["sectionChange", "usnat"],
            ["sectionChange", "usca"],
            ["signalStatus", "ready"],
        ]),
        "a flip"
    );

    browser
        .script("document.querySelector('[data-ccpa-optout]').setAttribute('data-theme', 'dark');")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(heard(&browser).await, json!([]), "no signal changed");

    let removed = run(
        &browser,
        "const id = await new Promise((ok) => __gpp('addEventListener', (e) => ok(e.listenerId)));
         const removed = await new Promise((ok) => __gpp('removeEventListener', ok, id));
         const again = await new Promise((ok) => __gpp('removeEventListener', ok, id));
         return [removed, again];",
    )
    .await;
    assert_eq!(removed, json!([true, false]));

    browser.client.refresh().await.unwrap();
    browser.wait_for_state("ready").await;
    eventually_heard(&browser, "signalStatus").await;
    let reloaded = heard(&browser).await;
    let count = |name: &str| {
        reloaded
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e[0] == name)
            .count()
    };
    assert_eq!(
        (
            count("listenerRegistered"),
            count("cmpStatus"),
            count("sectionChange"),
            count("signalStatus")
        ),
        (1, 1, 2, 1),
        "a reload: {reloaded}"
    );
}

/// The events the page's listener heard since last asked.
async fn heard(browser: &Browser) -> Value {
    browser.script("return window.heard.splice(0)").await
}

/// Waits until the page's listener has heard an event named `name`.
async fn eventually_heard(browser: &Browser, name: &str) {
    let found = run(
        browser,
        &format!(
            "for (let i = 0; i < 200; i++) {{
               if (window.heard.some(([event]) => event === '{name}')) return true;
               await new Promise((ok) => setTimeout(ok, 50));
             }}
             return false;"
        ),
    )
    .await;
    assert_eq!(found, json!(true), "never heard {name}");
}

/// The stub from the first moment: on a page whose wasm is seconds late,
/// `__gpp` and `__uspapi` and both locator frames are there when the page
/// has been parsed, `ping` says "not ready", and the frames went in before
/// any of the widget's answers (the API's own file, the wasm, the tokens)
/// came; the deprecated `__uspapi` can be turned off.
#[tokio::test]
async fn the_stub_and_its_frames_come_before_the_widget() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser
        .on_every_page(
            "const append = Element.prototype.append;
             window.answeredAtFrames = {};
             Element.prototype.append = function (...nodes) {
               for (const node of nodes)
                 if (node?.name)
                   window.answeredAtFrames[node.name] =
                     performance.getEntriesByType('resource').map((r) => new URL(r.name).pathname);
               return append.apply(this, nodes);
             };
             document.addEventListener('DOMContentLoaded', () => {
               window.atParse = {
                 gpp: typeof __gpp, uspapi: typeof __uspapi,
                 frames: [!!frames.__gppLocator, !!frames.__uspapiLocator],
                 widget: document.querySelector('[data-testid=ccpa-optout]')?.dataset.state ?? null,
               };
               __gpp('ping', (ping) => (window.atParse.ping = [ping.cmpStatus, ping.signalStatus]));
             });",
        )
        .await;
    let slow = PageOptions {
        slow_wasm: true,
        ..PageOptions::default()
    };
    browser.goto(&stack.page_with("CUST-1001", &slow)).await;
    let at_parse = browser.script("return window.atParse").await;
    assert_eq!(
        at_parse,
        json!({"gpp": "function", "uspapi": "function", "frames": [true, true],
               "widget": null, "ping": ["stub", "not ready"]})
    );
    let waiting = browser.accessibility_violations_in("html").await;
    assert!(
        waiting.is_empty(),
        "the page, frames in, widget not: {waiting:?}"
    );
    browser.wait_for_state("ready").await;
    let ready = browser.accessibility_violations_in("html").await;
    assert!(ready.is_empty(), "the page, widget ready: {ready:?}");
    // A resource is listed once its answer is in: at the frames, the
    // page's own files alone.
    let answered = browser.script("return window.answeredAtFrames").await;
    for frame in ["__gppLocator", "__uspapiLocator"] {
        let paths = answered[frame].as_array().expect("the frame was made");
        assert!(
            paths.contains(&json!("/slow/ccpa-optout.js"))
                && paths.iter().all(|path| {
                    let path = path.as_str().unwrap();
                    !["ccpa-gpp", "ccpa-widget", "/token", "/api/"]
                        .iter()
                        .any(|request| path.contains(request))
                }),
            "{frame} was in before any of the widget's answers: {paths:?}"
        );
    }

    let without = PageOptions {
        uspapi_off: true,
        ..PageOptions::default()
    };
    browser.goto(&stack.page_with("CUST-1001", &without)).await;
    browser.wait_for_state("ready").await;
    let apis = browser
        .script(
            "return [typeof __uspapi, !!frames.__uspapiLocator, typeof __gpp, !!frames.__gppLocator]",
        )
        .await;
    assert_eq!(apis, json!(["undefined", false, "function", true]));
}

/// Prebid.js, in an ad frame of another origin that loads while the wasm is
/// still seconds away, reads the page's GPP and US Privacy through the
/// locator frames and gives its bidders the switch's choice: before and
/// after a flip, signed in and signed out, on an emulated Fast 4G link.
#[tokio::test]
async fn prebid_in_a_cross_origin_frame_reads_the_switchs_choice() {
    let stack = Stack::start().await;
    for customer in ["CUST-1001", "anonymous"] {
        let options = PageOptions {
            slow_wasm: true,
            ad_frame: true,
            ..PageOptions::default()
        };
        let browser = Browser::start().await;
        browser.emulate_fast_4g().await;
        browser.goto(&stack.page_with(customer, &options)).await;
        let first = in_ad_frame(&browser, "return await firstPing;").await;
        assert_eq!(
            first["signalStatus"], "not ready",
            "{customer}: the frame came before the widget"
        );
        let before = in_ad_frame(&browser, "return await auction();").await;
        browser.wait_for_state("ready").await;
        let page = ping(&browser).await;
        assert_eq!(before["gpp"]["gppString"], page["gppString"], "{customer}");
        assert_eq!(before["gpp"]["applicableSections"], json!([7]));
        assert_eq!(before["gpp"]["parsedSections"]["usnat"]["SaleOptOut"], 2);
        assert_eq!(before["usp"], "1YNN");

        browser.wait_for(SWITCH).await.click().await.unwrap();
        browser.wait_until_confirmed(true).await;
        // The page's events reach the frame by message: an auction soon after.
        let after = in_ad_frame(
            &browser,
            "for (let i = 0; i < 100; i++) {
               const given = await auction();
               if (given?.gpp?.parsedSections?.usnat?.SaleOptOut === 1) return given;
               await new Promise((ok) => setTimeout(ok, 50));
             }
             return await auction();",
        )
        .await;
        assert_eq!(
            after["gpp"]["parsedSections"]["usnat"]["SaleOptOut"], 1,
            "{customer}"
        );
        assert_eq!(after["gpp"]["gppString"], ping(&browser).await["gppString"]);
        assert_eq!(after["usp"], "1YYN", "{customer}");
    }
}

/// Runs `body` in the page's ad frame and comes back to the page.
async fn in_ad_frame(browser: &Browser, body: &str) -> Value {
    let frame = browser.wait_for("iframe[title=Advertisement]").await;
    frame.enter_frame().await.unwrap();
    let answer = run(browser, body).await;
    browser.client.enter_parent_frame().await.unwrap();
    answer
}
