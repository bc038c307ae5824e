//! The SQLite `pending` table's values, mirrored in memory.
//!
//! A SQLite file belongs to one proxy process (the store locks it), so that
//! process knows every pending change: a GET then reads memory instead of
//! handing a query to SQLite's thread and back, which was the largest cost
//! of a GET (docs/performance.md). PostgreSQL, shared by replicas, is
//! always asked.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Profile key → the value waiting to be applied.
#[derive(Default)]
pub(super) struct PendingIndex(Mutex<HashMap<String, bool>>);

/// How to put an entry back when its transaction did not commit.
pub(super) struct Undo {
    key: String,
    previous: Option<bool>,
}

impl PendingIndex {
    fn map(&self) -> MutexGuard<'_, HashMap<String, bool>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value waiting for `key`, if any.
    pub(super) fn get(&self, key: &str) -> Option<bool> {
        self.map().get(key).copied()
    }

    /// Sets (or with `None` removes) `key`; returns how to undo that.
    pub(super) fn set(&self, key: &str, value: Option<bool>) -> Undo {
        let mut map = self.map();
        let previous = match value {
            Some(value) => map.insert(key.to_owned(), value),
            None => map.remove(key),
        };
        Undo {
            key: key.to_owned(),
            previous,
        }
    }

    /// Reverts one [`PendingIndex::set`].
    pub(super) fn undo(&self, undo: Undo) {
        self.set(&undo.key, undo.previous);
    }
}
