//! Finding profiles: by custom key in one call, by email through the
//! API's email filter, page after page.

use std::time::Instant;

use reqwest::StatusCode;

use super::api::Resource;
use super::{CampaignClient, CampaignError, Collection, Health, PAGE, Profile, ProfileBody};
use crate::identity::{EmailAddress, ProfileKey};
use url::Url;

impl CampaignClient {
    /// Finds the profile for `key`: exactly one, or an error. A profile
    /// whose sensitive field cannot be read is found all the same (the
    /// opt-out does not need it); readiness says what is wrong.
    pub async fn find(&self, key: &ProfileKey) -> Result<Profile, CampaignError> {
        let result = self.look_up(key).await;
        let seen = match &result {
            Ok(profile) => profile.problem(),
            Err(error) => Err(error.clone()),
        };
        *self.observation() = (Health::of(&seen), Instant::now());
        result
    }

    async fn look_up(&self, key: &ProfileKey) -> Result<Profile, CampaignError> {
        match key {
            ProfileKey::CustomKey(custom) => {
                let body = self.by_custom_key(custom).await?;
                self.carries(&body, custom)?;
                self.profile_of(body, Resource::Extended)
            }
            ProfileKey::Email(address) => {
                let body = self.by_email(address).await?;
                self.profile_of(body, self.api.email_resource)
            }
        }
    }

    /// Whether the profile Campaign answered a look-up of `key` with holds
    /// that key (unless `campaign.verify_returned_key` is off): a proxy,
    /// cache or bug that answers with another customer's profile must not
    /// get that profile read or changed.
    pub(super) fn carries(&self, body: &ProfileBody, key: &str) -> Result<(), CampaignError> {
        let field = &self.settings.custom_key_field;
        match body.rest.get(field.as_str()) {
            _ if !self.settings.verify_returned_key => Ok(()),
            Some(serde_json::Value::String(held)) if held == key => Ok(()),
            // A key field of a numeric type holds the same key.
            Some(serde_json::Value::Number(held)) if held.to_string() == key => Ok(()),
            _ => Err(CampaignError::Unexpected(format!(
                "Campaign answered a look-up by custom key with a profile whose {field} is \
                 not that key"
            ))),
        }
    }

    /// The profile `body` describes, checked: its link inside the tenant,
    /// the opt-out a boolean (or blank, where the API leaves fields so),
    /// and, read in the extended resource where the settings name a
    /// sensitive field, that field a boolean.
    pub(super) fn profile_of(
        &self,
        body: ProfileBody,
        read_in: Resource,
    ) -> Result<Profile, CampaignError> {
        self.in_tenant(&body.href)?;
        let opt_out = self.settings.opt_out_field.as_str();
        let sale = self.boolean_in(&body, opt_out, "campaign.opt_out_field")?;
        let limit_sensitive = match &self.settings.sensitive_field {
            Some(field) if read_in == Resource::Extended => {
                Some(self.boolean_in(&body, field.as_str(), "campaign.sensitive_field"))
            }
            _ => None,
        };
        Ok(Profile {
            ccpa_opt_out: sale.unwrap_or(false),
            sale_left_blank: sale.is_none(),
            limit_sensitive,
            href: body.href,
            resource: read_in,
        })
    }

    /// The boolean `field` of `body` (named by `setting`); `None` where the
    /// API may leave fields blank and did: a migration lost the value, and
    /// the audit trail may know it (`routes` asks it).
    fn boolean_in(
        &self,
        body: &ProfileBody,
        field: &str,
        setting: &str,
    ) -> Result<Option<bool>, CampaignError> {
        match body.rest.get(field) {
            Some(serde_json::Value::Bool(value)) => Ok(Some(*value)),
            Some(serde_json::Value::Null) if self.api.blank_fields => Ok(None),
            None => Err(CampaignError::Misconfigured(format!(
                "Campaign's profiles have no field {field}: check {setting}"
            ))),
            Some(_) => Err(CampaignError::Misconfigured(format!(
                "Campaign's profiles hold {field} as another type than a boolean: check {setting}"
            ))),
        }
    }

