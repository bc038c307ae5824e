//! Durable storage: the audit trail of every accepted request, and the
//! changes Campaign has not confirmed yet.
//!
//! One schema, two engines: SQLite (a file, the default: nothing to run
//! beside the proxy) and PostgreSQL (what several replicas share). Both are
//! reached through sqlx's `Any` driver, so every query below is written once;
//! only the worker's claim differs, because PostgreSQL needs
//! `FOR UPDATE SKIP LOCKED` for replicas not to wait on each other, and
//! SQLite has a single writer anyway.
//!
//! Times are Unix milliseconds in `BIGINT` columns and booleans are `0/1`:
//! the `Any` driver maps those alike on both engines.
//!
//! The `pending` table holds one row per profile: the latest choice. A row is
//! *leased* while one process applies it, so no two replicas ever send one
//! profile's changes at the same time or out of order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{Stream, TryStreamExt};
use secrecy::ExposeSecret;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::config::{KeyKind, StorageSettings};
use crate::identity::{ProfileKey, Subject};

/// Which engine the URL named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The storage of one proxy process.
pub struct Store {
    db: Arc<Db>,
    /// SQLite only: the queue of the task that makes every write.
    writer: Option<mpsc::UnboundedSender<(Write, oneshot::Sender<Result<Written>>)>>,
}

/// The database and what this process knows about it.
struct Db {
    pool: AnyPool,
    dialect: Dialect,
    /// Names this process in leases, so that it only ever finishes its own.
    owner: String,
    /// SQLite only: the `pending` table's values, mirrored in memory.
    pending: Option<PendingIndex>,
}

/// A change of the tables, run in some transaction.
enum Write {
    Accept(NewRequest, Duration),
    Finish(Claim, Outcome),
}

/// What a [`Write`] gave.
enum Written {
    Accepted(Option<Claim>),
    Finished(bool),
}

/// How to put an index entry back when its transaction did not commit.
struct Undo {
    key: String,
    previous: Option<bool>,
}

/// The most writes one SQLite transaction takes: enough to amortise the
/// commit under a burst, small enough that the first of them is not kept
/// waiting long for the last.
const LARGEST_BATCH: usize = 64;

/// A SQLite file belongs to one proxy process, so it knows every pending
/// change: a GET then reads memory instead of handing a query to SQLite's
/// thread and back. That handoff was measured as the largest cost of a GET
/// (over 40 % of the proxy's CPU in thread switches). PostgreSQL, shared by
/// replicas, is always asked.
#[derive(Default)]
struct PendingIndex(std::sync::Mutex<HashMap<String, bool>>);

impl PendingIndex {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How a request reached the proxy: the "manner" of § 7101.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The consumer used the widget (or another client of the API).
    Widget,
    /// The browser sent a Global Privacy Control signal.
    Gpc,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Widget => "widget",
            Self::Gpc => "gpc",
        }
    }
}

/// A request the proxy accepted and must not lose.
pub struct NewRequest {
    /// Who asked.
    pub subject: Subject,
    /// Whose profile it changes.
    pub key: ProfileKey,
    /// The `ccpaOptOut` asked for.
    pub value: bool,
    /// How it arrived.
    pub source: Source,
    /// Whether it carried `Sec-GPC: 1`.
    pub gpc: bool,
    /// The request id also found in the logs.
    pub request_id: String,
}

/// A pending change leased to this process for applying.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Whose profile.
    pub key: ProfileKey,
    /// The request it carries out (the latest for the profile when leased).
    pub audit_id: i64,
    /// The value to set.
    pub value: bool,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// How an attempt to apply a [`Claim`] ended.
pub enum Outcome {
    /// Campaign holds the value now; it held `previous` before.
    Applied {
        /// Campaign's value before this attempt.
        previous: bool,
    },
    /// It can never be applied (no such profile): the basis of the denial.
    Denied {
        /// Why, in words for the audit trail.
        basis: &'static str,
    },
    /// Campaign failed; try again at `at`.
    Retry {
        /// When to try again.
        at: SystemTime,
        /// What went wrong, for operators (no bodies, tokens or emails).
        error: String,
    },
}

