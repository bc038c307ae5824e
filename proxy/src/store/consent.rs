//! Deliveries to Adobe's Privacy Service, the second destination of a
//! choice about sale (when `privacy_service.enabled`).
//!
//! The `consent_pending` table holds one row per identity (an address, a
//! browser's ECID): the latest choice Privacy Service has not taken. A
//! request naming two identities makes two rows, each delivered, retried,
//! given up on and audited on its own; one row per identity keeps each
//! identity's choices in the order they were made, whatever the other
//! rows do. Rows are written in the transaction that records the request,
//! so a choice is never recorded for one destination and lost for the
//! other.
//!
//! Leases, in-doubt sends and supersession follow `pending_change`'s rules
//! (see [`super::pending`]); the outcome of each identity's delivery goes
//! to the append-only `consent_outcome`.

use std::time::Duration;

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::engine::sql;
use super::pending::{Finished, LeaseToken, Release, count, millis};
use super::trail::{self, Asked, Choice, Decided, Decision, Source};
use super::writer::{Write, Written};
use super::{Db, Result, Store, StoreError};
use crate::identity::{AdobeId, Subject};

/// A delivery to Privacy Service leased for one attempt.
#[derive(Debug, Clone)]
pub struct ConsentClaim {
    /// Whom it is about.
    pub id: AdobeId,
    /// The request it carries out (the identity's latest when leased).
    pub audit_id: i64,
    /// That request's `X-Request-Id`, which the attempt's logs carry.
    pub request_id: String,
    /// `optOutOfSale`.
    pub opt_out: bool,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Of those, answers the proxy could not understand.
    pub strikes: u32,
    /// What the attempt must present to finish.
    lease: LeaseToken,
}

/// How an attempt to deliver a [`ConsentClaim`] ended.
#[derive(Debug)]
pub enum ConsentOutcome {
    /// Privacy Service took it (`202 Accepted`).
    Delivered,
    /// It failed; try again after `after`.
    Retry {
        /// How long to wait.
        after: Duration,
        /// What went wrong, for operators (no bodies, tokens or addresses).
        error: String,
        /// Whether the answer was one the proxy cannot understand.
        strike: bool,
        /// Whether a call went out whose answer never came: nobody may
        /// send this identity's choice again, a newer one included, until
        /// `after` has passed, so that a late arrival is not the last.
        in_doubt: bool,
    },
    /// The last strike: to the dead letters (audited `failed`), unless a
    /// newer choice replaced it meanwhile; that one is tried after `after`.
    GiveUp {
        /// How long the newer choice waits, if there is one.
        after: Duration,
        /// What went wrong, kept as the basis.
        error: String,
    },
}

/// A delivery waiting for Privacy Service, as operators see it: never the
/// identity itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentWaiting {
    /// The request's audit record.
    pub audit_id: i64,
    /// Its `X-Request-Id`.
    pub request_id: String,
    /// `email` or `ECID`.
    pub namespace: String,
    /// `optOutOfSale` as sent.
    pub opt_out: bool,
    /// How Campaign answered the same request: `applied`, `created`, …,
    /// or `None` while it waits there too, or for a choice Campaign has no
    /// part in (a browser's own, without an account; an operator's retry
    /// of a delivery to Privacy Service).
    pub campaign: Option<String>,
    /// Since when this identity has had a choice waiting (Unix ms).
    pub pending_since: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    /// The last failure, in the proxy's words.
    pub last_error: Option<String>,
}

/// A choice told to Privacy Service alone: a browser's own, made without
/// an account (kept in its cookie; nobody is signed in, so no Campaign
/// profile is changed), or an operator's retry of a delivery given up on.
pub struct BrowserRequest {
    /// Who asked: the browser, named by its ECID.
    pub subject: Subject,
    /// `true`: do not sell or share.
    pub value: bool,
    /// Whether it carried `Sec-GPC: 1`.
    pub gpc: bool,
    /// The switch (`browser`), or Global Privacy Control (`gpc`).
    pub source: Source,
    /// Why Campaign has nothing to do, for the audit trail.
    pub basis: &'static str,
    /// The request id also found in the logs.
    pub request_id: String,
    /// What Privacy Service is told it for.
    pub adobe: Vec<AdobeId>,
}

