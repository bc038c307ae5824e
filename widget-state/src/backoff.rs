//! When to look again at a change Campaign has not confirmed, politely: not
//! while the page is hidden (nobody is there to see it, and a background tab
//! should cost the proxy nothing), and less often as time goes by: after 5 s,
//! then 10, 20, 40, and from then on once a minute.

/// The first wait.
const FIRST_SECS: u32 = 5;
/// The longest wait.
const LONGEST_SECS: u32 = 60;

/// When to look again, counted in the seconds a widget ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The change waited for: a new one starts the backoff afresh.
    change: Option<u32>,
    waited: u32,
    wait: u32,
}

impl Backoff {
    /// Nothing waited for yet.
    pub const START: Self = Self {
        change: None,
        waited: 0,
        wait: FIRST_SECS,
    };

    /// One second has passed: `waiting` the change waiting to be confirmed
    /// (each change its own number), `hidden` whether the page is hidden.
    /// Whether to look now. A look overdue while the page was hidden comes
    /// as soon as it shows.
    pub fn tick(&mut self, waiting: Option<u32>, hidden: bool) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The seconds at which `ticks` seconds of waiting, hidden during
    /// `hidden`, bring a look.
    fn looks(ticks: u32, hidden: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut backoff = Backoff::START;
        (1..=ticks)
            .filter(|&second| backoff.tick(Some(1), hidden(second)))
            .collect()
    }

    #[test]
    fn backs_off_to_once_a_minute() {
        assert_eq!(looks(300, |_| false), [5, 15, 35, 75, 135, 195, 255]);
    }

    #[test]
    fn waits_while_hidden_and_looks_as_soon_as_shown() {
        // Hidden from the 3rd to the 30th second: the look due at 5 comes
        // at 31, and the backoff goes on from there.
        assert_eq!(looks(60, |s| (3..=30).contains(&s)), [31, 41]);
    }

    #[test]
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
