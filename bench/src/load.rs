//! The load generator: a fixed number of HTTP/1.1 keep-alive connections,
//! either as fast as answers come (saturation) or at a fixed rate.
//!
//! At a fixed rate, each request has an intended start time and its latency
//! is measured from then, so a slow answer that delays the next request is
//! counted against the server (no coordinated omission).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::{Client, Method, RequestBuilder};

/// What to call, for which user.
#[derive(Clone)]
pub enum Target {
    /// Campaign itself: the emulator, with the IMS token and API key.
    Direct {
        /// `http://host:port/<org>/campaign/profileAndServicesExt/profile/`.
        profiles: String,
        /// An IMS access token.
        token: String,
        /// The API key.
        api_key: String,
    },
    /// nginx: `http://host:port/profile/<key>`, credentials added by nginx.
    Nginx {
        /// `http://host:port/profile/`.
        profiles: String,
    },
    /// Our proxy: one URL, the user named by their sign-in token.
    Proxy {
        /// `http://host:port/api/v1/opt-out`.
        api: String,
        /// One sign-in token per user.
        tokens: Vec<String>,
    },
}

/// A test customer's custom key.
pub fn customer(user: usize) -> String {
    format!("LOAD-{user:04}")
}

impl Target {
    /// The request for `user`; a PATCH sets `value`.
    pub fn request(
        &self,
        client: &Client,
        method: &Method,
        user: usize,
        value: bool,
    ) -> RequestBuilder {
        let request = match self {
            Target::Direct {
                profiles,
                token,
                api_key,
            } => client
                .request(method.clone(), format!("{profiles}{}", customer(user)))
                .bearer_auth(token)
                .header("X-Api-Key", api_key)
                .header("Cache-Control", "no-cache"),
            Target::Nginx { profiles } => {
                client.request(method.clone(), format!("{profiles}{}", customer(user)))
            }
            Target::Proxy { api, tokens } => client
                .request(method.clone(), api)
                .bearer_auth(&tokens[user % tokens.len()]),
        };
        if *method == Method::PATCH {
            request
                .header("Content-Type", "application/json")
                .body(format!(r#"{{"ccpaOptOut":{value}}}"#))
        } else {
            request
        }
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each connection sends its next request when the answer arrives.
    Saturate,
    /// This many requests per second across all connections.
    Rate(u32),
}

/// What a run's requests do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Read the user's choice.
    Get,
    /// Change it: each of the connection's users in turn is opted out
    /// and then opted in again, so that half the requests are opt-ins and
    /// every opt-in reverses a choice Campaign holds (the proxy carries it
    /// out as a look-up and a PATCH); opt-ins are also timed apart.
    Flip,
    /// Opt out, every time: one Campaign call by custom key.
    OptOut,
}

impl Load {
    /// How it is asked.
    fn method(self) -> Method {
        match self {
            Load::Get => Method::GET,
            Load::Flip | Load::OptOut => Method::PATCH,
        }
    }

    /// Which of a connection's `users` its request number `sent` is for,
    /// and the value a PATCH sets.
    fn nth(self, sent: usize, users: usize) -> (usize, bool) {
        match self {
            Load::Flip => ((sent / 2) % users, sent.is_multiple_of(2)),
            Load::Get | Load::OptOut => (sent % users, true),
        }
    }
}

/// One run's plan.
pub struct Run<'a> {
    /// What to call.
    pub target: &'a Target,
    /// What its requests do.
    pub load: Load,
    /// Open connections.
    pub connections: usize,
    /// How requests are paced.
    pub pace: Pace,
    /// Measured time (after a warm-up of a fifth of it, at least 1 s).
    pub duration: Duration,
    /// Users to spread requests over; connection `k` takes users
    /// `k, k + connections, …`, so no two connections change one profile.
    pub users: usize,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Answers per second (2xx) over the measured time.
    pub rps: f64,
    /// Latency percentiles, in microseconds: p50, p99, p99.9.
    pub p50: u64,
    /// 99th percentile (µs).
    pub p99: u64,
    /// 99.9th percentile (µs).
    pub p999: u64,
    /// Non-2xx answers and transport errors.
    pub errors: u64,
    /// `202` answers: recorded, not yet applied (only the proxy gives them).
    pub accepted_later: u64,
    /// The opt-ins' own p50 and p99 (µs), for [`Load::Flip`].
    pub opt_ins: Option<(u64, u64)>,
}

struct Tally {
    latencies: Histogram<u64>,
    opt_ins: Histogram<u64>,
    ok: u64,
    errors: u64,
    later: u64,
}

impl Run<'_> {
    /// Runs it: warm-up, then the measured part.
    pub async fn go(&self) -> Measured {
        let warmup = (self.duration / 5).max(Duration::from_secs(1));
        let start = Instant::now() + Duration::from_millis(50);
        let measure_from = start + warmup;
        let end = measure_from + self.duration;
        let tasks = (0..self.connections).map(|k| {
            let target = self.target.clone();
            let (load, pace, connections, users) =
                (self.load, self.pace, self.connections, self.users);
            tokio::spawn(async move {
                connection(
                    &target,
                    load,
                    k,
                    connections,
                    users,
                    pace,
                    (start, measure_from, end),
                )
                .await
            })
        });
        let mut all = Tally::new();
        for tally in futures_util::future::join_all(tasks).await {
            all.merge(tally.expect("a connection task"));
        }
        let seconds = self.duration.as_secs_f64();
        Measured {
            rps: all.ok as f64 / seconds,
            p50: all.latencies.value_at_quantile(0.5),
            p99: all.latencies.value_at_quantile(0.99),
            p999: all.latencies.value_at_quantile(0.999),
            errors: all.errors,
            accepted_later: all.later,
            opt_ins: (!all.opt_ins.is_empty()).then(|| {
                (
                    all.opt_ins.value_at_quantile(0.5),
                    all.opt_ins.value_at_quantile(0.99),
                )
            }),
        }
    }
}

