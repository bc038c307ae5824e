//! Getting accepted changes into Campaign: at once when it answers, else by a
//! background worker with exponential backoff until it does.
//!
//! Every change is in the store before anyone tries to apply it, and leaves
//! the pending changes only when Campaign has taken it, has no such profile,
//! or kept answering what the proxy cannot understand (then it is kept among
//! the dead letters, audited `failed`, for an operator). So a failing,
//! throttling or unreachable Campaign, an expired IMS token or a `kill -9`
//! delays a change; nothing drops it unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::campaign::{CampaignClient, CampaignError};
use crate::config::{CampaignSettings, DeliverySettings};
use crate::identity::ProfileKey;
use crate::metrics::{Attempted, Metrics};
use crate::store::{
    Action, Budget, Choice, Claim, Finished, Hold, Lane, NewRequest, Outcome, Store, StoreError,
};

/// Honour `Retry-After` up to a day; beyond that it is more likely a bug.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The lanes' turns at the worker: signed-in customers and look-ups of
/// addresses twice each for every creation of a profile, so that a queue
/// of unknown addresses never holds up a customer or a known address.
const TURNS: [Lane; 5] = [
    Lane::Customer,
    Lane::Email,
    Lane::Customer,
    Lane::Email,
    Lane::Create,
];

/// When a failed attempt is tried again, after `attempts` and `strikes`
/// so far: the [`backoff`] (never sooner than a `Retry-After`), or a whole
/// `lease` when its send may still land (`in_doubt`), so that the late send
/// lands before the next, not after; and whether one more strike would be
/// the last (`delivery.max_strikes`).
pub fn next_try(
    settings: &DeliverySettings,
    lease: Duration,
    (attempts, strikes): (u32, u32),
    retry_after: Option<Duration>,
    in_doubt: bool,
) -> (Duration, bool) {
    let mut after = backoff(settings, attempts, retry_after);
    if in_doubt {
        after = after.max(lease);
    }
    (after, strikes + 1 >= settings.max_strikes)
}

/// Exponential backoff with jitter: about `base × 2^attempts`, at most
/// `backoff_max_ms`, and never sooner than a `Retry-After` (up to a day).
fn backoff(settings: &DeliverySettings, attempts: u32, retry_after: Option<Duration>) -> Duration {
    let ceiling = settings
        .backoff_base_ms
        .saturating_mul(1 << attempts.min(20))
        .min(settings.backoff_max_ms);
    // "Equal jitter": half fixed, half random, so that the retries of many
    // profiles spread out without any coming back at once.
    let wait = Duration::from_millis(ceiling / 2 + rand::random_range(0..=ceiling / 2));
    match retry_after {
        Some(after) => wait.max(after.min(LONGEST_RETRY_AFTER)),
        None => wait,
    }
}

/// One destination's deliveries, as the worker that drains them sees them.
pub trait Destination: Send + Sync + 'static {
    /// A delivery leased for one attempt.
    type Claim: Send + 'static;
    /// What is claimed, for the log.
    const WHAT: &'static str;
    /// The next due delivery, leased, if any.
    fn next(&self) -> impl Future<Output = Result<Option<Self::Claim>, StoreError>> + Send;
    /// One attempt at `claim`, recorded however it ends.
    fn attempt(self: Arc<Self>, claim: Self::Claim) -> impl Future<Output = ()> + Send + 'static;
    /// Waits until deliveries may be due again, or `stop`.
    fn idle(&self, stop: &CancellationToken) -> impl Future<Output = ()> + Send;
}

/// The worker of `destination`: until `stop`, takes one of `slots`, claims
/// the next due delivery and attempts it as a task of `attempts`; idles
/// when nothing is due or storage failed. Then lets the attempts under way
/// finish.
pub async fn drain<D: Destination>(
    destination: Arc<D>,
    slots: usize,
    stop: &CancellationToken,
    attempts: &TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(slots.max(1)));
    loop {
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        match destination.next().await {
            Ok(Some(claim)) => {
                let attempt = destination.clone().attempt(claim);
                attempts.spawn(async move {
                    attempt.await;
                    drop(slot);
                });
            }
            Ok(None) => {
                drop(slot);
                destination.idle(stop).await;
            }
            Err(error) => {
                drop(slot);
                tracing::warn!(%error, "could not read the {}", D::WHAT);
                destination.idle(stop).await;
            }
        }
    }
    attempts.close();
    attempts.wait().await;
}