    async fn by_custom_key(&self, key: &str) -> Result<ProfileBody, CampaignError> {
        let resource = self.resource_name(Resource::Extended);
        let answer = self.get(self.key_url(key)?).await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            StatusCode::NOT_FOUND if answer.is_no_such_profile(self.api) => {
                Err(CampaignError::ProfileNotFound)
            }
            _ => Err(answer.failure(resource)),
        }
    }

    /// The one profile with the address, in any of its spellings.
    async fn by_email(&self, address: &EmailAddress) -> Result<ProfileBody, CampaignError> {
        let mut found = self
            .every_spelling(address, 1)
            .await
            .map_err(|error| match error {
                CampaignError::TooManyMatches(_) => CampaignError::AmbiguousProfile,
                error => error,
            })?;
        found.pop().ok_or(CampaignError::ProfileNotFound)
    }

    /// Every profile that has the address, in any of its spellings: an
    /// opt-out by email reaches them all. More than
    /// `campaign.max_email_matches` is [`CampaignError::TooManyMatches`].
    pub async fn find_every(&self, address: &EmailAddress) -> Result<Vec<Profile>, CampaignError> {
        let result = self.every_match(address).await;
        self.observe(result)
    }

    async fn every_match(&self, address: &EmailAddress) -> Result<Vec<Profile>, CampaignError> {
        // What it finds is changed next.
        self.tenant_allows_changes().await?;
        let most = self.settings.max_email_matches;
        self.every_spelling(address, most)
            .await?
            .into_iter()
            .map(|body| self.profile_of(body, self.api.email_resource))
            .collect()
    }

    /// The profiles the email filter finds for each spelling of `address`, each
    /// once, or `TooManyMatches(most)` as soon as there are more.
    async fn every_spelling(
        &self,
        address: &EmailAddress,
        most: usize,
    ) -> Result<Vec<ProfileBody>, CampaignError> {
        let mut found: Vec<ProfileBody> = Vec::new();
        for spelling in address.spellings() {
            self.matches(spelling, most, &mut found).await?;
        }
        Ok(found)
    }

    /// `…/profile/<email filter>?email=<address>`, `page` profiles a page,
    /// with the `next` link (which Campaign leaves out on a large table
    /// unless asked).
    pub(super) fn filter_url(&self, address: &str, page: usize) -> Url {
        let mut url = self.resource_url(self.resource_name(self.api.email_resource));
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push(&self.email_filter);
        url.query_pairs_mut()
            .append_pair("email", address)
            .append_pair("_lineCount", &page.to_string())
            .append_pair("_forcePagination", "true");
        url
    }

    /// Whether a profile the email filter found holds the address: a
    /// filter of the company's own (a migrated tenant's) might match
    /// otherwise (a part of it, or anything), and a stranger's profile
    /// must never be read or changed for this address.
    fn has_address(&self, body: &ProfileBody, spelling: &str) -> Result<(), CampaignError> {
        let held = body.rest.get("email").and_then(serde_json::Value::as_str);
        let same = |held: &str| {
            EmailAddress::parse(held)
                .ok()
                .zip(EmailAddress::parse(spelling).ok())
                .is_some_and(|(held, asked)| held.key() == asked.key())
        };
        match held {
            Some(held) if same(held) => Ok(()),
            // Held for the settings (retried, never struck): nobody's profile
            // is changed on the word of a filter that matches others.
            _ => Err(CampaignError::Misconfigured(format!(
                "the filter {} answered a profile with another address: check \
                 campaign.email_filter",
                self.email_filter
            ))),
        }
    }

    /// Adds to `found` the profiles the email filter finds for `spelling` that it
    /// lacks, page after page to the last (following Campaign's `next`
    /// links, which must stay in the tenant), or stops at more than `most`.
    /// Each page adds a profile or ends the look-up, so a link that leads
    /// back cannot loop.
    async fn matches(
        &self,
        spelling: &str,
        most: usize,
        found: &mut Vec<ProfileBody>,
    ) -> Result<(), CampaignError> {
        let resource = self.resource_name(self.api.email_resource);
        // A page big enough to tell "more than `most`".
        let mut url = self.filter_url(spelling, PAGE.min(most.saturating_add(1)));
        loop {
            let answer = self.get(url).await?;
            if answer.status != StatusCode::OK {
                return Err(answer.failure(resource));
            }
            let page = answer.json::<Collection<ProfileBody>>()?;
            let before = found.len();
            for body in page.content {
                self.has_address(&body, spelling)?;
                if found.iter().all(|seen| seen.href != body.href) {
                    found.push(body);
                }
            }
            if found.len() > most {
                return Err(CampaignError::TooManyMatches(most));
            }
            match page.next {
                Some(next) if found.len() > before => {
                    self.in_tenant(&next.href)?;
                    url = next.href;
                }
                _ => return Ok(()),
            }
        }
    }
}
