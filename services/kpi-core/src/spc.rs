//! Statistical process control of the published series: for every monthly series of the `all`
//! and `ethnic_group` strata, the Making Data Count reading of each point (`statistics.md`),
//! which the publisher writes to `indicator_spc` and exposes as metrics.

use std::collections::BTreeMap;

use chrono::NaiveDate;
pub use kpi_stats::spc::SpcSettings;
use kpi_stats::spc::{analyse, Direction as SpcDirection, Reading};

use crate::indicators::{indicator, Direction};
use crate::period::PeriodKind;
use crate::strata::{Stratum, StratumType};
use crate::values::{IndicatorValue, DISCLOSURE_THRESHOLD};

/// One point of an SPC chart: an `indicator_spc` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SpcRow {
    pub indicator: &'static str,
    pub stratum: Stratum,
    pub period_end: NaiveDate,
    pub value: f64,
    pub mean: f64,
    pub lower_limit: f64,
    pub upper_limit: f64,
    /// `improvement`, `concern` or `neither` when the point is special cause.
    pub special_cause: Option<&'static str>,
    /// The point's variation icon (the series' icon is its last point's).
    pub variation_icon: &'static str,
    /// The series' assurance against the indicator's target, when it has one.
    pub assurance_icon: Option<&'static str>,
}

fn spc_direction(direction: Direction) -> SpcDirection {
    match direction {
        Direction::HigherIsBetter => SpcDirection::HigherIsBetter,
        Direction::LowerIsBetter => SpcDirection::LowerIsBetter,
        Direction::Neither => SpcDirection::Neither,
    }
}

fn reading_code(reading: Reading) -> &'static str {
    match reading {
        Reading::Improvement => "improvement",
        Reading::Concern => "concern",
        Reading::Neither => "neither",
    }
}

/// SPC rows for every monthly series of the `all` and `ethnic_group` strata. A series starts at
/// its first month with a value (a percentage of discharges has none before the first
/// discharge, however long the feed has run). After that, a series with a month that has no
/// value, or (outside `all`) a point made from a count below the disclosure threshold, gets no
/// chart: limits over a gap would mislead, and SPC output is suppressed with the counts it is
/// made from.
pub fn spc_rows(values: &[IndicatorValue], settings: SpcSettings) -> Vec<SpcRow> {
    let mut series: BTreeMap<(&'static str, Stratum), Vec<&IndicatorValue>> = BTreeMap::new();
    for v in values.iter().filter(|v| v.period.kind == PeriodKind::Month) {
        if matches!(v.stratum.kind, StratumType::All | StratumType::EthnicGroup) {
            series.entry((v.indicator, v.stratum)).or_default().push(v);
        }
    }
    let mut rows = Vec::new();
    for ((id, stratum), mut points) in series {
        points.sort_by_key(|v| v.period.end);
        let first = points.iter().position(|v| v.value.is_some()).unwrap_or(points.len());
        points.drain(..first);
        let suppressed =
            stratum.kind != StratumType::All && points.iter().any(|v| v.smallest_count < DISCLOSURE_THRESHOLD);
        let Some(ys) = points.iter().map(|v| v.value).collect::<Option<Vec<f64>>>() else { continue };
        let Some(catalogued) = indicator(id) else { continue };
        if suppressed {
            continue;
        }
        let direction = spc_direction(catalogued.direction);
        let Some(chart) = analyse(&ys, direction, catalogued.target, settings) else { continue };
        let assurance_icon = chart.assurance.map(|a| a.code());
        for (v, point) in points.iter().zip(&chart.points) {
            rows.push(SpcRow {
                indicator: id,
                stratum,
                period_end: v.period.end,
                value: point.value,
                mean: point.mean,
                lower_limit: point.lower_limit,
                upper_limit: point.upper_limit,
                special_cause: point.special_cause.map(|c| reading_code(c.reading)),
                variation_icon: point.variation().code(),
                assurance_icon,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::{month_ends, Period};

    fn series(stratum: Stratum, counts: &[i64]) -> Vec<IndicatorValue> {
        let first = "2023-01-31".parse().unwrap();
        month_ends(first, "2030-01-01".parse().unwrap())
            .zip(counts)
            .map(|(end, &x)| IndicatorValue {
                indicator: "mha_detentions",
                period: Period { kind: PeriodKind::Month, end },
                stratum,
                numerator: x,
                denominator: None,
                value: Some(x as f64),
                limits95: None,
                limits998: None,
                smallest_count: x,
                denominator_counted: false,
            })
            .collect()
    }

    #[test]
    fn the_worked_example_flags_its_outlier_as_a_concern_for_detentions() {
        // statistics.md: mean 1.9444, limits 6.95 and -3.06; the 10 is special cause, and a
        // high point on a lower-is-better indicator is a concern.
        let counts = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1];
        let rows = spc_rows(&series(Stratum::ALL, &counts), SpcSettings::default());
        assert_eq!(rows.len(), 18);
        assert!((rows[0].mean - 35.0 / 18.0).abs() < 1e-12);
        assert!((rows[0].upper_limit - 6.95).abs() < 0.005);
        let special: Vec<_> = rows.iter().filter(|r| r.special_cause.is_some()).collect();
        assert_eq!(special.len(), 1);
        assert_eq!((special[0].value, special[0].special_cause), (10.0, Some("concern")));
        assert_eq!(special[0].variation_icon, "concern_high");
        assert_eq!(rows.last().unwrap().variation_icon, "common_cause");
    }

    #[test]
    fn a_series_starts_at_its_first_value_but_a_later_gap_leaves_it_uncharted() {
        let mut values = series(Stratum::ALL, &[3; 18]);
        values[0].value = None;
        values[1].value = None;
        let rows = spc_rows(&values, SpcSettings::default());
        assert_eq!(rows.len(), 16);
        assert_eq!(rows[0].period_end, values[2].period.end);
        values[9].value = None;
        assert!(spc_rows(&values, SpcSettings::default()).is_empty());
    }

    #[test]
    fn a_series_with_a_small_count_outside_the_trust_total_is_not_charted() {
        let black = Stratum { kind: StratumType::EthnicGroup, value: "black" };
        let mut counts = vec![8; 18];
        assert_eq!(spc_rows(&series(black, &counts), SpcSettings::default()).len(), 18);
        counts[3] = 4;
        assert!(spc_rows(&series(black, &counts), SpcSettings::default()).is_empty());
        assert_eq!(spc_rows(&series(Stratum::ALL, &counts), SpcSettings::default()).len(), 18);
    }
}
