//! The audit trail: one record per accepted request (§ 7101 of the CCPA
//! regulations: date, nature and manner of the request) and at most one
//! outcome each (date and nature of the response, basis of a denial).
//! Both tables are append-only; the database refuses rewrites.

use futures_util::{Stream, TryStreamExt};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::engine::{Dialect, sql};
use super::{Result, Store};
use crate::identity::{ProfileKey, Subject};

/// How a request reached the proxy: the "manner" of § 7101.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The consumer used the widget (or another client of the API).
    Widget,
    /// The browser sent a Global Privacy Control signal.
    Gpc,
    /// An operator sent a change given up on again.
    Operator,
    /// The consumer opted out by email, without signing in.
    Email,
    /// This browser had opted out before its owner signed in.
    Browser,
    /// Campaign answered the field blank (a migration to Campaign v8 lost
    /// it) where the trail shows the consumer's choice applied: sent again.
    Restored,
}

impl Source {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Widget => "widget",
            Self::Gpc => "gpc",
            Self::Operator => "operator",
            Self::Email => "email",
            Self::Browser => "browser",
            Self::Restored => "restored",
        }
    }
}

/// Which of the consumer's two choices a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// The sale and sharing of their personal information: Campaign's
    /// `ccpaOptOut`.
    Sale,
    /// The use of their sensitive personal information, limited or not:
    /// the custom field `campaign.sensitive_field` names.
    Sensitive,
}

impl Choice {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::Sensitive => "sensitive",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Self> {
        [Self::Sale, Self::Sensitive]
            .into_iter()
            .find(|choice| choice.as_str() == name)
    }
}

/// What a request asks Campaign to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set the one profile's `ccpaOptOut` (creating the profile, flagged,
    /// for an opt-out when Campaign has none and the settings allow it).
    Set,
    /// Opt out every profile that has the address, or create one flagged
    /// so when none has it (an opt-out by email: the protective side).
    OptOutEveryMatch,
}

impl Action {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::OptOutEveryMatch => "opt-out-every-match",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Self> {
        [Self::Set, Self::OptOutEveryMatch]
            .into_iter()
            .find(|action| action.as_str() == name)
    }
}

/// A request the proxy accepted and must not lose.
pub struct NewRequest {
    /// Who asked.
    pub subject: Subject,
    /// Whose profile it changes.
    pub key: ProfileKey,
    /// Which choice.
    pub choice: Choice,
    /// The value asked for: `true` opts out of sale (always, for
    /// [`Action::OptOutEveryMatch`]) or limits the use of sensitive
    /// information.
    pub value: bool,
    /// What it asks Campaign to do.
    pub action: Action,
    /// How it arrived.
    pub source: Source,
    /// Whether it carried `Sec-GPC: 1`.
    pub gpc: bool,
    /// The request id also found in the logs.
    pub request_id: String,
    /// For an opt-out by email, a keyed digest of the client that sent it
    /// (never its address): the worker serves clients in turn.
    pub client: Option<String>,
    /// The identities Adobe's Privacy Service is told this choice about
    /// sale for, each a delivery of its own; empty when it is not told.
    pub adobe: Vec<crate::identity::AdobeId>,
}

/// How a request was answered, as the trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Campaign holds the value.
    Applied,
    /// The same person's later choice replaced it: it was not sent, or its
    /// attempt failed, or that attempt's lease had ended.
    Superseded,
    /// Campaign had no profile: one was created, flagged as asked.
    Created,
    /// It can never be applied (no such profile).
    Denied,
    /// Campaign kept answering in ways the proxy cannot understand; it is
    /// among the dead letters for an operator to look at.
    Failed,
    /// Sound, but more than the proxy changes unseen (more profiles share
    /// the address than `campaign.max_email_matches`): among the dead
    /// letters for an operator to look at.
    Held,
    /// The address had its requests this hour, still pending or applied:
    /// they cover this one, which is recorded and not sent again.
    Repeat,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Superseded => "superseded",
            Self::Created => "created",
            Self::Denied => "denied",
            Self::Failed => "failed",
            Self::Held => "held",
            Self::Repeat => "repeat",
        }
    }
}

