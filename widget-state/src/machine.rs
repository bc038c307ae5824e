//! The widget's state machine: a [`Widget`] takes an [`Event`] (a click,
//! an answer, a timer) and gives back the [`Effect`]s the component carries
//! out (a request, a sentence for the live region, an event for the host
//! page, a move of focus).
//!
//! The switch only ever shows a value the proxy confirmed: a click moves it
//! to "saving" (announced, further clicks ignored), and it flips when the
//! answer comes, not before.

use ccpa_api::{OptOutState, SensitiveState};

/// Where the widget is; mirrored in `data-state` for tests to wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the choice; nothing to show yet.
    Loading,
    /// Showing the choice Campaign holds.
    Ready,
    /// A change is on its way to the proxy.
    Saving,
    /// The proxy recorded the choice; Campaign has not confirmed it yet.
    Pending,
    /// The last attempt failed; "Try again" repeats it.
    Error,
}

impl Phase {
    /// The value of `data-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Ready => "ready",
            Phase::Saving => "saving",
            Phase::Pending => "pending",
            Phase::Error => "error",
        }
    }
}

/// What the widget asks the proxy, so that "Try again" repeats exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Read the choice.
    Load,
    /// A quiet look whether a pending choice has been applied yet.
    Recheck,
    /// Change the choice to this value of `ccpaOptOut`.
    Save(bool),
}

/// Why a call did not give a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nobody is signed in (or the sign-in could not be renewed).
    SignedOut,
    /// Campaign has no (single) profile for this user.
    NoProfile,
    /// The proxy answered that it could not do it (upstream failure,
    /// storage), or with something we do not understand: worth a retry.
    Unavailable,
    /// No answer came: the network failed, or the request timed out. A
    /// save may or may not have reached the proxy.
    Unreachable,
    /// The proxy's limit for this customer or this address was reached:
    /// nothing was done, and asking again in a moment will work.
    Busy,
}

/// What happened to the widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The consumer flipped the switch.
    Flip,
    /// The consumer pressed "Try again".
    Retry,
    /// The browser is back online.
    Online,
    /// A look at a pending change is due (see [`crate::backoff`]).
    LookDue,
    /// The pause [`Effect::PauseThenLoad`] asked for is over.
    PauseOver(u32),
    /// The proxy answered an attempt, or no answer came.
    Answered(Attempt, Result<OptOutState, Failure>),
    /// The second switch saved (or saw applied) its choice.
    SensitiveSaved(SensitiveState),
}

/// What the component does for the widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Send this attempt, cancelling one still under way.
    Send(Attempt),
    /// Put this in the live region.
    Speak(Spoken),
    /// Tell the host page about a confirmed change (`ccpa-optout:change`).
    TellPage(OptOutState),
    /// After "Try again": focus the switch, or the heading until there is
    /// one, so that focus never falls to the page's start.
    KeepFocus,
    /// A read has shown the switch: if focus waits on the heading (after
    /// "Try again"), move it to the switch.
    FocusSwitchFromHeading,
    /// Send [`Event::PauseOver`] with this number after the pause the
    /// proxy asked for.
    PauseThenLoad(u32),
}

/// What the live region says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoken {
    /// Nothing (a load is silent).
    Nothing,
    /// A change is on its way.
    Saving,
    /// Campaign has the change.
    Saved,
    /// The proxy recorded the change; Campaign will have it later.
    Recorded,
}

/// Which explanation goes with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Nobody is signed in.
    SignedOut,
    /// Campaign has no (single) profile for them.
    NoProfile,
    /// Too many reads: wait a moment (the widget tries again by itself).
    BusyLoad,
    /// Too many changes: wait a moment, then try again.
    BusySave,
    /// The choice could not be read.
    LoadFailed,
    /// The proxy answered that the change was not made.
    SaveFailed,
    /// No answer came: the change may or may not have been made.
    SaveUnconfirmed,
}

