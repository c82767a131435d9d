//! Access (`indicators.md`): community mental health referrals seen within 4 weeks, i.e. first
//! attended contact at most 28 days after receipt, counted in the month of that first attended
//! contact; missed contacts and other services ignored. Numbers worked out by hand.

mod common;

use common::{stratum, Scenario};
use kpi_core::contrib::Tally;
use kpi_core::period::PeriodKind;
use kpi_core::strata::Stratum;
use kpi_stats::Confidence;
use serde_json::json;

const A: &str = "9434765919";
const B: &str = "9434765870";
const C: &str = "9434765862";

const CELL: &str = "cmh_4_week_wait_pct";

fn referral(s: &mut Scenario, person: &str, date: &str, id: &str, service: &str) -> String {
    s.event(person, date, json!({"referral_received": {"referral_id": id, "service": service}}))
}

fn contact(s: &mut Scenario, person: &str, date: &str, id: &str, attended: bool, purpose: &str) -> String {
    s.event(person, date, json!({"care_contact": {"referral_id": id, "attended": attended, "purpose": purpose}}))
}

fn month(s: &Scenario, month: &str) -> Tally {
    s.tally(CELL, PeriodKind::Month, month, Stratum::ALL)
}

fn t(numerator: i64, denominator: i64) -> Tally {
    Tally { numerator, denominator }
}

#[test]
fn twenty_eight_days_is_within_twenty_nine_is_not() {
    let mut s = Scenario::default();
    // A: received 1 Jan 2024, first attended contact 29 Jan: 28 days → within.
    referral(&mut s, A, "2024-01-01", "r1", "community_mental_health");
    contact(&mut s, A, "2024-01-29", "r1", true, "assessment");
    // B: received 1 Jan 2024, first attended contact 30 Jan: 29 days → not within.
    referral(&mut s, B, "2024-01-01", "r1", "community_mental_health");
    contact(&mut s, B, "2024-01-30", "r1", true, "other");
    assert_eq!(month(&s, "2024-01"), t(1, 2));
    // 1 of 2 = 50%, Wilson (95%): (2 + z² ∓ z·sqrt(z² + 4·1·(1 − 1/2))) / (2(2 + z²)) × 100
    // = 9.4531 and 90.5469.
    let v = s.month(CELL, "2024-01");
    assert_eq!((v.numerator, v.denominator), (1, Some(2.0)));
    assert!((v.value.unwrap() - 50.0).abs() < 1e-9);
    let (lower, upper) = v.limits95.unwrap();
    assert!((lower - 9.453121).abs() < 1e-5 && (upper - 90.546879).abs() < 1e-5, "{lower} {upper}");
    let w = kpi_stats::wilson(1, 2, Confidence::P95).unwrap().scaled(100.0);
    assert!((lower - w.lower).abs() < 1e-9 && (upper - w.upper).abs() < 1e-9);
    // R12 to December 2024 holds both; R12 to January 2025 neither.
    assert_eq!(s.tally(CELL, PeriodKind::Rolling12, "2024-12", Stratum::ALL), t(1, 2));
    assert_eq!(s.tally(CELL, PeriodKind::Rolling12, "2025-01", Stratum::ALL), t(0, 0));
}

#[test]
fn missed_contacts_are_ignored_and_the_referral_is_dated_by_its_first_attended_contact() {
    let mut s = Scenario::default();
    // A: received 1 Mar 2024, missed 5 Mar, attended 20 Mar (19 days): within, in March.
    referral(&mut s, A, "2024-03-01", "r1", "community_mental_health");
    contact(&mut s, A, "2024-03-05", "r1", false, "assessment");
    contact(&mut s, A, "2024-03-20", "r1", true, "assessment");
    // B: received 1 Mar 2024, missed 10 Mar, first attended 5 Apr (35 days): not within, in
    // April; the missed contact does not make it a March referral or a 9-day wait.
    referral(&mut s, B, "2024-03-01", "r1", "community_mental_health");
    contact(&mut s, B, "2024-03-10", "r1", false, "assessment");
    contact(&mut s, B, "2024-04-05", "r1", true, "treatment");
    // C: received 20 May 2024, first attended 10 Jun (21 days): within, in June, not May; a
    // second attended contact (20 Jun) adds nothing.
    referral(&mut s, C, "2024-05-20", "r1", "community_mental_health");
    contact(&mut s, C, "2024-06-10", "r1", true, "review");
    contact(&mut s, C, "2024-06-20", "r1", true, "treatment");

    assert_eq!(month(&s, "2024-03"), t(1, 1));
    assert_eq!(month(&s, "2024-04"), t(0, 1));
    assert_eq!(month(&s, "2024-05"), t(0, 0));
    assert_eq!(month(&s, "2024-06"), t(1, 1));
    assert_eq!(s.month(CELL, "2024-05").value, None);
    assert_eq!(s.month(CELL, "2024-04").value, Some(0.0));
    // R12 to June 2024: 2 of 3 = 66.67%.
    let r12 = s.r12(CELL, "2024-06");
    assert_eq!((r12.numerator, r12.denominator), (2, Some(3.0)));
    assert!((r12.value.unwrap() - 200.0 / 3.0).abs() < 1e-9);
}