impl Store {
    /// Records `request` in the audit trail (its Campaign outcome at once:
    /// there is no profile to change) and makes it wait for Privacy
    /// Service, in one transaction.
    pub async fn record_browser(&self, request: BrowserRequest) -> Result<()> {
        self.write(Write::Browser(request)).await?;
        self.consents_recorded(true);
        Ok(())
    }

    /// Whether an opt-out that every page view repeats (a signal, a
    /// cookie's, an account's) needs no telling for `id`, a browser
    /// recorded as `subject`: its latest request opted out, or allowed
    /// sale while sending GPC (a waiver the signal must not override), or
    /// an opt-out for it still waits.
    pub async fn told_already(&self, subject: &Subject, id: &AdobeId) -> Result<bool> {
        let latest = sqlx::query(
            "SELECT requested, gpc FROM audit WHERE subject = $1 AND choice = 'sale' \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(subject.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        if let Some(row) = latest
            && (row.try_get::<i64, _>("requested")? == 1 || row.try_get::<i64, _>("gpc")? == 1)
        {
            return Ok(true);
        }
        let waiting = sqlx::query(
            "SELECT opt_out FROM consent_pending WHERE namespace = $1 AND identity = $2",
        )
        .bind(id.namespace())
        .bind(id.key())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(waiting
            .map(|row| row.try_get::<i64, _>("opt_out").map(|v| v == 1))
            .transpose()?
            .unwrap_or(false))
    }

    /// Leases the delivery to Privacy Service that is due soonest, if any
    /// is due. A row this version cannot read is given up on the way.
    pub async fn claim_consent(&self, lease: Duration) -> Result<Option<ConsentClaim>> {
        loop {
            match self.db.claim_consent(lease).await? {
                None => return Ok(None),
                Some(Ok(claim)) => return Ok(Some(claim)),
                Some(Err((audit_id, namespace))) => {
                    tracing::error!(
                        audit = audit_id,
                        namespace,
                        "a delivery's stored identity is not one this version takes; it goes to \
                         the dead letters"
                    );
                    self.write(Write::ShelveConsent(audit_id, namespace))
                        .await?;
                }
            }
        }
    }

    /// Records how `claim` ended and gives the identity's row back, if the
    /// claim's lease still holds it.
    pub async fn finish_consent(
        &self,
        claim: ConsentClaim,
        outcome: ConsentOutcome,
    ) -> Result<Finished> {
        match self.write(Write::FinishConsent(claim, outcome)).await? {
            Written::Finished(finished) => Ok(finished),
            _ => unreachable!("a finish is answered as one"),
        }
    }

    /// The `most` deliveries waiting longest for Privacy Service, with how
    /// Campaign answered the same request: a choice Campaign applied and
    /// Privacy Service has not taken yet shows as such.
    pub async fn consents_waiting(&self, most: u32) -> Result<Vec<ConsentWaiting>> {
        sqlx::query(
            "SELECT c.audit_id, a.request_id, c.namespace, c.opt_out, o.outcome, \
             c.pending_since, c.attempts, c.last_error \
             FROM consent_pending c JOIN audit a ON a.id = c.audit_id \
             LEFT JOIN audit_outcome o ON o.audit_id = c.audit_id \
             AND a.subject NOT LIKE 'ecid:%' AND a.source <> 'operator' \
             ORDER BY c.pending_since, c.audit_id LIMIT $1",
        )
        .bind(i64::from(most))
        .fetch(&self.db.pool)
        .map_err(StoreError::from)
        .and_then(|row| async move {
            Ok(ConsentWaiting {
                audit_id: row.try_get("audit_id")?,
                request_id: row.try_get("request_id")?,
                namespace: row.try_get("namespace")?,
                opt_out: row.try_get::<i64, _>("opt_out")? != 0,
                campaign: row.try_get("outcome")?,
                pending_since: row.try_get("pending_since")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
            })
        })
        .try_collect()
        .await
    }
}

impl Db {
    pub(super) async fn record_browser_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request: &BrowserRequest,
    ) -> Result<()> {
        let asked = Asked {
            request_id: &request.request_id,
            subject: &request.subject,
            choice: Choice::Sale,
            value: request.value,
            source: request.source,
            gpc: request.gpc,
        };
        let (audit_id, _) = trail::insert(self.dialect, tx, &asked).await?;
        let kept = Decided {
            changed: Some(0),
            ..Decided::because(Decision::Applied, request.basis)
        };
        trail::record(self.dialect, tx, audit_id, kept).await?;
        self.enqueue_consents(tx, audit_id, &request.adobe, request.value)
            .await
    }