/// What the widget says about Global Privacy Control (§ 7025(c)(6)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpcNotice {
    /// The signal was honoured: say so as a heading, and explain it;
    /// otherwise explain that the consumer's own choice to allow sale
    /// stands.
    pub honored: bool,
    /// Say how to allow sale again: only when the signal overrode the
    /// consumer's own choice to allow it (§ 7025(c)(3)). Otherwise an
    /// opt-out is not followed by an invitation to opt back in (Civil Code
    /// § 1798.135(c)(4)).
    pub invitation: bool,
}

/// Everything the widget shows, and what it is waiting for. Only events
/// change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    phase: Phase,
    /// The choice the proxy last confirmed, once known.
    confirmed: Option<bool>,
    /// What failed last, and why; cleared by the next attempt.
    failed: Option<(Attempt, Failure)>,
    /// The proxy honoured the browser's GPC signal.
    honored: bool,
    /// GPC overrode the consumer's own choice to allow sale, on this load.
    conflict: bool,
    /// The second choice, where the proxy offers it.
    sensitive: Option<SensitiveState>,
    /// Each save is a change of its own: its rechecks start afresh.
    saves: u32,
    /// Each pause too: only the latest one's end sends a read.
    pauses: u32,
}

impl Widget {
    /// A widget starting to read its choice, and what to do for that.
    pub fn start() -> (Self, Vec<Effect>) {
        let mut widget = Self {
            phase: Phase::Loading,
            confirmed: None,
            failed: None,
            honored: false,
            conflict: false,
            sensitive: None,
            saves: 0,
            pauses: 0,
        };
        let effects = widget.run(Attempt::Load);
        (widget, effects)
    }

    /// Moves on by `event`; what to do for it.
    pub fn on(&mut self, event: Event) -> Vec<Effect> {
        match event {
            // No double submits while loading or saving. A pending choice
            // may be changed: the latest choice wins.
            Event::Flip => match (self.phase, self.confirmed) {
                (Phase::Loading | Phase::Saving, _) | (_, None) => vec![],
                (_, Some(current)) => self.run(Attempt::Save(!current)),
            },
            Event::Retry => match self.failed {
                Some((attempt, _)) => {
                    let mut effects = self.run(attempt);
                    effects.push(Effect::KeepFocus);
                    effects
                }
                None => vec![],
            },
            // A read that failed for want of a network is tried again as
            // soon as the browser is back online. A failed save waits for
            // "Try again": nothing is sent unasked.
            Event::Online => self.again_if_failed(Attempt::Load, Failure::Unreachable),
            Event::PauseOver(pause) if pause == self.pauses => {
                self.again_if_failed(Attempt::Load, Failure::Busy)
            }
            Event::PauseOver(_) => vec![],
            Event::LookDue if self.phase == Phase::Pending => self.run(Attempt::Recheck),
            Event::LookDue => vec![],
            // A click started a save meanwhile: its answer is the newer one.
            Event::Answered(Attempt::Recheck, _) if self.phase != Phase::Pending => vec![],
            Event::Answered(attempt, Ok(state)) => self.confirm(attempt, state),
            // The choice is recorded either way; look again later.
            Event::Answered(Attempt::Recheck, Err(_)) => vec![],
            Event::Answered(attempt, Err(failure)) => self.fail(attempt, failure),
            Event::SensitiveSaved(saved) => {
                self.sensitive = Some(saved);
                vec![Effect::TellPage(OptOutState {
                    ccpa_opt_out: self.confirmed.unwrap_or(false),
                    pending: self.phase == Phase::Pending,
                    gpc_honored: self.honored,
                    sensitive: Some(saved),
                    signal_applied: false,
                    gpc_conflict: false,
                })]
            }
        }
    }

    /// Where it is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The choice the proxy last confirmed, once known.
    pub fn confirmed(&self) -> Option<bool> {
        self.confirmed
    }

