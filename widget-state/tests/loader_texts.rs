//! The loader's first paint speaks the widget's words: the `TEXTS` of
//! `frontend/loader/ccpa-first-paint.js`, between its two marker lines,
//! are the texts it shows in every language, as this test writes them
//! from the widget's own
//! (`CCPA_WRITE_TEXTS=1 cargo test -p ccpa-widget-state --test loader_texts`),
//! and the test fails whenever the two differ. (In the paint's own file,
//! not a module beside it: one request and one evaluation fewer while the
//! loader waits for the customer's choice.)

use std::path::PathBuf;

use ccpa_widget_state::i18n::{Lang, Strings};

const PAINT_JS: &str = "frontend/loader/ccpa-first-paint.js";
const BEGIN: &str = "// Texts: written by widget-state/tests/loader_texts.rs from widget-state/src/i18n (edit those, not these).\n";
const END: &str = "// End of the texts.\n";

/// The texts the first paint shows (a signed-in customer's choice, and a
/// change that could not be made).
fn shown(s: &Strings) -> [(&'static str, &'static str); 13] {
    [
        ("tag", s.tag),
        ("title", s.title),
        ("intro", s.intro),
        ("switchLabel", s.switch_label),
        ("optedOut", s.opted_out),
        ("optedIn", s.opted_in),
        ("pending", s.pending),
        ("saving", s.saving),
        ("saveFailed", s.save_failed),
        ("accountNote", s.account_note),
        ("sensitiveLabel", s.sensitive_label),
        ("sensitiveOn", s.sensitive_on),
        ("sensitiveOff", s.sensitive_off),
    ]
}

fn expected() -> String {
    let mut js = String::from("const TEXTS = {\n");
    for lang in Lang::ALL {
        let strings = lang.strings();
        js += &format!("  {}: {{\n", lang.subtag());
        for (name, text) in shown(strings) {
            let quoted = serde_json::to_string(text).expect("a string");
            js += &format!("    {name}: {quoted},\n");
        }
        js += "  },\n";
    }
    js + "};\n"
}

#[test]
fn the_loaders_texts_are_the_widgets() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(PAINT_JS);
    let paint = std::fs::read_to_string(&path).expect("the first paint's script");
    let (before, rest) = paint.split_once(BEGIN).expect("its first marker line");
    let (found, after) = rest.split_once(END).expect("its last marker line");
    let expected = expected();
    if std::env::var_os("CCPA_WRITE_TEXTS").is_some() {
        std::fs::write(&path, format!("{before}{BEGIN}{expected}{END}{after}")).expect("written");
    } else {
        assert!(
            found == expected,
            "the texts in {PAINT_JS} are not the widget's: run \
             `CCPA_WRITE_TEXTS=1 cargo test -p ccpa-widget-state --test loader_texts`"
        );
    }
}
