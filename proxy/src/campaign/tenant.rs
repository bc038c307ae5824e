//! The tenant checked against the settings before the proxy serves: that
//! it speaks the API `campaign.api` names, that its profiles have the
//! boolean `campaign.opt_out_field` where the proxy reads them, that a
//! custom key finds a profile, and that the email filter finds profiles by
//! email. A wrong setting stops the start with a sentence naming it,
//! rather than showing later as every change failing, or worse, as PATCHes
//! of a field the tenant ignores. What Adobe does not document is only
//! held against the API it is unsure of (docs/api.md).

use std::sync::atomic::Ordering;
use std::time::Instant;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::api::{self, Resource};
use super::{CampaignClient, CampaignError, Collection};
use crate::config::KeyKind;

/// What the proxy asks of the tenant, so what the check looks for.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// What a signed-in customer's key is.
    pub key_kind: KeyKind,
    /// Whether profiles are found by email (identities by email, or the
    /// email route on).
    pub by_email: bool,
}

/// A PKey no tenant can decrypt (real ones are long encrypted strings):
/// looked up once, because the two APIs answer it differently.
const PROBE: &str = "@ccpaOptOutTenantProbe";

/// An address no profile has (`.invalid` is reserved, RFC 2606): the
/// email filter is called with it once, and must find nobody.
const PROBE_ADDRESS: &str = "tenant-check@ccpa-optout.invalid";

/// What a check of the tenant found, short of "as the settings say".
enum Found {
    /// It differs from the settings: a sentence naming the setting.
    Differs(String),
    /// Campaign could not say, or answered in a way that tells nothing:
    /// what the call ended in. `holds`: it is the API itself that is not
    /// known yet (the probe, the one step that tells the APIs apart, had
    /// no telling answer), so no change may go before it is.
    Unsure { error: CampaignError, holds: bool },
}

impl From<CampaignError> for Found {
    fn from(error: CampaignError) -> Self {
        Self::Unsure {
            error,
            holds: false,
        }
    }
}

/// The longest a change waits before it checks an unsettled tenant again
/// itself (the watcher checks it every `health_check_ms` besides).
const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// A custom key read back at start is one of these characters only: a
/// key of another shape (data imported from elsewhere, `ACME/123`) could
/// meet a gateway's answer rather than Campaign's, and tells nothing.
fn plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A resource's metadata (`…/resourceType/profile`), as far as read here.
#[derive(Debug, Deserialize)]
struct ResourceType {
    /// The fields, by their REST API name (each also says its `apiName`).
    content: Map<String, Value>,
}

impl CampaignClient {
    /// Checks the tenant against the settings, one check at a time.
    /// `Misconfigured`, naming the setting, when Campaign says it differs
    /// (then no change is sent until a later check finds it right, every
    /// `health_check_ms`); other errors when Campaign could not say.
    pub async fn check_tenant(&self) -> Result<(), CampaignError> {
        let _turn = self.checking.lock().await;
        self.check_in_turn().await
    }

    async fn check_in_turn(&self) -> Result<(), CampaignError> {
        let (result, holding) = match self.tenant_matches().await {
            Ok(()) => {
                *self.tenant_problem() = None;
                self.tenant_checked.store(true, Ordering::Relaxed);
                (Ok(()), None)
            }
            Err(Found::Differs(why)) => {
                *self.tenant_problem() = Some(why.clone());
                (Err(CampaignError::Misconfigured(why)), None)
            }
            Err(Found::Unsure { error, holds }) => (Err(error.clone()), holds.then_some(error)),
        };
        *self.tenant_last_check() = Some((Instant::now(), holding));
        self.observe(result)
    }

    /// Before a change. A tenant found to differ from the settings holds
    /// it (`Misconfigured`: retried, never struck) until the watcher finds
    /// it right. A tenant never found right (Campaign could not be asked
    /// at start) is checked first, again at most every few seconds: while
    /// its API is not known the change waits (it would meet the outage
    /// too), and once it is, a later step that tells nothing holds nothing
    /// back (no reason to hold a consumer's request on a guess).
    pub(super) async fn tenant_allows_changes(&self) -> Result<(), CampaignError> {
        if self.tenant_settled() {
            return Ok(());
        }
        if let Some(why) = self.tenant_problem().clone() {
            return Err(CampaignError::Misconfigured(why));
        }
        let _turn = self.checking.lock().await;
        let last = self.tenant_last_check().clone();
        let holding = match last {
            _ if self.tenant_settled() => None,
            Some((at, holding)) if at.elapsed() < RECHECK => holding,
            _ => {
                let _ = self.check_in_turn().await;
                self.tenant_last_check()
                    .clone()
                    .and_then(|(_, holding)| holding)
            }
        };
        match (self.tenant_problem().clone(), holding) {
            (Some(why), _) => Err(CampaignError::Misconfigured(why)),
            (None, Some(error)) => Err(error),
            (None, None) => Ok(()),
        }
    }

