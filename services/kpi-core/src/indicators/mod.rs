//! The indicator catalogue in one table (`indicators.md`): each indicator's metadata and how its
//! value is obtained from counted cells. The engine counts cells through the [`FAMILIES`] (each
//! reads one person's events and emits the cells of a group of indicators); the publisher turns
//! cells into values by each row's [`Method`].
//!
//! Adding an indicator: add its [`Indicator`] row to [`CATALOGUE`]; if it needs a new counted
//! cell, emit it from a family (or add a family to [`FAMILIES`]); then add scenario tests. The
//! tests at the bottom check that every cell a row reads is emitted by exactly one family.

mod access;
mod dementia;
mod living_well;
mod mha;
mod outcomes;
pub mod records;
mod restrictive;

pub use restrictive::nights;
mod suicide;
mod talking_therapies;

use crate::contrib::{Emitter, StateCells};
use crate::period::Period;
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

/// Occupied bed days as three counted cells. The nights of a stay in a period
/// `[start, end]` are `min(end + 1, stay end) − max(start, stay start)` (`indicators.md`), which
/// is `fixed + ends·day(end + 1) − starts·day(start)` with day numbers from [`crate::period::day_number`]:
/// a stay still open adds 1 to `ends`, a stay that began before the period adds 1 to `starts`,
/// and known stay dates go into `fixed`. The three only change when a stay opens or closes, so
/// a stay open for years costs a few rows, and the publisher gets the exact nights of any period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nights {
    pub fixed: &'static str,
    pub ends: &'static str,
    pub starts: &'static str,
}

impl Nights {
    pub fn cells(self) -> [&'static str; 3] {
        [self.fixed, self.ends, self.starts]
    }
}

/// A counted quantity that an indicator reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// The numerator of a counted cell.
    Cell(&'static str),
    /// Occupied bed days.
    Nights(Nights),
}

