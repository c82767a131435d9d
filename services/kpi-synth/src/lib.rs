//! Seeded synthetic EPR events: the generator behind `kpi generate`, whose NDJSON `kpi produce`
//! publishes to the raw topic (`epr.events.v1`) exactly as a real feeder would.
//!
//! The data is shaped like a mental health trust in England so that every indicator in
//! `indicators.md` gets exercised: NHS numbers (and some local ids), adult-heavy ages,
//! England-like ethnic categories with a Black : White detention ratio of about four,
//! referrals to every service, contacts, diagnoses (SMI, dementia, common disorders), Mental
//! Health Act detentions with conversions, ward stays with out-of-area placements and
//! restrictive interventions, deaths, paired outcome scores, friends-and-family responses,
//! accommodation and smoking status. Some entries are backdated (arrive late), some are
//! retracted later, a configurable share of lines is invalid (one named mistake each) and
//! another share re-sent as byte-identical duplicates.
//!
//! Output is deterministic: the same [`SynthConfig`] always gives the same bytes. Each person
//! draws from a ChaCha8 stream of its own (`seed`, stream = person index), and no hash map is
//! ever iterated.
//!
//! Lines come out in arrival order (`recorded_at`), which a person-by-person generator cannot
//! stream directly. Memory stays bounded by passes: each pass covers whole months of arrival
//! time, regenerates every person (cheap: about a third of the run time), keeps only the lines
//! arriving in those months in one string arena with a 32-byte index entry per line, sorts and
//! writes them. Passes are planned from a sample of people to hold about
//! [`DEFAULT_MEMORY_BUDGET`] bytes each (or the budget given to
//! [`generate_with_memory_budget`]); the sort key (arrival, person, line) is a total order, so
//! the bytes do not depend on the plan. 1,000,000 people over 36 months (20 million lines,
//! 5.2 GB) take about 70 s in a handful of passes, within 0.9 GB of memory.

mod dist;
mod event;
mod invalid;
mod json;
mod lines;
mod nhs;
mod output;
mod pathways;
mod people;
mod time;

use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::io;

pub use invalid::KINDS as INVALID_KINDS;
pub use nhs::is_valid as nhs_number_is_valid;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// People who reach the trust during the window (at most 10,000,000).
    pub people: u32,
    /// Length of the window in calendar months.
    pub months: u32,
    /// First day of the first month.
    pub start: NaiveDate,
    pub seed: u64,
    /// Share of emitted lines that are invalid (each made from a valid event), e.g. 0.01.
    pub invalid_share: f64,
    /// Share of emitted lines that are byte-identical re-sends of an earlier line.
    pub duplicate_share: f64,
    /// Share of valid events that a later `event_retracted` undoes.
    pub retraction_share: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            people: 5_000,
            months: 24,
            start: NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date"),
            seed: 1,
            invalid_share: 0.01,
            duplicate_share: 0.0,
            retraction_share: 0.005,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Lines written (valid + invalid; duplicates included).
    pub lines: u64,
    /// Lines that keep the contract (retractions and duplicates of valid lines included).
    pub valid: u64,
    /// Lines that break it.
    pub invalid: u64,
    /// Invalid lines by kind, every kind of [`INVALID_KINDS`] present (zero included).
    pub invalid_by_kind: BTreeMap<&'static str, u64>,
    pub people: u32,
}

/// Default memory budget for the lines held at once (see [`generate_with_memory_budget`]).
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;

/// Writes the events of `cfg` to `out` as NDJSON (one raw event JSON per line), in arrival
/// order (`recorded_at`). `progress` is called now and then with the number of people done,
/// rising to `cfg.people` at the end (scaled across passes when there are several).
pub fn generate(cfg: &SynthConfig, out: &mut impl io::Write, progress: impl FnMut(u32)) -> io::Result<Summary> {
    generate_with_memory_budget(cfg, DEFAULT_MEMORY_BUDGET, out, progress)
}

/// [`generate`], holding about `memory_budget` bytes of lines at a time: larger runs take more
/// passes over the people. The output does not depend on the budget.
pub fn generate_with_memory_budget(
    cfg: &SynthConfig,
    memory_budget: u64,
    out: &mut impl io::Write,
    progress: impl FnMut(u32),
) -> io::Result<Summary> {
    output::run(cfg, memory_budget, out, progress)
}
