//! `ccpa-bench [flood] <binaries> <results.md>`: the proxy measured beside
//! nginx and the bare emulator in one run, scale facts, the email route
//! flooded, and a soak (`flood`: the flood only); `<binaries>` is the
//! directory of the `release-native` build. Started by `cargo xtask bench`,
//! which builds the binaries and installs nginx.
//!
//! Settings from the environment: `BENCH_SECONDS` (each measured run,
//! default 5), `BENCH_SOAK_MINUTES` (default 10; 0 skips it),
//! `BENCH_SOAK_RATE` (default 100 requests/s).

mod flood;
mod jwt;
mod load;
mod soak;
mod stack;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use load::{Load, Measured, Pace, Run, Target};
use stack::{CLIENT_ID, ORGANIZATION, USERS};

/// The loads of the side-by-side table.
const PACES: [(Pace, usize); 4] = [
    (Pace::Saturate, 1),
    (Pace::Saturate, 32),
    (Pace::Saturate, 256),
    (Pace::Rate(1_000), 128),
];

/// Runs the benchmark until it ends or is told to stop (SIGINT, or the
/// SIGTERM `cargo xtask bench` sends when it ends): either way the
/// processes it started are dropped, and stopped, with it.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        done = run() => done,
        _ = terminate.recv() => anyhow::bail!("stopped by SIGTERM"),
        _ = tokio::signal::ctrl_c() => anyhow::bail!("stopped by SIGINT"),
    }
}

async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let usage = "usage: ccpa-bench [flood] <directory of the release-native binaries> <results.md>";
    let flood_only = args.next_if(|arg| arg == "flood").is_some();
    let bin = PathBuf::from(args.next().context(usage)?);
    let results = PathBuf::from(args.next().context(usage)?);
    let dir = stack::ScratchDir::new()?;
    let out = if flood_only {
        let heading = format!(
            "## The email route flooded, {} ({})\n\n",
            today(),
            machine()
        );
        heading + &flood::run(&bin, &dir).await?
    } else {
        everything(&bin, &dir).await?
    };
    std::fs::write(&results, &out)
        .with_context(|| format!("cannot write {}", results.display()))?;
    println!("{out}");
    Ok(())
}

