//! The switch and its states: loading, ready, saving, pending, error.
//!
//! The switch only ever shows a value the proxy confirmed: a click moves it
//! to "saving" (announced, further clicks ignored), and it flips when the
//! answer comes, not before.

use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;

use ccpa_api::{OptOutState, SensitiveState};

use crate::client::{ApiClient, Early, Failure, Scope};
use crate::email::EmailForm;
use crate::i18n::Strings;
use crate::next_id;
use crate::recheck;
use crate::sensitive::SensitiveSwitch;
use crate::settings::Settings;
use crate::switch::{Switch, Texts, bool_attr};

/// Where the widget is; mirrored in `data-state` for tests to wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Loading,
    Ready,
    Saving,
    /// The proxy recorded the choice; Campaign has not confirmed it yet.
    Pending,
    Error,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Ready => "ready",
            Phase::Saving => "saving",
            Phase::Pending => "pending",
            Phase::Error => "error",
        }
    }
}

/// What failed, so that "Try again" repeats exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Load,
    /// A quiet look whether a pending choice has been applied yet.
    Recheck,
    Save(bool),
}

/// How long a read the proxy asked to pause for waits before it is tried
/// again.
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_secs(5);

/// The whole widget for one host element; `early` holds the requests the
/// loader already sent for it.
#[component]
pub fn OptOutToggle(settings: Settings, early: Early) -> impl IntoView {
    let text: &'static Strings = settings.lang.strings();
    let gpc = settings.gpc;
    let email_form = settings.email_form;
    let heading_level = settings.heading_level;
    let client = ApiClient::new(settings, early);
    let scope = client.scope();
    let phase = RwSignal::new(Phase::Loading);
    let confirmed = RwSignal::new(None::<bool>);
    let failed = RwSignal::new(None::<(Attempt, Failure)>);
    let announcement = RwSignal::new("");
    let honored = RwSignal::new(false);
    // GPC overrode the consumer's own choice to allow sale, on this load.
    let conflict = RwSignal::new(false);
    // The second choice, where the proxy offers it.
    let sensitive = RwSignal::new(None::<SensitiveState>);
    let section = NodeRef::<leptos::html::Section>::new();

    // Each attempt's request runs in the scope of this effect's latest run:
    // a newer attempt cancels a recheck still under way, and a widget taken
    // off the page (single-page apps) cancels whatever it had under way.
    let requested = RwSignal::new(None::<Attempt>);
    Effect::new(move |_| {
        let Some(attempt) = requested.get() else {
            return;
        };
        spawn_local_scoped_with_cancellation(async move {
            let result = match attempt {
                Attempt::Load | Attempt::Recheck => client.load().await,
                Attempt::Save(value) => client.save(value).await,
            };
            // A click started a save meanwhile: its answer is the newer one.
            if attempt == Attempt::Recheck && phase.get_untracked() != Phase::Pending {
                return;
            }
            match result {
                Ok(mut state) => {
                    let changed = match attempt {
                        // GPC (or this browser's opt-out) changed the
                        // choice as the page loaded: a change like a click.
                        Attempt::Load => state.signal_applied,
                        Attempt::Save(_) => true,
                        Attempt::Recheck => !state.pending,
                    };
                    // A read shows the second switch the first time it
                    // carries its state; from then on the switch keeps its
                    // own, which a read started before its save must not
                    // undo. A save answers for its own choice only.
                    if sensitive.get_untracked().is_none() {
                        sensitive.set(state.sensitive);
                    }
                    state.sensitive = sensitive.get_untracked();
                    if changed {
                        announce_change(section, state, scope.get_untracked());
                    }
                    confirmed.set(Some(state.ccpa_opt_out));
                    honored.set(state.gpc_honored);
                    match attempt {
                        Attempt::Load => {
                            conflict.set(state.gpc_conflict);
                            // After "Try again", focus waited on the heading
                            // for the switch: it is there now.
                            set_timeout(
                                move || focus_switch_from_heading(section),
                                std::time::Duration::ZERO,
                            );
                        }
                        // They chose: nothing left to tell them.
                        Attempt::Save(_) => conflict.set(false),
                        Attempt::Recheck => {}
                    }
                    phase.set(if state.pending {
                        Phase::Pending
                    } else {
                        Phase::Ready
                    });
                    announcement.set(match (attempt, state.pending) {
                        (Attempt::Load, _) | (Attempt::Recheck, true) => "",
                        (Attempt::Save(_) | Attempt::Recheck, false) => text.saved,
                        (Attempt::Save(_), true) => text.recorded,
                    });
                }
                // The choice is recorded either way; look again later.
                Err(_) if attempt == Attempt::Recheck => phase.set(Phase::Pending),
                Err(failure) => {
                    failed.set(Some((attempt, failure)));
                    phase.set(Phase::Error);
                    announcement.set("");
                    // The proxy asked for a pause: a read is tried again by
                    // itself after it (a change waits for "Try again").
                    if (attempt, failure) == (Attempt::Load, Failure::Busy) {
                        let again = move || {
                            failed.set(None);
                            phase.set(Phase::Loading);
                            requested.set(Some(Attempt::Load));
                        };
                        set_timeout(again, BUSY_PAUSE);
                    }
                }
            }
        });
    });
    // Each save is a change of its own: its rechecks start afresh.
    let saves = StoredValue::new(0u32);
    let run = move |attempt: Attempt| {
        // A load is silent; a save is announced when it starts and ends.
        let (busy, started) = match attempt {
            Attempt::Load => (Phase::Loading, ""),
            Attempt::Recheck => (Phase::Pending, ""),
            Attempt::Save(_) => {
                saves.update_value(|n| *n = n.wrapping_add(1));
                (Phase::Saving, text.saving)
            }
        };
        phase.set(busy);
        failed.set(None);
        announcement.set(started);
        requested.set(Some(attempt));
    };
    run(Attempt::Load);
    recheck::politely(
        move || (phase.get_untracked() == Phase::Pending).then(|| saves.get_value()),
        move || run(Attempt::Recheck),
    );

    let flip = move |()| {
        // Ignore clicks while loading or saving: no double submits. A
        // pending choice may be changed: the latest choice wins.
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
            keep_focus(section);
        }
    };
    // A read that failed for want of a network is tried again as soon as
    // the browser is back online. A failed save waits for "Try again":
    // nothing is sent unasked.
    let online = window_event_listener(leptos::ev::online, move |_| {
        if let Some((Attempt::Load, Failure::Unreachable)) = failed.get_untracked() {
            run(Attempt::Load);
        }
    });
    on_cleanup(move || online.remove());

    let id = next_id();
    let title_id = format!("ccpa-optout-{id}-title");
    let labelled_by = title_id.clone();
    let state_id = format!("ccpa-optout-{id}-state");
    let scope_id = format!("ccpa-optout-{id}-scope");
    // What the switch is, and whose choice it holds.
    let described_by = format!("{state_id} {scope_id}");
    let busy = move || phase.get() == Phase::Saving;
    let checked = move || confirmed.get().unwrap_or(false);
    // A change of the second choice tells the host page as the first does.
    let sensitive_saved = Callback::new(move |saved: SensitiveState| {
        let state = OptOutState {
            ccpa_opt_out: confirmed.get_untracked().unwrap_or(false),
            pending: phase.get_untracked() == Phase::Pending,
            gpc_honored: honored.get_untracked(),
            sensitive: Some(saved),
            signal_applied: false,
            gpc_conflict: false,
        };
        announce_change(section, state, scope.get_untracked());
    });
    let error_notice = move || {
        failed.get().map(|(attempt, failure)| {
            let message = match (attempt, failure) {
                (_, Failure::SignedOut) => text.signed_out,
                (_, Failure::NoProfile) => text.no_profile,
                (Attempt::Load | Attempt::Recheck, Failure::Busy) => text.busy_load,
                (Attempt::Save(_), Failure::Busy) => text.busy_save,
                (Attempt::Load | Attempt::Recheck, Failure::Unavailable | Failure::Unreachable) => {
                    text.load_failed
                }
                // Only an answer says nothing changed; without one, the
                // save may have landed.
                (Attempt::Save(_), Failure::Unavailable) => text.save_failed,
                (Attempt::Save(_), Failure::Unreachable) => text.save_unconfirmed,
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
            lang=text.tag
            data-testid="ccpa-optout"
            data-state=move || phase.get().as_str()
            data-ccpa-opt-out=move || confirmed.get().map(bool_attr)
            data-ccpa-limit-sensitive=move || sensitive.get().map(|s| bool_attr(s.limited))
            aria-labelledby=labelled_by
            node_ref=section
        >
            {heading(heading_level, title_id, text.title)}
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
                <Switch
                    texts=Texts {
                        label: text.switch_label,
                        on: text.opted_out,
                        off: text.opted_in,
                        pending: text.pending,
                        test_id: "ccpa-optout",
                    }
                    checked=Signal::derive(checked)
                    busy=Signal::derive(busy)
                    pending=Signal::derive(move || phase.get() == Phase::Pending)
                    state_id=state_id.clone()
                    described_by=described_by.clone()
                    flip=Callback::new(flip)
                />
                {move || gpc.then(|| gpc_notice(text, honored.get(), checked(), conflict.get()))}
                <p class="ccpa-optout__scope" id=scope_id.clone() data-testid="ccpa-optout-scope">
                    {move || match scope.get() {
                        Scope::Account => text.account_note,
                        Scope::Browser => text.browser_note,
                    }}
                </p>
                <Show when=move || sensitive.with(Option::is_some)>
                    <SensitiveSwitch client text state=sensitive announce=announcement saved=sensitive_saved id />
                </Show>
            </Show>
            {move || (email_form && scope.get() == Scope::Browser).then(|| view! { <EmailForm client text id /> })}
            <p class="ccpa-optout__status" role="status" aria-live="polite" data-testid="ccpa-optout-status">
                {move || announcement.get()}
            </p>
            {error_notice}
        </section>
    }
}

/// The widget's title, at the level the host page's outline needs. It takes
/// focus by script only: after "Try again", while there is no switch yet.
fn heading(level: u8, id: String, title: &'static str) -> impl IntoView {
    const TAGS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];
    let tag = TAGS[usize::from(level.clamp(1, 6)) - 1];
    leptos::html::custom(tag)
        .class("ccpa-optout__title")
        .id(id)
        .attr("tabindex", "-1")
        .child(title)
}

/// Moves focus from the widget's heading, where "Try again" left it, to
/// the switch a load has just shown, so that the state is heard.
fn focus_switch_from_heading(section: NodeRef<leptos::html::Section>) {
    let on_heading = section.get_untracked().is_some_and(|section| {
        let focused = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let heading = section.query_selector(".ccpa-optout__title").ok().flatten();
        focused.is_some() && focused == heading
    });
    if on_heading {
        keep_focus(section);
    }
}

/// "Try again" is gone once pressed, and focus with it: it moves to the
/// switch, or to the heading while there is no switch, never to the page's
/// start.
fn keep_focus(section: NodeRef<leptos::html::Section>) {
    use wasm_bindgen::JsCast;
    let Some(section) = section.get_untracked() else {
        return;
    };
    let first = |selector| section.query_selector(selector).ok().flatten();
    let target = first(".ccpa-optout__switch").or_else(|| first(".ccpa-optout__title"));
    if let Some(target) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = target.focus();
    }
}

