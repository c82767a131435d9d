//! Per-person state in the engine: the set of a person's events that are in effect. Indicators
//! are a pure function of this set, which is what makes results independent of arrival order,
//! duplicates and retractions (`events.md`, "Semantics").

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::event::{Event, Payload};
use crate::indicators::records::Records;
use crate::strata::Attributes;

/// Everything the engine knows about one (pseudonymised) person.
#[derive(Debug, Clone, Default)]
pub struct PersonState {
    /// Events, found by event id, retracted ones included so that a re-delivery stays a duplicate.
    events: BTreeSet<ById>,
    /// Ids retracted for this person; a retraction may name an event that has not arrived yet.
    retracted: BTreeSet<String>,
}

/// An event in a person's state, ordered and found by its id. The set keys on the event's own
/// id rather than a copy of it: the engine keeps tens of thousands of persons in memory, and a
/// second 64-character id per event cost 14-17 % of its peak memory
/// (docs/performance-history.md, "A person's events kept once").
#[derive(Debug, Clone)]
struct ById(Event);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.event_id
    }
}

impl Ord for ById {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.event_id.cmp(&other.0.event_id)
    }
}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal ids, as the order says (`Ord` and `Borrow` require the two to agree); two persons'
/// states compare their whole events (`PersonState`'s `PartialEq`).
impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.event_id == other.0.event_id
    }
}

impl Eq for ById {}

/// Two states are equal when they hold the same events, field for field, and the same retractions.
impl PartialEq for PersonState {
    fn eq(&self, other: &Self) -> bool {
        self.retracted == other.retracted && self.all_events().eq(other.all_events())
    }
}

impl Eq for PersonState {}

impl PersonState {
    /// Adds an event; `false` if its id is already known (a duplicate changes nothing).
    pub fn insert(&mut self, mut event: Event) -> bool {
        // The person is the key this state is stored under; no need to keep it per event.
        event.person = None;
        // One descent of the set: a known id leaves the event first recorded under it in place.
        self.events.insert(ById(event))
    }

    /// Retracts an event by id (it may arrive later); `true` if this changes the events in effect.
    pub fn retract(&mut self, event_id: &str) -> bool {
        self.retracted.insert(event_id.to_owned()) && self.events.contains(event_id)
    }

    pub fn knows(&self, event_id: &str) -> bool {
        self.events.contains(event_id)
    }

    fn event(&self, event_id: &str) -> Option<&Event> {
        self.events.get(event_id).map(|by_id| &by_id.0)
    }

    /// The events in effect, in event-time order (date, then occurred_at, recorded_at, id).
    pub fn effective(&self) -> Vec<&Event> {
        self.effective_without(&Additions::default())
    }

    /// The events that were in effect before `additions` were made.
    fn effective_without(&self, additions: &Additions) -> Vec<&Event> {
        let in_effect = |e: &&Event| {
            !additions.events.contains(&e.event_id)
                && (!self.retracted.contains(&e.event_id) || additions.retractions.contains(&e.event_id))
        };
        let mut events: Vec<&Event> = self.all_events().filter(in_effect).collect();
        events.sort_by(|a, b| {
            (a.occurred_at, a.recorded_at, &a.event_id).cmp(&(b.occurred_at, b.recorded_at, &b.event_id))
        });
        events
    }

    /// As [`PersonState::insert`], noting a new event in `additions`.
    pub fn insert_noting(&mut self, event: Event, additions: &mut Additions) -> bool {
        let id = event.event_id.clone();
        let inserted = self.insert(event);
        if inserted {
            additions.events.push(id);
        }
        inserted
    }

    /// As [`PersonState::retract`], noting a newly retracted id in `additions`.
    pub fn retract_noting(&mut self, event_id: &str, additions: &mut Additions) -> bool {
        if !self.retracted.contains(event_id) {
            additions.retractions.push(event_id.to_owned());
        }
        self.retract(event_id)
    }

    /// Takes `additions` back out: the state is again as it was before they were made.
    pub fn take_back(&mut self, additions: &Additions) {
        for id in &additions.events {
            self.events.remove(id.as_str());
        }
        for id in &additions.retractions {
            self.retracted.remove(id);
        }
    }

    /// The known events that `additions` inserted or retracted (a retraction still waiting for
    /// its target has none).
    pub fn changed_by<'a>(&'a self, additions: &'a Additions) -> impl Iterator<Item = &'a Event> {
        additions.events.iter().chain(&additions.retractions).filter_map(|id| self.event(id))
    }

    /// Every event known for the person, retracted ones included, in no particular order.
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().map(|by_id| &by_id.0)
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.retracted.is_empty()
    }
}

/// What a batch added to one person's state (events, retracted ids), noted as it adds them: the
/// engine sees the state as it was before the batch, and puts it back if the batch fails, from
/// these few ids instead of a copy of the person's whole state (copying and dropping the copies
/// was about a tenth of the engine's CPU, and a batch's copies a good part of its memory).
/// A batch adds a handful of ids to a person, so lists searched in order are enough.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Additions {
    events: Vec<String>,
    retractions: Vec<String>,
}

impl Additions {
    /// Adds what was noted in a later pass over the same batch: the two as one.
    pub fn absorb(&mut self, later: Additions) {
        self.events.extend(later.events);
        self.retractions.extend(later.retractions);
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
/// their current demographics. Read-only once made: the care records several families read
/// (referrals, ward stays) are read from `events` on first use and kept with the view.
pub struct PersonView<'a> {
    pub events: Vec<&'a Event>,
    pub attributes: Option<Attributes>,
    records: Records<'a>,
}

impl PersonState {
    pub fn view(&self) -> PersonView<'_> {
        PersonView::of(self.effective())
    }

