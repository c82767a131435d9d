//! The indicator catalogue in one table (`indicators.md`): each indicator's metadata and how it
//! is computed. The engine counts the indicators whose [`Method`] is counted from person state
//! (through the [`FAMILIES`] that emit them); the publisher derives the others from those counts.
//!
//! Adding an indicator: add its [`Indicator`] row to [`CATALOGUE`], and, if it is counted, emit it
//! from a family's `contribute` function (or add a family); then add scenario tests.

mod mha;

use crate::contrib::Emitter;
use crate::person::PersonView;
use crate::strata::StratumType;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
    Neither,
}

impl Direction {
    pub fn code(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
            Direction::Neither => "neither",
        }
    }
}

/// How an indicator's value is obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Counted by the engine; the value is the numerator.
    Count,
    /// A counted indicator's numerator over the stratum's population, times `per`
    /// (Byar's/exact limits).
    RatePerPopulation { numerator: &'static str, per: f64 },
    /// The rate of each stratum of `breakdown` over the rate of its `reference` stratum.
    RateRatio { rate: &'static str, breakdown: StratumType, reference: &'static str },
}

impl Method {
    pub fn is_counted(self) -> bool {
        matches!(self, Method::Count)
    }
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Indicator {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub direction: Direction,
    pub target: Option<f64>,
    pub description: &'static str,
    pub method: Method,
}

/// Every indicator the pipeline publishes, in catalogue order.
pub const CATALOGUE: &[Indicator] = &[
    Indicator {
        id: "mha_detentions",
        title: "Mental Health Act detentions",
        unit: "count",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Detention episodes starting in the period under section 2, 3 or Part III; \
                      short-term orders and a section 3 that converts an open section 2 (or one \
                      ended at most a day before) are not counted.",
        method: Method::Count,
    },
    Indicator {
        id: "mha_detention_rate",
        title: "Mental Health Act detentions per 100,000 population",
        unit: "per 100,000",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "mha_detentions over the catchment population of the stratum, crude rate \
                      with Byar's/exact limits. England 2024-25: Black 262.4, White 65.8.",
        method: Method::RatePerPopulation { numerator: "mha_detentions", per: 100_000.0 },
    },
    Indicator {
        id: "mha_detention_rate_ratio",
        title: "Mental Health Act detention rate ratio against the White group",
        unit: "ratio",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Detention rate of each ethnic group over that of the White group. England: \
                      Black to White about 3.5 to 4.7.",
        method: Method::RateRatio {
            rate: "mha_detention_rate",
            breakdown: StratumType::EthnicGroup,
            reference: "white",
        },
    },
    Indicator {
        id: "mha_short_term_orders",
        title: "Mental Health Act short-term orders",
        unit: "count",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Episodes starting in the period under section 4, 5(2), 5(4), 135 or 136.",
        method: Method::Count,
    },
];

/// Looks an indicator up by id.
pub fn indicator(id: &str) -> Option<&'static Indicator> {
    CATALOGUE.iter().find(|i| i.id == id)
}

/// A group of counted indicators computed together from one person's events.
pub struct Family {
    pub name: &'static str,
    /// The catalogue ids this family emits.
    pub emits: &'static [&'static str],
    pub contribute: fn(&PersonView, &mut Emitter),
}

/// Every family the engine runs for each changed person.
pub const FAMILIES: &[Family] = &[mha::FAMILY];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counted_indicator_has_exactly_one_family_and_every_emit_is_catalogued() {
        for indicator in CATALOGUE.iter().filter(|i| i.method.is_counted()) {
            let families = FAMILIES.iter().filter(|f| f.emits.contains(&indicator.id)).count();
            assert_eq!(families, 1, "{} must be emitted by exactly one family", indicator.id);
        }
        for family in FAMILIES {
            for id in family.emits {
                assert!(indicator(id).is_some_and(|i| i.method.is_counted()), "{id} is not a counted catalogue row");
            }
        }
    }

    #[test]
    fn derived_indicators_refer_to_catalogued_ones() {
        for i in CATALOGUE {
            match i.method {
                Method::Count => {}
                Method::RatePerPopulation { numerator, .. } => assert!(indicator(numerator).is_some()),
                Method::RateRatio { rate, .. } => assert!(indicator(rate).is_some()),
            }
        }
    }
}
