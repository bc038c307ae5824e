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
//! An identity's `consent_pending` row is taken last of all, after
//! everything Campaign's part takes (its finish takes only it and
//! `consent_outcome`).
//!
//! Rows wait in [`Lane`]s, which the worker serves in turn; in the email
//! lane, clients are served in turn too (a row's `turn` is its place among
//! its client's waiting rows). A creation for an address Campaign does not
//! have waits for the budget ([`Hold`]).

use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::engine::{Dialect, sql};
use super::index::Undo;
use super::trail::{self, Action, Choice, Decided, Decision, NewRequest};
use super::{Db, Result, StoreError};
use crate::config::KeyKind;
use crate::identity::ProfileKey;

/// Names one claim of a pending row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LeaseToken(pub(super) String);

impl LeaseToken {
    pub(super) fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

/// Which kind of work a pending change is: the worker serves each in turn,
/// so that a flood of one never holds up another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A signed-in request: a change, a GPC signal, this browser's earlier
    /// opt-out, an operator's retry.
    Customer,
    /// An opt-out by email, until Campaign has been asked for the address.
    Email,
    /// An opt-out by email for an address Campaign does not have: a
    /// suppression record to create, within the budget.
    Create,
}

impl Lane {
    /// Every lane, in the order a stop is drained.
    pub const ALL: [Self; 3] = [Self::Customer, Self::Email, Self::Create];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Email => "email",
            Self::Create => "create",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|lane| lane.as_str() == name)
    }

    /// Where a new request waits.
    fn of(action: Action) -> Self {
        match action {
            Action::Set => Self::Customer,
            Action::OptOutEveryMatch => Self::Email,
        }
    }
}

/// A creation's place in the budget of profiles made for addresses nobody
/// has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Waiting for the budget to have room.
    Budget,
    /// Holding a place in it: its retries take no other.
    Reserved,
    /// Let through by an operator: it needs none.
    Released,
}

impl Hold {
    fn as_str(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Reserved => "reserved",
            Self::Released => "released",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "budget" => Some(Self::Budget),
            "reserved" => Some(Self::Reserved),
            "released" => Some(Self::Released),
            _ => None,
        }
    }
}

/// How long a row held for the budget waits unless released: for ever, in
/// effect (the worker releases held rows as the budget has room).
const HELD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A pending change leased for one attempt.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Whose profile.
    pub key: ProfileKey,
    /// The row's key as stored (what finishing the claim looks the row up
    /// by, even if a later version would key the address otherwise).
    pub(super) row_key: String,
    /// Where it waits.
    pub lane: Lane,
    /// Its place in the creation budget, if it needs one.
    pub hold: Option<Hold>,
    /// Since when the profile has had a change waiting (Unix ms, the
    /// database's clock).
    pub pending_since: i64,
    /// When the request it carries out was received (Unix ms).
    pub received_at: i64,
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
    pub(super) lease: LeaseToken,
}