/// What the browser's Global Privacy Control signal did (§ 7025(c)(6)):
/// honoured, or set aside by the consumer's own choice to allow sale. How to
/// allow sale again is said only when the signal overrode their own choice
/// to allow it (§ 7025(c)(3)); otherwise an opt-out is not followed by an
/// invitation to opt back in (Civil Code § 1798.135(c)(4)).
fn gpc_notice(
    text: &'static Strings,
    honored: bool,
    opted_out: bool,
    conflict: bool,
) -> Option<impl IntoView> {
    let (heading, detail) = match (honored, opted_out) {
        (true, _) => (Some(text.gpc_honored), text.gpc_explain),
        (false, false) => (None, text.gpc_waived),
        // Opted out by the consumer's own hand: nothing to explain.
        (false, true) => return None,
    };
    let invitation = (honored && conflict).then_some(text.gpc_conflict);
    Some(view! {
        <div class="ccpa-optout__gpc" data-testid="ccpa-optout-gpc">
            {heading.map(|h| view! { <p class="ccpa-optout__gpc-status"><strong>{h}</strong></p> })}
            <p>{detail}</p>
            {invitation.map(|i| view! { <p data-testid="ccpa-optout-gpc-conflict">{i}</p> })}
        </div>
    })
}

/// Tells the host page (tag managers, consent tools) about a change the
/// proxy confirmed: a `ccpa-optout:change` event that bubbles out of the
/// widget, with `detail: {ccpaOptOut, pending, scope}` (`scope`:
/// `"account"`, or `"browser"` when nobody is signed in), and
/// `limitSensitive` where the second choice is offered.
fn announce_change(section: NodeRef<leptos::html::Section>, state: OptOutState, scope: Scope) {
    let Some(section) = section.get_untracked() else {
        return;
    };
    let detail = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&detail, &"ccpaOptOut".into(), &state.ccpa_opt_out.into());
    let _ = js_sys::Reflect::set(&detail, &"pending".into(), &state.pending.into());
    if let Some(sensitive) = state.sensitive {
        let _ = js_sys::Reflect::set(&detail, &"limitSensitive".into(), &sensitive.limited.into());
    }
    let scope = match scope {
        Scope::Account => "account",
        Scope::Browser => "browser",
    };
    let _ = js_sys::Reflect::set(&detail, &"scope".into(), &scope.into());
    let init = web_sys::CustomEventInit::new();
    init.set_bubbles(true);
    init.set_composed(true);
    init.set_detail(&detail);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(CHANGE_EVENT, &init) {
        let _ = section.dispatch_event(&event);
    }
}

/// The event [`announce_change`] dispatches; documented in the README.
const CHANGE_EVENT: &str = "ccpa-optout:change";