/// How an indicator's value is obtained from counted cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// A count; the value is the count itself.
    Count(Measure),
    /// A cell counted with its own denominator (cases that meet the definition over the
    /// cohort), as a percentage with Wilson limits.
    Percentage { cell: &'static str },
    /// A cell's count over the stratum's population, times `per` (Byar's/exact limits).
    RatePerPopulation { numerator: &'static str, per: f64 },
    /// A cell's count of people over the stratum's population aged `min_age` and over, as a
    /// percentage with Wilson limits (no value for strata whose population has no ages).
    PercentageOfPopulation { numerator: &'static str, min_age: u32 },
    /// A cell's count over a counted measure (people on the caseload, bed days), times `per`
    /// (Byar's/exact limits).
    RatePer { numerator: &'static str, denominator: Measure, per: f64 },
    /// The rate of each stratum of `breakdown` over the rate of its `reference` stratum.
    RateRatio { rate: &'static str, breakdown: StratumType, reference: &'static str },
}

impl Method {
    /// A short label for the catalogue table.
    pub fn code(self) -> &'static str {
        match self {
            Method::Count(_) => "count",
            Method::Percentage { .. } => "percentage_wilson",
            Method::RatePerPopulation { .. } => "crude_rate_byars",
            Method::PercentageOfPopulation { .. } => "percentage_of_population_wilson",
            Method::RatePer { .. } => "rate_per_count_byars",
            Method::RateRatio { .. } => "rate_ratio",
        }
    }

    /// How the value is computed, in words, for the catalogue table.
    pub fn describe(self) -> String {
        let measure = |m: Measure| match m {
            Measure::Cell(cell) => cell.to_owned(),
            Measure::Nights(_) => "occupied bed days".to_owned(),
        };
        match self {
            Method::Count(m) => format!("count of {}", measure(m)),
            Method::Percentage { .. } => "percentage of the cohort, Wilson score limits".to_owned(),
            Method::RatePerPopulation { numerator, per } => {
                format!("{numerator} per {per} population, Byar's/exact limits")
            }
            Method::PercentageOfPopulation { numerator, min_age } => {
                format!("{numerator} as a percentage of the population aged {min_age}+, Wilson score limits")
            }
            Method::RatePer { numerator, denominator, per } => {
                format!("{numerator} per {per} {}, Byar's/exact limits", measure(denominator))
            }
            Method::RateRatio { rate, breakdown, reference } => {
                format!("{rate} of each {} over {reference}, limits on the log scale", breakdown.code())
            }
        }
    }

    /// The counted cells this method reads.
    pub fn cells(self) -> Vec<&'static str> {
        let measure = |m: Measure| match m {
            Measure::Cell(cell) => vec![cell],
            Measure::Nights(nights) => nights.cells().to_vec(),
        };
        match self {
            Method::Count(m) => measure(m),
            Method::Percentage { cell } => vec![cell],
            Method::RatePerPopulation { numerator, .. } | Method::PercentageOfPopulation { numerator, .. } => {
                vec![numerator]
            }
            Method::RatePer { numerator, denominator, .. } => {
                let mut cells = measure(denominator);
                cells.push(numerator);
                cells
            }
            Method::RateRatio { rate, .. } => indicator(rate).map(|i| i.method.cells()).unwrap_or_default(),
        }
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
        description: "Detention episodes starting in the period under section 2, 3 or Part III; short-term orders and a section 3 that converts an open section 2 (or one ended at most a day before) are not counted.",
        method: Method::Count(Measure::Cell("mha_detentions")),
    },
    Indicator {
        id: "mha_detention_rate",
        title: "Mental Health Act detentions per 100,000 population",
        unit: "per 100,000",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "mha_detentions over the catchment population of the stratum, crude rate with Byar's/exact limits. England 2024-25: Black 262.4, White 65.8.",
        method: Method::RatePerPopulation { numerator: "mha_detentions", per: 100_000.0 },
    },
    Indicator {
        id: "mha_detention_rate_ratio",
        title: "Mental Health Act detention rate ratio against the White group",
        unit: "ratio",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Detention rate of each ethnic group over that of the White group. England: Black to White about 3.5 to 4.7.",
        method: Method::RateRatio { rate: "mha_detention_rate", breakdown: StratumType::EthnicGroup, reference: "white" },
    },
    Indicator {
        id: "mha_short_term_orders",
        title: "Mental Health Act short-term orders",
        unit: "count",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Episodes starting in the period under section 4, 5(2), 5(4), 135 or 136.",
        method: Method::Count(Measure::Cell("mha_short_term_orders")),
    },
    Indicator {
        id: "suspected_suicides",
        title: "Deaths by suspected suicide of people in contact with services",
        unit: "count",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Deaths with cause suspected_suicide in the period of people with an open referral or an attended contact in the 12 months (365 days) up to the death.",
        method: Method::Count(Measure::Cell("suspected_suicides")),
    },
    Indicator {
        id: "suspected_suicide_rate",
        title: "Suspected suicides per 100,000 people in contact",
        unit: "per 100,000",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "suspected_suicides over the people with an open referral during the period, crude rate with Byar's/exact limits. NCISH: patients are about 26% of all suicides.",
        method: Method::RatePer { numerator: "suspected_suicides", denominator: Measure::Cell("people_with_open_referral"), per: 100_000.0 },
    },
    Indicator {
        id: "tt_finished_treatment",
        title: "NHS Talking Therapies: referrals finishing a course of treatment",
        unit: "count",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Talking Therapies referrals discharged in the period with at least two attended treatment contacts and paired PHQ-9 and GAD-7 scores.",
        method: Method::Count(Measure::Cell("tt_finished_treatment")),
    },
    Indicator {
        id: "tt_recovery_rate",
        title: "NHS Talking Therapies recovery rate",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: Some(50.0),
        description: "Finished-treatment referrals at caseness at the first score (PHQ-9 >= 10 or GAD-7 >= 8) and below both cut-offs at the last, over those at caseness at the first score. Target 50%.",
        method: Method::Percentage { cell: "tt_recovery_rate" },
    },
    Indicator {
        id: "tt_reliable_improvement_rate",
        title: "NHS Talking Therapies reliable improvement rate",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: Some(67.0),
        description: "Finished-treatment referrals with a reliable decrease (PHQ-9 by 6, GAD-7 by 4) on at least one measure and a reliable increase on neither. Target 67%.",
        method: Method::Percentage { cell: "tt_reliable_improvement_rate" },
    },
    Indicator {
        id: "tt_reliable_recovery_rate",
        title: "NHS Talking Therapies reliable recovery rate",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: Some(48.0),
        description: "Recovered and reliably improved, over finished-treatment referrals at caseness at the first score. Target 48%.",
        method: Method::Percentage { cell: "tt_reliable_recovery_rate" },
    },
    Indicator {
        id: "tt_reliable_deterioration_rate",
        title: "NHS Talking Therapies reliable deterioration rate",
        unit: "%",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Finished-treatment referrals with a reliable increase on at least one measure and a reliable decrease on neither.",
        method: Method::Percentage { cell: "tt_reliable_deterioration_rate" },
    },
    Indicator {
        id: "smi_settled_accommodation_pct",
        title: "People with SMI in settled accommodation",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "People aged 18-69 with SMI on the caseload at period end whose latest accommodation status within 12 months is settled (mainstream or supported); not recorded counts as not settled (ASCOF 1H).",
        method: Method::Percentage { cell: "smi_settled_accommodation_pct" },
    },
    Indicator {
        id: "accommodation_recorded_pct",
        title: "People with SMI with accommodation status recorded",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Same people as smi_settled_accommodation_pct; numerator: any accommodation status recorded within 12 months (data quality).",
        method: Method::Percentage { cell: "accommodation_recorded_pct" },
    },
    Indicator {
        id: "smi_smoking_pct",
        title: "People with SMI who smoke",
        unit: "%",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "People aged 18+ with SMI on the caseload at period end whose latest smoking status within 12 months is current, over those with a smoking status recorded within 12 months. England 40.5% (2014/15).",
        method: Method::Percentage { cell: "smi_smoking_pct" },
    },
    Indicator {
        id: "homelessness_pct",
        title: "People on the caseload who are homeless",
        unit: "%",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "People on the caseload at period end whose latest accommodation status within 12 months is homeless or rough sleeping, over the caseload at period end.",
        method: Method::Percentage { cell: "homelessness_pct" },
    },
    Indicator {
        id: "dementia_recorded_prevalence",
        title: "Recorded dementia prevalence, people aged 65 and over",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "People aged 65+ alive at period end with a dementia diagnosis (F00-F03, G30) recorded on or before it, over the population aged 65+. National ambition: diagnosis rate 66.7% of expected.",
        method: Method::PercentageOfPopulation { numerator: "dementia_recorded_prevalence", min_age: 65 },
    },
    Indicator {
        id: "dementia_deaths_usual_residence_pct",
        title: "Deaths of people with dementia at their usual residence",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Deaths in the period of people aged 65+ with dementia, cause not suspected suicide or accident, at their usual residence or a care home, over all those deaths.",
        method: Method::Percentage { cell: "dementia_deaths_usual_residence_pct" },
    },
    Indicator {
        id: "honos_reliable_improvement_pct",
        title: "HoNOS reliable improvement",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Referrals discharged in the period with paired HoNOS whose total (unknown items excluded) fell by 8 or more, over referrals with paired HoNOS (Parabiaghi 2005).",
        method: Method::Percentage { cell: "honos_reliable_improvement_pct" },
    },
    Indicator {
        id: "honos_reliable_deterioration_pct",
        title: "HoNOS reliable deterioration",
        unit: "%",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Referrals discharged in the period with paired HoNOS whose total rose by 8 or more, over referrals with paired HoNOS.",
        method: Method::Percentage { cell: "honos_reliable_deterioration_pct" },
    },
    Indicator {
        id: "reqol_reliable_improvement_pct",
        title: "ReQoL-10 reliable improvement",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Referrals discharged in the period with paired ReQoL-10 whose total rose by 5 or more, over referrals with paired ReQoL-10.",
        method: Method::Percentage { cell: "reqol_reliable_improvement_pct" },
    },
    Indicator {
        id: "fft_positive_pct",
        title: "Friends and Family Test: positive responses",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Responses in the period that are very good or good, over all responses (don't know included).",
        method: Method::Percentage { cell: "fft_positive_pct" },
    },
    Indicator {
        id: "occupied_bed_days",
        title: "Occupied bed days",
        unit: "bed days",
        direction: Direction::Neither,
        target: None,
        description: "Nights of ward stays in the period: from max(stay start, period start) to min(stay end, period end + 1 day); a stay still open counts to period end + 1.",
        method: Method::Count(Measure::Nights(restrictive::BED_DAYS_CELLS)),
    },
    Indicator {
        id: "restrictive_interventions_rate",
        title: "Restrictive interventions per 1,000 occupied bed days",
        unit: "per 1,000 bed days",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Restrictive intervention events in the period over occupied bed days of the stratum, times 1,000, Byar's/exact limits.",
        method: Method::RatePer { numerator: "restrictive_interventions", denominator: Measure::Nights(restrictive::BED_DAYS_CELLS), per: 1_000.0 },
    },
    Indicator {
        id: "restraint_rate",
        title: "Physical and mechanical restraint per 1,000 occupied bed days",
        unit: "per 1,000 bed days",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Restrictive interventions of kind physical_restraint or mechanical_restraint per 1,000 occupied bed days.",
        method: Method::RatePer { numerator: "restraints", denominator: Measure::Nights(restrictive::BED_DAYS_CELLS), per: 1_000.0 },
    },
    Indicator {
        id: "seclusion_rate",
        title: "Seclusion per 1,000 occupied bed days",
        unit: "per 1,000 bed days",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Restrictive interventions of kind seclusion per 1,000 occupied bed days.",
        method: Method::RatePer { numerator: "seclusions", denominator: Measure::Nights(restrictive::BED_DAYS_CELLS), per: 1_000.0 },
    },
    Indicator {
        id: "rapid_tranquillisation_rate",
        title: "Rapid tranquillisation per 1,000 occupied bed days",
        unit: "per 1,000 bed days",
        direction: Direction::LowerIsBetter,
        target: None,
        description: "Restrictive interventions of kind rapid_tranquillisation per 1,000 occupied bed days.",
        method: Method::RatePer { numerator: "rapid_tranquillisations", denominator: Measure::Nights(restrictive::BED_DAYS_CELLS), per: 1_000.0 },
    },
    Indicator {
        id: "inappropriate_oap_bed_days",
        title: "Inappropriate out-of-area placement bed days",
        unit: "bed days",
        direction: Direction::LowerIsBetter,
        target: Some(0.0),
        description: "Occupied bed days of stays out of area because no local bed was available. National ambition: 0.",
        method: Method::Count(Measure::Nights(restrictive::OAP_BED_DAYS_CELLS)),
    },
    Indicator {
        id: "cmh_4_week_wait_pct",
        title: "Community mental health: first contact within 4 weeks",
        unit: "%",
        direction: Direction::HigherIsBetter,
        target: None,
        description: "Community mental health referrals whose first attended contact falls in the period: those seen within 28 days of the referral, over all of them.",
        method: Method::Percentage { cell: "cmh_4_week_wait_pct" },
    },
];

/// Looks an indicator up by id.
pub fn indicator(id: &str) -> Option<&'static Indicator> {
    CATALOGUE.iter().find(|i| i.id == id)
}

/// The static name of a counted cell read back from storage, or `None` if no family emits it.
pub fn counted_cell(name: &str) -> Option<&'static str> {
    FAMILIES.iter().flat_map(|f| f.emits.iter().copied()).find(|cell| *cell == name)
}

