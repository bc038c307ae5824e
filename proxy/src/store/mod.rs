//! Durable storage: the audit trail of every accepted request, and the
//! changes Campaign has not confirmed yet.
//!
//! One schema, two engines: SQLite (a file, the default: nothing to run
//! beside the proxy) and PostgreSQL (what several replicas share). Both are
//! reached through sqlx's `Any` driver, so every query is written once; the
//! few words that differ are filled in per engine ([`engine`]).
//!
//! Times are Unix milliseconds in `BIGINT` columns, read from the
//! database's clock, and booleans are `0/1`: the `Any` driver maps those
//! alike on both engines.
//!
//! - [`trail`]: the append-only audit trail.
//! - [`pending`]: pending changes and their leases.
//! - [`dead`]: changes given up on, for an operator.
//! - [`budget`]: profiles created for addresses nobody has, counted.
//! - [`backlog`]: what operators watch: counts, and the changes held or
//!   stuck.
//! - [`writer`]: SQLite's single writer with group commit.
//! - [`index`]: SQLite's pending values mirrored in memory.

mod backlog;
mod budget;
mod consent;
mod dead;
mod engine;
mod error;
mod index;
mod pending;
mod trail;
mod writer;

use std::fs::{File, OpenOptions, TryLockError};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

pub use backlog::{Backlog, Waiting};
pub use budget::Budget;
pub use consent::{
    BrowserRequest, ConsentClaim, ConsentDeadLetter, ConsentOutcome, ConsentWaiting,
};
pub use dead::DeadLetter;
use engine::Dialect;
pub use engine::Engine;
pub use error::{Result, StoreError};
use index::{PendingIndex, Undo};
use pending::Due;
pub use pending::{Claim, Finished, Hold, Lane, Outcome};
pub use trail::{Action, AuditRow, Choice, NewRequest, Source};
use writer::{Queued, Write, Written};

use crate::config::{StorageSettings, Synchronous};
use crate::identity::ProfileKey;

/// The storage of one proxy process.
pub struct Store {
    db: Arc<Db>,
    /// SQLite only: the queue of the task that makes every write.
    writer: Option<mpsc::UnboundedSender<Queued>>,
    /// SQLite only: held while the process runs, so that a second process
    /// on the same file fails at start instead of sharing it unseen.
    _owner: Option<File>,
    /// The backlog as last counted.
    counted: backlog::Counted,
    /// Told when a request recorded deliveries to Privacy Service.
    consents: tokio::sync::Notify,
}

/// The database and what this process knows about it.
struct Db {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite only: the `pending_change` table's values, mirrored in memory.
    pending: Option<PendingIndex>,
}

impl Store {
    /// Opens the database for the proxy: creates a SQLite file if needed,
    /// takes it for this process, and brings the schema up to date (with
    /// `storage.migrate`; else checks that it is).
    pub async fn connect(settings: &StorageSettings) -> Result<Self> {
        let engine = &settings.engine;
        let owner = engine.sqlite_path().map(own).transpose()?;
        let pool = pool(settings, false).await?;
        let migrator = migrator(engine.dialect());
        if settings.migrate {
            migrator.run(&pool).await?;
        } else {
            up_to_date(&pool, &migrator).await?;
        }
        let pending = match engine.dialect() {
            Dialect::Sqlite => Some(load_pending(&pool).await?),
            Dialect::Postgres => None,
        };
        let db = Arc::new(Db {
            pool,
            dialect: engine.dialect(),
            pending,
        });
        let writer = (engine.dialect() == Dialect::Sqlite).then(|| {
            let (queue, writes) = mpsc::unbounded_channel();
            tokio::spawn(db.clone().write_all(writes));
            queue
        });
        Ok(Self {
            db,
            writer,
            _owner: owner,
            counted: backlog::Counted::default(),
            consents: tokio::sync::Notify::new(),
        })
    }

