//! The publisher's refresh computes again only the values whose counted levels changed
//! (`values::compute_reusing`); here, on the in-memory replay of a synthetic feed arriving in
//! rounds, every round's values must be exactly those computed from nothing, and the reuse must
//! have saved work.

mod common;

use chrono::NaiveDate;
use kpi_core::contrib::{Counts, Key, Tally};
use kpi_core::period::{Period, PeriodKind};
use kpi_core::replay::Replay;
use kpi_core::strata::{Stratum, StratumType};
use kpi_core::values::{compute, compute_reusing, month_range, Computed, IndicatorValue};
use kpi_core::Event;
use kpi_synth::SynthConfig;

fn feed() -> Vec<Event> {
    let cfg = SynthConfig {
        people: 60,
        months: 24,
        seed: 11,
        invalid_share: 0.0,
        duplicate_share: 0.05,
        retraction_share: 0.05,
        ..SynthConfig::default()
    };
    common::accepted(common::synthetic_feed(&cfg).lines())
}

/// Exactly equal; the Debug text compares a NaN with a NaN.
fn first_difference(got: &[IndicatorValue], want: &[IndicatorValue]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} values, computed from nothing {}", got.len(), want.len()));
    }
    let same = |a: &IndicatorValue, b: &IndicatorValue| a == b || format!("{a:?}") == format!("{b:?}");
    let (g, w) = got.iter().zip(want).find(|(g, w)| !same(g, w))?;
    Some(format!("{g:?}, computed from nothing {w:?}"))
}

#[test]
fn values_computed_again_in_rounds_are_those_computed_from_nothing() {
    let events = feed();
    assert!(events.len() > 1_000, "{} events: too few to arrive in rounds", events.len());
    let population = common::population();
    let mut replay = Replay::default();
    let mut previous: Option<Computed> = None;
    let (mut values_seen, mut recomputed) = (0, 0);
    // Rounds of uneven size: the first opens the range, the last ones move it on month by month.
    for round in events.chunks(events.len() / 9 + 7) {
        for event in round {
            replay.apply(event.clone());
        }
        let counts = replay.counts();
        let range = month_range(&counts, replay.horizon().unwrap()).unwrap();
        let again = compute_reusing(&counts, &population, range, previous.as_ref());
        let fresh = compute(&counts, &population, range);
        if let Some(difference) = first_difference(&again.values, &fresh) {
            panic!("after {} events: {difference}", replay.people());
        }
        if previous.is_some() {
            values_seen += again.values.len();
            recomputed += again.recomputed;
        }
        previous = Some(again);
    }
    assert!(recomputed > 0, "no value was computed again");
    assert!(recomputed * 2 < values_seen, "{recomputed} of {values_seen} values computed again: nothing was reused");
}

/// Counts of `cell` in January 2024: `by` stratum values of the ethnic group breakdown.
fn counts_of(cell: &'static str, by: &[(&'static str, i64)]) -> Counts {
    let end = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
    by.iter()
        .map(|&(value, n)| {
            let stratum = Stratum { kind: StratumType::EthnicGroup, value };
            (
                Key { indicator: cell, period: Period { kind: PeriodKind::Month, end }, stratum },
                Tally { numerator: n, denominator: 0 },
            )
        })
        .collect()
}

#[test]
fn a_rate_ratio_is_computed_again_when_only_its_reference_stratum_changed() {
    let population = common::population();
    let detentions = kpi_core::indicators::counted_cell("mha_detentions").expect("the detentions cell");
    let month = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
    let ratio = |values: &[IndicatorValue]| {
        values
            .iter()
            .find(|v| {
                v.indicator == "mha_detention_rate_ratio"
                    && v.period == Period { kind: PeriodKind::Month, end: month }
                    && v.stratum.value == "black"
            })
            .and_then(|v| v.value)
            .expect("a black-to-white ratio")
    };
    let before = counts_of(detentions, &[("black", 12), ("white", 10)]);
    let first = compute_reusing(&before, &population, (month, month), None);
    let after = counts_of(detentions, &[("black", 12), ("white", 20)]);
    let again = compute_reusing(&after, &population, (month, month), Some(&first));
    assert_eq!(ratio(&again.values), ratio(&compute(&after, &population, (month, month))));
    assert!(ratio(&again.values) < ratio(&first.values), "the reference's rate doubled, so the ratio must fall");
}
