//! What gets recorded at contacts (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw
//! topic): outcome ratings, diagnoses by profile, accommodation and smoking status, and
//! friends-and-family responses.

use super::services::Service;
use super::{scores, Builder};
use crate::dist::{chance, pick};
use crate::event::{Instrument, Payload};
use crate::people::Profile;
use crate::time::MINUTE;
pub fn outcome(b: &mut Builder, r: u64, t: i64, instrument: Instrument, total: f64) {
    let items = scores::items(b.rng, instrument, total);
    b.clinical(t, Payload::Outcome { referral: r, instrument, items });
}

pub fn fft(b: &mut Builder, t: i64, svc: Service) {
    let response = pick(
        b.rng,
        &[("very_good", 58), ("good", 24), ("neither", 6), ("poor", 3), ("very_poor", 2), ("dont_know", 7)],
    );
    let team = chance(b.rng, 0.7).then(|| svc.team(b.p.locality));
    b.clinical(t, Payload::Fft { response, team });
}

/// Accommodation and smoking status, as recorded at assessments and annual reviews.
pub fn statuses(b: &mut Builder, t: i64) {
    let smi = b.p.profile == Profile::Smi;
    let status = if smi {
        pick(
            b.rng,
            &[
                ("settled_mainstream", 52),
                ("settled_supported", 16),
                ("temporary", 6),
                ("homeless", 5),
                ("rough_sleeping", 1),
                ("hospital_or_care", 6),
                ("criminal_justice", 2),
                ("other", 4),
                ("unknown", 8),
            ],
        )
    } else {
        pick(
            b.rng,
            &[
                ("settled_mainstream", 80),
                ("settled_supported", 4),
                ("temporary", 5),
                ("homeless", 3),
                ("rough_sleeping", 1),
                ("other", 3),
                ("unknown", 4),
            ],
        )
    };
    b.clinical(t + 30 * MINUTE, Payload::Accommodation { status });
    if b.p.age_at(t) >= 16 {
        let mix: &[(&str, u32)] = if smi {
            &[("current", 40), ("ex", 20), ("never", 30), ("unknown", 10)]
        } else {
            &[("current", 18), ("ex", 25), ("never", 52), ("unknown", 5)]
        };
        let status = pick(b.rng, mix);
        b.clinical(t + 35 * MINUTE, Payload::Smoking { status });
    }
}

/// The diagnosis a person's profile makes likely.
pub fn diagnosis(b: &mut Builder, t: i64, r: u64) {
    let code = match b.p.profile {
        Profile::Smi => {
            b.smi_diagnosed = true;
            pick(
                b.rng,
                &[
                    ("F20.0", 30),
                    ("F20.9", 8),
                    ("F25.0", 6),
                    ("F25.1", 5),
                    ("F23.9", 7),
                    ("F29", 10),
                    ("F22.0", 5),
                    ("F28", 2),
                    ("F31.1", 8),
                    ("F31.3", 8),
                    ("F31.9", 8),
                    ("F30.1", 3),
                ],
            )
        }
        Profile::Dementia => pick(
            b.rng,
            &[("F00.1", 25), ("F00.9", 10), ("G30.1", 12), ("G30.9", 8), ("F01.9", 20), ("F03", 20), ("F02.3", 5)],
        ),
        Profile::Child => {
            pick(b.rng, &[("F32.1", 20), ("F41.1", 25), ("F90.0", 20), ("F84.0", 10), ("F50.0", 10), ("F43.1", 15)])
        }
        Profile::Common => pick(
            b.rng,
            &[
                ("F32.1", 25),
                ("F32.9", 10),
                ("F33.1", 12),
                ("F41.1", 20),
                ("F41.2", 12),
                ("F43.1", 8),
                ("F42.2", 4),
                ("F60.3", 5),
                ("F50.2", 4),
            ],
        ),
    };
    let referral = chance(b.rng, 0.8).then_some(r);
    b.clinical(t + 40 * MINUTE, Payload::Diagnosis { icd10: code, referral });
}
