//! Pending changes and their leases.
//!
//! The `pending_change` table holds one row per profile and choice (sale,
//! sensitive): the latest value Campaign has not confirmed. A row is
//! *leased* while one attempt applies it, so that no two attempts, in one
//! process or in several replicas, ever send one choice's changes at the
//! same time or out of order. The two choices of a profile are separate
//! fields in Campaign, so their rows are sent independently.
//!
//! Every claim gets a lease token of its own, and only the attempt that
//! presents it may finish the row: an attempt that outlived its lease (it
//! should not: delivery bounds each attempt well inside the lease) can then
//! neither release nor delete a newer attempt's row.
//!
//! Lock order, the same in every transaction that touches a profile: its
//! `pending` row first, then `audit_outcome`. PostgreSQL would otherwise
//! deadlock an accept that supersedes a request against the finish of it.

use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::engine::sql;
use super::index::Undo;
use super::trail::{self, Action, Choice, Decision, NewRequest};
use super::{Db, Result, StoreError};
use crate::config::KeyKind;
use crate::identity::ProfileKey;

/// Names one claim of a pending row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LeaseToken(String);

impl LeaseToken {
    fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

/// A pending change leased for one attempt.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Whose profile.
    pub key: ProfileKey,
    /// Which of its choices.
    pub choice: Choice,
    /// The request it carries out (the latest for the profile when leased).
    pub audit_id: i64,
    /// That request's `X-Request-Id`, which the attempt's logs carry.
    pub request_id: String,
    /// The value to set.
    pub value: bool,
    /// What to do with it.
    pub action: Action,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Of those, answers the proxy could not understand.
    pub strikes: u32,
    /// Whether an earlier attempt's PATCH may have landed unseen: this one
    /// then PATCHes whatever the look-up shows.
    pub in_doubt: bool,
    /// What the attempt must present to finish.
    lease: LeaseToken,
}

/// How an attempt to apply a [`Claim`] ended.
#[derive(Debug)]
pub enum Outcome {
    /// Campaign holds the value now; it held `previous` before.
    Applied {
        /// Campaign's value before this attempt, where it was read: a
        /// change by custom key goes in one call, without a look-up.
        previous: Option<bool>,
    },
    /// Campaign had no profile; one was created with the value.
    Created,
    /// It can never be applied (no such profile): the basis of the denial.
    Denied {
        /// Why, in words for the audit trail.
        basis: &'static str,
    },
    /// Campaign failed; try again after `after`.
    Retry {
        /// How long to wait (measured on the database's clock).
        after: Duration,
        /// What went wrong, for operators (no bodies, tokens or emails).
        error: String,
        /// Whether the answer was one the proxy cannot understand: those
        /// count towards the dead letters, outages do not.
        strike: bool,
        /// Whether a PATCH was sent whose fate is unknown (its answer never
        /// came): it may still land. Nobody may then take the change, even
        /// for a newer choice, until `after` has passed, and the next
        /// attempt PATCHes whatever the look-up shows.
        in_doubt: bool,
    },
    /// The last strike: the change goes to the dead letters (audited
    /// `failed`), unless a newer choice replaced it meanwhile; that one is
    /// then tried after `after`.
    GiveUp {
        /// How long the newer choice waits, if there is one.
        after: Duration,
        /// What went wrong, kept as the failure's basis.
        error: String,
    },
}

/// What finishing a claim did to its profile's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Nothing is pending for the profile any more.
    Done,
    /// A newer choice arrived meanwhile and is due now.
    NewerDue,
    /// The row waits for its next attempt.
    Waiting,
    /// The claim's lease had ended and another attempt holds the row: this
    /// attempt changed nothing in storage.
    LeaseLost,
}

