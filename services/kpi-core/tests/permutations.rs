//! Arrival order never changes a number (canonical topic → `kpi engine`'s semantics, here the
//! in-memory [`Replay`] → counts → `values::compute`, what `kpi publisher` publishes): a feed of
//! a few people from kpi-synth, every event type, with hand-made awkward events mixed in, gives
//! the same counts and the same values in every arrival order proptest tries, with repeats.
//!
//! A failure shrinks to an arrival order, a list of feed indices (one given twice is a repeat)
//! as close to the feed's own order as proptest can get it, so the events whose order matters
//! stand out.

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use kpi_core::contrib::Counts;
use kpi_core::replay::Replay;
use kpi_core::values::{compute, month_range, IndicatorValue};
use kpi_core::{Event, Payload};
use kpi_synth::SynthConfig;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;

/// What one arrival order gives: the engine's counts and the publisher's values.
#[derive(Debug)]
struct Numbers {
    counts: Counts,
    values: Vec<IndicatorValue>,
}

struct Feed {
    events: Vec<Event>,
    reference: Numbers,
}

/// Synthetic people until the feed has about 200 events, plus [`awkward`] events. Synth lines
/// arrive in `recorded_at` order with its own byte-identical repeats and retractions (always
/// after their target); the permutations put retractions before their targets too.
fn feed() -> &'static Feed {
    static FEED: OnceLock<Feed> = OnceLock::new();
    FEED.get_or_init(|| {
        let cfg = SynthConfig {
            people: 10,
            months: 24,
            seed: 5,
            invalid_share: 0.0,
            duplicate_share: 0.05,
            retraction_share: 0.05,
            ..SynthConfig::default()
        };
        let raw = common::synthetic_feed(&cfg);
        let awkward = awkward(&raw);
        let mut events: Vec<Event> = common::accepted(raw.lines().chain(awkward.iter().map(String::as_str)));
        // A repeat of the first event at the end, so the feed's own order has one too.
        events.push(events[0].clone());
        let kinds: BTreeSet<&str> = events.iter().map(|e| e.payload.kind()).collect();
        assert_eq!(kinds.len(), 16, "every event type must be in the feed, got {kinds:?}");
        assert!((180..=260).contains(&events.len()), "{} events: retune `people`", events.len());
        let reference = numbers(&events);
        assert!(reference.counts.len() > 1_000, "the feed must count for something");
        Feed { events, reference }
    })
}

/// Events the generator does not make, built around its people and events: a retraction sent
/// without a person, one of a retraction, two of the same event, one of an id that never
/// arrives, a demographics tie broken only by `event_id`, an end dated before its start, and a
/// death late at night (British Summer Time puts it on the next day).
fn awkward(raw: &str) -> Vec<String> {
    let lines: Vec<serde_json::Value> = raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let with = |kind: &'static str| lines.iter().filter(move |l| l.get(kind).is_some());
    let id = |l: &serde_json::Value| l["event_id"].as_str().unwrap().to_owned();
    let referral = with("referral_received").next().expect("a referral");
    let person = referral["person_id"].as_str().unwrap();
    let existing_retraction = with("event_retracted").next().expect("a retraction");
    let contact = with("care_contact").nth(1).expect("a contact");
    let demographics = with("demographics").next().expect("demographics");
    let retract = |n: u32, target: String, person: Option<&str>| {
        let mut line = json!({"event_id": format!("awk-{n}"), "occurred_at": "2024-06-01T09:00:00Z",
                              "event_retracted": {"retracted_event_id": target}});
        if let Some(person) = person {
            line["person_id"] = json!(person);
        }
        line.to_string()
    };
    let mut tie = demographics.clone();
    tie["event_id"] = json!("awk-tie");
    tie["demographics"]["ethnic_category"] = json!("M");
    vec![
        retract(1, id(referral), None),
        retract(2, id(existing_retraction), Some(person)),
        retract(3, id(contact), Some(person)),
        retract(4, id(contact), None),
        retract(5, "never-arrives".into(), Some(person)),
        tie.to_string(),
        json!({"event_id": "awk-ward-start", "occurred_at": "2024-03-10T10:00:00Z", "person_id": person,
               "ward_stay_started": {"ward_stay_id": "awk-w", "ward_code": "W1", "out_of_area": false}})
        .to_string(),
        json!({"event_id": "awk-death", "occurred_at": "2024-09-30T23:30:00Z", "person_id": person,
               "death": {"cause": "suspected_suicide", "place": "usual_residence"}})
        .to_string(),
        json!({"event_id": "awk-ward-end", "occurred_at": "2024-03-01T10:00:00Z", "person_id": person,
               "ward_stay_ended": {"ward_stay_id": "awk-w"}})
        .to_string(),
    ]
}