    /// Makes each identity of `request` (recorded as `audit_id`) wait for
    /// Privacy Service with the request's choice, replacing an older
    /// choice still waiting (audited `superseded` unless it is being sent
    /// right now: its sender decides). A row waiting out a backoff, or a
    /// send whose answer never came, keeps its time: a newer choice does
    /// not hurry a Privacy Service that is failing or throttling.
    ///
    /// Lock order: after `pending_change` (callers enqueue last).
    pub(super) async fn enqueue_consents(
        &self,
        tx: &mut Transaction<'_, Any>,
        audit_id: i64,
        ids: &[AdobeId],
        opt_out: bool,
    ) -> Result<()> {
        for id in ids {
            while !self.enqueue_consent(tx, audit_id, id, opt_out).await? {}
        }
        Ok(())
    }

    /// One identity's part of [`Db::enqueue_consents`]; `false` when its
    /// row went (delivered by another process) between the insert and the
    /// lock: then it is tried again.
    async fn enqueue_consent(
        &self,
        tx: &mut Transaction<'_, Any>,
        audit_id: i64,
        id: &AdobeId,
        opt_out: bool,
    ) -> Result<bool> {
        let d = self.dialect;
        let at = (id.namespace(), id.key());
        // An insert first: two first requests for one identity in two
        // replicas then meet at the primary key, not both past a lock
        // of a row that did not exist yet.
        let inserted = sqlx::query(sql!(
            d,
            "INSERT INTO consent_pending (namespace, identity, given, audit_id, opt_out, \
             next_attempt_at, pending_since) VALUES ($1, $2, $3, $4, $5, {now}, {now}) \
             ON CONFLICT (namespace, identity) DO NOTHING RETURNING audit_id"
        ))
        .bind(at.0)
        .bind(at.1)
        .bind(id.given())
        .bind(audit_id)
        .bind(i64::from(opt_out))
        .fetch_optional(&mut **tx)
        .await?;
        if inserted.is_some() {
            self.delete(tx, Rows::DeadLetters, at).await?;
            return Ok(true);
        }
        let Some(row) = sqlx::query(sql!(
            d,
            "SELECT audit_id, leased_audit_id, \
             CAST(CASE WHEN lease_until <= {now} THEN 1 ELSE 0 END AS BIGINT) AS free \
             FROM consent_pending WHERE namespace = $1 AND identity = $2 {lock}"
        ))
        .bind(at.0)
        .bind(at.1)
        .fetch_optional(&mut **tx)
        .await?
        else {
            return Ok(false);
        };
        let older: i64 = row.try_get("audit_id")?;
        let leased: Option<i64> = row.try_get("leased_audit_id")?;
        if row.try_get::<i64, _>("free")? == 1 || leased != Some(older) {
            record(d, tx, (older, at.0), "superseded", None).await?;
        }
        // The same choice again (an address's repeats) keeps the count of
        // failures, so that a refused delivery still reaches the dead
        // letters; another choice starts afresh.
        sqlx::query(
            "UPDATE consent_pending SET given = $3, audit_id = $4, \
             attempts = CASE WHEN opt_out = $5 THEN attempts ELSE 0 END, \
             strikes = CASE WHEN opt_out = $5 THEN strikes ELSE 0 END, \
             opt_out = $5 WHERE namespace = $1 AND identity = $2",
        )
        .bind(at.0)
        .bind(at.1)
        .bind(id.given())
        .bind(audit_id)
        .bind(i64::from(opt_out))
        .execute(&mut **tx)
        .await?;
        Ok(true)
    }

