//! The Campaign Standard API of a tenant Adobe migrated to Campaign v8
//! (Experience League, "Campaign Standard APIs for migrated users").

use super::{Api, Resource, UNDECRYPTABLE};

/// `campaign.api = "v8-migrated"`.
pub const V8_MIGRATED: Api = Api {
    name: "a Campaign Standard tenant migrated to Campaign v8",
    setting: "v8-migrated",
    // Custom filters are called by their "Filter name in REST API", without
    // the `by` prefix, and Adobe's example calls them on the extended
    // resource, where a custom opt-out field lives.
    email_filter: "email",
    email_resource: Resource::Extended,
    // A key that is neither a custom key nor a PKey it can decrypt (the
    // start check made sure that custom keys find profiles).
    not_found: &[UNDECRYPTABLE],
    refuses_undecryptable_pkeys: true,
    // "Some fields come back blank after migration."
    blank_fields: true,
};
