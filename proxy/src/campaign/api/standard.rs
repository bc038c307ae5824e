//! Campaign Standard's REST API.

use super::{Api, Resource};

/// `campaign.api = "standard"`.
pub const STANDARD: Api = Api {
    name: "Campaign Standard",
    setting: "standard",
    // The out-of-the-box filter of the profile resource.
    email_filter: "byEmail",
    email_resource: Resource::Standard,
    // Its code for "Unable to find document".
    not_found: &["RST-360011"],
    refuses_undecryptable_pkeys: false,
    blank_fields: false,
};
