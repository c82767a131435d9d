//! One person's care history as EPR events (kpi-synth → `kpi generate` → NDJSON → `kpi produce`
//! → raw topic): when they first reach the trust, demographics, the referral pathways of their
//! profile, Mental Health Act detentions and ward stays, and sometimes death.

mod builder;
mod community;
mod mha;
mod records;
mod scores;
mod services;
mod wards;

pub use builder::Builder;

use crate::dist::{self, chance, pick, Rng};
use crate::event::{Event, Payload};
use crate::people::{Person, Profile};
use crate::time::{Window, DAY, MINUTE};
use rand::Rng as _;
use services::Service;

/// Every event of one person, in no particular order.
pub fn person_events(p: &Person, rng: &mut Rng, win: &Window) -> Vec<Event> {
    let t0 = win.start + rng.gen_range(0..win.len());
    let death = death_time(p, rng, t0, win);
    let mut b = Builder::new(p, rng, win, death);

    if p.has_demographics {
        let first = p.first_ethnic.unwrap_or(p.ethnic);
        let at = (t0 - dist::int(b.rng, 0, 30) * MINUTE).max(win.start);
        b.emit(at, demographics(p, first));
        if p.first_ethnic.is_some() {
            let fix = at + dist::days(dist::uniform(b.rng, 3.0, 300.0));
            b.emit(fix, demographics(p, p.ethnic));
        }
    }

    match p.profile {
        Profile::Child => referral_loop(&mut b, t0, CHILD, 0.3),
        Profile::Common if p.age_at(t0) >= 65 => referral_loop(&mut b, t0, OLDER, 0.3),
        Profile::Common => referral_loop(&mut b, t0, ADULT, 0.3),
        Profile::Smi => smi(&mut b, t0),
        Profile::Dementia => dementia(&mut b, t0),
    }
    // Self-harm and other presentations seen by liaison teams in acute hospitals.
    let years = (win.end - t0) as f64 / (365.25 * DAY as f64);
    let liaison = if p.profile == Profile::Smi { 0.15 } else { 0.04 };
    for _ in 0..dist::poisson(b.rng, liaison * years) {
        let t = t0 + b.rng.gen_range(0..(win.end - t0).max(1));
        services::episode(&mut b, Service::Liaison, t);
    }
    mha::inpatient_history(&mut b, t0);
    if let Some(d) = death {
        let payload = death_payload(&mut b, d);
        b.emit_late(d, payload, 0.4);
    }
    b.events
}

fn demographics(p: &Person, ethnic: &'static str) -> Payload {
    Payload::Demographics { birth: p.birth, sex: p.sex, ethnic, imd: p.imd }
}

const CHILD: &[(Service, u32)] = &[
    (Service::CommunityMentalHealth, 70),
    (Service::CrisisHomeTreatment, 8),
    (Service::Liaison, 10),
    (Service::LearningDisability, 5),
    (Service::Other, 7),
];
const ADULT: &[(Service, u32)] = &[
    (Service::TalkingTherapies, 60),
    (Service::CommunityMentalHealth, 19),
    (Service::Liaison, 6),
    (Service::CrisisHomeTreatment, 5),
    (Service::Perinatal, 4),
    (Service::LearningDisability, 2),
    (Service::Other, 4),
];
const OLDER: &[(Service, u32)] = &[
    (Service::TalkingTherapies, 35),
    (Service::CommunityMentalHealth, 33),
    (Service::Liaison, 14),
    (Service::MemoryAssessment, 10),
    (Service::CrisisHomeTreatment, 4),
    (Service::Other, 4),
];

/// Referral after referral: each discharge is followed by another referral with probability
/// `again`, some months later.
fn referral_loop(b: &mut Builder, t0: i64, mix: &[(Service, u32)], again: f64) {
    let mut t = t0;
    loop {
        let mut svc = pick(b.rng, mix);
        let age = b.p.age_at(t);
        if svc == Service::Perinatal && !(b.p.female() && (18..=45).contains(&age)) {
            svc = Service::CommunityMentalHealth;
        }
        let end = services::episode(b, svc, t);
        if !chance(b.rng, again) {
            break;
        }
        t = end + dist::days(dist::exponential(b.rng, 240.0)) + DAY;
        if t >= b.win.end {
            break;
        }
    }
}