/// One line of the audit trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Sequence number: the order requests were accepted in.
    pub id: i64,
    /// The request id from the logs.
    pub request_id: String,
    /// When the request was accepted (Unix ms).
    pub received_at: i64,
    /// The host's subject.
    pub subject: String,
    /// The `ccpaOptOut` asked for.
    pub requested: bool,
    /// `widget` or `gpc`.
    pub source: String,
    /// Whether the request carried `Sec-GPC: 1`.
    pub gpc: bool,
    /// `applied`, `superseded`, `denied`, or `None` while pending.
    pub outcome: Option<String>,
    /// Campaign's value before, when it was read.
    pub previous: Option<bool>,
    /// When the outcome was decided (Unix ms).
    pub decided_at: Option<i64>,
    /// The basis of a denial.
    pub basis: Option<String>,
}

/// Storage failures are reported, never retried here: the caller decides.
pub type Result<T> = std::result::Result<T, sqlx::Error>;

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database.
    pub async fn connect(settings: &StorageSettings) -> Result<Self> {
        Self::connect_with(settings, "rwc").await
    }

    /// Opens a database that must exist already: readers of the audit trail
    /// should fail on a wrong path, not find an empty new file.
    pub async fn open_existing(settings: &StorageSettings) -> Result<Self> {
        Self::connect_with(settings, "rw").await
    }

    async fn connect_with(settings: &StorageSettings, sqlite_mode: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let url = settings.url.expose_secret();
        let dialect = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        let url = match dialect {
            // Keep any mode the URL names.
            Dialect::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode={sqlite_mode}")
            }
            _ => url.to_owned(),
        };
        // SQLite has one writer: a second connection would only wait for
        // the lock in SQLite's busy handler, which sleeps in steps of
        // milliseconds (measured: PATCH throughput fell to a tenth). One
        // connection queues requests in the pool instead, without sleeping.
        let connections = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => settings.max_connections,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL: readers never wait for the writer. NORMAL
                        // syncs at checkpoints: a committed request survives
                        // a crash of the process (`kill -9`); only a power
                        // cut may lose the last instants.
                        // A 512 KiB page cache, not SQLite's 2 MiB: the
                        // audit trail only grows at its end and GETs read
                        // the pending index in memory, so a larger cache
                        // only filled with pages nobody reads again (the
                        // soak saw RSS creep 2 MB over ten minutes).
                        connection
                            .execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -512;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let pending = match dialect {
            Dialect::Sqlite => {
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                Some(load_pending(&pool).await?)
            }
            Dialect::Postgres => {
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                None
            }
        };
        let db = Arc::new(Db {
            pool,
            dialect,
            owner: uuid::Uuid::new_v4().to_string(),
            pending,
        });
        let writer = (dialect == Dialect::Sqlite).then(|| {
            let (queue, writes) = mpsc::unbounded_channel();
            tokio::spawn(db.clone().write_all(writes));
            queue
        });
        Ok(Self { db, writer })
    }

    /// Records `request` in the audit trail and makes it the profile's
    /// pending change, in one transaction. When this returns, the request
    /// survives anything short of losing the database.
    ///
    /// The change comes back leased to this process for its first attempt,
    /// unless another attempt for the profile is under way (that one sends
    /// this choice next). Leasing here, not after, keeps the worker from
    /// taking a change its sender is about to try.
    pub async fn accept(&self, request: NewRequest, lease: Duration) -> Result<Option<Claim>> {
        match self.write(Write::Accept(request, lease)).await? {
            Written::Accepted(claim) => Ok(claim),
            Written::Finished(_) => unreachable!("an accept is answered as one"),
        }
    }

    /// Records how `claim` ended and gives the profile's row back: deleted
    /// when nothing newer arrived, otherwise due again at once (after
    /// success) or at the retry time (after failure). Returns whether a newer
    /// choice is now due.
    pub async fn finish(&self, claim: Claim, outcome: Outcome) -> Result<bool> {
        match self.write(Write::Finish(claim, outcome)).await? {
            Written::Finished(newer) => Ok(newer),
            Written::Accepted(_) => unreachable!("a finish is answered as one"),
        }
    }

    /// SQLite: through the writer's queue. PostgreSQL: in a transaction of
    /// its own, concurrently with others on the pool's connections.
    async fn write(&self, write: Write) -> Result<Written> {
        let Some(queue) = &self.writer else {
            return self.db.alone(&write).await;
        };
        let (reply, written) = oneshot::channel();
        queue
            .send((write, reply))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        written.await.map_err(|_| sqlx::Error::PoolClosed)?
    }

    /// The value waiting to be applied to `key`'s profile, if any.
    pub async fn pending_value(&self, key: &ProfileKey) -> Result<Option<bool>> {
        if let Some(index) = &self.db.pending {
            return Ok(index.map().get(key.as_str()).copied());
        }
        let row = sqlx::query("SELECT value FROM pending WHERE profile_key = $1")
            .bind(key.as_str())
            .fetch_optional(&self.db.pool)
            .await?;
        row.map(|r| r.try_get::<i64, _>("value").map(|v| v != 0))
            .transpose()
    }

    /// How many profiles have a change waiting.
    pub async fn pending_count(&self) -> Result<i64> {
        sqlx::query("SELECT COUNT(*) AS n FROM pending")
            .fetch_one(&self.db.pool)
            .await?
            .try_get("n")
    }

    /// Whether the subject's latest request allowed sale while their browser
    /// sent GPC: they were told of the conflict and chose, so the signal no
    /// longer overrides them (CCPA regulations § 7025(c)(3)).
    pub async fn gpc_waived(&self, subject: &Subject) -> Result<bool> {
        let row = sqlx::query(
            "SELECT requested, source, gpc FROM audit WHERE subject = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(subject.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(false) };
        Ok(row.try_get::<i64, _>("requested")? == 0
            && row.try_get::<String, _>("source")? == Source::Widget.as_str()
            && row.try_get::<i64, _>("gpc")? == 1)
    }

    /// Leases the change that is due soonest, if any is due.
    pub async fn claim_due(&self, lease: Duration) -> Result<Option<Claim>> {
        let now = now_ms();
        let query = match self.db.dialect {
            Dialect::Postgres => {
                "UPDATE pending SET lease_owner = $1, lease_until = $2, leased_audit_id = audit_id \
                 WHERE profile_key = (SELECT profile_key FROM pending \
                   WHERE next_attempt_at <= $3 AND lease_until <= $3 \
                   ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 AND lease_until <= $3 \
                 RETURNING profile_key, key_kind, audit_id, value, attempts"
            }
            Dialect::Sqlite => {
                "UPDATE pending SET lease_owner = $1, lease_until = $2, leased_audit_id = audit_id \
                 WHERE profile_key = (SELECT profile_key FROM pending \
                   WHERE next_attempt_at <= $3 AND lease_until <= $3 \
                   ORDER BY next_attempt_at LIMIT 1) \
                 AND lease_until <= $3 \
                 RETURNING profile_key, key_kind, audit_id, value, attempts"
            }
        };
        sqlx::query(query)
            .bind(&self.db.owner)
            .bind(now + millis(lease))
            .bind(now)
            .fetch_optional(&self.db.pool)
            .await?
            .map(claim_of)
            .transpose()
    }

    /// The audit trail for requests accepted in `[from, to)` (Unix ms),
    /// oldest first, streamed: a range may hold millions of records.
    pub fn audit(&self, from: i64, to: i64) -> impl Stream<Item = Result<AuditRow>> + '_ {
        sqlx::query(
            "SELECT a.id, a.request_id, a.received_at, a.subject, a.requested, a.source, a.gpc, \
             o.outcome, o.previous, o.decided_at, o.basis \
             FROM audit a LEFT JOIN audit_outcome o ON o.audit_id = a.id \
             WHERE a.received_at >= $1 AND a.received_at < $2 ORDER BY a.id",
        )
        .bind(from)
        .bind(to)
        .fetch(&self.db.pool)
        .and_then(|row| async move { audit_row(&row) })
    }

    /// Closes every connection (after the last request and the worker).
    pub async fn close(&self) {
        self.db.pool.close().await;
    }
}