fn numbers<'a>(arrivals: impl IntoIterator<Item = &'a Event>) -> Numbers {
    let mut replay = Replay::default();
    for event in arrivals {
        replay.apply(event.clone());
    }
    let counts = replay.counts();
    let range = month_range(&counts, replay.horizon().expect("events applied")).expect("counted months");
    let values = compute(&counts, &common::population(), range);
    Numbers { counts, values }
}

/// The first difference, described briefly (the full maps would drown the failure).
fn difference(got: &Numbers, want: &Numbers) -> Option<String> {
    for key in got.counts.keys().chain(want.counts.keys()) {
        let (g, w) = (got.counts.get(key), want.counts.get(key));
        if g != w {
            return Some(format!("count {key:?}: {g:?}, feed order gives {w:?}"));
        }
    }
    if got.values.len() != want.values.len() {
        return Some(format!("{} values, feed order gives {}", got.values.len(), want.values.len()));
    }
    // Exactly equal; the Debug text compares a NaN with a NaN (rare, so cheap enough).
    let same = |a: &IndicatorValue, b: &IndicatorValue| a == b || format!("{a:?}") == format!("{b:?}");
    let (g, w) = got.values.iter().zip(&want.values).find(|(g, w)| !same(g, w))?;
    Some(format!("value {g:?}, feed order gives {w:?}"))
}

/// An arrival order: every feed index once, plus up to 30 repeats of random events, shuffled.
fn arrivals() -> impl Strategy<Value = Vec<usize>> {
    let n = feed().events.len();
    prop::collection::vec(any::<Index>(), 0..=30).prop_flat_map(move |repeats| {
        let mut order: Vec<usize> = (0..n).collect();
        order.extend(repeats.iter().map(|i| i.index(n)));
        Just(order).prop_shuffle()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_arrival_order_with_repeats_gives_the_same_counts_and_values(order in arrivals()) {
        let feed = feed();
        let got = numbers(order.iter().map(|&i| &feed.events[i]));
        if let Some(difference) = difference(&got, &feed.reference) {
            prop_assert!(false, "{difference}");
        }
    }
}

/// The awkward events do something: the retracted referral and contact are gone, the tie is
/// decided the same way every time (checked above), and a retraction arriving first still works.
#[test]
fn retractions_count_whichever_side_of_their_target_they_arrive() {
    let feed = feed();
    let retractions: Vec<usize> =
        (0..feed.events.len()).filter(|&i| matches!(feed.events[i].payload, Payload::EventRetracted { .. })).collect();
    assert!(retractions.len() >= 6, "synth and awkward retractions: {retractions:?}");
    let without: Vec<&Event> =
        feed.events.iter().filter(|e| !matches!(e.payload, Payload::EventRetracted { .. })).collect();
    assert!(difference(&numbers(without), &feed.reference).is_some(), "the retractions must change the numbers");
    // Retractions first, then everything else: each target arrives after its retraction.
    let first = retractions.iter().map(|&i| &feed.events[i]);
    let rest = feed.events.iter().filter(|e| !matches!(e.payload, Payload::EventRetracted { .. }));
    let got = numbers(first.chain(rest));
    assert_eq!(difference(&got, &feed.reference), None);
}