/// One line of the audit trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Sequence number: the order requests were accepted in.
    pub id: i64,
    /// The request id from the logs.
    pub request_id: String,
    /// When the request was accepted (Unix ms, the database's clock).
    pub received_at: i64,
    /// The host's subject.
    pub subject: String,
    /// `sale` (Campaign's `ccpaOptOut`) or `sensitive` (the limit on the
    /// use of sensitive personal information).
    pub choice: String,
    /// The value asked for (`true`: opt out, or limit).
    pub requested: bool,
    /// `widget`, `gpc`, `email`, `browser` or `operator`.
    pub source: String,
    /// Whether the request carried `Sec-GPC: 1`.
    pub gpc: bool,
    /// `applied`, `created`, `superseded`, `denied`, `failed`, `held`,
    /// `repeat`, or `None` while pending.
    pub outcome: Option<String>,
    /// Campaign's value before, when it was read.
    pub previous: Option<bool>,
    /// How many profiles the decision changed in Campaign (PATCHed or
    /// created), for `applied` and `created`.
    pub profiles_changed: Option<i64>,
    /// When the outcome was decided (Unix ms).
    pub decided_at: Option<i64>,
    /// The basis of a denial, or why it failed.
    pub basis: Option<String>,
    /// How Privacy Service answered, per identity's namespace, when it was
    /// told: `ECID:pending email:applied`, sorted (`applied`, `pending`,
    /// `superseded`, `failed`).
    pub privacy_service: Option<String>,
}

/// Appends `request` to the trail ([`insert`]).
pub(super) async fn insert_request(
    dialect: Dialect,
    tx: &mut Transaction<'_, Any>,
    request: &NewRequest,
) -> Result<(i64, i64)> {
    let asked = Asked {
        request_id: &request.request_id,
        subject: &request.subject,
        choice: request.choice,
        value: request.value,
        source: request.source,
        gpc: request.gpc,
    };
    insert(dialect, tx, &asked).await
}

/// What the trail records of a request when it arrives.
pub(super) struct Asked<'a> {
    pub(super) request_id: &'a str,
    pub(super) subject: &'a Subject,
    pub(super) choice: Choice,
    pub(super) value: bool,
    pub(super) source: Source,
    pub(super) gpc: bool,
}

/// Appends `request` to the trail; returns its sequence number and when
/// it was received (Unix ms, the database's clock).
pub(super) async fn insert(
    dialect: Dialect,
    tx: &mut Transaction<'_, Any>,
    request: &Asked<'_>,
) -> Result<(i64, i64)> {
    let row = sqlx::query(sql!(
        dialect,
        "INSERT INTO audit (request_id, received_at, subject, choice, requested, source, gpc) \
         VALUES ($1, {now}, $2, $6, $3, $4, $5) RETURNING id, received_at"
    ))
    .bind(request.request_id)
    .bind(request.subject.as_str())
    .bind(i64::from(request.value))
    .bind(request.source.as_str())
    .bind(i64::from(request.gpc))
    .bind(request.choice.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.try_get("id")?, row.try_get("received_at")?))
}

/// How a request was answered: its [`Decision`], and what goes with it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decided<'a> {
    pub(super) decision: Decision,
    /// Campaign's value before, where it was read.
    pub(super) previous: Option<bool>,
    /// Profiles changed in Campaign, for a change that went through.
    pub(super) changed: Option<u32>,
    /// The basis of a denial, or why it failed or was held.
    pub(super) basis: Option<&'a str>,
}

impl Decided<'_> {
    /// `decision`, with nothing else to say.
    pub(super) fn only(decision: Decision) -> Self {
        Self {
            decision,
            previous: None,
            changed: None,
            basis: None,
        }
    }
}

impl<'a> Decided<'a> {
    /// `decision`, on `basis`.
    pub(super) fn because(decision: Decision, basis: &'a str) -> Self {
        Self {
            basis: Some(basis),
            ..Decided::only(decision)
        }
    }
}

