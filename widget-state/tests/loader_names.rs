//! The loader (`frontend/loader/ccpa-optout.js`) is plain JavaScript and
//! cannot import the widget's constants, and the widget's view spells its
//! attributes in a macro: these tests read both and check they spell every
//! shared name as the constants do.

use std::collections::BTreeSet;

use ccpa_api::{
    BROWSER_OPT_OUT_HEADER, BROWSER_OPT_OUT_PATH, ECID_HEADER, EMAIL_OPT_OUT_PATH, GPC_HEADER,
    OPT_OUT_PATH, PRIVACY_SERVICE_HEADER, SENSITIVE_PATH,
};
use ccpa_widget_state::Phase;
use ccpa_widget_state::loader::*;

/// A file of the repository.
fn read(path: &str) -> String {
    let path = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn loader() -> String {
    read("frontend/loader/ccpa-optout.js")
}

/// Every run of characters `allowed` that follows `prefix` in `text`.
fn after(text: &str, prefix: &str, allowed: impl Fn(char) -> bool) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest.find(|c| !allowed(c)).unwrap_or(rest.len());
            format!("{prefix}{}", &rest[..end])
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// `data-token-url` as `element.dataset` names it: `tokenUrl`.
fn dataset_key(attribute: &str) -> String {
    let mut words = attribute.trim_start_matches("data-").split('-');
    let first = words.next().unwrap_or_default().to_owned();
    words.fold(first, |key, word| {
        let mut chars = word.chars();
        let upper: String = chars
            .next()
            .into_iter()
            .flat_map(char::to_uppercase)
            .collect();
        key + &upper + chars.as_str()
    })
}

#[test]
fn the_loader_leaves_its_answers_in_the_properties_the_widget_takes() {
    let js = loader();
    let identifier = |c: char| c.is_ascii_alphanumeric();
    assert_eq!(
        after(&js, "element.ccpaOptOut", identifier),
        set(&[TOKEN_PROPERTY, READ_PROPERTY, ECID_PROPERTY])
            .iter()
            .map(|p| format!("element.{p}"))
            .collect::<BTreeSet<_>>()
    );
    for property in [TOKEN_PROPERTY, READ_PROPERTY, ECID_PROPERTY] {
        assert!(
            js.contains(&format!("element.{property} = ")),
            "{property} is set"
        );
    }
}

#[test]
fn the_loader_calls_the_proxys_paths_with_its_headers() {
    let js = loader();
    let path = |c: char| c.is_ascii_alphanumeric() || c == '/' || c == '-';
    let known = set(&[
        OPT_OUT_PATH,
        BROWSER_OPT_OUT_PATH,
        EMAIL_OPT_OUT_PATH,
        SENSITIVE_PATH,
    ]);
    let used = after(&js, "/api/", path);
    assert!(used.is_subset(&known), "unknown paths: {used:?}");
    assert!(used.contains(OPT_OUT_PATH) && used.contains(BROWSER_OPT_OUT_PATH));

    let header = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let headers = after(&js, "\"X-", header);
    let expected: BTreeSet<String> = [
        GPC_HEADER,
        BROWSER_OPT_OUT_HEADER,
        ECID_HEADER,
        PRIVACY_SERVICE_HEADER,
    ]
    .iter()
    .map(|h| format!("\"{h}"))
    .collect();
    assert_eq!(headers, expected);
}

#[test]
fn the_loader_reads_the_host_elements_attributes_and_storage_as_the_widget_does() {
    let js = loader();
    assert!(js.contains(&format!("\"[{HOST_ATTRIBUTE}]\"")));
    let keys: Vec<String> = [
        TOKEN_ATTRIBUTE,
        TOKEN_URL_ATTRIBUTE,
        API_ATTRIBUTE,
        TIMEOUT_ATTRIBUTE,
    ]
    .iter()
    .map(|a| dataset_key(a))
    .collect();
    assert_eq!(keys, ["token", "tokenUrl", "api", "timeoutMs"]);
    assert!(
        js.contains(&format!(
            "const {{ {} }} = element.dataset;",
            keys.join(", ")
        )),
        "the loader takes {keys:?} from each host element"
    );
    assert!(js.contains(&format!("localStorage.getItem(\"{REMEMBERED_KEY}\")")));
    assert!(js.contains(&format!("const TOLD = \"{PRIVACY_SERVICE_KEY}\";")));
    assert!(js.contains(&format!("ms > 0 ? ms : {DEFAULT_TIMEOUT_MS})")));
}

#[test]
fn the_loader_reads_and_watches_the_attributes_the_widget_sets() {
    let (js, view) = (loader(), read("frontend/src/toggle.rs"));
    for attribute in [
        OPT_OUT_STATE_ATTRIBUTE,
        LIMIT_STATE_ATTRIBUTE,
        PHASE_ATTRIBUTE,
    ] {
        assert!(
            view.contains(&format!("{attribute}=move ||")),
            "the widget sets {attribute}"
        );
    }
    assert!(js.contains(&format!(
        "querySelector(\".ccpa-optout[{OPT_OUT_STATE_ATTRIBUTE}]\")"
    )));
    let keys = [OPT_OUT_STATE_ATTRIBUTE, LIMIT_STATE_ATTRIBUTE].map(dataset_key);
    assert!(js.contains(&format!("const {{ {} }} = shown.dataset;", keys.join(", "))));
    assert!(js.contains(&format!(
        "attributeFilter: [\"{OPT_OUT_STATE_ATTRIBUTE}\", \"{LIMIT_STATE_ATTRIBUTE}\", \"{PHASE_ATTRIBUTE}\""
    )));
    let failed = Phase::Error.as_str();
    assert!(js.contains(&format!("[{PHASE_ATTRIBUTE}=\"{failed}\"]")));
    assert!(
        view.contains("loader::CHANGE_EVENT"),
        "the widget sends {CHANGE_EVENT}"
    );
}

#[test]
fn the_stylesheet_keeps_space_until_the_widget_is_in_or_could_not_start() {
    let (css, js) = (read("frontend/style/ccpa-optout.css"), loader());
    let kept = format!(
        ":where([{HOST_ATTRIBUTE}]:not([{MOUNTED_ATTRIBUTE}], [{FAILED_ATTRIBUTE}], [hidden]))"
    );
    assert!(
        css.contains(&kept),
        "the stylesheet keeps space with {kept}"
    );
    assert!(js.contains(&format!("host.setAttribute(\"{FAILED_ATTRIBUTE}\", \"\")")));
}