/// How an attempt to apply a [`Claim`] ended.
#[derive(Debug)]
pub enum Outcome {
    /// Campaign holds the value now; it held `previous` before.
    Applied {
        /// Campaign's value before this attempt, where it was read: a
        /// change by custom key goes in one call, without a look-up.
        previous: Option<bool>,
        /// Profiles PATCHed (those that held the value already were not).
        changed: u32,
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
    /// The last strike, or more than the proxy changes unseen: the change
    /// goes to the dead letters (audited `failed`, or `held`), unless a
    /// newer choice replaced it meanwhile; that one is then tried after
    /// `after`.
    GiveUp {
        /// How long the newer choice waits, if there is one.
        after: Duration,
        /// What went wrong, kept as the basis.
        error: String,
        /// Whether the request is sound and waits for an operator's look
        /// (`held`), rather than failed.
        held: bool,
    },
    /// The profile must be created and the budget has no room: the row
    /// waits, in the create lane, until it has (or an operator releases
    /// it). Not a failure: attempts are not counted.
    OverBudget,
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
        let (audit_id, received_at) = trail::insert_request(d, tx, request).await?;
        let key = request.key.as_str();
        let choice = request.choice.as_str();
        let lane = Lane::of(request.action);
        let turn = self.turn_in(tx, lane, request.client.as_deref()).await?;
        let token = LeaseToken::new();
        let claim = |in_doubt, hold, pending_since| Claim {
            key: request.key.clone(),
            row_key: key.to_owned(),
            lane,
            hold,
            pending_since,
            received_at,
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
                 leased_audit_id, lane, client, turn) \
                 VALUES ($1, $9, $2, $3, $4, $5, $8, {now}, {now}, $6, {now} + $7, $4, $10, $11, $12) \
                 ON CONFLICT (profile_key, choice) DO NOTHING RETURNING pending_since"
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
            .bind(lane.as_str())
            .bind(request.client.as_deref())
            .bind(turn)
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(inserted) = inserted {
                break Some(claim(false, None, inserted.try_get("pending_since")?));
            }
            let Some(row) = sqlx::query(sql!(
                d,
                "SELECT audit_id, leased_audit_id, in_doubt, hold, \
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
            let hold = row
                .try_get::<Option<String>, _>("hold")?
                .and_then(|hold| Hold::parse(&hold));
            // The request being sent right now is finished by its sender;
            // any other replaced one will never be sent.
            if free || leased != Some(replaced) {
                let superseded = Decided::only(Decision::Superseded);
                trail::record(d, tx, replaced, superseded).await?;
            }
            // Another opt-out by email for an address held for the budget
            // waits with it; any other request takes the row to its own
            // lane, due at once (a place already reserved is kept).
            let (lane, hold) = match (hold, request.action) {
                (Some(Hold::Budget), Action::OptOutEveryMatch) => {
                    (Lane::Create, Some(Hold::Budget))
                }
                (Some(Hold::Budget), _) => (lane, None),
                (hold, _) => (lane, hold),
            };
            let held = hold == Some(Hold::Budget);
            // Only the email lane has turns: the others are claimed at 0.
            let turn = if lane == Lane::Email { turn } else { 0 };
            // A new request starts afresh: its own attempts and strikes.
            sqlx::query(sql!(
                d,
                "UPDATE pending_change SET audit_id = $1, value = $2, given_key = $3, attempts = 0, \
                 strikes = 0, action = $5, lane = $7, client = $8, turn = $9, hold = $10, \
                 next_attempt_at = CASE WHEN hold = 'budget' AND $11 = 0 THEN {now} \
                 ELSE next_attempt_at END \
                 WHERE profile_key = $4 AND choice = $6"
            ))
            .bind(audit_id)
            .bind(i64::from(request.value))
            .bind(request.key.given())
            .bind(key)
            .bind(request.action.as_str())
            .bind(choice)
            .bind(lane.as_str())
            .bind(request.client.as_deref())
            .bind(turn)
            .bind(hold.map(Hold::as_str))
            .bind(i64::from(held))
            .execute(&mut **tx)
            .await?;
            if !free || held {
                break None;
            }
            let leased = sqlx::query(sql!(
                d,
                "UPDATE pending_change SET lease_token = $1, lease_until = {now} + $2, \
                 leased_audit_id = $3 WHERE profile_key = $4 AND choice = $5 \
                 RETURNING pending_since"
            ))
            .bind(token.0.as_str())
            .bind(millis(lease))
            .bind(audit_id)
            .bind(key)
            .bind(choice)
            .fetch_one(&mut **tx)
            .await?;
            let in_doubt = row.try_get::<i64, _>("in_doubt")? == 1;
            break Some(claim(in_doubt, hold, leased.try_get("pending_since")?));
        };
        // Privacy Service's rows after Campaign's: the lock order.
        self.enqueue_consents(tx, audit_id, &request.adobe, request.value)
            .await?;
        // The index changes while this transaction holds SQLite's only
        // connection, so it changes in the same order as the table; the
        // change is undone if the transaction does not commit.
        Ok((
            leased,
            self.index_set(key, request.choice, Some(request.value)),
        ))
    }

    /// Records `request`, an opt-out of sale past its key's limit, as a
    /// repeat if an opt-out for the key still waits to be applied (that
    /// one covers it: audited `repeat` at once, nothing more to send);
    /// else as any request, due at once. `true`: a repeat.
    pub(super) async fn repeat_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request: &NewRequest,
    ) -> Result<(bool, Option<Undo>)> {
        let waiting = sqlx::query(sql!(
            self.dialect,
            "SELECT value FROM pending_change WHERE profile_key = $1 AND choice = $2 {lock}"
        ))
        .bind(request.key.as_str())
        .bind(request.choice.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let covered = match waiting {
            Some(row) => row.try_get::<i64, _>("value")? == i64::from(request.value),
            None => false,
        };
        if !covered {
            let (_, undo) = self.accept_in(tx, request, Duration::ZERO).await?;
            return Ok((false, undo));
        }
        let (audit_id, _) = trail::insert_request(self.dialect, tx, request).await?;
        let basis = "an opt-out for this address, recorded earlier and still waiting to be \
                     applied, covers this one";
        let repeat = Decided::because(Decision::Repeat, basis);
        trail::record(self.dialect, tx, audit_id, repeat).await?;
        // Campaign's part is covered; Privacy Service's may name a browser
        // the earlier request did not.
        self.enqueue_consents(tx, audit_id, &request.adobe, request.value)
            .await?;
        Ok((true, None))
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
        let key = (claim.row_key.as_str(), claim.choice);
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
            let superseded = Decided::only(Decision::Superseded);
            trail::record(d, tx, claim.audit_id, superseded).await?;
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
        let decision = match outcome {
            Outcome::Applied { previous, changed } => Decided {
                previous: *previous,
                changed: Some(*changed),
                ..Decided::only(Decision::Applied)
            },
            Outcome::Created => Decided {
                changed: Some(1),
                ..Decided::only(Decision::Created)
            },
            Outcome::Denied { basis } => Decided::because(Decision::Denied, basis),
            Outcome::GiveUp { error, held, .. } if !replaced => {
                let decision = if *held {
                    Decision::Held
                } else {
                    Decision::Failed
                };
                trail::record(d, tx, claim.audit_id, Decided::because(decision, error)).await?;
                self.bury(tx, claim, error).await?;
                return self.remove(tx, key).await;
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
                return Ok((Finished::Waiting, None));
            }
            Outcome::GiveUp { after, error, .. } => {
                let release = Release {
                    after: *after,
                    attempts,
                    strikes,
                    error: Some(error),
                    in_doubt: false,
                };
                self.release(tx, key, release).await?;
                return Ok((Finished::Waiting, None));
            }
            // The newer request is tried at once: it may not need a profile
            // created, or it is an opt-out by email that waits its turn.
            Outcome::OverBudget if replaced => return self.done(tx, key, true).await,
            Outcome::OverBudget => {
                self.hold(tx, key).await?;
                return Ok((Finished::Waiting, None));
            }
        };
        trail::record(d, tx, claim.audit_id, decision).await?;
        self.done(tx, key, replaced).await
    }

    /// Keeps `claim`'s change among the dead letters, with `error`.
    async fn bury(&self, tx: &mut Transaction<'_, Any>, claim: &Claim, error: &str) -> Result<()> {
        let buried = Buried {
            audit_id: claim.audit_id,
            row_key: &claim.row_key,
            given: claim.key.given(),
            kind: claim.key.kind().as_str(),
            choice: claim.choice,
            value: claim.value,
            action: claim.action.as_str(),
            attempts: i64::from(claim.attempts + 1),
            error,
        };
        self.bury_row(tx, &buried).await
    }

    async fn bury_row(&self, tx: &mut Transaction<'_, Any>, buried: &Buried<'_>) -> Result<()> {
        sqlx::query(sql!(
            self.dialect,
            "INSERT INTO dead_letter (audit_id, profile_key, choice, key_kind, value, \
             attempts, last_error, dead_at, action, given_key) \
             VALUES ($1, $2, $8, $3, $4, $5, $6, {now}, $7, $9)"
        ))
        .bind(buried.audit_id)
        .bind(buried.row_key)
        .bind(buried.kind)
        .bind(i64::from(buried.value))
        .bind(buried.attempts)
        .bind(buried.error)
        .bind(buried.action)
        .bind(buried.choice.as_str())
        .bind(buried.given)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Gives up a row this version cannot read (its key, stored by an
    /// earlier version, is one this one refuses): audited `failed` with
    /// why, kept among the dead letters for an operator, and taken off the
    /// pending changes, so that it neither strands nor blocks a claim.
    pub(super) async fn shelve_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        row: &Unreadable,
    ) -> Result<Option<Undo>> {
        let error = format!(
            "the key stored for this request is not one this version takes ({}); an operator \
             decides what becomes of it",
            row.why
        );
        let failed = Decided::because(Decision::Failed, &error);
        trail::record(self.dialect, tx, row.audit_id, failed).await?;
        let buried = Buried {
            audit_id: row.audit_id,
            row_key: &row.row_key,
            given: row.given.as_deref(),
            kind: &row.kind,
            choice: row.choice,
            value: row.value,
            action: &row.action,
            attempts: row.attempts,
            error: &error,
        };
        self.bury_row(tx, &buried).await?;
        let (_, undo) = self.remove(tx, (&row.row_key, row.choice)).await?;
        Ok(undo)
    }

    /// Ends the lease of a creation the budget has no room for: the row
    /// waits in the create lane, out of every claim's reach, until the
    /// budget has room or an operator releases it.
    async fn hold(
        &self,
        tx: &mut Transaction<'_, Any>,
        (key, choice): (&str, Choice),
    ) -> Result<()> {
        sqlx::query(sql!(
            self.dialect,
            "UPDATE pending_change SET lease_token = NULL, leased_audit_id = NULL, \
             lease_until = 0, lane = 'create', turn = 0, hold = 'budget', last_error = NULL, \
             next_attempt_at = {now} + $1 WHERE profile_key = $2 AND choice = $3"
        ))
        .bind(millis(HELD))
        .bind(key)
        .bind(choice.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
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

    /// Leases the change of `lane` that is due soonest, if any is due: in
    /// the email lane, the one with the earliest turn among its client's.
    pub(super) async fn claim_due(&self, lease: Duration, lane: Lane) -> Result<Due> {
        let token = LeaseToken::new();
        // One statement each, so that each is served by its index: the
        // other lanes hold `turn` at 0, and the rows held for the budget
        // (due in a century) stay past the end of the range read.
        let query = match lane {
            Lane::Email => sql!(
                self.dialect,
                "UPDATE pending_change SET lease_token = $1, lease_until = {now} + $2, \
                 leased_audit_id = audit_id \
                 WHERE (profile_key, choice) = (SELECT profile_key, choice FROM pending_change \
                   WHERE lane = $3 AND next_attempt_at <= {now} AND lease_until <= {now} \
                   ORDER BY turn, next_attempt_at LIMIT 1 {skip_locked}) \
                 AND lease_until <= {now} \
                 RETURNING profile_key, choice, key_kind, given_key, audit_id, value, action, \
                 attempts, strikes, in_doubt, lane, hold, pending_since, \
                 COALESCE((SELECT request_id FROM audit WHERE audit.id = pending_change.audit_id), '-') \
                 AS request_id, \
                 COALESCE((SELECT received_at FROM audit WHERE audit.id = pending_change.audit_id), 0) \
                 AS received_at"
            ),
            Lane::Customer | Lane::Create => sql!(
                self.dialect,
                "UPDATE pending_change SET lease_token = $1, lease_until = {now} + $2, \
                 leased_audit_id = audit_id \
                 WHERE (profile_key, choice) = (SELECT profile_key, choice FROM pending_change \
                   WHERE lane = $3 AND turn = 0 AND next_attempt_at <= {now} \
                   AND lease_until <= {now} \
                   ORDER BY next_attempt_at LIMIT 1 {skip_locked}) \
                 AND lease_until <= {now} \
                 RETURNING profile_key, choice, key_kind, given_key, audit_id, value, action, \
                 attempts, strikes, in_doubt, lane, hold, pending_since, \
                 COALESCE((SELECT request_id FROM audit WHERE audit.id = pending_change.audit_id), '-') \
                 AS request_id, \
                 COALESCE((SELECT received_at FROM audit WHERE audit.id = pending_change.audit_id), 0) \
                 AS received_at"
            ),
        };
        let row = sqlx::query(query)
            .bind(token.0.as_str())
            .bind(millis(lease))
            .bind(lane.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => claim_of(&row, token),
            None => Ok(Due::Nothing),
        }
    }

    /// A new request's place among its client's opt-outs by email waiting
    /// to be looked up: how many wait already. Other lanes have one queue.
    async fn turn_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        lane: Lane,
        client: Option<&str>,
    ) -> Result<i64> {
        let (Lane::Email, Some(client)) = (lane, client) else {
            return Ok(0);
        };
        // One client's requests take their turns one after another: two
        // transactions counting at once would both see the other's row
        // missing. (SQLite's single writer runs them one after another.)
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ccpa-turn:' || $1))")
                .bind(client)
                .execute(&mut **tx)
                .await?;
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS waiting FROM pending_change WHERE lane = 'email' AND client = $1",
        )
        .bind(client)
        .fetch_one(&mut **tx)
        .await?;
        Ok(row.try_get("waiting")?)
    }
}

fn claim_of(row: &AnyRow, lease: LeaseToken) -> Result<Due> {
    let kind: String = row.try_get("key_kind")?;
    let row_key: String = row.try_get("profile_key")?;
    // The spelling the latest request gave, where it differs from the key.
    let given: Option<String> = row.try_get("given_key")?;
    let raw = given.clone().unwrap_or_else(|| row_key.clone());
    let choice =
        Choice::parse(&row.try_get::<String, _>("choice")?).ok_or(StoreError::Corrupt("choice"))?;
    let key = match KeyKind::parse(&kind).map(|kind| ProfileKey::parse(&raw, kind)) {
        Some(Ok(key)) => key,
        Some(Err(why)) => {
            return Ok(Due::Unreadable(Unreadable {
                row_key,
                given,
                kind,
                choice,
                audit_id: row.try_get("audit_id")?,
                value: row.try_get::<i64, _>("value")? != 0,
                action: row.try_get("action")?,
                attempts: row.try_get("attempts")?,
                why,
            }));
        }
        None => return Err(StoreError::Corrupt("key kind")),
    };
    let hold = row
        .try_get::<Option<String>, _>("hold")?
        .map(|hold| Hold::parse(&hold).ok_or(StoreError::Corrupt("hold")))
        .transpose()?;
    Ok(Due::Claim(Claim {
        key,
        row_key,
        lane: Lane::parse(&row.try_get::<String, _>("lane")?).ok_or(StoreError::Corrupt("lane"))?,
        hold,
        pending_since: row.try_get("pending_since")?,
        received_at: row.try_get("received_at")?,
        choice,
        audit_id: row.try_get("audit_id")?,
        request_id: row.try_get("request_id")?,
        value: row.try_get::<i64, _>("value")? != 0,
        action: Action::parse(&row.try_get::<String, _>("action")?)
            .ok_or(StoreError::Corrupt("action"))?,
        attempts: count(row, "attempts")?,
        strikes: count(row, "strikes")?,
        in_doubt: row.try_get::<i64, _>("in_doubt")? == 1,
        lease,
    }))
}

/// What a claim found due.
pub(super) enum Due {
    /// A change, leased.
    Claim(Claim),
    /// A row this version cannot read: to be shelved.
    Unreadable(Unreadable),
    /// Nothing.
    Nothing,
}

/// A leased row whose key this version refuses.
pub(super) struct Unreadable {
    row_key: String,
    given: Option<String>,
    kind: String,
    choice: Choice,
    audit_id: i64,
    value: bool,
    action: String,
    attempts: i64,
    why: &'static str,
}

impl Unreadable {
    /// Its request's audit record.
    pub(super) fn audit_id(&self) -> i64 {
        self.audit_id
    }
}

/// A change kept among the dead letters.
struct Buried<'a> {
    audit_id: i64,
    row_key: &'a str,
    given: Option<&'a str>,
    kind: &'a str,
    choice: Choice,
    value: bool,
    action: &'a str,
    attempts: i64,
    error: &'a str,
}

/// How a lease ends without the change being done (a Privacy Service
/// delivery's too).
pub(super) struct Release<'a> {
    pub(super) after: Duration,
    pub(super) attempts: u32,
    pub(super) strikes: u32,
    pub(super) error: Option<&'a str>,
    pub(super) in_doubt: bool,
}

pub(super) fn count(row: &AnyRow, column: &str) -> Result<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(column)?).unwrap_or(u32::MAX))
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
