//! What operators watch, counted in the process and rendered in
//! Prometheus' text format on the admin listener (`server.admin_listen`),
//! never on the public one.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::Backlog;

/// Upper bounds of the latency buckets, in seconds: from a loopback call
/// to a call at the default 5 s timeout.
const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How an attempt at a recorded change ended.
#[derive(Debug, Clone, Copy)]
pub enum Attempted {
    /// Campaign holds the value.
    Applied,
    /// A profile was created with it.
    Created,
    /// It can never be applied.
    Denied,
    /// It waits for another attempt.
    Retried,
    /// Given up: among the dead letters.
    Failed,
    /// A profile to create for an address nobody has, held for the
    /// creation budget.
    Held,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    /// A signed-in customer's reads.
    Reads,
    /// A signed-in customer's changes.
    Changes,
    /// One client address.
    Client,
    /// The email route's own limits.
    Email,
    /// Browsers' own choices told to Privacy Service, per client.
    Browser,
}

/// Which upstream a call went to.
#[derive(Debug, Clone, Copy)]
pub enum Upstream {
    /// Adobe Campaign's profile API.
    Campaign,
    /// Adobe IMS's token endpoint.
    Ims,
    /// Adobe Privacy Service's consent endpoint.
    PrivacyService,
}

/// How an attempt to tell Privacy Service a choice ended.
#[derive(Debug, Clone, Copy)]
pub enum Consented {
    /// Privacy Service took it.
    Delivered,
    /// It waits for another attempt.
    Retried,
    /// Given up: among the dead letters.
    Failed,
}

/// The process's counters; shared by every part that counts.
#[derive(Default)]
pub struct Metrics {
    attempts: [AtomicU64; 6],
    limited: [AtomicU64; 5],
    shed: AtomicU64,
    consents: [AtomicU64; 3],
    latency: [Histogram; 3],
}

