//! Living well with SMI (`indicators.md`): at each period end, people on the caseload, and of
//! them people with SMI, by their latest accommodation and smoking status within 12 months.

use super::records::{accommodation, age, first_diagnosis, is_smi, latest_within, referrals, smoking, TwelveMonthsTo};
use super::{Family, Shape};
use crate::codes::{Accommodation, Smoking};
use crate::contrib::{StateCells, Tally};
use crate::period::Period;
use crate::person::PersonView;

pub const FAMILY: Family = Family {
    name: "living_well_with_smi",
    emits: &["smi_settled_accommodation_pct", "accommodation_recorded_pct", "smi_smoking_pct", "homelessness_pct"],
    shape: Shape::State(contribute),
};

fn contribute(view: &PersonView, periods: &[Period], cells: &mut StateCells) {
    let referrals = referrals(view);
    if referrals.is_empty() {
        return;
    }
    let smi_since = first_diagnosis(view, is_smi);
    for (at, period) in periods.iter().enumerate() {
        let day = period.end;
        if !referrals.iter().any(|r| r.open_on(day)) {
            continue;
        }
        let last_12_months = TwelveMonthsTo::new(day);
        let housing = latest_within(&view.events, last_12_months, accommodation);
        cells.add(
            at,
            "homelessness_pct",
            Tally::of(matches!(housing, Some(Accommodation::Homeless | Accommodation::RoughSleeping))),
        );

        let Some(age) = age(view, day) else { continue };
        if age < 18 || smi_since.is_none_or(|since| since > day) {
            continue;
        }
        if age <= 69 {
            let settled = matches!(housing, Some(Accommodation::SettledMainstream | Accommodation::SettledSupported));
            cells.add(at, "smi_settled_accommodation_pct", Tally::of(settled));
            cells.add(at, "accommodation_recorded_pct", Tally::of(housing.is_some()));
        }
        if let Some(status) = latest_within(&view.events, last_12_months, smoking) {
            cells.add(at, "smi_smoking_pct", Tally::of(status == Smoking::Current));
        }
    }
}