/// Now, in Unix milliseconds (the database's clock is a step away: a
/// stuck change's age needs no precision).
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// How one attempt ended, for the request that is waiting on it.
#[derive(Debug)]
pub enum Attempt {
    /// Campaign holds the value now.
    Applied,
    /// Recorded; the worker will apply it.
    Pending,
    /// Campaign can never take it: no (single) profile has the key.
    Denied(CampaignError),
    /// Given up after repeated answers the proxy cannot understand;
    /// recorded among the dead letters.
    Failed(CampaignError),
}

/// Applies pending changes; shared by the request handlers and the worker.
pub struct Delivery {
    store: Arc<Store>,
    campaign: Arc<CampaignClient>,
    settings: DeliverySettings,
    /// The most one attempt may take, token wait included.
    attempt_timeout: Duration,
    /// How long a claim holds its change: longer than any attempt
    /// (checked at start), so that no attempt outlives its lease.
    lease: Duration,
    /// The worker's concurrency; the client bounds the calls themselves.
    slots: usize,
    /// Whether an opt-out creates the profile Campaign does not have.
    create_missing_profiles: bool,
    /// How many profiles may be created for addresses nobody has.
    budget: Budget,
    /// When held creations were last released.
    released_at: std::sync::Mutex<Instant>,
    /// Which of [`TURNS`] the worker's next claim starts with.
    turn: AtomicUsize,
    /// After how long a failing change is reported stuck.
    stuck_after: Duration,
    /// Wakes the idle worker when a change became due at once.
    wake: Notify,
    /// Every attempt under way, the senders' and the worker's: a stop
    /// waits for them.
    attempts: TaskTracker,
    /// Where attempts are counted.
    metrics: Arc<Metrics>,
}

impl Delivery {
    /// Delivery through `campaign`, with retries paced by `settings`, which
    /// must have passed [`DeliverySettings::check`].
    pub fn new(
        store: Arc<Store>,
        campaign: Arc<CampaignClient>,
        campaign_settings: &CampaignSettings,
        (settings, budget): (DeliverySettings, Budget),
        metrics: Arc<Metrics>,
    ) -> Self {
        let share = usize::from(settings.worker_share_percent.min(100));
        let worker_slots = (campaign_settings.max_concurrency * share / 100).max(1);
        Self {
            store,
            campaign,
            attempt_timeout: settings.attempt_timeout(campaign_settings),
            lease: settings.lease(campaign_settings),
            stuck_after: Duration::from_millis(settings.stuck_after_ms),
            settings,
            budget,
            released_at: std::sync::Mutex::new(Instant::now()),
            turn: AtomicUsize::new(0),
            slots: worker_slots,
            create_missing_profiles: campaign_settings.create_missing_profiles,
            wake: Notify::new(),
            attempts: TaskTracker::new(),
            metrics,
        }
    }

    /// The most one attempt may take, token wait included.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// After how long a failing change is reported stuck.
    pub fn stuck_after(&self) -> Duration {
        self.stuck_after
    }

