//! From warehouse counts to indicator values (`statistics.md`): every catalogue row for every
//! period in the data's range and every stratum, with 95% and 99.8% limits, then disclosure
//! control for what is published. The publisher runs this on the counts it reads back.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use kpi_stats::{Confidence, Estimate};

use crate::contrib::{Counts, Key};
use crate::indicators::{Method, CATALOGUE};
use crate::period::{month_ends, Period, PeriodKind};
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

/// The month ends the data covers: from the first to the last month with any month count.
pub fn month_range(counts: &Counts) -> Option<(NaiveDate, NaiveDate)> {
    let months: BTreeSet<NaiveDate> =
        counts.keys().filter(|k| k.period.kind == PeriodKind::Month).map(|k| k.period.end).collect();
    Some((*months.first()?, *months.last()?))
}

/// Every catalogue value for every period from `range` and every stratum, absent cells as zero.
pub fn compute(counts: &Counts, population: &Population, range: (NaiveDate, NaiveDate)) -> Vec<IndicatorValue> {
    let count = |indicator, period, stratum| counts.get(&Key { indicator, period, stratum }).map_or(0, |t| t.numerator);
    let mut values = Vec::new();
    for end in month_ends(range.0, range.1) {
        for kind in PeriodKind::ALL {
            let period = Period { kind, end };
            for indicator in CATALOGUE {
                for stratum in Stratum::every() {
                    let value = match indicator.method {
                        Method::Count => {
                            let x = count(indicator.id, period, stratum);
                            Some(count_value(indicator.id, period, stratum, x))
                        }
                        Method::RatePerPopulation { numerator, per } => {
                            let x = count(numerator, period, stratum);
                            Some(rate_value(indicator.id, period, stratum, x, population.of(stratum), per))
                        }
                        Method::RateRatio { rate, breakdown, reference } => {
                            let Some(numerator) = rate_numerator(rate) else { continue };
                            if stratum.kind != breakdown || stratum.value == reference || !stratum.has_population() {
                                continue;
                            }
                            let reference = Stratum { kind: breakdown, value: reference };
                            let group = (count(numerator, period, stratum), population.of(stratum));
                            let base = (count(numerator, period, reference), population.of(reference));
                            Some(ratio_value(indicator.id, period, stratum, group, base))
                        }
                    };
                    values.extend(value);
                }
            }
        }
    }
    values
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
    let n = x.max(0) as u64;
    let (_, limits95, limits998) = limits(|c| {
        let (lower, upper) = kpi_stats::poisson_limits(n, c);
        Some(Estimate { value: x as f64, lower, upper })
    });
    IndicatorValue {
        indicator,
        period,
        stratum,
        numerator: x,
        denominator: None,
        value: Some(x as f64),
        limits95,
        limits998,
        smallest_count: x,
    }
}

fn rate_value(
    indicator: &'static str,
    period: Period,
    stratum: Stratum,
    x: i64,
    population: Option<f64>,
    per: f64,
) -> IndicatorValue {
    let (value, limits95, limits998) = match population {
        Some(n) => limits(|c| kpi_stats::crude_rate(x.max(0) as u64, n, per, c)),
        None => (None, None, None),
    };
    IndicatorValue {
        indicator,
        period,
        stratum,
        numerator: x,
        denominator: population,
        value,
        limits95,
        limits998,
        smallest_count: x,
    }
}

fn ratio_value(
    indicator: &'static str,
    period: Period,
    stratum: Stratum,
    (x_g, n_g): (i64, Option<f64>),
    (x_r, n_r): (i64, Option<f64>),
) -> IndicatorValue {
    let (value, limits95, limits998) = match (n_g, n_r) {
        (Some(n_g), Some(n_r)) => limits(|c| kpi_stats::rate_ratio(x_g.max(0) as u64, n_g, x_r.max(0) as u64, n_r, c)),
        _ => (None, None, None),
    };
    IndicatorValue {
        indicator,
        period,
        stratum,
        numerator: x_g,
        denominator: n_g,
        value,
        limits95,
        limits998,
        smallest_count: x_g.min(x_r),
    }
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
    PublishedValue {
        indicator: value.indicator,
        period: value.period,
        stratum: value.stratum,
        numerator: Some(round(value.numerator)),
        denominator: value.denominator,
        // A count's value is the count itself, so it is rounded like one.
        value: if is_count { Some(round(value.numerator) as f64) } else { value.value },
        limits95: value.limits95,
        limits998: value.limits998,
        suppressed: false,
    }
}
