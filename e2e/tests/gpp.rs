//! The IAB Global Privacy Platform, as ad tech reads it: the strings the
//! page gives in every state decode, with two decoders nobody here wrote
//! (the `iab_gpp` crate and the IAB's own `@iabgpp/cmpapi`), to the choice
//! shown, and the IAB's encoder writes the very same strings; the CMP API's
//! stub, frames and events are what the specification asks; Prebid.js in a
//! frame of another origin reads what the switch shows.

use std::str::FromStr;

use campaign_emulator::faults::{Fault, FaultKind};
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

/// A page whose wasm and `ccpa-gpp.js` are held back 2.5 s.
fn slow_page() -> PageOptions {
    PageOptions {
        slow_wasm: true,
        ..PageOptions::default()
    }
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
/// very `parsedSections` the page gives, every field (readers such as
/// Prebid's activity controls read fields we leave at 0); and the IAB's
/// encoder, given those fields, writes the very same string. Returns the
/// `iab_gpp` decoding, for the caller's own checks.
fn read_by_both_decoders(ping: &Value) -> String {
    let gpp = ping["gppString"].as_str().expect("a GPP string");
    let parsed = &ping["parsedSections"];
    let theirs = &iab("decode", &json!([gpp]))[0];
    assert_eq!(
        theirs, parsed,
        "{gpp}: the IAB's library reads the page's sections"
    );
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
/// section, "ready"; a save that fails, "not ready" and "ready" alone;
/// changes of the attributes the loader watches that change no signal,
/// nothing; a listener added before the API has loaded hears `cmpStatus`
/// "loaded" and the first "ready" once; a removed listener is gone.
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

    // The second switch, its save held up at Campaign: not ready meanwhile.
    stack
        .emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 1500 }, 1));
    browser.wait_for(LIMIT).await.click().await.unwrap();
    browser.wait_for(&format!("{LIMIT}[aria-busy=true]")).await;
    assert_eq!(ping(&browser).await["signalStatus"], "not ready");
    browser
        .wait_for(&format!("{LIMIT}[aria-checked=true][aria-busy=false]"))
        .await;
    assert_eq!(
        heard(&browser).await,
        json!([
            ["signalStatus", "not ready"],
            ["sectionChange", "usnat"],
            ["sectionChange", "usca"],
            ["signalStatus", "ready"],
        ]),
        "the limit"
    );

    browser
        .script(
            "const widget = document.querySelector('.ccpa-optout');
             for (const name of ['data-state', 'data-ccpa-opt-out', 'data-ccpa-limit-sensitive'])
               widget.setAttribute(name, widget.getAttribute(name));
             document.body.setAttribute('aria-busy', 'false');
             document.documentElement.dataset.theme = 'dark';",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(heard(&browser).await, json!([]), "no signal changed");

    stack.stop_proxy().await;
    browser.wait_for(SWITCH).await.click().await.unwrap();
    browser.wait_for_state("error").await;
    eventually_heard(&browser, "signalStatus").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        heard(&browser).await,
        json!([["signalStatus", "not ready"], ["signalStatus", "ready"]]),
        "a failed save: nothing moved"
    );
    stack.start_proxy().await;

    let removed = run(
        &browser,
        "const id = await new Promise((ok) => __gpp('addEventListener', (e) => ok(e.listenerId)));
         const removed = await new Promise((ok) => __gpp('removeEventListener', ok, id));
         const again = await new Promise((ok) => __gpp('removeEventListener', ok, id));
         return [removed, again].map((e) => [e.eventName, e.listenerId === id, e.data]);",
    )
    .await;
    assert_eq!(
        removed,
        json!([
            ["listenerRemoved", true, true],
            ["listenerRemoved", true, false]
        ])
    );

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
    let slow = slow_page();
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

    // Names as people write them: any case, spaces or commas; an unknown
    // one is ignored.
    let loosely = PageOptions {
        gpp_sections: Some(" USCA  usnat, bogus".into()),
        ..PageOptions::default()
    };
    browser.goto(&stack.page_with("CUST-1001", &loosely)).await;
    browser.wait_for_state("ready").await;
    assert_eq!(ping(&browser).await["applicableSections"], json!([7, 8]));
}