/// SQLite has one writer, and every statement is a round trip to the
/// thread that owns its connection. With a transaction per request, a PATCH
/// held that connection for eight round trips, and everything else queued
/// behind it. The writer task instead takes every write waiting in its
/// queue into one transaction: a burst of PATCHes costs one BEGIN and one
/// COMMIT, and each waits for the commit that makes it durable.
impl Db {
    async fn write_all(
        self: Arc<Self>,
        mut queue: mpsc::UnboundedReceiver<(Write, oneshot::Sender<Result<Written>>)>,
    ) {
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
            Ok(()) => tx.commit().await,
            Err(error) => {
                let _ = tx.rollback().await;
                Err(error)
            }
        };
        if let Err(error) = outcome {
            undos.into_iter().rev().for_each(|undo| self.undo(undo));
            return Err(error);
        }
        Ok(written)
    }

    /// `write` in a transaction of its own.
    async fn alone(&self, write: &Write) -> Result<Written> {
        self.together(std::slice::from_ref(write))
            .await
            .map(|mut written| written.remove(0))
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
                let (newer, undo) = self.finish_in(tx, claim, outcome).await?;
                (Written::Finished(newer), undo)
            }
        })
    }

    /// Records `request` in the audit trail and makes it the profile's
    /// pending change, in one transaction. When this returns, the request
    /// survives anything short of losing the database.
    ///
    /// The change comes back leased to this process for its first attempt,
    /// unless another attempt for the profile is under way (that one sends
    /// this choice next). Leasing here, not after, keeps the worker from
    /// taking a change its sender is about to try.
    async fn accept_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        request: &NewRequest,
        lease: Duration,
    ) -> Result<(Option<Claim>, Option<Undo>)> {
        let now = now_ms();
        let lease_until = now + millis(lease);
        let key = request.key.as_str();
        // A write first: SQLite then holds the write lock for the whole
        // transaction instead of failing to upgrade a read lock later.
        let audit_id: i64 = sqlx::query(
            "INSERT INTO audit (request_id, received_at, subject, requested, source, gpc) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(request.request_id.as_str())
        .bind(now)
        .bind(request.subject.as_str())
        .bind(i64::from(request.value))
        .bind(request.source.as_str())
        .bind(i64::from(request.gpc))
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        let claim = |attempts| Claim {
            key: request.key.clone(),
            audit_id,
            value: request.value,
            attempts,
        };
        // Usually one pass; a second when the row vanished (applied by
        // another process) between the insert attempt and the lock.
        let leased = loop {
            let inserted = sqlx::query(
                "INSERT INTO pending (profile_key, key_kind, audit_id, value, next_attempt_at, \
                 lease_owner, lease_until, leased_audit_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $3) ON CONFLICT (profile_key) DO NOTHING",
            )
            .bind(key)
            .bind(request.key.kind().as_str())
            .bind(audit_id)
            .bind(i64::from(request.value))
            .bind(now)
            .bind(&self.owner)
            .bind(lease_until)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                break Some(claim(0));
            }
            let lock = match self.dialect {
                Dialect::Postgres => {
                    "SELECT audit_id, leased_audit_id, lease_until, attempts FROM pending \
                     WHERE profile_key = $1 FOR UPDATE"
                }
                Dialect::Sqlite => {
                    "SELECT audit_id, leased_audit_id, lease_until, attempts FROM pending \
                     WHERE profile_key = $1"
                }
            };
            let Some(row) = sqlx::query(lock)
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?
            else {
                continue;
            };
            let replaced: i64 = row.try_get("audit_id")?;
            let leased: Option<i64> = row.try_get("leased_audit_id")?;
            let free = row.try_get::<i64, _>("lease_until")? <= now;
            // The request being sent right now is finished by its sender;
            // any other replaced one will never be sent.
            if free || leased != Some(replaced) {
                record_outcome(tx, replaced, "superseded", None, None).await?;
            }
            sqlx::query("UPDATE pending SET audit_id = $1, value = $2 WHERE profile_key = $3")
                .bind(audit_id)
                .bind(i64::from(request.value))
                .bind(key)
                .execute(&mut **tx)
                .await?;
            if !free {
                break None;
            }
            sqlx::query(
                "UPDATE pending SET lease_owner = $1, lease_until = $2, leased_audit_id = audit_id \
                 WHERE profile_key = $3",
            )
            .bind(&self.owner)
            .bind(lease_until)
            .bind(key)
            .execute(&mut **tx)
            .await?;
            let attempts = row.try_get::<i64, _>("attempts")?;
            break Some(claim(u32::try_from(attempts).unwrap_or(u32::MAX)));
        };
        // The index changes while this transaction holds SQLite's only
        // connection, so it changes in the same order as the table; the
        // change is undone if the transaction does not commit.
        Ok((leased, self.index_set(key, Some(request.value))))
    }

    /// Sets (or with `None` removes) `key` in the SQLite index; returns
    /// how to undo that if its transaction fails.
    fn index_set(&self, key: &str, value: Option<bool>) -> Option<Undo> {
        let index = self.pending.as_ref()?;
        let mut map = index.map();
        let previous = match value {
            Some(value) => map.insert(key.to_owned(), value),
            None => map.remove(key),
        };
        Some(Undo {
            key: key.to_owned(),
            previous,
        })
    }

    fn undo(&self, undo: Undo) {
        self.index_set(&undo.key, undo.previous);
    }

    /// Records how `claim` ended and gives the profile's row back: deleted
    /// when nothing newer arrived, otherwise due again at once (after
    /// success) or at the retry time (after failure). Returns whether a newer
    /// choice is now due.
    async fn finish_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        claim: &Claim,
        outcome: &Outcome,
    ) -> Result<(bool, Option<Undo>)> {
        let (retry_at, error) = match outcome {
            Outcome::Applied { previous } => {
                record_outcome(tx, claim.audit_id, "applied", Some(*previous), None).await?;
                (now_ms(), None)
            }
            Outcome::Denied { basis } => {
                record_outcome(tx, claim.audit_id, "denied", None, Some(*basis)).await?;
                (now_ms(), None)
            }
            Outcome::Retry { at, error } => (unix_ms(*at), Some(error.as_str())),
        };
        let done = error.is_none();
        if done {
            let deleted = sqlx::query(
                "DELETE FROM pending WHERE profile_key = $1 AND lease_owner = $2 AND audit_id = $3",
            )
            .bind(claim.key.as_str())
            .bind(&self.owner)
            .bind(claim.audit_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if deleted == 1 {
                return Ok((false, self.index_set(claim.key.as_str(), None)));
            }
        }
        let released = sqlx::query(
            "UPDATE pending SET lease_owner = NULL, lease_until = 0, leased_audit_id = NULL, \
             attempts = CASE WHEN $1 = 1 THEN 0 ELSE attempts + 1 END, \
             next_attempt_at = $2, last_error = $3 \
             WHERE profile_key = $4 AND lease_owner = $5 RETURNING audit_id",
        )
        .bind(i64::from(done))
        .bind(retry_at)
        .bind(error)
        .bind(claim.key.as_str())
        .bind(&self.owner)
        .fetch_optional(&mut **tx)
        .await?;
        let newer = match released {
            Some(row) => row.try_get::<i64, _>("audit_id")? != claim.audit_id,
            None => false,
        };
        if newer && !done {
            // Replaced while this attempt failed: it will never be sent.
            record_outcome(tx, claim.audit_id, "superseded", None, None).await?;
        }
        Ok((newer && done, None))
    }
}

