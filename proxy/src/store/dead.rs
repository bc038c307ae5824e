//! The dead letters: changes given up on after `max_strikes` answers the
//! proxy could not understand. Each is audited `failed`; here an operator
//! lists them and, once Campaign is put right, sends them again.

use std::time::Duration;

use futures_util::{Stream, TryStreamExt};
use serde::Serialize;
use sqlx::Row;

use super::trail::{Action, Choice, NewRequest, Source};
use super::{Result, Store, StoreError};
use crate::config::KeyKind;
use crate::identity::{ProfileKey, Subject};

/// One change given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The request's audit record.
    pub audit_id: i64,
    /// Who asked (the host's subject).
    pub subject: String,
    /// The profile's key (a custom key or an email).
    pub key: String,
    /// An email as its request spelt it, where that differs from the key.
    pub given_key: Option<String>,
    /// `custom-key` or `email`.
    pub key_kind: String,
    /// `sale` or `sensitive`.
    pub choice: String,
    /// The value asked for (`true`: opt out, or limit).
    pub value: bool,
    /// `set`, or `opt-out-every-match` (an opt-out by email).
    pub action: String,
    /// How the request came: `widget`, `gpc`, `email`, …
    pub source: String,
    /// Attempts made.
    pub attempts: i64,
    /// What Campaign answered last, in the proxy's words.
    pub last_error: String,
    /// When it was given up (Unix ms).
    pub dead_at: i64,
}

impl Store {
    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> impl Stream<Item = Result<DeadLetter>> + '_ {
        sqlx::query(
            "SELECT d.audit_id, a.subject, a.source, d.profile_key, d.given_key, d.key_kind, \
             d.choice, d.value, d.action, d.attempts, d.last_error, d.dead_at \
             FROM dead_letter d JOIN audit a ON a.id = d.audit_id ORDER BY d.audit_id",
        )
        .fetch(&self.db.pool)
        .map_err(StoreError::from)
        .and_then(|row| async move {
            Ok(DeadLetter {
                audit_id: row.try_get("audit_id")?,
                subject: row.try_get("subject")?,
                key: row.try_get("profile_key")?,
                given_key: row.try_get("given_key")?,
                key_kind: row.try_get("key_kind")?,
                choice: row.try_get("choice")?,
                value: row.try_get::<i64, _>("value")? != 0,
                action: row.try_get("action")?,
                source: row.try_get("source")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                dead_at: row.try_get("dead_at")?,
            })
        })
    }

    /// Sends every dead letter again: each becomes a new request (source
    /// `operator`, audited like any other), due at once, and leaves the
    /// dead letters. Run twice by accident, a change is only sent twice:
    /// setting a value is idempotent. A letter whose key this version does
    /// not take (stored by an earlier one) stays, and is counted: the
    /// others go all the same. Returns how many were sent, and kept.
    pub async fn retry_dead_letters(&self) -> Result<(usize, usize)> {
        let letters: Vec<DeadLetter> = self.dead_letters().try_collect().await?;
        let mut kept = 0;
        for letter in &letters {
            let Some(request) = again(letter) else {
                tracing::warn!(
                    audit = letter.audit_id,
                    "a dead letter's key is not one this version takes; it stays"
                );
                kept += 1;
                continue;
            };
            // A lease that has ended already: the worker takes it at once.
            self.accept(request, Duration::ZERO).await?;
            sqlx::query("DELETE FROM dead_letter WHERE audit_id = $1")
                .bind(letter.audit_id)
                .execute(&self.db.pool)
                .await?;
        }
        Ok((letters.len() - kept, kept))
    }
}

/// `letter` as a new request of the operator's, if this version can read
/// it: looked up by the spelling its request gave, where it kept one.
fn again(letter: &DeadLetter) -> Option<NewRequest> {
    let kind = KeyKind::parse(&letter.key_kind)?;
    let key = ProfileKey::parse(letter.given_key.as_ref().unwrap_or(&letter.key), kind).ok()?;
    Some(NewRequest {
        subject: Subject::verified(&letter.subject),
        key,
        choice: Choice::parse(&letter.choice)?,
        value: letter.value,
        action: Action::parse(&letter.action)?,
        source: Source::Operator,
        gpc: false,
        request_id: format!("retry-of-{}", letter.audit_id),
        client: None,
        adobe: Vec::new(),
    })
}
