//! The second switch § 7015 asks a choices page to offer: limit the use of
//! sensitive personal information. Shown where the proxy offers it (a site
//! that set `campaign.sensitive_field`, a signed-in customer). Like the
//! first, it shows only what the proxy confirmed: it flips when the answer
//! comes, and a failed save leaves it as it was, with the reason.

use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;

use ccpa_api::SensitiveState;

use crate::client::{ApiClient, Failure};
use crate::recheck;
use crate::switch::{Switch, Texts};
use ccpa_widget_state::i18n::Strings;

/// The switch for `state`; `saved` takes a change once the proxy confirms
/// it (into `state`, and to the host page). `announce` speaks through the
/// widget's one live region.
#[component]
pub fn SensitiveSwitch(
    client: ApiClient,
    text: &'static Strings,
    state: Signal<Option<SensitiveState>>,
    announce: RwSignal<&'static str>,
    saved: Callback<SensitiveState>,
    id: usize,
) -> impl IntoView {
    let saving = RwSignal::new(false);
    let failed = RwSignal::new(None::<Failure>);
    // Each save is a change of its own: its rechecks start afresh.
    let saves = StoredValue::new(0u32);
    let state_id = format!("ccpa-optout-{id}-sensitive-state");
    let limited = move || state.get().is_some_and(|s| s.limited);
    let flip = move |()| {
        let Some(current) = state.get_untracked() else {
            return;
        };
        if saving.get_untracked() {
            return;
        }
        saving.set(true);
        saves.update_value(|n| *n = n.wrapping_add(1));
        failed.set(None);
        announce.set(text.saving);
        spawn_local_scoped_with_cancellation(async move {
            match client.save_sensitive(!current.limited).await {
                Ok(answer) => {
                    announce.set(if answer.pending {
                        text.recorded
                    } else {
                        text.saved
                    });
                    saved.run(answer);
                }
                Err(failure) => {
                    announce.set("");
                    failed.set(Some(failure));
                }
            }
            saving.set(false);
        });
    };
    // A change Campaign has not confirmed is looked at again until it has,
    // then announced and told to the page like a save.
    recheck::politely(
        move || {
            let waiting =
                !saving.get_untracked() && state.get_untracked().is_some_and(|s| s.pending);
            waiting.then(|| saves.get_value())
        },
        move || {
            spawn_local_scoped_with_cancellation(async move {
                let Ok(read) = client.load().await else {
                    return;
                };
                let Some(now) = read.sensitive else { return };
                if saving.get_untracked() || now.pending {
                    return;
                }
                announce.set(text.saved);
                saved.run(now);
            });
        },
    );
    let error = move || {
        failed.get().map(|failure| {
            let message = match failure {
                Failure::SignedOut => text.signed_out,
                Failure::NoProfile => text.no_profile,
                Failure::Unavailable => text.save_failed,
                Failure::Unreachable => text.save_unconfirmed,
                Failure::Busy => text.busy_save,
            };
            view! {
                <p class="ccpa-optout__error" role="alert" data-testid="ccpa-optout-sensitive-error">
                    {message}
                </p>
            }
        })
    };
    view! {
        <div class="ccpa-optout__choice" data-testid="ccpa-optout-sensitive">
            <Switch
                texts=Texts {
                    label: text.sensitive_label,
                    on: text.sensitive_on,
                    off: text.sensitive_off,
                    pending: text.pending,
                    test_id: "ccpa-optout-sensitive",
                }
                checked=Signal::derive(limited)
                busy=saving.into()
                pending=Signal::derive(move || state.get().is_some_and(|s| s.pending))
                state_id=state_id.clone()
                described_by=state_id
                flip=Callback::new(flip)
            />
            {error}
        </div>
    }
}
