//! Contributions: what one person adds to each counted cell, stored as *changes by month*. The
//! warehouse's `indicator_counts` holds, per (cell, period kind, month, stratum), how much the
//! cell's value changes from the previous month; a period's value is the sum of its kind's
//! changes up to its end ([`levels`]). Changes make things that stay open (a referral on the
//! caseload, a ward stay still occupied) cost one row when they open and one when they close,
//! however long they last, with no reporting horizon and no recomputation as months pass.
//!
//! The engine keeps `indicator_counts` equal to the sum of every person's contributions by
//! applying, for each changed person, new minus old ([`add_difference`]).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::ops::{AddAssign, Sub};

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::indicators::{Shape, FAMILIES};
use crate::period::{month_end, month_start, Period, PeriodKind};
use crate::person::{PersonState, PersonView};
use crate::strata::{age_band_on, strata_in_band, Attributes, Stratum, UNKNOWN};

/// One row of the warehouse's `indicator_counts`: a counted cell (an indicator id, or a
/// quantity indicators are derived from, such as bed days), a period and a stratum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub indicator: &'static str,
    pub period: Period,
    pub stratum: Stratum,
}

/// Numerator and counted denominator of a cell (the denominator is 0 for counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub numerator: i64,
    pub denominator: i64,
}

impl Tally {
    pub const ONE: Tally = Tally { numerator: 1, denominator: 0 };

    /// One case of a proportion: always in the denominator, in the numerator when `counted`.
    pub fn of(counted: bool) -> Tally {
        Tally { numerator: i64::from(counted), denominator: 1 }
    }

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

/// Cells and their tallies (changes, or levels after [`levels`]); zero tallies are never stored.
/// Hashed with FxHash: the keys are our own labels, not attacker-chosen, and the engine hashes
/// every cell of every changed person twice per batch.
pub type Counts = FxHashMap<Key, Tally>;

/// Collects a dated family's contributions for one person: amounts that belong to the periods
/// containing a date (a detention, a discharge, a response).
#[derive(Default)]
pub struct Emitter {
    cells: BTreeMap<(&'static str, Period), Tally>,
    /// Periods ending before this are not wanted (see [`contributions_from`]).
    floor: Option<NaiveDate>,
}

impl Emitter {
    /// Adds `tally` to one cell in one period.
    pub fn add(&mut self, cell: &'static str, period: Period, tally: Tally) {
        if self.floor.is_some_and(|floor| period.end < floor) {
            return;
        }
        *self.cells.entry((cell, period)).or_default() += tally;
    }

    /// Adds `tally` in every period that contains `date` (its month and the twelve rolling
    /// periods that include that month).
    pub fn add_on(&mut self, cell: &'static str, date: NaiveDate, tally: Tally) {
        for period in Period::containing(date) {
            self.add(cell, period, tally);
        }
    }

    /// Counts one occurrence dated `date`.
    pub fn count_on(&mut self, cell: &'static str, date: NaiveDate) {
        self.add_on(cell, date, Tally::ONE);
    }
}

/// A state family's values at each period it is asked about, by the period's index. Kept in
/// one list rather than a list per period, which every family grew at every period of every
/// evaluation (allocating was about 2 % of the contributions' time, `examples/contributions.rs`).
pub struct StateCells {
    cells: Vec<(usize, &'static str, Tally)>,
    periods: usize,
}

impl StateCells {
    /// Room for values at `periods` periods (indices `0..periods`).
    pub fn new(periods: usize) -> Self {
        StateCells { cells: Vec::new(), periods }
    }

    /// Sets (adds to) `cell` at the period with index `at`.
    pub fn add(&mut self, at: usize, cell: &'static str, tally: Tally) {
        debug_assert!(at < self.periods, "period {at} of {}", self.periods);
        if !tally.is_zero() {
            self.cells.push((at, cell, tally));
        }
    }