    /// Asks a tenant found right which API it speaks (the probe alone): a
    /// tenant migrated since is found to differ, and changes wait.
    pub(super) async fn check_api(&self) -> Result<(), CampaignError> {
        let _turn = self.checking.lock().await;
        let result = match self.speaks_the_api().await {
            Ok(()) => Ok(()),
            Err(Found::Differs(why)) => {
                tracing::warn!(%why, "the tenant no longer speaks the API of the settings");
                *self.tenant_problem() = Some(why.clone());
                Err(CampaignError::Misconfigured(why))
            }
            Err(Found::Unsure { error, .. }) => Err(error),
        };
        self.observe(result)
    }

    /// Whether the tenant was found right, and nothing found wrong since.
    pub(super) fn tenant_settled(&self) -> bool {
        self.tenant_checked.load(Ordering::Relaxed) && self.tenant_problem().is_none()
    }

    async fn tenant_matches(&self) -> Result<(), Found> {
        self.speaks_the_api().await?;
        let by_key = self.needs.key_kind == KeyKind::CustomKey;
        let email_resource = self.api.email_resource;
        if by_key {
            self.has_opt_out_field(Resource::Extended).await?;
            self.finds_by_custom_key().await?;
        }
        if self.needs.by_email {
            if !(by_key && email_resource == Resource::Extended) {
                self.has_opt_out_field(email_resource).await?;
            }
            self.has_email_filter().await?;
        }
        Ok(())
    }

