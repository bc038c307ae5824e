//! SQLite's writes, made by one task with group commit.
//!
//! SQLite has one writer, and every statement is a round trip to the
//! thread that owns its connection. With a transaction per request, a PATCH
//! held that connection for eight round trips, and everything else queued
//! behind it. The writer task instead takes every write waiting in its
//! queue into one transaction: a burst of PATCHes costs one BEGIN and one
//! COMMIT (one sync of the file under `synchronous = FULL`), and each
//! waits for the commit that makes it durable.
//!
//! PostgreSQL, shared by replicas, runs each write in a transaction of its
//! own, concurrently on the pool's connections.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::consent::{BrowserRequest, ConsentClaim, ConsentOutcome};
use super::index::Undo;
use super::pending::{Claim, Finished, Outcome, Unreadable};
use super::trail::NewRequest;
use super::{Db, Result};

/// A change of the tables, run in some transaction.
pub(super) enum Write {
    Accept(NewRequest, Duration),
    Finish(Claim, Outcome),
    Repeat(NewRequest),
    Shelve(Unreadable),
    FinishConsent(ConsentClaim, ConsentOutcome),
    Browser(BrowserRequest),
    ShelveConsent(i64, String),
}

/// What a [`Write`] gave.
pub(super) enum Written {
    Accepted(Option<Claim>),
    Finished(Finished),
    Repeated(bool),
    Recorded,
}

/// A write and where its result goes.
pub(super) type Queued = (Write, oneshot::Sender<Result<Written>>);

/// The most writes one SQLite transaction takes: enough to amortise the
/// commit under a burst, small enough that the first of them is not kept
/// waiting long for the last.
const LARGEST_BATCH: usize = 64;

impl Db {
    /// The writer task: drains `queue` until every sender is gone.
    pub(super) async fn write_all(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Queued>) {
        let mut batch = Vec::with_capacity(LARGEST_BATCH);
        while queue.recv_many(&mut batch, LARGEST_BATCH).await > 0 {
            let (writes, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
            let results = match self.together(&writes).await {
                Ok(written) => written.into_iter().map(Ok).collect(),
                // One failure must not fail the others: each alone finds
                // out which failed, and why.
                Err(_) if writes.len() > 1 => {
                    let mut results = Vec::with_capacity(writes.len());
                    for write in &writes {
                        results.push(self.alone(write).await);
                    }
                    results
                }
                Err(error) => vec![Err(error)],
            };
            for (reply, result) in replies.into_iter().zip(results) {
                // The request may have gone (its client hung up); what it
                // asked for is recorded all the same.
                let _ = reply.send(result);
            }
        }
    }

    /// `write` in a transaction of its own.
    pub(super) async fn alone(&self, write: &Write) -> Result<Written> {
        self.together(std::slice::from_ref(write))
            .await
            .map(|mut written| written.remove(0))
    }

    /// `writes` in one transaction, in order; none of them if it fails.
    async fn together(&self, writes: &[Write]) -> Result<Vec<Written>> {
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::with_capacity(writes.len());
        let mut undos = Vec::new();
        let mut outcome = Ok(());
        for write in writes {
            match self.run(&mut tx, write).await {
                Ok((done, undo)) => {
                    written.push(done);
                    undos.extend(undo);
                }
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        let outcome = match outcome {
            Ok(()) => tx.commit().await.map_err(Into::into),
            Err(error) => {
                let _ = tx.rollback().await;
                Err(error)
            }
        };
        if let Err(error) = outcome {
            if let Some(index) = &self.pending {
                undos.into_iter().rev().for_each(|undo| index.undo(undo));
            }
            return Err(error);
        }
        Ok(written)
    }

    async fn run(
        &self,
        tx: &mut Transaction<'_, Any>,
        write: &Write,
    ) -> Result<(Written, Option<Undo>)> {
        Ok(match write {
            Write::Accept(request, lease) => {
                let (claim, undo) = self.accept_in(tx, request, *lease).await?;
                (Written::Accepted(claim), undo)
            }
            Write::Finish(claim, outcome) => {
                let (finished, undo) = self.finish_in(tx, claim, outcome).await?;
                (Written::Finished(finished), undo)
            }
            Write::Repeat(request) => {
                let (repeated, undo) = self.repeat_in(tx, request).await?;
                (Written::Repeated(repeated), undo)
            }
            Write::Shelve(row) => (Written::Recorded, self.shelve_in(tx, row).await?),
            Write::FinishConsent(claim, outcome) => {
                let finished = self.finish_consent_in(tx, claim, outcome).await?;
                (Written::Finished(finished), None)
            }
            Write::Browser(request) => {
                self.record_browser_in(tx, request).await?;
                (Written::Recorded, None)
            }
            Write::ShelveConsent(audit_id, namespace) => {
                self.shelve_consent_in(tx, *audit_id, namespace).await?;
                (Written::Recorded, None)
            }
        })
    }
}