impl Db {
    /// Records `request` and makes it the profile's pending change. Comes
    /// back with a claim on it unless another attempt holds the row (that
    /// one sends this choice next). Leasing here, not after, keeps the
    /// worker from taking a change its sender is about to try.
    pub(super) async fn accept_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request: &NewRequest,
        lease: Duration,
    ) -> Result<(Option<Claim>, Option<Undo>)> {
        let d = self.dialect;
        // A write first: SQLite then holds the write lock for the whole
        // transaction instead of failing to upgrade a read lock later.
        let audit_id = trail::insert_request(d, tx, request).await?;
        let key = request.key.as_str();
        let choice = request.choice.as_str();
        let token = LeaseToken::new();
        let claim = |in_doubt| Claim {
            key: request.key.clone(),
            choice: request.choice,
            audit_id,
            request_id: request.request_id.clone(),
            value: request.value,
            action: request.action,
            attempts: 0,
            strikes: 0,
            in_doubt,
            lease: token.clone(),
        };
        // Usually one pass; a second when the row vanished (applied by
        // another process) between the insert attempt and the lock.
        let leased = loop {
            let inserted = sqlx::query(sql!(
                d,
                "INSERT INTO pending_change (profile_key, choice, key_kind, given_key, audit_id, value, \
                 action, next_attempt_at, pending_since, lease_token, lease_until, \
                 leased_audit_id) \
                 VALUES ($1, $9, $2, $3, $4, $5, $8, {now}, {now}, $6, {now} + $7, $4) \
                 ON CONFLICT (profile_key, choice) DO NOTHING"
            ))
            .bind(key)
            .bind(request.key.kind().as_str())
            .bind(request.key.given())
            .bind(audit_id)
            .bind(i64::from(request.value))
            .bind(token.0.as_str())
            .bind(millis(lease))
            .bind(request.action.as_str())
            .bind(choice)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                break Some(claim(false));
            }
            let Some(row) = sqlx::query(sql!(
                d,
                "SELECT audit_id, leased_audit_id, in_doubt, \
                 CAST(CASE WHEN lease_until <= {now} THEN 1 ELSE 0 END AS BIGINT) AS free \
                 FROM pending_change WHERE profile_key = $1 AND choice = $2 {lock}"
            ))
            .bind(key)
            .bind(choice)
            .fetch_optional(&mut **tx)
            .await?
            else {
                continue;
            };
            let replaced: i64 = row.try_get("audit_id")?;
            let leased: Option<i64> = row.try_get("leased_audit_id")?;
            let free = row.try_get::<i64, _>("free")? == 1;
            // The request being sent right now is finished by its sender;
            // any other replaced one will never be sent.
            if free || leased != Some(replaced) {
                trail::record(d, tx, replaced, Decision::Superseded, None, None).await?;
            }
            // A new request starts afresh: its own attempts and strikes.
            if !free {
                sqlx::query(
                    "UPDATE pending_change SET audit_id = $1, value = $2, given_key = $3, attempts = 0, \
                     strikes = 0, action = $5 WHERE profile_key = $4 AND choice = $6",
                )
                .bind(audit_id)
                .bind(i64::from(request.value))
                .bind(request.key.given())
                .bind(key)
                .bind(request.action.as_str())
                .bind(choice)
                .execute(&mut **tx)
                .await?;
                break None;
            }
            sqlx::query(sql!(
                d,
                "UPDATE pending_change SET audit_id = $1, value = $2, given_key = $3, attempts = 0, \
                 strikes = 0, lease_token = $4, lease_until = {now} + $5, leased_audit_id = $1, \
                 action = $7 WHERE profile_key = $6 AND choice = $8"
            ))
            .bind(audit_id)
            .bind(i64::from(request.value))
            .bind(request.key.given())
            .bind(token.0.as_str())
            .bind(millis(lease))
            .bind(key)
            .bind(request.action.as_str())
            .bind(choice)
            .execute(&mut **tx)
            .await?;
            break Some(claim(row.try_get::<i64, _>("in_doubt")? == 1));
        };
        // The index changes while this transaction holds SQLite's only
        // connection, so it changes in the same order as the table; the
        // change is undone if the transaction does not commit.
        Ok((
            leased,
            self.index_set(key, request.choice, Some(request.value)),
        ))
    }

    /// Records how `claim` ended and gives its row back: deleted when
    /// nothing newer arrived, else due again, at once after a success or
    /// after the wait a failure asks for.
    pub(super) async fn finish_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        claim: &Claim,
        outcome: &Outcome,
    ) -> Result<(Finished, Option<Undo>)> {
        let d = self.dialect;
        let key = (claim.key.as_str(), claim.choice);
        let row = sqlx::query(sql!(
            d,
            "SELECT audit_id, lease_token FROM pending_change \
             WHERE profile_key = $1 AND choice = $2 {lock}"
        ))
        .bind(key.0)
        .bind(claim.choice.as_str())
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
        let decided = matches!(
            outcome,
            Outcome::Applied { .. } | Outcome::Created | Outcome::Denied { .. }
        );
        if replaced && !(holds && decided) {
            // It will not be sent again: a later choice of the same person
            // is (or was) applied after it.
            trail::record(d, tx, claim.audit_id, Decision::Superseded, None, None).await?;
        }
        if !holds {
            return Ok((Finished::LeaseLost, None));
        }
        // A newer request starts afresh; this one's failures count on.
        let (attempts, strikes) = if replaced {
            (0, 0)
        } else {
            (claim.attempts + 1, claim.strikes)
        };
        match outcome {
            Outcome::Applied { previous } => {
                trail::record(d, tx, claim.audit_id, Decision::Applied, *previous, None).await?;
                self.done(tx, key, replaced).await
            }
            Outcome::Created => {
                trail::record(d, tx, claim.audit_id, Decision::Created, None, None).await?;
                self.done(tx, key, replaced).await
            }
            Outcome::Denied { basis } => {
                trail::record(d, tx, claim.audit_id, Decision::Denied, None, Some(basis)).await?;
                self.done(tx, key, replaced).await
            }
            Outcome::GiveUp { error, .. } if !replaced => {
                trail::record(d, tx, claim.audit_id, Decision::Failed, None, Some(error)).await?;
                sqlx::query(sql!(
                    d,
                    "INSERT INTO dead_letter (audit_id, profile_key, choice, key_kind, value, \
                     attempts, last_error, dead_at, action) \
                     VALUES ($1, $2, $8, $3, $4, $5, $6, {now}, $7)"
                ))
                .bind(claim.audit_id)
                .bind(key.0)
                .bind(claim.key.kind().as_str())
                .bind(i64::from(claim.value))
                .bind(i64::from(claim.attempts + 1))
                .bind(error.as_str())
                .bind(claim.action.as_str())
                .bind(claim.choice.as_str())
                .execute(&mut **tx)
                .await?;
                self.remove(tx, key).await
            }
            Outcome::Retry {
                after,
                error,
                strike,
                in_doubt,
            } => {
                let strikes = strikes + u32::from(*strike && !replaced);
                let release = Release {
                    after: *after,
                    attempts,
                    strikes,
                    error: Some(error),
                    in_doubt: *in_doubt,
                };
                self.release(tx, key, release).await?;
                Ok((Finished::Waiting, None))
            }
            Outcome::GiveUp { after, error } => {
                let release = Release {
                    after: *after,
                    attempts,
                    strikes,
                    error: Some(error),
                    in_doubt: false,
                };
                self.release(tx, key, release).await?;
                Ok((Finished::Waiting, None))
            }
        }
    }

    /// After a success (or a denial): the row goes, unless a newer choice
    /// replaced the one just decided; that one is due at once.
    async fn done(
        &self,
        tx: &mut Transaction<'_, Any>,
        key: (&str, Choice),
        replaced: bool,
    ) -> Result<(Finished, Option<Undo>)> {
        if !replaced {
            return self.remove(tx, key).await;
        }
        let release = Release {
            after: Duration::ZERO,
            attempts: 0,
            strikes: 0,
            error: None,
            in_doubt: false,
        };
        self.release(tx, key, release).await?;
        Ok((Finished::NewerDue, None))
    }

    async fn remove(
        &self,
        tx: &mut Transaction<'_, Any>,
        (key, choice): (&str, Choice),
    ) -> Result<(Finished, Option<Undo>)> {
        sqlx::query("DELETE FROM pending_change WHERE profile_key = $1 AND choice = $2")
            .bind(key)
            .bind(choice.as_str())
            .execute(&mut **tx)
            .await?;
        Ok((Finished::Done, self.index_set(key, choice, None)))
    }

    /// Ends the lease; the row is due again after `release.after`. A row
    /// in doubt stays closed to every attempt, a new request's included,
    /// until then.
    async fn release(
        &self,
        tx: &mut Transaction<'_, Any>,
        (key, choice): (&str, Choice),
        release: Release<'_>,
    ) -> Result<()> {
        sqlx::query(sql!(
            self.dialect,
            "UPDATE pending_change SET lease_token = NULL, leased_audit_id = NULL, \
             lease_until = CASE WHEN $1 = 1 THEN {now} + $2 ELSE 0 END, \
             in_doubt = CASE WHEN $1 = 1 THEN 1 ELSE in_doubt END, \
             attempts = $3, strikes = $4, next_attempt_at = {now} + $2, last_error = $5 \
             WHERE profile_key = $6 AND choice = $7"
        ))
        .bind(i64::from(release.in_doubt))
        .bind(millis(release.after))
        .bind(i64::from(release.attempts))
        .bind(i64::from(release.strikes))
        .bind(release.error)
        .bind(key)
        .bind(choice.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Leases the change that is due soonest, if any is due.
    pub(super) async fn claim_due(&self, lease: Duration) -> Result<Option<Claim>> {
        let token = LeaseToken::new();
        let row = sqlx::query(sql!(
            self.dialect,
            "UPDATE pending_change SET lease_token = $1, lease_until = {now} + $2, \
             leased_audit_id = audit_id \
             WHERE (profile_key, choice) = (SELECT profile_key, choice FROM pending_change \
               WHERE next_attempt_at <= {now} AND lease_until <= {now} \
               ORDER BY next_attempt_at LIMIT 1 {skip_locked}) \
             AND lease_until <= {now} \
             RETURNING profile_key, choice, key_kind, given_key, audit_id, value, action, \
             attempts, strikes, in_doubt, \
             COALESCE((SELECT request_id FROM audit WHERE audit.id = pending_change.audit_id), '-') \
             AS request_id"
        ))
        .bind(token.0.as_str())
        .bind(millis(lease))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| claim_of(&row, token)).transpose()
    }
}

