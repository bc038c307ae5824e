//! What storage can fail with. Nothing is retried here: the caller decides.

use std::path::PathBuf;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a query, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another process has the SQLite file open for writing.
    #[error(
        "{} is in use by another ccpa-proxy process. A SQLite file serves one process \
         (it keeps the pending changes' index in memory): stop the other one, or use \
         PostgreSQL (storage.url = \"postgres://…\") for several replicas",
        .0.display()
    )]
    InUse(PathBuf),
    /// The SQLite file could not be opened or locked.
    #[error("cannot open {}: {error}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The schema is older than this proxy, which may not migrate it.
    #[error(
        "the database's schema is at version {applied}, and this ccpa-proxy needs {needed}: \
         run `ccpa-proxy migrate` as a role that owns the schema, then start again"
    )]
    Outdated {
        /// The newest migration applied.
        applied: i64,
        /// The newest migration this proxy knows.
        needed: i64,
    },
    /// A stored value does not parse; the basis is for operators.
    #[error("a stored {0} does not parse")]
    Corrupt(&'static str),
    /// The store was closed (the process is stopping).
    #[error("storage is closed")]
    Closed,
}

/// Storage results.
pub type Result<T> = std::result::Result<T, StoreError>;
