//! Which database `storage.url` names, parsed once when settings load, and
//! the few places where the two engines' SQL differs.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The database behind the store.
#[derive(Clone)]
pub enum Engine {
    /// A SQLite file, created on first start. One proxy process owns it.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database, which several replicas may share.
    Postgres {
        /// `postgres://user:password@host/db`: secret, as it may hold a password.
        url: SecretString,
    },
}

impl Engine {
    /// Parses `sqlite://<file>` (also `sqlite:<file>`) or
    /// `postgres://…` (also `postgresql://…`).
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres { url: url.into() });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or("storage.url must start with sqlite:// or postgres://")?;
        // Options are the store's to choose (read-only for exports,
        // create for the proxy): a query here would silently fight them.
        if path.is_empty() || path.contains('?') {
            return Err("storage.url must be sqlite://<file>, without options".into());
        }
        Ok(Self::Sqlite { path: path.into() })
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite { .. } => Dialect::Sqlite,
            Self::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// The sqlx URL; SQLite's with the open `mode` (`rwc`, `ro`).
    pub(super) fn connect_url(&self, sqlite_mode: &str) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite://{}?mode={sqlite_mode}", path.display()),
            Self::Postgres { url } => url.expose_secret().to_owned(),
        }
    }

    /// The SQLite file, if that is the engine.
    pub(super) fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite { path } => Some(path),
            Self::Postgres { .. } => None,
        }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::Sqlite {
            path: "ccpa-proxy.db".into(),
        }
    }
}

/// A PostgreSQL URL may carry a password: never print it.
impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => write!(f, "Sqlite({})", path.display()),
            Self::Postgres { .. } => f.write_str("Postgres(..)"),
        }
    }
}

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let url = SecretString::deserialize(deserializer)?;
        Self::parse(url.expose_secret()).map_err(serde::de::Error::custom)
    }
}

/// The SQL that differs between the engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite = 0,
    Postgres = 1,
}

impl Dialect {
    /// `template` with `{now}` replaced by the database's clock in Unix
    /// milliseconds, `{lock}` by a row lock and `{skip_locked}` by a lock
    /// that passes over rows another transaction holds, where the engine
    /// has them (SQLite has one writer: nothing to lock against), and
    /// `{join}` by the aggregate that joins strings with a separator.
    ///
    /// Leases and due times come from the database's clock, not each
    /// replica's: two replicas whose clocks disagree would otherwise take
    /// each other's leases early or late. (SQLite's clock is the one
    /// process's own.)
    pub(super) fn sql(self, template: &str) -> String {
        let (now, lock, skip_locked, join) = match self {
            Self::Sqlite => (
                "CAST(unixepoch('subsec') * 1000 AS BIGINT)",
                "",
                "",
                "group_concat",
            ),
            Self::Postgres => (
                "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
                "FOR UPDATE",
                "FOR UPDATE SKIP LOCKED",
                "string_agg",
            ),
        };
        template
            .replace("{now}", now)
            .replace("{lock}", lock)
            .replace("{skip_locked}", skip_locked)
            .replace("{join}", join)
    }
}

/// The statement `$template` in `$dialect`'s SQL, made once per dialect
/// and kept for the life of the process.
macro_rules! sql {
    ($dialect:expr, $template:expr) => {{
        static MADE: [std::sync::OnceLock<String>; 2] =
            [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
        let dialect: $crate::store::engine::Dialect = $dialect;
        MADE[dialect as usize]
            .get_or_init(|| dialect.sql($template))
            .as_str()
    }};
}
pub(super) use sql;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_one_engine_and_hide_passwords() {
        let Engine::Sqlite { path } = Engine::parse("sqlite://data/proxy.db").unwrap() else {
            panic!("a SQLite URL");
        };
        assert_eq!(path, Path::new("data/proxy.db"));
        let pg = Engine::parse("postgresql://ccpa:hunter2@db/ccpa").unwrap();
        assert_eq!(pg.dialect(), Dialect::Postgres);
        assert!(!format!("{pg:?}").contains("hunter2"));
        for wrong in [
            "mysql://db",
            "sqlite://",
            "sqlite://a.db?mode=ro",
            "proxy.db",
        ] {
            assert!(Engine::parse(wrong).is_err(), "{wrong}");
        }
    }
}