/// Records how request `audit_id` was answered, unless it already was: the
/// first outcome stands.
pub(super) async fn record(
    dialect: Dialect,
    tx: &mut Transaction<'_, Any>,
    audit_id: i64,
    decided: Decided<'_>,
) -> Result<()> {
    sqlx::query(sql!(
        dialect,
        "INSERT INTO audit_outcome (audit_id, outcome, previous, decided_at, basis, \
         profiles_changed) VALUES ($1, $2, $3, {now}, $4, $5) ON CONFLICT (audit_id) DO NOTHING"
    ))
    .bind(audit_id)
    .bind(decided.decision.as_str())
    .bind(decided.previous.map(i64::from))
    .bind(decided.basis)
    .bind(decided.changed.map(i64::from))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The audit trail for requests accepted in `[from, to)` (Unix ms),
    /// oldest first, streamed: a range may hold millions of records.
    pub fn audit(&self, from: i64, to: i64) -> impl Stream<Item = Result<AuditRow>> + '_ {
        sqlx::query(sql!(
            self.db.dialect,
            "SELECT a.id, a.request_id, a.received_at, a.subject, a.choice, a.requested, a.source, \
             a.gpc, \
             o.outcome, o.previous, o.decided_at, o.basis, o.profiles_changed, \
             (SELECT {join}(part, ' ') FROM ( \
               SELECT c.namespace || ':' || c.outcome AS part FROM consent_outcome c \
               WHERE c.audit_id = a.id \
               UNION ALL SELECT p.namespace || ':pending' AS part FROM consent_pending p \
               WHERE p.audit_id = a.id) parts) AS privacy_service \
             FROM audit a LEFT JOIN audit_outcome o ON o.audit_id = a.id \
             WHERE a.received_at >= $1 AND a.received_at < $2 ORDER BY a.id"
        ))
        .bind(from)
        .bind(to)
        .fetch(&self.db.pool)
        .map_err(Into::into)
        .and_then(|row| async move { audit_row(&row) })
    }

    /// Whether the consumer's latest word about `choice`, by either of
    /// `subjects` (the signed-in customer, and their address's opt-outs by
    /// email), is an opt-out (or a limit) applied in Campaign: then
    /// Campaign should hold it, and a field a migration left blank lost it.
    /// A later wish to allow, whatever became of it (failed, denied, still
    /// waiting), is their latest word, and nothing is restored over it; a
    /// later opt-out that did not land (a restore among the dead letters)
    /// does not hide the one that did.
    pub async fn opted_out_last(&self, subjects: [&str; 2], choice: Choice) -> Result<bool> {
        let row = sqlx::query(
            "SELECT a.requested, o.outcome FROM audit a \
             LEFT JOIN audit_outcome o ON o.audit_id = a.id \
             WHERE a.subject IN ($1, $2) AND a.choice = $3 \
             AND (o.outcome IS NULL OR o.outcome NOT IN ('superseded', 'repeat')) \
             AND (a.requested = 0 OR o.outcome IN ('applied', 'created')) \
             ORDER BY a.id DESC LIMIT 1",
        )
        .bind(subjects[0])
        .bind(subjects[1])
        .bind(choice.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let outcome: Option<String> = row.try_get("outcome")?;
        Ok(row.try_get::<i64, _>("requested")? == 1
            && matches!(outcome.as_deref(), Some("applied" | "created")))
    }

    /// Whether the subject's latest request about sale allowed it while
    /// their browser sent GPC: they were told of the conflict and chose, so
    /// the signal no longer overrides them (CCPA regulations § 7025(c)(3)).
    pub async fn gpc_waived(&self, subject: &Subject) -> Result<bool> {
        Ok(self.latest_own_allow(subject).await? == Some(true))
    }

    /// Whether an opt-out signal arriving now overrides the subject's own
    /// choice to allow sale (their latest request about sale, made in the
    /// widget), so that they may be told so, with how to allow it again
    /// (CCPA regulations § 7025(c)(3)). This notice is the only invitation
    /// to allow sale the widget ever shows, once, at the opt-out that
    /// overrode them: otherwise an opt-out is never followed by one (Civil
    /// Code § 1798.135(c)(4)).
    pub async fn signal_conflicts(&self, subject: &Subject) -> Result<bool> {
        Ok(self.latest_own_allow(subject).await?.is_some())
    }

    /// Whether the subject's latest request about sale allowed it, made in
    /// the widget: `Some(gpc)`, whether their browser sent GPC then.
    async fn latest_own_allow(&self, subject: &Subject) -> Result<Option<bool>> {
        let row = sqlx::query(
            "SELECT requested, source, gpc FROM audit WHERE subject = $1 AND choice = 'sale' \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(subject.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let own_allow = row.try_get::<i64, _>("requested")? == 0
            && row.try_get::<String, _>("source")? == Source::Widget.as_str();
        Ok(own_allow
            .then(|| row.try_get::<i64, _>("gpc").map(|gpc| gpc == 1))
            .transpose()?)
    }
}

fn audit_row(row: &AnyRow) -> Result<AuditRow> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        received_at: row.try_get("received_at")?,
        subject: row.try_get("subject")?,
        choice: row.try_get("choice")?,
        requested: row.try_get::<i64, _>("requested")? != 0,
        source: row.try_get("source")?,
        gpc: row.try_get::<i64, _>("gpc")? != 0,
        outcome: row.try_get("outcome")?,
        previous: row.try_get::<Option<i64>, _>("previous")?.map(|v| v != 0),
        profiles_changed: row.try_get("profiles_changed")?,
        decided_at: row.try_get("decided_at")?,
        basis: row.try_get("basis")?,
        privacy_service: row
            .try_get::<Option<String>, _>("privacy_service")?
            .map(|parts| {
                let mut parts: Vec<&str> = parts.split(' ').collect();
                parts.sort_unstable();
                parts.join(" ")
            }),
    })
}
