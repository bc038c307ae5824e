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
    /// The change waited for: a new one starts the backoff afresh.
    change: Option<u32>,
    waited: u32,
    wait: u32,
}

impl Backoff {
    const START: Self = Self {
        change: None,
        waited: 0,
        wait: FIRST_SECS,
    };

    /// One second has passed: `waiting` the change waiting to be confirmed
    /// (each change its own number), `hidden` whether the page is hidden.
    /// Whether to look now. A look overdue while the page was hidden comes
    /// as soon as it shows.
    fn tick(&mut self, waiting: Option<u32>, hidden: bool) -> bool {
        if waiting != self.change {
            *self = Self {
                change: waiting,
                ..Self::START
            };
        }
        if waiting.is_none() {
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

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    /// The seconds at which `ticks` seconds of waiting, hidden during
    /// `hidden`, bring a look.
    fn looks(ticks: u32, hidden: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut backoff = Backoff::START;
        (1..=ticks)
            .filter(|&second| backoff.tick(Some(1), hidden(second)))
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
    fn a_new_change_starts_afresh_even_without_a_pause() {
        let mut backoff = Backoff::START;
        let looks = |backoff: &mut Backoff, change, seconds| {
            (0..seconds)
                .filter(|_| backoff.tick(Some(change), false))
                .count()
        };
        assert_eq!(looks(&mut backoff, 1, 20), 2, "at 5 and 15");
        assert_eq!(looks(&mut backoff, 2, 5), 1, "5 s after the next change");
        assert!(!backoff.tick(None, false));
        assert_eq!(backoff, Backoff::START);
    }
}
