//! Breakdowns: every indicator is published for `all` and by ethnic group, ethnic category, age
//! band, sex and deprivation quintile, from the person's current demographics
//! (`indicators.md`, "Strata"). Stratum values are a closed, bounded set of labels.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::codes::{EthnicCategory, Sex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StratumType {
    All,
    EthnicGroup,
    EthnicCategory,
    AgeBand,
    Sex,
    ImdQuintile,
}

impl StratumType {
    pub const ALL: [StratumType; 6] = [
        StratumType::All,
        StratumType::EthnicGroup,
        StratumType::EthnicCategory,
        StratumType::AgeBand,
        StratumType::Sex,
        StratumType::ImdQuintile,
    ];

    pub fn code(self) -> &'static str {
        match self {
            StratumType::All => "all",
            StratumType::EthnicGroup => "ethnic_group",
            StratumType::EthnicCategory => "ethnic_category",
            StratumType::AgeBand => "age_band",
            StratumType::Sex => "sex",
            StratumType::ImdQuintile => "imd_quintile",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Every value this breakdown can take, `unknown` last.
    pub fn values(self) -> &'static [&'static str] {
        match self {
            StratumType::All => &["all"],
            StratumType::EthnicGroup => &["white", "mixed", "asian", "black", "other", "unknown"],
            StratumType::EthnicCategory => {
                &["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "unknown"]
            }
            StratumType::AgeBand => &["0-17", "18-34", "35-49", "50-64", "65+", "unknown"],
            StratumType::Sex => &["male", "female", "other_or_unknown"],
            StratumType::ImdQuintile => &["1", "2", "3", "4", "5", "unknown"],
        }
    }

    /// The static label for a value read back from storage, or `None` if it is not one of ours.
    pub fn intern(self, value: &str) -> Option<&'static str> {
        self.values().iter().copied().find(|v| *v == value)
    }
}

pub const UNKNOWN: &str = "unknown";

/// One cell of a breakdown, e.g. (`ethnic_group`, `black`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stratum {
    pub kind: StratumType,
    pub value: &'static str,
}

impl Stratum {
    pub const ALL: Stratum = Stratum { kind: StratumType::All, value: "all" };

    /// Every stratum of every breakdown, `all` first.
    pub fn every() -> impl Iterator<Item = Stratum> {
        StratumType::ALL.into_iter().flat_map(|kind| kind.values().iter().map(move |value| Stratum { kind, value }))
    }

    /// Whether a rate per population may be published for it (`unknown` strata get counts only).
    pub fn has_population(self) -> bool {
        self.value != UNKNOWN && !(self.kind == StratumType::Sex && self.value == "other_or_unknown")
    }
}

/// A person's current demographics, as the breakdowns need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub ethnic_category: EthnicCategory,
    pub imd_decile: Option<u8>,
}

/// Whole years from `birth` to `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

pub fn age_band(age: i32) -> &'static str {
    match age {
        i32::MIN..=17 => "0-17",
        18..=34 => "18-34",
        35..=49 => "35-49",
        50..=64 => "50-64",
        _ => "65+",
    }
}

pub fn ethnic_group(category: EthnicCategory) -> &'static str {
    use EthnicCategory::*;
    match category {
        A | B | C => "white",
        D | E | F | G => "mixed",
        H | J | K | L => "asian",
        M | N | P => "black",
        R | S => "other",
        NotStated | NotKnown => UNKNOWN,
    }
}

/// The ethnic-category stratum label: the letter, or `unknown` for Z and 99.
pub fn ethnic_category_label(category: EthnicCategory) -> &'static str {
    match category {
        EthnicCategory::NotStated | EthnicCategory::NotKnown => UNKNOWN,
        known => known.code(),
    }
}

pub fn sex_label(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Indeterminate | Sex::NotKnown => "other_or_unknown",
    }
}

/// Quintile label ⌈decile / 2⌉, 1 most deprived.
pub fn imd_quintile_label(decile: Option<u8>) -> &'static str {
    match decile {
        Some(1 | 2) => "1",
        Some(3 | 4) => "2",
        Some(5 | 6) => "3",
        Some(7 | 8) => "4",
        Some(9 | 10) => "5",
        _ => UNKNOWN,
    }
}

/// The six strata (one per breakdown) a person falls in for a period ending on `period_end`.
pub fn strata_of(attributes: Option<&Attributes>, period_end: NaiveDate) -> [Stratum; 6] {
    strata_in_band(attributes, age_band_on(attributes, period_end))
}

/// The person's age-band label for a period ending on `period_end`, `unknown` without
/// demographics. Of the six breakdowns only this one moves from period to period.
pub fn age_band_on(attributes: Option<&Attributes>, period_end: NaiveDate) -> &'static str {
    attributes.map_or(UNKNOWN, |a| age_band(age_on(a.birth_date, period_end)))
}

/// The six strata of a person whose age band is `band` (one of [`StratumType::AgeBand`]'s
/// values, as [`age_band_on`] gives).
pub fn strata_in_band(attributes: Option<&Attributes>, band: &'static str) -> [Stratum; 6] {
    let cell = |kind, value| Stratum { kind, value };
    match attributes {
        None => [
            Stratum::ALL,
            cell(StratumType::EthnicGroup, UNKNOWN),
            cell(StratumType::EthnicCategory, UNKNOWN),
            cell(StratumType::AgeBand, band),
            cell(StratumType::Sex, "other_or_unknown"),
            cell(StratumType::ImdQuintile, UNKNOWN),
        ],
        Some(a) => [
            Stratum::ALL,
            cell(StratumType::EthnicGroup, ethnic_group(a.ethnic_category)),
            cell(StratumType::EthnicCategory, ethnic_category_label(a.ethnic_category)),
            cell(StratumType::AgeBand, band),
            cell(StratumType::Sex, sex_label(a.sex)),
            cell(StratumType::ImdQuintile, imd_quintile_label(a.imd_decile)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn age_is_whole_years_at_period_end() {
        assert_eq!(age_on(d("1959-06-15"), d("2024-06-14")), 64);
        assert_eq!(age_on(d("1959-06-15"), d("2024-06-15")), 65);
        assert_eq!(age_band(17), "0-17");
        assert_eq!(age_band(18), "18-34");
        assert_eq!(age_band(65), "65+");
    }

    #[test]
    fn a_person_without_demographics_is_unknown_everywhere() {
        let strata = strata_of(None, d("2024-01-31"));
        assert!(strata[1..].iter().all(|s| !s.has_population()));
    }

    #[test]
    fn broad_groups_and_quintiles_follow_the_catalogue() {
        assert_eq!(ethnic_group(EthnicCategory::C), "white");
        assert_eq!(ethnic_group(EthnicCategory::G), "mixed");
        assert_eq!(ethnic_group(EthnicCategory::L), "asian");
        assert_eq!(ethnic_group(EthnicCategory::P), "black");
        assert_eq!(ethnic_group(EthnicCategory::S), "other");
        assert_eq!(ethnic_group(EthnicCategory::NotKnown), "unknown");
        assert_eq!(imd_quintile_label(Some(1)), "1");
        assert_eq!(imd_quintile_label(Some(10)), "5");
        assert_eq!(imd_quintile_label(None), "unknown");
        assert_eq!(Stratum::every().count(), 39);
    }
}