    /// A migrated tenant answers a PKey it cannot decrypt with 404 "Unable
    /// to decrypt PKey", Campaign Standard with its own 404 (or a 500: its
    /// answer is not documented, so only the migrated tenant's words count
    /// against `standard`). Anything else (the gateway's 404 for a wrong
    /// organization, throttling, an outage) tells nothing of the API.
    async fn speaks_the_api(&self) -> Result<(), Found> {
        let resource = self.resource_name(Resource::Standard);
        let mut url = self.resource_url(resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push(PROBE);
        let holds = |error| Found::Unsure { error, holds: true };
        let answer = self.get(url).await.map_err(holds)?;
        let speaks = api::ALL.iter().find(|api| {
            api.not_found
                .iter()
                .any(|words| answer.is_404_saying(words))
        });
        match speaks {
            Some(api) if std::ptr::eq(*api, self.api) => Ok(()),
            Some(api) => Err(Found::Differs(format!(
                "the tenant answers as {} does, not as {}: set campaign.api = \"{}\"",
                api.name, self.api.name, api.setting
            ))),
            // Campaign Standard's answer is not documented: its own 404, or
            // a 500 (a PKey it cannot read); an outage tells nothing yet.
            None if !self.api.refuses_undecryptable_pkeys => match answer.status {
                StatusCode::NOT_FOUND | StatusCode::INTERNAL_SERVER_ERROR => Ok(()),
                _ => {
                    let error = answer.failure(resource);
                    let holds = error.is_outage();
                    Err(Found::Unsure { error, holds })
                }
            },
            // A migrated tenant says the words (Adobe documents them):
            // without them, its API is not known.
            None => Err(holds(match answer.failure(resource) {
                error @ CampaignError::Misconfigured(_) => error,
                error if error.is_outage() => error,
                _ => CampaignError::Unavailable(format!(
                    "the tenant answered a PKey it cannot decrypt with {}, not as {} does \
                     (404 \"Unable to decrypt PKey\"): check campaign.api",
                    answer.status, self.api.name
                )),
            })),
        }
    }

    /// The opt-out field in `resource`'s metadata, a boolean; where the
    /// tenant serves no metadata, in one of its profiles.
    async fn has_opt_out_field(&self, resource: Resource) -> Result<(), Found> {
        let name = self.resource_name(resource);
        let mut url = self.resource_url(name);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .pop()
            .extend(["resourceType", "profile"]);
        let answer = self.get(url).await?;
        match answer.status {
            StatusCode::OK => {
                let described = answer.json::<ResourceType>()?;
                self.described_field(name, &described.content)
            }
            StatusCode::NOT_FOUND => self.field_of_a_profile(name).await,
            _ => Err(answer.failure(name).into()),
        }
    }

    fn described_field(&self, resource: &str, fields: &Map<String, Value>) -> Result<(), Found> {
        let field = self.settings.opt_out_field.as_str();
        let named =
            |described: &&Value| described.get("apiName").and_then(Value::as_str) == Some(field);
        let Some(described) = fields.get(field).or_else(|| fields.values().find(named)) else {
            return Err(self.no_field(resource));
        };
        // Adobe lists "type" values without a boolean among its examples:
        // only a type that is said, and is another, is held against it.
        let kinds: Vec<&str> = ["type", "resType"]
            .iter()
            .filter_map(|key| described.get(key).and_then(Value::as_str))
            .collect();
        let boolean = |kind: &&str| kind.eq_ignore_ascii_case("boolean") || *kind == "bool";
        match kinds.first() {
            Some(kind) if !kinds.iter().any(boolean) => Err(self.not_boolean(resource, kind)),
            _ => Ok(()),
        }
    }

    /// The opt-out field in the first profile of `resource`, if it has any.
    async fn field_of_a_profile(&self, resource: &str) -> Result<(), Found> {
        let Some(profile) = self.first_profile(resource).await? else {
            tracing::info!(resource, "no profile to check the opt-out field in");
            return Ok(());
        };
        match profile.get(self.settings.opt_out_field.as_str()) {
            None => Err(self.no_field(resource)),
            Some(Value::Bool(_)) => Ok(()),
            Some(Value::Null) if self.api.blank_fields => Ok(()),
            Some(_) => Err(self.not_boolean(resource, "another type")),
        }
    }

    fn no_field(&self, resource: &str) -> Found {
        Found::Differs(format!(
            "the {resource} profiles of the tenant have no field {}: check \
             campaign.opt_out_field (on a migrated tenant, the boolean field added to the \
             recipient schema, as the REST API names it)",
            self.settings.opt_out_field
        ))
    }

    fn not_boolean(&self, resource: &str, kind: &str) -> Found {
        Found::Differs(format!(
            "the field {} of the tenant's {resource} profiles is {kind}, not a boolean: check \
             campaign.opt_out_field",
            self.settings.opt_out_field
        ))
    }

    /// The first profile of `resource`, as Campaign shows it.
    async fn first_profile(
        &self,
        resource: &str,
    ) -> Result<Option<Map<String, Value>>, CampaignError> {
        let mut url = self.resource_url(resource);
        url.query_pairs_mut().append_pair("_lineCount", "1");
        let answer = self.get(url).await?;
        if answer.status != StatusCode::OK {
            return Err(answer.failure(resource));
        }
        let page = answer.json::<Collection<Map<String, Value>>>()?;
        Ok(page.content.into_iter().next())
    }

    /// That a profile is found by its custom key, as Adobe documents for
    /// Campaign Standard and does not say for a migrated tenant: one with
    /// a plain key is read back by it. Only the API's own "no such profile"
    /// is held against it; a tenant whose profiles have no key yet, or
    /// any other answer, tells nothing (a warning says so).
    async fn finds_by_custom_key(&self) -> Result<(), Found> {
        let resource = self.resource_name(Resource::Extended);
        let field = self.settings.custom_key_field.as_str();
        let key = match self
            .first_profile(resource)
            .await?
            .and_then(|p| p.get(field).cloned())
        {
            Some(Value::String(key)) => key,
            Some(Value::Number(key)) => key.to_string(),
            _ => return Ok(()),
        };
        let Some(url) = plain_key(&key).then(|| self.key_url(&key).ok()).flatten() else {
            return Ok(());
        };
        let answer = self.get(url).await?;
        if answer.status == StatusCode::OK && self.carries(&answer.json()?, &key).is_ok() {
            return Ok(());
        }
        if answer.is_no_such_profile(self.api) {
            return Err(Found::Differs(format!(
                "the tenant does not find its {resource} profiles by their {field}: check \
                 campaign.custom_key_field and campaign.extended_resource, or set \
                 identity.key_kind = \"email\""
            )));
        }
        tracing::warn!(
            status = answer.status.as_u16(),
            "a profile could not be read back by its custom key: not checked"
        );
        Ok(())
    }

    /// That the email filter exists and finds nobody for an address nobody
    /// has. A name that is no filter answers the API's own 404 (a key no
    /// profile has), or a list that ignores the address (a field's
    /// values); a filter that refuses the address (a 4xx) is there.
    async fn has_email_filter(&self) -> Result<(), Found> {
        let resource = self.resource_name(self.api.email_resource);
        let answer = self.get(self.filter_url(PROBE_ADDRESS, 1)).await?;
        let filter = &self.email_filter;
        let what = match answer.status {
            StatusCode::OK => {
                let page = answer.json::<Collection<serde::de::IgnoredAny>>()?;
                if page.content.is_empty() {
                    return Ok(());
                }
                format!("have a {filter} that is no filter by email")
            }
            _ if answer.is_no_such_profile(self.api) => format!("have no filter {filter}"),
            status if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS => {
                tracing::warn!(
                    status = status.as_u16(),
                    "the email filter refused the address of its check"
                );
                return Ok(());
            }
            _ => return Err(answer.failure(resource).into()),
        };
        Err(Found::Differs(format!(
            "the {resource} profiles of the tenant {what}: check campaign.email_filter (on a \
             migrated tenant, the filter's \"Filter name in REST API\", without \"by\")"
        )))
    }
}
