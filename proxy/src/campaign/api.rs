//! What each of Adobe's profile APIs does its own way, as data: the
//! client reads it here and nowhere else decides by API. Another API (a
//! later Campaign, Journey Optimizer) is one more file beside these two and
//! one more value of `campaign.api`. Where each fact comes from, and which
//! are not confirmed by Adobe's pages, is in `docs/api.md`.

mod standard;
mod v8_migrated;

use crate::config::CampaignApi;

/// The two profile resources of the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `campaign.standard_resource`: out-of-the-box fields.
    Standard,
    /// `campaign.extended_resource`: custom fields too, and custom keys.
    Extended,
}

/// One API's ways.
#[derive(Debug)]
pub struct Api {
    /// Its name in sentences for operators.
    pub name: &'static str,
    /// Its value of `campaign.api`.
    pub setting: &'static str,
    /// The filter that finds profiles by email, unless
    /// `campaign.email_filter` names another.
    pub email_filter: &'static str,
    /// The resource profiles are found by email in, and created for an
    /// address in.
    pub email_resource: Resource,
    /// Words in the `message` of a 404 that mean "no profile has this key",
    /// as opposed to a gateway's 404 for a path it does not know.
    pub not_found: &'static [&'static str],
    /// Whether a PKey it cannot decrypt is answered with 404 and
    /// [`UNDECRYPTABLE`]: the tell of a migrated tenant, checked at start.
    pub refuses_undecryptable_pkeys: bool,
    /// Whether a field may come back blank (`null`): read as never set.
    pub blank_fields: bool,
}

/// What a migrated tenant answers for a PKey it cannot decrypt.
pub const UNDECRYPTABLE: &str = "Unable to decrypt PKey";

/// Every API, for telling which one a tenant speaks.
pub static ALL: [&Api; 2] = [&standard::STANDARD, &v8_migrated::V8_MIGRATED];

/// The ways of the API `campaign.api` names.
pub fn of(api: CampaignApi) -> &'static Api {
    match api {
        CampaignApi::Standard => &standard::STANDARD,
        CampaignApi::V8Migrated => &v8_migrated::V8_MIGRATED,
    }
}
