//! Referral pathways per service (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw
//! topic): the services and their teams, opening a referral, and the short pathways (crisis
//! home treatment, memory assessment, liaison, other); `community` has the longer ones.

use super::community::{community, talking_therapies};
use super::records::{diagnosis, fft, outcome};
use super::scores;
use super::Builder;
use crate::dist::{self, chance, one_of, pick};
use crate::event::{Instrument, Payload};
use crate::people::Profile;
use crate::time::{DAY, HOUR, MINUTE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    CommunityMentalHealth,
    CrisisHomeTreatment,
    Inpatient,
    EarlyInterventionPsychosis,
    TalkingTherapies,
    Perinatal,
    LearningDisability,
    MemoryAssessment,
    Liaison,
    Other,
}

impl Service {
    pub fn code(self) -> &'static str {
        match self {
            Self::CommunityMentalHealth => "community_mental_health",
            Self::CrisisHomeTreatment => "crisis_home_treatment",
            Self::Inpatient => "inpatient",
            Self::EarlyInterventionPsychosis => "early_intervention_psychosis",
            Self::TalkingTherapies => "talking_therapies",
            Self::Perinatal => "perinatal",
            Self::LearningDisability => "learning_disability",
            Self::MemoryAssessment => "memory_assessment",
            Self::Liaison => "liaison",
            Self::Other => "other",
        }
    }

    /// The team for a person's locality.
    pub fn team(self, locality: usize) -> &'static str {
        let teams: &[&'static str] = match self {
            Self::CommunityMentalHealth => &["RXT-CMHT-N", "RXT-CMHT-S", "RXT-CMHT-E", "RXT-CMHT-W"],
            Self::TalkingTherapies => &["RXT-TT-1", "RXT-TT-2"],
            Self::CrisisHomeTreatment => &["RXT-CRHT"],
            Self::Inpatient => &["RXT-ADM"],
            Self::EarlyInterventionPsychosis => &["RXT-EIP-N", "RXT-EIP-S"],
            Self::Perinatal => &["RXT-PNMH"],
            Self::LearningDisability => &["RXT-LD"],
            Self::MemoryAssessment => &["RXT-MAS-N", "RXT-MAS-S"],
            Self::Liaison => &["RXT-LIAS"],
            Self::Other => &["RXT-OTH"],
        };
        teams[locality % teams.len()]
    }
}

/// Opens a referral at `t`; `None` when it cannot happen (after the window or death).
pub fn referral(b: &mut Builder, t: i64, svc: Service) -> Option<u64> {
    if !b.active(t) {
        return None;
    }
    let r = b.next_referral()?;
    let team = chance(b.rng, 0.9).then(|| svc.team(b.p.locality));
    b.emit(t, Payload::ReferralReceived { referral: r, service: svc.code(), team });
    Some(r)
}

/// One referral from receipt to discharge; returns the discharge time (or the window's end
/// while it stays open).
pub fn episode(b: &mut Builder, svc: Service, start: i64) -> i64 {
    let start = if matches!(svc, Service::Liaison | Service::CrisisHomeTreatment) { start } else { b.office(start) };
    let Some(r) = referral(b, start, svc) else {
        return b.win.end;
    };
    match svc {
        Service::TalkingTherapies => talking_therapies(b, r, start),
        Service::MemoryAssessment => memory(b, r, start),
        Service::CrisisHomeTreatment => crisis(b, r, start),
        Service::Liaison | Service::Other | Service::Inpatient => brief(b, r, start, svc),
        _ => community(b, r, start, svc),
    }
}

/// Assessment, rebooked after a non-attendance up to twice; the time of the attended one.
pub fn assessment(b: &mut Builder, r: u64, mut t: i64, attend: f64) -> Result<i64, i64> {
    for _ in 0..3 {
        let attended = chance(b.rng, attend);
        if !b.contact(r, t, attended, "assessment") {
            return Err(t);
        }
        if attended {
            return Ok(t);
        }
        let v = dist::int(b.rng, 5, 14);
        t = b.office(t + v * DAY);
    }
    Err(t)
}
/// Crisis resolution and home treatment: near-daily visits for a few weeks.
fn crisis(b: &mut Builder, r: u64, start: i64) -> i64 {
    let mut t = start + dist::int(b.rng, 1, 8) * HOUR;
    if !b.contact(r, t, true, "assessment") {
        return b.discharge(r, t);
    }
    let planned = start + dist::days(dist::lognormal(b.rng, 16.0, 0.5).clamp(3.0, 60.0));
    loop {
        t += dist::int(b.rng, 1, 2) * DAY;
        if t >= planned {
            break;
        }
        let purpose = pick(b.rng, &[("treatment", 60), ("review", 35), ("other", 5)]);
        let attended = chance(b.rng, 0.9);
        if !b.contact(r, t, attended, purpose) {
            return b.discharge(r, t);
        }
    }
    if chance(b.rng, 0.1) {
        fft(b, planned, Service::CrisisHomeTreatment);
    }
    b.discharge(r, planned + HOUR)
}

/// Memory assessment: two or three appointments, a dementia diagnosis for most who have it.
fn memory(b: &mut Builder, r: u64, start: i64) -> i64 {
    let v = dist::lognormal(b.rng, 35.0, 0.5);
    let mut t = b.office(start + dist::days(v));
    let visits = dist::int(b.rng, 2, 3);
    for _ in 0..visits {
        let attended = chance(b.rng, 0.92);
        if !b.contact(r, t, attended, "assessment") {
            return b.discharge(r, t);
        }
        let v = dist::int(b.rng, 7, 28);
        t = b.office(t + v * DAY);
    }
    if b.p.profile == Profile::Dementia && chance(b.rng, 0.85) {
        diagnosis(b, t, r);
    } else if b.p.profile != Profile::Dementia && chance(b.rng, 0.3) {
        let referral = Some(r);
        b.clinical(t, Payload::Diagnosis { icd10: "F06.7", referral });
    }
    if chance(b.rng, 0.3) {
        let total = scores::honos_pair(b.rng).0;
        outcome(b, r, t + 20 * MINUTE, Instrument::Honos, total);
    }
    let v = dist::int(b.rng, 14, 60);
    b.discharge(r, t + v * DAY)
}

/// Liaison (seen in hospital within hours) and other short referrals.
fn brief(b: &mut Builder, r: u64, start: i64, svc: Service) -> i64 {
    if svc == Service::Liaison {
        let t = start + dist::int(b.rng, 1, 8) * HOUR;
        if !b.contact(r, t, true, "assessment") {
            return b.discharge(r, t);
        }
        if chance(b.rng, 0.3) {
            let v = chance(b.rng, 0.9);
            b.contact(r, t + DAY, v, "review");
        }
        let v = dist::int(b.rng, 1, 5);
        return b.discharge(r, t + v * DAY);
    }
    let mut t = start;
    for k in 0..dist::int(b.rng, 1, 4) {
        let v = dist::int(b.rng, 7, 21);
        t = b.office(t + v * DAY);
        let purpose = if k == 0 { "assessment" } else { one_of(b.rng, &["treatment", "review", "other"]) };
        let v = chance(b.rng, 0.85);
        if !b.contact(r, t, v, purpose) {
            return b.discharge(r, t);
        }
    }
    let v = dist::int(b.rng, 7, 30);
    b.discharge(r, t + v * DAY)
}
