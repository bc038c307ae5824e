//! The open door under abuse: the email route flooded with addresses
//! nobody has, from many clients behind a load balancer, each within its
//! limit, while Campaign answers in 50 ms. Reported, not asserted: how long
//! a signed-in opt-out and an opt-out for an address Campaign knows, both
//! sent during the flood, take to reach Campaign; how many profiles the
//! flood got created (against the budget); what the flood costs the
//! proxy's memory, and what 100,000 distinct addresses do.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;

use crate::stack::{self, free_port};

/// Clients and addresses of the flood (the issue's: 2,000 from 200).
const CLIENTS: usize = 200;
const PER_CLIENT: usize = 10;
/// The creation budget the proxy runs with (its default).
const PER_HOUR: usize = 100;
/// Distinct addresses of the memory run.
const DISTINCT: usize = 100_000;

/// Runs the flood; returns its section of the results.
pub async fn run(bin: &Path, dir: &Path) -> anyhow::Result<String> {
    let (_emulator, emulator) = stack::emulator(bin, 50).await?;
    let admin = format!("127.0.0.1:{}", free_port());
    let (proxy, url) = stack::proxy_with(
        bin,
        &emulator,
        dir,
        &[
            ("CCPA__EMAIL_OPT_OUT__ENABLED", "true"),
            // The benchmark is the load balancer: it says who the client is.
            ("CCPA__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
            ("CCPA__SERVER__ADMIN_LISTEN", &admin),
            ("CCPA__CAMPAIGN__MAX_CALLS_PER_SECOND", "50"),
            ("CCPA__CAMPAIGN__MAX_CONCURRENCY", "32"),
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    let rss = || stack::memory_kb(proxy.pid(), "VmRSS:");
    let idle = rss()?;

    let started = Instant::now();
    let flood = futures_util::stream::iter((0..CLIENTS * PER_CLIENT).map(|n| {
        let client = format!("203.0.113.{}", n % CLIENTS);
        let email = format!("flood-{n}@unknown.example");
        opt_out_by_email(&http, &url, client, email)
    }))
    .buffer_unordered(256)
    .collect::<Vec<_>>()
    .await;
    let sent = started.elapsed();
    let accepted = flood.iter().filter(|s| matches!(s, Ok(202))).count();

    // During the flood: a signed-in customer's opt-out, and one by email
    // for an address Campaign knows, from a client of its own.
    let known = "load-0002@example.com";
    let asked = Instant::now();
    let (signed_in, by_email) = tokio::join!(
        http.patch(format!("{url}/api/v1/opt-out"))
            .bearer_auth(stack::sign_in_token(1))
            .json(&serde_json::json!({"ccpaOptOut": true}))
            .send(),
        opt_out_by_email(&http, &url, "198.51.100.7".into(), known.into()),
    );
    let signed_in = signed_in?.status().as_u16();
    anyhow::ensure!(by_email? == 202, "the known address's opt-out was refused");
    let (customer_took, known_took) = applied(&emulator, asked).await?;
    let ahead = look_ups_before_the_known_address(&emulator).await?;
    let after_flood = rss()?;

    let looked_up = all_looked_up(&emulator, CLIENTS * PER_CLIENT + 1).await?;
    let created = creations(&emulator).await?;
    let held = held_creations(&admin).await?;
    let retried = attempts_retried(&admin).await?;

    let before_distinct = rss()?;
    let distinct_started = Instant::now();
    let distinct = futures_util::stream::iter((0..DISTINCT).map(|n| {
        let client = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
        let email = format!("distinct-{n}@unknown.example");
        opt_out_by_email(&http, &url, client, email)
    }))
    .buffer_unordered(256)
    .collect::<Vec<_>>()
    .await;
    let distinct_took = distinct_started.elapsed();
    let distinct_ok = distinct.iter().filter(|s| matches!(s, Ok(202))).count();
    let after_distinct = rss()?;
    let peak = stack::memory_kb(proxy.pid(), "VmHWM:")?;

    let mut out = format!(
        "### The email route flooded ({CLIENTS} clients × {PER_CLIENT} unknown addresses, Campaign at 50 ms, \
         50 calls/s, creation budget {PER_HOUR}/h)\n\n\
         | what | figure |\n| --- | ---: |\n\
         | flood sent (answered 202) | {accepted} of {} in {:.1} s |\n",
        CLIENTS * PER_CLIENT,
        sent.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| signed-in opt-out during it: answered, in Campaign after | {signed_in}, {} |",
        seconds(customer_took)
    );
    let _ = writeln!(
        out,
        "| known address's opt-out by email during it: in Campaign after | {} |",
        seconds(known_took)
    );
    let _ = writeln!(
        out,
        "| look-ups of flooded addresses before the known address's change | {ahead} |"
    );
    let _ = writeln!(
        out,
        "| every address looked up after | {} |",
        seconds(looked_up)
    );
    let _ = writeln!(
        out,
        "| profiles created / held for the budget | {created} / {held} |"
    );
    let _ = writeln!(
        out,
        "| attempts retried (Campaign never failed: the proxy's own pace) | {retried} |"
    );
    let _ = writeln!(
        out,
        "| proxy RSS: idle → after the flood | {:.1} → {:.1} MB |",
        mb(idle),
        mb(after_flood)
    );
    let _ = writeln!(
        out,
        "| {DISTINCT} distinct addresses from as many clients: answered 202, sent in | {distinct_ok}, {:.1} s |",
        distinct_took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| proxy RSS: before → after them (peak) | {:.1} → {:.1} MB ({:.1} MB) |\n",
        mb(before_distinct),
        mb(after_distinct),
        mb(peak)
    );
    Ok(out)
}

/// One opt-out by email from `client`, as the load balancer forwards it.
async fn opt_out_by_email(
    http: &reqwest::Client,
    url: &str,
    client: String,
    email: String,
) -> anyhow::Result<u16> {
    Ok(http
        .post(format!("{url}/api/v1/opt-out/email"))
        .header("X-Forwarded-For", client)
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await?
        .status()
        .as_u16())
}

/// How long after `asked` Campaign held the signed-in customer's and the
/// known address's opt-outs (each `None` if not within a minute).
async fn applied(
    emulator: &str,
    asked: Instant,
) -> anyhow::Result<(Option<Duration>, Option<Duration>)> {
    let (mut customer, mut known) = (None, None);
    while asked.elapsed() < Duration::from_secs(60) && (customer.is_none() || known.is_none()) {
        let profiles: serde_json::Value = reqwest::get(format!("{emulator}/_emulator/profiles"))
            .await?
            .json()
            .await?;
        let opted_out = |key: &str| {
            profiles
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["cusCustomerId"] == key && p["ccpaOptOut"] == true)
        };
        if customer.is_none() && opted_out("LOAD-0001") {
            customer = Some(asked.elapsed());
        }
        if known.is_none() && opted_out("LOAD-0002") {
            known = Some(asked.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((customer, known))
}

/// How long until Campaign has been asked for `count` addresses (within
/// three minutes).
async fn all_looked_up(emulator: &str, count: usize) -> anyhow::Result<Option<Duration>> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        if calls_of(emulator, "byEmail").await? >= count {
            return Ok(Some(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(None)
}

/// How many `byEmail` look-ups Campaign answered before the known
/// address's PATCH: the second PATCH it saw, the signed-in customer's
/// being the first.
async fn look_ups_before_the_known_address(emulator: &str) -> anyhow::Result<usize> {
    let calls: serde_json::Value = reqwest::get(format!("{emulator}/_emulator/calls"))
        .await?
        .json()
        .await?;
    let calls = calls.as_array().context("the emulator lists its calls")?;
    let known = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c["kind"] == "patch")
        .nth(1)
        .map_or(calls.len(), |(at, _)| at);
    Ok(calls[..known]
        .iter()
        .filter(|c| c["kind"] == "byEmail")
        .count())
}

async fn creations(emulator: &str) -> anyhow::Result<usize> {
    calls_of(emulator, "create").await
}

/// Calls of `kind` the emulator answered with success.
async fn calls_of(emulator: &str, kind: &str) -> anyhow::Result<usize> {
    let calls: serde_json::Value = reqwest::get(format!("{emulator}/_emulator/calls"))
        .await?
        .json()
        .await?;
    Ok(calls
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["kind"] == kind && c["status"].as_u64().is_some_and(|s| s < 300))
        .count())
}

async fn held_creations(admin: &str) -> anyhow::Result<i64> {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let ready: serde_json::Value = reqwest::get(format!("http://{admin}/health/ready"))
        .await?
        .json()
        .await?;
    ready["heldCreations"]
        .as_i64()
        .context("readiness counts held creations")
}

/// `ccpa_attempts_total{outcome="retried"}` from the admin listener.
async fn attempts_retried(admin: &str) -> anyhow::Result<u64> {
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await?
        .text()
        .await?;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("ccpa_attempts_total{outcome=\"retried\"} "))
        .and_then(|count| count.parse().ok())
        .context("the metrics count retried attempts")
}

fn seconds(took: Option<Duration>) -> String {
    took.map_or("over a minute".into(), |t| {
        format!("{:.1} s", t.as_secs_f64())
    })
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