/// Prebid.js, in an ad frame of another origin that loads while the wasm is
/// still seconds away, on an emulated phone (its CPU four times slower,
/// 150 ms round trips, 1.6 Mbit/s), reads the page's GPP and US Privacy
/// through the locator frames and gives its bidders the switch's choice,
/// and its activity controls (`gppControl_usnat`, `gppControl_usstates`)
/// withhold the user's first-party data from them once they opted out:
/// before and after a flip, signed in and signed out, under US National
/// and under California's section, and for a customer who opted out
/// elsewhere, whose first auction, before the wasm, already says so.
#[tokio::test]
async fn prebid_in_a_cross_origin_frame_reads_the_switchs_choice() {
    let stack = Stack::start().await;
    let cases = [
        ("CUST-1001", "usnat", 7, false),
        ("anonymous", "usnat", 7, false),
        // The first case opted this customer out.
        ("CUST-1001", "usca", 8, true),
        ("CUST-1002", "usnat", 7, true),
    ];
    for (customer, section, id, opted_out) in cases {
        let options = PageOptions {
            slow_wasm: true,
            ad_frame: true,
            gpp_sections: Some(section.into()),
            ..PageOptions::default()
        };
        let browser = Browser::start().await;
        browser.emulate(e2e::Profile::PHONE).await;
        browser.goto(&stack.page_with(customer, &options)).await;
        let case = format!("{customer}, {section}");
        let first = in_ad_frame(&browser, "return await firstPing;").await;
        assert_eq!(
            first["cmpStatus"], "stub",
            "{case}: the frame came first: {first}"
        );
        let given = |given: &Value, opted_out: bool| {
            assert_eq!(given["gpp"]["applicableSections"], json!([id]), "{case}");
            let sale = if opted_out { 1 } else { 2 };
            assert_eq!(
                given["gpp"]["parsedSections"][section]["SaleOptOut"], sale,
                "{case}"
            );
            assert_eq!(
                given["usp"],
                if opted_out { "1YYN" } else { "1YNN" },
                "{case}"
            );
            // Where California's section says the customer did not limit
            // the use of sensitive information (its 2: "did not opt
            // out"), Prebid reads those categories as in scope and
            // withholds the user's data too.
            let withheld = opted_out || section == "usca";
            let user_data = if withheld {
                Value::Null
            } else {
                json!("first-party")
            };
            assert_eq!(given["userData"], user_data, "{case}: {given}");
        };
        let before = in_ad_frame(&browser, "return await auction();").await;
        given(&before, opted_out);
        browser.wait_for_state("ready").await;
        assert_eq!(
            before["gpp"]["gppString"],
            ping(&browser).await["gppString"],
            "{case}"
        );

        browser.wait_for(SWITCH).await.click().await.unwrap();
        browser.wait_until_confirmed(!opted_out).await;
        // The page's events reach the frame by message: an auction soon after.
        let sale = if opted_out { 2 } else { 1 };
        let after = in_ad_frame(
            &browser,
            &format!(
                "for (let i = 0; i < 100; i++) {{
                   const given = await auction();
                   if (given?.gpp?.parsedSections?.{section}?.SaleOptOut === {sale}) return given;
                   await new Promise((ok) => setTimeout(ok, 50));
                 }}
                 return await auction();"
            ),
        )
        .await;
        given(&after, !opted_out);
        assert_eq!(after["gpp"]["gppString"], ping(&browser).await["gppString"]);
    }
}

/// Nothing is said that the loader does not know: a customer who opted out
/// elsewhere (stored nowhere in this browser) is told opted out by
/// `__uspapi` from before the wasm has arrived (its answer waits for the
/// loader's own read, never "N" first), and `__gpp` is "ready" with it as
/// soon as that read is in.
#[tokio::test]
async fn the_apis_say_nothing_they_do_not_know() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;
    browser
        .on_every_page(
            "document.addEventListener('DOMContentLoaded', () => {
               window.early = [];
               __uspapi('getUSPData', 1, (usp) => window.early.push(['usp', usp.uspString,
                 document.querySelector('.ccpa-optout:not([data-ccpa-early])[data-ccpa-opt-out]') !== null]));
               __gpp('addEventListener', (event) => event.eventName === 'signalStatus' &&
                 window.early.push(['gpp', event.data, event.pingData.parsedSections.usnat.SaleOptOut,
                   document.querySelector('.ccpa-optout:not([data-ccpa-early])[data-ccpa-opt-out]') !== null]));
             });",
        )
        .await;
    let slow = slow_page();
    browser.goto(&stack.page_with("CUST-1002", &slow)).await;
    browser.wait_for_state("ready").await;
    let early = browser.script("return window.early").await;
    assert_eq!(
        early,
        json!([["usp", "1YYN", false], ["gpp", "ready", 1, false]]),
        "told once the loader's read was in, before the widget showed it"
    );
}

/// Signals settle without a widget that shows a choice: when the page's
/// widget is taken away before it showed one, the proxy is asked for this
/// browser's choice; when the widget cannot read the choice, a browser
/// under Global Privacy Control is told opted out, "ready", and one
/// without stays "not ready" (nothing known).
#[tokio::test]
async fn signals_settle_without_a_widget_that_shows_a_choice() {
    let stack = Stack::start().await;
    let removed = Browser::start().await;
    removed
        .on_every_page(
            "document.addEventListener('DOMContentLoaded', () =>
               document.querySelector('[data-ccpa-optout]').remove());",
        )
        .await;
    let slow = slow_page();
    removed.goto(&stack.page_with("anonymous", &slow)).await;
    assert_eq!(
        settled(&removed).await,
        json!(["ready", 2]),
        "widget taken away"
    );

    let down = Stack::without_proxy().await;
    for (gpc, expected) in [
        (true, json!(["ready", 1])),
        (false, json!(["not ready", 2])),
    ] {
        let browser = Browser::start().await;
        if gpc {
            browser.enable_gpc().await;
        }
        browser.goto(&down.page_for("CUST-1001")).await;
        browser.wait_for_state("error").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(settled(&browser).await, expected, "proxy down, GPC {gpc}");
    }
}

