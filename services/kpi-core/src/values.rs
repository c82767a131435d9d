//! From warehouse counts to indicator values (`statistics.md`): every catalogue row for every
//! period in the data's range and every stratum, with 95% and 99.8% limits, then disclosure
//! control for what is published. The publisher runs this on the counts it reads back.

use chrono::NaiveDate;
use kpi_stats::{Confidence, Estimate};

use crate::contrib::{levels, Counts, Key};
use crate::indicators::{nights, Measure, Method, CATALOGUE};
use crate::period::{month_end, month_ends, Period, PeriodKind};
use crate::population::Population;
use crate::strata::{Stratum, StratumType};

/// Smallest count published outside the trust-wide `all` stratum.
pub const DISCLOSURE_THRESHOLD: i64 = 5;

/// One computed value, unrounded: the restricted `indicator_values` row.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorValue {
    pub indicator: &'static str,
    pub period: Period,
    pub stratum: Stratum,
    pub numerator: i64,
    /// Population, or the counted denominator; `None` for plain counts.
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub limits95: Option<(f64, f64)>,
    pub limits998: Option<(f64, f64)>,
    /// The smallest event count this value is made from (disclosure control looks at it).
    pub smallest_count: i64,
    /// Whether the denominator is counted from events (rounded when published) rather than a
    /// reference population.
    pub denominator_counted: bool,
}

impl IndicatorValue {
    #[allow(clippy::too_many_arguments)]
    fn with(
        indicator: &'static str,
        period: Period,
        stratum: Stratum,
        numerator: i64,
        denominator: Option<f64>,
        (value, limits95, limits998): (Option<f64>, Limits, Limits),
        smallest_count: i64,
        denominator_counted: bool,
    ) -> Self {
        IndicatorValue {
            indicator,
            period,
            stratum,
            numerator,
            denominator,
            value,
            limits95,
            limits998,
            smallest_count,
            denominator_counted,
        }
    }

    /// A count with no limits.
    fn plain(
        indicator: &'static str,
        period: Period,
        stratum: Stratum,
        numerator: i64,
        limits95: Limits,
        limits998: Limits,
        smallest_count: i64,
    ) -> Self {
        Self::with(
            indicator,
            period,
            stratum,
            numerator,
            None,
            (Some(numerator as f64), limits95, limits998),
            smallest_count,
            false,
        )
    }
}

/// A value after disclosure control: the `indicator_values_published` row and the gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedValue {
    pub indicator: &'static str,
    pub period: Period,
    pub stratum: Stratum,
    pub numerator: Option<i64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub limits95: Option<(f64, f64)>,
    pub limits998: Option<(f64, f64)>,
    pub suppressed: bool,
}

/// The months to publish: from the first month with any counted change to the month of
/// `horizon`, the latest event date the engine has applied (`None` before any data).
pub fn month_range(changes: &Counts, horizon: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let first = changes.keys().map(|k| k.period.end).filter(|end| *end <= month_end(horizon)).min()?;
    Some((first, month_end(horizon)))
}

/// Every catalogue value for every period from `range` and every stratum, absent cells as zero.
/// `changes` are the counted changes by month (`indicator_counts`, see [`crate::contrib`]).
pub fn compute(changes: &Counts, population: &Population, range: (NaiveDate, NaiveDate)) -> Vec<IndicatorValue> {
    compute_reusing(changes, population, range, None).values
}

/// Values computed once, kept with the counted levels they came from, so that computing them
/// again recomputes only the values whose counted inputs have changed ([`compute_reusing`]).
#[derive(Debug, Clone)]
pub struct Computed {
    ends: Vec<NaiveDate>,
    levels: Counts,
    /// What [`compute`] would have returned.
    pub values: Vec<IndicatorValue>,
    /// How many of them were computed, not kept from `previous`.
    pub recomputed: usize,
}