#[test]
fn referrals_to_other_services_are_excluded() {
    let mut s = Scenario::default();
    referral(&mut s, A, "2024-02-01", "r1", "community_mental_health");
    contact(&mut s, A, "2024-02-10", "r1", true, "assessment");
    // Seen quickly, but by other services: not counted.
    referral(&mut s, A, "2024-02-01", "r2", "crisis_home_treatment");
    contact(&mut s, A, "2024-02-02", "r2", true, "assessment");
    referral(&mut s, B, "2024-02-01", "r1", "early_intervention_psychosis");
    contact(&mut s, B, "2024-02-03", "r1", true, "assessment");
    referral(&mut s, C, "2024-02-01", "r1", "talking_therapies");
    contact(&mut s, C, "2024-04-01", "r1", true, "treatment");
    // A CMH referral never seen is not counted either.
    referral(&mut s, C, "2024-02-01", "r2", "community_mental_health");
    contact(&mut s, C, "2024-02-05", "r2", false, "assessment");
    assert_eq!(month(&s, "2024-02"), t(1, 1));
    assert_eq!(month(&s, "2024-04"), t(0, 0));
    assert_eq!(s.tally(CELL, PeriodKind::Rolling12, "2025-01", Stratum::ALL), t(1, 1));
}

#[test]
fn a_retracted_first_contact_hands_over_to_the_next_attended_one() {
    let mut s = Scenario::default();
    s.event(
        A,
        "2024-01-01",
        json!({"demographics": {"birth_date": "1980-05-01", "sex": "2", "ethnic_category": "M", "imd_decile": 1}}),
    );
    // Received 1 Aug 2024; attended 15 Aug (14 days) and 10 Sep (40 days).
    referral(&mut s, A, "2024-08-01", "r1", "community_mental_health");
    let first = contact(&mut s, A, "2024-08-15", "r1", true, "assessment");
    contact(&mut s, A, "2024-09-10", "r1", true, "treatment");
    assert_eq!(month(&s, "2024-08"), t(1, 1));
    assert_eq!(month(&s, "2024-09"), t(0, 0));
    // Breakdowns: female, black, IMD quintile 1, age 44 at the end of August 2024 (35-49).
    for (kind, value) in [("sex", "female"), ("ethnic_group", "black"), ("imd_quintile", "1"), ("age_band", "35-49")] {
        assert_eq!(s.tally(CELL, PeriodKind::Month, "2024-08", stratum(kind, value)), t(1, 1), "{kind} {value}");
    }
    // Entered in error: the first attended contact is now 10 Sep, 40 days → not within.
    s.retract(A, "2024-09-12", &first);
    assert_eq!(month(&s, "2024-08"), t(0, 0));
    assert_eq!(month(&s, "2024-09"), t(0, 1));
    assert_eq!(s.tally(CELL, PeriodKind::Rolling12, "2024-12", Stratum::ALL), t(0, 1));
}

#[test]
fn a_contact_arriving_before_its_referral_counts_once_the_referral_arrives() {
    let mut s = Scenario::default();
    contact(&mut s, A, "2024-10-20", "r1", true, "assessment");
    assert_eq!(month(&s, "2024-10"), t(0, 0));
    // Received 1 Oct 2024, seen 20 Oct: 19 days → within, October.
    referral(&mut s, A, "2024-10-01", "r1", "community_mental_health");
    assert_eq!(month(&s, "2024-10"), t(1, 1));
}

#[test]
fn a_contact_dated_before_the_referral_was_received_is_not_its_first_contact() {
    let mut s = Scenario::default();
    // Received 10 Mar 2024; an attended contact recorded against it on 1 Mar (before receipt: a
    // recording error, not a wait of -9 days) is passed over; the next, 15 Apr, is 36 days
    // after receipt → not within, April.
    referral(&mut s, A, "2024-03-10", "r1", "community_mental_health");
    contact(&mut s, A, "2024-03-01", "r1", true, "assessment");
    assert_eq!(month(&s, "2024-03"), t(0, 0));
    contact(&mut s, A, "2024-04-15", "r1", true, "treatment");
    assert_eq!(month(&s, "2024-03"), t(0, 0));
    assert_eq!(month(&s, "2024-04"), t(0, 1));
    // A contact on the day of receipt is a wait of 0 days → within.
    referral(&mut s, B, "2024-03-10", "r1", "community_mental_health");
    contact(&mut s, B, "2024-03-10", "r1", true, "assessment");
    assert_eq!(month(&s, "2024-03"), t(1, 1));
}

#[test]
fn each_referral_of_a_person_counts() {
    let mut s = Scenario::default();
    // Two CMH referrals of one person, both first seen in November 2024: r1 received 1 Oct,
    // seen 5 Nov (35 days, not within); r2 received 20 Oct, seen 5 Nov (16 days, within).
    referral(&mut s, A, "2024-10-01", "r1", "community_mental_health");
    referral(&mut s, A, "2024-10-20", "r2", "community_mental_health");
    contact(&mut s, A, "2024-11-05", "r1", true, "assessment");
    contact(&mut s, A, "2024-11-05", "r2", true, "assessment");
    assert_eq!(month(&s, "2024-10"), t(0, 0));
    assert_eq!(month(&s, "2024-11"), t(1, 2));
}
