//! One `role="switch"`, the sentence that says what it is set to, and the
//! note shown while a change waits for Campaign: the same markup for both of
//! the widget's choices, compiled once (each copy of a view costs wasm).

use leptos::prelude::*;

/// ARIA states are the strings "true" and "false".
pub fn bool_attr(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// What tells one switch from the other.
pub struct Texts {
    /// The switch's name.
    pub label: &'static str,
    /// The sentence while it is on.
    pub on: &'static str,
    /// The sentence while it is off.
    pub off: &'static str,
    /// The note while a change waits for Campaign.
    pub pending: &'static str,
    /// The prefix of its test ids: `<prefix>-switch`, `-state`, `-pending`.
    pub test_id: &'static str,
}

/// The switch, showing `checked`; a click asks `flip` (which decides
/// whether anything happens: the switch only shows confirmed values).
#[component]
pub fn Switch(
    texts: Texts,
    checked: Signal<bool>,
    busy: Signal<bool>,
    pending: Signal<bool>,
    /// The id of its state sentence.
    state_id: String,
    /// Everything that describes it, the state sentence first.
    described_by: String,
    flip: Callback<()>,
) -> impl IntoView {
    let Texts {
        label,
        on,
        off,
        pending: waiting,
        test_id,
    } = texts;
    view! {
        <button
            type="button"
            role="switch"
            class="ccpa-optout__switch"
            data-testid=format!("{test_id}-switch")
            aria-checked=move || bool_attr(checked.get())
            aria-describedby=described_by
            aria-disabled=move || bool_attr(busy.get())
            aria-busy=move || bool_attr(busy.get())
            on:click=move |_| flip.run(())
        >
            <span class="ccpa-optout__track" aria-hidden="true">
                <span class="ccpa-optout__thumb"></span>
            </span>
            <span class="ccpa-optout__label">{label}</span>
        </button>
        <p class="ccpa-optout__state" id=state_id data-testid=format!("{test_id}-state")>
            {move || if checked.get() { on } else { off }}
        </p>
        <p class="ccpa-optout__pending" data-testid=format!("{test_id}-pending") hidden=move || !pending.get()>
            {waiting}
        </p>
    }
}
