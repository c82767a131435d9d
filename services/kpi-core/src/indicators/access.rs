//! Access (`indicators.md`): community mental health referrals seen within four weeks, dated by
//! the first attended contact.

use super::records::referrals;
use super::{Family, Shape};
use crate::codes::Service;
use crate::contrib::{Emitter, Tally};
use crate::person::PersonView;

pub const FAMILY: Family = Family { name: "access", emits: &["cmh_4_week_wait_pct"], shape: Shape::Dated(contribute) };

/// The four-week standard, in days.
const WAIT_STANDARD_DAYS: i64 = 28;

fn contribute(view: &PersonView, emit: &mut Emitter) {
    for referral in referrals(view) {
        if referral.service != Service::CommunityMentalHealth {
            continue;
        }
        if let Some(first) = referral.first_attended_contact() {
            let within = (first - referral.received).num_days() <= WAIT_STANDARD_DAYS;
            emit.add_on("cmh_4_week_wait_pct", first, Tally::of(within));
        }
    }
}