/// Severe mental illness: early intervention or a community team for a long time, crises,
/// and the admissions `mha` adds.
fn smi(b: &mut Builder, t0: i64) {
    let young = b.p.age_at(t0) < 36;
    let main =
        if young && chance(b.rng, 0.6) { Service::EarlyInterventionPsychosis } else { Service::CommunityMentalHealth };
    let mut t = t0;
    if chance(b.rng, 0.25) {
        services::episode(b, Service::CrisisHomeTreatment, t0);
        t += dist::days(dist::uniform(b.rng, 2.0, 20.0));
    }
    let end = services::episode(b, main, t);
    let mut c = t + dist::days(dist::exponential(b.rng, 365.25 / 0.3));
    while c < b.win.end {
        services::episode(b, Service::CrisisHomeTreatment, c);
        c += dist::days(dist::exponential(b.rng, 365.25 / 0.3)) + 30 * DAY;
    }
    if end < b.win.end && chance(b.rng, 0.4) {
        let back = end + dist::days(dist::exponential(b.rng, 200.0)) + DAY;
        services::episode(b, Service::CommunityMentalHealth, back);
    }
}

fn dementia(b: &mut Builder, t0: i64) {
    let end = services::episode(b, Service::MemoryAssessment, t0);
    if end < b.win.end && chance(b.rng, 0.3) {
        let t = end + dist::days(dist::exponential(b.rng, 120.0)) + DAY;
        services::episode(b, Service::CommunityMentalHealth, t);
    }
}

/// When the person dies, if within the window (annual mortality by profile and age).
fn death_time(p: &Person, rng: &mut Rng, t0: i64, win: &Window) -> Option<i64> {
    let old = p.age_at(t0) >= 65;
    let annual = match p.profile {
        Profile::Child => 0.0005,
        Profile::Common if old => 0.03,
        Profile::Common => 0.004,
        Profile::Smi if old => 0.05,
        Profile::Smi => 0.015,
        Profile::Dementia => 0.12,
    };
    let t = t0 + DAY + dist::days(dist::exponential(rng, 365.25 / annual));
    (t < win.end).then_some(t)
}

fn death_payload(b: &mut Builder, d: i64) -> Payload {
    let older = b.p.age_at(d) >= 65;
    let cause = if older || b.p.profile == Profile::Dementia {
        pick(b.rng, &[("natural", 88), ("suspected_suicide", 3), ("accident", 3), ("other", 4), ("unknown", 2)])
    } else {
        pick(b.rng, &[("suspected_suicide", 32), ("accident", 15), ("natural", 38), ("other", 10), ("unknown", 5)])
    };
    let place = match cause {
        "suspected_suicide" => pick(b.rng, &[("usual_residence", 55), ("other", 38), ("hospital", 4), ("unknown", 3)]),
        "natural" if b.p.profile == Profile::Dementia => {
            pick(b.rng, &[("care_home", 40), ("usual_residence", 20), ("hospital", 35), ("hospice", 3), ("other", 2)])
        }
        "natural" if older => {
            pick(b.rng, &[("hospital", 42), ("care_home", 22), ("usual_residence", 26), ("hospice", 8), ("other", 2)])
        }
        "natural" => pick(b.rng, &[("hospital", 50), ("usual_residence", 35), ("hospice", 12), ("other", 3)]),
        "accident" => pick(b.rng, &[("other", 50), ("usual_residence", 30), ("hospital", 15), ("unknown", 5)]),
        "other" => pick(b.rng, &[("hospital", 40), ("usual_residence", 30), ("other", 25), ("unknown", 5)]),
        _ => pick(b.rng, &[("unknown", 60), ("other", 20), ("usual_residence", 20)]),
    };
    Payload::Death { cause, place }
}