    /// Opens an existing database only to read it, as the audit export
    /// does: no file is created, no migration runs, nothing is written,
    /// and a read-only database role is enough. It may run beside the
    /// proxy.
    pub async fn open_read_only(settings: &StorageSettings) -> Result<Self> {
        let pool = pool(settings, true).await?;
        Ok(Self {
            db: Arc::new(Db {
                pool,
                dialect: settings.engine.dialect(),
                pending: None,
            }),
            writer: None,
            _owner: None,
            counted: backlog::Counted::default(),
            consents: tokio::sync::Notify::new(),
        })
    }

    /// Records `request` in the audit trail and makes it the profile's
    /// pending change, in one transaction. When this returns, the request
    /// survives anything short of losing the database.
    ///
    /// The change comes back leased for its first attempt (for `lease`),
    /// unless another attempt for the profile is under way: that one sends
    /// this choice next.
    pub async fn accept(&self, request: NewRequest, lease: Duration) -> Result<Option<Claim>> {
        let consents = !request.adobe.is_empty();
        let written = self.write(Write::Accept(request, lease)).await?;
        self.consents_recorded(consents);
        match written {
            Written::Accepted(claim) => Ok(claim),
            _ => unreachable!("an accept is answered as one"),
        }
    }

    /// Wakes the Privacy Service worker, if deliveries were recorded.
    fn consents_recorded(&self, recorded: bool) {
        if recorded {
            self.wake_consents();
        }
    }

    /// Wakes the Privacy Service worker: deliveries are due.
    pub fn wake_consents(&self) {
        self.consents.notify_one();
    }

    /// Completes when a request has recorded deliveries to Privacy Service
    /// (in this process) since the last time it did.
    pub async fn consent_recorded(&self) {
        self.consents.notified().await;
    }

    /// Records `request`, past its key's limit, as a repeat when an
    /// opt-out for the key still waits (audited `repeat` at once, nothing
    /// more to send), else as any request, due at once; `true`: a repeat.
    /// As costly as [`Store::accept`] either way, so that the answer does
    /// not tell.
    pub async fn repeat(&self, request: NewRequest) -> Result<bool> {
        let consents = !request.adobe.is_empty();
        let written = self.write(Write::Repeat(request)).await?;
        self.consents_recorded(consents);
        match written {
            Written::Repeated(repeated) => Ok(repeated),
            _ => unreachable!("a repeat is answered as one"),
        }
    }

    /// Records how `claim` ended and gives the profile's row back, if the
    /// claim's lease still holds it.
    pub async fn finish(&self, claim: Claim, outcome: Outcome) -> Result<Finished> {
        match self.write(Write::Finish(claim, outcome)).await? {
            Written::Finished(finished) => Ok(finished),
            _ => unreachable!("a finish is answered as one"),
        }
    }

    /// Leases the change of `lane` that is due soonest, if any is due. A
    /// row this version cannot read is shelved on the way (see
    /// `pending::Db::shelve_in`), and the next taken.
    pub async fn claim_due(&self, lease: Duration, lane: Lane) -> Result<Option<Claim>> {
        loop {
            match self.db.claim_due(lease, lane).await? {
                Due::Claim(claim) => return Ok(Some(claim)),
                Due::Nothing => return Ok(None),
                Due::Unreadable(row) => {
                    tracing::error!(
                        audit = row.audit_id(),
                        "a pending change's stored key is not one this version takes; it goes \
                         to the dead letters"
                    );
                    self.write(Write::Shelve(row)).await?;
                }
            }
        }
    }

    /// SQLite: through the writer's queue. PostgreSQL: in a transaction of
    /// its own.
    async fn write(&self, write: Write) -> Result<Written> {
        let Some(queue) = &self.writer else {
            return self.db.alone(&write).await;
        };
        let (reply, written) = oneshot::channel();
        queue.send((write, reply)).map_err(|_| StoreError::Closed)?;
        written.await.map_err(|_| StoreError::Closed)?
    }

    /// The value waiting to be applied to `key`'s `choice`, if any.
    pub async fn pending_value(&self, key: &ProfileKey, choice: Choice) -> Result<Option<bool>> {
        if let Some(index) = &self.db.pending {
            return Ok(index.get(key.as_str(), choice));
        }
        let row =
            sqlx::query("SELECT value FROM pending_change WHERE profile_key = $1 AND choice = $2")
                .bind(key.as_str())
                .bind(choice.as_str())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>("value").map(|v| v != 0))
            .transpose()?)
    }

    /// Closes every connection (after the last request and the worker).
    pub async fn close(&self) {
        self.db.pool.close().await;
    }
}