/// Every part, as `cargo xtask bench` runs them.
async fn everything(bin: &Path, dir: &Path) -> anyhow::Result<String> {
    let seconds = env_number("BENCH_SECONDS", 5);
    let soak_minutes = env_number("BENCH_SOAK_MINUTES", 10);
    let soak_rate = env_number("BENCH_SOAK_RATE", 100);
    let mut out = format!(
        "## Benchmark, {} ({})\n\nEach run: {seconds} s measured after a warm-up; load from the benchmark's own process over loopback, \
         HTTP/1.1 keep-alive, requests spread over {USERS} users. GET and the two PATCH loads separately; our proxy's PATCH records every request \
         in SQLite before it answers.\n\n",
        today(),
        machine()
    );
    for latency in [20, 0] {
        out += &side_by_side(bin, dir, latency, Duration::from_secs(seconds)).await?;
        eprintln!("{out}");
    }
    out += &synchronous_cost(bin, dir, Duration::from_secs(seconds)).await?;
    out += &limits_cost(bin, dir, Duration::from_secs(seconds)).await?;
    out += &scale_facts(bin, dir).await?;
    out += &flood::run(bin, dir).await?;
    if soak_minutes > 0 {
        eprintln!("soaking for {soak_minutes} min…");
        out += &soak::run(
            bin,
            dir,
            Duration::from_secs(soak_minutes * 60),
            soak_rate as u32,
        )
        .await?;
    }
    Ok(out)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Emulator, nginx and proxy at one upstream latency: every pace, each
/// [`Load`].
async fn side_by_side(
    bin: &Path,
    dir: &Path,
    latency_ms: u64,
    duration: Duration,
) -> anyhow::Result<String> {
    let (_emulator, emulator) = stack::emulator(bin, latency_ms).await?;
    let token = stack::ims_token(&emulator).await?;
    let (_nginx, nginx) = stack::nginx(&emulator, &token, dir).await?;
    let (proxy, proxy_url) = stack::proxy(bin, &emulator, dir).await?;
    let targets = [
        (
            "direct",
            Target::Direct {
                profiles: format!(
                    "{emulator}/{ORGANIZATION}/campaign/profileAndServicesExt/profile/"
                ),
                token,
                api_key: CLIENT_ID.into(),
            },
        ),
        (
            "nginx",
            Target::Nginx {
                profiles: format!("{nginx}/profile/"),
            },
        ),
        (
            "proxy",
            Target::Proxy {
                api: format!("{proxy_url}/api/v1/opt-out"),
                tokens: (0..USERS).map(stack::sign_in_token).collect(),
            },
        ),
    ];
    let mut out = String::new();
    for load in [Load::Get, Load::Flip, Load::OptOut] {
        let what = match load {
            Load::Get => "GET",
            Load::Flip => "PATCH (each user opted out, then in again, in turn: half opt-ins)",
            Load::OptOut => "PATCH (opt-outs only)",
        };
        let _ = write!(
            out,
            "### {what}, Campaign latency {latency_ms} ms\n\n\
             | load | target | req/s | p50 ms | p99 ms | p99.9 ms | errors | proxy RSS peak | proxy ÷ nginx | proxy ÷ direct |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        );
        let mut opt_ins = String::new();
        for (pace, connections) in PACES {
            let mut row = Vec::new();
            for (name, target) in &targets {
                let run = Run {
                    target,
                    load,
                    connections,
                    pace,
                    duration,
                    users: USERS,
                };
                let (measured, peak) = if *name == "proxy" {
                    let (measured, peak) = with_peak_rss(proxy.pid(), run.go()).await?;
                    (measured, Some(peak))
                } else {
                    (run.go().await, None)
                };
                row.push((*name, measured, peak));
            }
            out += &rows(pace, connections, &row);
            opt_ins += &opt_in_line(pace, connections, &row);
        }
        if !opt_ins.is_empty() {
            let _ = write!(out, "\nThe opt-ins alone, p50 / p99 ms:\n\n{opt_ins}");
        }
        out.push('\n');
    }
    let idle = stack::memory_kb(proxy.pid(), "VmRSS:")?;
    let _ = writeln!(
        out,
        "Proxy RSS at the end of these runs: {:.1} MB; its high-water mark as the kernel kept it (VmHWM; the kernel misses some peaks, so a sample above may exceed it): {:.1} MB.\n",
        mb(idle),
        mb(stack::memory_kb(proxy.pid(), "VmHWM:")?)
    );
    Ok(out)
}

fn pace_name(pace: Pace, connections: usize) -> String {
    match pace {
        Pace::Saturate => format!("saturation, {connections} conn."),
        Pace::Rate(rate) => format!("{rate} req/s, {connections} conn."),
    }
}

/// A list item with the opt-ins' own latencies of each target, where the
/// load timed them apart.
fn opt_in_line(pace: Pace, connections: usize, row: &[(&str, Measured, Option<u64>)]) -> String {
    let each: Vec<String> = row
        .iter()
        .filter_map(|(name, m, _)| {
            let (p50, p99) = m.opt_ins?;
            Some(format!(
                "{name} {:.2} / {:.2}",
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0
            ))
        })
        .collect();
    if each.is_empty() {
        return String::new();
    }
    format!("* {}: {}\n", pace_name(pace, connections), each.join(", "))
}

fn rows(pace: Pace, connections: usize, row: &[(&str, Measured, Option<u64>)]) -> String {
    let load = pace_name(pace, connections);
    let rps = |name: &str| row.iter().find(|r| r.0 == name).map_or(0.0, |r| r.1.rps);
    let ms = |us: u64| us as f64 / 1000.0;
    let mut out = String::new();
    for (name, m, peak) in row {
        let ratios = if *name == "proxy" {
            format!(
                "{:.2} | {:.2} (p99 {:+.2} ms)",
                m.rps / rps("nginx").max(f64::MIN_POSITIVE),
                m.rps / rps("direct").max(f64::MIN_POSITIVE),
                ms(m.p99) - ms(row[0].1.p99)
            )
        } else {
            " | ".into()
        };
        let later = if m.accepted_later > 0 {
            format!(" (+{} `202`)", m.accepted_later)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {load} | {name} | {:.0}{later} | {:.2} | {:.2} | {:.2} | {} | {} | {ratios} |",
            m.rps,
            ms(m.p50),
            ms(m.p99),
            ms(m.p999),
            m.errors,
            peak.map_or("".into(), |kb| format!("{:.1} MB", mb(kb))),
        );
    }
    out
}

/// Runs `work` while sampling `pid`'s RSS every 50 ms; returns the peak
/// (kB), or an error if the process was gone at a sample.
async fn with_peak_rss<T>(
    pid: u32,
    work: impl std::future::Future<Output = T>,
) -> anyhow::Result<(T, u64)> {
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                match stack::memory_kb(pid, "VmRSS:") {
                    Ok(kb) => peak.fetch_max(kb, Ordering::Relaxed),
                    Err(gone) => return gone,
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let result = work.await;
    if sampler.is_finished() {
        return Err(sampler.await?);
    }
    sampler.abort();
    stack::memory_kb(pid, "VmRSS:")?;
    Ok((result, peak.load(Ordering::Relaxed)))
}

/// What syncing SQLite's log at every commit costs PATCH: the proxy with
/// `synchronous = FULL` (the default) and `NORMAL`, in turn, against one
/// emulator without latency (where storage is all there is to measure).
async fn synchronous_cost(bin: &Path, dir: &Path, duration: Duration) -> anyhow::Result<String> {
    let (_emulator, emulator) = stack::emulator(bin, 0).await?;
    let mut out = String::from(
        "### PATCH by SQLite `synchronous`, Campaign latency 0 ms\n\n\
         | synchronous | load | req/s | p50 ms | p99 ms | errors |\n| --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for mode in ["full", "normal"] {
        let (_proxy, url) = stack::proxy_with(
            bin,
            &emulator,
            dir,
            &[("CCPA__STORAGE__SQLITE_SYNCHRONOUS", mode)],
        )
        .await?;
        let target = Target::Proxy {
            api: format!("{url}/api/v1/opt-out"),
            tokens: (0..USERS).map(stack::sign_in_token).collect(),
        };
        for connections in [32, 256] {
            let m = Run {
                target: &target,
                load: Load::Flip,
                connections,
                pace: Pace::Saturate,
                duration,
                users: USERS,
            }
            .go()
            .await;
            let _ = writeln!(
                out,
                "| {mode} | saturation, {connections} conn. | {:.0} | {:.2} | {:.2} | {} |",
                m.rps,
                m.p50 as f64 / 1000.0,
                m.p99 as f64 / 1000.0,
                m.errors
            );
        }
    }
    out.push('\n');
    Ok(out)
}

/// What counting the limits costs GET: the proxy with its token buckets
/// and pace counted (never reached) and with all of them off, in turn,
/// three rounds each, against one emulator without latency (where the
/// proxy's own work is all there is to measure).
async fn limits_cost(bin: &Path, dir: &Path, duration: Duration) -> anyhow::Result<String> {
    const ROUNDS: usize = 3;
    let (_emulator, emulator) = stack::emulator(bin, 0).await?;
    let off = [
        ("CCPA__LIMITS__READS_PER_MINUTE", "0"),
        ("CCPA__LIMITS__CHANGES_PER_MINUTE", "0"),
        ("CCPA__LIMITS__PER_CLIENT_PER_MINUTE", "0"),
        ("CCPA__CAMPAIGN__MAX_CALLS_PER_SECOND", "0"),
    ];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (counted, settings) in [(0, &[][..]), (1, &off[..])] {
            let (_proxy, url) = stack::proxy_with(bin, &emulator, dir, settings).await?;
            let target = Target::Proxy {
                api: format!("{url}/api/v1/opt-out"),
                tokens: (0..USERS).map(stack::sign_in_token).collect(),
            };
            let m = Run {
                target: &target,
                load: Load::Get,
                connections: 256,
                pace: Pace::Saturate,
                duration,
                users: USERS,
            }
            .go()
            .await;
            anyhow::ensure!(m.errors == 0, "{} errors in a round of GETs", m.errors);
            rates[counted].push(m.rps);
        }
    }
    let [mut on, mut off] = rates;
    let checks = limit_checks_ns();
    let budget_ns = 2.0 * 1e9 / median(&mut off);
    let line = |rates: &[f64]| {
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let out = format!(
        "### GET with the limits counted and off, Campaign latency 0 ms, 256 connections\n\n\
         | limits | req/s, {ROUNDS} rounds | median |\n| --- | --- | ---: |\n\
         | counted (never reached) | {} | {:.0} |\n| off | {} | {:.0} |\n\n\
         Counted ÷ off, medians: {:.3}×. Counting one GET's limits (its customer's bucket and its \
         address's) takes {checks:.0} ns on one core: {:.2} % of the CPU time a GET gets at the \
         median rate with the limits off (two cores ÷ {:.0} req/s = {:.0} µs).\n\n",
        line(&on),
        median(&mut on),
        line(&off),
        median(&mut off),
        median(&mut on) / median(&mut off),
        checks / budget_ns * 100.0,
        median(&mut off),
        budget_ns / 1e3,
    );
    Ok(out)
}

/// What the checks of one GET cost, in ns: the customer's read bucket and
/// the client address's, as the proxy counts them, over 1,000 customers
/// and as many addresses, limits never reached (median of 21 batches).
fn limit_checks_ns() -> f64 {
    use ccpa_proxy::config::LimitSettings;
    use ccpa_proxy::limits::Limits;
    let settings = LimitSettings {
        reads_per_minute: u32::MAX,
        changes_per_minute: u32::MAX,
        per_client_per_minute: u32::MAX,
    };
    let limits = Limits::new(&settings, Default::default());
    let subjects: Vec<String> = (0..USERS).map(|n| format!("LOAD-{n:04}")).collect();
    let clients: Vec<std::net::IpAddr> = (0..USERS)
        .map(|n| std::net::Ipv4Addr::from(0x0a00_0000 + n as u32).into())
        .collect();
    const BATCH: usize = 100_000;
    let mut batches: Vec<f64> = (0..21)
        .map(|_| {
            let started = std::time::Instant::now();
            for n in 0..BATCH {
                let i = n % USERS;
                assert!(limits.customer(&subjects[i], false).is_ok());
                assert!(limits.client(clients[i]).is_ok());
            }
            started.elapsed().as_secs_f64() * 1e9 / BATCH as f64
        })
        .collect();
    median(&mut batches)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One IMS token for 1,000 concurrent cold requests; JWT costs; idle RSS.
async fn scale_facts(bin: &Path, dir: &Path) -> anyhow::Result<String> {
    let (_emulator, emulator) = stack::emulator(bin, 20).await?;
    let (proxy, proxy_url) = stack::proxy(bin, &emulator, dir).await?;
    let idle = stack::memory_kb(proxy.pid(), "VmRSS:")?;
    let api = format!("{proxy_url}/api/v1/opt-out");
    let requests = (0..1_000).map(|user| {
        let api = api.clone();
        tokio::spawn(async move {
            // A client each: 1,000 connections, all arriving at once.
            let client = reqwest::Client::new();
            client
                .get(api)
                .bearer_auth(stack::sign_in_token(user))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let answers = futures_util::future::join_all(requests).await;
    let ok = answers.iter().filter(|a| matches!(a, Ok(Ok(200)))).count();
    let stats: serde_json::Value = reqwest::get(format!("{emulator}/_emulator/stats"))
        .await?
        .json()
        .await?;
    let mut out = format!(
        "### Scale facts\n\n* 1,000 concurrent cold GETs to a fresh proxy: {ok} answered 200, **{} IMS token request(s)**; at most {} Campaign requests at once.\n* Proxy RSS idle (fresh, no request yet): **{:.1} MB**.\n* JWT verification, median of 21 batches of 200 on one core, with the proxy's validation:\n\n| algorithm | µs per token |\n| --- | ---: |\n",
        stats["tokenRequests"],
        stats["peakConcurrentRequests"],
        mb(idle)
    );
    for (name, micros) in jwt::verification_costs() {
        let _ = writeln!(out, "| {name} | {micros:.1} |");
    }
    out.push('\n');
    Ok(out)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {cpu}")
}