fn claim_of(row: &AnyRow, lease: LeaseToken) -> Result<Claim> {
    let kind: String = row.try_get("key_kind")?;
    // The spelling the latest request gave, where it differs from the key.
    let raw = match row.try_get::<Option<String>, _>("given_key")? {
        Some(given) => given,
        None => row.try_get("profile_key")?,
    };
    let key = KeyKind::parse(&kind)
        .and_then(|kind| ProfileKey::parse(&raw, kind).ok())
        .ok_or(StoreError::Corrupt("profile key"))?;
    Ok(Claim {
        key,
        choice: Choice::parse(&row.try_get::<String, _>("choice")?)
            .ok_or(StoreError::Corrupt("choice"))?,
        audit_id: row.try_get("audit_id")?,
        request_id: row.try_get("request_id")?,
        value: row.try_get::<i64, _>("value")? != 0,
        action: Action::parse(&row.try_get::<String, _>("action")?)
            .ok_or(StoreError::Corrupt("action"))?,
        attempts: count(row, "attempts")?,
        strikes: count(row, "strikes")?,
        in_doubt: row.try_get::<i64, _>("in_doubt")? == 1,
        lease,
    })
}

/// How a lease ends without the change being done.
struct Release<'a> {
    after: Duration,
    attempts: u32,
    strikes: u32,
    error: Option<&'a str>,
    in_doubt: bool,
}

fn count(row: &AnyRow, column: &str) -> Result<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(column)?).unwrap_or(u32::MAX))
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