impl Db {
    /// Sets (or with `None` removes) `key`'s `choice` in the SQLite index;
    /// returns how to undo that if its transaction fails.
    fn index_set(&self, key: &str, choice: Choice, value: Option<bool>) -> Option<Undo> {
        Some(self.pending.as_ref()?.set(key, choice, value))
    }
}

/// Opens the SQLite file (creating it) and locks it for this process.
/// SQLite itself locks with `fcntl`, which this `flock` does not touch.
fn own(path: &std::path::Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|error| StoreError::File {
            path: path.to_owned(),
            error,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse(path.to_owned())),
        Err(TryLockError::Error(error)) => Err(StoreError::File {
            path: path.to_owned(),
            error,
        }),
    }
}

async fn pool(settings: &StorageSettings, read_only: bool) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let engine = &settings.engine;
    let dialect = engine.dialect();
    // SQLite has one writer: a second connection would only wait for the
    // lock in SQLite's busy handler, which sleeps in steps of milliseconds
    // (measured: PATCH throughput fell to a tenth). One connection queues
    // requests in the pool instead, without sleeping.
    let connections = match dialect {
        Dialect::Sqlite => 1,
        Dialect::Postgres => settings.max_connections,
    };
    let setup = session_setup(dialect, settings.sqlite_synchronous, read_only);
    let pool = AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(move |connection, _| {
            Box::pin(async move {
                connection.execute(setup).await?;
                Ok(())
            })
        })
        .connect(&engine.connect_url(if read_only { "ro" } else { "rw" }))
        .await?;
    Ok(pool)
}

/// What every new connection runs first.
fn session_setup(dialect: Dialect, synchronous: Synchronous, read_only: bool) -> &'static str {
    match (dialect, read_only, synchronous) {
        // WAL: readers never wait for the writer. FULL syncs the log at
        // every commit: a committed request survives a power cut too, not
        // only a crash of the process; group commit pays one sync per
        // batch. A 512 KiB page cache, not SQLite's 2 MiB: the audit trail
        // only grows at its end and GETs read the index in memory, so a
        // larger cache only filled with pages nobody reads again.
        (Dialect::Sqlite, false, Synchronous::Full) => {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA busy_timeout = 5000; PRAGMA cache_size = -512;"
        }
        (Dialect::Sqlite, false, Synchronous::Normal) => {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 5000; PRAGMA cache_size = -512;"
        }
        (Dialect::Sqlite, true, _) => "PRAGMA busy_timeout = 5000;",
        (Dialect::Postgres, false, _) => "SELECT 1",
        // Even a role that may write cannot, through this connection.
        (Dialect::Postgres, true, _) => "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    }
}