/// As [`compute`], but a value of `previous` (computed with the same `population`) is kept as it
/// was when every level it is computed from is the same as then, and only the others are
/// computed: the limits' statistics are most of the work, and between two refreshes at a steady
/// rate most values' counts have not changed. `previous` is used only when its months start at
/// the same month as `range` (each month then holds its values at the same places in the list).
pub fn compute_reusing(
    changes: &Counts,
    population: &Population,
    range: (NaiveDate, NaiveDate),
    previous: Option<&Computed>,
) -> Computed {
    let ends: Vec<NaiveDate> = month_ends(range.0, range.1).collect();
    let levels = levels(changes, &ends);
    let previous = previous.filter(|p| p.ends.first() == ends.first());
    let tally =
        |cell, period, stratum| levels.get(&Key { indicator: cell, period, stratum }).copied().unwrap_or_default();
    // Whether a level is as it was when `previous` was computed.
    let same = |cell, period, stratum| {
        let key = Key { indicator: cell, period, stratum };
        previous.is_some_and(|p| levels.get(&key) == p.levels.get(&key))
    };
    // The cells each indicator's method reads (`Method::cells`), in the value's stratum and, for a
    // rate ratio, in its reference stratum too.
    let reads: Vec<(Vec<&'static str>, Option<Stratum>)> = CATALOGUE
        .iter()
        .map(|i| {
            let reference = match i.method {
                Method::RateRatio { breakdown, reference, .. } => Some(Stratum { kind: breakdown, value: reference }),
                _ => None,
            };
            (i.method.cells(), reference)
        })
        .collect();
    let inputs_unchanged = |(cells, reference): &(Vec<&'static str>, Option<Stratum>), period, stratum| {
        cells.iter().all(|&cell| same(cell, period, stratum) && reference.is_none_or(|r| same(cell, period, r)))
    };
    let count = |cell, period, stratum| tally(cell, period, stratum).numerator;
    let measure = |measure: Measure, period: Period, stratum| match measure {
        Measure::Cell(cell) => count(cell, period, stratum),
        Measure::Nights(n) => nights(
            count(n.fixed, period, stratum),
            count(n.ends, period, stratum),
            count(n.starts, period, stratum),
            period,
        ),
    };
    let mut values = Vec::new();
    let mut recomputed = 0;
    for &end in &ends {
        for kind in PeriodKind::ALL {
            let period = Period { kind, end };
            for (indicator, reads) in CATALOGUE.iter().zip(&reads) {
                let id = indicator.id;
                for stratum in Stratum::every() {
                    let kept = previous.and_then(|p| p.values.get(values.len())).filter(|v| {
                        v.indicator == id
                            && v.period == period
                            && v.stratum == stratum
                            && inputs_unchanged(reads, period, stratum)
                    });
                    if let Some(kept) = kept {
                        values.push(kept.clone());
                        continue;
                    }
                    let value = match indicator.method {
                        Method::Count(Measure::Cell(cell)) => {
                            count_value(id, period, stratum, count(cell, period, stratum))
                        }
                        Method::Count(nights @ Measure::Nights(_)) => {
                            let x = measure(nights, period, stratum);
                            IndicatorValue::plain(id, period, stratum, x, None, None, x)
                        }
                        Method::Percentage { cell } => {
                            let t = tally(cell, period, stratum);
                            let (x, n) = (t.numerator.max(0) as u64, t.denominator.max(0) as u64);
                            let estimate = limits(|c| kpi_stats::wilson(x, n, c).map(|e| e.scaled(100.0)));
                            let smallest = t.numerator.min(t.denominator);
                            IndicatorValue::with(
                                id,
                                period,
                                stratum,
                                t.numerator,
                                Some(t.denominator as f64),
                                estimate,
                                smallest,
                                true,
                            )
                        }
                        Method::RatePerPopulation { numerator, per } => {
                            let x = count(numerator, period, stratum);
                            rate_value(id, period, stratum, x, population.of(stratum), per)
                        }
                        Method::PercentageOfPopulation { numerator, min_age } => {
                            let x = count(numerator, period, stratum);
                            let n = population.aged(stratum, min_age);
                            let estimate = match n {
                                Some(n) => {
                                    limits(|c| kpi_stats::wilson_f64(x.max(0) as f64, n, c).map(|e| e.scaled(100.0)))
                                }
                                None => (None, None, None),
                            };
                            IndicatorValue::with(id, period, stratum, x, n, estimate, x, false)
                        }
                        Method::RatePer { numerator, denominator, per } => {
                            let x = count(numerator, period, stratum);
                            let n = measure(denominator, period, stratum);
                            let estimate = limits(|c| kpi_stats::crude_rate(x.max(0) as u64, n as f64, per, c));
                            IndicatorValue::with(id, period, stratum, x, Some(n as f64), estimate, x.min(n), true)
                        }
                        Method::RateRatio { rate, breakdown, reference } => {
                            let Some(numerator) = rate_numerator(rate) else { continue };
                            if stratum.kind != breakdown || stratum.value == reference || !stratum.has_population() {
                                continue;
                            }
                            let reference = Stratum { kind: breakdown, value: reference };
                            let group = (count(numerator, period, stratum), population.of(stratum));
                            let base = (count(numerator, period, reference), population.of(reference));
                            ratio_value(id, period, stratum, group, base)
                        }
                    };
                    recomputed += 1;
                    values.push(value);
                }
            }
        }
    }
    Computed { ends, levels, values, recomputed }
}

fn rate_numerator(rate_indicator: &str) -> Option<&'static str> {
    CATALOGUE.iter().find(|i| i.id == rate_indicator).and_then(|i| match i.method {
        Method::RatePerPopulation { numerator, .. } => Some(numerator),
        _ => None,
    })
}

