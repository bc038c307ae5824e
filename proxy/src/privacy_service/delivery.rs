//! Getting recorded choices to Privacy Service: a worker of its own beside
//! Campaign's, draining `consent_pending` with its own leases, backoff and
//! dead letters. A Privacy Service that is down delays its deliveries and
//! nothing else; Campaign's never wait for it, nor it for Campaign's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{ConsentError, PrivacyServiceClient};
use crate::config::DeliverySettings;
use crate::delivery::{Destination, drain, next_try};
use crate::metrics::{Consented, Metrics};
use crate::store::{ConsentClaim, ConsentOutcome, Finished, Store, StoreError};

/// Delivers consents; `run` is its worker.
pub struct ConsentDelivery {
    store: Arc<Store>,
    client: PrivacyServiceClient,
    /// Backoff, strikes and polling, shared with Campaign's delivery.
    settings: DeliverySettings,
    /// The most one attempt may take, a token's renewal included.
    attempt_timeout: Duration,
    /// How long a claim holds its row: twice the attempt's bound.
    lease: Duration,
    /// Attempts at once.
    slots: usize,
    /// Every attempt under way: a stop waits for them.
    attempts: TaskTracker,
    metrics: Arc<Metrics>,
}

impl ConsentDelivery {
    /// Delivery through `client`, each attempt bounded by
    /// `attempt_timeout` (from the IMS and Privacy Service timeouts).
    pub fn new(
        store: Arc<Store>,
        (client, slots): (PrivacyServiceClient, usize),
        settings: DeliverySettings,
        attempt_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            client,
            settings,
            attempt_timeout,
            lease: attempt_timeout * 2,
            slots: slots.max(1),
            attempts: TaskTracker::new(),
            metrics,
        }
    }

    /// What the latest call found wrong with the settings, if anything.
    pub fn problem(&self) -> Option<String> {
        self.client.problem()
    }

    /// The worker: delivers due consents until `stop`, then lets the
    /// attempts under way finish.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        drain(self.clone(), self.slots, &stop, &self.attempts).await;
        tracing::info!("Privacy Service worker stopped");
    }

    /// Delivers `claim` within the attempt's bound and records how.
    async fn apply(&self, claim: ConsentClaim) {
        let span = tracing::info_span!(
            "privacy_service",
            audit = claim.audit_id,
            id = %claim.request_id,
            namespace = claim.id.namespace(),
            attempt = claim.attempts + 1
        );
        self.attempt(claim).instrument(span).await;
    }

    async fn attempt(&self, claim: ConsentClaim) {
        let sent = AtomicBool::new(false);
        let answer = tokio::time::timeout(
            self.attempt_timeout,
            self.client.send(&claim.id, claim.opt_out, &sent),
        )
        .await
        .unwrap_or(Err(ConsentError::Timeout));
        let outcome = match answer {
            Ok(()) => ConsentOutcome::Delivered,
            Err(error) => self.failed(&claim, &error, sent.load(Ordering::SeqCst)),
        };
        let opt_out = claim.opt_out;
        let counted = match &outcome {
            ConsentOutcome::Delivered => Consented::Delivered,
            ConsentOutcome::Retry { .. } => Consented::Retried,
            ConsentOutcome::GiveUp { .. } => Consented::Failed,
        };
        let counted = match (self.store.finish_consent(claim, outcome).await, counted) {
            (Ok(Finished::Done), Consented::Delivered) => {
                tracing::info!(opt_out, "Privacy Service took the choice");
                counted
            }
            (Ok(Finished::Done), Consented::Failed) => {
                tracing::error!(
                    "Privacy Service keeps answering in a way the proxy cannot understand; the delivery went to the dead letters"
                );
                counted
            }
            // A newer choice replaced the one just sent: due now.
            (Ok(Finished::NewerDue), counted) => {
                self.store.wake_consents();
                match counted {
                    Consented::Failed => Consented::Retried,
                    counted => counted,
                }
            }
            // A newer choice replaced the one given up on: it waits.
            (Ok(Finished::Waiting), Consented::Failed) => Consented::Retried,
            (Ok(Finished::LeaseLost), counted) => {
                tracing::warn!(
                    "a delivery to Privacy Service ended after its lease; the attempt holding it now decides"
                );
                counted
            }
            (Err(error), counted) => {
                tracing::warn!(%error, "could not record a delivery to Privacy Service; it is retried when its lease ends");
                counted
            }
            (Ok(_), counted) => counted,
        };
        self.metrics.consented(counted);
    }

    /// Another attempt later, or after too many answers the proxy cannot
    /// understand, the dead letters. A call whose answer never came may
    /// still land: the identity then waits a whole lease, so that a newer
    /// choice is not overtaken by it.
    fn failed(&self, claim: &ConsentClaim, error: &ConsentError, sent: bool) -> ConsentOutcome {
        let in_doubt = sent && error.may_have_landed();
        let strike = error.is_strike();
        let tries = (claim.attempts, claim.strikes);
        let (after, last) = next_try(
            &self.settings,
            self.lease,
            tries,
            error.retry_after(),
            in_doubt,
        );
        tracing::warn!(%error, "Privacy Service did not take a choice");
        if strike && last {
            return ConsentOutcome::GiveUp {
                after,
                error: error.to_string(),
            };
        }
        ConsentOutcome::Retry {
            after,
            error: error.to_string(),
            strike,
            in_doubt,
        }
    }
}

/// Privacy Service: the deliveries of the `consent_pending` table.
impl Destination for ConsentDelivery {
    type Claim = ConsentClaim;
    const WHAT: &'static str = "deliveries to Privacy Service";

    async fn next(&self) -> Result<Option<ConsentClaim>, StoreError> {
        self.store.claim_consent(self.lease).await
    }

    async fn attempt(self: Arc<Self>, claim: ConsentClaim) {
        self.apply(claim).await;
    }

    async fn idle(&self, stop: &CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        tokio::select! {
            () = stop.cancelled() => {}
            () = self.store.consent_recorded() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}
