//! The SQLite `pending_change` table's values, mirrored in memory.
//!
//! A SQLite file belongs to one proxy process (the store locks it), so that
//! process knows every pending change: a GET then reads memory instead of
//! handing a query to SQLite's thread and back, which was the largest cost
//! of a GET (docs/performance.md). PostgreSQL, shared by replicas, is
//! always asked.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::trail::Choice;

type Entry = (String, Choice);

/// Profile key and choice → the value waiting to be applied.
#[derive(Default)]
pub(super) struct PendingIndex(Mutex<HashMap<Entry, bool>>);

/// How to put an entry back when its transaction did not commit.
pub(super) struct Undo {
    entry: Entry,
    previous: Option<bool>,
}

impl PendingIndex {
    fn map(&self) -> MutexGuard<'_, HashMap<Entry, bool>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value waiting for `key`'s `choice`, if any.
    pub(super) fn get(&self, key: &str, choice: Choice) -> Option<bool> {
        self.map().get(&(key.to_owned(), choice)).copied()
    }

    /// Sets (or with `None` removes) `key`'s `choice`; returns how to undo
    /// that.
    pub(super) fn set(&self, key: &str, choice: Choice, value: Option<bool>) -> Undo {
        let entry = (key.to_owned(), choice);
        let mut map = self.map();
        let previous = match value {
            Some(value) => map.insert(entry.clone(), value),
            None => map.remove(&entry),
        };
        Undo { entry, previous }
    }

    /// Reverts one [`PendingIndex::set`].
    pub(super) fn undo(&self, undo: Undo) {
        let (key, choice) = undo.entry;
        self.set(&key, choice, undo.previous);
    }
}
