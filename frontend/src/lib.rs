//! The ccpa-optout widget: a "Do Not Sell or Share My Personal Information"
//! switch that mounts into every `[data-ccpa-optout]` element of a page.

mod client;
mod email;
mod json;
mod recheck;
mod sensitive;
mod settings;
mod switch;
mod toggle;

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use ccpa_widget_state::loader::HOST_ATTRIBUTE;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::HtmlElement;

/// Marks a host element as taken, so that loading the script twice (tag
/// managers do) never mounts two widgets into one element.
const MOUNTED: &str = ccpa_widget_state::loader::MOUNTED_ATTRIBUTE;

thread_local! {
    /// Every mounted widget: its host element, and the handle whose drop
    /// unmounts it and stops its work.
    static WIDGETS: RefCell<Vec<(HtmlElement, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Unique ids per instance: several widgets may share a page.
fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Mounts a widget into every `[data-ccpa-optout]` element not yet mounted,
/// and unmounts those whose element has left the page. The loader calls it
/// again whenever such elements come or go (single-page apps, tag managers).
#[wasm_bindgen(js_name = mountAll)]
pub fn mount_all() {
    unmount_departed();
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(nodes) = document.query_selector_all(&format!("[{HOST_ATTRIBUTE}]")) else {
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
        let early = client::Early::take(&host);
        let widget = leptos::mount::mount_to(host.clone(), move || {
            toggle::OptOutToggle(toggle::OptOutToggleProps { settings, early })
        });
        WIDGETS.with_borrow_mut(|widgets| widgets.push((host, Box::new(widget))));
    }
}

/// Drops the widgets whose host element is no longer in the document; the
/// element may come back and then gets a fresh widget.
fn unmount_departed() {
    let departed: Vec<_> = WIDGETS.with_borrow_mut(|widgets| {
        widgets
            .extract_if(.., |(host, _)| !host.is_connected())
            .collect()
    });
    for (host, widget) in departed {
        drop(widget);
        let _ = host.remove_attribute(MOUNTED);
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn mounting_twice_mounts_one_widget_per_element_until_it_leaves_the_page() {
        let document = web_sys::window().unwrap().document().unwrap();
        let host = document.create_element("div").unwrap();
        host.set_attribute(super::HOST_ATTRIBUTE, "").unwrap();
        document.body().unwrap().append_child(&host).unwrap();
        super::mount_all();
        super::mount_all();
        assert_eq!(host.query_selector_all(".ccpa-optout").unwrap().length(), 1);
        assert!(host.has_attribute(super::MOUNTED));

        host.remove();
        super::mount_all();
        assert_eq!(host.child_element_count(), 0, "unmounted once gone");
        assert!(!host.has_attribute(super::MOUNTED));
    }
}
