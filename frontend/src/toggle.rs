//! The widget for one host element: the [`Widget`] state machine wired to
//! the page. Events go in through [`Wiring::send`]; the effects that come
//! out become requests, words in the live region, events for the host
//! page and moves of focus.

use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;

use ccpa_widget_state::loader;
use ccpa_widget_state::machine::{self, Attempt, Event, GpcNotice, Phase, Spoken, Trouble, Widget};

use crate::client::{ApiClient, Early, Scope};
use crate::email::EmailForm;
use crate::next_id;
use crate::recheck;
use crate::sensitive::SensitiveSwitch;
use crate::settings::Settings;
use crate::switch::{Switch, Texts, bool_attr};
use ccpa_widget_state::i18n::Strings;

use ccpa_api::OptOutState;

/// How long a read the proxy asked to pause for waits before it is tried
/// again.
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_secs(5);

/// The widget's state and the outputs its effects drive.
#[derive(Clone, Copy)]
struct Wiring {
    widget: RwSignal<Widget>,
    /// The attempt whose request runs now: setting it cancels the last.
    requested: RwSignal<Option<Attempt>>,
    announcement: RwSignal<&'static str>,
    section: NodeRef<leptos::html::Section>,
    scope: ReadSignal<Scope>,
    text: &'static Strings,
}

impl Wiring {
    /// Moves the widget on by `event` and carries out what that asks for.
    /// A widget already taken off the page ignores it.
    fn send(self, event: Event) {
        if let Some(effects) = self.widget.try_update(|widget| widget.on(event)) {
            self.perform(effects);
        }
    }

    fn perform(self, effects: Vec<machine::Effect>) {
        for effect in effects {
            match effect {
                machine::Effect::Send(attempt) => self.requested.set(Some(attempt)),
                machine::Effect::Speak(spoken) => self.announcement.set(self.words(spoken)),
                machine::Effect::TellPage(state) => {
                    announce_change(self.section, state, self.scope.get_untracked());
                }
                machine::Effect::KeepFocus => keep_focus(self.section),
                // After the switch has been drawn.
                machine::Effect::FocusSwitchFromHeading => {
                    let section = self.section;
                    set_timeout(
                        move || focus_switch_from_heading(section),
                        std::time::Duration::ZERO,
                    );
                }
                machine::Effect::PauseThenLoad(pause) => {
                    set_timeout(move || self.send(Event::PauseOver(pause)), BUSY_PAUSE)
                }
            }
        }
    }

    fn words(self, spoken: Spoken) -> &'static str {
        match spoken {
            Spoken::Nothing => "",
            Spoken::Saving => self.text.saving,
            Spoken::Saved => self.text.saved,
            Spoken::Recorded => self.text.recorded,
        }
    }
}

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
    let (widget, first) = Widget::start();
    let wiring = Wiring {
        widget: RwSignal::new(widget),
        requested: RwSignal::new(None),
        announcement: RwSignal::new(""),
        section: NodeRef::new(),
        scope,
        text,
    };
    let Wiring {
        widget,
        requested,
        announcement,
        section,
        ..
    } = wiring;

    // Each attempt's request runs in the scope of this effect's latest run:
    // a newer attempt cancels a recheck still under way, and a widget taken
    // off the page (single-page apps) cancels whatever it had under way.
    Effect::new(move |_| {
        let Some(attempt) = requested.get() else {
            return;
        };
        spawn_local_scoped_with_cancellation(async move {
            let result = match attempt {
                Attempt::Load | Attempt::Recheck => client.load().await,
                Attempt::Save(value) => client.save(value).await,
            };
            wiring.send(Event::Answered(attempt, result));
        });
    });
    wiring.perform(first);
    recheck::politely(
        move || widget.with_untracked(Widget::waiting),
        move || wiring.send(Event::LookDue),
    );
    let online = window_event_listener(leptos::ev::online, move |_| wiring.send(Event::Online));
    on_cleanup(move || online.remove());

    let phase = move || widget.with(Widget::phase);
    let confirmed = move || widget.with(Widget::confirmed);
    let sensitive = move || widget.with(Widget::sensitive);
    let id = next_id();
    let title_id = format!("ccpa-optout-{id}-title");
    let labelled_by = title_id.clone();
    let state_id = format!("ccpa-optout-{id}-state");
    let scope_id = format!("ccpa-optout-{id}-scope");
    // What the switch is, and whose choice it holds.
    let described_by = format!("{state_id} {scope_id}");
    let busy = move || phase() == Phase::Saving;
    let checked = move || confirmed().unwrap_or(false);
    // A change of the second choice tells the host page as the first does.
    let sensitive_saved = Callback::new(move |saved| wiring.send(Event::SensitiveSaved(saved)));
    let flip = move |()| wiring.send(Event::Flip);
    let retry = move |_| wiring.send(Event::Retry);
    let error_notice = move || {
        widget.with(Widget::trouble).map(|trouble| {
            let message = match trouble {
                Trouble::SignedOut => text.signed_out,
                Trouble::NoProfile => text.no_profile,
                Trouble::BusyLoad => text.busy_load,
                Trouble::BusySave => text.busy_save,
                Trouble::LoadFailed => text.load_failed,
                Trouble::SaveFailed => text.save_failed,
                Trouble::SaveUnconfirmed => text.save_unconfirmed,
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
            data-state=move || phase().as_str()
            data-ccpa-opt-out=move || confirmed().map(bool_attr)
            data-ccpa-limit-sensitive=move || sensitive().map(|s| bool_attr(s.limited))
            aria-labelledby=labelled_by
            node_ref=section
        >
            {heading(heading_level, title_id, text.title)}
            <p class="ccpa-optout__intro">{text.intro}</p>
            <Show
                when=move || confirmed().is_some()
                fallback=move || {
                    view! {
                        <p class="ccpa-optout__loading" data-testid="ccpa-optout-loading" hidden=move || phase() != Phase::Loading>
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
                    pending=Signal::derive(move || phase() == Phase::Pending)
                    state_id=state_id.clone()
                    described_by=described_by.clone()
                    flip=Callback::new(flip)
                />
                {move || gpc.then(|| widget.with(Widget::gpc_notice).map(|notice| gpc_notice(text, notice)))}
                <p class="ccpa-optout__scope" id=scope_id.clone() data-testid="ccpa-optout-scope">
                    {move || match scope.get() {
                        Scope::Account => text.account_note,
                        Scope::Browser => text.browser_note,
                    }}
                </p>
                <Show when=move || sensitive().is_some()>
                    <SensitiveSwitch client text state=Signal::derive(sensitive) announce=announcement saved=sensitive_saved id />
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

/// What the browser's Global Privacy Control signal did (§ 7025(c)(6)).
fn gpc_notice(text: &'static Strings, notice: GpcNotice) -> impl IntoView {
    let (heading, detail) = if notice.honored {
        (Some(text.gpc_honored), text.gpc_explain)
    } else {
        (None, text.gpc_waived)
    };
    view! {
        <div class="ccpa-optout__gpc" data-testid="ccpa-optout-gpc">
            {heading.map(|h| view! { <p class="ccpa-optout__gpc-status"><strong>{h}</strong></p> })}
            <p>{detail}</p>
            {notice.invitation.then(|| view! { <p data-testid="ccpa-optout-gpc-conflict">{text.gpc_conflict}</p> })}
        </div>
    }
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
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(loader::CHANGE_EVENT, &init) {
        let _ = section.dispatch_event(&event);
    }
}
