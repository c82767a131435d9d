//! Inside the engine's batch (see [`crate::batch`]): how long each step took, so that an operator
//! (and `kpi bench`) can see whether PostgreSQL or the engine's own computing holds batches up.

use std::time::{Duration, Instant};

/// The time of each step of a batch, so that an operator (and `kpi bench`) can see whether
/// PostgreSQL or the engine's own computing holds a batch up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepTimes {
    /// Reading back the persons not in memory (PostgreSQL).
    pub read_persons: Duration,
    /// Recording the events in `events_seen`, duplicates falling out (PostgreSQL). Runs beside
    /// `contributions`, so the two overlap.
    pub record_events: Duration,
    /// Applying events and retractions to person states, with the retraction bookkeeping
    /// (mostly PostgreSQL).
    pub apply_events: Duration,
    /// New minus old contributions of the changed persons (the engine, on every core), while
    /// PostgreSQL records the events; then, after them, those of the batch's retractions.
    pub contributions: Duration,
    /// Adding the count changes to `indicator_counts` (PostgreSQL).
    pub add_counts: Duration,
    /// Horizon, offsets, dead letters and the commit.
    pub commit: Duration,
}

impl StepTimes {
    /// The batch's time in all its steps (not counting waits between them; two of them overlap).
    pub fn total(&self) -> Duration {
        self.labelled().iter().map(|(_, time)| *time).sum()
    }

    /// Each step with its metric label.
    pub fn labelled(&self) -> [(&'static str, Duration); 6] {
        [
            ("read_persons", self.read_persons),
            ("record_events", self.record_events),
            ("apply_events", self.apply_events),
            ("contributions", self.contributions),
            ("add_counts", self.add_counts),
            ("commit", self.commit),
        ]
    }
}

/// Measures consecutive steps: each call returns the time since the previous one.
pub(crate) struct Stopwatch(Instant);

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Stopwatch(Instant::now())
    }

    pub(crate) fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let lap = now - self.0;
        self.0 = now;
        lap
    }
}
