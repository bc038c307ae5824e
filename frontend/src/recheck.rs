//! Looking again at a change Campaign has not confirmed: a clock for the
//! [`Backoff`], which says when (not while the page is hidden, and less
//! often as time goes by).

use ccpa_widget_state::backoff::Backoff;
use leptos::prelude::*;

/// Calls `look` whenever a look is due while `waiting()` names a change
/// (its number: each save counts one more), for as long as the calling
/// component lives. A change with a new number starts the backoff afresh,
/// however quickly it followed the last.
pub fn politely(waiting: impl Fn() -> Option<u32> + 'static, look: impl Fn() + 'static) {
    let backoff = std::cell::Cell::new(Backoff::START);
    let clock = set_interval_with_handle(
        move || {
            let mut now = backoff.get();
            let due = now.tick(waiting(), page_hidden());
            backoff.set(now);
            if due {
                look();
            }
        },
        std::time::Duration::from_secs(1),
    );
    if let Ok(clock) = clock {
        on_cleanup(move || clock.clear());
    }
}

fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}
