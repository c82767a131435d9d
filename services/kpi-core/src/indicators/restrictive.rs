//! Least restrictive care (`indicators.md`): restrictive interventions dated by the event, and
//! occupied bed days of every ward stay and of inappropriate out-of-area placements, which the
//! publisher divides by.

use chrono::Days;

use super::records::{ward_stays, WardStay};
use super::{Family, Nights, Shape};
use crate::codes::InterventionKind;
use crate::contrib::{Emitter, StateCells, Tally};
use crate::period::{day_number, Period};
use crate::person::PersonView;

pub const BED_DAYS_CELLS: Nights = Nights { fixed: "bed_days_fixed", ends: "bed_days_ends", starts: "bed_days_starts" };
pub const OAP_BED_DAYS_CELLS: Nights =
    Nights { fixed: "oap_bed_days_fixed", ends: "oap_bed_days_ends", starts: "oap_bed_days_starts" };

pub const INTERVENTIONS: Family = Family {
    name: "restrictive_interventions",
    emits: &["restrictive_interventions", "restraints", "seclusions", "rapid_tranquillisations"],
    shape: Shape::Dated(interventions),
};

pub const BED_DAYS: Family = Family {
    name: "occupied_bed_days",
    emits: &[
        BED_DAYS_CELLS.fixed,
        BED_DAYS_CELLS.ends,
        BED_DAYS_CELLS.starts,
        OAP_BED_DAYS_CELLS.fixed,
        OAP_BED_DAYS_CELLS.ends,
        OAP_BED_DAYS_CELLS.starts,
    ],
    shape: Shape::State(bed_days),
};

fn interventions(view: &PersonView, emit: &mut Emitter) {
    for stay in ward_stays(view) {
        for &(date, kind) in &stay.interventions {
            emit.count_on("restrictive_interventions", date);
            let specific = match kind {
                InterventionKind::PhysicalRestraint | InterventionKind::MechanicalRestraint => Some("restraints"),
                InterventionKind::Seclusion => Some("seclusions"),
                InterventionKind::RapidTranquillisation => Some("rapid_tranquillisations"),
                InterventionKind::OtherChemicalRestraint | InterventionKind::Segregation => None,
            };
            if let Some(cell) = specific {
                emit.count_on(cell, date);
            }
        }
    }
}

/// The nights of `stay` in `period` as (fixed, ends, starts), see [`Nights`]; `None` when the
/// stay does not overlap the period.
pub fn nights_in(stay: &WardStay, period: Period) -> Option<(i64, i64, i64)> {
    let (start, end) = (period.start(), period.end);
    if stay.start > end || stay.end.is_some_and(|stay_end| stay_end <= start) {
        return None;
    }
    let (mut fixed, mut ends, mut starts) = (0, 0, 0);
    if stay.start >= start {
        fixed -= day_number(stay.start);
    } else {
        starts += 1;
    }
    match stay.end {
        Some(stay_end) if stay_end <= end => fixed += day_number(stay_end),
        _ => ends += 1,
    }
    Some((fixed, ends, starts))
}

/// Evaluates a [`Nights`] form for one period.
pub fn nights(fixed: i64, ends: i64, starts: i64, period: Period) -> i64 {
    fixed + ends * day_number(period.end + Days::new(1)) - starts * day_number(period.start())
}

fn bed_days(view: &PersonView, periods: &[Period], cells: &mut StateCells) {
    let stays = ward_stays(view);
    for (at, period) in periods.iter().enumerate() {
        for stay in stays {
            let Some((fixed, ends, starts)) = nights_in(stay, *period) else { continue };
            let mut add = |nights: Nights| {
                cells.add(at, nights.fixed, Tally { numerator: fixed, denominator: 0 });
                cells.add(at, nights.ends, Tally { numerator: ends, denominator: 0 });
                cells.add(at, nights.starts, Tally { numerator: starts, denominator: 0 });
            };
            add(BED_DAYS_CELLS);
            if stay.is_inappropriate_out_of_area() {
                add(OAP_BED_DAYS_CELLS);
            }
        }
    }
}
