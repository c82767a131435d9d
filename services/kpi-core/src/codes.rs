//! The coded values of the event contract (`docs/events.md`), each a closed enum whose wire
//! form is exactly the contract's code. Validation parses raw strings into these once.

use serde::{Deserialize, Serialize};

/// Declares a closed code list: the enum, its serde form, `parse` and `code`.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $code)] $variant),+
        }

        impl $name {
            /// Every code, in the contract's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value for a contract code, or `None` for a code the contract does not list.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The contract's code for this value.
            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
        }
    };
}

code_enum!(
    /// Person stated sex (NHS Data Dictionary).
    Sex { Male = "1", Female = "2", Indeterminate = "9", NotKnown = "X" }
);

code_enum!(
    /// Ethnic category (NHS Data Dictionary, 2001 census categories).
    EthnicCategory {
        A = "A", B = "B", C = "C", D = "D", E = "E", F = "F", G = "G", H = "H", J = "J",
        K = "K", L = "L", M = "M", N = "N", P = "P", R = "R", S = "S",
        NotStated = "Z", NotKnown = "99",
    }
);

code_enum!(
    Service {
        CommunityMentalHealth = "community_mental_health",
        CrisisHomeTreatment = "crisis_home_treatment",
        Inpatient = "inpatient",
        EarlyInterventionPsychosis = "early_intervention_psychosis",
        TalkingTherapies = "talking_therapies",
        Perinatal = "perinatal",
        LearningDisability = "learning_disability",
        MemoryAssessment = "memory_assessment",
        Liaison = "liaison",
        Other = "other",
    }
);

code_enum!(
    ContactPurpose { Assessment = "assessment", Treatment = "treatment", Review = "review", Other = "other" }
);

code_enum!(
    /// Mental Health Act 1983 section under which a person is detained or held.
    MhaSection {
        S2 = "2", S3 = "3", S4 = "4", S5_2 = "5(2)", S5_4 = "5(4)", S35 = "35", S36 = "36",
        S37 = "37", S37_41 = "37/41", S38 = "38", S44 = "44", S45A = "45A", S47 = "47",
        S47_49 = "47/49", S48 = "48", S48_49 = "48/49", S135 = "135", S136 = "136",
    }
);

impl MhaSection {
    /// Short-term orders: holding powers and places of safety, not detentions.
    pub fn is_short_term_order(self) -> bool {
        matches!(self, Self::S4 | Self::S5_2 | Self::S5_4 | Self::S135 | Self::S136)
    }

    /// Sections counted as detention episodes: 2, 3 and Part III.
    pub fn is_detention(self) -> bool {
        !self.is_short_term_order()
    }
}

code_enum!(
    DeathCause {
        SuspectedSuicide = "suspected_suicide", Natural = "natural", Accident = "accident",
        Other = "other", Unknown = "unknown",
    }
);

code_enum!(
    DeathPlace {
        UsualResidence = "usual_residence", CareHome = "care_home", Hospital = "hospital",
        Hospice = "hospice", Other = "other", Unknown = "unknown",
    }
);

code_enum!(
    Instrument { Phq9 = "PHQ9", Gad7 = "GAD7", Honos = "HONOS", Reqol10 = "REQOL10" }
);

impl Instrument {
    /// Number of items a rating must have.
    pub fn item_count(self) -> usize {
        match self {
            Self::Phq9 => 9,
            Self::Gad7 => 7,
            Self::Honos => 12,
            Self::Reqol10 => 10,
        }
    }

    /// Highest valid item score (HoNOS also allows 9, "not known").
    pub fn max_item(self) -> u8 {
        match self {
            Self::Phq9 | Self::Gad7 => 3,
            Self::Honos | Self::Reqol10 => 4,
        }
    }

    /// The total of a valid rating: the sum of items, HoNOS "not known" (9) excluded.
    pub fn total(self, items: &[u8]) -> u32 {
        items
            .iter()
            .filter(|&&item| !(self == Self::Honos && item == HONOS_NOT_KNOWN))
            .map(|&item| u32::from(item))
            .sum()
    }
}

/// The HoNOS item value meaning "not known".
pub const HONOS_NOT_KNOWN: u8 = 9;

code_enum!(
    FftAnswer {
        VeryGood = "very_good", Good = "good", Neither = "neither", Poor = "poor",
        VeryPoor = "very_poor", DontKnow = "dont_know",
    }
);

code_enum!(
    Accommodation {
        SettledMainstream = "settled_mainstream", SettledSupported = "settled_supported",
        Temporary = "temporary", Homeless = "homeless", RoughSleeping = "rough_sleeping",
        HospitalOrCare = "hospital_or_care", CriminalJustice = "criminal_justice",
        Other = "other", Unknown = "unknown",
    }
);

code_enum!(
    Smoking { Current = "current", Ex = "ex", Never = "never", Unknown = "unknown" }
);

code_enum!(
    OutOfAreaReason {
        NoLocalBed = "no_local_bed", Safeguarding = "safeguarding",
        OffendingRestrictions = "offending_restrictions", StaffOrFamily = "staff_or_family",
        PatientChoice = "patient_choice", Unknown = "unknown",
    }
);

code_enum!(
    InterventionKind {
        PhysicalRestraint = "physical_restraint", MechanicalRestraint = "mechanical_restraint",
        RapidTranquillisation = "rapid_tranquillisation",
        OtherChemicalRestraint = "other_chemical_restraint", Seclusion = "seclusion",
        Segregation = "segregation",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_parse_and_serde() {
        for section in MhaSection::ALL {
            assert_eq!(MhaSection::parse(section.code()), Some(*section));
            let json = serde_json::to_string(section).unwrap();
            assert_eq!(json, format!("\"{}\"", section.code()));
        }
        assert_eq!(EthnicCategory::parse("I"), None, "I is not an NHS ethnic category");
        assert_eq!(EthnicCategory::ALL.len(), 18);
    }

    #[test]
    fn honos_total_excludes_not_known_items() {
        let items = [1, 2, 9, 4, 0, 0, 9, 1, 1, 1, 1, 1];
        assert_eq!(Instrument::Honos.total(&items), 12);
        assert_eq!(Instrument::Phq9.total(&[3; 9]), 27);
    }
}
