//! Contributions: what one person adds to each (indicator, period, stratum) cell. The engine
//! keeps the warehouse counts equal to the sum of every person's contributions by applying, for
//! each changed person, new minus old.

use std::collections::{BTreeMap, HashMap};
use std::ops::{AddAssign, Sub};

use chrono::NaiveDate;

use crate::indicators::FAMILIES;
use crate::period::{Period, PeriodKind};
use crate::person::PersonState;
use crate::strata::{strata_of, Stratum};

/// One cell of the warehouse's `indicator_counts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub indicator: &'static str,
    pub period: Period,
    pub stratum: Stratum,
}

/// Numerator and denominator of a cell (the denominator is 0 for counts and population rates,
/// whose denominators are not counted from events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub numerator: i64,
    pub denominator: i64,
}

impl Tally {
    pub fn is_zero(self) -> bool {
        self.numerator == 0 && self.denominator == 0
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.numerator += other.numerator;
        self.denominator += other.denominator;
    }
}

impl Sub for Tally {
    type Output = Tally;
    fn sub(self, other: Tally) -> Tally {
        Tally { numerator: self.numerator - other.numerator, denominator: self.denominator - other.denominator }
    }
}

/// Cells and their tallies; zero tallies are never stored.
pub type Counts = HashMap<Key, Tally>;

/// Collects a family's unstratified contributions for one person.
#[derive(Default)]
pub struct Emitter {
    cells: BTreeMap<(&'static str, Period), Tally>,
}

impl Emitter {
    /// Adds `tally` to one indicator in one period.
    pub fn add(&mut self, indicator: &'static str, period: Period, tally: Tally) {
        *self.cells.entry((indicator, period)).or_default() += tally;
    }

    /// Counts one occurrence dated `date` in every period that contains it (its month and the
    /// twelve rolling periods that include that month).
    pub fn count_on(&mut self, indicator: &'static str, date: NaiveDate) {
        for period in Period::containing(date) {
            self.add(indicator, period, Tally { numerator: 1, denominator: 0 });
        }
    }

    /// Adds `tally` to one indicator for the month of `date` only (and the rolling periods are
    /// the caller's to add with their own rules).
    pub fn add_month(&mut self, indicator: &'static str, date: NaiveDate, tally: Tally) {
        self.add(indicator, Period::new(PeriodKind::Month, date), tally);
    }
}

/// Everything one person contributes, stratified by their current demographics.
pub fn person_contributions(state: &PersonState) -> Counts {
    let view = state.view();
    let mut emitter = Emitter::default();
    for family in FAMILIES {
        (family.contribute)(&view, &mut emitter);
    }
    let mut counts = Counts::new();
    for ((indicator, period), tally) in emitter.cells {
        if tally.is_zero() {
            continue;
        }
        for stratum in strata_of(view.attributes.as_ref(), period.end) {
            *counts.entry(Key { indicator, period, stratum }).or_default() += tally;
        }
    }
    counts
}

/// Adds `new − old` for one person into `deltas`, dropping cells that net to zero.
pub fn add_difference(deltas: &mut Counts, old: &Counts, new: &Counts) {
    for (key, tally) in new {
        let before = old.get(key).copied().unwrap_or_default();
        apply(deltas, *key, *tally - before);
    }
    for (key, tally) in old {
        if !new.contains_key(key) {
            apply(deltas, *key, Tally::default() - *tally);
        }
    }
}

fn apply(deltas: &mut Counts, key: Key, delta: Tally) {
    if delta.is_zero() {
        return;
    }
    let cell = deltas.entry(key).or_default();
    *cell += delta;
    if cell.is_zero() {
        deltas.remove(&key);
    }
}
