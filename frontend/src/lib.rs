//! The ccpa-optout widget: a "Do Not Sell or Share My Personal Information"
//! switch that mounts into every `[data-ccpa-optout]` element of a page.

mod client;
mod i18n;
mod json;
mod settings;
mod toggle;

use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

/// Marks a host element as taken, so that loading the script twice (tag
/// managers do) never mounts two widgets into one element.
const MOUNTED: &str = "data-ccpa-mounted";

/// Mounts a widget into every `[data-ccpa-optout]` element not yet mounted.
pub fn mount_all() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(nodes) = document.query_selector_all("[data-ccpa-optout]") else {
        return;
    };
    for index in 0..nodes.length() {
        let Some(host) = nodes
            .item(index)
            .and_then(|n| n.dyn_into::<HtmlElement>().ok())
        else {
            continue;
        };
        if host.has_attribute(MOUNTED) {
            continue;
        }
        let _ = host.set_attribute(MOUNTED, "");
        let settings = settings::Settings::from_element(&host);
        let early_token = client::early_token(&host);
        leptos::mount::mount_to(host, move || {
            toggle::OptOutToggle(toggle::OptOutToggleProps {
                settings,
                early_token,
            })
        })
        .forget();
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn mounting_twice_mounts_one_widget_per_element() {
        let document = web_sys::window().unwrap().document().unwrap();
        let host = document.create_element("div").unwrap();
        host.set_attribute("data-ccpa-optout", "").unwrap();
        document.body().unwrap().append_child(&host).unwrap();
        super::mount_all();
        super::mount_all();
        assert_eq!(host.query_selector_all(".ccpa-optout").unwrap().length(), 1);
        assert!(host.has_attribute(super::MOUNTED));
    }
}
