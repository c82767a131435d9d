//! Outcomes that matter to people (`indicators.md`): reliable change in paired HoNOS and
//! ReQoL-10 scores of referrals discharged in the period, and Friends and Family Test responses.

use super::records::{referrals, Score};
use super::{Family, Shape};
use crate::codes::{FftAnswer, Instrument};
use crate::contrib::{Emitter, Tally};
use crate::event::Payload;
use crate::person::PersonView;

pub const PAIRED_SCORES: Family = Family {
    name: "paired_outcome_scores",
    emits: &["honos_reliable_improvement_pct", "honos_reliable_deterioration_pct", "reqol_reliable_improvement_pct"],
    shape: Shape::Dated(paired_scores),
};

pub const FRIENDS_AND_FAMILY: Family =
    Family { name: "friends_and_family_test", emits: &["fft_positive_pct"], shape: Shape::Dated(friends_and_family) };

/// HoNOS reliable change index (Parabiaghi et al. 2005).
const HONOS_RELIABLE_CHANGE: i32 = 8;
/// ReQoL-10 reliable change index. `indicators.md` calls it configurable; it is a constant here
/// because changing it changes stored counts (a change needs a replay from the canonical topic).
const REQOL_RELIABLE_CHANGE: i32 = 5;
/// The total of a rating (HoNOS "not known" items left out).
fn total(score: Score) -> i32 {
    score.instrument.total(score.items) as i32
}

fn paired_scores(view: &PersonView, emit: &mut Emitter) {
    for referral in referrals(view) {
        let Some(discharged) = referral.discharged else { continue };
        if let Some((first, last)) = referral.paired(Instrument::Honos) {
            let change = total(last) - total(first);
            emit.add_on("honos_reliable_improvement_pct", discharged, Tally::of(change <= -HONOS_RELIABLE_CHANGE));
            emit.add_on("honos_reliable_deterioration_pct", discharged, Tally::of(change >= HONOS_RELIABLE_CHANGE));
        }
        if let Some((first, last)) = referral.paired(Instrument::Reqol10) {
            // ReQoL items are scored so that higher is better.
            let change = total(last) - total(first);
            emit.add_on("reqol_reliable_improvement_pct", discharged, Tally::of(change >= REQOL_RELIABLE_CHANGE));
        }
    }
}

fn friends_and_family(view: &PersonView, emit: &mut Emitter) {
    for event in &view.events {
        if let Payload::FftResponse { response, .. } = event.payload {
            let positive = matches!(response, FftAnswer::VeryGood | FftAnswer::Good);
            emit.add_on("fft_positive_pct", event.date, Tally::of(positive));
        }
    }
}
