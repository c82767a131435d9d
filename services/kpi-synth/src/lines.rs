//! One person's output lines (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw
//! topic): the valid events in entry order, retractions of some of them, invalid lines (a
//! realistic mistake each) and byte-identical duplicates, each with its arrival time.
//!
//! Every random choice is made here, from the person's own ChaCha8 stream (seed, stream =
//! person index), so a person's lines are the same whichever pass of the output asks for them
//! and whichever lines that pass writes.

use crate::dist::{self, chance, Rng};
use crate::event::{Event, Payload};
use crate::invalid;
use crate::people::Person;
use crate::time::{Window, MINUTE};
use crate::SynthConfig;
use rand::{Rng as _, SeedableRng};

/// Event numbers are `person.no * EVENTS_PER_PERSON + seq`, so ids never collide.
pub const EVENTS_PER_PERSON: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Valid,
    /// An invalid line: the index of its kind in [`invalid::KINDS`], and a salt for the
    /// choices made while writing it.
    Invalid {
        kind: usize,
        salt: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Line {
    /// When the line reaches the feed (its `recorded_at`, later for a duplicate).
    pub arrival: i64,
    /// Tie-break among the person's lines with the same arrival.
    pub order: u32,
    /// Index of the event the line is made from.
    pub event: u32,
    /// The `seq` of its event id (a duplicate repeats its original's).
    pub seq: u32,
    pub kind: Kind,
}

pub struct PersonLines {
    pub person: Person,
    pub events: Vec<Event>,
    pub lines: Vec<Line>,
}

pub fn person_rng(seed: u64, idx: u32) -> Rng {
    let mut rng = Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(idx));
    rng
}

pub fn person_lines(cfg: &SynthConfig, win: &Window, idx: u32) -> PersonLines {
    let mut rng = person_rng(cfg.seed, idx);
    let person = Person::new(idx, cfg.seed, &mut rng, win);
    let mut events = crate::pathways::person_events(&person, &mut rng, win);
    events.sort_by_key(|e| (e.recorded, e.occurred));
    let cap = (EVENTS_PER_PERSON / 2) as usize;
    events.truncate(cap);
    let no = person.no;

    // Retractions: a later entry that undoes one valid event.
    let valid = events.len();
    for i in 0..valid {
        if chance(&mut rng, cfg.retraction_share) && events.len() < cap {
            let after = MINUTE * 10 + dist::days(dist::exponential(&mut rng, 2.0).min(30.0));
            let at = (events[i].recorded + after).min(win.end - 1).max(events[i].recorded);
            let target = no * EVENTS_PER_PERSON + i as u64;
            let with_person = chance(&mut rng, 0.5);
            let payload = Payload::Retracted { target, with_person };
            events.push(Event { occurred: at, recorded: at, show_recorded: chance(&mut rng, 0.5), payload });
        }
    }

    let mut lines: Vec<Line> = (0..events.len())
        .map(|i| Line {
            arrival: events[i].recorded,
            order: i as u32,
            event: i as u32,
            seq: i as u32,
            kind: Kind::Valid,
        })
        .collect();
    let mut next = events.len() as u32;

    // Invalid lines: `invalid_share` of all lines, each made from a valid one.
    let q_invalid = odds(cfg.invalid_share);
    for i in 0..lines.len() {
        if chance(&mut rng, q_invalid) && u64::from(next) < EVENTS_PER_PERSON {
            let kind = rng.gen_range(0..invalid::KINDS.len());
            let salt = rng.gen();
            lines.push(Line { order: next, seq: next, kind: Kind::Invalid { kind, salt }, ..lines[i] });
            next += 1;
        }
    }

    // Duplicates: `duplicate_share` of all lines, re-sent byte-identical a little later.
    let q_duplicate = odds(cfg.duplicate_share);
    for i in 0..lines.len() {
        if chance(&mut rng, q_duplicate) {
            let later = dist::int(&mut rng, 1, 6 * 3600);
            let arrival = (lines[i].arrival + later).min(win.end - 1).max(lines[i].arrival);
            lines.push(Line { arrival, order: next, ..lines[i] });
            next += 1;
        }
    }
    PersonLines { person, events, lines }
}

/// The chance per existing line that gives a share `s` of all lines.
fn odds(s: f64) -> f64 {
    if s <= 0.0 {
        0.0
    } else {
        s / (1.0 - s)
    }
}

impl PersonLines {
    pub fn event_no(&self, seq: u32) -> u64 {
        self.person.no * EVENTS_PER_PERSON + u64::from(seq)
    }

    /// Appends the line's JSON (no newline).
    pub fn render(&self, line: &Line, out: &mut String) {
        let event = &self.events[line.event as usize];
        let no = self.event_no(line.seq);
        match line.kind {
            Kind::Valid => event.to_json(no, &self.person.id).write(out),
            Kind::Invalid { kind, salt } => invalid::render(kind, salt, event, no, &self.person, out),
        }
    }
}
