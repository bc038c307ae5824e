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
pub struct Limit {
    max: u32,
    period: Duration,
    /// Key digest → tokens left and when they were counted; and when full
    /// buckets were last forgotten.
    seen: Mutex<(Buckets, Instant)>,
}

/// Per key digest: tokens left, and when they were counted.
type Buckets = HashMap<[u8; 16], (f64, Instant)>;

/// Past this many keys, buckets that have filled up again are forgotten,
/// once a period at most (not at every request: that would cost a sweep
/// each): memory stays bounded however many clients come and go.
const FORGET_ABOVE: usize = 10_000;

impl Limit {
    /// `max` requests at once, and `max` per `period` on average, for each
    /// key; `max` 0 lets every request through.
    pub fn new(max: u32, period: Duration) -> Self {
        Self {
            max,
            period,
            seen: Mutex::new((HashMap::new(), Instant::now())),
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
        let refilled = |(tokens, counted): (f64, Instant)| {
            refill(tokens, now.duration_since(counted), per_second, max)
        };
        let mut guard = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (seen, swept) = &mut *guard;
        if seen.len() > FORGET_ABOVE && now.duration_since(*swept) >= self.period {
            seen.retain(|_, bucket| refilled(*bucket) < max);
            *swept = now;
        }
        let bucket = seen.entry(digest).or_insert((max, now));
        let tokens = refilled(*bucket);
        if tokens < 1.0 {
            *bucket = (tokens, now);
            return Err(Duration::from_secs_f64((1.0 - tokens) / per_second));
        }
        *bucket = (tokens - 1.0, now);
        Ok(())
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
