//! NHS Talking Therapies (`indicators.md`): the finished-treatment cohort (discharged in the
//! period, two or more attended treatment contacts, paired PHQ-9 and GAD-7) and its recovery,
//! reliable improvement, reliable recovery and reliable deterioration, dated by the discharge.

use super::records::{referrals, Referral, Score};
use super::{Family, Shape};
use crate::codes::{ContactPurpose, Instrument, Service};
use crate::contrib::{Emitter, Tally};
use crate::person::PersonView;

pub const FAMILY: Family = Family {
    name: "talking_therapies",
    emits: &[
        "tt_finished_treatment",
        "tt_recovery_rate",
        "tt_reliable_improvement_rate",
        "tt_reliable_recovery_rate",
        "tt_reliable_deterioration_rate",
    ],
    shape: Shape::Dated(contribute),
};

/// Caseness cut-offs: a score at or above is at caseness.
const PHQ9_CASENESS: i32 = 10;
const GAD7_CASENESS: i32 = 8;
/// Reliable change: a change of at least this much.
const PHQ9_RELIABLE_CHANGE: i32 = 6;
const GAD7_RELIABLE_CHANGE: i32 = 4;

fn total(score: Score) -> i32 {
    score.instrument.total(score.items) as i32
}

/// A finished course of treatment: its first and last PHQ-9 and GAD-7 totals.
struct Course {
    phq9: (i32, i32),
    gad7: (i32, i32),
}

fn finished_course(referral: &Referral) -> Option<Course> {
    let treatments = referral.contacts.iter().filter(|c| c.attended && c.purpose == ContactPurpose::Treatment).count();
    if treatments < 2 {
        return None;
    }
    let (phq_first, phq_last) = referral.paired(Instrument::Phq9)?;
    let (gad_first, gad_last) = referral.paired(Instrument::Gad7)?;
    Some(Course { phq9: (total(phq_first), total(phq_last)), gad7: (total(gad_first), total(gad_last)) })
}

fn contribute(view: &PersonView, emit: &mut Emitter) {
    for referral in referrals(view) {
        if referral.service != Service::TalkingTherapies {
            continue;
        }
        let Some(discharged) = referral.discharged else { continue };
        let Some(Course { phq9: (phq_first, phq_last), gad7: (gad_first, gad_last) }) = finished_course(referral)
        else {
            continue;
        };
        let at_caseness = phq_first >= PHQ9_CASENESS || gad_first >= GAD7_CASENESS;
        let recovered = at_caseness && phq_last < PHQ9_CASENESS && gad_last < GAD7_CASENESS;
        let reliable_decrease =
            phq_first - phq_last >= PHQ9_RELIABLE_CHANGE || gad_first - gad_last >= GAD7_RELIABLE_CHANGE;
        let reliable_increase =
            phq_last - phq_first >= PHQ9_RELIABLE_CHANGE || gad_last - gad_first >= GAD7_RELIABLE_CHANGE;
        let reliably_improved = reliable_decrease && !reliable_increase;

        emit.count_on("tt_finished_treatment", discharged);
        emit.add_on("tt_reliable_improvement_rate", discharged, Tally::of(reliably_improved));
        emit.add_on("tt_reliable_deterioration_rate", discharged, Tally::of(reliable_increase && !reliable_decrease));
        // Recovery is measured only for referrals at caseness when treatment began.
        if at_caseness {
            emit.add_on("tt_recovery_rate", discharged, Tally::of(recovered));
            emit.add_on("tt_reliable_recovery_rate", discharged, Tally::of(recovered && reliably_improved));
        }
    }
}
