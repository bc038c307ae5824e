//! English.

pub const STRINGS: super::Strings = super::Strings {
    tag: "en",
    title: "Do Not Sell or Share My Personal Information",
    intro: "California law lets you stop the sale or sharing of your personal information.",
    account_note: "Your choice is saved to your account and applies wherever you sign in.",
    switch_label: "Do not sell or share my personal information",
    opted_out: "On: we do not sell or share your personal information.",
    opted_in: "Off: your personal information may be sold or shared.",
    loading: "Loading your current choice…",
    saving: "Saving your choice…",
    saved: "Your choice has been saved.",
    recorded: "Your choice has been recorded.",
    pending: "Your choice is recorded and will apply to your account within a few minutes.",
    retry: "Try again",
    load_failed: "We could not load your current choice. Please check your connection and try again.",
    save_failed: "We could not save your choice, so nothing has changed. Please try again.",
    save_unconfirmed: "We could not confirm that your choice was saved: no answer came, though it \
                       may have been saved. Please try again.",
    signed_out: "Please sign in to see and change your choice.",
    no_profile: "We could not find your customer record. Please contact us so we can record your choice.",
    gpc_honored: "Opt-Out Request Honored",
    gpc_explain: "Your browser sent a Global Privacy Control signal, so we do not sell or share \
                  your personal information.",
    gpc_conflict: "This overrides your earlier choice to allow it. To allow it anyway, turn the \
                   switch off.",
    gpc_waived: "Your browser sends a Global Privacy Control signal, but you chose to allow the \
                 sale or sharing of your personal information. Turn the switch on to opt out again.",
    browser_note: "You are not signed in, so this choice applies to this browser only. Sign in to \
                   apply it to your account as well.",
    email_intro: "To opt out wherever we hold your email address, enter it here.",
    email_label: "Email address",
    email_submit: "Opt out by email",
    email_sent: "Thank you. Every record we hold under this address will be opted out of sale \
                 and sharing.",
    email_invalid: "Please enter a valid email address.",
    email_failed: "We could not send your request. Please try again.",
    sensitive_label: "Limit the use of my sensitive personal information",
    sensitive_on: "On: we use your sensitive personal information only to provide the services you ask for.",
    sensitive_off: "Off: we may also use your sensitive personal information for other purposes.",
    busy_load: "Many requests came in just now. We will try again in a moment.",
    busy_save: "Many changes came in just now, so this one was not saved. Please try again in a moment.",
};