/// A group of counted cells computed together from one person's events.
pub struct Family {
    pub name: &'static str,
    /// The cells this family emits.
    pub emits: &'static [&'static str],
    pub shape: Shape,
}

/// How a family's cells relate to periods.
pub enum Shape {
    /// Amounts dated by an event (a detention, a discharge, a response): they belong to the
    /// periods that contain the date.
    Dated(fn(&PersonView, &mut Emitter)),
    /// A state at each period (on the caseload at its end, open during it, nights in it): the
    /// family gives its value at each period asked for, and `contrib` asks at every period where
    /// it can change.
    State(fn(&PersonView, &[Period], &mut StateCells)),
}

/// Every family the engine runs for each changed person.
pub const FAMILIES: &[Family] = &[
    mha::FAMILY,
    suicide::DEATHS,
    suicide::OPEN_REFERRALS,
    talking_therapies::FAMILY,
    living_well::FAMILY,
    dementia::DEATHS,
    dementia::PREVALENCE,
    outcomes::PAIRED_SCORES,
    outcomes::FRIENDS_AND_FAMILY,
    restrictive::INTERVENTIONS,
    restrictive::BED_DAYS,
    access::FAMILY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_read_is_emitted_by_exactly_one_family_and_every_emitted_cell_is_read() {
        let read: Vec<&str> = CATALOGUE.iter().flat_map(|i| i.method.cells()).collect();
        for cell in &read {
            let families = FAMILIES.iter().filter(|f| f.emits.contains(cell)).count();
            assert_eq!(families, 1, "{cell} must be emitted by exactly one family");
        }
        for family in FAMILIES {
            for cell in family.emits {
                assert!(read.contains(cell), "{} emits {cell}, which no catalogue row reads", family.name);
            }
        }
    }

    #[test]
    fn ids_are_unique_and_ratios_refer_to_population_rates() {
        for (n, i) in CATALOGUE.iter().enumerate() {
            assert!(CATALOGUE[..n].iter().all(|j| j.id != i.id), "{} twice", i.id);
            if let Method::RateRatio { rate, .. } = i.method {
                assert!(matches!(indicator(rate).map(|r| r.method), Some(Method::RatePerPopulation { .. })));
            }
        }
    }

    #[test]
    fn the_catalogue_has_every_indicator_of_indicators_md() {
        let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/indicators.md"))
            .expect("docs/indicators.md is the catalogue's specification");
        let ids: Vec<&str> = spec
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        assert!(ids.len() >= 28, "read {} ids from indicators.md", ids.len());
        for id in &ids {
            assert!(indicator(id).is_some(), "{id} is in indicators.md but not in CATALOGUE");
        }
        for i in CATALOGUE {
            assert!(ids.contains(&i.id), "{} is in CATALOGUE but not in indicators.md", i.id);
        }
    }
}