/// A lower and upper confidence limit, when the value has them.
pub type Limits = Option<(f64, f64)>;

/// The value and its 95% and 99.8% limits.
fn limits(estimate: impl Fn(Confidence) -> Option<Estimate>) -> (Option<f64>, Limits, Limits) {
    let e95 = estimate(Confidence::P95);
    let e998 = estimate(Confidence::P99_8);
    (e95.map(|e| e.value), e95.map(|e| (e.lower, e.upper)), e998.map(|e| (e.lower, e.upper)))
}

fn count_value(indicator: &'static str, period: Period, stratum: Stratum, x: i64) -> IndicatorValue {
    let (_, limits95, limits998) = limits(|c| {
        let (lower, upper) = kpi_stats::poisson_limits(x.max(0) as u64, c);
        Some(Estimate { value: x as f64, lower, upper })
    });
    IndicatorValue::plain(indicator, period, stratum, x, limits95, limits998, x)
}

fn rate_value(
    indicator: &'static str,
    period: Period,
    stratum: Stratum,
    x: i64,
    population: Option<f64>,
    per: f64,
) -> IndicatorValue {
    let estimate = match population {
        Some(n) => limits(|c| kpi_stats::crude_rate(x.max(0) as u64, n, per, c)),
        None => (None, None, None),
    };
    IndicatorValue::with(indicator, period, stratum, x, population, estimate, x, false)
}

fn ratio_value(
    indicator: &'static str,
    period: Period,
    stratum: Stratum,
    (x_g, n_g): (i64, Option<f64>),
    (x_r, n_r): (i64, Option<f64>),
) -> IndicatorValue {
    let estimate = match (n_g, n_r) {
        (Some(n_g), Some(n_r)) => limits(|c| kpi_stats::rate_ratio(x_g.max(0) as u64, n_g, x_r.max(0) as u64, n_r, c)),
        _ => (None, None, None),
    };
    IndicatorValue::with(indicator, period, stratum, x_g, n_g, estimate, x_g.min(x_r), false)
}

/// Disclosure control (`statistics.md`): outside the trust-wide `all` stratum, a value made from
/// a count below 5 is suppressed and every count is rounded to the nearest 5; values themselves
/// come from the unrounded counts.
pub fn publish(value: &IndicatorValue) -> PublishedValue {
    let trust_wide = value.stratum.kind == StratumType::All;
    let suppressed = !trust_wide && value.smallest_count < DISCLOSURE_THRESHOLD;
    if suppressed {
        return PublishedValue {
            indicator: value.indicator,
            period: value.period,
            stratum: value.stratum,
            numerator: None,
            denominator: None,
            value: None,
            limits95: None,
            limits998: None,
            suppressed: true,
        };
    }
    let round = |x: i64| if trust_wide { x } else { kpi_stats::publish_count(x.max(0) as u64).map_or(0, |r| r as i64) };
    let is_count = value.denominator.is_none();
    // A counted denominator (a cohort, bed days) is a count like any other; a population is not.
    let denominator =
        if value.denominator_counted { value.denominator.map(|n| round(n as i64) as f64) } else { value.denominator };
    PublishedValue {
        indicator: value.indicator,
        period: value.period,
        stratum: value.stratum,
        numerator: Some(round(value.numerator)),
        denominator,
        // A count's value is the count itself, so it is rounded like one.
        value: if is_count { Some(round(value.numerator) as f64) } else { value.value },
        limits95: value.limits95,
        limits998: value.limits998,
        suppressed: false,
    }
}