    /// Leases the due delivery waiting longest, an address's before an
    /// ECID's (anyone can send ECIDs by the thousand; addresses come
    /// through limits of their own); `Err` names a row whose identity this
    /// version cannot read.
    async fn claim_consent(
        &self,
        lease: Duration,
    ) -> Result<Option<std::result::Result<ConsentClaim, (i64, String)>>> {
        for namespace in ["email", "ECID"] {
            let token = LeaseToken::new();
            let row = sqlx::query(sql!(
                self.dialect,
                "UPDATE consent_pending SET lease_token = $1, lease_until = {now} + $2, \
                 leased_audit_id = audit_id \
                 WHERE (namespace, identity) = (SELECT namespace, identity FROM consent_pending \
                   WHERE namespace = $3 AND next_attempt_at <= {now} AND lease_until <= {now} \
                   ORDER BY next_attempt_at LIMIT 1 {skip_locked}) \
                 AND lease_until <= {now} \
                 RETURNING namespace, identity, given, audit_id, opt_out, attempts, strikes, \
                 COALESCE((SELECT request_id FROM audit WHERE audit.id = consent_pending.audit_id), '-') \
                 AS request_id"
            ))
            .bind(token.0.as_str())
            .bind(millis(lease))
            .bind(namespace)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = row {
                return consent_claim(&row, token).map(Some);
            }
        }
        Ok(None)
    }

