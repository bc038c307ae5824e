//! The switch and its states: loading, ready, saving, error.
//!
//! The switch only ever shows a value the proxy confirmed: a click moves it
//! to "saving" (announced, further clicks ignored), and it flips when the
//! answer comes, not before.

use std::sync::atomic::{AtomicUsize, Ordering};

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::client::{ApiClient, Failure};
use crate::i18n::Strings;
use crate::settings::Settings;

/// Where the widget is; mirrored in `data-state` for tests to wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Loading,
    Ready,
    Saving,
    Error,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Ready => "ready",
            Phase::Saving => "saving",
            Phase::Error => "error",
        }
    }
}

/// What failed, so that "Try again" repeats exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Load,
    Save(bool),
}

/// ARIA states are the strings "true" and "false".
fn bool_attr(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// Unique ids per instance: several widgets may share a page.
fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The whole widget for one host element.
#[component]
pub fn OptOutToggle(settings: Settings) -> impl IntoView {
    let text: &'static Strings = settings.lang.strings();
    let client = ApiClient::new(settings);
    let phase = RwSignal::new(Phase::Loading);
    let confirmed = RwSignal::new(None::<bool>);
    let failed = RwSignal::new(None::<(Attempt, Failure)>);
    let announcement = RwSignal::new("");

    let run = move |attempt: Attempt| {
        // A load is silent; a save is announced when it starts and ends.
        let (busy, started, done) = match attempt {
            Attempt::Load => (Phase::Loading, "", ""),
            Attempt::Save(_) => (Phase::Saving, text.saving, text.saved),
        };
        phase.set(busy);
        failed.set(None);
        announcement.set(started);
        spawn_local(async move {
            let result = match attempt {
                Attempt::Load => client.load().await,
                Attempt::Save(value) => client.save(value).await,
            };
            match result {
                Ok(state) => {
                    confirmed.set(Some(state.ccpa_opt_out));
                    phase.set(Phase::Ready);
                    announcement.set(done);
                }
                Err(failure) => {
                    failed.set(Some((attempt, failure)));
                    phase.set(Phase::Error);
                    announcement.set("");
                }
            }
        });
    };
    run(Attempt::Load);

    let flip = move |_| {
        // Ignore clicks while loading or saving: no double submits.
        if matches!(phase.get_untracked(), Phase::Loading | Phase::Saving) {
            return;
        }
        if let Some(current) = confirmed.get_untracked() {
            run(Attempt::Save(!current));
        }
    };
    let retry = move |_| {
        if let Some((attempt, _)) = failed.get_untracked() {
            run(attempt);
        }
    };

    let id = next_id();
    let title_id = format!("ccpa-optout-{id}-title");
    let labelled_by = title_id.clone();
    let state_id = format!("ccpa-optout-{id}-state");
    let busy = move || phase.get() == Phase::Saving;
    let checked = move || confirmed.get().unwrap_or(false);
    let error_notice = move || {
        failed.get().map(|(attempt, failure)| {
            let message = match (attempt, failure) {
                (_, Failure::SignedOut) => text.signed_out,
                (_, Failure::NoProfile) => text.no_profile,
                (Attempt::Load, Failure::Unavailable) => text.load_failed,
                (Attempt::Save(_), Failure::Unavailable) => text.save_failed,
            };
            view! {
                <div class="ccpa-optout__error" role="alert" data-testid="ccpa-optout-error">
                    <p>{message}</p>
                    <button type="button" class="ccpa-optout__retry" data-testid="ccpa-optout-retry" on:click=retry>
                        {text.retry}
                    </button>
                </div>
            }
        })
    };

    view! {
        <section
            class="ccpa-optout"
            data-testid="ccpa-optout"
            data-state=move || phase.get().as_str()
            aria-labelledby=labelled_by
        >
            <h2 class="ccpa-optout__title" id=title_id>{text.title}</h2>
            <p class="ccpa-optout__intro">{text.intro}</p>
            <Show
                when=move || confirmed.get().is_some()
                fallback=move || {
                    view! {
                        <p class="ccpa-optout__loading" data-testid="ccpa-optout-loading" hidden=move || phase.get() != Phase::Loading>
                            {text.loading}
                        </p>
                    }
                }
            >
                <button
                    type="button"
                    role="switch"
                    class="ccpa-optout__switch"
                    data-testid="ccpa-optout-switch"
                    aria-checked=move || bool_attr(checked())
                    aria-describedby=state_id.clone()
                    aria-disabled=move || bool_attr(busy())
                    aria-busy=move || bool_attr(busy())
                    on:click=flip
                >
                    <span class="ccpa-optout__track" aria-hidden="true">
                        <span class="ccpa-optout__thumb"></span>
                    </span>
                    <span class="ccpa-optout__label">{text.switch_label}</span>
                </button>
                <p class="ccpa-optout__state" id=state_id.clone() data-testid="ccpa-optout-state">
                    {move || if checked() { text.opted_out } else { text.opted_in }}
                </p>
            </Show>
            <p class="ccpa-optout__status" role="status" aria-live="polite" data-testid="ccpa-optout-status">
                {move || announcement.get()}
            </p>
            {error_notice}
        </section>
    }
}
