//! Reference populations (not events): the catchment's population by ethnic category, sex and
//! single year of age, and by deprivation quintile, giving the denominators of rates per
//! population (`events.md`, "Reference data").

use std::collections::BTreeMap;
use std::io::Read;

use crate::codes::{EthnicCategory, Sex};
use crate::strata::{age_band, ethnic_category_label, ethnic_group, sex_label, Stratum, StratumType};

#[derive(Debug, thiserror::Error)]
pub enum PopulationError {
    #[error("{file}, line {line}: {problem}")]
    BadRow { file: &'static str, line: u64, problem: String },
    #[error("{file}: {0}", file = .1)]
    Csv(#[source] csv::Error, &'static str),
    #[error("{file} has no rows: give the catchment's population (see deploy/reference/README.md)")]
    Empty { file: &'static str },
}

/// Ages in `population.csv`: 0 to 90, 90 meaning 90 and over.
const AGES: usize = 91;

/// Population per stratum and single year of age (deprivation quintiles have no ages), summed
/// once from the reference files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Population {
    by_age: BTreeMap<Stratum, [f64; AGES]>,
    by_quintile: BTreeMap<Stratum, f64>,
}

#[derive(serde::Deserialize)]
struct Row {
    ethnic_category: String,
    sex: String,
    age: u32,
    population: f64,
}

#[derive(serde::Deserialize)]
struct ImdRow {
    imd_quintile: u8,
    population: f64,
}

impl Population {
    /// Reads `population.csv` (ethnic_category,sex,age,population) and `population_imd.csv`
    /// (imd_quintile,population).
    pub fn from_csv(population: impl Read, imd: impl Read) -> Result<Self, PopulationError> {
        const MAIN: &str = "population.csv";
        const IMD: &str = "population_imd.csv";
        let mut by_age: BTreeMap<Stratum, [f64; AGES]> = BTreeMap::new();
        let mut by_quintile = BTreeMap::new();
        let mut rows = 0;
        for (index, row) in csv::Reader::from_reader(population).deserialize::<Row>().enumerate() {
            let line = index as u64 + 2;
            let row = row.map_err(|e| PopulationError::Csv(e, MAIN))?;
            let bad = |problem: String| PopulationError::BadRow { file: MAIN, line, problem };
            let category = EthnicCategory::parse(&row.ethnic_category)
                .filter(|c| ethnic_group(*c) != "unknown")
                .ok_or_else(|| bad(format!("ethnic_category {:?} is not a category A-S", row.ethnic_category)))?;
            let sex = Sex::parse(&row.sex)
                .filter(|s| matches!(s, Sex::Male | Sex::Female))
                .ok_or_else(|| bad(format!("sex {:?} must be 1 or 2", row.sex)))?;
            if row.age > 90 {
                return Err(bad(format!("age {} must be 0-90 (90 meaning 90 and over)", row.age)));
            }
            if !(row.population.is_finite() && row.population >= 0.0) {
                return Err(bad(format!("population {} must be a non-negative number", row.population)));
            }
            for stratum in [
                Stratum::ALL,
                Stratum { kind: StratumType::EthnicGroup, value: ethnic_group(category) },
                Stratum { kind: StratumType::EthnicCategory, value: ethnic_category_label(category) },
                Stratum { kind: StratumType::AgeBand, value: age_band(row.age as i32) },
                Stratum { kind: StratumType::Sex, value: sex_label(sex) },
            ] {
                by_age.entry(stratum).or_insert([0.0; AGES])[row.age as usize] += row.population;
            }
            rows += 1;
        }
        if rows == 0 {
            return Err(PopulationError::Empty { file: MAIN });
        }
        let mut imd_rows = 0;
        for (index, row) in csv::Reader::from_reader(imd).deserialize::<ImdRow>().enumerate() {
            let row = row.map_err(|e| PopulationError::Csv(e, IMD))?;
            let value = StratumType::ImdQuintile
                .intern(&row.imd_quintile.to_string())
                .filter(|v| *v != "unknown")
                .ok_or_else(|| PopulationError::BadRow {
                    file: IMD,
                    line: index as u64 + 2,
                    problem: format!("imd_quintile {} must be 1-5", row.imd_quintile),
                })?;
            *by_quintile.entry(Stratum { kind: StratumType::ImdQuintile, value }).or_insert(0.0) += row.population;
            imd_rows += 1;
        }
        if imd_rows == 0 {
            return Err(PopulationError::Empty { file: IMD });
        }
        Ok(Population { by_age, by_quintile })
    }

    /// The population of a stratum, `None` for strata that get no rate (`unknown`) or are absent.
    pub fn of(&self, stratum: Stratum) -> Option<f64> {
        if stratum.kind == StratumType::ImdQuintile {
            return self.by_quintile.get(&stratum).copied().filter(|n| *n > 0.0 && stratum.has_population());
        }
        self.aged(stratum, 0)
    }

    /// The population of a stratum aged `min_age` and over; `None` also for deprivation
    /// quintiles, whose reference file has no ages.
    pub fn aged(&self, stratum: Stratum, min_age: u32) -> Option<f64> {
        if !stratum.has_population() {
            return None;
        }
        let ages = self.by_age.get(&stratum)?;
        let n: f64 = ages.iter().skip(min_age as usize).sum();
        Some(n).filter(|n| *n > 0.0)
    }
}
