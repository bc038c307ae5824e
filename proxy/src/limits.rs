//! Token buckets that bound what one client, one signed-in customer or one
//! key may ask for: without them one browser could fill the audit trail,
//! the pending changes and Campaign's engine calls (Campaign Standard
//! throttles no one: the caller must).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::metrics::{Limited, Metrics};

/// Each key may ask `max` times at once, and `max` times per `period` on
/// average: a full bucket of `max` tokens, refilled evenly over `period`.
///
/// Keys are whatever strangers send (addresses, emails), so memory has a
/// hard cap: buckets live in two generations of at most [`GENERATION`]
/// keys each. A key seen again moves to the current one; when that is
/// full, it becomes the previous one and the older is forgotten. A key
/// forgotten so had not asked for [`GENERATION`] other keys' time, and
/// starts again with a full bucket: a flood of new keys can cost a quiet
/// key its count, never the proxy its memory.
pub struct Limit {
    max: u32,
    period: Duration,
    buckets: Mutex<Generations>,
}

/// A key digest's tokens left, and when they were counted.
type Buckets = HashMap<[u8; 16], (f64, Instant)>;

#[derive(Default)]
struct Generations {
    current: Buckets,
    previous: Buckets,
}

/// Keys per generation: at most twice as many buckets are held, some 3 MB
/// per limit however many keys come.
pub const GENERATION: usize = 16_384;

impl Limit {
    /// `max` requests at once, and `max` per `period` on average, for each
    /// key; `max` 0 lets every request through.
    pub fn new(max: u32, period: Duration) -> Self {
        Self {
            max,
            period,
            buckets: Mutex::new(Generations::default()),
        }
    }

    /// Counts a request for `key`; refuses it, with how long until a token
    /// is back, when the key's bucket is empty. Keys are kept as digests:
    /// an address counted here is not held in memory as such.
    pub fn allow(&self, key: &str) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let digest: [u8; 16] = Sha256::digest(key.as_bytes())[..16]
            .try_into()
            .expect("16 bytes of a digest");
        let now = Instant::now();
        let max = f64::from(self.max);
        let per_second = max / self.period.as_secs_f64().max(f64::EPSILON);
        let mut guard = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let generations = &mut *guard;
        let (tokens, counted) = match generations.current.get(&digest) {
            Some(bucket) => *bucket,
            None => {
                if generations.current.len() >= GENERATION {
                    generations.previous = std::mem::take(&mut generations.current);
                }
                generations.previous.remove(&digest).unwrap_or((max, now))
            }
        };
        let tokens = refill(tokens, now.duration_since(counted), per_second, max);
        let (left, answer) = if tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - tokens) / per_second);
            (tokens, Err(wait))
        } else {
            (tokens - 1.0, Ok(()))
        };
        generations.current.insert(digest, (left, now));
        answer
    }

    /// How many keys it holds buckets for.
    pub fn keys(&self) -> usize {
        let generations = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        generations.current.len() + generations.previous.len()
    }
}

/// Who counts as one client: an IPv4 address, or an IPv6 /64 (one
/// household or host has a whole /64 to pick addresses from).
pub fn client_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// A bucket's `tokens` after `elapsed` at `per_second`, up to `max`: the
/// arithmetic of every token bucket here (and of the pace towards
/// Campaign).
pub fn refill(tokens: f64, elapsed: Duration, per_second: f64, max: f64) -> f64 {
    (tokens + elapsed.as_secs_f64() * per_second).min(max)
}

/// The limits of the signed-in routes and of every client address.
pub struct Limits {
    reads: Limit,
    changes: Limit,
    clients: Limit,
    metrics: Arc<Metrics>,
}

impl Limits {
    /// The limits `settings` set; refusals are counted in `metrics`.
    pub fn new(settings: &crate::config::LimitSettings, metrics: Arc<Metrics>) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            reads: Limit::new(settings.reads_per_minute, minute),
            changes: Limit::new(settings.changes_per_minute, minute),
            clients: Limit::new(settings.per_client_per_minute, minute),
            metrics,
        }
    }

    /// Counts a signed-in customer's read (`change` false) or change.
    pub fn customer(&self, subject: &str, change: bool) -> Result<(), Duration> {
        let (limit, which) = match change {
            false => (&self.reads, Limited::Reads),
            true => (&self.changes, Limited::Changes),
        };
        limit
            .allow(subject)
            .inspect_err(|_| self.metrics.limited(which))
    }

    /// Counts any request from `client`.
    pub fn client(&self, client: IpAddr) -> Result<(), Duration> {
        self.clients
            .allow(&client_of(client))
            .inspect_err(|_| self.metrics.limited(Limited::Client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_others_are_not_touched() {
        let limit = Limit::new(2, Duration::from_secs(60));
        assert_eq!(limit.allow("a"), Ok(()));
        assert_eq!(limit.allow("a"), Ok(()));
        let wait = limit.allow("a").expect_err("the third at once");
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "one token back in half a minute: {wait:?}"
        );
        assert_eq!(limit.allow("b"), Ok(()));
        let quick = Limit::new(1, Duration::from_millis(1));
        assert_eq!(quick.allow("a"), Ok(()));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(quick.allow("a"), Ok(()), "refilled");
        let off = Limit::new(0, Duration::from_secs(60));
        assert!((0..100).all(|_| off.allow("a").is_ok()));
    }

    /// However many keys come, a limit holds buckets for at most two
    /// generations of them; a key that keeps asking is never forgotten.
    #[test]
    fn a_flood_of_new_keys_is_held_in_bounded_memory() {
        let limit = Limit::new(3, Duration::from_secs(3_600));
        for _ in 0..3 {
            limit.allow("regular@example.com").unwrap();
        }
        for n in 0..100_000 {
            limit.allow(&format!("flood-{n}@example.com")).unwrap();
            if n % 1_000 == 0 {
                assert!(
                    limit.allow("regular@example.com").is_err(),
                    "still counted after {n} other keys"
                );
            }
            assert!(limit.keys() <= 2 * GENERATION, "{} keys", limit.keys());
        }
        assert!(limit.keys() > GENERATION, "both generations in use");
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_of(one), client_of(other));
        assert_eq!(client_of("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_ne!(
            client_of(one),
            client_of("2001:db8:1:3::1".parse().unwrap())
        );
    }
}