    /// Wakes the idle worker: changes became due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Records `request` and leaves it to the worker, at once: its sender
    /// does not wait for Campaign (an opt-out by email must be answered
    /// alike, and as fast, whether or not anyone has the address).
    pub async fn record(&self, request: NewRequest) -> Result<(), StoreError> {
        // A lease that has ended already: the worker may take it now.
        self.store.accept(request, Duration::ZERO).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Records `request`, past its key's limit: as covered by an opt-out
    /// still waiting (audited `repeat`, nothing more sent), else as
    /// [`Delivery::record`] does. `true`: a repeat.
    pub async fn repeat(&self, request: NewRequest) -> Result<bool, StoreError> {
        let repeated = self.store.repeat(request).await?;
        if !repeated {
            self.wake.notify_one();
        }
        Ok(repeated)
    }

    /// Records `request` and makes the first attempt at it while its sender
    /// waits. Fails only when the request could not be recorded.
    ///
    /// The attempt runs as a task of its own: a sender that hangs up (a
    /// timeout, a closed tab) would otherwise cancel it halfway, and the
    /// change would wait for its lease to end before anyone tried again.
    pub async fn accept(self: &Arc<Self>, request: NewRequest) -> Result<Attempt, StoreError> {
        match self.store.accept(request, self.lease).await? {
            Some(claim) => {
                let delivery = self.clone();
                // In the request's span: its logs carry the request's id.
                let attempt = self
                    .attempts
                    .spawn(async move { delivery.apply(claim).await }.in_current_span());
                // A failed attempt task leaves the change leased; the
                // worker takes it when the lease ends.
                Ok(attempt.await.unwrap_or(Attempt::Pending))
            }
            // Another attempt for this profile is under way; it (or the
            // worker after it) sends this choice next.
            None => Ok(Attempt::Pending),
        }
    }

    /// Applies `claim` within the attempt timeout and records how that
    /// went, in a span naming the request it carries out: the worker's
    /// logs, and the Campaign calls', say whose request they serve.
    async fn apply(&self, claim: Claim) -> Attempt {
        let span = tracing::info_span!(
            "delivery",
            audit = claim.audit_id,
            id = %claim.request_id,
            attempt = claim.attempts + 1
        );
        self.attempt(claim).instrument(span).await
    }

    async fn attempt(&self, claim: Claim) -> Attempt {
        let sent = AtomicBool::new(false);
        let pushed = tokio::time::timeout(self.attempt_timeout, self.push(&claim, &sent))
            .await
            .unwrap_or(Err(CampaignError::Timeout));
        let in_doubt = sent.load(Ordering::SeqCst);
        let (value, choice) = (claim.value, claim.choice);
        let (outcome, attempt) = match pushed {
            Ok(Outcome::OverBudget) => (Outcome::OverBudget, Attempt::Pending),
            Ok(outcome) => (outcome, Attempt::Applied),
            Err(error @ CampaignError::TooManyMatches(_)) => {
                tracing::warn!(%error, "an opt-out by email is held for an operator");
                let outcome = Outcome::GiveUp {
                    after: Duration::ZERO,
                    error: format!(
                        "{error}: held for an operator (raise campaign.max_email_matches, or \
                         opt them out in Campaign, then retry the dead letter)"
                    ),
                    held: true,
                };
                (outcome, Attempt::Failed(error))
            }
            Err(error @ (CampaignError::ProfileNotFound | CampaignError::AmbiguousProfile)) => {
                let basis = match (&error, choice, value) {
                    (CampaignError::ProfileNotFound, Choice::Sale, false) => {
                        "no Campaign profile has the user's key: there was no opt-out to undo"
                    }
                    (CampaignError::ProfileNotFound, Choice::Sensitive, false) => {
                        "no Campaign profile has the user's key: there was no limit to lift"
                    }
                    (CampaignError::ProfileNotFound, _, true) => {
                        "no Campaign profile has the user's key, and none may be created"
                    }
                    _ => "several Campaign profiles share the user's key",
                };
                (Outcome::Denied { basis }, Attempt::Denied(error))
            }
            Err(error) => match self.failed(&claim, &error, in_doubt) {
                outcome @ Outcome::GiveUp { .. } => (outcome, Attempt::Failed(error)),
                outcome => (outcome, Attempt::Pending),
            },
        };
        let counted = match outcome {
            Outcome::Applied { .. } => Attempted::Applied,
            Outcome::Created => Attempted::Created,
            Outcome::Denied { .. } => Attempted::Denied,
            Outcome::Retry { .. } => Attempted::Retried,
            Outcome::GiveUp { .. } => Attempted::Failed,
            Outcome::OverBudget => Attempted::Held,
        };
        let finished = self.store.finish(claim, outcome).await;
        self.metrics.attempted(match (counted, &finished) {
            // A newer choice replaced the one given up on: it waits.
            (Attempted::Failed, Ok(Finished::Waiting)) => Attempted::Retried,
            (counted, _) => counted,
        });
        match finished {
            Ok(Finished::Done) => {
                if matches!(attempt, Attempt::Applied) {
                    tracing::info!(value, ?choice, "change applied in Campaign");
                }
                attempt
            }
            Ok(Finished::NewerDue) => {
                self.wake.notify_one();
                attempt
            }
            // A newer choice replaced a change given up on: that one waits.
            Ok(Finished::Waiting) => match attempt {
                Attempt::Failed(_) => Attempt::Pending,
                attempt => attempt,
            },
            Ok(Finished::LeaseLost) => {
                tracing::warn!(
                    "an attempt ended after its lease; the attempt holding it now decides"
                );
                Attempt::Pending
            }
            Err(error) => {
                tracing::warn!(%error, "could not record an attempt; it is retried when its lease ends");
                Attempt::Pending
            }
        }
    }

    /// What to record for an attempt that failed with `error`: another
    /// attempt later, or, after too many answers the proxy cannot
    /// understand, the dead letters.
    ///
    /// A PATCH whose fate is unknown may still land: the change then waits
    /// a whole lease before anyone tries it again (a newer choice included),
    /// so that the late PATCH lands before the next one, not after.
    fn failed(&self, claim: &Claim, error: &CampaignError, sent: bool) -> Outcome {
        let in_doubt = sent && error.may_have_applied();
        let strike = error.is_strike();
        let throttled = match error {
            CampaignError::Throttled(after) => *after,
            _ => None,
        };
        let tries = (claim.attempts, claim.strikes);
        let (after, last) = next_try(&self.settings, self.lease, tries, throttled, in_doubt);
        if strike && last {
            tracing::error!(%error, strikes = claim.strikes + 1, "Campaign keeps answering in a way the proxy cannot understand; the change goes to the dead letters");
            return Outcome::GiveUp {
                after,
                error: error.to_string(),
                held: false,
            };
        }
        self.warn_if_stuck(claim, error);
        tracing::warn!(%error, "Campaign did not take a change; it will be retried");
        Outcome::Retry {
            after,
            error: error.to_string(),
            strike,
            in_doubt,
        }
    }

    /// Says so, once a change has failed for `delivery.stuck_after_ms`:
    /// it is still retried, and the response deadline of § 7026(f) (15
    /// business days from the request) is named, for whoever reads the log.
    fn warn_if_stuck(&self, claim: &Claim, error: &CampaignError) {
        let waited = now_ms().saturating_sub(claim.pending_since);
        if u128::try_from(waited).unwrap_or(0) < self.stuck_after.as_millis() {
            return;
        }
        let deadline = crate::audit::rfc3339(crate::audit::response_deadline(claim.pending_since));
        tracing::warn!(
            %error,
            waited_secs = waited / 1000,
            %deadline,
            "a change has been failing for longer than delivery.stuck_after_ms; it is still retried"
        );
    }

    /// Carries `claim` out; `sent` tells whether a change went out to
    /// Campaign (a PATCH or POST whose answer may be lost).
    async fn push(&self, claim: &Claim, sent: &AtomicBool) -> Result<Outcome, CampaignError> {
        // Before the look-up: a profile read without the field would look
        // as if it held `false` already.
        self.campaign.offers(claim.choice)?;
        let chosen = (claim.choice, claim.value);
        if let (Action::Set, ProfileKey::CustomKey(key), (Choice::Sale, true)) =
            (claim.action, &claim.key, chosen)
        {
            // An opt-out of sale goes in one call: the extended resource
            // addresses a profile by its custom key (its value before is
            // then not read). Only an opt-out: Campaign's answer to it does
            // not show whose profile it was, and an opt-out landing on the
            // wrong one could only protect someone; anything else is
            // checked against the profile a look-up returns.
            if self.campaign.set_by_key(key, chosen, sent).await? {
                return Ok(Outcome::Applied {
                    previous: None,
                    changed: 1,
                });
            }
            // No document has that key so: the look-up tells.
        }
        let profiles = match (&claim.key, chosen) {
            // An opt-out of sale by email reaches every profile with the
            // address, signed in or not: several profiles may be one
            // person's, and opting out is the protective side of a guess
            // (§ 7026(e) allows denying an opt-out only for fraud). Allowing
            // sale on one of several stays refused.
            (ProfileKey::Email(address), (Choice::Sale, true)) => {
                self.campaign.find_every(address).await?
            }
            _ => match self.campaign.find(&claim.key).await {
                Ok(profile) => vec![profile],
                Err(CampaignError::ProfileNotFound) => Vec::new(),
                Err(error) => return Err(error),
            },
        };
        if profiles.is_empty() {
            // An opt-out for someone Campaign does not know yet: a profile
            // flagged so (a suppression record), where the settings allow,
            // and, for an address anyone could have typed, the budget.
            if !(claim.value && self.create_missing_profiles) {
                return Err(CampaignError::ProfileNotFound);
            }
            if claim.action == Action::OptOutEveryMatch && !self.within_budget(claim).await? {
                return Ok(Outcome::OverBudget);
            }
            self.campaign.create(&claim.key, chosen, sent).await?;
            return Ok(Outcome::Created);
        }
        let held = profiles
            .iter()
            .map(|p| p.value(claim.choice))
            .collect::<Result<Vec<_>, _>>()?;
        let previous = held.iter().all(|&value| value);
        let mut changed = 0;
        for (profile, held) in profiles.iter().zip(held) {
            // Unless Campaign has it already, or an earlier PATCH may have
            // landed unseen (then what the look-up shows cannot be trusted).
            if held != claim.value || claim.in_doubt {
                self.campaign.set(profile, chosen, sent).await?;
                changed += 1;
            }
        }
        Ok(Outcome::Applied {
            previous: Some(previous),
            changed,
        })
    }

    /// Whether `claim` may create a profile: it holds a place in the
    /// creation budget already, an operator let it through, or it takes a
    /// place now.
    async fn within_budget(&self, claim: &Claim) -> Result<bool, CampaignError> {
        if matches!(claim.hold, Some(Hold::Reserved | Hold::Released)) {
            return Ok(true);
        }
        self.store
            .reserve_creation(claim, self.budget)
            .await
            .map_err(|error| {
                CampaignError::Unavailable(format!("could not count the creation: {error}"))
            })
    }

    /// The worker: applies due changes until `stop`, then lets the attempts
    /// under way finish (each bounded by the attempt timeout).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let reporter = tokio::spawn(self.clone().report(stop.clone()));
        drain(self.clone(), self.slots, &stop, &self.attempts).await;
        let _ = reporter.await;
        tracing::info!("delivery worker stopped");
    }

