//! The tenant checked against the settings before the proxy serves: that
//! it speaks the API `campaign.api` names, that its profiles have the
//! boolean `campaign.opt_out_field`, and that the email filter exists. A
//! wrong setting stops the start with a sentence naming it, rather than
//! showing later as every change failing, or worse, as a PATCH of a field
//! the tenant ignores.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::api::{Resource, UNDECRYPTABLE};
use super::{CampaignClient, CampaignError, Link};

/// A PKey no tenant can decrypt (real ones are long encrypted strings):
/// looked up once at start, because the two APIs answer it differently.
const PROBE: &str = "@ccpaOptOutTenantProbe";

/// A resource's metadata (`…/resourceType/profile`), as far as read here.
#[derive(Debug, Deserialize)]
struct ResourceType {
    /// The fields, by their REST API name.
    content: Map<String, Value>,
    /// Where its filters are described.
    filters: Link,
}

impl CampaignClient {
    /// Checks the tenant against the settings. `Misconfigured`, naming the
    /// setting, when Campaign says it differs; other errors when Campaign
    /// could not say (then it is checked again until it can).
    pub async fn check_tenant(&self) -> Result<(), CampaignError> {
        let result = self.tenant_matches().await;
        if result.is_ok() {
            self.tenant_checked.store(true, Ordering::Relaxed);
        }
        self.observe(result)
    }

    async fn tenant_matches(&self) -> Result<(), CampaignError> {
        self.speaks_the_api().await?;
        let resource = self.resource_name(self.api.email_resource);
        let described = self.resource_type(resource).await?;
        self.has_opt_out_field(resource, &described.content)?;
        self.has_email_filter(resource, described.filters.href)
            .await
    }

    /// A migrated tenant answers a PKey it cannot decrypt with 404 "Unable
    /// to decrypt PKey"; Campaign Standard, in its own words, with its own
    /// 404 or a 500. Anything else (the gateway's 404 for a wrong
    /// organization, throttling, an outage) tells nothing of the API, and
    /// is what it is.
    async fn speaks_the_api(&self) -> Result<(), CampaignError> {
        let resource = self.resource_name(Resource::Standard);
        let mut url = self.resource_url(resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push(PROBE);
        let answer = self.get(url).await?;
        let migrated = answer.is_404_saying(UNDECRYPTABLE);
        if migrated == self.api.refuses_undecryptable_pkeys {
            return Ok(());
        }
        if !migrated && !answer.is_campaigns_own_failure() {
            return Err(answer.failure(resource));
        }
        let (speaks, set) = if migrated {
            ("one migrated to Campaign v8", "v8-migrated")
        } else {
            ("Campaign Standard", "standard")
        };
        Err(CampaignError::Misconfigured(format!(
            "the tenant answers as {speaks} does, not as {}: set campaign.api = \"{set}\"",
            self.api.name
        )))
    }

    /// The metadata of `resource`'s profiles.
    async fn resource_type(&self, resource: &str) -> Result<ResourceType, CampaignError> {
        let mut url = self.resource_url(resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .pop()
            .extend(["resourceType", "profile"]);
        let answer = self.get(url).await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            _ => Err(answer.failure(resource)),
        }
    }

    fn has_opt_out_field(
        &self,
        resource: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), CampaignError> {
        let field = &self.settings.opt_out_field;
        let kind = fields
            .get(field.as_str())
            .map(|described| described.get("type").and_then(Value::as_str));
        match kind {
            Some(Some("boolean")) => Ok(()),
            None => Err(CampaignError::Misconfigured(format!(
                "the {resource} profiles of the tenant have no field {field}: check \
                 campaign.opt_out_field (on a migrated tenant, the boolean field added to the \
                 recipient schema, as the REST API names it)"
            ))),
            Some(other) => Err(CampaignError::Misconfigured(format!(
                "the field {field} of the tenant's {resource} profiles is {}, not a boolean: \
                 check campaign.opt_out_field",
                other.unwrap_or("of no type")
            ))),
        }
    }

    /// Whether the filter the proxy finds profiles by email with is among
    /// `resource`'s filters, described at `href` (inside the tenant).
    async fn has_email_filter(&self, resource: &str, href: Url) -> Result<(), CampaignError> {
        self.in_tenant(&href)?;
        let answer = self.get(href).await?;
        if answer.status != StatusCode::OK {
            return Err(answer.failure(resource));
        }
        let filters = answer.json::<Map<String, Value>>()?;
        // Described at the top, or in `content` as the fields are.
        let named = filters
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or(&filters);
        if named.contains_key(&self.email_filter) {
            return Ok(());
        }
        Err(CampaignError::Misconfigured(format!(
            "the {resource} profiles of the tenant have no filter {}: check \
             campaign.email_filter (on a migrated tenant, the filter's \"Filter name in REST \
             API\", without \"by\")",
            self.email_filter
        )))
    }
}