    /// The second choice, where the proxy offers it.
    pub fn sensitive(&self) -> Option<SensitiveState> {
        self.sensitive
    }

    /// The change waiting for Campaign's confirmation, by its number, if
    /// any: what [`crate::backoff::Backoff::tick`] waits on.
    pub fn waiting(&self) -> Option<u32> {
        (self.phase == Phase::Pending).then_some(self.saves)
    }

    /// The explanation for the last failure, if it failed.
    pub fn trouble(&self) -> Option<Trouble> {
        let (attempt, failure) = self.failed?;
        let reading = !matches!(attempt, Attempt::Save(_));
        Some(match failure {
            Failure::SignedOut => Trouble::SignedOut,
            Failure::NoProfile => Trouble::NoProfile,
            Failure::Busy if reading => Trouble::BusyLoad,
            Failure::Busy => Trouble::BusySave,
            Failure::Unavailable | Failure::Unreachable if reading => Trouble::LoadFailed,
            // Only an answer says nothing changed; without one, the save
            // may have landed.
            Failure::Unavailable => Trouble::SaveFailed,
            Failure::Unreachable => Trouble::SaveUnconfirmed,
        })
    }

    /// What to say about GPC, on a page that sends it: nothing when the
    /// consumer opted out by their own hand.
    pub fn gpc_notice(&self) -> Option<GpcNotice> {
        let opted_out = self.confirmed.unwrap_or(false);
        (self.honored || !opted_out).then_some(GpcNotice {
            honored: self.honored,
            invitation: self.honored && self.conflict,
        })
    }

    /// Starts `attempt`: a load is silent, a save is announced when it
    /// starts and when it ends.
    fn run(&mut self, attempt: Attempt) -> Vec<Effect> {
        let (phase, spoken) = match attempt {
            Attempt::Load => (Phase::Loading, Spoken::Nothing),
            Attempt::Recheck => (Phase::Pending, Spoken::Nothing),
            Attempt::Save(_) => {
                self.saves = self.saves.wrapping_add(1);
                (Phase::Saving, Spoken::Saving)
            }
        };
        self.phase = phase;
        self.failed = None;
        vec![Effect::Speak(spoken), Effect::Send(attempt)]
    }

    fn again_if_failed(&mut self, attempt: Attempt, failure: Failure) -> Vec<Effect> {
        if self.failed == Some((attempt, failure)) {
            self.run(attempt)
        } else {
            vec![]
        }
    }

    fn confirm(&mut self, attempt: Attempt, mut state: OptOutState) -> Vec<Effect> {
        let mut effects = Vec::new();
        // A read shows the second switch the first time it carries its
        // state; from then on the switch keeps its own, which a read
        // started before its save must not undo. A save answers for its
        // own choice only.
        if self.sensitive.is_none() {
            self.sensitive = state.sensitive;
        }
        state.sensitive = self.sensitive;
        let changed = match attempt {
            // GPC (or this browser's opt-out) changed the choice as the
            // page loaded: a change like a click.
            Attempt::Load => state.signal_applied,
            Attempt::Save(_) => true,
            Attempt::Recheck => !state.pending,
        };
        if changed {
            effects.push(Effect::TellPage(state));
        }
        self.confirmed = Some(state.ccpa_opt_out);
        self.honored = state.gpc_honored;
        match attempt {
            Attempt::Load => {
                self.conflict = state.gpc_conflict;
                effects.push(Effect::FocusSwitchFromHeading);
            }
            // They chose: nothing left to tell them.
            Attempt::Save(_) => self.conflict = false,
            Attempt::Recheck => {}
        }
        self.phase = if state.pending {
            Phase::Pending
        } else {
            Phase::Ready
        };
        effects.push(Effect::Speak(match (attempt, state.pending) {
            (Attempt::Load, _) | (Attempt::Recheck, true) => Spoken::Nothing,
            (Attempt::Save(_) | Attempt::Recheck, false) => Spoken::Saved,
            (Attempt::Save(_), true) => Spoken::Recorded,
        }));
        effects
    }

