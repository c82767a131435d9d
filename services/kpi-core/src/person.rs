//! Per-person state in the engine: the set of a person's events that are in effect. Indicators
//! are a pure function of this set, which is what makes results independent of arrival order,
//! duplicates and retractions (`events.md`, "Semantics").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::{Event, Payload};
use crate::strata::Attributes;

/// Everything the engine knows about one (pseudonymised) person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonState {
    /// Events by event id, retracted ones included so that a re-delivery stays a duplicate.
    events: BTreeMap<String, Event>,
    /// Ids retracted for this person; a retraction may name an event that has not arrived yet.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    retracted: BTreeSet<String>,
}

impl PersonState {
    /// Adds an event; `false` if its id is already known (a duplicate changes nothing).
    pub fn insert(&mut self, mut event: Event) -> bool {
        if self.events.contains_key(&event.event_id) {
            return false;
        }
        // The person is the key this state is stored under; no need to keep it per event.
        event.person = None;
        self.events.insert(event.event_id.clone(), event);
        true
    }

    /// Retracts an event by id (it may arrive later); `true` if this changes the events in effect.
    pub fn retract(&mut self, event_id: &str) -> bool {
        self.retracted.insert(event_id.to_owned()) && self.events.contains_key(event_id)
    }

    pub fn knows(&self, event_id: &str) -> bool {
        self.events.contains_key(event_id)
    }

    /// The events in effect, in event-time order (date, then occurred_at, recorded_at, id).
    pub fn effective(&self) -> Vec<&Event> {
        let mut events: Vec<&Event> = self.events.values().filter(|e| !self.retracted.contains(&e.event_id)).collect();
        events.sort_by(|a, b| {
            (a.occurred_at, a.recorded_at, &a.event_id).cmp(&(b.occurred_at, b.recorded_at, &b.event_id))
        });
        events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.retracted.is_empty()
    }
}

/// Latest-wins selection (`events.md`): the record with the latest occurred_at, ties broken by
/// later recorded_at, then greater event id. `events` must be in [`PersonState::effective`] order,
/// so the last match wins.
pub fn latest<'a, T>(events: &[&'a Event], pick: impl Fn(&'a Event) -> Option<T>) -> Option<T> {
    events.iter().rev().find_map(|e| pick(e))
}

/// The person's current demographics, applied to every period.
pub fn attributes(events: &[&Event]) -> Option<Attributes> {
    latest(events, |e| match e.payload {
        Payload::Demographics { birth_date, sex, ethnic_category, imd_decile } => {
            Some(Attributes { birth_date, sex, ethnic_category, imd_decile })
        }
        _ => None,
    })
}

/// What the indicator families read: a person's events in effect, in event-time order, and
/// their current demographics.
pub struct PersonView<'a> {
    pub events: Vec<&'a Event>,
    pub attributes: Option<Attributes>,
}

impl PersonState {
    pub fn view(&self) -> PersonView<'_> {
        let events = self.effective();
        let attributes = attributes(&events);
        PersonView { events, attributes }
    }
}

/// End events dated before the start of the episode they close (a detention or a ward stay):
/// they break the contract (`ended_before_started`), have no effect on any indicator, and the
/// engine reports them to the dead-letter topic once both ends are known.
pub fn ended_before_started<'a>(events: &[&'a Event]) -> Vec<&'a Event> {
    let mut starts: BTreeMap<(&str, &str), chrono::NaiveDate> = BTreeMap::new();
    for event in events {
        match &event.payload {
            Payload::MhaDetentionStarted { detention_id, .. } => {
                starts.entry(("detention", detention_id)).or_insert(event.date);
            }
            Payload::WardStayStarted { ward_stay_id, .. } => {
                starts.entry(("ward_stay", ward_stay_id)).or_insert(event.date);
            }
            _ => {}
        }
    }
    events
        .iter()
        .filter(|event| {
            let key = match &event.payload {
                Payload::MhaDetentionEnded { detention_id } => ("detention", detention_id.as_str()),
                Payload::WardStayEnded { ward_stay_id } => ("ward_stay", ward_stay_id.as_str()),
                _ => return false,
            };
            starts.get(&key).is_some_and(|start| event.date < *start)
        })
        .copied()
        .collect()
}