    /// The values grouped by period, by counting rather than sorting (sorting them was 4 % of
    /// the contributions' time).
    fn by_period(self) -> ByPeriod {
        let mut bounds = vec![0usize; self.periods + 1];
        for &(at, _, _) in &self.cells {
            bounds[at + 1] += 1;
        }
        for at in 1..bounds.len() {
            bounds[at] += bounds[at - 1];
        }
        let mut next = bounds.clone();
        let mut values = vec![("", Tally::default()); self.cells.len()];
        for (at, cell, tally) in self.cells {
            values[next[at]] = (cell, tally);
            next[at] += 1;
        }
        ByPeriod { values, bounds }
    }
}

/// State values grouped by period ([`StateCells::by_period`]).
struct ByPeriod {
    values: Vec<(&'static str, Tally)>,
    /// Period `i`'s values are `values[bounds[i]..bounds[i + 1]]`.
    bounds: Vec<usize>,
}

impl ByPeriod {
    /// One list for every period, in index order, empty where none.
    fn lists(&self) -> impl Iterator<Item = &[(&'static str, Tally)]> {
        self.bounds.windows(2).map(|bounds| &self.values[bounds[0]..bounds[1]])
    }
}

/// Ages at which a person's contributions may change: the age-band edges of the breakdowns and
/// every age limit of the catalogue (18–69 for settled accommodation, 65+ for dementia). An
/// indicator with a new age limit must add it here (the walker only looks at these birthdays).
pub const AGE_EDGES: [u32; 5] = [18, 35, 50, 65, 70];

/// Everything one person contributes, as changes by month, stratified by current demographics.
pub fn person_contributions(state: &PersonState) -> Counts {
    contributions(&state.view())
}

/// [`person_contributions`] of a view already made (the engine also looks at its events).
pub fn contributions(view: &PersonView) -> Counts {
    contributions_from(view, None)
}

/// The person's contributions to periods ending on or after `from` (all of them for `None`).
/// The changes there are the same as in the full contributions: each kind's first period from
/// `from` on is taken against the person's value just before it, which is evaluated too. The
/// engine uses it with [`crate::reach::reach_of`], before and after a batch, so that a person
/// with years of history costs the months a batch can change, not all of them.
pub fn contributions_from(view: &PersonView, from: Option<NaiveDate>) -> Counts {
    let attributes = view.attributes.as_ref();
    let mut counts = Counts::default();
    for (change, tally) in changes_from(view, from) {
        for stratum in strata_in_band(attributes, change.band) {
            add_tally(&mut counts, Key { indicator: change.cell, period: change.period, stratum }, tally);
        }
    }
    counts.retain(|_, tally| !tally.is_zero());
    counts
}

/// Adds one person's count changes from `from` on into `deltas`: their contributions after a
/// batch (`after`) minus those before it (`before`; `None` for a person new to the engine),
/// cells that net to zero dropped. The same as [`add_difference`] of the two
/// [`contributions_from`], but when the demographics are the same before and after (any batch
/// that changes no demographics record) both sides fall in the same strata, so the difference
/// is taken before stratifying, on a sixth of the entries, and only what differs is stratified.
pub fn add_change(deltas: &mut Counts, before: Option<&PersonView>, after: &PersonView, from: Option<NaiveDate>) {
    let new = changes_from(after, from);
    let old = before.map(|before| changes_from(before, from)).unwrap_or_default();
    let stratified = |deltas: &mut Counts, attributes: Option<&Attributes>, change: &Change, tally: Tally| {
        for stratum in strata_in_band(attributes, change.band) {
            apply(deltas, Key { indicator: change.cell, period: change.period, stratum }, tally);
        }
    };
    let (was, is) = (before.map_or(after.attributes, |before| before.attributes), after.attributes);
    if was != is {
        for (change, tally) in &new {
            stratified(deltas, is.as_ref(), change, *tally);
        }
        for (change, tally) in &old {
            stratified(deltas, was.as_ref(), change, Tally::default() - *tally);
        }
        return;
    }
    for (change, tally) in &new {
        let difference = *tally - old.get(change).copied().unwrap_or_default();
        if !difference.is_zero() {
            stratified(deltas, is.as_ref(), change, difference);
        }
    }
    for (change, tally) in &old {
        if !new.contains_key(change) {
            stratified(deltas, is.as_ref(), change, Tally::default() - *tally);
        }
    }
}

/// Where a change by month is counted before it is stratified: a cell, a period and the age band
/// it is counted in. The other five breakdowns are the person's own whatever the period, so a
/// change stands for six [`Key`]s: the person's strata with this band ([`strata_in_band`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Change {
    cell: &'static str,
    period: Period,
    band: &'static str,
}

/// A person's changes by month from `from` on, not yet stratified; zero changes left out.
fn changes_from(view: &PersonView, from: Option<NaiveDate>) -> FxHashMap<Change, Tally> {
    let mut changes = FxHashMap::default();
    // For dated amounts, the value just before `from` is the amount in the period that ends
    // the month before: no earlier period is needed.
    let floor = from.map(|from| month_start(from) - Days::new(1));
    let mut dated = Emitter { cells: BTreeMap::new(), floor };
    let mut has_state_families = false;
    for family in FAMILIES {
        match family.shape {
            Shape::Dated(contribute) => contribute(view, &mut dated),
            Shape::State(_) => has_state_families = true,
        }
    }
    if !dated.cells.is_empty() {
        // A dated amount is a value in its period only: evaluated there and, back to zero, at
        // the next month.
        let mut points: BTreeMap<Period, Vec<(&'static str, Tally)>> = BTreeMap::new();
        for ((cell, period), tally) in dated.cells {
            points.entry(period).or_default().push((cell, tally));
            points.entry(Period::new(period.kind, period.end + Days::new(1))).or_default();
        }
        add_changes(view, points.iter().map(|(period, values)| (*period, values.iter().copied())), from, &mut changes);
    }
    if has_state_families {
        let mut periods = change_points(view);
        if let Some(from) = from {
            periods = from_the_value_before(periods, from);
        }
        let mut cells = StateCells::new(periods.len());
        for family in FAMILIES {
            if let Shape::State(contribute) = family.shape {
                contribute(view, &periods, &mut cells);
            }
        }
        let values = cells.by_period();
        add_changes(view, periods.into_iter().zip(values.lists().map(|list| list.iter().copied())), from, &mut changes);
    }
    changes.retain(|_, tally| !tally.is_zero());
    changes
}

/// Of change points in `(kind, end)` order, those ending on or after `from`, each kind's led by
/// its last point before `from` (which gives the value the first of them changes from).
fn from_the_value_before(periods: Vec<Period>, from: NaiveDate) -> Vec<Period> {
    let mut kept = Vec::with_capacity(periods.len());
    let mut before: Option<Period> = None;
    for period in periods {
        if period.end < from {
            before = Some(period);
            continue;
        }
        if let Some(previous) = before.take().filter(|previous| previous.kind == period.kind) {
            kept.push(previous);
        }
        kept.push(period);
    }
    kept
}

/// Turns a person's values at successive periods (in `(kind, end)` order; the value holds
/// until the next period of its kind) into changes: each period's values minus the previous
/// period's, in the age band of each. Where the band moves (a birthday crosses an edge), the
/// values leave the old band and enter the new one whole; stratified, the person's other five
/// strata then net to the plain difference. Periods ending before `from` only give the value
/// the next one changes from.
fn add_changes<Values: Iterator<Item = (&'static str, Tally)>>(
    view: &PersonView,
    evaluations: impl IntoIterator<Item = (Period, Values)>,
    from: Option<NaiveDate>,
    changes: &mut FxHashMap<Change, Tally>,
) {
    let attributes = view.attributes.as_ref();
    // Two lists reused for every period: this period's values and the previous period's.
    let mut previous: Vec<(&'static str, Tally)> = Vec::new();
    let mut values: Vec<(&'static str, Tally)> = Vec::new();
    let mut previous_band = UNKNOWN;
    let mut previous_kind = None;
    for (period, entries) in evaluations {
        if previous_kind != Some(period.kind) {
            previous.clear();
            previous_kind = Some(period.kind);
        }
        let band = age_band_on(attributes, period.end);
        values.clear();
        values.extend(entries);
        values.sort_unstable_by_key(|(cell, _)| address_order(cell));
        values.dedup_by(|later, earlier| {
            let same = std::ptr::eq(later.0, earlier.0);
            if same {
                earlier.1 += later.1;
            }
            same
        });
        if from.is_none_or(|from| period.end >= from) {
            let mut push = |cell, band, tally| add_tally(changes, Change { cell, period, band }, tally);
            if band == previous_band {
                // Both sorted: walk them together.
                let (mut old, mut new) = (previous.iter().peekable(), values.iter().peekable());
                loop {
                    match (old.peek().copied(), new.peek().copied()) {
                        (None, None) => break,
                        (Some(o), Some(n)) if address_order(&o.0) == address_order(&n.0) => {
                            push(n.0, band, n.1 - o.1);
                            old.next();
                            new.next();
                        }
                        (Some(o), Some(n)) if address_order(&o.0) < address_order(&n.0) => {
                            push(o.0, band, Tally::default() - o.1);
                            old.next();
                        }
                        (Some(o), None) => {
                            push(o.0, band, Tally::default() - o.1);
                            old.next();
                        }
                        (_, Some(n)) => {
                            push(n.0, band, n.1);
                            new.next();
                        }
                    }
                }
            } else {
                for &(cell, tally) in &previous {
                    push(cell, previous_band, Tally::default() - tally);
                }
                for &(cell, tally) in &values {
                    push(cell, band, tally);
                }
            }
        }
        std::mem::swap(&mut previous, &mut values);
        previous_band = band;
    }
}

/// Where a cell's entry sorts in [`add_changes`]: by the address of its `'static` name, not by
/// its text. Sorting and matching every changed person's entries by text (long shared prefixes
/// such as `mha_detention...`) was about a fifth of the engine's CPU. The walk needs only a
/// total order that the old and the new list share. Should one name ever sit at two addresses,
/// its entries are simply not matched with each other: each is still added to the same
/// [`Change`] (which compares text), so the change summed into the cell is the same.
fn address_order(cell: &&'static str) -> (usize, usize) {
    (cell.as_ptr() as usize, cell.len())
}

/// The periods, per kind in month order, at which a state can change. Every state is decided by
/// comparing dates of the person's events (or a year after them, for "within 12 months") and
/// birthdays with a period's start or end; a date `x` changes the comparison at the month of `x`
/// (against the end) or `months` later (against the start). Neighbouring days are included so
/// that strict and non-strict comparisons are both covered; they also cover "365 days after",
/// which falls twelve months after the date or after the day before it (leap years).
pub fn change_points(view: &PersonView) -> Vec<Period> {
    let birthdays = view.attributes.iter().flat_map(|attributes| {
        // A 29 February birthday falls on 28 February or 1 March in other years: both are
        // within a day of the date this gives.
        AGE_EDGES.iter().filter_map(|age| attributes.birth_date.checked_add_months(Months::new(12 * age)))
    });
    let ends = change_point_ends(view.events.iter().map(|event| event.date).chain(birthdays));
    PeriodKind::ALL.into_iter().flat_map(|kind| ends.iter().map(move |&end| Period { kind, end })).collect()
}

/// The month ends at which a state can change, ascending, for these dates: the month of each
/// date and of the days either side of it, and one and twelve months after each such month.
/// Counted in month numbers (year × 12 + month) and turned into dates once at the end: with
/// sets of dates and chrono's month arithmetic this was a twelfth of the engine's CPU.
fn change_point_ends(dates: impl Iterator<Item = NaiveDate>) -> Vec<NaiveDate> {
    let mut months: Vec<i32> = Vec::new();
    for date in dates {
        let month = month_number(date);
        months.push(month);
        if date.day() == 1 {
            months.push(month - 1);
        }
        if date == month_end(date) {
            months.push(month + 1);
        }
    }
    months.sort_unstable();
    months.dedup();
    let mut ends: Vec<i32> = months.iter().flat_map(|&month| [month, month + 1, month + 12]).collect();
    ends.sort_unstable();
    ends.dedup();
    ends.into_iter().filter_map(end_of_month_number).collect()
}

fn month_number(date: NaiveDate) -> i32 {
    date.year() * 12 + date.month0() as i32
}

fn end_of_month_number(number: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(number.div_euclid(12), number.rem_euclid(12) as u32 + 1, 1).map(month_end)
}

/// Adds a non-zero `tally` to `key` (cells, or changes before stratifying).
fn add_tally<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, Tally>, key: K, tally: Tally) {
    if !tally.is_zero() {
        *map.entry(key).or_default() += tally;
    }
}

/// Adds `new − old` for one person into `deltas`, dropping cells that net to zero. The plain
/// definition of a person's change; the engine computes the same with [`add_change`] (checked
/// against this in `contrib_tests.rs`).
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

/// Adds `more` into `deltas` (cells that sum to zero leave it): merges differences computed apart.
pub fn add_counts(deltas: &mut Counts, more: Counts) {
    for (key, tally) in more {
        apply(deltas, key, tally);
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

/// One cell's series of one period kind in one stratum.
type Series = (&'static str, PeriodKind, Stratum);

/// The value of every cell at every period ending in one of `month_ends` (ascending): the sum
/// of its kind's changes up to the period's end. Zero values are left out.
pub fn levels(changes: &Counts, month_ends: &[NaiveDate]) -> Counts {
    let mut series: FxHashMap<Series, Vec<(NaiveDate, Tally)>> = FxHashMap::default();
    for (key, tally) in changes {
        series.entry((key.indicator, key.period.kind, key.stratum)).or_default().push((key.period.end, *tally));
    }
    let mut levels = Counts::default();
    for ((cell, kind, stratum), mut steps) in series {
        steps.sort_by_key(|(end, _)| *end);
        let mut steps = steps.into_iter().peekable();
        let mut level = Tally::default();
        for &end in month_ends {
            while let Some((_, step)) = steps.next_if(|(at, _)| *at <= end) {
                level += step;
            }
            if !level.is_zero() {
                levels.insert(Key { indicator: cell, period: Period { kind, end }, stratum }, level);
            }
        }
    }
    levels
}

#[cfg(test)]
#[path = "contrib_tests.rs"]
mod tests;
