//! Every text the widget shows, one file per language. Adding a language is
//! one file beside these (a copy of `en.rs`, translated) and one line in the
//! `languages!` list below.
//!
//! All languages ship in the wasm: together they weigh under 2 KB gzipped,
//! less than the code that would fetch one at run time. The loader's first
//! paint shows some of them too, from `frontend/loader/ccpa-first-paint.js`,
//! where `tests/loader_texts.rs` writes them from these and keeps them equal.

/// The texts of one language.
#[derive(Debug)]
pub struct Strings {
    /// The BCP 47 tag, set as the widget's `lang` for screen readers.
    pub tag: &'static str,
    /// The heading.
    pub title: &'static str,
    /// What the switch does, above it.
    pub intro: &'static str,
    /// The switch's accessible name.
    pub switch_label: &'static str,
    /// The status when sale is stopped.
    pub opted_out: &'static str,
    /// The status when sale is allowed.
    pub opted_in: &'static str,
    /// While the choice is read.
    pub loading: &'static str,
    /// While a change is on its way.
    pub saving: &'static str,
    /// The change is in the customer's profile.
    pub saved: &'static str,
    /// This browser's (or an email's) choice is recorded.
    pub recorded: &'static str,
    /// Recorded, on its way to the customer's profile.
    pub pending: &'static str,
    /// The button that tries again.
    pub retry: &'static str,
    /// The choice could not be read.
    pub load_failed: &'static str,
    /// The change was refused or failed.
    pub save_failed: &'static str,
    /// A save sent, whose answer never came: it may or may not have landed.
    pub save_unconfirmed: &'static str,
    /// The page said nobody is signed in where a customer was expected.
    pub signed_out: &'static str,
    /// The signed-in customer's profile could not be found.
    pub no_profile: &'static str,
    /// The display § 7025(c)(6) requires when a GPC signal was processed.
    pub gpc_honored: &'static str,
    /// What the signal did.
    pub gpc_explain: &'static str,
    /// The signal overrode the consumer's own earlier choice to allow
    /// sale: how to allow it again (§ 7025(c)(3)); shown only then.
    pub gpc_conflict: &'static str,
    /// The signal is present but the consumer chose to allow sale.
    pub gpc_waived: &'static str,
    /// Signed in: what the choice covers.
    pub account_note: &'static str,
    /// Nobody is signed in: what the choice covers, and the next step.
    pub browser_note: &'static str,
    /// Leads to the form that opts an email address out.
    pub email_intro: &'static str,
    /// The email field's label.
    pub email_label: &'static str,
    /// The email form's button.
    pub email_submit: &'static str,
    /// The same whoever has the address.
    pub email_sent: &'static str,
    /// The address typed is not one.
    pub email_invalid: &'static str,
    /// The email form could not send.
    pub email_failed: &'static str,
    /// The second switch (§ 7015): limit the use of sensitive information.
    pub sensitive_label: &'static str,
    /// The status when the limit is on.
    pub sensitive_on: &'static str,
    /// The status when the limit is off.
    pub sensitive_off: &'static str,
    /// The proxy's limit was reached: a read is tried again by itself.
    pub busy_load: &'static str,
    /// The proxy's limit was reached: the change was not recorded.
    pub busy_save: &'static str,
}

macro_rules! languages {
    ($($module:ident => $variant:ident),+ $(,)?) => {
        $(mod $module;)+

        /// A language the widget speaks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Lang {
            $(
                #[doc = concat!("`", stringify!($module), "`")]
                $variant,
            )+
        }

        impl Lang {
            /// Every language, in the order of the list.
            pub const ALL: &'static [Lang] = &[$(Lang::$variant),+];

            /// The primary subtag that selects this language (`zh` for
            /// Chinese, whose texts are tagged `zh-Hans`).
            pub fn subtag(self) -> &'static str {
                match self {
                    $(Lang::$variant => stringify!($module),)+
                }
            }

            /// This language's texts.
            pub fn strings(self) -> &'static Strings {
                match self {
                    $(Lang::$variant => &$module::STRINGS,)+
                }
            }

            fn by_primary_tag(primary: &str) -> Option<Self> {
                $(
                    if primary.eq_ignore_ascii_case(stringify!($module)) {
                        return Some(Lang::$variant);
                    }
                )+
                None
            }
        }
    };
}

languages! {
    en => En,
    es => Es,
    de => De,
    zh => Zh,
}

impl Lang {
    /// The language for a BCP 47 tag such as `es-MX`, if the widget speaks it.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let mut subtags = tag.trim().split(['-', '_']);
        let lang = Self::by_primary_tag(subtags.next()?)?;
        // Our Chinese is Simplified: a reader of Traditional script is
        // better served by their next preference.
        let traditional = subtags.any(|s| {
            ["hant", "tw", "hk", "mo"]
                .iter()
                .any(|t| s.eq_ignore_ascii_case(t))
        });
        (!(lang == Lang::Zh && traditional)).then_some(lang)
    }

    /// The first of `preferences` the widget speaks; English otherwise.
    pub fn pick<'a>(preferences: impl IntoIterator<Item = &'a str>) -> Self {
        preferences
            .into_iter()
            .find_map(Self::from_tag)
            .unwrap_or(Lang::En)
    }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn tags_map_to_languages_by_their_primary_subtag() {
        assert_eq!(Lang::from_tag("es-MX"), Some(Lang::Es));
        assert_eq!(Lang::from_tag("DE"), Some(Lang::De));
        assert_eq!(Lang::from_tag("zh-Hans-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_tag("zh_CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_tag("zh-TW"), None, "Traditional script");
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::from_tag(""), None);
    }

    #[test]
    fn the_first_spoken_preference_wins_else_english() {
        assert_eq!(Lang::pick(["fr-FR", "de-AT", "es"]), Lang::De);
        assert_eq!(Lang::pick(["fr", "it"]), Lang::En);
        assert_eq!(Lang::pick([]), Lang::En);
    }

    #[test]
    fn every_language_has_every_text() {
        for lang in [Lang::En, Lang::Es, Lang::De, Lang::Zh] {
            let s = lang.strings();
            let texts = [
                s.tag,
                s.title,
                s.intro,
                s.switch_label,
                s.opted_out,
                s.opted_in,
                s.loading,
                s.saving,
                s.saved,
                s.recorded,
                s.pending,
                s.retry,
                s.load_failed,
                s.save_failed,
                s.save_unconfirmed,
                s.signed_out,
                s.no_profile,
                s.gpc_honored,
                s.gpc_explain,
                s.gpc_conflict,
                s.gpc_waived,
                s.account_note,
                s.browser_note,
                s.email_intro,
                s.email_label,
                s.email_submit,
                s.email_sent,
                s.email_invalid,
                s.email_failed,
                s.sensitive_label,
                s.sensitive_on,
                s.sensitive_off,
                s.busy_load,
                s.busy_save,
            ];
            assert!(texts.iter().all(|t| !t.trim().is_empty()), "{lang:?}");
            assert_eq!(Lang::from_tag(s.tag), Some(lang));
        }
    }
}
