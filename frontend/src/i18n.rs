//! Every text the widget shows, in one place per language. Adding a language
//! is one more `Strings` value and one more arm in [`Lang::pick`].

/// A language the widget speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
}

impl Lang {
    /// The language for a BCP 47 tag such as `en-US`; English by default.
    pub fn pick(_tag: Option<&str>) -> Self {
        Lang::En
    }

    /// This language's texts.
    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
        }
    }
}

/// The texts of one language.
#[derive(Debug)]
pub struct Strings {
    pub title: &'static str,
    pub intro: &'static str,
    pub switch_label: &'static str,
    pub opted_out: &'static str,
    pub opted_in: &'static str,
    pub loading: &'static str,
    pub saving: &'static str,
    pub saved: &'static str,
    pub recorded: &'static str,
    pub pending: &'static str,
    pub retry: &'static str,
    pub load_failed: &'static str,
    pub save_failed: &'static str,
    pub signed_out: &'static str,
    pub no_profile: &'static str,
}

const EN: Strings = Strings {
    title: "Do Not Sell or Share My Personal Information",
    intro: "California law lets you stop the sale or sharing of your personal information. \
            Your choice is saved to your account and applies wherever you sign in.",
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
    signed_out: "Please sign in to see and change your choice.",
    no_profile: "We could not find your customer record. Please contact us so we can record your choice.",
};
