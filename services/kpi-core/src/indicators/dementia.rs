//! Dementia (`indicators.md`): recorded prevalence among people aged 65+ alive at period end,
//! and where people aged 65+ with dementia die.

use super::records::{age, alive_on, death, first_diagnosis, is_dementia};
use super::{Family, Shape};
use crate::codes::{DeathCause, DeathPlace};
use crate::contrib::{Emitter, StateCells, Tally};
use crate::period::Period;
use crate::person::PersonView;

pub const PREVALENCE: Family =
    Family { name: "dementia_prevalence", emits: &["dementia_recorded_prevalence"], shape: Shape::State(prevalence) };

pub const DEATHS: Family =
    Family { name: "dementia_deaths", emits: &["dementia_deaths_usual_residence_pct"], shape: Shape::Dated(deaths) };

fn prevalence(view: &PersonView, periods: &[Period], cells: &mut StateCells) {
    let Some(diagnosed) = first_diagnosis(view, is_dementia) else { return };
    for (at, period) in periods.iter().enumerate() {
        let day = period.end;
        let aged_65 = age(view, day).is_some_and(|age| age >= 65);
        if aged_65 && diagnosed <= day && alive_on(view, day) {
            cells.add(at, "dementia_recorded_prevalence", Tally::ONE);
        }
    }
}

fn deaths(view: &PersonView, emit: &mut Emitter) {
    let Some(death) = death(view) else { return };
    let aged_65 = age(view, death.date).is_some_and(|age| age >= 65);
    let with_dementia = first_diagnosis(view, is_dementia).is_some_and(|diagnosed| diagnosed <= death.date);
    let excluded_cause = matches!(death.cause, DeathCause::SuspectedSuicide | DeathCause::Accident);
    if aged_65 && with_dementia && !excluded_cause {
        let at_home = matches!(death.place, DeathPlace::UsualResidence | DeathPlace::CareHome);
        emit.add_on("dementia_deaths_usual_residence_pct", death.date, Tally::of(at_home));
    }
}
