//! Ward stays (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw topic): admission
//! with an inpatient referral, about one in ten placed out of area (mostly for want of a local
//! bed), weekly then monthly ward reviews, paired HoNOS, restrictive interventions (mostly
//! while detained and early in the stay) and discharge.

use super::services::{self, Service};
use super::{scores, Builder};
use crate::dist::{self, chance, one_of, pick};
use crate::event::{Instrument, Payload};
use crate::people::Profile;
use crate::time::{DAY, HOUR};

const ACUTE_WARDS: &[&str] = &["RXT-ACU-1", "RXT-ACU-2", "RXT-ACU-3", "RXT-ACU-4"];
const FORENSIC_WARDS: &[&str] = &["RXT-FMS-1", "RXT-FMS-2", "RXT-FLS-1"];
const OUT_OF_AREA_WARDS: &[&str] = &["NVC-ACU-7", "NQ1-ACU-2", "RW4-ACU-3", "NVN-PICU-1"];

/// An open ward stay.
pub struct Stay {
    id: u64,
    referral: u64,
    start: i64,
    forensic: bool,
    honos: Option<(f64, f64)>,
}

pub fn informal_stay(b: &mut Builder, t: i64) -> i64 {
    let Some(stay) = admit(b, t, false) else {
        return b.win.end;
    };
    let days = dist::lognormal(b.rng, 18.0, 0.8).clamp(1.0, 180.0);
    close_stay(b, stay, t + dist::days(days), t)
}

/// Admission: an inpatient referral and a ward stay (about one in ten out of area).
pub fn admit(b: &mut Builder, t: i64, forensic: bool) -> Option<Stay> {
    if !b.active(t) {
        return None;
    }
    let id = b.next_stay()?;
    let referral = services::referral(b, t, Service::Inpatient)?;
    let out_of_area = !forensic && chance(b.rng, 0.1);
    let (ward, reason) = if forensic {
        (one_of(b.rng, FORENSIC_WARDS), None)
    } else if out_of_area {
        let reason = pick(
            b.rng,
            &[
                ("no_local_bed", 65),
                ("safeguarding", 8),
                ("offending_restrictions", 5),
                ("staff_or_family", 7),
                ("patient_choice", 5),
                ("unknown", 10),
            ],
        );
        (one_of(b.rng, OUT_OF_AREA_WARDS), Some(reason))
    } else if b.p.profile == Profile::Dementia {
        ("RXT-OPOM", None)
    } else if b.p.age_at(t) >= 65 {
        ("RXT-OPFM", None)
    } else if chance(b.rng, 0.08) {
        ("RXT-PICU", None)
    } else {
        (one_of(b.rng, ACUTE_WARDS), None)
    };
    b.emit(t, Payload::WardStarted { stay: id, ward, out_of_area: reason });
    let v = dist::int(b.rng, 1, 4);
    b.contact(referral, t + v * HOUR, true, "assessment");
    let honos = chance(b.rng, 0.6).then(|| scores::honos_pair(b.rng));
    if let Some((first, _)) = honos {
        let items = scores::items(b.rng, Instrument::Honos, first);
        b.clinical(t + 5 * HOUR, Payload::Outcome { referral, instrument: Instrument::Honos, items });
    }
    if b.p.profile == Profile::Smi && chance(b.rng, 0.5) {
        super::records::statuses(b, t + 6 * HOUR);
    }
    Some(Stay { id, referral, start: t, forensic, honos })
}

/// Ward reviews, restrictive interventions and discharge; the stay ends some days after the
/// detention (`detained_until`) or at `planned`, whichever is later. Returns the end.
pub fn close_stay(b: &mut Builder, stay: Stay, planned: i64, detained_until: i64) -> i64 {
    let extra = if chance(b.rng, 0.3) { 0 } else { dist::days(dist::uniform(b.rng, 0.5, 21.0)) };
    let planned = planned.max(detained_until + extra).max(stay.start + HOUR);
    let ended = b.end_time(planned);
    let until = ended.unwrap_or(b.win.end).max(stay.start);
    let r = stay.referral;
    let mut review = stay.start + 7 * DAY;
    while review < until {
        let v = chance(b.rng, 0.95);
        b.contact(r, review, v, "review");
        review += if review - stay.start < 56 * DAY { 7 * DAY } else { 28 * DAY };
    }
    // Restrictive interventions: most while detained, most in the first week.
    let detained = (detained_until.min(until) - stay.start).max(0) as f64 / DAY as f64;
    let informal = (until - stay.start) as f64 / DAY as f64 - detained;
    let rate = if stay.forensic { 0.015 } else { 0.05 };
    let first_week = detained.min(7.0) * rate * 2.0;
    let n = dist::poisson(b.rng, rate * detained + 0.008 * informal.max(0.0) + first_week).min(100);
    let span = (until - stay.start).max(1);
    for _ in 0..n {
        let u = dist::uniform(b.rng, 0.0, 1.0);
        let at = stay.start + ((u * u) * span as f64) as i64;
        let kind = pick(
            b.rng,
            &[
                ("physical_restraint", 45),
                ("rapid_tranquillisation", 18),
                ("seclusion", 14),
                ("segregation", 5),
                ("mechanical_restraint", 3),
                ("other_chemical_restraint", 15),
            ],
        );
        b.clinical(at, Payload::Restrictive { stay: stay.id, kind });
    }
    let Some(e) = ended else { return b.win.end };
    if let Some((_, last)) = stay.honos {
        if b.alive(e) && e - 2 * HOUR > stay.start {
            let items = scores::items(b.rng, Instrument::Honos, last);
            b.clinical(e - 2 * HOUR, Payload::Outcome { referral: r, instrument: Instrument::Honos, items });
        }
    }
    b.emit(e, Payload::WardEnded { stay: stay.id });
    b.emit(e, Payload::ReferralDischarged { referral: r });
    b.ward_free_from = e;
    e
}
