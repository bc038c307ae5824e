//! Changing profiles: a PATCH of one field, or the seed's POST of a new
//! profile. Only an answer that proves the change counts as done.

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use super::answer::Answer;
use super::api::Resource;
use super::{CampaignClient, CampaignError, Patched, Profile, ProfileBody};
use crate::identity::ProfileKey;
use crate::store::Choice;

impl CampaignClient {
    /// Creates a profile for `key` with `choice` set to `value` (the seed's
    /// POST): the custom key in `custom_key_field` of the extended
    /// resource, or the address (its key) in the resource the API finds
    /// profiles by email in.
    pub async fn create(
        &self,
        key: &ProfileKey,
        (choice, value): (Choice, bool),
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        let result = self.post(key, choice, value, sent).await;
        self.observe(result)
    }

    async fn post(
        &self,
        key: &ProfileKey,
        choice: Choice,
        value: bool,
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        self.tenant_allows_changes().await?;
        let field = self.field(choice)?;
        let (resource, body) = match key {
            ProfileKey::CustomKey(custom) => (
                self.resource_name(Resource::Extended),
                json!({ self.settings.custom_key_field.as_str(): custom, field: value }),
            ),
            // The key, all lower-cased: every later spelling of the
            // address is looked up by it too, and finds this profile.
            ProfileKey::Email(address) => (
                self.resource_name(self.api.email_resource),
                json!({ "email": address.key(), field: value }),
            ),
        };
        let mut url = self.resource_url(resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push("");
        let _permit = self.permit().await?;
        let answer = self.call(Method::POST, url, Some((&body, sent))).await?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => self.confirmed(&answer),
            _ => Err(answer.failure(resource)),
        }
    }

    /// Sets `choice` to `value` on `profile`, following the link Campaign
    /// gave. Only the documented answer counts as done, or a `204` after
    /// which the profile, read back, holds the value.
    pub async fn set(
        &self,
        profile: &Profile,
        (choice, value): (Choice, bool),
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        let result = self.patch(profile, choice, value, sent).await;
        self.observe(result)
    }

    async fn patch(
        &self,
        profile: &Profile,
        choice: Choice,
        value: bool,
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        self.tenant_allows_changes().await?;
        let body = json!({ self.field(choice)?: value });
        let answer = {
            let _permit = self.permit().await?;
            self.call(Method::PATCH, profile.href.clone(), Some((&body, sent)))
                .await?
        };
        match answer.status {
            // The link Campaign gave a moment ago leads nowhere (the profile
            // went, or its PKey changed in a migration): the next attempt's
            // look-up tells which.
            StatusCode::NOT_FOUND if answer.is_no_such_profile(self.api) => Err(
                CampaignError::Unavailable("the profile's link answered 404".into()),
            ),
            StatusCode::OK => self.confirmed(&answer),
            StatusCode::NO_CONTENT => {
                let read = self.read_back(profile.href.clone(), None).await?;
                if read.href != profile.href {
                    return Err(CampaignError::Unexpected(
                        "a read-back answered with another profile".into(),
                    ));
                }
                self.holds(read, profile.resource, (choice, value))
            }
            _ => Err(answer.failure(self.resource_name(profile.resource))),
        }
    }

    /// Sets `choice` to `value` on the profile whose custom key is `key`, in
    /// one call: Adobe documents a profile of a resource extended with a
    /// custom key as addressable by it. `Ok(false)`: Campaign answered that
    /// no document has that key so (a key it does not address, or no such
    /// profile): the caller looks it up instead.
    pub async fn set_by_key(
        &self,
        key: &str,
        (choice, value): (Choice, bool),
        sent: &AtomicBool,
    ) -> Result<bool, CampaignError> {
        let result = self.patch_by_key(key, choice, value, sent).await;
        self.observe(result)
    }