/// `signalStatus` and `usnat.SaleOptOut` once `ccpa-gpp.js` is in.
async fn settled(browser: &Browser) -> Value {
    run(
        browser,
        "for (let i = 0; i < 200; i++) {
           const ping = await new Promise((ok) => __gpp('ping', ok));
           if (ping.cmpStatus === 'loaded' && ping.signalStatus === 'ready') break;
           await new Promise((ok) => setTimeout(ok, 50));
         }
         const ping = await new Promise((ok) => __gpp('ping', ok));
         return [ping.signalStatus, ping.parsedSections.usnat.SaleOptOut];",
    )
    .await
}

/// What a frame may do: its own listeners only (it cannot remove the
/// page's, whose ids it could guess), no more than 32 of them; `getField`
/// reads fields, not what every object has (`constructor`); and a consent
/// platform that puts its own `__gpp` in place of the stub keeps it, and
/// is given the calls the stub had queued.
#[tokio::test]
async fn frames_get_their_own_and_a_consent_platform_keeps_its_api() {
    let stack = Stack::start().await;
    let options = PageOptions {
        ad_frame: true,
        ..PageOptions::default()
    };
    let browser = open_page(&stack, "CUST-1001", &options).await;
    browser.wait_for_state("ready").await;
    let page_listener = run(
        &browser,
        "const id = await new Promise((ok) => __gpp('addEventListener', (e) => ok(e.listenerId)));
         window.pageListener = id;
         const field = await new Promise((ok) => __gpp('getField', (...a) => ok(a), 'usnat.constructor'));
         return [id, field];",
    )
    .await;
    assert_eq!(
        page_listener[1],
        json!([null, false]),
        "getField of a non-field"
    );
    let id = &page_listener[0];
    let from_frame = in_ad_frame(
        &browser,
        &format!(
            "let api = window;
             while (!api.frames.__gppLocator && api !== top) api = api.parent;
             let calls = 0;
             const call = (command, parameter) => new Promise((ok) => {{
               const callId = 'probe-' + ++calls;
               addEventListener('message', function heard({{ data }}) {{
                 if (data?.__gppReturn?.callId !== callId) return;
                 removeEventListener('message', heard);
                 ok(data.__gppReturn);
               }});
               api.postMessage({{ __gppCall: {{ command, parameter, version: '1.1', callId }} }}, '*');
             }});
             const theirs = await call('removeEventListener', {id});
             const added = [];
             for (let i = 0; i < 33; i++) added.push(await call('addEventListener'));
             const own = await call('removeEventListener', added[0].returnValue.listenerId);
             return [theirs.returnValue.data, added.filter((a) => a.success).length, added[32].success, own.returnValue.data];"
        ),
    )
    .await;
    // Prebid.js in the frame holds one listener already.
    assert_eq!(from_frame, json!([false, 31, false, true]));
    let still = run(
        &browser,
        "return (await new Promise((ok) => __gpp('removeEventListener', ok, window.pageListener))).data;",
    )
    .await;
    assert_eq!(still, true, "the page's listener was still there");

    // A consent platform that defines `__gpp` once the page is parsed,
    // while ccpa-gpp.js is still on its way.
    let platform = Browser::start().await;
    platform
        .on_every_page(
            "document.addEventListener('DOMContentLoaded', () => {
               __gpp('addEventListener', () => {});
               window.platformCalls = [];
               window.__gpp = (command, callback) => {
                 window.platformCalls.push(command);
                 callback('the platform', true);
               };
             });",
        )
        .await;
    let slow = slow_page();
    platform.goto(&stack.page_with("CUST-1001", &slow)).await;
    platform.wait_for_state("ready").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let answer = run(
        &platform,
        "const answer = await new Promise((ok) => __gpp('ping', ok));
         return [answer, window.platformCalls];",
    )
    .await;
    assert_eq!(
        answer,
        json!(["the platform", ["addEventListener", "ping"]]),
        "the call queued by the stub went to the platform"
    );
}

/// Runs `body` in the page's ad frame and comes back to the page.
async fn in_ad_frame(browser: &Browser, body: &str) -> Value {
    let frame = browser.wait_for("iframe[title=Advertisement]").await;
    frame.enter_frame().await.unwrap();
    let answer = run(browser, body).await;
    browser.client.enter_parent_frame().await.unwrap();
    answer
}
