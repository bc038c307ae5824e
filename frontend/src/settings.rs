//! The widget's settings, read from its host element's attributes:
//!
//! - `data-api`: the proxy's base URL (default: the page's own origin);
//! - `data-token-url`: a host URL answering `{"token": "…"}` for the signed-in
//!   user (fetched with the page's cookies), or
//! - `data-token`: the token itself, when the page is rendered per user;
//! - `data-lang`: the language (default: the first of the browser's
//!   languages the widget speaks, then the page's `lang`, then English);
//! - `data-theme`: `light` or `dark` (default: the system's), read by the
//!   stylesheet alone;
//! - `data-email-opt-out`: present when the proxy takes opt-outs by email
//!   (its `email_opt_out.enabled`): visitors without a sign-in get a form;
//! - `data-heading-level`: the level of the widget's heading, 1 to 6
//!   (default 2), to fit the host page's outline;
//! - `data-timeout-ms`: how long a request may go unanswered before the
//!   widget gives up on it (default 20 000: beyond the proxy's own bound
//!   on a save, three Campaign timeouts of 5 s).
//!
//! The browser's Global Privacy Control setting is read here too.

use ccpa_widget_state::loader::{
    API_ATTRIBUTE, DEFAULT_TIMEOUT_MS, TIMEOUT_ATTRIBUTE, TOKEN_ATTRIBUTE, TOKEN_URL_ATTRIBUTE,
};
use web_sys::HtmlElement;

use ccpa_widget_state::i18n::Lang;

/// Where the sign-in token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Given inline by the host page.
    Inline(String),
    /// Fetched from the host's backend.
    Url(String),
    /// Neither attribute is set: nobody can be signed in.
    Missing,
}

/// Everything a widget instance needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL of the proxy, without a trailing slash.
    pub api: String,
    /// The sign-in token's source.
    pub token: TokenSource,
    /// The language of every text.
    pub lang: Lang,
    /// `navigator.globalPrivacyControl` is true.
    pub gpc: bool,
    /// How long a request may go unanswered (milliseconds).
    pub timeout_ms: u32,
    /// Whether visitors without a sign-in may opt out by email.
    pub email_form: bool,
    /// The heading's level (1 to 6).
    pub heading_level: u8,
}

impl Settings {
    /// Reads the settings from `host`'s attributes.
    pub fn from_element(host: &HtmlElement) -> Self {
        let attr = |name: &str| host.get_attribute(name).filter(|v| !v.trim().is_empty());
        let token = match (attr(TOKEN_ATTRIBUTE), attr(TOKEN_URL_ATTRIBUTE)) {
            (Some(token), _) => TokenSource::Inline(token),
            (None, Some(url)) => TokenSource::Url(url),
            (None, None) => TokenSource::Missing,
        };
        let window = web_sys::window();
        let navigator = window.as_ref().map(|w| w.navigator());
        let page_lang = window
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|e| e.get_attribute("lang"));
        let browser_langs: Vec<String> = navigator
            .as_ref()
            .map(|n| n.languages().iter().filter_map(|l| l.as_string()).collect())
            .unwrap_or_default();
        let preferences: Vec<String> = attr("data-lang")
            .into_iter()
            .chain(browser_langs)
            .chain(page_lang)
            .collect();
        Self {
            api: attr(API_ATTRIBUTE)
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            token,
            email_form: host.has_attribute("data-email-opt-out"),
            heading_level: attr("data-heading-level")
                .and_then(|level| level.trim().parse().ok())
                .filter(|level| (1..=6).contains(level))
                .unwrap_or(2),
            timeout_ms: attr(TIMEOUT_ATTRIBUTE)
                .and_then(|ms| ms.trim().parse().ok())
                .filter(|ms| *ms > 0)
                .unwrap_or(DEFAULT_TIMEOUT_MS),
            lang: Lang::pick(preferences.iter().map(String::as_str)),
            // Not in web-sys yet: read the property by name.
            gpc: navigator.is_some_and(|n| {
                js_sys::Reflect::get(&n, &"globalPrivacyControl".into())
                    .is_ok_and(|v| v.as_bool() == Some(true))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    fn host(attributes: &[(&str, &str)]) -> HtmlElement {
        let document = web_sys::window().unwrap().document().unwrap();
        let element: HtmlElement = document.create_element("div").unwrap().dyn_into().unwrap();
        for (name, value) in attributes {
            element.set_attribute(name, value).unwrap();
        }
        element
    }

    #[wasm_bindgen_test]
    fn reads_the_host_elements_attributes() {
        let settings = Settings::from_element(&host(&[
            ("data-api", "https://privacy.example.com/"),
            ("data-token-url", "/account/ccpa-token"),
        ]));
        assert_eq!(settings.api, "https://privacy.example.com");
        assert_eq!(
            settings.token,
            TokenSource::Url("/account/ccpa-token".into())
        );
        // The test browser's language is English.
        assert_eq!(settings.lang, Lang::En);
        assert!(!settings.gpc);
        assert_eq!(settings.timeout_ms, DEFAULT_TIMEOUT_MS);
        for (given, level) in [("3", 3), ("1", 1), ("7", 2), ("h3", 2), ("0", 2)] {
            let settings = Settings::from_element(&host(&[("data-heading-level", given)]));
            assert_eq!(settings.heading_level, level, "{given}");
        }
        let quick = Settings::from_element(&host(&[("data-timeout-ms", "1500")]));
        assert_eq!(quick.timeout_ms, 1_500);
    }

    #[wasm_bindgen_test]
    fn the_language_attribute_comes_first() {
        let settings = Settings::from_element(&host(&[("data-lang", "es-MX")]));
        assert_eq!(settings.lang, Lang::Es);
        let unknown = Settings::from_element(&host(&[("data-lang", "fr")]));
        assert_eq!(unknown.lang, Lang::En, "then the browser's: English");
    }

    #[wasm_bindgen_test]
    fn an_inline_token_wins_and_blank_attributes_count_as_absent() {
        let inline =
            Settings::from_element(&host(&[("data-token", "a.b.c"), ("data-token-url", "/t")]));
        assert_eq!(inline.token, TokenSource::Inline("a.b.c".into()));
        let blank = Settings::from_element(&host(&[("data-token", " "), ("data-api", "")]));
        assert_eq!(blank.token, TokenSource::Missing);
        assert_eq!(blank.api, "", "same origin");
    }
}