async fn load_pending(pool: &AnyPool) -> Result<PendingIndex> {
    let index = PendingIndex::default();
    let rows = sqlx::query("SELECT profile_key, value FROM pending")
        .fetch_all(pool)
        .await?;
    for row in rows {
        let value = row.try_get::<i64, _>("value")? != 0;
        index.map().insert(row.try_get("profile_key")?, value);
    }
    Ok(index)
}

async fn record_outcome(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    audit_id: i64,
    outcome: &str,
    previous: Option<bool>,
    basis: Option<&str>,
) -> Result<()> {
    // DO NOTHING: when a lease ran out, two processes may both finish one
    // request; the first outcome stands.
    sqlx::query(
        "INSERT INTO audit_outcome (audit_id, outcome, previous, decided_at, basis) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (audit_id) DO NOTHING",
    )
    .bind(audit_id)
    .bind(outcome)
    .bind(previous.map(i64::from))
    .bind(now_ms())
    .bind(basis)
    .execute(&mut **tx)
    .await
    .map(drop)
}

fn claim_of(row: AnyRow) -> Result<Claim> {
    let kind: String = row.try_get("key_kind")?;
    let raw: String = row.try_get("profile_key")?;
    let key = KeyKind::parse(&kind)
        .and_then(|kind| ProfileKey::parse(&raw, kind).ok())
        .ok_or_else(|| sqlx::Error::Decode("a stored profile key does not parse".into()))?;
    Ok(Claim {
        key,
        audit_id: row.try_get("audit_id")?,
        value: row.try_get::<i64, _>("value")? != 0,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
    })
}

