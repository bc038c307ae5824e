//! The widget's logic with nothing of the browser in it: what the widget
//! shows and what it does next ([`machine`]), when it looks again at a
//! change Campaign has not confirmed ([`backoff`]), the names it shares
//! with its JavaScript loader ([`loader`]), and its texts ([`i18n`]), which
//! the loader's first paint shares too. The Leptos component only wires
//! these to the DOM and the network, so plain `cargo test` covers every
//! transition.

pub mod backoff;
pub mod i18n;
pub mod loader;
pub mod machine;

pub use machine::{Attempt, Effect, Event, Failure, GpcNotice, Phase, Spoken, Trouble, Widget};