    /// The view as it was before `additions` were made to the state.
    pub fn view_without(&self, additions: &Additions) -> PersonView<'_> {
        PersonView::of(self.effective_without(additions))
    }
}

impl<'a> PersonView<'a> {
    fn of(events: Vec<&'a Event>) -> Self {
        let attributes = attributes(&events);
        PersonView { events, attributes, records: Records::default() }
    }

    /// The records read from the events, for `indicators::records` to fill and share.
    pub(crate) fn records(&self) -> &Records<'a> {
        &self.records
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, date: &str, payload: &str) -> Event {
        serde_json::from_str(&format!(
            r#"{{"event_id": "{id}", "occurred_at": "{date}T10:00:00Z", "recorded_at": "{date}T10:00:00Z",
                "date": "{date}", "person": "p1", "payload": {payload}}}"#
        ))
        .expect("a canonical event")
    }

    fn smoking(id: &str, date: &str) -> Event {
        event(id, date, r#"{"type": "smoking_status", "status": "current"}"#)
    }

    fn ids(view: &PersonView) -> Vec<String> {
        view.events.iter().map(|e| e.event_id.clone()).collect()
    }

    #[test]
    fn additions_show_the_state_as_it_was_and_put_it_back() {
        let mut state = PersonState::default();
        state.insert(smoking("e1", "2024-01-05"));
        state.insert(smoking("e2", "2024-02-05"));
        state.insert(event(
            "d1",
            "2024-01-01",
            r#"{"type": "demographics", "birth_date": "1980-01-01", "sex": "2", "ethnic_category": "A", "imd_decile": 3}"#,
        ));
        state.retract("e2");
        state.retract("later");
        let before = state.clone();

        let mut additions = Additions::default();
        assert!(state.insert_noting(smoking("e3", "2024-01-20"), &mut additions));
        assert!(!state.insert_noting(smoking("e1", "2024-01-05"), &mut additions), "a duplicate");
        assert!(!state.insert(smoking("e1", "2024-06-30")), "a duplicate, whatever it now says");
        assert_eq!(state.event("e1").map(|e| e.date.to_string()).as_deref(), Some("2024-01-05"), "the first kept");
        assert!(state.retract_noting("e1", &mut additions), "retracts an event in effect");
        assert!(!state.retract_noting("e2", &mut additions), "already retracted");
        assert!(!state.retract_noting("e9", &mut additions), "awaits its target");
        assert!(state.insert_noting(smoking("e9", "2024-03-01"), &mut additions), "arrives retracted");
        assert_eq!(ids(&state.view()), ["d1", "e3"]);

        let as_it_was = state.view_without(&additions);
        assert_eq!(ids(&as_it_was), ids(&before.view()));
        assert_eq!(as_it_was.attributes, before.view().attributes);
        assert_eq!(ids(&as_it_was), ["d1", "e1"]);

        state.take_back(&additions);
        assert_eq!(state, before);
    }

    #[test]
    fn a_later_pass_absorbed_is_undone_with_the_first() {
        let mut state = PersonState::default();
        state.insert(smoking("e1", "2024-01-05"));
        let before = state.clone();
        let mut events = Additions::default();
        state.insert_noting(smoking("e2", "2024-02-05"), &mut events);
        let mut retractions = Additions::default();
        assert!(state.retract_noting("e1", &mut retractions));
        assert_eq!(ids(&state.view_without(&retractions)), ["e1", "e2"], "the state after the first pass");
        events.absorb(retractions);
        assert_eq!(ids(&state.view_without(&events)), ids(&before.view()));
        state.take_back(&events);
        assert_eq!(state, before);
    }

    #[test]
    fn states_are_equal_only_when_their_events_are() {
        let mut first = PersonState::default();
        first.insert(smoking("e1", "2024-01-05"));
        let mut same = PersonState::default();
        same.insert(smoking("e1", "2024-01-05"));
        assert_eq!(first, same);

        let mut other_payload = PersonState::default();
        other_payload.insert(event("e1", "2024-01-05", r#"{"type": "smoking_status", "status": "ex"}"#));
        assert_ne!(first, other_payload, "same id, another event");

        let mut other_date = PersonState::default();
        other_date.insert(smoking("e1", "2024-01-06"));
        assert_ne!(first, other_date, "same id, another date");

        same.retract("e2");
        assert_ne!(first, same, "a retraction waiting for its target");
    }

    #[test]
    fn events_are_found_by_id_whatever_order_they_came_in() {
        let mut state = PersonState::default();
        for (id, date) in [("e3", "2024-03-01"), ("e1", "2024-01-01"), ("e2", "2024-02-01")] {
            assert!(state.insert(smoking(id, date)));
        }
        assert!(!state.insert(smoking("e2", "2024-05-01")), "a known id is a duplicate, whatever it carries");
        assert!(state.knows("e1") && state.knows("e2") && state.knows("e3") && !state.knows("e4"));
        assert_eq!(state.event("e2").map(|e| e.date.to_string()), Some("2024-02-01".to_owned()));
        assert!(state.retract("e2"));
        assert_eq!(ids(&state.view()), ["e1", "e3"]);
    }
}