fn audit_row(row: &AnyRow) -> Result<AuditRow> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        received_at: row.try_get("received_at")?,
        subject: row.try_get("subject")?,
        requested: row.try_get::<i64, _>("requested")? != 0,
        source: row.try_get("source")?,
        gpc: row.try_get::<i64, _>("gpc")? != 0,
        outcome: row.try_get("outcome")?,
        previous: row.try_get::<Option<i64>, _>("previous")?.map(|v| v != 0),
        decided_at: row.try_get("decided_at")?,
        basis: row.try_get("basis")?,
    })
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: &str) -> NewRequest {
        NewRequest {
            subject: Subject::verified(key),
            key: ProfileKey::parse(key, KeyKind::CustomKey).unwrap(),
            value: true,
            source: Source::Widget,
            gpc: false,
            request_id: format!("request-{key}"),
        }
    }

    /// Writes queued together share a transaction; one that fails (here an
    /// outcome for a request that was never recorded) must not take the
    /// others down with it, nor leave the in-memory index out of step.
    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_batch_still_commits() {
        let dir = std::env::temp_dir().join(format!("ccpa-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("proxy.db").display());
        let store = Store::connect(&StorageSettings {
            url: url.into(),
            max_connections: 1,
        })
        .await
        .unwrap();
        let never_recorded = Claim {
            audit_id: 999_999,
            ..store
                .accept(request("C"), Duration::ZERO)
                .await
                .unwrap()
                .unwrap()
        };
        let lease = Duration::from_secs(60);
        let (a, bogus, b) = tokio::join!(
            store.accept(request("A"), lease),
            store.finish(never_recorded, Outcome::Applied { previous: false }),
            store.accept(request("B"), lease),
        );
        assert!(a.unwrap().is_some() && b.unwrap().is_some());
        assert!(bogus.is_err(), "an outcome needs its audit record");
        for key in ["A", "B", "C"] {
            let key = ProfileKey::parse(key, KeyKind::CustomKey).unwrap();
            assert_eq!(store.pending_value(&key).await.unwrap(), Some(true));
        }
        assert_eq!(store.pending_count().await.unwrap(), 3);
        let audit: Vec<AuditRow> = store.audit(0, i64::MAX).try_collect().await.unwrap();
        assert_eq!(audit.len(), 3);
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
