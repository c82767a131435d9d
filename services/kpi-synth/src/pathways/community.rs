//! Longer referral pathways (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw
//! topic): NHS Talking Therapies courses with session-by-session PHQ-9 / GAD-7, and community,
//! early intervention, perinatal and learning disability teams with waits, regular contacts,
//! annual reviews and paired HoNOS / ReQoL-10.

use super::records::{diagnosis, fft, outcome, statuses};
use super::scores::{self, TtCourse};
use super::services::{assessment, Service};
use super::Builder;
use crate::dist::{self, chance, pick};
use crate::event::Instrument;
use crate::people::Profile;
use crate::time::{DAY, HOUR, MINUTE};

/// NHS Talking Therapies: assessment with PHQ-9 and GAD-7, weekly treatment sessions with
/// scores, final scores, discharge.
pub fn talking_therapies(b: &mut Builder, r: u64, start: i64) -> i64 {
    let wait = dist::lognormal(b.rng, 16.0, 0.6).max(2.0);
    let t = b.office(start + dist::days(wait));
    let mut t = match assessment(b, r, t, 0.88) {
        Ok(t) => t,
        Err(t) => {
            let v = dist::int(b.rng, 7, 21);
            return b.discharge(r, t + v * DAY);
        }
    };
    let course = TtCourse::draw(b.rng);
    outcome(b, r, t + 20 * MINUTE, Instrument::Phq9, course.phq.0);
    outcome(b, r, t + 22 * MINUTE, Instrument::Gad7, course.gad.0);
    if chance(b.rng, 0.4) {
        diagnosis(b, t, r);
    }
    let sessions = if chance(b.rng, 0.15) {
        dist::int(b.rng, 0, 1)
    } else {
        dist::lognormal(b.rng, 6.5, 0.45).round().clamp(2.0, 20.0) as i64
    };
    let mut last = None;
    for s in 0..sessions {
        let v = dist::int(b.rng, 5, 10);
        t = b.office(t + v * DAY);
        let attended = chance(b.rng, 0.88);
        if !b.contact(r, t, attended, "treatment") {
            return b.discharge(r, t);
        }
        if attended {
            last = Some(t);
            if s + 1 < sessions && chance(b.rng, 0.3) {
                let (phq, gad) = course.at(b.rng, (s + 1) as f64 / sessions as f64);
                outcome(b, r, t + 20 * MINUTE, Instrument::Phq9, phq);
                outcome(b, r, t + 22 * MINUTE, Instrument::Gad7, gad);
            }
        }
    }
    if let Some(tl) = last {
        outcome(b, r, tl + 25 * MINUTE, Instrument::Phq9, course.phq.1);
        outcome(b, r, tl + 27 * MINUTE, Instrument::Gad7, course.gad.1);
    }
    let v = dist::int(b.rng, 3, 21);
    let end = b.discharge(r, t + v * DAY);
    if end < b.win.end && chance(b.rng, 0.3) {
        fft(b, end + 2 * HOUR, Service::TalkingTherapies);
    }
    end
}

/// Community, early intervention, perinatal and learning disability teams: assessment, regular
/// contacts, annual reviews, paired HoNOS / ReQoL-10 at the start and at discharge.
pub fn community(b: &mut Builder, r: u64, start: i64, svc: Service) -> i64 {
    let smi = b.p.profile == Profile::Smi;
    let child = b.p.profile == Profile::Child;
    let wait = match svc {
        Service::EarlyInterventionPsychosis => 9.0,
        Service::Perinatal => 14.0,
        Service::LearningDisability => 25.0,
        _ if smi => 14.0,
        _ => 21.0,
    };
    let v = dist::lognormal(b.rng, wait, 0.7);
    let t = b.office(start + dist::days(v.max(1.0)));
    let mut t = match assessment(b, r, t, 0.85) {
        Ok(t) => t,
        Err(t) => {
            let v = dist::int(b.rng, 7, 28);
            return b.discharge(r, t + v * DAY);
        }
    };
    if (smi && !b.smi_diagnosed) || (!smi && chance(b.rng, 0.45)) {
        diagnosis(b, t, r);
    }
    let honos = chance(b.rng, if child { 0.3 } else { 0.75 }).then(|| scores::honos_pair(b.rng));
    if let Some((first, _)) = honos {
        outcome(b, r, t + 15 * MINUTE, Instrument::Honos, first);
    }
    let reqol = (!child && chance(b.rng, 0.35)).then(|| scores::reqol_pair(b.rng));
    if let Some((first, _)) = reqol {
        outcome(b, r, t + 18 * MINUTE, Instrument::Reqol10, first);
    }
    if chance(b.rng, if smi { 0.9 } else { 0.2 }) {
        statuses(b, t);
    }
    let (median, sigma) = match svc {
        Service::EarlyInterventionPsychosis => (900.0, 0.35),
        Service::Perinatal => (240.0, 0.5),
        Service::LearningDisability => (700.0, 0.6),
        _ if smi => (540.0, 0.7),
        _ if child => (200.0, 0.7),
        _ => (150.0, 0.7),
    };
    let planned = t + dist::days(dist::lognormal(b.rng, median, sigma).max(14.0));
    let (gap_lo, gap_hi) = if smi { (10, 28) } else { (14, 35) };
    let mut review = t + 365 * DAY;
    for _ in 0..200 {
        let v = dist::int(b.rng, gap_lo, gap_hi);
        t = b.office(t + v * DAY);
        if t >= planned {
            break;
        }
        let purpose = pick(b.rng, &[("treatment", 45), ("review", 40), ("other", 15)]);
        let attended = chance(b.rng, 0.85);
        if !b.contact(r, t, attended, purpose) {
            return b.discharge(r, t);
        }
        if attended && t >= review {
            review += 365 * DAY;
            if honos.is_some() && chance(b.rng, 0.5) {
                let total = scores::honos_pair(b.rng).0 * 0.85;
                outcome(b, r, t + 15 * MINUTE, Instrument::Honos, total);
            }
            if chance(b.rng, if smi { 0.85 } else { 0.15 }) {
                statuses(b, t);
            }
        }
    }
    // Discharge review: last scores, then discharge.
    let t = b.office(planned);
    if !b.contact(r, t, true, "review") {
        return b.discharge(r, t);
    }
    if let Some((_, last)) = honos {
        outcome(b, r, t + 15 * MINUTE, Instrument::Honos, last);
    }
    if let Some((_, last)) = reqol {
        if chance(b.rng, 0.8) {
            outcome(b, r, t + 18 * MINUTE, Instrument::Reqol10, last);
        }
    }
    if chance(b.rng, 0.15) {
        fft(b, t + HOUR, svc);
    }
    let v = dist::int(b.rng, 1, 14);
    b.discharge(r, t + v * DAY)
}