#[derive(Default)]
struct Histogram {
    /// Calls at or under each bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts an attempt's end.
    pub fn attempted(&self, how: Attempted) {
        self.attempts[how as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the end of an attempt to tell Privacy Service a choice.
    pub fn consented(&self, how: Consented) {
        self.consents[how as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request a limit refused.
    pub fn limited(&self, which: Limited) {
        self.limited[which as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection turned away at the cap.
    pub fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a call to `upstream` took, answered or not.
    pub fn called(&self, upstream: Upstream, took: Duration) {
        let histogram = &self.latency[upstream as usize];
        let seconds = took.as_secs_f64();
        if let Some(bucket) = BOUNDS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        histogram.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        histogram.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Everything, with the storage's `backlog` (left out when storage did
    /// not answer), in Prometheus' text format.
    pub fn render(&self, backlog: Option<&Backlog>) -> String {
        let mut out = String::new();
        if let Some(backlog) = backlog {
            gauges(&mut out, backlog);
        }
        self.render_counts(&mut out);
        out
    }

    fn render_counts(&self, out: &mut String) {
        let attempts = ["applied", "created", "denied", "retried", "failed", "held"];
        counters(
            out,
            "ccpa_attempts_total",
            "Attempts at recorded changes, by how they ended.",
            "outcome",
            attempts.iter().zip(&self.attempts),
        );
        counters(
            out,
            "ccpa_privacy_service_attempts_total",
            "Attempts to tell Privacy Service a choice, by how they ended.",
            "outcome",
            ["delivered", "retried", "failed"]
                .iter()
                .zip(&self.consents),
        );
        let limits = ["reads", "changes", "client", "email", "browser"];
        counters(
            out,
            "ccpa_rate_limited_total",
            "Requests refused by a limit.",
            "limit",
            limits.iter().zip(&self.limited),
        );
        let shed = "ccpa_connections_shed_total";
        let _ = writeln!(
            out,
            "# HELP {shed} Connections turned away at server.max_connections or at a client's \
             server.max_connections_per_client.\n# TYPE {shed} counter\n{shed} {}",
            self.shed.load(Ordering::Relaxed)
        );
        let name = "ccpa_upstream_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long calls to Campaign, IMS and Privacy Service took.\n\
             # TYPE {name} histogram"
        );
        let upstreams = ["campaign", "ims", "privacy_service"];
        for (upstream, histogram) in upstreams.iter().zip(&self.latency) {
            histogram.render(out, name, upstream);
        }
    }
}

/// The storage's backlog, as gauges.
fn gauges(out: &mut String, backlog: &Backlog) {
    let oldest = backlog.oldest_pending_ms.unwrap_or(0) as f64 / 1000.0;
    for (name, help, value) in [
        (
            "ccpa_pending_changes",
            "Changes recorded that Campaign has not confirmed.",
            backlog.pending as f64,
        ),
        (
            "ccpa_oldest_pending_seconds",
            "How long the longest-waiting change has waited.",
            oldest,
        ),
        (
            "ccpa_dead_letters",
            "Changes given up on, or held for an operator, each waiting for one.",
            backlog.dead_letters as f64,
        ),
        (
            "ccpa_held_creations",
            "Profiles to create for addresses nobody has, waiting for the creation budget.",
            backlog.held as f64,
        ),
        (
            "ccpa_stuck_changes",
            "Changes still failing after delivery.stuck_after_ms (each is still retried).",
            backlog.stuck as f64,
        ),
        (
            "ccpa_privacy_service_pending",
            "Identities with a choice Privacy Service has not taken yet.",
            backlog.consents_pending as f64,
        ),
        (
            "ccpa_privacy_service_dead_letters",
            "Deliveries to Privacy Service given up on, each waiting for an operator.",
            backlog.consent_dead_letters as f64,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
}

fn counters<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a &'a str, &'a AtomicU64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, count) in values {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{value}\"}} {}",
            count.load(Ordering::Relaxed)
        );
    }
}

impl Histogram {
    fn render(&self, out: &mut String, name: &str, upstream: &str) {
        let mut below = 0;
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            below += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{upstream=\"{upstream}\",le=\"{bound}\"}} {below}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{upstream=\"{upstream}\",le=\"+Inf\"}} {count}\n\
             {name}_sum{{upstream=\"{upstream}\"}} {sum}\n\
             {name}_count{{upstream=\"{upstream}\"}} {count}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_prometheus_text() {
        let metrics = Metrics::default();
        metrics.attempted(Attempted::Applied);
        metrics.attempted(Attempted::Applied);
        metrics.attempted(Attempted::Held);
        metrics.limited(Limited::Changes);
        metrics.shed();
        metrics.consented(Consented::Retried);
        metrics.called(Upstream::PrivacyService, Duration::from_millis(30));
        metrics.called(Upstream::Campaign, Duration::from_millis(30));
        metrics.called(Upstream::Campaign, Duration::from_secs(60));
        let backlog = Backlog {
            pending: 3,
            dead_letters: 1,
            oldest_pending_ms: Some(1_500),
            held: 2,
            stuck: 1,
            consents_pending: 4,
            consent_dead_letters: 0,
        };
        let text = metrics.render(Some(&backlog));
        for line in [
            "ccpa_pending_changes 3",
            "ccpa_oldest_pending_seconds 1.5",
            "ccpa_dead_letters 1",
            "ccpa_held_creations 2",
            "ccpa_stuck_changes 1",
            "ccpa_attempts_total{outcome=\"applied\"} 2",
            "ccpa_attempts_total{outcome=\"failed\"} 0",
            "ccpa_attempts_total{outcome=\"held\"} 1",
            "ccpa_rate_limited_total{limit=\"changes\"} 1",
            "ccpa_connections_shed_total 1",
            "ccpa_upstream_seconds_bucket{upstream=\"campaign\",le=\"0.025\"} 0",
            "ccpa_upstream_seconds_bucket{upstream=\"campaign\",le=\"0.05\"} 1",
            "ccpa_upstream_seconds_bucket{upstream=\"campaign\",le=\"10\"} 1",
            "ccpa_upstream_seconds_bucket{upstream=\"campaign\",le=\"+Inf\"} 2",
            "ccpa_upstream_seconds_count{upstream=\"campaign\"} 2",
            "ccpa_upstream_seconds_count{upstream=\"ims\"} 0",
            "ccpa_upstream_seconds_count{upstream=\"privacy_service\"} 1",
            "ccpa_privacy_service_pending 4",
            "ccpa_privacy_service_attempts_total{outcome=\"retried\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }
}