    async fn patch_by_key(
        &self,
        key: &str,
        choice: Choice,
        value: bool,
        sent: &AtomicBool,
    ) -> Result<bool, CampaignError> {
        self.tenant_allows_changes().await?;
        let body = json!({ self.field(choice)?: value });
        let url = self.key_url(key)?;
        let answer = {
            let _permit = self.permit().await?;
            self.call(Method::PATCH, url.clone(), Some((&body, sent)))
                .await?
        };
        match answer.status {
            StatusCode::OK => self.confirmed(&answer).map(|()| true),
            // A definite answer: nothing was changed.
            StatusCode::NOT_FOUND if answer.is_no_such_profile(self.api) => {
                sent.store(false, Ordering::SeqCst);
                Ok(false)
            }
            StatusCode::NO_CONTENT => {
                let read = self.read_back(url, Some(key)).await?;
                self.holds(read, Resource::Extended, (choice, value))
                    .map(|()| true)
            }
            _ => Err(answer.failure(self.resource_name(Resource::Extended))),
        }
    }

    /// Whether the settings let the proxy change `choice` at all; readiness
    /// shows why not.
    pub fn offers(&self, choice: Choice) -> Result<(), CampaignError> {
        // Only a refusal is news: Campaign was not asked anything.
        match self.field(choice) {
            Ok(_) => Ok(()),
            Err(error) => self.observe(Err(error)),
        }
    }

    /// The profile field that holds `choice`. A change of the sensitive
    /// choice recorded before its setting was removed waits for it to come
    /// back: it must never land on the opt-out of sale.
    fn field(&self, choice: Choice) -> Result<&str, CampaignError> {
        match (choice, &self.settings.sensitive_field) {
            (Choice::Sale, _) => Ok(self.settings.opt_out_field.as_str()),
            (Choice::Sensitive, Some(field)) => Ok(field.as_str()),
            (Choice::Sensitive, None) => Err(CampaignError::Misconfigured(
                "a change of the sensitive-information choice waits for \
                 campaign.sensitive_field to be set again"
                    .into(),
            )),
        }
    }

    /// Whether a change's answer is Campaign's: a PKey, and a link to the
    /// profile inside the tenant.
    fn confirmed(&self, answer: &Answer) -> Result<(), CampaignError> {
        let changed = answer.json::<Patched>()?;
        if changed.pkey.is_empty() {
            return Err(CampaignError::Unexpected("an answer without a PKey".into()));
        }
        self.in_tenant(&changed.href)
    }

    /// The profile at `url`, read after a change was answered `204 No
    /// Content`: what a migrated tenant answers an empty PATCH with, having
    /// changed nothing. So a 204 is never taken on its word. Read by
    /// custom `key`, the profile must carry it.
    async fn read_back(&self, url: Url, key: Option<&str>) -> Result<ProfileBody, CampaignError> {
        let answer = self.get(url).await?;
        if answer.status != StatusCode::OK {
            return Err(answer.failure("read back after a change"));
        }
        let body = answer.json::<ProfileBody>()?;
        match key {
            Some(key) => self.carries(&body, key).map(|()| body),
            None => Ok(body),
        }
    }

    /// Done if the profile read back holds `value` for `choice`; otherwise
    /// Campaign took nothing (a field it ignores answers as an empty PATCH
    /// does), and saying so again the same way will not help: a strike.
    fn holds(
        &self,
        read: ProfileBody,
        read_in: Resource,
        (choice, value): (Choice, bool),
    ) -> Result<(), CampaignError> {
        if self.profile_of(read, read_in)?.value(choice)? == value {
            return Ok(());
        }
        let setting = match choice {
            Choice::Sale => "campaign.opt_out_field",
            Choice::Sensitive => "campaign.sensitive_field",
        };
        Err(CampaignError::Refused(format!(
            "Campaign answered a change of {} 204 No Content and the profile does not hold \
             it: check {setting}",
            self.field(choice)?
        )))
    }
}
