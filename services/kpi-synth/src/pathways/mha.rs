//! Mental Health Act detentions (kpi-synth → `kpi generate` → NDJSON →
//! `kpi produce` → raw topic): hazards with a clear ethnic disparity (Black groups about four
//! times White), the section mix (2, 3, short-term orders, Part III), conversions of section 2
//! to section 3, realistic durations; `wards` has the stays they come with.

use super::wards::{admit, close_stay, informal_stay};
use super::Builder;
use crate::dist::{self, chance, pick};
use crate::event::Payload;
use crate::people::{Group, Profile};
use crate::time::{DAY, HOUR, MINUTE};

/// Detentions and informal admissions from `t0` to the window's end (or death).
pub fn inpatient_history(b: &mut Builder, t0: i64) {
    let (detain, informal) = hazards(b);
    let total = detain + informal;
    if total <= 0.0 {
        return;
    }
    let gap = |b: &mut Builder| dist::days(dist::exponential(b.rng, 365.25 / total));
    let mut t = if b.p.profile == Profile::Smi && chance(b.rng, 0.2) {
        t0 + dist::days(dist::uniform(b.rng, 0.1, 14.0))
    } else {
        t0 + gap(b)
    };
    for _ in 0..30 {
        if !b.active(t) {
            break;
        }
        let end = if chance(b.rng, detain / total) { detention(b, t) } else { informal_stay(b, t) };
        t = end.max(t) + DAY + gap(b);
    }
}

/// Yearly hazards (detention, informal admission) for the person.
fn hazards(b: &Builder) -> (f64, f64) {
    let p = b.p;
    let old = p.age_at(b.win.start) >= 65;
    let (detain, informal) = match p.profile {
        Profile::Smi => (0.13, 0.10),
        Profile::Dementia => (0.012, 0.03),
        Profile::Child => (0.004, 0.003),
        Profile::Common if old => (0.004, 0.004),
        Profile::Common => (0.006, 0.005),
    };
    // With the higher SMI shares of `Person::new`, these give detention rates per person
    // about 4 (Black), 2.5 (Mixed, Other) and 1.3 (Asian) times White, as NHS England's
    // Mental Health Act statistics report per population.
    let ratio = match p.group() {
        Group::White => 1.0,
        Group::Mixed => 1.6,
        Group::Asian => 1.2,
        Group::Black => 2.6,
        Group::Other => 1.8,
        Group::Unknown => 1.3,
    };
    (detain * ratio, informal)
}

/// One detention episode starting at `t`; returns when it (and any ward stay) ended.
fn detention(b: &mut Builder, t: i64) -> i64 {
    match pick(b.rng, &[(0, 24), (2, 42), (3, 20), (37, 12)]) {
        0 => short_term_order(b, t),
        k @ (2 | 3) => {
            let section = if k == 2 { "2" } else { "3" };
            let Some(stay) = admit(b, t, false) else {
                return b.win.end;
            };
            let until = section_on_stay(b, t, section);
            close_stay(b, stay, until, until)
        }
        _ => part_three(b, t),
    }
}

/// Starts a detention; `None` if it cannot happen (window end, death, ids used up).
fn start(b: &mut Builder, t: i64, section: &'static str) -> Option<u64> {
    if !b.active(t) {
        return None;
    }
    let d = b.next_detention()?;
    b.clinical(t, Payload::DetentionStarted { detention: d, section });
    Some(d)
}

/// Ends detention `d` at `planned` (or death); returns the end (window end if still open).
fn end(b: &mut Builder, d: u64, planned: i64) -> i64 {
    match b.end_time(planned) {
        Some(e) => {
            b.emit(e, Payload::DetentionEnded { detention: d });
            e
        }
        None => b.win.end,
    }
}

