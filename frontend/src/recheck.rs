//! Looking again at a change Campaign has not confirmed, politely: not while
//! the page is hidden (nobody is there to see it, and a background tab
//! should cost the proxy nothing), and less often as time goes by: after 5 s,
//! then 10, 20, 40, and from then on once a minute.

use leptos::prelude::*;

/// The first wait.
const FIRST_SECS: u32 = 5;
/// The longest wait.
const LONGEST_SECS: u32 = 60;

/// When to look again, counted in the seconds a widget ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    waited: u32,
    wait: u32,
}

impl Backoff {
    const START: Self = Self {
        waited: 0,
        wait: FIRST_SECS,
    };

    /// One second has passed: `waiting` whether a change waits to be
    /// confirmed, `hidden` whether the page is hidden. Whether to look now.
    /// A look overdue while the page was hidden comes as soon as it shows.
    fn tick(&mut self, waiting: bool, hidden: bool) -> bool {
        if !waiting {
            *self = Self::START;
            return false;
        }
        self.waited = self.waited.saturating_add(1);
        if hidden || self.waited < self.wait {
            return false;
        }
        self.waited = 0;
        self.wait = (self.wait * 2).min(LONGEST_SECS);
        true
    }
}

/// Calls `look` whenever a look is due while `waiting()` holds, for as long
/// as the calling component lives. A new wait (after `waiting()` was false)
/// starts the backoff afresh.
pub fn politely(waiting: impl Fn() -> bool + 'static, look: impl Fn() + 'static) {
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

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    /// The seconds at which `ticks` seconds of waiting, hidden during
    /// `hidden`, bring a look.
    fn looks(ticks: u32, hidden: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut backoff = Backoff::START;
        (1..=ticks)
            .filter(|&second| backoff.tick(true, hidden(second)))
            .collect()
    }

    #[wasm_bindgen_test]
    fn backs_off_to_once_a_minute() {
        assert_eq!(looks(300, |_| false), [5, 15, 35, 75, 135, 195, 255]);
    }

    #[wasm_bindgen_test]
    fn waits_while_hidden_and_looks_as_soon_as_shown() {
        // Hidden from the 3rd to the 30th second: the look due at 5 comes
        // at 31, and the backoff goes on from there.
        assert_eq!(looks(60, |s| (3..=30).contains(&s)), [31, 41]);
    }

    #[wasm_bindgen_test]
    fn a_new_wait_starts_afresh() {
        let mut backoff = Backoff::START;
        let looked: Vec<bool> = (0..20).map(|_| backoff.tick(true, false)).collect();
        assert_eq!(looked.iter().filter(|l| **l).count(), 2, "at 5 and 15");
        assert!(!backoff.tick(false, false));
        assert_eq!(backoff, Backoff::START);
    }
}