    /// Logs the backlog every `report_interval_ms` until `stop`: a worker
    /// that has fallen behind, or stopped, shows in the logs too, not only
    /// in the metrics.
    async fn report(self: Arc<Self>, stop: CancellationToken) {
        let every = Duration::from_millis(self.settings.report_interval_ms);
        if every.is_zero() {
            return;
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.store.backlog(self.stuck_after).await {
                Ok(backlog) => tracing::info!(
                    pending = backlog.pending,
                    oldest_pending_secs = backlog.oldest_pending_ms.unwrap_or(0) / 1000,
                    dead_letters = backlog.dead_letters,
                    held = backlog.held,
                    stuck = backlog.stuck,
                    "delivery backlog"
                ),
                Err(error) => tracing::warn!(%error, "could not count the pending changes"),
            }
        }
    }

    /// The next due change, the lanes taking turns ([`TURNS`]); a lane
    /// with nothing due gives its turn to the next.
    async fn claim_next(&self) -> Result<Option<Claim>, StoreError> {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let first = TURNS[turn % TURNS.len()];
        let others = Lane::ALL.into_iter().filter(|lane| *lane != first);
        for lane in std::iter::once(first).chain(others) {
            if let Some(claim) = self.store.claim_due(self.lease, lane).await? {
                return Ok(Some(claim));
            }
        }
        Ok(None)
    }

    /// Makes as many creations held for the budget due as it has room
    /// for (less those already due), once a second at most.
    async fn release_held(&self) {
        {
            let mut last = self
                .released_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() < Duration::from_secs(1) {
                return;
            }
            *last = Instant::now();
        }
        let released = match self.store.creation_room(self.budget).await {
            Ok(0) => return,
            Ok(room) => self.store.release_held(room).await,
            Err(error) => Err(error),
        };
        match released {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "creations held for the budget are due again"),
            Err(error) => tracing::warn!(%error, "could not release creations held for the budget"),
        }
    }
}

/// Campaign: the changes of the `pending_change` table.
impl Destination for Delivery {
    type Claim = Claim;
    const WHAT: &'static str = "pending changes";

    async fn next(&self) -> Result<Option<Claim>, StoreError> {
        self.release_held().await;
        self.claim_next().await
    }

    fn attempt(self: Arc<Self>, claim: Claim) -> impl Future<Output = ()> + Send + 'static {
        // Marked as the worker's: customers' calls go first.
        crate::campaign::as_worker(async move {
            self.apply(claim).await;
        })
    }

    async fn idle(&self, stop: &CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        tokio::select! {
            () = stop.cancelled() => {}
            () = self.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}
