//! The whole engine's semantics in memory: dedupe, retractions (before or after their target),
//! person state, and the summed contributions. The e2e tests and the demo compare the warehouse
//! with this; the engine service must always agree with it.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::contrib::{person_contributions, Counts};
use crate::event::{Event, Payload};
use crate::person::{ended_before_started, PersonState};

#[derive(Default)]
pub struct Replay {
    seen: HashSet<String>,
    persons: HashMap<String, PersonState>,
    /// Which person each applied (non-retraction) event belongs to.
    owner: HashMap<String, String>,
    /// Retraction targets, applied as soon as the target's person is known.
    retracted: HashSet<String>,
    /// The latest date of any applied event: the engine's data horizon.
    horizon: Option<NaiveDate>,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    New,
    Duplicate,
}

impl Replay {
    /// Applies one validated, pseudonymised event.
    pub fn apply(&mut self, event: Event) -> Applied {
        if !self.seen.insert(event.event_id.clone()) {
            return Applied::Duplicate;
        }
        self.horizon = self.horizon.max(Some(event.date));
        match (&event.payload, &event.person) {
            (Payload::EventRetracted { retracted_event_id }, _) => {
                let target = retracted_event_id.clone();
                if let Some(person) = self.owner.get(&target) {
                    self.persons.get_mut(person).expect("owner has state").retract(&target);
                }
                self.retracted.insert(target);
            }
            (_, Some(person)) => {
                let person = person.clone();
                let id = event.event_id.clone();
                let state = self.persons.entry(person.clone()).or_default();
                state.insert(event);
                if self.retracted.contains(&id) {
                    state.retract(&id);
                }
                self.owner.insert(id, person);
            }
            // Validation guarantees a person on every other event type.
            (_, None) => {}
        }
        Applied::New
    }

    /// The warehouse counts these events must produce.
    pub fn counts(&self) -> Counts {
        let mut total = Counts::default();
        for state in self.persons.values() {
            for (key, tally) in person_contributions(state) {
                *total.entry(key).or_default() += tally;
            }
        }
        total.retain(|_, tally| !tally.is_zero());
        total
    }

    /// The latest event date applied, up to which values are published.
    pub fn horizon(&self) -> Option<NaiveDate> {
        self.horizon
    }

    /// End events in effect dated before their episode's start: what the engine dead-letters as
    /// `ended_before_started` once it knows both ends.
    pub fn ended_before_started(&self) -> usize {
        self.persons.values().map(|state| ended_before_started(&state.effective()).len()).sum()
    }

    pub fn people(&self) -> usize {
        self.persons.len()
    }
}
