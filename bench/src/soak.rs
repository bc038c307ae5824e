//! The soak: a steady mixed GET/PATCH load for minutes while faults come and
//! go, sampling the proxy's memory and file descriptors, and checking at the
//! end that every accepted choice reached Campaign.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::load::{Target, customer};
use crate::stack::{self, USERS};

/// One sample, every ten seconds.
struct Sample {
    at: Duration,
    rss_kb: u64,
    fds: usize,
    requests: u64,
    errors: u64,
    /// Whether a fault was injected right after this sample: its errors,
    /// if any, fall in the next window.
    faulted: bool,
}

/// Counters the connections share.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Runs the soak for `length` at `rate` requests per second; returns its
/// Markdown section.
pub async fn run(
    bin: &std::path::Path,
    dir: &std::path::Path,
    length: Duration,
    rate: u32,
) -> anyhow::Result<String> {
    let (_emulator, emulator_url) = stack::emulator(bin, 20).await?;
    // The backlog is read where operators read it: on the admin listener.
    let admin = format!("127.0.0.1:{}", stack::free_port());
    let settings = [("CCPA__SERVER__ADMIN_LISTEN", admin.as_str())];
    let (proxy, proxy_url) = stack::proxy_with(bin, &emulator_url, dir, &settings).await?;
    let target = Target::Proxy {
        api: format!("{proxy_url}/api/v1/opt-out"),
        tokens: (0..USERS).map(stack::sign_in_token).collect(),
    };
    let counters = Arc::new(Counters::default());
    const CONNECTIONS: usize = 32;
    let started = Instant::now();
    let end = started + length;
    let flippers = (0..CONNECTIONS).map(|k| {
        let (target, counters) = (target.clone(), counters.clone());
        let interval = Duration::from_secs_f64(CONNECTIONS as f64 / f64::from(rate));
        tokio::spawn(
            async move { connection(&target, k, CONNECTIONS, interval, end, &counters).await },
        )
    });
    let flippers = futures_util::future::join_all(flippers);
    let watch = watch(proxy.pid(), &emulator_url, started, end, &counters);
    let (choices, watched) = tokio::join!(flippers, watch);
    let (samples, faults) = watched?;

    let lost = drain_and_count_lost(&format!("http://{admin}"), &emulator_url, choices).await?;
    Ok(report(&samples, faults, lost, length, rate))
}

