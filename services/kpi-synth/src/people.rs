//! Synthetic people and their demographics (kpi-synth → `kpi generate` → NDJSON → `kpi produce`
//! → raw topic): identifiers, an adult-heavy age spread, sex, England-like ethnic categories,
//! deprivation skewed to the most deprived deciles, and a clinical profile that drives the
//! care pathways.

use crate::dist::{self, chance, pick, Rng};
use crate::nhs;
use crate::time::{Window, DAY};
use rand::Rng as _;

/// What kind of care a person mostly needs; it shapes every pathway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Under 18: children and young people's services.
    Child,
    /// Common mental disorders (depression, anxiety, …).
    Common,
    /// Severe mental illness (psychosis, bipolar disorder).
    Smi,
    /// Dementia (older people).
    Dementia,
}

/// Broad ethnic group of a category code, as the indicators stratify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    White,
    Mixed,
    Asian,
    Black,
    Other,
    Unknown,
}

pub fn group_of(ethnic: &str) -> Group {
    match ethnic {
        "A" | "B" | "C" => Group::White,
        "D" | "E" | "F" | "G" => Group::Mixed,
        "H" | "J" | "K" | "L" => Group::Asian,
        "M" | "N" | "P" => Group::Black,
        "R" | "S" => Group::Other,
        _ => Group::Unknown,
    }
}

/// Ethnic category shares (per 1,000) loosely after Census 2021 for England, adjusted for a
/// mental health caseload: White ~78%, Mixed ~3%, Asian ~9%, Black ~4%, Other ~2%, Z/99 ~4%.
const ETHNIC: &[(&str, u32)] = &[
    ("A", 730),
    ("B", 20),
    ("C", 30),
    ("D", 8),
    ("E", 5),
    ("F", 7),
    ("G", 10),
    ("H", 30),
    ("J", 25),
    ("K", 9),
    ("L", 26),
    ("M", 12),
    ("N", 23),
    ("P", 5),
    ("R", 5),
    ("S", 15),
    ("Z", 25),
    ("99", 15),
];

/// IMD deciles 1 (most deprived) … 10: mental health caseloads are skewed to deprivation.
const IMD: &[(u8, u32)] = &[(1, 16), (2, 14), (3, 12), (4, 11), (5, 10), (6, 9), (7, 8), (8, 7), (9, 7), (10, 6)];

/// Age at the start of the window: (lowest, highest, weight).
const AGES: &[((i64, i64), u32)] = &[
    ((5, 17), 10),
    ((18, 24), 12),
    ((25, 34), 18),
    ((35, 49), 22),
    ((50, 64), 17),
    ((65, 74), 9),
    ((75, 84), 8),
    ((85, 99), 4),
];

#[derive(Debug, Clone)]
pub struct Person {
    /// `idx + 1`: the base of every id made for this person.
    pub no: u64,
    /// The `person_id` on the wire.
    pub id: String,
    pub has_nhs_number: bool,
    /// Birth date, days since 1970-01-01.
    pub birth: i64,
    pub sex: &'static str,
    /// The true (finally recorded) ethnic category.
    pub ethnic: &'static str,
    /// A first, mistaken category that a later demographics event corrects.
    pub first_ethnic: Option<&'static str>,
    pub imd: Option<u8>,
    /// Whether any `demographics` event is sent (~95%).
    pub has_demographics: bool,
    pub profile: Profile,
    /// Index of the person's locality team.
    pub locality: usize,
}

impl Person {
    pub fn new(idx: u32, seed: u64, rng: &mut Rng, win: &Window) -> Person {
        let has_nhs_number = !chance(rng, 0.05);
        let id = if has_nhs_number {
            nhs::nhs_number(idx, seed, rng)
        } else {
            format!("local:RIO{:08}", u64::from(idx) + 1)
        };
        let (lo, hi) = pick(rng, AGES);
        let age = dist::int(rng, lo, hi);
        let start_day = win.start / DAY;
        let birth = start_day - age * 365 - dist::int(rng, 0, 364) - age / 4;
        let sex = pick(rng, &[("1", 485), ("2", 500), ("9", 3), ("X", 12)]);
        let ethnic = pick(rng, ETHNIC);
        let first_ethnic = if chance(rng, 0.03) { Some(mistaken(rng, ethnic)) } else { None };
        let imd = if chance(rng, 0.9) { Some(pick(rng, IMD)) } else { None };
        let has_demographics = chance(rng, 0.95);
        // Psychosis is diagnosed more often in Black and mixed groups (AESOP, APMS 2014).
        let smi = match group_of(ethnic) {
            Group::Black => 2.2,
            Group::Mixed | Group::Other => 1.5,
            Group::Asian => 1.1,
            _ => 1.0,
        };
        let profile = match age {
            0..=17 => Profile::Child,
            18..=64 if chance(rng, 0.11 * smi) => Profile::Smi,
            18..=64 => Profile::Common,
            _ if chance(rng, 0.07 * smi) => Profile::Smi,
            _ if chance(rng, if age >= 75 { 0.45 } else { 0.2 }) => Profile::Dementia,
            _ => Profile::Common,
        };
        let locality = rng.gen_range(0..4);
        Person {
            no: u64::from(idx) + 1,
            id,
            has_nhs_number,
            birth,
            sex,
            ethnic,
            first_ethnic,
            imd,
            has_demographics,
            profile,
            locality,
        }
    }

    /// Age in whole years at epoch second `t`.
    pub fn age_at(&self, t: i64) -> i64 {
        let (by, bm, bd) = crate::time::civil_from_days(self.birth);
        let (y, m, d) = crate::time::civil_from_days(t.div_euclid(DAY));
        y - by - i64::from((m, d) < (bm, bd))
    }

    pub fn group(&self) -> Group {
        group_of(self.ethnic)
    }

    pub fn female(&self) -> bool {
        self.sex == "2"
    }
}

/// A plausible first, wrong category: not stated / not known, or a neighbour in the list.
fn mistaken(rng: &mut Rng, truth: &'static str) -> &'static str {
    loop {
        let c = if chance(rng, 0.4) { pick(rng, &[("Z", 1), ("99", 1)]) } else { pick(rng, ETHNIC) };
        if c != truth {
            return c;
        }
    }
}
