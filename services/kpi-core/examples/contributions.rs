//! The engine's largest CPU cost measured alone: a batch's count changes, computed from each
//! touched person's state before and after it (`kpi-engine`'s `batch::differences_of`, on one
//! core here), over the synthetic feed the bench uses, in arrival order and in batches. No broker,
//! no database: a change to `contrib` or to the families shows here first, without the noise of
//! a whole `kpi bench` run
//! (docs/performance-history.md, "Contributions measured alone").
//!
//! `cargo run --release -p kpi-core --example contributions -- [EVENTS] [PEOPLE] [BATCH] [ROUNDS]`
//! (defaults 1000000 100000 20000 3: the bench's default feed and batch size).
//!
//! It prints the time of each round and checks that the changes summed over every batch equal
//! the final states' whole contributions (the invariant the engine keeps in `indicator_counts`).

use std::collections::HashMap;
use std::time::Instant;

use kpi_core::contrib::{add_change, add_counts, add_difference, person_contributions, Counts};
use kpi_core::person::{Additions, PersonState};
use kpi_core::reach::{reach_of, Reach};
use kpi_core::validate::decode;
use kpi_core::{Event, Payload, Pseudonymiser};
use kpi_synth::SynthConfig;

/// The allocator the engine runs with (`kpi`'s `main.rs`): allocation is part of the cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| {
        args.get(i).map_or(default, |a| {
            a.parse().unwrap_or_else(|_| {
                panic!("argument {i} is {a:?}; expected a whole number (EVENTS PEOPLE BATCH ROUNDS)")
            })
        })
    };
    let (events, people, batch, rounds) = (arg(1, 1_000_000), arg(2, 100_000), arg(3, 20_000), arg(4, 3));

    let started = Instant::now();
    let feed = canonical_feed(events, people);
    eprintln!("{} canonical events of {people} people in {:.1} s", feed.len(), started.elapsed().as_secs_f64());

    let mut best = f64::INFINITY;
    for round in 1..=rounds {
        let (seconds, summed, states) = run(&feed, batch);
        best = best.min(seconds);
        let mut whole = Counts::default();
        for state in states.values() {
            add_counts(&mut whole, person_contributions(state));
        }
        let mut difference = Counts::default();
        add_difference(&mut difference, &whole, &summed);
        assert!(difference.is_empty(), "{} cells where the batches' changes differ from the whole", difference.len());
        println!(
            "round {round}: {:.2} s, {:.2} µs an event, {:.1} ms a batch of {batch}; {} cells, equal to the whole",
            seconds,
            seconds * 1e6 / feed.len() as f64,
            seconds * 1e3 * batch as f64 / feed.len() as f64,
            summed.len()
        );
    }
    println!("best of {rounds}: {best:.2} s for {} events", feed.len());
}

/// The bench's feed: the generator's first `events` lines over `people` and 36 months,
/// validated and pseudonymised as ingest does (refused lines and retractions left out).
fn canonical_feed(events: usize, people: usize) -> Vec<Event> {
    let cfg = SynthConfig { people: people as u32, months: 36, ..SynthConfig::default() };
    let mut ndjson = Vec::new();
    kpi_synth::generate(&cfg, &mut ndjson, |_| {}).expect("in-memory generation");
    let pseudonymiser = Pseudonymiser::new(&[3; 32]).expect("a long enough key");
    ndjson
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .take(events)
        .filter_map(|line| decode(line, None).ok())
        .filter(|event| !matches!(event.payload, Payload::EventRetracted { .. }))
        .map(|mut event| {
            pseudonymiser.pseudonymise(&mut event);
            event
        })
        .collect()
}

/// Applies the feed batch by batch; times only the count changes. Returns the seconds, the
/// changes summed over all batches and the final states.
fn run(feed: &[Event], batch: usize) -> (f64, Counts, HashMap<String, PersonState>) {
    let mut states: HashMap<String, PersonState> = HashMap::new();
    let mut summed = Counts::default();
    let mut seconds = 0.0;
    for events in feed.chunks(batch) {
        let mut touched: HashMap<String, (bool, Additions)> = HashMap::new();
        for event in events {
            let person = event.person.clone().expect("a canonical event names its person");
            let (_, additions) =
                touched.entry(person.clone()).or_insert_with(|| (!states.contains_key(&person), Additions::default()));
            states.entry(person).or_default().insert_noting(event.clone(), additions);
        }
        let started = Instant::now();
        let mut deltas = Counts::default();
        for (person, (new, additions)) in &touched {
            let state = &states[person];
            let from = if *new {
                None
            } else {
                match reach_of(state, additions) {
                    Reach::Nothing => continue,
                    Reach::From(date) => Some(date),
                    Reach::Everything => None,
                }
            };
            let before = (!*new).then(|| state.view_without(additions));
            add_change(&mut deltas, before.as_ref(), &state.view(), from);
        }
        seconds += started.elapsed().as_secs_f64();
        add_counts(&mut summed, deltas);
    }
    (seconds, summed, states)
}