/// One connection: GET four times, then PATCH (flipping) once, for its own
/// users, at a fixed pace. Returns each user's last accepted choice.
async fn connection(
    target: &Target,
    k: usize,
    connections: usize,
    interval: Duration,
    end: Instant,
    counters: &Counters,
) -> Vec<(usize, bool)> {
    let client = Client::builder()
        .pool_max_idle_per_host(1)
        .http1_only()
        .build()
        .expect("a client");
    let users: Vec<usize> = (k..USERS).step_by(connections).collect();
    let mut chosen: Vec<Option<bool>> = vec![None; users.len()];
    let mut next = Instant::now();
    for i in 0usize.. {
        if next >= end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        next += interval;
        let slot = (i / 5) % users.len();
        let patch = i % 5 == 4;
        let value = !chosen[slot].unwrap_or(false);
        let method = if patch { Method::PATCH } else { Method::GET };
        let status = match target
            .request(&client, &method, users[slot], value)
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        counters.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            200 | 202 if patch => chosen[slot] = Some(value),
            200 => {}
            _ => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    users
        .into_iter()
        .zip(chosen)
        .filter_map(|(user, choice)| Some((user, choice?)))
        .collect()
}

/// Samples every 10 s and injects a fault every 30 s, right after a sample;
/// returns the samples and how many faults the emulator injected, or an
/// error if the proxy was gone at a sample.
async fn watch(
    pid: u32,
    emulator: &str,
    started: Instant,
    end: Instant,
    counters: &Counters,
) -> anyhow::Result<(Vec<Sample>, u64)> {
    let http = Client::new();
    let faults = [
        json!({"kind": "status", "status": 503, "count": 20}),
        json!({"kind": "drop", "count": 10}),
        json!({"kind": "throttle", "retryAfterSecs": 1, "count": 5}),
        json!({"kind": "status", "status": 503, "count": 3, "target": "ims"}),
    ];
    let mut samples = Vec::new();
    for tick in 1u32.. {
        let at = started + Duration::from_secs(10) * tick;
        if at > end {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        samples.push(Sample {
            at: at - started,
            rss_kb: stack::memory_kb(pid, "VmRSS:")?,
            fds: stack::open_fds(pid)?,
            requests: counters.requests.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
            faulted: tick % 3 == 0,
        });
        if tick % 3 == 0 {
            let fault = &faults[(tick as usize / 3) % faults.len()];
            let _ = http
                .post(format!("{emulator}/_emulator/faults"))
                .json(fault)
                .send()
                .await;
            if tick % 12 == 0 {
                let _ = http
                    .post(format!("{emulator}/_emulator/tokens/expire"))
                    .send()
                    .await;
            }
        }
    }
    let stats: Value = match http.get(format!("{emulator}/_emulator/stats")).send().await {
        Ok(response) => response.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    Ok((samples, stats["faultsInjected"].as_u64().unwrap_or(0)))
}

/// Waits for the proxy to apply everything, then counts users whose last
/// accepted choice Campaign does not hold.
async fn drain_and_count_lost(
    admin: &str,
    emulator: &str,
    choices: Vec<Result<Vec<(usize, bool)>, tokio::task::JoinError>>,
) -> anyhow::Result<usize> {
    let http = Client::new();
    for _ in 0..600 {
        let ready: Value = http
            .get(format!("{admin}/health/ready"))
            .send()
            .await?
            .json()
            .await?;
        if ready["pending"].as_i64() == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profiles: Value = http
        .get(format!("{emulator}/_emulator/profiles"))
        .send()
        .await?
        .json()
        .await?;
    let held = |user: usize| {
        profiles.as_array().and_then(|all| {
            all.iter()
                .find(|p| p["cusCustomerId"] == customer(user).as_str())
                .and_then(|p| p["ccpaOptOut"].as_bool())
        })
    };
    let mut lost = 0;
    for connection in choices {
        for (user, choice) in connection? {
            if held(user) != Some(choice) {
                lost += 1;
            }
        }
    }
    Ok(lost)
}

fn report(samples: &[Sample], faults: u64, lost: usize, length: Duration, rate: u32) -> String {
    let mut out = format!(
        "### Soak: {} min at {rate} requests/s (4 GET : 1 PATCH, 32 connections, 1,000 users, Campaign latency 20 ms), a fault every 30 s\n\n\
         | time | proxy RSS | open fds | requests | errors | fault injected after |\n| ---: | ---: | ---: | ---: | ---: | :---: |\n",
        length.as_secs() / 60
    );
    for s in samples {
        let _ = writeln!(
            out,
            "| {} s | {:.1} MB | {} | {} | {} | {} |",
            s.at.as_secs(),
            s.rss_kb as f64 / 1024.0,
            s.fds,
            s.requests,
            s.errors,
            if s.faulted { "yes" } else { "" }
        );
    }
    let errors = samples.last().map_or(0, |s| s.errors);
    let settled = samples.iter().skip(samples.len() / 10).map(|s| s.rss_kb);
    let (low, high) = settled.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let _ = write!(
        out,
        "\nAfter the first tenth: RSS between {:.1} and {:.1} MB. Errors answered: {errors}; faults injected: {faults}. \
         Windows with errors but no fault injected at their start: **{}** (an error there is not an injected one). \
         Accepted choices not in Campaign after draining: **lost = {lost}**.\n",
        low as f64 / 1024.0,
        high as f64 / 1024.0,
        unexplained_windows(samples),
    );
    out
}

/// The ten-second windows in which requests failed although no fault was
/// injected at their start (nor is one still queued from the window
/// before: the largest lasts 20 calls, well under a second at this rate).
fn unexplained_windows(samples: &[Sample]) -> usize {
    samples
        .windows(2)
        .filter(|pair| pair[1].errors > pair[0].errors && !pair[0].faulted)
        .count()
        + samples.first().map_or(0, |s| usize::from(s.errors > 0))
}
