//! Fixed-window counters that bound what one client, or one key, may ask
//! for: the routes that need no sign-in would otherwise let anyone fill the
//! audit trail and the pending changes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// At most `max` requests per `period` for each key.
pub struct Window {
    max: u32,
    period: Duration,
    /// Key digest → when its window began, and how many it has had; and
    /// when ended windows were last forgotten.
    seen: Mutex<(Counts, Instant)>,
}

/// Per key digest: when its window began, and how many it has had.
type Counts = HashMap<[u8; 16], (Instant, u32)>;

/// Past this many keys, windows that have ended are forgotten, once a
/// period at most (not at every request: that would cost a sweep each):
/// memory stays bounded however many clients come and go.
const FORGET_ABOVE: usize = 10_000;

impl Window {
    /// `max` requests per `period` for each key.
    pub fn new(max: u32, period: Duration) -> Self {
        Self {
            max,
            period,
            seen: Mutex::new((HashMap::new(), Instant::now())),
        }
    }

    /// Counts a request for `key`; refuses it, with how long to wait, when
    /// the key had its `max` in this window. Keys are kept as digests: an
    /// address counted here is not held in memory as such.
    pub fn allow(&self, key: &str) -> Result<(), Duration> {
        let digest: [u8; 16] = Sha256::digest(key.as_bytes())[..16]
            .try_into()
            .expect("16 bytes of a digest");
        let now = Instant::now();
        let mut guard = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (seen, swept) = &mut *guard;
        if seen.len() > FORGET_ABOVE && now.duration_since(*swept) >= self.period {
            seen.retain(|_, (began, _)| now.duration_since(*began) < self.period);
            *swept = now;
        }
        let (began, count) = seen.entry(digest).or_insert((now, 0));
        if now.duration_since(*began) >= self.period {
            (*began, *count) = (now, 0);
        }
        if *count >= self.max {
            return Err(self.period - now.duration_since(*began));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_max_per_window_and_others_are_not_touched() {
        let window = Window::new(2, Duration::from_secs(60));
        assert_eq!(window.allow("a"), Ok(()));
        assert_eq!(window.allow("a"), Ok(()));
        let wait = window.allow("a").expect_err("the third in a minute");
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
        assert_eq!(window.allow("b"), Ok(()));
        let quick = Window::new(1, Duration::ZERO);
        assert_eq!(quick.allow("a"), Ok(()));
        assert_eq!(quick.allow("a"), Ok(()), "a new window each time");
    }
}
