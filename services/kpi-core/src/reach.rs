//! How far back a batch's additions to one person can change their contributions: the engine
//! recomputes a touched person's contributions, before and after the batch, only from that
//! month on ([`crate::contrib::contributions_from`]), instead of over their whole history.
//!
//! Why that is exact: every family decides a period's value from the events dated on or before
//! the period's end (`latest_within`, `open_on`, `alive_on`, a diagnosis "on or
//! before", an amount dated in the period), with three exceptions, each handled here:
//!
//! - **Episodes** (a referral, a ward stay, a detention) are read as a whole: a score dated
//!   after a discharge still pairs into the discharge's period, a contact dated before the
//!   referral was received counts once the referral is known. So a changed event of an episode
//!   reaches back to the earliest event of that episode. What an episode adds is dated on or
//!   after its earliest event (a discharge, a first contact, a stay's nights, an intervention),
//!   and what it does to another record looks only backwards (a death counts referrals open or
//!   contacts attended up to it; a section 3 converts a section 2 that started before it).
//! - **Demographics** apply to every period (latest wins over all time): a changed demographics
//!   record reaches back to the beginning.
//! - **Earliest-wins** records (the first death, the first diagnosis of a kind) change from the
//!   earlier of the old and new first record, which is the changed event's own date or later.
//!
//! The rule is checked against the full computation for random people and random batches in
//! `contrib_tests.rs`; a family that looks forward in time must widen it here.

use chrono::NaiveDate;

use crate::event::{Event, Payload};
use crate::person::{Additions, PersonState};

/// From which date a person's contributions can differ after a batch's additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// No event in effect changed (a retraction still waiting for its target, an event that
    /// arrived already retracted): the contributions are the same.
    Nothing,
    /// Periods ending before this date keep their values.
    From(NaiveDate),
    /// Any period can change.
    Everything,
}

/// The episode an event belongs to, as (kind, id): its events are read together.
fn episode(event: &Event) -> Option<(&'static str, &str)> {
    match &event.payload {
        Payload::ReferralReceived { referral_id, .. }
        | Payload::ReferralDischarged { referral_id }
        | Payload::CareContact { referral_id, .. }
        | Payload::OutcomeMeasure { referral_id, .. } => Some(("referral", referral_id)),
        Payload::WardStayStarted { ward_stay_id, .. }
        | Payload::WardStayEnded { ward_stay_id }
        | Payload::RestrictiveIntervention { ward_stay_id, .. } => Some(("ward_stay", ward_stay_id)),
        Payload::MhaDetentionStarted { detention_id, .. } | Payload::MhaDetentionEnded { detention_id } => {
            Some(("detention", detention_id))
        }
        _ => None,
    }
}

/// How far back `additions`, made to `state`, can change the person's contributions.
pub fn reach_of(state: &PersonState, additions: &Additions) -> Reach {
    let mut from: Option<NaiveDate> = None;
    let mut episodes: Vec<(&str, &str)> = Vec::new();
    for event in state.changed_by(additions) {
        if matches!(event.payload, Payload::Demographics { .. }) {
            return Reach::Everything;
        }
        from = Some(from.map_or(event.date, |d| d.min(event.date)));
        episodes.extend(episode(event));
    }
    let Some(mut from) = from else { return Reach::Nothing };
    if !episodes.is_empty() {
        // Retracted events included: the earliest date either view can hold is enough.
        for event in state.all_events() {
            if event.date < from && episode(event).is_some_and(|e| episodes.contains(&e)) {
                from = event.date;
            }
        }
    }
    Reach::From(from)
}