    /// Records how `claim` ended: the row goes once delivered, unless a
    /// newer choice replaced it (that one is due at once); it waits for its
    /// next attempt after a failure; the last strike buries it.
    pub(super) async fn finish_consent_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        claim: &ConsentClaim,
        outcome: &ConsentOutcome,
    ) -> Result<Finished> {
        let d = self.dialect;
        let at = (claim.id.namespace(), claim.id.key());
        let row = sqlx::query(sql!(
            d,
            "SELECT audit_id, lease_token FROM consent_pending \
             WHERE namespace = $1 AND identity = $2 {lock}"
        ))
        .bind(at.0)
        .bind(at.1)
        .fetch_optional(&mut **tx)
        .await?;
        let (current, holder) = match &row {
            Some(row) => (
                Some(row.try_get::<i64, _>("audit_id")?),
                row.try_get::<Option<String>, _>("lease_token")?,
            ),
            None => (None, None),
        };
        let holds = holder.as_ref() == Some(&claim.lease.0);
        let replaced = current != Some(claim.audit_id);
        let this = (claim.audit_id, at.0);
        let delivered = matches!(outcome, ConsentOutcome::Delivered);
        if replaced && !(holds && delivered) {
            record(d, tx, this, "superseded", None).await?;
        }
        if !holds {
            return Ok(Finished::LeaseLost);
        }
        let (attempts, strikes) = if replaced {
            (0, 0)
        } else {
            (claim.attempts + 1, claim.strikes)
        };
        let wait = match outcome {
            ConsentOutcome::Delivered => {
                record(d, tx, this, "applied", None).await?;
                if !replaced {
                    self.delete(tx, Rows::Pending, at).await?;
                    return Ok(Finished::Done);
                }
                Release {
                    after: Duration::ZERO,
                    attempts,
                    strikes,
                    error: None,
                    in_doubt: false,
                }
            }
            ConsentOutcome::GiveUp { error, .. } if !replaced => {
                record(d, tx, this, "failed", Some(error)).await?;
                self.bury_consent(tx, claim, error).await?;
                self.delete(tx, Rows::Pending, at).await?;
                return Ok(Finished::Done);
            }
            ConsentOutcome::GiveUp { after, error } => Release {
                after: *after,
                attempts,
                strikes,
                error: Some(error),
                in_doubt: false,
            },
            ConsentOutcome::Retry {
                after,
                error,
                strike,
                in_doubt,
            } => Release {
                after: *after,
                attempts,
                strikes: strikes + u32::from(*strike && !replaced),
                error: Some(error),
                in_doubt: *in_doubt,
            },
        };
        let newer = replaced && wait.after.is_zero();
        self.wait_consent(tx, at, wait).await?;
        Ok(if newer {
            Finished::NewerDue
        } else {
            Finished::Waiting
        })
    }

    /// Gives up a row this version cannot read: audited `failed`, among
    /// the dead letters, off the deliveries.
    pub(super) async fn shelve_consent_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        audit_id: i64,
        namespace: &str,
    ) -> Result<()> {
        let error = "the identity stored for this delivery is not one this version takes; an \
                     operator decides what becomes of it";
        record(
            self.dialect,
            tx,
            (audit_id, namespace),
            "failed",
            Some(error),
        )
        .await?;
        sqlx::query(sql!(
            self.dialect,
            "INSERT INTO consent_dead_letter (audit_id, namespace, identity, given, opt_out, \
             attempts, last_error, dead_at) \
             SELECT audit_id, namespace, identity, given, opt_out, attempts + 1, $3, {now} \
             FROM consent_pending WHERE audit_id = $1 AND namespace = $2"
        ))
        .bind(audit_id)
        .bind(namespace)
        .bind(error)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM consent_pending WHERE audit_id = $1 AND namespace = $2")
            .bind(audit_id)
            .bind(namespace)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn bury_consent(
        &self,
        tx: &mut Transaction<'_, Any>,
        claim: &ConsentClaim,
        error: &str,
    ) -> Result<()> {
        sqlx::query(sql!(
            self.dialect,
            "INSERT INTO consent_dead_letter (audit_id, namespace, identity, given, opt_out, \
             attempts, last_error, dead_at) VALUES ($1, $2, $3, $4, $5, $6, $7, {now})"
        ))
        .bind(claim.audit_id)
        .bind(claim.id.namespace())
        .bind(claim.id.key())
        .bind(claim.id.given())
        .bind(i64::from(claim.opt_out))
        .bind(i64::from(claim.attempts + 1))
        .bind(error)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Deletes `at`'s row from `table`: its delivery once done, or, when a
    /// newer choice for the identity arrives, its deliveries given up on
    /// (moot then, each staying audited `failed`: an operator's retry
    /// would only send an older choice after the newer).
    async fn delete(
        &self,
        tx: &mut Transaction<'_, Any>,
        table: Rows,
        (namespace, identity): (&str, &str),
    ) -> Result<()> {
        let statement = match table {
            Rows::Pending => "DELETE FROM consent_pending WHERE namespace = $1 AND identity = $2",
            Rows::DeadLetters => {
                "DELETE FROM consent_dead_letter WHERE namespace = $1 AND identity = $2"
            }
        };
        sqlx::query(statement)
            .bind(namespace)
            .bind(identity)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Ends the lease; the row is due again after `wait.after`, and stays
    /// closed to everyone until then if a send may still land.
    async fn wait_consent(
        &self,
        tx: &mut Transaction<'_, Any>,
        (namespace, identity): (&str, &str),
        wait: Release<'_>,
    ) -> Result<()> {
        sqlx::query(sql!(
            self.dialect,
            "UPDATE consent_pending SET lease_token = NULL, leased_audit_id = NULL, \
             lease_until = CASE WHEN $1 = 1 THEN {now} + $2 ELSE 0 END, \
             in_doubt = $1, attempts = $3, strikes = $4, next_attempt_at = {now} + $2, \
             last_error = $5 WHERE namespace = $6 AND identity = $7"
        ))
        .bind(i64::from(wait.in_doubt))
        .bind(millis(wait.after))
        .bind(i64::from(wait.attempts))
        .bind(i64::from(wait.strikes))
        .bind(wait.error)
        .bind(namespace)
        .bind(identity)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// An identity's rows [`Db::delete`] takes.
enum Rows {
    /// Its delivery waiting.
    Pending,
    /// Its deliveries given up on.
    DeadLetters,
}

/// Records how Privacy Service answered request `audit_id` for
/// `namespace`, unless it already was: the first outcome stands.
async fn record(
    dialect: super::engine::Dialect,
    tx: &mut Transaction<'_, Any>,
    (audit_id, namespace): (i64, &str),
    outcome: &str,
    basis: Option<&str>,
) -> Result<()> {
    sqlx::query(sql!(
        dialect,
        "INSERT INTO consent_outcome (audit_id, namespace, outcome, decided_at, basis) \
         VALUES ($1, $2, $3, {now}, $4) ON CONFLICT (audit_id, namespace) DO NOTHING"
    ))
    .bind(audit_id)
    .bind(namespace)
    .bind(outcome)
    .bind(basis)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn consent_claim(
    row: &AnyRow,
    lease: LeaseToken,
) -> Result<std::result::Result<ConsentClaim, (i64, String)>> {
    let namespace: String = row.try_get("namespace")?;
    let identity: String = row.try_get("identity")?;
    let given: Option<String> = row.try_get("given")?;
    let audit_id = row.try_get("audit_id")?;
    let Ok(id) = AdobeId::parse(&namespace, &identity, given.as_deref()) else {
        return Ok(Err((audit_id, namespace)));
    };
    Ok(Ok(ConsentClaim {
        id,
        audit_id,
        request_id: row.try_get("request_id")?,
        opt_out: row.try_get::<i64, _>("opt_out")? != 0,
        attempts: count(row, "attempts")?,
        strikes: count(row, "strikes")?,
        lease,
    }))
}

/// A delivery to Privacy Service given up on, as operators list it: never
/// the identity itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentDeadLetter {
    /// Always `privacyService`: beside Campaign's in one listing.
    pub destination: &'static str,
    /// The request's audit record.
    pub audit_id: i64,
    /// `email` or `ECID`.
    pub namespace: String,
    /// `optOutOfSale` as it was to be sent.
    pub opt_out: bool,
    /// Attempts made.
    pub attempts: i64,
    /// What Privacy Service answered last, in the proxy's words.
    pub last_error: String,
    /// When it was given up (Unix ms).
    pub dead_at: i64,
}

impl Store {
    /// Every delivery to Privacy Service given up on, oldest first.
    pub async fn consent_dead_letters(&self) -> Result<Vec<ConsentDeadLetter>> {
        sqlx::query(
            "SELECT audit_id, namespace, opt_out, attempts, last_error, dead_at \
             FROM consent_dead_letter ORDER BY audit_id, namespace",
        )
        .fetch(&self.db.pool)
        .map_err(StoreError::from)
        .and_then(|row| async move {
            Ok(ConsentDeadLetter {
                destination: "privacyService",
                audit_id: row.try_get("audit_id")?,
                namespace: row.try_get("namespace")?,
                opt_out: row.try_get::<i64, _>("opt_out")? != 0,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                dead_at: row.try_get("dead_at")?,
            })
        })
        .try_collect()
        .await
    }

    /// Sends every delivery to Privacy Service given up on again: each
    /// becomes a new request of the operator's (audited, for Privacy
    /// Service only: Campaign's part was decided with the original), due
    /// at once, and leaves the dead letters. A letter whose identity this
    /// version does not take stays. Returns how many were sent, and kept.
    pub async fn retry_consent_dead_letters(&self) -> Result<(usize, usize)> {
        let rows = sqlx::query(
            "SELECT d.audit_id, d.namespace, d.identity, d.given, d.opt_out, a.subject \
             FROM consent_dead_letter d JOIN audit a ON a.id = d.audit_id \
             ORDER BY d.audit_id, d.namespace",
        )
        .fetch_all(&self.db.pool)
        .await?;
        let (mut sent, mut kept) = (0, 0);
        for row in rows {
            let audit_id: i64 = row.try_get("audit_id")?;
            let namespace: String = row.try_get("namespace")?;
            let given: Option<String> = row.try_get("given")?;
            let identity: String = row.try_get("identity")?;
            let Ok(id) = AdobeId::parse(&namespace, &identity, given.as_deref()) else {
                tracing::warn!(
                    audit = audit_id,
                    "a dead letter's identity is not one this version takes; it stays"
                );
                kept += 1;
                continue;
            };
            let again = BrowserRequest {
                subject: Subject::verified(&row.try_get::<String, _>("subject")?),
                value: row.try_get::<i64, _>("opt_out")? != 0,
                gpc: false,
                source: Source::Operator,
                basis: "an operator sent a delivery to Privacy Service given up on again; \
                        Campaign's part was decided with the original request",
                request_id: format!("retry-of-{audit_id}"),
                adobe: vec![id],
            };
            // Its enqueue takes the letter off, in the same transaction. A
            // letter outlives no newer choice for its identity (that one
            // took it off), so the retry is the identity's latest word.
            self.record_browser(again).await?;
            sent += 1;
        }
        Ok((sent, kept))
    }
}
