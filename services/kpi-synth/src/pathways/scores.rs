//! Outcome measure ratings (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw topic):
//! item vectors that add up to a wanted total, with first and last scores that improve on
//! average (PHQ-9 and GAD-7 in talking therapies, HoNOS and ReQoL-10 elsewhere).

use crate::dist::{self, chance, Rng};
use crate::event::Instrument;
use rand::Rng as _;

/// Items of `instrument` summing to `total` (clamped to the possible range).
pub fn items(rng: &mut Rng, instrument: Instrument, total: f64) -> Vec<u8> {
    let n = instrument.items();
    let max = instrument.max_item();
    let total = (total.round().max(0.0) as usize).min(n * usize::from(max));
    let mut items = vec![0_u8; n];
    let mut left = total;
    while left > 0 {
        let i = rng.gen_range(0..n);
        if items[i] < max {
            items[i] += 1;
            left -= 1;
        }
    }
    if instrument == Instrument::Honos && chance(rng, 0.08) {
        // One or two items rated 9, "not known" (allowed up to two).
        let unknown = if chance(rng, 0.3) { 2 } else { 1 };
        for _ in 0..unknown {
            let i = rng.gen_range(0..n);
            items[i] = 9;
        }
    }
    items
}

/// First and last totals of a talking therapies course: (PHQ-9, GAD-7) at assessment and at
/// the end, with an improvement that lets about half recover.
pub struct TtCourse {
    pub phq: (f64, f64),
    pub gad: (f64, f64),
}

impl TtCourse {
    pub fn draw(rng: &mut Rng) -> TtCourse {
        let severity = dist::std_normal(rng);
        let phq0 = (14.5 + 5.0 * severity + dist::normal(rng, 0.0, 2.0)).clamp(0.0, 27.0);
        let gad0 = (12.0 + 4.0 * severity + dist::normal(rng, 0.0, 2.0)).clamp(0.0, 21.0);
        let change = dist::normal(rng, 0.52, 0.32);
        let phq1 = (phq0 * (change + dist::normal(rng, 0.0, 0.12)).max(0.0)).clamp(0.0, 27.0);
        let gad1 = (gad0 * (change + dist::normal(rng, 0.0, 0.12)).max(0.0)).clamp(0.0, 21.0);
        TtCourse { phq: (phq0, phq1), gad: (gad0, gad1) }
    }

    /// Totals part way through (`f` from 0 at the start to 1 at the end).
    pub fn at(&self, rng: &mut Rng, f: f64) -> (f64, f64) {
        let lerp = |(a, b): (f64, f64)| a + (b - a) * f;
        (lerp(self.phq) + dist::normal(rng, 0.0, 1.5), lerp(self.gad) + dist::normal(rng, 0.0, 1.2))
    }
}

/// HoNOS totals (first, last): a quarter improve reliably (by 8 or more), a few deteriorate.
pub fn honos_pair(rng: &mut Rng) -> (f64, f64) {
    let first = dist::normal(rng, 14.0, 5.5).clamp(0.0, 40.0);
    let last = (first * dist::normal(rng, 0.72, 0.3).max(0.0) + dist::normal(rng, 0.0, 2.0)).clamp(0.0, 48.0);
    (first, last)
}

/// ReQoL-10 totals (first, last), higher is better.
pub fn reqol_pair(rng: &mut Rng) -> (f64, f64) {
    let first = dist::normal(rng, 17.0, 7.0).clamp(0.0, 40.0);
    let last = (first + dist::normal(rng, 4.5, 6.0)).clamp(0.0, 40.0);
    (first, last)
}