fn migrator(dialect: Dialect) -> Migrator {
    match dialect {
        Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
}

/// Refuses a schema older than this proxy's, when it may not migrate it.
async fn up_to_date(pool: &AnyPool, migrator: &Migrator) -> Result<()> {
    let needed = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = match sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
    {
        Ok(row) => row.try_get("v")?,
        // No migrations table: a database never migrated.
        Err(sqlx::Error::Database(_)) => None,
        Err(error) => return Err(error.into()),
    };
    match applied {
        Some(applied) if applied >= needed => Ok(()),
        applied => Err(StoreError::Outdated {
            applied: applied.unwrap_or(0),
            needed,
        }),
    }
}

async fn load_pending(pool: &AnyPool) -> Result<PendingIndex> {
    let index = PendingIndex::default();
    let rows = sqlx::query("SELECT profile_key, choice, value FROM pending_change")
        .fetch_all(pool)
        .await?;
    for row in rows {
        let value = row.try_get::<i64, _>("value")? != 0;
        let choice = Choice::parse(&row.try_get::<String, _>("choice")?)
            .ok_or(StoreError::Corrupt("choice"))?;
        index.set(row.try_get("profile_key")?, choice, Some(value));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;

    use super::*;
    use crate::config::KeyKind;
    use crate::identity::Subject;

    fn request(key: &str) -> NewRequest {
        NewRequest {
            subject: Subject::verified(key),
            key: ProfileKey::parse(key, KeyKind::CustomKey).unwrap(),
            choice: Choice::Sale,
            value: true,
            action: Action::Set,
            source: Source::Widget,
            gpc: false,
            request_id: format!("request-{key}"),
            client: None,
            adobe: Vec::new(),
        }
    }

    fn settings(dir: &std::path::Path) -> StorageSettings {
        StorageSettings::new(&format!("sqlite://{}", dir.join("proxy.db").display())).unwrap()
    }

    fn scratch_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ccpa-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes queued together share a transaction; one that fails (here an
    /// outcome for a request whose row is gone) must not take the others
    /// down with it, nor leave the in-memory index out of step.
    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_batch_still_commits() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        let lease = Duration::from_secs(60);
        let c = store.accept(request("C"), lease).await.unwrap().unwrap();
        sqlx::query("DROP TABLE dead_letter")
            .execute(&store.db.pool)
            .await
            .unwrap();
        let give_up = Outcome::GiveUp {
            after: Duration::ZERO,
            error: "no".into(),
            held: false,
        };
        let (a, failing, b) = tokio::join!(
            store.accept(request("A"), lease),
            store.finish(c, give_up),
            store.accept(request("B"), lease),
        );
        assert!(a.unwrap().is_some() && b.unwrap().is_some());
        assert!(failing.is_err(), "a dead letter needs its table");
        for key in ["A", "B", "C"] {
            let key = ProfileKey::parse(key, KeyKind::CustomKey).unwrap();
            assert_eq!(
                store.pending_value(&key, Choice::Sale).await.unwrap(),
                Some(true),
                "{key:?}"
            );
        }
        let audit: Vec<AuditRow> = store.audit(0, i64::MAX).try_collect().await.unwrap();
        assert_eq!(audit.len(), 3);
        assert!(
            audit.iter().all(|row| row.outcome.is_none()),
            "C's failure rolled back"
        );
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// An attempt that outlived its lease (the worker took the change over)
    /// may neither delete nor release the row the newer attempt holds.
    #[tokio::test]
    async fn a_finish_after_its_lease_ended_changes_nothing() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        let key = ProfileKey::parse("A", KeyKind::CustomKey).unwrap();
        let late = store
            .accept(request("A"), Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let current = store
            .claim_due(Duration::from_secs(60), Lane::Customer)
            .await
            .unwrap()
            .expect("the lapsed lease is taken over");
        let applied = || Outcome::Applied {
            previous: Some(false),
            changed: 1,
        };
        assert_eq!(
            store.finish(late, applied()).await.unwrap(),
            Finished::LeaseLost
        );
        assert_eq!(
            store.pending_value(&key, Choice::Sale).await.unwrap(),
            Some(true),
            "still pending"
        );
        assert!(
            store
                .claim_due(Duration::from_secs(60), Lane::Customer)
                .await
                .unwrap()
                .is_none(),
            "still leased to the current attempt"
        );
        assert_eq!(
            store.finish(current, applied()).await.unwrap(),
            Finished::Done
        );
        assert_eq!(store.pending_value(&key, Choice::Sale).await.unwrap(), None);
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Changes waiting under the schema before the second choice survive
    /// its migration, as changes of the opt-out, and can be claimed.
    #[tokio::test]
    async fn the_second_choice_migration_keeps_what_was_pending() {
        let dir = scratch_dir();
        let older = dir.join("older-migrations");
        std::fs::create_dir_all(&older).unwrap();
        let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for file in std::fs::read_dir(&all).unwrap() {
            let file = file.unwrap();
            if file.file_name().to_string_lossy().as_ref() < "20261202" {
                std::fs::copy(file.path(), older.join(file.file_name())).unwrap();
            }
        }
        let settings = settings(&dir);
        std::fs::File::create(dir.join("proxy.db")).unwrap();
        let before = pool(&settings, false).await.unwrap();
        Migrator::new(older)
            .await
            .unwrap()
            .run(&before)
            .await
            .unwrap();
        sqlx::raw_sql(
            "INSERT INTO audit (request_id, received_at, subject, requested, source, gpc) \
             VALUES ('r-1', 1, 'A', 1, 'widget', 0); \
             INSERT INTO pending (profile_key, key_kind, audit_id, value, next_attempt_at, \
             pending_since) VALUES ('A', 'custom-key', 1, 1, 0, 1);",
        )
        .execute(&before)
        .await
        .unwrap();
        before.close().await;

        let store = Store::connect(&settings).await.unwrap();
        let key = ProfileKey::parse("A", KeyKind::CustomKey).unwrap();
        assert_eq!(
            store.pending_value(&key, Choice::Sale).await.unwrap(),
            Some(true)
        );
        assert_eq!(
            store.pending_value(&key, Choice::Sensitive).await.unwrap(),
            None
        );
        let claim = store
            .claim_due(Duration::from_secs(60), Lane::Customer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (claim.choice, claim.value, claim.audit_id),
            (Choice::Sale, true, 1)
        );
        let audit: Vec<AuditRow> = store.audit(0, i64::MAX).try_collect().await.unwrap();
        assert_eq!(audit[0].choice, "sale");
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A row an earlier version stored with a key this one refuses (here
    /// an address whose domain is no host name) is given up on, audited
    /// `failed` with why and kept among the dead letters, not leased
    /// again and again; the change behind it is claimed. (Its claim
    /// failed at every lease, for ever, and nothing listed it.)
    #[tokio::test]
    async fn a_row_with_a_key_this_version_refuses_goes_to_the_dead_letters() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO audit (request_id, received_at, subject, requested, source, gpc) \
             VALUES ('r-old', 1, 'email:grace@example.com;', 1, 'email', 0); \
             INSERT INTO pending_change (profile_key, choice, key_kind, audit_id, value, \
             action, next_attempt_at, pending_since, lane) VALUES ('grace@example.com;', \
             'sale', 'email', 1, 1, 'opt-out-every-match', 0, 1, 'email');",
        )
        .execute(&store.db.pool)
        .await
        .unwrap();
        store.accept(request("B"), Duration::ZERO).await.unwrap();
        let lease = Duration::from_secs(60);
        assert!(store.claim_due(lease, Lane::Email).await.unwrap().is_none());
        let audit: Vec<AuditRow> = store.audit(0, i64::MAX).try_collect().await.unwrap();
        assert_eq!(audit[0].outcome.as_deref(), Some("failed"));
        assert!(
            audit[0]
                .basis
                .as_deref()
                .is_some_and(|b| b.contains("not one this version takes")),
            "{:?}",
            audit[0].basis
        );
        let letters: Vec<DeadLetter> = store.dead_letters().try_collect().await.unwrap();
        assert_eq!(letters[0].key, "grace@example.com;");
        assert_eq!(store.retry_dead_letters().await.unwrap(), (0, 1), "kept");
        let claim = store.claim_due(lease, Lane::Customer).await.unwrap();
        assert!(claim.is_some(), "the next change is claimed");
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Customer A's `value`, told to Privacy Service for ada@example.com.
    fn told_ada(value: bool) -> NewRequest {
        let address = crate::identity::EmailAddress::parse("ada@example.com").unwrap();
        NewRequest {
            value,
            adobe: vec![crate::identity::AdobeId::Email(address)],
            ..request("A")
        }
    }

    /// Claims the due delivery to Privacy Service and gives it up.
    async fn give_up_a_consent(store: &Store) {
        let lease = Duration::from_secs(60);
        let claim = store.claim_consent(lease).await.unwrap().unwrap();
        let give_up = ConsentOutcome::GiveUp {
            after: Duration::ZERO,
            error: "answered 400".into(),
        };
        assert_eq!(
            store.finish_consent(claim, give_up).await.unwrap(),
            Finished::Done
        );
    }

    /// A delivery to Privacy Service given up on is listed (without the
    /// address), audited `failed`, and sent again by an operator as a new
    /// request, which the worker can claim.
    #[tokio::test]
    async fn privacy_services_dead_letters_are_listed_and_sent_again() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        let lease = Duration::from_secs(60);
        store.accept(told_ada(true), Duration::ZERO).await.unwrap();
        give_up_a_consent(&store).await;
        let letters = store.consent_dead_letters().await.unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(
            (letters[0].namespace.as_str(), letters[0].opt_out),
            ("email", true)
        );
        assert!(!serde_json::to_string(&letters).unwrap().contains("ada@"));
        assert!(store.claim_consent(lease).await.unwrap().is_none());
        assert_eq!(store.retry_consent_dead_letters().await.unwrap(), (1, 0));
        assert!(store.consent_dead_letters().await.unwrap().is_empty());
        let again = store.claim_consent(lease).await.unwrap().unwrap();
        assert_eq!((again.audit_id, again.opt_out), (2, true));
        let audit: Vec<AuditRow> = store.audit(0, i64::MAX).try_collect().await.unwrap();
        assert_eq!(audit[0].privacy_service.as_deref(), Some("email:failed"));
        assert_eq!(
            (audit[1].source.as_str(), audit[1].subject.as_str()),
            ("operator", "A")
        );
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A newer choice for an identity takes its dead letters off: an
    /// operator's retry would send the older choice after it (an opt-in
    /// given up on, retried after the consumer opted out, told Adobe to
    /// sell again).
    #[tokio::test]
    async fn a_newer_choice_takes_an_identitys_dead_letters_off() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        let lease = Duration::from_secs(60);
        store.accept(told_ada(false), Duration::ZERO).await.unwrap();
        give_up_a_consent(&store).await;
        assert_eq!(store.consent_dead_letters().await.unwrap().len(), 1);
        store.accept(told_ada(true), Duration::ZERO).await.unwrap();
        assert!(store.consent_dead_letters().await.unwrap().is_empty());
        assert_eq!(store.retry_consent_dead_letters().await.unwrap(), (0, 0));
        let latest = store.claim_consent(lease).await.unwrap().unwrap();
        assert!(latest.opt_out, "the opt-out is what Adobe is told");
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Probes come as often as their senders like: the backlog behind
    /// them is counted at most once a second.
    #[tokio::test]
    async fn the_backlog_is_counted_at_most_once_a_second() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        let hour = Duration::from_secs(3_600);
        assert_eq!(store.backlog(hour).await.unwrap().pending, 0);
        store
            .accept(request("A"), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            store.backlog(hour).await.unwrap().pending,
            0,
            "the count of a moment ago"
        );
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        assert_eq!(store.backlog(hour).await.unwrap().pending, 1);
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn sqlite_syncs_at_every_commit_unless_told_otherwise() {
        let dir = scratch_dir();
        let store = Store::connect(&settings(&dir)).await.unwrap();
        let synchronous: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&store.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_second_process_on_one_sqlite_file_is_refused_with_a_sentence() {
        let dir = scratch_dir();
        let first = Store::connect(&settings(&dir)).await.unwrap();
        let error = Store::connect(&settings(&dir))
            .await
            .err()
            .expect("refused");
        assert!(matches!(error, StoreError::InUse(_)), "{error}");
        assert!(error.to_string().contains("PostgreSQL"), "{error}");
        first
            .accept(request("A"), Duration::from_secs(60))
            .await
            .unwrap();
        let reader = Store::open_read_only(&settings(&dir)).await.unwrap();
        let read: Vec<AuditRow> = reader.audit(0, i64::MAX).try_collect().await.unwrap();
        assert_eq!(read.len(), 1, "the export reads beside the proxy");
        first.close().await;
        drop(first);
        let again = Store::connect(&settings(&dir)).await.unwrap();
        let key = ProfileKey::parse("A", KeyKind::CustomKey).unwrap();
        assert_eq!(
            again.pending_value(&key, Choice::Sale).await.unwrap(),
            Some(true),
            "free again once the first has gone, with what it left"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
