//! What operators watch: how far behind Campaign the proxy is, and which
//! changes wait for something other than their next attempt.
//!
//! Readiness probes and scrapes come as often as their senders like; the
//! counts behind them are read at most once a second and shared, so that
//! a probe never costs a count of the pending table.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::Mutex;

use super::engine::sql;
use super::pending::millis;
use super::{Result, Store};

/// How long counted figures are served again.
const FRESH: Duration = Duration::from_secs(1);

/// How far behind Campaign the proxy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Profiles with a change waiting.
    pub pending: i64,
    /// Changes given up on after repeated answers the proxy cannot
    /// understand, or held for an operator: each needs one.
    pub dead_letters: i64,
    /// How long the profile waiting longest has had a change waiting (a
    /// newer choice does not reset it), if any waits.
    pub oldest_pending_ms: Option<i64>,
    /// Profiles to create for addresses nobody has, waiting for the
    /// creation budget.
    pub held: i64,
    /// Changes still failing after `delivery.stuck_after_ms`.
    pub stuck: i64,
    /// Identities with a choice waiting for Privacy Service.
    pub consents_pending: i64,
    /// Deliveries to Privacy Service given up on.
    pub consent_dead_letters: i64,
}

/// The latest figures and when they were counted; the lock makes one
/// count serve every probe that waited for it.
#[derive(Default)]
pub(super) struct Counted(Mutex<Option<(Instant, Backlog)>>);

/// A change that waits for something other than its next attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    /// The audit record of the latest request for the profile.
    pub audit_id: i64,
    /// That request's id, as in the logs.
    pub request_id: String,
    /// How it came: `widget`, `gpc`, `email`, …
    pub source: String,
    /// `customer`, `email` or `create`.
    pub lane: String,
    /// Since when the profile has had a change waiting (Unix ms): the
    /// response deadline runs from here.
    pub pending_since: i64,
    /// Attempts that failed.
    pub attempts: i64,
    /// What went wrong last, in the proxy's words.
    pub last_error: Option<String>,
}

impl Store {
    /// The backlog, counted at most once a second; a change counts as
    /// stuck once it has failed for `stuck_after`. The count reads the
    /// tables a request is recorded in, so it is readiness's check of
    /// storage too.
    pub async fn backlog(&self, stuck_after: Duration) -> Result<Backlog> {
        let mut counted = self.counted.0.lock().await;
        if let Some((at, backlog)) = *counted
            && at.elapsed() < FRESH
        {
            return Ok(backlog);
        }
        let backlog = self.count(stuck_after).await?;
        *counted = Some((Instant::now(), backlog));
        Ok(backlog)
    }

    async fn count(&self, stuck_after: Duration) -> Result<Backlog> {
        let row = sqlx::query(sql!(
            self.db.dialect,
            "SELECT (SELECT COUNT(*) FROM pending_change) AS pending, \
             (SELECT COUNT(*) FROM dead_letter) AS dead, \
             (SELECT {now} - MIN(pending_since) FROM pending_change) AS oldest, \
             (SELECT COUNT(*) FROM pending_change WHERE hold = 'budget') AS held, \
             (SELECT COUNT(*) FROM pending_change WHERE last_error IS NOT NULL \
               AND pending_since <= {now} - $1) AS stuck, \
             (SELECT COUNT(*) FROM consent_pending) AS consents, \
             (SELECT COUNT(*) FROM consent_dead_letter) AS consents_dead"
        ))
        .bind(millis(stuck_after))
        .fetch_one(&self.db.pool)
        .await?;
        Ok(Backlog {
            pending: row.try_get("pending")?,
            dead_letters: row.try_get("dead")?,
            oldest_pending_ms: row.try_get("oldest")?,
            held: row.try_get("held")?,
            stuck: row.try_get("stuck")?,
            consents_pending: row.try_get("consents")?,
            consent_dead_letters: row.try_get("consents_dead")?,
        })
    }

    /// The `most` changes failing longest, once they have failed for
    /// `stuck_after`.
    pub async fn stuck(&self, stuck_after: Duration, most: u32) -> Result<Vec<Waiting>> {
        let rows = sqlx::query(sql!(
            self.db.dialect,
            "SELECT p.audit_id, a.request_id, a.source, p.lane, p.pending_since, p.attempts, \
             p.last_error FROM pending_change p JOIN audit a ON a.id = p.audit_id \
             WHERE p.last_error IS NOT NULL AND p.pending_since <= {now} - $1 \
             ORDER BY p.pending_since LIMIT $2"
        ))
        .bind(millis(stuck_after))
        .bind(i64::from(most))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(waiting).collect()
    }

    /// The `most` creations waiting longest for the budget.
    pub async fn held(&self, most: u32) -> Result<Vec<Waiting>> {
        let rows = sqlx::query(
            "SELECT p.audit_id, a.request_id, a.source, p.lane, p.pending_since, p.attempts, \
             p.last_error FROM pending_change p JOIN audit a ON a.id = p.audit_id \
             WHERE p.hold = 'budget' ORDER BY p.pending_since LIMIT $1",
        )
        .bind(i64::from(most))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(waiting).collect()
    }
}

fn waiting(row: &AnyRow) -> Result<Waiting> {
    Ok(Waiting {
        audit_id: row.try_get("audit_id")?,
        request_id: row.try_get("request_id")?,
        source: row.try_get("source")?,
        lane: row.try_get("lane")?,
        pending_since: row.try_get("pending_since")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}