    fn fail(&mut self, attempt: Attempt, failure: Failure) -> Vec<Effect> {
        self.failed = Some((attempt, failure));
        self.phase = Phase::Error;
        let mut effects = vec![Effect::Speak(Spoken::Nothing)];
        // The proxy asked for a pause: a read is tried again by itself
        // after it (a change waits for "Try again").
        if (attempt, failure) == (Attempt::Load, Failure::Busy) {
            self.pauses = self.pauses.wrapping_add(1);
            effects.push(Effect::PauseThenLoad(self.pauses));
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(opted_out: bool) -> OptOutState {
        OptOutState {
            ccpa_opt_out: opted_out,
            pending: false,
            gpc_honored: false,
            sensitive: None,
            signal_applied: false,
            gpc_conflict: false,
        }
    }

    fn pending(opted_out: bool) -> OptOutState {
        OptOutState {
            pending: true,
            ..state(opted_out)
        }
    }

    /// A widget that has read `read`.
    fn loaded(read: OptOutState) -> Widget {
        let (mut widget, _) = Widget::start();
        widget.on(Event::Answered(Attempt::Load, Ok(read)));
        widget
    }

    #[test]
    fn it_starts_by_reading_silently_and_shows_nothing_until_the_answer() {
        let (widget, effects) = Widget::start();
        assert_eq!(widget.phase, Phase::Loading);
        assert_eq!(widget.confirmed, None);
        assert_eq!(
            effects,
            [Effect::Speak(Spoken::Nothing), Effect::Send(Attempt::Load)]
        );
    }

    #[test]
    fn a_read_shows_the_state_and_tells_the_page_nothing_unless_a_signal_changed_it() {
        let (mut widget, _) = Widget::start();
        let effects = widget.on(Event::Answered(Attempt::Load, Ok(state(true))));
        assert_eq!((widget.phase, widget.confirmed), (Phase::Ready, Some(true)));
        assert!(!effects.iter().any(|e| matches!(e, Effect::TellPage(_))));
        assert!(effects.contains(&Effect::FocusSwitchFromHeading));

        let (mut widget, _) = Widget::start();
        let gpc = OptOutState {
            gpc_honored: true,
            signal_applied: true,
            ..state(true)
        };
        let effects = widget.on(Event::Answered(Attempt::Load, Ok(gpc)));
        assert!(effects.contains(&Effect::TellPage(gpc)));
    }

    #[test]
    fn a_flip_sends_the_opposite_of_what_is_shown_and_flips_only_on_the_answer() {
        let mut widget = loaded(state(false));
        let effects = widget.on(Event::Flip);
        assert_eq!(
            effects,
            [
                Effect::Speak(Spoken::Saving),
                Effect::Send(Attempt::Save(true))
            ]
        );
        assert_eq!(
            (widget.phase, widget.confirmed),
            (Phase::Saving, Some(false))
        );

        let effects = widget.on(Event::Answered(Attempt::Save(true), Ok(state(true))));
        assert_eq!((widget.phase, widget.confirmed), (Phase::Ready, Some(true)));
        assert_eq!(
            effects,
            [Effect::TellPage(state(true)), Effect::Speak(Spoken::Saved)]
        );
    }

    #[test]
    fn clicks_while_loading_or_saving_send_nothing() {
        let (mut widget, _) = Widget::start();
        assert_eq!(widget.on(Event::Flip), []);
        let mut widget = loaded(state(false));
        widget.on(Event::Flip);
        assert_eq!(widget.on(Event::Flip), [], "a double click sends one save");
    }

    #[test]
    fn a_recorded_change_is_pending_looked_at_again_and_announced_when_applied() {
        let mut widget = loaded(state(false));
        widget.on(Event::Flip);
        let effects = widget.on(Event::Answered(Attempt::Save(true), Ok(pending(true))));
        assert_eq!(widget.phase, Phase::Pending);
        assert!(effects.contains(&Effect::Speak(Spoken::Recorded)));
        let change = widget.waiting().expect("a pending change is waited on");

        assert_eq!(
            widget.on(Event::LookDue),
            [
                Effect::Speak(Spoken::Nothing),
                Effect::Send(Attempt::Recheck)
            ]
        );
        let effects = widget.on(Event::Answered(Attempt::Recheck, Ok(pending(true))));
        assert_eq!(
            effects,
            [Effect::Speak(Spoken::Nothing)],
            "still pending: quiet"
        );
        let effects = widget.on(Event::Answered(Attempt::Recheck, Err(Failure::Unreachable)));
        assert_eq!(
            (effects.as_slice(), widget.phase),
            (&[][..], Phase::Pending)
        );

        widget.on(Event::LookDue);
        let effects = widget.on(Event::Answered(Attempt::Recheck, Ok(state(true))));
        assert_eq!(widget.phase, Phase::Ready);
        assert_eq!(
            effects,
            [Effect::TellPage(state(true)), Effect::Speak(Spoken::Saved)]
        );
        assert_eq!(widget.waiting(), None);

        widget.on(Event::Flip);
        widget.on(Event::Answered(Attempt::Save(false), Ok(pending(false))));
        assert_ne!(widget.waiting(), Some(change), "each change has its number");
    }

    #[test]
    fn a_recheck_answered_after_a_new_click_changes_nothing() {
        let mut widget = loaded(state(false));
        widget.on(Event::Flip);
        widget.on(Event::Answered(Attempt::Save(true), Ok(pending(true))));
        widget.on(Event::LookDue);
        widget.on(Event::Flip);
        let before = widget.clone();
        let effects = widget.on(Event::Answered(Attempt::Recheck, Ok(pending(true))));
        assert_eq!(effects, []);
        assert_eq!(widget, before);
        assert_eq!(widget.on(Event::LookDue), [], "no look while saving");
    }

    #[test]
    fn each_failure_has_its_explanation_and_try_again_repeats_the_attempt() {
        let cases = [
            (Attempt::Load, Failure::SignedOut, Trouble::SignedOut),
            (Attempt::Save(true), Failure::NoProfile, Trouble::NoProfile),
            (Attempt::Load, Failure::Busy, Trouble::BusyLoad),
            (Attempt::Save(true), Failure::Busy, Trouble::BusySave),
            (Attempt::Load, Failure::Unreachable, Trouble::LoadFailed),
            (Attempt::Load, Failure::Unavailable, Trouble::LoadFailed),
            (
                Attempt::Save(true),
                Failure::Unavailable,
                Trouble::SaveFailed,
            ),
            (
                Attempt::Save(true),
                Failure::Unreachable,
                Trouble::SaveUnconfirmed,
            ),
        ];
        for (attempt, failure, trouble) in cases {
            let mut widget = loaded(state(false));
            if let Attempt::Save(_) = attempt {
                widget.on(Event::Flip);
            }
            widget.on(Event::Answered(attempt, Err(failure)));
            assert_eq!(widget.phase, Phase::Error);
            assert_eq!(widget.trouble(), Some(trouble), "{attempt:?} {failure:?}");
            assert_eq!(widget.confirmed, Some(false), "a failure flips nothing");

            let effects = widget.on(Event::Retry);
            assert_eq!(effects.last(), Some(&Effect::KeepFocus));
            assert!(effects.contains(&Effect::Send(attempt)));
            assert_eq!(widget.trouble(), None);
        }
    }

    /// The pause a busy read's answer asks for.
    fn pause_of(effects: &[Effect]) -> u32 {
        effects
            .iter()
            .find_map(|effect| match effect {
                Effect::PauseThenLoad(pause) => Some(*pause),
                _ => None,
            })
            .expect("a pause")
    }

    #[test]
    fn a_busy_read_is_tried_again_after_the_pause_once() {
        let busy = Event::Answered(Attempt::Load, Err(Failure::Busy));
        let (mut widget, _) = Widget::start();
        let pause = pause_of(&widget.on(busy));
        let effects = widget.on(Event::PauseOver(pause));
        assert!(effects.contains(&Effect::Send(Attempt::Load)));

        let (mut widget, _) = Widget::start();
        let pause = pause_of(&widget.on(busy));
        widget.on(Event::Retry);
        assert_eq!(
            widget.on(Event::PauseOver(pause)),
            [],
            "Try again came first"
        );

        // Try again, busy again: only the second pause's end reads.
        let second = pause_of(&widget.on(busy));
        assert_eq!(
            widget.on(Event::PauseOver(pause)),
            [],
            "the first pause is over"
        );
        let effects = widget.on(Event::PauseOver(second));
        assert!(effects.contains(&Effect::Send(Attempt::Load)));
    }

    #[test]
    fn only_a_read_lost_to_the_network_is_sent_again_by_itself_when_back_online() {
        let (mut widget, _) = Widget::start();
        widget.on(Event::Answered(Attempt::Load, Err(Failure::Unreachable)));
        assert!(
            widget
                .on(Event::Online)
                .contains(&Effect::Send(Attempt::Load))
        );

        let mut widget = loaded(state(false));
        widget.on(Event::Flip);
        widget.on(Event::Answered(
            Attempt::Save(true),
            Err(Failure::Unreachable),
        ));
        assert_eq!(widget.on(Event::Online), [], "a save waits to be asked");
    }

    #[test]
    fn gpc_is_explained_and_sale_offered_again_only_after_a_conflict() {
        let honored = OptOutState {
            gpc_honored: true,
            ..state(true)
        };
        let notice = |widget: &Widget| widget.gpc_notice();
        let plain = GpcNotice {
            honored: true,
            invitation: false,
        };
        assert_eq!(notice(&loaded(honored)), Some(plain));
        let conflict = OptOutState {
            gpc_conflict: true,
            ..honored
        };
        let mut widget = loaded(conflict);
        assert_eq!(
            notice(&widget),
            Some(GpcNotice {
                invitation: true,
                ..plain
            })
        );
        widget.on(Event::Flip);
        widget.on(Event::Answered(Attempt::Save(false), Ok(state(false))));
        assert_eq!(
            notice(&widget),
            Some(GpcNotice {
                honored: false,
                invitation: false
            }),
            "their own choice to allow sale stands, and is explained"
        );
        assert_eq!(notice(&loaded(state(true))), None, "their own opt-out");
    }

    #[test]
    fn the_second_switch_appears_with_the_first_read_and_keeps_its_own_state() {
        let limited = SensitiveState {
            limited: true,
            pending: false,
        };
        let unlimited = SensitiveState {
            limited: false,
            ..limited
        };
        let mut widget = loaded(OptOutState {
            sensitive: Some(unlimited),
            ..state(false)
        });
        assert_eq!(widget.sensitive, Some(unlimited));
        let effects = widget.on(Event::SensitiveSaved(limited));
        let [Effect::TellPage(told)] = effects.as_slice() else {
            panic!("one event for the page: {effects:?}");
        };
        assert_eq!(told.sensitive, Some(limited));
        widget.on(Event::Flip);
        let stale = OptOutState {
            sensitive: Some(unlimited),
            ..state(true)
        };
        let effects = widget.on(Event::Answered(Attempt::Save(true), Ok(stale)));
        assert_eq!(
            widget.sensitive,
            Some(limited),
            "an older read does not undo it"
        );
        assert!(effects.contains(&Effect::TellPage(OptOutState {
            sensitive: Some(limited),
            ..state(true)
        })));
    }
}
