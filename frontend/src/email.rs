//! The opt-out by email, for visitors without a sign-in: one field, one
//! button, and one answer, the same whoever has the address.

use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;

use crate::client::ApiClient;
use ccpa_widget_state::i18n::Strings;

/// The form; `id` makes its field's id unique on the page.
#[component]
pub fn EmailForm(client: ApiClient, text: &'static Strings, id: usize) -> impl IntoView {
    let status = RwSignal::new("");
    // Mirrored in `data-state` for tests to wait on: idle, sending, sent,
    // invalid or failed.
    let state = RwSignal::new("idle");
    let busy = move || state.get() == "sending";
    let field = NodeRef::<leptos::html::Input>::new();
    let field_id = format!("ccpa-optout-{id}-email");
    let status_id = format!("ccpa-optout-{id}-email-status");
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(email) = field.get_untracked().map(|f| f.value()) else {
            return;
        };
        if state.get_untracked() == "sending" {
            return;
        }
        state.set("sending");
        status.set(text.saving);
        spawn_local_scoped_with_cancellation(async move {
            let answer = client.opt_out_by_email(email.trim()).await;
            let (said, ended) = match answer {
                Ok(true) => (text.email_sent, "sent"),
                Ok(false) => (text.email_invalid, "invalid"),
                Err(_) => (text.email_failed, "failed"),
            };
            status.set(said);
            state.set(ended);
            // Back to the field to mend what it says is wrong.
            if answer == Ok(false)
                && let Some(field) = field.get_untracked()
            {
                let _ = field.focus();
            }
        });
    };
    view! {
        // The proxy judges the address, so every language gets the same
        // message for one it refuses.
        <form
            class="ccpa-optout__email"
            data-testid="ccpa-optout-email"
            data-state=move || state.get()
            novalidate
            on:submit=submit
        >
            <p class="ccpa-optout__email-intro">{text.email_intro}</p>
            <label class="ccpa-optout__email-label" for=field_id.clone()>{text.email_label}</label>
            <input
                class="ccpa-optout__email-field"
                id=field_id
                type="email"
                name="email"
                autocomplete="email"
                aria-describedby=status_id.clone()
                aria-invalid=move || if state.get() == "invalid" { "true" } else { "false" }
                node_ref=field
            />
            <button type="submit" class="ccpa-optout__submit" aria-disabled=move || if busy() { "true" } else { "false" }>
                {text.email_submit}
            </button>
            <p class="ccpa-optout__email-status" id=status_id role="status" aria-live="polite" data-testid="ccpa-optout-email-status">
                {move || status.get()}
            </p>
        </form>
    }
}