/// Section 2 (up to 28 days; a quarter converted to section 3 within its term) or section 3.
fn section_on_stay(b: &mut Builder, t: i64, section: &'static str) -> i64 {
    let Some(d) = start(b, t, section) else {
        return b.win.end;
    };
    if section == "2" {
        if chance(b.rng, 0.25) {
            let at = t + dist::days(dist::uniform(b.rng, 7.0, 27.5));
            let e = end(b, d, at);
            if e != at {
                return e;
            }
            return section_three(b, at);
        }
        let days = dist::uniform(b.rng, 3.0, 28.0);
        return end(b, d, t + dist::days(days));
    }
    end_section_three(b, d, t)
}

fn section_three(b: &mut Builder, t: i64) -> i64 {
    match start(b, t, "3") {
        Some(d) => end_section_three(b, d, t),
        None => b.win.end,
    }
}

fn end_section_three(b: &mut Builder, d: u64, t: i64) -> i64 {
    let days = dist::lognormal(b.rng, 80.0, 0.6).clamp(7.0, 540.0);
    end(b, d, t + dist::days(days))
}

/// Short-term orders: places of safety (136, 135), emergency (4), holding powers on a ward
/// (5(2), 5(4)); many lead to a section 2 or 3.
fn short_term_order(b: &mut Builder, t: i64) -> i64 {
    let section = pick(b.rng, &[("136", 50), ("5(2)", 22), ("4", 6), ("135", 10), ("5(4)", 12)]);
    if section.starts_with('5') {
        // Holding powers apply to someone already on a ward informally.
        let back = dist::days(dist::uniform(b.rng, 0.5, 14.0));
        let admitted = (t - back).max(b.win.start).max(b.ward_free_from + DAY);
        let Some(stay) = admit(b, admitted.min(t), false) else {
            return b.win.end;
        };
        let hours = if section == "5(2)" { dist::int(b.rng, 6, 72) } else { dist::int(b.rng, 1, 6) };
        let Some(d) = start(b, t, section) else {
            return close_stay(b, stay, t, t);
        };
        let e = end(b, d, t + hours * HOUR);
        let until = if e == t + hours * HOUR && chance(b.rng, 0.6) {
            let next = if chance(b.rng, 0.8) { "2" } else { "3" };
            section_on_stay(b, e + 5 * MINUTE, next)
        } else {
            e
        };
        return close_stay(b, stay, until, until);
    }
    let hours = match section {
        "4" => dist::int(b.rng, 12, 72),
        _ => dist::int(b.rng, 3, 24),
    };
    let Some(d) = start(b, t, section) else {
        return b.win.end;
    };
    let e = end(b, d, t + hours * HOUR);
    if e == t + hours * HOUR && chance(b.rng, 0.45) {
        let at = e + 10 * MINUTE;
        let Some(stay) = admit(b, at, false) else {
            return b.win.end;
        };
        let next = if chance(b.rng, 0.85) { "2" } else { "3" };
        let until = section_on_stay(b, at, next);
        return close_stay(b, stay, until, until);
    }
    e
}

/// Part III (patients concerned in criminal proceedings or under sentence): forensic wards.
fn part_three(b: &mut Builder, t: i64) -> i64 {
    let section = pick(
        b.rng,
        &[
            ("37", 35),
            ("37/41", 18),
            ("35", 8),
            ("36", 3),
            ("38", 6),
            ("44", 1),
            ("45A", 2),
            ("47", 4),
            ("47/49", 10),
            ("48", 3),
            ("48/49", 10),
        ],
    );
    let days = match section {
        "37" | "47" => dist::lognormal(b.rng, 300.0, 0.5),
        "37/41" => dist::lognormal(b.rng, 900.0, 0.5),
        "35" | "36" => dist::uniform(b.rng, 28.0, 84.0),
        "38" => dist::uniform(b.rng, 84.0, 365.0),
        "45A" | "47/49" => dist::lognormal(b.rng, 400.0, 0.6),
        "48" => dist::lognormal(b.rng, 60.0, 0.6),
        _ => dist::lognormal(b.rng, 150.0, 0.6),
    };
    let Some(stay) = admit(b, t, true) else {
        return b.win.end;
    };
    let Some(d) = start(b, t, section) else {
        return close_stay(b, stay, t, t);
    };
    let until = end(b, d, t + dist::days(days));
    close_stay(b, stay, until, until)
}
