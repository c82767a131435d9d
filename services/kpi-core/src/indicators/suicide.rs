//! Suicide prevention (`indicators.md`, "Suicide prevention"): deaths by suspected suicide of
//! people in contact with services within the 12 months before death, and the people with an
//! open referral during each period that the rate is taken over.

use chrono::Days;

use super::records::{death, referrals};
use super::{Family, Shape};
use crate::codes::DeathCause;
use crate::contrib::{Emitter, StateCells, Tally};
use crate::period::Period;
use crate::person::PersonView;

pub const DEATHS: Family =
    Family { name: "suicide_prevention", emits: &["suspected_suicides"], shape: Shape::Dated(deaths) };

pub const OPEN_REFERRALS: Family =
    Family { name: "open_referrals", emits: &["people_with_open_referral"], shape: Shape::State(open_referrals) };

fn deaths(view: &PersonView, emit: &mut Emitter) {
    let Some(death) = death(view) else { return };
    if death.cause != DeathCause::SuspectedSuicide {
        return;
    }
    let from = death.date - Days::new(365);
    let in_window = |day| from <= day && day <= death.date;
    let in_contact = referrals(view)
        .iter()
        .any(|r| r.open_during(from, death.date) || r.contacts.iter().any(|c| c.attended && in_window(c.date)));
    if in_contact {
        emit.count_on("suspected_suicides", death.date);
    }
}

fn open_referrals(view: &PersonView, periods: &[Period], cells: &mut StateCells) {
    let referrals = referrals(view);
    if referrals.is_empty() {
        return;
    }
    for (at, period) in periods.iter().enumerate() {
        if referrals.iter().any(|r| r.open_during(period.start(), period.end)) {
            cells.add(at, "people_with_open_referral", Tally::ONE);
        }
    }
}