impl Tally {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        Self {
            latencies: histogram(),
            opt_ins: histogram(),
            ok: 0,
            errors: 0,
            later: 0,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.add(other.latencies).expect("same bounds");
        self.opt_ins.add(other.opt_ins).expect("same bounds");
        self.ok += other.ok;
        self.errors += other.errors;
        self.later += other.later;
    }
}

/// One connection's loop; records only what started after `measure_from`.
async fn connection(
    target: &Target,
    load: Load,
    k: usize,
    connections: usize,
    users: usize,
    pace: Pace,
    (start, measure_from, end): (Instant, Instant, Instant),
) -> Tally {
    let client = Client::builder()
        .pool_max_idle_per_host(1)
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let mine: Vec<usize> = (k..users.max(k + 1)).step_by(connections).collect();
    let method = load.method();
    let mut tally = Tally::new();
    let interval = match pace {
        Pace::Saturate => None,
        Pace::Rate(rate) => Some(Duration::from_secs_f64(1.0 / f64::from(rate))),
    };
    let mut tick = k as u32;
    let mut sent = 0usize;
    loop {
        let intended = match interval {
            Some(interval) => start + interval * tick,
            None => Instant::now().max(start),
        };
        if intended >= end {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let (slot, value) = load.nth(sent, mine.len());
        let answer = target
            .request(&client, &method, mine[slot] % users.max(1), value)
            .send()
            .await;
        let status = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                Some(status)
            }
            Err(_) => None,
        };
        if intended >= measure_from {
            let micros = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
            tally.latencies.saturating_record(micros);
            if load == Load::Flip && !value {
                tally.opt_ins.saturating_record(micros);
            }
            match status {
                Some(202) => tally.later += 1,
                Some(200..=299) => tally.ok += 1,
                _ => tally.errors += 1,
            }
        }
        sent += 1;
        tick += connections as u32;
    }
    tally
}
